//! A creation that fails on the lab fires "creation failed" once; its retry, ready, resolves
//! it — with the webhook told of both.

use kiln_app::ssr::AlertsBackend;
use kiln_server::alerts::AlertService;
use kiln_server::lab::{Faults, RuntimeKind};
use kiln_shared::alerts::{ChannelInput, ChannelKind};

use super::*;
use crate::containers::{request, setup};
use crate::lab_fixture::R;

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_creation_fires_once_and_its_successful_retry_resolves_it() -> R {
    let s = setup(RuntimeKind::Scratch).await?;
    let receiver = Receiver::start(&[]).await?;
    AlertService::new(s.app.state.clone())
        .add_channel(
            &s.actor,
            ChannelInput {
                name: "ops".into(),
                kind: ChannelKind::Webhook,
                url: receiver.url.clone(),
            },
        )
        .await?;
    let running = kiln_server::alerts::start_with(&s.app.state, instant(), fast_retries());
    let mut faults = Faults::default();
    faults.task_failures.insert(
        "vzstart".into(),
        "startup for container '100' failed".into(),
    );
    s.lab.handle.set_faults(faults);
    let created = s
        .service()
        .create(&s.actor, request(s.node_id, "flaky"))
        .await?;
    let row = s.settled(created.id, 30).await?;
    assert_eq!(row.status, "failed");
    let rows = alerts_until(&s.app, "fired", |r| !r.is_empty()).await?;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].kind, "job_failed");
    assert_eq!(rows[0].title, "Creating flaky failed");
    assert!(
        rows[0].detail.starts_with("failed in start:"),
        "{}",
        rows[0].detail
    );
    assert_eq!(rows[0].container_id, Some(created.id));
    let fired = receiver.wait_for(1).await?[0].json()?;
    assert_eq!(fired["event"], "fired");
    assert_eq!(fired["alert"]["kind"], "job_failed");

    s.lab.handle.set_faults(Faults::default());
    s.service().retry(&s.actor, created.id).await?;
    let row = s.settled(created.id, 30).await?;
    assert_eq!(row.status, "ready", "{:?}", row.error);
    let rows = alerts_until(&s.app, "resolved", |r| {
        r.iter().all(|a| a.resolved_at.is_some())
    })
    .await?;
    assert_eq!(rows.len(), 1);
    let resolved = receiver.wait_for(2).await?[1].json()?;
    assert_eq!(resolved["event"], "resolved");
    running.stop();
    s.finish().await
}
