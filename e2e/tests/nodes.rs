//! Adding a Proxmox node through the UI, end to end in headless Chromium: a real `kiln` (own
//! PostgreSQL and Redis) and a lab node (`kiln lab`, a simulated Proxmox VE over HTTPS with a
//! self-signed certificate) that kiln is *not* told about. After first-run setup the test adds
//! the lab on the Nodes page: checks its certificate against the fingerprint the lab printed,
//! trusts it, is refused with a wrong token secret, adds it with the right one, tests the
//! connection, reloads, sees a failed SSH host-key fetch reported as `host:port` below the
//! SSH form's fields, and finally stops the lab and sees the node go offline.
//!
//! Needs a built server (`cargo build -p kiln-server`, or `KILN_BIN`) with the release browser
//! bundle embedded (`trunk build --release` first, as `./kiln.sh test` does), `/usr/bin/chromium`
//! and `/usr/bin/chromedriver`. Run with `cargo test -p kiln-e2e -- --nocapture` to see the steps.

#[expect(
    dead_code,
    reason = "every test binary compiles the whole harness but uses only part of it"
)]
mod common;

use anyhow::ensure;
use common::browser::Browser;
use common::lab::TOKEN_ID;
use common::{Harness, Steps};

const ADMIN: &str = "admin";
const PASSWORD: &str = "correct-horse-battery";
const NODE: &str = "homelab";

const ADD_NODE: &str = r#"a[data-test="add-node"]"#;
const EMPTY_STATE: &str = "section.empty-state h2";
const FORM: &str = r#"form[data-test="node-form"]"#;
const PROBE: &str = r#"form[data-test="node-form"] button[data-test="probe"]"#;
const CERT_SHA256: &str = r#"dl[data-test="certificate"] dd code"#;
const TRUST: &str = r#"button[data-test="trust"]"#;
const SAVE: &str = r#"button[data-test="save-node"]"#;
const SECRET_ERROR: &str = "#token-secret + .field-error";
const CARD: &str = r#"article[data-test="node-card"]"#;
const TOASTS: &str = ".toasts .toast";

#[tokio::test(flavor = "multi_thread")]
async fn add_a_lab_node_through_the_ui() -> anyhow::Result<()> {
    let mut harness = Harness::start("nodes").await?;
    let outcome = walk_through(&mut harness).await;
    harness.finish(outcome).await
}

