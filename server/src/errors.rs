//! Mapping server-side failures onto the one boundary error, `kiln_shared::AppError`.
//!
//! Which error where: `db` functions return `diesel::QueryResult`; Redis, child processes and
//! other plumbing return `anyhow::Result`; services turn both into an `AppError` here, at the
//! point where the failure is handled, and log it exactly once. Only `AppError::Internal`
//! hides its detail from the caller.
//!
//! Whether a failure is the service being unavailable (503: try again) or a bug (500) is
//! decided by the error's type ([`ServiceError`]), never by its message — with one exception:
//! diesel-async keeps no SQLSTATE for the codes diesel has no kind for, so a statement
//! cancelled by `statement_timeout` (57014) is recognised by PostgreSQL's message.

use deadpool_redis::redis::{ErrorKind as RedisErrorKind, RedisError, ServerErrorKind};
use diesel::result::{ConnectionError, DatabaseErrorKind, Error as DieselError};
use kiln_shared::AppError;

/// A failure that may mean PostgreSQL or Redis is unavailable.
pub trait ServiceError: std::fmt::Display {
    /// True when the service did not answer (in time), refused or dropped the connection, or
    /// asked to be tried again (a serialization failure, a read-only standby, a cancelled
    /// statement); false for failures a retry cannot fix.
    fn is_unavailable(&self) -> bool;
}

/// PostgreSQL's message for SQLSTATE 57014 (`query_canceled`): `statement_timeout`, or a
/// cancel request (an administrator's `pg_cancel_backend`).
const CANCELED: &str = "canceling statement due to";

impl ServiceError for DieselError {
    fn is_unavailable(&self) -> bool {
        match self {
            DieselError::DatabaseError(kind, info) => match kind {
                DatabaseErrorKind::UnableToSendCommand
                | DatabaseErrorKind::ClosedConnection
                | DatabaseErrorKind::SerializationFailure
                | DatabaseErrorKind::ReadOnlyTransaction => true,
                DatabaseErrorKind::UniqueViolation
                | DatabaseErrorKind::ForeignKeyViolation
                | DatabaseErrorKind::NotNullViolation
                | DatabaseErrorKind::CheckViolation
                | DatabaseErrorKind::RestrictViolation
                | DatabaseErrorKind::ExclusionViolation => false,
                _ => info.message().starts_with(CANCELED),
            },
            // The connection broke inside a transaction.
            DieselError::BrokenTransactionManager => true,
            _ => false,
        }
    }
}

impl ServiceError for ConnectionError {
    fn is_unavailable(&self) -> bool {
        match self {
            // Refused, unreachable, or no usable session (authentication, too many clients,
            // the session settings timed out).
            ConnectionError::BadConnection(_) | ConnectionError::CouldntSetupConfiguration(_) => {
                true
            }
            // A malformed URL is a configuration mistake, not an outage.
            _ => false,
        }
    }
}

impl ServiceError for diesel_async::pooled_connection::PoolError {
    fn is_unavailable(&self) -> bool {
        match self {
            Self::ConnectionError(e) => e.is_unavailable(),
            Self::QueryError(e) => e.is_unavailable(),
        }
    }
}

impl ServiceError for RedisError {
    fn is_unavailable(&self) -> bool {
        match self.kind() {
            // Refused, dropped, timed out (connect and response timeouts are I/O errors).
            RedisErrorKind::Io => true,
            RedisErrorKind::Server(kind) => matches!(
                kind,
                ServerErrorKind::BusyLoading
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::ClusterDown
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::ReadOnly
            ),
            _ => false,
        }
    }
}

/// deadpool's errors (PostgreSQL's and Redis' pools): a wait, create or recycle timeout, or a
/// closed pool (shutting down) is unavailability; a backend error is judged by its type.
impl<E: ServiceError> ServiceError for deadpool::managed::PoolError<E> {
    fn is_unavailable(&self) -> bool {
        match self {
            Self::Timeout(_) | Self::Closed => true,
            Self::Backend(e) => e.is_unavailable(),
            Self::NoRuntimeSpecified | Self::PostCreateHook(_) => false,
        }
    }
}

