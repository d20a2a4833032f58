//! The console's shell, end to end in headless Chromium against a real `kiln` with its own
//! private PostgreSQL and Redis: first-run setup, signing out and in (a wrong password first),
//! every sidebar page, the theme switch and its cookie, API tokens in Settings (created with
//! the secret shown once and working against `/api/v1`, revoked after a confirmation and then
//! refused), the API reference page, and the `next` round trip through the sign-in page.
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

    api_tokens(b, &mut steps).await?;

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

/// Creates an API token in Settings, uses it, revokes it.
async fn api_tokens(b: &Browser, steps: &mut Steps) -> anyhow::Result<()> {
    steps.step("Settings: create a read-only API token; its secret is shown once");
    b.goto("/settings").await?;
    b.wait_shell_page("/settings", "Settings").await?;
    b.find_visible(r#"[data-test="no-tokens"]"#).await?;
    b.fill("#token-new-name", "e2e").await?;
    b.click(r#"form[data-test="token-form"] input[name="read_only"]"#)
        .await?;
    b.click(r#"button[data-test="token-create"]"#).await?;
    b.find_visible(r#"[data-test="secret-once"]"#).await?;
    let secret = b.text(r#"[data-test="secret-once"] pre code"#).await?;
    ensure!(
        secret.starts_with("kiln_"),
        "the secret shown is {secret:?}"
    );

    steps.step("the token works against the API, and only for reading");
    let seen = b
        .eval_async(
            "const done = arguments[arguments.length - 1]; \
             const auth = {Authorization: 'Bearer ' + arguments[0]}; \
             Promise.all([ \
               fetch('/api/v1/me', {headers: auth}).then(r => r.json()), \
               fetch('/api/v1/tokens', {method: 'POST', body: JSON.stringify({name: 'more'}), \
                 headers: {...auth, 'Content-Type': 'application/json'}}).then(r => r.status), \
             ]).then(([me, post]) => done({token: me.token, read_only: me.read_only, post})) \
               .catch(e => done({error: String(e)}));",
            vec![serde_json::json!(secret)],
        )
        .await?;
    ensure!(
        seen["token"] == "e2e" && seen["read_only"] == true,
        "GET /api/v1/me with the token answered {seen}"
    );
    ensure!(
        seen["post"] == 403,
        "a write with the read-only token answered {seen}"
    );
    let (status, _, body) = b.fetch_bytes("/api/v1/me").await?;
    ensure!(
        status == 401,
        "/api/v1/me with only the session cookie answered {status}"
    );
    ensure!(
        String::from_utf8_lossy(&body).contains("unauthorized"),
        "the API's 401 is not in its error shape"
    );

    steps.step("Done: the list shows the token (its first characters, read-only)");
    b.click(r#"[data-test="secret-done"]"#).await?;
    // The reloaded page: the row is there, then its island hydrates (a click before that
    // would post the form without the question).
    b.find_visible(r#"tr[data-test="token-row"][data-token="e2e"]"#)
        .await?;
    b.wait_shell_page("/settings", "Settings").await?;
    let row = b
        .text(r#"tr[data-test="token-row"][data-token="e2e"]"#)
        .await?;
    ensure!(row.contains("read-only"), "the row reads {row:?}");
    ensure!(!row.contains(&secret), "the list shows the secret");

    steps.step("revoke it: asked first, then gone");
    b.click(r#"tr[data-test="token-row"] summary[data-test="token-revoke"]"#)
        .await?;
    b.click(r#"tr[data-test="token-row"] button[data-test="token-revoke-confirm"]"#)
        .await?;
    b.wait_for("the token row gone", async |b| {
        ensure!(
            !b.exists(r#"tr[data-test="token-row"]"#).await?,
            "the token is still listed"
        );
        Ok(())
    })
    .await?;

    steps.step("the API reference page is served from the binary");
    let (status, kind, body) = b.fetch_bytes("/api/v1/docs/").await?;
    ensure!(
        status == 200 && kind.starts_with("text/html"),
        "/api/v1/docs/ answered {status} {kind}"
    );
    ensure!(
        String::from_utf8_lossy(&body).contains("swagger"),
        "/api/v1/docs/ is not Swagger UI"
    );
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
