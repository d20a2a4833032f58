//! The harness the browser tests share: a private `kiln` server ([`kiln`]), chromedriver and a
//! headless Chromium session with explicit waits ([`browser`]), and the child-process guards and
//! scratch directory that clean up after them ([`process`]).
//!
//! [`Harness::start`] brings everything up; [`Harness::start_lab`] adds a lab node ([`lab`], a
//! Proxmox VE API on this machine) for a test to add through the UI;
//! [`Harness::start_with_lab_node`] starts the lab first and has Kiln register it for the
//! first administrator, SSH included, as `./kiln.sh up` does; [`Harness::finish`] tears it all down
//! and, when the test failed, leaves a screenshot in `target/e2e-failure-<name>.png` and prints the server's log.
//! The guards also clean up on their own (`Drop`) if a test panics half-way.
//!
//! Environment: `KILN_BIN` (the server binary, default `<target>/debug/kiln`), `CHROMEDRIVER`
//! and `CHROMIUM` (default `/usr/bin/…`), `KILN_E2E_KEEP=1` (keep the scratch directory with
//! the logs and databases of a failed run).

pub mod browser;
pub mod kiln;
pub mod lab;
pub mod process;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use browser::{Browser, Chromedriver};
use kiln::Kiln;
use lab::Lab;
use process::ScratchDir;

/// Everything one browser test needs. Fields drop in declaration order: the browser first, then
/// chromedriver, then the lab node (if any), then kiln (which stops its databases), then the
/// scratch directory.
pub struct Harness {
    /// The test's name, for the failure screenshot.
    name: String,
    pub browser: Browser,
    chromedriver: Chromedriver,
    /// The lab node of [`Self::start_lab`], until [`Self::stop_lab`].
    lab: Option<Lab>,
    /// How many labs were started (each gets its own data directory).
    labs_started: u32,
    kiln: Kiln,
    binary: PathBuf,
    scratch: ScratchDir,
    started: Instant,
}

impl Harness {
    /// Starts kiln (with its private PostgreSQL and Redis), chromedriver and Chromium.
    pub async fn start(name: &str) -> anyhow::Result<Self> {
        Self::start_inner(name, false).await
    }

    /// Starts a lab node (as [`Self::start_lab`]) and then kiln told about it the way
    /// `./kiln.sh up` tells it (`KILN_LAB_NODE`, `KILN_LAB_SSH`, ...): the first administrator
    /// gets the lab as their default node, with SSH set up when the lab has it.
    pub async fn start_with_lab_node(name: &str) -> anyhow::Result<Self> {
        Self::start_inner(name, true).await
    }

    async fn start_inner(name: &str, with_lab: bool) -> anyhow::Result<Self> {
        let started = Instant::now();
        let binary = kiln::binary()?;
        let scratch = ScratchDir::create(name)?;
        println!("[e2e] scratch directory {}", scratch.path().display());

        let lab = match with_lab {
            false => None,
            true => {
                let lab = Lab::start(&binary, &scratch, "lab").await?;
                println!(
                    "[e2e] lab node is ready on port {} (runtime {}, SSH {}) ({:.1} s)",
                    lab.port(),
                    lab.runtime(),
                    lab.ssh().map_or("off", |s| s.addr.as_str()),
                    started.elapsed().as_secs_f64()
                );
                Some(lab)
            }
        };
        let env = lab.as_ref().map(Lab::registration_env).unwrap_or_default();
        let kiln = Kiln::start_with_env(&binary, &scratch, &env).await?;
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
            labs_started: u32::from(lab.is_some()),
            lab,
            kiln,
            binary,
            scratch,
            started,
        })
    }

    /// Starts a lab node (`kiln lab` on a free port, data in `<scratch>/lab`, a random API
    /// token) and waits until it has printed its fingerprint. Kiln is not told about it: the
    /// test adds it through the UI.
    pub async fn start_lab(&mut self) -> anyhow::Result<&Lab> {
        if self.lab.is_some() {
            bail!("a lab node is already running");
        }
        self.labs_started += 1;
        let dir = match self.labs_started {
            1 => "lab".to_owned(),
            n => format!("lab-{n}"),
        };
        let lab = Lab::start(&self.binary, &self.scratch, &dir).await?;
        println!(
            "[e2e] lab node is ready on port {} ({:.1} s)",
            lab.port(),
            self.started.elapsed().as_secs_f64()
        );
        Ok(self.lab.insert(lab))
    }

    /// The running lab node, if any.
    pub fn lab(&self) -> Option<&Lab> {
        self.lab.as_ref()
    }

    /// The kiln binary under test.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// Stops the lab node (SIGTERM) and checks that it exited cleanly.
    pub fn stop_lab(&mut self) -> anyhow::Result<()> {
        let lab = self.lab.take().context("no lab node is running")?;
        lab.stop().context("the lab node did not shut down cleanly")
    }

    /// Tears everything down. On failure, saves a screenshot and prints the logs first; the
    /// test's own error wins over any error while stopping.
    pub async fn finish(self, outcome: anyhow::Result<()>) -> anyhow::Result<()> {
        let Self {
            name,
            browser,
            chromedriver,
            lab,
            labs_started: _,
            kiln,
            binary: _,
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
            if let Some(lab) = &lab {
                lab.print_log_tail(20);
            }
            chromedriver.print_log_tail(20);
        }
        if let Err(e) = browser.close().await {
            eprintln!("[e2e] closing the browser session failed: {e:#}");
        }
        drop(chromedriver);
        let lab_stopped = lab.map_or(Ok(()), |lab| {
            lab.stop()
                .context("the lab node did not shut down cleanly on SIGTERM")
        });
        let stopped = kiln.stop();
        if outcome.is_err() {
            scratch.keep_if_requested();
        }
        drop(scratch);
        println!("[e2e] total {:.1} s", started.elapsed().as_secs_f64());
        outcome?;
        lab_stopped?;
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
