//! The deletion job (`container.delete`): stop the container's creation if it still runs,
//! destroy the container on its node — only if it carries the creation job's marker — and
//! forget the row. `ContainerService::delete` sets the row `deleting` and enqueues the job in
//! one transaction (a running creation is asked to cancel in the same transaction).
//!
//! Phases, each safe to run again after a crash or `kill -9` (a resumed run starts over in
//! the phase it was in, and each phase first looks at what is already done):
//! 1. `cancel-creation` — waits until the creation job has ended (asking it to cancel
//!    again if a retry queued it meanwhile). Until then the creation job may still write
//!    the container's events, so this phase writes none (events are numbered by their one
//!    writer). Then it sets `deleting` again, in case a creation's end raced the request.
//! 2. `destroy` — finds the VMID in `/cluster/resources` (the member it is on); gone, or
//!    never reserved: nothing to do. A guest without the `kiln-job-<creation job>` marker in
//!    its description is not Kiln's and is left alone. A locked guest is waited for (`create`:
//!    the creation task is still running; `destroyed`: an earlier run's destroy is). A
//!    running one is stopped, then `DELETE …?purge=1&destroy-unreferenced-disks=1`, each task
//!    followed to its end; the VMID cache of the node is dropped.
//! 3. `forget` — deletes the row (its events, services and credentials go by cascade) and
//!    writes the audit entry in the same fenced transaction; watchers get a status notice and
//!    their stream ends (`deleted`).
//!
//! A row already gone means an earlier run finished: the job succeeds. A failure puts the
//! row back to the status it had (`ready`, else `failed`) with "deletion failed in PHASE:
//! …" as its error, so the user sees why and may delete again.

use std::time::Duration;

use async_trait::async_trait;
use kiln_shared::pve::Upid;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::create::has_marker;
use super::events::EventHub;
use super::fenced;
use super::vmids::VmidCache;
use crate::app_state::AppState;
use crate::db::audit::{self, Entry};
use crate::db::containers::{self, ContainerRow};
use crate::jobs::{JobError, JobHandler, JobRun};
use crate::proxmox::{Client, ProxmoxApi};

/// The phases, in order.
pub const PHASES: [&str; 3] = ["cancel-creation", "destroy", "forget"];

/// How long the deletion waits for a running creation to reach a point where it stops (a
/// creation checks between phases and while it waits on the node; a long script or package
/// install runs to its end first).
const CREATION_STOP_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How often the creation job's state is read while waiting for it.
const CREATION_POLL: Duration = Duration::from_millis(250);
/// How long the destroy phase may take in all (stop, destroy, waiting for locks).
const DESTROY_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// How long one Proxmox task (stop, destroy) may take.
const TASK_TIMEOUT: Duration = Duration::from_secs(300);
/// How often a locked guest (or Kiln's lock of the container) is looked at again.
const LOCK_POLL: Duration = Duration::from_millis(500);
/// How long the deletion waits for another action on the container to end.
const LOCK_WAIT: Duration = Duration::from_secs(5 * 60);

/// The job's input: the row's id, and the status to put back if the deletion fails.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Payload {
    /// The container.
    pub container_id: i64,
    /// `ready` or `failed`: the status the row returns to when the deletion fails.
    pub restore: String,
    /// The container's owner: who may read the job once the row is gone (absent in jobs
    /// enqueued before it was recorded).
    #[serde(default)]
    pub owner_id: Option<i64>,
}

/// The handler registered for [`super::DELETE_JOB`].
#[derive(Debug, Clone)]
pub struct DeleteContainer {
    state: AppState,
}

impl DeleteContainer {
    /// The handler over the app's pools, key and event hub.
    pub fn new(state: AppState) -> Self {
        DeleteContainer { state }
    }
}

fn failed(message: impl Into<String>) -> JobError {
    JobError::failed(message)
}

/// How the destroy phase recognises the container on the node as Kiln's.
enum Mark {
    /// Made by this creation job: its `kiln-job-<id>` marker in the description.
    Creation(i64),
    /// Adopted: the hostname it had on the node when it was adopted.
    Adopted(String),
}

/// One run of the job over one container.
struct Run<'a> {
    state: &'a AppState,
    hub: &'a EventHub,
    job: &'a mut JobRun,
    row: ContainerRow,
    /// The node's API client, or why there is none (the destroy phase fails with it).
    client: Result<std::sync::Arc<Client>, String>,
    /// The status a failed deletion puts back.
    restore: String,
    /// The creation job has ended: this run is the only writer of the container's events.
    creation_stopped: bool,
}

