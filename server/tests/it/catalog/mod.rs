//! The template catalog and package buckets (`TemplateService` through its server functions
//! and the export route) against real PostgreSQL and Redis: validation, custom templates and
//! copies, sync on request, deletes refused while containers reference a template or a node,
//! buckets, and the export round trip.

mod buckets;
mod custom;
mod export;
mod owners;
mod sync;
mod validation;

use std::path::PathBuf;

use axum::http::StatusCode;
use diesel_async::RunQueryDsl;
use kiln_server::config::Config;
use kiln_shared::catalog::{Catalog, SyncSummary, TemplateDetail, TemplateSummary};
use kiln_shared::templates::{
    FileContent, Manager, Package, PackageBucket, Policy, Script, Template, TemplateFile,
};
use serde_json::{Value, json};

pub use crate::harness::field_error;
use crate::harness::{PASSWORD, Reply, TestApp};

pub type R<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// An app with one signed-in user (`ada`, not an administrator: templates are for everyone).
pub async fn app_with_user(tweak: impl FnOnce(&mut Config)) -> R<(TestApp, String)> {
    let app = TestApp::with_config(tweak).await?;
    app.create_user("ada", false).await?;
    let session = app.login("ada", PASSWORD).await?;
    Ok((app, session))
}

/// `server/tests/fixtures/templates`.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/templates")
}

/// A valid template with a script, a package bucket and a text file.
pub fn sample(slug: &str) -> Template {
    let mut t = Template::new(slug);
    t.app = format!("{slug} app");
    t.description = "made in a test".into();
    t.tags = vec!["test".into(), "web".into()];
    t.cpu = 2;
    t.scripts = vec![Script {
        file_name: "10-setup.sh".into(),
        order_key: "10".into(),
        content: "#!/bin/bash\n# set up\nlog_info \"hello $HOSTNAME\"\n".into(),
    }];
    t.packages = vec![PackageBucket {
        name: "base".into(),
        manager: Manager::Apt,
        packages: vec![Package::Plain("curl".into())],
    }];
    t.files = vec![TemplateFile {
        name: "app.json".into(),
        target_dir: "/etc/app".into(),
        policy: Policy::Replace,
        content: FileContent::Utf8("{\"port\": 8080}\n".into()),
    }];
    t
}

/// Calls `save_template`; the reply as is.
pub async fn save(
    app: &TestApp,
    session: &str,
    original: Option<&str>,
    template: &Value,
) -> R<Reply> {
    app.call_json(
        "save_template",
        &json!({ "original": original, "template": template }),
        Some(session),
    )
    .await
}

/// Saves and expects success; returns the slug.
pub async fn save_ok(
    app: &TestApp,
    session: &str,
    original: Option<&str>,
    template: &Template,
) -> R<String> {
    let reply = save(app, session, original, &serde_json::to_value(template)?).await?;
    assert_eq!(reply.status, StatusCode::OK, "save: {}", reply.body);
    Ok(serde_json::from_str(&reply.body)?)
}

pub async fn catalog(app: &TestApp, session: &str) -> R<Catalog> {
    let reply = app.call("template_catalog", &[], Some(session)).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    Ok(serde_json::from_str(&reply.body)?)
}

/// The catalog card of `slug`, if listed.
pub async fn card(app: &TestApp, session: &str, slug: &str) -> R<Option<TemplateSummary>> {
    Ok(catalog(app, session)
        .await?
        .templates
        .into_iter()
        .find(|t| t.slug == slug))
}

pub async fn detail(app: &TestApp, session: &str, slug: &str) -> R<Reply> {
    app.call("get_template", &[("slug", slug)], Some(session))
        .await
}

pub async fn detail_ok(app: &TestApp, session: &str, slug: &str) -> R<TemplateDetail> {
    let reply = detail(app, session, slug).await?;
    assert_eq!(reply.status, StatusCode::OK, "{slug}: {}", reply.body);
    Ok(serde_json::from_str(&reply.body)?)
}

pub async fn sync_now(app: &TestApp, session: &str) -> R<SyncSummary> {
    let reply = app.call("sync_templates", &[], Some(session)).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    Ok(serde_json::from_str(&reply.body)?)
}

/// The message of a 409 (or 404) answer.
pub fn message(reply: &Reply, status: StatusCode) -> R<String> {
    assert_eq!(reply.status, status, "{}", reply.body);
    let body: Value = serde_json::from_str(&reply.body)?;
    body["detail"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no message: {}", reply.body).into())
}

/// The audit actions, newest first.
pub async fn actions(app: &TestApp) -> R<Vec<String>> {
    Ok(app.audit().await?.into_iter().map(|(a, _, _)| a).collect())
}

/// Inserts a node owned by `owner` straight into the table (no Proxmox needed); returns its id.
pub async fn insert_node(app: &TestApp, owner: &str) -> R<i64> {
    let mut conn = app.state.db.get().await?;
    let owner_id = kiln_server::db::users::by_username(&mut conn, owner)
        .await?
        .ok_or("no such user")?
        .id;
    drop(conn);
    app.insert_node(owner_id, "pve1").await
}

/// Inserts a `containers` row on `node` made from the template `slug` (or none).
pub async fn insert_container(app: &TestApp, node: i64, slug: Option<&str>) -> R {
    let mut conn = app.state.db.get().await?;
    diesel::sql_query(
        // The next free VMID on the node (one per node: a unique index).
        "INSERT INTO containers (node_id, template_id, vmid, hostname) \
         SELECT $1, (SELECT id FROM templates WHERE slug = $2), v, 'ct' || v \
         FROM (SELECT coalesce(max(vmid), 99) + 1 AS v FROM containers WHERE node_id = $1) n",
    )
    .bind::<diesel::sql_types::BigInt, _>(node)
    .bind::<diesel::sql_types::Nullable<diesel::sql_types::Text>, _>(slug)
    .execute(&mut conn)
    .await?;
    Ok(())
}

pub async fn delete_containers(app: &TestApp) -> R {
    let mut conn = app.state.db.get().await?;
    diesel::sql_query("DELETE FROM containers")
        .execute(&mut conn)
        .await?;
    Ok(())
}
