//! `AppError`: the one error type at the server-function and REST boundary.
//!
//! Which error to use where (see also `server::errors`):
//! - inside `server` modules, each layer has its own error (`diesel::result::Error`,
//!   `anyhow` in jobs, ...); the boundary maps them into an `AppError`;
//! - server functions and REST handlers return `Result<T, AppError>`; the variant picks the HTTP
//!   status, and only `Internal` hides its detail (the detail is logged on the server, once).

use std::fmt;

use serde::{Deserialize, Serialize};
use server_fn::error::{FromServerFnError, ServerFnErrorErr};

use crate::validate::FieldErrors;

/// An error a user (or an API client) is shown. Every variant maps to one HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum AppError {
    /// No valid session (401).
    Unauthorized,
    /// A sign-in with a wrong username or password (401); the two are never told apart.
    LoginFailed,
    /// Signed in, but not allowed (403); the text says what is missing.
    Forbidden(String),
    /// The object does not exist or is not visible to this user (404).
    NotFound(String),
    /// The request conflicts with the current state (409), e.g. a duplicate name.
    Conflict(String),
    /// Input failed validation (422): one message per field, plus `_form` for the whole form.
    Invalid(FieldErrors),
    /// Too many attempts (429).
    RateLimited {
        /// Seconds until a new attempt may succeed.
        retry_after_secs: u64,
    },
    /// A dependency (database, Redis, a node) is unreachable (503).
    Unavailable(String),
    /// Anything else (500). The detail stays in the server log.
    Internal,
    /// The request never reached the function, or its answer could not be read.
    Transport(String),
}

impl AppError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            AppError::Unauthorized | AppError::LoginFailed => 401,
            AppError::Forbidden(_) => 403,
            AppError::NotFound(_) => 404,
            AppError::Conflict(_) => 409,
            AppError::Invalid(_) => 422,
            AppError::RateLimited { .. } => 429,
            AppError::Unavailable(_) => 503,
            AppError::Internal | AppError::Transport(_) => 500,
        }
    }

    /// A single invalid field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::default();
        errors.add(field, message);
        AppError::Invalid(errors)
    }

    /// The message for one field, when this is a validation error.
    pub fn field(&self, name: &str) -> Option<&str> {
        match self {
            AppError::Invalid(errors) => errors.get(name),
            _ => None,
        }
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Unauthorized => f.write_str("Please sign in."),
            AppError::LoginFailed => f.write_str("Wrong username or password."),
            AppError::Forbidden(msg)
            | AppError::NotFound(msg)
            | AppError::Conflict(msg)
            | AppError::Unavailable(msg) => f.write_str(msg),
            AppError::Invalid(errors) => match errors.get(FieldErrors::FORM) {
                Some(msg) => f.write_str(msg),
                None => f.write_str("Please correct the highlighted fields."),
            },
            AppError::RateLimited { retry_after_secs } => write!(
                f,
                "Too many attempts. Try again in {retry_after_secs} seconds."
            ),
            AppError::Internal => {
                f.write_str("Something went wrong on the server; the details are in its log.")
            }
            AppError::Transport(msg) => write!(f, "Could not reach Kiln: {msg}"),
        }
    }
}

impl std::error::Error for AppError {}

impl FromServerFnError for AppError {
    type Encoder = crate::wire::JsonTextEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::Transport(value.to_string())
    }
}

impl From<FieldErrors> for AppError {
    fn from(errors: FieldErrors) -> Self {
        AppError::Invalid(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_distinct_per_class() {
        assert_eq!(AppError::Unauthorized.status(), 401);
        assert_eq!(AppError::invalid("username", "x").status(), 422);
        assert_eq!(
            AppError::RateLimited {
                retry_after_secs: 3
            }
            .status(),
            429
        );
        assert_eq!(AppError::Internal.status(), 500);
    }

    #[test]
    fn round_trips_through_json() -> Result<(), serde_json::Error> {
        let err = AppError::invalid("password", "too short");
        let json = serde_json::to_string(&err)?;
        assert_eq!(serde_json::from_str::<AppError>(&json)?, err);
        assert_eq!(err.field("password"), Some("too short"));
        Ok(())
    }
}
