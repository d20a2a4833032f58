//! Leases: the heartbeat keeps a long job, an expired lease passes the job to another worker
//! (a resumption) and the old one can write nothing, a taken-over job stops at once, and a
//! job interrupted too often is given up.

use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use kiln_server::jobs::{self, Handlers, JobError, JobHandler, JobRun, JobState, NewJob};
use serde_json::json;

use super::{R, Stall, Start, Starts, enqueue, options, row, start, steal, wait_state, wait_until};
use crate::harness::TestApp;

/// Takes three lease lengths, writing nothing meanwhile.
struct Slow;

#[async_trait]
impl JobHandler for Slow {
    async fn run(&self, job: &mut JobRun) -> Result<(), JobError> {
        job.set_phase("slow").await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        job.set_phase("done").await?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_heartbeat_keeps_a_long_job_with_its_worker() -> R {
    let app = TestApp::new().await?;
    let handlers = Handlers::new().register("slow", Slow);
    let workers = start(&app, handlers.clone(), options(1));
    let id = enqueue(&app, NewJob::new("slow", json!({}))).await?;
    wait_state(&app, id, JobState::Running).await?;
    // Past the first lease's end, nobody else can claim it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        jobs::claim(&app.state.db, &handlers, &options(0))
            .await?
            .is_none()
    );
    let job = wait_state(&app, id, JobState::Succeeded).await?;
    assert_eq!(job.attempts, 1);
    workers.shutdown().await;
    app.cleanup().await
}

/// Records how each run started, then moves on and succeeds.
struct Resume(Starts);

#[async_trait]
impl JobHandler for Resume {
    async fn run(&self, job: &mut JobRun) -> Result<(), JobError> {
        self.0.record(job)?;
        job.set_phase("verify").await?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_lease_passes_the_job_to_another_worker_and_fences_the_first() -> R {
    let app = TestApp::new().await?;
    let seen = Starts::default();
    let handlers = Handlers::new().register("resume", Resume(seen.clone()));
    let id = enqueue(&app, NewJob::new("resume", json!({}))).await?;

    // Worker A claims the job, enters a phase, and stalls: no heartbeat, no more writes
    // (a process stopped by SIGSTOP, or killed).
    let mut a = jobs::claim(&app.state.db, &handlers, &options(0))
        .await?
        .ok_or("nothing claimed")?;
    assert_eq!(a.id(), id);
    a.set_phase("copy").await?;

    // Worker B (another pool, as after a restart) claims it once A's lease expired.
    let workers = start(&app, handlers.clone(), options(1));
    let job = wait_state(&app, id, JobState::Succeeded).await?;
    assert_eq!(job.phase.as_deref(), Some("verify"));
    assert_eq!(job.attempts, 2);
    assert_eq!(seen.all()?, vec![Start::new(true, Some("copy"), 2)]);

    // A wakes up: every write it tries is refused and changes nothing.
    let lost = a.set_phase("late").await;
    assert!(matches!(lost, Err(JobError::LostLease(_))), "{lost:?}");
    assert!(matches!(
        a.cancel_requested().await,
        Err(JobError::LostLease(_))
    ));
    let mut conn = app.state.db.get().await?;
    let fenced = a.lease().fence(&mut conn).await;
    assert!(matches!(fenced, Err(JobError::LostLease(_))), "{fenced:?}");
    drop(conn);
    let after = row(&app, id).await?;
    assert_eq!(after.phase.as_deref(), Some("verify"));
    assert_eq!(after.state, JobState::Succeeded);
    assert_eq!(after.updated_at, job.updated_at);
    workers.shutdown().await;
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_whose_job_is_taken_over_stops_it_at_once() -> R {
    let app = TestApp::new().await?;
    let (stall, dropped) = Stall::new("wait");
    let workers = start(&app, Handlers::new().register("stall", stall), options(1));
    let id = enqueue(&app, NewJob::new("stall", json!({}))).await?;
    wait_until(&app, id, Duration::from_secs(5), |j| {
        j.phase.as_deref() == Some("wait")
    })
    .await?;
    // Another worker takes the job over (as if this one's lease had expired).
    steal(&app, id, "someone-else").await?;
    // The next heartbeat (a third of the lease) notices and drops the run.
    let start = std::time::Instant::now();
    while !dropped.load(Ordering::SeqCst) {
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "the run was not stopped"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // It wrote nothing: the job is the other worker's, as that one left it.
    let job = row(&app, id).await?;
    assert_eq!(job.state, JobState::Running);
    assert_eq!(job.lease_owner.as_deref(), Some("someone-else"));
    assert_eq!(job.phase.as_deref(), Some("wait"));
    workers.shutdown().await;
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_interrupted_too_often_is_given_up() -> R {
    let app = TestApp::new().await?;
    let (stall, _dropped) = Stall::new("stuck");
    let handlers = Handlers::new().register("stall", stall);
    let mut opts = options(1);
    opts.max_attempts = 2;
    let id = enqueue(&app, NewJob::new("stall", json!({}))).await?;
    // Two runs, each claimed and abandoned (their workers "die"); the second is a resumption.
    let first = jobs::claim(&app.state.db, &handlers, &opts)
        .await?
        .ok_or("nothing claimed")?;
    drop(first);
    wait_until(&app, id, Duration::from_secs(5), |j| {
        j.lease_until.is_some_and(|t| t <= chrono::Utc::now())
    })
    .await?;
    let second = jobs::claim(&app.state.db, &handlers, &opts)
        .await?
        .ok_or("nothing claimed")?;
    assert!(second.resumed() && second.attempts() == 2);
    drop(second);
    // Once that lease expires too, the sweep fails it instead of running it a third time.
    let workers = start(&app, handlers, opts);
    let job = wait_state(&app, id, JobState::Failed).await?;
    assert_eq!(
        job.error.as_deref(),
        Some("gave up after 2 interrupted runs")
    );
    assert_eq!(job.attempts, 2);
    assert!(job.lease_owner.is_none() && job.finished_at.is_some());
    workers.shutdown().await;
    app.cleanup().await
}
