//! A service's journal, the pure part: the argument list that reads the last lines of a unit
//! (`journalctl -u <unit> -n 200 --no-pager`, run in the container with `pct exec`, quoted by
//! `ssh::quote::command_line` like every remote command) and what the page may show of its
//! output — untrusted text from the container: ANSI sequences and other control characters
//! removed, each line and the whole bounded.
//!
//! Architecture Invariant: the unit is checked with `kiln_shared::container_page::
//! validate_unit_name` (never starting with `-`) and is one of the container's stored
//! services before it reaches [`journal_command`].

use kiln_shared::container_page::LOG_LINES;

use crate::containers::provision::strip_ansi;

/// The most bytes of output read (the last ones are kept).
pub const MAX_BYTES: usize = 256 * 1024;
/// The most characters kept of one line.
pub const MAX_LINE_CHARS: usize = 2000;

/// `journalctl -u UNIT -n 200 --no-pager` as an argument list.
pub fn journal_command(unit: &str) -> Vec<String> {
    vec![
        "journalctl".to_owned(),
        "-u".to_owned(),
        unit.to_owned(),
        "-n".to_owned(),
        LOG_LINES.to_string(),
        "--no-pager".to_owned(),
    ]
}

/// The lines to show of `output` (the last [`LOG_LINES`]), and whether anything was cut.
pub fn clean(output: &[u8]) -> (Vec<String>, bool) {
    let mut truncated = output.len() > MAX_BYTES;
    let start = output.len().saturating_sub(MAX_BYTES);
    let text = String::from_utf8_lossy(&output[start..]);
    let mut lines: Vec<String> = text
        .lines()
        .map(|line| {
            let plain: String = strip_ansi(line)
                .chars()
                .filter(|c| !c.is_control() || *c == '\t')
                .collect();
            let plain = plain.trim_end();
            if plain.chars().count() > MAX_LINE_CHARS {
                truncated = true;
                let mut cut: String = plain.chars().take(MAX_LINE_CHARS).collect();
                cut.push('…');
                cut
            } else {
                plain.to_owned()
            }
        })
        .collect();
    if truncated && start > 0 && !lines.is_empty() {
        // The first line kept began before the bytes read.
        lines.remove(0);
    }
    if lines.len() > LOG_LINES {
        truncated = true;
        lines.drain(..lines.len() - LOG_LINES);
    }
    (lines, truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_names_the_unit_after_its_option() {
        assert_eq!(
            journal_command("nginx.service"),
            [
                "journalctl",
                "-u",
                "nginx.service",
                "-n",
                "200",
                "--no-pager"
            ]
        );
    }

    #[test]
    fn output_is_cleaned_and_bounded() {
        let (lines, cut) = clean(b"\x1b[31mred\x1b[0m\r\nbell\x07 here\nok\n");
        assert_eq!(lines, ["red", "bell here", "ok"]);
        assert!(!cut);
        let many: String = (0..300).map(|i| format!("line {i}\n")).collect();
        let (lines, cut) = clean(many.as_bytes());
        assert_eq!(lines.len(), LOG_LINES);
        assert_eq!(lines[0], "line 100");
        assert!(cut);
        let long = "x".repeat(MAX_LINE_CHARS + 10);
        let (lines, cut) = clean(long.as_bytes());
        assert!(cut && lines[0].chars().count() == MAX_LINE_CHARS + 1);
        let huge = vec![b'y'; MAX_BYTES * 2];
        let (lines, cut) = clean(&huge);
        assert!(cut && lines.is_empty());
    }
}
