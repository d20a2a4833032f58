//! The claim statement on its own (`jobs::claim`, `jobs::run_next`): the per-node limit,
//! also under concurrent claims, due times and kinds.

use std::time::Duration;

use kiln_server::db::jobs::{Finish, finish};
use kiln_server::jobs::{self, Handlers, JobState, NewJob, Outcome};
use serde_json::json;

use super::{R, Succeed, enqueue, nodes, options, row};
use crate::harness::TestApp;

fn succeed() -> Handlers {
    Handlers::new().register("succeed", Succeed)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_with_per_node_running_jobs_gets_no_more() -> R {
    let app = TestApp::new().await?;
    let node = nodes(&app, 1).await?[0];
    let mut opts = options(0);
    opts.lease = Duration::from_secs(60);
    let a1 = enqueue(&app, NewJob::new("succeed", json!({})).on_node(node)).await?;
    let a2 = enqueue(&app, NewJob::new("succeed", json!({})).on_node(node)).await?;
    let a3 = enqueue(&app, NewJob::new("succeed", json!({})).on_node(node)).await?;
    let free = enqueue(&app, NewJob::new("succeed", json!({}))).await?;

    let db = &app.state.db;
    let first = jobs::claim(db, &succeed(), &opts)
        .await?
        .ok_or("nothing claimed")?;
    let second = jobs::claim(db, &succeed(), &opts)
        .await?
        .ok_or("nothing claimed")?;
    assert_eq!((first.id(), second.id()), (a1, a2));
    assert!(!first.resumed() && first.attempts() == 1);
    let slots = (
        row(&app, a1).await?.node_slot,
        row(&app, a2).await?.node_slot,
    );
    assert_eq!(slots, (Some(0), Some(1)));
    // The node is full: the node-less job is next, then nothing.
    assert_eq!(
        jobs::run_next(db, &succeed(), &opts).await?,
        Some((free, Outcome::Succeeded))
    );
    assert_eq!(jobs::run_next(db, &succeed(), &opts).await?, None);
    assert_eq!(row(&app, a3).await?.state, JobState::Queued);

    // The first ends: its place goes to the third.
    let mut conn = db.get().await?;
    let ended = finish(
        &mut conn,
        a1,
        first.lease().owner(),
        Finish {
            state: JobState::Succeeded,
            phase: None,
            error: None,
        },
    )
    .await?;
    assert!(ended);
    drop(conn);
    assert_eq!(
        jobs::run_next(db, &succeed(), &opts).await?,
        Some((a3, Outcome::Succeeded))
    );
    drop(second);
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_claims_never_exceed_the_node_limit() -> R {
    let app = TestApp::new().await?;
    let node = nodes(&app, 1).await?[0];
    for per_node in [1u32, 2] {
        let mut opts = options(0);
        opts.lease = Duration::from_secs(60);
        opts.per_node = per_node;
        let mut ids = Vec::new();
        for _ in 0..12 {
            ids.push(enqueue(&app, NewJob::new("succeed", json!({})).on_node(node)).await?);
        }
        let mut claims = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let db = app.state.db.clone();
            let opts = opts.clone();
            claims.spawn(async move { jobs::claim(&db, &succeed(), &opts).await });
        }
        let mut claimed = Vec::new();
        while let Some(result) = claims.join_next().await {
            if let Some(run) = result?? {
                claimed.push(run);
            }
        }
        assert_eq!(claimed.len(), per_node as usize, "per_node {per_node}");
        // Clear the node for the next round.
        let mut conn = app.state.db.get().await?;
        for run in &claimed {
            let end = Finish {
                state: JobState::Cancelled,
                phase: None,
                error: None,
            };
            finish(&mut conn, run.id(), run.lease().owner(), end).await?;
        }
        for id in ids {
            app.state.jobs.request_cancel(&mut conn, id).await?;
        }
    }
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_not_due_or_of_other_kinds_are_left_alone() -> R {
    let app = TestApp::new().await?;
    let opts = options(0);
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let due_later = enqueue(&app, NewJob::new("succeed", json!({})).not_before(later)).await?;
    let other = enqueue(&app, NewJob::new("someone-else", json!({}))).await?;
    assert!(
        jobs::claim(&app.state.db, &succeed(), &opts)
            .await?
            .is_none()
    );
    assert_eq!(row(&app, due_later).await?.state, JobState::Queued);
    assert_eq!(row(&app, other).await?.state, JobState::Queued);
    app.cleanup().await
}
