//! Choosing the lab's private /24: candidates `10.N.M.0/24` (N 1..=254), walked from an
//! offset derived from the lab's tag (so a lab gets the same subnet run after run while
//! nothing else takes it), skipping any that overlaps an address or a route of the host
//! (`ip -j -4 addr show`, `ip -j -4 route show table all`: other labs' bridges included).
//! Two labs starting at the same instant pick the same /24 only if their tags lead to the
//! same candidate (1 in 65,024): not guarded against.

use std::net::Ipv4Addr;

use anyhow::Context;
use ipnet::Ipv4Net;
use serde::Deserialize;

use crate::lxc::cmd;

/// The prefix length of the lab's subnet.
pub(super) const PREFIX: u8 = 24;

/// How many candidates there are: 254 values of N times 256 of M.
const CANDIDATES: u32 = 254 * 256;

/// The first free candidate for the lab tagged `tag`, given what the host uses.
pub(super) async fn choose(tag: &str) -> anyhow::Result<Ipv4Net> {
    let addrs = ip_json(&["-j", "-4", "addr", "show"]).await?;
    let routes = ip_json(&["-j", "-4", "route", "show", "table", "all"]).await?;
    let used = in_use(&addrs, &routes)?;
    pick(tag, &used).context("no free 10.N.M.0/24 for the lab's bridge: every one clashes with an address or a route of this host")
}

async fn ip_json(args: &[&str]) -> anyhow::Result<Vec<u8>> {
    cmd::run("ip", args).await.map_err(anyhow::Error::msg)
}

/// `ip -j addr` output: interfaces with their addresses.
#[derive(Deserialize)]
struct Link {
    #[serde(default)]
    addr_info: Vec<AddrInfo>,
}

#[derive(Deserialize)]
struct AddrInfo {
    #[serde(default)]
    family: String,
    #[serde(default)]
    local: Option<String>,
    #[serde(default)]
    prefixlen: Option<u8>,
}

/// `ip -j route` output: one route (`dst` is `default`, an address or `address/len`).
#[derive(Deserialize)]
struct Route {
    #[serde(default)]
    dst: Option<String>,
}

/// The networks the host's IPv4 addresses and routes cover (the default route, which covers
/// everything, excluded).
pub(super) fn in_use(addrs_json: &[u8], routes_json: &[u8]) -> anyhow::Result<Vec<Ipv4Net>> {
    let links: Vec<Link> =
        serde_json::from_slice(addrs_json).context("reading `ip -j -4 addr show`")?;
    let routes: Vec<Route> =
        serde_json::from_slice(routes_json).context("reading `ip -j -4 route show table all`")?;
    let mut used = Vec::new();
    for info in links.iter().flat_map(|l| &l.addr_info) {
        if info.family != "inet" {
            continue;
        }
        let (Some(local), Some(len)) = (&info.local, info.prefixlen) else {
            continue;
        };
        if let Ok(addr) = local.parse::<Ipv4Addr>()
            && let Ok(net) = Ipv4Net::new(addr, len)
        {
            used.push(net.trunc());
        }
    }
    for dst in routes.iter().filter_map(|r| r.dst.as_deref()) {
        let net = if let Ok(net) = dst.parse::<Ipv4Net>() {
            net.trunc()
        } else if let Ok(addr) = dst.parse::<Ipv4Addr>() {
            Ipv4Net::from(addr)
        } else {
            continue; // "default", or something not IPv4
        };
        if net.prefix_len() > 0 {
            used.push(net);
        }
    }
    Ok(used)
}

/// The first candidate from the tag's offset on that overlaps nothing in `used`.
pub(super) fn pick(tag: &str, used: &[Ipv4Net]) -> Option<Ipv4Net> {
    let offset = u32::from_str_radix(tag, 16).unwrap_or(0) % CANDIDATES;
    (0..CANDIDATES)
        .map(|i| candidate((offset + i) % CANDIDATES))
        .find(|c| !used.iter().any(|u| overlaps(c, u)))
}

/// Candidate `index`: `10.(1 + index / 256).(index % 256).0/24`.
fn candidate(index: u32) -> Ipv4Net {
    let n = u8::try_from(1 + index / 256).unwrap_or(254);
    let m = u8::try_from(index % 256).unwrap_or(0);
    Ipv4Net::new(Ipv4Addr::new(10, n, m, 0), PREFIX).unwrap_or_default()
}

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The gateway of `net`: its first host address (`.1`).
pub(super) fn gateway(net: &Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADDRS: &str = r#"[{"ifindex":1,"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8}]},
        {"ifindex":4,"ifname":"eth0","addr_info":[{"family":"inet","local":"192.0.2.2","prefixlen":24}]},
        {"ifindex":9,"ifname":"kbabcde","addr_info":[{"family":"inet","local":"10.3.4.1","prefixlen":24}]}]"#;
    const ROUTES: &str = r#"[{"dst":"default","gateway":"192.0.2.1","dev":"eth0"},
        {"dst":"192.0.2.0/24","dev":"eth0"},{"dst":"10.8.0.0/16","dev":"tun0"},
        {"type":"local","dst":"127.0.0.1","dev":"lo","table":"local"}]"#;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap_or_default()
    }

    #[test]
    fn reads_addresses_and_routes_but_not_the_default_route() -> anyhow::Result<()> {
        let used = in_use(ADDRS.as_bytes(), ROUTES.as_bytes())?;
        for n in [
            "127.0.0.0/8",
            "192.0.2.0/24",
            "10.3.4.0/24",
            "10.8.0.0/16",
            "127.0.0.1/32",
        ] {
            assert!(used.contains(&net(n)), "{n} in {used:?}");
        }
        assert!(!used.iter().any(|n| n.prefix_len() == 0));
        Ok(())
    }

    #[test]
    fn picks_from_the_tag_offset_and_skips_clashes() -> anyhow::Result<()> {
        let used = in_use(ADDRS.as_bytes(), ROUTES.as_bytes())?;
        // Tag 0x00203 → index 515 → 10.3.3.0/24, free.
        assert_eq!(pick("00203", &used), Some(net("10.3.3.0/24")));
        // 0x00204 → 10.3.4.0/24: another lab's bridge → the next one.
        assert_eq!(pick("00204", &used), Some(net("10.3.5.0/24")));
        // 10.8.0.0/16 is routed elsewhere: the whole 10.8.x range is skipped.
        assert_eq!(
            pick(&format!("{:05x}", 7 * 256), &used),
            Some(net("10.9.0.0/24"))
        );
        // Wraps around at the end.
        assert_eq!(
            pick(&format!("{:05x}", CANDIDATES - 1), &[]),
            Some(net("10.254.255.0/24"))
        );
        assert_eq!(
            pick(&format!("{:05x}", CANDIDATES), &[]),
            Some(net("10.1.0.0/24"))
        );
        // A host that routes all of 10/8 elsewhere leaves nothing.
        assert_eq!(pick("00000", &[net("10.0.0.0/8")]), None);
        assert_eq!(gateway(&net("10.3.3.0/24")), Ipv4Addr::new(10, 3, 3, 1));
        Ok(())
    }
}
