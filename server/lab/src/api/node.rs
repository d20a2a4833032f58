//! Per-node calls: storage and its content, network, container interfaces and RRD data,
//! and tasks (list, status, log).

use kiln_shared::pve::Upid;
use serde_json::{Value, json};

use super::super::core::now;
use super::super::reply::{ApiError, ApiResult, Data, ok};
use super::super::rng;
use super::super::tasks;
use super::Call;
use super::lxc;

/// A storage of every lab node.
#[derive(Debug)]
pub struct Storage {
    /// Its id.
    pub name: &'static str,
    /// The plugin type.
    pub kind: &'static str,
    /// Content types, comma-separated.
    pub content: &'static str,
    /// Bytes in total.
    pub total: u64,
    /// Bytes used.
    pub used: u64,
}

/// `local` (templates, ISOs, backups) and `local-lvm` (container and VM disks).
pub const STORAGES: &[Storage] = &[
    Storage {
        name: "local",
        kind: "dir",
        content: "vztmpl,iso,backup",
        total: 100 << 30,
        used: 12 << 30,
    },
    Storage {
        name: "local-lvm",
        kind: "lvmthin",
        content: "rootdir,images",
        total: 400 << 30,
        used: 40 << 30,
    },
];

/// `GET /nodes/{node}/status`: the figures `/cluster/resources` shows for the node, with a
/// load average that follows its CPU (deterministic per minute, like the rest).
pub fn status(c: &Call) -> ApiResult {
    let node = c.str("node").unwrap_or_default().to_owned();
    c.lab.read(|s| {
        c.who
            .require(&s.acl, &format!("/nodes/{node}"), "Sys.Audit")
    })?;
    let index = c.lab.nodes.iter().position(|n| *n == node).unwrap_or(0);
    let summary = super::cluster::node_json(c, &node, index);
    let num = |key: &str| summary[key].as_f64().unwrap_or(0.0);
    let cpu = num("cpu");
    let load = cpu * num("maxcpu");
    let (mem, maxmem, disk, maxdisk) = (num("mem"), num("maxmem"), num("disk"), num("maxdisk"));
    ok(json!({
        "cpu": cpu,
        "wait": 0.001,
        "uptime": summary["uptime"],
        "loadavg": [format!("{load:.2}"), format!("{:.2}", load * 0.9), format!("{:.2}", load * 0.8)],
        "cpuinfo": {"cores": 8, "cpus": 8, "model": "Kiln lab vCPU", "sockets": 1},
        "memory": {"total": maxmem, "used": mem, "free": maxmem - mem, "available": maxmem - mem},
        "rootfs": {"total": maxdisk, "used": disk, "free": maxdisk - disk, "avail": maxdisk - disk},
        "swap": {"total": 0, "used": 0, "free": 0},
        "boot-info": {"mode": "efi", "secureboot": false},
        "current-kernel": {"machine": "x86_64", "release": "6.14.8-2-pve", "sysname": "Linux",
                           "version": "#1 SMP PREEMPT_DYNAMIC PMX 6.14.8-2"},
        "kversion": "Linux 6.14.8-2-pve",
        "pveversion": "pve-manager/9.0.3/025864202ebb6109",
    }))
}

/// `GET /nodes/{node}/storage?content=..`.
pub fn storage(c: &Call) -> ApiResult {
    let content = c.str("content");
    let list: Vec<Value> = STORAGES
        .iter()
        .filter(|s| {
            content.is_none_or(|want| {
                want.split(',')
                    .all(|w| s.content.split(',').any(|h| h == w))
            })
        })
        .filter(|s| c.str("storage").is_none_or(|n| n == s.name))
        .filter(|s| {
            c.lab.read(|st| {
                c.who
                    .privs_on(&st.acl, &format!("/storage/{}", s.name))
                    .contains("Datastore.Audit")
                    || c.who
                        .privs_on(&st.acl, &format!("/storage/{}", s.name))
                        .contains("Datastore.AllocateSpace")
            })
        })
        .map(|s| {
            json!({
                "storage": s.name, "type": s.kind, "content": s.content,
                "active": 1, "enabled": 1, "shared": 0,
                "total": s.total, "used": s.used, "avail": s.total - s.used,
                "used_fraction": s.used as f64 / s.total as f64,
            })
        })
        .collect();
    ok(Value::Array(list))
}

