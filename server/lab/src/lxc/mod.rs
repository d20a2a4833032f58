//! The LXC runtime: the lab's containers are real LXC containers on this machine, driven
//! with the `lxc-*` tools (through [`cmd`]: argument lists, `tokio::process`).
//!
//! - `names` — everything the runtime names on the host (from the data directory).
//! - `image` — OS template images (`kiln lab image build`), unpacking into a root fs.
//! - `net` — the bridge standing for `vmbr0`, DHCP (dnsmasq), the package proxy.
//! - `config` — PVE keys → LXC config file and the files written inside at each start.
//! - `cgroup` — live figures from the container's cgroups and its root fs.
//! - `shell` — `pct exec|push|pull` through `lxc-attach` (the `kiln lab pct` side).
//! - `probe` — can this machine run it, and can it map ids for unprivileged containers?
//!
//! Architecture Invariant: the runtime only acts on containers in its own `lxcpath`
//! (`<data dir>/lxc`) and on host objects [`names::Names`] names; files it writes into a
//! container's root file system go through `nofollow` (never through a link the container
//! made).

pub mod cgroup;
pub mod cmd;
pub mod config;
pub mod image;
pub mod names;
pub mod net;
pub mod probe;
pub mod shell;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use async_trait::async_trait;

use self::cgroup::Cgroups;
use self::config::{CgroupVersion, HostView, NetView};
use self::names::Names;
use self::net::Network;
use super::runtime::{
    ContainerRuntime, CreateSpec, Interface, RuntimeKind, Shutdown, TEMPLATES, TemplateVolume,
    Usage,
};
use super::state::Container;
use super::tasks::TaskLog;

/// What the runtime remembers of a running container (not persisted: rebuilt on demand).
#[derive(Debug, Clone)]
struct Live {
    /// Its init's pid.
    pid: u32,
    /// Its cgroups.
    cgroups: Cgroups,
    /// The last CPU reading (when, ns used), for the rate.
    last_cpu: Option<(Instant, u64)>,
    /// The last CPU share computed.
    cpu: f64,
    /// Root file system use, refreshed by [`LxcRuntime::refresh_disk`].
    disk: u64,
    /// Cores it may use.
    cores: f64,
}

/// Real LXC containers.
#[derive(Debug)]
pub struct LxcRuntime {
    names: Names,
    net: NetView,
    network: tokio::sync::Mutex<Option<Network>>,
    idmap: Option<(u32, u32)>,
    cgroup: CgroupVersion,
    live: Mutex<HashMap<u32, Live>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl LxcRuntime {
    /// Starts the runtime for the lab in `data_dir`: cleans up what a previous run left
    /// (containers still running, children, the bridge), then brings the network up.
    pub async fn start(data_dir: &std::path::Path) -> anyhow::Result<LxcRuntime> {
        probe::usable().map_err(|reason| anyhow::anyhow!(reason))?;
        let names = Names::for_data_dir(data_dir)?;
        make_traversable(&names.data_dir)?;
        std::fs::create_dir_all(&names.lxcpath)?;
        set_mode(&names.lxcpath, 0o711)?;
        stop_leftovers(&names).await;
        net::recover(&names).await;
        let archive = image::debian_archive()?;
        let network = Network::up(&names, &archive).await?;
        let net = NetView {
            bridge: network.bridge.clone(),
            gateway: network.gateway,
            prefix: network.prefix,
            proxy: network.proxy.clone(),
        };
        let idmap = match probe::idmap() {
            Ok(map) => Some(map),
            Err(reason) => {
                tracing::warn!(%reason, "unprivileged containers will run privileged");
                None
            }
        };
        Ok(LxcRuntime {
            names,
            net,
            network: tokio::sync::Mutex::new(Some(network)),
            idmap,
            cgroup: CgroupVersion::detect(),
            live: Mutex::new(HashMap::new()),
        })
    }

    /// The names of this lab's host objects.
    pub fn names(&self) -> &Names {
        &self.names
    }

    fn host(&self) -> HostView<'_> {
        HostView {
            names: &self.names,
            net: &self.net,
            idmap: self.idmap,
            cgroup: self.cgroup,
        }
    }

