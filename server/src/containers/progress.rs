//! A creation's live progress as Server-Sent Events (`GET /containers/{id}/events`, served by
//! `routes::container_events`): the persisted events after the client's last one, then live
//! ones, then an `end` message once the container is finished.
//!
//! How a watcher ([`Watch`]) works:
//! 1. **Subscribe first.** It subscribes to the [`EventHub`](super::events::EventHub) before
//!    it reads anything, so an event written while the replay is being read still produces a
//!    notice this watcher receives: nothing falls between the replay and the live part.
//! 2. **Replay** the rows after `after` (the `Last-Event-ID` header, else `?after=N`), in
//!    pages of [`PAGE`] rows; each goes out as `id: <seq>`, `event: <kind>` (`phase`, `log`,
//!    `outcome`) and `data:` a JSON [`ContainerEvent`].
//! 3. **Live.** It sleeps on the hub. A notice for its container with a number above the
//!    last one sent reads the rows after that number (one query per page, never per notice
//!    it already covers); the status notice (`seq` 0) re-reads the status first; a receiver
//!    that lagged behind the hub's buffer simply re-reads both from its last number — every
//!    event is sent once, in order, whatever was dropped.
//! 4. **End.** When the status is terminal (`ready`/`failed`) and every event has been sent,
//!    it sends `event: end` with a JSON [`StreamEnd`] and `retry:` [`END_RETRY`] (a day),
//!    and closes. The browser island must `close()` its `EventSource` on `end`; should it
//!    not, its reconnect waits a day, and a reconnect (`Last-Event-ID` set) to a finished
//!    container with nothing new is answered `204 No Content`, which tells an `EventSource`
//!    to stop for good. A container deleted while watched (its row gone: a deletion job
//!    ran) ends the same way with the status `deleted`; its events went with the row, and
//!    a reconnect is answered 404.
//!
//! The status is read before the events of the same refresh: the job writes its last event
//! before it sets a terminal status, so a terminal status read first means every event is
//! already in the table and the drain that follows sees them all.
//!
//! No watcher polls PostgreSQL while nothing happens, with one exception: a safety net
//! re-reads status and events [`SAFETY_REREAD`] (30 s) after the watcher's last read, in
//! case a job running in another `kiln` process wrote events (the hub is in-process only).
//! Idle watchers hold no database connection; keep-alive comments go out every
//! [`KEEP_ALIVE`] so proxies do not drop the connection.
//!
//! A database error in the middle of a stream is logged and closes the stream without
//! `end`: the browser reconnects by itself with `Last-Event-ID` and resumes. So does a
//! server shutdown ([`EventHub::close`](super::events::EventHub::close)), which must not wait
//! for streams that never end by themselves.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use kiln_shared::AppError;
use kiln_shared::auth::Actor;
use kiln_shared::progress::{ContainerEvent, DELETED, END_EVENT, StreamEnd};
use tokio::sync::{broadcast, watch};
use tokio::time::{Instant, Sleep};

use super::events::Notice;
use super::service::ContainerService;
use crate::app_state::AppState;
use crate::db::DbPool;
use crate::db::containers::{self, EventRow};

/// Rows read per query while replaying or catching up.
pub const PAGE: i64 = 500;
/// The interval of keep-alive comments.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// A watcher re-reads this long after its last read even without a notice (another process'
/// job notifies only its own watchers).
pub const SAFETY_REREAD: Duration = Duration::from_secs(30);
/// The `retry:` sent with `end`: reconnecting to a finished stream is pointless.
pub const END_RETRY: Duration = Duration::from_secs(24 * 60 * 60);

/// A container's status and error, as last read.
type Status = (String, Option<String>);

/// One watcher of one container's events: the state between two messages of its stream.
pub struct Watch {
    /// Where events and the status are read (a connection only while reading).
    db: DbPool,
    /// The container watched.
    container_id: i64,
    /// The number of the last event sent (or the client's starting point).
    last: i64,
    /// Notices from the hub, subscribed before the first read.
    notices: broadcast::Receiver<Notice>,
    /// Becomes `true` when the server shuts down.
    closing: watch::Receiver<bool>,
    /// Rows read and not yet sent.
    pending: VecDeque<EventRow>,
    /// The container's status; `None` once the row is gone (deleted).
    status: Option<Status>,
    /// Events must be read: a notice above `last`, a full page, a lag, the safety net.
    read_events: bool,
    /// The status must be read before the events: a status notice, a lag, the safety net.
    read_status: bool,
    /// The safety net's timer, reset by every read.
    safety: Pin<Box<Sleep>>,
    /// `end` was sent (or the stream is over for another reason).
    finished: bool,
}

/// What woke a waiting watcher.
enum Wake {
    Notice(Result<Notice, broadcast::error::RecvError>),
    Safety,
    Closing,
}

impl Watch {
    /// Subscribes to the hub, then checks that `actor` may see container `id` (owner or
    /// admin, else `NotFound`) and reads the first page after `after`. Errors come before
    /// the response's head, with their status.
    pub async fn open(
        state: &AppState,
        actor: &Actor,
        id: i64,
        after: i64,
    ) -> Result<Watch, AppError> {
        // Before any read: see the module docs.
        let notices = state.container_events.subscribe();
        let closing = state.container_events.closing();
        let row = ContainerService::new(state.clone()).get(actor, id).await?;
        let mut watch = Watch {
            db: state.db.clone(),
            container_id: id,
            last: after.max(0),
            notices,
            closing,
            pending: VecDeque::new(),
            status: Some((row.status, row.error)),
            read_events: true,
            read_status: false,
            safety: Box::pin(tokio::time::sleep(SAFETY_REREAD)),
            finished: false,
        };
        watch
            .refresh()
            .await
            .map_err(|e| crate::errors::db("reading container events", e))?;
        Ok(watch)
    }

