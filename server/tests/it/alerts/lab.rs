//! A lab node that stops answering (the lab's `unreachable` fault) and comes back: the alert
//! fires once and resolves once, and the webhook hears of each once.
//!
//! Until the monitor is on `main`, `poll` below stands in for it: the same `/cluster/resources`
//! call, published as an [`Observation`] the way the monitor publishes its polls.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use kiln_app::ssr::AlertsBackend;
use kiln_server::alerts::AlertService;
use kiln_server::lab::RuntimeKind;
use kiln_server::monitor::{GuestKind, GuestSeen, Observation, Seen};
use kiln_server::proxmox::ProxmoxApi;
use kiln_shared::alerts::{ChannelInput, ChannelKind, RuleInput, RuleKind};

use super::*;
use crate::containers::{Setup, setup_paused};
use crate::lab_fixture::R;

/// What the monitor remembers between two polls of the node.
#[derive(Default)]
struct Polls {
    was: HashMap<u32, String>,
    unreachable_since: Option<DateTime<Utc>>,
}

/// One poll of the lab node, published.
async fn poll(s: &Setup, polls: &mut Polls) -> R {
    let at = Utc::now();
    let seen = match s.lab.client()?.cluster_resources().await {
        Ok(resources) => {
            polls.unreachable_since = None;
            let guests = resources
                .into_iter()
                .filter(|r| r.kind == "lxc")
                .filter_map(|r| {
                    let vmid = r.vmid?;
                    let status = r.status.clone().unwrap_or_default();
                    let was = polls.was.insert(vmid, status.clone());
                    Some(GuestSeen {
                        vmid,
                        kind: Some(GuestKind::Lxc),
                        name: r.name,
                        member: r.node,
                        status,
                        was,
                        lock: r.lock,
                        ..GuestSeen::default()
                    })
                })
                .collect();
            Ok(Seen {
                guests,
                members: Vec::new(),
            })
        }
        Err(e) => {
            polls.unreachable_since.get_or_insert(at);
            Err(e.to_string())
        }
    };
    s.app.state.observations.publish(Observation {
        node_id: s.node_id,
        owner_id: s.actor.user_id,
        node_name: "lab".into(),
        at,
        seen,
        unreachable_since: polls.unreachable_since,
    });
    Ok(())
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
    let mut polls = Polls::default();
    for _ in 0..3 {
        poll(&s, &mut polls).await?;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(alerts(&s.app).await?.is_empty());

    s.lab.handle.set_unreachable(true);
    for _ in 0..3 {
        poll(&s, &mut polls).await?;
    }
    let rows = alerts_until(&s.app, "fired", |r| !r.is_empty()).await?;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].title, "Node lab is unreachable");

    s.lab.handle.set_unreachable(false);
    for _ in 0..3 {
        poll(&s, &mut polls).await?;
    }
    let rows = alerts_until(&s.app, "resolved", |r| {
        r.iter().all(|a| a.resolved_at.is_some())
    })
    .await?;
    assert_eq!(rows.len(), 1, "fired once, resolved once: {rows:?}");
    let got = receiver.wait_for(2).await?;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
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
