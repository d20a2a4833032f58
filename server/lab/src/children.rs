//! The lab's child processes (the network's dnsmasq and apt-cacher-ng, the node's sshd):
//! started from argument lists (never a shell) with their output in log files, killed when
//! their handle is dropped, and recorded — program, pid and the start time from
//! `/proc/<pid>/stat` — in a JSON file of their owner (mode 600, replaced atomically:
//! `lab-run/net-children.json`, `ssh/sshd.json`), so the next start or `kiln lab down` can
//! find them after the lab was killed with `kill -9`.
//!
//! Architecture Invariant: a recorded process is signalled only while its pid AND its start
//! time still match the record: a pid the kernel recycled for another process is never
//! touched.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use tokio::process::Command;

use crate::lxc::cmd;

/// How long a child has to exit after SIGTERM before it gets SIGKILL.
const GRACE: Duration = Duration::from_secs(2);

/// How often readiness and exits are polled.
const POLL: Duration = Duration::from_millis(25);

/// One recorded child.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    /// What it is (`dnsmasq`, `apt-cacher-ng`), for logs.
    pub program: String,
    /// Its process id.
    pub pid: u32,
    /// Its start time (clock ticks after boot, field 22 of `/proc/<pid>/stat`): together with
    /// the pid, the process's identity.
    pub start_time: u64,
}

/// A child this lab started and still owns.
pub(crate) struct Child {
    /// Its identity, as recorded.
    pub record: Record,
    /// The handle (kill on drop: a child never outlives its owner, `Network` or `Sshd`).
    pub process: tokio::process::Child,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

/// Whether a child is ready, from a readiness check.
pub(crate) enum Readiness {
    /// Serving.
    Ready,
    /// Not yet: look again.
    NotYet,
    /// It will never be (the reason, e.g. "port 3142 is taken").
    Failed(String),
}

/// Replaces the record file with `records` (mode 600; a temporary file renamed over it, so a
/// reader sees the old list or the new one, never a part).
pub(crate) fn write_records(path: &Path, records: &[Record]) -> anyhow::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_vec_pretty(records).context("encoding the child record")?;
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    file.write_all(&text)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// The records in `path`; none when it is missing or unreadable (logged).
pub(crate) fn read_records(path: &Path) -> Vec<Record> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read the lab's child record");
            return Vec::new();
        }
    };
    serde_json::from_slice(&text).unwrap_or_else(|e| {
        tracing::warn!(path = %path.display(), error = %e, "ignoring a damaged child record");
        Vec::new()
    })
}

/// The start time of process `pid`, if it exists and is not a zombie.
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses; the fields after
    // the last ')' are fixed. Field 3 is the state, field 22 the start time.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    if fields.next()? == "Z" {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// Whether the recorded process is still that very process (and not a zombie).
pub(crate) fn is_running(record: &Record) -> bool {
    start_time(record.pid) == Some(record.start_time)
}

/// Starts `cmd` (stdin closed, stdout and stderr to `log`, which is truncated) and records
/// its identity.
pub(crate) fn spawn(program: &str, mut cmd: Command, log: &Path) -> anyhow::Result<Child> {
    let out = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(log)
        .with_context(|| format!("creating {}", log.display()))?;
    let err = out
        .try_clone()
        .with_context(|| format!("creating {}", log.display()))?;
    cmd.stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true);
    let process = cmd
        .spawn()
        .map_err(|e| anyhow::anyhow!(cmd::spawn_error(program, &e)))?;
    let pid = process
        .id()
        .with_context(|| format!("{program} exited at once"))?;
    // Zero if it already died: it then matches no process and recover leaves it alone.
    let start_time = start_time(pid).unwrap_or(0);
    Ok(Child {
        record: Record {
            program: program.to_owned(),
            pid,
            start_time,
        },
        process,
        log: log.to_owned(),
    })
}

