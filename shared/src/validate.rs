//! Validation rules used by both the browser form and the server boundary.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Field name → message. `FieldErrors::FORM` holds a message about the whole form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldErrors(BTreeMap<String, String>);

impl FieldErrors {
    /// The key for errors that belong to no single field.
    pub const FORM: &'static str = "_form";

    /// Records a message for `field`; the first message per field wins.
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_owned())
            .or_insert_with(|| message.into());
    }

    /// Records the error of a rule check, if any.
    pub fn check(&mut self, field: &str, result: Result<(), String>) {
        if let Err(message) = result {
            self.add(field, message);
        }
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// `Ok(())` when nothing was recorded, the errors otherwise.
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

/// Shortest accepted password, in characters.
pub const PASSWORD_MIN_CHARS: usize = 10;
/// Longest accepted password, in bytes (argon2 hashes anything, but nobody types 1 KiB).
pub const PASSWORD_MAX_BYTES: usize = 1024;
/// Username length bounds.
pub const USERNAME_MIN: usize = 2;
pub const USERNAME_MAX: usize = 32;

/// A username: 2–32 characters, lower-case letters, digits, `.`, `_`, `-`, starting with a letter.
///
/// Usernames are case-insensitive for sign-in: callers normalise with [`normalize_username`].
pub fn username(value: &str) -> Result<(), String> {
    let len = value.chars().count();
    if !(USERNAME_MIN..=USERNAME_MAX).contains(&len) {
        return Err(format!("Use {USERNAME_MIN} to {USERNAME_MAX} characters."));
    }
    if !value.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err("Start with a letter (a–z).".into());
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
    {
        return Err("Use only a–z, 0–9, '.', '_' and '-'.".into());
    }
    Ok(())
}

/// Trims and lower-cases a username as typed.
pub fn normalize_username(value: &str) -> String {
    value.trim().to_ascii_lowercase()
}

/// A new password: at least 10 characters, at most 1 KiB, not only whitespace.
pub fn new_password(value: &str) -> Result<(), String> {
    if value.len() > PASSWORD_MAX_BYTES {
        return Err(format!("Use at most {PASSWORD_MAX_BYTES} bytes."));
    }
    if value.chars().count() < PASSWORD_MIN_CHARS {
        return Err(format!("Use at least {PASSWORD_MIN_CHARS} characters."));
    }
    if value.trim().is_empty() {
        return Err("A password cannot be only spaces.".into());
    }
    Ok(())
}

/// The sign-in form: both fields present and within bounds (a name longer than any username,
/// or a password over [`PASSWORD_MAX_BYTES`], is refused before anything is looked up,
/// counted or written). `username` is normalised.
pub fn sign_in(username: &str, password: &str) -> FieldErrors {
    let mut errors = FieldErrors::default();
    if username.is_empty() {
        errors.add("username", "Enter your username.");
    } else if username.len() > USERNAME_MAX * 4 {
        errors.add("username", "This is not a username.");
    }
    if password.is_empty() {
        errors.add("password", "Enter your password.");
    } else if password.len() > PASSWORD_MAX_BYTES {
        errors.add(
            "password",
            format!("Passwords are at most {PASSWORD_MAX_BYTES} bytes."),
        );
    }
    errors
}

/// The repeated password matches.
pub fn password_confirmation(password: &str, confirm: &str) -> Result<(), String> {
    if password == confirm {
        Ok(())
    } else {
        Err("The passwords do not match.".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(username("admin").is_ok());
        assert!(username("ops-team.2").is_ok());
        assert!(username("a").is_err());
        assert!(username("Admin").is_err());
        assert!(username("1admin").is_err());
        assert!(username("ad min").is_err());
        assert!(username(&"a".repeat(33)).is_err());
        assert_eq!(normalize_username("  Admin "), "admin");
    }

    #[test]
    fn passwords() {
        assert!(new_password("correct horse").is_ok());
        assert!(new_password("short").is_err());
        assert!(new_password("          ").is_err());
        assert!(new_password(&"x".repeat(1025)).is_err());
        assert!(password_confirmation("a", "b").is_err());
    }

    #[test]
    fn field_errors_keep_the_first_message() {
        let mut errors = FieldErrors::default();
        errors.add("f", "one");
        errors.add("f", "two");
        assert_eq!(errors.get("f"), Some("one"));
        assert!(errors.into_result().is_err());
    }
}
