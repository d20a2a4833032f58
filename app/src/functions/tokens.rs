//! API tokens in Settings: the user's list, a new token (its secret answered once), revoke.
//!
//! The forms post their fields as text (a plain form post works without JavaScript, but only
//! the island can show a new token's secret); `kiln_shared::api_tokens` checks them on the
//! server, field by field.

use kiln_shared::AppError;
use kiln_shared::api_tokens::{ApiToken, TokenCreated};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::ssr;

/// The signed-in user's tokens, newest first.
#[server(prefix = "/api/fn", endpoint = "list_api_tokens", output = kiln_shared::wire::JsonText)]
pub async fn list_api_tokens() -> Result<Vec<ApiToken>, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::auth_backend()?.list_tokens(&actor).await
        }
        .await,
    )
}

/// Creates a token: `read_only` is a checkbox (`on`), `expires_in_days` empty for never.
#[server(prefix = "/api/fn", endpoint = "create_api_token", output = kiln_shared::wire::JsonText)]
pub async fn create_api_token(
    name: String,
    read_only: Option<String>,
    expires_in_days: Option<String>,
) -> Result<TokenCreated, AppError> {
    ssr::respond_noticed(
        async {
            let actor = ssr::require_user()?;
            let input = kiln_shared::api_tokens::TokenInput::from_form(
                &name,
                read_only.as_deref(),
                expires_in_days.as_deref().unwrap_or_default(),
            )?;
            ssr::auth_backend()?.create_token(&actor, &input).await
        }
        .await,
        "token-created",
    )
}

#[server(prefix = "/api/fn", endpoint = "revoke_api_token", output = kiln_shared::wire::JsonText)]
pub async fn revoke_api_token(id: i64) -> Result<(), AppError> {
    ssr::respond_noticed(
        async {
            let actor = ssr::require_user()?;
            ssr::auth_backend()?.revoke_token(&actor, id).await
        }
        .await,
        "token-revoked",
    )
}
