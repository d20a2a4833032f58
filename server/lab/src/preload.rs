//! `kiln lab --preload N`: a lab that starts with N containers, as a busy node would have —
//! written straight into the state (no tasks), for benchmarks and demos with the scratch
//! runtime. Everything about them derives from `--seed`: ids from 100 up, hostnames
//! (`ct-<vmid>` or readable ones such as `web-prod-3`), about two thirds running (started
//! some minutes to weeks ago: the scratch runtime simulates their figures from that),
//! operating system, sizes, tags on some, the cluster member each lives on.
//!
//! Once written they are ordinary containers: listed, started, stopped, destroyed like any
//! other. A lab whose state already has containers is left as it is (a restart preloads
//! nothing twice).

use std::collections::BTreeMap;

use super::rng::Rng;
use super::runtime::TEMPLATES;
use super::state::{Container, State};

/// What a lab's first VMID is (as PVE's `/cluster/nextid` starts).
pub const FIRST_VMID: u32 = 100;

/// Readable host name stems (role) and the environments they run in.
const ROLES: &[&str] = &[
    "web",
    "api",
    "db",
    "cache",
    "proxy",
    "worker",
    "git",
    "ci-runner",
    "grafana",
    "dns",
    "mail",
    "backup",
    "vpn",
    "wiki",
    "minio",
    "mqtt",
];
const ENVS: &[&str] = &["prod", "staging", "dev", "lab"];
/// Tags PVE users put on containers.
const TAGS: &[&str] = &[
    "prod",
    "staging",
    "dev",
    "web",
    "db",
    "monitoring",
    "backup",
    "team-a",
    "team-b",
    "legacy",
];
const MEMORY_MIB: &[u32] = &[256, 512, 512, 1024, 1024, 2048, 4096, 8192];
const SWAP_MIB: &[u32] = &[0, 256, 512, 512];
const CORES: &[u32] = &[1, 1, 1, 2, 2, 4, 8];
const DISK_GIB: &[u32] = &[4, 8, 8, 16, 32, 64];

/// Writes `count` containers into `state` when it has none (else does nothing); returns how
/// many it wrote. `nodes` are the cluster's members, `now` the current Unix time.
pub fn preload(state: &mut State, nodes: &[String], seed: u64, count: u32, now: i64) -> u32 {
    if count == 0 || !state.containers.is_empty() || nodes.is_empty() {
        return 0;
    }
    let mut rng = Rng::new(seed ^ 0x9E7_0AD);
    let mut names: BTreeMap<String, u32> = BTreeMap::new();
    let mut written = 0;
    for vmid in (FIRST_VMID..).take(count as usize) {
        let ct = container(&mut rng, seed, vmid, nodes, &mut names, now);
        state.containers.insert(vmid, ct);
        written += 1;
    }
    written
}

/// One of `items`, drawn from `rng` (`items` is never empty here).
fn pick<'a, T>(rng: &mut Rng, items: &'a [T]) -> &'a T {
    let i = (rng.next_u64() % items.len() as u64) as usize;
    &items[i]
}

