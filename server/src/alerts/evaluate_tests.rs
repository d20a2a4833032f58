//! The hysteresis, poll by poll, with the open alerts kept as the database would.

use std::collections::HashSet;

use chrono::{DateTime, Duration, TimeZone, Utc};
use kiln_shared::alerts::RuleKind;

use super::*;
use crate::monitor::{GuestSeen, Observation, Seen};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

fn rule(id: i64, kind: RuleKind, threshold: Option<i32>, minutes: Option<i32>) -> RuleRow {
    RuleRow {
        id,
        owner_id: 1,
        kind: kind.as_str().to_owned(),
        enabled: true,
        threshold,
        minutes,
        node_id: None,
        container_id: None,
    }
}

fn guest(vmid: u32, status: &str, was: Option<&str>) -> GuestSeen {
    GuestSeen {
        vmid,
        container_id: Some(i64::from(vmid) + 1000),
        name: Some(format!("ct{vmid}")),
        status: status.to_owned(),
        was: was.map(str::to_owned),
        cpu: Some(0.1),
        mem: Some(100),
        maxmem: Some(1000),
        disk: Some(10),
        maxdisk: Some(100),
        ..GuestSeen::default()
    }
}

fn obs(at: DateTime<Utc>, guests: Vec<GuestSeen>) -> Observation {
    Observation {
        node_id: 7,
        owner_id: 1,
        node_name: "pve1".into(),
        at,
        seen: Ok(Seen {
            guests,
            members: Vec::new(),
        }),
        unreachable_since: None,
    }
}

/// The evaluator and a stand-in for the `alerts` table.
struct Sim {
    rules: Vec<RuleRow>,
    open: Vec<Open>,
    memory: Memory,
    tuning: Tuning,
    fired: Vec<Firing>,
    resolved: Vec<i64>,
    next_id: i64,
    acted: HashSet<i64>,
}

impl Sim {
    fn new(rules: Vec<RuleRow>) -> Sim {
        Sim {
            rules,
            open: Vec::new(),
            memory: Memory::default(),
            tuning: Tuning::default(),
            fired: Vec::new(),
            resolved: Vec::new(),
            next_id: 1,
            acted: HashSet::new(),
        }
    }

    fn poll(&mut self, o: &Observation) {
        let inputs = Inputs {
            rules: &self.rules,
            open: &self.open,
            kiln_acted: &self.acted,
        };
        for change in evaluate(o, &inputs, &mut self.memory, self.tuning) {
            match change {
                Change::Fire(f) => {
                    self.open.push(Open {
                        id: self.next_id,
                        rule_id: f.rule_id,
                        subject: f.subject.clone(),
                    });
                    self.next_id += 1;
                    self.fired.push(f);
                }
                Change::Resolve(id) => {
                    self.open.retain(|o| o.id != id);
                    self.resolved.push(id);
                }
            }
        }
    }
}

fn cpu_guest(cpu: f64) -> GuestSeen {
    GuestSeen {
        cpu: Some(cpu),
        ..guest(101, "running", Some("running"))
    }
}

#[test]
fn a_threshold_fires_once_after_its_minutes_and_resolves_once() {
    let mut sim = Sim::new(vec![rule(1, RuleKind::Cpu, Some(90), Some(5))]);
    // 95 % for 4 min 50 s: nothing yet.
    for i in 0..30 {
        sim.poll(&obs(
            t0() + Duration::seconds(i * 10),
            vec![cpu_guest(0.95)],
        ));
    }
    assert!(sim.fired.is_empty());
    // At 5 minutes: fired, once, however long it stays.
    for i in 30..100 {
        sim.poll(&obs(
            t0() + Duration::seconds(i * 10),
            vec![cpu_guest(0.95)],
        ));
    }
    assert_eq!(sim.fired.len(), 1);
    assert_eq!(sim.fired[0].subject, "guest:7:101");
    assert_eq!(sim.fired[0].container_id, Some(1101));
    assert!(
        sim.fired[0].title.contains("CPU at 95 %"),
        "{:?}",
        sim.fired[0]
    );
    // Low for 50 s: still open; at 60 s: resolved, once.
    let low = t0() + Duration::seconds(1000);
    for i in 0..6 {
        sim.poll(&obs(low + Duration::seconds(i * 10), vec![cpu_guest(0.5)]));
    }
    assert!(sim.resolved.is_empty());
    for i in 6..30 {
        sim.poll(&obs(low + Duration::seconds(i * 10), vec![cpu_guest(0.5)]));
    }
    assert_eq!(sim.resolved, vec![1]);
    assert_eq!(sim.fired.len(), 1);
    assert!(sim.memory.is_empty(), "no clock left running");
}

