//! `/api/v1/buckets`: list, read with an `ETag`, create (201), replace and delete honouring
//! `If-Match` (412 when stale), the form's rules by field (422), another user's bucket (read:
//! yes, change: 403), read-only tokens (403 on writes), and the audit entries.

use axum::http::{Method, StatusCode, header};
use serde_json::{Value, json};

use super::{call, call_with, expect_error, json, token_of, user_with_token};
use crate::harness::{Reply, TestApp, TestResult};

fn input(name: &str, apt: &str) -> Value {
    json!({ "name": name, "description": format!("the {name} bucket"), "texts": [["apt", apt]] })
}

fn etag_of(reply: &Reply) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    Ok(reply
        .headers
        .get(header::ETAG)
        .ok_or("no ETag")?
        .to_str()?
        .to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn buckets_are_created_read_replaced_and_deleted_with_versions() -> TestResult {
    let app = TestApp::new().await?;
    let ada = user_with_token(&app, "ada", false).await?;
    let bob = user_with_token(&app, "bob", false).await?;

    for (method, path) in [
        (Method::GET, "/api/v1/buckets"),
        (Method::POST, "/api/v1/buckets"),
        (Method::GET, "/api/v1/buckets/1"),
        (Method::PUT, "/api/v1/buckets/1"),
        (Method::DELETE, "/api/v1/buckets/1"),
    ] {
        let reply = call(&app, method, path, None, Some(&input("x", "curl"))).await?;
        expect_error(&reply, 401, "unauthorized")?;
    }

    // Create: 201 with the bucket and its version.
    let reply = call(
        &app,
        Method::POST,
        "/api/v1/buckets",
        Some(&ada),
        Some(&input("tools", "curl\njq")),
    )
    .await?;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let created = json(&reply)?;
    let id = created["id"].as_i64().ok_or("no id")?;
    assert_eq!(created["name"], "tools");
    assert_eq!(created["lists"][0]["manager"], "apt");
    assert_eq!(
        created["lists"][0]["packages"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(created["can_change"], true);
    let v1 = etag_of(&reply)?;
    let reply = call(
        &app,
        Method::POST,
        "/api/v1/buckets",
        Some(&ada),
        Some(&input("base", "git")),
    )
    .await?;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);

    // The form's rules, by field; a taken name is the service's 422 on `name`.
    let bad = json!({ "name": "Not A Name", "description": "two\nlines", "texts": [["apt", ""]] });
    let reply = call(
        &app,
        Method::POST,
        "/api/v1/buckets",
        Some(&ada),
        Some(&bad),
    )
    .await?;
    let body = expect_error(&reply, 422, "invalid")?;
    assert!(body["error"]["fields"]["name"].is_string(), "{body}");
    assert!(body["error"]["fields"]["description"].is_string(), "{body}");
    let reply = call(
        &app,
        Method::POST,
        "/api/v1/buckets",
        Some(&ada),
        Some(&input("x", "bad package name!")),
    )
    .await?;
    let body = expect_error(&reply, 422, "invalid")?;
    assert!(body["error"]["fields"]["apt"].is_string(), "{body}");
    let reply = call(
        &app,
        Method::POST,
        "/api/v1/buckets",
        Some(&bob),
        Some(&input("tools", "vim")),
    )
    .await?;
    let body = expect_error(&reply, 422, "invalid")?;
    assert!(
        body["error"]["fields"]["name"]
            .as_str()
            .is_some_and(|m| m.contains("already exists")),
        "{body}"
    );
    let wrong_type = json!({ "name": 5, "description": "", "texts": [] });
    let reply = call(
        &app,
        Method::POST,
        "/api/v1/buckets",
        Some(&ada),
        Some(&wrong_type),
    )
    .await?;
    let body = expect_error(&reply, 422, "invalid")?;
    assert!(body["error"]["fields"]["name"].is_string(), "{body}");

    // Read: the list by id, one bucket with the same version as the write answered.
    let reply = call(
        &app,
        Method::GET,
        "/api/v1/buckets?limit=1",
        Some(&bob),
        None,
    )
    .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let page = json(&reply)?;
    assert_eq!(page["items"][0]["id"], id);
    assert!(page["next_cursor"].is_string(), "{page}");
    let path = format!("/api/v1/buckets/{id}");
    let reply = call(&app, Method::GET, &path, Some(&ada), None).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(etag_of(&reply)?, v1);
    let reply = call(
        &app,
        Method::GET,
        "/api/v1/buckets/999999",
        Some(&ada),
        None,
    )
    .await?;
    expect_error(&reply, 404, "not_found")?;

    // Bob reads Ada's bucket but may not change or delete it.
    let reply = call(&app, Method::GET, &path, Some(&bob), None).await?;
    assert_eq!(json(&reply)?["can_change"], false);
    let reply = call(
        &app,
        Method::PUT,
        &path,
        Some(&bob),
        Some(&input("tools", "vim")),
    )
    .await?;
    expect_error(&reply, 403, "forbidden")?;
    let reply = call(&app, Method::DELETE, &path, Some(&bob), None).await?;
    expect_error(&reply, 403, "forbidden")?;
    // A read-only token of Ada's may not write at all.
    let read_only = token_of(&app, "ada", "ro", true).await?;
    let reply = call(
        &app,
        Method::PUT,
        &path,
        Some(&read_only),
        Some(&input("tools", "vim")),
    )
    .await?;
    expect_error(&reply, 403, "forbidden")?;
    let reply = call(
        &app,
        Method::POST,
        "/api/v1/buckets",
        Some(&read_only),
        Some(&input("ro", "vim")),
    )
    .await?;
    expect_error(&reply, 403, "forbidden")?;

    // Replace with the version read: 200 and a new version; the old one is now stale.
    let reply = call_with(
        &app,
        Method::PUT,
        &path,
        Some(&ada),
        Some(&input("tools", "curl\njq\nvim")),
        &[("if-match", &v1)],
    )
    .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let v2 = etag_of(&reply)?;
    assert_ne!(v1, v2);
    assert_eq!(
        json(&reply)?["lists"][0]["packages"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    let reply = call_with(
        &app,
        Method::PUT,
        &path,
        Some(&ada),
        Some(&input("tools", "curl")),
        &[("if-match", &v1)],
    )
    .await?;
    expect_error(&reply, 412, "precondition_failed")?;
    let reply = call(&app, Method::GET, &path, Some(&ada), None).await?;
    assert_eq!(
        json(&reply)?["lists"][0]["packages"]
            .as_array()
            .map(Vec::len),
        Some(3),
        "the stale write changed nothing"
    );
    assert_eq!(etag_of(&reply)?, v2);
    // A rename onto a taken name, and bad input, by field.
    let reply = call_with(
        &app,
        Method::PUT,
        &path,
        Some(&ada),
        Some(&input("base", "curl")),
        &[("if-match", &v2)],
    )
    .await?;
    let body = expect_error(&reply, 422, "invalid")?;
    assert!(body["error"]["fields"]["name"].is_string(), "{body}");
    let reply = call(
        &app,
        Method::PUT,
        "/api/v1/buckets/999999",
        Some(&ada),
        Some(&input("tools", "curl")),
    )
    .await?;
    expect_error(&reply, 404, "not_found")?;

    // Delete: a stale version is refused, the current one (or none) goes ahead.
    let reply = call_with(
        &app,
        Method::DELETE,
        &path,
        Some(&ada),
        None,
        &[("if-match", &v1)],
    )
    .await?;
    expect_error(&reply, 412, "precondition_failed")?;
    let reply = call_with(
        &app,
        Method::DELETE,
        &path,
        Some(&ada),
        None,
        &[("if-match", &v2)],
    )
    .await?;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    let reply = call(&app, Method::GET, &path, Some(&ada), None).await?;
    expect_error(&reply, 404, "not_found")?;
    let reply = call(&app, Method::DELETE, &path, Some(&ada), None).await?;
    expect_error(&reply, 404, "not_found")?;

    // The same audit entries as the page's, naming Ada and her token.
    let audit = app.audit().await?;
    for action in ["bucket.create", "bucket.save", "bucket.delete"] {
        assert!(
            audit
                .iter()
                .any(|(a, _, who)| a == action && who.as_deref() == Some("ada")),
            "{action}: {audit:?}"
        );
    }
    app.cleanup().await
}
