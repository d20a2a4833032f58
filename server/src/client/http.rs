//! The HTTP side of the command line client: one `reqwest` client (rustls with ring, the
//! platform's root certificates for `https://`), the bearer token on every call, and the
//! retry rules scripts can rely on.
//!
//! Retries: a request that never reached Kiln (connection refused) is sent again, as is a 429
//! (refused before it ran) after its `Retry-After`; a request that may have run (a timeout, a
//! 503 half-way) is sent again only when that is safe — a read, or a write carrying an
//! `Idempotency-Key`. At most [`ATTEMPTS`] in all; then exit 7.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::config::{self, Profile};
use super::error::CliError;

/// Where the API lives under the server's URL.
pub const API: &str = "/api/v1";
/// How long one call may take: a power action answers once the Proxmox task ended (a
/// shutdown waits up to 90 s).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(180);
/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Tries per call, the first included.
pub const ATTEMPTS: u32 = 3;
/// The longest `Retry-After` honoured; a longer one ends the command (exit 7).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// A Kiln server's API, as one user (or, before login, as nobody).
#[derive(Clone)]
pub struct Api {
    /// The server's base URL, without a trailing `/` or `/api/v1`.
    base: String,
    /// The bearer token; `None` only for `POST /auth/token`.
    token: Option<String>,
    http: reqwest::Client,
}

/// A successful answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    /// The JSON body (`Null` when empty, e.g. 204).
    pub body: Value,
}

/// The server's URL as typed (`kiln.example:8443/`, `https://kiln.example/api/v1`) made
/// canonical: a scheme (`https://` unless `http://` is given), no trailing `/` or `/api/v1`.
pub fn normalize_url(url: &str) -> Result<String, CliError> {
    let url = url.trim();
    let with_scheme = if url.starts_with("http://") || url.starts_with("https://") {
        url.to_owned()
    } else if url.contains("://") {
        return Err(CliError::usage(format!(
            "{url} is not an http:// or https:// URL"
        )));
    } else {
        format!("https://{url}")
    };
    let trimmed = with_scheme.trim_end_matches('/');
    let trimmed = trimmed.strip_suffix(API).unwrap_or(trimmed);
    let parsed = reqwest::Url::parse(trimmed)
        .map_err(|e| CliError::usage(format!("{url} is not a URL: {e}")))?;
    if parsed.host_str().is_none_or(str::is_empty)
        || !parsed.username().is_empty()
        || parsed.query().is_some()
    {
        return Err(CliError::usage(format!(
            "{url} is not a server URL (scheme, host, optional port and path)"
        )));
    }
    Ok(trimmed.trim_end_matches('/').to_owned())
}

/// A readable line for a transport error, with its causes ("connection refused").
fn transport(base: &str, e: &reqwest::Error) -> CliError {
    let mut text = format!("cannot reach Kiln at {base}");
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut last = String::new();
    while let Some(cause) = source {
        last = cause.to_string();
        source = cause.source();
    }
    if e.is_timeout() {
        text.push_str(": no answer in time");
    } else if !last.is_empty() {
        text.push_str(": ");
        text.push_str(&last);
    }
    CliError::unreachable(text)
}

/// The `Retry-After` of an answer (seconds), if any.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

impl Api {
    /// A client of the server at `url` (see [`normalize_url`]), with `token` when signed in.
    pub fn new(url: &str, token: Option<String>) -> Result<Api, CliError> {
        use rustls_platform_verifier::BuilderVerifierExt;
        let base = normalize_url(url)?;
        let fail = |e: &dyn std::fmt::Display| {
            CliError::failed(format!("cannot set up the HTTP client: {e}"))
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(&e))?
        .with_platform_verifier()
        .map_err(|e| fail(&e))?
        .with_no_client_auth();
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("kiln-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| fail(&e))?;
        Ok(Api { base, token, http })
    }

    /// The client of the signed-in server ([`config::current`]); exit 3 when there is none.
    pub fn signed_in() -> Result<Api, CliError> {
        let Profile { url, token } = config::current()?.ok_or_else(CliError::not_signed_in)?;
        Api::new(&url, Some(token))
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The token, when signed in.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .request(method, format!("{}{API}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        request
    }

    /// `GET path` (under `/api/v1`): the JSON answer.
    pub async fn get(&self, path: &str) -> Result<Value, CliError> {
        Ok(self.call(Method::GET, path, None, None).await?.body)
    }

    /// [`Api::get`] as a type.
    pub async fn get_as<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        let value = self.get(path).await?;
        serde_json::from_value(value).map_err(|e| {
            CliError::failed(format!(
                "Kiln's answer to GET {API}{path} is not what this kiln expects: {e}"
            ))
        })
    }

    /// Every item of a paginated list (`{"items", "next_cursor"}`), following the cursors; a
    /// plain JSON array is taken whole.
    pub async fn all_pages(&self, path: &str) -> Result<Vec<Value>, CliError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let separator = if path.contains('?') { '&' } else { '?' };
            let url = match &cursor {
                Some(c) => format!("{path}{separator}limit=1000&cursor={c}"),
                None => format!("{path}{separator}limit=1000"),
            };
            let page = self.get(&url).await?;
            if let Value::Array(all) = page {
                items.extend(all);
                return Ok(items);
            }
            if let Some(Value::Array(more)) = page.get("items") {
                items.extend(more.iter().cloned());
            }
            match page.get("next_cursor").and_then(Value::as_str) {
                Some(next) if !next.is_empty() && Some(next) != cursor.as_deref() => {
                    cursor = Some(
                        percent_encoding::utf8_percent_encode(
                            next,
                            percent_encoding::NON_ALPHANUMERIC,
                        )
                        .to_string(),
                    );
                }
                _ => return Ok(items),
            }
        }
    }

