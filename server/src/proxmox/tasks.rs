//! Waiting for PVE tasks (UPIDs) to finish.
//!
//! Polls `task_status` with a growing pause (100 ms doubling up to 1 s) until the task stops
//! or the deadline passes. Connection failures while polling (refused, or a connection that
//! broke) are tolerated until the deadline (the task runs on the node regardless); every other
//! error ends the wait.

use std::time::Duration;

use kiln_shared::pve::{TaskLogLine, TaskStatus, Upid};
use tokio::time::Instant;

use super::{Error, ProxmoxApi, Result};

/// Lines of the task log kept in `Error::TaskFailed`.
const LOG_TAIL: usize = 10;
/// Lines fetched per `task_log` page while looking for the end of the log.
const LOG_PAGE: u64 = 500;
/// Pages read at most (a runaway log is cut there).
const LOG_PAGES: u64 = 20;

/// Polls `upid` until it stops or `timeout` passes. `Ok` only for exit status `OK`; a failed
/// task gives `Error::TaskFailed` with the last lines of its log.
pub async fn wait_task(api: &dyn ProxmoxApi, upid: &Upid, timeout: Duration) -> Result<TaskStatus> {
    let deadline = Instant::now() + timeout;
    let timed_out = || Error::Timeout {
        what: format!("waiting for task {upid}"),
        secs: timeout.as_secs(),
    };
    let mut pause = Duration::from_millis(100);
    loop {
        let polled = tokio::time::timeout_at(deadline, api.task_status(upid))
            .await
            .map_err(|_| timed_out())?;
        match polled {
            Ok(status) if !status.is_running() => return finished(api, upid, status).await,
            Ok(_) => {}
            // A read: whether it failed before sending or the connection broke (a node
            // dropping its keep-alive connections on restart), polling again is harmless.
            Err(err @ (Error::Connect { .. } | Error::Transport { .. })) => {
                tracing::warn!(task.upid = %upid, error = %err, "cannot poll task; will retry");
            }
            Err(other) => return Err(other),
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(timed_out());
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

async fn finished(api: &dyn ProxmoxApi, upid: &Upid, status: TaskStatus) -> Result<TaskStatus> {
    if status.exitstatus.as_deref() == Some("OK") {
        return Ok(status);
    }
    let log_tail = match log_tail(api, upid).await {
        Ok(lines) => lines,
        Err(err) => {
            tracing::warn!(task.upid = %upid, error = %err, "cannot read the failed task's log");
            Vec::new()
        }
    };
    Err(Error::TaskFailed {
        upid: upid.to_string(),
        exitstatus: status
            .exitstatus
            .unwrap_or_else(|| "stopped without an exit status".into()),
        log_tail,
    })
}

/// The last [`LOG_TAIL`] lines, reading the log page by page up to its end.
async fn log_tail(api: &dyn ProxmoxApi, upid: &Upid) -> Result<Vec<String>> {
    let mut tail: Vec<TaskLogLine> = Vec::new();
    for page in 0..LOG_PAGES {
        let lines = api.task_log(upid, page * LOG_PAGE, LOG_PAGE).await?;
        let full = lines.len() as u64 >= LOG_PAGE;
        tail.extend(lines);
        let keep_from = tail.len().saturating_sub(LOG_TAIL);
        tail.drain(..keep_from);
        if !full {
            break;
        }
    }
    Ok(tail
        .into_iter()
        .map(|line| line.t)
        .filter(|t| !t.is_empty())
        .collect())
}
