//! One HTTP exchange with a node, and the mapping of everything that can go wrong onto
//! [`Error`]'s classes.
//!
//! - reqwest errors: certificate failures (found in the error chain, see `pin`) →
//!   `CertificateChanged`; connect errors and connect timeouts → `Connect` (nothing was sent);
//!   the request timeout → `Timeout`; anything after sending → `Transport`.
//! - PVE statuses: 400 with `errors` → `BadParameters`, 401, 403 (with the privilege PVE
//!   names), other 4xx → `Client`, 5xx and 596 → `Server`. PVE writes its message into the
//!   status line's reason phrase; hyper keeps a non-canonical one as a response extension.
//!
//! - Answers are read up to [`MAX_BODY`]: a larger one (by `Content-Length`, or while it
//!   streams) is `TooLarge`, and the connection is dropped.
//!
//! **Invariant:** no secret reaches an error or a log line: parameters are never logged,
//! credential headers are marked sensitive, URLs are stripped from reqwest's messages.

use std::collections::BTreeMap;
use std::time::Instant;

use reqwest::header::{AUTHORIZATION, COOKIE, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::client::Client;
use super::pin::{self, CertFailure};
use super::ticket::Ticket;
use super::{Error, Result};

/// The largest answer read from a node. PVE's largest answers (the resources of a big
/// cluster, long task logs) are a few MiB.
pub const MAX_BODY: usize = 32 * 1024 * 1024;

/// One request: `path` is relative to `/api2/json`, segments already percent-encoded.
#[derive(Debug)]
pub struct Call<'a> {
    pub method: Method,
    pub path: &'a str,
    /// Query string for GET/DELETE, form body for POST/PUT. May hold secrets: never logged.
    pub params: &'a [(String, String)],
}

impl Call<'_> {
    /// `GET /nodes/pve/lxc`: names the call in errors and logs.
    fn what(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    fn params_in_query(&self) -> bool {
        self.method == Method::GET || self.method == Method::DELETE
    }
}

/// `Authorization: PVEAPIToken=<id>=<secret>`, marked sensitive.
pub fn token_header(id: &str, secret: &str) -> Result<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("PVEAPIToken={id}={secret}")).map_err(|_| {
        Error::Config {
            detail: "the API token id or secret contains characters a header cannot carry".into(),
        }
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// Sends `call` once with the given credentials and reads the answer.
pub async fn send<T: DeserializeOwned>(
    client: &Client,
    call: &Call<'_>,
    token: Option<&HeaderValue>,
    ticket: Option<&Ticket>,
) -> Result<T> {
    let url = format!("{}{}", client.base(), call.path);
    let mut request = client.http().request(call.method.clone(), url);
    if call.params_in_query() {
        if !call.params.is_empty() {
            request = request.query(call.params);
        }
    } else {
        request = request.form(call.params);
    }
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, token.clone());
    }
    if let Some(ticket) = ticket {
        request = request.header(COOKIE, ticket.cookie()?);
        if call.method != Method::GET {
            request = request.header("CSRFPreventionToken", ticket.csrf()?);
        }
    }
    let started = Instant::now();
    let response = request
        .send()
        .await
        .map_err(|e| send_error(client, call, &e))?;
    let status = response.status();
    let reason = response
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned());
    let body = read_body(client, call, response).await?;
    tracing::debug!(
        node.host = %client.config().host,
        http.method = %call.method,
        http.path = call.path,
        http.status = status.as_u16(),
        duration_ms = started.elapsed().as_millis() as u64,
        "proxmox call"
    );
    interpret(&call.what(), status, reason.as_deref(), &body)
}

