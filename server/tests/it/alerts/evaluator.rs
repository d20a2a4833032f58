//! The evaluator over the database: defaults, hysteresis, restarts, Kiln's own stops.

use std::time::Duration;

use chrono::Utc;
use kiln_server::containers::lock::GuestLocks;
use kiln_server::db::containers::{self as rows, NewContainer};
use kiln_shared::alerts::RuleKind;

use super::*;
use crate::harness::TestApp;
use crate::lab_fixture::R;

fn cpu(vmid: u32, load: f64) -> GuestSeen {
    GuestSeen {
        cpu: Some(load),
        ..guest(vmid, "running", Some("running"))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_threshold_fires_once_after_its_minutes_resolves_once_and_a_restart_does_not_fire_again()
-> R {
    let app = TestApp::new().await?;
    let o = owner(&app, "ada").await?;
    let mut ev = evaluator(&app);
    let t0 = Utc::now();
    let at = |secs: i64| t0 + chrono::Duration::seconds(secs);
    // The defaults: CPU at 90 % for 5 minutes.
    for secs in (0..300).step_by(10) {
        ev.observe(&seen(&o, at(secs), vec![cpu(101, 0.95)]))
            .await?;
    }
    assert!(alerts(&app).await?.is_empty(), "fired before 5 minutes");
    for secs in (300..600).step_by(10) {
        ev.observe(&seen(&o, at(secs), vec![cpu(101, 0.95)]))
            .await?;
    }
    let rows = alerts(&app).await?;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].kind, "cpu");
    assert_eq!(rows[0].subject, format!("guest:{}:101", o.node_id));
    assert!(rows[0].resolved_at.is_none());

    // A restart: new clocks, the open alert in the database. Still high: nothing new.
    let mut ev = evaluator(&app);
    for secs in (600..1200).step_by(10) {
        ev.observe(&seen(&o, at(secs), vec![cpu(101, 0.95)]))
            .await?;
    }
    assert_eq!(alerts(&app).await?.len(), 1);
    // Hovering between the margin and the threshold: it stays open.
    for secs in (1200..1300).step_by(10) {
        let load = if secs % 20 == 0 { 0.87 } else { 0.91 };
        ev.observe(&seen(&o, at(secs), vec![cpu(101, load)]))
            .await?;
    }
    assert!(alerts(&app).await?[0].resolved_at.is_none());
    // Below the margin: resolved, once.
    for secs in (1300..1400).step_by(10) {
        ev.observe(&seen(&o, at(secs), vec![cpu(101, 0.2)])).await?;
    }
    let rows = alerts(&app).await?;
    assert_eq!(rows.len(), 1);
    assert!(rows[0].resolved_at.is_some());
    // Hovering around the threshold for half an hour fires nothing.
    for secs in (1400..3200).step_by(10) {
        let load = if secs % 30 == 0 { 0.88 } else { 0.93 };
        ev.observe(&seen(&o, at(secs), vec![cpu(101, load)]))
            .await?;
    }
    assert_eq!(alerts(&app).await?.len(), 1);
    app.cleanup().await?;
    Ok(())
}