impl Run<'_> {
    fn client(&self) -> Result<&Client, JobError> {
        self.client
            .as_ref()
            .map(|c| &**c)
            .map_err(|e| failed(e.clone()))
    }

    /// An event, written through the job's lease.
    async fn event(&mut self, phase: &str, kind: &str, text: &str) -> Result<(), JobError> {
        let seq = fenced!(self, |conn, id| containers::append_event(
            conn, id, phase, kind, text
        ))?;
        self.hub.notify(self.row.id, seq);
        Ok(())
    }

    async fn set_status(&mut self, status: &str, error: Option<&str>) -> Result<(), JobError> {
        fenced!(self, |conn, id| containers::set_status(
            conn, id, status, error
        ))?;
        self.hub.notify(self.row.id, 0);
        Ok(())
    }

    /// The container's lock, waited for while another action holds it.
    async fn lock(&mut self) -> Result<super::lock::Held, JobError> {
        match super::lock::GuestLocks::new(self.state)
            .acquire_waiting(
                self.row.id,
                ("delete", "Kiln", self.job.id()),
                LOCK_POLL,
                LOCK_WAIT,
            )
            .await
        {
            Ok(held) => Ok(held.keep_alive()),
            Err(super::lock::LockError::Busy(busy)) => Err(failed(format!(
                "the container stayed {busy} for {} minutes",
                LOCK_WAIT.as_secs() / 60
            ))),
            Err(e) => Err(failed(e.to_string())),
        }
    }

    /// Phase 1: the creation job has ended (cancelled if it was still queued or running).
    async fn cancel_creation(&mut self) -> Result<(), JobError> {
        if let Some(creation) = self.row.job_id {
            let deadline = Instant::now() + CREATION_STOP_TIMEOUT;
            loop {
                let mut conn = self.state.db.get().await?;
                let job = self.state.jobs.get(&mut conn, creation).await?;
                match job {
                    Some(job) if !job.state.is_finished() => {
                        if !job.cancel_requested {
                            // A retry queued it again after the deletion asked it to stop.
                            self.state.jobs.request_cancel(&mut conn, creation).await?;
                        }
                    }
                    _ => break,
                }
                drop(conn);
                if Instant::now() > deadline {
                    return Err(failed(format!(
                        "the creation (job {creation}) did not stop within {} minutes",
                        CREATION_STOP_TIMEOUT.as_secs() / 60
                    )));
                }
                // Reads through the lease: stops this run if the job was taken over or the
                // worker pool is shutting down. A deletion itself is not cancelled.
                self.job.cancel_requested().await?;
                tokio::time::sleep(CREATION_POLL).await;
            }
        }
        self.creation_stopped = true;
        self.set_status("deleting", None).await?;
        self.event("cancel-creation", "phase", "cancel-creation")
            .await?;
        let text = match self.row.job_id {
            Some(job) => format!("the creation (job {job}) has ended; deleting"),
            None => "deleting".to_owned(),
        };
        self.event("cancel-creation", "log", &text).await
    }

    /// Phase 2: the container is not on the node any more (or never was, or is not Kiln's).
    async fn destroy(&mut self) -> Result<(), JobError> {
        self.event("destroy", "phase", "destroy").await?;
        let Some(vmid) = self.row.vmid.and_then(|v| u32::try_from(v).ok()) else {
            return self
                .event(
                    "destroy",
                    "log",
                    "no VMID was reserved: nothing was created on the node",
                )
                .await;
        };
        // How Kiln recognises its container: the creation job's marker, or for an adopted
        // one the hostname it had when it was adopted.
        let mark = match (self.row.job_id, &self.row.adopted_name) {
            (Some(creation), _) => Mark::Creation(creation),
            (None, Some(name)) if self.row.adopted => Mark::Adopted(name.clone()),
            _ => {
                return self
                    .event(
                        "destroy",
                        "log",
                        &format!("CT {vmid}: no creation job to recognise it by; left alone"),
                    )
                    .await;
            }
        };
        let deadline = Instant::now() + DESTROY_TIMEOUT;
        let mut said_locked = false;
        loop {
            if Instant::now() > deadline {
                return Err(failed(format!(
                    "CT {vmid} was not destroyed within {} minutes",
                    DESTROY_TIMEOUT.as_secs() / 60
                )));
            }
            let Some(pve) = self.where_is(vmid).await? else {
                return Ok(());
            };
            let config = match self.client()?.lxc_config(&pve, vmid).await {
                Ok(config) => config,
                Err(e) if super::pve_says_missing(&e) => {
                    // Destroyed between the two calls: the next look says so.
                    tokio::time::sleep(LOCK_POLL).await;
                    continue;
                }
                Err(e) => return Err(failed(format!("cannot read CT {vmid} on {pve}: {e}"))),
            };
            let not_ours = match &mark {
                Mark::Creation(creation)
                    if !has_marker(config.description.as_deref(), *creation) =>
                {
                    Some(format!(
                        "CT {vmid} on {pve} was not made by this container's creation (no {} in its description): left alone",
                        super::create::marker(*creation)
                    ))
                }
                Mark::Adopted(name) if config.hostname.as_deref() != Some(name.as_str()) => {
                    Some(format!(
                        "CT {vmid} on {pve} is not the container adopted as {name} (its hostname changed): left alone"
                    ))
                }
                _ => None,
            };
            if let Some(text) = not_ours {
                return self.event("destroy", "log", &text).await;
            }
            if let Some(lock) = config.lock {
                if !said_locked {
                    said_locked = true;
                    self.event(
                        "destroy",
                        "log",
                        &format!("CT {vmid} is locked ({lock}); waiting"),
                    )
                    .await?;
                }
                self.job.cancel_requested().await?;
                tokio::time::sleep(LOCK_POLL).await;
                continue;
            }
            let status = self
                .client()?
                .lxc_status(&pve, vmid)
                .await
                .map_err(|e| failed(format!("cannot read CT {vmid}'s status: {e}")))?;
            if status.status == "running" {
                self.event("destroy", "log", &format!("stopping CT {vmid}"))
                    .await?;
                match self.client()?.lxc_stop(&pve, vmid).await {
                    Ok(upid) => self.wait(&upid).await?,
                    // Stopped by itself meanwhile: look again.
                    Err(crate::proxmox::Error::Server { message, .. })
                        if message.contains("not running") => {}
                    Err(e) => {
                        return Err(failed(format!("the node did not stop CT {vmid}: {e}")));
                    }
                }
                continue;
            }
            self.event(
                "destroy",
                "log",
                &format!("destroying CT {vmid} on {pve} (purge)"),
            )
            .await?;
            match self.client()?.lxc_delete(&pve, vmid).await {
                Ok(upid) => {
                    self.wait(&upid).await?;
                    VmidCache::new(self.state)
                        .invalidate(self.row.node_id)
                        .await;
                    return self
                        .event("destroy", "log", &format!("CT {vmid} destroyed"))
                        .await;
                }
                // Gone meanwhile, started or locked since it was looked at: look again.
                Err(e) if super::pve_says_missing(&e) => tokio::time::sleep(LOCK_POLL).await,
                Err(crate::proxmox::Error::Server { message, .. })
                    if message.contains("is running") || message.contains("locked") =>
                {
                    tokio::time::sleep(LOCK_POLL).await;
                }
                Err(e) => {
                    return Err(failed(format!("the node did not destroy CT {vmid}: {e}")));
                }
            }
        }
    }

    /// The cluster member CT `vmid` is on; `None` (with an event) when no guest has the id,
    /// or when it is a VM.
    async fn where_is(&mut self, vmid: u32) -> Result<Option<String>, JobError> {
        let guests = self
            .client()?
            .cluster_resources_vm()
            .await
            .map_err(|e| failed(format!("cannot list the node's guests: {e}")))?;
        let found = guests.into_iter().find(|g| g.vmid == Some(vmid));
        let text = match found {
            Some(guest) if guest.kind == "lxc" => match guest.node {
                Some(node) => return Ok(Some(node)),
                None => return Err(failed(format!("the node does not say where CT {vmid} is"))),
            },
            Some(guest) => {
                format!(
                    "VMID {vmid} is a {} on the node, not this container: left alone",
                    guest.kind
                )
            }
            None => format!("CT {vmid} is not on the node: nothing to destroy"),
        };
        self.event("destroy", "log", &text).await?;
        Ok(None)
    }

    /// Follows a task (stop, destroy) to its end; a failure carries its log's last lines.
    async fn wait(&mut self, upid: &Upid) -> Result<(), JobError> {
        self.event("destroy", "log", &format!("task {upid}"))
            .await?;
        crate::proxmox::tasks::wait_task(self.client()?, upid, TASK_TIMEOUT)
            .await
            .map(drop)
            .map_err(|e| failed(e.to_string()))
    }

    /// Phase 3: the row and what hangs on it are deleted, and the deletion audited, in one
    /// fenced transaction.
    async fn forget(&mut self) -> Result<(), JobError> {
        self.event("forget", "phase", "forget").await?;
        let target = format!("{} (container {})", self.row.hostname, self.row.id);
        let mut entry = Entry::new("container.deleted").on(&target);
        entry.detail = serde_json::json!({
            "node_id": self.row.node_id,
            "vmid": self.row.vmid,
            "job_id": self.job.id(),
        });
        fenced!(self, |conn, id| async {
            containers::delete(conn, id).await?;
            audit::record(conn, &entry).await
        })?;
        self.hub.notify(self.row.id, 0);
        // The dashboards' last look at the node still lists it: look again.
        self.state.node_clients.forget_resources(self.row.node_id);
        if let Some(owner) = self.row.owner_id {
            self.state.inventories.forget(owner);
        }
        Ok(())
    }

    /// Records a failure: the row's status back to what it was, with the reason (and an
    /// `outcome` event once this run is the events' only writer). Passes the result on.
    async fn finish(&mut self, phase: &str, result: Result<(), JobError>) -> Result<(), JobError> {
        let message = match &result {
            Err(JobError::Failed { message, .. }) => message.clone(),
            Err(JobError::Internal(_)) => "internal error".to_owned(),
            // Success; or another run goes on (lost lease, shutdown).
            _ => return result,
        };
        let text = format!("deletion failed in {phase}: {message}");
        let restore = self.restore.clone();
        if self.creation_stopped {
            self.event(phase, "outcome", &text).await?;
        }
        self.set_status(&restore, Some(&text)).await?;
        result
    }
}

