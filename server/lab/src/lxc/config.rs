//! What a container's configuration (PVE's keys, as the lab stores them) becomes on the
//! host: LXC's config file, and the few files PVE itself writes into a container at each
//! start (hostname, hosts, the network — systemd-networkd here —, and the lab's package
//! proxy for apt). Pure functions of the configuration; the runtime writes their output.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use crate::formats::split_property_string;

use super::names::Names;

/// Which cgroup hierarchy the host uses for limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    /// Per-controller hierarchies (`lxc.cgroup.*` keys).
    V1 {
        /// Whether swap accounting (`memory.memsw.*`) exists.
        memsw: bool,
    },
    /// The unified hierarchy (`lxc.cgroup2.*` keys).
    V2,
}

impl CgroupVersion {
    /// What this host has.
    pub fn detect() -> CgroupVersion {
        if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            CgroupVersion::V2
        } else {
            CgroupVersion::V1 {
                memsw: std::path::Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
                    .exists(),
            }
        }
    }
}

/// The lab's network as containers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetView {
    /// The Linux bridge standing for `vmbr0`.
    pub bridge: String,
    /// The bridge's address: the containers' gateway.
    pub gateway: Ipv4Addr,
    /// Its prefix length.
    pub prefix: u8,
    /// The package proxy (`http://GW:3142`).
    pub proxy: String,
}

/// One `netN` of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nic {
    /// N.
    pub index: u32,
    /// The name inside (`eth0`).
    pub name: String,
    /// MAC address.
    pub hwaddr: Option<String>,
    /// `dhcp`, `manual`, or an address with prefix.
    pub ip: Option<String>,
    /// Static gateway.
    pub gw: Option<String>,
    /// The bridge asked for (`vmbr0`).
    pub bridge: Option<String>,
}

/// The container's `netN` keys, in order.
pub fn nics(config: &BTreeMap<String, String>) -> Vec<Nic> {
    config
        .iter()
        .filter_map(|(key, value)| {
            let index: u32 = key.strip_prefix("net")?.parse().ok()?;
            let pairs = split_property_string(value, None).ok()?;
            let get = |k: &str| pairs.iter().find(|(pk, _)| pk == k).map(|(_, v)| v.clone());
            Some(Nic {
                index,
                name: get("name").unwrap_or_else(|| format!("eth{index}")),
                hwaddr: get("hwaddr"),
                ip: get("ip"),
                gw: get("gw"),
                bridge: get("bridge"),
            })
        })
        .collect()
}

fn number(config: &BTreeMap<String, String>, key: &str, default: u64) -> u64 {
    config
        .get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The hostname (PVE: `CT<vmid>` when unset).
pub fn hostname(vmid: u32, config: &BTreeMap<String, String>) -> String {
    config
        .get("hostname")
        .cloned()
        .unwrap_or_else(|| format!("CT{vmid}"))
}

/// Memory limit and memory+swap limit in bytes.
pub fn memory_limits(config: &BTreeMap<String, String>) -> (u64, u64) {
    let memory = number(config, "memory", 512) << 20;
    let swap = number(config, "swap", 512) << 20;
    (memory, memory + swap)
}

/// CFS quota per period of 100 ms: `cpulimit` when set (may be fractional), else `cores`.
pub fn cpu_quota_us(config: &BTreeMap<String, String>) -> u64 {
    let cores = number(config, "cores", 1) as f64;
    let limit = config
        .get("cpulimit")
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|l| *l > 0.0)
        .unwrap_or(cores);
    (limit * 100_000.0).round().max(1000.0) as u64
}

/// The cgroup settings (`key`, value) for the limits, as `lxc-cgroup` or the config file
/// names them (without the `lxc.cgroup[2].` prefix).
pub fn cgroup_limits(
    config: &BTreeMap<String, String>,
    version: CgroupVersion,
) -> Vec<(String, String)> {
    let (memory, memsw) = memory_limits(config);
    let quota = cpu_quota_us(config);
    match version {
        CgroupVersion::V1 { memsw: has_memsw } => {
            let mut out = vec![("memory.limit_in_bytes".to_owned(), memory.to_string())];
            if has_memsw {
                out.push(("memory.memsw.limit_in_bytes".to_owned(), memsw.to_string()));
            }
            out.push(("cpu.cfs_period_us".to_owned(), "100000".to_owned()));
            out.push(("cpu.cfs_quota_us".to_owned(), quota.to_string()));
            out
        }
        CgroupVersion::V2 => vec![
            ("memory.max".to_owned(), memory.to_string()),
            ("memory.swap.max".to_owned(), (memsw - memory).to_string()),
            ("cpu.max".to_owned(), format!("{quota} 100000")),
        ],
    }
}

/// Everything the LXC config file depends on besides the container's own keys.
#[derive(Debug, Clone)]
pub struct HostView<'a> {
    /// The lab's names.
    pub names: &'a Names,
    /// The lab's network.
    pub net: &'a NetView,
    /// `Some((first host id, count))` when unprivileged containers can be mapped.
    pub idmap: Option<(u32, u32)>,
    /// The host's cgroup layout.
    pub cgroup: CgroupVersion,
}

/// Whether the container's config asks for an unprivileged container.
pub fn unprivileged(config: &BTreeMap<String, String>) -> bool {
    config.get("unprivileged").is_some_and(|v| v == "1")
}

