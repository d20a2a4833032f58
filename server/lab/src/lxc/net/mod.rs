//! The lab's network: a real Linux bridge standing for the node's `vmbr0`, DHCP on it and a
//! package proxy on it, brought up by [`Network::up`] and torn down by [`Network::down`] (or,
//! after the lab was killed with `kill -9`, by [`recover`] at its next start).
//!
//! - Bridge `kb<tag>` ([`Names::bridge`]) with `.1` of a private `10.N.M.0/24` that clashes
//!   with no address or route of the host (`subnet`; the same /24 run after run while it stays
//!   free). Containers' veths are attached to it by LXC; no route, NAT or DNS leads outside:
//!   containers reach only the gateway.
//! - DHCP: `dnsmasq` on the bridge only (`dhcp`), `.10`–`.250`, router = gateway; leases in
//!   the run directory ([`Network::lease_of`]).
//! - Package proxy: `apt-cacher-ng` on `http://<gateway>:3142` (`proxy`), as its own user,
//!   fetching Debian from the archive the lab was given. Its cache is shared across labs and
//!   test runs (`$KILN_LAB_PROXY_CACHE`, default `/var/cache/kiln/apt-cacher-ng`) by one lab
//!   at a time; another lab running meanwhile gets a private, cold cache.
//! - Children (`children`): started without a shell, output in `<run dir>/<program>.log`,
//!   killed when the `Network` is dropped, recorded (pid + start time) in
//!   `<run dir>/net-children.json` for [`recover`].
//!
//! Permissions: the run directory (`<data dir>/lab-run`) is made `0711 root`, and the data
//! directory gets the "others may traverse" bit (o+x, nothing else: it may be a `0700`
//! temporary directory), because apt-cacher-ng's user and unprivileged containers must reach
//! paths below it; the data directory's own parents must be traversable too (a data directory
//! under `/root` is not).
//!
//! Architecture Invariant: everything this module creates, deletes or kills is named by the
//! lab's [`Names`] (its bridge, its veths, the children recorded in its run directory) or is
//! the shared proxy cache; nothing else on the host is touched. `down` deletes the lab's
//! veths too: stop the containers first.

mod dhcp;
mod link;
mod proxy;
mod subnet;

use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

pub use self::link::veth_counters;
use self::proxy::Cache;
use crate::children::{self, Child};
use crate::lxc::names::Names;

/// How long a child has to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// The lab's network while it runs.
pub struct Network {
    /// The bridge standing for `vmbr0` (`names.bridge`).
    pub bridge: String,
    /// The bridge's address: `.1` of the lab's /24, containers' router, DHCP server and proxy.
    pub gateway: Ipv4Addr,
    /// The subnet's prefix length (24).
    pub prefix: u8,
    /// The package proxy for containers' apt: `http://<gateway>:3142`.
    pub proxy: String,
    /// The lab's names (run directory, veth prefix).
    names: Names,
    /// dnsmasq and apt-cacher-ng, in start order (stopped in reverse).
    children: Vec<Child>,
    /// The proxy's cache (and the shared cache's lock while this lab holds it).
    cache: Option<Cache>,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("bridge", &self.bridge)
            .field("gateway", &self.gateway)
            .field("prefix", &self.prefix)
            .field("proxy", &self.proxy)
            .finish_non_exhaustive()
    }
}

impl Network {
    /// Brings the network up for the lab named by `names` (calls [`recover`] first): picks a
    /// private /24 that clashes with no address or route on the host, creates the bridge with
    /// the gateway `.1`, starts dnsmasq and apt-cacher-ng (whose Debian backend is `archive`,
    /// e.g. `http://deb.debian.org/debian`) and waits until both serve. On failure whatever
    /// was started is stopped again.
    pub async fn up(names: &Names, archive: &str) -> anyhow::Result<Network> {
        let started = Instant::now();
        anyhow::ensure!(
            nix::unistd::geteuid().is_root(),
            "the lab's network needs root (bridge, dnsmasq, apt-cacher-ng)"
        );
        let archive = archive.trim();
        anyhow::ensure!(
            (archive.starts_with("http://") || archive.starts_with("https://"))
                && !archive.contains(char::is_whitespace),
            "the package archive must be an http(s) URL, not {archive:?}"
        );
        recover(names).await;
        prepare_dirs(names)?;
        let subnet = subnet::choose(&names.tag).await?;
        let gateway = subnet::gateway(&subnet);
        let mut net = Network {
            bridge: names.bridge.clone(),
            gateway,
            prefix: subnet::PREFIX,
            proxy: format!("http://{gateway}:{}", proxy::PORT),
            names: names.clone(),
            children: Vec::new(),
            cache: None,
        };
        if let Err(e) = net.start(archive).await {
            net.down().await;
            return Err(e.context(format!("bringing up the lab's network on {}", net.bridge)));
        }
        tracing::info!(
            bridge = %net.bridge,
            subnet = %subnet,
            proxy = %net.proxy,
            duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "lab network up"
        );
        Ok(net)
    }

