//! What a creation's live progress stream carries (`GET /containers/{id}/events`, Server-Sent
//! Events): one [`ContainerEvent`] per persisted event (SSE `id:` its `seq`, `event:` its
//! `kind`), then, once the container is finished, one [`StreamEnd`] (`event: end`), after
//! which the browser must `close()` its `EventSource`.

use serde::{Deserialize, Serialize};

/// The SSE event name of the last message of a finished container's stream.
pub const END_EVENT: &str = "end";

/// One step, log chunk or outcome of a container's creation, numbered per container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerEvent {
    /// 1, 2, 3… per container; the SSE `id`, so a reconnect resumes after it.
    pub seq: i64,
    /// When the job wrote it (RFC 3339, UTC).
    pub at: String,
    /// The creation phase it belongs to (`allocate`, `create`, `start`, …).
    pub phase: String,
    /// `phase` (a phase began), `log` (output) or `outcome` (how the job ended).
    pub kind: String,
    /// The text shown (never a secret).
    pub text: String,
}

/// The final message: the container's status is terminal and every event has been sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamEnd {
    /// `ready` or `failed`.
    pub status: String,
    /// Why it failed (for `failed`).
    pub error: Option<String>,
}

/// A phase of a container's creation and its share of the progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phase {
    /// Its name, as events carry it (`packages`).
    pub name: &'static str,
    /// Its share of the progress bar, in percent (the shares add up to 100).
    pub share: u8,
}

const fn phase(name: &'static str, share: u8) -> Phase {
    Phase { name, share }
}

/// The creation's phases, in the order the job runs them (the job's own list).
pub const PHASES: [Phase; 9] = [
    phase("allocate", 2),
    phase("create", 14),
    phase("start", 5),
    phase("network", 6),
    phase("files", 5),
    phase("packages", 35),
    phase("scripts", 23),
    phase("discover", 8),
    phase("ready", 2),
];

/// How far the bar is (percent) when `phase` begins; `None` for a name that is no phase.
pub fn percent_at_start(phase: &str) -> Option<u8> {
    let index = PHASES.iter().position(|p| p.name == phase)?;
    Some(PHASES[..index].iter().map(|p| p.share).sum())
}

/// The level of a line written by the helper library's `log_info`/`log_warn`/`log_error`
/// (`[12:00:01] WARN: message`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// `log_info`.
    Info,
    /// `log_warn`.
    Warn,
    /// `log_error`.
    Error,
}

/// A helper-library log line's level and message; `None` for any other output line.
pub fn helper_log(text: &str) -> Option<(LogLevel, &str)> {
    let rest = text.strip_prefix('[')?;
    let (time, rest) = rest.split_at_checked(8)?;
    let time_ok = time.bytes().enumerate().all(|(i, b)| match i {
        2 | 5 => b == b':',
        _ => b.is_ascii_digit(),
    });
    if !time_ok {
        return None;
    }
    let rest = rest.strip_prefix("] ")?;
    let (level, message) = rest.split_once(": ").or_else(|| {
        // A message may be empty: "[..] INFO:".
        rest.strip_suffix(':').map(|level| (level, ""))
    })?;
    let level = match level {
        "INFO" => LogLevel::Info,
        "WARN" => LogLevel::Warn,
        "ERROR" => LogLevel::Error,
        _ => return None,
    };
    Some((level, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shares_add_up_to_the_whole_bar() {
        assert_eq!(PHASES.iter().map(|p| u32::from(p.share)).sum::<u32>(), 100);
        assert_eq!(percent_at_start("allocate"), Some(0));
        assert_eq!(percent_at_start("discover"), Some(90));
        assert_eq!(percent_at_start("nope"), None);
    }

    #[test]
    fn helper_log_lines_are_recognised() {
        assert_eq!(
            helper_log("[09:41:07] WARN: disk is small"),
            Some((LogLevel::Warn, "disk is small"))
        );
        assert_eq!(helper_log("[09:41:07] ERROR:"), Some((LogLevel::Error, "")));
        assert_eq!(helper_log("[9:41:07] INFO: x"), None);
        assert_eq!(helper_log("[09:41:07] DEBUG: x"), None);
        assert_eq!(helper_log("Setting up jq"), None);
        assert_eq!(helper_log("[é"), None);
    }
}