    /// `-n NAME -P LXCPATH`.
    fn target(&self, vmid: u32) -> Vec<String> {
        vec![
            "-n".to_owned(),
            self.names.container(vmid),
            "-P".to_owned(),
            self.names.lxcpath.display().to_string(),
        ]
    }

    /// The id the container's root has on the host (0 for privileged ones).
    fn root_owner(
        &self,
        config: &std::collections::BTreeMap<String, String>,
    ) -> Option<(u32, u32)> {
        match (config::unprivileged(config), self.idmap) {
            (true, Some((first, _))) => Some((first, first)),
            _ => None,
        }
    }

    /// LXC's state of the container: `RUNNING`, `STOPPED`, ... (`None`: unknown to LXC).
    async fn lxc_state(&self, vmid: u32) -> Option<String> {
        let mut args = self.target(vmid);
        args.extend(["-s".to_owned(), "-H".to_owned()]);
        let out = cmd::run("lxc-info", &args).await.ok()?;
        Some(String::from_utf8_lossy(&out).trim().to_owned())
    }

    async fn init_pid(&self, vmid: u32) -> Option<u32> {
        let mut args = self.target(vmid);
        args.extend(["-p".to_owned(), "-H".to_owned()]);
        let out = cmd::run("lxc-info", &args).await.ok()?;
        String::from_utf8_lossy(&out).trim().parse().ok()
    }

    /// Writes what PVE writes into a container before it starts: hostname, hosts, the
    /// network configuration and the lab's apt proxy.
    fn write_inside(&self, ct: &Container) -> Result<(), String> {
        let rootfs = self.names.rootfs(ct.vmid);
        let root = super::nofollow::open_root(&rootfs)
            .map_err(|e| format!("cannot open {}: {}", rootfs.display(), e.desc()))?;
        let owner = self.root_owner(&ct.config);
        let hostname = config::hostname(ct.vmid, &ct.config);
        let mut files = vec![
            ("etc/hostname".to_owned(), format!("{hostname}\n")),
            ("etc/hosts".to_owned(), config::hosts_file(&hostname)),
            (
                "etc/apt/apt.conf.d/01kiln-lab-proxy".to_owned(),
                config::apt_proxy_file(&self.net.proxy),
            ),
        ];
        for nic in config::nics(&ct.config) {
            files.push((
                format!("etc/systemd/network/{}.network", nic.name),
                config::networkd_file(&nic),
            ));
        }
        for (path, content) in files {
            super::nofollow::replace_file(&root, &path, content.as_bytes(), 0o644, owner)
                .map_err(|e| format!("cannot write /{path} in CT {}: {}", ct.vmid, e.desc()))?;
        }
        Ok(())
    }

    /// Remembers a container that just started.
    async fn track(&self, ct: &Container) {
        let Some(pid) = self.init_pid(ct.vmid).await else {
            return;
        };
        let cgroups = Cgroups::of(pid, &self.names.container(ct.vmid));
        let cores = config::cpu_quota_us(&ct.config) as f64 / 100_000.0;
        let disk = lock(&self.live)
            .get(&ct.vmid)
            .map(|l| l.disk)
            .unwrap_or_default();
        lock(&self.live).insert(
            ct.vmid,
            Live {
                pid,
                cgroups,
                last_cpu: None,
                cpu: 0.0,
                disk,
                cores,
            },
        );
    }

    /// Measures the root file system use of the running containers (a tree walk: called
    /// from the lab's sampler, off the request path).
    pub async fn refresh_disk(&self) {
        let vmids: Vec<u32> = lock(&self.live).keys().copied().collect();
        for vmid in vmids {
            let root = self.names.rootfs(vmid);
            let used = tokio::task::spawn_blocking(move || cgroup::disk_usage(&root))
                .await
                .unwrap_or(0);
            if let Some(live) = lock(&self.live).get_mut(&vmid) {
                live.disk = used;
            }
        }
    }

