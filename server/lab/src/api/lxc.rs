//! Containers: list, create, destroy, config (with `digest`), status, and the power actions —
//! with PVE's rules (locks, running/stopped, template and storage checks). Long operations
//! are tasks ([`super::super::tasks`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::super::core::{Lab, now};
use super::super::formats::{disk_size, split_property_string};
use super::super::reply::{ApiError, ApiResult, ok};
use super::super::rng;
use super::super::runtime::{Access, CreateSpec, Usage};
use super::super::state::Container;
use super::super::tasks::{self, TaskLog, TaskSpec, Work};
use super::Call;
use super::cluster::POOLS;
use super::node::STORAGES;

/// The container `vmid` on the call's node, or PVE's "does not exist" error.
pub fn find(c: &Call) -> Result<Container, ApiError> {
    let (node, vmid) = (c.node(), c.vmid());
    c.lab
        .read(|s| {
            s.containers
                .get(&vmid)
                .filter(|ct| ct.node == node)
                .cloned()
        })
        .ok_or_else(|| {
            ApiError::fail(format!(
                "Configuration file 'nodes/{node}/lxc/{vmid}.conf' does not exist"
            ))
        })
}

pub(super) fn check_lock(ct: &Container) -> Result<(), ApiError> {
    match ct.lock() {
        Some(lock) => Err(ApiError::fail(format!("CT is locked ({lock})"))),
        None => Ok(()),
    }
}

pub(super) fn require(c: &Call, path: &str, privilege: &str) -> Result<(), ApiError> {
    c.lab.read(|s| c.who.require(&s.acl, path, privilege))
}

/// The deterministic DHCP address of a container's `index`th interface: `10.77.x.y/24`.
pub fn dhcp_ip(seed: u64, vmid: u32, index: u32) -> String {
    let h = rng::hash(seed, &[u64::from(vmid), u64::from(index), 0xD4C9]);
    format!("10.77.{}.{}/16", h % 256, 2 + (h >> 8) % 252)
}

/// A deterministic unicast MAC with Proxmox's prefix.
pub(crate) fn mac(seed: u64, vmid: u32, index: u32) -> String {
    let h = rng::hash(seed, &[u64::from(vmid), u64::from(index), 0x3AC]);
    format!(
        "BC:24:11:{:02X}:{:02X}:{:02X}",
        h & 0xFF,
        (h >> 8) & 0xFF,
        (h >> 16) & 0xFF
    )
}

/// Memory, swap and disk limits in bytes, and cores.
pub fn limits(ct: &Container) -> (u64, u64, u64, u64) {
    let num = |k: &str, d: u64| ct.config.get(k).and_then(|v| v.parse().ok()).unwrap_or(d);
    let disk = ct
        .config
        .get("rootfs")
        .and_then(|r| split_property_string(r, Some("volume")).ok())
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "size"))
        .and_then(|(_, v)| disk_size(&v))
        .unwrap_or(4 << 30);
    (
        num("memory", 512) << 20,
        num("swap", 512) << 20,
        disk,
        num("cores", 1),
    )
}

/// The list/status summary of a container (usage fields are 0 while stopped).
pub fn summary(lab: &Lab, ct: &Container) -> Value {
    let (maxmem, maxswap, maxdisk, cores) = limits(ct);
    let uptime = ct
        .started_at
        .filter(|_| ct.running())
        .map(|t| (now() - t).max(0))
        .unwrap_or(0);
    let running = ct.running();
    let usage = if running {
        lab.runtime
            .usage(ct)
            .unwrap_or_else(|| simulated_usage(lab.seed, ct, uptime))
    } else {
        Usage::default()
    };
    let mut v = json!({
        "vmid": ct.vmid,
        "name": ct.config.get("hostname").cloned().unwrap_or_else(|| format!("CT{}", ct.vmid)),
        "status": ct.status,
        "type": "lxc",
        "template": 0,
        "cpus": cores,
        "maxmem": maxmem,
        "maxswap": maxswap,
        "maxdisk": maxdisk,
        "uptime": uptime,
        "cpu": usage.cpu,
        "mem": usage.mem,
        "swap": usage.swap,
        "disk": usage.disk,
        "netin": usage.netin,
        "netout": usage.netout,
        "diskread": usage.diskread,
        "diskwrite": usage.diskwrite,
    });
    if let (Some(map), Some(pid)) = (v.as_object_mut(), usage.pid) {
        map.insert("pid".into(), pid.into());
    }
    if let Some(map) = v.as_object_mut() {
        if let Some(tags) = ct.config.get("tags") {
            map.insert("tags".into(), tags.clone().into());
        }
        if let Some(lock) = ct.lock() {
            map.insert("lock".into(), lock.into());
        }
    }
    v
}

