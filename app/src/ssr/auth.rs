//! Sign-in, sessions and user administration: what the auth server functions need.

use std::sync::Arc;

use async_trait::async_trait;
use kiln_shared::AppError;
use kiln_shared::api_tokens::{ApiToken, TokenCreated, TokenInput};
use kiln_shared::auth::{Actor, UserSummary};

use super::RequestCtx;

/// A `Set-Cookie` header value produced by the backend (it owns the cookie policy).
pub type SetCookie = String;

/// Implemented by the server's `AuthService`. Sign-in and setup take the request (no one is
/// signed in yet: the address and scheme matter); everything else takes the [`Actor`].
/// Every method validates its own input with the `kiln_shared::validate` rules.
#[async_trait]
pub trait AuthBackend: Send + Sync + 'static {
    /// True until the first admin exists.
    async fn needs_setup(&self) -> Result<bool, AppError>;
    /// Creates the first admin and signs them in. Refused once any user exists.
    async fn setup_admin(
        &self,
        ctx: &RequestCtx,
        username: &str,
        password: &str,
        confirm: &str,
    ) -> Result<SetCookie, AppError>;
    /// Verifies a password and opens a fresh session (the old one, if any, is ended).
    async fn login(
        &self,
        ctx: &RequestCtx,
        username: &str,
        password: &str,
    ) -> Result<SetCookie, AppError>;
    /// Ends this session, or every session of the user; returns the cookie that clears it.
    async fn logout(&self, ctx: &RequestCtx, everywhere: bool) -> Result<SetCookie, AppError>;
    /// Changes the actor's password; every other session (all but `keep_session`) ends.
    async fn change_password(
        &self,
        actor: &Actor,
        keep_session: Option<&str>,
        current: &str,
        new: &str,
        confirm: &str,
    ) -> Result<(), AppError>;
    /// Every user (administrators only).
    async fn list_users(&self, actor: &Actor) -> Result<Vec<UserSummary>, AppError>;
    /// Adds a user (administrators only).
    async fn create_user(
        &self,
        actor: &Actor,
        username: &str,
        password: &str,
        is_admin: bool,
    ) -> Result<UserSummary, AppError>;
    /// Disables (ending their sessions) or enables a user (administrators only).
    async fn set_user_disabled(
        &self,
        actor: &Actor,
        user_id: i64,
        disabled: bool,
    ) -> Result<(), AppError>;
    /// The actor's API tokens, newest first.
    async fn list_tokens(&self, actor: &Actor) -> Result<Vec<ApiToken>, AppError>;
    /// Creates an API token for the actor; its secret is in the answer only.
    async fn create_token(
        &self,
        actor: &Actor,
        input: &TokenInput,
    ) -> Result<TokenCreated, AppError>;
    /// Revokes one of the actor's API tokens.
    async fn revoke_token(&self, actor: &Actor, id: i64) -> Result<(), AppError>;
}

/// The auth backend as provided in context.
pub type SharedAuth = Arc<dyn AuthBackend>;

/// The auth backend, or `Internal` when the server forgot to provide it.
pub fn auth_backend() -> Result<SharedAuth, AppError> {
    super::provided::<SharedAuth>()
}