/// `GET /nodes/{node}/storage/{storage}/content?content=..`.
pub fn storage_content(c: &Call) -> ApiResult {
    let name = c.str("storage").unwrap_or_default();
    let store = STORAGES
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| ApiError::fail(format!("storage '{name}' does not exist")))?;
    c.lab
        .read(|s| {
            c.who
                .require(&s.acl, &format!("/storage/{name}"), "Datastore.Audit")
        })
        .or_else(|_| {
            c.lab.read(|s| {
                c.who.require(
                    &s.acl,
                    &format!("/storage/{name}"),
                    "Datastore.AllocateSpace",
                )
            })
        })?;
    let content = c.str("content");
    let mut out = Vec::new();
    if store.name == "local" && content.is_none_or(|w| w == "vztmpl") {
        for t in c.lab.runtime.templates() {
            let (file, size) = (t.file.as_str(), t.size);
            out.push(json!({
                "volid": format!("local:vztmpl/{file}"), "content": "vztmpl",
                "format": if file.ends_with(".xz") { "txz" } else { "tzst" },
                "size": size, "ctime": 1_725_000_000,
            }));
        }
    }
    if store.name == "local-lvm" && content.is_none_or(|w| w == "rootdir") {
        let node = c.node().to_owned();
        let cts = c.lab.read(|s| {
            s.containers
                .values()
                .filter(|ct| ct.node == node)
                .cloned()
                .collect::<Vec<_>>()
        });
        for ct in cts {
            let (_, _, disk, _) = lxc::limits(&ct);
            out.push(json!({
                "volid": format!("local-lvm:vm-{}-disk-0", ct.vmid), "content": "rootdir",
                "format": "raw", "size": disk, "vmid": ct.vmid,
            }));
        }
    }
    ok(Value::Array(out))
}

/// `GET /nodes/{node}/network?type=..`.
pub fn network(c: &Call) -> ApiResult {
    let (cidr, address) = c
        .lab
        .runtime
        .bridge_cidr()
        .unwrap_or_else(|| ("192.168.100.2/24".to_owned(), "192.168.100.2".to_owned()));
    let all = [
        json!({"iface": "lo", "type": "loopback", "active": 1, "autostart": 1, "families": ["inet"], "method": "loopback"}),
        json!({"iface": "eno1", "type": "eth", "active": 1, "families": ["inet"], "method": "manual", "exists": 1}),
        json!({"iface": "vmbr0", "type": "bridge", "active": 1, "autostart": 1, "families": ["inet"],
               "method": "static", "cidr": cidr, "address": address, "netmask": "24",
               "gateway": "192.168.100.1", "bridge_ports": "eno1", "bridge_stp": "off", "bridge_fd": "0",
               "comments": "lab bridge"}),
    ];
    let want = c.str("type");
    let list: Vec<Value> = all
        .into_iter()
        .filter(|n| match want {
            None => true,
            Some("any_bridge") => n["type"] == "bridge" || n["type"] == "OVSBridge",
            Some(t) => n["type"] == t,
        })
        .collect();
    ok(Value::Array(list))
}

