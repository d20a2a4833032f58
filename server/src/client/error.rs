//! What a `kiln api` / `kiln ct` command ends with when it does not succeed: a message for a
//! person (the API's own `error.message`, never the token) and the exit code scripts test.
//!
//! The codes are part of the command line's interface (README, `--help`): keep them stable.

use std::collections::BTreeMap;
use std::fmt;

/// The exit code of a command, by what went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// The operation ran and failed: a job failed, an action the container's state refused.
    Failed = 1,
    /// The command line was wrong (clap uses 2 as well).
    Usage = 2,
    /// Not signed in, or the token was refused (401/403).
    Auth = 3,
    /// No such container, job or route (404).
    NotFound = 4,
    /// A conflict or failed precondition (409/412): busy, already exists, changed meanwhile.
    Conflict = 5,
    /// The input was refused (400/422); each field's message is printed.
    Invalid = 6,
    /// Kiln could not be reached or is unavailable (connection error, 503, 429 after retries).
    Unavailable = 7,
}

impl Exit {
    /// The exit code for an HTTP error status.
    pub fn of_status(status: u16) -> Exit {
        match status {
            401 | 403 => Exit::Auth,
            404 | 410 => Exit::NotFound,
            409 | 412 => Exit::Conflict,
            400 | 422 => Exit::Invalid,
            429 | 502..=504 => Exit::Unavailable,
            _ => Exit::Failed,
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit as u8)
    }
}

/// A command's failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    /// The exit code.
    pub exit: Exit,
    /// One sentence for a person.
    pub message: String,
    /// For invalid input: the message per field, printed one a line.
    pub fields: BTreeMap<String, String>,
}

impl CliError {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        CliError {
            exit,
            message: message.into(),
            fields: BTreeMap::new(),
        }
    }

    /// The operation ran and did not succeed (exit 1).
    pub fn failed(message: impl Into<String>) -> Self {
        CliError::new(Exit::Failed, message)
    }

    /// The command line cannot work as given (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::new(Exit::Usage, message)
    }

    /// Kiln could not be reached (exit 7).
    pub fn unreachable(message: impl Into<String>) -> Self {
        CliError::new(Exit::Unavailable, message)
    }

    /// Nobody is signed in here (exit 3).
    pub fn not_signed_in() -> Self {
        CliError::new(
            Exit::Auth,
            "not signed in: run `kiln api login URL` (or set KILN_URL and KILN_TOKEN)",
        )
    }

    /// An error answer of the API: its status and body (`{"error": {"message", "fields"}}`);
    /// a body of another shape (a proxy's page) is summarised by the status alone.
    pub fn from_answer(status: u16, body: &[u8]) -> Self {
        let parsed: Option<crate::api::error::ErrorBody> = serde_json::from_slice(body).ok();
        let exit = Exit::of_status(status);
        match parsed {
            Some(body) => CliError {
                exit,
                message: not_found_said(&body.error.kind, body.error.message),
                fields: body.error.fields,
            },
            None => CliError::new(exit, format!("Kiln answered HTTP {status}")),
        }
    }
}

/// A 404's message as a sentence: the services often name only the object ("container
/// 7"), which alone does not say what happened.
fn not_found_said(kind: &str, message: String) -> String {
    let lower = message.to_lowercase();
    if kind == "not_found" && !lower.starts_with("no ") && !lower.contains("not found") {
        format!("not found: {message}")
    } else {
        message
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        for (field, message) in &self.fields {
            write!(f, "\n  {field}: {message}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_the_documented_codes() {
        for (status, exit) in [
            (401, Exit::Auth),
            (403, Exit::Auth),
            (404, Exit::NotFound),
            (409, Exit::Conflict),
            (412, Exit::Conflict),
            (422, Exit::Invalid),
            (400, Exit::Invalid),
            (429, Exit::Unavailable),
            (503, Exit::Unavailable),
            (500, Exit::Failed),
        ] {
            assert_eq!(Exit::of_status(status), exit, "{status}");
        }
        assert_eq!(
            [Exit::Failed, Exit::Usage, Exit::Auth, Exit::NotFound].map(|e| e as u8),
            [1, 2, 3, 4]
        );
        assert_eq!(
            [Exit::Conflict, Exit::Invalid, Exit::Unavailable].map(|e| e as u8),
            [5, 6, 7]
        );
    }

    #[test]
    fn an_api_error_keeps_its_message_and_fields() {
        let body = br#"{"error":{"kind":"invalid","message":"Check the form.","fields":{"hostname":"Too long."}}}"#;
        let e = CliError::from_answer(422, body);
        assert_eq!(e.exit, Exit::Invalid);
        assert_eq!(e.to_string(), "Check the form.\n  hostname: Too long.");
        let gone = CliError::from_answer(
            404,
            br#"{"error":{"kind":"not_found","message":"container 7"}}"#,
        );
        assert_eq!(
            (gone.exit, gone.message.as_str()),
            (Exit::NotFound, "not found: container 7")
        );
        let route = CliError::from_answer(
            404,
            br#"{"error":{"kind":"not_found","message":"no such API route"}}"#,
        );
        assert_eq!(route.message, "no such API route");
        let proxy = CliError::from_answer(502, b"<html>Bad gateway</html>");
        assert_eq!(proxy.exit, Exit::Unavailable);
        assert_eq!(proxy.message, "Kiln answered HTTP 502");
    }
}
