//! Jobs run by the worker pool: success, failure, many jobs at once under the per-node limit,
//! panics, and enqueueing inside a transaction.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use diesel_async::AsyncConnection;
use kiln_server::jobs::{Handlers, JobError, JobHandler, JobRun, JobState, NewJob};
use serde_json::json;

use super::{R, Succeed, enqueue, nodes, options, row, start, wait_state};
use crate::harness::TestApp;

#[tokio::test(flavor = "multi_thread")]
async fn an_enqueued_job_runs_at_once_and_succeeds() -> R {
    let app = TestApp::new().await?;
    // A poll far longer than the test: only the wake-up from `enqueue` can start the job.
    let mut opts = options(1);
    opts.poll_interval = Duration::from_secs(60);
    let workers = start(&app, Handlers::new().register("succeed", Succeed), opts);
    // Let the worker's first (empty) claim pass, so it is asleep when the job comes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let id = enqueue(&app, NewJob::new("succeed", json!({"n": 1}))).await?;
    let job = wait_state(&app, id, JobState::Succeeded).await?;
    assert_eq!(job.phase.as_deref(), Some("finish"));
    assert_eq!(job.attempts, 1);
    assert!(job.finished_at.is_some() && job.error.is_none());
    assert!(job.lease_owner.is_none() && job.lease_until.is_none());
    workers.shutdown().await;
    app.cleanup().await
}

/// Fails in its second phase, or in the phase it names itself.
struct Fail;

