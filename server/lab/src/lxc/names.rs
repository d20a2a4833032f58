//! Every name the LXC runtime gives to something on the host, derived from the lab's data
//! directory, so two labs never share one and a restarted lab (even after `kill -9`) finds
//! what its previous run left behind.
//!
//! Architecture Invariant: the runtime acts only on things named here: containers in its
//! own `lxcpath` (`<data dir>/lxc`), its bridge, its veths, and the children recorded in its
//! run directory. `lxc-ls` of anything else is never consulted.

use std::path::{Path, PathBuf};

/// The names of one lab's host objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// Five hex digits of the SHA-256 of the canonical data directory.
    pub tag: String,
    /// The data directory (canonical).
    pub data_dir: PathBuf,
    /// LXC's container directory for this lab: `<data dir>/lxc` (configs and root file
    /// systems: the `rootdir` storage).
    pub lxcpath: PathBuf,
    /// Host-side state of the runtime (pid records, dnsmasq leases, the proxy's files):
    /// `<data dir>/lab-run`.
    pub run_dir: PathBuf,
    /// The Linux bridge that stands for the node's `vmbr0`: `kb<tag>`.
    pub bridge: String,
}

impl Names {
    /// The names for the lab in `data_dir` (which must exist).
    pub fn for_data_dir(data_dir: &Path) -> std::io::Result<Names> {
        let data_dir = std::fs::canonicalize(data_dir)?;
        let digest = ring::digest::digest(
            &ring::digest::SHA256,
            data_dir.as_os_str().as_encoded_bytes(),
        );
        let tag: String = hex::encode(digest.as_ref()).chars().take(5).collect();
        Ok(Names {
            bridge: format!("kb{tag}"),
            lxcpath: data_dir.join("lxc"),
            run_dir: data_dir.join("lab-run"),
            data_dir,
            tag,
        })
    }

    /// The LXC name of container `vmid`: `k<tag>-<vmid>` (also its cgroup's name).
    pub fn container(&self, vmid: u32) -> String {
        format!("k{}-{vmid}", self.tag)
    }

    /// The container `vmid` a name of [`Names::container`] stands for, if it is one of ours.
    pub fn vmid_of(&self, name: &str) -> Option<u32> {
        name.strip_prefix('k')?
            .strip_prefix(self.tag.as_str())?
            .strip_prefix('-')?
            .parse()
            .ok()
    }

    /// The host end of `netN` of container `vmid`: `k<tag><N><vmid in hex>`, at most 15
    /// characters (the kernel's limit) for every valid id and N < 10.
    pub fn veth(&self, vmid: u32, index: u32) -> String {
        format!("k{}{}{vmid:x}", self.tag, index % 10)
    }

    /// The container's directory: `<lxcpath>/<name>` (its `config` and `rootfs/`).
    pub fn container_dir(&self, vmid: u32) -> PathBuf {
        self.lxcpath.join(self.container(vmid))
    }

    /// The container's root file system.
    pub fn rootfs(&self, vmid: u32) -> PathBuf {
        self.container_dir(vmid).join("rootfs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_enough_and_distinct_per_data_dir() -> std::io::Result<()> {
        let a = tempfile::tempdir()?;
        let b = tempfile::tempdir()?;
        let na = Names::for_data_dir(a.path())?;
        let nb = Names::for_data_dir(b.path())?;
        assert_ne!(na.tag, nb.tag);
        assert_eq!(na, Names::for_data_dir(a.path())?, "stable across runs");
        assert!(na.veth(999_999_999, 9).len() <= 15);
        assert!(na.bridge.len() <= 15);
        assert_ne!(na.veth(100, 0), na.veth(100, 1));
        assert_eq!(na.vmid_of(&na.container(101)), Some(101));
        assert_eq!(
            nb.vmid_of(&na.container(101)),
            None,
            "another lab's container"
        );
        Ok(())
    }
}
