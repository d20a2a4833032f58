//! Template discovery and sync (`templates::sync`) against a real PostgreSQL schema: adds,
//! unchanged runs, edits, folders that go missing and come back, custom templates that a
//! folder never overwrites, templates with lint errors, and concurrent syncs.

use std::path::Path;

use diesel::QueryDsl;
use diesel_async::RunQueryDsl;
use kiln_server::db::templates::{self as rows, TemplateFields, TemplateRow};
use kiln_server::templates::sync::{self, SyncReport, TemplateRoot, TemplateSource};
use kiln_shared::templates::Template;

use crate::harness::{TestApp, TestResult};

/// Writes a small valid template folder `<root>/<slug>` with `conf` appended to its
/// `template.conf`.
fn write_template(root: &Path, slug: &str, conf: &str) -> std::io::Result<()> {
    let dir = root.join(slug);
    let configs = dir.join("container-configs");
    std::fs::create_dir_all(configs.join("scripts"))?;
    std::fs::create_dir_all(configs.join("packages"))?;
    std::fs::write(
        dir.join("template.conf"),
        format!("TEMPLATE_APP=\"{slug} app\"\nTEMPLATE_TAGS=\"demo;test\"\n{conf}"),
    )?;
    std::fs::write(
        configs.join("scripts/10-setup.sh"),
        "#!/bin/bash\nlog_info hello\n",
    )?;
    std::fs::write(configs.join("packages/base.apt"), "curl\ngit\n")?;
    Ok(())
}

fn roots(builtin: &Path, folder: &Path) -> Vec<TemplateRoot> {
    vec![
        TemplateRoot {
            path: builtin.to_path_buf(),
            source: TemplateSource::Builtin,
        },
        TemplateRoot {
            path: folder.to_path_buf(),
            source: TemplateSource::Folder,
        },
    ]
}

fn counts(r: &SyncReport) -> (usize, usize, usize, usize, usize) {
    (r.added, r.updated, r.missing, r.unchanged, r.errors.len())
}

