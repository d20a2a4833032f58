//! Security headers on every response, and a Content-Security-Policy whose per-response nonce
//! is the one on every inline script the page carries (the islands loader included).

use axum::body::Body;
use axum::http::{Request, StatusCode, header};

use crate::harness::{PASSWORD, Reply, TestApp, TestResult};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A test app whose pages render the islands loader (as a build with the frontend does).
async fn app_with_assets() -> Result<TestApp, BoxError> {
    let mut app = TestApp::new().await?;
    let mut state = app.state.clone();
    state.assets = kiln_app::Assets {
        js: Some("/pkg/kiln-0123456789abcdef.js".into()),
        wasm: Some("/pkg/kiln-0123456789abcdef_bg.wasm".into()),
        css: Some("/pkg/main-0123456789abcdef.css".into()),
    };
    app.router = kiln_server::http::router(state);
    Ok(app)
}

fn header_value<'a>(reply: &'a Reply, name: &str) -> &'a str {
    reply
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// Checks the fixed headers and the policy; returns the policy's nonce.
fn check_headers(reply: &Reply, what: &str) -> Option<String> {
    assert_eq!(
        header_value(reply, "x-content-type-options"),
        "nosniff",
        "{what}"
    );
    assert_eq!(header_value(reply, "x-frame-options"), "DENY", "{what}");
    assert_eq!(
        header_value(reply, "referrer-policy"),
        "same-origin",
        "{what}"
    );
    let csp = header_value(reply, "content-security-policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(csp.contains("object-src 'none'"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert!(!csp.contains("'unsafe-eval'"), "{what}: {csp}");
    let script_src = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("script-src "))
        .unwrap_or_default();
    script_src
        .split_whitespace()
        .find_map(|token| token.strip_prefix("'nonce-")?.strip_suffix('\''))
        .map(str::to_owned)
}

/// Every `<script` tag of `html`.
fn script_tags(html: &str) -> Vec<&str> {
    html.match_indices("<script")
        .filter_map(|(at, _)| html[at..].find('>').map(|end| &html[at..=at + end]))
        .collect()
}

fn assert_scripts_carry(reply: &Reply, nonce: &str, what: &str) {
    let tags = script_tags(&reply.body);
    println!("{what}: {} script tags", tags.len());
    assert!(
        tags.iter().any(|t| t.contains("type=\"module\"")),
        "{what}: no islands loader in {}",
        reply.body
    );
    for tag in tags {
        assert!(tag.contains(&format!("nonce=\"{nonce}\"")), "{what}: {tag}");
    }
    // No inline styles: `style-src` allows none.
    assert!(!reply.body.contains(" style=\""), "{what}: an inline style");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_response_has_the_security_headers_and_a_fresh_nonce() -> TestResult {
    let app = app_with_assets().await?;
    app.create_user("csp", true).await?;
    let login = app.get("/login", None).await?;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let nonce = check_headers(&login, "/login").ok_or("no nonce in the login page's CSP")?;
    assert!(nonce.len() >= 22, "{nonce}");
    assert_scripts_carry(&login, &nonce, "/login");

    let again = app.get("/login", None).await?;
    let second = check_headers(&again, "/login again").ok_or("no nonce")?;
    assert_ne!(nonce, second, "a nonce is never reused");
    assert_scripts_carry(&again, &second, "/login again");

    // Signed in: a page in the shell, with resources serialized into the page.
    let session = app.login("csp", PASSWORD).await?;
    for path in ["/", "/settings", "/packages", "/templates", "/nodes"] {
        let page = app.get(path, Some(&session)).await?;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        let nonce = check_headers(&page, path).ok_or("no nonce")?;
        assert_scripts_carry(&page, &nonce, path);
    }

    // Everything else carries the headers too: redirects, 404s, health, assets, server
    // functions, refusals.
    let others = [
        app.get("/", None).await?,
        app.get("/no/such/page", Some(&session)).await?,
        app.get("/healthz", None).await?,
        app.get("/pkg/missing.js", None).await?,
        app.call("list_buckets", &[], Some(&session)).await?,
        app.call("list_buckets", &[], None).await?,
        app.send_from(
            [192, 0, 2, 1],
            Request::post("/api/fn/list_buckets")
                .header("sec-fetch-site", "cross-site")
                .header(header::COOKIE, format!("kiln_session={session}"))
                .body(Body::empty())?,
        )
        .await?,
    ];
    for reply in &others {
        check_headers(reply, &format!("status {}", reply.status));
    }
    // A server function's answer is never cached (a revealed credential is one).
    for reply in &others[4..] {
        assert_eq!(
            header_value(reply, "cache-control"),
            "no-store",
            "{}",
            reply.status
        );
    }
    app.cleanup().await
}
