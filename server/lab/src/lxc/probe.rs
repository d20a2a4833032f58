//! Whether this machine can run the LXC runtime, and whether it can map ids for
//! unprivileged containers the way PVE does (`root:100000:65536` in `/etc/subuid` and
//! `/etc/subgid`). Each answer is one line a person can act on.

use std::path::Path;

/// The host ids PVE maps an unprivileged container's ids to.
pub const IDMAP: (u32, u32) = (100_000, 65_536);

/// Whether `program` is on the PATH (or, for an absolute path, exists).
pub fn installed(program: &str) -> bool {
    if program.starts_with('/') {
        return Path::new(program).is_file();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .any(|dir| dir.join(program).is_file())
}

/// `Ok` when the LXC runtime can run here, else why not.
pub fn usable() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("the LXC runtime needs root (bridges, veths and containers)".to_owned());
    }
    let needed = [
        ("lxc-start", "lxc"),
        ("dnsmasq", "dnsmasq-base"),
        ("/usr/sbin/apt-cacher-ng", "apt-cacher-ng"),
        ("ip", "iproute2"),
        ("nsenter", "util-linux"),
        ("zstd", "zstd"),
    ];
    for (program, package) in needed {
        if !installed(program) {
            return Err(format!(
                "{program} is not installed (apt-get install {package}, or ./kiln.sh setup)"
            ));
        }
    }
    let cgroups = Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
        || Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists();
    if !cgroups {
        return Err("no memory cgroup controller in /sys/fs/cgroup".to_owned());
    }
    Ok(())
}

/// Whether `text` (an `/etc/subuid`-style file) gives `user` the ids `first..first+count`.
fn delegates(text: &str, user: &str, (first, count): (u32, u32)) -> bool {
    text.lines().any(|line| {
        let mut f = line.trim().split(':');
        let (Some(name), Some(start), Some(n)) = (f.next(), f.next(), f.next()) else {
            return false;
        };
        let (Ok(start), Ok(n)) = (start.parse::<u64>(), n.parse::<u64>()) else {
            return false;
        };
        name == user
            && start <= u64::from(first)
            && start + n >= u64::from(first) + u64::from(count)
    })
}

/// `Ok(IDMAP)` when unprivileged containers can be mapped, else why not.
pub fn idmap() -> Result<(u32, u32), String> {
    for file in ["/etc/subuid", "/etc/subgid"] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if !delegates(&text, "root", IDMAP) {
            return Err(format!(
                "{file} does not give root the ids 100000-165535 (add `root:100000:65536`; \
                 ./kiln.sh setup does)"
            ));
        }
    }
    if !installed("newuidmap") {
        return Err("newuidmap is not installed (apt-get install uidmap)".to_owned());
    }
    let max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces").unwrap_or_default();
    if max.trim() == "0" {
        return Err("user namespaces are disabled (user.max_user_namespaces = 0)".to_owned());
    }
    Ok(IDMAP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subuid_ranges() {
        assert!(delegates("root:100000:65536\n", "root", IDMAP));
        assert!(delegates(
            "lxd:1000000:65536\nroot:65536:200000\n",
            "root",
            IDMAP
        ));
        assert!(!delegates("root:100000:1000\n", "root", IDMAP));
        assert!(!delegates("kiln:100000:65536\n", "root", IDMAP));
        assert!(!delegates("root:x:y\n", "root", IDMAP));
    }
}
