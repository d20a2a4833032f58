#![recursion_limit = "256"]
//! Kiln's user interface: the Leptos app rendered on the server (feature `ssr`) and hydrated in
//! the browser (feature `hydrate`), plus the server functions both sides share.
//!
//! Layout: `pages/` (one module per route), `components/` (the shell, toasts, forms, icons),
//! `functions/` (server functions by domain), `ssr` (the server-side seam, `ssr` only).

pub mod components;
pub mod functions;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod ssr;

use leptos::prelude::*;
use leptos_meta::{Title, provide_meta_context};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::{SsrMode, path};

use components::layout::Shell;
use components::toast::Toasts;
use pages::*;

/// The names of the built browser assets (hashed by Trunk), handed to [`shell`].
#[derive(Debug, Clone, Default)]
pub struct Assets {
    /// `/pkg/kiln-<hash>.js`, or `None` when the server was built without the frontend.
    pub js: Option<String>,
    /// `/pkg/kiln-<hash>_bg.wasm`.
    pub wasm: Option<String>,
    /// `/pkg/main-<hash>.css`.
    pub css: Option<String>,
}

/// The HTML document around the app, rendered only on the server.
pub fn shell(assets: Assets) -> impl IntoView {
    // Islands mode: nothing outside an `#[island]` is hydrated, so the page is rendered
    // without hydration markers except inside islands (as Leptos' `HydrationScripts` does).
    if let Some(sc) = Owner::current_shared_context() {
        sc.set_is_hydrating(false);
    }
    let theme = request_theme();
    let hydrate = match (&assets.js, &assets.wasm) {
        (Some(js), Some(wasm)) => Some(islands_loader(js, wasm)),
        _ => None,
    };
    // The response's CSP nonce (server/src/headers.rs): the only inline script allowed.
    let nonce = leptos::nonce::use_nonce();
    let preload = assets.js.clone();
    let wasm_preload = assets.wasm.clone();
    view! {
        <!DOCTYPE html>
        <html lang="en" data-theme=theme.map(|t| t.as_str())>
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <link rel="icon" href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E%3Crect width='32' height='32' rx='8' fill='%23e8590c'/%3E%3Cpath d='M9 24V8h3v6l6-6h4l-7 7 7 9h-4l-5-7-1 1v6z' fill='white'/%3E%3C/svg%3E" />
                {assets.css.map(|href| view! { <link rel="stylesheet" href=href /> })}
                {preload.map(|href| view! { <link rel="modulepreload" href=href /> })}
                {wasm_preload.map(|href| {
                    view! { <link rel="preload" href=href r#as="fetch" r#type="application/wasm" crossorigin="" /> }
                })}
                {hydrate.map(|code| view! { <script type="module" nonce=nonce>{code}</script> })}
                <leptos_meta::MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The module script that loads the bundle and hydrates every `<leptos-island>` in document
/// order (each island exports a function named by its `data-component`), then marks
/// `<html data-hydrated>` (tests wait for it). It runs under the Content-Security-Policy by
/// its nonce.
fn islands_loader(js: &str, wasm: &str) -> String {
    format!(
        "import init, * as kiln from '{js}';\
         await init({{ module_or_path: '{wasm}' }});\
         kiln.hydrate();\
         for (const el of document.querySelectorAll('leptos-island')) {{\
           const hydrate = kiln[el.dataset.component];\
           if (hydrate) {{ hydrate(el); }} else {{ console.warn('no island', el.dataset.component); }}\
         }}\
         document.documentElement.setAttribute('data-hydrated', 'true');"
    )
}

/// The theme cookie of the request being rendered.
fn request_theme() -> Option<kiln_shared::theme::Theme> {
    #[cfg(feature = "ssr")]
    {
        ssr::request_cookie(kiln_shared::theme::THEME_COOKIE)
            .and_then(|v| kiln_shared::theme::Theme::parse(&v))
    }
    #[cfg(not(feature = "ssr"))]
    None
}

/// The application: routes inside the sidebar shell, plus the sign-in pages outside it.
///
/// Rendered on the server only; the interactive parts are islands (`#[island]`), hydrated by
/// the loader of [`shell`]. Links are plain page loads.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title formatter=|title: String| {
            if title.is_empty() { "Kiln".to_owned() } else { format!("{title} · Kiln") }
        } />
        <a class="skip-link" href="#content">"Skip to content"</a>
        <Router>
            <Routes fallback=NotFoundPage>
                <Route path=path!("/setup") view=SetupPage ssr=SsrMode::Async />
                <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async />
                <ParentRoute path=path!("") view=Shell ssr=SsrMode::Async>
                    <Route path=path!("") view=DashboardPage ssr=SsrMode::Async />
                    <Route path=path!("containers") view=ContainersPage ssr=SsrMode::Async />
                    <Route path=path!("containers/new") view=ContainerNewPage ssr=SsrMode::Async />
                    <Route path=path!("containers/:id") view=ContainerPage ssr=SsrMode::Async />
                    <Route path=path!("containers/:id/progress") view=ContainerPage ssr=SsrMode::Async />
                    <Route path=path!("templates") view=TemplatesPage ssr=SsrMode::Async />
                    <Route path=path!("templates/new") view=TemplateNewPage ssr=SsrMode::Async />
                    <Route path=path!("templates/:slug") view=TemplatePage ssr=SsrMode::Async />
                    <Route path=path!("templates/:slug/edit") view=TemplateEditPage ssr=SsrMode::Async />
                    <Route path=path!("packages") view=PackagesPage ssr=SsrMode::Async />
                    <Route path=path!("nodes") view=NodesPage ssr=SsrMode::Async />
                    <Route path=path!("nodes/new") view=NodeNewPage ssr=SsrMode::Async />
                    <Route path=path!("nodes/:id") view=NodePage ssr=SsrMode::Async />
                    <Route path=path!("nodes/:id/edit") view=NodeEditPage ssr=SsrMode::Async />
                    <Route path=path!("nodes/:id/ssh") view=NodeSshPage ssr=SsrMode::Async />
                    <Route path=path!("settings") view=SettingsPage ssr=SsrMode::Async />
                    <Route path=path!("alerts") view=AlertsPage ssr=SsrMode::Async />
                    <Route path=path!("alerts/settings") view=AlertSettingsPage ssr=SsrMode::Async />
                </ParentRoute>
            </Routes>
        </Router>
        <Toasts />
    }
}
