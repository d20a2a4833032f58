//! `/api/v1/me`, `/api/v1/tokens`, `/api/v1/auth/token`: who the token is, the user's tokens,
//! and a token for a username and password (`kiln api login`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use kiln_shared::api_tokens::{ApiToken, PasswordLogin, TokenCreated, TokenInput};
use kiln_shared::auth::CurrentUser;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, Caller, ClientAddress};
use crate::app_state::AppState;
use crate::auth::api_tokens::ApiTokens;

/// The routes that need a token.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(list, create))
        .routes(routes!(revoke))
}

/// The routes anyone may call.
pub fn public_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(login))
}

/// Who a token acts as.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Me {
    pub user: CurrentUser,
    /// The token's name.
    pub token: String,
    pub read_only: bool,
}

/// The user and token the request acts as.
#[utoipa::path(get, operation_id = "me", path = "/me", tag = "tokens",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
async fn me(caller: Caller) -> ApiJson<Me> {
    ApiJson(Me {
        user: CurrentUser {
            id: caller.actor.user_id,
            username: caller.actor.username.clone(),
            is_admin: caller.actor.is_admin,
        },
        token: caller.actor.via_token.clone().unwrap_or_default(),
        read_only: caller.read_only,
    })
}

/// The user's tokens, newest first (never their secrets).
#[utoipa::path(get, operation_id = "list_tokens", path = "/tokens", tag = "tokens",
    responses((status = 200, body = Vec<ApiToken>), (status = 401, body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<ApiJson<Vec<ApiToken>>, ApiError> {
    Ok(ApiJson(ApiTokens::new(state).list(&caller.actor).await?))
}

/// Creates a token for the user; its secret is in this answer only.
#[utoipa::path(post, operation_id = "create_token", path = "/tokens", tag = "tokens", request_body = TokenInput,
    responses((status = 201, body = TokenCreated), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<TokenInput>,
) -> Result<impl IntoResponse, ApiError> {
    let created = ApiTokens::new(state).create(&caller.actor, &input).await?;
    Ok((StatusCode::CREATED, ApiJson(created)))
}

/// Revokes one of the user's tokens: it stops working at once.
#[utoipa::path(delete, operation_id = "revoke_token", path = "/tokens/{id}", tag = "tokens",
    params(("id" = i64, Path, description = "The token's id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    ApiTokens::new(state).revoke(&caller.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new token for a username and password — what `kiln api login` calls. Limited and
/// audited as a sign-in: 401 for a wrong username or password, 429 after too many.
#[utoipa::path(post, operation_id = "token_for_password", path = "/auth/token", tag = "tokens", request_body = PasswordLogin,
    security(()),
    responses((status = 201, body = TokenCreated), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    ApiJson(login): ApiJson<PasswordLogin>,
) -> Result<impl IntoResponse, ApiError> {
    let created = ApiTokens::new(state)
        .create_with_password(&login, &address)
        .await?;
    Ok((StatusCode::CREATED, ApiJson(created)))
}
