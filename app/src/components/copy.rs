//! Copying a text to the clipboard, with a toast: [`copy_text`] for islands that have the text,
//! and [`CopyButton`], an island of its own.

use leptos::prelude::*;

use crate::components::toast::use_toaster;

/// Copies `text` to the clipboard and says how it went in a toast (does nothing while
/// rendering on the server).
pub fn copy_text(text: String) {
    let toaster = use_toaster();
    #[cfg(feature = "hydrate")]
    {
        let promise = window().navigator().clipboard().write_text(&text);
        leptos::task::spawn_local(async move {
            match wasm_bindgen_futures::JsFuture::from(promise).await {
                Ok(_) => toaster.success("Copied."),
                Err(_) => toaster.error("The browser refused to copy; select the text instead."),
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (text, toaster);
}

#[island]
pub fn CopyButton(text: String, #[prop(optional)] label: Option<String>) -> impl IntoView {
    let label = label.unwrap_or_else(|| "Copy".to_owned());
    view! {
        <button type="button" class="btn btn-sm" data-test="copy" on:click=move |_| copy_text(text.clone())>
            {label}
        </button>
    }
}
