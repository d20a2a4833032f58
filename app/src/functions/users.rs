//! User administration (administrators only; the service checks).

use kiln_shared::AppError;
use kiln_shared::auth::UserSummary;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::ssr;

#[server(prefix = "/api/fn", endpoint = "list_users", output = kiln_shared::wire::JsonText)]
pub async fn list_users() -> Result<Vec<UserSummary>, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::auth_backend()?.list_users(&actor).await
        }
        .await,
    )
}

#[server(prefix = "/api/fn", endpoint = "create_user", output = kiln_shared::wire::JsonText)]
pub async fn create_user(
    username: String,
    password: String,
    is_admin: Option<String>,
) -> Result<UserSummary, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::auth_backend()?
                .create_user(&actor, &username, &password, is_admin.is_some())
                .await
        }
        .await,
    )
}

#[server(prefix = "/api/fn", endpoint = "set_user_disabled", output = kiln_shared::wire::JsonText)]
pub async fn set_user_disabled(user_id: i64, disabled: bool) -> Result<(), AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::auth_backend()?
                .set_user_disabled(&actor, user_id, disabled)
                .await
        }
        .await,
    )
}