/// The LXC config file of container `vmid`.
pub fn lxc_config(vmid: u32, config: &BTreeMap<String, String>, host: &HostView<'_>) -> String {
    let mut out = String::new();
    let mut line = |key: &str, value: &str| {
        let _ = writeln!(out, "{key} = {value}");
    };
    line("lxc.uts.name", &hostname(vmid, config));
    line("lxc.arch", "amd64");
    line("lxc.include", "/usr/share/lxc/config/common.conf");
    if let (true, Some((first, count))) = (unprivileged(config), host.idmap) {
        line("lxc.include", "/usr/share/lxc/config/userns.conf");
        line("lxc.idmap", &format!("u 0 {first} {count}"));
        line("lxc.idmap", &format!("g 0 {first} {count}"));
    }
    // userns.conf's writable /sys keeps udev-less networkd waiting forever: PVE's mounts.
    line("lxc.mount.auto", "");
    line("lxc.mount.auto", "proc:mixed sys:mixed cgroup:mixed");
    line("lxc.apparmor.profile", "unconfined");
    // systemd powers off on SIGRTMIN+4 (LXC's default, SIGPWR, does nothing in Debian).
    line("lxc.signal.halt", "SIGRTMIN+4");
    line("lxc.tty.max", "2");
    line(
        "lxc.rootfs.path",
        &format!("dir:{}", host.names.rootfs(vmid).display()),
    );
    let prefix = match host.cgroup {
        CgroupVersion::V1 { .. } => "lxc.cgroup",
        CgroupVersion::V2 => "lxc.cgroup2",
    };
    for (key, value) in cgroup_limits(config, host.cgroup) {
        line(&format!("{prefix}.{key}"), &value);
    }
    for nic in nics(config) {
        let n = nic.index;
        line(&format!("lxc.net.{n}.type"), "veth");
        line(&format!("lxc.net.{n}.link"), &host.net.bridge);
        line(&format!("lxc.net.{n}.flags"), "up");
        line(&format!("lxc.net.{n}.name"), &nic.name);
        line(&format!("lxc.net.{n}.veth.pair"), &host.names.veth(vmid, n));
        if let Some(mac) = &nic.hwaddr {
            line(&format!("lxc.net.{n}.hwaddr"), &mac.to_ascii_lowercase());
        }
    }
    out
}

/// systemd-networkd's file for one interface (PVE writes the container's network
/// configuration at each start): DHCP, a static address with its gateway, or nothing.
pub fn networkd_file(nic: &Nic) -> String {
    let mut out = format!("[Match]\nName={}\n\n[Network]\n", nic.name);
    match nic.ip.as_deref() {
        Some("dhcp") => out.push_str("DHCP=ipv4\n"),
        Some("manual") | None => {}
        Some(address) => {
            let _ = writeln!(out, "Address={address}");
            if let Some(gw) = &nic.gw {
                let _ = writeln!(out, "Gateway={gw}");
            }
        }
    }
    out
}

/// `/etc/hosts` for `hostname`.
pub fn hosts_file(hostname: &str) -> String {
    let short = hostname.split('.').next().unwrap_or(hostname);
    format!(
        "127.0.0.1\tlocalhost\n127.0.1.1\t{hostname} {short}\n\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    )
}

/// apt's proxy setting (the lab's package proxy).
pub fn apt_proxy_file(proxy: &str) -> String {
    format!(
        "// Written by the Kiln lab at each start: packages come through the lab's proxy.\n\
         Acquire::http::Proxy \"{proxy}\";\nAcquire::https::Proxy \"DIRECT\";\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_lxc_config_carries_limits_network_and_mapping() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let names = Names::for_data_dir(dir.path())?;
        let net = NetView {
            bridge: names.bridge.clone(),
            gateway: Ipv4Addr::new(10, 99, 3, 1),
            prefix: 24,
            proxy: "http://10.99.3.1:3142".into(),
        };
        let cfg = config(&[
            ("hostname", "web"),
            ("memory", "256"),
            ("swap", "0"),
            ("cores", "2"),
            ("unprivileged", "1"),
            (
                "net0",
                "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:AA:BB:CC,ip=dhcp,type=veth",
            ),
        ]);
        let host = HostView {
            names: &names,
            net: &net,
            idmap: Some((100_000, 65_536)),
            cgroup: CgroupVersion::V1 { memsw: true },
        };
        let text = lxc_config(101, &cfg, &host);
        assert!(text.contains("lxc.uts.name = web\n"));
        assert!(text.contains("lxc.cgroup.memory.limit_in_bytes = 268435456\n"));
        assert!(text.contains("lxc.cgroup.memory.memsw.limit_in_bytes = 268435456\n"));
        assert!(text.contains("lxc.cgroup.cpu.cfs_quota_us = 200000\n"));
        assert!(text.contains("lxc.idmap = u 0 100000 65536\n"));
        assert!(text.contains(&format!("lxc.net.0.link = {}\n", names.bridge)));
        assert!(text.contains("lxc.net.0.hwaddr = bc:24:11:aa:bb:cc\n"));
        assert!(text.contains(&format!("lxc.net.0.veth.pair = {}\n", names.veth(101, 0))));
        let privileged = lxc_config(101, &config(&[("hostname", "web")]), &host);
        assert!(!privileged.contains("lxc.idmap"));
        Ok(())
    }

    #[test]
    fn networkd_files_follow_ip_settings() {
        let mut nic = Nic {
            index: 0,
            name: "eth0".into(),
            hwaddr: None,
            ip: Some("dhcp".into()),
            gw: None,
            bridge: None,
        };
        assert!(networkd_file(&nic).contains("DHCP=ipv4"));
        nic.ip = Some("10.99.3.50/24".into());
        nic.gw = Some("10.99.3.1".into());
        let text = networkd_file(&nic);
        assert!(text.contains("Address=10.99.3.50/24\nGateway=10.99.3.1\n"));
        assert_eq!(
            cpu_quota_us(&config(&[("cores", "4"), ("cpulimit", "1.5")])),
            150_000
        );
    }
}
