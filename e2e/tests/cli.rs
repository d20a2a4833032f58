//! The command line client end to end: `scripts/e2e-cli.sh` (only `kiln api` / `kiln ct`
//! commands: sign in, create from a built-in template on the lab node and wait until ready,
//! its services, stop, delete, sign out — every exit code checked) against a real `kiln serve`
//! with the lab node registered for the first administrator, as `./kiln.sh up` sets it up.
//! No browser: the administrator is made through the setup form's plain HTTP post.
//!
//! With a lab that runs real LXC containers and its sshd (see `containers.rs`) and a
//! reachable Debian archive, the container is made from the built-in `nginx-web` template.
//! Where the lab cannot (no LXC, no sshd), the same script makes a plain OS container
//! instead — every command and exit code is still checked, only provisioning is not — and
//! says so; under `CI=true` the lab refuses to start without them, and the test fails with
//! that one line. Run with `cargo test -p kiln-e2e --test cli -- --nocapture`.

#[expect(
    dead_code,
    reason = "every test binary compiles the whole harness but uses only part of it"
)]
mod common;

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use common::kiln::Kiln;
use common::lab::Lab;
use common::process::ScratchDir;
use common::workspace_root;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ADMIN: &str = "admin";
const PASSWORD: &str = "correct-horse-battery";

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_script_creates_and_deletes_a_container_on_the_lab_node() -> anyhow::Result<()> {
    let binary = common::kiln::binary()?;
    let mut scratch = ScratchDir::create("cli")?;
    let lab = Lab::start(&binary, &scratch, "lab").await?;
    let plain = lab.missing_capabilities();
    if let Some(missing) = &plain {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            // The lab refuses to start under CI=true without them: not reached there.
            bail!("the lab cannot run real containers with SSH here: {missing}");
        }
        println!(
            "[e2e] the lab cannot run real containers with SSH here ({missing}): the script \
             makes a plain OS container instead of provisioning a template"
        );
    }
    let kiln = Kiln::start_with_env(&binary, &scratch, &lab.registration_env()).await?;
    let outcome = async {
        if plain.is_none() {
            common::lab::build_image(&binary)?;
        }
        setup_admin(kiln.base_url()).await?;
        run_script(&binary, kiln.base_url(), plain.is_some())
    }
    .await;
    if outcome.is_err() {
        kiln.print_log_tail(40);
        lab.print_log_tail(20);
        scratch.keep_if_requested();
    }
    let lab_stopped = lab.stop();
    let kiln_stopped = kiln.stop();
    outcome?;
    lab_stopped.context("the lab node did not shut down cleanly")?;
    kiln_stopped.context("kiln did not shut down cleanly")
}

/// The first administrator, through the setup form as a browser without JavaScript posts it
/// (Kiln then registers the lab node for them).
async fn setup_admin(base_url: &str) -> anyhow::Result<()> {
    let addr = base_url
        .strip_prefix("http://")
        .context("kiln's URL is http://")?;
    let body = format!("username={ADMIN}&password={PASSWORD}&confirm={PASSWORD}");
    let request = format!(
        "POST /api/fn/setup_admin HTTP/1.0\r\nHost: {addr}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        anyhow::Ok(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(60), exchange)
        .await
        .context("the setup form: no answer within 60 s")??;
    let head = String::from_utf8_lossy(&response);
    let status = head.split_whitespace().nth(1).unwrap_or_default();
    ensure!(
        matches!(status, "200" | "302" | "303"),
        "the setup form answered {:?}",
        head.lines().next().unwrap_or_default()
    );
    Ok(())
}

/// Runs the script (`plain`: a plain OS container, on the first — the lab — node by id);
/// its output is shown as it goes, its exit code is the verdict.
fn run_script(binary: &std::path::Path, base_url: &str, plain: bool) -> anyhow::Result<()> {
    let script = workspace_root().join("scripts").join("e2e-cli.sh");
    let mut command = Command::new("bash");
    if plain {
        command
            .env("KILN_E2E_TEMPLATE", "")
            .env("KILN_E2E_NODE", "1");
    }
    let status = command
        .arg(&script)
        .env("KILN", binary)
        .env("KILN_E2E_URL", base_url)
        .env("KILN_E2E_USER", ADMIN)
        .env("KILN_E2E_PASSWORD", PASSWORD)
        .env_remove("KILN_URL")
        .env_remove("KILN_TOKEN")
        .status()
        .with_context(|| format!("running {}", script.display()))?;
    ensure!(status.success(), "{} failed ({status})", script.display());
    Ok(())
}
