//! Deliveries to local receivers: a signed webhook retried after 500s with backoff, the
//! bodies of ntfy, Discord and Slack, *Send test*, giving up — and no URL or secret where it
//! does not belong.

use chrono::Utc;
use kiln_app::ssr::AlertsBackend;
use kiln_server::alerts::AlertService;
use kiln_server::alerts::delivery::signature;
use kiln_shared::alerts::{ChannelInput, ChannelKind, DeliveryState};

use super::*;
use crate::harness::TestApp;
use crate::lab_fixture::R;

fn channel(name: &str, kind: ChannelKind, url: &str) -> ChannelInput {
    ChannelInput {
        name: name.into(),
        kind,
        url: url.into(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_is_signed_and_a_500_is_retried_with_backoff_until_it_gets_through() -> R {
    let app = TestApp::new().await?;
    let o = owner(&app, "ada").await?;
    let receiver = Receiver::start(&[500, 500]).await?;
    let service = AlertService::new(app.state.clone());
    let created = service
        .add_channel(
            &o.actor,
            channel("ops", ChannelKind::Webhook, &receiver.url),
        )
        .await?;
    let secret = created.secret.ok_or("a webhook gets a secret")?;
    assert_eq!(secret.len(), 64, "32 random bytes in hex");
    let authority = receiver
        .url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default();
    assert_eq!(created.channel.url_hint, format!("http://{authority}/…"));

    let running = kiln_server::alerts::start_with(&app.state, instant(), fast_retries());
    let now = Utc::now();
    app.state
        .observations
        .publish(unreachable(&o, now, now - chrono::Duration::seconds(120)));
    let got = receiver.wait_for(3).await?;
    // Three attempts of one delivery, 200 ms then 400 ms apart at least.
    let ids: Vec<i64> = got
        .iter()
        .map(|g| {
            g.json()
                .map(|b| b["delivery_id"].as_i64().unwrap_or_default())
        })
        .collect::<R<_>>()?;
    assert!(ids.iter().all(|id| *id == ids[0] && *id > 0), "{ids:?}");
    assert!(got[1].at - got[0].at >= std::time::Duration::from_millis(190));
    assert!(got[2].at - got[1].at >= std::time::Duration::from_millis(390));
    for g in &got {
        let expected = signature(secret.as_bytes(), &g.body);
        assert_eq!(g.header("x-kiln-signature"), Some(expected.as_str()));
        assert_eq!(g.header("x-kiln-event"), Some("fired"));
        assert_eq!(g.header("content-type"), Some("application/json"));
    }
    let body = got[2].json()?;
    assert_eq!(body["event"], "fired");
    assert_eq!(body["alert"]["kind"], "node_unreachable");
    assert_eq!(body["alert"]["title"], "Node pve1 is unreachable");
    // A tampered body does not verify.
    let mut tampered = got[2].body.clone();
    tampered.push(b' ');
    assert_ne!(
        Some(signature(secret.as_bytes(), &tampered).as_str()),
        got[2].header("x-kiln-signature")
    );
    // Recorded as sent after three attempts; the resolution is delivered too.
    let overview = service.overview(&o.actor).await?;
    assert!(overview.troubled.is_empty(), "{:?}", overview.troubled);
    app.state
        .observations
        .publish(seen(&o, now + chrono::Duration::seconds(10), Vec::new()));
    let got = receiver.wait_for(4).await?;
    assert_eq!(got[3].json()?["event"], "resolved");
    assert_eq!(got[3].header("x-kiln-event"), Some("resolved"));
    let settings = service.settings(&o.actor).await?;
    let last = settings.channels[0].last.clone().ok_or("last delivery")?;
    assert_eq!(last.state, DeliveryState::Sent);
    running.stop();
    app.cleanup().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn ntfy_discord_and_slack_get_their_own_shapes_and_a_test_says_how_it_went() -> R {
    let app = TestApp::new().await?;
    let o = owner(&app, "ada").await?;
    let service = AlertService::new(app.state.clone());
    let ntfy = Receiver::start(&[]).await?;
    let discord = Receiver::start(&[]).await?;
    let slack = Receiver::start(&[]).await?;
    let mut ids = Vec::new();
    for (name, kind, r) in [
        ("phone", ChannelKind::Ntfy, &ntfy),
        ("discord", ChannelKind::Discord, &discord),
        ("slack", ChannelKind::Slack, &slack),
    ] {
        let created = service
            .add_channel(&o.actor, channel(name, kind, &r.url))
            .await?;
        assert!(created.secret.is_none(), "only webhooks are signed");
        ids.push(created.channel.id);
    }
    for id in &ids {
        let d = service.test_channel(&o.actor, *id).await?;
        assert_eq!(d.state, DeliveryState::Sent, "{d:?}");
        assert_eq!(d.event, "test");
    }
    let n = &ntfy.wait_for(1).await?[0];
    assert_eq!(n.header("title"), Some("Kiln test message"));
    assert_eq!(n.header("priority"), Some("2"));
    assert_eq!(n.header("tags"), Some("test_tube,kiln,test"));
    assert!(String::from_utf8_lossy(&n.body).contains("This channel works"));
    let d = discord.wait_for(1).await?[0].json()?;
    assert!(
        d["content"]
            .as_str()
            .is_some_and(|c| c.contains("Kiln test message"))
    );
    assert_eq!(d["embeds"][0]["title"], "Kiln test message");
    assert!(d["embeds"][0]["color"].is_number());
    assert_eq!(d["allowed_mentions"]["parse"], serde_json::json!([]));
    let s = slack.wait_for(1).await?[0].json()?;
    assert!(
        s["text"]
            .as_str()
            .is_some_and(|t| t.contains("Kiln test message"))
    );
    assert_eq!(s["blocks"][0]["type"], "section");
    assert_eq!(s["blocks"][0]["text"]["type"], "mrkdwn");

    // A real alert on ntfy: high priority, the title and the kind in the tags.
    let running = kiln_server::alerts::start_with(&app.state, instant(), fast_retries());
    let now = Utc::now();
    app.state
        .observations
        .publish(unreachable(&o, now, now - chrono::Duration::seconds(120)));
    let n = ntfy.wait_for(2).await?[1].clone();
    assert_eq!(n.header("title"), Some("Node pve1 is unreachable"));
    assert_eq!(n.header("priority"), Some("4"));
    assert_eq!(
        n.header("tags"),
        Some("rotating_light,kiln,node_unreachable")
    );
    let d = discord.wait_for(2).await?[1].json()?;
    assert_eq!(d["embeds"][0]["title"], "Node pve1 is unreachable");
    running.stop();
    app.cleanup().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_that_keeps_failing_is_given_up_and_shown_without_its_url() -> R {
    let app = TestApp::new().await?;
    let o = owner(&app, "ada").await?;
    let service = AlertService::new(app.state.clone());
    let receiver = Receiver::start(&[500; 10]).await?;
    let created = service
        .add_channel(
            &o.actor,
            channel("flaky", ChannelKind::Slack, &receiver.url),
        )
        .await?;
    // Send test: failed at once, with why.
    let d = service.test_channel(&o.actor, created.channel.id).await?;
    assert_eq!(d.state, DeliveryState::Failed);
    assert_eq!(d.attempts, 1);
    assert_eq!(
        d.last_error.as_deref(),
        Some("the receiver answered HTTP 500 Internal Server Error")
    );
    // A channel nobody listens on: "could not connect", never the URL.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.local_addr()?.port()
    };
    let gone = service
        .add_channel(
            &o.actor,
            channel(
                "gone",
                ChannelKind::Discord,
                &format!("http://127.0.0.1:{closed}/token-xyz"),
            ),
        )
        .await?;
    let d = service.test_channel(&o.actor, gone.channel.id).await?;
    assert_eq!(d.last_error.as_deref(), Some("could not connect"));

    let running = kiln_server::alerts::start_with(&app.state, instant(), fast_retries());
    let now = Utc::now();
    app.state
        .observations
        .publish(unreachable(&o, now, now - chrono::Duration::seconds(120)));
    // 4 attempts (fast_retries), then given up; the page lists it.
    receiver.wait_for(1 + 4).await?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let troubled = loop {
        let overview = service.overview(&o.actor).await?;
        let failed: Vec<_> = overview
            .troubled
            .into_iter()
            .filter(|d| d.state == DeliveryState::Failed && d.event == "fired")
            .collect();
        if failed.len() == 2 {
            break failed;
        }
        if std::time::Instant::now() > deadline {
            return Err("the deliveries were not given up".into());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(troubled.iter().all(|d| d.attempts == 4), "{troubled:?}");
    let page = app.get("/alerts", Some(&o.session)).await?;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Notifications not delivered"));
    assert!(page.body.contains("the receiver answered HTTP 500"));
    // The URLs' paths (their tokens) are nowhere: pages, audit log.
    let settings = app.get("/alerts/settings", Some(&o.session)).await?;
    for text in [&page.body, &settings.body] {
        assert!(!text.contains("s3cr3t-path-token") && !text.contains("token-xyz"));
    }
    let mut conn = app.state.db.get().await?;
    for entry in kiln_server::db::audit::recent(&mut conn, 100).await? {
        let detail = entry.detail.to_string();
        assert!(
            !detail.contains("s3cr3t") && !detail.contains("token-xyz"),
            "{detail}"
        );
    }
    drop(conn);
    running.stop();
    app.cleanup().await?;
    Ok(())
}
