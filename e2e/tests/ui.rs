//! What a new user hits in the browser, end to end in headless Chromium against a real
//! `kiln`: a refused save in the template editor scrolls to and focuses the first invalid
//! field and marks every invalid one (a bad file target included), its toast leaves the form's
//! buttons uncovered, leaving with unsaved changes asks first (`beforeunload`) while a saved
//! or untouched editor does not; and at phone width the sidebar sits behind a menu button and
//! nothing widens the page.
//!
//! Needs what `nodes.rs` needs (a built server with the release bundle embedded, Chromium and
//! chromedriver). Run with `cargo test -p kiln-e2e --test ui -- --nocapture`.

#[expect(
    dead_code,
    reason = "every test binary compiles the whole harness but uses only part of it"
)]
mod common;

use anyhow::{Context, ensure};
use common::browser::Browser;
use common::{Harness, Steps};
use serde_json::{Value, json};

const ADMIN: &str = "admin";
const PASSWORD: &str = "correct-horse-battery";

const EDITOR: &str = r#"form[data-test="template-editor"]"#;
const SAVE: &str = r#"button[data-test="save-template"]"#;
const FILE_TARGET: &str = r#"[data-test="file-row"] input[data-test="file-target"]"#;

#[tokio::test(flavor = "multi_thread")]
async fn errors_in_view_unsaved_changes_and_phone_width() -> anyhow::Result<()> {
    let harness = Harness::start("ui").await?;
    let outcome = walk_through(&harness.browser).await;
    harness.finish(outcome).await
}

