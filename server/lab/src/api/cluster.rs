//! Cluster-wide calls: `/version`, `/nodes`, `/cluster/resources`, `/cluster/nextid`,
//! `/pools`.

use serde_json::{Value, json};

use super::super::core::now;
use super::super::reply::{ApiError, ApiResult, ok};
use super::super::rng;
use super::Call;
use super::lxc;
use super::node::STORAGES;

/// The pools the lab has.
pub const POOLS: &[(&str, &str)] = &[("lab", "Kiln lab pool")];

/// `GET /version`.
pub fn version(_c: &Call) -> ApiResult {
    ok(json!({"version": "9.0.3", "release": "9.0", "repoid": "025864202ebb6109"}))
}

/// One node's summary, as `/nodes` and `/cluster/resources` show it.
pub(super) fn node_json(c: &Call, node: &str, index: usize) -> Value {
    let offline = c.lab.faults().node_596.contains(node);
    if offline {
        return json!({"node": node, "status": "offline", "id": format!("node/{node}"), "type": "node"});
    }
    let load = rng::unit(c.lab.seed, &[index as u64, (now() / 60) as u64]);
    json!({
        "node": node,
        "id": format!("node/{node}"),
        "type": "node",
        "status": "online",
        "level": "",
        "cpu": 0.02 + load * 0.1,
        "maxcpu": 8,
        "mem": (4u64 << 30) + (load * (2u64 << 30) as f64) as u64,
        "maxmem": 32u64 << 30,
        "disk": 12u64 << 30,
        "maxdisk": 100u64 << 30,
        "uptime": 86_400 + index as u64 * 3600,
        "ssl_fingerprint": c.lab.fingerprint,
    })
}

/// `GET /nodes`.
pub fn nodes(c: &Call) -> ApiResult {
    let nodes: Vec<Value> = c
        .lab
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| allowed(c, &format!("/nodes/{n}"), "Sys.Audit"))
        .map(|(i, n)| node_json(c, n, i))
        .collect();
    ok(Value::Array(nodes))
}

fn allowed(c: &Call, path: &str, privilege: &str) -> bool {
    c.lab
        .read(|s| c.who.privs_on(&s.acl, path).contains(privilege))
}

/// `GET /cluster/resources?type=vm|node|storage`.
pub fn resources(c: &Call) -> ApiResult {
    let kind = c.str("type");
    let mut out = Vec::new();
    if kind.is_none() || kind == Some("vm") {
        let cts = c
            .lab
            .read(|s| s.containers.values().cloned().collect::<Vec<_>>());
        for ct in cts
            .iter()
            .filter(|ct| allowed(c, &format!("/vms/{}", ct.vmid), "VM.Audit"))
        {
            let mut v = lxc::summary(&c.lab, ct);
            if let Some(map) = v.as_object_mut() {
                map.insert("id".into(), format!("lxc/{}", ct.vmid).into());
                map.insert("type".into(), "lxc".into());
                map.insert("node".into(), ct.node.clone().into());
                map.insert(
                    "maxcpu".into(),
                    map.get("cpus").cloned().unwrap_or(json!(1)),
                );
                if let Some(pool) = ct.config.get("pool") {
                    map.insert("pool".into(), pool.clone().into());
                }
            }
            out.push(v);
        }
    }
    if kind.is_none() || kind == Some("node") {
        for (i, n) in c.lab.nodes.iter().enumerate() {
            if allowed(c, &format!("/nodes/{n}"), "Sys.Audit") {
                out.push(node_json(c, n, i));
            }
        }
    }
    if kind.is_none() || kind == Some("storage") {
        for n in &c.lab.nodes {
            for s in STORAGES {
                if allowed(c, &format!("/storage/{}", s.name), "Datastore.Audit") {
                    out.push(json!({
                        "id": format!("storage/{n}/{}", s.name),
                        "type": "storage",
                        "storage": s.name,
                        "node": n,
                        "status": "available",
                        "plugintype": s.kind,
                        "content": s.content,
                        "shared": 0,
                        "disk": s.used,
                        "maxdisk": s.total,
                    }));
                }
            }
        }
    }
    ok(Value::Array(out))
}

/// `GET /cluster/nextid`: the lowest free id as a STRING; with `vmid`, that id if free,
/// else 400 (as PVE).
pub fn nextid(c: &Call) -> ApiResult {
    let taken = |id: u32| c.lab.read(|s| s.containers.contains_key(&id));
    if let Some(vmid) = c.int("vmid") {
        let id = u32::try_from(vmid).map_err(|_| ApiError::param("vmid", "invalid VM ID"))?;
        if taken(id) {
            return Err(ApiError::param("vmid", format!("VM {id} already exists")));
        }
        return ok(json!(id.to_string()));
    }
    let id = (100u32..).find(|id| !taken(*id)).unwrap_or(100);
    ok(json!(id.to_string()))
}

/// `GET /pools`.
pub fn pools(c: &Call) -> ApiResult {
    let pools: Vec<Value> = POOLS
        .iter()
        .filter(|(id, _)| allowed(c, &format!("/pool/{id}"), "Pool.Audit"))
        .map(|(id, comment)| json!({"poolid": id, "comment": comment}))
        .collect();
    ok(Value::Array(pools))
}
