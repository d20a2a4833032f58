//! Server calls from islands, and forms that post to a server function.
//!
//! An island calls a server function through a [`Call`]: a click or a submit starts it,
//! [`Call::busy`] marks the button while it runs, and a callback gets the answer. Leptos'
//! `Action` (plus an `Effect` on its value) does the same with a reactive input, value and
//! version per action, each compiled separately into the bundle; a `Call` is one `bool`
//! signal and one spawned future (see docs/BENCHMARKS.md, "bundle diet").
//!
//! A form that must work without JavaScript (sign-in, setup, password, new user) is a plain
//! `<form method="post" action="/api/fn/...">`; once hydrated, its submit handler reads the
//! fields with [`FormFields`] and calls the same server function through a `Call`.

use std::future::Future;

use kiln_shared::AppError;
use leptos::prelude::*;

/// A server call started from an island: whether it is running, and what to do with its
/// answer.
#[derive(Debug, Clone, Copy)]
pub struct Call {
    pending: RwSignal<bool>,
}

impl Default for Call {
    fn default() -> Self {
        Self::new()
    }
}

impl Call {
    pub fn new() -> Self {
        Call {
            pending: RwSignal::new(false),
        }
    }

    /// Whether the call is running (tracked: use it in a view).
    pub fn pending(self) -> bool {
        self.pending.get()
    }

    /// `aria-busy` for the button that started the call. One closure type for every button
    /// (each distinct closure would be compiled into the bundle separately).
    pub fn busy(self) -> impl Fn() -> Option<&'static str> + Copy + Send + Sync + 'static {
        move || self.pending.get().then_some("true")
    }

    /// Starts `call`, unless this call is already running (a second click does nothing), and
    /// hands its answer to `done`.
    pub fn run<T: 'static>(
        self,
        call: impl Future<Output = Result<T, AppError>> + 'static,
        done: impl FnOnce(Result<T, AppError>) + 'static,
    ) {
        if self.pending.get_untracked() {
            return;
        }
        self.pending.set(true);
        leptos::task::spawn_local(async move {
            let answer = call.await;
            self.pending.try_set(false);
            done(answer);
        });
    }
}

/// The fields of a submitted form, by name (what the browser would post).
pub struct FormFields {
    #[cfg(feature = "hydrate")]
    data: Option<web_sys::FormData>,
}

impl FormFields {
    /// The fields of the form that `ev` submits.
    pub fn of(ev: &leptos::ev::SubmitEvent) -> Self {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let data = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlFormElement>().ok())
                .and_then(|form| web_sys::FormData::new_with_form(&form).ok());
            FormFields { data }
        }
        #[cfg(not(feature = "hydrate"))]
        {
            let _ = ev;
            FormFields {}
        }
    }

    /// The fields of `form`.
    #[cfg(feature = "hydrate")]
    pub fn of_form(form: &web_sys::HtmlFormElement) -> Self {
        FormFields {
            data: web_sys::FormData::new_with_form(form).ok(),
        }
    }

    /// The fields of the form whose `<select>` fired `ev` (a `change` event), or `None` when
    /// something else changed.
    pub fn of_select_change(ev: &leptos::ev::Event) -> Option<Self> {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let form = ev
                .target()?
                .dyn_into::<web_sys::HtmlSelectElement>()
                .ok()?
                .form()?;
            Some(FormFields {
                data: web_sys::FormData::new_with_form(&form).ok(),
            })
        }
        #[cfg(not(feature = "hydrate"))]
        {
            let _ = ev;
            None
        }
    }

    /// The value of field `name`, if the form has it (an unchecked checkbox has none).
    pub fn get(&self, name: &str) -> Option<String> {
        #[cfg(feature = "hydrate")]
        {
            self.data.as_ref()?.get(name).as_string()
        }
        #[cfg(not(feature = "hydrate"))]
        {
            let _ = name;
            None
        }
    }

    /// The value of field `name`, empty when missing.
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default()
    }
}

/// The answer to a change after which the page moves on: on success, `message` is left for
/// the next page and `path` is loaded (the current page reloaded when `None`); a failure is
/// shown as a toast.
pub fn moved_on<T>(answer: Result<T, AppError>, message: &str, path: Option<&str>) {
    let toaster = crate::components::toast::use_toaster();
    match answer {
        Ok(_) => {
            toaster.after_navigation(crate::components::toast::ToastKind::Success, message);
            match path {
                Some(path) => crate::components::nav::go(path),
                None => crate::components::nav::reload(),
            }
        }
        Err(e) => toaster.error(e.to_string()),
    }
}
