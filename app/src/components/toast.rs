//! Toasts: short messages about the outcome of an action, announced to screen readers.

use leptos::prelude::*;

use crate::components::icons::Icon;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToastKind {
    Success,
    Error,
    Info,
}

#[derive(Debug, Clone)]
struct Toast {
    id: u64,
    kind: ToastKind,
    text: String,
}

/// The handle pages use to show a toast.
#[derive(Debug, Clone, Copy)]
pub struct Toaster {
    list: RwSignal<Vec<Toast>>,
    next_id: StoredValue<u64>,
}

impl Toaster {
    pub fn show(&self, kind: ToastKind, text: impl Into<String>) {
        let id = self.next_id.get_value();
        self.next_id.set_value(id + 1);
        self.list.update(|list| {
            list.push(Toast {
                id,
                kind,
                text: text.into(),
            })
        });
        let list = self.list;
        set_timeout(
            move || list.update(|l| l.retain(|t| t.id != id)),
            std::time::Duration::from_secs(6),
        );
    }

    pub fn success(&self, text: impl Into<String>) {
        self.show(ToastKind::Success, text);
    }

    pub fn error(&self, text: impl Into<String>) {
        self.show(ToastKind::Error, text);
    }

    fn dismiss(&self, id: u64) {
        self.list.update(|l| l.retain(|t| t.id != id));
    }
}

/// Installs the toaster for the whole app.
pub fn provide_toaster() {
    provide_context(Toaster {
        list: RwSignal::new(Vec::new()),
        next_id: StoredValue::new(0),
    });
}

/// The toaster (present everywhere below `App`).
pub fn use_toaster() -> Toaster {
    use_context().unwrap_or(Toaster {
        list: RwSignal::new(Vec::new()),
        next_id: StoredValue::new(0),
    })
}

/// The region where toasts appear.
#[component]
pub fn Toasts() -> impl IntoView {
    let toaster = use_toaster();
    view! {
        <div class="toasts" role="status" aria-live="polite">
            <For each=move || toaster.list.get() key=|t| t.id let:toast>
                <div class=match toast.kind {
                    ToastKind::Success => "toast toast-success",
                    ToastKind::Error => "toast toast-error",
                    ToastKind::Info => "toast toast-info",
                }>
                    <div class="toast-body">{toast.text.clone()}</div>
                    <button
                        type="button"
                        class="toast-close"
                        aria-label="Dismiss"
                        on:click=move |_| toaster.dismiss(toast.id)
                    >
                        <Icon name="x" />
                    </button>
                </div>
            </For>
        </div>
    }
}
