//! The API's gate, in front of every `/api/v1` route but the public ones (the document, the
//! reference page, `POST /auth/token`): the bearer token becomes a [`Caller`]
//! (`auth::api_tokens`: 401, 429), and a read-only token may only read (403 otherwise).
//! Cookies are never looked at here: a browser's session cannot call the API, so the API
//! has no cross-site request forgery surface.

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kiln_shared::AppError;

use super::error::ApiError;
use super::extract::ClientAddress;
use crate::app_state::AppState;
use crate::auth::api_tokens::{ApiTokens, Caller};

/// The middleware: see the module docs.
pub async fn require_token(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let address = ClientAddress::of(req.extensions());
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let caller: Caller = match ApiTokens::new(state)
        .authenticate(authorization.as_deref(), &address)
        .await
    {
        Ok(caller) => caller,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if caller.read_only && !matches!(*req.method(), Method::GET | Method::HEAD) {
        return ApiError::from(AppError::Forbidden(
            "This token is read-only: it may only read.".into(),
        ))
        .into_response();
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}
