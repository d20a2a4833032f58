//! Error pages: the 404 page and the view for errors caught by an `ErrorBoundary`. Both set the
//! HTTP status while rendering on the server.

use kiln_shared::AppError;
use leptos::prelude::*;

/// Sets the response status during SSR; does nothing in the browser.
pub fn set_ssr_status(status: u16) {
    #[cfg(feature = "ssr")]
    crate::ssr::set_status(status);
    #[cfg(not(feature = "ssr"))]
    let _ = status;
}

#[component]
pub fn NotFoundPage() -> impl IntoView {
    set_ssr_status(404);
    view! {
        <leptos_meta::Title text="Not found" />
        <main class="error-page" id="content">
            <div class="error-code">"404"</div>
            <h1>"This page does not exist"</h1>
            <p class="muted">"The address may be mistyped, or the page moved."</p>
            <a class="btn btn-primary" href="/">"Back to the dashboard"</a>
        </main>
    }
}

/// Shows the errors an `ErrorBoundary` caught, with the status of the first one.
#[component]
pub fn ErrorView(errors: ArcRwSignal<Errors>) -> impl IntoView {
    let list: Vec<AppError> = errors
        .get_untracked()
        .into_iter()
        .map(|(_, e)| match e.downcast_ref::<AppError>() {
            Some(app) => app.clone(),
            None => AppError::Internal,
        })
        .collect();
    let status = list.first().map(AppError::status).unwrap_or(500);
    set_ssr_status(status);
    view! {
        <section class="error-page">
            <div class="error-code">{status}</div>
            <h1>{if status == 404 { "Not found" } else { "Something went wrong" }}</h1>
            {list
                .into_iter()
                .map(|e| view! { <p class="muted">{e.to_string()}</p> })
                .collect_view()}
            <a class="btn" href="/">"Back to the dashboard"</a>
        </section>
    }
}
