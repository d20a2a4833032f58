//! Durable background jobs: rows in PostgreSQL (`jobs`), run by a bounded pool of tokio
//! workers inside `kiln serve` — a small queue on diesel-async, like crates.io's own worker
//! (the ready-made queues all bring sqlx and a second pool).
//!
//! - **Enqueue** with [`Jobs::enqueue`] on the caller's connection, inside its transaction
//!   when it has one, so a domain row and its job commit together. The payload holds ids and
//!   options, never a secret.
//! - **Claim**: an idle worker runs one short statement (`db::jobs::claim`): the oldest job
//!   that is queued and due, or `running` under an expired lease, of a kind this process has
//!   a handler for, whose node has fewer than `per_node` running jobs, `FOR UPDATE SKIP
//!   LOCKED`, becomes `running` under a new lease (a random owner token, `lease_until`). No
//!   transaction stays open while the job runs.
//! - **Lease**: a heartbeat renews it every third of its length; every write about the job
//!   (`set_phase`, the end, the handler's own writes through [`Lease::fence`]) names the
//!   owner and fails with [`LostLease`] when another worker took the job over — the run then
//!   stops at once. The heartbeat also stops the run when the lease is taken over or cannot
//!   be renewed.
//! - **Resumption**: after a crash or `kill -9` the lease expires and the next worker (of
//!   this process or the next) claims the job again with [`JobRun::resumed`] set and the
//!   phase it was in; the handler resumes that phase (phases are safe to repeat) or fails the
//!   job. A job interrupted `max_attempts` times is failed ("gave up after N interrupted
//!   runs").
//! - **Wake-ups**: workers sleep on a [`tokio::sync::Notify`] that `enqueue` pokes in this
//!   process, and poll every `poll_interval` for jobs enqueued elsewhere or due later.
//! - **Shutdown** ([`Workers::shutdown`]): stop claiming; running jobs stop at their next
//!   lease write (and are released for the next start) or are dropped at the deadline.
//!
//! A kind of job is a [`JobHandler`], one file per kind in this folder, registered in
//! [`handlers`].

mod handler;
mod run;
mod worker;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::QueryResult;
use diesel_async::AsyncPgConnection;
use tokio::sync::Notify;

pub use crate::db::jobs::{JobRow, JobState};
pub use handler::{GivenUp, Handlers, JobError, JobHandler, LostLease, Outcome};
pub use run::{JobRun, Lease, MAX_PHASE_LEN};
pub use worker::{Options, Stopper, Workers, claim, run_next};

use crate::app_state::AppState;
use crate::db::jobs as queries;

/// A job's id (`jobs.id`).
pub type JobId = i64;

/// The job kinds `kiln serve` runs, with their handlers.
pub fn handlers(state: &AppState) -> Handlers {
    Handlers::new()
        .register(
            crate::containers::CREATE_JOB,
            crate::containers::create::CreateContainer::new(state.clone()),
        )
        .register(
            crate::containers::DELETE_JOB,
            crate::containers::delete::DeleteContainer::new(state.clone()),
        )
}

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// The kind (the name its handler is registered under).
    pub kind: String,
    /// The handler's input: ids and options, never a secret.
    pub payload: serde_json::Value,
    /// The node it works on (the per-node limit of running jobs applies).
    pub node_id: Option<i64>,
    /// Not run before this time; `None`: now.
    pub run_after: Option<DateTime<Utc>>,
}

impl NewJob {
    /// A job of `kind` with `payload`, on no node, to run now.
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> Self {
        NewJob {
            kind: kind.into(),
            payload,
            node_id: None,
            run_after: None,
        }
    }

    /// The job works on `node` (at most `per_node` of a node's jobs run at once).
    #[must_use]
    pub fn on_node(mut self, node: i64) -> Self {
        self.node_id = Some(node);
        self
    }

    /// The job is not claimed before `when`.
    #[must_use]
    pub fn not_before(mut self, when: DateTime<Utc>) -> Self {
        self.run_after = Some(when);
        self
    }
}

/// What [`Jobs::request_cancel`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancel {
    /// The job was queued: it is `cancelled` now and will not run.
    Cancelled,
    /// The job is running: its handler stops at its next safe point (when it checks
    /// [`JobRun::cancel_requested`]).
    Requested,
    /// The job had already ended in this state.
    Finished(JobState),
    /// No such job.
    NotFound,
}

/// The queue's handle for services: enqueue, cancel, retry, read. Lives in `AppState`; cheap
/// to clone. Errors are `diesel`'s; services map them with `errors::db`.
#[derive(Clone, Default)]
pub struct Jobs {
    /// Wakes an idle worker of this process (`Workers` share it).
    wake: Arc<Notify>,
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jobs").finish_non_exhaustive()
    }
}

impl Jobs {
    /// A handle with its own wake-up (one per `AppState`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts the job on `conn` — inside the caller's transaction if it is in one, so the
    /// job exists exactly when the caller's rows do — and wakes a worker of this process.
    ///
    /// Inside a transaction the wake-up comes before the commit, when the worker cannot see
    /// the job yet: call [`Jobs::wake`] after the commit (otherwise the job waits for the next
    /// poll, `poll_interval`).
    pub async fn enqueue(&self, conn: &mut AsyncPgConnection, job: &NewJob) -> QueryResult<JobId> {
        let id = queries::insert(
            conn,
            &queries::NewJobRow {
                kind: &job.kind,
                payload: &job.payload,
                node_id: job.node_id,
                run_after: job.run_after,
            },
        )
        .await?;
        self.wake();
        Ok(id)
    }

    /// Wakes an idle worker of this process to look for jobs.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Cancels a queued job at once, or asks a running one to stop at its next safe point.
    pub async fn request_cancel(
        &self,
        conn: &mut AsyncPgConnection,
        id: JobId,
    ) -> QueryResult<Cancel> {
        Ok(match queries::request_cancel(conn, id).await? {
            Some(JobState::Cancelled) => Cancel::Cancelled,
            Some(_) => Cancel::Requested,
            None => match queries::get(conn, id).await? {
                Some(row) => Cancel::Finished(row.state),
                None => Cancel::NotFound,
            },
        })
    }

    /// Queues a failed job again, keeping the phase it failed in (its handler resumes from
    /// there) with a fresh budget of attempts; false when the job is not `failed`.
    pub async fn retry(&self, conn: &mut AsyncPgConnection, id: JobId) -> QueryResult<bool> {
        let queued = queries::retry(conn, id).await?;
        if queued {
            self.wake();
        }
        Ok(queued)
    }

    /// The job's row.
    pub async fn get(
        &self,
        conn: &mut AsyncPgConnection,
        id: JobId,
    ) -> QueryResult<Option<JobRow>> {
        queries::get(conn, id).await
    }

    /// The wake-up the workers wait on.
    pub(crate) fn notify(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// The oldest queued or running job of `kind` whose payload contains `payload` (e.g.
    /// `{"container_id": 7}`): such work is already under way.
    pub async fn active(
        &self,
        conn: &mut AsyncPgConnection,
        kind: &str,
        payload: &serde_json::Value,
    ) -> QueryResult<Option<JobId>> {
        queries::active_with(conn, kind, payload).await
    }
}
