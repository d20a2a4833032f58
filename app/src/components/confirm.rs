//! A button that asks before doing something destructive, in a modal `<dialog>`.

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
    /// Runs when the user confirms.
    on_confirm: Callback<()>,
) -> impl IntoView {
    let dialog = NodeRef::<Dialog>::new();
    let open = move |_| {
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
            <div class="dialog-actions">
                <button type="button" class="btn btn-ghost" on:click=move |_| close()>
                    "Cancel"
                </button>
                <button
                    type="button"
                    class=if danger { "btn btn-danger" } else { "btn btn-primary" }
                    data-test="confirm"
                    on:click=move |_| {
                        close();
                        on_confirm.run(());
                    }
                >
                    {confirm_label}
                </button>
            </div>
        </dialog>
    }
}
