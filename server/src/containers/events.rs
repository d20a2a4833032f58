//! Creation events for live watchers. Events are rows of `container_events`, numbered per
//! container by the one job that writes them; after each write the job tells this hub
//! "container X reached event N". Watchers subscribe, and on a notice for their container
//! read the new rows from PostgreSQL — nobody polls the database per watcher, and a watcher
//! that lags behind the channel simply re-reads from its last number.

use std::sync::Arc;

use tokio::sync::{broadcast, watch};

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
    /// The notices; a receiver more than its capacity behind gets `Lagged`.
    tx: broadcast::Sender<Notice>,
    /// Set when the server shuts down: live streams end (without their `end` event, so the
    /// browser reconnects to the next server) instead of holding the graceful shutdown open.
    closing: Arc<watch::Sender<bool>>,
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
        let (closing, _) = watch::channel(false);
        EventHub {
            tx,
            closing: Arc::new(closing),
        }
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

    /// Ends every live stream (the server is shutting down).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Becomes `true` when the server shuts down.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }
}
