//! A lab node for a test: the same `kiln` binary's `kiln lab` (a Proxmox VE API over HTTPS
//! with a self-signed certificate, real LXC containers where this machine can run them, and an
//! sshd for `pct` where it can) on a free loopback port, with a fixed random API token and
//! instant tasks. Ready once it has printed its certificate fingerprint and API token (its
//! runtime and SSH are printed before). A test adds it through the UI, or has Kiln register it
//! at start as `./kiln.sh up` does ([`Lab::registration_env`]).

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};

use super::free_port;
use super::process::{ChildGuard, ScratchDir};

/// How long the lab may take to print its connection details (it makes a certificate).
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the lab may take to stop after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// The token the lab is started with (`--token root@pam!kiln=<secret>`).
pub const TOKEN_ID: &str = "root@pam!kiln";

/// A running `kiln lab`; stopped with SIGTERM when dropped.
pub struct Lab {
    process: ChildGuard,
    addr: SocketAddr,
    fingerprint: String,
    secret: String,
    /// `lxc` or `scratch`, as it printed it.
    runtime: String,
    /// Its sshd, when it has one.
    ssh: Option<LabSsh>,
}

/// The lab's sshd as it printed it.
#[derive(Debug, Clone)]
pub struct LabSsh {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// `ssh-ed25519 AAAA…`.
    pub host_key: String,
    /// The lab's authorized_keys file.
    pub authorized_keys: String,
}

impl Lab {
    /// Starts `kiln lab` with its data in `<scratch>/<dir>` and waits until it has printed
    /// its fingerprint and API token.
    pub async fn start(binary: &Path, scratch: &ScratchDir, dir: &str) -> anyhow::Result<Self> {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let data_dir = scratch.subdir(dir)?;
        let secret = random_secret()?;
        let mut command = Command::new(binary);
        command
            .arg("lab")
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--token")
            .arg(format!("{TOKEN_ID}={secret}"))
            .arg("--speed")
            .arg("0")
            .env("RUST_LOG", "warn");
        let log = scratch.path().join(format!("{dir}.log"));
        let mut process = ChildGuard::spawn("kiln lab", command, log, STOP_GRACE)?;

        let deadline = Instant::now() + READY_TIMEOUT;
        let (fingerprint, token) = loop {
            process.check_alive().context("kiln lab did not start")?;
            let printed = process.log_text();
            if let (Some(fingerprint), Some(token)) = (
                printed_value(&printed, "fingerprint:"),
                printed_value(&printed, "API token:"),
            ) {
                break (fingerprint, token);
            }
            if Instant::now() >= deadline {
                process.print_log_tail(30);
                bail!(
                    "kiln lab did not print its fingerprint and API token within {} s",
                    READY_TIMEOUT.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let expected = format!("{TOKEN_ID}={secret}");
        ensure!(
            token == expected,
            "kiln lab printed the API token {token:?}, but was started with {expected:?}"
        );
        ensure!(
            fingerprint.len() == 95 && fingerprint.split(':').all(|b| b.len() == 2),
            "kiln lab printed {fingerprint:?}, not a SHA-256 fingerprint (AB:CD:…)"
        );
        let printed = process.log_text();
        let runtime = printed_value(&printed, "runtime:").unwrap_or_default();
        let ssh = match (
            printed_value(&printed, "SSH:"),
            printed_value(&printed, "SSH host key:"),
            printed_value(&printed, "authorized_keys:"),
        ) {
            (Some(addr), Some(host_key), Some(authorized_keys)) if !addr.starts_with("off") => {
                Some(LabSsh {
                    addr: addr
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                    host_key,
                    authorized_keys,
                })
            }
            _ => None,
        };
        Ok(Self {
            process,
            addr,
            fingerprint,
            secret,
            runtime,
            ssh,
        })
    }

    /// `lxc` (real containers) or `scratch` (simulated).
    pub fn runtime(&self) -> &str {
        &self.runtime
    }

    /// Its sshd, when it has one.
    pub fn ssh(&self) -> Option<&LabSsh> {
        self.ssh.as_ref()
    }

    /// Why the lab runs without real containers or SSH, from what it printed (its one-line
    /// reasons), or `None` when it has both.
    pub fn missing_capabilities(&self) -> Option<String> {
        let printed = self.process.log_text();
        let reasons: Vec<&str> = printed
            .lines()
            .filter(|l| {
                l.contains("using the scratch runtime:") || l.contains("no SSH (pct over SSH):")
            })
            .collect();
        (self.runtime != "lxc" || self.ssh.is_none()).then(|| {
            if reasons.is_empty() {
                format!(
                    "runtime {}, SSH {}",
                    self.runtime,
                    if self.ssh.is_some() { "on" } else { "off" }
                )
            } else {
                reasons.join("; ")
            }
        })
    }

    /// The environment `./kiln.sh up` gives `kiln serve` for this lab: Kiln registers it for
    /// the first administrator, with its SSH ready when it has one.
    pub fn registration_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("KILN_LAB_NODE", self.addr.to_string()),
            ("KILN_LAB_TOKEN", format!("{TOKEN_ID}={}", self.secret)),
            ("KILN_LAB_FINGERPRINT", self.fingerprint.clone()),
        ];
        if let Some(ssh) = &self.ssh {
            env.extend([
                ("KILN_LAB_SSH", ssh.addr.clone()),
                ("KILN_LAB_SSH_HOST_KEY", ssh.host_key.clone()),
                ("KILN_LAB_AUTHORIZED_KEYS", ssh.authorized_keys.clone()),
            ]);
        }
        env
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The SHA-256 fingerprint of its certificate, as it printed it (`AB:CD:…`).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The secret of the token [`TOKEN_ID`].
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// Sets the lab's faults (`POST /lab/faults` with `body`, as root), through curl: the
    /// harness has no TLS client of its own and the lab's certificate is self-signed.
    pub fn set_faults(&self, body: &str) -> anyhow::Result<()> {
        let out = std::process::Command::new("curl")
            .args([
                "-sSk",
                "--fail",
                "-X",
                "POST",
                "-H",
                "content-type: application/json",
            ])
            .arg("-H")
            .arg(format!(
                "Authorization: PVEAPIToken={TOKEN_ID}={}",
                self.secret
            ))
            .arg("-d")
            .arg(body)
            .arg(format!("https://{}/lab/faults", self.addr))
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "setting the lab's faults failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(())
    }

    pub fn print_log_tail(&self, lines: usize) {
        self.process.print_log_tail(lines);
    }

    /// Sends SIGTERM and checks that the lab exits successfully within the grace period.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.process.stop_cleanly()
    }
}

/// The value of the printed line `  <label>  <value>`.
fn printed_value(text: &str, label: &str) -> Option<String> {
    text.lines()
        .find_map(|line| line.trim_start().strip_prefix(label))
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// 32 random hex digits in the shape of a UUID (like PVE's token secrets).
fn random_secret() -> anyhow::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

/// Builds the lab's Debian image with `binary` (`kiln lab image build`; a no-op when it is
/// built).
pub fn build_image(binary: &Path) -> anyhow::Result<()> {
    let out = Command::new(binary)
        .args(["lab", "image", "build"])
        .stdin(std::process::Stdio::null())
        .output()
        .context("running kiln lab image build")?;
    ensure!(
        out.status.success(),
        "kiln lab image build failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}