    /// The bridge, then dnsmasq, then apt-cacher-ng, each ready before the next.
    async fn start(&mut self, archive: &str) -> anyhow::Result<()> {
        link::create_bridge(&self.bridge, self.gateway, self.prefix)
            .await
            .with_context(|| format!("creating bridge {}", self.bridge))?;

        let pid_file = dhcp::pid_path(&self.names);
        let _ = std::fs::remove_file(&pid_file);
        let cmd = dhcp::command(&self.names, self.gateway);
        let log = self.names.run_dir.join("dnsmasq.log");
        let spawned = children::spawn("dnsmasq", cmd, &log)?;
        let dnsmasq = adopt(&mut self.children, &self.names.run_dir, spawned)?;
        children::wait_ready(dnsmasq, READY_TIMEOUT, |c| {
            dhcp::readiness(&pid_file, c.record.pid)
        })
        .await?;

        let user = proxy::account()?;
        let files = proxy::prepare(&self.names, archive, &user)?;
        let cache = self.cache.insert(proxy::take_cache(&self.names, &user)?);
        let cmd = proxy::command(&files, cache, self.gateway);
        let log = self.names.run_dir.join("apt-cacher-ng.log");
        let spawned = children::spawn("apt-cacher-ng", cmd, &log)?;
        let acng = adopt(&mut self.children, &self.names.run_dir, spawned)?;
        cache.claim(&acng.record)?;
        let gateway = self.gateway;
        children::wait_ready(acng, READY_TIMEOUT, |c| {
            proxy::readiness(c.record.pid, &c.log, gateway)
        })
        .await
    }

    /// Stops the children (SIGTERM, then SIGKILL after ~2 s), releases the shared cache,
    /// deletes the bridge and any of this lab's veths still present, removes the child record.
    /// Idempotent; failures are logged.
    pub async fn down(&mut self) {
        let started = Instant::now();
        while let Some(child) = self.children.pop() {
            children::stop(child).await;
        }
        self.cache = None;
        link::delete_all(&self.names).await;
        remove_record(&self.names);
        tracing::info!(
            bridge = %self.bridge,
            duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "lab network down"
        );
    }

    /// The address dnsmasq leased to `mac` (case-insensitive), from its lease file, if any.
    pub fn lease_of(&self, mac: &str) -> Option<Ipv4Addr> {
        let leases = std::fs::read_to_string(dhcp::leases_path(&self.names)).ok()?;
        dhcp::lease_in(&leases, mac)
    }

    /// Whether the proxy uses the shared package cache (else a private, cold one).
    pub fn shared_cache(&self) -> bool {
        self.cache.as_ref().is_some_and(Cache::is_shared)
    }
}

impl Drop for Network {
    /// The children die with their handles (SIGKILL); the bridge stays until the next
    /// [`recover`].
    fn drop(&mut self) {
        if !self.children.is_empty() {
            tracing::warn!(bridge = %self.bridge, "lab network dropped while up: its bridge stays until the lab's next start");
        }
    }
}

/// Keeps a started child and rewrites the record with it.
fn adopt<'a>(
    kept: &'a mut Vec<Child>,
    run_dir: &Path,
    child: Child,
) -> anyhow::Result<&'a mut Child> {
    kept.push(child);
    let records: Vec<_> = kept.iter().map(|c| c.record.clone()).collect();
    children::write_records(&record_path(run_dir), &records)?;
    kept.last_mut().context("no child kept")
}

/// Cleans up after a lab of these names that did not stop cleanly: kills recorded children
/// that are still the same processes (pid AND start time match — never a recycled pid),
/// deletes the bridge and this lab's veths, removes the record. Never touches anything not
/// named by `names`.
pub async fn recover(names: &Names) {
    let path = record_path(&names.run_dir);
    for record in children::read_records(&path) {
        if children::is_running(&record) {
            tracing::info!(
                program = %record.program,
                pid = record.pid,
                bridge = %names.bridge,
                "stopping a leftover of a lab that did not stop cleanly"
            );
            children::stop_recorded(&record).await;
        }
    }
    link::delete_all(names).await;
    remove_record(names);
}

/// The record of the network's children: `<run dir>/net-children.json`.
fn record_path(run_dir: &Path) -> std::path::PathBuf {
    run_dir.join("net-children.json")
}

fn remove_record(names: &Names) {
    let path = record_path(&names.run_dir);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove the child record");
        }
        _ => {}
    }
}

/// The run directory `0711 root`; the data directory traversable by others (o+x only).
fn prepare_dirs(names: &Names) -> anyhow::Result<()> {
    let data = &names.data_dir;
    let mode = std::fs::metadata(data)
        .with_context(|| format!("reading {}", data.display()))?
        .permissions()
        .mode();
    if mode & 0o001 == 0 {
        set_mode(data, (mode & 0o7777) | 0o001)?;
    }
    let run = &names.run_dir;
    std::fs::create_dir_all(run).with_context(|| format!("creating {}", run.display()))?;
    std::os::unix::fs::chown(run, Some(0), Some(0))
        .with_context(|| format!("giving {} to root", run.display()))?;
    set_mode(run, 0o711)
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting mode {mode:o} on {}", path.display()))
}
