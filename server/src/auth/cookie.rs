//! The session cookie's name and attributes.
//!
//! When the cookie is `Secure` it is named `__Host-kiln_session`: browsers then accept it only
//! from an HTTPS origin, with `Path=/` and no `Domain`, so a sibling subdomain or a plain-HTTP
//! man in the middle cannot plant or overwrite it. Without `Secure` (plain HTTP, loopback) the
//! name is `kiln_session`. The gate reads the name that matches the same decision, so one
//! request never accepts the other name.

use kiln_shared::auth::{SECURE_SESSION_COOKIE, SESSION_COOKIE};

use crate::config::CookieSecure;

/// Whether the session cookie is `Secure` for a request (`https`: as a trusted proxy says).
pub fn is_secure(setting: CookieSecure, https: bool) -> bool {
    match setting {
        CookieSecure::Always => true,
        CookieSecure::Never => false,
        CookieSecure::Auto => https,
    }
}

/// The session cookie's name.
pub fn session_name(secure: bool) -> &'static str {
    if secure {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

/// The `Set-Cookie` value that sets (or, with an empty value and `max_age` 0, clears) the
/// session cookie.
pub fn session(secure: bool, value: &str, max_age: u64) -> String {
    let name = session_name(secure);
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secure_cookies_are_host_prefixed() {
        let set = session(true, "abc", 60);
        assert_eq!(
            set,
            "__Host-kiln_session=abc; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
        );
        assert!(!set.contains("Domain"));
        assert_eq!(
            session(false, "", 0),
            "kiln_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"
        );
        assert!(is_secure(CookieSecure::Auto, true));
        assert!(!is_secure(CookieSecure::Auto, false));
        assert!(is_secure(CookieSecure::Always, false));
        assert!(!is_secure(CookieSecure::Never, true));
    }
}