/// The simulated runtime's figures: a load drawn from the seed per minute.
fn simulated_usage(seed: u64, ct: &Container, uptime: i64) -> Usage {
    let (maxmem, _, maxdisk, _) = limits(ct);
    let load = rng::unit(seed, &[u64::from(ct.vmid), (now() / 60) as u64]);
    let up = uptime as f64;
    Usage {
        cpu: 0.01 + 0.2 * load,
        mem: (maxmem as f64 * (0.15 + 0.3 * load)) as u64,
        swap: 0,
        disk: (maxdisk as f64 * 0.12) as u64,
        netin: (up * 1500.0) as u64,
        netout: (up * 700.0) as u64,
        diskread: (50e6 + up * 100.0) as u64,
        diskwrite: (20e6 + up * 300.0) as u64,
        pid: Some(10_000 + ct.vmid),
    }
}

/// `GET /nodes/{node}/lxc`.
pub fn list(c: &Call) -> ApiResult {
    let node = c.node().to_owned();
    let cts = c.lab.read(|s| {
        s.containers
            .values()
            .filter(|ct| ct.node == node)
            .filter(|ct| {
                c.who
                    .privs_on(&s.acl, &format!("/vms/{}", ct.vmid))
                    .contains("VM.Audit")
            })
            .cloned()
            .collect::<Vec<_>>()
    });
    ok(Value::Array(
        cts.iter().map(|ct| summary(&c.lab, ct)).collect(),
    ))
}

/// Checks a `rootfs`/`mpN` volume `storage:size` and returns (storage, GiB text).
fn new_volume(value: &str) -> Result<(String, String), ApiError> {
    let pairs =
        split_property_string(value, Some("volume")).map_err(|e| ApiError::param("rootfs", e))?;
    let volume = pairs
        .iter()
        .find(|(k, _)| k == "volume")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let (storage, size) = volume
        .split_once(':')
        .ok_or_else(|| ApiError::fail(format!("unable to parse volume ID '{volume}'")))?;
    let store = STORAGES
        .iter()
        .find(|s| s.name == storage)
        .ok_or_else(|| ApiError::fail(format!("storage '{storage}' does not exist")))?;
    if !store.content.split(',').any(|c| c == "rootdir") {
        return Err(ApiError::fail(format!(
            "storage '{storage}' does not support container directories"
        )));
    }
    if size.parse::<f64>().map_or(true, |gib| gib <= 0.0) {
        return Err(ApiError::fail(format!("volume '{volume}' does not exist")));
    }
    Ok((storage.to_owned(), size.to_owned()))
}

/// Checks feature flags the caller may set (PVE: only root@pam with a ticket sets anything
/// besides nesting, or keyctl/fuse on unprivileged containers).
pub(super) fn check_features(c: &Call, features: &str, unprivileged: bool) -> Result<(), ApiError> {
    if c.who.by_ticket && c.who.restricted.is_none() {
        return Ok(());
    }
    let pairs =
        split_property_string(features, None).map_err(|e| ApiError::param("features", e))?;
    for (key, _) in pairs {
        let allowed = key == "nesting" || (unprivileged && (key == "keyctl" || key == "fuse"));
        if !allowed {
            return Err(ApiError::Status(
                403,
                format!(
                    "Permission check failed (changing feature flag '{key}' is only allowed for root@pam)"
                ),
            ));
        }
    }
    Ok(())
}

