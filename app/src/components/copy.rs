//! A button that copies a text to the clipboard, with a toast.

use leptos::prelude::*;

use crate::components::toast::use_toaster;

#[island]
pub fn CopyButton(text: String, #[prop(optional)] label: Option<String>) -> impl IntoView {
    let label = label.unwrap_or_else(|| "Copy".to_owned());
    let toaster = use_toaster();
    let on_click = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let promise = window().navigator().clipboard().write_text(&text);
            leptos::task::spawn_local(async move {
                match wasm_bindgen_futures::JsFuture::from(promise).await {
                    Ok(_) => toaster.success("Copied."),
                    Err(_) => {
                        toaster.error("The browser refused to copy; select the text instead.")
                    }
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        {
            let _ = (&text, toaster);
        }
    };
    view! {
        <button type="button" class="btn btn-sm" data-test="copy" on:click=on_click>
            {label}
        </button>
    }
}
