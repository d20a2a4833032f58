//! The axum router: Leptos pages and server functions, health checks, assets, and the layers
//! around them (request gate, compression, tracing, body limit).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::middleware;
use axum::routing::{get, post};
use kiln_app::ssr::{SharedBackend, SharedNodes};
use kiln_app::{App, shell};
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::app_state::AppState;
use crate::auth::middleware::gate;
use crate::auth::service::AuthService;
use crate::nodes::NodeService;
use crate::routes::{assets, health, theme};

/// Largest request body accepted (forms and server-function arguments are small).
const BODY_LIMIT: usize = 1024 * 1024;

/// Builds the whole application router over `state`.
pub fn router(state: AppState) -> Router {
    let backend: SharedBackend = Arc::new(AuthService::new(state.clone()));
    let nodes: SharedNodes = Arc::new(NodeService::new(state.clone()));
    let context = move || {
        provide_context(backend.clone());
        provide_context(nodes.clone());
    };
    let routes = generate_route_list(App);
    let page_assets = state.assets.clone();
    let app = move || shell(page_assets.clone());

    let server_fns = {
        let context = context.clone();
        move |req: Request<Body>| leptos_axum::handle_server_fns_with_context(context.clone(), req)
    };
    let not_found = leptos_axum::render_app_to_stream_with_context(context.clone(), app.clone());

    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/theme", post(theme::toggle))
        .route("/pkg/{*path}", get(assets::serve))
        .route("/api/fn/{*name}", post(server_fns))
        .leptos_routes_with_context(&state, routes, context, app)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
