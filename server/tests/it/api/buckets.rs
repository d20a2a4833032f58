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

fn etag_of(reply: &Reply) -> R<String> {
    Ok(reply
        .headers
        .get(header::ETAG)
        .ok_or("no ETag")?
        .to_str()?
        .to_owned())
}

type R<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// `method path` as `token` with a body and, when given, `If-Match: version`.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
    version: Option<&str>,
) -> R<Reply> {
    let headers: Vec<(&str, &str)> = version.map(|v| ("if-match", v)).into_iter().collect();
    call_with(app, method, path, Some(token), body, &headers).await
}

/// A request refused: method, path, token, body, `If-Match`; then the status, the error's
/// kind and the fields it names.
type Refusal<'a> = (
    Method,
    &'a str,
    &'a str,
    Option<&'a Value>,
    Option<&'a str>,
    u16,
    &'a str,
    &'a [&'a str],
);

/// Creates a bucket as `token`: 201, the bucket and its `ETag`.
async fn create(app: &TestApp, token: &str, bucket: &Value) -> R<(Value, String)> {
    let reply = send(
        app,
        Method::POST,
        "/api/v1/buckets",
        token,
        Some(bucket),
        None,
    )
    .await?;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    Ok((json(&reply)?, etag_of(&reply)?))
}

/// The number of packages in a bucket's first list.
fn packages(bucket: &Value) -> Option<usize> {
    bucket["lists"][0]["packages"].as_array().map(Vec::len)
}

