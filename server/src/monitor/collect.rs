//! Polling: one task ticks every interval and starts a poll for each node that is due and
//! not already being polled; a poll never waits for another node and never blocks a request.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kiln_shared::pve::ClusterResource;

use super::observation::{GuestKind, GuestSeen, MemberSeen, Observation, Seen};
use super::{MonitorOptions, store};
use crate::app_state::AppState;
use crate::db::metrics::{self as q, RawSample, SeriesKey};
use crate::db::nodes::NodeRow;
use crate::proxmox::ProxmoxApi as _;

/// What the previous poll saw of one series: its counters (for rates) and status.
#[derive(Debug, Clone, Copy)]
struct Prev {
    at: DateTime<Utc>,
    netin: Option<u64>,
    netout: Option<u64>,
    diskread: Option<u64>,
    diskwrite: Option<u64>,
}

/// A node's polling state.
#[derive(Debug, Clone, Default)]
struct NodeState {
    /// A poll of it runs now.
    polling: bool,
    /// Failures in a row.
    failures: u32,
    /// Not asked again before.
    next: Option<Instant>,
    /// The guests' statuses the last answer showed (vmid → status).
    statuses: HashMap<u32, String>,
    /// Whether the last poll got an answer (`None`: not polled since Kiln started).
    answered: Option<bool>,
}

/// The monitor (see the module docs of `monitor`).
pub struct Monitor {
    pub(super) state: AppState,
    pub(super) options: MonitorOptions,
    nodes: Mutex<HashMap<i64, NodeState>>,
    prev: Mutex<HashMap<SeriesKey, Prev>>,
    series: Mutex<HashMap<SeriesKey, i32>>,
    pub(super) store: Arc<store::Store>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("interval", &self.options.interval)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `now - then` in seconds, when positive.
fn secs_between(then: DateTime<Utc>, now: DateTime<Utc>) -> Option<f64> {
    let ms = (now - then).num_milliseconds();
    (ms > 0).then(|| ms as f64 / 1000.0)
}

/// A counter's rate per second since `before`; `None` without a previous value or when the
/// counter went backwards (the guest restarted: its counters began again at zero).
pub fn rate(now: Option<u64>, before: Option<u64>, secs: Option<f64>) -> Option<f64> {
    let (now, before, secs) = (now?, before?, secs?);
    if now < before {
        return None;
    }
    Some((now - before) as f64 / secs)
}

impl Monitor {
    pub fn new(state: AppState, options: MonitorOptions) -> Monitor {
        let (stop, _) = tokio::sync::watch::channel(false);
        Monitor {
            store: Arc::new(store::Store::new(options.retention)),
            state,
            options,
            nodes: Mutex::new(HashMap::new()),
            prev: Mutex::new(HashMap::new()),
            series: Mutex::new(HashMap::new()),
            stop,
        }
    }

