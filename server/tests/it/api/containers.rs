//! `/api/v1/containers`: a creation through the API on the lab up to `ready`, the list, one
//! container with its `ETag`, `Idempotency-Key`, the lifecycle actions with `If-Match` and
//! the lock, deletion, services, a credential revealed on request, the events page — and who
//! may do what (401 without a token, 404 for another user's container, 403 for a read-only
//! token's writes and reveals).

use axum::http::{Method, StatusCode, header};
use diesel_async::RunQueryDsl;
use kiln_server::containers::lock::GuestLocks;
use kiln_server::db::containers as rows;
use kiln_server::lab::RuntimeKind;
use serde_json::{Value, json};

use super::jobs::job_when;
use super::{call, call_with, expect_error, json, token_of, user_with_token};
use crate::containers::{Setup, request, setup, setup_paused};
use crate::harness::Reply;
use crate::lab_fixture::R;

/// The root password `containers::request` sets.
const PASSWORD: &str = "correct horse battery";

/// The lab's owner (`creator`) with a full token, and `bob` with his own.
struct Api {
    s: Setup,
    token: String,
    bob: String,
}

async fn api(workers: bool) -> R<Api> {
    let s = if workers {
        setup(RuntimeKind::Scratch).await?
    } else {
        setup_paused(RuntimeKind::Scratch).await?
    };
    let token = token_of(&s.app, "creator", "test", false).await?;
    let bob = user_with_token(&s.app, "bob", false).await?;
    Ok(Api { s, token, bob })
}

impl Api {
    /// `method path` as `creator`.
    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> R<Reply> {
        call(&self.s.app, method, path, Some(&self.token), body).await
    }

    /// `method path` with `token`.
    async fn call_as(&self, token: &str, method: Method, path: &str) -> R<Reply> {
        call(&self.s.app, method, path, Some(token), None).await
    }

    /// `method path` as `creator`, if the container's version is still `tag`.
    async fn if_match(&self, method: Method, path: &str, tag: &str) -> R<Reply> {
        call_with(
            &self.s.app,
            method,
            path,
            Some(&self.token),
            None,
            &[("if-match", tag)],
        )
        .await
    }

    /// Creates `hostname` through the API; the 202's body.
    async fn create(&self, hostname: &str) -> R<Value> {
        let body = serde_json::to_value(request(self.s.node_id, hostname))?;
        let reply = self
            .call(Method::POST, "/api/v1/containers", Some(&body))
            .await?;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
        json(&reply)
    }

    /// How many containers exist (anyone's).
    async fn count(&self) -> R<usize> {
        let mut conn = self.s.app.state.db.get().await?;
        Ok(rows::list(&mut conn, None).await?.len())
    }
}

/// The audit log's credential reveals, newest first: (outcome, target).
async fn reveals(a: &Api) -> R<Vec<(String, String)>> {
    let mut conn = a.s.app.state.db.get().await?;
    Ok(kiln_server::db::audit::recent(&mut conn, 100)
        .await?
        .into_iter()
        .filter(|row| row.action == "container.credential.reveal")
        .map(|row| (row.outcome, row.target.unwrap_or_default()))
        .collect())
}