#[tokio::test(flavor = "multi_thread")]
async fn buckets_are_created_read_replaced_and_deleted_with_versions() -> TestResult {
    let app = TestApp::new().await?;
    let ada = user_with_token(&app, "ada", false).await?;
    let bob = user_with_token(&app, "bob", false).await?;
    let read_only = token_of(&app, "ada", "ro", true).await?;

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
    let new = "/api/v1/buckets";
    let (created, v1) = create(&app, &ada, &input("tools", "curl\njq")).await?;
    let id = created["id"].as_i64().ok_or("no id")?;
    assert_eq!(created["name"], "tools");
    assert_eq!(created["lists"][0]["manager"], "apt");
    assert_eq!(packages(&created), Some(2));
    assert_eq!(created["can_change"], true);
    create(&app, &ada, &input("base", "git")).await?;

    // Read: the list by id, one bucket with the version the write answered.
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
    let reply = call(&app, Method::GET, &path, Some(&bob), None).await?;
    assert_eq!(
        json(&reply)?["can_change"],
        false,
        "Bob reads it, may not change it"
    );

    // Replace with the version read: 200 and a new version; the old one is now stale.
    let more = input("tools", "curl\njq\nvim");
    let reply = send(
        &app,
        Method::PUT,
        &path,
        &ada,
        Some(&more),
        Some(v1.as_str()),
    )
    .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let v2 = etag_of(&reply)?;
    assert_ne!(v1, v2);
    assert_eq!(packages(&json(&reply)?), Some(3));

    // Refused, each changing nothing: the form's rules and a taken name (422 by field), a
    // stale version (412), Bob (403), a read-only token (403), an unknown id (404).
    let bad = json!({ "name": "Not A Name", "description": "two\nlines", "texts": [["apt", ""]] });
    let wrong_type = json!({ "name": 5, "description": "", "texts": [] });
    let one = input("tools", "curl");
    let unknown = "/api/v1/buckets/999999";
    let bad_line = input("x", "bad package name!");
    let taken = input("base", "vim");
    let rename = input("base", "curl");
    let ro = input("ro", "vim");
    let cases: [Refusal<'_>; 14] = [
        (
            Method::POST,
            new,
            &ada,
            Some(&bad),
            None,
            422,
            "invalid",
            &["name", "description"],
        ),
        (
            Method::POST,
            new,
            &ada,
            Some(&bad_line),
            None,
            422,
            "invalid",
            &["apt"],
        ),
        (
            Method::POST,
            new,
            &bob,
            Some(&taken),
            None,
            422,
            "invalid",
            &["name"],
        ),
        (
            Method::POST,
            new,
            &ada,
            Some(&wrong_type),
            None,
            422,
            "invalid",
            &["name"],
        ),
        (
            Method::PUT,
            &path,
            &ada,
            Some(&rename),
            Some(v2.as_str()),
            422,
            "invalid",
            &["name"],
        ),
        (
            Method::PUT,
            &path,
            &ada,
            Some(&one),
            Some(v1.as_str()),
            412,
            "precondition_failed",
            &[],
        ),
        (
            Method::DELETE,
            &path,
            &ada,
            None,
            Some(v1.as_str()),
            412,
            "precondition_failed",
            &[],
        ),
        (
            Method::PUT,
            &path,
            &bob,
            Some(&one),
            None,
            403,
            "forbidden",
            &[],
        ),
        (
            Method::DELETE,
            &path,
            &bob,
            None,
            None,
            403,
            "forbidden",
            &[],
        ),
        (
            Method::PUT,
            &path,
            &read_only,
            Some(&one),
            None,
            403,
            "forbidden",
            &[],
        ),
        (
            Method::POST,
            new,
            &read_only,
            Some(&ro),
            None,
            403,
            "forbidden",
            &[],
        ),
        (
            Method::DELETE,
            &path,
            &read_only,
            None,
            None,
            403,
            "forbidden",
            &[],
        ),
        (
            Method::PUT,
            unknown,
            &ada,
            Some(&one),
            None,
            404,
            "not_found",
            &[],
        ),
        (
            Method::GET,
            unknown,
            &ada,
            None,
            None,
            404,
            "not_found",
            &[],
        ),
    ];
    for (method, at, token, body, version, status, kind, fields) in cases {
        let reply = send(&app, method.clone(), at, token, body, version).await?;
        let error = expect_error(&reply, status, kind)?;
        for field in fields {
            assert!(
                error["error"]["fields"][field].is_string(),
                "{method} {at}: {error}"
            );
        }
    }
    let reply = call(&app, Method::GET, &path, Some(&ada), None).await?;
    assert_eq!(etag_of(&reply)?, v2, "the refusals changed nothing");
    assert_eq!(packages(&json(&reply)?), Some(3));

    // Delete with the current version: gone.
    let reply = send(&app, Method::DELETE, &path, &ada, None, Some(v2.as_str())).await?;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    for method in [Method::GET, Method::DELETE] {
        let reply = call(&app, method, &path, Some(&ada), None).await?;
        expect_error(&reply, 404, "not_found")?;
    }

    // The same audit entries as the page's, naming Ada.
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

/// A replace waiting on another writer's lock compares the version that writer left, not the
/// one before: `If-Match` is checked inside the service's transaction, not before it.
#[tokio::test(flavor = "multi_thread")]
async fn a_write_that_waited_on_another_sees_its_change() -> TestResult {
    use diesel_async::RunQueryDsl;

    let app = TestApp::new().await?;
    let ada = user_with_token(&app, "ada", false).await?;
    let (created, v1) = create(&app, &ada, &input("tools", "curl")).await?;
    let id = created["id"].as_i64().ok_or("no id")?;
    let path = format!("/api/v1/buckets/{id}");

    // Another writer changes the bucket and holds its row until it commits.
    let mut other = app.state.db.get().await?;
    diesel::sql_query("BEGIN").execute(&mut other).await?;
    diesel::sql_query("UPDATE package_buckets SET description = 'changed meanwhile' WHERE id = $1")
        .bind::<diesel::sql_types::BigInt, _>(id)
        .execute(&mut other)
        .await?;
    let replace = input("tools", "curl\njq");
    let put = send(
        &app,
        Method::PUT,
        &path,
        &ada,
        Some(&replace),
        Some(v1.as_str()),
    );
    let commit = async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        diesel::sql_query("COMMIT").execute(&mut other).await
    };
    let (reply, committed) = tokio::join!(put, commit);
    committed?;
    expect_error(&reply?, 412, "precondition_failed")?;
    let reply = call(&app, Method::GET, &path, Some(&ada), None).await?;
    assert_eq!(
        json(&reply)?["description"],
        "changed meanwhile",
        "not overwritten"
    );
    app.cleanup().await
}