/// Fills a `netN` value: `hwaddr` and `type=veth` when absent; checks the bridge and the
/// caller's `SDN.Use` on it.
pub(super) fn net_value(c: &Call, key: &str, value: &str, vmid: u32) -> Result<String, ApiError> {
    let index: u32 = key.trim_start_matches("net").parse().unwrap_or(0);
    let mut pairs = split_property_string(value, None).map_err(|e| ApiError::param(key, e))?;
    if let Some((_, bridge)) = pairs.iter().find(|(k, _)| k == "bridge") {
        require(c, &format!("/sdn/zones/localnetwork/{bridge}"), "SDN.Use")?;
    }
    if !pairs.iter().any(|(k, _)| k == "hwaddr") {
        pairs.push(("hwaddr".into(), mac(c.lab.seed, vmid, index)));
    }
    if !pairs.iter().any(|(k, _)| k == "type") {
        pairs.push(("type".into(), "veth".into()));
    }
    Ok(pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(","))
}

/// `POST /nodes/{node}/lxc`.
pub fn create(c: &Call) -> ApiResult {
    let vmid = c.vmid();
    let node = c.node().to_owned();
    require(c, &format!("/vms/{vmid}"), "VM.Allocate")?;
    if c.str("arch").is_some() && !(c.who.by_ticket && c.who.restricted.is_none()) {
        return Err(ApiError::Status(
            403,
            "Permission check failed (only root@pam may set 'arch')".into(),
        ));
    }
    let ostemplate = c.str("ostemplate").unwrap_or_default().to_owned();
    let template = c
        .lab
        .runtime
        .templates()
        .into_iter()
        .find(|t| t.usable && format!("local:vztmpl/{}", t.file) == ostemplate)
        .ok_or_else(|| ApiError::fail(format!("volume '{ostemplate}' does not exist")))?;
    let storage_default = format!("{}:4", c.str("storage").unwrap_or("local"));
    let (storage, size) = new_volume(c.str("rootfs").unwrap_or(&storage_default))?;
    require(c, &format!("/storage/{storage}"), "Datastore.AllocateSpace")?;
    if let Some(pool) = c.str("pool")
        && !POOLS.iter().any(|(p, _)| *p == pool)
    {
        return Err(ApiError::fail(format!("pool '{pool}' does not exist")));
    }
    let unprivileged = c.flag("unprivileged");
    if let Some(features) = c.str("features") {
        check_features(c, features, unprivileged)?;
    }
    let mut config = BTreeMap::new();
    config.insert("arch".into(), c.str("arch").unwrap_or("amd64").to_owned());
    config.insert("ostype".into(), template.ostype.to_owned());
    config.insert("memory".into(), c.str("memory").unwrap_or("512").to_owned());
    config.insert("swap".into(), c.str("swap").unwrap_or("512").to_owned());
    config.insert(
        "hostname".into(),
        c.str("hostname").map_or(format!("CT{vmid}"), str::to_owned),
    );
    config.insert(
        "rootfs".into(),
        format!("{storage}:vm-{vmid}-disk-0,size={size}G"),
    );
    config.insert("lock".into(), "create".into());
    for (key, value) in &c.params {
        match key.as_str() {
            "cores" | "nameserver" | "searchdomain" | "description" | "features" | "pool"
            | "cpulimit" | "cpuunits" | "timezone" | "startup" | "hookscript" => {
                config.insert(key.clone(), value.clone());
            }
            "onboot" | "unprivileged" | "protection" | "console" => {
                config.insert(key.clone(), u8::from(c.flag(key)).to_string());
            }
            "tags" => {
                let tags: Vec<&str> = value
                    .split([';', ',', ' '])
                    .filter(|t| !t.is_empty())
                    .collect();
                config.insert(key.clone(), tags.join(";"));
            }
            k if k.starts_with("net") && k[3..].chars().all(|ch| ch.is_ascii_digit()) => {
                config.insert(key.clone(), net_value(c, k, value, vmid)?);
            }
            _ => {}
        }
    }
    let start = c.flag("start");
    let spec = TaskSpec {
        node: node.clone(),
        kind: "vzcreate",
        id: vmid.to_string(),
        user: c.who.name.clone(),
        seconds: if start { 3.0 } else { 2.0 },
    };
    let upid = c.lab.mutate(|s| {
        if let Some(other) = s.containers.get(&vmid) {
            return Err(ApiError::fail(format!(
                "CT {vmid} already exists on node '{}'",
                other.node
            )));
        }
        s.containers.insert(
            vmid,
            Container {
                vmid,
                node: node.clone(),
                status: "stopped".into(),
                config: config.clone(),
                started_at: None,
            },
        );
        Ok(tasks::register(&c.lab, s, &spec))
    })?;
    let create_spec = CreateSpec {
        vmid,
        ostemplate,
        config,
        access: Access {
            password: c.str("password").map(str::to_owned),
            ssh_public_keys: c.str("ssh-public-keys").map(str::to_owned),
        },
    };
    let work: Work = Box::new(move |lab: Arc<Lab>, log: TaskLog, fail: Option<String>| {
        Box::pin(async move {
            let made = match fail {
                Some(text) => Err(text),
                None => lab.runtime.create(&create_spec, &log).await,
            };
            if let Err(text) = made {
                lab.mutate(|s| {
                    s.containers.remove(&vmid);
                    Ok(())
                })
                .map_err(|e| e.message())?;
                return Err(text);
            }
            let unlocked = lab
                .mutate(|s| {
                    let ct = s
                        .containers
                        .get_mut(&vmid)
                        .ok_or_else(|| ApiError::fail(format!("CT {vmid} vanished")))?;
                    ct.config.remove("lock");
                    Ok(ct.clone())
                })
                .map_err(|e| e.message())?;
            if start {
                lab.runtime.start(&unlocked, &log).await?;
                lab.mutate(|s| {
                    if let Some(ct) = s.containers.get_mut(&vmid) {
                        ct.status = "running".into();
                        ct.started_at = Some(now());
                    }
                    Ok(())
                })
                .map_err(|e| e.message())?;
            }
            Ok(())
        })
    });
    tasks::run(&c.lab, upid.clone(), spec.seconds, work);
    ok(json!(upid.to_string()))
}

