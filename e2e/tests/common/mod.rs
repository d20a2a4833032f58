//! The harness the browser tests share: a private `kiln` server ([`kiln`]), chromedriver and a
//! headless Chromium session with explicit waits ([`browser`]), and the child-process guards and
//! scratch directory that clean up after them ([`process`]).
//!
//! [`Harness::start`] brings everything up; [`Harness::finish`] tears it down and, when the test
//! failed, leaves a screenshot in `target/e2e-failure-<name>.png` and prints the server's log.
//! The guards also clean up on their own (`Drop`) if a test panics half-way.
//!
//! Environment: `KILN_BIN` (the server binary, default `<target>/debug/kiln`), `CHROMEDRIVER`
//! and `CHROMIUM` (default `/usr/bin/…`), `KILN_E2E_KEEP=1` (keep the scratch directory with
//! the logs and databases of a failed run).

pub mod browser;
pub mod kiln;
pub mod process;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

use browser::{Browser, Chromedriver};
use kiln::Kiln;
use process::ScratchDir;

/// Everything one browser test needs. Fields drop in declaration order: the browser first, then
/// chromedriver, then kiln (which stops its databases), then the scratch directory.
pub struct Harness {
    /// The test's name, for the failure screenshot.
    name: String,
    pub browser: Browser,
    chromedriver: Chromedriver,
    kiln: Kiln,
    scratch: ScratchDir,
    started: Instant,
}

impl Harness {
    /// Starts kiln (with its private PostgreSQL and Redis), chromedriver and Chromium.
    pub async fn start(name: &str) -> anyhow::Result<Self> {
        let started = Instant::now();
        let binary = kiln::binary()?;
        let scratch = ScratchDir::create(name)?;
        println!("[e2e] scratch directory {}", scratch.path().display());

        let kiln = Kiln::start(&binary, &scratch).await?;
        println!(
            "[e2e] kiln is ready at {} ({:.1} s)",
            kiln.base_url(),
            started.elapsed().as_secs_f64()
        );

        let chromedriver = Chromedriver::start(&scratch).await?;
        let browser = Browser::connect(&chromedriver, kiln.base_url(), &scratch).await?;
        println!(
            "[e2e] chromium is ready ({:.1} s)",
            started.elapsed().as_secs_f64()
        );

        Ok(Self {
            name: name.to_owned(),
            browser,
            chromedriver,
            kiln,
            scratch,
            started,
        })
    }

    /// Tears everything down. On failure, saves a screenshot and prints the logs first; the
    /// test's own error wins over any error while stopping.
    pub async fn finish(self, outcome: anyhow::Result<()>) -> anyhow::Result<()> {
        let Self {
            name,
            browser,
            chromedriver,
            kiln,
            mut scratch,
            started,
        } = self;
        if let Err(err) = &outcome {
            eprintln!("[e2e] FAILED: {err:#}");
            let shot = target_dir().join(format!("e2e-failure-{name}.png"));
            match browser.screenshot(&shot).await {
                Ok(()) => eprintln!("[e2e] screenshot saved to {}", shot.display()),
                Err(e) => eprintln!("[e2e] could not save a screenshot: {e:#}"),
            }
            browser.print_page().await;
            kiln.print_log_tail(40);
            chromedriver.print_log_tail(20);
        }
        if let Err(e) = browser.close().await {
            eprintln!("[e2e] closing the browser session failed: {e:#}");
        }
        drop(chromedriver);
        let stopped = kiln.stop();
        if outcome.is_err() {
            scratch.keep_if_requested();
        }
        drop(scratch);
        println!("[e2e] total {:.1} s", started.elapsed().as_secs_f64());
        outcome?;
        stopped.context("kiln did not shut down cleanly on SIGTERM")
    }
}

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_owned()
}

/// Cargo's target directory: `CARGO_TARGET_DIR` (relative to the workspace root) or `target/`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// Prints numbered progress lines with the time since the test started.
pub struct Steps {
    started: Instant,
    count: usize,
}

impl Default for Steps {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            count: 0,
        }
    }
}

impl Steps {
    pub fn step(&mut self, what: &str) {
        self.count += 1;
        println!(
            "[e2e] {:>2}. {what} (+{:.1} s)",
            self.count,
            self.started.elapsed().as_secs_f64()
        );
    }
}

/// Polls `ready` every `interval` until it answers `Ok`; after `timeout`, fails with its last
/// error (which should say what it saw instead).
pub async fn poll<T>(
    timeout: Duration,
    interval: Duration,
    mut ready: impl AsyncFnMut() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        match ready().await {
            Ok(value) => return Ok(value),
            Err(last) if Instant::now() >= deadline => return Err(last),
            Err(_) => tokio::time::sleep(interval).await,
        }
    }
}