#[test]
fn no_flapping_around_the_threshold() {
    let mut sim = Sim::new(vec![rule(1, RuleKind::Cpu, Some(90), Some(1))]);
    // Hovering across 90 % (within the margin): the one-minute clock never completes.
    for i in 0..120 {
        let cpu = if i % 3 == 0 { 0.88 } else { 0.92 };
        sim.poll(&obs(t0() + Duration::seconds(i * 10), vec![cpu_guest(cpu)]));
    }
    assert!(sim.fired.is_empty());
    // Above for a minute: fires; then hovering between 86 and 92 does not resolve it.
    let high = t0() + Duration::seconds(2000);
    for i in 0..7 {
        sim.poll(&obs(
            high + Duration::seconds(i * 10),
            vec![cpu_guest(0.95)],
        ));
    }
    assert_eq!(sim.fired.len(), 1);
    for i in 7..200 {
        let cpu = if i % 2 == 0 { 0.86 } else { 0.92 };
        sim.poll(&obs(high + Duration::seconds(i * 10), vec![cpu_guest(cpu)]));
    }
    assert!(sim.resolved.is_empty());
    // A dip below the margin shorter than a minute, then back up: still nothing.
    let later = high + Duration::seconds(3000);
    for (i, cpu) in [0.5, 0.5, 0.5, 0.95, 0.5, 0.5].into_iter().enumerate() {
        let at = later + Duration::seconds(i64::try_from(i).unwrap_or_default() * 10);
        sim.poll(&obs(at, vec![cpu_guest(cpu)]));
    }
    assert!(sim.resolved.is_empty());
    assert_eq!(sim.fired.len(), 1);
}

#[test]
fn memory_and_disk_use_their_limits() {
    let mut sim = Sim::new(vec![
        rule(1, RuleKind::Memory, Some(80), Some(1)),
        rule(2, RuleKind::Disk, Some(50), Some(1)),
    ]);
    let g = GuestSeen {
        mem: Some(850),
        maxmem: Some(1000),
        disk: Some(40),
        maxdisk: Some(100),
        ..guest(101, "running", Some("running"))
    };
    for i in 0..7 {
        sim.poll(&obs(t0() + Duration::seconds(i * 10), vec![g.clone()]));
    }
    assert_eq!(sim.fired.len(), 1);
    assert_eq!(sim.fired[0].kind, RuleKind::Memory);
    assert!(sim.fired[0].title.contains("memory at 85 %"));
}

#[test]
fn a_container_that_stops_by_itself_is_down_once() {
    let mut sim = Sim::new(vec![rule(1, RuleKind::ContainerDown, None, None)]);
    sim.poll(&obs(t0(), vec![guest(101, "running", Some("running"))]));
    sim.poll(&obs(
        t0() + Duration::seconds(10),
        vec![guest(101, "stopped", Some("running"))],
    ));
    for i in 2..20 {
        sim.poll(&obs(
            t0() + Duration::seconds(i * 10),
            vec![guest(101, "stopped", Some("stopped"))],
        ));
    }
    assert_eq!(sim.fired.len(), 1);
    assert!(
        sim.fired[0]
            .title
            .contains("CT 101 (ct101) on pve1 is down")
    );
    // Started again: resolved after a minute running.
    for i in 20..40 {
        sim.poll(&obs(
            t0() + Duration::seconds(i * 10),
            vec![guest(101, "running", Some("running"))],
        ));
    }
    assert_eq!(sim.resolved, vec![1]);
    assert_eq!(sim.fired.len(), 1);
}