async fn walk_through(b: &Browser) -> anyhow::Result<()> {
    let mut steps = Steps::default();

    steps.step("first-run setup: create the administrator");
    b.first_run_setup(ADMIN, PASSWORD).await?;

    steps.step("wide screen: the navigation is open and there is no menu button");
    ensure!(nav_shown(b).await?, "the sidebar navigation is hidden");
    ensure!(
        !shown(b, r#"[data-test="menu-button"]"#).await?,
        "the menu button shows on a wide screen"
    );

    steps.step("an untouched editor lets the user leave without a question");
    b.goto("/templates/new").await?;
    b.wait_page("/templates/new", "New template").await?;
    ensure!(
        !leaving_asks(b).await?,
        "an untouched form asked before leaving"
    );

    steps.step("a save with a bad slug and a relative file target is refused");
    b.fill(&format!("{EDITOR} #t-slug"), "Not A Slug").await?;
    b.fill(&format!("{EDITOR} #t-app"), "Errors in view")
        .await?;
    b.click(r#"button[data-test="add-file"]"#).await?;
    b.fill(
        r#"[data-test="file-row"] input[data-test="file-name"]"#,
        "app.conf",
    )
    .await?;
    b.fill(FILE_TARGET, "etc/app").await?;
    b.click(SAVE).await?;

    steps.step("every invalid field is marked, the bad file target included");
    b.wait_text(&format!("{FILE_TARGET} + .field-error"), "is not absolute")
        .await?;
    for field in [format!("{EDITOR} #t-slug"), FILE_TARGET.to_owned()] {
        ensure!(
            b.attr(&field, "aria-invalid").await?.as_deref() == Some("true"),
            "`{field}` has no aria-invalid=\"true\" (no red border)"
        );
    }

    steps.step("the first invalid field (the slug, at the top) has the focus and is in view");
    b.wait_for(
        "the slug field focused and inside the viewport",
        async |b| {
            let seen = b
                .eval(
                    "const el = document.activeElement; const r = el.getBoundingClientRect(); \
                 return {id: el.id, top: r.top, bottom: r.bottom, height: innerHeight};",
                    vec![],
                )
                .await?;
            let num = |k: &str| seen.get(k).and_then(Value::as_f64).unwrap_or(-1.0);
            ensure!(
                seen.get("id").and_then(Value::as_str) == Some("t-slug"),
                "the focus is on {seen}"
            );
            ensure!(
                num("top") >= 0.0 && num("bottom") <= num("height"),
                "the slug field is off-screen: {seen}"
            );
            Ok(())
        },
    )
    .await?;

    steps.step("the error toast does not cover the form's buttons");
    b.find_visible(".toasts .toast-error").await?;
    let overlap = b
        .eval(
            "const save = document.querySelector(arguments[0]); \
             save.scrollIntoView({block: 'end', behavior: 'instant'}); \
             const toasts = [...document.querySelectorAll('.toasts .toast')]; \
             const buttons = [...save.parentElement.querySelectorAll('.btn')]; \
             const hit = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom; \
             return buttons.filter(btn => toasts.some(t => hit(t.getBoundingClientRect(), btn.getBoundingClientRect()))) \
                           .map(btn => btn.textContent.trim());",
            vec![json!(SAVE)],
        )
        .await?;
    ensure!(
        overlap.as_array().is_some_and(Vec::is_empty),
        "a toast covers {overlap}"
    );

    steps.step(
        "fix the slug only and save again: now the file target, further down, gets the focus",
    );
    // Scroll up at once: typing would otherwise start a smooth scroll (the stylesheet's
    // `scroll-behavior`) that is still moving the page when the save button is clicked.
    b.eval(
        "document.getElementById('t-slug').scrollIntoView({block: 'center', behavior: 'instant'});",
        vec![],
    )
    .await?;
    b.fill(&format!("{EDITOR} #t-slug"), "errors-in-view")
        .await?;
    b.click(SAVE).await?;
    b.wait_for("the file target focused and inside the viewport", async |b| {
        let seen = b
            .eval(
                "const el = document.activeElement; const r = el.getBoundingClientRect(); \
                 return {test: el.dataset.test || el.id, top: r.top, bottom: r.bottom, height: innerHeight, \
                         slug_invalid: document.getElementById('t-slug').getAttribute('aria-invalid')};",
                vec![],
            )
            .await?;
        let num = |k: &str| seen.get(k).and_then(Value::as_f64).unwrap_or(-1.0);
        ensure!(
            seen.get("test").and_then(Value::as_str) == Some("file-target"),
            "the focus is on {seen}"
        );
        ensure!(
            num("top") >= 0.0 && num("bottom") <= num("height"),
            "the file target is off-screen: {seen}"
        );
        ensure!(seen["slug_invalid"].is_null(), "the fixed slug is still marked: {seen}");
        Ok(())
    })
    .await?;

    steps.step("with unsaved changes, leaving asks first");
    ensure!(
        leaving_asks(b).await?,
        "a changed form let the user leave silently"
    );

    steps.step("fix the file target and save: the saved page opens without a question");
    b.fill(FILE_TARGET, "/etc/app").await?;
    b.click(SAVE).await?;
    b.wait_page("/templates/errors-in-view", "Errors in view")
        .await?;

    steps.step("phone width: the navigation hides behind a menu button");
    b.resize(390, 844).await?;
    b.goto("/settings").await?;
    b.wait_page("/settings", "Settings").await?;
    ensure!(
        !nav_shown(b).await?,
        "the navigation shows before the menu is opened"
    );
    b.click(r#"[data-test="menu-button"]"#).await?;
    b.wait_for("the navigation to open", async |b| {
        ensure!(nav_shown(b).await?, "still closed");
        Ok(())
    })
    .await?;
    b.click(r#"[data-test="menu-button"]"#).await?;
    b.wait_for("the navigation to close", async |b| {
        ensure!(!nav_shown(b).await?, "still open");
        Ok(())
    })
    .await?;

    steps.step("phone width: nothing is cut off, the users table scrolls inside its card");
    let widths = b
        .eval(
            "const wide = [...document.querySelectorAll('body *')] \
                .filter(el => el.getBoundingClientRect().right > innerWidth + 1 && !el.parentElement.closest('.table-scroll')) \
                .slice(0, 5).map(el => el.tagName + '.' + el.className); \
             return {page: document.documentElement.scrollWidth, view: innerWidth, wide, \
             table: document.querySelector('[data-test=\"users\"]').closest('.table-scroll') !== null};",
            vec![],
        )
        .await?;
    let page = widths
        .get("page")
        .and_then(Value::as_f64)
        .context("no width")?;
    let view = widths
        .get("view")
        .and_then(Value::as_f64)
        .context("no width")?;
    ensure!(page <= view, "the page is wider than the phone: {widths}");
    ensure!(
        widths.get("table").and_then(Value::as_bool) == Some(true),
        "the users table is not in a scroller: {widths}"
    );

    steps.step("phone width: a link in the opened menu goes there");
    b.click(r#"[data-test="menu-button"]"#).await?;
    b.click(r#"nav.nav a[href="/templates"]"#).await?;
    b.wait_shell_page("/templates", "Templates").await?;
    ensure!(
        !nav_shown(b).await?,
        "the menu stays closed on the next page"
    );
    Ok(())
}

/// Whether leaving the page now would ask the user: a cancelable `beforeunload` the page
/// cancels (what the browser turns into its "Leave site?" question).
async fn leaving_asks(b: &Browser) -> anyhow::Result<bool> {
    let value = b
        .eval(
            "const ev = new Event('beforeunload', {cancelable: true}); \
             window.dispatchEvent(ev); return ev.defaultPrevented;",
            vec![],
        )
        .await?;
    value
        .as_bool()
        .context("the beforeunload check returned no boolean")
}

/// Whether the main navigation is displayed.
async fn nav_shown(b: &Browser) -> anyhow::Result<bool> {
    shown(b, "#main-nav").await
}

/// Whether the first element `css` matches is displayed.
async fn shown(b: &Browser, css: &str) -> anyhow::Result<bool> {
    let value = b
        .eval(
            "const el = document.querySelector(arguments[0]); \
             return el !== null && getComputedStyle(el).display !== 'none';",
            vec![json!(css)],
        )
        .await?;
    Ok(value.as_bool().unwrap_or(false))
}
