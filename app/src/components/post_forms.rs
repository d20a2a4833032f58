//! The island of pages made of server-rendered forms, [`PostForms`] (the alerts pages:
//! acknowledge, rules, channels; Settings' API tokens): it wraps the forms and, once hydrated, sends each form's fields through the
//! server function its `action` names instead of posting the page — asking first when the
//! form has `data-confirm`, showing the server's field messages in the form's
//! `data-error-for` elements, a toast for the outcome, and a secret shown this once (a new
//! webhook's signing secret, a new API token) before the page reloads. Without JavaScript the same forms post and the
//! server answers with a redirect back (`?notice=` / `?error=`).
//!
//! One island for every form of the page: the bundle gets one submit handler, not one island
//! per button (see ARCHITECTURE.md, "Islands").

use leptos::prelude::*;

use crate::components::icons::Icon;

/// A secret shown once: what it is and how it is used.
#[derive(Debug, Clone)]
struct Secret {
    title: String,
    /// How the secret is used (a sentence or two).
    usage: &'static str,
    secret: String,
}

#[island]
pub fn PostForms(children: Children) -> impl IntoView {
    let dialog = NodeRef::<leptos::html::Dialog>::new();
    // Never empty: an empty text renders no text node, and hydrating it would fail (the
    // dialog would then never open).
    let question = RwSignal::new(String::from("Are you sure?"));
    // The dialog's button: the form's `data-confirm-button`, else "Delete".
    let verb = RwSignal::new(String::from("Delete"));
    // The id of the form waiting for the dialog's answer.
    let waiting = RwSignal::new(None::<String>);
    let secret = RwSignal::new(None::<Secret>);
    let call = crate::components::call::Call::new();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let Some(form) = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlFormElement>().ok())
            else {
                return;
            };
            ev.prevent_default();
            if let Some(asked) = form.get_attribute("data-confirm") {
                question.set(asked);
                verb.set(
                    form.get_attribute("data-confirm-button")
                        .unwrap_or_else(|| "Delete".to_owned()),
                );
                waiting.set(Some(form.id()));
                if let Some(d) = dialog.get_untracked() {
                    let _ = d.show_modal();
                }
                return;
            }
            send::send(&form, call, secret);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (ev, call);
    };
    let confirm = move |_| {
        if let Some(d) = dialog.get_untracked() {
            d.close();
        }
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let form = waiting
                .get_untracked()
                .and_then(|id| document().get_element_by_id(&id))
                .and_then(|el| el.dyn_into::<web_sys::HtmlFormElement>().ok());
            if let Some(form) = form {
                send::send(&form, call, secret);
            }
        }
    };
    let cancel = move |_| {
        waiting.set(None);
        if let Some(d) = dialog.get_untracked() {
            d.close();
        }
    };
    view! {
        <div class="post-forms" on:submit=on_submit aria-busy=call.busy()>
            // Before the children: what the island itself renders hydrates first, whatever
            // the server-rendered forms hold.
            <dialog class="confirm" node_ref=dialog data-test="alerts-confirm">
                <p><Icon name="alert" />" "{move || question.get()}</p>
                <div class="dialog-actions">
                    <button type="button" class="btn btn-ghost" on:click=cancel>"Cancel"</button>
                    <button type="button" class="btn btn-danger" data-test="confirm" on:click=confirm>
                        {move || verb.get()}
                    </button>
                </div>
            </dialog>
            {move || secret.get().map(|s| view! {
                <section class="card secret-once" role="alert" data-test="secret-once">
                    <h2 class="card-title">{s.title.clone()}</h2>
                    <p>{s.usage}" Copy it now: it is not shown again."</p>
                    <pre class="secret"><code>{s.secret.clone()}</code></pre>
                    <div class="row">
                        <button type="button" class="btn btn-sm" on:click={
                            let text = s.secret.clone();
                            move |_| crate::components::copy::copy_text(text.clone())
                        }>"Copy"</button>
                        <button type="button" class="btn btn-sm btn-primary" data-test="secret-done"
                            on:click=move |_| crate::components::nav::reload()>"Done"</button>
                    </div>
                </section>
            })}
            {children()}
        </div>
    }
}

/// Sending a form's fields to its server function (browser only).
#[cfg(feature = "hydrate")]
mod send {
    use kiln_shared::alerts::{ChannelInput, DeliveryState, RuleInput};
    use kiln_shared::{AppError, FieldErrors};
    use leptos::prelude::*;
    use server_fn::ServerFn;

    use super::Secret;
    use crate::components::call::{Call, FormFields, moved_on};
    use crate::components::dom;
    use crate::components::toast::{ToastKind, use_toaster};
    use crate::functions::alerts::*;
    use crate::functions::tokens::*;

