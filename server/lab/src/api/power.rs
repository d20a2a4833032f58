//! A container's status and power actions (`status/current`, `start`, `stop`, `shutdown`,
//! `reboot`): PVE's running/stopped/lock rules, then a task.

use std::sync::Arc;

use serde_json::json;

use super::super::core::{Lab, now};
use super::super::reply::{ApiError, ApiResult, ok};
use super::super::runtime::Shutdown;
use super::super::tasks::{self, TaskLog, TaskSpec, Work};
use super::Call;
use super::lxc::{check_lock, find, require, summary};

/// `GET /nodes/{node}/lxc/{vmid}/status/current`.
pub fn status(c: &Call) -> ApiResult {
    let ct = find(c)?;
    require(c, &format!("/vms/{}", ct.vmid), "VM.Audit")?;
    let mut v = summary(&c.lab, &ct);
    if let Some(map) = v.as_object_mut() {
        map.insert("ha".into(), json!({"managed": 0}));
    }
    ok(v)
}

/// A power action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Power {
    /// `status/start`.
    Start,
    /// `status/stop`.
    Stop,
    /// `status/shutdown`.
    Shutdown,
    /// `status/reboot`.
    Reboot,
}

/// `POST /nodes/{node}/lxc/{vmid}/status/{start,stop,shutdown,reboot}`.
pub fn power(c: &Call, action: Power) -> ApiResult {
    let ct = find(c)?;
    let vmid = ct.vmid;
    require(c, &format!("/vms/{vmid}"), "VM.PowerMgmt")?;
    check_lock(&ct)?;
    let (kind, seconds) = match action {
        Power::Start => ("vzstart", 1.0),
        Power::Stop => ("vzstop", 0.5),
        Power::Shutdown => ("vzshutdown", 1.0),
        Power::Reboot => ("vzreboot", 1.5),
    };
    match (action, ct.running()) {
        (Power::Start, true) => return Err(ApiError::fail(format!("CT {vmid} already running"))),
        (Power::Stop | Power::Shutdown | Power::Reboot, false) => {
            return Err(ApiError::fail(format!("CT {vmid} not running")));
        }
        _ => {}
    }
    let spec = TaskSpec {
        node: ct.node.clone(),
        kind,
        id: vmid.to_string(),
        user: c.who.name.clone(),
        seconds,
    };
    let shutdown = Shutdown {
        timeout: c
            .int("timeout")
            .and_then(|t| u64::try_from(t).ok())
            .unwrap_or(60),
        force: c.flag("forceStop"),
    };
    let upid = c.lab.mutate(|s| Ok(tasks::register(&c.lab, s, &spec)))?;
    let work: Work = Box::new(move |lab: Arc<Lab>, log: TaskLog, fail: Option<String>| {
        Box::pin(async move {
            if let Some(text) = fail {
                return Err(text);
            }
            let ct = lab
                .read(|s| s.containers.get(&vmid).cloned())
                .ok_or_else(|| format!("CT {vmid} does not exist"))?;
            match action {
                Power::Start => lab.runtime.start(&ct, &log).await?,
                Power::Stop => lab.runtime.stop(vmid, None, &log).await?,
                Power::Shutdown => lab.runtime.stop(vmid, Some(shutdown), &log).await?,
                Power::Reboot => {
                    lab.runtime.stop(vmid, Some(shutdown), &log).await?;
                    set_running(&lab, vmid, false)?;
                    lab.runtime.start(&ct, &log).await?;
                }
            }
            set_running(&lab, vmid, matches!(action, Power::Start | Power::Reboot))
        })
    });
    tasks::run(&c.lab, upid.clone(), spec.seconds, work);
    ok(json!(upid.to_string()))
}

/// Records whether container `vmid` runs (and since when).
pub fn set_running(lab: &Lab, vmid: u32, running: bool) -> Result<(), String> {
    lab.mutate(|s| {
        if let Some(ct) = s.containers.get_mut(&vmid) {
            ct.status = if running { "running" } else { "stopped" }.into();
            ct.started_at = running.then(now);
        }
        Ok(())
    })
    .map_err(|e| e.message())
}