    /// Sets the root password and SSH keys of a new container, as PVE does at create: the
    /// keys written through `nofollow` (the root fs is fresh, but the rule holds), the
    /// password by the image's own `chpasswd` in a chroot — inside the id mapping for an
    /// unprivileged container. The password travels on stdin, never in an argument.
    async fn set_access(
        &self,
        spec: &CreateSpec,
        idmap: Option<(u32, u32)>,
        log: &TaskLog,
    ) -> Result<(), String> {
        let rootfs = self.names.rootfs(spec.vmid);
        let owner = idmap.map(|(first, _)| (first, first));
        if let Some(keys) = &spec.access.ssh_public_keys {
            let root = super::nofollow::open_root(&rootfs)
                .map_err(|e| format!("cannot open {}: {}", rootfs.display(), e.desc()))?;
            let text = format!("{}\n", keys.trim_end());
            super::nofollow::replace_file(
                &root,
                "root/.ssh/authorized_keys",
                text.as_bytes(),
                0o600,
                owner,
            )
            .map_err(|e| format!("cannot write root's SSH keys: {}", e.desc()))?;
            log.line("wrote root's authorized SSH keys");
        }
        if let Some(password) = &spec.access.password {
            let mut cmd = match idmap {
                Some((first, count)) => {
                    let mut c = tokio::process::Command::new("lxc-usernsexec");
                    c.args(["-m", &format!("b:0:{first}:{count}"), "--", "chroot"]);
                    c
                }
                None => tokio::process::Command::new("chroot"),
            };
            cmd.arg(&rootfs).arg("chpasswd");
            cmd::with_input(cmd, "chpasswd", format!("root:{password}\n").as_bytes())
                .await
                .map_err(|e| format!("setting root's password failed: {e}"))?;
            log.line("set root's password");
        }
        Ok(())
    }

    async fn kill(&self, vmid: u32) -> Result<(), String> {
        let mut args = self.target(vmid);
        args.push("-k".to_owned());
        cmd::run("lxc-stop", &args).await.map(|_| ())
    }
}

/// Gives a directory the search bit for others (only that): unprivileged containers' ids
/// and the proxy's user must reach their files below it.
fn make_traversable(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir)?.permissions().mode();
    if mode & 0o001 == 0 {
        set_mode(dir, (mode & 0o7777) | 0o001)?;
    }
    Ok(())
}

fn set_mode(path: &std::path::Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| anyhow::anyhow!("cannot set the mode of {}: {e}", path.display()))
}

/// Cleans up after a lab on `data_dir` that is not running: its containers left running,
/// its recorded children, its bridge and veths, LXC's lock directory for its lxcpath.
pub async fn cleanup(data_dir: &std::path::Path) -> anyhow::Result<()> {
    let names = Names::for_data_dir(data_dir)?;
    stop_leftovers(&names).await;
    net::recover(&names).await;
    remove_lock_dir(&names);
    Ok(())
}

/// LXC leaves its lock directory for an lxcpath behind.
fn remove_lock_dir(names: &Names) {
    let lock_dir = std::path::Path::new("/run/lxc/lock")
        .join(names.lxcpath.strip_prefix("/").unwrap_or(&names.lxcpath));
    let _ = std::fs::remove_dir_all(lock_dir);
}

/// Kills containers of this lab that a previous run left running (after `kill -9`).
async fn stop_leftovers(names: &Names) {
    let lxcpath = names.lxcpath.display().to_string();
    let Ok(out) = cmd::run("lxc-ls", ["-P", lxcpath.as_str(), "-1", "--running"]).await else {
        return;
    };
    for name in String::from_utf8_lossy(&out).split_whitespace() {
        if names.vmid_of(name).is_none() {
            continue;
        }
        tracing::info!(
            container = name,
            "stopping a container a previous run left running"
        );
        if let Err(e) = cmd::run("lxc-stop", ["-n", name, "-P", lxcpath.as_str(), "-k"]).await {
            tracing::warn!(container = name, error = %e, "leftover container not stopped");
        }
    }
}

