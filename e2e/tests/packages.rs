//! Package buckets, end to end in headless Chromium against a real `kiln`: create a bucket
//! (a bad `custom` line is refused on its field first), take a copy of it in the template
//! editor, see the bucket "used by" that template, delete the bucket (bulk, confirmed) and
//! see that the template kept its copy.
//!
//! Needs what `nodes.rs` needs. Run with `cargo test -p kiln-e2e --test packages -- --nocapture`.

#[expect(
    dead_code,
    reason = "every test binary compiles the whole harness but uses only part of it"
)]
mod common;

use anyhow::ensure;
use common::browser::Browser;
use common::{Harness, Steps};

const ADMIN: &str = "admin";
const PASSWORD: &str = "correct-horse-battery";
const ROW: &str = r#"tr[data-test="bucket-row"][data-name="toolbox"]"#;
const FORM: &str = r#"form[data-test="bucket-form"]"#;
const TOASTS: &str = ".toasts .toast";

#[tokio::test(flavor = "multi_thread")]
async fn create_take_and_delete_a_bucket() -> anyhow::Result<()> {
    let harness = Harness::start("packages").await?;
    let outcome = walk_through(&harness.browser).await;
    harness.finish(outcome).await
}

async fn walk_through(b: &Browser) -> anyhow::Result<()> {
    let mut steps = Steps::default();

    steps.step("first-run setup: create the administrator");
    b.first_run_setup(ADMIN, PASSWORD).await?;

    steps.step("the Packages page has no buckets yet");
    b.click(r#"nav.nav a[href="/packages"]"#).await?;
    b.wait_shell_page("/packages", "Packages").await?;
    b.wait_text("section.empty-state h2", "No package buckets yet")
        .await?;

    steps.step("New bucket: a custom line without check and install is refused on its field");
    b.click(r#"button[data-test="new-bucket"]"#).await?;
    b.find_visible(FORM).await?;
    b.fill("#bucket-name", "toolbox").await?;
    b.fill("#bucket-description", "Everyday tools").await?;
    b.fill("#bucket-apt", "curl\nca-certificates").await?;
    b.fill("#bucket-custom", "bun").await?;
    b.click(r#"button[data-test="save-bucket"]"#).await?;
    b.wait_text("#bucket-custom ~ .field-error", "line 1:")
        .await?;

    steps.step("fix the line and save: the bucket is listed with its counts");
    b.fill(
        "#bucket-custom",
        "bun|command -v bun|npm install -g bun|120",
    )
    .await?;
    b.click(r#"button[data-test="save-bucket"]"#).await?;
    b.wait_text(TOASTS, "Bucket toolbox saved.").await?;
    b.wait_text(ROW, "2 apt · 1 custom").await?;
    b.wait_text(&format!(r#"{ROW} [data-test="used-by"]"#), "no template")
        .await?;

    steps.step("the editor takes a copy of the bucket into a new template");
    b.goto("/templates/new").await?;
    b.wait_page("/templates/new", "New template").await?;
    b.fill("#t-slug", "uses-toolbox").await?;
    b.fill("#t-app", "Uses toolbox").await?;
    b.select("#take-bucket", "toolbox").await?;
    b.click(r#"button[data-test="take-bucket"]"#).await?;
    let lists = b
        .wait_for("two bucket rows (apt and custom)", async |b| {
            let rows = b.texts(r#"[data-test="bucket-row"]"#).await?;
            ensure!(rows.len() == 2, "saw {rows:?}");
            Ok(rows)
        })
        .await?;
    ensure!(lists.len() == 2);
    b.click(r#"button[data-test="save-template"]"#).await?;
    b.wait_page("/templates/uses-toolbox", "Uses toolbox")
        .await?;
    b.click(r#"a[data-test="tab-packages"]"#).await?;
    b.wait_text("section.tab-panel table", "ca-certificates")
        .await?;

    steps.step("the bucket says which template holds a copy");
    b.goto("/packages").await?;
    b.wait_shell_page("/packages", "Packages").await?;
    b.wait_text(&format!(r#"{ROW} [data-test="used-by"]"#), "uses-toolbox")
        .await?;

    steps.step("select it and delete it (confirmed): the list is empty again");
    b.click(&format!("{ROW} input[type=checkbox]")).await?;
    b.wait_text(".bulk-bar", "1 selected").await?;
    b.click(".bulk-bar > button:last-of-type").await?;
    b.click(r#"dialog[open] button[data-test="confirm"]"#)
        .await?;
    b.wait_text(TOASTS, "1 bucket(s) deleted").await?;
    b.wait_text("section.empty-state h2", "No package buckets yet")
        .await?;

    steps.step("the template kept its copy");
    b.goto("/templates/uses-toolbox?tab=packages").await?;
    b.wait_page("/templates/uses-toolbox", "Uses toolbox")
        .await?;
    b.wait_text("section.tab-panel table", "npm install -g bun")
        .await?;
    Ok(())
}
