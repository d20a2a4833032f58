//! The OpenAPI document: valid, complete, and every operation in it served and gated.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode, header};
use serde_json::Value;

use super::{call, json};
use crate::harness::{TestApp, TestResult};

/// Every route of the API: `METHOD path` as the document writes it. A route added without
/// being listed here (or listed without a route) fails `the_document_lists_every_route`.
const ROUTES: &[&str] = &[
    "GET /api/v1/me",
    "GET /api/v1/tokens",
    "POST /api/v1/tokens",
    "DELETE /api/v1/tokens/{id}",
    "POST /api/v1/auth/token",
    "GET /api/v1/containers",
    "POST /api/v1/containers",
    "GET /api/v1/containers/{id}",
    "DELETE /api/v1/containers/{id}",
    "POST /api/v1/containers/{id}/actions/{action}",
    "GET /api/v1/containers/{id}/services",
    "GET /api/v1/containers/{id}/credentials/{service}/{key}",
    "GET /api/v1/containers/{id}/events",
    "GET /api/v1/jobs/{id}",
    "GET /api/v1/jobs/{id}/events",
    "GET /api/v1/nodes",
    "GET /api/v1/nodes/{id}",
    "GET /api/v1/nodes/{id}/health",
    "GET /api/v1/templates",
    "GET /api/v1/templates/{slug}",
    "GET /api/v1/templates/{slug}/lint",
    "GET /api/v1/templates/{slug}/export",
    "GET /api/v1/buckets",
    "POST /api/v1/buckets",
    "GET /api/v1/buckets/{id}",
    "PUT /api/v1/buckets/{id}",
    "DELETE /api/v1/buckets/{id}",
    "GET /api/v1/containers/{id}/metrics",
    "GET /api/v1/nodes/{id}/metrics",
    "GET /api/v1/alerts",
    "POST /api/v1/alerts/{id}/acknowledge",
    "GET /api/v1/alerts/rules",
    "GET /api/v1/alerts/channels",
    "GET /api/v1/nodes/{id}/choices",
];

/// Operations anyone may call (`security: [{}]`).
const PUBLIC: &[&str] = &["POST /api/v1/auth/token"];

/// Every `$ref` in `value`.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_document_lists_every_route() -> TestResult {
    let app = TestApp::new().await?;
    let reply = call(&app, Method::GET, "/api/v1/openapi.json", None, None).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let doc = json(&reply)?;

    // A valid OpenAPI 3.1 document: the required members, every operation answers
    // something, every reference resolves.
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "Kiln API");
    assert!(doc["info"]["version"].is_string());
    assert_eq!(
        doc["components"]["securitySchemes"]["token"]["scheme"],
        "bearer"
    );
    let paths = doc["paths"].as_object().ok_or("no paths")?;
    let mut operations = BTreeSet::new();
    // Operation ids are unique (client generators name their functions after them).
    let mut ids = BTreeSet::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().ok_or("a path is not an object")? {
            if !matches!(method.as_str(), "get" | "post" | "put" | "patch" | "delete") {
                continue;
            }
            let name = format!("{} {path}", method.to_uppercase());
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{name} has no responses"
            );
            assert!(op["operationId"].is_string(), "{name} has no operationId");
            assert!(
                ids.insert(op["operationId"].to_string()),
                "{name}: operationId {} twice",
                op["operationId"]
            );
            operations.insert(name);
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .ok_or_else(|| format!("unexpected $ref {r}"))?;
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "$ref {r} resolves to nothing"
        );
    }
    let expected: BTreeSet<String> = ROUTES.iter().map(|r| (*r).to_owned()).collect();
    assert_eq!(
        operations, expected,
        "the document and the list of routes differ"
    );

    // Each operation is served, and all but the public ones refuse a request without a
    // token (401 before anything else is looked at).
    for op in ROUTES {
        let (method, path) = op.split_once(' ').ok_or("bad route")?;
        let concrete = path
            .split('/')
            .map(|part| if part.starts_with('{') { "1" } else { part })
            .collect::<Vec<_>>()
            .join("/");
        let method = Method::from_bytes(method.as_bytes())?;
        let reply = call(&app, method, &concrete, None, None).await?;
        if PUBLIC.contains(op) {
            assert_ne!(reply.status, StatusCode::NOT_FOUND, "{op} is not served");
            assert_ne!(
                reply.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{op} is not served"
            );
        } else {
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{op}: {}",
                reply.body
            );
        }
    }

    // The reference page, with its assets from the binary.
    let page = call(&app, Method::GET, "/api/v1/docs/", None, None).await?;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("swagger"), "{}", page.body);
    app.cleanup().await
}

