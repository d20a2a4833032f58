//! Running host programs (`lxc-*`, `ip`, `tar`, `debootstrap`, ...) with argument lists
//! through `tokio::process` — never a shell, never liblxc (it forks inside a multi-threaded
//! runtime). A failure is one line: the program, its exit status and the last lines it wrote
//! on stderr.

use std::ffi::OsStr;
use std::process::Stdio;

use tokio::process::Command;

/// A command that failed, as text fit for a task log or an error.
pub type CmdError = String;

/// Runs `program args…` to completion with no input; returns its standard output.
pub async fn run<I, S>(program: &str, args: I) -> Result<Vec<u8>, CmdError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(program);
    cmd.args(args);
    output(program, cmd).await
}

/// Runs a prepared command to completion (stdin closed); returns its standard output.
pub async fn output(program: &str, mut cmd: Command) -> Result<Vec<u8>, CmdError> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = cmd.output().await.map_err(|e| spawn_error(program, &e))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(failure(program, out.status, &out.stderr))
    }
}

/// Runs a prepared command with `input` on its stdin (closed after); its stdout. The input
/// never appears in the error (it may be a secret).
pub async fn with_input(
    mut cmd: Command,
    program: &str,
    input: &[u8],
) -> Result<Vec<u8>, CmdError> {
    use tokio::io::AsyncWriteExt;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| spawn_error(program, &e))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A write error shows up as the command's failure below.
        let _ = stdin.write_all(input).await;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| spawn_error(program, &e))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(failure(program, out.status, &out.stderr))
    }
}

/// "cannot run PROGRAM: …", naming the Debian package when it is missing.
pub fn spawn_error(program: &str, e: &std::io::Error) -> CmdError {
    if e.kind() == std::io::ErrorKind::NotFound {
        let package = match program {
            p if p.starts_with("lxc-") => "lxc",
            "debootstrap" => "debootstrap",
            "dnsmasq" => "dnsmasq-base",
            "apt-cacher-ng" | "/usr/sbin/apt-cacher-ng" => "apt-cacher-ng",
            "ip" => "iproute2",
            "zstd" => "zstd",
            "newuidmap" | "newgidmap" => "uidmap",
            _ => return format!("cannot run {program}: not installed"),
        };
        format!("cannot run {program}: not installed (apt-get install {package})")
    } else {
        format!("cannot run {program}: {e}")
    }
}

/// "PROGRAM failed (exit status N): <last stderr lines>".
pub fn failure(program: &str, status: std::process::ExitStatus, stderr: &[u8]) -> CmdError {
    let text = String::from_utf8_lossy(stderr);
    let tail: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .rev()
        .take(3)
        .collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    let how = match status.code() {
        Some(code) => format!("exit status {code}"),
        None => "killed by a signal".to_owned(),
    };
    if tail.is_empty() {
        format!("{program} failed ({how})")
    } else {
        format!("{program} failed ({how}): {}", tail.join(" / "))
    }
}