#[async_trait]
impl JobHandler for DeleteContainer {
    async fn given_up(&self, job: &crate::jobs::GivenUp, message: &str) -> anyhow::Result<()> {
        let payload: Payload = serde_json::from_value(job.payload.clone())?;
        let phase = job.phase.as_deref().unwrap_or(PHASES[0]);
        let text = format!("deletion failed in {phase}: {message}");
        super::record_given_up(
            &self.state,
            payload.container_id,
            phase,
            ("deleting", &payload.restore),
            &text,
        )
        .await
    }

    async fn run(&self, job: &mut JobRun) -> Result<(), JobError> {
        let payload: Payload = job.payload_as()?;
        let mut conn = self.state.db.get().await?;
        let Some(row) = containers::get(&mut conn, None, payload.container_id).await? else {
            // An earlier run forgot it already.
            return Ok(());
        };
        let owner = row.owner_id.unwrap_or_default();
        let node = crate::db::nodes::get(&mut conn, owner, row.node_id).await?;
        drop(conn);
        let start = job
            .start_phase()
            .and_then(|p| PHASES.iter().position(|x| *x == p))
            .unwrap_or(0);
        let hub = self.state.container_events.clone();
        let client = match &node {
            Some(node) => self.state.node_clients.client(node, &self.state.secret_key).map_err(|e| {
                tracing::error!(node.id = node.id, error = %format!("{e:#}"), "cannot build the node's client");
                "cannot use the node's credentials".to_owned()
            }),
            None => Err("the container's node is gone".to_owned()),
        };
        let mut run = Run {
            state: &self.state,
            hub: &hub,
            job,
            row,
            client,
            restore: payload.restore,
            creation_stopped: start > 0,
        };
        // Once the creation has ended, the container's lock is this job's (another action
        // under way is waited for): no action reaches the node while it is destroyed.
        let mut held = None;
        for phase in &PHASES[start..] {
            run.job.set_phase(phase).await?;
            if *phase != PHASES[0] && held.is_none() {
                match run.lock().await {
                    Ok(h) => held = Some(h),
                    Err(e) => return run.finish(phase, Err(e)).await,
                }
            }
            let result = match *phase {
                "cancel-creation" => run.cancel_creation().await,
                "destroy" => run.destroy().await,
                _ => run.forget().await,
            };
            if result.is_err() {
                return run.finish(phase, result).await;
            }
        }
        if let Some(held) = held {
            held.release().await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::has_marker;

    #[test]
    fn a_marker_counts_only_as_a_whole_word() {
        let description = Some("Created by Kiln from template web. kiln-job-12");
        assert!(has_marker(description, 12));
        assert!(!has_marker(description, 1), "kiln-job-1 is not kiln-job-12");
        assert!(!has_marker(Some("kiln-job-120"), 12));
        assert!(!has_marker(Some("not-kiln-job-12"), 12));
        assert!(has_marker(Some("kiln-job-12\nmore text"), 12));
        assert!(has_marker(Some("(kiln-job-12)"), 12));
        assert!(!has_marker(None, 12));
        assert!(!has_marker(Some(""), 12));
    }
}
