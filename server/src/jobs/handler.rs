//! What a kind of job implements ([`JobHandler`]), where kinds are registered ([`Handlers`]),
//! and how a run ends: the handler's [`JobError`], the engine's [`Outcome`].
//!
//! Which error where: a handler returns [`JobError`]. `?` works on `diesel` and pool errors
//! (judged by `errors::ServiceError`: an unavailable database interrupts the run, anything
//! else is an internal error), on [`LostLease`], and on `anyhow::Error` (a failure whose
//! message, contexts included, is shown to the job's owner — keep secrets out of it).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::run::JobRun;
pub use crate::db::jobs::GivenUp;
use crate::errors::ServiceError;

/// One kind of job. Registered under its kind name in [`Handlers`]; the job's row names the
/// kind, and only a process with a handler for it claims it.
///
/// A run may be a first run, a resumption (`job.resumed()`: the last run was interrupted —
/// a crash, `kill -9`, a shutdown — in `job.phase()`), or a retry of a failed job
/// (`job.phase()` is the phase it failed in). Every phase must be safe to run again: check
/// what is already done before doing it. A handler's writes about its job go through the
/// lease (`job.set_phase`, `job.lease().fence(conn)` inside its own transactions), so a run
/// that lost its job to another worker writes nothing.
#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    /// Runs the job to its end: `Ok` is success; see [`JobError`] for the other ends. A panic
    /// fails the job ("internal error") and leaves the worker running.
    async fn run(&self, job: &mut JobRun) -> Result<(), JobError>;

    /// Called once the engine gave the job up (interrupted `max_attempts` times, now
    /// `failed` with `message`): the handler records that on its own rows, so nothing it
    /// owns is left in a running state. Nobody runs the job any more. Errors are logged.
    async fn given_up(&self, _job: &GivenUp, _message: &str) -> anyhow::Result<()> {
        Ok(())
    }
}

/// The job kinds a process runs: kind name → handler.
#[derive(Clone, Default)]
pub struct Handlers {
    /// Handlers by kind; a `BTreeMap` so the kind list is stable (logs, the claim's bind).
    map: BTreeMap<String, Arc<dyn JobHandler>>,
}

impl std::fmt::Debug for Handlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.map.keys()).finish()
    }
}

impl Handlers {
    /// No handlers yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `handler` for jobs of `kind` (1 to 64 characters, as `jobs.kind` allows); a
    /// second handler for the same kind replaces the first.
    #[must_use]
    pub fn register(mut self, kind: &str, handler: impl JobHandler) -> Self {
        self.map.insert(kind.to_owned(), Arc::new(handler));
        self
    }

    /// The handler of `kind`.
    pub fn get(&self, kind: &str) -> Option<Arc<dyn JobHandler>> {
        self.map.get(kind).cloned()
    }

    /// The registered kinds, sorted.
    pub fn kinds(&self) -> Vec<String> {
        self.map.keys().cloned().collect()
    }

    /// Whether no kind is registered (then no worker starts).
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// This worker no longer holds the job's lease: its lease expired and another worker claimed
/// the job, or the job was ended elsewhere. The run must stop at once and write nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("job {job}: the lease is lost (another worker holds the job)")]
pub struct LostLease {
    /// The job whose lease was lost.
    pub job: i64,
}

/// How a handler's run ends when it does not succeed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The job failed: it ends `failed` with `message` (shown to its owner) in `phase`
    /// (`None`: the phase it is in). A retry resumes it from that phase.
    #[error("{message}")]
    Failed {
        phase: Option<String>,
        message: String,
    },
    /// The handler stopped at a safe point because cancelling was requested: the job ends
    /// `cancelled`.
    #[error("cancelled")]
    Cancelled,
    /// Another worker holds the job now: nothing more is written.
    #[error(transparent)]
    LostLease(#[from] LostLease),
    /// The run cannot go on now, for a reason a later run may not meet: the database is
    /// unavailable, or this process is shutting down. Nothing is written; the job stays
    /// `running` and is resumed once its lease expires (at once after a shutdown). The
    /// detail is logged.
    #[error("interrupted: {0}")]
    Interrupted(String),
    /// A bug or an unexpected failure: the job ends `failed` with "internal error"; the
    /// detail is logged, not shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl JobError {
    /// A failure in the phase the job is in.
    pub fn failed(message: impl Into<String>) -> Self {
        JobError::Failed {
            phase: None,
            message: message.into(),
        }
    }

    /// A failure in `phase`.
    pub fn failed_in(phase: impl Into<String>, message: impl Into<String>) -> Self {
        JobError::Failed {
            phase: Some(phase.into()),
            message: message.into(),
        }
    }

    /// A database or pool failure: an interruption when the database is unavailable (the job
    /// is resumed later), else an internal error.
    fn from_service(err: &impl ServiceError) -> Self {
        if err.is_unavailable() {
            JobError::Interrupted(format!("database unavailable: {err}"))
        } else {
            JobError::Internal(format!("database: {err}"))
        }
    }
}

impl From<diesel::result::Error> for JobError {
    fn from(err: diesel::result::Error) -> Self {
        JobError::from_service(&err)
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for JobError {
    fn from(err: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        JobError::from_service(&err)
    }
}

/// A [`LostLease`] anywhere in the chain stays one; an unavailable database (or an elapsed
/// timeout, see `errors::ServiceError`) interrupts the run; anything else fails the job with
/// the whole chain as its message.
impl From<anyhow::Error> for JobError {
    fn from(err: anyhow::Error) -> Self {
        if let Some(lost) = err.chain().find_map(|e| e.downcast_ref::<LostLease>()) {
            JobError::LostLease(*lost)
        } else if err.is_unavailable() {
            JobError::Interrupted(format!("{err:#}"))
        } else {
            JobError::failed(format!("{err:#}"))
        }
    }
}

/// How a run ended, as the engine recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The job is `succeeded`.
    Succeeded,
    /// The job is `failed` in `phase` with `message` ("internal error" for bugs and panics).
    Failed {
        phase: Option<String>,
        message: String,
    },
    /// The job is `cancelled`.
    Cancelled,
    /// Another worker holds the job: this run wrote nothing more.
    LostLease,
    /// The run stopped without an end (shutdown, database unavailable, lease not renewed):
    /// the job is still `running` under an expired or expiring lease and will be resumed.
    Interrupted,
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorKind, Error as DieselError};

    #[test]
    fn errors_convert_by_their_type() {
        let closed = DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection,
            Box::new("gone".to_owned()),
        );
        assert!(matches!(JobError::from(closed), JobError::Interrupted(_)));
        assert!(matches!(
            JobError::from(DieselError::NotFound),
            JobError::Internal(_)
        ));
        let lost = anyhow::Error::from(LostLease { job: 7 }).context("saving the UPID");
        assert!(matches!(
            JobError::from(lost),
            JobError::LostLease(LostLease { job: 7 })
        ));
        let failed = JobError::from(anyhow::anyhow!("exit 1").context("running setup.sh"));
        assert!(
            matches!(&failed, JobError::Failed { phase: None, message } if message == "running setup.sh: exit 1"),
            "{failed:?}"
        );
    }
}
