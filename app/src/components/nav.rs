//! Navigation from inside an island. Pages are rendered on the server and links are plain
//! page loads, so an island that must move on (after a save) loads the next page.

/// Loads `path` (a same-site path). Does nothing while rendering on the server.
pub fn go(path: &str) {
    #[cfg(feature = "hydrate")]
    let _ = leptos::prelude::window().location().set_href(path);
    #[cfg(not(feature = "hydrate"))]
    let _ = path;
}

/// Makes a server function's redirect (sign-in → `/`, sign-out → `/login`) a page load.
/// Called once when the bundle starts, before any island can call the server.
pub fn follow_server_redirects() {
    #[cfg(feature = "hydrate")]
    let _ = server_fn::redirect::set_redirect_hook(go);
}

/// Reloads the current page (its server-rendered content follows a change).
pub fn reload() {
    #[cfg(feature = "hydrate")]
    let _ = leptos::prelude::window().location().reload();
}
