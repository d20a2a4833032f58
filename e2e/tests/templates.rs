//! Templates, end to end in headless Chromium against a real `kiln` (own PostgreSQL and
//! Redis, the built-in templates synced at start): browse the catalog, filter by a tag (the
//! URL changes and can be reloaded), open a template and read its scripts, make a custom
//! template with a script and a file in the editor (a relative target directory is refused on
//! its field first), see it listed, and export it — the download is a `.tar.gz` of the folder
//! holding the script and the file.
//!
//! Needs what `nodes.rs` needs (a built server with the release bundle embedded, Chromium and
//! chromedriver). Run with `cargo test -p kiln-e2e --test templates -- --nocapture`.

#[expect(
    dead_code,
    reason = "every test binary compiles the whole harness but uses only part of it"
)]
mod common;

use std::io::Read;

use anyhow::{Context, ensure};
use common::browser::Browser;
use common::{Harness, Steps};

const ADMIN: &str = "admin";
const PASSWORD: &str = "correct-horse-battery";

const CARD: &str = r#"article[data-test="template-card"]"#;
const NGINX_TAG: &str = r#"article[data-slug="nginx-web"] a[data-test="tag"]"#;
const EDITOR: &str = r#"form[data-test="template-editor"]"#;
const TOASTS: &str = ".toasts .toast";

const SLUG: &str = "e2e-hello";
const APP: &str = "Hello service";
const SCRIPT: &str =
    "#!/usr/bin/env bash\nset -euo pipefail\necho \"hello from kiln\" > /tmp/hello\n";
const FILE_BODY: &str = "greeting = hello\n";

#[tokio::test(flavor = "multi_thread")]
async fn browse_filter_create_and_export_a_template() -> anyhow::Result<()> {
    let harness = Harness::start("templates").await?;
    let outcome = walk_through(&harness.browser).await;
    harness.finish(outcome).await
}

