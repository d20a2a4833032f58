//! Sync on request: counts, the last run in the catalog, folder templates that cannot be
//! deleted from Kiln, and custom templates a folder of the same slug never overwrites.

use axum::http::StatusCode;
use kiln_shared::catalog::Source;

use super::{R, app_with_user, card, catalog, detail_ok, message, sample, save_ok, sync_now};

/// Writes a minimal template folder `<root>/<slug>`.
fn folder(root: &std::path::Path, slug: &str, app: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(root.join(slug))?;
    std::fs::write(
        root.join(slug).join("template.conf"),
        format!("TEMPLATE_APP=\"{app}\"\nTEMPLATE_RAM=1024\n"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_reports_counts_and_the_catalog_shows_the_last_run() -> R {
    let root = tempfile::tempdir()?;
    folder(root.path(), "from-folder", "From a folder")?;
    let dirs = vec![root.path().to_path_buf()];
    let (app, ada) = app_with_user(move |c| c.template_dirs = dirs).await?;
    assert_eq!(catalog(&app, &ada).await?.last_sync, None);

    let first = sync_now(&app, &ada).await?;
    assert!(first.added >= 5, "four built-ins and a folder: {first:?}");
    assert_eq!((first.updated, first.missing, first.unchanged), (0, 0, 0));
    assert!(first.problems.is_empty(), "{first:?}");
    let listed = catalog(&app, &ada).await?;
    let last = listed.last_sync.clone().ok_or("no last run")?;
    assert_eq!(
        (last.added, last.updated, last.missing, last.unchanged),
        (first.added, 0, 0, 0)
    );
    assert_eq!(listed.templates.len() as u32, first.added);
    let from_folder = card(&app, &ada, "from-folder").await?.ok_or("not listed")?;
    assert_eq!(
        (
            from_folder.source,
            from_folder.ram_mib,
            from_folder.app.as_str()
        ),
        (Source::Folder, 1024, "From a folder")
    );

    // A folder template is deleted by removing its folder, not from Kiln.
    let reply = app
        .call("delete_template", &[("slug", "from-folder")], Some(&ada))
        .await?;
    assert!(message(&reply, StatusCode::CONFLICT)?.contains("remove the folder and sync"));

    // A custom template keeps its slug against a folder that appears later.
    save_ok(&app, &ada, None, &sample("mine")).await?;
    let before = detail_ok(&app, &ada, "mine").await?;
    folder(root.path(), "mine", "A folder that wants the slug")?;
    std::fs::remove_dir_all(root.path().join("from-folder"))?;
    let second = sync_now(&app, &ada).await?;
    assert_eq!(
        (second.added, second.updated, second.missing),
        (0, 0, 1),
        "{second:?}"
    );
    assert_eq!(second.unchanged, first.added - 1);
    assert_eq!(
        second.problems,
        ["mine: the slug is taken by a custom template; the folder is skipped"]
    );
    let after = detail_ok(&app, &ada, "mine").await?;
    assert_eq!(after.template, before.template);
    assert_eq!(after.summary.source, Source::Custom);
    assert!(
        card(&app, &ada, "from-folder")
            .await?
            .ok_or("kept")?
            .missing
    );
    let last = catalog(&app, &ada).await?.last_sync.ok_or("no last run")?;
    assert_eq!(last.problems, second.problems);
    app.cleanup().await
}
