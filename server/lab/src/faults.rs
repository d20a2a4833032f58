//! Injected failures, for reliability tests: added latency, a share of requests answered
//! 500, the whole node unreachable (connections refused), HTTP 596 for chosen cluster nodes,
//! and task types that fail with a given error text.
//!
//! Set at start with `--fault SPEC` (see [`Faults::apply_spec`]) and at run time with
//! `POST /lab/faults` (JSON, replaces all faults) / `DELETE /lab/faults`, or from tests
//! through `LabHandle`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// The faults in force. `Default` = none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Milliseconds added before every API answer (simulates a slow or distant node).
    pub latency_ms: u64,
    /// Share (0..=1) of API requests answered `500 Internal Server Error`.
    pub error_rate: f64,
    /// When true the listener is closed: new connections are refused, open ones dropped.
    pub unreachable: bool,
    /// Cluster nodes whose `/nodes/{node}/...` calls answer 596 (node behind the entry point
    /// unreachable); they show as `offline` in `/nodes`.
    pub node_596: BTreeSet<String>,
    /// Task type (`vzcreate`, `vzstart`, ...) → the error text its tasks end with.
    pub task_failures: BTreeMap<String, String>,
}

/// The body of `POST /lab/faults`: the new faults, and optionally for how long the node
/// stays unreachable (it comes back by itself, since nobody can reach it to say so).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct FaultRequest {
    /// Replaces every fault.
    #[serde(flatten)]
    pub faults: Faults,
    /// With `unreachable`: milliseconds until the node accepts connections again.
    pub unreachable_for_ms: Option<u64>,
}

impl Faults {
    /// Adds one `--fault` spec:
    /// `latency=MS`, `error-rate=F`, `unreachable`, `node-596=NODE`, `task-fail=TYPE:TEXT`.
    pub fn apply_spec(&mut self, spec: &str) -> anyhow::Result<()> {
        let (key, value) = spec.split_once('=').unwrap_or((spec, ""));
        match key {
            "latency" => self.latency_ms = value.parse()?,
            "error-rate" => {
                let rate: f64 = value.parse()?;
                anyhow::ensure!((0.0..=1.0).contains(&rate), "error-rate must be in 0..=1");
                self.error_rate = rate;
            }
            "unreachable" => self.unreachable = true,
            "node-596" if !value.is_empty() => {
                self.node_596.insert(value.to_owned());
            }
            "task-fail" => {
                let (kind, text) = value
                    .split_once(':')
                    .ok_or_else(|| anyhow::anyhow!("task-fail=TYPE:TEXT expected"))?;
                self.task_failures.insert(kind.to_owned(), text.to_owned());
            }
            _ => anyhow::bail!(
                "unknown fault {spec:?} (latency=MS, error-rate=F, unreachable, node-596=NODE, \
                 task-fail=TYPE:TEXT)"
            ),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() -> anyhow::Result<()> {
        let mut f = Faults::default();
        for spec in [
            "latency=25",
            "error-rate=0.5",
            "node-596=pve2",
            "task-fail=vzstart:command 'lxc-start -n 101' failed: exit code 1",
        ] {
            f.apply_spec(spec)?;
        }
        assert_eq!(f.latency_ms, 25);
        assert_eq!(f.error_rate, 0.5);
        assert!(f.node_596.contains("pve2"));
        assert_eq!(
            f.task_failures.get("vzstart").map(String::as_str),
            Some("command 'lxc-start -n 101' failed: exit code 1")
        );
        assert!(f.apply_spec("error-rate=2").is_err());
        assert!(f.apply_spec("bogus").is_err());
        Ok(())
    }
}