async fn row(
    app: &TestApp,
    slug: &str,
) -> Result<TemplateRow, Box<dyn std::error::Error + Send + Sync>> {
    let mut conn = app.state.db.get().await?;
    Ok(rows::by_slug(&mut conn, slug)
        .await?
        .ok_or_else(|| format!("no row for {slug}"))?)
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_adds_updates_and_marks_missing() -> TestResult {
    let app = TestApp::new().await?;
    let builtin = tempfile::tempdir()?;
    let folder = tempfile::tempdir()?;
    write_template(builtin.path(), "base", "")?;
    write_template(folder.path(), "web", "TEMPLATE_CPU=2\n")?;
    write_template(folder.path(), "db", "")?;
    // Not a template: no template.conf.
    std::fs::create_dir_all(folder.path().join("notes"))?;
    let roots = roots(builtin.path(), folder.path());

    let first = sync::sync(&app.state.db, &roots).await?;
    assert_eq!(counts(&first), (3, 0, 0, 0, 0), "{first:?}");
    let web = row(&app, "web").await?;
    assert_eq!((web.source.as_str(), web.status.as_str()), ("folder", "ok"));
    assert_eq!(web.root.as_deref(), Some(&*folder.path().to_string_lossy()));
    assert_eq!(web.tags, ["demo", "test"]);
    assert_eq!(web.app, "web app");
    assert_eq!(row(&app, "base").await?.source, "builtin");

    let second = sync::sync(&app.state.db, &roots).await?;
    assert_eq!(counts(&second), (0, 0, 0, 3, 0), "{second:?}");

    // Edit one file: that template (only) is updated, and the model follows.
    std::fs::write(
        folder.path().join("web/template.conf"),
        "TEMPLATE_APP=\"Web v2\"\nTEMPLATE_CPU=4\n",
    )?;
    let edited = sync::sync(&app.state.db, &roots).await?;
    assert_eq!(counts(&edited), (0, 1, 0, 2, 0), "{edited:?}");
    let web2 = row(&app, "web").await?;
    let model: Template = serde_json::from_value(web2.model.clone())?;
    assert_eq!((model.app.as_str(), model.cpu), ("Web v2", 4));
    assert_eq!(web2.app, "Web v2");
    assert_ne!(web2.content_hash, web.content_hash);
    assert_eq!(web2.id, web.id);

    // Remove a folder: the row stays, marked missing.
    let db_dir = folder.path().join("db");
    let kept = tempfile::tempdir()?;
    std::fs::rename(&db_dir, kept.path().join("db"))?;
    let removed = sync::sync(&app.state.db, &roots).await?;
    assert_eq!(counts(&removed), (0, 0, 1, 2, 0), "{removed:?}");
    assert_eq!(row(&app, "db").await?.status, "missing");
    let again = sync::sync(&app.state.db, &roots).await?;
    assert_eq!(
        counts(&again),
        (0, 0, 0, 2, 0),
        "missing is counted once: {again:?}"
    );

    // Put it back (same content): ok again, counted as updated.
    std::fs::rename(kept.path().join("db"), &db_dir)?;
    let back = sync::sync(&app.state.db, &roots).await?;
    assert_eq!(counts(&back), (0, 1, 0, 2, 0), "{back:?}");
    assert_eq!(row(&app, "db").await?.status, "ok");

    let last = sync::last_run(&app.state.db)
        .await?
        .ok_or("no sync run recorded")?;
    assert_eq!(last.report, back);
    assert!(last.finished_at >= last.started_at);
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn custom_templates_are_never_touched() -> TestResult {
    let app = TestApp::new().await?;
    let builtin = tempfile::tempdir()?;
    let folder = tempfile::tempdir()?;
    write_template(folder.path(), "mine", "")?;
    write_template(folder.path(), "other", "")?;
    let custom = Template::new("mine");
    let model = serde_json::to_value(&custom)?;
    let no_findings = serde_json::json!([]);
    {
        let mut conn = app.state.db.get().await?;
        rows::insert(
            &mut conn,
            &TemplateFields {
                slug: "mine",
                source: "custom",
                root: None,
                app: "My own",
                description: "made in the UI",
                tags: &[],
                model: &model,
                findings: &no_findings,
                error_count: 0,
                warning_count: 0,
                content_hash: None,
                status: "ok",
            },
        )
        .await?
        .ok_or("custom row not inserted")?;
    }
    let before = row(&app, "mine").await?;
    let roots = roots(builtin.path(), folder.path());
    let report = sync::sync(&app.state.db, &roots).await?;
    assert_eq!(counts(&report), (1, 0, 0, 0, 1), "{report:?}");
    assert_eq!(report.errors[0].slug, "mine");
    assert!(report.errors[0].message.contains("custom"), "{report:?}");
    let after = row(&app, "mine").await?;
    assert_eq!(
        (
            after.source.as_str(),
            after.app.as_str(),
            after.root,
            after.model
        ),
        ("custom", "My own", None, before.model)
    );
    assert_eq!(after.updated_at, before.updated_at);

    // With every folder gone, the custom row is still not marked missing.
    std::fs::remove_dir_all(folder.path().join("mine"))?;
    std::fs::remove_dir_all(folder.path().join("other"))?;
    let gone = sync::sync(&app.state.db, &roots).await?;
    assert_eq!(counts(&gone), (0, 0, 1, 0, 0), "{gone:?}");
    assert_eq!(row(&app, "mine").await?.status, "ok");
    let last = sync::last_run(&app.state.db).await?.ok_or("no run")?;
    assert_eq!(last.report.missing, 1);
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn templates_with_lint_errors_are_stored_with_their_findings() -> TestResult {
    let app = TestApp::new().await?;
    let builtin = tempfile::tempdir()?;
    let folder = tempfile::tempdir()?;
    write_template(
        folder.path(),
        "broken",
        "TEMPLATE_CPU=0\nTEMPLATE_RAM=lots\n",
    )?;
    let report = sync::sync(&app.state.db, &roots(builtin.path(), folder.path())).await?;
    assert_eq!(counts(&report), (1, 0, 0, 0, 0), "{report:?}");
    let broken = row(&app, "broken").await?;
    assert_eq!(broken.error_count, 2);
    assert_eq!(broken.status, "ok");
    let findings: Vec<kiln_shared::templates::Finding> = serde_json::from_value(broken.findings)?;
    let errors: Vec<_> = findings
        .iter()
        .filter(|f| f.severity == kiln_shared::templates::Severity::Error)
        .map(|f| (f.path.as_str(), f.line))
        .collect();
    assert_eq!(
        errors,
        [("template.conf", Some(3)), ("template.conf", Some(4))],
        "{findings:?}"
    );
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_syncs_do_not_duplicate() -> TestResult {
    let app = TestApp::new().await?;
    let builtin = tempfile::tempdir()?;
    let folder = tempfile::tempdir()?;
    for slug in ["a", "b", "c", "d", "e"] {
        write_template(folder.path(), slug, "")?;
    }
    write_template(builtin.path(), "f", "")?;
    let roots = roots(builtin.path(), folder.path());
    let (r1, r2, r3) = tokio::join!(
        sync::sync(&app.state.db, &roots),
        sync::sync(&app.state.db, &roots),
        sync::sync(&app.state.db, &roots),
    );
    let reports = [r1?, r2?, r3?];
    for r in &reports {
        assert!(r.errors.is_empty(), "{r:?}");
        assert_eq!(r.added + r.unchanged, 6, "{r:?}");
    }
    assert_eq!(reports.iter().map(|r| r.added).sum::<usize>(), 6);
    let mut conn = app.state.db.get().await?;
    let all = rows::list(&mut conn).await?;
    assert_eq!(all.len(), 6);
    let runs: i64 = kiln_server::db::schema::template_sync_runs::table
        .count()
        .get_result(&mut *conn)
        .await?;
    assert_eq!(runs, 3);
    drop(conn);
    app.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_slugs_and_unreadable_roots_are_reported() -> TestResult {
    let app = TestApp::new().await?;
    let builtin = tempfile::tempdir()?;
    let folder = tempfile::tempdir()?;
    write_template(builtin.path(), "base", "")?;
    write_template(folder.path(), "base", "TEMPLATE_CPU=8\n")?;
    write_template(folder.path(), "web", "")?;
    let roots = roots(builtin.path(), folder.path());
    let report = sync::sync(&app.state.db, &roots).await?;
    assert_eq!(counts(&report), (2, 0, 0, 0, 1), "{report:?}");
    assert_eq!(report.errors[0].slug, "base");
    assert!(
        report.errors[0]
            .path
            .starts_with(&*folder.path().to_string_lossy())
    );
    // The first root (the built-in set) wins.
    assert_eq!(row(&app, "base").await?.source, "builtin");

    // A root that cannot be read is an error, and its templates are not marked missing.
    let gone = tempfile::tempdir()?;
    let moved = gone.path().join("folder");
    std::fs::rename(folder.path(), &moved)?;
    let unreadable = sync::sync(&app.state.db, &roots).await?;
    assert_eq!(counts(&unreadable), (0, 0, 0, 1, 1), "{unreadable:?}");
    assert_eq!(unreadable.errors[0].slug, "");
    assert_eq!(row(&app, "web").await?.status, "ok");
    std::fs::rename(&moved, folder.path())?;
    app.cleanup().await
}

/// What the sync reads is what the parser reads: a FIFO or a link anywhere in a template
/// folder is never opened (today's hash read every file: a FIFO blocked the sync forever),
/// and a link to a template folder in a root is an error, not followed.
#[tokio::test(flavor = "multi_thread")]
async fn sync_opens_no_fifo_and_follows_no_link() -> TestResult {
    use std::os::unix::fs::OpenOptionsExt as _;
    let app = TestApp::new().await?;
    let builtin = tempfile::tempdir()?;
    let folder = tempfile::tempdir()?;
    write_template(folder.path(), "odd", "")?;
    let odd = folder.path().join("odd");
    let fifo = odd.join("notes");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))?;
    std::os::unix::fs::symlink("/etc/passwd", odd.join("passwd"))?;
    std::os::unix::fs::symlink(
        "/etc/passwd",
        odd.join("container-configs/scripts/20-passwd.sh"),
    )?;
    std::os::unix::fs::symlink(&odd, folder.path().join("alias"))?;
    let roots = roots(builtin.path(), folder.path());
    let synced = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        sync::sync(&app.state.db, &roots),
    )
    .await;
    let Ok(report) = synced else {
        // Unblock the readers stuck on the FIFO (through the link too) so that the test can
        // end, then fail.
        for _ in 0..100 {
            let _ = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&fifo);
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        return Err("the sync blocked on a FIFO".into());
    };
    let report = report?;
    assert_eq!(counts(&report), (1, 0, 0, 0, 1), "{report:?}");
    assert_eq!(report.errors[0].slug, "alias");
    assert!(report.errors[0].message.contains("symbolic link"));
    let odd_row = row(&app, "odd").await?;
    assert_eq!(odd_row.error_count, 1, "the linked script is a finding");
    assert!(
        !odd_row.model.to_string().contains("root:"),
        "no /etc/passwd"
    );
    // Nothing changed, nothing rewritten.
    let again = sync::sync(&app.state.db, &roots).await?;
    assert_eq!(counts(&again), (0, 0, 0, 1, 1), "{again:?}");
    app.cleanup().await
}