#[async_trait]
impl ContainerRuntime for LxcRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Lxc
    }

    fn templates(&self) -> Vec<TemplateVolume> {
        TEMPLATES
            .iter()
            .map(|(file, ostype, size)| {
                let built = image::built(file);
                let real = built
                    .as_ref()
                    .and_then(|p| std::fs::metadata(p).ok())
                    .map(|m| m.len());
                TemplateVolume {
                    file: (*file).to_owned(),
                    ostype,
                    size: real.unwrap_or(*size),
                    usable: built.is_some(),
                }
            })
            .collect()
    }

    async fn create(&self, spec: &CreateSpec, log: &TaskLog) -> Result<(), String> {
        let file = spec
            .ostemplate
            .strip_prefix("local:vztmpl/")
            .unwrap_or(&spec.ostemplate);
        let image = image::built(file)
            .ok_or_else(|| format!("volume '{}' does not exist", spec.ostemplate))?;
        let dir = self.names.container_dir(spec.vmid);
        // A reused id starts from nothing (std's remove_dir_all never follows links).
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| format!("removing {}: {e}", dir.display()))?;
        }
        let rootfs = self.names.rootfs(spec.vmid);
        std::fs::create_dir_all(&rootfs)
            .map_err(|e| format!("creating {}: {e}", rootfs.display()))?;
        set_mode(&dir, 0o711).map_err(|e| e.to_string())?;
        let idmap = if config::unprivileged(&spec.config) {
            if self.idmap.is_none() {
                log.line(
                    "WARN: this host cannot map ids for unprivileged containers; the lab runs \
                     this one privileged",
                );
            }
            self.idmap
        } else {
            None
        };
        log.line(format!("extracting archive '{}'", image.display()));
        let started = Instant::now();
        let result = image::unpack(&image, &rootfs, idmap).await;
        if let Err(e) = result {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        let size = std::fs::metadata(&image).map(|m| m.len()).unwrap_or(0);
        log.line(format!(
            "Total bytes read: {size} ({} MiB, {:.1} s)",
            size >> 20,
            started.elapsed().as_secs_f64()
        ));
        log.line(format!(
            "Detected container architecture: amd64 ({})",
            rootfs.display()
        ));
        self.set_access(spec, idmap, log).await?;
        Ok(())
    }

    async fn start(&self, ct: &Container, log: &TaskLog) -> Result<(), String> {
        let dir = self.names.container_dir(ct.vmid);
        let text = config::lxc_config(ct.vmid, &ct.config, &self.host());
        std::fs::write(dir.join("config"), text)
            .map_err(|e| format!("writing the config of CT {}: {e}", ct.vmid))?;
        self.write_inside(ct)?;
        let logfile = dir.join("lxc-start.log");
        let _ = std::fs::remove_file(&logfile);
        let mut args = self.target(ct.vmid);
        args.extend([
            "-d".to_owned(),
            "-o".to_owned(),
            logfile.display().to_string(),
            "-l".to_owned(),
            "WARN".to_owned(),
        ]);
        if let Err(e) = cmd::run("lxc-start", &args).await {
            let tail = std::fs::read_to_string(&logfile).unwrap_or_default();
            let last: Vec<&str> = tail.lines().rev().take(3).collect();
            let detail = last.into_iter().rev().collect::<Vec<_>>().join(" / ");
            return Err(format!(
                "startup for container '{}' failed: {e} {detail}",
                ct.vmid
            ));
        }
        let mut wait = self.target(ct.vmid);
        wait.extend([
            "-s".to_owned(),
            "RUNNING".to_owned(),
            "-t".to_owned(),
            "10".to_owned(),
        ]);
        cmd::run("lxc-wait", &wait)
            .await
            .map_err(|e| format!("CT {} did not reach RUNNING: {e}", ct.vmid))?;
        self.track(ct).await;
        log.line(format!("CT {} started", ct.vmid));
        Ok(())
    }

    async fn stop(&self, vmid: u32, clean: Option<Shutdown>, log: &TaskLog) -> Result<(), String> {
        let result = match clean {
            None => self.kill(vmid).await,
            Some(shutdown) => {
                let mut args = self.target(vmid);
                args.extend(["-t".to_owned(), shutdown.timeout.max(1).to_string()]);
                if !shutdown.force {
                    args.push("--nokill".to_owned());
                }
                log.line(format!("shutting down CT {vmid} (asking its init)"));
                cmd::run("lxc-stop", &args).await.map(|_| ())
            }
        };
        if let Err(e) = result
            && self.lxc_state(vmid).await.as_deref() != Some("STOPPED")
        {
            return Err(match clean {
                Some(_) => format!("shutdown of CT {vmid} failed or timed out: {e}"),
                None => e,
            });
        }
        lock(&self.live).remove(&vmid);
        log.line(format!("CT {vmid} stopped"));
        Ok(())
    }

    async fn destroy(&self, vmid: u32, log: &TaskLog) -> Result<(), String> {
        if self.lxc_state(vmid).await.as_deref() == Some("RUNNING") {
            self.kill(vmid).await?;
        }
        lock(&self.live).remove(&vmid);
        let dir = self.names.container_dir(vmid);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| format!("removing {}: {e}", dir.display()))?;
        }
        log.line(format!("  Removed the root file system of CT {vmid}."));
        Ok(())
    }

    async fn apply(&self, ct: &Container, changed: &[String]) -> Result<(), String> {
        let limits = changed
            .iter()
            .any(|k| matches!(k.as_str(), "memory" | "swap" | "cores" | "cpulimit"));
        if limits {
            for (key, value) in config::cgroup_limits(&ct.config, self.cgroup) {
                let mut args = self.target(ct.vmid);
                args.extend([key.clone(), value]);
                // Lowering memory below memsw needs memsw first, raising it the other way
                // round: a second pass settles whichever failed.
                if cmd::run("lxc-cgroup", &args).await.is_err() {
                    continue;
                }
            }
            for (key, value) in config::cgroup_limits(&ct.config, self.cgroup) {
                let mut args = self.target(ct.vmid);
                args.extend([key, value]);
                cmd::run("lxc-cgroup", &args).await?;
            }
            if let Some(live) = lock(&self.live).get_mut(&ct.vmid) {
                live.cores = config::cpu_quota_us(&ct.config) as f64 / 100_000.0;
            }
        }
        if changed.iter().any(|k| k == "hostname") {
            self.write_inside(ct)?;
            let mut args = self.target(ct.vmid);
            args.extend([
                "--clear-env".to_owned(),
                "--".to_owned(),
                "hostname".to_owned(),
                config::hostname(ct.vmid, &ct.config),
            ]);
            cmd::run("lxc-attach", &args).await?;
        }
        Ok(())
    }

    fn usage(&self, ct: &Container) -> Option<Usage> {
        let mut live = lock(&self.live);
        let Some(entry) = live.get_mut(&ct.vmid) else {
            return Some(Usage::default());
        };
        let (mem, swap) = entry.cgroups.memory();
        let now = Instant::now();
        if let Some(used) = entry.cgroups.cpu_ns() {
            if let Some((then, before)) = entry.last_cpu {
                let wall = now.duration_since(then).as_nanos() as f64;
                if wall >= 1e9 {
                    let share = used.saturating_sub(before) as f64 / wall / entry.cores.max(0.01);
                    entry.cpu = share.clamp(0.0, 1.0);
                    entry.last_cpu = Some((now, used));
                }
            } else {
                entry.last_cpu = Some((now, used));
            }
        }
        let (mut netin, mut netout) = (0u64, 0u64);
        for nic in config::nics(&ct.config) {
            if let Some((host_rx, host_tx)) =
                net::veth_counters(&self.names.veth(ct.vmid, nic.index))
            {
                // What the host's end sends, the container receives.
                netin = netin.saturating_add(host_tx);
                netout = netout.saturating_add(host_rx);
            }
        }
        let (diskread, diskwrite) = entry.cgroups.io();
        Some(Usage {
            cpu: entry.cpu,
            mem,
            swap,
            disk: entry.disk,
            netin,
            netout,
            diskread,
            diskwrite,
            pid: Some(entry.pid),
        })
    }

    async fn interfaces(&self, ct: &Container) -> Option<Vec<Interface>> {
        let pid = lock(&self.live).get(&ct.vmid).map(|live| live.pid);
        let pid = match pid {
            Some(pid) => pid,
            None => self.init_pid(ct.vmid).await?,
        };
        // The host's `ip` in the container's network namespace: nothing of the container's
        // runs.
        let out = cmd::run(
            "nsenter",
            ["-t", &pid.to_string(), "-n", "ip", "-j", "addr", "show"],
        )
        .await
        .ok()?;
        Some(parse_ip_addr(&out))
    }

    async fn is_running(&self, vmid: u32) -> Option<bool> {
        let state = self.lxc_state(vmid).await?;
        let running = state == "RUNNING";
        if !running {
            lock(&self.live).remove(&vmid);
        }
        Some(running)
    }

    async fn refresh(&self) {
        self.refresh_disk().await;
    }

    fn bridge_cidr(&self) -> Option<(String, String)> {
        Some((
            format!("{}/{}", self.net.gateway, self.net.prefix),
            self.net.gateway.to_string(),
        ))
    }

    async fn shutdown(&self) {
        stop_leftovers(&self.names).await;
        lock(&self.live).clear();
        if let Some(mut network) = self.network.lock().await.take() {
            network.down().await;
        }
        // LXC leaves its lock directory for the lxcpath behind.
        let lock_dir = std::path::Path::new("/run/lxc/lock").join(
            self.names
                .lxcpath
                .strip_prefix("/")
                .unwrap_or(&self.names.lxcpath),
        );
        let _ = std::fs::remove_dir_all(lock_dir);
    }
}