    /// Starts the polling and maintenance tasks.
    pub fn spawn(this: &Arc<Monitor>) {
        let poller = Arc::clone(this);
        let mut stop = this.stop.subscribe();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(poller.options.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => Monitor::poll_due(&poller).await,
                    _ = stop.changed() => break,
                }
            }
        });
        let keeper = Arc::clone(this);
        let mut stop = this.stop.subscribe();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(keeper.options.maintain_every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if let Err(e) = keeper.maintain(Utc::now()).await {
                            tracing::warn!("monitor maintenance failed: {e:#}");
                        }
                    }
                    _ = stop.changed() => break,
                }
            }
        });
    }

    /// Ends the tasks (a poll under way finishes).
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Starts a poll (in its own task) of every node that is due and not being polled.
    pub async fn poll_due(this: &Arc<Monitor>) {
        let rows = {
            let Ok(mut conn) = this.state.conn().await else {
                return;
            };
            match crate::db::nodes::all(&mut conn).await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::warn!("monitor: cannot list the nodes: {e}");
                    return;
                }
            }
        };
        let now = Instant::now();
        for row in rows {
            {
                let mut nodes = lock(&this.nodes);
                let node = nodes.entry(row.id).or_default();
                if node.polling || node.next.is_some_and(|next| next > now) {
                    continue;
                }
                node.polling = true;
            }
            let monitor = Arc::clone(this);
            tokio::spawn(async move {
                monitor.poll(&row).await;
            });
        }
    }

    /// Polls every node once now and waits for all of them (tests, `kiln` tools).
    pub async fn poll_all(&self) -> anyhow::Result<Vec<Observation>> {
        let rows = {
            let mut conn = self.state.conn().await?;
            crate::db::nodes::all(&mut conn).await?
        };
        let mut seen = Vec::new();
        for row in rows {
            lock(&self.nodes).entry(row.id).or_default().polling = true;
            seen.push(self.poll(&row).await);
        }
        Ok(seen)
    }

    /// One poll of node `row`: asks, stores, records its reachability, publishes.
    async fn poll(&self, row: &NodeRow) -> Observation {
        let at = Utc::now();
        let answer = tokio::time::timeout(self.options.timeout, self.ask(row))
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "no answer within {} s",
                    self.options.timeout.as_secs_f64()
                ))
            });
        let observation = match answer {
            Ok((resources, loads)) => {
                let seen = self.see(row, &resources, &loads, at).await;
                if let Err(e) = self.write(row, &seen, at).await {
                    tracing::warn!(node = row.id, "monitor: storing samples failed: {e:#}");
                }
                // Kiln's containers keep their last known state fresh for the offline views,
                // whether or not anyone looks at the dashboard.
                let known: Vec<_> = seen
                    .guests
                    .iter()
                    .filter_map(|g| {
                        let id = g.container_id?;
                        let r = resources.iter().find(|r| {
                            r.vmid == Some(g.vmid) && (r.kind == "lxc" || r.kind == "qemu")
                        })?;
                        crate::containers::service::seen_of(id, r)
                    })
                    .collect();
                if let Ok(mut conn) = self.state.conn().await
                    && let Err(e) = crate::db::containers::record_seen(&mut conn, &known, 60).await
                {
                    tracing::warn!(node = row.id, "monitor: recording last known states: {e}");
                }
                Ok(seen)
            }
            Err(e) => Err(e),
        };
        let error = observation.as_ref().err().map(String::as_str);
        let watch = match self.state.conn().await {
            Ok(mut conn) => q::record_poll(&mut conn, row.id, at, error)
                .await
                .map_err(|e| tracing::warn!(node = row.id, "monitor: recording a poll: {e}"))
                .ok()
                .flatten(),
            Err(_) => None,
        };
        let came_back = {
            let mut nodes = lock(&self.nodes);
            let node = nodes.entry(row.id).or_default();
            node.polling = false;
            let before = node.answered;
            node.answered = Some(observation.is_ok());
            match &observation {
                Ok(seen) => {
                    node.failures = 0;
                    node.next = None;
                    node.statuses = seen
                        .guests
                        .iter()
                        .map(|g| (g.vmid, g.status.clone()))
                        .collect();
                }
                Err(_) => {
                    node.failures = node.failures.saturating_add(1);
                    node.next = Some(Instant::now() + self.options.backoff(node.failures));
                }
            }
            observation.is_ok() && before != Some(true)
        };
        if came_back && self.options.backfill {
            // The first answer since Kiln started or since the node went away: fill the gap
            // from the node's own RRD, beside the next polls.
            if let Ok(seen) = &observation {
                self.backfill_later(row, seen, at);
            }
        }
        let observation = Observation {
            node_id: row.id,
            owner_id: row.owner_id,
            node_name: row.name.clone(),
            at,
            unreachable_since: watch.and_then(|w| w.unreachable_since),
            seen: observation,
        };
        self.state.observations.publish(observation.clone());
        observation
    }

    /// The node's `/cluster/resources` and each online member's load.
    async fn ask(
        &self,
        row: &NodeRow,
    ) -> Result<(Arc<Vec<ClusterResource>>, HashMap<String, f64>), String> {
        let resources = self
            .state
            .node_clients
            .resources_within(
                row,
                &self.state.secret_key,
                self.options.timeout,
                Duration::ZERO,
            )
            .await?;
        let client = self
            .state
            .node_clients
            .client(row, &self.state.secret_key)
            .map_err(|e| format!("{e:#}"))?;
        let members: Vec<String> = resources
            .iter()
            .filter(|r| r.kind == "node" && r.status.as_deref() == Some("online"))
            .filter_map(|r| r.node.clone())
            .collect();
        let statuses = futures::future::join_all(members.iter().map(|m| {
            let client = Arc::clone(&client);
            async move { (m.clone(), client.node_status(m).await) }
        }))
        .await;
        let loads = statuses
            .into_iter()
            .filter_map(|(m, s)| Some((m, s.ok()?.load1()?)))
            .collect();
        Ok((resources, loads))
    }

    /// The guests and members of an answer, with rates from the previous poll.
    async fn see(
        &self,
        row: &NodeRow,
        resources: &[ClusterResource],
        loads: &HashMap<String, f64>,
        at: DateTime<Utc>,
    ) -> Seen {
        let kiln: HashMap<u32, i64> = match self.state.conn().await {
            Ok(mut conn) => q::kiln_guests(&mut conn, row.id)
                .await
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(vmid, id)| Some((u32::try_from(vmid).ok()?, id)))
                .collect(),
            Err(_) => HashMap::new(),
        };
        let was = lock(&self.nodes)
            .get(&row.id)
            .map(|n| n.statuses.clone())
            .unwrap_or_default();
        let mut seen = Seen::default();
        let mut prev = lock(&self.prev);
        for r in resources {
            match r.kind.as_str() {
                "lxc" | "qemu" if !r.template => {
                    let Some(vmid) = r.vmid else { continue };
                    let kind = if r.kind == "lxc" {
                        GuestKind::Lxc
                    } else {
                        GuestKind::Qemu
                    };
                    let key = guest_key(row.id, kind, vmid);
                    let status = r.status.clone().unwrap_or_default();
                    let running = status == "running";
                    let before = prev.get(&key).copied();
                    let secs = before.and_then(|p| secs_between(p.at, at));
                    let r8 = |now: Option<u64>, pick: fn(&Prev) -> Option<u64>| {
                        rate(now, before.as_ref().and_then(pick), secs)
                    };
                    let guest = GuestSeen {
                        vmid,
                        kind: Some(kind),
                        container_id: kiln.get(&vmid).copied(),
                        name: r.name.clone(),
                        member: r.node.clone(),
                        was: was.get(&vmid).cloned(),
                        status,
                        lock: r.lock.clone().filter(|l| !l.is_empty()),
                        cpu: r.cpu,
                        mem: r.mem,
                        maxmem: r.maxmem,
                        disk: r.disk,
                        maxdisk: r.maxdisk,
                        netin: r8(r.netin, |p| p.netin),
                        netout: r8(r.netout, |p| p.netout),
                        diskread: r8(r.diskread, |p| p.diskread),
                        diskwrite: r8(r.diskwrite, |p| p.diskwrite),
                        uptime: r.uptime,
                    };
                    if running {
                        prev.insert(
                            key,
                            Prev {
                                at,
                                netin: r.netin,
                                netout: r.netout,
                                diskread: r.diskread,
                                diskwrite: r.diskwrite,
                            },
                        );
                    } else {
                        // Stopped: its counters start again at zero.
                        prev.remove(&key);
                    }
                    seen.guests.push(guest);
                }
                "node" => {
                    let Some(name) = r.node.clone() else { continue };
                    seen.members.push(MemberSeen {
                        online: r.status.as_deref() == Some("online"),
                        load: loads.get(&name).copied(),
                        name,
                        cpu: r.cpu,
                        mem: r.mem,
                        maxmem: r.maxmem,
                        disk: r.disk,
                        maxdisk: r.maxdisk,
                        uptime: r.uptime,
                    });
                }
                _ => {}
            }
        }
        seen
    }

    /// Stores the samples of an answer: running guests and online members.
    async fn write(&self, row: &NodeRow, seen: &Seen, at: DateTime<Utc>) -> anyhow::Result<()> {
        let mut keys = Vec::new();
        let mut samples = Vec::new();
        let to_i64 = |v: Option<u64>| v.and_then(|v| i64::try_from(v).ok());
        let f32_of = |v: Option<f64>| v.map(|v| v as f32);
        for g in seen.guests.iter().filter(|g| g.status == "running") {
            keys.push(guest_key(row.id, g.kind.unwrap_or(GuestKind::Lxc), g.vmid));
            samples.push(RawSample {
                series_id: 0,
                at,
                cpu: f32_of(g.cpu),
                mem: to_i64(g.mem),
                maxmem: to_i64(g.maxmem),
                disk: to_i64(g.disk),
                maxdisk: to_i64(g.maxdisk),
                netin: f32_of(g.netin),
                netout: f32_of(g.netout),
                diskread: f32_of(g.diskread),
                diskwrite: f32_of(g.diskwrite),
                load: None,
                uptime: to_i64(g.uptime),
            });
        }
        for m in seen.members.iter().filter(|m| m.online) {
            keys.push(member_key(row.id, &m.name));
            samples.push(RawSample {
                series_id: 0,
                at,
                cpu: f32_of(m.cpu),
                mem: to_i64(m.mem),
                maxmem: to_i64(m.maxmem),
                disk: to_i64(m.disk),
                maxdisk: to_i64(m.maxdisk),
                load: f32_of(m.load),
                uptime: to_i64(m.uptime),
                ..RawSample::default()
            });
        }
        if samples.is_empty() {
            return Ok(());
        }
        let mut conn = self.state.conn().await?;
        let ids = self.series_ids(&mut conn, &keys).await?;
        for (sample, id) in samples.iter_mut().zip(ids) {
            sample.series_id = id;
        }
        self.store
            .ensure(&mut conn, crate::db::metrics::Tier::Raw, at)
            .await?;
        q::insert_raw(&mut conn, &samples).await?;
        Ok(())
    }

    /// The ids of `keys`, from memory or the database.
    pub(super) async fn series_ids(
        &self,
        conn: &mut crate::db::DbConn,
        keys: &[SeriesKey],
    ) -> anyhow::Result<Vec<i32>> {
        let missing: Vec<SeriesKey> = {
            let known = lock(&self.series);
            keys.iter()
                .filter(|k| !known.contains_key(*k))
                .cloned()
                .collect::<HashSet<_>>()
                .into_iter()
                .collect()
        };
        if !missing.is_empty() {
            let ids = q::series_ids(conn, &missing).await?;
            let mut known = lock(&self.series);
            for (key, id) in missing.into_iter().zip(ids) {
                known.insert(key, id);
            }
        }
        let known = lock(&self.series);
        keys.iter()
            .map(|k| {
                known
                    .get(k)
                    .copied()
                    .ok_or_else(|| anyhow::anyhow!("series {k:?} has no id"))
            })
            .collect()
    }

    /// Runs the maintenance once (partitions, rollups, pruning) as of `now`.
    pub async fn maintain(&self, now: DateTime<Utc>) -> anyhow::Result<store::Maintained> {
        let mut conn = self.state.conn().await?;
        self.store.maintain(&mut conn, now).await
    }

    /// Fills the gap before this answer from the node's RRD, in its own task.
    fn backfill_later(&self, row: &NodeRow, seen: &Seen, at: DateTime<Utc>) {
        let job = super::backfill::Backfill::new(self, row, seen, at);
        tokio::spawn(async move {
            if let Err(e) = job.run().await {
                tracing::warn!("monitor: back-filling from the node's RRD failed: {e:#}");
            }
        });
    }

    /// Back-fills now and waits (tests): what [`Monitor::poll`] starts after a gap.
    pub async fn backfill_now(&self, node_id: i64) -> anyhow::Result<usize> {
        let row = {
            let mut conn = self.state.conn().await?;
            crate::db::nodes::all(&mut conn)
                .await?
                .into_iter()
                .find(|r| r.id == node_id)
                .ok_or_else(|| anyhow::anyhow!("node {node_id} is gone"))?
        };
        let resources = self
            .state
            .node_clients
            .resources(&row, &self.state.secret_key, self.options.timeout)
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        let now = Utc::now();
        let seen = self.see(&row, &resources, &HashMap::new(), now).await;
        super::backfill::Backfill::new(self, &row, &seen, now)
            .run()
            .await
    }
}

/// The series key of guest `vmid` of node `node_id`.
pub fn guest_key(node_id: i64, kind: GuestKind, vmid: u32) -> SeriesKey {
    SeriesKey {
        node_id,
        kind: match kind {
            GuestKind::Lxc => "lxc",
            GuestKind::Qemu => "qemu",
        },
        vmid: i32::try_from(vmid).unwrap_or(i32::MAX),
        member: String::new(),
    }
}

/// The series key of cluster member `member` of node `node_id`.
pub fn member_key(node_id: i64, member: &str) -> SeriesKey {
    SeriesKey {
        node_id,
        kind: "member",
        vmid: 0,
        member: member.to_owned(),
    }
}

/// How long after its last sample a series counts as having a gap worth back-filling.
pub const GAP: Duration = Duration::from_secs(120);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_become_rates_and_a_reset_gives_none() {
        assert_eq!(rate(Some(2_000), Some(1_000), Some(10.0)), Some(100.0));
        assert_eq!(rate(Some(500), Some(1_000), Some(10.0)), None, "reset");
        assert_eq!(rate(Some(500), None, Some(10.0)), None, "first poll");
        assert_eq!(rate(Some(500), Some(100), None), None);
    }
}
