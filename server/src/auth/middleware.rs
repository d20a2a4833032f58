//! The request gate. For every request it:
//! 1. refuses cross-site state-changing requests (`Sec-Fetch-Site`, else `Origin` vs `Host`);
//! 2. resolves the client's address and scheme (`forwarded`: forwarding headers count only
//!    from a trusted proxy) and the session cookie (`kiln_session`, or `__Host-kiln_session`
//!    when `Secure`) into a [`RequestCtx`] attached to the request;
//! 3. sends signed-out page views to `/login` (or `/setup` before the first user), and answers
//!    401 to signed-out calls of server functions and API routes (`/api/*`, and the event
//!    streams `/containers/{id}/events`: an `EventSource` cannot follow a redirect to a page).
//!
//! Public: `/login`, `/setup`, `/healthz`, `/readyz`, `/pkg/*`, `/theme`, and the `login` and
//! `setup_admin` server functions. The REST API (`/api/v1/*`) only gets the client's address
//! here: its own gate (`api::auth`) takes bearer tokens and never reads the cookie.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use kiln_app::ssr::RequestCtx;
use kiln_shared::AppError;

use crate::app_state::AppState;
use crate::auth::cookie as session_cookie;
use crate::auth::forwarded::{self, Origin};

/// Paths served to anyone, page or not.
fn is_public_asset(path: &str) -> bool {
    path == "/healthz" || path == "/readyz" || path == "/theme" || path.starts_with("/pkg/")
}

/// Paths answered 401 rather than sent to `/login` when signed out: server functions, and
/// the event streams of `routes::container_events`.
fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
        || path
            .strip_prefix("/containers/")
            .and_then(|rest| rest.strip_suffix("/events"))
            .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

/// The REST API (`/api/v1`), its document and reference page.
fn is_rest_api(path: &str) -> bool {
    path == crate::api::BASE || path.starts_with("/api/v1/")
}

/// Server functions callable while signed out.
const PUBLIC_FUNCTIONS: &[&str] = &["/api/fn/login", "/api/fn/setup_admin"];

pub async fn gate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();

    if !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS)
        && is_cross_site(req.headers())
    {
        tracing::warn!(http.path = %path, "refused a cross-site request");
        return (
            StatusCode::FORBIDDEN,
            "Cross-site requests are not allowed.",
        )
            .into_response();
    }
    if is_public_asset(&path) {
        return next.run(req).await;
    }

    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let origin = forwarded::resolve(&state.config.trusted_proxies, peer, req.headers());
    // The REST API authenticates its own way (`api::auth`: bearer tokens, never the cookie).
    if is_rest_api(&path) {
        req.extensions_mut().insert(RequestCtx {
            client_ip: client_ip(&origin),
            https: origin.https,
            ..RequestCtx::default()
        });
        return next.run(req).await;
    }
    let ctx = match request_ctx(&state, req.headers(), origin).await {
        Ok(ctx) => ctx,
        Err(err) => return error_response(&err),
    };
    let signed_in = ctx.user.is_some();
    req.extensions_mut().insert(ctx);

    if is_api(&path) {
        if !signed_in && !PUBLIC_FUNCTIONS.contains(&path.as_str()) {
            return error_response(&AppError::Unauthorized);
        }
        return next.run(req).await;
    }

    // A page.
    let needs_setup = match state.has_users().await {
        Ok(has) => !has,
        Err(e) => return error_response(&crate::errors::db("checking for users", e)),
    };
    match path.as_str() {
        "/setup" if needs_setup => next.run(req).await,
        _ if needs_setup => Redirect::to("/setup").into_response(),
        "/setup" | "/login" if signed_in => Redirect::to("/").into_response(),
        "/setup" => Redirect::to("/login").into_response(),
        "/login" => next.run(req).await,
        _ if !signed_in => {
            let target = req
                .uri()
                .path_and_query()
                .map(|pq| pq.as_str().to_owned())
                .unwrap_or_else(|| "/".into());
            let location = if target == "/" {
                "/login".to_owned()
            } else {
                format!("/login?next={}", urlencode(&target))
            };
            Redirect::to(&location).into_response()
        }
        _ => next.run(req).await,
    }
}

/// The longest the session lookup may take: Redis' pool bounds each connection attempt, but
/// recycles idle connections one after the other, so a stopped Redis could otherwise cost a
/// recycle timeout per idle connection.
const SESSION_LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

/// Builds the request's context from its cookie and origin (client address, https).
async fn request_ctx(
    state: &AppState,
    headers: &HeaderMap,
    origin: Origin,
) -> Result<RequestCtx, AppError> {
    let client_ip = client_ip(&origin);
    let mut ctx = RequestCtx {
        user: None,
        session_id: None,
        client_ip,
        https: origin.https,
        password_proved_at: None,
    };
    // Only the name that matches this request's `Secure` decision is read.
    let secure = session_cookie::is_secure(state.config.cookie_secure, origin.https);
    if let Some(id) = cookie(headers, session_cookie::session_name(secure)) {
        let session = tokio::time::timeout(SESSION_LOOKUP_TIMEOUT, state.sessions.lookup(&id))
            .await
            .map_err(anyhow::Error::from)
            .and_then(|found| found)
            .map_err(|e| crate::errors::redis("looking up a session", e))?;
        if let Some(session) = session {
            ctx.password_proved_at = Some(session.password_proved_at());
            ctx.user = Some(session.user);
            ctx.session_id = Some(id);
        }
    }
    Ok(ctx)
}

/// The client's address for the audit log and the limits (`unknown` when the peer is not
/// known).
fn client_ip(origin: &Origin) -> String {
    origin
        .client
        .map_or_else(|| "unknown".into(), |ip| ip.to_string())
}

/// A cookie's value from the `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| kiln_shared::cookie_value(v, name))
        .map(str::to_owned)
}

/// True when a browser tells us the request comes from another site.
pub fn is_cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        // Not a browser (or a very old one): there is no cross-site context to refuse.
        return false;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    match (origin_host, host) {
        (Some(o), Some(h)) => !o.eq_ignore_ascii_case(h),
        _ => true,
    }
}

fn error_response(err: &AppError) -> Response {
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_string(err).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn cross_site_detection() {
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(!is_cross_site(&headers(&[(
            "sec-fetch-site",
            "same-origin"
        )])));
        assert!(is_cross_site(&headers(&[
            ("origin", "https://evil.example"),
            ("host", "kiln.local:8080")
        ])));
        assert!(!is_cross_site(&headers(&[
            ("origin", "http://kiln.local:8080"),
            ("host", "kiln.local:8080")
        ])));
        assert!(is_cross_site(&headers(&[
            ("origin", "null"),
            ("host", "kiln.local")
        ])));
        assert!(!is_cross_site(&headers(&[])));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let h = headers(&[("cookie", "a=1; kiln_session=abc; kiln_theme=dark")]);
        assert_eq!(cookie(&h, "kiln_session").as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "missing"), None);
    }

    #[test]
    fn event_streams_are_api_paths() {
        assert!(is_api("/api/fn/login"));
        assert!(is_api("/containers/12/events"));
        assert!(!is_api("/containers/12"));
        assert!(!is_api("/containers//events"));
        assert!(!is_api("/containers/1/2/events"));
    }

    #[test]
    fn next_is_encoded() {
        assert_eq!(urlencode("/settings?a=b&c"), "/settings%3Fa%3Db%26c");
    }
}
