//! `/api/v1/templates`: the catalog with the browser's filter and a cursor by position, one
//! template, its findings, and its folder as a tar.gz. Templates are everyone's to read
//! (there is no other user's template to refuse); an unknown slug is 404.

use axum::http::{Method, StatusCode, header};
use kiln_app::ssr::TemplatesBackend;
use kiln_server::templates::TemplateService;
use kiln_shared::templates::Script;
use serde_json::Value;

use super::{actor, call, expect_error, json, user_with_token};
use crate::catalog::sample;
use crate::harness::{TestApp, TestResult};

/// Saves three custom templates as `name`: `alpha` (tags test, web; one warning),
/// `beta` and `gamma` (tag db).
async fn three_templates(app: &TestApp, name: &str) -> TestResult {
    let service = TemplateService::new(app.state.clone());
    let ada = actor(app, name).await?;
    let mut alpha = sample("alpha");
    // Valid for the editor, but the folder linter warns about the script's name.
    alpha.scripts.push(Script {
        file_name: "20setup.sh".into(),
        order_key: "20".into(),
        content: "exit 0\n".into(),
    });
    service.save(&ada, None, alpha).await?;
    for slug in ["beta", "gamma"] {
        let mut t = sample(slug);
        t.tags = vec!["db".into()];
        service.save(&ada, None, t).await?;
    }
    Ok(())
}

/// `GET path` as `token`: 200 and its JSON.
async fn read(
    app: &TestApp,
    token: &str,
    path: &str,
) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
    let reply = call(app, Method::GET, path, Some(token), None).await?;
    assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
    json(&reply)
}

/// The slugs of a page.
fn slugs(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|t| t["slug"].as_str()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_catalog_filters_pages_and_details_templates() -> TestResult {
    let app = TestApp::new().await?;
    let ada = user_with_token(&app, "ada", false).await?;
    let bob = user_with_token(&app, "bob", false).await?;
    three_templates(&app, "ada").await?;

    // The browser's filter, its order, and a cursor through it.
    let page = read(&app, &bob, "/api/v1/templates?tag=db&limit=1").await?;
    assert_eq!(slugs(&page), ["beta"]);
    let cursor = page["next_cursor"].as_str().ok_or("no next cursor")?;
    let page = read(
        &app,
        &bob,
        &format!("/api/v1/templates?tag=db&limit=1&cursor={cursor}"),
    )
    .await?;
    assert_eq!(slugs(&page), ["gamma"]);
    assert!(page.get("next_cursor").is_none(), "{page}");
    let page = read(&app, &bob, "/api/v1/templates?q=alpha%20app").await?;
    assert_eq!(slugs(&page), ["alpha"]);
    let page = read(&app, &bob, "/api/v1/templates?sort=health").await?;
    assert_eq!(
        slugs(&page),
        ["alpha", "beta", "gamma"],
        "most problems first"
    );
    assert_eq!(page["items"][0]["warning_count"], 1);

    // One template, as its page shows it (another user reads it too).
    let detail = read(&app, &bob, "/api/v1/templates/alpha").await?;
    assert_eq!(detail["summary"]["slug"], "alpha");
    assert_eq!(detail["template"]["scripts"][0]["file_name"], "10-setup.sh");
    assert_eq!(detail["can_change"], false, "Bob does not own it");
    assert_eq!(
        read(&app, &ada, "/api/v1/templates/alpha").await?["can_change"],
        true
    );

    // Its findings.
    let lint = read(&app, &bob, "/api/v1/templates/alpha/lint").await?;
    assert_eq!(
        (lint["errors"].as_u64(), lint["warnings"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(lint["findings"][0]["severity"], "warning");
    assert_eq!(
        lint["findings"][0]["path"],
        "container-configs/scripts/20setup.sh"
    );
    let lint = read(&app, &bob, "/api/v1/templates/beta/lint").await?;
    assert_eq!(lint["findings"], serde_json::json!([]));

    // Refused: no token; a filter or cursor that does not parse; an unknown slug.
    for (token, path, status, kind) in [
        (None, "/api/v1/templates", 401, "unauthorized"),
        (None, "/api/v1/templates/alpha", 401, "unauthorized"),
        (None, "/api/v1/templates/alpha/lint", 401, "unauthorized"),
        (None, "/api/v1/templates/alpha/export", 401, "unauthorized"),
        (
            Some(&bob),
            "/api/v1/templates?sort=nonsense",
            400,
            "bad_request",
        ),
        (
            Some(&bob),
            "/api/v1/templates?cursor=forged",
            400,
            "bad_request",
        ),
        (Some(&bob), "/api/v1/templates/nope", 404, "not_found"),
        (Some(&bob), "/api/v1/templates/nope/lint", 404, "not_found"),
        (
            Some(&bob),
            "/api/v1/templates/nope/export",
            404,
            "not_found",
        ),
        (
            Some(&bob),
            "/api/v1/templates/NOT%20A%20SLUG/export",
            404,
            "not_found",
        ),
    ] {
        let reply = call(&app, Method::GET, path, token.map(String::as_str), None).await?;
        expect_error(&reply, status, kind)?;
    }
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_template_exports_as_its_folder_in_a_tar_gz() -> TestResult {
    let app = TestApp::new().await?;
    let token = user_with_token(&app, "ada", false).await?;
    three_templates(&app, "ada").await?;
    // A read-only token may download (a GET).
    let read_only = super::token_of(&app, "ada", "ro", true).await?;

    for token in [&token, &read_only] {
        let reply = call(
            &app,
            Method::GET,
            "/api/v1/templates/alpha/export",
            Some(token),
            None,
        )
        .await?;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let header_of = |name: header::HeaderName| {
            reply
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(header_of(header::CONTENT_TYPE), "application/gzip");
        assert!(
            header_of(header::CONTENT_DISPOSITION).contains("alpha"),
            "{}",
            header_of(header::CONTENT_DISPOSITION)
        );
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(reply.bytes.as_slice()));
        let mut names = Vec::new();
        for entry in archive.entries()? {
            names.push(entry?.path()?.to_string_lossy().into_owned());
        }
        for expected in [
            "alpha/template.conf",
            "alpha/container-configs/scripts/10-setup.sh",
            "alpha/container-configs/scripts/20setup.sh",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} not in {names:?}"
            );
        }
    }
    app.cleanup().await
}
