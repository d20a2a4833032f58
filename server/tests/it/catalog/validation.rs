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
