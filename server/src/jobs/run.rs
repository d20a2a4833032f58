//! One claimed run of a job: what its handler sees ([`JobRun`]) and the lease every write
//! about the job goes through ([`Lease`]).

use std::sync::Arc;
use std::time::Instant;

use diesel_async::AsyncPgConnection;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use super::handler::{JobError, LostLease};
use crate::db::jobs::{self as queries, Claimed, Finish};
use crate::db::{DbConn, DbPool};

/// Where the worker pool is in its life; a lease refuses its handler's writes once the pool
/// is stopping, so a running job stops at its next lease write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Claiming and running jobs.
    Running,
    /// Shutting down: no new claims; running jobs stop at their next lease write.
    Draining,
    /// The shutdown deadline passed: running jobs are dropped and their leases released.
    Abort,
}

/// The longest name `jobs.phase` holds.
pub const MAX_PHASE_LEN: usize = 64;

/// The claim on one job: its id and a random owner token that every write about the job
/// names (`WHERE id = $1 AND lease_owner = $2`). A write that matches no row is
/// [`LostLease`]. Cheap to clone (the heartbeat holds a clone).
#[derive(Clone)]
pub struct Lease {
    inner: Arc<LeaseInner>,
}

struct LeaseInner {
    /// The job.
    job: i64,
    /// This claim's token (`jobs.lease_owner`), fresh for every claim, so even the same
    /// worker's earlier run of the job is a stranger to it.
    owner: String,
    /// Where the writes go; a connection is borrowed per write, never held by a run.
    db: DbPool,
    /// How long the lease holds without renewal, in seconds (the heartbeat renews it).
    secs: f64,
    /// The pool's stage: past `Running`, the handler's own writes are refused.
    stage: watch::Receiver<Stage>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("job", &self.inner.job)
            .field("owner", &self.inner.owner)
            .finish()
    }
}

impl Lease {
    pub(crate) fn new(
        job: i64,
        owner: String,
        db: DbPool,
        secs: f64,
        stage: watch::Receiver<Stage>,
    ) -> Self {
        Lease {
            inner: Arc::new(LeaseInner {
                job,
                owner,
                db,
                secs,
                stage,
            }),
        }
    }

    /// The job this lease holds.
    pub fn job_id(&self) -> i64 {
        self.inner.job
    }

    /// This claim's owner token (as stored in `jobs.lease_owner`).
    pub fn owner(&self) -> &str {
        &self.inner.owner
    }

    /// Inside the caller's own transaction, before its writes about the job (events, the
    /// container row...): fails with [`LostLease`] when another worker holds the job now,
    /// else locks the job's row until the transaction ends, so the job cannot be taken over
    /// before those writes commit. Refused while the worker pool shuts down.
    pub async fn fence(&self, conn: &mut AsyncPgConnection) -> Result<(), JobError> {
        self.check_running()?;
        if queries::fence(conn, self.inner.job, &self.inner.owner).await? {
            Ok(())
        } else {
            Err(self.lost())
        }
    }

    /// Before a write that checks the lease in its own statement
    /// (`db::containers::LeaseHolder`): whose lease it checks; refused while the worker pool
    /// shuts down, like [`Lease::fence`].
    pub fn holder(&self) -> Result<crate::db::containers::LeaseHolder<'_>, JobError> {
        self.check_running()?;
        Ok(crate::db::containers::LeaseHolder {
            job: self.inner.job,
            owner: &self.inner.owner,
        })
    }

    /// What a write that found the lease gone returns.
    pub fn lost_lease(&self) -> JobError {
        self.lost()
    }

    /// Records the phase the job entered (through the lease).
    pub(crate) async fn set_phase(&self, phase: &str) -> Result<(), JobError> {
        self.check_running()?;
        let mut conn = self.conn().await?;
        if queries::set_phase(&mut conn, self.inner.job, &self.inner.owner, phase).await? {
            Ok(())
        } else {
            Err(self.lost())
        }
    }

    /// Whether cancelling the job was requested (read through the lease).
    pub(crate) async fn cancel_requested(&self) -> Result<bool, JobError> {
        self.check_running()?;
        let mut conn = self.conn().await?;
        queries::cancel_requested(&mut conn, self.inner.job, &self.inner.owner)
            .await?
            .ok_or_else(|| self.lost())
    }

    /// The heartbeat: extends the lease by its length from now. Allowed while shutting down
    /// (a running job keeps its lease until it stops).
    pub(crate) async fn renew(&self) -> Result<(), JobError> {
        let mut conn = self.conn().await?;
        if queries::renew(
            &mut conn,
            self.inner.job,
            &self.inner.owner,
            self.inner.secs,
        )
        .await?
        {
            Ok(())
        } else {
            Err(self.lost())
        }
    }

    /// Ends the run (the engine's last write; allowed while shutting down).
    pub(crate) async fn finish(&self, end: Finish<'_>) -> Result<(), JobError> {
        let mut conn = self.conn().await?;
        if queries::finish(&mut conn, self.inner.job, &self.inner.owner, end).await? {
            Ok(())
        } else {
            Err(self.lost())
        }
    }

    /// Lets the lease expire now, so the next claim resumes the job at once.
    pub(crate) async fn release(&self) -> Result<(), JobError> {
        let mut conn = self.conn().await?;
        if queries::release(&mut conn, self.inner.job, &self.inner.owner).await? {
            Ok(())
        } else {
            Err(self.lost())
        }
    }

    /// Whether the pool is shutting down.
    pub(crate) fn stopping(&self) -> bool {
        *self.inner.stage.borrow() != Stage::Running
    }

    fn check_running(&self) -> Result<(), JobError> {
        if self.stopping() {
            Err(JobError::Interrupted("kiln is shutting down".into()))
        } else {
            Ok(())
        }
    }

    fn lost(&self) -> JobError {
        JobError::LostLease(LostLease {
            job: self.inner.job,
        })
    }

    async fn conn(&self) -> Result<DbConn, JobError> {
        Ok(self.inner.db.get().await?)
    }
}

