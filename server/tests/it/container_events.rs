//! `GET /containers/{id}/events` (live progress, Server-Sent Events) through the real router:
//! replay from the start, from `Last-Event-ID` or `?after=`, live events in order without
//! gaps or duplicates (also while they are written during the connect, and for a receiver
//! that lagged behind the hub), who may watch, the `end` message of a finished container,
//! long replays in pages, shutdown, deletion; and `ContainerService::events`.
//!
//! Containers and events are written directly through `db::containers`, with the hub's
//! notices sent the way the creation job sends them.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use diesel_async::RunQueryDsl;
use http_body_util::BodyExt;
use kiln_server::containers::service::ContainerService;
use kiln_server::db::containers::{self, NewContainer};
use kiln_server::db::users;
use kiln_shared::auth::{Actor, CurrentUser};
use kiln_shared::progress::{ContainerEvent, StreamEnd};
use tower::ServiceExt;

use crate::harness::{PASSWORD, TestApp};

type R<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// How long a test waits for the next message before it fails.
const PATIENCE: Duration = Duration::from_secs(10);

/// An app with user `ada` (signed in) owning container `id` on her node.
struct Fixture {
    app: TestApp,
    session: String,
    owner: i64,
    id: i64,
}

async fn fixture() -> R<Fixture> {
    let app = TestApp::new().await?;
    app.create_user("ada", false).await?;
    let session = app.login("ada", PASSWORD).await?;
    let mut conn = app.state.db.get().await?;
    let owner = users::by_username(&mut conn, "ada")
        .await?
        .ok_or("no user ada")?
        .id;
    let node = app.insert_node(owner, "pve").await?;
    let id = containers::insert(
        &mut conn,
        &NewContainer {
            node_id: node,
            template_id: None,
            hostname: "swift-otter-42",
            owner_id: Some(owner),
            kind: "lxc",
            template_slug: None,
            template_hash: None,
            status: "creating",
            request: &serde_json::json!({}),
            vmid: None,
            test_run: false,
            keep_after_test: false,
        },
    )
    .await?;
    Ok(Fixture {
        app,
        session,
        owner,
        id,
    })
}

impl Fixture {
    /// Appends `n` log events (text `line <seq>`), notifying after each as the job does.
    async fn append(&self, n: usize) -> R<Vec<i64>> {
        let mut conn = self.app.state.db.get().await?;
        let mut seqs = Vec::new();
        for _ in 0..n {
            let seq = containers::append_event(&mut conn, self.id, "create", "log", "line").await?;
            self.app.state.container_events.notify(self.id, seq);
            seqs.push(seq);
        }
        Ok(seqs)
    }

    /// Sets the status and sends the status notice.
    async fn finish(&self, status: &str, error: Option<&str>) -> R {
        let mut conn = self.app.state.db.get().await?;
        containers::set_status(&mut conn, self.id, status, error).await?;
        self.app.state.container_events.notify(self.id, 0);
        Ok(())
    }

    /// Connects as `ada`.
    async fn watch(&self, query: &str, last_event_id: Option<&str>) -> R<Stream> {
        let path = format!("/containers/{}/events{query}", self.id);
        open(&self.app, &path, Some(&self.session), last_event_id).await
    }
}

/// One SSE message.
#[derive(Debug, Default, Clone)]
pub(crate) struct Msg {
    pub(crate) id: Option<String>,
    pub(crate) event: String,
    pub(crate) data: String,
    pub(crate) retry: Option<u64>,
}

impl Msg {
    pub(crate) fn event(&self) -> R<ContainerEvent> {
        Ok(serde_json::from_str(&self.data)?)
    }
}

/// A response whose body is read message by message.
pub(crate) struct Stream {
    pub(crate) status: StatusCode,
    pub(crate) headers: axum::http::HeaderMap,
    body: Body,
    buffer: String,
}

/// Sends `GET path` and returns as soon as the response head is there.
pub(crate) async fn open(
    app: &TestApp,
    path: &str,
    session: Option<&str>,
    last_event_id: Option<&str>,
) -> R<Stream> {
    let mut req = Request::get(path)
        .header(header::ACCEPT, "text/event-stream")
        .header(header::ACCEPT_ENCODING, "gzip, br");
    if let Some(id) = session {
        req = req.header(header::COOKIE, format!("kiln_session={id}"));
    }
    if let Some(id) = last_event_id {
        req = req.header("last-event-id", id);
    }
    open_request(app, req.body(Body::empty())?).await
}

/// Sends `req` and returns as soon as the response head is there.
pub(crate) async fn open_request(app: &TestApp, mut req: Request<Body>) -> R<Stream> {
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 1], 40000))));
    let response = tokio::time::timeout(PATIENCE, app.router.clone().oneshot(req)).await??;
    let status = response.status();
    let headers = response.headers().clone();
    Ok(Stream {
        status,
        headers,
        body: response.into_body(),
        buffer: String::new(),
    })
}

