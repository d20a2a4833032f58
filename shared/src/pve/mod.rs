//! Proxmox VE API types, named after the API path they come from (as Proxmox's own
//! `pve-api-types` do). Used by the client, the lab node and the browser.
//!
//! Deserialization tolerates PVE's quirks (see [`de`]); serialization writes plain JSON
//! (numbers as numbers, booleans as 0/1 where PVE does).

pub mod de;
pub mod upid;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use upid::Upid;

/// `GET /version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    pub version: String,
    pub release: String,
    pub repoid: String,
}

/// One entry of `GET /nodes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterNode {
    pub node: String,
    /// `online`, `offline`, `unknown`.
    pub status: String,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub cpu: Option<f64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub maxcpu: Option<u32>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub mem: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub maxmem: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub uptime: Option<u64>,
    #[serde(default)]
    pub ssl_fingerprint: Option<String>,
}

/// One entry of `GET /cluster/resources?type=vm`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterResource {
    /// `lxc/101`, `qemu/100`, `node/pve`, `storage/pve/local`.
    pub id: String,
    /// `lxc`, `qemu`, `node`, `storage`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub vmid: Option<u32>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "de::tags")]
    pub tags: Vec<String>,
    #[serde(default, deserialize_with = "de::flag")]
    pub template: bool,
    #[serde(default)]
    pub lock: Option<String>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub cpu: Option<f64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub maxcpu: Option<f64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub mem: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub maxmem: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub disk: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub maxdisk: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub uptime: Option<u64>,
    #[serde(default)]
    pub pool: Option<String>,
    /// Bytes received since the guest started (a counter).
    #[serde(default, deserialize_with = "de::opt_num")]
    pub netin: Option<u64>,
    /// Bytes sent since the guest started (a counter).
    #[serde(default, deserialize_with = "de::opt_num")]
    pub netout: Option<u64>,
    /// Bytes read from disk since the guest started (a counter).
    #[serde(default, deserialize_with = "de::opt_num")]
    pub diskread: Option<u64>,
    /// Bytes written to disk since the guest started (a counter).
    #[serde(default, deserialize_with = "de::opt_num")]
    pub diskwrite: Option<u64>,
}

/// `GET /nodes/{node}/status` (the part Kiln reads).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The 1, 5 and 15 minute load averages (PVE sends them as strings).
    #[serde(default)]
    pub loadavg: Vec<String>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub cpu: Option<f64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub uptime: Option<u64>,
}

impl NodeStatus {
    /// The 1-minute load average.
    pub fn load1(&self) -> Option<f64> {
        self.loadavg.first().and_then(|l| l.trim().parse().ok())
    }
}

/// One entry of `GET /nodes/{node}/lxc`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LxcListItem {
    /// A string in older PVE versions.
    #[serde(deserialize_with = "de::num")]
    pub vmid: u32,
    pub status: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "de::tags")]
    pub tags: Vec<String>,
    #[serde(default, deserialize_with = "de::flag")]
    pub template: bool,
    #[serde(default)]
    pub lock: Option<String>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub cpus: Option<f64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub cpu: Option<f64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub mem: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub maxmem: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub disk: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub maxdisk: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub netin: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub netout: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub uptime: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub pid: Option<u32>,
}

/// `GET /nodes/{node}/lxc/{vmid}/status/current`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LxcStatusCurrent {
    #[serde(deserialize_with = "de::num")]
    pub vmid: u32,
    pub status: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub lock: Option<String>,
    #[serde(default)]
    pub ha: Option<HaState>,
    #[serde(default, deserialize_with = "de::tags")]
    pub tags: Vec<String>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub cpus: Option<f64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub cpu: Option<f64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub mem: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub maxmem: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub disk: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub maxdisk: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub uptime: Option<u64>,
    /// Swap in use, bytes.
    #[serde(default, deserialize_with = "de::opt_num")]
    pub swap: Option<u64>,
    /// The swap limit, bytes.
    #[serde(default, deserialize_with = "de::opt_num")]
    pub maxswap: Option<u64>,
}

/// The `ha` object of a guest's status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HaState {
    #[serde(default, deserialize_with = "de::flag")]
    pub managed: bool,
}