/// The `ETag` of `reply`.
fn etag(reply: &Reply) -> R<String> {
    Ok(reply
        .headers
        .get(header::ETAG)
        .ok_or("no ETag")?
        .to_str()?
        .to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_container_is_created_followed_listed_and_read() -> R {
    let a = api(true).await?;
    let accepted = a.create("Web-1").await?;
    let id = accepted["container"]["id"].as_i64().ok_or("no id")?;
    let job = accepted["job"]["id"].as_i64().ok_or("no job id")?;
    assert_eq!(accepted["container"]["hostname"], "web-1", "normalized");
    assert_eq!(accepted["container"]["status"], "creating");
    assert_eq!(accepted["container"]["job_id"], job);
    assert_eq!(
        accepted["container"]["request"]["root_password"],
        Value::Null
    );
    assert_eq!(accepted["job"]["kind"], "container.create");
    assert_eq!(accepted["job"]["container_id"], id);
    assert!(!accepted.to_string().contains(PASSWORD));

    // The job, until the creation is over.
    let row = a.s.settled(id, 30).await?;
    assert_eq!(row.status, "ready", "{:?}", row.error);
    let reply = a
        .call(Method::GET, &format!("/api/v1/jobs/{job}"), None)
        .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let status = json(&reply)?;
    // The row is ready before the worker records the job's end.
    let done = job_when(&a.s.app, &a.token, job, "succeeded").await?;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["percent"], 100);
    assert_eq!(done["phase"], "ready");
    assert_eq!(done["container_id"], id);
    assert!(done["finished_at"].is_string(), "{done}");
    assert!(status["created_at"].is_string(), "{status}");

    // The list: the dashboard's row, with the actions offered now.
    let reply = a.call(Method::GET, "/api/v1/containers", None).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let list = json(&reply)?;
    let items = list["items"].as_array().ok_or("no items")?;
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["id"], id);
    assert_eq!(items[0]["status"], "ready");
    assert_eq!(items[0]["state"], "running");
    assert_eq!(items[0]["vmid"], 100);
    assert!(
        items[0]["actions"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("stop")) && !a.contains(&json!("start"))),
        "{list}"
    );
    assert!(list.get("next_cursor").is_none());

    // One container, with its version.
    let reply = a
        .call(Method::GET, &format!("/api/v1/containers/{id}"), None)
        .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let tag = etag(&reply)?;
    let view = json(&reply)?;
    assert_eq!(view["status"], "ready");
    assert_eq!(view["percent"], 100);
    assert_eq!(view["job_id"], job);
    assert_eq!(view["request"]["root_password"], Value::Null);
    assert!(!reply.body.contains(PASSWORD));
    // Nothing changed: the same version (the clock's figures are not part of it).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let again = a
        .call(Method::GET, &format!("/api/v1/containers/{id}"), None)
        .await?;
    assert_eq!(etag(&again)?, tag);

    // Its events, a page at a time.
    let all = a.s.events(id).await?;
    assert!(all.len() > 3, "{all:?}");
    let mut seen = Vec::new();
    let mut path = format!("/api/v1/containers/{id}/events?limit=2");
    loop {
        let reply = a.call(Method::GET, &path, None).await?;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let page = json(&reply)?;
        for event in page["items"].as_array().ok_or("no items")? {
            seen.push(event["seq"].as_i64().ok_or("no seq")?);
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                path = format!("/api/v1/containers/{id}/events?limit=2&cursor={cursor}")
            }
            None => break,
        }
    }
    assert_eq!(seen, all.iter().map(|e| e.seq).collect::<Vec<_>>());
    let after = json(
        &a.call(
            Method::GET,
            &format!("/api/v1/containers/{id}/events?after=2"),
            None,
        )
        .await?,
    )?;
    assert_eq!(after["items"][0]["seq"], 3);

    // Nobody else sees it; nothing without a token.
    for path in [
        format!("/api/v1/containers/{id}"),
        format!("/api/v1/containers/{id}/events"),
        format!("/api/v1/containers/{id}/services"),
        format!("/api/v1/jobs/{job}"),
        format!("/api/v1/jobs/{job}/events"),
    ] {
        let reply = a.call_as(&a.bob, Method::GET, &path).await?;
        expect_error(&reply, 404, "not_found")?;
        let reply = call(&a.s.app, Method::GET, &path, None, None).await?;
        expect_error(&reply, 401, "unauthorized")?;
    }
    let theirs = json(&a.call_as(&a.bob, Method::GET, "/api/v1/containers").await?)?;
    assert_eq!(theirs["items"], json!([]));
    a.s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_list_filters_and_pages_by_id() -> R {
    let a = api(false).await?;
    let mut ids = Vec::new();
    for name in ["alpha", "beta", "gamma"] {
        ids.push(
            a.create(name).await?["container"]["id"]
                .as_i64()
                .ok_or("id")?,
        );
    }
    let page = json(
        &a.call(Method::GET, "/api/v1/containers?limit=2", None)
            .await?,
    )?;
    let first: Vec<i64> = page["items"]
        .as_array()
        .ok_or("items")?
        .iter()
        .filter_map(|i| i["id"].as_i64())
        .collect();
    assert_eq!(first, ids[..2]);
    let cursor = page["next_cursor"].as_str().ok_or("no next page")?;
    let rest = json(
        &a.call(
            Method::GET,
            &format!("/api/v1/containers?limit=2&cursor={cursor}"),
            None,
        )
        .await?,
    )?;
    assert_eq!(rest["items"][0]["id"], ids[2]);
    assert!(rest.get("next_cursor").is_none());

    let found = json(
        &a.call(
            Method::GET,
            "/api/v1/containers?q=bet&status=creating",
            None,
        )
        .await?,
    )?;
    assert_eq!(found["items"].as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(found["items"][0]["hostname"], "beta");
    let node = a.s.node_id;
    let none = json(
        &a.call(
            Method::GET,
            &format!("/api/v1/containers?node={node}&status=running"),
            None,
        )
        .await?,
    )?;
    assert_eq!(none["items"], json!([]));
    let plain = json(
        &a.call(
            Method::GET,
            "/api/v1/containers?template=plain&tag=web",
            None,
        )
        .await?,
    )?;
    assert_eq!(plain["items"].as_array().map(Vec::len), Some(3), "{plain}");

    // A typo is refused rather than answered with everything.
    for bad in ["status=runing", "node=x", "limit=0", "cursor=nonsense!"] {
        let reply = a
            .call(Method::GET, &format!("/api/v1/containers?{bad}"), None)
            .await?;
        expect_error(&reply, 400, "bad_request")?;
    }
    a.s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_creation_is_refused_with_the_wizards_rules() -> R {
    let a = api(false).await?;
    let mut body = serde_json::to_value(request(a.s.node_id, "-bad-"))?;
    let reply = a
        .call(Method::POST, "/api/v1/containers", Some(&body))
        .await?;
    let error = expect_error(&reply, 422, "invalid")?;
    assert!(error["error"]["fields"]["hostname"].is_string(), "{error}");

    // Someone else's node is not one of yours.
    body["hostname"] = json!("web-1");
    let reply = call(
        &a.s.app,
        Method::POST,
        "/api/v1/containers",
        Some(&a.bob),
        Some(&body),
    )
    .await?;
    let error = expect_error(&reply, 422, "invalid")?;
    assert!(error["error"]["fields"]["node_id"].is_string(), "{error}");

    // A field missing, a field of the wrong type: named.
    let mut missing = body.clone();
    missing
        .as_object_mut()
        .ok_or("object")?
        .remove("ostemplate");
    let reply = a
        .call(Method::POST, "/api/v1/containers", Some(&missing))
        .await?;
    let error = expect_error(&reply, 422, "invalid")?;
    assert!(
        error["error"]["fields"]["ostemplate"].is_string(),
        "{error}"
    );
    let mut wrong = body.clone();
    wrong["cores"] = json!("many");
    let reply = a
        .call(Method::POST, "/api/v1/containers", Some(&wrong))
        .await?;
    let error = expect_error(&reply, 422, "invalid")?;
    assert!(error["error"]["fields"]["cores"].is_string(), "{error}");

    // The lists of choices may be left out.
    let mut short = body.clone();
    for field in [
        "tags",
        "buckets_off",
        "packages_added",
        "packages_removed",
        "scripts_skipped",
    ] {
        short.as_object_mut().ok_or("object")?.remove(field);
    }
    let reply = a
        .call(Method::POST, "/api/v1/containers", Some(&short))
        .await?;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    assert!(
        reply
            .headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|l| l.starts_with("/api/v1/containers/")),
        "{:?}",
        reply.headers
    );

    // A read-only token writes nothing.
    let read_only = token_of(&a.s.app, "creator", "ro", true).await?;
    body["hostname"] = json!("web-2");
    let reply = call(
        &a.s.app,
        Method::POST,
        "/api/v1/containers",
        Some(&read_only),
        Some(&body),
    )
    .await?;
    expect_error(&reply, 403, "forbidden")?;
    assert_eq!(a.count().await?, 1);
    a.s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idempotency_key_creates_one_container() -> R {
    let a = api(false).await?;
    let body = serde_json::to_value(request(a.s.node_id, "web-1"))?;
    let post = |key: &str, body: &Value| {
        let (app, token, key, body) = (&a.s.app, a.token.clone(), key.to_owned(), body.clone());
        async move {
            call_with(
                app,
                Method::POST,
                "/api/v1/containers",
                Some(&token),
                Some(&body),
                &[("idempotency-key", &key)],
            )
            .await
        }
    };

    let first = post("run-1", &body).await?;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let first = json(&first)?;
    // A retry: the same container and job, said to be replayed.
    let again = post("run-1", &body).await?;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.body);
    assert_eq!(
        again
            .headers
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    let again = json(&again)?;
    assert_eq!(again["container"]["id"], first["container"]["id"]);
    assert_eq!(again["job"]["id"], first["job"]["id"]);
    assert_eq!(a.count().await?, 1);

    // Only a secret differs: the same request.
    let mut other_secret = body.clone();
    other_secret["root_password"] = json!("another long password");
    let reply = post("run-1", &other_secret).await?;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    assert_eq!(json(&reply)?["container"]["id"], first["container"]["id"]);

    // Another request with the same key.
    let mut other = body.clone();
    other["cores"] = json!(2);
    let reply = post("run-1", &other).await?;
    let error = expect_error(&reply, 409, "conflict")?;
    assert!(!error.to_string().contains(PASSWORD));
    assert_eq!(a.count().await?, 1);

    // Two retries at once: one container.
    let mut second = body.clone();
    second["hostname"] = json!("web-2");
    let (x, y) = tokio::join!(post("run-2", &second), post("run-2", &second));
    let (x, y) = (x?, y?);
    assert_eq!(x.status, StatusCode::ACCEPTED, "{}", x.body);
    assert_eq!(y.status, StatusCode::ACCEPTED, "{}", y.body);
    assert_eq!(json(&x)?["container"]["id"], json(&y)?["container"]["id"]);
    assert_eq!(
        [&x, &y]
            .iter()
            .filter(|r| r.headers.get("idempotent-replayed").is_some())
            .count(),
        1
    );
    assert_eq!(a.count().await?, 2);

    // A key is the user's: bob's "run-1" is his own (and his node is not the lab).
    let reply = call_with(
        &a.s.app,
        Method::POST,
        "/api/v1/containers",
        Some(&a.bob),
        Some(&body),
        &[("idempotency-key", "run-1")],
    )
    .await?;
    expect_error(&reply, 422, "invalid")?;

    // Keys that are not short printable text.
    for key in [String::new(), "k".repeat(256), "tab\there".to_owned()] {
        let reply = post(&key, &body).await?;
        expect_error(&reply, 400, "bad_request")?;
    }
    assert_eq!(a.count().await?, 2);
    for reply in [&first, &again] {
        assert!(!reply.to_string().contains(PASSWORD));
    }
    a.s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn actions_honour_if_match_the_lock_and_the_state() -> R {
    let mut a = api(false).await?;
    let id = a.create("web-1").await?["container"]["id"]
        .as_i64()
        .ok_or("id")?;
    let path = |what: &str| format!("/api/v1/containers/{id}/actions/{what}");

    // Not while it is being created (the service's words).
    let reply = a.call(Method::POST, &path("stop"), None).await?;
    let error = expect_error(&reply, 409, "conflict")?;
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("only a finished container")),
        "{error}"
    );
    a.s.start_workers();
    a.s.settled(id, 30).await?;
    let read = a
        .call(Method::GET, &format!("/api/v1/containers/{id}"), None)
        .await?;
    let tag = etag(&read)?;

    // A stale version is refused; the current one goes through.
    let stale = "\"0123456789abcdef0123456789abcdef\"";
    let reply = a.if_match(Method::POST, &path("stop"), stale).await?;
    expect_error(&reply, 412, "precondition_failed")?;
    let reply = a.if_match(Method::POST, &path("stop"), &tag).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let done = json(&reply)?;
    assert_eq!(done["ok"], true, "{done}");
    assert_eq!(done["state"], "stopped");
    assert_eq!(done["action"], "stop");
    // The stop changed it: the version read before is stale now.
    let reply = a.if_match(Method::POST, &path("start"), &tag).await?;
    expect_error(&reply, 412, "precondition_failed")?;
    let reply = a.call(Method::POST, &path("start"), None).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(json(&reply)?["state"], "running");

    // Busy: someone else holds the container's lock.
    let held = GuestLocks::new(&a.s.app.state)
        .acquire(id, "shutdown", "ada")
        .await
        .map_err(|e| format!("{e:?}"))?;
    let reply = a.call(Method::POST, &path("stop"), None).await?;
    let error = expect_error(&reply, 409, "conflict")?;
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("busy: shutdown since") && m.ends_with("by ada")),
        "{error}"
    );
    held.release().await;

    // Not in this state, not an action, not the caller's, not for a read-only token.
    let reply = a.call(Method::POST, &path("retry"), None).await?;
    expect_error(&reply, 409, "conflict")?;
    let reply = a.call(Method::POST, &path("explode"), None).await?;
    expect_error(&reply, 404, "not_found")?;
    let reply = a.call_as(&a.bob, Method::POST, &path("stop")).await?;
    expect_error(&reply, 404, "not_found")?;
    let read_only = token_of(&a.s.app, "creator", "ro", true).await?;
    let reply = a.call_as(&read_only, Method::POST, &path("stop")).await?;
    expect_error(&reply, 403, "forbidden")?;
    let reply = a
        .call_as(&a.bob, Method::DELETE, &format!("/api/v1/containers/{id}"))
        .await?;
    expect_error(&reply, 404, "not_found")?;

    // Deletion: If-Match too, then a job that removes it.
    let reply = a
        .if_match(Method::DELETE, &format!("/api/v1/containers/{id}"), stale)
        .await?;
    expect_error(&reply, 412, "precondition_failed")?;
    let tag = etag(
        &a.call(Method::GET, &format!("/api/v1/containers/{id}"), None)
            .await?,
    )?;
    let reply = a
        .if_match(Method::DELETE, &format!("/api/v1/containers/{id}"), &tag)
        .await?;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    let deleting = json(&reply)?;
    assert_eq!(deleting["state"], "deleting");
    assert_eq!(deleting["job"]["kind"], "container.delete");
    let job = deleting["job"]["id"].as_i64().ok_or("no job")?;
    let mut gone = false;
    for _ in 0..100 {
        let reply = a
            .call(Method::GET, &format!("/api/v1/containers/{id}"), None)
            .await?;
        if reply.status == StatusCode::NOT_FOUND {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(gone, "container {id} was not deleted");
    // Its job stays readable for its owner (the payload names them), not for others.
    let finished = job_when(&a.s.app, &a.token, job, "succeeded").await?;
    assert_eq!(finished["state"], "succeeded", "{finished}");
    assert_eq!(finished["percent"], 100);
    let reply = a
        .call_as(&a.bob, Method::GET, &format!("/api/v1/jobs/{job}"))
        .await?;
    expect_error(&reply, 404, "not_found")?;
    // Its stream has nothing left: the container went with its events.
    let reply = a
        .call(Method::GET, &format!("/api/v1/jobs/{job}/events"), None)
        .await?;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    a.s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_creation_is_cancelled_or_retried() -> R {
    let mut a = api(false).await?;
    let path = |id: i64, what: &str| format!("/api/v1/containers/{id}/actions/{what}");

    // Queued: cancelled at once, done (200), its job over.
    let id = a.create("web-1").await?["container"]["id"]
        .as_i64()
        .ok_or("id")?;
    let reply = a.call(Method::POST, &path(id, "cancel"), None).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let cancelled = json(&reply)?;
    assert_eq!(cancelled["job"]["state"], "cancelled", "{cancelled}");
    let reply = a.call(Method::POST, &path(id, "cancel"), None).await?;
    expect_error(&reply, 409, "conflict")?;

    // A creation that failed (as a node's refusal leaves it) runs again from its phase: the
    // same job, queued (202), then to the end.
    let accepted = a.create("web-2").await?;
    let id = accepted["container"]["id"].as_i64().ok_or("id")?;
    let job = accepted["job"]["id"].as_i64().ok_or("job")?;
    let mut conn = a.s.app.state.db.get().await?;
    diesel::sql_query(
        "UPDATE jobs SET state = 'failed', phase = 'allocate', error = 'failed in allocate: no', \
         finished_at = now() WHERE id = $1",
    )
    .bind::<diesel::sql_types::BigInt, _>(job)
    .execute(&mut conn)
    .await?;
    rows::set_status(&mut conn, id, "failed", Some("failed in allocate: no")).await?;
    drop(conn);
    let failed = json(
        &a.call(Method::GET, &format!("/api/v1/jobs/{job}"), None)
            .await?,
    )?;
    assert_eq!(failed["state"], "failed");
    assert_eq!(failed["error"], "failed in allocate: no");
    let reply = a.call(Method::POST, &path(id, "skip-script"), None).await?;
    expect_error(&reply, 409, "conflict")?;
    let reply = a.call(Method::POST, &path(id, "retry"), None).await?;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    let retried = json(&reply)?;
    assert_eq!(retried["job"]["id"], job);
    assert_eq!(retried["job"]["state"], "queued");
    a.s.start_workers();
    let row = a.s.settled(id, 30).await?;
    assert_eq!(row.status, "ready", "{:?}", row.error);
    a.s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn services_and_a_credential_on_explicit_request() -> R {
    let a = api(false).await?;
    let id = a.create("web-1").await?["container"]["id"]
        .as_i64()
        .ok_or("id")?;
    let state = &a.s.app.state;
    let sealed = state.secret_key.encrypt(
        b"s3cret-value",
        &rows::credential_context(id, "app", "ADMIN_PASSWORD"),
    )?;
    let mut conn = state.db.get().await?;
    rows::replace_discovered(
        &mut conn,
        id,
        &[rows::NewService {
            container_id: id,
            name: "app".into(),
            unit: "app.service".into(),
            state: "active".into(),
            ports: vec![8080],
            web_url: Some("http://10.0.0.5:8080/".into()),
        }],
        &[rows::NewCredential {
            service: "app".into(),
            key: "ADMIN_PASSWORD".into(),
            sealed,
        }],
    )
    .await?;
    drop(conn);

    let reply = a
        .call(
            Method::GET,
            &format!("/api/v1/containers/{id}/services"),
            None,
        )
        .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let services = json(&reply)?;
    assert_eq!(services["services"][0]["web_url"], "http://10.0.0.5:8080/");
    assert_eq!(
        services["services"][0]["credentials"],
        json!(["ADMIN_PASSWORD"])
    );
    assert!(!reply.body.contains("s3cret-value"));
    let detail = a
        .call(Method::GET, &format!("/api/v1/containers/{id}"), None)
        .await?;
    assert!(!detail.body.contains("s3cret-value"));

    // Revealed only here, audited without the value, never cached.
    let path = format!("/api/v1/containers/{id}/credentials/app/ADMIN_PASSWORD");
    let reply = a.call(Method::GET, &path, None).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(json(&reply)?["value"], "s3cret-value");
    assert_eq!(
        reply
            .headers
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let log = reveals(&a).await?;
    assert!(
        log.iter()
            .any(|(outcome, target)| outcome == "ok" && target.ends_with("app/ADMIN_PASSWORD")),
        "{log:?}"
    );
    let mut conn = a.s.app.state.db.get().await?;
    let log = kiln_server::db::audit::recent(&mut conn, 100).await?;
    drop(conn);
    assert!(!format!("{log:?}").contains("s3cret-value"));

    // A read-only token: a clean 403 (not a request for a password), audited as denied.
    let read_only = token_of(&a.s.app, "creator", "ro", true).await?;
    let reply = a.call_as(&read_only, Method::GET, &path).await?;
    expect_error(&reply, 403, "forbidden")?;
    let log = reveals(&a).await?;
    assert!(
        log.iter().any(|(outcome, _)| outcome == "denied"),
        "{log:?}"
    );
    // Someone else's, or a credential that does not exist: 404.
    let reply = a.call_as(&a.bob, Method::GET, &path).await?;
    expect_error(&reply, 404, "not_found")?;
    let reply = a
        .call(
            Method::GET,
            &format!("/api/v1/containers/{id}/credentials/app/NOPE"),
            None,
        )
        .await?;
    expect_error(&reply, 404, "not_found")?;
    let reply = call(&a.s.app, Method::GET, &path, None, None).await?;
    expect_error(&reply, 401, "unauthorized")?;
    a.s.finish().await
}

/// Benchmark, ignored by default: 50 clients (a token each) listing a user's 1,000
/// containers at once, 20 pages of 100 each, in process (no TCP). Run with `cargo test -p
/// kiln-server --test it -- api::containers::listing_a_thousand_containers --ignored
/// --nocapture`; `BENCH_PATH` asks another path instead (`/api/v1/me`: the token check
/// alone; `/api/v1/containers?limit=1`: the inventory without the items' encoding).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark: prints a figure"]
async fn listing_a_thousand_containers() -> R {
    const CONTAINERS: usize = 1000;
    const CLIENTS: usize = 50;
    const REQUESTS: usize = 20;
    let a = api(false).await?;
    let mut conn = a.s.app.state.db.get().await?;
    let stored = serde_json::to_value(request(a.s.node_id, "x"))?;
    for i in 0..CONTAINERS {
        rows::insert(
            &mut conn,
            &rows::NewContainer {
                node_id: a.s.node_id,
                template_id: None,
                hostname: &format!("ct-{i}"),
                owner_id: Some(a.s.actor.user_id),
                kind: "lxc",
                template_slug: None,
                template_hash: None,
                status: "ready",
                request: &stored,
                vmid: i32::try_from(1000 + i).ok(),
                test_run: false,
                keep_after_test: false,
            },
        )
        .await?;
    }
    drop(conn);
    // A token each: a token's requests are limited (`api_rate_limit`, 600 a minute).
    let mut tokens = Vec::with_capacity(CLIENTS);
    for i in 0..CLIENTS {
        tokens.push(token_of(&a.s.app, "creator", &format!("bench-{i}"), true).await?);
    }
    let path =
        std::env::var("BENCH_PATH").unwrap_or_else(|_| "/api/v1/containers?limit=100".into());
    let started = std::time::Instant::now();
    let clients = tokens.iter().map(|token| async {
        let mut times = Vec::with_capacity(REQUESTS);
        for _ in 0..REQUESTS {
            let at = std::time::Instant::now();
            let reply = a.call_as(token, Method::GET, &path).await?;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            times.push(at.elapsed());
        }
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(times)
    });
    let mut times: Vec<std::time::Duration> = Vec::new();
    for result in futures::future::join_all(clients).await {
        times.extend(result?);
    }
    let total = started.elapsed();
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "{} requests in {total:?} ({:.0}/s); p50 {:?}, p99 {:?}, max {:?}",
        times.len(),
        times.len() as f64 / total.as_secs_f64(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
    a.s.finish().await
}