impl Stream {
    /// The next message (keep-alive comments skipped), `None` when the stream ended.
    pub(crate) async fn next(&mut self) -> R<Option<Msg>> {
        loop {
            if let Some(at) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..at + 2).collect();
                let mut msg = Msg::default();
                let mut any = false;
                for line in block.lines() {
                    let Some((field, value)) = line.split_once(':') else {
                        continue;
                    };
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    any |= !field.is_empty();
                    match field {
                        "id" => msg.id = Some(value.to_owned()),
                        "event" => value.clone_into(&mut msg.event),
                        "data" => msg.data.push_str(value),
                        "retry" => msg.retry = Some(value.parse()?),
                        _ => {}
                    }
                }
                if any {
                    return Ok(Some(msg));
                }
                continue;
            }
            let frame = tokio::time::timeout(PATIENCE, self.body.frame())
                .await
                .map_err(|_| format!("no message within {PATIENCE:?}; have {:?}", self.buffer))?;
            match frame {
                None => return Ok(None),
                Some(frame) => {
                    if let Ok(data) = frame?.into_data() {
                        self.buffer.push_str(std::str::from_utf8(&data)?);
                    }
                }
            }
        }
    }

    /// The next `n` messages, which must all be events; returns their numbers.
    async fn events(&mut self, n: usize) -> R<Vec<i64>> {
        let mut seqs = Vec::with_capacity(n);
        for _ in 0..n {
            let msg = self.next().await?.ok_or("the stream ended early")?;
            let event = msg.event()?;
            assert_eq!(msg.id, Some(event.seq.to_string()), "{msg:?}");
            assert_eq!(msg.event, event.kind, "{msg:?}");
            seqs.push(event.seq);
        }
        Ok(seqs)
    }

    /// Reads the `end` message and checks the stream closes after it.
    pub(crate) async fn end(&mut self) -> R<StreamEnd> {
        let msg = self.next().await?.ok_or("the stream ended without `end`")?;
        assert_eq!(msg.event, "end", "{msg:?}");
        assert_eq!(msg.id, None, "`end` keeps the last event's id");
        assert_eq!(msg.retry, Some(24 * 60 * 60 * 1000), "{msg:?}");
        let end = serde_json::from_str(&msg.data)?;
        let after = self.next().await?;
        assert!(after.is_none(), "a message after `end`: {after:?}");
        Ok(end)
    }
}

