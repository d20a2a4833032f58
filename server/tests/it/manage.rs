//! Managing containers (issue 11): the dashboard's inventory (Kiln's containers and the
//! others, from two nodes; rows that survive a node going away), lifecycle actions followed
//! to their task's end, the one-action-at-a-time lock (50 at once, a dead holder's lock
//! expiring), deletion, adoption, bulk actions with one failing container, and another
//! user's attempts — against lab nodes.

use std::time::Duration;

use kiln_server::containers::lock::GuestLocks;
use kiln_server::lab::RuntimeKind;
use kiln_server::proxmox::ProxmoxApi;
use kiln_shared::AppError;
use kiln_shared::inventory::{Action, State};

use crate::containers::{Setup, actor, register_lab_as, request, setup_paused_with};
use crate::lab_fixture::{R, TestLab, container};

/// A container made on the lab directly (not by Kiln), running.
async fn foreign(lab: &TestLab, vmid: u32) -> R {
    let client = lab.client()?;
    let upid = client.lxc_create(lab.node(), &container(vmid)).await?;
    kiln_server::proxmox::tasks::wait_task(&client, &upid, Duration::from_secs(30)).await?;
    let upid = client.lxc_start(lab.node(), vmid).await?;
    kiln_server::proxmox::tasks::wait_task(&client, &upid, Duration::from_secs(30)).await?;
    Ok(())
}

/// A scratch lab at `speed`, with workers, and `n` ready containers `ct-1`… of the actor.
async fn with_containers(speed: f64, n: usize) -> R<(Setup, Vec<i64>)> {
    let mut s = setup_paused_with(|o| {
        o.runtime = RuntimeKind::Scratch;
        o.speed = speed;
    })
    .await?;
    s.start_workers();
    let mut ids = Vec::new();
    for i in 1..=n {
        let created = s
            .service()
            .create(&s.actor, request(s.node_id, &format!("ct-{i}")))
            .await?;
        ids.push(created.id);
    }
    for id in &ids {
        let row = s.settled(*id, 60).await?;
        assert_eq!(row.status, "ready", "{:?}", row.error);
    }
    Ok((s, ids))
}

/// The lab's power state of VMID `vmid`.
async fn power(lab: &TestLab, vmid: u32) -> R<String> {
    Ok(lab.client()?.lxc_status(lab.node(), vmid).await?.status)
}

