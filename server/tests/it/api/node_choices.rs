//! `GET /api/v1/nodes/{id}/choices`: what the lab node offers a new container, read from it
//! as the wizard reads it; 401 without a token, 404 for another user's node and an unknown
//! one, 503 when the node does not answer.

use axum::http::{Method, StatusCode};
use kiln_server::lab::RuntimeKind;

use super::{call, expect_error, json, token_of, user_with_token};
use crate::containers::setup_paused;
use crate::lab_fixture::{DEBIAN, R};

#[tokio::test(flavor = "multi_thread")]
async fn a_node_offers_its_storages_templates_and_bridges_to_its_owner_only() -> R {
    let s = setup_paused(RuntimeKind::Scratch).await?;
    let token = token_of(&s.app, "creator", "test", false).await?;
    let bob = user_with_token(&s.app, "bob", false).await?;
    let path = format!("/api/v1/nodes/{}/choices", s.node_id);

    let reply = call(&s.app, Method::GET, &path, Some(&token), None).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let choices: kiln_shared::containers::NodeChoices = serde_json::from_value(json(&reply)?)?;
    assert!(
        choices.storages.iter().any(|st| st.id == "local-lvm"),
        "{choices:?}"
    );
    assert!(
        choices.ostemplates.iter().any(|t| t == DEBIAN),
        "{choices:?}"
    );
    assert!(choices.bridges.iter().any(|b| b == "vmbr0"), "{choices:?}");
    assert!(choices.next_vmid.is_some(), "{choices:?}");

    let anonymous = call(&s.app, Method::GET, &path, None, None).await?;
    expect_error(&anonymous, 401, "unauthorized")?;
    let theirs = call(&s.app, Method::GET, &path, Some(&bob), None).await?;
    expect_error(&theirs, 404, "not_found")?;
    let unknown = call(
        &s.app,
        Method::GET,
        "/api/v1/nodes/987654/choices",
        Some(&token),
        None,
    )
    .await?;
    expect_error(&unknown, 404, "not_found")?;

    // The node away: 503 with the node's name.
    let lab = s.lab;
    let app = s.app;
    lab.finish().await?;
    let away = call(&app, Method::GET, &path, Some(&token), None).await?;
    let body = expect_error(&away, 503, "unavailable")?;
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("lab")),
        "{body}"
    );
    app.cleanup().await
}
