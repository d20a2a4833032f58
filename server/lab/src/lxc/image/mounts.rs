//! Removing a build's work directory safely: nothing mounted inside may be reached.

use std::ffi::OsString;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::lxc::cmd;

/// Removes a build's work directory, first unmounting what a killed `debootstrap` left
/// mounted inside (`/proc`, `/sys`, bind mounts of `/dev`): a recursive removal must never
/// reach into the host's file systems.
pub(super) async fn remove_build_dir(dir: &Path) -> anyhow::Result<()> {
    let canonical = match std::fs::canonicalize(dir) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        other => other.with_context(|| format!("resolving {}", dir.display()))?,
    };
    for mount in mounts_under(&read_mountinfo()?, &canonical) {
        cmd::run("umount", [OsString::from("--lazy"), mount.into_os_string()])
            .await
            .map_err(anyhow::Error::msg)?;
    }
    let left = mounts_under(&read_mountinfo()?, &canonical);
    anyhow::ensure!(
        left.is_empty(),
        "not removing {}: {} is still mounted",
        dir.display(),
        left.first()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );
    let owned = dir.to_owned();
    tokio::task::spawn_blocking(move || std::fs::remove_dir_all(&owned))
        .await
        .context("removing the build directory")?
        .with_context(|| format!("removing {}", dir.display()))
}

/// This process's mount table.
fn read_mountinfo() -> anyhow::Result<String> {
    std::fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")
}

/// The mount points at or below `dir` in a `/proc/self/mountinfo` text, deepest first.
fn mounts_under(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|point| PathBuf::from(unescape_octal(point)))
        .filter(|point| point.starts_with(dir))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found.dedup();
    found
}

/// Undoes mountinfo's `\ooo` escapes (space, tab, newline, backslash).
fn unescape_octal(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let digits = bytes.get(i + 1..i + 4);
        match digits {
            Some(d) if bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)) => {
                let value = d.iter().fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn mounts_below_a_directory_deepest_first() {
        let mountinfo = "\
22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
40 22 0:5 / /var/cache/kiln/.build-7/rootfs/proc rw - proc proc rw
41 22 0:6 / /var/cache/kiln/.build-7/rootfs/dev/pts rw - devpts devpts rw
42 22 0:7 / /var/cache/kiln/.build-7/rootfs/dev rw - tmpfs nodev rw
43 22 0:8 / /var/cache/kiln/.build-70 rw - tmpfs x rw
44 22 0:9 / /tmp/a\\040b/c rw - tmpfs x rw
";
        let found = mounts_under(mountinfo, Path::new("/var/cache/kiln/.build-7"));
        assert_eq!(found.len(), 3);
        assert_eq!(
            found[0],
            Path::new("/var/cache/kiln/.build-7/rootfs/dev/pts")
        );
        assert_eq!(found[2], Path::new("/var/cache/kiln/.build-7/rootfs/dev"));
        assert_eq!(
            mounts_under(mountinfo, Path::new("/tmp/a b")),
            vec![PathBuf::from("/tmp/a b/c")]
        );
    }
}
