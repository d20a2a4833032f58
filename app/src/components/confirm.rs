//! A button that asks before doing something destructive, in a modal `<dialog>`; with
//! `typed`, its confirming button works only once that text (the thing's name) is typed — a
//! deletion.

use leptos::html::Dialog;
use leptos::prelude::*;

#[component]
pub fn ConfirmButton(
    /// The button's label.
    label: String,
    /// What the dialog asks.
    question: String,
    /// The confirming button's label.
    confirm_label: String,
    #[prop(default = "btn btn-sm")] class: &'static str,
    #[prop(optional)] danger: bool,
    /// Text the user must type before confirming.
    #[prop(optional, into)]
    typed: Option<String>,
    /// Runs when the user confirms.
    on_confirm: Callback<()>,
) -> impl IntoView {
    let dialog = NodeRef::<Dialog>::new();
    let entered = RwSignal::new(String::new());
    let expected = StoredValue::new(typed.clone());
    let matches =
        move || expected.with_value(|t| t.as_ref().is_none_or(|t| entered.get().trim() == t));
    let open = move |_| {
        entered.set(String::new());
        if let Some(d) = dialog.get() {
            let _ = d.show_modal();
        }
    };
    let close = move || {
        if let Some(d) = dialog.get() {
            d.close();
        }
    };
    view! {
        <button type="button" class=class on:click=open>
            {label}
        </button>
        <dialog class="confirm" node_ref=dialog>
            <p>{question}</p>
            {typed.map(|typed| view! {
                <label class="field">
                    <span>{format!("Type {typed} to confirm")}</span>
                    <input type="text" autocomplete="off" data-test="confirm-typed"
                        prop:value=move || entered.get()
                        on:input=move |ev| entered.set(event_target_value(&ev)) />
                </label>
            })}
            <div class="dialog-actions">
                <button type="button" class="btn btn-ghost" on:click=move |_| close()>
                    "Cancel"
                </button>
                <button
                    type="button"
                    class=if danger { "btn btn-danger" } else { "btn btn-primary" }
                    data-test="confirm"
                    disabled=move || !matches()
                    on:click=move |_| {
                        if matches() {
                            close();
                            on_confirm.run(());
                        }
                    }
                >
                    {confirm_label}
                </button>
            </div>
        </dialog>
    }
}
