//! `Stub`: a tiny HTTPS server with a self-signed certificate (rcgen) that answers like a PVE
//! node with canned replies, records every request, and can restart with a new certificate.
//!
//! It knows nothing of PVE itself: each test passes a closure from the request to the reply.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Response, Uri};
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use kiln_server::proxmox::tls::fingerprint;
use kiln_server::proxmox::{Auth, ClientConfig};

pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One request as the stub saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    /// Raw path, still percent-encoded, including `/api2/json`.
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The path below `/api2/json`.
    pub fn api_path(&self) -> &str {
        self.path.strip_prefix("/api2/json").unwrap_or(&self.path)
    }

    /// Form body (POST/PUT) or query string (GET/DELETE) pairs, decoded.
    pub fn params(&self) -> Vec<(String, String)> {
        let raw = if self.method == Method::GET || self.method == Method::DELETE {
            &self.query
        } else {
            &self.body
        };
        form_urlencoded(raw)
    }

    pub fn param(&self, name: &str) -> Option<String> {
        self.params()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

fn form_urlencoded(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Percent-decoding with `+` as space (form encoding).
pub fn decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the stub answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// A custom reason phrase (PVE's error text).
    pub reason: Option<String>,
    pub body: String,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl Reply {
    /// `200 {"data": data}`.
    pub fn data(data: serde_json::Value) -> Reply {
        Reply {
            status: 200,
            reason: None,
            body: serde_json::json!({ "data": data }).to_string(),
            delay: Duration::ZERO,
        }
    }

    /// `status reason` with `{"data":null}`, as PVE fails.
    pub fn fail(status: u16, reason: &str) -> Reply {
        Reply {
            status,
            reason: Some(reason.to_owned()),
            body: r#"{"data":null}"#.to_owned(),
            delay: Duration::ZERO,
        }
    }

    pub fn with_body(mut self, body: serde_json::Value) -> Reply {
        self.body = body.to_string();
        self
    }

    pub fn raw_body(mut self, body: &str) -> Reply {
        self.body = body.to_owned();
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

pub type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

#[derive(Clone)]
struct StubState {
    handler: Handler,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// A running stub node.
pub struct Stub {
    pub addr: SocketAddr,
    /// SHA-256 of the current certificate, `AB:CD:...`.
    pub fingerprint: String,
    /// The current certificate, DER.
    pub cert_der: Vec<u8>,
    seen: Arc<Mutex<Vec<Seen>>>,
    handler: Handler,
    handle: Handle<SocketAddr>,
}

impl Stub {
    /// Starts on a free loopback port with a fresh certificate.
    pub async fn start(
        handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) -> Result<Stub, BoxError> {
        Stub::start_on("127.0.0.1:0".parse()?, Arc::new(handler), Arc::default()).await
    }

    async fn start_on(
        addr: SocketAddr,
        handler: Handler,
        seen: Arc<Mutex<Vec<Seen>>>,
    ) -> Result<Stub, BoxError> {
        let certified = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])?;
        let cert_der = certified.cert.der().to_vec();
        let key_der = certified.signing_key.serialize_der();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![rustls::pki_types::CertificateDer::from(cert_der.clone())],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key_der.into()),
            )?;
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let handle = Handle::new();
        let state = StubState {
            handler: Arc::clone(&handler),
            seen: Arc::clone(&seen),
        };
        let app = Router::new().fallback(answer).with_state(state);
        let server =
            axum_server::from_tcp_rustls(listener, RustlsConfig::from_config(Arc::new(tls)))?
                .handle(handle.clone());
        tokio::spawn(async move {
            let _ = server.serve(app.into_make_service()).await;
        });
        Ok(Stub {
            addr,
            fingerprint: fingerprint(&cert_der),
            cert_der,
            seen,
            handler,
            handle,
        })
    }

    /// Stops, then starts again on the same port with a NEW certificate (a reinstalled node).
    pub async fn restart_with_new_cert(self) -> Result<Stub, BoxError> {
        self.handle.shutdown();
        let (addr, handler, seen) = (self.addr, Arc::clone(&self.handler), Arc::clone(&self.seen));
        drop(self);
        // The port is free once the accept loop has stopped.
        for _ in 0..50 {
            match Stub::start_on(addr, Arc::clone(&handler), Arc::clone(&seen)).await {
                Ok(stub) => return Ok(stub),
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        Err("the port did not come free".into())
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Requests whose API path (below `/api2/json`) equals `path`.
    pub fn hits(&self, method: Method, path: &str) -> usize {
        self.requests()
            .iter()
            .filter(|s| s.method == method && s.api_path() == path)
            .count()
    }

    /// A client configuration for this stub, pinned to its certificate.
    pub fn config(&self, auth: Auth) -> ClientConfig {
        ClientConfig {
            host: "127.0.0.1".into(),
            port: self.addr.port(),
            fingerprint: self.fingerprint.clone(),
            auth,
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
        }
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

async fn answer(
    State(state): State<StubState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let seen = Seen {
        method,
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    if let Ok(mut all) = state.seen.lock() {
        all.push(seen.clone());
    }
    let reply = (state.handler)(&seen);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut response = Response::new(Body::from(reply.body));
    *response.status_mut() = axum::http::StatusCode::from_u16(reply.status)
        .unwrap_or(axum::http::StatusCode::IM_A_TEAPOT);
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    if let Some(reason) = reply.reason
        && let Ok(phrase) = hyper::ext::ReasonPhrase::try_from(reason)
    {
        response.extensions_mut().insert(phrase);
    }
    response
}

/// A token configuration (`root@pam!kiln` / `SECRET-UUID`).
pub fn token_auth() -> Auth {
    Auth::Token {
        id: "root@pam!kiln".into(),
        secret: TOKEN_SECRET.into(),
    }
}

pub const TOKEN_SECRET: &str = "5f0c7a52-1b7e-4c1e-9d43-7c1d2b3a4e5f";
pub const PASSWORD: &str = "hunter2-very-secret";
