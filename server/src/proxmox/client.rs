//! The real `ProxmoxApi`: reqwest over rustls with the node's certificate pinned.
//!
//! `Client` owns one reqwest client (HTTP/1.1 only — PVE puts its error text in the status
//! line's reason phrase, which HTTP/2 does not have), the authentication state, and the retry
//! policy. The pieces live next to it:
//! - `pin`: the rustls verifier that enforces the pinned fingerprint;
//! - `transport`: one HTTP exchange, and how reqwest errors and PVE statuses become [`Error`]s;
//! - `ticket`: the password/ticket session (login, two factors, renewal);
//! - `api`: the `ProxmoxApi` methods, one request each.
//!
//! **Invariant:** a request is repeated only when it certainly did not reach the node
//! (connect/handshake failures), or after a 401 (PVE checks credentials before doing
//! anything). A POST that may have been applied is never sent twice.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;

use super::pin::{self, PinnedVerifier};
use super::ticket::TicketSession;
use super::transport::{self, Call};
use super::{Error, Result};

/// How to authenticate.
#[derive(Clone)]
pub enum Auth {
    /// `Authorization: PVEAPIToken=<id>=<secret>`; `id` is `user@realm!tokenid`.
    Token { id: String, secret: String },
    /// A ticket from `/access/ticket` (cookie + CSRF header), renewed before its 2 h expiry.
    Password {
        username: String,
        password: String,
        otp: Option<String>,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Token { id, .. } => write!(f, "Token({id})"),
            Auth::Password { username, .. } => write!(f, "Password({username})"),
        }
    }
}

/// Where and how to reach one node.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub host: String,
    pub port: u16,
    /// The pinned SHA-256 fingerprint (`AB:CD:...`).
    pub fingerprint: String,
    pub auth: Auth,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

/// Knobs with sensible defaults that tests (and only rarely production) change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// Renew a ticket once it is this old. PVE tickets live 2 h; the default renews at 90 min.
    pub ticket_renew_after: Duration,
    /// Attempts for a request that failed before reaching the node (1 = no retry).
    pub retry_attempts: u32,
    /// Pause before the first retry; each later pause is 4× longer (200 ms, 800 ms, ...).
    pub retry_base_delay: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            ticket_renew_after: Duration::from_secs(90 * 60),
            retry_attempts: 3,
            retry_base_delay: Duration::from_millis(200),
        }
    }
}

/// A client for one node (or cluster entry point).
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    tuning: Tuning,
    /// `https://host:port/api2/json`, without a trailing slash.
    base: String,
    /// Pinned TLS, HTTP/1.1, the configured timeouts.
    http: reqwest::Client,
    /// What the verifier saw when the pin did not match (reqwest hides rustls' error type).
    mismatch: pin::MismatchSlot,
    /// The ticket session when authenticating with a password; `None` for API tokens.
    session: Option<TicketSession>,
}

impl Client {
    /// A client with the default [`Tuning`]. Fails on an unusable fingerprint or host.
    pub fn new(config: ClientConfig) -> Result<Client> {
        Client::with_tuning(config, Tuning::default())
    }

    /// A client with explicit retry and ticket-renewal settings.
    pub fn with_tuning(config: ClientConfig, tuning: Tuning) -> Result<Client> {
        let expected = super::tls::normalize_fingerprint(&config.fingerprint).ok_or_else(|| {
            Error::Config {
                detail: format!(
                    "{:?} is not a SHA-256 fingerprint (64 hex digits)",
                    config.fingerprint
                ),
            }
        })?;
        if config.host.is_empty() || config.host.contains(['/', '?', '#', '@', ' ']) {
            return Err(Error::Config {
                detail: format!("{:?} is not a host name or address", config.host),
            });
        }
        let verifier = PinnedVerifier::new(expected);
        let mismatch = verifier.mismatch_slot();
        let tls = pin::client_config(Arc::new(verifier))?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .http1_only()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .build()
            .map_err(|e| Error::Config {
                detail: format!("cannot build the HTTP client: {e}"),
            })?;
        let host = if config.host.contains(':') && !config.host.starts_with('[') {
            format!("[{}]", config.host)
        } else {
            config.host.clone()
        };
        let base = format!("https://{host}:{}/api2/json", config.port);
        let session = match &config.auth {
            Auth::Token { .. } => None,
            Auth::Password { .. } => Some(TicketSession::new(tuning.ticket_renew_after)),
        };
        Ok(Client {
            config,
            tuning,
            base,
            http,
            mismatch,
            session,
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    pub fn tuning(&self) -> &Tuning {
        &self.tuning
    }

    /// One authenticated API call: retried while nothing reached the node, re-authenticated
    /// once on a 401 with a ticket.
    pub(super) async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        params: Vec<(String, String)>,
    ) -> Result<T> {
        let call = Call {
            method,
            path,
            params: &params,
        };
        let Some(session) = &self.session else {
            let header = match &self.config.auth {
                Auth::Token { id, secret } => Some(transport::token_header(id, secret)?),
                Auth::Password { .. } => None,
            };
            return self.send_retrying(&call, header.as_ref(), None).await;
        };
        let ticket = session.current(self).await?;
        match self.send_retrying(&call, None, Some(&ticket)).await {
            Err(Error::Unauthorized { .. }) => {
                tracing::info!(
                    node.host = %self.config.host,
                    "the node refused the ticket; signing in again"
                );
                let fresh = session.relogin(self, &ticket).await?;
                self.send_retrying(&call, None, Some(&fresh)).await
            }
            other => other,
        }
    }

    /// Sends `call` (no credentials beyond those given), retrying only failures that happened
    /// before anything was sent.
    pub(super) async fn send_retrying<T: serde::de::DeserializeOwned>(
        &self,
        call: &Call<'_>,
        token: Option<&reqwest::header::HeaderValue>,
        ticket: Option<&super::ticket::Ticket>,
    ) -> Result<T> {
        let attempts = self.tuning.retry_attempts.max(1);
        let mut delay = self.tuning.retry_base_delay;
        let mut attempt = 1;
        loop {
            match transport::send(self, call, token, ticket).await {
                Err(err @ Error::Connect { .. }) if attempt < attempts => {
                    tracing::debug!(
                        node.host = %self.config.host,
                        attempt,
                        error = %err,
                        "request did not reach the node; retrying"
                    );
                    tokio::time::sleep(delay).await;
                    delay = delay.saturating_mul(4);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    pub(super) fn base(&self) -> &str {
        &self.base
    }

    pub(super) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub(super) fn mismatch(&self) -> &pin::MismatchSlot {
        &self.mismatch
    }
}