/// Polls `check` until it reports the child ready; fails when the child exits, the check
/// fails, or `timeout` passes — naming the child and the tail of its log.
pub(crate) async fn wait_ready(
    child: &mut Child,
    timeout: Duration,
    mut check: impl FnMut(&Child) -> Readiness,
) -> anyhow::Result<()> {
    let program = child.record.program.clone();
    let started = Instant::now();
    loop {
        if let Some(status) = child.process.try_wait().context("waiting for a child")? {
            anyhow::bail!(
                "{program} exited ({status}) before it was ready{}",
                log_tail(&child.log)
            );
        }
        match check(child) {
            Readiness::Ready => return Ok(()),
            Readiness::Failed(why) => {
                anyhow::bail!("{program} failed: {why}{}", log_tail(&child.log))
            }
            Readiness::NotYet if started.elapsed() >= timeout => anyhow::bail!(
                "{program} was not ready after {} s{}",
                timeout.as_secs(),
                log_tail(&child.log)
            ),
            Readiness::NotYet => tokio::time::sleep(POLL).await,
        }
    }
}

/// ": <the last three non-empty lines of the log, joined by ' / '>", or "" for an empty log.
pub(crate) fn log_tail(log: &Path) -> String {
    let text = std::fs::read(log).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let mut tail: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .rev()
        .take(3)
        .collect();
    tail.reverse();
    if tail.is_empty() {
        String::new()
    } else {
        format!(" (log {}: {})", log.display(), tail.join(" / "))
    }
}

/// Stops an owned child: SIGTERM, SIGKILL after [`GRACE`], and reaps it.
pub(crate) async fn stop(mut child: Child) {
    let record = &child.record;
    if let Ok(None) = child.process.try_wait() {
        signal(record, Signal::SIGTERM);
        if tokio::time::timeout(GRACE, child.process.wait())
            .await
            .is_err()
        {
            tracing::warn!(program = %record.program, pid = record.pid, "no exit after SIGTERM: SIGKILL");
            if let Err(e) = child.process.kill().await {
                tracing::warn!(program = %record.program, pid = record.pid, error = %e, "cannot kill a lab child");
            }
        }
    }
}

/// Stops a recorded child this process does not own (left by a lab that was killed): SIGTERM,
/// SIGKILL after [`GRACE`] — each only while it is still the recorded process.
pub(crate) async fn stop_recorded(record: &Record) {
    for (sig, wait) in [
        (Signal::SIGTERM, GRACE),
        (Signal::SIGKILL, Duration::from_secs(1)),
    ] {
        if !is_running(record) {
            return;
        }
        signal(record, sig);
        let started = Instant::now();
        while is_running(record) && started.elapsed() < wait {
            tokio::time::sleep(POLL).await;
        }
    }
    if is_running(record) {
        tracing::warn!(program = %record.program, pid = record.pid, "a leftover lab child survived SIGKILL");
    }
}

/// Sends `sig` to the recorded process if it is still that process.
fn signal(record: &Record, sig: Signal) {
    let Ok(pid) = i32::try_from(record.pid) else {
        return;
    };
    if is_running(record)
        && let Err(e) = kill(Pid::from_raw(pid), sig)
    {
        tracing::warn!(program = %record.program, pid = record.pid, error = %e, "cannot signal a lab child");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_identifies_this_process() {
        let me = std::process::id();
        let t = start_time(me);
        assert!(t.is_some());
        let record = Record {
            program: "test".into(),
            pid: me,
            start_time: t.unwrap_or_default(),
        };
        assert!(is_running(&record));
        let recycled = Record {
            start_time: record.start_time + 1,
            ..record
        };
        assert!(!is_running(&recycled), "same pid, other start time");
    }

    #[test]
    fn records_round_trip_with_mode_600() -> anyhow::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("children.json");
        assert!(read_records(&path).is_empty());
        let records = vec![Record {
            program: "dnsmasq".into(),
            pid: 42,
            start_time: 7,
        }];
        write_records(&path, &records)?;
        assert_eq!(read_records(&path), records);
        assert_eq!(
            std::fs::metadata(&path)?.permissions().mode() & 0o777,
            0o600
        );
        std::fs::write(&path, "garbage")?;
        assert!(read_records(&path).is_empty(), "damaged: ignored");
        Ok(())
    }

    #[test]
    fn log_tail_is_one_line() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let log = dir.path().join("x.log");
        assert_eq!(log_tail(&log), "");
        std::fs::write(&log, "a\n\nb\nc\nd\n\n")?;
        assert!(log_tail(&log).ends_with(": b / c / d)"));
        Ok(())
    }
}
