//! Running a program while its output is still coming (debootstrap's progress).

use std::collections::VecDeque;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::lxc::cmd::{self, CmdError};

/// Runs a prepared command, handing every line it writes (standard output and error, as they
/// come) to `on_line`; fails like [`cmd::output`], with the last lines it wrote.
pub(super) async fn stream(
    program: &str,
    mut command: Command,
    stdin: Stdio,
    on_line: &mut (dyn FnMut(&str) + Send),
) -> Result<(), CmdError> {
    command
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|e| cmd::spawn_error(program, &e))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(format!("cannot run {program}: no output pipes"));
    };
    let mut readers = (BufReader::new(stdout), BufReader::new(stderr));
    // Partial lines survive a `select!` that picks the other stream (read_until is cancel
    // safe as long as its buffer is kept).
    let mut buffers = (Vec::new(), Vec::new());
    let mut open = (true, true);
    let mut tail: VecDeque<String> = VecDeque::new();
    let mut take = |buffer: &mut Vec<u8>| {
        let text = String::from_utf8_lossy(buffer);
        let line = text.trim_end();
        if !line.is_empty() {
            on_line(line);
            if tail.len() == 5 {
                tail.pop_front();
            }
            tail.push_back(line.to_owned());
        }
        buffer.clear();
    };
    while open.0 || open.1 {
        let (which, read) = tokio::select! {
            r = readers.0.read_until(b'\n', &mut buffers.0), if open.0 => (0, r),
            r = readers.1.read_until(b'\n', &mut buffers.1), if open.1 => (1, r),
        };
        let (buffer, still_open) = if which == 0 {
            (&mut buffers.0, &mut open.0)
        } else {
            (&mut buffers.1, &mut open.1)
        };
        if !matches!(read, Ok(n) if n > 0) {
            *still_open = false;
        }
        if !buffer.is_empty() && (buffer.ends_with(b"\n") || !*still_open) {
            take(buffer);
        }
    }
    let status = child
        .wait()
        .await
        .map_err(|e| format!("{program}: waiting for it failed: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        let lines: Vec<String> = tail.into_iter().collect();
        Err(cmd::failure(program, status, lines.join("\n").as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[tokio::test]
    async fn stream_hands_over_lines_and_fails_with_the_last() {
        let mut lines = Vec::new();
        let mut sh = Command::new("sh");
        sh.args(["-c", "echo one; echo two >&2; printf three; exit 3"]);
        let result = stream("sh", sh, Stdio::null(), &mut |l| lines.push(l.to_owned())).await;
        lines.sort();
        assert_eq!(lines, ["one", "three", "two"]);
        let error = result.err().unwrap_or_default();
        assert!(error.starts_with("sh failed (exit status 3): "), "{error}");
        assert!(error.contains("two"), "{error}");
    }
}
