//! `proxmox::Error`: what went wrong talking to a node, and whether retrying is safe.

/// A failure of one API call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Could not connect (refused, DNS, unreachable). Nothing was sent: safe to retry.
    #[error("cannot connect to {host}: {detail}")]
    Connect { host: String, detail: String },
    /// The TLS certificate does not match the pinned fingerprint. Nothing was sent.
    #[error(
        "the node's certificate changed (expected SHA-256 {expected}, got {actual}); confirm the new one to trust it"
    )]
    CertificateChanged { expected: String, actual: String },
    /// No answer in time. The request may have been applied.
    #[error("{what} timed out after {secs} s")]
    Timeout { what: String, secs: u64 },
    /// 401: no or expired credentials.
    #[error("the node refused the credentials (401): {message}")]
    Unauthorized { message: String },
    /// 403: authenticated, but not allowed; `permission` when PVE names it.
    #[error("permission denied (403): {message}")]
    Forbidden {
        message: String,
        permission: Option<String>,
    },
    /// 400 with PVE's per-parameter messages.
    #[error("the node rejected the parameters: {}", format_params(.errors))]
    BadParameters {
        message: String,
        errors: Vec<(String, String)>,
    },
    /// Another 4xx (404, 409 ...) with PVE's message.
    #[error("the node answered {status}: {message}")]
    Client { status: u16, message: String },
    /// 5xx; 596 means a cluster node behind the one asked is unreachable. May have been applied.
    #[error("the node failed ({status}): {message}")]
    Server { status: u16, message: String },
    /// The answer could not be read as the expected type.
    #[error("unexpected answer from {what}: {detail}")]
    Decode { what: String, detail: String },
    /// The answer is larger than Kiln reads (`transport::MAX_BODY`); it was not read whole.
    /// The request may have been applied.
    #[error("the answer to {what} is larger than {limit_mib} MiB; Kiln stopped reading it")]
    TooLarge { what: String, limit_mib: usize },
    /// A task finished with an error exit status.
    #[error("task {upid} failed: {exitstatus}{}", tail(.log_tail))]
    TaskFailed {
        upid: String,
        exitstatus: String,
        log_tail: Vec<String>,
    },
    /// The connection broke after the request was sent. The request may have been applied.
    #[error("{what} failed after it was sent: {detail}")]
    Transport { what: String, detail: String },
    /// The client cannot build the request (bad fingerprint, host, credentials or parameters).
    /// Nothing was sent; repeating it will fail the same way.
    #[error("the Proxmox client is misconfigured: {detail}")]
    Config { detail: String },
    /// The method is not implemented by this `ProxmoxApi` (test fakes).
    #[error("{0} is not implemented here")]
    NotImplemented(&'static str),
}

impl Error {
    /// True when the request certainly did not reach the node, so it can be repeated.
    pub fn is_safe_to_retry(&self) -> bool {
        matches!(
            self,
            Error::Connect { .. } | Error::CertificateChanged { .. }
        )
    }
}

fn format_params(errors: &[(String, String)]) -> String {
    errors
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn tail(lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!(" (last log lines: {})", lines.join(" | "))
    }
}