/// `GET /nodes/{node}/lxc/{vmid}/config`: property strings kept as PVE sends them; `digest`
/// for optimistic locking on `PUT`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LxcConfig {
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub cores: Option<u32>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub memory: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub swap: Option<u64>,
    #[serde(default)]
    pub rootfs: Option<String>,
    #[serde(default)]
    pub net0: Option<String>,
    #[serde(default)]
    pub features: Option<String>,
    #[serde(default, deserialize_with = "de::flag")]
    pub unprivileged: bool,
    #[serde(default, deserialize_with = "de::flag")]
    pub onboot: bool,
    #[serde(default)]
    pub tags: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub ostype: Option<String>,
    #[serde(default)]
    pub lock: Option<String>,
    pub digest: String,
    /// Every other key (`net1`, `mp0`, `nameserver`, ...), as sent.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

impl LxcConfig {
    /// Its tags (`tags: "db;prod"` — PVE also accepts `,` and spaces between them).
    pub fn tag_list(&self) -> Vec<String> {
        self.tags
            .as_deref()
            .unwrap_or_default()
            .split([';', ',', ' '])
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// `GET /nodes/{node}/tasks/{upid}/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskStatus {
    pub upid: Upid,
    pub node: String,
    /// `running` or `stopped`.
    pub status: String,
    /// When stopped: `OK`, or the error text.
    #[serde(default)]
    pub exitstatus: Option<String>,
    #[serde(rename = "type")]
    pub task_type: String,
    #[serde(default)]
    pub id: Option<String>,
    pub user: String,
    #[serde(deserialize_with = "de::num")]
    pub starttime: i64,
}

impl TaskStatus {
    pub fn is_running(&self) -> bool {
        self.status == "running"
    }
}

/// One line of `GET /nodes/{node}/tasks/{upid}/log`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskLogLine {
    #[serde(deserialize_with = "de::num")]
    pub n: u64,
    pub t: String,
}

/// One entry of `GET /nodes/{node}/storage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStorage {
    pub storage: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// Comma-separated content types (`vztmpl,iso,backup`, `rootdir,images`).
    pub content: String,
    #[serde(default, deserialize_with = "de::flag")]
    pub active: bool,
    #[serde(default, deserialize_with = "de::flag")]
    pub enabled: bool,
    #[serde(default, deserialize_with = "de::flag")]
    pub shared: bool,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub total: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub used: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub avail: Option<u64>,
}

/// One entry of `GET /nodes/{node}/storage/{storage}/content`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StorageContent {
    /// `local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst`.
    pub volid: String,
    pub content: String,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub size: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub vmid: Option<u32>,
}

/// One entry of `GET /nodes/{node}/network`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeNetwork {
    pub iface: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, deserialize_with = "de::flag")]
    pub active: bool,
    #[serde(default)]
    pub cidr: Option<String>,
    #[serde(default)]
    pub gateway: Option<String>,
    #[serde(default)]
    pub comments: Option<String>,
}

/// One entry of `GET /pools`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pool {
    pub poolid: String,
    #[serde(default)]
    pub comment: Option<String>,
}

/// One entry of `GET /nodes/{node}/lxc/{vmid}/interfaces`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LxcInterface {
    pub name: String,
    #[serde(default)]
    pub hwaddr: Option<String>,
    /// `10.0.0.5/24`.
    #[serde(default)]
    pub inet: Option<String>,
    #[serde(default)]
    pub inet6: Option<String>,
}

/// One row of `GET /nodes/{node}/lxc/{vmid}/rrddata`; usage fields are absent while stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RrdPoint {
    #[serde(deserialize_with = "de::num")]
    pub time: i64,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub cpu: Option<f64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub maxcpu: Option<f64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub mem: Option<f64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub maxmem: Option<f64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub disk: Option<f64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub maxdisk: Option<f64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub netin: Option<f64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub netout: Option<f64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub diskread: Option<f64>,
    #[serde(default, deserialize_with = "de::opt_num")]
    pub diskwrite: Option<f64>,
}

/// `POST /access/ticket`. Debug never shows the ticket or the CSRF token.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessTicket {
    #[serde(default)]
    pub ticket: Option<String>,
    #[serde(rename = "CSRFPreventionToken", default)]
    pub csrf_prevention_token: Option<String>,
    pub username: String,
    #[serde(default)]
    pub clustername: Option<String>,
    /// Set when a second factor is needed (then `ticket` is the challenge).
    #[serde(rename = "NeedTFA", default, deserialize_with = "de::flag")]
    pub need_tfa: bool,
}

/// `GET /access/permissions`: path → privilege → granted.
pub type Permissions = BTreeMap<String, BTreeMap<String, PermissionFlag>>;

