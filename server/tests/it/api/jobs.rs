//! `/api/v1/jobs`: a creation's job followed live as Server-Sent Events, resumed with
//! `Last-Event-ID` (or `?after=`) without repeats or gaps, 204 once nothing is left; and who
//! may read a job.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use kiln_server::lab::RuntimeKind;
use serde_json::Value;

use super::{call, expect_error, json, token_of, user_with_token};
use crate::container_events::{Stream, open_request};
use crate::containers::{request, setup_paused};
use crate::harness::TestApp;
use crate::lab_fixture::R;

/// Opens `GET /api/v1/jobs/{job}/events{query}` with `token`, resuming after `last`.
async fn watch(app: &TestApp, token: &str, job: i64, query: &str, last: Option<i64>) -> R<Stream> {
    let mut req = Request::get(format!("/api/v1/jobs/{job}/events{query}"))
        .header(header::ACCEPT, "text/event-stream")
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    if let Some(last) = last {
        req = req.header("last-event-id", last.to_string());
    }
    open_request(app, req.body(Body::empty())?).await
}

/// Job `job` as `token` reads it once it is in `state` (the last read after 5 s).
pub(super) async fn job_when(app: &TestApp, token: &str, job: i64, state: &str) -> R<Value> {
    let path = format!("/api/v1/jobs/{job}");
    let mut view = Value::Null;
    for _ in 0..50 {
        view = json(&call(app, Method::GET, &path, Some(token), None).await?)?;
        if view["state"] == state {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Ok(view)
}

/// The next `n` events' numbers (each message's `id` is its event's number).
async fn numbers(stream: &mut Stream, n: usize) -> R<Vec<i64>> {
    let mut seqs = Vec::with_capacity(n);
    for _ in 0..n {
        let msg = stream.next().await?.ok_or("the stream ended early")?;
        let event = msg.event()?;
        assert_eq!(msg.id, Some(event.seq.to_string()), "{msg:?}");
        seqs.push(event.seq);
    }
    Ok(seqs)
}

/// Every event's number until `end`; the `end`'s status.
async fn rest(stream: &mut Stream) -> R<(Vec<i64>, String)> {
    let mut seqs = Vec::new();
    loop {
        let msg = stream
            .next()
            .await?
            .ok_or("the stream ended without `end`")?;
        if msg.event == "end" {
            let end: kiln_shared::progress::StreamEnd = serde_json::from_str(&msg.data)?;
            assert!(stream.next().await?.is_none(), "a message after `end`");
            return Ok((seqs, end.status));
        }
        seqs.push(msg.event()?.seq);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_creation_is_followed_live_and_resumed_without_repeats() -> R {
    let mut s = setup_paused(RuntimeKind::Scratch).await?;
    let token = token_of(&s.app, "creator", "test", false).await?;
    let bob = user_with_token(&s.app, "bob", false).await?;
    let body = serde_json::to_value(request(s.node_id, "web-1"))?;
    let reply = call(
        &s.app,
        Method::POST,
        "/api/v1/containers",
        Some(&token),
        Some(&body),
    )
    .await?;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    let accepted = json(&reply)?;
    let id = accepted["container"]["id"].as_i64().ok_or("id")?;
    let job = accepted["job"]["id"].as_i64().ok_or("job")?;
    assert_eq!(accepted["job"]["state"], "queued");
    assert_eq!(accepted["job"]["percent"], 0);

    // Watching before the job runs: the events arrive live.
    let mut stream = watch(&s.app, &token, job, "", None).await?;
    assert_eq!(stream.status, StatusCode::OK);
    assert_eq!(
        stream
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    s.start_workers();
    let first = numbers(&mut stream, 3).await?;
    assert_eq!(first, vec![1, 2, 3]);
    drop(stream);

    // Reconnecting after event 3: the rest, each once, then `end`.
    let mut stream = watch(&s.app, &token, job, "?after=1", Some(3)).await?;
    let (later, status) = rest(&mut stream).await?;
    assert_eq!(status, "ready");
    let all: Vec<i64> = s.events(id).await?.iter().map(|e| e.seq).collect();
    let mut seen = first.clone();
    seen.extend(&later);
    assert_eq!(seen, all, "every event once, in order");

    // `?after=` without the header; the header wins over it.
    let last = *all.last().ok_or("no events")?;
    let mut stream = watch(&s.app, &token, job, &format!("?after={}", last - 1), None).await?;
    assert_eq!(rest(&mut stream).await?, (vec![last], "ready".to_owned()));

    // A reconnect with nothing left: 204, stop reconnecting.
    let stream = watch(&s.app, &token, job, "", Some(last)).await?;
    assert_eq!(stream.status, StatusCode::NO_CONTENT);

    // The job's status says the same.
    let view = job_when(&s.app, &token, job, "succeeded").await?;
    assert_eq!(view["state"], "succeeded", "{view}");
    assert_eq!(view["attempts"], 1);
    assert_eq!(view["error"], Value::Null);

    // Only its owner (or an administrator) reads it.
    let stream = watch(&s.app, &bob, job, "", None).await?;
    assert_eq!(stream.status, StatusCode::NOT_FOUND);
    let admin = user_with_token(&s.app, "root", true).await?;
    let reply = call(
        &s.app,
        Method::GET,
        &format!("/api/v1/jobs/{job}"),
        Some(&admin),
        None,
    )
    .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let reply = call(
        &s.app,
        Method::GET,
        "/api/v1/jobs/999999",
        Some(&token),
        None,
    )
    .await?;
    expect_error(&reply, 404, "not_found")?;
    let reply = call(
        &s.app,
        Method::GET,
        &format!("/api/v1/jobs/{job}/events"),
        None,
        None,
    )
    .await?;
    expect_error(&reply, 401, "unauthorized")?;
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_document_describes_the_stream_and_the_creations_headers() -> R {
    let app = TestApp::new().await?;
    let doc = json(&call(&app, Method::GET, "/api/v1/openapi.json", None, None).await?)?;
    let paths = &doc["paths"];
    let stream = &paths["/api/v1/jobs/{id}/events"]["get"];
    assert!(
        stream["responses"]["200"]["content"]["text/event-stream"].is_object(),
        "{stream}"
    );
    assert!(stream["responses"]["204"].is_object(), "{stream}");
    let header_names = |op: &Value| -> Vec<String> {
        op["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter(|p| p["in"] == "header")
                    .filter_map(|p| p["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(header_names(stream), vec!["Last-Event-ID"]);
    let create = &paths["/api/v1/containers"]["post"];
    assert_eq!(header_names(create), vec!["Idempotency-Key"]);
    let accepted = &create["responses"]["202"];
    assert!(accepted["headers"]["Location"].is_object(), "{accepted}");
    assert!(
        accepted["headers"]["Idempotent-Replayed"].is_object(),
        "{accepted}"
    );
    let delete = &paths["/api/v1/containers/{id}"]["delete"];
    assert_eq!(header_names(delete), vec!["If-Match"]);
    assert!(delete["responses"]["412"].is_object(), "{delete}");
    // The request's secret is in the schema (it is sent), the detail never carries it.
    assert!(
        doc["components"]["schemas"]["CreateRequest"]["properties"]["root_password"].is_object()
    );
    app.cleanup().await
}
