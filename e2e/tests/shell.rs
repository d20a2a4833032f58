//! The console's shell, end to end in headless Chromium against a real `kiln` with its own
//! private PostgreSQL and Redis: first-run setup, signing out and in (a wrong password first),
//! every sidebar page, the theme switch and its cookie, and the `next` round trip through the
//! sign-in page.
//!
//! Needs a built server (`cargo build -p kiln-server`, or `KILN_BIN`), `/usr/bin/chromium` and
//! `/usr/bin/chromedriver`. Run with `cargo test -p kiln-e2e -- --nocapture` to see the steps.

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

/// The sidebar, in order: (path, page heading).
const SIDEBAR: [(&str, &str); 6] = [
    ("/", "Dashboard"),
    ("/containers", "Containers"),
    ("/templates", "Templates"),
    ("/packages", "Packages"),
    ("/nodes", "Nodes"),
    ("/settings", "Settings"),
];

const LOGIN_FORM: &str = r#"form[data-test="login-form"]"#;
const THEME_TOGGLE: &str = r#"button[data-test="theme-toggle"]"#;
const USER_MENU: &str = "details.user-menu";
const LOGOUT: &str = r#"details.user-menu button[data-test="logout"]"#;
const FORM_ERROR: &str = r#"form[data-test="login-form"] .alert.alert-error"#;

#[tokio::test(flavor = "multi_thread")]
async fn setup_sign_in_navigate_theme_and_sign_out() -> anyhow::Result<()> {
    let harness = Harness::start("shell").await?;
    let outcome = walk_through(&harness.browser).await;
    harness.finish(outcome).await
}

async fn walk_through(b: &Browser) -> anyhow::Result<()> {
    let mut steps = Steps::default();

    steps.step("first visit: no user yet, so / leads to /setup; create the administrator");
    b.first_run_setup(ADMIN, PASSWORD).await?;

    steps.step("sign out from the user menu");
    sign_out(b).await?;
    steps.step("signed out for real: loading / again lands on /login");
    b.goto("/").await?;
    b.wait_page("/login", "Sign in").await?;

    steps.step("a wrong password is refused with a message");
    sign_in(b, ADMIN, "not-the-password").await?;
    b.wait_text(FORM_ERROR, "Wrong username or password.")
        .await?;
    let state = b.state().await?;
    ensure!(
        state.path == "/login",
        "a wrong password must stay on /login; saw {state}"
    );
    ensure!(
        !b.exists(USER_MENU).await?,
        "a wrong password must not show the user menu"
    );

    steps.step("sign in; land on the dashboard");
    sign_in(b, ADMIN, PASSWORD).await?;
    b.wait_shell_page("/", "Dashboard").await?;

    steps.step("visit every sidebar page (server-rendered pages, islands hydrated)");
    for (path, title) in SIDEBAR.iter().cycle().skip(1).take(SIDEBAR.len()) {
        b.click(&format!(r#"nav.nav a[href="{path}"]"#)).await?;
        b.wait_shell_page(path, title).await?;
        println!("[e2e]     {path}: <h1>{title}</h1>, aria-current on its link");
    }

    steps.step("toggle the theme (handled by the hydrated app, no page load)");
    let before = b.effective_theme().await?;
    let flipped = opposite(&before)?;
    toggle_theme(b, &before, flipped).await?;

    steps.step("reload: the server renders the chosen theme from the cookie");
    b.reload().await?;
    let state = b.wait_shell_page("/", "Dashboard").await?;
    ensure!(
        !b.document_is_marked().await?,
        "the reload did not load a new document"
    );
    ensure!(
        state.theme.as_deref() == Some(flipped),
        "after a reload the page should keep data-theme={flipped:?} (cookie kiln_theme); saw {state}"
    );

    steps.step("toggle back");
    toggle_theme(b, flipped, &before).await?;

    steps.step("sign out");
    sign_out(b).await?;

    steps.step("signed out, /settings redirects to /login?next=/settings");
    b.goto("/settings").await?;
    let state = b.wait_page("/login", "Sign in").await?;
    ensure!(
        state.search == "?next=/settings" || state.search == "?next=%2Fsettings",
        "expected the sign-in page to remember next=/settings; saw {state}"
    );
    let next = b
        .input_value(&format!("{LOGIN_FORM} input[name=next]"))
        .await?;
    ensure!(
        next == "/settings",
        "the hidden `next` field holds {next:?}, expected \"/settings\""
    );

    steps.step("sign in from there; land on /settings");
    sign_in(b, ADMIN, PASSWORD).await?;
    b.wait_shell_page("/settings", "Settings").await?;

    steps.step("sign out");
    sign_out(b).await?;
    Ok(())
}

/// Fills in and submits the sign-in form.
async fn sign_in(b: &Browser, username: &str, password: &str) -> anyhow::Result<()> {
    b.fill(&format!("{LOGIN_FORM} #field-username"), username)
        .await?;
    b.fill(&format!("{LOGIN_FORM} #field-password"), password)
        .await?;
    b.click(&format!("{LOGIN_FORM} button[type=submit]")).await
}

/// Opens the user menu, clicks "Sign out" and waits for the sign-in page.
async fn sign_out(b: &Browser) -> anyhow::Result<()> {
    b.click(&format!("{USER_MENU} > summary")).await?;
    b.click(LOGOUT).await?;
    b.wait_page("/login", "Sign in").await?;
    let state = b.state().await?;
    ensure!(
        state.search.is_empty(),
        "signing out should land on plain /login; saw {state}"
    );
    Ok(())
}

/// Clicks the theme switch and checks that `<html data-theme>` goes from `from` to `to` in the
/// same document (a hydrated click handler, not the no-JavaScript form post), and that the
/// choice is stored in the `kiln_theme` cookie.
async fn toggle_theme(b: &Browser, from: &str, to: &str) -> anyhow::Result<()> {
    b.mark_document().await?;
    b.click(THEME_TOGGLE).await?;
    let what =
        format!("<html data-theme=\"{to}\"> after clicking the theme switch (it was {from})");
    b.wait_for(&what, async |b| {
        let state = b.state().await?;
        ensure!(state.theme.as_deref() == Some(to), "saw {state}");
        Ok(())
    })
    .await?;
    ensure!(
        b.document_is_marked().await?,
        "the theme switch reloaded the page: the no-JavaScript form fallback ran instead of the \
         hydrated click handler"
    );
    let cookie = b.cookie("kiln_theme").await?;
    ensure!(
        cookie.as_deref() == Some(to),
        "the cookie kiln_theme is {cookie:?}, expected {to:?}"
    );
    println!("[e2e]     data-theme {from} -> {to}, cookie kiln_theme={to}");
    Ok(())
}

fn opposite(theme: &str) -> anyhow::Result<&'static str> {
    match theme {
        "light" => Ok("dark"),
        "dark" => Ok("light"),
        other => anyhow::bail!("unexpected theme {other:?}"),
    }
}