async fn walk_through(b: &Browser) -> anyhow::Result<()> {
    let mut steps = Steps::default();

    steps.step("first-run setup: create the administrator");
    b.first_run_setup(ADMIN, PASSWORD).await?;

    steps.step("the Templates page lists the four built-in templates");
    b.click(r#"nav.nav a[href="/templates"]"#).await?;
    b.wait_shell_page("/templates", "Templates").await?;
    let slugs = card_slugs(b, 4).await?;
    for slug in [
        "debian-base",
        "docker-host",
        "nginx-web",
        "postgresql-server",
    ] {
        ensure!(
            slugs.iter().any(|s| s == slug),
            "no card for {slug}: {slugs:?}"
        );
    }
    b.wait_text(r#"[data-test="last-sync"]"#, "4 added").await?;

    steps.step("filter by the tag `web` on the nginx card: the URL says ?tag=web");
    b.click(&format!("{NGINX_TAG}:first-of-type")).await?;
    wait_url(b, "/templates?tag=web").await?;
    ensure!(
        card_slugs(b, 1).await? == ["nginx-web"],
        "only nginx-web carries `web`"
    );

    steps.step("the filtered URL survives a reload (server-rendered)");
    b.reload().await?;
    b.wait_shell_page("/templates", "Templates").await?;
    ensure!(
        card_slugs(b, 1).await? == ["nginx-web"],
        "the reload lost the filter"
    );
    ensure!(
        b.input_value(r#"select[data-test="tag-filter"]"#).await? == "web",
        "the tag select should show the filter"
    );

    steps.step("choose `database` in the tag select: the URL follows");
    b.select(r#"select[data-test="tag-filter"]"#, "database")
        .await?;
    wait_url(b, "/templates?tag=database").await?;
    ensure!(
        card_slugs(b, 1).await? == ["postgresql-server"],
        "one database template"
    );

    steps.step("open PostgreSQL 15: scripts are listed in order and highlighted");
    b.click(r#"article[data-slug="postgresql-server"] .card-title a"#)
        .await?;
    b.wait_page("/templates/postgresql-server", "PostgreSQL 15")
        .await?;
    b.click(r#"a[data-test="tab-scripts"]"#).await?;
    wait_url(b, "/templates/postgresql-server?tab=scripts").await?;
    b.find_visible(r#"details[data-test="script"] pre.hl span[class*="hl-"]"#)
        .await?;
    b.click(r#"a[data-test="tab-files"]"#).await?;
    b.find_visible(r#"details[data-test="file"]"#).await?;

    steps.step("New template: a relative target directory is refused on its field");
    b.goto("/templates").await?;
    b.wait_shell_page("/templates", "Templates").await?;
    b.click(r#"a[data-test="new-template"]"#).await?;
    b.wait_page("/templates/new", "New template").await?;
    b.fill(&format!("{EDITOR} #t-slug"), SLUG).await?;
    b.fill(&format!("{EDITOR} #t-app"), APP).await?;
    b.fill(&format!("{EDITOR} #t-description"), "Writes a greeting")
        .await?;
    b.fill(&format!("{EDITOR} #t-tags"), "e2e; demo").await?;
    b.click(r#"button[data-test="add-script"]"#).await?;
    b.fill(
        r#"[data-test="script-row"] input[data-test="script-name"]"#,
        "10-hello.sh",
    )
    .await?;
    b.fill(
        r#"[data-test="script-row"] textarea[data-test="script-content"]"#,
        SCRIPT,
    )
    .await?;
    b.click(r#"button[data-test="add-file"]"#).await?;
    b.fill(
        r#"[data-test="file-row"] input[data-test="file-name"]"#,
        "hello.conf",
    )
    .await?;
    b.fill(
        r#"[data-test="file-row"] input[data-test="file-target"]"#,
        "etc/hello",
    )
    .await?;
    b.select(
        r#"[data-test="file-row"] select[data-test="file-policy"]"#,
        "replace",
    )
    .await?;
    b.fill(
        r#"[data-test="file-row"] textarea[data-test="file-content"]"#,
        FILE_BODY,
    )
    .await?;
    b.click(r#"button[data-test="save-template"]"#).await?;
    b.wait_text(
        r#"[data-test="file-row"] input[data-test="file-target"] + .field-error"#,
        "is not absolute",
    )
    .await?;
    ensure!(
        b.state().await?.path == "/templates/new",
        "a refused form stays open"
    );

    steps.step("fix it and save: the template page opens with a toast");
    b.click(".toasts .toast-error button").await?;
    b.wait_for("the error toast to close", async |b| {
        ensure!(!b.exists(".toasts .toast-error").await?, "it is still open");
        Ok(())
    })
    .await?;
    b.fill(
        r#"[data-test="file-row"] input[data-test="file-target"]"#,
        "/etc/hello",
    )
    .await?;
    b.click(r#"button[data-test="save-template"]"#).await?;
    b.wait_page(&format!("/templates/{SLUG}"), APP).await?;
    b.wait_text(TOASTS, &format!("Template {SLUG} saved."))
        .await?;
    b.wait_text(r#"[data-test="source"]"#, "custom").await?;

    steps.step("the Files tab shows the target and the replace policy");
    b.click(r#"a[data-test="tab-files"]"#).await?;
    b.wait_text(
        r#"details[data-test="file"] summary"#,
        "/etc/hello/hello.conf",
    )
    .await?;
    b.wait_text(r#"details[data-test="file"] summary"#, "replace")
        .await?;

    steps.step("it is listed under its tag");
    b.goto("/templates?tag=e2e").await?;
    b.wait_shell_page("/templates", "Templates").await?;
    ensure!(
        card_slugs(b, 1).await? == [SLUG],
        "the new template is listed under e2e"
    );

    steps.step("export: a .tar.gz of the folder with the script and the file");
    b.click(&format!(r#"article[data-slug="{SLUG}"] .card-title a"#))
        .await?;
    b.wait_page(&format!("/templates/{SLUG}"), APP).await?;
    let href = b
        .attr(r#"a[data-test="export-template"]"#, "href")
        .await?
        .context("the export link has no href")?;
    let (status, kind, bytes) = b.fetch_bytes(&href).await?;
    ensure!(status == 200, "the export answered {status}");
    ensure!(kind.contains("gzip"), "the export is {kind:?}, not gzip");
    let files = unpack(&bytes)?;
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    let get = |name: &str| {
        files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, body)| body.as_str())
            .with_context(|| format!("the archive has no {name}: {names:?}"))
    };
    ensure!(get(&format!("{SLUG}/template.conf"))?.contains("TEMPLATE_APP=\"Hello service\""));
    ensure!(get(&format!("{SLUG}/container-configs/scripts/10-hello.sh"))? == SCRIPT);
    ensure!(get(&format!("{SLUG}/container-configs/files/hello.conf"))? == FILE_BODY);
    ensure!(
        get(&format!("{SLUG}/container-configs/files/hello.conf.path"))?.trim() == "/etc/hello"
    );
    ensure!(get(&format!("{SLUG}/container-configs/files/hello.conf.policy"))?.trim() == "replace");
    Ok(())
}

/// The slugs of the cards, once there are exactly `count`.
async fn card_slugs(b: &Browser, count: usize) -> anyhow::Result<Vec<String>> {
    b.wait_for(&format!("{count} template card(s)"), async |b| {
        let slugs = b.attrs(CARD, "data-slug").await?;
        ensure!(slugs.len() == count, "saw {slugs:?}");
        Ok(slugs)
    })
    .await
}

/// Waits until the URL's path and query are `expected`.
async fn wait_url(b: &Browser, expected: &str) -> anyhow::Result<()> {
    b.wait_for(&format!("the URL {expected}"), async |b| {
        let url = b.current_url().await;
        let path = url
            .splitn(4, '/')
            .nth(3)
            .map(|p| format!("/{p}"))
            .unwrap_or_default();
        ensure!(path == expected, "the URL is {url}");
        Ok(())
    })
    .await
}

/// The regular files of a `.tar.gz` as (path, UTF-8 text).
fn unpack(bytes: &[u8]) -> anyhow::Result<Vec<(String, String)>> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut files = Vec::new();
    for entry in archive.entries().context("reading the archive")? {
        let mut entry = entry?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_owned();
        let mut text = String::new();
        entry.read_to_string(&mut text)?;
        files.push((path, text));
    }
    Ok(files)
}