fn container(
    rng: &mut Rng,
    seed: u64,
    vmid: u32,
    nodes: &[String],
    names: &mut BTreeMap<String, u32>,
    now: i64,
) -> Container {
    let node = pick(rng, nodes).clone();
    let hostname = if rng.next_f64() < 0.4 {
        format!("ct-{vmid}")
    } else {
        let stem = format!("{}-{}", pick(rng, ROLES), pick(rng, ENVS));
        let n = names.entry(stem.clone()).or_insert(0);
        *n += 1;
        format!("{stem}-{n}")
    };
    // Operating systems as they are spread on a typical node: mostly Debian.
    let os = match rng.next_f64() {
        x if x < 0.6 => 1,
        x if x < 0.85 => 2,
        _ => 0,
    };
    let ostype = TEMPLATES.get(os).map_or("debian", |(_, ostype, _)| *ostype);
    let storage = if rng.next_f64() < 0.8 {
        "local-lvm"
    } else {
        "local"
    };
    let mut config = BTreeMap::from([
        ("arch".to_owned(), "amd64".to_owned()),
        ("ostype".to_owned(), ostype.to_owned()),
        ("hostname".to_owned(), hostname),
        ("memory".to_owned(), pick(rng, MEMORY_MIB).to_string()),
        ("swap".to_owned(), pick(rng, SWAP_MIB).to_string()),
        ("cores".to_owned(), pick(rng, CORES).to_string()),
        (
            "rootfs".to_owned(),
            format!("{storage}:vm-{vmid}-disk-0,size={}G", pick(rng, DISK_GIB)),
        ),
        (
            "net0".to_owned(),
            format!(
                "name=eth0,bridge=vmbr0,hwaddr={},ip=dhcp,type=veth",
                super::api::mac(seed, vmid, 0)
            ),
        ),
    ]);
    let unprivileged = rng.next_f64() < 0.85;
    config.insert("unprivileged".into(), u8::from(unprivileged).to_string());
    if unprivileged && rng.next_f64() < 0.5 {
        config.insert("features".into(), "nesting=1".into());
    }
    if rng.next_f64() < 0.3 {
        config.insert("onboot".into(), "1".into());
    }
    if rng.next_f64() < 0.45 {
        let first = (rng.next_u64() % TAGS.len() as u64) as usize;
        let many = 1 + (rng.next_u64() % 3) as usize;
        let mut tags: Vec<&str> = (0..many)
            .map(|k| TAGS[(first + k * 3) % TAGS.len()])
            .collect();
        tags.sort_unstable();
        tags.dedup();
        config.insert("tags".into(), tags.join(";"));
    }
    let running = rng.next_f64() < 2.0 / 3.0;
    // Up for 5 minutes to about 6 weeks, most for days (log-uniform).
    let uptime = (300.0 * (4_000_000.0_f64 / 300.0).powf(rng.next_f64())) as i64;
    Container {
        vmid,
        node,
        status: if running { "running" } else { "stopped" }.to_owned(),
        config,
        started_at: running.then_some(now - uptime),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: u32) -> Vec<String> {
        (1..=n).map(|i| format!("pve{i}")).collect()
    }

    #[test]
    fn preloads_a_varied_deterministic_set_once() {
        let mut state = State::default();
        assert_eq!(preload(&mut state, &nodes(3), 7, 300, 1_000_000_000), 300);
        let cts: Vec<&Container> = state.containers.values().collect();
        assert_eq!(cts.first().map(|c| c.vmid), Some(100));
        assert_eq!(cts.last().map(|c| c.vmid), Some(399));
        let running = cts.iter().filter(|c| c.running()).count();
        assert!(
            (170..=230).contains(&running),
            "about 2/3 running: {running}"
        );
        assert!(
            cts.iter()
                .all(|c| c.running() == c.started_at.is_some_and(|t| t < 1_000_000_000))
        );
        for node in nodes(3) {
            assert!(cts.iter().filter(|c| c.node == node).count() > 50, "{node}");
        }
        let tagged = cts.iter().filter(|c| c.config.contains_key("tags")).count();
        assert!((60..=220).contains(&tagged), "tags on some: {tagged}");
        let named = |prefix: &str| {
            cts.iter()
                .filter(|c| c.config["hostname"].starts_with(prefix))
                .count()
        };
        assert!(named("ct-") > 50 && named("ct-") < 250);
        let hostnames: std::collections::BTreeSet<&String> =
            cts.iter().map(|c| &c.config["hostname"]).collect();
        assert_eq!(hostnames.len(), 300, "host names are unique");

        // The same seed gives the same containers; another seed others.
        let mut again = State::default();
        preload(&mut again, &nodes(3), 7, 300, 1_000_000_000);
        let same = |a: &State, b: &State| {
            a.containers
                .values()
                .zip(b.containers.values())
                .all(|(x, y)| {
                    (x.vmid, &x.node, &x.status, &x.config)
                        == (y.vmid, &y.node, &y.status, &y.config)
                })
        };
        assert!(same(&state, &again));
        let mut other = State::default();
        preload(&mut other, &nodes(3), 8, 300, 1_000_000_000);
        assert!(!same(&state, &other));

        // A state with containers is left alone.
        assert_eq!(preload(&mut state, &nodes(3), 9, 10, 1_000_000_000), 0);
        assert_eq!(state.containers.len(), 300);
    }
}
