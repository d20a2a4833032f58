//! API tokens: what a user creates in Settings (or `kiln api login` creates for them) to call
//! the REST API (`/api/v1`) with `Authorization: Bearer <token>`, and the rules of the form.
//!
//! A token is `kiln_` followed by 43 random characters; the server keeps only its SHA-256 and
//! its first characters ([`TOKEN_PREFIX_CHARS`]), shown in lists so a user can tell tokens apart.

use serde::{Deserialize, Serialize};

use crate::FieldErrors;

/// What every token starts with (secret scanners and people recognise it).
pub const TOKEN_MARK: &str = "kiln_";
/// How many leading characters of a token are kept and shown (the mark and 7 more).
pub const TOKEN_PREFIX_CHARS: usize = 12;
/// Longest token name, in characters.
pub const NAME_MAX: usize = 64;
/// Longest lifetime a token may be given, in days (10 years).
pub const EXPIRY_MAX_DAYS: u32 = 3650;

/// A new token, as the form or `POST /api/v1/tokens` sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenInput {
    /// A name that says where the token is used (`ci`, `laptop`, `terraform`): 1–64
    /// printable characters, unique among the user's tokens.
    pub name: String,
    /// Whether the token may only read (GET): writes and credential reveals are refused.
    #[serde(default)]
    pub read_only: bool,
    /// Days until the token stops working (1–3650); none: it never expires.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

impl TokenInput {
    /// The Settings form's fields: `read_only` a checkbox (`on`/`true` when ticked),
    /// `expires_in_days` a number or empty for never; a number that does not parse is a
    /// mistake under its field. The rules of [`validate_token_input`] apply on top.
    pub fn from_form(
        name: &str,
        read_only: Option<&str>,
        expires_in_days: &str,
    ) -> Result<TokenInput, FieldErrors> {
        let days = expires_in_days.trim();
        let expires_in_days = if days.is_empty() {
            None
        } else {
            match days.parse::<u32>() {
                Ok(d) => Some(d),
                Err(_) => {
                    let mut errors = FieldErrors::default();
                    errors.add(
                        "expires_in_days",
                        "A whole number of days, or empty for never.",
                    );
                    return Err(errors);
                }
            }
        };
        validate_token_input(&TokenInput {
            name: name.to_owned(),
            read_only: read_only.is_some_and(|v| v == "on" || v == "true"),
            expires_in_days,
        })
    }
}

/// A token's name: 1–64 characters, no control characters, not only spaces.
pub fn token_name(value: &str) -> Result<(), String> {
    let len = value.chars().count();
    if value.trim().is_empty() {
        return Err("Give the token a name, e.g. where it is used.".into());
    }
    if len > NAME_MAX {
        return Err(format!("At most {NAME_MAX} characters."));
    }
    if value.chars().any(char::is_control) {
        return Err("No control characters, please.".into());
    }
    Ok(())
}

/// A token's lifetime in days, when it has one.
pub fn expiry_days(value: Option<u32>) -> Result<(), String> {
    match value {
        Some(days) if days == 0 || days > EXPIRY_MAX_DAYS => Err(format!(
            "Between 1 and {EXPIRY_MAX_DAYS} days, or no expiry."
        )),
        _ => Ok(()),
    }
}

/// The form's rules, each mistake under its field (`name`, `expires_in_days`); the name is
/// trimmed.
pub fn validate_token_input(input: &TokenInput) -> Result<TokenInput, FieldErrors> {
    let name = input.name.trim().to_owned();
    let mut errors = FieldErrors::default();
    errors.check("name", token_name(&name));
    errors.check("expires_in_days", expiry_days(input.expires_in_days));
    errors.into_result()?;
    Ok(TokenInput {
        name,
        ..input.clone()
    })
}

/// A token as its owner sees it in the list (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    /// The token's first characters (`kiln_AbCdEfG`), to tell tokens apart.
    pub prefix: String,
    pub read_only: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; none: never expires.
    pub expires_at: Option<String>,
    /// RFC 3339 (to the minute); none: never used.
    pub last_used_at: Option<String>,
    /// Whether the expiry has passed (the token is refused).
    pub expired: bool,
}

/// A token just created: the only time its secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenCreated {
    pub token: ApiToken,
    /// The bearer token. Shown once; Kiln keeps only its SHA-256.
    pub secret: String,
}

/// `POST /api/v1/auth/token`: a token for a username and password (what `kiln api login`
/// sends), rate-limited and audited like a sign-in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PasswordLogin {
    pub username: String,
    pub password: String,
    #[serde(flatten)]
    pub token: TokenInput,
}

/// Whether `value` looks like a Kiln token (cheap rejection before a database lookup).
pub fn well_formed(value: &str) -> bool {
    value.strip_prefix(TOKEN_MARK).is_some_and(|rest| {
        rest.len() == 43
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_expiry() {
        assert!(token_name("ci").is_ok());
        assert!(token_name("   ").is_err());
        assert!(token_name(&"x".repeat(65)).is_err());
        assert!(token_name("a\nb").is_err());
        assert!(expiry_days(None).is_ok());
        assert!(expiry_days(Some(30)).is_ok());
        assert!(expiry_days(Some(0)).is_err());
        assert!(expiry_days(Some(3651)).is_err());
    }

    #[test]
    fn input_is_trimmed_and_each_mistake_named() {
        let ok = validate_token_input(&TokenInput {
            name: "  laptop ".into(),
            read_only: true,
            expires_in_days: Some(90),
        });
        assert_eq!(ok.map(|t| t.name), Ok("laptop".to_owned()));
        let bad = validate_token_input(&TokenInput {
            name: String::new(),
            read_only: false,
            expires_in_days: Some(0),
        })
        .err()
        .unwrap_or_default();
        assert!(bad.get("name").is_some());
        assert!(bad.get("expires_in_days").is_some());
    }

    #[test]
    fn the_form_parses_field_by_field() {
        let t = TokenInput::from_form(" ci ", Some("on"), "");
        assert_eq!(
            t,
            Ok(TokenInput {
                name: "ci".into(),
                read_only: true,
                expires_in_days: None
            })
        );
        let bad = TokenInput::from_form("ci", None, "soon")
            .err()
            .unwrap_or_default();
        assert!(bad.get("expires_in_days").is_some());
        assert_eq!(
            TokenInput::from_form("ci", None, "30").map(|t| t.expires_in_days),
            Ok(Some(30))
        );
    }

    #[test]
    fn well_formed_tokens() {
        let token = format!("kiln_{}", "a".repeat(43));
        assert!(well_formed(&token));
        assert!(!well_formed(&"a".repeat(48)));
        assert!(!well_formed("kiln_short"));
        assert!(!well_formed(&format!("kiln_{}!", "a".repeat(42))));
    }
}