/// `GET /nodes/{node}/lxc/{vmid}/interfaces`: loopback and one entry per `netN`; DHCP
/// interfaces get their deterministic address while the container runs.
pub async fn interfaces(c: &Call) -> ApiResult {
    let ct = lxc::find(c)?;
    c.lab.read(|s| {
        c.who
            .require(&s.acl, &format!("/vms/{}", ct.vmid), "VM.Audit")
    })?;
    if !ct.running() {
        return Err(ApiError::fail(format!("CT {} not running", ct.vmid)));
    }
    if let Some(real) = c.lab.runtime.interfaces(&ct).await {
        let list = real
            .into_iter()
            .map(|i| {
                let mut v = json!({"name": i.name, "hwaddr": i.hwaddr});
                if let Some(map) = v.as_object_mut() {
                    if let Some(inet) = i.inet {
                        map.insert("inet".into(), inet.into());
                    }
                    if let Some(inet6) = i.inet6 {
                        map.insert("inet6".into(), inet6.into());
                    }
                }
                v
            })
            .collect();
        return ok(Value::Array(list));
    }
    let mut out = vec![
        json!({"name": "lo", "hwaddr": "00:00:00:00:00:00", "inet": "127.0.0.1/8", "inet6": "::1/128"}),
    ];
    for (key, value) in ct.config.iter().filter(|(k, _)| k.starts_with("net")) {
        let Ok(index) = key[3..].parse::<u32>() else {
            continue;
        };
        let pairs = super::super::formats::split_property_string(value, None).unwrap_or_default();
        let get = |k: &str| pairs.iter().find(|(pk, _)| pk == k).map(|(_, v)| v.clone());
        let mut entry = json!({
            "name": get("name").unwrap_or_else(|| format!("eth{index}")),
            "hwaddr": get("hwaddr").unwrap_or_default().to_ascii_lowercase(),
        });
        let inet = match get("ip").as_deref() {
            Some("dhcp") => Some(lxc::dhcp_ip(c.lab.seed, ct.vmid, index)),
            Some("manual") | None => None,
            Some(ip) => Some(ip.to_owned()),
        };
        if let (Some(map), Some(inet)) = (entry.as_object_mut(), inet) {
            map.insert("inet".into(), inet.into());
        }
        out.push(entry);
    }
    ok(Value::Array(out))
}

/// `GET /nodes/{node}/lxc/{vmid}/rrddata?timeframe=..&cf=..`: ~70 rows ending now; usage
/// fields only for times the container was running.
pub fn rrddata(c: &Call) -> ApiResult {
    let ct = lxc::find(c)?;
    c.lab.read(|s| {
        c.who
            .require(&s.acl, &format!("/vms/{}", ct.vmid), "VM.Audit")
    })?;
    let step: i64 = match c.str("timeframe").unwrap_or("hour") {
        "day" => 1800,
        "week" => 10_800,
        "month" => 43_200,
        "year" => 604_800,
        _ => 60,
    };
    let max = c.str("cf") == Some("MAX");
    let (maxmem, _, maxdisk, cores) = lxc::limits(&ct);
    let base = json!({"maxcpu": cores, "maxmem": maxmem, "maxdisk": maxdisk});
    let timeframe = c.str("timeframe").unwrap_or("hour");
    if let Some(rows) = c.lab.history(ct.vmid, timeframe, max, &base) {
        return ok(Value::Array(rows));
    }
    let end = now() / step * step;
    let rows: Vec<Value> = (0..70i64)
        .rev()
        .map(|i| {
            let time = end - i * step;
            let mut row =
                json!({"time": time, "maxcpu": cores, "maxmem": maxmem, "maxdisk": maxdisk});
            let up = ct.running() && ct.started_at.is_some_and(|t| t <= time);
            if let (true, Some(map)) = (up, row.as_object_mut()) {
                let u = |salt: u64| {
                    let v = rng::unit(c.lab.seed, &[u64::from(ct.vmid), time as u64, salt]);
                    if max { (v * 1.5).min(1.0) } else { v }
                };
                map.insert("cpu".into(), json!(0.01 + 0.2 * u(1)));
                map.insert("mem".into(), json!(maxmem as f64 * (0.15 + 0.3 * u(2))));
                map.insert("disk".into(), json!(maxdisk as f64 * 0.12));
                map.insert("netin".into(), json!(2000.0 * u(3)));
                map.insert("netout".into(), json!(900.0 * u(4)));
                map.insert("diskread".into(), json!(5000.0 * u(5)));
                map.insert("diskwrite".into(), json!(12000.0 * u(6)));
            }
            row
        })
        .collect();
    ok(Value::Array(rows))
}

