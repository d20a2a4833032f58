//! Containers (one kind of guest; VMs will take the same shape): the service that validates,
//! authorizes and records a creation (`service`), the durable creation job (`create`), and
//! the fan-out of creation events to live watchers (`events`), and the live progress stream
//! a watcher reads (`progress`).
//!
//! Architecture Invariant: a container row is written (with its job, in one transaction)
//! before anything is sent to a node, so nothing exists on a node that Kiln does not list;
//! no secret goes into a job's payload, an event or a log line (the root password travels
//! sealed in the row and is cleared once the node has it).

pub mod create;
pub mod events;
pub mod progress;
pub mod provision;
pub mod service;
pub mod vmids;

/// The creation job's kind.
pub const CREATE_JOB: &str = "container.create";

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
