//! `/api/v1/nodes`: the caller's nodes by cursor page, one node, its health — a node that
//! does not answer is a 200 with its state; another user's node is 404; no answer carries a
//! credential.

use axum::http::{Method, StatusCode};
use kiln_app::ssr::NodesBackend;
use kiln_server::nodes::NodeService;
use kiln_shared::nodes::NodeInput;

use super::{actor, call, expect_error, json, user_with_token};
use crate::harness::{TestApp, TestResult};

#[tokio::test(flavor = "multi_thread")]
async fn nodes_are_paged_private_and_answer_with_their_health() -> TestResult {
    let app = TestApp::new().await?;
    let ada = user_with_token(&app, "ada", false).await?;
    let bob = user_with_token(&app, "bob", false).await?;
    let ada_id = actor(&app, "ada").await?.user_id;
    // Rows with no Proxmox behind them (and no usable credentials): offline nodes.
    let first = app.insert_node(ada_id, "pve-a").await?;
    let second = app.insert_node(ada_id, "pve-b").await?;

    for path in [
        "/api/v1/nodes".to_owned(),
        format!("/api/v1/nodes/{first}"),
        format!("/api/v1/nodes/{first}/health"),
    ] {
        let reply = call(&app, Method::GET, &path, None, None).await?;
        expect_error(&reply, 401, "unauthorized")?;
    }

    // The list, a page at a time, by id.
    let reply = call(&app, Method::GET, "/api/v1/nodes?limit=1", Some(&ada), None).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let page = json(&reply)?;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");
    assert_eq!(page["items"][0]["node"]["id"], first);
    assert_eq!(page["items"][0]["node"]["name"], "pve-a");
    assert_eq!(page["items"][0]["health"]["online"], false);
    let cursor = page["next_cursor"].as_str().ok_or("no next cursor")?;
    let reply = call(
        &app,
        Method::GET,
        &format!("/api/v1/nodes?limit=1&cursor={cursor}"),
        Some(&ada),
        None,
    )
    .await?;
    let page = json(&reply)?;
    assert_eq!(page["items"][0]["node"]["id"], second, "{page}");
    assert!(page.get("next_cursor").is_none(), "{page}");
    let reply = call(&app, Method::GET, "/api/v1/nodes?limit=0", Some(&ada), None).await?;
    expect_error(&reply, 400, "bad_request")?;

    // One node, and its health: not answering is a state, not a failure.
    let reply = call(
        &app,
        Method::GET,
        &format!("/api/v1/nodes/{first}"),
        Some(&ada),
        None,
    )
    .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let view = json(&reply)?;
    assert_eq!(view["node"]["host"], "192.0.2.10");
    assert_eq!(view["node"]["token_id"], "root@pam!kiln");
    assert!(view["node"]["is_default"].is_boolean());
    let reply = call(
        &app,
        Method::GET,
        &format!("/api/v1/nodes/{first}/health"),
        Some(&ada),
        None,
    )
    .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let health = json(&reply)?;
    assert_eq!(health["node_id"], first);
    assert_eq!(health["name"], "pve-a");
    assert_eq!(health["health"]["online"], false);
    assert!(
        health["health"]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{health}"
    );
    assert!(health["health"]["members"].as_array().is_some());

    // Never a credential: the node's answers name no secret field.
    for body in [&view.to_string(), &health.to_string()] {
        for secret in ["token_secret", "PRIVATE KEY", "password"] {
            assert!(!body.contains(secret), "{secret} in {body}");
        }
    }

    // Bob sees none of Ada's nodes.
    let reply = call(&app, Method::GET, "/api/v1/nodes", Some(&bob), None).await?;
    assert_eq!(json(&reply)?["items"], serde_json::json!([]));
    for path in [
        format!("/api/v1/nodes/{first}"),
        format!("/api/v1/nodes/{first}/health"),
    ] {
        let reply = call(&app, Method::GET, &path, Some(&bob), None).await?;
        expect_error(&reply, 404, "not_found")?;
    }
    let reply = call(&app, Method::GET, "/api/v1/nodes/x", Some(&ada), None).await?;
    expect_error(&reply, 400, "bad_request")?;
    app.cleanup().await
}

/// A node that answers: its version, its cluster members and what the token lacks, as the
/// nodes page shows them — and still no credential in the answer.
#[tokio::test(flavor = "multi_thread")]
async fn a_node_that_answers_reports_version_and_members() -> TestResult {
    let lab = crate::lab_fixture::TestLab::start(|_| {}).await?;
    let app = TestApp::new().await?;
    let token = user_with_token(&app, "ada", false).await?;
    let (token_id, token_secret) = lab.handle.token.split_once('=').ok_or("lab token")?;
    let node = NodeService::new(app.state.clone())
        .add_node(
            &actor(&app, "ada").await?,
            NodeInput {
                name: "lab".into(),
                host: lab.handle.addr.ip().to_string(),
                port: lab.handle.addr.port(),
                is_cluster: false,
                fingerprint: lab.handle.fingerprint.clone(),
                token_id: token_id.into(),
                token_secret: token_secret.into(),
            },
        )
        .await?;

    let path = format!("/api/v1/nodes/{}/health", node.id);
    let reply = call(&app, Method::GET, &path, Some(&token), None).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let health = json(&reply)?;
    assert_eq!(health["health"]["online"], true, "{health}");
    assert!(
        health["health"]["version"]
            .as_str()
            .is_some_and(|v| !v.is_empty()),
        "{health}"
    );
    let members = health["health"]["members"].as_array().ok_or("members")?;
    assert!(
        !members.is_empty() && members.iter().all(|m| m["name"].is_string()),
        "{health}"
    );
    assert!(health["health"]["missing_privileges"].is_array());
    let reply = call(&app, Method::GET, "/api/v1/nodes", Some(&token), None).await?;
    let page = json(&reply)?;
    assert_eq!(page["items"][0]["health"]["online"], true, "{page}");
    assert_eq!(
        page["items"][0]["health"]["version"],
        health["health"]["version"]
    );
    assert_eq!(
        page["items"][0]["node"]["is_default"], true,
        "her first node"
    );
    assert!(
        !reply.body.contains(token_secret),
        "the token's secret never leaves"
    );
    app.cleanup().await?;
    lab.finish().await
}
