//! Waiting for PVE tasks (UPIDs) to finish.

use std::time::Duration;

use kiln_shared::pve::{TaskStatus, Upid};

use super::{Error, ProxmoxApi, Result};

/// Polls `upid` until it stops or `timeout` passes. `Ok` only for exit status `OK`; a failed
/// task gives `Error::TaskFailed` with the last lines of its log.
pub async fn wait_task(api: &dyn ProxmoxApi, upid: &Upid, timeout: Duration) -> Result<TaskStatus> {
    let _ = (api, timeout);
    Err(Error::NotImplemented("wait_task"))?;
    unreachable_status(upid)
}

fn unreachable_status(upid: &Upid) -> Result<TaskStatus> {
    Err(Error::Timeout {
        what: upid.to_string(),
        secs: 0,
    })
}
