//! DHCP on the lab's bridge: `dnsmasq` (Debian `dnsmasq-base`) with no configuration file,
//! DNS off, serving only the bridge, addresses `.10`–`.250` with the gateway as router, its
//! leases in `<run dir>/dnsmasq.leases` (kept across runs, so a container tends to get its
//! address back). dnsmasq drops root itself after binding. New addresses are offered
//! without dnsmasq's ping check (it costs every new container 3 s): give containers static
//! addresses outside `.10`–`.250`.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use tokio::process::Command;

use crate::children::Readiness;
use crate::lxc::names::Names;

/// Where dnsmasq keeps its leases.
pub(super) fn leases_path(names: &Names) -> PathBuf {
    names.run_dir.join("dnsmasq.leases")
}

/// dnsmasq's pid file: written once its sockets are bound.
pub(super) fn pid_path(names: &Names) -> PathBuf {
    names.run_dir.join("dnsmasq.pid")
}

/// The dnsmasq command for the lab's bridge (`gateway` is `.1` of a /24).
pub(super) fn command(names: &Names, gateway: Ipv4Addr) -> Command {
    let [a, b, c, _] = gateway.octets();
    let host = |d: u8| Ipv4Addr::new(a, b, c, d);
    let mut cmd = Command::new("dnsmasq");
    cmd.arg("--conf-file=/dev/null")
        .arg("--keep-in-foreground")
        .arg(format!("--interface={}", names.bridge))
        .arg("--bind-interfaces")
        .arg("--except-interface=lo")
        .arg(format!("--listen-address={gateway}"))
        .arg("--port=0")
        .arg("--no-resolv")
        .arg("--no-hosts")
        .arg(format!(
            "--dhcp-range={},{},255.255.255.0,12h",
            host(10),
            host(250)
        ))
        .arg(format!("--dhcp-option=option:router,{gateway}"))
        .arg("--dhcp-authoritative")
        // No "is it in use?" ping before offering a new address: it delays every new
        // container's first lease by 3 s. A static address inside .10-.250 may then clash.
        .arg("--no-ping")
        .arg(arg_path("--dhcp-leasefile=", &leases_path(names)))
        .arg(arg_path("--pid-file=", &pid_path(names)))
        .arg("--log-facility=-");
    cmd
}

fn arg_path(option: &str, path: &Path) -> std::ffi::OsString {
    let mut arg = std::ffi::OsString::from(option);
    arg.push(path.as_os_str());
    arg
}

/// Ready once the pid file names the child (dnsmasq writes it after binding its sockets).
pub(super) fn readiness(pid_file: &Path, pid: u32) -> Readiness {
    match std::fs::read_to_string(pid_file) {
        Ok(text) if text.trim().parse() == Ok(pid) => Readiness::Ready,
        _ => Readiness::NotYet,
    }
}

/// The address leased to `mac` (case-insensitive) in dnsmasq's lease file text: lines of
/// `<expiry> <mac> <ip> <hostname> <client id>`; the last line for the MAC wins.
pub(super) fn lease_in(leases: &str, mac: &str) -> Option<Ipv4Addr> {
    leases
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_expiry, lease_mac, ip) = (fields.next()?, fields.next()?, fields.next()?);
            lease_mac
                .eq_ignore_ascii_case(mac)
                .then(|| ip.parse().ok())?
        })
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_lease_by_mac_in_any_case() {
        let leases = "1795744657 72:f6:de:75:46:d2 10.99.7.241 * 01:72:f6:de:75:46:d2\n\
                      1795744658 bc:24:11:aa:bb:cc 10.99.7.12 ct101 *\n\
                      garbage\n";
        assert_eq!(
            lease_in(leases, "BC:24:11:AA:BB:CC"),
            Some(Ipv4Addr::new(10, 99, 7, 12))
        );
        assert_eq!(
            lease_in(leases, "72:f6:de:75:46:d2"),
            Some(Ipv4Addr::new(10, 99, 7, 241))
        );
        assert_eq!(lease_in(leases, "bc:24:11:00:00:00"), None);
        assert_eq!(lease_in("", "bc:24:11:00:00:00"), None);
    }
}
