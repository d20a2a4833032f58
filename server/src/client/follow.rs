//! `--wait`: a job followed to its end over Server-Sent Events (`GET /api/v1/jobs/{id}/events`),
//! one line per event (phase, text), then a final line; the command's exit code says how the
//! job ended (0 succeeded, 1 failed).
//!
//! A dropped connection (a proxy's timeout, a restarted server, a silent one past
//! [`IDLE`]) is resumed with `Last-Event-ID`, so no event is printed twice or missed; an
//! answer of 204 to a resume means the job ended meanwhile, and its outcome is read from
//! `GET /api/v1/jobs/{id}`. The SSE framing is parsed by `eventsource-stream`.

use std::time::Duration;

use eventsource_stream::Eventsource as _;
use futures::StreamExt as _;
use kiln_shared::progress::END_EVENT;
use serde_json::Value;

use super::error::{CliError, Exit};
use super::http::Api;

/// How long a stream may stay silent before it is resumed on a new connection (the server
/// sends a keep-alive comment every 15 s).
pub const IDLE: Duration = Duration::from_secs(90);
/// Resumes in a row that may fail before the command gives up (exit 7).
pub const RESUMES: u32 = 8;

/// How a followed job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// The final status (`ready`, `succeeded`, `failed`, `deleted`, …).
    pub status: String,
    /// Why it failed.
    pub error: Option<String>,
}

impl Ended {
    /// Whether the job did what was asked.
    pub fn succeeded(&self) -> bool {
        matches!(
            self.status.as_str(),
            "ready" | "succeeded" | "done" | "deleted"
        )
    }

    /// The final line.
    pub fn line(&self) -> String {
        match &self.error {
            Some(error) if !error.is_empty() => format!("{}: {error}", self.status),
            _ => self.status.clone(),
        }
    }

    /// From an `end` message's data (a `StreamEnd`) or a job's JSON (`state`/`status`,
    /// `error`), read leniently.
    fn of(value: &Value) -> Ended {
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
        Ended {
            status: text("status")
                .or_else(|| text("state"))
                .unwrap_or_else(|| "unknown".to_owned()),
            error: text("error"),
        }
    }
}