/// Plumbing errors: unavailable when anything in the chain is (a pool error, a diesel or
/// Redis error, an elapsed `tokio` timeout).
impl ServiceError for anyhow::Error {
    fn is_unavailable(&self) -> bool {
        self.chain().any(|cause| {
            let cause: &(dyn std::error::Error + 'static) = cause;
            if let Some(e) = cause.downcast_ref::<DieselError>() {
                e.is_unavailable()
            } else if let Some(e) = cause.downcast_ref::<ConnectionError>() {
                e.is_unavailable()
            } else if let Some(e) =
                cause.downcast_ref::<diesel_async::pooled_connection::deadpool::PoolError>()
            {
                e.is_unavailable()
            } else if let Some(e) = cause.downcast_ref::<deadpool_redis::PoolError>() {
                e.is_unavailable()
            } else if let Some(e) = cause.downcast_ref::<RedisError>() {
                e.is_unavailable()
            } else {
                cause.is::<tokio::time::error::Elapsed>()
            }
        })
    }
}

/// A message only (its type is gone): never taken for unavailability.
impl ServiceError for String {
    fn is_unavailable(&self) -> bool {
        false
    }
}

impl ServiceError for &str {
    fn is_unavailable(&self) -> bool {
        false
    }
}

/// Logs an unexpected failure and answers with a generic 500.
pub fn internal(what: &str, err: impl std::fmt::Display) -> AppError {
    tracing::error!(error = %err, "{what} failed");
    AppError::Internal
}

/// A database failure (a query's `diesel::result::Error`, a pool error, or an `anyhow` chain
/// holding one): 503 when PostgreSQL is unavailable, else 500.
pub fn db(what: &str, err: impl ServiceError) -> AppError {
    if err.is_unavailable() {
        tracing::error!(error = %format!("{err:#}"), "{what}: database unavailable");
        AppError::Unavailable("The database is unreachable; try again shortly.".into())
    } else {
        internal(what, format!("{err:#}"))
    }
}

/// A Redis failure (sessions, rate limits): 503 when Redis is unavailable, else 500.
pub fn redis(what: &str, err: impl ServiceError) -> AppError {
    if err.is_unavailable() {
        tracing::error!(error = %format!("{err:#}"), "{what}: redis unavailable");
        AppError::Unavailable("The session store is unreachable; try again shortly.".into())
    } else {
        internal(what, format!("{err:#}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deadpool::managed::TimeoutType;

    fn pool_timeout() -> diesel_async::pooled_connection::deadpool::PoolError {
        deadpool::managed::PoolError::Timeout(TimeoutType::Create)
    }

    fn db_error(kind: DatabaseErrorKind, message: &str) -> DieselError {
        DieselError::DatabaseError(kind, Box::new(message.to_owned()))
    }

    #[test]
    fn outages_are_503_and_bugs_500() {
        let cases: Vec<(AppError, u16)> = vec![
            (db("a", pool_timeout()), 503),
            (
                db(
                    "a",
                    diesel_async::pooled_connection::deadpool::PoolError::Closed,
                ),
                503,
            ),
            (
                db("a", db_error(DatabaseErrorKind::ClosedConnection, "gone")),
                503,
            ),
            (
                db(
                    "a",
                    db_error(DatabaseErrorKind::UnableToSendCommand, "broken pipe"),
                ),
                503,
            ),
            (
                db(
                    "a",
                    db_error(
                        DatabaseErrorKind::Unknown,
                        "canceling statement due to statement timeout",
                    ),
                ),
                503,
            ),
            (
                db("a", db_error(DatabaseErrorKind::UniqueViolation, "dup")),
                500,
            ),
            (
                db(
                    "a",
                    db_error(DatabaseErrorKind::Unknown, "connection timed out"),
                ),
                500,
            ),
            (db("a", DieselError::NotFound), 500),
            (db("a", "could not connect: timed out".to_owned()), 500),
            (
                db(
                    "a",
                    anyhow::Error::from(pool_timeout()).context("loading the key"),
                ),
                503,
            ),
            (db("a", anyhow::anyhow!("Timeout while connecting")), 500),
            (
                redis(
                    "a",
                    RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut)),
                ),
                503,
            ),
            (
                redis(
                    "a",
                    anyhow::Error::from(RedisError::from((
                        RedisErrorKind::Client,
                        "wrong number of arguments",
                    ))),
                ),
                500,
            ),
            (
                redis(
                    "a",
                    deadpool_redis::PoolError::Timeout(TimeoutType::Recycle),
                ),
                503,
            ),
        ];
        for (i, (err, status)) in cases.into_iter().enumerate() {
            assert_eq!(err.status(), status, "case {i}: {err:?}");
        }
    }
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