/// One run of a job, as its handler sees it: the job's input, whether the run resumes an
/// interrupted one, its phase, and the lease.
#[derive(Debug)]
pub struct JobRun {
    /// The claimed row (input, attempts, the phase at claim time, resumed).
    claimed: Claimed,
    /// The phase the job is in now (`set_phase` moves it).
    phase: Option<String>,
    /// The claim every write goes through.
    lease: Lease,
    /// When the claim was sent: the lease holds until at least this plus its length.
    claimed_at: Instant,
}

impl JobRun {
    pub(crate) fn new(claimed: Claimed, lease: Lease, claimed_at: Instant) -> Self {
        JobRun {
            phase: claimed.phase.clone(),
            claimed,
            lease,
            claimed_at,
        }
    }

    pub(crate) fn claimed_at(&self) -> Instant {
        self.claimed_at
    }

    /// The job's id.
    pub fn id(&self) -> i64 {
        self.claimed.id
    }

    /// The job's kind.
    pub fn kind(&self) -> &str {
        &self.claimed.kind
    }

    /// The job's input, as enqueued.
    pub fn payload(&self) -> &serde_json::Value {
        &self.claimed.payload
    }

    /// The input as `T`; a payload that does not fit fails the job.
    pub fn payload_as<T: DeserializeOwned>(&self) -> Result<T, JobError> {
        T::deserialize(&self.claimed.payload)
            .map_err(|e| JobError::Internal(format!("the job's payload does not fit: {e}")))
    }

    /// The node the job works on, if any.
    pub fn node_id(&self) -> Option<i64> {
        self.claimed.node_id
    }

    /// Runs claimed since the job was queued (or retried), this one included.
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.claimed.attempts).unwrap_or(0)
    }

    /// True when the last run was interrupted (its worker died, or the process shut down)
    /// in [`JobRun::start_phase`]: check what that phase already did, then resume it — or
    /// fail the job.
    pub fn resumed(&self) -> bool {
        self.claimed.resumed
    }

    /// The phase the job was in when this run claimed it: where an interrupted run stopped
    /// (`resumed`), or where a retried job failed; `None` for a fresh job.
    pub fn start_phase(&self) -> Option<&str> {
        self.claimed.phase.as_deref()
    }

    /// The phase the job is in now.
    pub fn phase(&self) -> Option<&str> {
        self.phase.as_deref()
    }

    /// Enters `phase` (1 to [`MAX_PHASE_LEN`] characters), persisted through the lease: a
    /// resumption or retry starts from it.
    pub async fn set_phase(&mut self, phase: &str) -> Result<(), JobError> {
        if phase.is_empty() || phase.chars().count() > MAX_PHASE_LEN {
            return Err(JobError::Internal(format!(
                "phase name {phase:?} is not 1 to {MAX_PHASE_LEN} characters"
            )));
        }
        self.lease.set_phase(phase).await?;
        self.phase = Some(phase.to_owned());
        Ok(())
    }

    /// Notes that the handler entered `phase` in a write of its own through the lease
    /// (`db::containers::enter_phase_fenced` with [`Lease::holder`]) that has committed.
    pub fn entered(&mut self, phase: &str) {
        self.phase = Some(phase.to_owned());
    }

    /// Whether cancelling the job was requested, read through the lease: call it at safe
    /// points and return [`JobError::Cancelled`] when it is true.
    pub async fn cancel_requested(&self) -> Result<bool, JobError> {
        self.lease.cancel_requested().await
    }

    /// The lease, for the handler's own lease-checked writes ([`Lease::fence`]).
    pub fn lease(&self) -> &Lease {
        &self.lease
    }
}