/// Reads the body of `response`, at most [`MAX_BODY`] bytes.
async fn read_body(
    client: &Client,
    call: &Call<'_>,
    mut response: reqwest::Response,
) -> Result<Vec<u8>> {
    let too_large = || Error::TooLarge {
        what: call.what(),
        limit_mib: MAX_BODY / (1024 * 1024),
    };
    if response
        .content_length()
        .is_some_and(|length| length > MAX_BODY as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| send_error(client, call, &e))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Maps a reqwest failure (before or after sending) to an [`Error`].
fn send_error(client: &Client, call: &Call<'_>, err: &reqwest::Error) -> Error {
    let config = client.config();
    let host = format!("{}:{}", config.host, config.port);
    let detail = chain(err);
    match pin::cert_failure(err) {
        Some(CertFailure::Mismatch(actual)) => return changed(client, actual),
        Some(CertFailure::Other(reason)) => {
            return Error::Connect {
                host,
                detail: format!("TLS handshake failed: {reason}"),
            };
        }
        None => {}
    }
    if err.is_connect() {
        // reqwest hid the rustls error: fall back on what the verifier recorded.
        if detail.contains("certificate")
            && let Some(actual) = client.mismatch().lock().ok().and_then(|s| s.clone())
        {
            return changed(client, actual);
        }
        let detail = if err.is_timeout() {
            format!(
                "no connection within {} s",
                config.connect_timeout.as_secs_f32()
            )
        } else {
            detail
        };
        return Error::Connect { host, detail };
    }
    if err.is_timeout() {
        return Error::Timeout {
            what: call.what(),
            secs: config.request_timeout.as_secs(),
        };
    }
    Error::Transport {
        what: call.what(),
        detail,
    }
}

fn changed(client: &Client, actual: String) -> Error {
    let pinned = &client.config().fingerprint;
    Error::CertificateChanged {
        expected: super::tls::normalize_fingerprint(pinned).unwrap_or_else(|| pinned.clone()),
        actual,
    }
}

/// `err` and its sources joined by `: ` (without the URL), repeated parts dropped.
fn chain(err: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    let head = err.to_string();
    let head = head
        .split(" for url (")
        .next()
        .unwrap_or_default()
        .to_owned();
    parts.push(head);
    while let Some(current) = next {
        let text = current.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = current.source();
    }
    parts.join(": ")
}

/// Reads PVE's answer: the `data` of a success, or the error class of a failure.
pub fn interpret<T: DeserializeOwned>(
    what: &str,
    status: StatusCode,
    reason: Option<&str>,
    body: &[u8],
) -> Result<T> {
    #[derive(Deserialize)]
    struct Envelope<T> {
        data: T,
    }
    if status.is_success() {
        return serde_json::from_slice::<Envelope<T>>(body)
            .map(|envelope| envelope.data)
            .map_err(|e| Error::Decode {
                what: what.to_owned(),
                detail: e.to_string(),
            });
    }
    let failure = serde_json::from_slice::<FailureBody>(body).unwrap_or_default();
    let message = reason
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .or(failure.message.map(|m| m.trim().to_owned()))
        .or(status.canonical_reason().map(str::to_owned))
        .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
    let code = status.as_u16();
    match code {
        400 if !failure.errors.is_empty() => Err(Error::BadParameters {
            message,
            errors: failure
                .errors
                .into_iter()
                .map(|(param, text)| {
                    let text = match text {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (param, text.trim().to_owned())
                })
                .collect(),
        }),
        401 => Err(Error::Unauthorized { message }),
        403 => Err(Error::Forbidden {
            permission: missing_permission(&message),
            message,
        }),
        500.. => Err(Error::Server {
            status: code,
            message,
        }),
        _ => Err(Error::Client {
            status: code,
            message,
        }),
    }
}

/// The body of a failure: `{"data":null,"errors":{..}}`, sometimes with a `message`.
#[derive(Debug, Default, Deserialize)]
struct FailureBody {
    #[serde(default)]
    errors: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    message: Option<String>,
}

/// `Permission check failed (/vms/100, VM.Allocate)` → `VM.Allocate`; `None` when the message
/// names no privilege (`Permission check failed (user != root@pam)`).
pub fn missing_permission(message: &str) -> Option<String> {
    let open = message.rfind('(')?;
    let close = open + message[open..].find(')')?;
    let last = message[open + 1..close].rsplit(',').next()?.trim();
    let looks_like_privilege = last.contains('.')
        && last.starts_with(|c: char| c.is_ascii_uppercase())
        && last
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '|');
    looks_like_privilege.then(|| last.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_missing_privilege() {
        assert_eq!(
            missing_permission("Permission check failed (/vms/100, VM.Allocate)").as_deref(),
            Some("VM.Allocate")
        );
        assert_eq!(
            missing_permission("Permission check failed (/, Sys.Audit|Sys.Modify)").as_deref(),
            Some("Sys.Audit|Sys.Modify")
        );
        assert_eq!(
            missing_permission("Permission check failed (user != root@pam)"),
            None
        );
        assert_eq!(missing_permission("Permission check failed"), None);
    }

    #[test]
    fn parameter_errors_and_reason_phrases() {
        let body =
            br#"{"data":null,"errors":{"vmid":"invalid format - value must be positive\n"}}"#;
        let err = interpret::<()>(
            "POST /nodes/pve/lxc",
            StatusCode::BAD_REQUEST,
            Some("Parameter verification failed."),
            body,
        );
        match err {
            Err(Error::BadParameters { message, errors }) => {
                assert_eq!(message, "Parameter verification failed.");
                assert_eq!(
                    errors,
                    vec![(
                        "vmid".to_owned(),
                        "invalid format - value must be positive".to_owned()
                    )]
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        let status = StatusCode::from_u16(596).unwrap_or(StatusCode::BAD_GATEWAY);
        let err = interpret::<()>("GET /nodes", status, None, br#"{"data":null}"#);
        assert!(matches!(err, Err(Error::Server { status: 596, .. })));
    }
}
