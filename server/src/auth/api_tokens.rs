//! `ApiTokens`: users' bearer tokens for the REST API — created (shown once, stored as their
//! SHA-256), listed and revoked by their owner, and resolved into an [`Actor`] for each API
//! request ([`ApiTokens::authenticate`]), with the limits of a sign-in:
//! - an unknown, expired or malformed token is refused (401), counted per client address and
//!   audited as `api.token.refused`; past `login_max_failures` a minute, the address gets 429;
//! - each token may make `api_rate_limit` requests a minute (429 with `Retry-After` beyond);
//! - a token of a disabled user is refused like an unknown one.
//!
//! A token acts as its owner. A full token counts as having proved the owner's password (its
//! secret is a credential of its own), so it may reveal a container's credentials; a
//! read-only one may only read (`api::auth` refuses its writes) and reveals nothing.

use chrono::{Duration, Utc};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use kiln_shared::AppError;
use kiln_shared::api_tokens::{
    self, ApiToken, PasswordLogin, TOKEN_MARK, TOKEN_PREFIX_CHARS, TokenCreated, TokenInput,
};
use kiln_shared::auth::{Actor, CurrentUser};
use serde_json::json;

use crate::app_state::AppState;
use crate::auth::rate_limit;
use crate::auth::service::AuthService;
use crate::auth::tokens;
use crate::db::api_tokens::{self as db, NewToken};
use crate::db::audit::{Entry, Outcome};
use crate::errors;

/// Who an API request acts as.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's owner, acting through it.
    pub actor: Actor,
    pub token_id: i64,
    /// Only reads are allowed.
    pub read_only: bool,
}

#[derive(Clone, Debug)]
pub struct ApiTokens {
    state: AppState,
}

impl ApiTokens {
    pub fn new(state: AppState) -> Self {
        ApiTokens { state }
    }

