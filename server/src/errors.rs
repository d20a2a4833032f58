//! Mapping server-side failures onto the one boundary error, `kiln_shared::AppError`.
//!
//! Which error where: `db` functions return `diesel::QueryResult`; Redis, child processes and
//! other plumbing return `anyhow::Result`; services turn both into an `AppError` here, at the
//! point where the failure is handled, and log it exactly once. Only `AppError::Internal`
//! hides its detail from the caller.

use kiln_shared::AppError;

/// Logs an unexpected failure and answers with a generic 500.
pub fn internal(what: &str, err: impl std::fmt::Display) -> AppError {
    tracing::error!(error = %err, "{what} failed");
    AppError::Internal
}

/// A database failure: an unreachable pool is 503, anything else 500.
pub fn db(what: &str, err: impl std::fmt::Display) -> AppError {
    let text = err.to_string();
    if text.contains("connect") || text.contains("timed out") || text.contains("Timeout") {
        tracing::error!(error = %text, "{what}: database unavailable");
        AppError::Unavailable("The database is unreachable; try again shortly.".into())
    } else {
        internal(what, text)
    }
}

/// A Redis failure (sessions, rate limits): 503.
pub fn redis(what: &str, err: impl std::fmt::Display) -> AppError {
    tracing::error!(error = %err, "{what}: redis unavailable");
    AppError::Unavailable("The session store is unreachable; try again shortly.".into())
}
