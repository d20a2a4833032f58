//! What the lab remembers, persisted as `lab-state.json` in the data directory after every
//! change (written to a temporary file and renamed), so a restart keeps containers, tasks,
//! tokens and ACLs.

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

/// Writes the state atomically.
pub fn save(dir: &Path, state: &State) -> anyhow::Result<()> {
    let file = path(dir);
    let tmp = dir.join("lab-state.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(state)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &file).with_context(|| format!("replacing {}", file.display()))?;
    Ok(())
}
