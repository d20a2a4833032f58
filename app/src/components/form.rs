//! Form pieces: a labelled field whose error comes from the shared rule (checked as the user
//! types) or from the server's answer, and the form-level alert.

use kiln_shared::AppError;
use leptos::prelude::*;

/// A `kiln_shared::validate` rule: `Err` carries the message for the field.
pub type Rule = fn(&str) -> Result<(), String>;

/// The error of the form's last answer (if any).
pub type ActionError = Signal<Option<AppError>>;

/// A labelled input. `rule` is the same `kiln_shared::validate` rule the server applies.
///
/// Its id is `field-<name>`, or `<form>-<name>` when the page has several forms whose fields
/// share a name (ids are unique per page, so each label focuses its own input).
#[component]
pub fn Field(
    /// The form field name (matches the server function argument).
    name: &'static str,
    /// Prefix of the id, for a page with several forms (e.g. `account` → `account-password`).
    #[prop(optional)]
    form: Option<&'static str>,
    label: &'static str,
    #[prop(default = "text")] input_type: &'static str,
    #[prop(optional)] autocomplete: Option<&'static str>,
    #[prop(optional)] hint: Option<&'static str>,
    #[prop(optional)] rule: Option<Rule>,
    #[prop(optional)] autofocus: bool,
    /// The server's answer, for this field's message.
    error: ActionError,
) -> impl IntoView {
    let value = RwSignal::new(String::new());
    let touched = RwSignal::new(false);
    let id = format!("{}-{name}", form.unwrap_or("field"));
    let message = move || {
        let local = if touched.get() {
            rule.and_then(|check| check(&value.get()).err())
        } else {
            None
        };
        local.or_else(|| error.get().and_then(|e| e.field(name).map(str::to_owned)))
    };
    let error_id = format!("{id}-error");
    view! {
        <div class="field">
            <label for=id.clone()>{label}</label>
            <input
                id=id
                name=name
                type=input_type
                autocomplete=autocomplete
                autofocus=autofocus
                required=true
                aria-invalid=move || message().is_some().then_some("true")
                aria-describedby=error_id.clone()
                on:input=move |ev| value.set(event_target_value(&ev))
                on:blur=move |_| touched.set(true)
            />
            {hint.map(|h| view! { <div class="hint">{h}</div> })}
            <div class="field-error" id=error_id>
                {message}
            </div>
        </div>
    }
}

/// The message for an `?error=<kind>` left by a no-JavaScript form post (fixed texts only, so
/// a crafted link cannot put words on the page).
fn message_for_kind(kind: &str) -> &'static str {
    match kind {
        "login_failed" => "Wrong username or password.",
        "rate_limited" => "Too many attempts. Try again in a minute.",
        "invalid" => "Please check the fields and try again.",
        "unauthorized" => "Please sign in.",
        "forbidden" => "You are not allowed to do this.",
        "conflict" => "That conflicts with the current state; reload and try again.",
        "unavailable" => "A service Kiln needs is unreachable; try again shortly.",
        _ => "Something went wrong on the server; the details are in its log.",
    }
}

/// The message for the whole form (anything that is not a field error). `kind` is the
/// `?error=<kind>` a no-JavaScript form post came back with (read by the page on the server).
#[component]
pub fn FormError(
    error: ActionError,
    #[prop(optional_no_strip)] kind: Option<String>,
) -> impl IntoView {
    move || {
        if error.get().is_none() {
            return kind.as_deref().map(|kind| {
                view! { <div class="alert alert-error" role="alert" tabindex="-1">{message_for_kind(kind)}</div> }
            });
        }
        error.get().and_then(|e| match &e {
            AppError::Invalid(fields) => fields.get(kiln_shared::FieldErrors::FORM).map(
                |m| view! { <div class="alert alert-error" role="alert" tabindex="-1">{m.to_owned()}</div> },
            ),
            other => Some(
                view! { <div class="alert alert-error" role="alert" tabindex="-1">{other.to_string()}</div> },
            ),
        })
    }
}

/// The kinds `?error=` may name; anything else is shown as the generic message.
const KNOWN_KINDS: [&str; 8] = [
    "login_failed",
    "rate_limited",
    "invalid",
    "unauthorized",
    "forbidden",
    "conflict",
    "unavailable",
    "internal",
];

/// The `?error=<kind>` of the request being rendered, as one of the known kinds (a crafted
/// value never reaches the page, not even in an island's props).
pub fn query_error_kind() -> Option<String> {
    let kind = leptos_router::hooks::use_query_map()
        .read_untracked()
        .get("error")?;
    let known = KNOWN_KINDS
        .into_iter()
        .find(|k| *k == kind)
        .unwrap_or("internal");
    Some(known.to_owned())
}

/// After a refused save: once the page shows the new messages, scrolls to and focuses the
/// first field of `form` marked `aria-invalid`, or else its alert (`role="alert"`) or first
/// message, so the user sees what to fix even when it is off-screen. Does nothing on the
/// server.
pub fn reveal_first_error(form: NodeRef<leptos::html::Form>) {
    // A zero timeout runs after the effects that show the messages (and shares the toasts'
    // timer code in the bundle).
    #[cfg(feature = "hydrate")]
    set_timeout(
        move || {
            use wasm_bindgen::JsCast;
            let Some(form) = form.get_untracked() else {
                return;
            };
            // One selector, in order of preference: document order decides within it, so
            // the first invalid field wins over an alert further down.
            let Ok(Some(target)) = form.query_selector(
                "[aria-invalid=\"true\"], [role=\"alert\"]:not(:empty), .field-error:not(:empty)",
            ) else {
                return;
            };
            // Every match is an HTML element (inputs, alerts, messages).
            let _ = target.unchecked_ref::<web_sys::HtmlElement>().focus();
            // Aligned to the top, below the sticky bar (`scroll-margin-top` in the stylesheet),
            // with the field's label in view.
            target.scroll_into_view();
        },
        std::time::Duration::ZERO,
    );
    #[cfg(not(feature = "hydrate"))]
    let _ = form;
}