/// A Kiln container row of `o`'s node.
async fn container(app: &TestApp, o: &Owner, name: &str, vmid: i32) -> R<i64> {
    let mut conn = app.state.db.get().await?;
    Ok(rows::insert(
        &mut conn,
        &NewContainer {
            node_id: o.node_id,
            template_id: None,
            hostname: name,
            owner_id: Some(o.actor.user_id),
            kind: "lxc",
            template_slug: None,
            template_hash: None,
            status: "ready",
            request: &serde_json::json!({}),
            vmid: Some(vmid),
            test_run: false,
            keep_after_test: false,
        },
    )
    .await?)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_container_down_alarms_only_without_a_kiln_action_or_a_pve_lock() -> R {
    let app = TestApp::new().await?;
    let o = owner(&app, "ada").await?;
    let crashed = container(&app, &o, "crashed", 101).await?;
    let locked = container(&app, &o, "stopping", 102).await?;
    let asked = container(&app, &o, "asked", 103).await?;
    // A stop in progress holds the lock; another was asked a minute ago (its lock is gone).
    let held = GuestLocks::new(&app.state)
        .acquire(locked, "stop", "ada")
        .await
        .map_err(|e| e.to_string())?;
    {
        let mut conn = app.state.db.get().await?;
        rows::append_event(&mut conn, asked, "stop", "action", "Stop asked by ada").await?;
    }
    let managed = |vmid: u32, id: i64| GuestSeen {
        container_id: Some(id),
        ..guest(vmid, "stopped", Some("running"))
    };
    let backup = GuestSeen {
        lock: Some("backup".into()),
        ..guest(104, "stopped", Some("running"))
    };
    let t0 = Utc::now();
    let mut ev = evaluator(&app);
    ev.observe(&seen(
        &o,
        t0,
        vec![
            managed(101, crashed),
            managed(102, locked),
            managed(103, asked),
            backup,
            guest(105, "stopped", Some("running")),
            guest(106, "stopped", None),
        ],
    ))
    .await?;
    held.release().await;
    let rows = alerts(&app).await?;
    let titles: Vec<&str> = rows.iter().map(|r| r.title.as_str()).collect();
    assert_eq!(
        titles,
        vec![
            "CT 101 (ct101) on pve1 is down",
            "CT 105 (ct105) on pve1 is down"
        ],
        "only the crash and the unmanaged guest's stop alarm"
    );
    assert_eq!(rows[0].container_id, Some(crashed));
    assert_eq!(rows[0].kind, RuleKind::ContainerDown.as_str());
    // Still stopped: nothing more. Running again: both resolve.
    let still = vec![
        GuestSeen {
            container_id: Some(crashed),
            ..guest(101, "stopped", Some("stopped"))
        },
        guest(105, "stopped", Some("stopped")),
    ];
    ev.observe(&seen(&o, t0 + chrono::Duration::seconds(10), still))
        .await?;
    assert_eq!(alerts(&app).await?.len(), 2);
    let running = vec![
        GuestSeen {
            container_id: Some(crashed),
            ..guest(101, "running", Some("stopped"))
        },
        guest(105, "running", Some("stopped")),
    ];
    ev.observe(&seen(&o, t0 + chrono::Duration::seconds(20), running))
        .await?;
    let rows = alerts(&app).await?;
    assert!(rows.iter().all(|r| r.resolved_at.is_some()), "{rows:?}");
    app.cleanup().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn published_observations_reach_the_running_evaluator_another_owner_is_untouched() -> R {
    let app = TestApp::new().await?;
    let ada = owner(&app, "ada").await?;
    let bob = owner(&app, "bob").await?;
    let running = kiln_server::alerts::start_with(&app.state, instant(), fast_retries());
    let now = Utc::now();
    // Ada's node has not answered for two minutes (her rule: one minute).
    app.state
        .observations
        .publish(unreachable(&ada, now, now - chrono::Duration::seconds(120)));
    let rows = alerts_until(&app, "fired", |r| !r.is_empty()).await?;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].owner_id, ada.actor.user_id);
    assert_eq!(rows[0].title, "Node pve1 is unreachable");
    // Again: still one. Bob's node answers: nothing for him.
    app.state.observations.publish(unreachable(
        &ada,
        now + chrono::Duration::seconds(10),
        now - chrono::Duration::seconds(120),
    ));
    app.state
        .observations
        .publish(seen(&bob, now + chrono::Duration::seconds(10), Vec::new()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(alerts(&app).await?.len(), 1);
    // Back: resolved, once.
    app.state
        .observations
        .publish(seen(&ada, now + chrono::Duration::seconds(20), Vec::new()));
    let rows = alerts_until(&app, "resolved", |r| {
        r.iter().all(|a| a.resolved_at.is_some())
    })
    .await?;
    assert_eq!(rows.len(), 1);
    running.stop();
    app.cleanup().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rule_or_node_that_goes_leaves_no_alert_open_for_ever() -> R {
    use diesel_async::RunQueryDsl;
    use kiln_app::ssr::AlertsBackend;
    use kiln_shared::alerts::{RuleInput, Scope};
    let app = TestApp::new().await?;
    let o = owner(&app, "ada").await?;
    let ct = container(&app, &o, "web", 101).await?;
    let service = kiln_server::alerts::AlertService::new(app.state.clone());
    let scoped = service
        .save_rule(
            &o.actor,
            None,
            RuleInput {
                kind: RuleKind::ContainerDown,
                enabled: true,
                threshold: None,
                minutes: None,
                scope: Scope::Container(ct),
            },
        )
        .await?;
    let down = GuestSeen {
        container_id: Some(ct),
        ..guest(101, "stopped", Some("running"))
    };
    let now = Utc::now();
    let mut ev = evaluator(&app);
    ev.observe(&unreachable(&o, now, now - chrono::Duration::seconds(120)))
        .await?;
    ev.observe(&seen(&o, now, vec![down])).await?;
    let rows = alerts(&app).await?;
    // The node's, the default container-down rule's, and the scoped rule's.
    assert_eq!(rows.len(), 3, "{rows:?}");
    service.delete_rule(&o.actor, scoped.id).await?;
    let rows = alerts(&app).await?;
    let of_scoped: Vec<_> = rows.iter().filter(|r| r.rule_id.is_none()).collect();
    assert_eq!(of_scoped.len(), 1);
    assert!(of_scoped[0].resolved_at.is_some(), "closed with its rule");
    // The node goes: its alerts go with it.
    let mut conn = app.state.db.get().await?;
    diesel::sql_query(format!("DELETE FROM containers WHERE id = {ct}"))
        .execute(&mut conn)
        .await?;
    diesel::sql_query(format!("DELETE FROM nodes WHERE id = {}", o.node_id))
        .execute(&mut conn)
        .await?;
    drop(conn);
    assert!(alerts(&app).await?.is_empty());
    assert_eq!(service.unacknowledged(&o.actor).await?, 0);
    app.cleanup().await?;
    Ok(())
}
