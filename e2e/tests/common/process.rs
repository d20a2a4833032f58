//! Child processes stopped when their guard drops (SIGTERM, a grace period, then SIGKILL), and
//! the scratch directory under `/tmp` removed when its guard drops.

use std::fs::{DirBuilder, File};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};

/// A fresh directory `/tmp/kiln-e2e-<name>-<pid>-<nanos>`, removed on drop.
///
/// Mode 0711: nobody else can list or read it, but the `postgres` user that kiln's private
/// database runs as (when the tests run as root) can pass through to `data/` inside it.
pub struct ScratchDir {
    path: PathBuf,
    keep: bool,
}

impl ScratchDir {
    pub fn create(name: &str) -> anyhow::Result<Self> {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
        let path = PathBuf::from(format!(
            "/tmp/kiln-e2e-{name}-{}-{nanos}",
            std::process::id()
        ));
        DirBuilder::new()
            .mode(0o711)
            .create(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o711))?;
        Ok(Self { path, keep: false })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates a private (0700) subdirectory.
    pub fn subdir(&self, name: &str) -> anyhow::Result<PathBuf> {
        let dir = self.path.join(name);
        DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }

    /// Keeps the directory (for a post-mortem) when `KILN_E2E_KEEP` is set.
    pub fn keep_if_requested(&mut self) {
        self.keep = std::env::var_os("KILN_E2E_KEEP").is_some_and(|v| !v.is_empty());
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("[e2e] kept {} (KILN_E2E_KEEP is set)", self.path.display());
        } else if let Err(e) = std::fs::remove_dir_all(&self.path) {
            eprintln!("[e2e] could not remove {}: {e}", self.path.display());
        }
    }
}

/// A child process with its output in a log file. Dropping the guard stops the process.
pub struct ChildGuard {
    name: &'static str,
    /// `None` once the process has been waited for (its pid may then belong to someone else).
    child: Option<Child>,
    log: PathBuf,
    /// How long to wait after SIGTERM before SIGKILL.
    grace: Duration,
}

impl ChildGuard {
    /// Spawns `command` with stdin closed and stdout and stderr appended to `log`.
    pub fn spawn(
        name: &'static str,
        mut command: Command,
        log: PathBuf,
        grace: Duration,
    ) -> anyhow::Result<Self> {
        let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .with_context(|| format!("starting {name} ({:?})", command.get_program()))?;
        Ok(Self {
            name,
            child: Some(child),
            log,
            grace,
        })
    }

    /// Fails (with the end of the log) when the process has already exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        let Some(child) = self.child.as_mut() else {
            bail!("{} was already stopped", self.name);
        };
        if let Some(status) = child.try_wait()? {
            self.child = None;
            bail!(
                "{} exited unexpectedly ({status}); last lines of {}:\n{}",
                self.name,
                self.log.display(),
                self.log_tail(30)
            );
        }
        Ok(())
    }

    /// [`Self::stop`], and an error (with the log's tail printed) unless the exit was clean.
    pub fn stop_cleanly(&mut self) -> anyhow::Result<()> {
        let status = self.stop()?;
        if !status.success() {
            self.print_log_tail(30);
            bail!("{} exited with {status} after SIGTERM", self.name);
        }
        Ok(())
    }

    /// Sends SIGTERM and waits for the exit; after the grace period, SIGKILL and an error.
    pub fn stop(&mut self) -> anyhow::Result<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            bail!("{} was already stopped", self.name);
        };
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        let pid = child.id().to_string();
        let signalled = Command::new("kill")
            .args(["-TERM", &pid])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if signalled {
            let deadline = Instant::now() + self.grace;
            while Instant::now() < deadline {
                if let Some(status) = child.try_wait()? {
                    return Ok(status);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        child
            .kill()
            .with_context(|| format!("killing {}", self.name))?;
        let status = child.wait()?;
        if signalled {
            bail!(
                "{} did not exit within {} s of SIGTERM and was killed ({status})",
                self.name,
                self.grace.as_secs()
            );
        }
        bail!(
            "{} could not be sent SIGTERM (`kill` failed) and was killed ({status})",
            self.name
        )
    }

    /// Everything the process has written to its log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `lines` lines of the process's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = self.log_text();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    pub fn print_log_tail(&self, lines: usize) {
        let tail = self.log_tail(lines);
        if tail.is_empty() {
            eprintln!(
                "[e2e] {} wrote nothing to {}",
                self.name,
                self.log.display()
            );
        } else {
            eprintln!(
                "[e2e] last lines of {} ({}):\n{tail}",
                self.name,
                self.log.display()
            );
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if self.child.is_some()
            && let Err(e) = self.stop()
        {
            eprintln!("[e2e] stopping {}: {e:#}", self.name);
        }
    }
}
