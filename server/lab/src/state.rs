//! What the lab remembers, persisted as `lab-state.json` in the data directory after every
//! change, so a restart keeps containers, tasks, tokens and ACLs. The file holds secrets (token
//! secrets, the root password, the ticket key): it is written to a fresh mode-600 temporary
//! file in the same directory and renamed over the old one, so it is never readable by others,
//! not even for a moment, and never half-written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// A simulated LXC container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Container {
    /// Its id.
    pub vmid: u32,
    /// The cluster node it lives on.
    pub node: String,
    /// `running` or `stopped`.
    pub status: String,
    /// The configuration keys as PVE stores them (`hostname`, `net0`, `rootfs`, ...).
    pub config: BTreeMap<String, String>,
    /// Unix time of the last start (for `uptime` and the RRD series).
    #[serde(default)]
    pub started_at: Option<i64>,
}

impl Container {
    /// The `lock` config key, if set.
    pub fn lock(&self) -> Option<&str> {
        self.config.get("lock").map(String::as_str)
    }
    /// Whether it is running.
    pub fn running(&self) -> bool {
        self.status == "running"
    }
}

/// A background task (UPID).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Task {
    /// The UPID string.
    pub upid: String,
    /// `running` or `stopped`.
    pub status: String,
    /// When stopped: `OK` or the error text.
    #[serde(default)]
    pub exitstatus: Option<String>,
    /// The task log, one entry per line.
    pub log: Vec<String>,
    /// Unix time it ended.
    #[serde(default)]
    pub endtime: Option<i64>,
}

/// An API token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Token {
    /// The secret (the lab keeps it readable; PVE stores a hash).
    pub secret: String,
    /// Privilege separation: when true the token has only what ACLs grant it.
    pub privsep: bool,
    /// Free text.
    #[serde(default)]
    pub comment: String,
}

/// One ACL entry: `role` on `path` for `ugid` (a user or a full token id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AclEntry {
    /// `/`, `/vms/101`, `/storage/local-lvm`, ...
    pub path: String,
    /// `user@realm` or `user@realm!tokenid`.
    pub ugid: String,
    /// A role name.
    pub role: String,
    /// Whether it applies below `path` too.
    pub propagate: bool,
}

/// Everything persisted.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// Containers by id.
    pub containers: BTreeMap<u32, Container>,
    /// Tasks by UPID.
    pub tasks: BTreeMap<String, Task>,
    /// Tokens by full id (`root@pam!kiln`).
    pub tokens: BTreeMap<String, Token>,
    /// The ACL.
    pub acl: Vec<AclEntry>,
    /// The root@pam password (random unless `--password`).
    pub root_password: String,
    /// Hex key signing tickets and CSRF tokens (random, kept so tickets survive a restart).
    pub ticket_key: String,
    /// The last task "pid" handed out (UPIDs get increasing pids).
    pub last_pid: u32,
    /// The runtime the lab last ran with (`kiln lab pct` uses the matching shell).
    #[serde(default)]
    pub runtime: super::runtime::RuntimeKind,
}

/// The state file in `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join("lab-state.json")
}

/// Reads the state, or `None` on first start.
pub fn load(dir: &Path) -> anyhow::Result<Option<State>> {
    let file = path(dir);
    match std::fs::read(&file) {
        Ok(bytes) => Ok(Some(
            serde_json::from_slice(&bytes)
                .with_context(|| format!("parsing {}", file.display()))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", file.display())),
    }
}

/// Writes the state atomically, mode 600.
pub fn save(dir: &Path, state: &State) -> anyhow::Result<()> {
    use std::io::Write;
    let file = path(dir);
    // `tempfile` creates the file with mode 600 (O_EXCL, a random name).
    let mut tmp = tempfile::Builder::new()
        .prefix("lab-state.json.")
        .tempfile_in(dir)
        .with_context(|| format!("creating a file in {}", dir.display()))?;
    tmp.write_all(&serde_json::to_vec_pretty(state)?)
        .with_context(|| format!("writing {}", file.display()))?;
    tmp.persist(&file)
        .with_context(|| format!("replacing {}", file.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_file_is_private_and_replaced_whole() -> anyhow::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir()?;
        // An older lab left a world-readable file: the next save replaces it.
        std::fs::write(path(dir.path()), "{}")?;
        std::fs::set_permissions(path(dir.path()), std::fs::Permissions::from_mode(0o644))?;
        let state = State {
            root_password: "secret-pw".into(),
            ..State::default()
        };
        save(dir.path(), &state)?;
        let mode = std::fs::metadata(path(dir.path()))?.permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = load(dir.path())?.context("saved")?;
        assert_eq!(back.root_password, "secret-pw");
        let names: Vec<_> = std::fs::read_dir(dir.path())?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        assert_eq!(names, ["lab-state.json"], "no temporary file left");
        Ok(())
    }
}
