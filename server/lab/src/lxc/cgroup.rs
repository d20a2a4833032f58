//! A running container's figures as the host sees them: its cgroups (found from its init's
//! `/proc/<pid>/cgroup`, so the layout — cgroup v1 with `lxc.payload.<name>` below whatever
//! cgroup the lab runs in, or v2 — needs no guessing), and the disk use of its root file
//! system. Plain file reads; nothing here runs a program.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Where a container's cgroup controllers are.
#[derive(Debug, Clone, Default)]
pub struct Cgroups {
    /// v1 `memory` (or the v2 unified directory).
    memory: Option<PathBuf>,
    /// v1 `cpuacct`.
    cpuacct: Option<PathBuf>,
    /// v1 `blkio`.
    blkio: Option<PathBuf>,
    /// The v2 directory, when the host uses the unified hierarchy for it.
    unified: Option<PathBuf>,
}

/// Cuts a cgroup path after the container's own component (`lxc.payload.<name>`), dropping
/// what its init made below (`init.scope`).
fn container_root(path: &str, name: &str) -> Option<String> {
    let marker = format!("lxc.payload.{name}");
    let mut out = Vec::new();
    for part in path.split('/') {
        out.push(part);
        if part == marker {
            return Some(out.join("/"));
        }
    }
    None
}

