//! Containers (one kind of guest; VMs will take the same shape): the service that validates,
//! authorizes and records a creation or a deletion (`service`), the durable creation job
//! (`create`) and deletion job (`delete`), the VMID cache the allocation reads (`vmids`), the
//! fan-out of a container's events to live watchers (`events`), and the live progress stream
//! a watcher reads (`progress`).
//!
//! Architecture Invariant: a container row is written (with its job, in one transaction)
//! before anything is sent to a node, so nothing exists on a node that Kiln does not list;
//! no secret goes into a job's payload, an event or a log line (the root password travels
//! sealed in the row and is cleared once the node has it). Kiln destroys on a node only a
//! container carrying its creation job's marker (`kiln-job-<id>`) in its description.

pub mod create;
pub mod discover;

pub mod delete;
pub mod events;
pub mod lock;
pub mod logs;
pub mod progress;
pub mod provision;
pub mod service;
pub mod test_run;
pub mod wizard;

pub mod vmids;

/// The creation job's kind.
pub const CREATE_JOB: &str = "container.create";

/// The deletion job's kind.
pub const DELETE_JOB: &str = "container.delete";

/// Whether Proxmox answered that a guest does not exist ("Configuration file
/// 'nodes/pve/lxc/105.conf' does not exist"): PVE tells it only in its message.
pub(crate) fn pve_says_missing(e: &crate::proxmox::Error) -> bool {
    use crate::proxmox::Error;
    matches!(e, Error::Server { message, .. } | Error::Client { message, .. }
        if message.contains("does not exist"))
}

/// Whether Proxmox refused a creation because the VMID is taken by a guest anywhere in the
/// cluster ("CT 105 already exists on node 'pve'", "VM 105 already exists on node ...").
pub(crate) fn pve_says_exists(e: &crate::proxmox::Error) -> bool {
    use crate::proxmox::Error;
    matches!(e, Error::Server { message, .. } | Error::Client { message, .. }
        if message.contains("already exists on node"))
}

/// Records that container `id`'s job was given up (`jobs::JobHandler::given_up`): while the
/// row is still `from` (the job's running state), it becomes `to` with `text` as its error and
/// an `outcome` event in `phase` — so no row stays `creating` or `deleting` with no job left.
pub(crate) async fn record_given_up(
    state: &crate::app_state::AppState,
    id: i64,
    phase: &str,
    (from, to): (&str, &str),
    text: &str,
) -> anyhow::Result<()> {
    use diesel_async::AsyncConnection as _;
    let mut pooled = state.db.get().await?;
    let seq = pooled
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            if !crate::db::containers::change_status(conn, id, from, to, Some(text)).await? {
                return Ok(None);
            }
            crate::db::containers::append_event(conn, id, phase, "outcome", text)
                .await
                .map(Some)
        })
        .await?;
    if let Some(seq) = seq {
        state.container_events.notify(id, seq);
    }
    Ok(())
}

/// Runs the query `$write` (over `$conn` and this container's `$id`) in a transaction fenced
/// by the job's lease, so it happens only while this worker holds the job. `$run` is a job's
/// run over one container (fields `state`, `job`, `row`: the creation's and the deletion's).
/// A macro, not a function: the query's future must be `Send`, which an `AsyncFnOnce` bound
/// cannot say.
macro_rules! fenced {
    ($run:expr, |$conn:ident, $id:ident| $write:expr) => {{
        use diesel_async::AsyncConnection as _;
        let lease = $run.job.lease().clone();
        let $id = $run.row.id;
        let mut pooled = $run.state.db.get().await?;
        pooled
            .transaction::<_, $crate::jobs::JobError, _>(async |$conn| {
                lease.fence($conn).await?;
                Ok($write.await?)
            })
            .await
    }};
}
pub(crate) use fenced;
