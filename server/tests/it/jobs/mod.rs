//! The durable job queue (`kiln_server::jobs`) against real PostgreSQL: enqueue and run,
//! failures, many jobs on few workers under the per-node limit, the claim statement itself,
//! leases taken over after expiry, cancel, retry, panics, giving up, and shutdown.
//!
//! Times are short (a lease of one second, polls of 100 ms) and every wait polls the row
//! with a timeout, so no test sleeps longer than the lease it waits out.

mod claim;
mod control;
mod leases;
mod running;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use kiln_server::db::users::{NewUser, insert as insert_user};
use kiln_server::jobs::{
    Handlers, JobError, JobHandler, JobRow, JobRun, JobState, NewJob, Options, Workers,
};

use crate::harness::TestApp;

pub type R<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Short times for tests: a one-second lease (heartbeat every third), quick polls.
pub fn options(workers: usize) -> Options {
    Options {
        workers,
        per_node: 2,
        lease: Duration::from_secs(1),
        poll_interval: Duration::from_millis(100),
        max_attempts: 5,
        shutdown_deadline: Duration::from_secs(5),
    }
}

/// Inserts a user and `count` nodes of theirs; returns the node ids.
pub async fn nodes(app: &TestApp, count: usize) -> R<Vec<i64>> {
    let mut conn = app.state.db.get().await?;
    let owner = insert_user(
        &mut conn,
        &NewUser {
            username: "jobs-owner",
            password_hash: "x",
            is_admin: false,
        },
    )
    .await?
    .ok_or("user name taken")?;
    let mut ids = Vec::new();
    for i in 0..count {
        let name = format!("pve{i}");
        ids.push(app.insert_node(owner.id, &name).await?);
    }
    Ok(ids)
}

/// Enqueues one job.
pub async fn enqueue(app: &TestApp, job: NewJob) -> R<i64> {
    let mut conn = app.state.db.get().await?;
    Ok(app.state.jobs.enqueue(&mut conn, &job).await?)
}

/// The job's row.
pub async fn row(app: &TestApp, id: i64) -> R<JobRow> {
    let mut conn = app.state.db.get().await?;
    Ok(app
        .state
        .jobs
        .get(&mut conn, id)
        .await?
        .ok_or("no such job")?)
}

/// Polls the job until `done` holds for its row (or fails after `within`).
pub async fn wait_until(
    app: &TestApp,
    id: i64,
    within: Duration,
    done: impl Fn(&JobRow) -> bool,
) -> R<JobRow> {
    let start = Instant::now();
    loop {
        let job = row(app, id).await?;
        if done(&job) {
            return Ok(job);
        }
        if start.elapsed() > within {
            return Err(format!("job {id} is still {job:?} after {within:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls the job until it is in `state`.
pub async fn wait_state(app: &TestApp, id: i64, state: JobState) -> R<JobRow> {
    wait_until(app, id, Duration::from_secs(10), |job| job.state == state).await
}

/// Gives the job's lease to `owner`, as another worker's claim would.
pub async fn steal(app: &TestApp, id: i64, owner: &str) -> R {
    use diesel_async::RunQueryDsl;
    let mut conn = app.state.db.get().await?;
    diesel::sql_query("UPDATE jobs SET lease_owner = $2 WHERE id = $1")
        .bind::<diesel::sql_types::BigInt, _>(id)
        .bind::<diesel::sql_types::Text, _>(owner)
        .execute(&mut conn)
        .await?;
    Ok(())
}

/// Starts workers running `handlers` on the app's pool.
pub fn start(app: &TestApp, handlers: Handlers, options: Options) -> Workers {
    Workers::start(&app.state, handlers, options)
}

/// How a run started, as a handler saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    pub resumed: bool,
    pub phase: Option<String>,
    pub attempts: u32,
}

impl Start {
    pub fn new(resumed: bool, phase: Option<&str>, attempts: u32) -> Self {
        Start {
            resumed,
            phase: phase.map(str::to_owned),
            attempts,
        }
    }
}

/// The starts a handler saw, in order.
#[derive(Clone, Default)]
pub struct Starts(Arc<Mutex<Vec<Start>>>);

impl Starts {
    /// Records how `job` started.
    pub fn record(&self, job: &JobRun) -> Result<(), JobError> {
        self.0
            .lock()
            .map_err(|_| JobError::failed("poisoned"))?
            .push(Start::new(job.resumed(), job.start_phase(), job.attempts()));
        Ok(())
    }

    pub fn all(&self) -> R<Vec<Start>> {
        Ok(self.0.lock().map_err(|_| "poisoned")?.clone())
    }
}

/// Succeeds after walking through two phases.
pub struct Succeed;

#[async_trait]
impl JobHandler for Succeed {
    async fn run(&self, job: &mut JobRun) -> Result<(), JobError> {
        job.set_phase("prepare").await?;
        job.set_phase("finish").await?;
        Ok(())
    }
}

/// Enters `phase`, then never ends (and never writes again). Sets `dropped` when its run is
/// dropped (the engine stopped it).
pub struct Stall {
    pub phase: &'static str,
    pub dropped: Arc<AtomicBool>,
}

impl Stall {
    pub fn new(phase: &'static str) -> (Stall, Arc<AtomicBool>) {
        let dropped = Arc::new(AtomicBool::new(false));
        (
            Stall {
                phase,
                dropped: dropped.clone(),
            },
            dropped,
        )
    }
}

/// Sets its flag when dropped.
pub struct DropFlag(pub Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[async_trait]
impl JobHandler for Stall {
    async fn run(&self, job: &mut JobRun) -> Result<(), JobError> {
        let _flag = DropFlag(self.dropped.clone());
        job.set_phase(self.phase).await?;
        std::future::pending::<()>().await;
        Ok(())
    }
}