fn task_for(c: &Call) -> Result<(Upid, tasks_state::Task), ApiError> {
    let raw = c.str("upid").unwrap_or_default();
    let upid: Upid = raw
        .parse()
        .map_err(|_| ApiError::param("upid", "unable to parse worker upid"))?;
    if upid.node != c.node() {
        return Err(ApiError::fail(format!(
            "no such task '{raw}' on node '{}'",
            c.node()
        )));
    }
    let task = c
        .lab
        .read(|s| s.tasks.get(raw).cloned())
        .ok_or_else(|| ApiError::fail(format!("no such task '{raw}'")))?;
    let own = c.who.restricted.is_none() || upid.user == c.who.name;
    if !own {
        c.lab.read(|s| {
            c.who
                .require(&s.acl, &format!("/nodes/{}", upid.node), "Sys.Audit")
        })?;
    }
    Ok((upid, task))
}

use super::super::state as tasks_state;

/// `GET /nodes/{node}/tasks/{upid}/status`.
pub fn task_status(c: &Call) -> ApiResult {
    let (upid, task) = task_for(c)?;
    ok(tasks::status_json(&upid, &task))
}

/// `GET /nodes/{node}/tasks/{upid}/log?start=..&limit=..` (adds `total`).
pub fn task_log(c: &Call) -> ApiResult {
    let (upid, task) = task_for(c)?;
    let mut lines = vec![format!("task started by {}", upid.user)];
    lines.extend(task.log.iter().cloned());
    let start = usize::try_from(c.int("start").unwrap_or(0)).unwrap_or(0);
    let limit = usize::try_from(c.int("limit").unwrap_or(50)).unwrap_or(50);
    let rows: Vec<Value> = lines
        .iter()
        .enumerate()
        .skip(start)
        .take(limit)
        .map(|(i, t)| json!({"n": i + 1, "t": t}))
        .collect();
    Ok(Data {
        data: Value::Array(rows),
        extra: vec![("total", json!(lines.len()))],
    })
}

/// `GET /nodes/{node}/tasks`: this node's tasks, newest first (`vmid`, `limit`, `start`).
pub fn task_list(c: &Call) -> ApiResult {
    let node = c.node().to_owned();
    let vmid = c.str("vmid").map(str::to_owned);
    let mut list: Vec<(Upid, tasks_state::Task)> = c.lab.read(|s| {
        s.tasks
            .values()
            .filter_map(|t| t.upid.parse::<Upid>().ok().map(|u| (u, t.clone())))
            .filter(|(u, _)| u.node == node)
            .filter(|(u, _)| vmid.as_deref().is_none_or(|v| u.id == v))
            .filter(|(u, _)| c.who.restricted.is_none() || u.user == c.who.name)
            .collect()
    });
    list.sort_by_key(|(u, _)| std::cmp::Reverse((u.starttime, u.pid)));
    let start = usize::try_from(c.int("start").unwrap_or(0)).unwrap_or(0);
    let limit = usize::try_from(c.int("limit").unwrap_or(50)).unwrap_or(50);
    let total = list.len();
    let rows: Vec<Value> = list
        .iter()
        .skip(start)
        .take(limit)
        .map(|(u, t)| {
            let mut v = json!({
                "upid": u.to_string(), "node": u.node, "pid": u.pid, "pstart": u.pstart,
                "starttime": u.starttime, "type": u.task_type, "id": u.id, "user": u.user,
            });
            if let (Some(map), Some(exit), Some(end)) =
                (v.as_object_mut(), &t.exitstatus, t.endtime)
            {
                map.insert("status".into(), exit.clone().into());
                map.insert("endtime".into(), end.into());
            }
            v
        })
        .collect();
    Ok(Data {
        data: Value::Array(rows),
        extra: vec![("total", json!(total))],
    })
}
