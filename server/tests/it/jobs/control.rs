//! Controlling jobs: cancel, retry from the failed phase, and a shutdown that returns
//! promptly with jobs in flight.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use kiln_server::jobs::{self, Cancel, Handlers, JobError, JobHandler, JobRun, JobState, NewJob};
use serde_json::json;

use super::{R, Stall, Start, Starts, enqueue, options, row, start, wait_state, wait_until};
use crate::harness::TestApp;

/// Waits in its phase, checking for a cancel request at every step (its safe points).
struct Patient;

#[async_trait]
impl JobHandler for Patient {
    async fn run(&self, job: &mut JobRun) -> Result<(), JobError> {
        job.set_phase("wait").await?;
        for _ in 0..500 {
            if job.cancel_requested().await? {
                return Err(JobError::Cancelled);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(JobError::failed("never cancelled"))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_ends_a_queued_job_at_once_and_a_running_one_at_its_safe_point() -> R {
    let app = TestApp::new().await?;
    // Queued (not due for an hour): cancelled at once.
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let queued = enqueue(&app, NewJob::new("patient", json!({})).not_before(later)).await?;
    let mut conn = app.state.db.get().await?;
    let jobs = app.state.jobs.clone();
    assert_eq!(
        jobs.request_cancel(&mut conn, queued).await?,
        Cancel::Cancelled
    );
    let job = row(&app, queued).await?;
    assert_eq!(job.state, JobState::Cancelled);
    assert!(job.finished_at.is_some());

    // Running: the handler sees the request and stops.
    let workers = start(
        &app,
        Handlers::new().register("patient", Patient),
        options(1),
    );
    let running = enqueue(&app, NewJob::new("patient", json!({}))).await?;
    wait_until(&app, running, Duration::from_secs(5), |j| {
        j.phase.as_deref() == Some("wait")
    })
    .await?;
    assert_eq!(
        jobs.request_cancel(&mut conn, running).await?,
        Cancel::Requested
    );
    let job = wait_state(&app, running, JobState::Cancelled).await?;
    assert_eq!(job.phase.as_deref(), Some("wait"));
    assert!(job.cancel_requested && job.lease_owner.is_none());

    // Finished, or unknown.
    assert_eq!(
        jobs.request_cancel(&mut conn, running).await?,
        Cancel::Finished(JobState::Cancelled)
    );
    assert_eq!(jobs.request_cancel(&mut conn, -1).await?, Cancel::NotFound);
    drop(conn);
    workers.shutdown().await;
    app.cleanup().await
}

/// Walks through `a`, `b`, `c`; fails in `b` on its first run. Records where each run started.
struct FlakyB(Starts);

#[async_trait]
impl JobHandler for FlakyB {
    async fn run(&self, job: &mut JobRun) -> Result<(), JobError> {
        self.0.record(job)?;
        let start = job.start_phase().map(str::to_owned);
        let phases = ["a", "b", "c"];
        let from = start
            .as_deref()
            .and_then(|p| phases.iter().position(|q| *q == p))
            .unwrap_or(0);
        for phase in &phases[from..] {
            job.set_phase(phase).await?;
            if *phase == "b" && start.is_none() {
                return Err(JobError::failed("b broke"));
            }
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_queues_a_failed_job_again_from_its_failed_phase() -> R {
    let app = TestApp::new().await?;
    let seen = Starts::default();
    let workers = start(
        &app,
        Handlers::new().register("flaky", FlakyB(seen.clone())),
        options(1),
    );
    let id = enqueue(&app, NewJob::new("flaky", json!({}))).await?;
    let job = wait_state(&app, id, JobState::Failed).await?;
    assert_eq!(
        (job.phase.as_deref(), job.error.as_deref()),
        (Some("b"), Some("b broke"))
    );

    let mut conn = app.state.db.get().await?;
    assert!(app.state.jobs.retry(&mut conn, id).await?);
    let job = wait_state(&app, id, JobState::Succeeded).await?;
    assert_eq!(job.phase.as_deref(), Some("c"));
    assert!(job.error.is_none() && job.attempts == 1);
    // Only a failed job can be retried.
    assert!(!app.state.jobs.retry(&mut conn, id).await?);
    drop(conn);
    assert_eq!(
        seen.all()?,
        vec![Start::new(false, None, 1), Start::new(false, Some("b"), 1)]
    );
    workers.shutdown().await;
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_drops_a_stuck_job_at_the_deadline_and_releases_it() -> R {
    let app = TestApp::new().await?;
    let (stall, dropped) = Stall::new("stuck");
    let handlers = Handlers::new().register("stall", stall);
    let mut opts = options(2);
    opts.lease = Duration::from_secs(30);
    opts.shutdown_deadline = Duration::from_millis(300);
    let workers = start(&app, handlers.clone(), opts.clone());
    let id = enqueue(&app, NewJob::new("stall", json!({}))).await?;
    wait_until(&app, id, Duration::from_secs(5), |j| {
        j.phase.as_deref() == Some("stuck")
    })
    .await?;
    let start = Instant::now();
    workers.shutdown().await;
    let took = start.elapsed();
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
    assert!(dropped.load(Ordering::SeqCst));
    // Released: the next start resumes it at once, though the lease was 30 s.
    let run = jobs::claim(&app.state.db, &handlers, &opts)
        .await?
        .ok_or("the job was not released")?;
    assert!(run.resumed() && run.start_phase() == Some("stuck"));
    app.cleanup().await
}

/// Moves through phases, a lease write every 20 ms.
struct Busy;

#[async_trait]
impl JobHandler for Busy {
    async fn run(&self, job: &mut JobRun) -> Result<(), JobError> {
        for i in 0..1000 {
            job.set_phase(&format!("step-{i}")).await?;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_stops_a_busy_job_at_its_next_lease_write() -> R {
    let app = TestApp::new().await?;
    let mut opts = options(1);
    opts.shutdown_deadline = Duration::from_secs(30);
    let workers = start(&app, Handlers::new().register("busy", Busy), opts);
    let id = enqueue(&app, NewJob::new("busy", json!({}))).await?;
    wait_until(&app, id, Duration::from_secs(5), |j| {
        j.phase.as_deref() == Some("step-3")
    })
    .await?;
    let start = Instant::now();
    workers.shutdown().await;
    let took = start.elapsed();
    assert!(took < Duration::from_secs(1), "shutdown took {took:?}");
    // Left running with an expired lease and its phase: the next start resumes it.
    let job = row(&app, id).await?;
    assert_eq!(job.state, JobState::Running);
    assert!(job.lease_until.is_some_and(|t| t <= chrono::Utc::now()));
    assert!(job.phase.is_some_and(|p| p.starts_with("step-")));
    app.cleanup().await
}