/// A privilege flag (`1`, or `0` when granted without propagation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionFlag(#[serde(deserialize_with = "de::flag")] pub bool);

/// `POST /access/users/{userid}/token/{tokenid}`. Debug never shows the secret.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedToken {
    /// `user@realm!tokenid`.
    #[serde(rename = "full-tokenid")]
    pub full_tokenid: String,
    /// The secret, shown once.
    pub value: String,
}

/// What a TLS probe saw: shown to the user before trusting a node (TOFU).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CertificateInfo {
    /// SHA-256 of the DER certificate, upper-case hex pairs joined by `:` (as PVE shows it).
    pub fingerprint: String,
    pub subject: String,
    pub issuer: String,
    /// RFC 3339.
    pub not_before: String,
    /// RFC 3339.
    pub not_after: String,
}

/// `POST /nodes/{node}/lxc`: the parameters Kiln sends when creating a container. Debug
/// never shows the root password.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LxcCreate {
    pub vmid: u32,
    pub ostemplate: String,
    pub hostname: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cores: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swap: Option<u64>,
    /// `<storage>:<size GiB>`.
    pub rootfs: String,
    /// `name=eth0,bridge=vmbr0,ip=dhcp`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net0: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nameserver: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(rename = "ssh-public-keys", skip_serializing_if = "Option::is_none")]
    pub ssh_public_keys: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unprivileged: Option<bool>,
    /// `nesting=1,keyctl=1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub features: Option<String>,
    /// `a;b`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub onboot: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl std::fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedToken")
            .field("full_tokenid", &self.full_tokenid)
            .field("value", &"<redacted>")
            .finish()
    }
}

impl std::fmt::Debug for AccessTicket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTicket")
            .field("username", &self.username)
            .field("clustername", &self.clustername)
            .field("need_tfa", &self.need_tfa)
            .field("ticket", &self.ticket.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl std::fmt::Debug for LxcCreate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LxcCreate")
            .field("vmid", &self.vmid)
            .field("ostemplate", &self.ostemplate)
            .field("hostname", &self.hostname)
            .field("cores", &self.cores)
            .field("memory", &self.memory)
            .field("rootfs", &self.rootfs)
            .field("net0", &self.net0)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let token = CreatedToken {
            full_tokenid: "root@pam!kiln".into(),
            value: "s3cret-value".into(),
        };
        let create = LxcCreate {
            password: Some("root-pw-123".into()),
            ..LxcCreate::default()
        };
        let printed = format!("{token:?} {create:?}");
        assert!(
            !printed.contains("s3cret-value") && !printed.contains("root-pw-123"),
            "{printed}"
        );
    }

    #[test]
    fn tolerates_strings_for_numbers_and_0_1_booleans() -> Result<(), serde_json::Error> {
        let item: LxcListItem = serde_json::from_value(serde_json::json!({
            "vmid": "101", "status": "stopped", "template": 0, "tags": "web;prod",
            "maxmem": "536870912", "cpus": 1
        }))?;
        assert_eq!(item.vmid, 101);
        assert!(!item.template);
        assert_eq!(item.tags, vec!["web", "prod"]);
        assert_eq!(item.maxmem, Some(536_870_912));
        assert_eq!(item.mem, None, "missing on a stopped guest");
        let res: ClusterResource = serde_json::from_value(serde_json::json!({
            "id": "lxc/101", "type": "lxc", "vmid": 101, "template": "1", "tags": "a,b c"
        }))?;
        assert!(res.template);
        assert_eq!(res.tags, vec!["a", "b", "c"]);
        let status: LxcStatusCurrent = serde_json::from_value(serde_json::json!({
            "vmid": 101, "status": "running", "ha": {"managed": 0}, "cpu": "0.25"
        }))?;
        assert_eq!(status.cpu, Some(0.25));
        assert_eq!(status.ha, Some(HaState { managed: false }));
        Ok(())
    }

    #[test]
    fn config_keeps_unknown_keys() -> Result<(), serde_json::Error> {
        let cfg: LxcConfig = serde_json::from_value(serde_json::json!({
            "hostname": "web", "cores": 2, "digest": "abc", "mp0": "local-lvm:vm-101-disk-1,mp=/data",
            "unprivileged": 1
        }))?;
        assert!(cfg.unprivileged);
        assert_eq!(
            cfg.other.get("mp0").and_then(|v| v.as_str()),
            Some("local-lvm:vm-101-disk-1,mp=/data")
        );
        Ok(())
    }
}
