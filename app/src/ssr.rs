//! The server-side seam of the app: what server functions may use, and nothing more.
//!
//! Server functions stay thin: they read the [`RequestCtx`] the server's middleware attached to
//! the request, check the caller, validate with `kiln_shared` rules, and call the [`Backend`]
//! the server provides as context. All logic touching PostgreSQL or Redis lives in the server
//! crate, behind this trait (which also keeps `app` free of a dependency on `server`).

use std::sync::Arc;

use async_trait::async_trait;
use kiln_shared::AppError;
use kiln_shared::auth::{CurrentUser, UserSummary};
use kiln_shared::catalog::{Bucket, BucketInput, Catalog, SyncSummary, TemplateDetail};
use kiln_shared::nodes::{
    HostKeyInfo, NodeInput, NodeSummary, NodeView, PveLogin, SshAccess, TokenCreated,
};
use kiln_shared::pve::CertificateInfo;
use kiln_shared::templates::Template;
use leptos::prelude::*;

/// What the server's auth middleware learned about a request.
#[derive(Debug, Clone, Default)]
pub struct RequestCtx {
    /// The signed-in user, when the session cookie named a live session.
    pub user: Option<CurrentUser>,
    /// The session id from the cookie (only when it named a live session).
    pub session_id: Option<String>,
    /// The peer address, for the audit log and rate limits.
    pub client_ip: String,
    /// Whether the request reached us over HTTPS (decides the cookie's `Secure`).
    pub https: bool,
}

/// A `Set-Cookie` header value produced by the backend (it owns the cookie policy).
pub type SetCookie = String;

/// Everything the server functions need from the server. Implemented by `kiln_server`.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// True until the first admin exists.
    async fn needs_setup(&self) -> Result<bool, AppError>;
    /// Creates the first admin and signs them in. Refused once any user exists.
    async fn setup_admin(
        &self,
        ctx: &RequestCtx,
        username: &str,
        password: &str,
    ) -> Result<SetCookie, AppError>;
    /// Verifies a password and opens a fresh session (the old one, if any, is ended).
    async fn login(
        &self,
        ctx: &RequestCtx,
        username: &str,
        password: &str,
    ) -> Result<SetCookie, AppError>;
    /// Ends this session, or every session of the user; returns the cookie that clears it.
    async fn logout(&self, ctx: &RequestCtx, everywhere: bool) -> Result<SetCookie, AppError>;
    async fn change_password(
        &self,
        ctx: &RequestCtx,
        user: &CurrentUser,
        current: &str,
        new: &str,
    ) -> Result<(), AppError>;
    async fn list_users(&self, actor: &CurrentUser) -> Result<Vec<UserSummary>, AppError>;
    async fn create_user(
        &self,
        ctx: &RequestCtx,
        actor: &CurrentUser,
        username: &str,
        password: &str,
        is_admin: bool,
    ) -> Result<UserSummary, AppError>;
    async fn set_user_disabled(
        &self,
        ctx: &RequestCtx,
        actor: &CurrentUser,
        user_id: i64,
        disabled: bool,
    ) -> Result<(), AppError>;
}

/// The backend as provided in context.
pub type SharedBackend = Arc<dyn Backend>;

/// Proxmox nodes: everything the node pages need from the server. Every method is scoped to
/// `user`: another user's node is "not found".
#[async_trait]
pub trait NodesBackend: Send + Sync + 'static {
    /// The user's nodes with a live health check each.
    async fn list_nodes(&self, user: &CurrentUser) -> Result<Vec<NodeView>, AppError>;
    /// One node with its health.
    async fn get_node(&self, user: &CurrentUser, id: i64) -> Result<NodeView, AppError>;
    /// The certificate a host presents (trust on first use).
    async fn probe_certificate(&self, host: &str, port: u16) -> Result<CertificateInfo, AppError>;
    /// Tests the token against the pinned certificate, then saves the node.
    async fn add_node(
        &self,
        ctx: &RequestCtx,
        user: &CurrentUser,
        input: NodeInput,
    ) -> Result<NodeSummary, AppError>;
    /// Signs in once with a password, creates an API token `kiln-…` with privilege separation
    /// and the roles Kiln needs, and saves the node with it. The password is not kept.
    async fn add_node_with_login(
        &self,
        ctx: &RequestCtx,
        user: &CurrentUser,
        input: NodeInput,
        login: PveLogin,
    ) -> Result<TokenCreated, AppError>;
    /// Edits a node; an empty secret keeps the stored one.
    async fn update_node(
        &self,
        ctx: &RequestCtx,
        user: &CurrentUser,
        id: i64,
        input: NodeInput,
    ) -> Result<NodeSummary, AppError>;
    async fn delete_node(
        &self,
        ctx: &RequestCtx,
        user: &CurrentUser,
        id: i64,
    ) -> Result<(), AppError>;
    async fn set_default_node(
        &self,
        ctx: &RequestCtx,
        user: &CurrentUser,
        id: i64,
    ) -> Result<(), AppError>;
    /// The SSH public key Kiln uses for the node `id` (created on first use; each node has its
    /// own) and the command that authorizes it.
    async fn ssh_access(&self, user: &CurrentUser, id: i64) -> Result<SshAccess, AppError>;
    /// The node's current SSH host key, for the user to confirm.
    async fn fetch_host_key(
        &self,
        user: &CurrentUser,
        id: i64,
        ssh_port: u16,
    ) -> Result<HostKeyInfo, AppError>;
    /// Saves the SSH user and port and pins the confirmed host key.
    async fn save_ssh(
        &self,
        ctx: &RequestCtx,
        user: &CurrentUser,
        id: i64,
        ssh_user: &str,
        ssh_port: u16,
        host_key: &str,
    ) -> Result<(), AppError>;
    /// Connects with the pinned host key and runs `pct list`; returns a message for the user.
    async fn test_ssh(&self, user: &CurrentUser, id: i64) -> Result<String, AppError>;
    /// Installs Kiln's key on the node with the SSH user's password (used once, never kept).
    async fn install_ssh_key(
        &self,
        ctx: &RequestCtx,
        user: &CurrentUser,
        id: i64,
        password: &str,
    ) -> Result<(), AppError>;
}