/// The reference page runs under Kiln's own Content-Security-Policy, unrelaxed: the page and
/// every asset it names come from the binary, none is inline, and the initializer leaves
/// out what the policy would refuse (the top bar's `<style>`, the validator's image).
#[tokio::test(flavor = "multi_thread")]
async fn the_reference_page_and_its_assets_are_served_under_the_policy() -> TestResult {
    let app = TestApp::new().await?;
    let page = call(&app, Method::GET, "/api/v1/docs/", None, None).await?;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let csp = |reply: &crate::harness::Reply| {
        reply
            .headers
            .get(header::CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let policy = csp(&page);
    for directive in [
        "default-src 'self'",
        "style-src 'self';",
        "img-src 'self' data:;",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{directive} in {policy}");
    }
    assert!(
        !policy.contains("unsafe-inline") && !policy.contains("'unsafe-eval'"),
        "{policy}"
    );

    // Nothing inline: every script has a source, no style element, no style attribute.
    let html = page.body.to_lowercase();
    assert_eq!(
        html.matches("<script").count(),
        html.matches("<script src=").count(),
        "{html}"
    );
    assert!(
        !html.contains("<style") && !html.contains("style="),
        "{html}"
    );

    // Each asset the page names is served from the binary, with the same policy.
    let mut assets: Vec<&str> = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for (at, _) in page.body.match_indices(attr) {
            let rest = &page.body[at + attr.len()..];
            if let Some(end) = rest.find('"') {
                assets.push(&rest[..end]);
            }
        }
    }
    let expect = [
        ("swagger-ui.css", "text/css"),
        ("index.css", "text/css"),
        ("swagger-ui-bundle.js", "javascript"),
        ("swagger-ui-standalone-preset.js", "javascript"),
        ("swagger-initializer.js", "javascript"),
    ];
    for (name, _) in expect {
        assert!(
            assets.iter().any(|a| a.trim_start_matches("./") == name),
            "{name} not in {assets:?}"
        );
    }
    assert!(
        assets.iter().all(|a| !a.contains("//")),
        "only its own files: {assets:?}"
    );
    for asset in &assets {
        let path = format!("/api/v1/docs/{}", asset.trim_start_matches("./"));
        let reply = call(&app, Method::GET, &path, None, None).await?;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert!(!reply.bytes.is_empty(), "{path} is empty");
        assert_eq!(
            csp(&reply).split("'nonce-").next(),
            policy.split("'nonce-").next(),
            "{path}"
        );
        let kind = reply
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if let Some((_, want)) = expect.iter().find(|(n, _)| asset.ends_with(n)) {
            assert!(kind.contains(want), "{path}: {kind}");
        }
    }

    // The initializer: Kiln's document, the base layout (no top bar), no validator.
    let init = call(
        &app,
        Method::GET,
        "/api/v1/docs/swagger-initializer.js",
        None,
        None,
    )
    .await?;
    for needle in [
        "/api/v1/openapi.json",
        "BaseLayout",
        "\"validatorUrl\": \"none\"",
    ] {
        assert!(init.body.contains(needle), "{needle} in {}", init.body);
    }
    app.cleanup().await
}
