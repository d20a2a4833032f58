//! Alerts (issue 12, part 5): the evaluator against real PostgreSQL and Redis with
//! observations published by the test (fires once, resolves once, no flapping, a container
//! down with and without a Kiln action or a PVE lock, a restart that does not fire again),
//! deliveries to local receivers on 127.0.0.1 (the webhook's HMAC checked, a 500 retried
//! with backoff, ntfy/Discord/Slack shapes, giving up), the pages and another user's
//! attempts, a creation that fails on the lab, and a lab node going unreachable and back.

mod deliveries;
mod evaluator;
mod job_failed;
mod lab;
mod pages;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use kiln_server::alerts::evaluator::Evaluator;
use kiln_server::alerts::{DispatchOptions, Tuning};
use kiln_server::db::alerts::AlertRow;
use kiln_server::monitor::{GuestSeen, Observation, Seen};
use kiln_shared::auth::Actor;

use crate::harness::TestApp;
use crate::lab_fixture::R;

/// Instant resolution (no minute of calm), the default margin.
pub fn instant() -> Tuning {
    Tuning {
        clear_after: chrono::Duration::zero(),
        ..Tuning::default()
    }
}

/// Retries after 200 ms, 400 ms, 800 ms...; 4 attempts; polls every 50 ms.
pub fn fast_retries() -> DispatchOptions {
    DispatchOptions {
        base_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(2),
        max_attempts: 4,
        poll: Duration::from_millis(50),
    }
}

/// An app with user `name` (signed in) and a node row of theirs (no Proxmox behind it).
pub struct Owner {
    pub actor: Actor,
    pub session: String,
    pub node_id: i64,
}

pub async fn owner(app: &TestApp, name: &str) -> R<Owner> {
    let actor = crate::containers::actor(app, name).await?;
    let session = app.login(name, crate::harness::PASSWORD).await?;
    let node_id = app
        .insert_node(actor.user_id, &format!("pve-{name}"))
        .await?;
    Ok(Owner {
        actor,
        session,
        node_id,
    })
}

/// A guest as a poll sees it.
pub fn guest(vmid: u32, status: &str, was: Option<&str>) -> GuestSeen {
    GuestSeen {
        vmid,
        name: Some(format!("ct{vmid}")),
        status: status.to_owned(),
        was: was.map(str::to_owned),
        cpu: Some(0.1),
        mem: Some(100),
        maxmem: Some(1000),
        disk: Some(10),
        maxdisk: Some(100),
        ..GuestSeen::default()
    }
}

/// A poll of `o`'s node at `at` that saw `guests`.
pub fn seen(o: &Owner, at: DateTime<Utc>, guests: Vec<GuestSeen>) -> Observation {
    Observation {
        node_id: o.node_id,
        owner_id: o.actor.user_id,
        node_name: "pve1".into(),
        at,
        seen: Ok(Seen {
            guests,
            members: Vec::new(),
        }),
        unreachable_since: None,
    }
}

/// A poll of `o`'s node at `at` that got no answer since `since`.
pub fn unreachable(o: &Owner, at: DateTime<Utc>, since: DateTime<Utc>) -> Observation {
    Observation {
        seen: Err("connection refused".into()),
        unreachable_since: Some(since),
        ..seen(o, at, Vec::new())
    }
}

pub fn evaluator(app: &TestApp) -> Evaluator {
    Evaluator::new(app.state.clone(), instant())
}

/// Fires "node unreachable" for `o`'s node (silent for two minutes, now); the alert's id.
pub async fn fire_unreachable(app: &TestApp, o: &Owner) -> R<i64> {
    let now = Utc::now();
    evaluator(app)
        .observe(&unreachable(o, now, now - chrono::Duration::seconds(120)))
        .await?;
    Ok(alerts(app).await?.first().ok_or("no alert fired")?.id)
}

/// Every alert row, oldest first.
pub async fn alerts(app: &TestApp) -> R<Vec<AlertRow>> {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use kiln_server::db::schema::alerts;
    let mut conn = app.state.db.get().await?;
    Ok(alerts::table
        .order(alerts::id.asc())
        .select(AlertRow::as_select())
        .load(&mut conn)
        .await?)
}

/// Waits until `check` holds for the alert rows (5 s at most).
pub async fn alerts_until(
    app: &TestApp,
    what: &str,
    check: impl Fn(&[AlertRow]) -> bool,
) -> R<Vec<AlertRow>> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let rows = alerts(app).await?;
        if check(&rows) {
            return Ok(rows);
        }
        if Instant::now() > deadline {
            return Err(format!("{what}: not within 5 s: {rows:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Got {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Got {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> R<serde_json::Value> {
        Ok(serde_json::from_slice(&self.body)?)
    }
}

#[derive(Clone, Default)]
struct Inbox {
    got: Arc<Mutex<Vec<Got>>>,
    /// The statuses to answer with, in order; 200 once they run out.
    answers: Arc<Mutex<VecDeque<u16>>>,
}

/// A local HTTP receiver on 127.0.0.1 that records every POST to any path.
pub struct Receiver {
    /// `http://127.0.0.1:<port>/hook/<token>` (the token stands for a secret in the path).
    pub url: String,
    inbox: Inbox,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// A receiver answering `answers` first, then 200.
    pub async fn start(answers: &[u16]) -> R<Receiver> {
        let inbox = Inbox {
            got: Arc::default(),
            answers: Arc::new(Mutex::new(answers.iter().copied().collect())),
        };
        async fn hook(State(inbox): State<Inbox>, headers: HeaderMap, body: Bytes) -> StatusCode {
            let status = inbox
                .answers
                .lock()
                .ok()
                .and_then(|mut a| a.pop_front())
                .unwrap_or(200);
            if let Ok(mut got) = inbox.got.lock() {
                got.push(Got {
                    headers,
                    body: body.to_vec(),
                    at: Instant::now(),
                });
            }
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK)
        }
        let app = axum::Router::new()
            .route("/{*path}", axum::routing::post(hook))
            .with_state(inbox.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Receiver {
            url: format!("http://{addr}/hook/s3cr3t-path-token"),
            inbox,
            task,
        })
    }

    pub fn got(&self) -> Vec<Got> {
        self.inbox.got.lock().map(|g| g.clone()).unwrap_or_default()
    }

    /// Waits until it got `n` requests (10 s at most).
    pub async fn wait_for(&self, n: usize) -> R<Vec<Got>> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.got();
            if got.len() >= n {
                return Ok(got);
            }
            if Instant::now() > deadline {
                return Err(format!("the receiver got {} of {n} requests", got.len()).into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
