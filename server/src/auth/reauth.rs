//! Asking for the password again before something sensitive (revealing a credential): a
//! session whose password was proved more than [`REAUTH_AFTER_SECS`] ago must prove it
//! again. A correct password is recorded in the session (`SessionStore::confirm_password`),
//! so further reveals within the next 10 minutes do not ask; a wrong one counts against the
//! sign-in rate limiter (the same counters as sign-in, per username and per address) and is
//! audited `user.reauth` as failed.
//!
//! Architecture Invariant: the password is only verified here (on the hashing threads), never
//! logged, and an answer never says more than "wrong password".

use kiln_shared::AppError;
use kiln_shared::auth::Actor;
use kiln_shared::container_page::{REAUTH_AFTER_SECS, REAUTH_FIELD, REAUTH_MESSAGE};
use kiln_shared::validate::PASSWORD_MAX_BYTES;
use serde_json::json;

use crate::app_state::AppState;
use crate::auth::password;
use crate::db::audit::{Entry, Outcome};
use crate::errors;

/// The audit action of a password asked again.
pub const ACTION: &str = "user.reauth";

/// `Ok` when `actor`'s session proved the password recently enough, or `password` is the
/// actor's (then recorded in `session`, the cookie's session id, when given). Otherwise an
/// `Invalid` answer on [`REAUTH_FIELD`]: "enter your password again" when none was given,
/// "wrong password" when it is wrong (429 past the sign-in limit).
pub async fn require_recent_password(
    state: &AppState,
    actor: &Actor,
    session: Option<&str>,
    password: Option<&str>,
) -> Result<(), AppError> {
    let now = chrono::Utc::now().timestamp();
    if actor.password_recent(now, REAUTH_AFTER_SECS) {
        return Ok(());
    }
    let password = match password {
        Some(p) if !p.is_empty() => p,
        _ => return Err(AppError::invalid(REAUTH_FIELD, REAUTH_MESSAGE)),
    };
    let wrong = || AppError::invalid(REAUTH_FIELD, "The password is wrong.");
    if password.len() > PASSWORD_MAX_BYTES {
        return Err(wrong());
    }
    reserve(state, actor).await?;
    let mut conn = state.conn().await?;
    let row = crate::db::users::by_id(&mut conn, actor.user_id)
        .await
        .map_err(|e| errors::db("looking up a user", e))?
        .ok_or(AppError::Unauthorized)?;
    drop(conn);
    let given = password.to_owned();
    let hash = row.password_hash;
    let matches = state
        .hashing
        .run(move || password::verify(&given, &hash))
        .await
        .ok_or_else(|| errors::internal("verifying a password", "no hashing thread"))?;
    if !matches || row.disabled {
        state
            .audit(Entry {
                outcome: Outcome::Failed,
                detail: json!({ "reason": "wrong_password" }),
                ..Entry::by(actor, ACTION).on(&actor.username)
            })
            .await;
        return Err(wrong());
    }
    if let Err(e) = state
        .limiter
        .succeeded(&actor.username, &actor.address)
        .await
    {
        tracing::warn!(error = %e, "clearing password attempts failed");
    }
    if let Some(session) = session {
        state
            .sessions
            .confirm_password(session, now)
            .await
            .map_err(|e| errors::redis("recording a password confirmation", e))?;
    }
    state
        .audit(Entry::by(actor, ACTION).on(&actor.username))
        .await;
    Ok(())
}

/// Reserves one password attempt for the actor (see `rate_limit`); past the limit, 429,
/// logged and audited.
async fn reserve(state: &AppState, actor: &Actor) -> Result<(), AppError> {
    let limit = state
        .limiter
        .reserve(&actor.username, &actor.address)
        .await
        .map_err(|e| errors::redis("checking sign-in limits", e))?;
    let Err(retry_after_secs) = limit else {
        return Ok(());
    };
    tracing::warn!(user.name = ?actor.username, client.ip = %actor.address, "password asked again: refused, too many wrong passwords");
    state
        .audit(Entry {
            outcome: Outcome::Denied,
            detail: json!({ "reason": "rate_limited" }),
            ..Entry::by(actor, ACTION).on(&actor.username)
        })
        .await;
    Err(AppError::RateLimited { retry_after_secs })
}
