#![recursion_limit = "256"]
//! The browser entry point: hydrates the server-rendered page with `kiln_app::App`.
//!
//! Everything else lives in `kiln-app`; this crate only exists so the WASM build has its own
//! crate (and its own, wasm32-only, dependency set — see ARCHITECTURE.md on feature unification).

#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(kiln_app::App);
}
