//! The API's extractors: axum's `Json`, `Query` and `Path` whose rejections answer in the
//! API's error shape ([`ApiError`]), and [`Caller`], who the request acts as.

use axum::extract::{FromRequest, FromRequestParts};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use kiln_shared::AppError;
use serde::Serialize;

use super::error::ApiError;
pub use crate::auth::api_tokens::Caller;

/// A JSON body (400 when it is not JSON, 422 naming the field that does not fit).
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// A query string (400 when it does not parse).
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// Path parameters (400 when they do not parse).
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or(ApiError::App(AppError::Unauthorized))
    }
}

/// The client's address as the request gate resolved it (forwarding headers count only from
/// a trusted proxy): for the audit log and the limits of the public routes.
#[derive(Debug, Clone)]
pub struct ClientAddress(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(ClientAddress::of(&parts.extensions)))
    }
}

impl ClientAddress {
    /// The address the gate put into the request's extensions (`unknown` without one).
    pub fn of(extensions: &axum::http::Extensions) -> String {
        extensions
            .get::<kiln_app::ssr::RequestCtx>()
            .map_or_else(|| "unknown".to_owned(), |ctx| ctx.client_ip.clone())
    }
}
