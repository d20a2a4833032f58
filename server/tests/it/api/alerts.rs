//! `/api/v1/alerts`: the alerts page's overview, acknowledging (audited, idempotent, another
//! user's alert 404, a read-only token 403), the rules and the channels (never a channel's
//! whole URL nor a webhook's key).

use axum::http::{Method, StatusCode};
use kiln_app::ssr::AlertsBackend;
use kiln_server::alerts::AlertService;
use kiln_shared::alerts::{ChannelInput, ChannelKind};

use super::{call, expect_error, json, token_of};
use crate::alerts::{fire_unreachable, owner};
use crate::harness::{TestApp, TestResult};

#[tokio::test(flavor = "multi_thread")]
async fn alerts_are_listed_acknowledged_and_stay_their_owners() -> TestResult {
    let app = TestApp::new().await?;
    let ada = owner(&app, "ada").await?;
    let _bob = owner(&app, "bob").await?;
    let ada_token = token_of(&app, "ada", "ci", false).await?;
    let ada_read_only = token_of(&app, "ada", "ro", true).await?;
    let bob_token = token_of(&app, "bob", "ci", false).await?;
    let id = fire_unreachable(&app, &ada).await?;
    let ack = format!("/api/v1/alerts/{id}/acknowledge");

    for (method, path) in [
        (Method::GET, "/api/v1/alerts"),
        (Method::POST, ack.as_str()),
        (Method::GET, "/api/v1/alerts/rules"),
        (Method::GET, "/api/v1/alerts/channels"),
    ] {
        let reply = call(&app, method, path, None, None).await?;
        expect_error(&reply, 401, "unauthorized")?;
    }

    // The page's overview: Ada's alert is active; Bob has none.
    let reply = call(&app, Method::GET, "/api/v1/alerts", Some(&ada_token), None).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let overview = json(&reply)?;
    assert_eq!(overview["active"][0]["id"], id, "{overview}");
    assert_eq!(overview["active"][0]["kind"], "node_unreachable");
    assert!(overview["active"][0]["acknowledged_at"].is_null());
    assert!(overview["history"].is_array() && overview["troubled"].is_array());
    let reply = call(&app, Method::GET, "/api/v1/alerts", Some(&bob_token), None).await?;
    assert_eq!(json(&reply)?["active"], serde_json::json!([]));

    // Bob cannot acknowledge it, nor can a read-only token; Ada can, twice over.
    let reply = call(&app, Method::POST, &ack, Some(&bob_token), None).await?;
    expect_error(&reply, 404, "not_found")?;
    let reply = call(&app, Method::POST, &ack, Some(&ada_read_only), None).await?;
    expect_error(&reply, 403, "forbidden")?;
    let reply = call(
        &app,
        Method::POST,
        "/api/v1/alerts/999999/acknowledge",
        Some(&ada_token),
        None,
    )
    .await?;
    expect_error(&reply, 404, "not_found")?;
    let reply = call(&app, Method::POST, &ack, Some(&ada_token), None).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let acked = json(&reply)?;
    assert_eq!(acked["acknowledged_by"], "ada");
    assert!(acked["resolved_at"].is_null(), "still active");
    let first_ack = acked["acknowledged_at"].clone();
    let reply = call(&app, Method::POST, &ack, Some(&ada_token), None).await?;
    assert_eq!(
        json(&reply)?["acknowledged_at"],
        first_ack,
        "a second time changes nothing"
    );
    assert!(
        app.audit()
            .await?
            .iter()
            .any(|(action, _, who)| action == "alert.acknowledge" && who.as_deref() == Some("ada"))
    );
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn rules_and_channels_are_listed_without_their_secrets() -> TestResult {
    let app = TestApp::new().await?;
    let ada = owner(&app, "ada").await?;
    let _bob = owner(&app, "bob").await?;
    let ada_token = token_of(&app, "ada", "ci", false).await?;
    let bob_token = token_of(&app, "bob", "ci", false).await?;
    let created = AlertService::new(app.state.clone())
        .add_channel(
            &ada.actor,
            ChannelInput {
                name: "ops".into(),
                kind: ChannelKind::Webhook,
                url: "https://hooks.example.com/services/T000/B000/abcdefsecretpath".into(),
            },
        )
        .await?;
    let key = created.secret.ok_or("a webhook has a key")?;

    // The default rules, made on first read as on the page.
    let reply = call(
        &app,
        Method::GET,
        "/api/v1/alerts/rules",
        Some(&ada_token),
        None,
    )
    .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let rules = json(&reply)?;
    let kinds: Vec<&str> = rules
        .as_array()
        .ok_or("not a list")?
        .iter()
        .filter_map(|r| r["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"cpu") && kinds.contains(&"node_unreachable"),
        "{rules}"
    );
    assert!(rules[0]["scope"]["kind"].is_string(), "{rules}");

    // The channel as the settings page shows it: scheme and host, no path, no key.
    let reply = call(
        &app,
        Method::GET,
        "/api/v1/alerts/channels",
        Some(&ada_token),
        None,
    )
    .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let channels = json(&reply)?;
    assert_eq!(channels[0]["name"], "ops", "{channels}");
    assert_eq!(channels[0]["kind"], "webhook");
    assert_eq!(channels[0]["url_hint"], "https://hooks.example.com/…");
    assert!(!reply.body.contains("abcdefsecretpath"), "{}", reply.body);
    assert!(!reply.body.contains(&key), "{}", reply.body);

    // Bob's lists hold nothing of Ada's.
    let reply = call(
        &app,
        Method::GET,
        "/api/v1/alerts/channels",
        Some(&bob_token),
        None,
    )
    .await?;
    assert_eq!(json(&reply)?, serde_json::json!([]));
    let reply = call(
        &app,
        Method::GET,
        "/api/v1/alerts/rules",
        Some(&bob_token),
        None,
    )
    .await?;
    let bobs = json(&reply)?;
    let ada_ids: Vec<&serde_json::Value> = rules
        .as_array()
        .ok_or("rules")?
        .iter()
        .map(|r| &r["id"])
        .collect();
    assert!(
        bobs.as_array()
            .ok_or("rules")?
            .iter()
            .all(|r| !ada_ids.contains(&&r["id"])),
        "{bobs}"
    );
    app.cleanup().await
}
