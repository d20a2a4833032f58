//! The server-side seam of the app: what server functions may use, and nothing more.
//!
//! Server functions are adapters: they decode their arguments, find out who is asking (an
//! [`Actor`], from the [`RequestCtx`] the server's gate attached to the request), call a
//! backend the server provides as context, and map the error. The backends — one trait per
//! domain, in the submodules — are implemented by the server's services, which validate,
//! authorize and audit on their own; nothing here decides what a caller may do beyond "is
//! anyone signed in". The traits also keep `app` free of a dependency on `server`.

mod alerts;
mod auth;
mod containers;
mod metrics;
mod nodes;
mod templates;

pub use alerts::{AlertsBackend, SharedAlerts, alerts_backend};
pub use auth::{AuthBackend, SetCookie, SharedAuth, auth_backend};
pub use containers::{ContainersBackend, SharedContainers, containers_backend};
pub use metrics::{MetricsBackend, SharedMetrics, metrics_backend};
pub use nodes::{NodesBackend, SharedNodes, nodes_backend};
pub use templates::{SharedTemplates, TemplatesBackend, templates_backend};

use kiln_shared::AppError;
use kiln_shared::auth::{Actor, CurrentUser};
use leptos::prelude::*;

/// What the server's auth middleware learned about a request.
#[derive(Debug, Clone, Default)]
pub struct RequestCtx {
    /// The signed-in user, when the session cookie named a live session.
    pub user: Option<CurrentUser>,
    /// The session id from the cookie (only when it named a live session).
    pub session_id: Option<String>,
    /// The client address, for the audit log and rate limits.
    pub client_ip: String,
    /// Whether the request reached us over HTTPS (decides the cookie's `Secure`).
    pub https: bool,
    /// When (Unix seconds) the session last proved the user's password: its sign-in, or the
    /// password asked again since (see `Actor::password_proved_at`).
    pub password_proved_at: Option<i64>,
}

impl RequestCtx {
    /// The signed-in user as the services' [`Actor`].
    pub fn actor(&self) -> Option<Actor> {
        self.user.as_ref().map(|user| {
            Actor::user(user, self.client_ip.clone())
                .with_password_proved_at(self.password_proved_at)
        })
    }
}

/// The request's context (empty when called outside a request).
pub fn request_ctx() -> RequestCtx {
    use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<RequestCtx>().cloned())
        .unwrap_or_default()
}

/// The signed-in caller as an [`Actor`], or `Unauthorized`.
pub fn require_user() -> Result<Actor, AppError> {
    request_ctx().actor().ok_or(AppError::Unauthorized)
}

/// A backend provided as context, or `Internal` when the server forgot to provide it.
fn provided<T: Clone + Send + Sync + 'static>() -> Result<T, AppError> {
    use_context::<T>().ok_or(AppError::Internal)
}

/// Sets the HTTP status of the response from the error, so API clients see 401/422/429...
///
/// A plain HTML form post (no JavaScript) is sent back to the page it came from with
/// `?error=<kind>`, which the page turns into a message (see `components::form::FormError`).
pub fn respond<T>(result: Result<T, AppError>) -> Result<T, AppError> {
    if let Err(err) = &result {
        match plain_form_referer() {
            Some(back) => leptos_axum::redirect(&with_error(&back, error_kind(err))),
            None => set_status(err.status()),
        }
    }
    result
}

/// [`respond`], and a plain form post that succeeded goes back to its page with
/// `?notice=<word>` (a fixed word the page turns into a message: there is no toast without
/// JavaScript).
pub fn respond_noticed<T>(result: Result<T, AppError>, notice: &str) -> Result<T, AppError> {
    if result.is_ok()
        && let Some(back) = plain_form_referer()
    {
        let (base, query) = back.split_once('?').unwrap_or((&back, ""));
        let mut params: Vec<&str> = query
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("error=") && !p.starts_with("notice="))
            .collect();
        let notice = format!("notice={notice}");
        params.push(&notice);
        leptos_axum::redirect(&format!("{base}?{}", params.join("&")));
    }
    respond(result)
}

/// The same-site page a no-JavaScript form post came from.
fn plain_form_referer() -> Option<String> {
    let parts = use_context::<http::request::Parts>()?;
    let accepts_html = parts
        .headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if !accepts_html {
        return None;
    }
    let referer = parts.headers.get(http::header::REFERER)?.to_str().ok()?;
    let path = referer.split_once("://").map(|(_, rest)| rest)?;
    let path = &path[path.find('/')?..];
    (path.starts_with('/') && !path.starts_with("//")).then(|| path.to_owned())
}

/// `path` with `error=<kind>` replacing any previous one.
fn with_error(path: &str, kind: &str) -> String {
    let (base, query) = path.split_once('?').unwrap_or((path, ""));
    let mut params: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("error="))
        .collect();
    let error = format!("error={kind}");
    params.push(&error);
    format!("{base}?{}", params.join("&"))
}

/// The serde tag of an error (`login_failed`, `rate_limited`, ...).
fn error_kind(err: &AppError) -> &'static str {
    match err {
        AppError::Unauthorized => "unauthorized",
        AppError::LoginFailed => "login_failed",
        AppError::Forbidden(_) => "forbidden",
        AppError::NotFound(_) => "not_found",
        AppError::Conflict(_) => "conflict",
        AppError::Invalid(_) => "invalid",
        AppError::RateLimited { .. } => "rate_limited",
        AppError::Unavailable(_) => "unavailable",
        AppError::Internal | AppError::Transport(_) => "internal",
    }
}

/// Sets the response status (SSR pages and server functions alike).
pub fn set_status(status: u16) {
    if let (Some(options), Ok(code)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::StatusCode::from_u16(status),
    ) {
        options.set_status(code);
    }
}

/// Adds a `Set-Cookie` header to the response.
pub fn set_cookie(value: &str) {
    if let (Some(options), Ok(header)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::HeaderValue::from_str(value),
    ) {
        options.append_header(http::header::SET_COOKIE, header);
    }
}

/// A same-site path to go to after sign-in; anything else becomes `/`.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && path.chars().all(|c| c.is_ascii_graphic())
                && !path.starts_with("/login")
                && !path.starts_with("/setup") =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// The value of cookie `name` in the request being rendered.
pub fn request_cookie(name: &str) -> Option<String> {
    use_context::<http::request::Parts>().and_then(|parts| {
        parts
            .headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| kiln_shared::cookie_value(v, name))
            .map(str::to_owned)
    })
}

#[cfg(test)]
mod tests {
    use super::{safe_next, with_error};

    #[test]
    fn error_replaces_error() {
        assert_eq!(
            with_error("/login", "login_failed"),
            "/login?error=login_failed"
        );
        assert_eq!(
            with_error("/login?next=/x&error=invalid", "login_failed"),
            "/login?next=/x&error=login_failed"
        );
    }

    #[test]
    fn next_stays_on_site() {
        assert_eq!(safe_next(Some("/settings")), "/settings");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil")), "/");
        assert_eq!(safe_next(Some("/login")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
