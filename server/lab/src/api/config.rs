//! A container's configuration: `GET` (with PVE's `digest`) and `PUT` (digest check,
//! `delete`, per-key privileges, locks).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::super::reply::{ApiError, ApiResult, ok};
use super::Call;
use super::lxc::{check_features, check_lock, find, net_value, require};

/// Config keys whose values PVE returns as numbers.
const NUMERIC: &[&str] = &[
    "cores",
    "memory",
    "swap",
    "onboot",
    "unprivileged",
    "cpuunits",
    "cpulimit",
    "template",
    "protection",
    "console",
    "tty",
];

/// PVE's `digest` of a configuration (SHA-256 here, 40 hex digits like PVE's SHA-1).
pub fn digest(config: &BTreeMap<String, String>) -> String {
    let text: String = config.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
    let d = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    hex::encode(d.as_ref())[..40].to_owned()
}

/// `GET /nodes/{node}/lxc/{vmid}/config`.
pub fn config(c: &Call) -> ApiResult {
    let ct = find(c)?;
    require(c, &format!("/vms/{}", ct.vmid), "VM.Audit")?;
    let mut out = serde_json::Map::new();
    for (k, v) in ct.config.iter().filter(|(k, _)| k.as_str() != "pool") {
        let value = match v.parse::<i64>() {
            Ok(n) if NUMERIC.contains(&k.as_str()) => json!(n),
            _ => json!(v),
        };
        out.insert(k.clone(), value);
    }
    out.insert("digest".into(), digest(&ct.config).into());
    ok(Value::Object(out))
}

/// The privilege a config key needs.
fn config_priv(key: &str) -> &'static str {
    match key {
        "cores" | "cpulimit" | "cpuunits" => "VM.Config.CPU",
        "memory" | "swap" => "VM.Config.Memory",
        k if k.starts_with("net") => "VM.Config.Network",
        k if k == "rootfs" || k.starts_with("mp") => "VM.Config.Disk",
        _ => "VM.Config.Options",
    }
}

/// `PUT /nodes/{node}/lxc/{vmid}/config` (synchronous, as in PVE).
pub async fn config_update(c: &Call) -> ApiResult {
    let ct = find(c)?;
    let vmid = ct.vmid;
    let path = format!("/vms/{vmid}");
    let deletes: Vec<String> = c
        .str("delete")
        .unwrap_or_default()
        .split([',', ';', ' '])
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect();
    let mut changes = BTreeMap::new();
    for (key, value) in &c.params {
        if ["node", "vmid", "digest", "delete", "revert"].contains(&key.as_str()) {
            continue;
        }
        require(c, &path, config_priv(key))?;
        let value = if key.starts_with("net") && key[3..].chars().all(|ch| ch.is_ascii_digit()) {
            net_value(c, key, value, vmid)?
        } else if key == "features" {
            check_features(
                c,
                value,
                ct.config.get("unprivileged").is_some_and(|u| u == "1"),
            )?;
            value.clone()
        } else if matches!(
            key.as_str(),
            "onboot" | "unprivileged" | "protection" | "console"
        ) {
            u8::from(c.flag(key)).to_string()
        } else {
            value.clone()
        };
        changes.insert(key.clone(), value);
    }
    for key in &deletes {
        require(c, &path, config_priv(key))?;
    }
    let wanted = c.str("digest").map(str::to_owned);
    let mut changed: Vec<String> = changes.keys().cloned().collect();
    changed.extend(deletes.iter().cloned());
    let after = c.lab.mutate(|s| {
        let ct = s
            .containers
            .get_mut(&vmid)
            .ok_or_else(|| ApiError::fail(format!("CT {vmid} does not exist")))?;
        if let Some(wanted) = &wanted
            && *wanted != digest(&ct.config)
        {
            return Err(ApiError::fail(
                "detected modified configuration - file changed by other user? Try again.",
            ));
        }
        check_lock(ct)?;
        for key in &deletes {
            ct.config.remove(key);
        }
        ct.config.extend(changes);
        Ok(ct.clone())
    })?;
    if after.running() {
        c.lab
            .runtime
            .apply(&after, &changed)
            .await
            .map_err(ApiError::fail)?;
    }
    ok(Value::Null)
}
