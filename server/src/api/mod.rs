//! The REST API, `/api/v1`: Kiln's services for scripts, Terraform/Ansible and CI — the same
//! services, rules, authorization and audit entries as the pages, reached with an API token
//! (`Authorization: Bearer`, never a cookie).
//!
//! Each domain's handlers live in a submodule and are registered with utoipa-axum's
//! `routes!`, which puts every route into the axum router and its operation into the OpenAPI
//! document at once: the document (`GET /api/v1/openapi.json`) cannot miss a route. The
//! reference page (Swagger UI, vendored into the binary) is `/api/v1/docs/`.
//!
//! Conventions: errors in one shape (`error`); lists paginated by cursor (`page`); `ETag` on
//! what a racing write can change, `If-Match` honoured by those writes (`etag`); the
//! extractors answer malformed requests in the same shape (`extract`).

pub mod alerts;
pub mod auth;
pub mod buckets;
pub mod containers;
pub mod error;
pub mod etag;
pub mod extract;
pub mod jobs;
pub mod metrics;
pub mod node_choices;
pub mod nodes;
pub mod page;
pub mod templates;
pub mod tokens;

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::{any, get};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::app_state::AppState;

/// Where the API lives.
pub const BASE: &str = "/api/v1";
/// The OpenAPI document.
pub const DOCUMENT: &str = "/api/v1/openapi.json";
/// The reference page.
pub const DOCS: &str = "/api/v1/docs";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Kiln API",
        description = "Kiln's REST API: nodes, templates, buckets, containers (create from a \
            template, lifecycle, services, credentials), jobs and their progress events, resource \
            history and alerts. Authenticate with `Authorization: Bearer <token>` (Settings → API \
            tokens, or `POST /api/v1/auth/token`). Errors: `{\"error\": {\"kind\", \"message\", \
            \"fields\"}}`."
    ),
    modifiers(&BearerAuth),
    components(schemas(error::ErrorBody))
)]
struct ApiDoc;

/// Every operation needs the bearer token unless it says `security(())`.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        openapi.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "token",
            Vec::<String>::new(),
        )]);
    }
}

/// The API's routes, those behind the token gate and the public ones, with the document.
fn api(state: &AppState) -> OpenApiRouter<AppState> {
    let protected = OpenApiRouter::new()
        .merge(tokens::routes())
        .merge(containers::routes())
        .merge(jobs::routes())
        .merge(nodes::routes())
        .merge(templates::routes())
        .merge(buckets::routes())
        .merge(metrics::routes())
        .merge(alerts::routes())
        .merge(node_choices::routes())
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    let public = tokens::public_routes();
    OpenApiRouter::with_openapi(ApiDoc::openapi()).nest(BASE, protected.merge(public))
}

/// The OpenAPI document (tests, `kiln api openapi`).
pub fn openapi(state: &AppState) -> utoipa::openapi::OpenApi {
    api(state).into_openapi()
}

/// The API's router: the routes, the document and the reference page.
pub fn router(state: &AppState) -> Router<AppState> {
    let (routes, mut document) = api(state).split_for_parts();
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let json = Arc::new(document.to_json().unwrap_or_default());
    let docs: Router<AppState> = SwaggerUi::new(DOCS)
        .config(
            // Kiln's CSP (`headers`) holds for the page too, unrelaxed: every asset is a file
            // from the binary and the initializer is a script file, not inline. The base
            // layout leaves out the top bar, whose logo is an SVG with a `<style>` element
            // (`style-src 'self'` refuses it) and whose URL box would load other documents;
            // no validator, whose badge is an image from validator.swagger.io (`img-src`
            // refuses it, and it would hand the document's address to a third party).
            utoipa_swagger_ui::Config::from(DOCUMENT)
                .persist_authorization(false)
                .try_it_out_enabled(true)
                .use_base_layout()
                .validator_url("none"),
        )
        .into();
    routes
        .route(
            DOCUMENT,
            get(move || {
                let json = json.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        json.to_string(),
                    )
                }
            }),
        )
        .merge(docs)
        .route("/api/v1/{*rest}", any(not_found))
}

async fn not_found() -> impl IntoResponse {
    error::ApiError::not_found("no such API route (see /api/v1/openapi.json)")
}