/// `ip -j addr show` → interfaces with their first IPv4 and IPv6 address.
fn parse_ip_addr(json: &[u8]) -> Vec<Interface> {
    let Ok(serde_json::Value::Array(links)) = serde_json::from_slice::<serde_json::Value>(json)
    else {
        return Vec::new();
    };
    links
        .iter()
        .filter_map(|link| {
            let name = link.get("ifname")?.as_str()?.to_owned();
            let hwaddr = link
                .get("address")
                .and_then(|a| a.as_str())
                .unwrap_or("00:00:00:00:00:00")
                .to_ascii_lowercase();
            let addrs = link.get("addr_info").and_then(|a| a.as_array());
            let find = |family: &str| {
                addrs.into_iter().flatten().find_map(|a| {
                    (a.get("family")?.as_str()? == family).then(|| {
                        Some(format!(
                            "{}/{}",
                            a.get("local")?.as_str()?,
                            a.get("prefixlen")?.as_u64()?
                        ))
                    })?
                })
            };
            Some(Interface {
                inet: find("inet"),
                inet6: find("inet6"),
                name,
                hwaddr,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ip_json() {
        let json = br#"[{"ifindex":1,"ifname":"lo","address":"00:00:00:00:00:00","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8},{"family":"inet6","local":"::1","prefixlen":128}]},
            {"ifindex":2,"ifname":"eth0","address":"BC:24:11:00:00:01","addr_info":[{"family":"inet","local":"10.99.3.57","prefixlen":24}]}]"#;
        let list = parse_ip_addr(json);
        assert_eq!(list.len(), 2);
        assert_eq!(list[1].name, "eth0");
        assert_eq!(list[1].hwaddr, "bc:24:11:00:00:01");
        assert_eq!(list[1].inet.as_deref(), Some("10.99.3.57/24"));
        assert_eq!(list[0].inet6.as_deref(), Some("::1/128"));
    }
}
