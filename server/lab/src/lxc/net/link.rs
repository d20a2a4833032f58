//! The lab's links on the host: its bridge (`kb<tag>`) and the host ends of its containers'
//! veths (`k<tag><N><vmid in hex>`, see [`Names::veth`]), made and deleted with `ip`.
//!
//! Architecture Invariant: only links whose names [`Names`] gives this lab are deleted; a
//! name is matched exactly (`k<tag>`, one digit, hex digits), so another lab's bridge
//! (`kb<other tag>`, which may start with `k<this tag>`) never is.

use std::net::Ipv4Addr;
use std::path::Path;

use crate::lxc::cmd;
use crate::lxc::names::Names;

/// Runs `ip args…`; a failure is one line.
async fn ip(args: &[&str]) -> anyhow::Result<()> {
    cmd::run("ip", args)
        .await
        .map(drop)
        .map_err(anyhow::Error::msg)
}

/// Whether the host has a link of that name.
pub(super) fn exists(name: &str) -> bool {
    valid_name(name) && Path::new("/sys/class/net").join(name).exists()
}

/// Makes the bridge `name` with `gateway/prefix` and brings it up (no STP, no forwarding
/// delay: a container's port forwards as soon as it is attached).
pub(super) async fn create_bridge(name: &str, gateway: Ipv4Addr, prefix: u8) -> anyhow::Result<()> {
    ip(&[
        "link",
        "add",
        name,
        "type",
        "bridge",
        "stp_state",
        "0",
        "forward_delay",
        "0",
    ])
    .await?;
    ip(&["addr", "add", &format!("{gateway}/{prefix}"), "dev", name]).await?;
    ip(&["link", "set", name, "up"]).await
}

/// Deletes link `name` if it exists; logs a failure (cleanup goes on).
pub(super) async fn delete(name: &str) {
    if !exists(name) {
        return;
    }
    if let Err(e) = ip(&["link", "del", name]).await
        && exists(name)
    {
        tracing::warn!(link = name, error = %e, "cannot delete a lab link");
    }
}

/// Deletes this lab's bridge and the host ends of its veths still present.
pub(super) async fn delete_all(names: &Names) {
    for veth in lab_veths(names) {
        delete(&veth).await;
    }
    delete(&names.bridge).await;
}

/// The host's links that are veths of this lab by name.
fn lab_veths(names: &Names) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/sys/class/net") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| is_lab_veth(names, name))
        .collect()
}

/// Whether `ifname` has the form of [`Names::veth`] for this lab: `k<tag>`, the interface
/// index (one digit), the vmid in hex (at least one digit).
pub(super) fn is_lab_veth(names: &Names, ifname: &str) -> bool {
    let Some(rest) = ifname
        .strip_prefix('k')
        .and_then(|r| r.strip_prefix(names.tag.as_str()))
    else {
        return false;
    };
    let mut chars = rest.chars();
    chars.next().is_some_and(|c| c.is_ascii_digit())
        && !chars.as_str().is_empty()
        && chars.as_str().chars().all(|c| c.is_ascii_hexdigit())
}

/// A plausible interface name: 1 to 15 characters, none of them `/` or whitespace, not `.`
/// or `..` (so it is one entry of `/sys/class/net`).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name.contains(|c: char| c == '/' || c.is_whitespace())
}

/// The host's byte counters of link `name` (a container's veth host end, or a bridge):
/// `(received by the host, sent by the host)`, from `/sys/class/net/<name>/statistics`.
/// For a veth, what the host end receives the container sent, and the other way round.
/// `None` when there is no such link.
pub fn veth_counters(name: &str) -> Option<(u64, u64)> {
    if !valid_name(name) {
        return None;
    }
    let dir = Path::new("/sys/class/net").join(name).join("statistics");
    let read = |file: &str| -> Option<u64> {
        std::fs::read_to_string(dir.join(file))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    Some((read("rx_bytes")?, read("tx_bytes")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_labs_veths_match() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut names = Names::for_data_dir(dir.path())?;
        names.tag = "b1234".into();
        assert!(is_lab_veth(&names, &names.veth(100, 0)));
        assert!(is_lab_veth(&names, &names.veth(999_999_999, 9)));
        assert!(!is_lab_veth(&names, "kb12345"), "another lab's bridge");
        assert!(!is_lab_veth(&names, "kbb1234"), "this lab's bridge");
        assert!(!is_lab_veth(&names, "kb12340"), "no vmid");
        assert!(!is_lab_veth(&names, "kb12340x1"));
        assert!(!is_lab_veth(&names, "eth0"));
        Ok(())
    }

    #[test]
    fn counters_of_loopback_and_of_nothing() {
        assert!(veth_counters("lo").is_some());
        assert_eq!(veth_counters("kiln-no-such"), None);
        assert_eq!(veth_counters("../lo"), None);
        assert_eq!(veth_counters(".."), None);
    }
}
