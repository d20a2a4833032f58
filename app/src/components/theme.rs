//! The dark/light switch. The choice lives in a cookie so the server renders it on the next
//! page; without JavaScript the button posts to `/theme`, which flips the cookie.

use leptos::prelude::*;

use crate::components::icons::Icon;

#[island]
pub fn ThemeToggle() -> impl IntoView {
    let on_click = move |ev: leptos::ev::MouseEvent| {
        ev.prevent_default();
        #[cfg(feature = "hydrate")]
        toggle_in_browser();
    };
    view! {
        <form method="post" action="/theme" class="theme-form">
            <button
                type="submit"
                class="theme-toggle btn-ghost"
                title="Switch between dark and light"
                aria-label="Switch between dark and light theme"
                data-test="theme-toggle"
                on:click=on_click
            >
                <span class="icon-sun"><Icon name="sun" /></span>
                <span class="icon-moon"><Icon name="moon" /></span>
            </button>
        </form>
    }
}

/// Flips `data-theme` on `<html>` (following the system when unset) and stores it.
#[cfg(feature = "hydrate")]
fn toggle_in_browser() {
    use kiln_shared::theme::{THEME_COOKIE, Theme};
    use wasm_bindgen::JsCast;

    let document = document();
    let Some(root) = document.document_element() else {
        return;
    };
    let current = root
        .get_attribute("data-theme")
        .and_then(|v| Theme::parse(&v))
        .unwrap_or_else(|| {
            let dark = window()
                .match_media("(prefers-color-scheme: dark)")
                .ok()
                .flatten()
                .is_some_and(|m| m.matches());
            if dark { Theme::Dark } else { Theme::Light }
        });
    let next = current.toggled();
    let _ = root.set_attribute("data-theme", next.as_str());
    if let Ok(html) = document.dyn_into::<web_sys::HtmlDocument>() {
        let _ = html.set_cookie(&format!(
            "{THEME_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
            next.as_str()
        ));
    }
}
