//! Creation events for live watchers. Events are rows of `container_events`, numbered per
//! container by the one job that writes them; after each write the job tells this hub
//! "container X reached event N". Watchers subscribe, and on a notice for their container
//! read the new rows from PostgreSQL — nobody polls the database per watcher, and a watcher
//! that lags behind the channel simply re-reads from its last number.

use tokio::sync::broadcast;

/// "Container `container_id` has events up to `seq`" (`seq` 0: its status changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notice {
    /// The container.
    pub container_id: i64,
    /// Its newest event number.
    pub seq: i64,
}

/// The in-process fan-out of [`Notice`]s.
#[derive(Debug, Clone)]
pub struct EventHub {
    tx: broadcast::Sender<Notice>,
}

impl Default for EventHub {
    fn default() -> Self {
        EventHub::new()
    }
}

impl EventHub {
    /// A hub keeping the last 1024 notices for slow receivers.
    pub fn new() -> EventHub {
        let (tx, _) = broadcast::channel(1024);
        EventHub { tx }
    }

    /// Tells watchers of `container_id` that events up to `seq` exist.
    pub fn notify(&self, container_id: i64, seq: i64) {
        // No receiver is fine: nobody watches.
        let _ = self.tx.send(Notice { container_id, seq });
    }

    /// Notices from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.tx.subscribe()
    }
}
