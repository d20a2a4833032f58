//! The monitor: polls every node on an interval, stores the samples as tiered history in
//! PostgreSQL, keeps each node's reachability, and publishes what it saw ([`Observation`]).
//!
//! - `collect` — one poll of one node: `/cluster/resources` (one call per cluster, shared
//!   with the dashboard's cache) plus `/nodes/{member}/status` per online member for the
//!   load; counters become rates; the samples are written in one statement; `node_watch`
//!   records whether it answered. Polls run in their own tasks, at most one per node, with a
//!   timeout, and a node that does not answer is asked less often (backoff).
//! - `store` — maintenance once a minute: partitions made ahead, rollups (raw → 1 min →
//!   1 h → 1 day, min/avg/max, safe to run again), whole partitions dropped past retention.
//! - `backfill` — a gap (Kiln or the node was down) filled from the node's own RRD.
//! - `service` — what the pages read: a subject's series over a range, sparklines, the
//!   nodes' reachability (`MetricsBackend`).

mod backfill;
mod collect;
pub mod observation;
pub mod service;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

pub use collect::Monitor;
pub use observation::{GuestKind, GuestSeen, MemberSeen, Observation, Observations, Seen};
pub use service::MonitorService;

/// How long each tier of the history is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Raw samples (default 48 h).
    pub raw: Duration,
    /// 1-minute rollups (default 30 days).
    pub minutes: Duration,
    /// 1-hour rollups (default 365 days).
    pub hours: Duration,
    /// 1-day rollups (default 10 years).
    pub days: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            raw: Duration::from_secs(48 * 3_600),
            minutes: Duration::from_secs(30 * 86_400),
            hours: Duration::from_secs(365 * 86_400),
            days: Duration::from_secs(10 * 366 * 86_400),
        }
    }
}

/// How the monitor runs.
#[derive(Debug, Clone)]
pub struct MonitorOptions {
    /// Time between two polls of a node.
    pub interval: Duration,
    /// The longest one poll of a node may take.
    pub timeout: Duration,
    /// Time between two maintenance runs (rollups, partitions, pruning).
    pub maintain_every: Duration,
    pub retention: Retention,
    /// Fill gaps from the nodes' own RRD.
    pub backfill: bool,
}

impl MonitorOptions {
    /// The options of `kiln serve`: the configured interval, a timeout below it.
    pub fn from_config(interval: Duration, retention: Retention) -> MonitorOptions {
        MonitorOptions {
            interval,
            timeout: interval.clamp(Duration::from_secs(2), Duration::from_secs(8)),
            maintain_every: Duration::from_secs(60),
            retention,
            backfill: true,
        }
    }

    /// The longest wait before asking a node that failed `failures` times in a row again:
    /// doubling from the interval, at most eight intervals and at most a minute.
    pub fn backoff(&self, failures: u32) -> Duration {
        if failures == 0 {
            return self.interval;
        }
        let factor = 1u32 << failures.min(3);
        (self.interval * factor).min(Duration::from_secs(60).max(self.interval))
    }
}

/// Starts the monitor's tasks (polling and maintenance) for `kiln serve`; they end when
/// the returned handle is dropped or stopped.
pub fn start(state: &crate::app_state::AppState, options: MonitorOptions) -> Arc<Monitor> {
    let monitor = Arc::new(Monitor::new(state.clone(), options));
    Monitor::spawn(&monitor);
    monitor
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_eight_intervals_or_a_minute() {
        let o = MonitorOptions::from_config(Duration::from_secs(10), Retention::default());
        assert_eq!(o.backoff(0), Duration::from_secs(10));
        assert_eq!(o.backoff(1), Duration::from_secs(20));
        assert_eq!(o.backoff(2), Duration::from_secs(40));
        assert_eq!(o.backoff(3), Duration::from_secs(60));
        assert_eq!(o.backoff(30), Duration::from_secs(60));
        let fast = MonitorOptions::from_config(Duration::from_millis(200), Retention::default());
        assert_eq!(fast.backoff(9), Duration::from_millis(1600));
        assert_eq!(fast.timeout, Duration::from_secs(2));
    }
}
