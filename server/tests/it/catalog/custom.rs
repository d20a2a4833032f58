//! Custom templates: saved with findings, custom copies of built-in templates (the original
//! untouched), renames, slug conflicts, deletes — and deletes refused while a container
//! references the template or its node.

use axum::http::StatusCode;
use kiln_shared::catalog::Source;
use kiln_shared::templates::{FileContent, Policy, Script, TemplateFile};

use super::{
    R, actions, app_with_user, card, delete_containers, detail, detail_ok, field_error,
    insert_container, insert_node, message, sample, save, save_ok, sync_now,
};

#[tokio::test(flavor = "multi_thread")]
async fn a_new_custom_template_has_findings_and_highlighting() -> R {
    let (app, ada) = app_with_user(|_| {}).await?;
    let mut t = sample("my-web");
    // Valid for the editor, but the folder linter warns about the name.
    t.scripts.push(Script {
        file_name: "20setup.sh".into(),
        order_key: "20".into(),
        content: "echo '<b>' && exit 0\n".into(),
    });
    t.files.push(TemplateFile {
        name: "logo.png".into(),
        target_dir: "/var/www".into(),
        policy: Policy::Default,
        content: FileContent::Base64("iVBORw0KGgo=".into()),
    });
    assert_eq!(save_ok(&app, &ada, None, &t).await?, "my-web");

    let summary = card(&app, &ada, "my-web").await?.ok_or("not listed")?;
    assert_eq!(summary.source, Source::Custom);
    assert_eq!((summary.cpu, summary.ram_mib), (2, 512));
    assert_eq!((summary.error_count, summary.warning_count), (0, 1));
    assert!(!summary.missing);

    let d = detail_ok(&app, &ada, "my-web").await?;
    assert_eq!(d.template, t);
    assert_eq!(d.findings.len(), 1);
    assert_eq!(d.findings[0].path, "container-configs/scripts/20setup.sh");
    assert_eq!(d.containers, 0);
    assert_eq!(d.scripts_html.len(), 2);
    assert!(
        d.scripts_html[0].contains("hl-comment"),
        "{}",
        d.scripts_html[0]
    );
    assert!(d.scripts_html[1].contains("&lt;b&gt;"), "escaped");
    assert!(
        d.files_html[0]
            .as_deref()
            .is_some_and(|h| h.contains("hl-json"))
    );
    assert_eq!(d.files_html[1], None, "binary files are not highlighted");
    assert!(actions(&app).await?.contains(&"template.create".to_owned()));
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn editing_a_builtin_saves_a_custom_copy() -> R {
    let (app, ada) = app_with_user(|_| {}).await?;
    sync_now(&app, &ada).await?;
    let before = detail_ok(&app, &ada, "debian-base").await?;
    assert_eq!(before.summary.source, Source::Builtin);

    let mut edited = before.template.clone();
    edited.cpu = 4;
    // The copy needs its own slug.
    let reply = save(
        &app,
        &ada,
        Some("debian-base"),
        &serde_json::to_value(&edited)?,
    )
    .await?;
    assert_eq!(
        field_error(&reply, "slug")?,
        "a template with this slug already exists"
    );
    edited.slug = "debian-mine".into();
    assert_eq!(
        save_ok(&app, &ada, Some("debian-base"), &edited).await?,
        "debian-mine"
    );
    let copy = detail_ok(&app, &ada, "debian-mine").await?;
    assert_eq!(copy.summary.source, Source::Custom);
    assert_eq!(copy.template.cpu, 4);
    let after = detail_ok(&app, &ada, "debian-base").await?;
    assert_eq!(after.template, before.template, "the built-in is untouched");
    assert_eq!(after.summary, before.summary);

    // Rename the copy; the old slug is gone.
    let mut renamed = copy.template.clone();
    renamed.slug = "debian-renamed".into();
    save_ok(&app, &ada, Some("debian-mine"), &renamed).await?;
    assert_eq!(
        detail(&app, &ada, "debian-mine").await?.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        detail_ok(&app, &ada, "debian-renamed").await?.template,
        renamed
    );
    // Renaming onto a taken slug, or creating one, is refused on the slug field.
    renamed.slug = "nginx-web".into();
    let reply = save(
        &app,
        &ada,
        Some("debian-renamed"),
        &serde_json::to_value(&renamed)?,
    )
    .await?;
    field_error(&reply, "slug")?;
    let reply = save(&app, &ada, None, &serde_json::to_value(&renamed)?).await?;
    field_error(&reply, "slug")?;
    // Editing a template that does not exist.
    let reply = save(
        &app,
        &ada,
        Some("no-such"),
        &serde_json::to_value(sample("x"))?,
    )
    .await?;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);

    let log = actions(&app).await?;
    for action in ["template.copy", "template.save", "template.sync"] {
        assert!(log.contains(&action.to_owned()), "{action} in {log:?}");
    }
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn deletes_only_custom_templates_nobody_uses() -> R {
    let (app, ada) = app_with_user(|_| {}).await?;
    sync_now(&app, &ada).await?;
    save_ok(&app, &ada, None, &sample("mine")).await?;

    let reply = app
        .call("delete_template", &[("slug", "nginx-web")], Some(&ada))
        .await?;
    assert!(message(&reply, StatusCode::CONFLICT)?.contains("built into Kiln"));
    let reply = app
        .call("delete_template", &[("slug", "no-such")], Some(&ada))
        .await?;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    let reply = app
        .call("delete_template", &[("slug", "../etc")], Some(&ada))
        .await?;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);

    // A container made from it: the template and its node stay.
    let node = insert_node(&app, "ada").await?;
    insert_container(&app, node, Some("mine")).await?;
    assert_eq!(detail_ok(&app, &ada, "mine").await?.containers, 1);
    let reply = app
        .call("delete_template", &[("slug", "mine")], Some(&ada))
        .await?;
    assert_eq!(
        message(&reply, StatusCode::CONFLICT)?,
        "1 container was made from this template; delete it first."
    );
    let reply = app
        .call("delete_node", &[("id", &node.to_string())], Some(&ada))
        .await?;
    assert_eq!(
        message(&reply, StatusCode::CONFLICT)?,
        "1 container on this node is managed by Kiln; delete it first."
    );
    insert_container(&app, node, None).await?;
    let reply = app
        .call("delete_node", &[("id", &node.to_string())], Some(&ada))
        .await?;
    assert_eq!(
        message(&reply, StatusCode::CONFLICT)?,
        "2 containers on this node are managed by Kiln; delete them first."
    );

    delete_containers(&app).await?;
    let reply = app
        .call("delete_template", &[("slug", "mine")], Some(&ada))
        .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        detail(&app, &ada, "mine").await?.status,
        StatusCode::NOT_FOUND
    );
    let reply = app
        .call("delete_node", &[("id", &node.to_string())], Some(&ada))
        .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let log = actions(&app).await?;
    assert!(log.contains(&"template.delete".to_owned()), "{log:?}");
    app.cleanup().await
}