/// The line printed for one event (`phase`, `text`; a text of several lines gets the phase
/// on each).
pub fn event_line(data: &Value) -> String {
    let field = |key: &str| data.get(key).and_then(Value::as_str).unwrap_or_default();
    let phase = field("phase");
    let text = field("text");
    if field("kind") == "phase" && text == phase {
        // A phase began: its name once, not twice.
        return phase.to_owned();
    }
    text.lines()
        .map(|line| format!("{phase:<9} {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Follows job `job_id`, printing each event (JSON lines when `json`) and the final line;
/// returns how it ended.
pub async fn follow(api: &Api, job_id: i64, json: bool) -> Result<Ended, CliError> {
    let path = format!("/jobs/{job_id}/events");
    let mut last: Option<String> = None;
    let mut failures = 0;
    loop {
        let response = match api.events(&path, last.as_deref()).await {
            Ok(Some(response)) => Some(response),
            Ok(None) => None,
            Err(e) if e.exit == Exit::Unavailable && failures < RESUMES => {
                failures += 1;
                resume_pause(failures, last.as_deref()).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let Some(response) = response else {
            // 204: finished, nothing after our last event; the outcome is the job's.
            let job = api.get(&format!("/jobs/{job_id}")).await?;
            let ended = Ended::of(job.get("job").unwrap_or(&job));
            print_end(&ended, &job, json);
            return Ok(ended);
        };
        let chunks = futures::stream::unfold(Some(response), |response| async move {
            let mut response = response?;
            match response.chunk().await {
                Ok(Some(bytes)) => Some((Ok(bytes), Some(response))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        });
        let mut events = std::pin::pin!(chunks.eventsource());
        while let Ok(Some(Ok(event))) = tokio::time::timeout(IDLE, events.next()).await {
            failures = 0;
            if !event.id.is_empty() {
                last = Some(event.id.clone());
            }
            let data: Value =
                serde_json::from_str(&event.data).unwrap_or(Value::String(event.data.clone()));
            if event.event == END_EVENT {
                let ended = Ended::of(&data);
                print_end(&ended, &data, json);
                return Ok(ended);
            }
            if json {
                println!("{data}");
            } else {
                println!("{}", event_line(&data));
            }
        }
        failures += 1;
        if failures > RESUMES {
            return Err(CliError::unreachable(format!(
                "lost job {job_id}'s event stream {RESUMES} times in a row"
            )));
        }
        resume_pause(failures, last.as_deref()).await;
    }
}

/// How often [`poll`] reads the job.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How long [`poll`] waits for a job to end.
pub const POLL_TIMEOUT: Duration = Duration::from_secs(900);

/// Follows job `job_id` by reading `GET /jobs/{id}` until it ended, printing each phase it
/// enters and the final line: for a deletion, whose event stream would first replay its
/// container's whole creation.
pub async fn poll(api: &Api, job_id: i64) -> Result<Ended, CliError> {
    let deadline = std::time::Instant::now() + POLL_TIMEOUT;
    let mut phase: Option<String> = None;
    loop {
        let job = api.get(&format!("/jobs/{job_id}")).await?;
        let now = job.get("phase").and_then(Value::as_str).map(str::to_owned);
        if now.is_some() && now != phase {
            println!("{:<9} …", now.as_deref().unwrap_or_default());
            phase = now;
        }
        let ended = Ended::of(&job);
        if matches!(ended.status.as_str(), "succeeded" | "failed" | "cancelled") {
            println!("{}", ended.line());
            return Ok(ended);
        }
        if std::time::Instant::now() >= deadline {
            return Err(CliError::failed(format!(
                "job {job_id} did not end within {} s",
                POLL_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

fn print_end(ended: &Ended, data: &Value, json: bool) {
    if json {
        println!("{data}");
    } else {
        println!("{}", ended.line());
    }
}

/// Says so on stderr and waits a little longer each time (1, 2, 4, … up to 10 s).
async fn resume_pause(failures: u32, last: Option<&str>) {
    eprintln!(
        "kiln: the event stream was interrupted; resuming{}",
        last.map(|id| format!(" after event {id}"))
            .unwrap_or_default()
    );
    let secs = 1u64 << failures.saturating_sub(1).min(4);
    tokio::time::sleep(Duration::from_secs(secs.min(10))).await;
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::http::HeaderMap;

    use super::*;

    /// A stream cut after its first event is resumed with `Last-Event-ID`, and followed to
    /// its `end`: every event once, in order.
    #[tokio::test]
    async fn a_dropped_stream_resumes_after_its_last_event()
    -> Result<(), Box<dyn std::error::Error>> {
        let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
        let log = seen.clone();
        let app = axum::Router::new().route(
            "/api/v1/jobs/7/events",
            axum::routing::get(move |headers: HeaderMap| {
                let log = log.clone();
                async move {
                    let last = headers
                        .get("last-event-id")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let first = last.is_none();
                    if let Ok(mut log) = log.lock() {
                        log.push(last);
                    }
                    let event = |seq: u32, phase: &str| {
                        format!(
                            "id: {seq}\nevent: log\ndata: {{\"seq\":{seq},\"phase\":\"{phase}\",\"kind\":\"log\",\"text\":\"step {seq}\"}}\n\n"
                        )
                    };
                    // The first connection ends after one event, without `end`.
                    let body = if first {
                        event(1, "create")
                    } else {
                        format!(
                            "{}event: end\ndata: {{\"status\":\"ready\",\"error\":null}}\n\n",
                            event(2, "start")
                        )
                    };
                    ([("content-type", "text/event-stream")], body)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let api = Api::new(&url, Some("kiln_test".into()))?;
        let ended = follow(&api, 7, false).await?;
        server.abort();
        assert_eq!(ended.line(), "ready");
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(seen, vec![None, Some("1".to_owned())]);
        Ok(())
    }

    #[test]
    fn events_and_ends_read_leniently() {
        let line = event_line(&serde_json::json!({
            "seq": 3, "phase": "create", "kind": "log", "text": "one\ntwo"
        }));
        assert_eq!(line, "create    one\ncreate    two");
        let began = event_line(&serde_json::json!({
            "seq": 1, "phase": "start", "kind": "phase", "text": "start"
        }));
        assert_eq!(began, "start");
        let ready = Ended::of(&serde_json::json!({"status": "ready", "error": null}));
        assert!(ready.succeeded());
        assert_eq!(ready.line(), "ready");
        let failed = Ended::of(&serde_json::json!({"state": "failed", "error": "no space"}));
        assert!(!failed.succeeded());
        assert_eq!(failed.line(), "failed: no space");
        assert!(!Ended::of(&serde_json::json!({})).succeeded());
    }
}
