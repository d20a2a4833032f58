//! A lab node that stops answering (the lab's `unreachable` fault) and comes back, polled
//! by the monitor: the alert fires once and resolves once, and the webhook hears of each once.
//! A container stopped on the node behind Kiln's back is "down"; one Kiln stops is not.

use std::time::Duration;

use kiln_app::ssr::AlertsBackend;
use kiln_server::alerts::AlertService;
use kiln_server::lab::RuntimeKind;
use kiln_server::monitor::{Monitor, MonitorOptions, Retention};
use kiln_shared::alerts::{ChannelInput, ChannelKind, RuleInput, RuleKind};

use super::*;
use crate::containers::setup_paused;
use crate::lab_fixture::R;

fn monitor_options() -> MonitorOptions {
    MonitorOptions {
        interval: Duration::from_millis(200),
        timeout: Duration::from_secs(3),
        maintain_every: Duration::from_secs(3_600),
        retention: Retention::default(),
        backfill: false,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lab_node_unreachable_fires_once_and_back_resolves_once() -> R {
    let s = setup_paused(RuntimeKind::Scratch).await?;
    let service = AlertService::new(s.app.state.clone());
    let receiver = Receiver::start(&[]).await?;
    service
        .add_channel(
            &s.actor,
            ChannelInput {
                name: "ops".into(),
                kind: ChannelKind::Webhook,
                url: receiver.url.clone(),
            },
        )
        .await?;
    // The default waits a minute; at once here.
    let settings = service.settings(&s.actor).await?;
    let rule = settings
        .rules
        .iter()
        .find(|r| r.kind == RuleKind::NodeUnreachable)
        .ok_or("the default node rule")?;
    service
        .save_rule(
            &s.actor,
            Some(rule.id),
            RuleInput {
                kind: RuleKind::NodeUnreachable,
                enabled: true,
                threshold: None,
                minutes: None,
                scope: rule.scope,
            },
        )
        .await?;
    let running = kiln_server::alerts::start_with(&s.app.state, instant(), fast_retries());
    let monitor = Monitor::new(s.app.state.clone(), monitor_options());
    for _ in 0..3 {
        monitor.poll_all().await?;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(alerts(&s.app).await?.is_empty());

    s.lab.handle.set_unreachable(true);
    for _ in 0..3 {
        assert!(monitor.poll_all().await?[0].seen.is_err());
    }
    let rows = alerts_until(&s.app, "fired", |r| !r.is_empty()).await?;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].title, "Node lab is unreachable");

    s.lab.handle.set_unreachable(false);
    for _ in 0..3 {
        assert!(monitor.poll_all().await?[0].seen.is_ok());
    }
    let rows = alerts_until(&s.app, "resolved", |r| {
        r.iter().all(|a| a.resolved_at.is_some())
    })
    .await?;
    assert_eq!(rows.len(), 1, "fired once, resolved once: {rows:?}");
    let got = receiver.wait_for(2).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = if receiver.got().len() > got.len() {
        receiver.got()
    } else {
        got
    };
    let events: Vec<String> = got
        .iter()
        .map(|g| {
            g.json()
                .map(|b| b["event"].as_str().unwrap_or_default().to_owned())
        })
        .collect::<R<_>>()?;
    assert_eq!(events, vec!["fired", "resolved"]);
    running.stop();
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_container_stopped_behind_kilns_back_is_down_and_one_kiln_stops_is_not() -> R {
    use kiln_server::proxmox::ProxmoxApi;
    use kiln_shared::inventory::Action;
    let s = crate::containers::setup(RuntimeKind::Scratch).await?;
    let created = s
        .service()
        .create(&s.actor, crate::containers::request(s.node_id, "web"))
        .await?;
    let row = s.settled(created.id, 60).await?;
    assert_eq!(row.status, "ready", "{:?}", row.error);
    // A container Kiln does not manage, running.
    let client = s.lab.client()?;
    let upid = client
        .lxc_create(s.lab.node(), &crate::lab_fixture::container(120))
        .await?;
    kiln_server::proxmox::tasks::wait_task(&client, &upid, Duration::from_secs(30)).await?;
    let upid = client.lxc_start(s.lab.node(), 120).await?;
    kiln_server::proxmox::tasks::wait_task(&client, &upid, Duration::from_secs(30)).await?;

    let running = kiln_server::alerts::start_with(&s.app.state, instant(), fast_retries());
    let monitor = Monitor::new(s.app.state.clone(), monitor_options());
    monitor.poll_all().await?;
    monitor.poll_all().await?;
    // Kiln stops its own; someone stops the other on the node.
    s.service().act(&s.actor, created.id, Action::Stop).await?;
    let upid = client.lxc_stop(s.lab.node(), 120).await?;
    kiln_server::proxmox::tasks::wait_task(&client, &upid, Duration::from_secs(30)).await?;
    let seen = monitor.poll_all().await?;
    let guests = &seen[0].seen.as_ref().map_err(Clone::clone)?.guests;
    assert!(
        guests
            .iter()
            .all(|g| g.status == "stopped" && g.was.as_deref() == Some("running")),
        "{guests:?}"
    );
    let rows = alerts_until(&s.app, "fired", |r| !r.is_empty()).await?;
    monitor.poll_all().await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rows = if alerts(&s.app).await?.len() > rows.len() {
        alerts(&s.app).await?
    } else {
        rows
    };
    assert_eq!(rows.len(), 1, "only the stop behind Kiln's back: {rows:?}");
    assert_eq!(rows[0].kind, "container_down");
    assert_eq!(rows[0].subject, format!("guest:{}:120", s.node_id));
    assert_eq!(rows[0].container_id, None);
    running.stop();
    s.finish().await
}
