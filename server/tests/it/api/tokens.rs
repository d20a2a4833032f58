//! API tokens: how a request authenticates, what a token may do, and its limits.

use axum::http::{Method, StatusCode, header};
use serde_json::json;

use super::{call, call_with, expect_error, json, token_of, user_with_token};
use crate::harness::{PASSWORD, TestApp, TestResult};

#[tokio::test(flavor = "multi_thread")]
async fn a_token_acts_as_its_user_and_nothing_else_gets_in() -> TestResult {
    let app = TestApp::new().await?;
    let token = user_with_token(&app, "ann", false).await?;

    let me = call(&app, Method::GET, "/api/v1/me", Some(&token), None).await?;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    let me = json(&me)?;
    assert_eq!(me["user"]["username"], "ann");
    assert_eq!(me["token"], "test");
    assert_eq!(me["read_only"], false);

    // No token, a malformed one, an unknown one: 401 in the API's shape, with the scheme.
    let none = call(&app, Method::GET, "/api/v1/me", None, None).await?;
    expect_error(&none, 401, "unauthorized")?;
    assert!(none.headers.get(header::WWW_AUTHENTICATE).is_some());
    let garbage = call(&app, Method::GET, "/api/v1/me", Some("nonsense"), None).await?;
    expect_error(&garbage, 401, "unauthorized")?;
    let unknown = format!("kiln_{}", "A".repeat(43));
    let reply = call(&app, Method::GET, "/api/v1/me", Some(&unknown), None).await?;
    expect_error(&reply, 401, "unauthorized")?;
    assert!(
        app.audit()
            .await?
            .iter()
            .any(|(action, outcome, _)| action == "api.token.refused" && outcome == "denied")
    );

    // A session cookie is not accepted by the API.
    let session = app.login("ann", PASSWORD).await?;
    let reply = call_with(
        &app,
        Method::GET,
        "/api/v1/me",
        None,
        None,
        &[("cookie", &format!("kiln_session={session}"))],
    )
    .await?;
    expect_error(&reply, 401, "unauthorized")?;

    // An unknown route answers 404 in the same shape.
    let reply = call(
        &app,
        Method::GET,
        "/api/v1/nothing-here",
        Some(&token),
        None,
    )
    .await?;
    expect_error(&reply, 404, "not_found")?;
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_created_shown_once_listed_and_revoked() -> TestResult {
    let app = TestApp::new().await?;
    let token = user_with_token(&app, "ann", false).await?;
    let bob = user_with_token(&app, "bob", false).await?;

    let created = call(
        &app,
        Method::POST,
        "/api/v1/tokens",
        Some(&token),
        Some(&json!({"name": "ci", "read_only": true, "expires_in_days": 30})),
    )
    .await?;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let created = json(&created)?;
    let secret = created["secret"].as_str().ok_or("no secret")?.to_owned();
    assert!(secret.starts_with("kiln_"));
    let id = created["token"]["id"].as_i64().ok_or("no id")?;
    assert_eq!(created["token"]["read_only"], true);
    assert!(created["token"]["expires_at"].is_string());

    // Listed without the secret; the digest is all the database holds.
    let list = call(&app, Method::GET, "/api/v1/tokens", Some(&token), None).await?;
    assert_eq!(list.status, StatusCode::OK);
    assert!(!list.body.contains(&secret));
    let names: Vec<String> = json(&list)?
        .as_array()
        .ok_or("not a list")?
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(names, ["ci", "test"]);

    // Mistakes name their fields; a second token of the same name is refused.
    let bad = call(
        &app,
        Method::POST,
        "/api/v1/tokens",
        Some(&token),
        Some(&json!({"name": "", "expires_in_days": 0})),
    )
    .await?;
    let body = expect_error(&bad, 422, "invalid")?;
    assert!(body["error"]["fields"]["name"].is_string());
    assert!(body["error"]["fields"]["expires_in_days"].is_string());
    let twice = call(
        &app,
        Method::POST,
        "/api/v1/tokens",
        Some(&token),
        Some(&json!({"name": "ci"})),
    )
    .await?;
    expect_error(&twice, 422, "invalid")?;
    // A body of the wrong type names the field; one that is not JSON is a bad request.
    let typed = call(
        &app,
        Method::POST,
        "/api/v1/tokens",
        Some(&token),
        Some(&json!({"name": "x", "expires_in_days": "soon"})),
    )
    .await?;
    let body = expect_error(&typed, 422, "invalid")?;
    assert!(
        body["error"]["fields"]["expires_in_days"].is_string(),
        "{body}"
    );

    // The read-only token reads, and may not write.
    let me = call(&app, Method::GET, "/api/v1/me", Some(&secret), None).await?;
    assert_eq!(json(&me)?["read_only"], true);
    let write = call(
        &app,
        Method::POST,
        "/api/v1/tokens",
        Some(&secret),
        Some(&json!({"name": "more"})),
    )
    .await?;
    expect_error(&write, 403, "forbidden")?;

    // Bob cannot revoke Ann's token; Ann can, and it stops working at once.
    let path = format!("/api/v1/tokens/{id}");
    let reply = call(&app, Method::DELETE, &path, Some(&bob), None).await?;
    expect_error(&reply, 404, "not_found")?;
    let reply = call(&app, Method::DELETE, &path, Some(&token), None).await?;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    let gone = call(&app, Method::GET, "/api/v1/me", Some(&secret), None).await?;
    expect_error(&gone, 401, "unauthorized")?;

    let audit = app.audit().await?;
    for action in ["api.token.create", "api.token.revoke"] {
        assert!(
            audit
                .iter()
                .any(|(a, _, who)| a == action && who.as_deref() == Some("ann"))
        );
    }
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_tokens_and_disabled_users_are_refused() -> TestResult {
    use diesel_async::RunQueryDsl;
    let app = TestApp::new().await?;
    let token = user_with_token(&app, "ann", false).await?;
    let mut conn = app.state.db.get().await?;
    diesel::sql_query("UPDATE api_tokens SET expires_at = now() - interval '1 second'")
        .execute(&mut conn)
        .await?;
    let reply = call(&app, Method::GET, "/api/v1/me", Some(&token), None).await?;
    expect_error(&reply, 401, "unauthorized")?;
    let listed = kiln_server::auth::api_tokens::ApiTokens::new(app.state.clone())
        .list(&super::actor(&app, "ann").await?)
        .await?;
    assert!(listed.iter().all(|t| t.expired));

    let fresh = token_of(&app, "ann", "fresh", false).await?;
    diesel::sql_query("UPDATE users SET disabled = true WHERE username = 'ann'")
        .execute(&mut conn)
        .await?;
    let reply = call(&app, Method::GET, "/api/v1/me", Some(&fresh), None).await?;
    expect_error(&reply, 401, "unauthorized")?;
    drop(conn);
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_rate_limited() -> TestResult {
    let app = TestApp::with_config(|c| {
        c.api_rate_limit = 3;
        c.login_max_failures = 2;
    })
    .await?;
    let token = user_with_token(&app, "ann", false).await?;
    for _ in 0..3 {
        let reply = call(&app, Method::GET, "/api/v1/me", Some(&token), None).await?;
        assert_eq!(reply.status, StatusCode::OK);
    }
    let limited = call(&app, Method::GET, "/api/v1/me", Some(&token), None).await?;
    let body = expect_error(&limited, 429, "rate_limited")?;
    assert!(body["error"]["retry_after_secs"].as_u64().is_some());
    assert!(limited.headers.get(header::RETRY_AFTER).is_some());

    // Unknown tokens from one address: 401 until the sign-in limit, then 429.
    let unknown = format!("kiln_{}", "B".repeat(43));
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let reply = call(&app, Method::GET, "/api/v1/me", Some(&unknown), None).await?;
        statuses.push(reply.status.as_u16());
    }
    assert_eq!(statuses, [401, 401, 429, 429]);
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_gets_a_token_limited_like_a_sign_in() -> TestResult {
    let app = TestApp::with_config(|c| c.login_max_failures = 2).await?;
    app.create_user("ann", false).await?;
    let ok = call(
        &app,
        Method::POST,
        "/api/v1/auth/token",
        None,
        Some(&json!({"username": "ann", "password": PASSWORD, "name": "laptop"})),
    )
    .await?;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    let secret = json(&ok)?["secret"].as_str().ok_or("no secret")?.to_owned();
    let me = call(&app, Method::GET, "/api/v1/me", Some(&secret), None).await?;
    assert_eq!(json(&me)?["token"], "laptop");

    let wrong = json!({"username": "ann", "password": "wrong password!", "name": "x"});
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let reply = call(&app, Method::POST, "/api/v1/auth/token", None, Some(&wrong)).await?;
        statuses.push(reply.status.as_u16());
    }
    assert_eq!(statuses, [401, 401, 429]);
    let audit = app.audit().await?;
    assert!(
        audit
            .iter()
            .any(|(a, o, _)| a == "api.login" && o == "failed")
    );
    assert!(audit.iter().any(|(a, o, _)| a == "api.login" && o == "ok"));
    app.cleanup().await
}
