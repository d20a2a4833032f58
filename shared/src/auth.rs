//! Users and sessions as the browser sees them. No password hash ever crosses the wire.

use serde::{Deserialize, Serialize};

/// The signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// The name of the session cookie over plain HTTP (not `Secure`).
pub const SESSION_COOKIE: &str = "kiln_session";

/// The name of the session cookie when it is `Secure` (HTTPS): the `__Host-` prefix makes
/// browsers refuse it unless it is `Secure`, has `Path=/` and no `Domain`.
pub const SECURE_SESSION_COOKIE: &str = "__Host-kiln_session";

#[cfg(test)]
mod tests {
    use super::*;

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