fn range(from: i64, to: i64) -> Vec<i64> {
    (from..=to).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn replays_then_follows_live_events_then_ends() -> R {
    let f = fixture().await?;
    f.append(3).await?;
    let mut stream = f.watch("", None).await?;
    assert_eq!(stream.status, StatusCode::OK);
    assert_eq!(
        stream
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    // Never compressed: the encoder would hold messages back.
    assert!(stream.headers.get(header::CONTENT_ENCODING).is_none());
    let first = stream.next().await?.ok_or("no first event")?;
    let event = first.event()?;
    assert_eq!(first.event, "log");
    assert_eq!(
        (
            event.seq,
            event.phase.as_str(),
            event.kind.as_str(),
            event.text.as_str()
        ),
        (1, "create", "log", "line")
    );
    assert!(event.at.ends_with("+00:00"), "{}", event.at);
    assert_eq!(stream.events(2).await?, vec![2, 3]);

    // Written after the replay's query, before the stream is read again: the notices wait in
    // the watcher's receiver (it subscribed before it read anything).
    f.append(2).await?;
    assert_eq!(stream.events(2).await?, vec![4, 5]);
    f.append(1).await?;
    assert_eq!(stream.events(1).await?, vec![6]);
    f.finish("ready", None).await?;
    let end = stream.end().await?;
    assert_eq!(end.status, "ready");
    assert_eq!(end.error, None);
    f.app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn last_event_id_and_after_choose_where_the_replay_starts() -> R {
    let f = fixture().await?;
    f.append(5).await?;
    f.finish("failed", Some("create: storage full")).await?;

    let mut stream = f.watch("", Some("2")).await?;
    assert_eq!(stream.events(3).await?, vec![3, 4, 5]);
    let end = stream.end().await?;
    assert_eq!(end.status, "failed");
    assert_eq!(end.error.as_deref(), Some("create: storage full"));

    let mut stream = f.watch("?after=3", None).await?;
    assert_eq!(stream.events(2).await?, vec![4, 5]);
    stream.end().await?;

    // The header wins over the query.
    let mut stream = f.watch("?after=4", Some("1")).await?;
    assert_eq!(stream.events(4).await?, vec![2, 3, 4, 5]);
    stream.end().await?;

    // A new EventSource for a finished container with nothing new still learns how it ended.
    let mut stream = f.watch("?after=5", None).await?;
    assert_eq!(stream.end().await?.status, "failed");

    // A browser reconnecting after everything was sent is told to stop (204).
    let stream = f.watch("", Some("5")).await?;
    assert_eq!(stream.status, StatusCode::NO_CONTENT);

    // A bad query is the caller's mistake.
    let stream = f.watch("?after=x", None).await?;
    assert_eq!(stream.status, StatusCode::BAD_REQUEST);
    f.app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_owner_and_admins_may_watch() -> R {
    let f = fixture().await?;
    f.append(1).await?;
    let path = format!("/containers/{}/events", f.id);

    let stream = open(&f.app, &path, None, None).await?;
    assert_eq!(stream.status, StatusCode::UNAUTHORIZED);

    f.app.create_user("bob", false).await?;
    let bob = f.app.login("bob", PASSWORD).await?;
    let stream = open(&f.app, &path, Some(&bob), None).await?;
    assert_eq!(stream.status, StatusCode::NOT_FOUND);
    for other in ["/containers/999999/events", "/containers/nope/events"] {
        let stream = open(&f.app, other, Some(&f.session), None).await?;
        assert_eq!(stream.status, StatusCode::NOT_FOUND, "{other}");
    }

    f.app.create_user("root", true).await?;
    let admin = f.app.login("root", PASSWORD).await?;
    let mut stream = open(&f.app, &path, Some(&admin), None).await?;
    assert_eq!(stream.status, StatusCode::OK);
    assert_eq!(stream.events(1).await?, vec![1]);
    f.app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_events_replay_in_pages() -> R {
    let f = fixture().await?;
    let mut conn = f.app.state.db.get().await?;
    diesel::sql_query(
        "INSERT INTO container_events (container_id, seq, phase, kind, text) \
         SELECT $1, g, 'packages', 'log', 'line ' || g FROM generate_series(1, 1000) g",
    )
    .bind::<diesel::sql_types::BigInt, _>(f.id)
    .execute(&mut conn)
    .await?;
    drop(conn);
    f.finish("ready", None).await?;

    let mut stream = f.watch("", None).await?;
    assert_eq!(stream.events(1000).await?, range(1, 1000));
    stream.end().await?;

    let mut stream = f.watch("", Some("499")).await?;
    assert_eq!(stream.events(501).await?, range(500, 1000));
    stream.end().await?;
    f.app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn events_written_during_the_connect_arrive_once_in_order() -> R {
    let f = fixture().await?;
    let total = 300;
    let writer = {
        let state = f.app.state.clone();
        let id = f.id;
        tokio::spawn(async move {
            let mut conn = state.db.get().await?;
            for i in 0..total {
                let seq = containers::append_event(&mut conn, id, "scripts", "log", "x").await?;
                state.container_events.notify(id, seq);
                if i % 10 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            containers::set_status(&mut conn, id, "ready", None).await?;
            state.container_events.notify(id, 0);
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        })
    };
    // Several watchers connect while the writer runs, each at a different moment.
    let watcher = |delay_ms: u64| {
        let f = &f;
        async move {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            let mut stream = f.watch("", None).await?;
            assert_eq!(stream.status, StatusCode::OK);
            let mut seqs = Vec::new();
            loop {
                let msg = stream.next().await?.ok_or("ended without `end`")?;
                if msg.event == "end" {
                    break;
                }
                seqs.push(msg.event()?.seq);
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(seqs)
        }
    };
    let seen = futures::future::try_join_all([0, 3, 10, 30].map(watcher)).await?;
    writer.await??;
    for seqs in seen {
        assert_eq!(seqs, range(1, total), "a gap or a duplicate");
    }
    f.app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lagging_watcher_gets_every_event_once() -> R {
    let f = fixture().await?;
    f.append(2).await?;
    let mut stream = f.watch("", None).await?;
    assert_eq!(stream.events(1).await?, vec![1]);
    // While the watcher reads nothing, far more notices than the hub keeps (1,024): its
    // receiver lags, repeatedly, and notices of its own container are among those lost.
    let hub = &f.app.state.container_events;
    for round in 0..4 {
        f.append(3).await?;
        for n in 0..1500 {
            hub.notify(f.id + 1 + round, n + 1);
        }
    }
    f.finish("ready", None).await?;
    for n in 0..1500 {
        hub.notify(f.id + 10, n + 1);
    }
    assert_eq!(stream.events(13).await?, range(2, 14));
    stream.end().await?;
    f.app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_ends_live_streams_without_end() -> R {
    let f = fixture().await?;
    f.append(1).await?;
    let mut stream = f.watch("", None).await?;
    assert_eq!(stream.events(1).await?, vec![1]);
    f.app.state.container_events.close();
    assert!(stream.next().await?.is_none(), "the stream should end");
    f.app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_container_ends_its_stream() -> R {
    let f = fixture().await?;
    f.append(1).await?;
    let mut stream = f.watch("", None).await?;
    assert_eq!(stream.events(1).await?, vec![1]);
    let mut conn = f.app.state.db.get().await?;
    containers::delete(&mut conn, f.id).await?;
    f.app.state.container_events.notify(f.id, 0);
    let end = stream.end().await?;
    assert_eq!(
        (end.status.as_str(), end.error),
        (kiln_shared::progress::DELETED, None),
        "the last message says the container was deleted"
    );
    let stream = f.watch("", Some("1")).await?;
    assert_eq!(stream.status, StatusCode::NOT_FOUND);
    f.app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_service_lists_events_for_those_who_may_see_them() -> R {
    let f = fixture().await?;
    f.append(5).await?;
    let service = ContainerService::new(f.app.state.clone());
    let user = |id: i64, admin: bool| {
        Actor::user(
            &CurrentUser {
                id,
                username: "someone".into(),
                is_admin: admin,
            },
            "192.0.2.1",
        )
    };
    let owner = user(f.owner, false);
    let seqs = |rows: Vec<containers::EventRow>| rows.iter().map(|r| r.seq).collect::<Vec<_>>();
    assert_eq!(
        seqs(service.events(&owner, f.id, 0, 100).await?),
        range(1, 5)
    );
    assert_eq!(seqs(service.events(&owner, f.id, 2, 2).await?), vec![3, 4]);
    assert_eq!(seqs(service.events(&owner, f.id, -7, 0).await?), vec![1]);
    assert_eq!(
        seqs(
            service
                .events(&user(f.owner + 1000, true), f.id, 4, 10)
                .await?
        ),
        vec![5]
    );
    let refused = service
        .events(&user(f.owner + 1000, false), f.id, 0, 10)
        .await;
    assert!(
        matches!(refused, Err(kiln_shared::AppError::NotFound(_))),
        "{refused:?}"
    );
    f.app.cleanup().await
}

/// The process' resident set in KiB (`VmRSS`).
fn rss_kib() -> R<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or("no VmRSS")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .ok_or("no VmRSS value")?
        .parse()?)
}

/// Opens one watcher over real TCP and reads until its first event arrived.
async fn tcp_watcher(addr: SocketAddr, id: i64, session: &str) -> R<tokio::net::TcpStream> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(addr).await?;
    let request = format!(
        "GET /containers/{id}/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\
         Cookie: kiln_session={session}\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).await?;
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains("id: 1\n") {
        let n = tokio::time::timeout(PATIENCE, socket.read(&mut buf)).await??;
        if n == 0 {
            return Err(format!("closed: {}", String::from_utf8_lossy(&seen)).into());
        }
        seen.extend_from_slice(&buf[..n]);
    }
    Ok(socket)
}

/// Benchmark (docs/BENCHMARKS.md), ignored by default: the extra resident memory of 1,000
/// idle SSE watchers of one container, served over real TCP by this process. Run with
/// `cargo test -p kiln-server --test it -- container_events::idle_watchers_rss --ignored
/// --nocapture`. The clients' sockets live in the same process (a few hundred bytes each).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark: prints a figure"]
async fn idle_watchers_rss() -> R {
    use futures::{StreamExt, TryStreamExt};
    const WATCHERS: usize = 1000;
    let f = fixture().await?;
    f.append(1).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = f.app.router.clone();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let (id, session) = (f.id, f.session.as_str());
    // Warm up (one-time allocations: pools, the router's caches), then measure.
    let warm: Vec<_> = futures::stream::iter(0..20)
        .map(|_| tcp_watcher(addr, id, session))
        .buffer_unordered(10)
        .try_collect()
        .await?;
    drop(warm);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib()?;
    let started = std::time::Instant::now();
    let watchers: Vec<_> = futures::stream::iter(0..WATCHERS)
        .map(|_| tcp_watcher(addr, id, session))
        .buffer_unordered(16)
        .try_collect()
        .await?;
    let connect_ms = started.elapsed().as_millis();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib()?;
    let extra = after.saturating_sub(before);
    println!(
        "{WATCHERS} idle SSE watchers: RSS {before} KiB -> {after} KiB, extra {extra} KiB \
         ({:.1} KiB per watcher); connected in {connect_ms} ms",
        extra as f64 / WATCHERS as f64
    );
    assert_eq!(watchers.len(), WATCHERS);
    drop(watchers);
    server.abort();
    f.app.cleanup().await
}