impl Cgroups {
    /// The cgroups of container `name` whose init is `pid`.
    pub fn of(pid: u32, name: &str) -> Cgroups {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
            return Cgroups::default();
        };
        Cgroups::parse(&text, name, Path::new("/sys/fs/cgroup"))
    }

    fn parse(text: &str, name: &str, base: &Path) -> Cgroups {
        let mut found = Cgroups::default();
        for line in text.lines() {
            let mut fields = line.splitn(3, ':');
            let (Some(_), Some(controllers), Some(path)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let Some(root) = container_root(path, name) else {
                continue;
            };
            let rel = root.trim_start_matches('/');
            if controllers.is_empty() {
                let v2 = if base.join("cgroup.controllers").exists() {
                    base.join(rel)
                } else {
                    base.join("unified").join(rel)
                };
                found.unified = Some(v2);
                continue;
            }
            let dir = base.join(controllers).join(rel);
            for c in controllers.split(',') {
                match c {
                    "memory" => found.memory = Some(dir.clone()),
                    "cpuacct" => found.cpuacct = Some(dir.clone()),
                    "blkio" => found.blkio = Some(dir.clone()),
                    _ => {}
                }
            }
        }
        found
    }

    /// Memory in use without the page cache, and swap in use (bytes).
    pub fn memory(&self) -> (u64, u64) {
        if let Some(dir) = &self.memory {
            let usage = read_u64(&dir.join("memory.usage_in_bytes")).unwrap_or(0);
            let cache = stat_value(&dir.join("memory.stat"), "total_cache").unwrap_or(0);
            let memsw = read_u64(&dir.join("memory.memsw.usage_in_bytes")).unwrap_or(usage);
            return (usage.saturating_sub(cache), memsw.saturating_sub(usage));
        }
        if let Some(dir) = &self.unified {
            let current = read_u64(&dir.join("memory.current")).unwrap_or(0);
            let file = stat_value(&dir.join("memory.stat"), "file").unwrap_or(0);
            let swap = read_u64(&dir.join("memory.swap.current")).unwrap_or(0);
            return (current.saturating_sub(file), swap);
        }
        (0, 0)
    }

    /// CPU time used so far, in nanoseconds.
    pub fn cpu_ns(&self) -> Option<u64> {
        if let Some(dir) = &self.cpuacct {
            return read_u64(&dir.join("cpuacct.usage"));
        }
        let dir = self.unified.as_ref()?;
        stat_value(&dir.join("cpu.stat"), "usage_usec").map(|us| us.saturating_mul(1000))
    }

    /// Bytes read from and written to block devices so far.
    pub fn io(&self) -> (u64, u64) {
        let (mut read, mut write) = (0u64, 0u64);
        if let Some(dir) = &self.blkio {
            let text =
                std::fs::read_to_string(dir.join("blkio.throttle.io_service_bytes_recursive"))
                    .or_else(|_| {
                        std::fs::read_to_string(dir.join("blkio.throttle.io_service_bytes"))
                    })
                    .unwrap_or_default();
            for line in text.lines() {
                let parts: Vec<&str> = line.split_whitespace().collect();
                if let [_, op, n] = parts.as_slice() {
                    let n: u64 = n.parse().unwrap_or(0);
                    match *op {
                        "Read" => read = read.saturating_add(n),
                        "Write" => write = write.saturating_add(n),
                        _ => {}
                    }
                }
            }
        } else if let Some(dir) = &self.unified {
            let text = std::fs::read_to_string(dir.join("io.stat")).unwrap_or_default();
            for field in text.split_whitespace() {
                if let Some(n) = field.strip_prefix("rbytes=") {
                    read = read.saturating_add(n.parse().unwrap_or(0));
                } else if let Some(n) = field.strip_prefix("wbytes=") {
                    write = write.saturating_add(n.parse().unwrap_or(0));
                }
            }
        }
        (read, write)
    }
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// A `key value` line of a `memory.stat`/`cpu.stat` file.
fn stat_value(path: &Path, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Bytes a directory tree occupies on disk (`du -s`): links are not followed, other file
/// systems not entered, hard links counted once. Bounded in entries (a container can make
/// many files; the figure is for display).
pub fn disk_usage(root: &Path) -> u64 {
    const MAX_ENTRIES: usize = 2_000_000;
    let Ok(top) = std::fs::symlink_metadata(root) else {
        return 0;
    };
    let dev = top.dev();
    let mut total = top.blocks() * 512;
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut stack = vec![root.to_path_buf()];
    let mut entries = 0usize;
    while let Some(dir) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in read.flatten() {
            entries += 1;
            if entries > MAX_ENTRIES {
                return total;
            }
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.dev() != dev {
                continue;
            }
            if meta.nlink() > 1 && !meta.is_dir() && !seen.insert((meta.dev(), meta.ino())) {
                continue;
            }
            total = total.saturating_add(meta.blocks() * 512);
            if meta.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_container_cgroups_in_v1_and_v2() {
        let v1 = "12:memory:/process_api/abc/lxc.payload.k1a2b3-101/init.scope\n\
                  3:cpu,cpuacct:/lxc.payload.k1a2b3-101\n\
                  2:blkio:/lxc.payload.k1a2b3-101\n\
                  1:name=systemd:/lxc.payload.k1a2b3-101/init.scope\n\
                  0::/lxc.payload.k1a2b3-101/init.scope\n";
        let base = Path::new("/nonexistent-cgroup");
        let c = Cgroups::parse(v1, "k1a2b3-101", base);
        assert_eq!(
            c.memory.as_deref(),
            Some(
                base.join("memory/process_api/abc/lxc.payload.k1a2b3-101")
                    .as_path()
            )
        );
        assert_eq!(
            c.cpuacct.as_deref(),
            Some(base.join("cpu,cpuacct/lxc.payload.k1a2b3-101").as_path())
        );
        assert_eq!(
            c.unified.as_deref(),
            Some(base.join("unified/lxc.payload.k1a2b3-101").as_path())
        );
        let other = Cgroups::parse(v1, "k1a2b3-10", base);
        assert!(other.memory.is_none(), "a name prefix is not the container");
    }

    #[test]
    fn disk_usage_counts_files_once_and_never_follows_links() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("a"), vec![1u8; 64 * 1024])?;
        std::fs::hard_link(dir.path().join("a"), dir.path().join("b"))?;
        std::os::unix::fs::symlink("/usr", dir.path().join("usr"))?;
        let used = disk_usage(dir.path());
        assert!((64 * 1024..200 * 1024).contains(&used), "{used}");
        Ok(())
    }
}