    /// One call with the retry rules of the module docs; an error answer becomes its
    /// [`CliError`] (the API's message and fields, the documented exit code).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Answer, CliError> {
        let safe_to_repeat = method == Method::GET || idempotency_key.is_some();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= ATTEMPTS;
            let mut request = self
                .request(method.clone(), path)
                .header(ACCEPT, "application/json")
                .timeout(REQUEST_TIMEOUT);
            if let Some(key) = idempotency_key {
                request = request.header("Idempotency-Key", key);
            }
            if let Some(body) = body {
                request = request.json_body(body);
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(e) if !last && (e.is_connect() || safe_to_repeat) => {
                    tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
                    continue;
                }
                Err(e) => return Err(transport(&self.base, &e)),
            };
            let status = response.status();
            let wait = retry_after(response.headers());
            let repeat = match status {
                StatusCode::TOO_MANY_REQUESTS => true,
                StatusCode::SERVICE_UNAVAILABLE => safe_to_repeat,
                _ => false,
            };
            let bytes = response
                .bytes()
                .await
                .map_err(|e| transport(&self.base, &e))?;
            if status.is_success() {
                let body = if bytes.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&bytes).map_err(|e| {
                        CliError::failed(format!(
                            "Kiln's answer to {method} {API}{path} is not JSON: {e}"
                        ))
                    })?
                };
                return Ok(Answer { status, body });
            }
            let wait = wait.unwrap_or(Duration::from_secs(2));
            if repeat && !last && wait <= MAX_RETRY_AFTER {
                tokio::time::sleep(wait).await;
                continue;
            }
            return Err(CliError::from_answer(status.as_u16(), &bytes));
        }
    }

    /// Opens an event stream (`GET path`, `text/event-stream`), resuming after
    /// `last_event_id` when given. `None` when the server says there is nothing more (204).
    pub async fn events(
        &self,
        path: &str,
        last_event_id: Option<&str>,
    ) -> Result<Option<reqwest::Response>, CliError> {
        let mut request = self
            .request(Method::GET, path)
            .header(ACCEPT, "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request
            .send()
            .await
            .map_err(|e| transport(&self.base, &e))?;
        let status = response.status();
        if status == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        if !status.is_success() {
            let bytes = response.bytes().await.unwrap_or_default();
            return Err(CliError::from_answer(status.as_u16(), &bytes));
        }
        Ok(Some(response))
    }
}

/// A JSON body without reqwest's `json` feature (the server builds reqwest without it).
trait JsonBody {
    fn json_body(self, body: &Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, body: &Value) -> Self {
        self.header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::error::Exit;

    #[test]
    fn urls_are_made_canonical() {
        for (typed, canonical) in [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
            ("kiln.example", "https://kiln.example"),
            ("https://kiln.example/api/v1/", "https://kiln.example"),
            ("https://example.org/kiln/", "https://example.org/kiln"),
        ] {
            assert_eq!(normalize_url(typed), Ok(canonical.to_owned()), "{typed}");
        }
        for bad in [
            "ftp://kiln",
            "https://",
            "https://user@kiln",
            "http://x?y=1",
        ] {
            assert_eq!(
                normalize_url(bad).map_err(|e| e.exit),
                Err(Exit::Usage),
                "{bad}"
            );
        }
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, reqwest::header::HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
    }
}