/// `DELETE /nodes/{node}/lxc/{vmid}`.
pub fn destroy(c: &Call) -> ApiResult {
    let ct = find(c)?;
    let vmid = ct.vmid;
    require(c, &format!("/vms/{vmid}"), "VM.Allocate")?;
    check_lock(&ct)?;
    if ct.running() {
        return Err(ApiError::fail(format!(
            "CT {vmid} is running - destroy failed"
        )));
    }
    let spec = TaskSpec {
        node: ct.node.clone(),
        kind: "vzdestroy",
        id: vmid.to_string(),
        user: c.who.name.clone(),
        seconds: 1.0,
    };
    let upid = c.lab.mutate(|s| {
        if let Some(ct) = s.containers.get_mut(&vmid) {
            ct.config.insert("lock".into(), "destroyed".into());
        }
        Ok(tasks::register(&c.lab, s, &spec))
    })?;
    let work: Work = Box::new(move |lab: Arc<Lab>, log: TaskLog, fail: Option<String>| {
        Box::pin(async move {
            let result = match fail {
                Some(text) => Err(text),
                None => lab.runtime.destroy(vmid, &log).await,
            };
            lab.mutate(|s| {
                if result.is_ok() {
                    s.containers.remove(&vmid);
                } else if let Some(ct) = s.containers.get_mut(&vmid) {
                    ct.config.remove("lock");
                }
                Ok(())
            })
            .map_err(|e| e.message())?;
            result
        })
    });
    tasks::run(&c.lab, upid.clone(), spec.seconds, work);
    ok(json!(upid.to_string()))
}
