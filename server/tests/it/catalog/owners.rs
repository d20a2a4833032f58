//! Who may change what: custom templates and package buckets belong to the user who made
//! them; others may read, use and clone them, and only the owner or an administrator edits
//! or deletes them. Another user's save or delete is 403 and changes nothing.

use axum::http::StatusCode;
use kiln_shared::catalog::Bucket;
use serde_json::json;

use super::{R, app_with_user, detail_ok, message, sample, save, save_ok};
use crate::harness::{PASSWORD, TestApp};

/// `ada` (the owner, from `app_with_user`), `bob` (another user), `root` (an administrator).
async fn three_users() -> R<(TestApp, String, String, String)> {
    let (app, ada) = app_with_user(|_| {}).await?;
    app.create_user("bob", false).await?;
    app.create_user("root", true).await?;
    let bob = app.login("bob", PASSWORD).await?;
    let root = app.login("root", PASSWORD).await?;
    Ok((app, ada, bob, root))
}

#[tokio::test(flavor = "multi_thread")]
async fn another_users_template_is_read_only_for_them() -> R {
    let (app, ada, bob, root) = three_users().await?;
    save_ok(&app, &ada, None, &sample("ada-web")).await?;
    assert!(detail_ok(&app, &ada, "ada-web").await?.can_change);
    let seen_by_bob = detail_ok(&app, &bob, "ada-web").await?;
    assert!(!seen_by_bob.can_change, "bob may read but not change it");

    // Bob's edit in place and delete are refused, and the template stays as Ada saved it.
    let mut changed = sample("ada-web");
    changed.description = "bob was here".into();
    let reply = save(
        &app,
        &bob,
        Some("ada-web"),
        &serde_json::to_value(&changed)?,
    )
    .await?;
    assert!(message(&reply, StatusCode::FORBIDDEN)?.contains("owner"));
    let reply = app
        .call("delete_template", &[("slug", "ada-web")], Some(&bob))
        .await?;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    let kept = detail_ok(&app, &ada, "ada-web").await?;
    assert_eq!(kept.template.description, "made in a test");

    // A rename is an edit too.
    let mut renamed = sample("bobs-now");
    renamed.description = "taken over".into();
    let reply = save(
        &app,
        &bob,
        Some("ada-web"),
        &serde_json::to_value(&renamed)?,
    )
    .await?;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);

    // Bob may clone it: a new template, his own.
    save_ok(&app, &bob, None, &sample("bob-web")).await?;
    assert!(detail_ok(&app, &bob, "bob-web").await?.can_change);

    // An administrator may change and delete anyone's.
    assert!(detail_ok(&app, &root, "ada-web").await?.can_change);
    save_ok(&app, &root, Some("ada-web"), &changed).await?;
    let reply = app
        .call("delete_template", &[("slug", "ada-web")], Some(&root))
        .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    // Refusals are not audited as changes.
    let audit = app.audit().await?;
    let by_bob: Vec<_> = audit
        .iter()
        .filter(|(action, _, actor)| actor.as_deref() == Some("bob") && action != "login")
        .collect();
    assert_eq!(by_bob.len(), 1, "only bob's own create: {by_bob:?}");
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn folder_templates_are_copied_by_whoever_edits_them() -> R {
    let (app, ada, bob, _root) = three_users().await?;
    // The built-in set is synced at start in production; a sync here brings it in.
    super::sync_now(&app, &ada).await?;
    let builtin = detail_ok(&app, &bob, "debian-base").await?;
    assert!(
        !builtin.can_change,
        "nobody changes a built-in template in place"
    );
    let mut copy = builtin.template.clone();
    copy.slug = "bobs-base".into();
    save_ok(&app, &bob, Some("debian-base"), &copy).await?;
    assert!(detail_ok(&app, &bob, "bobs-base").await?.can_change);
    assert!(!detail_ok(&app, &ada, "bobs-base").await?.can_change);
    app.cleanup().await
}

async fn save_bucket(
    app: &TestApp,
    session: &str,
    id: Option<i64>,
    name: &str,
) -> R<crate::harness::Reply> {
    app.call_json(
        "save_bucket",
        &json!({ "id": id, "input": { "name": name, "description": "", "texts": [["apt", "curl"]] } }),
        Some(session),
    )
    .await
}

async fn buckets(app: &TestApp, session: &str) -> R<Vec<Bucket>> {
    let reply = app.call("list_buckets", &[], Some(session)).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    Ok(serde_json::from_str(&reply.body)?)
}

#[tokio::test(flavor = "multi_thread")]
async fn another_users_bucket_is_read_only_for_them() -> R {
    let (app, ada, bob, root) = three_users().await?;
    let reply = save_bucket(&app, &ada, None, "ada-tools").await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let ada_bucket: Bucket = serde_json::from_str(&reply.body)?;
    assert!(ada_bucket.can_change);
    let reply = save_bucket(&app, &bob, None, "bob-tools").await?;
    let bob_bucket: Bucket = serde_json::from_str(&reply.body)?;

    let seen = buckets(&app, &bob).await?;
    let flags: Vec<(&str, bool)> = seen
        .iter()
        .map(|b| (b.name.as_str(), b.can_change))
        .collect();
    assert_eq!(flags, [("ada-tools", false), ("bob-tools", true)]);

    // Bob's edit of Ada's bucket: 403, unchanged.
    let reply = save_bucket(&app, &bob, Some(ada_bucket.id), "renamed-by-bob").await?;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    // Deleting his own together with Ada's: 403, and neither is deleted.
    let reply = app
        .call_json(
            "delete_buckets",
            &json!({ "ids": [bob_bucket.id, ada_bucket.id] }),
            Some(&bob),
        )
        .await?;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    let names: Vec<String> = buckets(&app, &ada)
        .await?
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["ada-tools", "bob-tools"]);

    // The administrator may.
    let reply = save_bucket(&app, &root, Some(ada_bucket.id), "ada-tools-2").await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let reply = app
        .call_json(
            "delete_buckets",
            &json!({ "ids": [bob_bucket.id, ada_bucket.id] }),
            Some(&root),
        )
        .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(buckets(&app, &ada).await?.is_empty());
    app.cleanup().await
}
