//! The pages and server functions: render, badge, acknowledge, rules and channels with the
//! shared rules, audit — and another user, who sees nothing of it (404).

use reqwest::StatusCode;

use super::*;
use crate::harness::{TestApp, field_error};
use crate::lab_fixture::R;

#[tokio::test(flavor = "multi_thread")]
async fn the_pages_render_the_badge_counts_and_another_user_cannot_see_or_ack() -> R {
    let app = TestApp::new().await?;
    let ada = owner(&app, "ada").await?;
    let bob = owner(&app, "bob").await?;
    let id = fire_unreachable(&app, &ada).await?.to_string();

    let page = app.get("/alerts", Some(&ada.session)).await?;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Node pve1 is unreachable"));
    assert!(
        page.body.contains("data-count=\"1\""),
        "the badge counts it"
    );
    assert!(page.body.contains("data-test=\"ack\""));
    let settings = app.get("/alerts/settings", Some(&ada.session)).await?;
    assert_eq!(settings.status, StatusCode::OK);
    assert!(settings.body.contains("CPU ≥ 90 % for 5 min, everywhere"));
    assert!(
        settings
            .body
            .contains("Node unreachable for 1 min, everywhere")
    );

    // Bob: nothing on his page, 404 for Ada's alert.
    let page = app.get("/alerts", Some(&bob.session)).await?;
    assert!(!page.body.contains("Node pve1 is unreachable"));
    assert!(page.body.contains("data-count=\"0\""));
    let reply = app
        .call("acknowledge_alert", &[("id", &id)], Some(&bob.session))
        .await?;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    let reply = app.call("load_alerts", &[], Some(&bob.session)).await?;
    assert!(!reply.body.contains("unreachable"));

    // Ada acknowledges: still active, no longer counted.
    let reply = app
        .call("acknowledge_alert", &[("id", &id)], Some(&ada.session))
        .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let page = app.get("/alerts", Some(&ada.session)).await?;
    assert!(page.body.contains("acknowledged by ada"));
    assert!(page.body.contains("data-count=\"0\""));
    let reply = app
        .call("unacknowledged_alerts", &[], Some(&ada.session))
        .await?;
    assert_eq!(reply.body, "0");
    assert!(
        app.audit()
            .await?
            .iter()
            .any(|(action, _, who)| action == "alert.acknowledge" && who.as_deref() == Some("ada"))
    );
    app.cleanup().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn rules_and_channels_follow_the_shared_rules_are_audited_and_stay_their_owners() -> R {
    let app = TestApp::new().await?;
    let ada = owner(&app, "ada").await?;
    let bob = owner(&app, "bob").await?;
    let s = Some(ada.session.as_str());
    let node = ada.node_id.to_string();
    let bobs_node = format!("node:{}", bob.node_id);

    // Out of bounds, not numbers, someone else's node: 422 by field.
    let bad = app
        .call(
            "save_alert_rule",
            &[("kind", "cpu"), ("threshold", "0"), ("minutes", "1441")],
            s,
        )
        .await?;
    assert!(field_error(&bad, "threshold")?.contains("1 to 100"));
    assert!(field_error(&bad, "minutes")?.contains("1 to 1440"));
    let bad = app
        .call(
            "save_alert_rule",
            &[("kind", "disk"), ("threshold", "x"), ("minutes", "5")],
            s,
        )
        .await?;
    assert!(field_error(&bad, "threshold")?.contains("whole number"));
    let bad = app
        .call(
            "save_alert_rule",
            &[("kind", "node_unreachable"), ("scope", &bobs_node)],
            s,
        )
        .await?;
    assert!(field_error(&bad, "scope")?.contains("your nodes"));

    // A good one, scoped to her node; then changed; Bob cannot delete it.
    let scope = format!("node:{node}");
    let reply = app
        .call(
            "save_alert_rule",
            &[
                ("kind", "memory"),
                ("enabled", "on"),
                ("threshold", "80"),
                ("minutes", "10"),
                ("scope", &scope),
            ],
            s,
        )
        .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let rule: kiln_shared::alerts::Rule = serde_json::from_str(&reply.body)?;
    assert_eq!(rule.summary(), "Memory ≥ 80 % for 10 min on pve-ada");
    let rid = rule.id.to_string();
    let reply = app
        .call(
            "save_alert_rule",
            &[
                ("id", &rid),
                ("kind", "memory"),
                ("threshold", "85"),
                ("minutes", "10"),
            ],
            s,
        )
        .await?;
    let rule: kiln_shared::alerts::Rule = serde_json::from_str(&reply.body)?;
    assert!(!rule.enabled, "unchecked is off");
    assert_eq!(rule.threshold, Some(85));
    let reply = app
        .call("delete_alert_rule", &[("id", &rid)], Some(&bob.session))
        .await?;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let reply = app.call("delete_alert_rule", &[("id", &rid)], s).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    // Channels: http(s) only, a name; the secret comes once; Bob gets 404 everywhere.
    let bad = app
        .call(
            "add_alert_channel",
            &[
                ("name", ""),
                ("kind", "webhook"),
                ("url", "ftp://example.com/x"),
            ],
            s,
        )
        .await?;
    assert!(field_error(&bad, "url")?.contains("http"));
    assert!(field_error(&bad, "name")?.contains("1 to 64"));
    let reply = app
        .call(
            "add_alert_channel",
            &[
                ("name", "ops"),
                ("kind", "webhook"),
                ("url", "https://hooks.example.com/kiln/abcdef0123"),
            ],
            s,
        )
        .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let created: kiln_shared::alerts::ChannelCreated = serde_json::from_str(&reply.body)?;
    let secret = created.secret.clone().ok_or("secret")?;
    assert_eq!(created.channel.url_hint, "https://hooks.example.com/…");
    let cid = created.channel.id.to_string();
    let again = app
        .call(
            "add_alert_channel",
            &[
                ("name", "ops"),
                ("kind", "ntfy"),
                ("url", "https://ntfy.sh/x"),
            ],
            s,
        )
        .await?;
    assert!(field_error(&again, "name")?.contains("already"));
    for (name, args) in [
        ("delete_alert_channel", vec![("id", cid.as_str())]),
        ("test_alert_channel", vec![("id", cid.as_str())]),
        (
            "set_alert_channel_enabled",
            vec![("id", cid.as_str()), ("enabled", "false")],
        ),
    ] {
        let reply = app.call(name, &args, Some(&bob.session)).await?;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{name}: {}",
            reply.body
        );
    }
    let settings = app.call("load_alert_settings", &[], s).await?;
    assert!(!settings.body.contains(&secret), "the secret is shown once");
    assert!(
        !settings.body.contains("abcdef0123"),
        "the URL's path is not shown"
    );
    let page = app.get("/alerts/settings", s).await?;
    assert!(page.body.contains("data-channel=\"ops\""));
    assert!(!page.body.contains(&secret) && !page.body.contains("abcdef0123"));
    let reply = app
        .call(
            "set_alert_channel_enabled",
            &[("id", &cid), ("enabled", "false")],
            s,
        )
        .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let reply = app.call("delete_alert_channel", &[("id", &cid)], s).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    let actions: Vec<String> = app
        .audit()
        .await?
        .into_iter()
        .filter(|(_, _, who)| who.as_deref() == Some("ada"))
        .map(|(action, _, _)| action)
        .collect();
    for expected in [
        "alert.rule.add",
        "alert.rule.update",
        "alert.rule.delete",
        "alert.channel.add",
        "alert.channel.disable",
        "alert.channel.delete",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected}: {actions:?}"
        );
    }
    app.cleanup().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plain_form_post_comes_back_with_a_notice() -> R {
    let app = TestApp::new().await?;
    let ada = owner(&app, "ada").await?;
    let req = axum::http::Request::post("/api/fn/add_alert_channel")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "text/html")
        .header("referer", "http://localhost/alerts/settings?error=invalid")
        .header("sec-fetch-site", "same-origin")
        .header("cookie", format!("kiln_session={}", ada.session))
        .body(axum::body::Body::from(
            "name=phone&kind=ntfy&url=https%3A%2F%2Fntfy.sh%2Fkiln-test",
        ))?;
    let reply = app.send_from([192, 0, 2, 1], req).await?;
    assert!(reply.status.is_redirection(), "{}", reply.status);
    assert_eq!(
        reply.location(),
        Some("/alerts/settings?notice=channel_added")
    );
    let page = app
        .get("/alerts/settings?notice=channel_added", Some(&ada.session))
        .await?;
    assert!(page.body.contains("Channel added."));
    app.cleanup().await?;
    Ok(())
}
