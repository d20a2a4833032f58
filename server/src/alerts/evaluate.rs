//! The evaluation of one [`Observation`] against one owner's rules: pure, so the hysteresis is
//! tested without a database.
//!
//! Each (rule, subject) — a node, or a guest `guest:<node id>:<vmid>` — gets a [`Signal`]
//! per poll: the trouble *holds*, has *cleared*, or neither (a threshold's band between
//! `threshold − MARGIN` and `threshold`). An alert fires once the signal has held for the
//! rule's minutes (at once without them) and there is no open alert on the subject; an open
//! alert resolves once the signal has cleared for [`Tuning::clear_after`]. Anything in the
//! band resets both clocks, so a value hovering at the threshold neither fires nor resolves
//! again and again. The open alerts come from the database (the persisted state: a restart
//! never fires twice); the clocks ([`Memory`]) are the evaluator's, so after a restart a
//! threshold must hold its minutes again before it fires.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use kiln_shared::alerts::{MARGIN, RuleKind};

use crate::db::alerts::RuleRow;
use crate::monitor::{GuestKind, GuestSeen, Observation};

/// How eagerly alerts resolve (tests make it instant).
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    /// How long a condition must have cleared before its alert resolves.
    pub clear_after: Duration,
    /// How far below its threshold a value must be to count as cleared, in points.
    pub margin: f64,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            clear_after: Duration::seconds(kiln_shared::alerts::CLEAR_SECS),
            margin: MARGIN,
        }
    }
}

/// What one poll says of one (rule, subject).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Signal {
    /// The trouble is there, since the given time when known (else since this poll).
    Holds(Option<DateTime<Utc>>),
    /// It is gone.
    Clears,
    /// Neither (in the hysteresis band; a stopped container still stopped).
    Neither,
}

/// The clocks of one (rule, subject).
#[derive(Debug, Clone, Default)]
struct Track {
    holding_since: Option<DateTime<Utc>>,
    clearing_since: Option<DateTime<Utc>>,
}

/// The evaluator's clocks, by (rule id, subject). Only running clocks are kept.
#[derive(Debug, Default)]
pub struct Memory {
    tracks: HashMap<(i64, String), Track>,
}

impl Memory {
    /// How many clocks run (tests, and a bound on what is kept).
    pub fn len(&self) -> usize {
        self.tracks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }

    /// Drops the clocks of node `node_id`'s subjects whose rule is not in `rules` (deleted or
    /// turned off since), so nothing is kept for a rule that will not be evaluated again.
    pub fn forget_other_rules(&mut self, node_id: i64, rules: &HashSet<i64>) {
        let node = node_subject(node_id);
        let guests = format!("guest:{node_id}:");
        self.tracks.retain(|(rule, subject), _| {
            rules.contains(rule) || (*subject != node && !subject.starts_with(&guests))
        });
    }
}

/// An open alert, as the evaluator needs it.
#[derive(Debug, Clone)]
pub struct Open {
    pub id: i64,
    pub rule_id: i64,
    pub subject: String,
}

/// What to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Fire(Firing),
    /// Resolve open alert `id`.
    Resolve(i64),
}

/// An alert to fire.
#[derive(Debug, Clone, PartialEq)]
pub struct Firing {
    pub rule_id: i64,
    pub kind: RuleKind,
    pub subject: String,
    pub title: String,
    pub detail: String,
    pub node_id: i64,
    pub container_id: Option<i64>,
    pub vmid: Option<u32>,
}

/// What the evaluation needs besides the observation.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// The owner's enabled rules (other owners' and disabled ones must not be here).
    pub rules: &'a [RuleRow],
    /// The owner's open alerts.
    pub open: &'a [Open],
    /// Kiln containers a Kiln action explains (a lock holder, a recent `action` event, a
    /// deletion under way): their stop is no alarm.
    pub kiln_acted: &'a HashSet<i64>,
}

/// The node's subject.
pub fn node_subject(node_id: i64) -> String {
    format!("node:{node_id}")
}

/// A guest's subject.
pub fn guest_subject(node_id: i64, vmid: u32) -> String {
    format!("guest:{node_id}:{vmid}")
}

