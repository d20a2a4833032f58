//! The evaluator: a task that takes each [`Observation`] the monitor publishes, evaluates it
//! against its owner's enabled rules (`evaluate`), and writes what changed — an alert fired
//! with its deliveries, or resolved with its deliveries, one transaction each. A failure is
//! logged and the next observation is taken; a receiver that fell behind skips what it
//! missed (the next poll of each node says the same again).

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use kiln_shared::alerts::RuleKind;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;

use super::evaluate::{self, Change, Firing, Inputs, Memory, Open, Tuning};
use crate::app_state::AppState;
use crate::db::alerts::{self as queries, NewAlert};
use crate::monitor::Observation;

/// How recent a Kiln `action` event on a container must be to explain its stop (a shutdown
/// waits up to 60 s, the monitor polls every 10 s; a margin for slow nodes).
const ACTION_WINDOW_SECS: i64 = 300;

/// The evaluator's state: the app's pools and its clocks.
pub struct Evaluator {
    state: AppState,
    tuning: Tuning,
    memory: Memory,
    /// Owners whose default rules were made (or found made) since start.
    defaults: HashSet<i64>,
}

impl Evaluator {
    pub fn new(state: AppState, tuning: Tuning) -> Self {
        Evaluator {
            state,
            tuning,
            memory: Memory::default(),
            defaults: HashSet::new(),
        }
    }

    /// Takes observations until the monitor's channel closes.
    pub async fn run(mut self, mut receiver: Receiver<Arc<Observation>>) {
        loop {
            match receiver.recv().await {
                Ok(obs) => {
                    if let Err(e) = self.observe(&obs).await {
                        tracing::warn!(
                            node.id = obs.node_id,
                            error = %format!("{e:#}"),
                            "alerts: evaluating a poll failed"
                        );
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "alerts: the evaluator fell behind the monitor");
                }
                Err(RecvError::Closed) => return,
            }
        }
    }

    /// Evaluates one observation and writes its changes; returns them (tests).
    pub async fn observe(&mut self, obs: &Observation) -> anyhow::Result<Vec<Change>> {
        let mut conn = self.state.db.get().await?;
        if !self.defaults.contains(&obs.owner_id) {
            queries::ensure_defaults(&mut conn, obs.owner_id).await?;
            self.defaults.insert(obs.owner_id);
        }
        let rules: Vec<_> = queries::rules(&mut conn, obs.owner_id)
            .await?
            .into_iter()
            .filter(|r| r.enabled && r.kind().is_some_and(|k| k != RuleKind::JobFailed))
            .collect();
        let ids: HashSet<i64> = rules.iter().map(|r| r.id).collect();
        self.memory.forget_other_rules(obs.node_id, &ids);
        if rules.is_empty() {
            return Ok(Vec::new());
        }
        let open: Vec<Open> = queries::open_alerts(&mut conn, obs.owner_id)
            .await?
            .into_iter()
            .filter_map(|a| {
                Some(Open {
                    id: a.id,
                    rule_id: a.rule_id?,
                    subject: a.subject,
                })
            })
            .collect();
        let watches_downs = rules
            .iter()
            .any(|r| r.kind() == Some(RuleKind::ContainerDown));
        let candidates = if watches_downs {
            evaluate::stop_candidates(obs)
        } else {
            Vec::new()
        };
        let kiln_acted = self.kiln_acted(&mut conn, &candidates).await?;
        let inputs = Inputs {
            rules: &rules,
            open: &open,
            kiln_acted: &kiln_acted,
        };
        let changes = evaluate::evaluate(obs, &inputs, &mut self.memory, self.tuning);
        let mut queued = false;
        for change in &changes {
            match change {
                Change::Fire(firing) => {
                    if let Some(row) = queries::fire(&mut conn, &new_alert(obs, firing)).await? {
                        tracing::info!(
                            alert.id = row.id,
                            alert.kind = %row.kind,
                            node.id = obs.node_id,
                            "alert fired: {}",
                            crate::db::audit::clean(&row.title)
                        );
                        queued = true;
                    }
                }
                Change::Resolve(id) => {
                    if let Some(row) = queries::resolve(&mut conn, *id, obs.at).await? {
                        tracing::info!(alert.id = row.id, alert.kind = %row.kind, "alert resolved");
                        queued = true;
                    }
                }
            }
        }
        if queued {
            self.state.alerts.wake();
        }
        Ok(changes)
    }

    /// Which of `ids` (Kiln's containers that just stopped) a Kiln action explains: one holds
    /// the container's lock now, had an `action` event in the last minutes, or is being
    /// created or deleted. Redis down: the database's answer alone.
    async fn kiln_acted(
        &self,
        conn: &mut AsyncPgConnection,
        ids: &[i64],
    ) -> anyhow::Result<HashSet<i64>> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let mut acted: HashSet<i64> = match crate::containers::lock::GuestLocks::new(&self.state)
            .holders(ids)
            .await
        {
            Ok(holders) => holders.into_keys().collect(),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "alerts: cannot read container locks");
                HashSet::new()
            }
        };
        #[derive(QueryableByName)]
        struct Id {
            #[diesel(sql_type = BigInt)]
            id: i64,
        }
        let since = Utc::now() - Duration::seconds(ACTION_WINDOW_SECS);
        let rows: Vec<Id> = diesel::sql_query(
            "SELECT c.id FROM containers c WHERE c.id = ANY($1) AND (c.status IN ('creating', 'deleting') \
               OR EXISTS (SELECT 1 FROM container_events e \
                          WHERE e.container_id = c.id AND e.kind = 'action' AND e.at > $2))",
        )
        .bind::<Array<BigInt>, _>(ids)
        .bind::<Timestamptz, _>(since)
        .load(conn)
        .await?;
        acted.extend(rows.into_iter().map(|r| r.id));
        Ok(acted)
    }
}

fn new_alert(obs: &Observation, f: &Firing) -> NewAlert {
    NewAlert {
        owner_id: obs.owner_id,
        rule_id: Some(f.rule_id),
        kind: f.kind.as_str().to_owned(),
        subject: f.subject.clone(),
        title: f.title.clone(),
        detail: f.detail.clone(),
        node_id: Some(f.node_id),
        container_id: f.container_id,
        vmid: f.vmid.and_then(|v| i32::try_from(v).ok()),
        fired_at: obs.at,
    }
}
