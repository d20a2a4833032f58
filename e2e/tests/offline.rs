//! Offline mode, end to end in headless Chromium: the lab node stops answering (its
//! `unreachable` fault, for a few seconds) and the dashboard says so — "node lab unreachable
//! since … — showing data from …", from what Kiln's monitor recorded — then the node answers
//! again and the banner goes by itself.
//!
//! Needs what `containers.rs` needs of the lab (it starts the same lab node); elsewhere it is
//! skipped with the lab's reason, except under `CI=true`. Run with
//! `cargo test -p kiln-e2e --test offline -- --nocapture`.

#[expect(
    dead_code,
    reason = "every test binary compiles the whole harness but uses only part of it"
)]
mod common;

use std::time::Duration;

use anyhow::ensure;
use common::{Harness, Steps, poll};

const ADMIN: &str = "admin";
const PASSWORD: &str = "correct-horse-battery";
const BANNER: &str = r#"[data-test="node-offline"]"#;

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_shows_an_unreachable_node_until_it_is_back() -> anyhow::Result<()> {
    let harness = Harness::start_with_lab_node("offline").await?;
    if let Some(missing) = harness
        .lab()
        .and_then(common::lab::Lab::missing_capabilities)
    {
        // Under CI=true the lab refuses to start without these, so this is never reached there.
        println!("[e2e] SKIPPED: the lab cannot run here: {missing}");
        return harness.finish(Ok(())).await;
    }
    let outcome = async {
        let b = &harness.browser;
        let lab = harness.lab().ok_or_else(|| anyhow::anyhow!("no lab"))?;
        let mut steps = Steps::default();

        steps.step("first-run setup; the dashboard has no banner while the node answers");
        b.first_run_setup(ADMIN, PASSWORD).await?;
        b.goto("/").await?;
        b.wait_shell_page("/", "Dashboard").await?;
        // The monitor has seen the node answer (it polls every second here).
        tokio::time::sleep(Duration::from_secs(2)).await;
        b.reload().await?;
        ensure!(!b.exists(BANNER).await?, "a banner while the node answers");

        steps.step("the node stops answering: the banner says since when, and how old the data is");
        lab.set_faults(r#"{"unreachable": true, "unreachable_for_ms": 8000}"#)?;
        let text = poll(
            Duration::from_secs(7),
            Duration::from_millis(500),
            async || {
                b.goto("/").await?;
                let text = b.text(BANNER).await?;
                ensure!(text.contains("unreachable since"), "banner {text:?}");
                Ok(text)
            },
        )
        .await?;
        ensure!(
            text.starts_with("node lab unreachable since ") && text.contains("showing data from"),
            "banner {text:?}"
        );

        steps.step("it answers again: the banner goes by itself");
        poll(
            Duration::from_secs(40),
            Duration::from_secs(1),
            async || {
                b.goto("/").await?;
                ensure!(
                    !b.exists(BANNER).await?,
                    "still {:?}",
                    b.text(BANNER).await?
                );
                Ok(())
            },
        )
        .await?;
        Ok(())
    }
    .await;
    harness.finish(outcome).await
}