async fn vmid_of(s: &Setup, id: i64) -> R<u32> {
    let mut conn = s.app.state.db.get().await?;
    let row = kiln_server::db::containers::get(&mut conn, None, id)
        .await?
        .ok_or("row")?;
    Ok(u32::try_from(row.vmid.ok_or("vmid")?)?)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_inventory_merges_kilns_and_other_containers_from_two_nodes_and_keeps_rows_of_a_node_that_went_away()
-> R {
    let (s, ids) = with_containers(0.0, 1).await?;
    let lab2 = TestLab::start(|o| o.runtime = RuntimeKind::Scratch).await?;
    let node2 = register_lab_as(&s.app, &s.actor, &lab2, "lab2").await?;
    foreign(&s.lab, 500).await?;
    foreign(&lab2, 600).await?;
    foreign(&lab2, 601).await?;

    let inv = s.service().inventory(&s.actor).await?;
    assert_eq!(inv.nodes.len(), 2);
    assert!(inv.nodes.iter().all(|n| n.online), "{:?}", inv.nodes);
    let mine = inv
        .rows
        .iter()
        .find(|r| r.id == Some(ids[0]))
        .ok_or("Kiln's container")?;
    assert_eq!(mine.state, State::Running);
    assert_eq!(mine.name, "ct-1");
    assert!(mine.live.as_ref().is_some_and(|l| l.maxmem.is_some()));
    let others: Vec<(i64, u32)> = inv
        .rows
        .iter()
        .filter(|r| r.id.is_none())
        .filter_map(|r| Some((r.node_id, r.vmid?)))
        .collect();
    assert_eq!(
        others,
        [(s.node_id, 500), (node2, 600), (node2, 601)],
        "the others, by node and VMID"
    );
    assert_eq!(inv.totals.count(State::Running), 4);
    assert_eq!(inv.totals.nodes_online, 2);
    assert!(inv.totals.cpu_total > 0.0 && inv.totals.mem_total > 0);

    // Adopt one of lab2's: a row, as it was; the node unchanged.
    let adopted = s.service().adopt(&s.actor, node2, 600).await?;
    let again = s.service().adopt(&s.actor, node2, 600).await;
    assert!(matches!(again, Err(AppError::Conflict(_))), "{again:?}");
    let missing = s.service().adopt(&s.actor, node2, 999).await;
    assert!(matches!(missing, Err(AppError::NotFound(_))), "{missing:?}");
    let inv = s.service().inventory(&s.actor).await?;
    let row = inv
        .rows
        .iter()
        .find(|r| r.id == Some(adopted))
        .ok_or("adopted row")?;
    assert!(row.adopted);
    assert_eq!(row.name, "ct600");
    assert_eq!(row.state, State::Running);
    assert!(
        !inv.rows
            .iter()
            .any(|r| r.id.is_none() && r.vmid == Some(600)),
        "listed once, as managed"
    );
    assert!(
        s.app
            .audit()
            .await?
            .iter()
            .any(|(a, _, _)| a == "container.adopt")
    );

    // lab2 goes away: its managed row stays, with its last known state; its other guest is
    // not listed (Kiln does not know it); lab1's rows are unaffected.
    lab2.finish().await?;
    // One answer per node serves every dashboard for 2 s (`nodes::RESOURCES_TTL`).
    tokio::time::sleep(kiln_server::nodes::RESOURCES_TTL).await;
    let inv = s.service().inventory(&s.actor).await?;
    let down = inv.nodes.iter().find(|n| n.id == node2).ok_or("node2")?;
    assert!(!down.online && down.error.is_some(), "{down:?}");
    let row = inv
        .rows
        .iter()
        .find(|r| r.id == Some(adopted))
        .ok_or("the adopted row survives its node")?;
    assert!(row.stale);
    assert_eq!(row.last_power.as_deref(), Some("running"));
    assert!(row.seen_at.is_some());
    assert!(!inv.rows.iter().any(|r| r.vmid == Some(601)));
    assert!(
        inv.rows
            .iter()
            .any(|r| r.id == Some(ids[0]) && r.state == State::Running)
    );
    assert_eq!(inv.totals.nodes_online, 1);
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn each_lifecycle_action_follows_its_task_and_changes_the_state() -> R {
    let (s, ids) = with_containers(0.2, 1).await?;
    let id = ids[0];
    let vmid = vmid_of(&s, id).await?;
    let service = s.service();

    let done = service.act(&s.actor, id, Action::Shutdown).await?;
    assert!(done.ok, "{done:?}");
    assert_eq!(done.state, Some(State::Stopped));
    assert_eq!(power(&s.lab, vmid).await?, "stopped");

    let again = service.act(&s.actor, id, Action::Stop).await?;
    assert!(
        again.ok && again.message.contains("already stopped"),
        "{again:?}"
    );

    let done = service.act(&s.actor, id, Action::Start).await?;
    assert!(done.ok, "{done:?}");
    assert_eq!(power(&s.lab, vmid).await?, "running");

    let done = service.act(&s.actor, id, Action::Reboot).await?;
    assert!(done.ok, "{done:?}");
    assert_eq!(power(&s.lab, vmid).await?, "running");

    let done = service.act(&s.actor, id, Action::Stop).await?;
    assert!(done.ok, "{done:?}");
    assert_eq!(power(&s.lab, vmid).await?, "stopped");
    let inv = service.inventory(&s.actor).await?;
    let row = inv.rows.iter().find(|r| r.id == Some(id)).ok_or("row")?;
    assert_eq!(row.state, State::Stopped);
    assert!(row.offers(Action::Start) && !row.offers(Action::Stop));

    // Every action is audited and in the container's events.
    let audit = s.app.audit().await?;
    for action in ["shutdown", "start", "reboot", "stop"] {
        assert!(
            audit
                .iter()
                .any(|(a, _, who)| a == &format!("container.{action}")
                    && who.as_deref() == Some("creator")),
            "{action} audited: {audit:?}"
        );
    }
    let events = s.events(id).await?;
    let asked = events
        .iter()
        .filter(|e| e.kind == "action" && e.text.contains("asked by creator"))
        .count();
    assert_eq!(asked, 5);
    assert!(
        events
            .iter()
            .any(|e| e.phase == "reboot" && e.kind == "outcome" && e.text == "ct-1 rebooted")
    );
    assert!(
        GuestLocks::new(&s.app.state).holder(id).await?.is_none(),
        "no lock left behind"
    );
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_concurrent_actions_reach_the_node_one_at_a_time_and_a_dead_holders_lock_expires() -> R
{
    // Speed 0.5: a reboot's task takes 0.75 s, far longer than 50 requests take to arrive.
    let (s, ids) = with_containers(0.5, 1).await?;
    let id = ids[0];
    let mut calls = Vec::new();
    for _ in 0..50 {
        let service = s.service();
        let actor = s.actor.clone();
        calls.push(tokio::spawn(async move {
            service.act(&actor, id, Action::Reboot).await
        }));
    }
    let mut ok = 0;
    let mut busy = 0;
    for call in calls {
        match call.await? {
            Ok(done) if done.ok => ok += 1,
            Err(AppError::Conflict(message))
                if message.starts_with("busy: reboot since ")
                    && message.ends_with(" by creator") =>
            {
                busy += 1;
            }
            other => return Err(format!("unexpected answer: {other:?}").into()),
        }
    }
    assert_eq!((ok, busy), (1, 49), "exactly one reached the node");
    let events = s.events(id).await?;
    assert_eq!(
        events.iter().filter(|e| e.kind == "action").count(),
        1,
        "the busy ones sent nothing and recorded nothing"
    );
    let locks = GuestLocks::new(&s.app.state);
    assert!(locks.holder(id).await?.is_none(), "released");

    // A worker that dies holding the lock (never releasing it): busy until it expires.
    let short = GuestLocks::with_ttl(
        s.app.state.redis.clone(),
        s.app.state.config.redis_prefix.clone(),
        Duration::from_millis(800),
    );
    short.acquire(id, "stop", "crashed-worker").await?.abandon();
    let refused = s.service().act(&s.actor, id, Action::Stop).await;
    match refused {
        Err(AppError::Conflict(m)) => assert!(m.contains("by crashed-worker"), "{m}"),
        other => return Err(format!("expected busy, got {other:?}").into()),
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(locks.holder(id).await?.is_none(), "expired");
    let done = s.service().act(&s.actor, id, Action::Stop).await?;
    assert!(done.ok, "{done:?}");

    // A job's run killed holding the lock: the job's next run takes it over at once; another
    // job waits (here: gives up after 300 ms).
    let ms = Duration::from_millis;
    locks
        .acquire_waiting(id, ("create", "creator", 4242), ms(50), ms(300))
        .await?
        .abandon();
    let other = locks
        .acquire_waiting(id, ("delete", "Kiln", 4243), ms(50), ms(300))
        .await;
    assert!(
        matches!(&other, Err(kiln_server::containers::lock::LockError::Busy(b)) if b.what == "create"),
        "{other:?}"
    );
    let started = std::time::Instant::now();
    let resumed = locks
        .acquire_waiting(id, ("create", "creator", 4242), ms(50), ms(300))
        .await?;
    assert!(started.elapsed() < ms(200), "taken over, not waited for");
    resumed.release().await;
    assert!(locks.holder(id).await?.is_none());
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_waits_for_no_one_but_refuses_while_an_action_runs_then_removes_everything() -> R {
    let (s, ids) = with_containers(0.0, 1).await?;
    let id = ids[0];
    let vmid = vmid_of(&s, id).await?;
    // Another action holds the lock: the deletion is refused, nothing changes.
    let locks = GuestLocks::new(&s.app.state);
    let held = locks.acquire(id, "shutdown", "someone").await?;
    let refused = s.service().act(&s.actor, id, Action::Delete).await;
    assert!(
        matches!(&refused, Err(AppError::Conflict(m)) if m.contains("busy: shutdown")),
        "{refused:?}"
    );
    held.release().await;

    let done = s.service().act(&s.actor, id, Action::Delete).await?;
    assert_eq!(done.state, Some(State::Deleting));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut conn = s.app.state.db.get().await?;
        if kiln_server::db::containers::get(&mut conn, None, id)
            .await?
            .is_none()
        {
            break;
        }
        if std::time::Instant::now() > deadline {
            return Err("the row was not removed".into());
        }
        drop(conn);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let gone = s.lab.client()?.lxc_status(s.lab.node(), vmid).await;
    assert!(gone.is_err(), "destroyed on the node: {gone:?}");
    assert!(locks.holder(id).await?.is_none(), "no lock left behind");
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_with_one_failing_container_reports_it_and_completes_the_others() -> R {
    let (s, ids) = with_containers(0.0, 3).await?;
    // The third is removed behind Kiln's back: stopping it fails.
    let gone = vmid_of(&s, ids[2]).await?;
    let client = s.lab.client()?;
    let upid = client.lxc_stop(s.lab.node(), gone).await?;
    kiln_server::proxmox::tasks::wait_task(&client, &upid, Duration::from_secs(10)).await?;
    let upid = client.lxc_delete(s.lab.node(), gone).await?;
    kiln_server::proxmox::tasks::wait_task(&client, &upid, Duration::from_secs(10)).await?;

    let outcomes = s
        .service()
        .bulk(&s.actor, ids.clone(), Action::Stop)
        .await?;
    assert_eq!(
        outcomes.iter().map(|o| o.id).collect::<Vec<_>>(),
        ids,
        "in the order asked"
    );
    assert!(outcomes[0].ok && outcomes[1].ok, "{outcomes:?}");
    assert!(!outcomes[2].ok, "{outcomes:?}");
    assert!(
        outcomes[2].message.contains("not on the node"),
        "{outcomes:?}"
    );
    for id in &ids[..2] {
        assert_eq!(power(&s.lab, vmid_of(&s, *id).await?).await?, "stopped");
    }
    let empty = s.service().bulk(&s.actor, vec![], Action::Stop).await;
    assert!(matches!(empty, Err(AppError::Invalid(_))), "{empty:?}");
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn another_user_cannot_list_act_on_adopt_or_reveal() -> R {
    let (s, ids) = with_containers(0.0, 1).await?;
    let id = ids[0];
    foreign(&s.lab, 700).await?;
    let mallory = actor(&s.app, "mallory").await?;
    let service = s.service();

    let inv = service.inventory(&mallory).await?;
    assert!(inv.rows.is_empty() && inv.nodes.is_empty(), "{inv:?}");
    for action in [Action::Stop, Action::Delete] {
        let refused = service.act(&mallory, id, action).await;
        assert!(matches!(refused, Err(AppError::NotFound(_))), "{refused:?}");
    }
    let bulk = service.bulk(&mallory, vec![id], Action::Stop).await?;
    assert!(!bulk[0].ok, "{bulk:?}");
    let adopt = service.adopt(&mallory, s.node_id, 700).await;
    assert!(matches!(adopt, Err(AppError::NotFound(_))), "{adopt:?}");

    // The same through the server functions (by id in the request).
    let session = s.app.login("mallory", crate::harness::PASSWORD).await?;
    let action = s
        .app
        .call_json(
            "container_action",
            &serde_json::json!({ "id": id, "action": "stop" }),
            Some(&session),
        )
        .await?;
    assert_eq!(
        action.status,
        axum::http::StatusCode::NOT_FOUND,
        "{}",
        action.body
    );
    let listed = s
        .app
        .call_json("load_inventory", &serde_json::json!({}), Some(&session))
        .await?;
    assert_eq!(listed.status, axum::http::StatusCode::OK, "{}", listed.body);
    assert!(!listed.body.contains("ct-1"), "{}", listed.body);
    let reveal = s
        .app
        .call(
            "reveal_credential",
            &[
                ("id", id.to_string().as_str()),
                ("service", "x"),
                ("key", "y"),
            ],
            Some(&session),
        )
        .await?;
    assert_eq!(
        reveal.status,
        axum::http::StatusCode::NOT_FOUND,
        "{}",
        reveal.body
    );
    let page = s
        .app
        .get(&format!("/containers/{id}"), Some(&session))
        .await?;
    assert_eq!(page.status, axum::http::StatusCode::NOT_FOUND);

    // The owner's own server-function call works and is the thin adapter over `act`.
    let owner = s.app.login("creator", crate::harness::PASSWORD).await?;
    let stopped = s
        .app
        .call_json(
            "container_action",
            &serde_json::json!({ "id": id, "action": "stop" }),
            Some(&owner),
        )
        .await?;
    assert_eq!(
        stopped.status,
        axum::http::StatusCode::OK,
        "{}",
        stopped.body
    );
    assert!(stopped.body.contains("\"ok\":true"), "{}", stopped.body);
    assert!(mallory.user_id != s.actor.user_id);
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_page_filters_in_the_url_pages_and_keeps_the_view() -> R {
    let (s, ids) = with_containers(0.0, 2).await?;
    for vmid in 500..530 {
        foreign(&s.lab, vmid).await?;
    }
    let session = s.app.login("creator", crate::harness::PASSWORD).await?;
    let get = async |path: &str, cookie: &str| -> R<crate::harness::Reply> {
        let req = axum::http::Request::get(path)
            .header(
                axum::http::header::COOKIE,
                format!("kiln_session={session}{cookie}"),
            )
            .body(axum::body::Body::empty())?;
        let reply = s.app.send_from([192, 0, 2, 1], req).await?;
        assert_eq!(reply.status, axum::http::StatusCode::OK, "{path}");
        Ok(reply)
    };
    let rows = |body: &str| body.matches("data-test=\"guest\"").count();

    // Everything: 32 containers, 24 a page, cards by default; the summary counts them all.
    let all = get("/containers", "").await?;
    if let Some(path) = std::env::var_os("KILN_DUMP_DASHBOARD") {
        std::fs::write(path, &all.body)?;
    }
    assert_eq!(rows(&all.body), kiln_shared::inventory::PAGE_SIZE);
    assert!(all.body.contains("class=\"guest-grid\""), "cards");
    // `<span data-summary="running" …>32</span>` (attributes in any order).
    let summary = all
        .body
        .split("data-summary=\"running\"")
        .nth(1)
        .and_then(|rest| rest.split_once('>'))
        .and_then(|(_, text)| text.split('<').next())
        .unwrap_or_default();
    assert_eq!(summary, "32", "the summary counts every row");
    assert!(all.body.contains("Page 1 of 2"));
    assert!(all.body.contains("not managed by Kiln"));
    let second = get("/containers?page=2", "").await?;
    assert_eq!(rows(&second.body), 32 - kiln_shared::inventory::PAGE_SIZE);

    // Filters from the URL: by text, by state, unmanaged hidden by a template filter.
    let one = get("/containers?q=ct-2", "").await?;
    assert_eq!(rows(&one.body), 1, "only ct-2");
    assert!(one.body.contains(&format!("data-id=\"{}\"", ids[1])));
    let plain = get("/containers?status=stopped", "").await?;
    assert!(
        plain.body.contains("data-test=\"no-match\""),
        "none stopped"
    );

    // The table, asked for in the URL, is remembered in a cookie for the next visit.
    let table = get("/containers?view=table", "").await?;
    assert!(table.body.contains("class=\"data guests\""), "table");
    let cookie = table
        .headers
        .get_all(axum::http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("kiln_view="))
        .ok_or("the view cookie")?
        .to_owned();
    assert!(cookie.starts_with("kiln_view=table;"), "{cookie}");
    let again = get("/containers", "; kiln_view=table").await?;
    assert!(again.body.contains("class=\"data guests\""), "kept");
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shutdown_that_does_not_finish_offers_stop_and_stop_then_works() -> R {
    let (s, ids) = with_containers(0.0, 1).await?;
    let id = ids[0];
    let vmid = vmid_of(&s, id).await?;
    // The node's shutdown task ends in an error, as PVE's does when the timeout passes.
    let mut faults = kiln_server::lab::Faults::default();
    faults.task_failures.insert(
        "vzshutdown".into(),
        "shutdown timeout: container still running".into(),
    );
    s.lab.handle.set_faults(faults);
    let done = s.service().act(&s.actor, id, Action::Shutdown).await?;
    assert!(!done.ok && done.offer_stop, "{done:?}");
    assert!(
        done.message.contains("did not shut down within 60 s")
            && done.message.contains("stop it instead?"),
        "{done:?}"
    );
    assert_eq!(power(&s.lab, vmid).await?, "running");
    s.lab.handle.set_faults(kiln_server::lab::Faults::default());
    let stopped = s.service().act(&s.actor, id, Action::Stop).await?;
    assert!(stopped.ok, "{stopped:?}");
    assert_eq!(power(&s.lab, vmid).await?, "stopped");
    let events = s.events(id).await?;
    assert!(
        events.iter().any(|e| e.phase == "shutdown"
            && e.kind == "outcome"
            && e.text.contains("stop it instead?")),
        "the failed shutdown is in the events"
    );
    s.finish().await
}
