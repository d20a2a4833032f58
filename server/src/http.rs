//! The axum router: Leptos pages and server functions, health checks, assets, the template
//! export download, a container's progress events (SSE), the metrics exports (CSV/JSON,
//! `routes::metrics_export`), and the layers around them (outermost first): tracing, compression,
//! security headers with the CSP nonce (`headers`), body limit, request timeout, request
//! gate, undecodable server-function arguments answered 400.
//!
//! The request timeout bounds the time until a response's head: a page, a server function,
//! the start of a download or of an event stream. A streamed body (the template export, the
//! progress events, which stay open as long as the creation runs) is not cut. Compression
//! leaves event streams alone (`DefaultPredicate` excludes `text/event-stream`), so each
//! message reaches the browser when it is sent.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kiln_app::ssr::{SharedAuth, SharedMetrics, SharedNodes, SharedTemplates};
use kiln_app::{App, shell};
use kiln_shared::AppError;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::app_state::AppState;
use crate::auth::middleware::gate;
use crate::auth::service::AuthService;
use crate::nodes::NodeService;
use crate::routes::{assets, container_events, export, health, metrics_export, theme};
use crate::templates::TemplateService;

/// Largest request body accepted: a template with its scripts and files is posted as JSON.
const BODY_LIMIT: usize = 4 * 1024 * 1024;

/// Largest error body of a server function read back to classify it.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// How server_fn's errors for undecodable arguments start (`ServerFnErrorErr`'s messages).
const UNDECODABLE: [&str; 3] = [
    "error deserializing server function arguments",
    "error deserializing server function results",
    "missing argument",
];

/// Builds the whole application router over `state`.
pub fn router(state: AppState) -> Router {
    let backend: SharedAuth = Arc::new(AuthService::new(state.clone()));
    let nodes: SharedNodes = Arc::new(NodeService::new(state.clone()));
    let templates: SharedTemplates = Arc::new(TemplateService::new(state.clone()));
    let containers: kiln_app::ssr::SharedContainers = Arc::new(
        crate::containers::service::ContainerService::new(state.clone()),
    );
    let alerts: kiln_app::ssr::SharedAlerts =
        Arc::new(crate::alerts::AlertService::new(state.clone()));
    // Resource history: the charts' series (context) and the CSV/JSON exports (routes).
    let metrics: SharedMetrics = Arc::new(crate::monitor::MonitorService::new(state.clone()));
    let exports = metrics_export::routes(metrics.clone());
    let context = move || {
        crate::headers::provide_leptos_nonce();
        provide_context(alerts.clone());
        provide_context(metrics.clone());
        provide_context(backend.clone());
        provide_context(nodes.clone());
        provide_context(templates.clone());
        provide_context(containers.clone());
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
        .route(
            "/templates/{slug}/export.tar.gz",
            get(export::template_tar_gz),
        )
        .route(
            "/containers/{id}/events",
            get(container_events::container_events),
        )
        .merge(exports)
        .merge(crate::api::router(&state))
        .leptos_routes_with_context(&state, routes, context, app)
        .fallback(not_found)
        .layer(middleware::from_fn(undecodable_is_bad_request))
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .layer(middleware::from_fn_with_state(
            state.config.request_timeout,
            request_timeout,
        ))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        // Extractors (server_fn's form decoding among them) default to 2 MB; one limit for all,
        // so an over-long field reaches the service's rules (422) instead of failing to decode.
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(crate::headers::security_headers))
        // Archives are compressed already; the default predicate already skips event streams
        // (compressing them would hold messages back in the encoder's buffer).
        .layer(CompressionLayer::new().compress_when(
            DefaultPredicate::new().and(NotForContentType::const_new("application/gzip")),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Server functions answer arguments they cannot decode (a missing field, an unknown
/// enum word in JSON) with a `transport` error and status 500; it is the caller's mistake,
/// so the status becomes 400 (the body is kept). On the server, server_fn's "results"
/// deserialization error comes from its JSON input codec: only the input is decoded here.
async fn undecodable_is_bad_request(req: Request, next: Next) -> Response {
    let is_server_fn = req.uri().path().starts_with("/api/fn/");
    let response = next.run(req).await;
    if !is_server_fn || response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, ERROR_BODY_LIMIT).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let undecodable = serde_json::from_slice::<AppError>(&bytes).is_ok_and(|e| {
        matches!(e, AppError::Transport(detail)
            if UNDECODABLE.iter().any(|prefix| detail.starts_with(prefix)))
    });
    if undecodable {
        parts.status = StatusCode::BAD_REQUEST;
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Answers 503 when the response (its head) is not ready within `limit`
/// (`request_timeout_secs`): a hung dependency never holds a request open for ever. The
/// pools answer a stopped PostgreSQL or Redis much sooner (see `db` and `redis_pool`).
async fn request_timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::error!(
                http.path = %path,
                timeout_secs = limit.as_secs(),
                "no answer within the request timeout"
            );
            let message = "Kiln took too long to answer; try again shortly.";
            if path.starts_with(crate::api::BASE) {
                crate::api::error::ApiError::from(AppError::Unavailable(message.into()))
                    .into_response()
            } else if path.starts_with("/api/") {
                let body = serde_json::to_string(&AppError::Unavailable(message.into()))
                    .unwrap_or_default();
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::CONTENT_TYPE, "application/json")],
                    body,
                )
                    .into_response()
            } else {
                (StatusCode::SERVICE_UNAVAILABLE, message).into_response()
            }
        }
    }
}
