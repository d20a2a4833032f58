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
    /// `ready` or `failed`; [`DELETED`] when the container was deleted while watched.
    pub status: String,
    /// Why it failed (for `failed`).
    pub error: Option<String>,
}

/// The [`StreamEnd`] status of a container deleted while it was watched (its row is gone).
pub const DELETED: &str = "deleted";
