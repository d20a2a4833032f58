//! Private PostgreSQL and Redis, run as children of `kiln` when no `DATABASE_URL` /
//! `REDIS_URL` is configured. Both listen only on unix sockets inside the data directory, each
//! in its own directory (`run/postgres/` owned by the database's user, `run/redis/` by Kiln's:
//! see [`crate::run_dir`]), die with `kiln` (PR_SET_PDEATHSIG, even on SIGKILL), and are
//! stopped cleanly on shutdown.
//!
//! Architecture invariant: children are spawned from the main thread (PDEATHSIG fires when the
//! *thread* that forked them exits, and tokio's blocking threads come and go).

pub mod postgres;
pub mod redis;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

/// A running child service.
#[derive(Debug)]
pub struct Child {
    /// For log lines.
    name: &'static str,
    /// The process.
    process: tokio::process::Child,
    /// The signal that asks it to stop cleanly and quickly.
    stop_signal: Signal,
    /// Its socket's directory (a temporary one is removed after the child stopped).
    sockets: crate::run_dir::SocketDir,
}

impl Child {
    /// Asks the child to stop, waits up to 15 s, then kills it.
    pub async fn stop(mut self) {
        if let Some(pid) = self.process.id() {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid as i32), self.stop_signal);
        }
        match tokio::time::timeout(Duration::from_secs(15), self.process.wait()).await {
            Ok(_) => tracing::info!(child = self.name, "stopped"),
            Err(_) => {
                tracing::warn!(child = self.name, "did not stop in time; killing it");
                let _ = self.process.kill().await;
            }
        }
        drop(self.sockets);
    }

    /// Fails when the child has already exited (it could not start).
    fn check_alive(&mut self, log: &Path) -> anyhow::Result<()> {
        if let Some(status) = self.process.try_wait()? {
            anyhow::bail!(
                "{} exited at start ({status}); last lines of {}:\n{}",
                self.name,
                log.display(),
                tail(log, 15)
            );
        }
        Ok(())
    }
}

/// The user a child runs as: `postgres` when we are root (initdb refuses root), else ourselves.
#[derive(Debug, Clone, Copy)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
    /// Whether we switch user (we are root).
    pub switch: bool,
}

/// Prepares `command` to die with us and to run as `run_as`.
fn prepare(command: &mut tokio::process::Command, run_as: RunAs, log: &Path) -> anyhow::Result<()> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let err = out.try_clone()?;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .kill_on_drop(true);
    if run_as.switch {
        command.uid(run_as.uid).gid(run_as.gid);
    }
    die_with_parent(command);
    Ok(())
}

#[expect(
    unsafe_code,
    reason = "pre_exec is the only way to set PR_SET_PDEATHSIG for the child"
)]
fn die_with_parent(command: &mut tokio::process::Command) {
    // SAFETY: the closure runs in the forked child before exec and calls only prctl(2), which
    // is async-signal-safe; it allocates nothing and touches no locks.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Creates `dir` (mode 700) owned by `run_as`.
fn own_dir(dir: &Path, run_as: RunAs) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    if run_as.switch {
        nix::unistd::chown(
            dir,
            Some(nix::unistd::Uid::from_raw(run_as.uid)),
            Some(nix::unistd::Gid::from_raw(run_as.gid)),
        )
        .with_context(|| format!("giving {} to uid {}", dir.display(), run_as.uid))?;
    }
    Ok(())
}

/// The last `n` lines of a log file (for start-up errors).
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
