//! What the server refuses before touching anything: field errors (422) with the editor's
//! field names, undecodable JSON (400), a template the folder format cannot hold, and
//! signed-out callers (401).

use axum::http::StatusCode;
use kiln_shared::templates::{FileContent, Policy, Script, TemplateFile};
use serde_json::json;

use super::{R, app_with_user, catalog, field_error, sample, save};

#[tokio::test(flavor = "multi_thread")]
async fn template_fields_are_checked_by_name() -> R {
    let (app, ada) = app_with_user(|_| {}).await?;
    let mut bad = sample("Bad Slug");
    bad.cpu = 0;
    bad.scripts.push(Script {
        file_name: "install".into(),
        order_key: String::new(),
        content: "echo".into(),
    });
    bad.files.push(TemplateFile {
        name: "escape".into(),
        target_dir: "/etc/../root".into(),
        policy: Policy::Default,
        content: FileContent::Utf8("x".into()),
    });
    let reply = save(&app, &ada, None, &serde_json::to_value(&bad)?).await?;
    for field in ["slug", "cpu", "scripts.1.file_name", "files.1.target_dir"] {
        field_error(&reply, field)?;
    }
    assert!(field_error(&reply, "scripts.1.file_name")?.contains(".sh"));
    assert!(field_error(&reply, "files.1.target_dir")?.contains(".."));
    assert!(
        catalog(&app, &ada).await?.templates.is_empty(),
        "nothing saved"
    );
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn undecodable_json_is_a_bad_request() -> R {
    let (app, ada) = app_with_user(|_| {}).await?;
    let mut policy = serde_json::to_value(sample("ok"))?;
    policy["files"][0]["policy"] = json!("sometimes");
    let reply = save(&app, &ada, None, &policy).await?;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert!(reply.body.contains("sometimes"), "{}", reply.body);

    let mut manager = serde_json::to_value(sample("ok"))?;
    manager["packages"][0]["manager"] = json!("yum");
    let reply = save(&app, &ada, None, &manager).await?;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);

    let reply = app
        .call_json("save_template", &json!({ "original": null }), Some(&ada))
        .await?;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn what_the_folder_format_cannot_hold_is_a_form_error() -> R {
    let (app, ada) = app_with_user(|_| {}).await?;
    let mut t = sample("extra-keys");
    // Passes the field rules, but would read back as TEMPLATE_CPU, not as an extra key.
    t.extra = vec![("TEMPLATE_CPU".into(), "4".into())];
    let reply = save(&app, &ada, None, &serde_json::to_value(&t)?).await?;
    assert!(field_error(&reply, "_form")?.contains("TEMPLATE_CPU"));
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn bucket_fields_are_checked() -> R {
    let (app, ada) = app_with_user(|_| {}).await?;
    let input = json!({
        "name": "Base!",
        "description": "",
        "texts": [["apt", "curl\ntwo words"], ["custom", "bun|command -v bun"]],
    });
    let reply = app
        .call_json(
            "save_bucket",
            &json!({ "id": null, "input": input }),
            Some(&ada),
        )
        .await?;
    field_error(&reply, "name")?;
    assert!(field_error(&reply, "apt")?.starts_with("line 2:"));
    assert!(field_error(&reply, "custom")?.starts_with("line 1:"));

    let empty = json!({ "name": "empty", "description": "", "texts": [] });
    let reply = app
        .call_json(
            "save_bucket",
            &json!({ "id": null, "input": empty }),
            Some(&ada),
        )
        .await?;
    field_error(&reply, "_form")?;

    let reply = app
        .call_json("delete_buckets", &json!({ "ids": [] }), Some(&ada))
        .await?;
    field_error(&reply, "_form")?;
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_out_callers_are_refused() -> R {
    let (app, _) = app_with_user(|_| {}).await?;
    for function in [
        "template_catalog",
        "sync_templates",
        "list_buckets",
        "get_template",
        "delete_template",
    ] {
        let reply = app.call(function, &[("slug", "x")], None).await?;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{function}: {}",
            reply.body
        );
    }
    let template = serde_json::to_value(sample("sneaky"))?;
    for (function, args) in [
        (
            "save_template",
            json!({ "original": null, "template": template }),
        ),
        (
            "save_bucket",
            json!({ "id": null, "input": { "name": "x", "description": "", "texts": [["apt", "curl"]] } }),
        ),
        ("delete_buckets", json!({ "ids": [1] })),
    ] {
        let reply = app.call_json(function, &args, None).await?;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{function}: {}",
            reply.body
        );
    }
    app.cleanup().await
}

/// Validation is linear and stops at the caps: 80,000 distinct script names (they fit in the
/// 4 MiB request body) are one error on the list. The shared unit test times
/// `validate_template` alone (< 100 ms); here the whole request is timed, JSON decoding of
/// 4 MB included: < 100 ms in an optimized build, a looser bound in a debug build (the
/// quadratic checks took far longer than either).
#[tokio::test(flavor = "multi_thread")]
async fn eighty_thousand_scripts_are_refused_quickly() -> R {
    let (app, ada) = app_with_user(|_| {}).await?;
    let mut template = serde_json::to_value(sample("many"))?;
    let scripts: Vec<_> = (10_000..90_000)
        .map(|i| json!({ "file_name": i.to_string(), "order_key": "", "content": "" }))
        .collect();
    template["scripts"] = json!(scripts);
    let body = serde_json::to_vec(&json!({ "original": null, "template": template }))?;
    let size = body.len();
    assert!(
        size < 4 * 1024 * 1024,
        "within the body limit: {size} bytes"
    );
    // Warm up (the session check, the first request's one-time costs).
    catalog(&app, &ada).await?;
    let request = axum::http::Request::post("/api/fn/save_template")
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("sec-fetch-site", "same-origin")
        .header("cookie", format!("kiln_session={ada}"))
        .body(axum::body::Body::from(body))?;
    let started = std::time::Instant::now();
    let reply = app.send_from([192, 0, 2, 1], request).await?;
    let elapsed = started.elapsed();
    assert_eq!(field_error(&reply, "scripts")?, "at most 64 scripts");
    assert!(
        reply.body.len() < 1024,
        "one error, not one per script: {}",
        reply.body.len()
    );
    eprintln!("80,000 scripts ({size} bytes): 422 in {elapsed:?}");
    let bound = if cfg!(debug_assertions) { 3000 } else { 100 };
    assert!(
        elapsed < std::time::Duration::from_millis(bound),
        "{elapsed:?}"
    );
    app.cleanup().await
}