async fn walk_through(h: &mut Harness) -> anyhow::Result<()> {
    let mut steps = Steps::default();

    steps.step("start a lab node (kiln is not told about it)");
    let lab = h.start_lab().await?;
    let (port, fingerprint, secret) = (
        lab.port().to_string(),
        lab.fingerprint().to_owned(),
        lab.secret().to_owned(),
    );
    println!("[e2e]     lab on 127.0.0.1:{port}, fingerprint {fingerprint}");
    let b = &h.browser;

    steps.step("first-run setup: create the administrator");
    b.first_run_setup(ADMIN, PASSWORD).await?;

    steps.step("the Nodes page has no nodes yet");
    b.click(r#"nav.nav a[href="/nodes"]"#).await?;
    b.wait_shell_page("/nodes", "Nodes").await?;
    b.wait_text(EMPTY_STATE, "No nodes yet — add one").await?;
    ensure!(
        !b.exists(CARD).await?,
        "a fresh kiln must list no node cards"
    );

    steps.step("\"Add node\" opens the form");
    b.click(ADD_NODE).await?;
    b.wait_page("/nodes/new", "Add a node").await?;
    b.find_visible(FORM).await?;

    steps.step(&format!(
        "fill in {NODE} at 127.0.0.1:{port}; the save button waits for a trusted certificate"
    ));
    b.fill("#node-name", NODE).await?;
    b.fill("#node-host", "127.0.0.1").await?;
    b.fill("#node-port", &port).await?;
    ensure!(
        !b.is_enabled(SAVE).await?,
        "\"Test and add node\" must be disabled before a certificate is trusted"
    );

    steps.step("check the certificate: it is the one the lab printed");
    b.click(PROBE).await?;
    b.find_visible(CERT_SHA256).await?;
    let shown = b.text(CERT_SHA256).await?;
    ensure!(
        shown.trim() == fingerprint,
        "the form shows the SHA-256 fingerprint {shown:?}, but the lab printed {fingerprint:?}"
    );
    ensure!(
        !b.is_enabled(SAVE).await?,
        "\"Test and add node\" must stay disabled until the certificate is trusted"
    );

    steps.step("trust it: the save button is enabled");
    b.click(TRUST).await?;
    b.wait_for(
        "\"Test and add node\" to be enabled after trusting",
        async |b| {
            ensure!(b.is_enabled(SAVE).await?, "it is still disabled");
            Ok(())
        },
    )
    .await?;
    ensure!(
        !b.is_enabled(TRUST).await?,
        "the trust button should be disabled once the certificate is trusted"
    );

    steps.step("a wrong token secret is refused on the secret field");
    b.fill("#token-id", TOKEN_ID).await?;
    b.fill("#token-secret", "00000000-0000-0000-0000-000000000000")
        .await?;
    b.click(SAVE).await?;
    b.wait_text(SECRET_ERROR, "refused these credentials")
        .await?;
    let state = b.state().await?;
    ensure!(
        state.path == "/nodes/new",
        "a refused secret must keep the form open; saw {state}"
    );
    let focused = b.eval("return document.activeElement.id;", vec![]).await?;
    ensure!(
        focused == "token-secret",
        "the refused field has the focus, not {focused}"
    );

    steps.step("the right secret adds the node; back on /nodes with a toast");
    b.fill("#token-secret", &secret).await?;
    b.click(SAVE).await?;
    b.wait_shell_page("/nodes", "Nodes").await?;
    wait_toast(b, &format!("Added {NODE}.")).await?;

    steps.step(&format!("the card for {NODE}: online, default, Proxmox VE"));
    wait_card(b, &["online", "default"]).await?;

    steps.step("Test connection: the node answers");
    b.click(&format!(r#"{CARD} button[data-test="test-node"]"#))
        .await?;
    wait_toast(b, &format!("{NODE} answers")).await?;

    steps.step("reload (server-rendered): the card is still there, online");
    b.mark_document().await?;
    b.reload().await?;
    b.wait_shell_page("/nodes", "Nodes").await?;
    ensure!(
        !b.document_is_marked().await?,
        "the reload did not load a new document"
    );
    wait_card(b, &["online", "default"]).await?;

    steps.step("SSH page: a failed host-key fetch names host:port and keeps the form's layout");
    b.click(r#"a[data-test="node-ssh"]"#).await?;
    b.find_visible(r#"button[data-test="fetch-host-key"]"#)
        .await?;
    b.fill("#ssh-port", "1").await?;
    b.click(r#"button[data-test="fetch-host-key"]"#).await?;
    b.wait_text(r#"[data-test="ssh-port-error"]"#, "127.0.0.1:1")
        .await?;
    let message = b.text(r#"[data-test="ssh-port-error"]"#).await?;
    ensure!(
        !message.contains("@127.0.0.1"),
        "the message has a dangling user: {message:?}"
    );
    let layout = b
        .eval(
            "const box = id => document.getElementById(id).getBoundingClientRect(); \
             const [user, port, error] = [box('ssh-user'), box('ssh-port'), box('ssh-port-error')]; \
             return {same_line: Math.abs(user.top - port.top) < 2, port_width: port.width, \
                     full_width: error.width >= user.width + port.width};",
            vec![],
        )
        .await?;
    ensure!(
        layout["same_line"] == true && layout["full_width"] == true,
        "user and port side by side, the message below them full width: {layout}"
    );
    ensure!(
        layout["port_width"].as_f64().is_some_and(|w| w < 200.0),
        "the port field stays narrow: {layout}"
    );
    b.goto("/nodes").await?;
    b.wait_shell_page("/nodes", "Nodes").await?;

    steps.step("stop the lab node; after a reload the card shows offline");
    h.stop_lab()?;
    let b = &h.browser;
    b.reload().await?;
    b.wait_shell_page("/nodes", "Nodes").await?;
    let card = wait_card_badges(b, &["offline", "default"]).await?;
    ensure!(
        !card.badges.iter().any(|badge| badge == "online"),
        "a stopped node must not be shown online; its badges are {:?}",
        card.badges
    );
    Ok(())
}

/// What a node card shows.
struct Card {
    title: String,
    badges: Vec<String>,
    text: String,
}

/// The single node card, once it shows every badge in `badges` and "Proxmox VE".
async fn wait_card(b: &Browser, badges: &[&str]) -> anyhow::Result<()> {
    let what = format!("the card of {NODE} with the badges {badges:?} and \"Proxmox VE\"");
    b.wait_for(&what, async |b| {
        let card = read_card(b, badges).await?;
        ensure!(
            card.text.contains("Proxmox VE"),
            "the card does not mention Proxmox VE: {:?}",
            card.text
        );
        Ok(())
    })
    .await
}

/// The single node card, once it shows every badge in `badges`.
async fn wait_card_badges(b: &Browser, badges: &[&str]) -> anyhow::Result<Card> {
    let what = format!("the card of {NODE} with the badges {badges:?}");
    b.wait_for(&what, async |b| read_card(b, badges).await)
        .await
}

async fn read_card(b: &Browser, badges: &[&str]) -> anyhow::Result<Card> {
    let cards = b.texts(CARD).await?;
    ensure!(
        cards.len() == 1,
        "expected exactly one node card, saw {}: {cards:?}",
        cards.len()
    );
    let card = Card {
        title: b.text(&format!("{CARD} .card-title")).await?,
        badges: b.texts(&format!("{CARD} .badge")).await?,
        text: cards.into_iter().next().unwrap_or_default(),
    };
    ensure!(
        card.title.trim() == NODE,
        "the card is titled {:?}, expected {NODE:?}",
        card.title
    );
    for badge in badges {
        ensure!(
            card.badges.iter().any(|b| b.trim() == *badge),
            "the card's badges are {:?}, missing {badge:?}",
            card.badges
        );
    }
    Ok(card)
}

/// Waits for a toast whose text contains `expected`.
async fn wait_toast(b: &Browser, expected: &str) -> anyhow::Result<()> {
    b.wait_for(&format!("a toast saying {expected:?}"), async |b| {
        let toasts = b.texts(TOASTS).await?;
        ensure!(
            toasts.iter().any(|t| t.contains(expected)),
            "the toasts are {toasts:?}"
        );
        println!("[e2e]     toast: {expected:?}");
        Ok(())
    })
    .await
}
