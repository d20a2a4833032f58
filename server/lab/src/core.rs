//! [`Lab`]: what every request handler and background task shares — options, the schema,
//! the persisted state, the faults and the container runtime.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use super::faults::Faults;
use super::reply::ApiError;
use super::rng::Rng;
use super::rrd::Rrd;
use super::runtime::{ContainerRuntime, Usage};
use super::schema::Schema;
use super::state::{self, State};

/// The simulated cluster.
#[derive(Debug)]
pub struct Lab {
    /// Cluster node names (`pve`, or `pve1`..`pveN`).
    pub nodes: Vec<String>,
    /// Seed of every simulated value.
    pub seed: u64,
    /// Task duration factor (1 = PVE-like, 0 = instant).
    pub speed: f64,
    /// Ticket lifetime in seconds.
    pub ticket_lifetime: i64,
    /// Where state and certificate live.
    pub data_dir: PathBuf,
    /// The certificate's SHA-256 fingerprint (shown in `/nodes` as `ssl_fingerprint`).
    pub fingerprint: String,
    /// The API schema subset, compiled.
    pub schema: Schema,
    /// Persisted state; a std mutex, never held across an await.
    state: Mutex<State>,
    /// The faults in force.
    faults: Mutex<Faults>,
    /// Draws for fault decisions (which requests fail).
    rng: Mutex<Rng>,
    /// Runs the containers.
    pub runtime: Arc<dyn ContainerRuntime>,
    /// `true` while reachable; the listener closes when it turns `false`.
    pub reachable: watch::Sender<bool>,
    /// Resource history of real containers, by id.
    history: Mutex<BTreeMap<u32, Rrd>>,
    /// Whether the API listens on a loopback address (`/lab/requests` then needs no auth).
    pub loopback: bool,
    /// API calls received, by `METHOD /path/{template}` (see [`Lab::count_request`]).
    requests: Mutex<BTreeMap<String, u64>>,
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it (the lab's state
/// stays usable; every mutation is complete before it is persisted).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Everything [`Lab::new`] needs.
#[derive(Debug)]
pub struct LabParts {
    /// See [`Lab::nodes`].
    pub nodes: Vec<String>,
    /// See [`Lab::seed`].
    pub seed: u64,
    /// See [`Lab::speed`].
    pub speed: f64,
    /// See [`Lab::ticket_lifetime`].
    pub ticket_lifetime: i64,
    /// See [`Lab::data_dir`].
    pub data_dir: PathBuf,
    /// See [`Lab::fingerprint`].
    pub fingerprint: String,
    /// The state to start from.
    pub state: State,
    /// The faults to start with.
    pub faults: Faults,
    /// See [`Lab::runtime`].
    pub runtime: Arc<dyn ContainerRuntime>,
    /// See [`Lab::loopback`].
    pub loopback: bool,
}

impl Lab {
    /// Builds the shared lab.
    pub fn new(parts: LabParts) -> anyhow::Result<Arc<Lab>> {
        let reachable = !parts.faults.unreachable;
        Ok(Arc::new(Lab {
            nodes: parts.nodes,
            seed: parts.seed,
            speed: parts.speed,
            ticket_lifetime: parts.ticket_lifetime,
            data_dir: parts.data_dir,
            fingerprint: parts.fingerprint,
            schema: Schema::load()?,
            state: Mutex::new(parts.state),
            faults: Mutex::new(parts.faults),
            rng: Mutex::new(Rng::new(parts.seed ^ 0x5EED)),
            runtime: parts.runtime,
            reachable: watch::Sender::new(reachable),
            history: Mutex::new(BTreeMap::new()),
            loopback: parts.loopback,
            requests: Mutex::new(BTreeMap::new()),
        }))
    }

    /// Reads the state.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&lock(&self.state))
    }

    /// Changes the state and persists it when `f` succeeds.
    pub fn mutate<R>(
        &self,
        f: impl FnOnce(&mut State) -> Result<R, ApiError>,
    ) -> Result<R, ApiError> {
        let mut guard = lock(&self.state);
        let result = f(&mut guard)?;
        if let Err(e) = state::save(&self.data_dir, &guard) {
            tracing::error!(error = %format!("{e:#}"), "lab state not saved");
            return Err(ApiError::fail(format!("cannot save state: {e}")));
        }
        Ok(result)
    }

    /// The faults in force.
    pub fn faults(&self) -> Faults {
        lock(&self.faults).clone()
    }

    /// Replaces the faults (and opens/closes the listener to match `unreachable`).
    pub fn set_faults(&self, faults: Faults) {
        let reachable = !faults.unreachable;
        *lock(&self.faults) = faults;
        self.reachable.send_replace(reachable);
    }

    /// Makes the node (un)reachable without touching the other faults.
    pub fn set_unreachable(&self, unreachable: bool) {
        lock(&self.faults).unreachable = unreachable;
        self.reachable.send_replace(!unreachable);
    }

    /// The next draw in `[0, 1)` for fault decisions.
    pub fn draw(&self) -> f64 {
        lock(&self.rng).next_f64()
    }

    /// Whether `node` is a node of this cluster.
    pub fn has_node(&self, node: &str) -> bool {
        self.nodes.iter().any(|n| n == node)
    }

    /// Adds a sample of container `vmid`'s figures to its history.
    pub fn record(&self, vmid: u32, usage: &Usage) {
        lock(&self.history)
            .entry(vmid)
            .or_default()
            .add(now(), usage);
    }

    /// The container stopped: its counters start again at zero.
    pub fn pause_history(&self, vmid: u32) {
        if let Some(rrd) = lock(&self.history).get_mut(&vmid) {
            rrd.pause();
        }
    }

    /// The history rows of `vmid` (see [`Rrd::rows`]), if the runtime keeps one.
    pub fn history(
        &self,
        vmid: u32,
        timeframe: &str,
        max: bool,
        base: &serde_json::Value,
    ) -> Option<Vec<serde_json::Value>> {
        if self.runtime.kind() != super::runtime::RuntimeKind::Lxc {
            return None;
        }
        let history = lock(&self.history);
        let rows = match history.get(&vmid) {
            Some(rrd) => rrd.rows(timeframe, max, now(), base),
            None => Rrd::default().rows(timeframe, max, now(), base),
        };
        Some(rows)
    }

    /// Counts one API call under `key` (`GET /nodes/{node}/lxc`: the schema's path, so the
    /// keys stay few whatever the ids).
    pub fn count_request(&self, key: String) {
        *lock(&self.requests).entry(key).or_insert(0) += 1;
    }

    /// The API calls received so far, by key.
    pub fn requests(&self) -> BTreeMap<String, u64> {
        lock(&self.requests).clone()
    }

    /// Seconds a task of base duration `base` takes at this speed.
    pub fn task_delay(&self, base: f64) -> std::time::Duration {
        std::time::Duration::from_secs_f64((base * self.speed).max(0.0))
    }
}

/// Unix time now.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
