//! What one poll of a node saw, as the monitor hands it to whoever listens (the alerts'
//! evaluator): the node's guests and cluster members with their figures, or why the node did
//! not answer. Published on [`Observations`] after the samples are stored.

use std::sync::Arc;

use chrono::{DateTime, Utc};

/// One poll of one Kiln node (a cluster's entry point).
#[derive(Debug, Clone)]
pub struct Observation {
    pub node_id: i64,
    /// The node's owner (whose rules apply).
    pub owner_id: i64,
    /// The node's name in Kiln.
    pub node_name: String,
    /// When the poll was made.
    pub at: DateTime<Utc>,
    /// What it saw, or why the node did not answer (one line, no secret).
    pub seen: Result<Seen, String>,
    /// Since when the node has not answered (this poll included), while it does not.
    pub unreachable_since: Option<DateTime<Utc>>,
}

/// The answer of a node that answered.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub guests: Vec<GuestSeen>,
    pub members: Vec<MemberSeen>,
}

/// A guest's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GuestKind {
    Lxc,
    Qemu,
}

/// One guest (container or VM) as the poll saw it.
#[derive(Debug, Clone, Default)]
pub struct GuestSeen {
    pub vmid: u32,
    pub kind: Option<GuestKind>,
    /// Kiln's container row, when Kiln manages it.
    pub container_id: Option<i64>,
    pub name: Option<String>,
    /// The cluster member it runs on.
    pub member: Option<String>,
    /// `running`, `stopped`, ...
    pub status: String,
    /// The status the previous poll saw (`None`: first seen since Kiln started).
    pub was: Option<String>,
    /// A PVE lock (`backup`, `migrate`, `snapshot`, ...) — the node is working on it.
    pub lock: Option<String>,
    pub cpu: Option<f64>,
    pub mem: Option<u64>,
    pub maxmem: Option<u64>,
    pub disk: Option<u64>,
    pub maxdisk: Option<u64>,
    /// Bytes per second since the previous poll (`None` on the first poll or after a
    /// counter went backwards: a restart).
    pub netin: Option<f64>,
    pub netout: Option<f64>,
    pub diskread: Option<f64>,
    pub diskwrite: Option<f64>,
    pub uptime: Option<u64>,
}

/// One cluster member as the poll saw it.
#[derive(Debug, Clone, Default)]
pub struct MemberSeen {
    pub name: String,
    pub online: bool,
    pub cpu: Option<f64>,
    pub mem: Option<u64>,
    pub maxmem: Option<u64>,
    pub disk: Option<u64>,
    pub maxdisk: Option<u64>,
    /// The 1-minute load average.
    pub load: Option<f64>,
    pub uptime: Option<u64>,
}

/// The monitor's observations, fanned out to every subscriber (a slow one misses some
/// rather than holding the monitor up).
#[derive(Debug, Clone)]
pub struct Observations {
    tx: tokio::sync::broadcast::Sender<Arc<Observation>>,
}

impl Default for Observations {
    fn default() -> Self {
        let (tx, _) = tokio::sync::broadcast::channel(256);
        Observations { tx }
    }
}

impl Observations {
    /// Hands `observation` to every subscriber.
    pub fn publish(&self, observation: Observation) {
        let _ = self.tx.send(Arc::new(observation));
    }

    /// A new subscriber's receiver (it sees what is published from now on).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<Observation>> {
        self.tx.subscribe()
    }
}
