//! Toasts: short messages about the outcome of an action, announced to screen readers.
//!
//! Islands are separate roots, so the toasts live in one store per browser tab (not in
//! context): any island shows a toast through [`use_toaster`], the [`Toasts`] island renders
//! them. A toast meant for the next page (after a save that navigates) is kept in
//! `sessionStorage` by [`Toaster::after_navigation`] and shown when that page hydrates.

use leptos::prelude::*;

use crate::components::icons::Icon;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToastKind {
    Success,
    Error,
    Info,
}

impl ToastKind {
    /// The word that stands for it in `sessionStorage` (and its CSS class, `toast-<word>`).
    fn word(self) -> &'static str {
        match self {
            ToastKind::Success => "success",
            ToastKind::Error => "error",
            ToastKind::Info => "info",
        }
    }

    #[cfg(feature = "hydrate")]
    fn from_word(word: &str) -> Option<Self> {
        [ToastKind::Success, ToastKind::Error, ToastKind::Info]
            .into_iter()
            .find(|k| k.word() == word)
    }
}

#[derive(Debug, Clone)]
struct Toast {
    id: u64,
    kind: ToastKind,
    text: String,
}

/// The `sessionStorage` key of a toast waiting for the next page.
#[cfg(feature = "hydrate")]
const PENDING_KEY: &str = "kiln-toast";

#[cfg(feature = "hydrate")]
thread_local! {
    static TOASTS: ArcRwSignal<Vec<Toast>> = ArcRwSignal::new(Vec::new());
    static NEXT_ID: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The handle islands use to show a toast (does nothing while rendering on the server).
#[derive(Debug, Clone, Copy, Default)]
pub struct Toaster;

impl Toaster {
    pub fn show(&self, kind: ToastKind, text: impl Into<String>) {
        #[cfg(feature = "hydrate")]
        {
            let id = NEXT_ID.with(|n| {
                let id = n.get();
                n.set(id + 1);
                id
            });
            let text = text.into();
            TOASTS.with(|list| list.update(|l| l.push(Toast { id, kind, text })));
            set_timeout(
                move || TOASTS.with(|list| list.update(|l| l.retain(|t| t.id != id))),
                std::time::Duration::from_secs(6),
            );
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (kind, text.into());
    }

    pub fn success(&self, text: impl Into<String>) {
        self.show(ToastKind::Success, text);
    }

    pub fn error(&self, text: impl Into<String>) {
        self.show(ToastKind::Error, text);
    }

    /// Shows `text` on the next page this tab loads (use before navigating away). Kept as
    /// `<kind word>:<text>` (no JSON: the bundle needs no decoder for it).
    pub fn after_navigation(&self, kind: ToastKind, text: &str) {
        #[cfg(feature = "hydrate")]
        if let Ok(Some(storage)) = window().session_storage() {
            let _ = storage.set_item(PENDING_KEY, &format!("{}:{text}", kind.word()));
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (kind, text);
    }

    fn dismiss(&self, id: u64) {
        #[cfg(feature = "hydrate")]
        TOASTS.with(|list| list.update(|l| l.retain(|t| t.id != id)));
        #[cfg(not(feature = "hydrate"))]
        let _ = id;
    }
}

/// The toaster.
pub fn use_toaster() -> Toaster {
    Toaster
}

/// The toasts of this tab (empty on the server).
fn toasts() -> Signal<Vec<Toast>> {
    #[cfg(feature = "hydrate")]
    {
        let list = TOASTS.with(Clone::clone);
        Signal::derive(move || list.get())
    }
    #[cfg(not(feature = "hydrate"))]
    Signal::derive(Vec::new)
}

/// Shows the toast the previous page left for this one, if any.
fn show_pending() {
    #[cfg(feature = "hydrate")]
    if let Ok(Some(storage)) = window().session_storage()
        && let Ok(Some(pending)) = storage.get_item(PENDING_KEY)
    {
        let _ = storage.remove_item(PENDING_KEY);
        if let Some((kind, text)) = pending.split_once(':')
            && let Some(kind) = ToastKind::from_word(kind)
        {
            Toaster.show(kind, text);
        }
    }
}

/// The region where toasts appear.
#[island]
pub fn Toasts() -> impl IntoView {
    let toaster = use_toaster();
    let list = toasts();
    Effect::new(move |_| show_pending());
    view! {
        <div class="toasts" role="status" aria-live="polite">
            <For each=move || list.get() key=|t| t.id let:toast>
                <div class=format!("toast toast-{}", toast.kind.word())>
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