/// The nodes backend as provided in context.
pub type SharedNodes = Arc<dyn NodesBackend>;

/// Templates and package buckets: everything the catalog pages need from the server.
/// Templates and buckets are shared by all users; changes are audited with the actor.
#[async_trait]
pub trait TemplatesBackend: Send + Sync + 'static {
    /// Every template (the page filters and sorts) and the last sync run.
    async fn catalog(&self) -> Result<Catalog, AppError>;
    /// Re-reads the template folders now; returns what changed.
    async fn sync(&self, ctx: &RequestCtx, user: &CurrentUser) -> Result<SyncSummary, AppError>;
    /// One template with its findings, highlighted scripts and files, and container count.
    async fn detail(&self, slug: &str) -> Result<TemplateDetail, AppError>;
    /// Saves a custom template atomically and returns its slug. `original` is the slug being
    /// edited: a custom one is updated (and may be renamed); a folder or built-in one is
    /// never changed — the template is saved as a new custom copy (its slug must be free).
    /// `template` has passed `kiln_shared::catalog::validate_template`.
    async fn save(
        &self,
        ctx: &RequestCtx,
        user: &CurrentUser,
        original: Option<String>,
        template: Template,
    ) -> Result<String, AppError>;
    /// Deletes a custom template; refused for folder templates and while containers use it.
    async fn delete(
        &self,
        ctx: &RequestCtx,
        user: &CurrentUser,
        slug: &str,
    ) -> Result<(), AppError>;
    /// Every shared package bucket with the templates holding a copy.
    async fn buckets(&self) -> Result<Vec<Bucket>, AppError>;
    /// Creates (`id` None) or edits a bucket; templates keep their own copies.
    async fn save_bucket(
        &self,
        ctx: &RequestCtx,
        user: &CurrentUser,
        id: Option<i64>,
        input: BucketInput,
    ) -> Result<Bucket, AppError>;
    /// Deletes buckets; returns how many were deleted.
    async fn delete_buckets(
        &self,
        ctx: &RequestCtx,
        user: &CurrentUser,
        ids: Vec<i64>,
    ) -> Result<u32, AppError>;
}

/// The templates backend as provided in context.
pub type SharedTemplates = Arc<dyn TemplatesBackend>;

/// The templates backend, or `Internal` when the server forgot to provide it.
pub fn templates_backend() -> Result<SharedTemplates, AppError> {
    use_context::<SharedTemplates>().ok_or(AppError::Internal)
}

/// The nodes backend, or `Internal` when the server forgot to provide it.
pub fn nodes_backend() -> Result<SharedNodes, AppError> {
    use_context::<SharedNodes>().ok_or(AppError::Internal)
}

/// The backend, or `Internal` when the server forgot to provide it.
pub fn backend() -> Result<SharedBackend, AppError> {
    use_context::<SharedBackend>().ok_or(AppError::Internal)
}

/// The request's context (empty when called outside a request).
pub fn request_ctx() -> RequestCtx {
    use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<RequestCtx>().cloned())
        .unwrap_or_default()
}

/// The signed-in caller, or `Unauthorized`.
pub fn require_user() -> Result<(RequestCtx, CurrentUser), AppError> {
    let ctx = request_ctx();
    match ctx.user.clone() {
        Some(user) => Ok((ctx, user)),
        None => Err(AppError::Unauthorized),
    }
}

/// The signed-in caller when an admin, `Forbidden` otherwise.
pub fn require_admin() -> Result<(RequestCtx, CurrentUser), AppError> {
    let (ctx, user) = require_user()?;
    if user.is_admin {
        Ok((ctx, user))
    } else {
        Err(AppError::Forbidden(
            "Only an administrator can do this.".into(),
        ))
    }
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
