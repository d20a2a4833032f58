#![recursion_limit = "256"]
//! The browser entry point. Kiln renders pages on the server and hydrates only its islands
//! (`#[island]` components of `kiln-app`): the loader in `kiln_app::shell` calls [`hydrate`]
//! once, then each island's exported function on its `<leptos-island>` element.
//!
//! Everything else lives in `kiln-app`; this crate only exists so the WASM build has its own
//! crate (and its own, wasm32-only, dependency set — see ARCHITECTURE.md on feature unification).

#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    kiln_app::components::nav::follow_server_redirects();
    leptos::mount::hydrate_islands();
}
