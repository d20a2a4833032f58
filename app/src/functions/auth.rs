//! Sign-in, first-run setup, sign-out and password changes.

use kiln_shared::AppError;
use kiln_shared::auth::CurrentUser;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::ssr;

/// The signed-in user (401 when signed out).
#[server(prefix = "/api/fn", endpoint = "whoami", output = kiln_shared::wire::JsonText)]
pub async fn whoami() -> Result<CurrentUser, AppError> {
    ssr::respond(ssr::request_ctx().user.ok_or(AppError::Unauthorized))
}

/// Creates the first administrator and signs them in. Refused (409) once a user exists.
#[server(prefix = "/api/fn", endpoint = "setup_admin", output = kiln_shared::wire::JsonText)]
pub async fn setup_admin(
    username: String,
    password: String,
    confirm: String,
) -> Result<(), AppError> {
    ssr::respond(
        async {
            let ctx = ssr::request_ctx();
            let cookie = ssr::auth_backend()?
                .setup_admin(&ctx, &username, &password, &confirm)
                .await?;
            ssr::set_cookie(&cookie);
            leptos_axum::redirect("/");
            Ok(())
        }
        .await,
    )
}

/// Signs in. Wrong user and wrong password give the same answer; repeated failures get 429.
#[server(prefix = "/api/fn", endpoint = "login", output = kiln_shared::wire::JsonText)]
pub async fn login(
    username: String,
    password: String,
    next: Option<String>,
) -> Result<(), AppError> {
    ssr::respond(
        async {
            let ctx = ssr::request_ctx();
            let cookie = ssr::auth_backend()?
                .login(&ctx, &username, &password)
                .await?;
            ssr::set_cookie(&cookie);
            leptos_axum::redirect(&ssr::safe_next(next.as_deref()));
            Ok(())
        }
        .await,
    )
}

/// Signs out of this browser, or (with `everywhere`) out of every session of this user.
#[server(prefix = "/api/fn", endpoint = "logout", output = kiln_shared::wire::JsonText)]
pub async fn logout(everywhere: Option<String>) -> Result<(), AppError> {
    ssr::respond(
        async {
            let ctx = ssr::request_ctx();
            let cookie = ssr::auth_backend()?
                .logout(&ctx, everywhere.is_some_and(|v| v == "true" || v == "on"))
                .await?;
            ssr::set_cookie(&cookie);
            leptos_axum::redirect("/login");
            Ok(())
        }
        .await,
    )
}

/// Changes the caller's password after checking the current one. Other sessions are ended.
#[server(prefix = "/api/fn", endpoint = "change_password", output = kiln_shared::wire::JsonText)]
pub async fn change_password(
    current: String,
    password: String,
    confirm: String,
) -> Result<(), AppError> {
    ssr::respond(
        async {
            let ctx = ssr::request_ctx();
            let actor = ctx.actor().ok_or(AppError::Unauthorized)?;
            ssr::auth_backend()?
                .change_password(
                    &actor,
                    ctx.session_id.as_deref(),
                    &current,
                    &password,
                    &confirm,
                )
                .await
        }
        .await,
    )
}