#[test]
fn a_stop_kiln_made_or_a_pve_lock_explains_is_no_alarm() {
    let mut sim = Sim::new(vec![rule(1, RuleKind::ContainerDown, None, None)]);
    sim.acted.insert(1101);
    let backup = GuestSeen {
        lock: Some("backup".into()),
        ..guest(102, "stopped", Some("running"))
    };
    let o = obs(t0(), vec![guest(101, "stopped", Some("running")), backup]);
    assert_eq!(stop_candidates(&o), vec![1101, 1102]);
    sim.poll(&o);
    // First seen since Kiln started: no "was", no alarm either.
    sim.poll(&obs(
        t0() + Duration::seconds(10),
        vec![guest(103, "stopped", None)],
    ));
    assert!(sim.fired.is_empty());
}

#[test]
fn a_guest_gone_from_its_node_resolves_and_an_unreachable_node_says_nothing() {
    let mut sim = Sim::new(vec![rule(1, RuleKind::ContainerDown, None, None)]);
    sim.tuning.clear_after = Duration::zero();
    sim.poll(&obs(t0(), vec![guest(101, "stopped", Some("running"))]));
    assert_eq!(sim.fired.len(), 1);
    let mut down = obs(t0() + Duration::seconds(10), Vec::new());
    down.seen = Err("connection refused".into());
    sim.poll(&down);
    assert!(sim.resolved.is_empty());
    sim.poll(&obs(t0() + Duration::seconds(20), Vec::new()));
    assert_eq!(sim.resolved, vec![1]);
}

#[test]
fn a_node_unreachable_for_its_minutes_fires_once_and_resolves_once() {
    let mut sim = Sim::new(vec![rule(1, RuleKind::NodeUnreachable, None, Some(1))]);
    let unreachable = |at: DateTime<Utc>| Observation {
        seen: Err("timed out".into()),
        unreachable_since: Some(t0()),
        ..obs(at, Vec::new())
    };
    for i in 0..6 {
        sim.poll(&unreachable(t0() + Duration::seconds(i * 10)));
    }
    assert!(sim.fired.is_empty());
    for i in 6..30 {
        sim.poll(&unreachable(t0() + Duration::seconds(i * 10)));
    }
    assert_eq!(sim.fired.len(), 1);
    assert_eq!(sim.fired[0].title, "Node pve1 is unreachable");
    assert!(sim.fired[0].detail.contains("timed out"));
    // Back, and one failed poll in the first minute: the alert stays; then it resolves.
    let back = t0() + Duration::seconds(400);
    sim.poll(&obs(back, Vec::new()));
    sim.poll(&unreachable(back + Duration::seconds(10)));
    for i in 2..20 {
        sim.poll(&obs(back + Duration::seconds(i * 10), Vec::new()));
    }
    assert_eq!(sim.resolved, vec![1]);
    assert_eq!(sim.fired.len(), 1);
}

#[test]
fn scopes_limit_a_rule() {
    let mut other_node = rule(1, RuleKind::ContainerDown, None, None);
    other_node.node_id = Some(8);
    let mut other_ct = rule(2, RuleKind::ContainerDown, None, None);
    other_ct.container_id = Some(999);
    let mut this_ct = rule(3, RuleKind::ContainerDown, None, None);
    this_ct.container_id = Some(1101);
    let mut sim = Sim::new(vec![other_node, other_ct, this_ct]);
    sim.poll(&obs(t0(), vec![guest(101, "stopped", Some("running"))]));
    assert_eq!(sim.fired.len(), 1);
    assert_eq!(sim.fired[0].rule_id, 3);
}

#[test]
fn the_clocks_of_a_rule_that_went_are_forgotten() {
    let mut sim = Sim::new(vec![rule(1, RuleKind::Cpu, Some(90), Some(5))]);
    sim.poll(&obs(t0(), vec![cpu_guest(0.95)]));
    assert_eq!(sim.memory.len(), 1);
    sim.memory.forget_other_rules(8, &HashSet::new());
    assert_eq!(sim.memory.len(), 1, "another node's poll keeps it");
    sim.memory.forget_other_rules(7, &HashSet::from([1]));
    assert_eq!(sim.memory.len(), 1);
    sim.memory.forget_other_rules(7, &HashSet::new());
    assert!(sim.memory.is_empty());
}