    /// Calls the server function `form`'s `action` names with its fields.
    pub fn send(form: &web_sys::HtmlFormElement, call: Call, secret: RwSignal<Option<Secret>>) {
        let action = form.get_attribute("action").unwrap_or_default();
        let f = FormFields::of_form(form);
        let success = form
            .get_attribute("data-success")
            .unwrap_or_else(|| "Saved.".to_owned());
        let id = f.text("id").parse::<i64>().ok();
        clear_errors(form);
        let target = form.clone();
        let toaster = use_toaster();
        let done = move |r: Result<(), AppError>| match r {
            Err(e @ AppError::Invalid(_)) => show_errors(&target, &e),
            other => moved_on(other, &success, None),
        };
        let path = action.as_str();
        // The shared rules first, as the server applies them: no round trip for a typo.
        let checked = if path == SaveAlertRule::PATH {
            RuleInput::from_form(
                &f.text("kind"),
                f.get("enabled").as_deref(),
                &f.text("threshold"),
                &f.text("minutes"),
                &f.text("scope"),
            )
            .map(drop)
        } else if path == AddAlertChannel::PATH {
            ChannelInput::from_form(&f.text("name"), &f.text("kind"), &f.text("url")).map(drop)
        } else if path == CreateApiToken::PATH {
            kiln_shared::api_tokens::TokenInput::from_form(
                &f.text("name"),
                f.get("read_only").as_deref(),
                &f.text("expires_in_days"),
            )
            .map(drop)
        } else {
            Ok(())
        };
        if let Err(fields) = checked {
            show_errors(form, &AppError::Invalid(fields));
            return;
        }
        if path == SaveAlertRule::PATH {
            call.run(
                save_alert_rule(
                    f.get("id"),
                    f.text("kind"),
                    f.get("enabled"),
                    f.get("threshold"),
                    f.get("minutes"),
                    f.get("scope"),
                ),
                move |r| done(r.map(drop)),
            );
        } else if path == AddAlertChannel::PATH {
            call.run(
                add_alert_channel(f.text("name"), f.text("kind"), f.text("url")),
                move |r| match r {
                    Ok(created) => match created.secret {
                        Some(s) => secret.set(Some(Secret {
                            title: format!("Signing secret of {}", created.channel.name),
                            usage: "Kiln signs every request to this webhook with this secret: the \
                                X-Kiln-Signature header is sha256= and the hex HMAC-SHA256 of the body.",
                            secret: s,
                        })),
                        None => done(Ok(())),
                    },
                    Err(e) => done(Err(e)),
                },
            );
        } else if path == CreateApiToken::PATH {
            call.run(
                create_api_token(f.text("name"), f.get("read_only"), f.get("expires_in_days")),
                move |r| match r {
                    Ok(created) => secret.set(Some(Secret {
                        title: format!("API token {}", created.token.name),
                        usage: "Send it as Authorization: Bearer <token> to /api/v1, or give it \
                            to the command line client with kiln api login URL --token-stdin.",
                        secret: created.secret,
                    })),
                    Err(e) => done(Err(e)),
                },
            );
        } else if let Some(id) = id {
            if path == RevokeApiToken::PATH {
                call.run(revoke_api_token(id), done);
            } else if path == AcknowledgeAlert::PATH {
                call.run(acknowledge_alert(id), move |r| done(r.map(drop)));
            } else if path == DeleteAlertRule::PATH {
                call.run(delete_alert_rule(id), done);
            } else if path == DeleteAlertChannel::PATH {
                call.run(delete_alert_channel(id), done);
            } else if path == SetAlertChannelEnabled::PATH {
                let enabled = f.text("enabled") == "true";
                call.run(set_alert_channel_enabled(id, enabled), move |r| {
                    done(r.map(drop))
                });
            } else if path == TestAlertChannel::PATH {
                call.run(test_alert_channel(id), move |r| match r {
                    Ok(d) => {
                        let (kind, text) = match d.state {
                            DeliveryState::Sent => (
                                ToastKind::Success,
                                format!("Test message sent to {}.", d.channel),
                            ),
                            _ => (
                                ToastKind::Error,
                                format!(
                                    "The test to {} failed: {}",
                                    d.channel,
                                    d.last_error.unwrap_or_default()
                                ),
                            ),
                        };
                        toaster.after_navigation(kind, &text);
                        crate::components::nav::reload();
                    }
                    Err(e) => toaster.error(e.to_string()),
                });
            }
        }
    }

    fn clear_errors(form: &web_sys::HtmlFormElement) {
        for el in dom::all(form, "[data-error-for]") {
            el.set_text_content(None);
        }
        for el in dom::all(form, "[aria-invalid]") {
            let _ = el.remove_attribute("aria-invalid");
        }
    }

    /// The server's field messages in the form, the rest in a toast.
    fn show_errors(form: &web_sys::HtmlFormElement, e: &AppError) {
        let AppError::Invalid(fields) = e else {
            return;
        };
        for (field, message) in fields.iter() {
            let slot = dom::one(form, &format!("[data-error-for=\"{field}\"]"));
            match slot {
                Some(slot) if field != FieldErrors::FORM => {
                    slot.set_text_content(Some(message));
                    if let Some(input) = dom::one(form, &format!("[name=\"{field}\"]")) {
                        let _ = input.set_attribute("aria-invalid", "true");
                    }
                }
                _ => use_toaster().error(message.to_owned()),
            }
        }
        use_toaster().error(e.to_string());
    }
}
