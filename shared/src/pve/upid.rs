//! `Upid`: Proxmox's task id, `UPID:<node>:<pid>:<pstart>:<starttime>:<type>:<id>:<user>:`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Upid {
    pub node: String,
    pub pid: u32,
    pub pstart: u64,
    pub starttime: i64,
    /// e.g. `vzcreate`, `vzstart`.
    pub task_type: String,
    /// Often the VMID; may be empty.
    pub id: String,
    /// `root@pam`, or `root@pam!token`.
    pub user: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Proxmox task id (UPID): {0}")]
pub struct UpidError(String);

impl FromStr for Upid {
    type Err = UpidError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || UpidError(s.to_owned());
        let rest = s.strip_prefix("UPID:").ok_or_else(err)?;
        let rest = rest.strip_suffix(':').ok_or_else(err)?;
        let parts: Vec<&str> = rest.splitn(7, ':').collect();
        let [node, pid, pstart, starttime, task_type, id, user] = parts.as_slice() else {
            return Err(err());
        };
        if node.is_empty() || task_type.is_empty() || user.is_empty() {
            return Err(err());
        }
        Ok(Upid {
            node: (*node).to_owned(),
            pid: u32::from_str_radix(pid, 16).map_err(|_| err())?,
            pstart: u64::from_str_radix(pstart, 16).map_err(|_| err())?,
            starttime: i64::from_str_radix(starttime, 16).map_err(|_| err())?,
            task_type: (*task_type).to_owned(),
            id: (*id).to_owned(),
            user: (*user).to_owned(),
        })
    }
}

impl fmt::Display for Upid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "UPID:{}:{:08X}:{:08X}:{:08X}:{}:{}:{}:",
            self.node, self.pid, self.pstart, self.starttime, self.task_type, self.id, self.user
        )
    }
}

impl Serialize for Upid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Upid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_pve_format() -> Result<(), UpidError> {
        let raw = "UPID:pve:0000A1B2:0012C3D4:6745F0A1:vzcreate:101:root@pam!kiln:";
        let upid: Upid = raw.parse()?;
        assert_eq!(upid.node, "pve");
        assert_eq!(upid.pid, 0xA1B2);
        assert_eq!(upid.task_type, "vzcreate");
        assert_eq!(upid.id, "101");
        assert_eq!(upid.user, "root@pam!kiln");
        assert_eq!(upid.to_string(), raw);
        Ok(())
    }

    #[test]
    fn empty_id_and_bad_input() -> Result<(), UpidError> {
        let raw = "UPID:pve1:00001234:00ABCDEF:6745F0A1:aptupdate::root@pam:";
        let upid: Upid = raw.parse()?;
        assert_eq!(upid.id, "");
        assert_eq!(upid.to_string(), raw);
        assert!(
            "UPID:pve:1:2:3:vzstart:100:root@pam"
                .parse::<Upid>()
                .is_err(),
            "trailing colon"
        );
        assert!("nope".parse::<Upid>().is_err());
        assert!(
            "UPID:pve:zz:2:3:vzstart:100:root@pam:"
                .parse::<Upid>()
                .is_err()
        );
        Ok(())
    }
}