    /// The container is finished and nothing is left to send after the client's last event.
    pub fn is_over(&self) -> bool {
        self.pending.is_empty() && !self.read_events && self.terminal().is_some()
    }

    /// The response: the stream with keep-alive comments.
    pub fn into_sse(self) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
        let stream = futures::stream::unfold(self, |watch| async move {
            watch.next().await.map(|(event, watch)| (Ok(event), watch))
        });
        Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
    }

    /// The HTTP response: the stream, marked for reverse proxies (nginx) to pass each message
    /// on at once.
    pub fn into_response(self) -> axum::response::Response {
        use axum::response::IntoResponse as _;
        let mut response = self.into_sse().into_response();
        response.headers_mut().insert(
            "x-accel-buffering",
            axum::http::HeaderValue::from_static("no"),
        );
        response
    }

    /// The status when it is terminal.
    fn terminal(&self) -> Option<&Status> {
        self.status
            .as_ref()
            .filter(|(status, _)| matches!(status.as_str(), "ready" | "failed"))
    }

    /// The next message, or `None` when the stream is over.
    async fn next(mut self) -> Option<(Event, Watch)> {
        loop {
            if let Some(row) = self.pending.pop_front() {
                self.last = row.seq;
                return Some((event_message(row), self));
            }
            if self.finished {
                return None;
            }
            if self.read_events || self.read_status {
                if let Err(e) = self.refresh().await {
                    tracing::warn!(
                        ct.id = self.container_id,
                        ct.last_seq = self.last,
                        error = %e,
                        "a progress stream stopped on a database error; the browser resumes it"
                    );
                    return None;
                }
                continue;
            }
            if self.status.is_none() {
                // The container was deleted: the last message says so (a reconnect gets 404).
                self.finished = true;
                return Some((end_message(DELETED, None), self));
            }
            if let Some((status, error)) = self.terminal() {
                let end = end_message(status, error.as_deref());
                self.finished = true;
                return Some((end, self));
            }
            match self.wait().await {
                Wake::Notice(Ok(notice)) if notice.container_id == self.container_id => {
                    if notice.seq == 0 {
                        self.read_status = true;
                        self.read_events = true;
                    } else if notice.seq > self.last {
                        self.read_events = true;
                    }
                }
                Wake::Notice(Ok(_)) => {}
                Wake::Notice(Err(broadcast::error::RecvError::Lagged(_))) | Wake::Safety => {
                    self.read_status = true;
                    self.read_events = true;
                }
                Wake::Notice(Err(broadcast::error::RecvError::Closed)) | Wake::Closing => {
                    return None;
                }
            }
        }
    }

    /// Sleeps until a notice, the safety net or shutdown.
    async fn wait(&mut self) -> Wake {
        tokio::select! {
            biased;
            _ = self.closing.wait_for(|closing| *closing) => Wake::Closing,
            notice = self.notices.recv() => Wake::Notice(notice),
            () = &mut self.safety => Wake::Safety,
        }
    }

    /// Reads the status (when asked; before the events, see the module docs) and the next
    /// page of events.
    async fn refresh(&mut self) -> anyhow::Result<()> {
        let mut conn = self.db.get().await?;
        if self.read_status {
            self.status = containers::status_of(&mut conn, self.container_id).await?;
            self.read_status = false;
        }
        let after = self.pending.back().map_or(self.last, |row| row.seq);
        let rows = containers::events_after(&mut conn, self.container_id, after, PAGE).await?;
        self.read_events = i64::try_from(rows.len()).is_ok_and(|n| n >= PAGE);
        self.pending.extend(rows);
        self.safety.as_mut().reset(Instant::now() + SAFETY_REREAD);
        Ok(())
    }
}

/// The event number in a request's `Last-Event-ID` header (an `EventSource` reconnecting),
/// where its replay starts; it wins over `?after=`.
pub fn last_event_id(headers: &axum::http::HeaderMap) -> Option<i64> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
}

/// One event as an SSE message: `id` its number, `event` its kind, `data` its JSON.
fn event_message(row: EventRow) -> Event {
    // The table's CHECK allows only these; a name is never taken from the row's text.
    let name = match row.kind.as_str() {
        "phase" => "phase",
        "outcome" => "outcome",
        _ => "log",
    };
    let id = row.seq.to_string();
    let data = serde_json::to_string(&ContainerEvent::from(row)).unwrap_or_default();
    Event::default().id(id).event(name).data(data)
}

/// The last message: `event: end`, the status as JSON, and a long `retry`.
fn end_message(status: &str, error: Option<&str>) -> Event {
    let end = StreamEnd {
        status: status.to_owned(),
        error: error.map(str::to_owned),
    };
    let data = serde_json::to_string(&end).unwrap_or_default();
    Event::default()
        .event(END_EVENT)
        .retry(END_RETRY)
        .data(data)
}