    /// Creates a token for `actor` (a signed-in user, not Kiln itself). 422 on `name` or
    /// `expires_in_days`; 409 when the user has a token of that name. Audited as
    /// `api.token.create` (name, scope, expiry; never the secret).
    pub async fn create(
        &self,
        actor: &Actor,
        input: &TokenInput,
    ) -> Result<TokenCreated, AppError> {
        let input = api_tokens::validate_token_input(input)?;
        let Some(owner) = actor.id() else {
            return Err(AppError::Forbidden(
                "API tokens belong to a user; Kiln itself has none.".into(),
            ));
        };
        let secret = format!(
            "{TOKEN_MARK}{}",
            tokens::random_token().map_err(|e| errors::internal("creating a token", e))?
        );
        let prefix: String = secret.chars().take(TOKEN_PREFIX_CHARS).collect();
        let expires_at = input
            .expires_in_days
            .map(|days| Utc::now() + Duration::days(i64::from(days)));
        let mut conn = self.state.conn().await?;
        let row = db::insert(
            &mut conn,
            &NewToken {
                owner_id: owner,
                name: &input.name,
                digest: &tokens::digest(&secret),
                prefix: &prefix,
                read_only: input.read_only,
                expires_at,
            },
        )
        .await
        .map_err(|e| match e {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                AppError::invalid("name", "You already have a token with this name.")
            }
            e => errors::db("creating a token", e),
        })?;
        drop(conn);
        self.state
            .audit(Entry {
                detail: json!({
                    "read_only": input.read_only,
                    "expires_in_days": input.expires_in_days,
                    "via_token": actor.via_token,
                }),
                ..Entry::by(actor, "api.token.create").on(&input.name)
            })
            .await;
        Ok(TokenCreated {
            token: row.view(Utc::now()),
            secret,
        })
    }

    /// A token for a username and password (`POST /api/v1/auth/token`, `kiln api login`):
    /// checked, limited and audited as a sign-in (`api.login`), then created as
    /// [`ApiTokens::create`] does.
    pub async fn create_with_password(
        &self,
        login: &PasswordLogin,
        address: &str,
    ) -> Result<TokenCreated, AppError> {
        // The form's rules first: a bad name costs no password attempt.
        api_tokens::validate_token_input(&login.token)?;
        let user: CurrentUser = AuthService::new(self.state.clone())
            .check_password(&login.username, &login.password, address, "api.login")
            .await?;
        let actor = Actor::user(&user, address);
        self.state
            .audit(Entry::by(&actor, "api.login").on(login.token.name.trim()))
            .await;
        self.create(&actor, &login.token).await
    }

    /// The user's tokens, newest first.
    pub async fn list(&self, actor: &Actor) -> Result<Vec<ApiToken>, AppError> {
        let Some(owner) = actor.id() else {
            return Ok(Vec::new());
        };
        let mut conn = self.state.conn().await?;
        let rows = db::of_owner(&mut conn, owner)
            .await
            .map_err(|e| errors::db("listing tokens", e))?;
        let now = Utc::now();
        Ok(rows.into_iter().map(|row| row.view(now)).collect())
    }

    /// Revokes (deletes) the user's token `id`: it stops working at once. 404 when the user
    /// has no such token (another user's token is not theirs to revoke, administrators
    /// included). Audited as `api.token.revoke`.
    pub async fn revoke(&self, actor: &Actor, id: i64) -> Result<(), AppError> {
        let not_found = || AppError::NotFound(format!("token {id}"));
        let owner = actor.id().ok_or_else(not_found)?;
        let mut conn = self.state.conn().await?;
        let name = db::delete(&mut conn, owner, id)
            .await
            .map_err(|e| errors::db("revoking a token", e))?
            .ok_or_else(not_found)?;
        drop(conn);
        self.state
            .audit(Entry::by(actor, "api.token.revoke").on(&name))
            .await;
        Ok(())
    }

    /// The caller an `Authorization` header value names, for a request from `address`.
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
        address: &str,
    ) -> Result<Caller, AppError> {
        let Some(value) = authorization else {
            return Err(AppError::Unauthorized);
        };
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .unwrap_or_default();
        let found = if api_tokens::well_formed(token) {
            let mut conn = self.state.conn().await?;
            db::by_digest(&mut conn, &tokens::digest(token))
                .await
                .map_err(|e| errors::db("looking up a token", e))?
        } else {
            None
        };
        let now = Utc::now();
        let bearer = match found {
            Some(b) if !b.disabled && b.expires_at.is_none_or(|at| at > now) => b,
            found => return Err(self.refused(token, found.as_ref(), address).await),
        };
        let key = format!(
            "{}api-rate:token:{}",
            self.state.config.redis_prefix, bearer.token_id
        );
        let (count, ttl) = rate_limit::hit(&self.state.redis, &key)
            .await
            .map_err(|e| errors::redis("counting API requests", e))?;
        if count > i64::from(self.state.config.api_rate_limit) {
            return Err(AppError::RateLimited {
                retry_after_secs: ttl,
            });
        }
        // The list shows the last use to the minute: write at most once a minute.
        if bearer
            .last_used_at
            .is_none_or(|at| now - at > Duration::seconds(60))
            && let Ok(mut conn) = self.state.db.get().await
        {
            let _ = db::touch(&mut conn, bearer.token_id).await;
        }
        let user = CurrentUser {
            id: bearer.user_id,
            username: bearer.username,
            is_admin: bearer.is_admin,
        };
        let proved = (!bearer.read_only).then(|| now.timestamp());
        Ok(Caller {
            actor: Actor::user(&user, address)
                .with_password_proved_at(proved)
                .with_token(&bearer.token_name),
            token_id: bearer.token_id,
            read_only: bearer.read_only,
        })
    }

    /// A refused token: counted against the address (429 past the sign-in limit), logged and
    /// audited with the token's first characters only.
    async fn refused(&self, token: &str, found: Option<&db::Bearer>, address: &str) -> AppError {
        let reason = match found {
            Some(b) if b.disabled => "disabled",
            Some(_) => "expired",
            None => "unknown",
        };
        let shown: String = token.chars().take(TOKEN_PREFIX_CHARS).collect();
        tracing::info!(client.ip = %address, token.prefix = %shown, reason, "API token refused");
        self.state
            .audit(Entry {
                actor_id: found.map(|b| b.user_id),
                actor_name: found.map(|b| b.username.as_str()),
                source_ip: Some(address),
                outcome: Outcome::Denied,
                detail: json!({ "reason": reason, "prefix": shown }),
                ..Entry::new("api.token.refused")
            })
            .await;
        let key = format!("{}api-fail:ip:{address}", self.state.config.redis_prefix);
        match rate_limit::hit(&self.state.redis, &key).await {
            Ok((count, ttl)) if count > i64::from(self.state.config.login_max_failures) => {
                AppError::RateLimited {
                    retry_after_secs: ttl,
                }
            }
            Ok(_) => AppError::Unauthorized,
            Err(e) => errors::redis("counting refused tokens", e),
        }
    }
}
