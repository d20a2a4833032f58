//! Alerts: each user's rules watched against what the monitor sees, the alerts they fire and
//! resolve, and the notifications sent about them.
//!
//! - `evaluate` — the pure hysteresis: one observation against one owner's rules.
//! - `evaluator` — the task that subscribes to the monitor's [`Observations`], loads the
//!   owner's rules and open alerts, asks Redis and PostgreSQL whether Kiln stopped a container
//!   itself, and fires or resolves alerts (each with its deliveries, in one transaction).
//! - `hooks` — what other domains call: the creation job's failure and success.
//! - `delivery` — the bodies of each channel kind (webhook signed with HMAC-SHA256, ntfy,
//!   Discord, Slack) and the one HTTP client that sends them.
//! - `dispatch` — the task that sends due deliveries and retries failures with exponential
//!   backoff (`alert_deliveries`: attempts, `next_at`, `last_error`).
//! - `service` — `AlertService`, the app's `AlertsBackend`: the pages' reads, acknowledge,
//!   rules and channels (validated with `kiln_shared::alerts`, audited), *Send test*.
//!
//! **Invariants:** an open alert row is the state that matters — at most one per rule and
//! subject (a unique index), so a restart, a resumed job or a second replica never fires it
//! twice. A channel's URL and a webhook's key are sealed at rest (`crypto`), and appear in no
//! log line, event, error or page (a delivery's error is a status or an error kind, never
//! the URL).
//!
//! [`Observations`]: crate::monitor::Observations

pub mod delivery;
pub mod dispatch;
pub mod evaluate;
pub mod evaluator;
pub mod hooks;
pub mod service;

pub use dispatch::DispatchOptions;
pub use evaluate::Tuning;
pub use service::AlertService;

use std::sync::Arc;

use tokio::sync::Notify;

use crate::app_state::AppState;

/// The deliveries' wake-up, shared through `AppState`: whoever queues a delivery pokes it,
/// the dispatcher of this process sends at once (it also polls, for other replicas' rows).
#[derive(Debug, Clone, Default)]
pub struct AlertsHub {
    wake: Arc<Notify>,
}

impl AlertsHub {
    /// Wakes the dispatcher.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub(crate) fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.wake.notified()
    }
}

/// The running alert tasks (evaluator and dispatcher); [`Running::stop`] ends them.
#[derive(Debug)]
pub struct Running {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Ends both tasks (an evaluation or a send under way is dropped; its transaction rolls
    /// back and a claimed delivery is taken again once its claim expires).
    pub fn stop(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}

/// Starts the evaluator and the dispatcher with the production tuning (`kiln serve`).
pub fn start(state: &AppState) -> Running {
    start_with(state, Tuning::default(), DispatchOptions::default())
}

/// Starts them with explicit tuning (tests: instant resolution, fast retries).
pub fn start_with(state: &AppState, tuning: Tuning, dispatch: DispatchOptions) -> Running {
    let evaluator = evaluator::Evaluator::new(state.clone(), tuning);
    let receiver = state.observations.subscribe();
    let dispatcher = dispatch::Dispatcher::new(state.clone(), dispatch);
    Running {
        tasks: vec![
            tokio::spawn(evaluator.run(receiver)),
            tokio::spawn(dispatcher.run()),
        ],
    }
}
