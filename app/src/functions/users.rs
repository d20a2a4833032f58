//! User administration (admins only).

use kiln_shared::AppError;
use kiln_shared::auth::UserSummary;
#[cfg(feature = "ssr")]
use kiln_shared::{FieldErrors, validate};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::ssr;

#[server(prefix = "/api/fn", endpoint = "list_users")]
pub async fn list_users() -> Result<Vec<UserSummary>, AppError> {
    ssr::respond(
        async {
            let (_, actor) = ssr::require_admin()?;
            ssr::backend()?.list_users(&actor).await
        }
        .await,
    )
}

#[server(prefix = "/api/fn", endpoint = "create_user")]
pub async fn create_user(
    username: String,
    password: String,
    is_admin: Option<String>,
) -> Result<UserSummary, AppError> {
    ssr::respond(
        async {
            let (ctx, actor) = ssr::require_admin()?;
            let username = validate::normalize_username(&username);
            let mut errors = FieldErrors::default();
            errors.check("username", validate::username(&username));
            errors.check("password", validate::new_password(&password));
            errors.into_result()?;
            ssr::backend()?
                .create_user(&ctx, &actor, &username, &password, is_admin.is_some())
                .await
        }
        .await,
    )
}

#[server(prefix = "/api/fn", endpoint = "set_user_disabled")]
pub async fn set_user_disabled(user_id: i64, disabled: bool) -> Result<(), AppError> {
    ssr::respond(
        async {
            let (ctx, actor) = ssr::require_admin()?;
            ssr::backend()?
                .set_user_disabled(&ctx, &actor, user_id, disabled)
                .await
        }
        .await,
    )
}
