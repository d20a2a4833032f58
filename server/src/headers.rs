//! Security headers on every response: a Content-Security-Policy with a fresh nonce per
//! response, `X-Content-Type-Options`, `X-Frame-Options`, `Referrer-Policy`.
//!
//! The nonce is made before the request is handled and put in its extensions as
//! [`CspNonce`]; the router's Leptos context hands it to Leptos (`leptos::nonce`), so the
//! islands loader in `shell()` and the scripts Leptos itself writes (resolved resources) carry
//! it. No inline script runs without it: `script-src` has no `'unsafe-inline'`.
//!
//! The policy, directive by directive:
//! - `default-src 'self'`: anything not named below only from Kiln itself;
//! - `script-src 'self' 'nonce-…' 'wasm-unsafe-eval'`: the hashed bundle from `/pkg`, the
//!   nonced inline module, and compiling the WebAssembly;
//! - `style-src 'self'`: the stylesheet only — no `<style>` elements and no `style=`
//!   attributes (pages use classes; the node meters are `<meter>` elements);
//! - `img-src 'self' data:`: the favicon is a `data:` SVG;
//! - `connect-src 'self'`: server functions and the `.wasm` fetch;
//! - `object-src 'none'`, `base-uri 'none'`, `form-action 'self'`;
//! - `frame-ancestors 'none'` (and `X-Frame-Options: DENY` for older browsers): no framing.
//!
//! `Referrer-Policy: same-origin`: Kiln's own form posts keep their `Referer` (a no-JavaScript
//! form post goes back to the page it came from, `ssr::respond`), other sites get none.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::rand::{SecureRandom, SystemRandom};

/// The nonce of the response being made (a request extension).
#[derive(Debug, Clone)]
pub struct CspNonce(pub Arc<str>);

impl CspNonce {
    /// 128 random bits, base64. `None` only when the system generator fails.
    fn generate() -> Option<CspNonce> {
        let mut bytes = [0u8; 16];
        SystemRandom::new().fill(&mut bytes).ok()?;
        Some(CspNonce(STANDARD.encode(bytes).into()))
    }
}

/// The Content-Security-Policy for a response whose inline scripts carry `nonce`.
pub fn content_security_policy(nonce: Option<&str>) -> String {
    let script = match nonce {
        Some(nonce) => format!("script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'"),
        None => "script-src 'self' 'wasm-unsafe-eval'".to_owned(),
    };
    format!(
        "default-src 'self'; {script}; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

/// The middleware: a nonce for the request, the headers on its response (a handler's own
/// value of a header is kept).
pub async fn security_headers(mut req: Request, next: Next) -> Response {
    let nonce = CspNonce::generate();
    if let Some(nonce) = &nonce {
        req.extensions_mut().insert(nonce.clone());
    } else {
        tracing::error!("no CSP nonce: the system random generator failed");
    }
    // Server functions answer with a user's data (a revealed credential among them): never
    // kept by a browser or a proxy.
    let no_store = req.uri().path().starts_with("/api/fn/");
    let mut response = next.run(req).await;
    if no_store {
        response
            .headers_mut()
            .entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
    }
    let csp = content_security_policy(nonce.as_ref().map(|n| &*n.0));
    let headers = response.headers_mut();
    let fixed: [(HeaderName, &'static str); 3] = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
    ];
    for (name, value) in fixed {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers
            .entry(header::CONTENT_SECURITY_POLICY)
            .or_insert(value);
    }
    response
}

/// Hands the request's nonce to Leptos; called in the router's Leptos context closure (after
/// leptos_axum provided the request `Parts` and a nonce of its own, which this replaces).
pub fn provide_leptos_nonce() {
    use leptos::prelude::{provide_context, use_context};
    let nonce = use_context::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<CspNonce>().cloned());
    if let Some(CspNonce(nonce)) = nonce {
        provide_context(leptos::nonce::Nonce::from_value(nonce));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_fresh_and_the_policy_has_no_unsafe_inline() {
        let a = CspNonce::generate().map(|n| n.0);
        let b = CspNonce::generate().map(|n| n.0);
        assert!(a.is_some() && a != b);
        let policy = content_security_policy(a.as_deref());
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        assert!(
            policy.contains(&format!("'nonce-{}'", a.as_deref().unwrap_or_default())),
            "{policy}"
        );
    }
}
