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

/// The error of a transaction whose body can refuse (an `AppError`) as well as fail (a
/// database error): `?` works on both inside it, and [`TxError::into_app`] maps the result.
#[derive(Debug)]
pub enum TxError {
    /// A query failed; the transaction was rolled back.
    Db(diesel::result::Error),
    /// The body refused (not found, forbidden, invalid...); rolled back too.
    Refused(AppError),
}

impl From<diesel::result::Error> for TxError {
    fn from(e: diesel::result::Error) -> Self {
        TxError::Db(e)
    }
}

impl From<AppError> for TxError {
    fn from(e: AppError) -> Self {
        TxError::Refused(e)
    }
}

impl TxError {
    /// The boundary error: a refusal as it is, a database failure through [`db`].
    pub fn into_app(self, what: &str) -> AppError {
        match self {
            TxError::Db(e) => db(what, e),
            TxError::Refused(e) => e,
        }
    }
}