/// The guests whose stop a Kiln action might explain: Kiln's, running at the previous poll,
/// not now. Their container ids are what the evaluator checks before [`evaluate`].
pub fn stop_candidates(obs: &Observation) -> Vec<i64> {
    match &obs.seen {
        Ok(seen) => seen
            .guests
            .iter()
            .filter(|g| is_stop(g))
            .filter_map(|g| g.container_id)
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn is_stop(g: &GuestSeen) -> bool {
    g.was.as_deref() == Some("running") && g.status == "stopped"
}

fn is_container(g: &GuestSeen) -> bool {
    g.kind != Some(GuestKind::Qemu)
}

/// The changes `obs` brings, updating the clocks in `memory`.
pub fn evaluate(
    obs: &Observation,
    inputs: &Inputs<'_>,
    memory: &mut Memory,
    tuning: Tuning,
) -> Vec<Change> {
    let open: HashMap<(i64, &str), i64> = inputs
        .open
        .iter()
        .map(|o| ((o.rule_id, o.subject.as_str()), o.id))
        .collect();
    let mut changes = Vec::new();
    for rule in inputs.rules {
        let Some(kind) = rule.kind() else { continue };
        if rule.node_id.is_some_and(|n| n != obs.node_id) {
            continue;
        }
        // Moves the subject's clocks; the caller turns a `Fire` into its alert.
        let mut step = |subject: String, signal: Signal| -> Option<Step> {
            let open_id = open.get(&(rule.id, subject.as_str())).copied();
            let need = Duration::minutes(i64::from(rule.minutes.unwrap_or(0)));
            track(
                memory,
                (rule.id, subject),
                signal,
                open_id,
                obs.at,
                need,
                tuning,
            )
        };
        match kind {
            RuleKind::NodeUnreachable => {
                if rule.container_id.is_some() {
                    continue;
                }
                let signal = match &obs.seen {
                    Err(_) => Signal::Holds(obs.unreachable_since),
                    Ok(_) => Signal::Clears,
                };
                let done = step(node_subject(obs.node_id), signal);
                changes.extend(change(done, || node_firing(obs, rule)));
            }
            RuleKind::ContainerDown | RuleKind::Cpu | RuleKind::Memory | RuleKind::Disk => {
                // A node that does not answer says nothing about its guests.
                let Ok(seen) = &obs.seen else { continue };
                let mut present = HashSet::new();
                for g in seen.guests.iter().filter(|g| is_container(g)) {
                    if rule.container_id.is_some_and(|c| g.container_id != Some(c)) {
                        continue;
                    }
                    let subject = guest_subject(obs.node_id, g.vmid);
                    present.insert(subject.clone());
                    let signal = guest_signal(kind, rule, g, inputs.kiln_acted, tuning);
                    let done = step(subject, signal);
                    changes.extend(change(done, || guest_firing(obs, rule, kind, g)));
                }
                // A guest gone from the node (destroyed, migrated away) clears.
                let prefix = format!("guest:{}:", obs.node_id);
                for o in inputs.open.iter().filter(|o| o.rule_id == rule.id) {
                    let gone = o.subject.starts_with(&prefix) && !present.contains(&o.subject);
                    if gone && let Some(Step::Resolve(id)) = step(o.subject.clone(), Signal::Clears)
                    {
                        changes.push(Change::Resolve(id));
                    }
                }
            }
            RuleKind::JobFailed => {}
        }
    }
    changes
}

/// The change a step of the clocks makes (`firing` builds the alert when it fires).
fn change(step: Option<Step>, firing: impl FnOnce() -> Firing) -> Option<Change> {
    match step? {
        Step::Fire => Some(Change::Fire(firing())),
        Step::Resolve(id) => Some(Change::Resolve(id)),
    }
}

/// A guest's percentage for a threshold rule, when it is running and the node said.
fn percent(kind: RuleKind, g: &GuestSeen) -> Option<f64> {
    let ratio = |used: Option<u64>, max: Option<u64>| match (used, max) {
        (Some(used), Some(max)) if max > 0 => Some(used as f64 * 100.0 / max as f64),
        _ => None,
    };
    match kind {
        RuleKind::Cpu => g.cpu.map(|c| c * 100.0),
        RuleKind::Memory => ratio(g.mem, g.maxmem),
        RuleKind::Disk => ratio(g.disk, g.maxdisk),
        _ => None,
    }
}

fn guest_signal(
    kind: RuleKind,
    rule: &RuleRow,
    g: &GuestSeen,
    kiln_acted: &HashSet<i64>,
    tuning: Tuning,
) -> Signal {
    match kind {
        RuleKind::ContainerDown => {
            if g.status == "running" {
                Signal::Clears
            } else if is_stop(g)
                && g.lock.as_deref().is_none_or(str::is_empty)
                && !g.container_id.is_some_and(|id| kiln_acted.contains(&id))
            {
                Signal::Holds(None)
            } else {
                Signal::Neither
            }
        }
        _ => {
            if g.status != "running" {
                return Signal::Clears;
            }
            let Some(value) = percent(kind, g) else {
                return Signal::Neither;
            };
            let threshold = f64::from(rule.threshold.unwrap_or(100));
            if value >= threshold {
                Signal::Holds(None)
            } else if value < threshold - tuning.margin {
                Signal::Clears
            } else {
                Signal::Neither
            }
        }
    }
}

enum Step {
    Fire,
    Resolve(i64),
}

/// One (rule, subject)'s clocks moved by `signal` at `now`.
fn track(
    memory: &mut Memory,
    key: (i64, String),
    signal: Signal,
    open: Option<i64>,
    now: DateTime<Utc>,
    need: Duration,
    tuning: Tuning,
) -> Option<Step> {
    if signal == Signal::Neither {
        memory.tracks.remove(&key);
        return None;
    }
    let t = memory.tracks.entry(key.clone()).or_default();
    let step = match signal {
        Signal::Holds(since) => {
            t.clearing_since = None;
            let since = *t.holding_since.get_or_insert(since.unwrap_or(now).min(now));
            (open.is_none() && now - since >= need).then_some(Step::Fire)
        }
        Signal::Clears => {
            t.holding_since = None;
            match open {
                Some(id) => {
                    let since = *t.clearing_since.get_or_insert(now);
                    (now - since >= tuning.clear_after).then_some(Step::Resolve(id))
                }
                None => {
                    t.clearing_since = None;
                    None
                }
            }
        }
        Signal::Neither => None,
    };
    // Forget what no clock runs for (and what just resolved).
    let idle = t.holding_since.is_none() && t.clearing_since.is_none();
    if idle || matches!(step, Some(Step::Resolve(_))) {
        memory.tracks.remove(&key);
    }
    step
}

fn guest_label(obs: &Observation, g: &GuestSeen) -> String {
    match &g.name {
        Some(name) => format!("CT {} ({name}) on {}", g.vmid, obs.node_name),
        None => format!("CT {} on {}", g.vmid, obs.node_name),
    }
}

fn node_firing(obs: &Observation, rule: &RuleRow) -> Firing {
    let since = obs.unreachable_since.unwrap_or(obs.at);
    let why = obs.seen.as_ref().err().cloned().unwrap_or_default();
    Firing {
        rule_id: rule.id,
        kind: RuleKind::NodeUnreachable,
        subject: node_subject(obs.node_id),
        title: format!("Node {} is unreachable", obs.node_name),
        detail: format!(
            "no answer since {} UTC: {why}",
            since.format("%Y-%m-%d %H:%M:%S")
        ),
        node_id: obs.node_id,
        container_id: None,
        vmid: None,
    }
}

fn guest_firing(obs: &Observation, rule: &RuleRow, kind: RuleKind, g: &GuestSeen) -> Firing {
    let label = guest_label(obs, g);
    let (title, detail) = match kind {
        RuleKind::ContainerDown => (
            format!("{label} is down"),
            "it was running and is now stopped, without an action from Kiln".to_owned(),
        ),
        _ => {
            let what = match kind {
                RuleKind::Cpu => "CPU",
                RuleKind::Memory => "memory",
                _ => "disk",
            };
            let value = percent(kind, g).unwrap_or_default();
            (
                format!("{label}: {what} at {value:.0} %"),
                format!(
                    "{what} at or above {} % for {} min",
                    rule.threshold.unwrap_or_default(),
                    rule.minutes.unwrap_or_default()
                ),
            )
        }
    };
    Firing {
        rule_id: rule.id,
        kind,
        subject: guest_subject(obs.node_id, g.vmid),
        title,
        detail,
        node_id: obs.node_id,
        container_id: g.container_id,
        vmid: Some(g.vmid),
    }
}

#[cfg(test)]
#[path = "evaluate_tests.rs"]
mod tests;
