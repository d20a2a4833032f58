//! Users and sessions as the browser sees them. No password hash ever crosses the wire.

use serde::{Deserialize, Serialize};

use crate::AppError;

/// The signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CurrentUser {
    pub id: i64,
    pub username: String,
    pub is_admin: bool,
}

impl CurrentUser {
    /// Up to two letters for the avatar.
    pub fn initials(&self) -> String {
        self.username
            .split(['.', '_', '-'])
            .filter_map(|part| part.chars().next())
            .take(2)
            .collect::<String>()
            .to_uppercase()
    }
}

/// A user as an admin sees it in the user list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    pub id: i64,
    pub username: String,
    pub is_admin: bool,
    pub disabled: bool,
    /// `YYYY-MM-DD HH:MM UTC` (formatted by the server: keeps date code out of the browser).
    pub created_at: String,
    /// Same format; `None` before the first sign-in.
    pub last_login_at: Option<String>,
}

/// Who is acting, as every service sees it: the user (or the system), whether they
/// administer Kiln, and where the request came from.
///
/// Every service method that reads or changes state takes one and decides from it what the
/// caller may see and do; server functions, the CLI, jobs and the REST API only build it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The acting user's id; [`Actor::SYSTEM_ID`] for Kiln itself (the CLI, start-up).
    pub user_id: i64,
    /// The user's name (or `cli`/`system`), for the audit log.
    pub username: String,
    /// Administrators may change every object and manage users.
    pub is_admin: bool,
    /// The client address (`local` for the CLI and start-up), for the audit log and limits.
    pub address: String,
    /// When (Unix seconds) the acting session last proved the user's password — its sign-in,
    /// or the password asked again since; `None` when unknown (no session). What reveals a
    /// secret asks for the password again once this is too old ([`Actor::password_recent`]).
    pub password_proved_at: Option<i64>,
    /// The API token the user acts through (its name), for the audit log; `None` for a
    /// session, the CLI and Kiln itself.
    pub via_token: Option<String>,
}

impl Actor {
    /// The id of no user: PostgreSQL's identities start at 1.
    pub const SYSTEM_ID: i64 = 0;

    /// A signed-in user acting from `address`.
    pub fn user(user: &CurrentUser, address: impl Into<String>) -> Self {
        Actor {
            user_id: user.id,
            username: user.username.clone(),
            is_admin: user.is_admin,
            address: address.into(),
            password_proved_at: None,
            via_token: None,
        }
    }

    /// This actor, whose session last proved the password at `at` (Unix seconds).
    pub fn with_password_proved_at(self, at: Option<i64>) -> Self {
        Actor {
            password_proved_at: at,
            ..self
        }
    }

    /// This actor, acting through the API token named `name`.
    pub fn with_token(self, name: &str) -> Self {
        Actor {
            via_token: Some(name.to_owned()),
            ..self
        }
    }

    /// Whether the password was proved less than `max_age_secs` before `now` (Unix seconds).
    /// Kiln itself (no user, no password) always counts as recent.
    pub fn password_recent(&self, now: i64, max_age_secs: i64) -> bool {
        self.id().is_none()
            || self
                .password_proved_at
                .is_some_and(|at| at <= now && now - at < max_age_secs)
    }

    /// Kiln itself (`name` = `cli`, `system`): an administrator without a user row.
    pub fn system(name: &str) -> Self {
        Actor {
            user_id: Self::SYSTEM_ID,
            username: name.to_owned(),
            is_admin: true,
            address: "local".to_owned(),
            password_proved_at: None,
            via_token: None,
        }
    }

    /// The user's id for the audit log and owner columns; `None` for the system.
    pub fn id(&self) -> Option<i64> {
        (self.user_id != Self::SYSTEM_ID).then_some(self.user_id)
    }

    /// `Forbidden` unless an administrator.
    pub fn require_admin(&self) -> Result<(), AppError> {
        if self.is_admin {
            Ok(())
        } else {
            Err(AppError::Forbidden(
                "Only an administrator can do this.".into(),
            ))
        }
    }

    /// Whether this actor may edit or delete an object owned by `owner` (`None`: owned by
    /// Kiln, e.g. a folder template or an object whose owner was removed): the owner and
    /// administrators may.
    pub fn may_change(&self, owner: Option<i64>) -> bool {
        self.is_admin || owner.is_some_and(|o| o == self.user_id && o != Self::SYSTEM_ID)
    }

    /// `Forbidden` (naming `what`) unless [`Actor::may_change`].
    pub fn require_owner(&self, owner: Option<i64>, what: &str) -> Result<(), AppError> {
        if self.may_change(owner) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "Only the owner of this {what} or an administrator can change it."
            )))
        }
    }
}

/// The name of the session cookie over plain HTTP (not `Secure`).
pub const SESSION_COOKIE: &str = "kiln_session";

/// The name of the session cookie when it is `Secure` (HTTPS): the `__Host-` prefix makes
/// browsers refuse it unless it is `Secure`, has `Path=/` and no `Domain`.
pub const SECURE_SESSION_COOKIE: &str = "__Host-kiln_session";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_and_admins_may_change() {
        let user = CurrentUser {
            id: 7,
            username: "ann".into(),
            is_admin: false,
        };
        let ann = Actor::user(&user, "192.0.2.1");
        assert!(ann.may_change(Some(7)));
        assert!(!ann.may_change(Some(8)));
        assert!(!ann.may_change(None));
        assert!(ann.require_owner(Some(8), "template").is_err());
        assert!(ann.require_admin().is_err());
        let admin = Actor {
            is_admin: true,
            ..ann.clone()
        };
        assert!(admin.may_change(Some(8)) && admin.may_change(None));
        let cli = Actor::system("cli");
        assert_eq!(cli.id(), None);
        assert!(cli.require_admin().is_ok());
    }

    #[test]
    fn a_password_proved_long_ago_is_not_recent() {
        let user = CurrentUser {
            id: 7,
            username: "ann".into(),
            is_admin: false,
        };
        let ann = Actor::user(&user, "192.0.2.1");
        assert!(!ann.password_recent(1_000, 600), "unknown: not recent");
        let ann = ann.with_password_proved_at(Some(1_000));
        assert!(ann.password_recent(1_000, 600));
        assert!(ann.password_recent(1_599, 600));
        assert!(!ann.password_recent(1_600, 600));
        assert!(
            !ann.password_recent(999, 600),
            "a proof from the future is not trusted"
        );
        assert!(Actor::system("cli").password_recent(1_000, 600));
    }

    #[test]
    fn initials() {
        let user = CurrentUser {
            id: 1,
            username: "jane.doe".into(),
            is_admin: false,
        };
        assert_eq!(user.initials(), "JD");
    }
}
