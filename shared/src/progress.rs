//! What a creation's live progress stream carries (`GET /containers/{id}/events`, Server-Sent
//! Events): one [`ContainerEvent`] per persisted event (SSE `id:` its `seq`, `event:` its
//! `kind`), then, once the container is finished, one [`StreamEnd`] (`event: end`), after
//! which the browser must `close()` its `EventSource`.

use serde::{Deserialize, Serialize};

/// The SSE event name of the last message of a finished container's stream.
pub const END_EVENT: &str = "end";

/// One step, log chunk or outcome of a container's creation, numbered per container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StreamEnd {
    /// `ready` or `failed`; [`DELETED`] when the container was deleted while watched.
    pub status: String,
    /// Why it failed (for `failed`).
    pub error: Option<String>,
}

/// One phase of a creation as the progress page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phase {
    /// The job's word for it (`packages`).
    pub name: &'static str,
    /// What the page calls it.
    pub label: &'static str,
    /// Its share of the progress bar, in percent (all add up to 100).
    pub weight: u32,
}

/// The creation's phases, in order, with their share of the progress bar (packages and
/// scripts take most of a real creation's time).
pub const PHASES: [Phase; 9] = [
    Phase {
        name: "allocate",
        label: "Allocate a VMID",
        weight: 2,
    },
    Phase {
        name: "create",
        label: "Create on the node",
        weight: 14,
    },
    Phase {
        name: "start",
        label: "Start",
        weight: 5,
    },
    Phase {
        name: "network",
        label: "Wait for the network",
        weight: 8,
    },
    Phase {
        name: "files",
        label: "Push files",
        weight: 5,
    },
    Phase {
        name: "packages",
        label: "Install packages",
        weight: 36,
    },
    Phase {
        name: "scripts",
        label: "Run scripts",
        weight: 22,
    },
    Phase {
        name: "discover",
        label: "Discover services",
        weight: 5,
    },
    Phase {
        name: "ready",
        label: "Ready",
        weight: 3,
    },
];

/// The position of `phase` in [`PHASES`].
pub fn phase_index(phase: &str) -> Option<usize> {
    PHASES.iter().position(|p| p.name == phase)
}

/// The progress bar's percentage while `phase` runs (the phases before it are done), or 100
/// once the creation is ready.
pub fn percent(phase: Option<&str>, ready: bool) -> u32 {
    if ready {
        return 100;
    }
    let upto = phase.and_then(phase_index).unwrap_or(0);
    PHASES[..upto].iter().map(|p| p.weight).sum()
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

/// The [`StreamEnd`] status of a container deleted while it was watched (its row is gone).
pub const DELETED: &str = "deleted";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shares_add_up_and_grow_with_the_phases() {
        assert_eq!(PHASES.iter().map(|p| p.weight).sum::<u32>(), 100);
        assert_eq!(percent(None, false), 0);
        assert_eq!(percent(Some("allocate"), false), 0);
        assert_eq!(percent(Some("create"), false), 2);
        assert!(percent(Some("scripts"), false) > percent(Some("packages"), false));
        assert_eq!(percent(Some("ready"), true), 100);
        assert_eq!(percent(Some("unknown"), false), 0);
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
