//! The server under test: the real `kiln` binary on a free loopback port with a fresh data
//! directory, so it starts its own private PostgreSQL and Redis (no `DATABASE_URL` or
//! `REDIS_URL` reaches it). Ready once `/readyz` answers 200.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::process::{ChildGuard, ScratchDir};
use super::{free_port, target_dir};

/// How long kiln may take to start (the first start runs `initdb`).
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long kiln may take to stop after SIGTERM (it stops its databases first).
const STOP_GRACE: Duration = Duration::from_secs(30);

/// The binary: `KILN_BIN`, else `<target dir>/debug/kiln`.
pub fn binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("KILN_BIN").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        ensure!(
            path.is_file(),
            "KILN_BIN points at {}, which does not exist",
            path.display()
        );
        return Ok(path);
    }
    let path = target_dir().join("debug").join("kiln");
    ensure!(
        path.is_file(),
        "the kiln binary {} does not exist: run `cargo build -p kiln-server` first \
         (or set KILN_BIN to a built kiln)",
        path.display()
    );
    Ok(path)
}

/// A running kiln; stopped with SIGTERM when dropped.
pub struct Kiln {
    process: ChildGuard,
    base_url: String,
}

impl Kiln {
    /// Starts `kiln serve` with its data in `<scratch>/data` and waits until it is ready.
    pub async fn start(binary: &Path, scratch: &ScratchDir) -> anyhow::Result<Self> {
        Self::start_with_env(binary, scratch, &[]).await
    }

    /// [`Self::start`] with `env` set (e.g. a lab node to register, as `./kiln.sh up` does).
    pub async fn start_with_env(
        binary: &Path,
        scratch: &ScratchDir,
        env: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let data_dir = scratch.subdir("data")?;
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--data-dir")
            .arg(&data_dir)
            .env("RUST_LOG", "warn")
            // The monitor polls every second: offline banners and charts follow quickly.
            .env("KILN_MONITOR_INTERVAL_SECS", "1")
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .env_remove("KILN_LISTEN")
            .env_remove("KILN_DATA_DIR");
        for key in [
            "KILN_LAB_NODE",
            "KILN_LAB_TOKEN",
            "KILN_LAB_FINGERPRINT",
            "KILN_LAB_SSH",
            "KILN_LAB_SSH_HOST_KEY",
            "KILN_LAB_AUTHORIZED_KEYS",
        ] {
            command.env_remove(key);
        }
        command.envs(env.iter().map(|(k, v)| (k, v)));
        let mut process =
            ChildGuard::spawn("kiln", command, scratch.path().join("kiln.log"), STOP_GRACE)?;

        wait_ready(&mut process, addr, READY_TIMEOUT).await?;
        Ok(Self {
            process,
            base_url: format!("http://{addr}"),
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn print_log_tail(&self, lines: usize) {
        self.process.print_log_tail(lines);
    }

    /// Sends SIGTERM and checks that kiln exits successfully within the grace period.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.process.stop_cleanly()
    }
}

/// Waits until the kiln in `process` answers `/readyz` on `addr` with 200; fails (with its log's
/// tail) when it exits or is not ready within `timeout`.
pub async fn wait_ready(
    process: &mut ChildGuard,
    addr: SocketAddr,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        process.check_alive().context("kiln did not start")?;
        let last = match get_status(addr, "/readyz").await {
            Ok(200) => return Ok(()),
            Ok(status) => format!("/readyz answered {status}"),
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() >= deadline {
            process.print_log_tail(30);
            bail!(
                "kiln was not ready within {} s (last: {last})",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The status code of a plain HTTP/1.0 `GET` (enough for a health check, no client needed).
async fn get_status(addr: SocketAddr, path: &str) -> anyhow::Result<u16> {
    let io = async {
        let mut stream = TcpStream::connect(addr).await?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        anyhow::Ok(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(5), io)
        .await
        .with_context(|| format!("GET {path}: no answer within 5 s"))?
        .with_context(|| format!("GET {path}"))?;
    let head = String::from_utf8_lossy(&response);
    let status_line = head.lines().next().unwrap_or_default();
    status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("GET {path}: not an HTTP response: {status_line:?}"))
}