#[async_trait]
impl JobHandler for Fail {
    async fn run(&self, job: &mut JobRun) -> Result<(), JobError> {
        job.set_phase("create").await?;
        job.set_phase("start").await?;
        if job.payload()["named"] == json!(true) {
            return Err(JobError::failed_in(
                "create",
                "the node refused the container",
            ));
        }
        Err(JobError::failed("the container did not start"))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_handler_leaves_the_job_failed_with_phase_and_message() -> R {
    let app = TestApp::new().await?;
    let workers = start(&app, Handlers::new().register("fail", Fail), options(2));
    let current = enqueue(&app, NewJob::new("fail", json!({}))).await?;
    let named = enqueue(&app, NewJob::new("fail", json!({"named": true}))).await?;
    let job = wait_state(&app, current, JobState::Failed).await?;
    assert_eq!(job.phase.as_deref(), Some("start"));
    assert_eq!(job.error.as_deref(), Some("the container did not start"));
    assert!(job.finished_at.is_some() && job.lease_owner.is_none());
    let job = wait_state(&app, named, JobState::Failed).await?;
    assert_eq!(job.phase.as_deref(), Some("create"));
    assert_eq!(job.error.as_deref(), Some("the node refused the container"));
    workers.shutdown().await;
    app.cleanup().await
}

/// What the counting handler saw.
#[derive(Default)]
struct Seen {
    /// Runs per job id.
    runs: HashMap<i64, u32>,
    /// Running now, per node (`None`: no node).
    now: HashMap<Option<i64>, u32>,
    /// The most running at once, per node.
    max: HashMap<Option<i64>, u32>,
    /// The most running at once, overall.
    max_total: u32,
    total: u32,
}

/// Counts its runs and how many run at once per node, taking a little time each.
struct Count(Arc<Mutex<Seen>>);

#[async_trait]
impl JobHandler for Count {
    async fn run(&self, job: &mut JobRun) -> Result<(), JobError> {
        let node = job.node_id();
        {
            let mut seen = self.0.lock().map_err(|_| JobError::failed("poisoned"))?;
            *seen.runs.entry(job.id()).or_default() += 1;
            let now = {
                let now = seen.now.entry(node).or_default();
                *now += 1;
                *now
            };
            let max = seen.max.entry(node).or_default();
            *max = (*max).max(now);
            seen.total += 1;
            seen.max_total = seen.max_total.max(seen.total);
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
        {
            let mut seen = self.0.lock().map_err(|_| JobError::failed("poisoned"))?;
            *seen.now.entry(node).or_default() -= 1;
            seen.total -= 1;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_jobs_on_four_workers_run_once_each_within_the_node_limit() -> R {
    let app = TestApp::new().await?;
    let nodes = nodes(&app, 2).await?;
    // 40 jobs on the first node, 5 on the second, 5 on none; all enqueued in one
    // transaction, then one wake-up.
    let mut conn = app.state.db.get().await?;
    let jobs = app.state.jobs.clone();
    let ids: Vec<i64> = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            let mut ids = Vec::new();
            for i in 0..50 {
                let job = NewJob::new("count", json!({ "i": i }));
                let job = match i {
                    0..40 => job.on_node(nodes[0]),
                    40..45 => job.on_node(nodes[1]),
                    _ => job,
                };
                ids.push(jobs.enqueue(conn, &job).await?);
            }
            Ok(ids)
        })
        .await?;
    drop(conn);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let workers = start(
        &app,
        Handlers::new().register("count", Count(seen.clone())),
        options(4),
    );
    app.state.jobs.wake();
    for &id in &ids {
        wait_state(&app, id, JobState::Succeeded).await?;
    }
    workers.shutdown().await;
    {
        let seen = seen.lock().map_err(|_| "poisoned")?;
        assert_eq!(seen.runs.len(), 50);
        assert!(seen.runs.values().all(|&n| n == 1), "{:?}", seen.runs);
        for node in &nodes {
            let max = seen.max.get(&Some(*node)).copied().unwrap_or(0);
            assert!((1..=2).contains(&max), "node {node}: {max} at once");
        }
        assert!(seen.max_total > 1, "the workers ran in parallel");
    }
    app.cleanup().await
}

/// Panics on the payload's request.
struct Panic;

#[async_trait]
impl JobHandler for Panic {
    async fn run(&self, job: &mut JobRun) -> Result<(), JobError> {
        job.set_phase("work").await?;
        if job.payload()["panic"] == json!(true) {
            panic!("a bug in a handler");
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_handler_fails_its_job_and_the_worker_goes_on() -> R {
    let app = TestApp::new().await?;
    let workers = start(&app, Handlers::new().register("panic", Panic), options(1));
    let bad = enqueue(&app, NewJob::new("panic", json!({"panic": true}))).await?;
    let job = wait_state(&app, bad, JobState::Failed).await?;
    assert_eq!(job.error.as_deref(), Some("internal error"));
    assert_eq!(job.phase.as_deref(), Some("work"));
    // The one worker is still there.
    let good = enqueue(&app, NewJob::new("panic", json!({}))).await?;
    wait_state(&app, good, JobState::Succeeded).await?;
    workers.shutdown().await;
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_exists_only_if_its_transaction_commits() -> R {
    let app = TestApp::new().await?;
    let mut conn = app.state.db.get().await?;
    let jobs = app.state.jobs.clone();
    let rolled_back = conn
        .transaction::<i64, diesel::result::Error, _>(async |conn| {
            let _id = jobs
                .enqueue(conn, &NewJob::new("succeed", json!({})))
                .await?;
            Err(diesel::result::Error::RollbackTransaction)
        })
        .await;
    assert!(rolled_back.is_err());
    let jobs = app.state.jobs.clone();
    let id = conn
        .transaction::<i64, diesel::result::Error, _>(async |conn| {
            jobs.enqueue(conn, &NewJob::new("succeed", json!({}))).await
        })
        .await?;
    drop(conn);
    // Only the committed job exists, queued; the rolled-back one took the id before it.
    let job = row(&app, id).await?;
    assert_eq!(job.state, JobState::Queued);
    assert!(row(&app, id - 1).await.is_err());
    let workers = start(
        &app,
        Handlers::new().register("succeed", Succeed),
        options(1),
    );
    app.state.jobs.wake();
    wait_state(&app, id, JobState::Succeeded).await?;
    workers.shutdown().await;
    app.cleanup().await
}
