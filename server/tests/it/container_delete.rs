//! Deleting containers (`ContainerService::delete` and the `container.delete` job), on real
//! job workers against a lab node (scratch runtime): a failed creation destroyed on its node and forgotten, a ready one stopped
//! first while its progress stream ends with `deleted`, a guest Kiln did not make left
//! alone, a running creation cancelled first, a failed deletion put back and repeated, a
//! deletion resumed after its worker died mid-destroy, the node's VMID cache dropped.

use std::time::{Duration, Instant};

use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use kiln_server::containers::vmids::VmidCache;
use kiln_server::db::containers as rows;
use kiln_server::jobs::{self, JobState, Options};
use kiln_server::lab::{Faults, RuntimeKind};
use kiln_server::proxmox::ProxmoxApi;
use kiln_server::proxmox::tasks::wait_task;
use kiln_shared::AppError;
use kiln_shared::pve::LxcCreate;

use crate::container_vmids::{foreign_guest, lab_vmids};
use crate::containers::{Setup, request, setup, setup_paused_with};
use crate::lab_fixture::{R, TASK_TIMEOUT, container};

/// Waits until container `id`'s row is gone; fails with its status and error otherwise.
async fn gone(s: &Setup, id: i64, secs: u64) -> R {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let mut conn = s.app.state.db.get().await?;
        let Some(row) = rows::get(&mut conn, None, id).await? else {
            return Ok(());
        };
        if Instant::now() > deadline {
            return Err(format!(
                "container {id} still there after {secs} s: {} {:?}",
                row.status, row.error
            )
            .into());
        }
        drop(conn);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until container `id` is no longer `deleting`; returns its row.
async fn deletion_ended(s: &Setup, id: i64, secs: u64) -> R<rows::ContainerRow> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let mut conn = s.app.state.db.get().await?;
        let row = rows::get(&mut conn, None, id).await?.ok_or("row gone")?;
        if row.status != "deleting" {
            return Ok(row);
        }
        if Instant::now() > deadline {
            return Err(format!("container {id} still deleting after {secs} s").into());
        }
        drop(conn);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The deletion jobs of container `id`, oldest first: (state, attempts, error).
async fn deletion_jobs(s: &Setup, id: i64) -> R<Vec<(String, i32, Option<String>)>> {
    #[derive(diesel::QueryableByName)]
    struct Job {
        #[diesel(sql_type = Text)]
        state: String,
        #[diesel(sql_type = diesel::sql_types::Integer)]
        attempts: i32,
        #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
        error: Option<String>,
    }
    let mut conn = s.app.state.db.get().await?;
    let jobs: Vec<Job> = diesel::sql_query(
        "SELECT state, attempts, error FROM jobs
         WHERE kind = 'container.delete' AND (payload->>'container_id')::bigint = $1
         ORDER BY id",
    )
    .bind::<BigInt, _>(id)
    .load(&mut conn)
    .await?;
    Ok(jobs
        .into_iter()
        .map(|j| (j.state, j.attempts, j.error))
        .collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_creation_is_destroyed_on_its_node_and_forgotten() -> R {
    let mut s = setup(RuntimeKind::Scratch).await?;
    let mut faults = Faults::default();
    faults
        .task_failures
        .insert("vzstart".into(), "startup for container failed".into());
    s.lab.handle.set_faults(faults);
    let created = s
        .service()
        .create(&s.actor, request(s.node_id, "doomed"))
        .await?;
    let row = s.settled(created.id, 30).await?;
    assert_eq!(row.status, "failed", "{:?}", row.error);
    assert_eq!(lab_vmids(&s).await?, [100], "made, not started");
    s.lab.handle.set_faults(Faults::default());
    // Rows hanging on the container, to see them go with it.
    let mut conn = s.app.state.db.get().await?;
    diesel::sql_query(
        "INSERT INTO container_services (container_id, name, unit, state) VALUES ($1, 'web', 'nginx.service', 'active')",
    )
    .bind::<BigInt, _>(created.id)
    .execute(&mut conn)
    .await?;
    diesel::sql_query(
        "INSERT INTO container_credentials (container_id, service, key, value) VALUES ($1, 'web', 'password', '\\x00')",
    )
    .bind::<BigInt, _>(created.id)
    .execute(&mut conn)
    .await?;
    drop(conn);

    // Without workers the request's own effect shows: `deleting` at once, one job queued.
    if let Some(workers) = s.workers.take() {
        workers.shutdown().await;
    }
    let other = crate::containers::actor(&s.app, "not-the-owner").await?;
    assert!(matches!(
        s.service().delete(&other, created.id).await,
        Err(AppError::NotFound(_))
    ));
    s.service().delete(&s.actor, created.id).await?;
    s.service().delete(&s.actor, created.id).await?;
    let mut conn = s.app.state.db.get().await?;
    let row = rows::get(&mut conn, None, created.id).await?.ok_or("row")?;
    drop(conn);
    assert_eq!(row.status, "deleting");
    assert_eq!(
        deletion_jobs(&s, created.id).await?.len(),
        1,
        "a second request while one is under way starts nothing"
    );

    s.start_workers();
    gone(&s, created.id, 30).await?;
    assert!(lab_vmids(&s).await?.is_empty(), "destroyed on the node");
    let mut conn = s.app.state.db.get().await?;
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    for table in [
        "container_events",
        "container_services",
        "container_credentials",
    ] {
        let left: Count = diesel::sql_query(format!(
            "SELECT count(*) AS n FROM {table} WHERE container_id = $1"
        ))
        .bind::<BigInt, _>(created.id)
        .get_result(&mut conn)
        .await?;
        assert_eq!(left.n, 0, "{table} went with the row");
    }
    drop(conn);
    assert_eq!(
        deletion_jobs(&s, created.id).await?,
        [("succeeded".to_owned(), 1, None)]
    );
    let audit = s.app.audit().await?;
    for action in ["container.delete", "container.deleted"] {
        assert!(
            audit
                .iter()
                .any(|(a, outcome, _)| a == action && outcome == "ok"),
            "{action} audited: {audit:?}"
        );
    }
    assert!(matches!(
        s.service().delete(&s.actor, created.id).await,
        Err(AppError::NotFound(_))
    ));
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ready_container_is_stopped_then_destroyed_and_its_stream_ends() -> R {
    // Speed 1: the stop and destroy tasks take 0.5 and 1 s, so the watcher sees the
    // deletion's events before the row (and its events) are gone.
    let mut s = setup_paused_with(|o| {
        o.runtime = RuntimeKind::Scratch;
        o.speed = 1.0;
    })
    .await?;
    s.start_workers();
    let created = s
        .service()
        .create(&s.actor, request(s.node_id, "short-lived"))
        .await?;
    let row = s.settled(created.id, 60).await?;
    assert_eq!(row.status, "ready", "{:?}", row.error);
    let last = s.events(created.id).await?.len();
    let session = s.app.login("creator", crate::harness::PASSWORD).await?;
    // (Watching a ready container would end at once: watch the deletion.)
    s.service().delete(&s.actor, created.id).await?;
    let mut stream = crate::container_events::open(
        &s.app,
        &format!("/containers/{}/events?after={last}", created.id),
        Some(&session),
        None,
    )
    .await?;
    assert_eq!(stream.status, axum::http::StatusCode::OK);
    let mut texts = Vec::new();
    let end = loop {
        let msg = stream
            .next()
            .await?
            .ok_or("the stream ended without `end`")?;
        if msg.event == "end" {
            break serde_json::from_str::<kiln_shared::progress::StreamEnd>(&msg.data)?;
        }
        texts.push(msg.event()?.text);
    };
    assert_eq!(end.status, kiln_shared::progress::DELETED, "{texts:?}");
    assert!(stream.next().await?.is_none(), "closed after `end`");
    for expected in ["cancel-creation", "destroy", "stopping CT 100"] {
        assert!(
            texts.iter().any(|t| t == expected),
            "{expected} in {texts:?}"
        );
    }
    gone(&s, created.id, 30).await?;
    assert!(lab_vmids(&s).await?.is_empty());
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_kiln_did_not_make_is_left_alone() -> R {
    let mut s = setup_paused_with(|o| o.runtime = RuntimeKind::Scratch).await?;
    let created = s
        .service()
        .create(&s.actor, request(s.node_id, "never-made"))
        .await?;
    assert!(
        s.service().cancel(&s.actor, created.id).await?,
        "cancelled before it ran"
    );
    // The row holds VMID 100, and the node has a CT 100 that is not this creation's: its
    // description even has a longer marker that starts like this job's.
    let mut conn = s.app.state.db.get().await?;
    assert!(rows::reserve_vmid(&mut conn, created.id, 100).await?);
    drop(conn);
    let description = format!("someone else's, kiln-job-{}0", created.job_id);
    foreign_guest(
        &s,
        &LxcCreate {
            description: Some(description.clone()),
            ..container(100)
        },
    )
    .await?;
    s.start_workers();
    s.service().delete(&s.actor, created.id).await?;
    gone(&s, created.id, 30).await?;
    assert_eq!(
        lab_vmids(&s).await?,
        [100],
        "the other guest is still there"
    );
    let config = s.lab.client()?.lxc_config(s.lab.node(), 100).await?;
    assert_eq!(config.description.as_deref(), Some(description.as_str()));
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_running_creation_cancels_it_then_destroys_what_it_made() -> R {
    // Speed 1: the create task takes 2 s, so the deletion arrives while it runs.
    let mut s = setup_paused_with(|o| {
        o.runtime = RuntimeKind::Scratch;
        o.speed = 1.0;
    })
    .await?;
    s.start_workers();
    let created = s
        .service()
        .create(&s.actor, request(s.node_id, "in-flight"))
        .await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !s
        .events(created.id)
        .await?
        .iter()
        .any(|e| e.phase == "create" && e.text.starts_with("task UPID:"))
    {
        assert!(Instant::now() < deadline, "the create task never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.service().delete(&s.actor, created.id).await?;
    gone(&s, created.id, 60).await?;
    assert!(
        lab_vmids(&s).await?.is_empty(),
        "what the creation made was destroyed"
    );
    let mut conn = s.app.state.db.get().await?;
    let creation = s
        .app
        .state
        .jobs
        .get(&mut conn, created.job_id)
        .await?
        .ok_or("job")?;
    assert_eq!(creation.state, JobState::Cancelled);
    drop(conn);
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_deletion_puts_the_status_back_and_can_be_repeated() -> R {
    let s = setup(RuntimeKind::Scratch).await?;
    let created = s
        .service()
        .create(&s.actor, request(s.node_id, "sticky"))
        .await?;
    assert_eq!(s.settled(created.id, 30).await?.status, "ready");
    let mut faults = Faults::default();
    faults
        .task_failures
        .insert("vzdestroy".into(), "volume is busy".into());
    s.lab.handle.set_faults(faults);
    s.service().delete(&s.actor, created.id).await?;
    let row = deletion_ended(&s, created.id, 30).await?;
    assert_eq!(row.status, "ready", "put back");
    let error = row.error.unwrap_or_default();
    assert!(
        error.starts_with("deletion failed in destroy:") && error.contains("volume is busy"),
        "{error}"
    );
    let events = s.events(created.id).await?;
    assert_eq!(
        events.last().map(|e| (e.kind.as_str(), e.text.as_str())),
        Some(("outcome", error.as_str()))
    );
    assert_eq!(lab_vmids(&s).await?, [100]);

    s.lab.handle.set_faults(Faults::default());
    s.service().delete(&s.actor, created.id).await?;
    gone(&s, created.id, 30).await?;
    assert!(lab_vmids(&s).await?.is_empty());
    let jobs = deletion_jobs(&s, created.id).await?;
    let states: Vec<&str> = jobs.iter().map(|(state, _, _)| state.as_str()).collect();
    assert_eq!(states, ["failed", "succeeded"]);
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deletion_whose_worker_died_mid_destroy_resumes_and_finishes() -> R {
    let mut s = setup_paused_with(|o| {
        o.runtime = RuntimeKind::Scratch;
        o.speed = 1.0;
    })
    .await?;
    s.start_workers();
    let created = s
        .service()
        .create(&s.actor, request(s.node_id, "half-gone"))
        .await?;
    assert_eq!(s.settled(created.id, 60).await?.status, "ready");
    if let Some(workers) = s.workers.take() {
        workers.shutdown().await;
    }
    s.service().delete(&s.actor, created.id).await?;
    // A worker claims the deletion, gets as far as the destroy phase and sends the stop and
    // the DELETE, then dies (its lease of 1 s runs out; nothing else is written).
    let handlers = jobs::handlers(&s.app.state);
    let options = Options {
        lease: Duration::from_secs(1),
        ..Options::default()
    };
    let mut run = jobs::claim(&s.app.state.db, &handlers, &options)
        .await?
        .ok_or("nothing to claim")?;
    assert_eq!(run.kind(), "container.delete");
    run.set_phase("cancel-creation").await?;
    run.set_phase("destroy").await?;
    let client = s.lab.client()?;
    let upid = client.lxc_stop(s.lab.node(), 100).await?;
    wait_task(&client, &upid, TASK_TIMEOUT).await?;
    client.lxc_delete(s.lab.node(), 100).await?;
    drop(run);

    s.start_workers();
    gone(&s, created.id, 30).await?;
    assert!(lab_vmids(&s).await?.is_empty());
    let jobs = deletion_jobs(&s, created.id).await?;
    assert_eq!(jobs, [("succeeded".to_owned(), 2, None)], "resumed once");
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_drops_the_nodes_vmid_cache() -> R {
    let s = setup(RuntimeKind::Scratch).await?;
    let cache = VmidCache::new(&s.app.state);
    let created = s
        .service()
        .create(&s.actor, request(s.node_id, "cached"))
        .await?;
    assert_eq!(s.settled(created.id, 30).await?.status, "ready");
    assert!(cache.cached(s.node_id).await?.is_some(), "filled");
    s.service().delete(&s.actor, created.id).await?;
    gone(&s, created.id, 30).await?;
    assert_eq!(
        cache.cached(s.node_id).await?,
        None,
        "dropped when a container was destroyed"
    );
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_delete_server_function_is_a_thin_adapter() -> R {
    let s = setup(RuntimeKind::Scratch).await?;
    let created = s
        .service()
        .create(&s.actor, request(s.node_id, "via-http"))
        .await?;
    assert_eq!(s.settled(created.id, 30).await?.status, "ready");
    let id = created.id.to_string();
    let anonymous = s.app.call("delete_container", &[("id", &id)], None).await?;
    assert_eq!(anonymous.status, axum::http::StatusCode::UNAUTHORIZED);
    crate::containers::actor(&s.app, "stranger").await?;
    let stranger = s.app.login("stranger", crate::harness::PASSWORD).await?;
    let refused = s
        .app
        .call("delete_container", &[("id", &id)], Some(&stranger))
        .await?;
    assert_eq!(refused.status, axum::http::StatusCode::NOT_FOUND);
    let session = s.app.login("creator", crate::harness::PASSWORD).await?;
    let ok = s
        .app
        .call("delete_container", &[("id", &id)], Some(&session))
        .await?;
    assert_eq!(ok.status, axum::http::StatusCode::OK, "{}", ok.body);
    gone(&s, created.id, 30).await?;
    assert!(lab_vmids(&s).await?.is_empty());
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_container_is_stopped_and_destroyed() -> R {
    if !crate::lab_lxc::lxc_ready().await? {
        return Ok(());
    }
    let s = setup(RuntimeKind::Lxc).await?;
    let _cleanup = crate::lab_lxc::Cleanup(s.lab.dir.clone());
    let created = s
        .service()
        .create(&s.actor, request(s.node_id, "real-gone"))
        .await?;
    let row = s.settled(created.id, 120).await?;
    assert_eq!(row.status, "ready", "{:?}", row.error);
    let vmid = row.vmid.ok_or("vmid")?;
    // LXC's own view: the lab's lxcpath holds `k<tag>-<vmid>`.
    let lxc_names = || -> R<Vec<String>> {
        Ok(std::fs::read_dir(s.lab.dir.join("lxc"))?
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| name.ends_with(&format!("-{vmid}")))
            .collect())
    };
    assert_eq!(lxc_names()?.len(), 1, "a real LXC container");
    s.service().delete(&s.actor, created.id).await?;
    gone(&s, created.id, 120).await?;
    assert!(lab_vmids(&s).await?.is_empty());
    assert_eq!(lxc_names()?, Vec::<String>::new(), "gone from LXC too");
    s.finish().await
}
