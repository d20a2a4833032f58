//! Template test runs: `ContainerService::test_run` creates a throwaway container from a
//! template's defaults (on the given node or the actor's default one), marked as a test run
//! in its row (`containers.test_run`, `keep_after_test`) and tagged `kiln-test` on Proxmox.
//! The creation job itself ends such a run with a **report** (`create/test_report.rs`):
//! written as an `outcome` event before the terminal status — so the container page and its
//! event stream show it — then the container is deleted through `ContainerService::delete`
//! unless it is kept. What passes is decided here, by [`report`], a pure function.
//!
//! Architecture Invariant: a test run is an ordinary creation (same validation, job, phases
//! and resumption); only its end differs. Nothing here talks to a node.

use kiln_shared::AppError;
use kiln_shared::auth::Actor;
use kiln_shared::containers::request_defaults;

use super::service::ContainerService;
use crate::db::{containers, nodes};
use crate::errors;

/// The tag a test run's container carries on Proxmox.
pub const TEST_TAG: &str = "kiln-test";

/// How a report's text begins: what tells a report from the creation's own outcome.
pub const PASSED: &str = "test passed";
/// See [`PASSED`].
pub const FAILED: &str = "test failed";

/// The audit action of a report (outcome `ok` for a pass, `failed` otherwise; its detail
/// holds the container's id, `passed` and the report's first line). It outlives the container.
pub const AUDIT_ACTION: &str = "template.test";

/// The audit target of container `id`'s report: `<slug> (container <id>)`.
pub fn audit_target(slug: Option<&str>, id: i64) -> String {
    format!("{} (container {id})", slug.unwrap_or("no template"))
}

/// The most output lines a failed report quotes.
pub const REPORT_LINES: usize = 10;

impl ContainerService {
    /// Starts a test run of template `slug` on `node_id` (else the actor's default node):
    /// the template's defaults, the node's storage (`local-lvm`, else the first), an OS
    /// template matching `<os>-<version>` (else the first), bridge `vmbr0` (else the first),
    /// hostname `test-<slug>-<NN>` free among the actor's containers, no password. Returns
    /// the container's id; its page follows the run. 422 on `node_id` without a node, 404
    /// for an unknown template, 503 when the node does not answer.
    pub async fn test_run(
        &self,
        actor: &Actor,
        slug: &str,
        node_id: Option<i64>,
        keep: bool,
    ) -> Result<i64, AppError> {
        let template = self.template(slug).await?;
        let node_id = match node_id {
            Some(id) => id,
            None => {
                let mut conn = self.state().conn().await?;
                nodes::default_for(&mut conn, actor.user_id)
                    .await
                    .map_err(|e| errors::db("reading the default node", e))?
                    .ok_or_else(|| {
                        AppError::invalid("node_id", "add a node, or choose one for the test run")
                    })?
            }
        };
        let choices = self.node_choices(actor, node_id).await?;
        let mut taken = {
            let mut conn = self.state().conn().await?;
            containers::list(&mut conn, Some(actor.user_id))
                .await
                .map_err(|e| errors::db("listing containers", e))?
                .into_iter()
                .map(|(row, _)| row.hostname)
                .collect::<Vec<_>>()
        };
        // A run started at the same moment may take the name first: then the next one.
        let mut tries = 0;
        loop {
            let hostname = test_hostname(slug, &taken);
            let mut request = request_defaults(Some(&template), node_id, hostname.clone(), None);
            // What the wizard picks on a node (the same shared rule).
            choices.fill(
                &mut request,
                &format!("{}-{}", template.os, template.os_version),
            );
            request.tags.push(TEST_TAG.to_owned());
            match self.create_with(actor, request, Some(keep)).await {
                Ok(created) => return Ok(created.id),
                Err(AppError::Invalid(fields))
                    if fields.get("hostname").is_some() && tries < 10 =>
                {
                    tries += 1;
                    taken.push(hostname);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// `test-<slug>-<NN>`, the first `NN` from 01 not in `taken` (the slug cut so the name stays a
/// DNS label).
pub fn test_hostname(slug: &str, taken: &[String]) -> String {
    let short: String = slug.chars().take(52).collect();
    let short = short.trim_end_matches('-');
    (1..)
        .map(|n| format!("test-{short}-{n:02}"))
        .find(|name| !taken.contains(name))
        .unwrap_or_else(|| format!("test-{short}"))
}

/// A service as discovery found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The systemd unit.
    pub unit: String,
    /// Its `ActiveState` (`active`, `failed`, …).
    pub state: String,
    /// The ports it listens on.
    pub ports: Vec<i32>,
}

/// How the creation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Ready: the services discovery found.
    Ready(Vec<Found>),
    /// Failed in `phase` with `message`; `output`: the phase's last log lines.
    Failed {
        phase: String,
        message: String,
        output: Vec<String>,
    },
    /// Cancelled by the user.
    Cancelled,
}

/// A test run's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Whether the template passed.
    pub passed: bool,
    /// The `outcome` event's text: the verdict's first line, then what failed.
    pub text: String,
    /// The units that are not active (their status is quoted by the job).
    pub inactive: Vec<String>,
}

/// The verdict: pass when the creation is ready and every service the template added is
/// `active` (discovery reports only listening ports, so each port it names listens; a
/// service without a port is fine).
pub fn report(ended: &Ended) -> Report {
    match ended {
        Ended::Ready(services) => {
            let inactive: Vec<&Found> = services.iter().filter(|s| s.state != "active").collect();
            if inactive.is_empty() {
                let list = services.iter().map(describe).collect::<Vec<_>>().join(", ");
                let text = match services.len() {
                    0 => format!("{PASSED}: ready, no service added by the template"),
                    1 => format!("{PASSED}: 1 service active ({list})"),
                    n => format!("{PASSED}: {n} services active ({list})"),
                };
                Report {
                    passed: true,
                    text,
                    inactive: Vec::new(),
                }
            } else {
                let list = inactive
                    .iter()
                    .map(|s| format!("{} is {}", s.unit, s.state))
                    .collect::<Vec<_>>()
                    .join(", ");
                Report {
                    passed: false,
                    text: format!(
                        "{FAILED}: {} of {} services not active: {list}",
                        inactive.len(),
                        services.len()
                    ),
                    inactive: inactive.iter().map(|s| s.unit.clone()).collect(),
                }
            }
        }
        Ended::Failed {
            phase,
            message,
            output,
        } => {
            let mut text = format!("{FAILED} in {phase}: {message}");
            let start = output.len().saturating_sub(REPORT_LINES);
            if !output[start..].is_empty() {
                text.push_str("\nlast output:");
                for line in &output[start..] {
                    text.push_str("\n  ");
                    text.push_str(line);
                }
            }
            Report {
                passed: false,
                text,
                inactive: Vec::new(),
            }
        }
        Ended::Cancelled => Report {
            passed: false,
            text: format!("{FAILED}: the creation was cancelled"),
            inactive: Vec::new(),
        },
    }
}

/// `nginx.service :80 :443`.
fn describe(service: &Found) -> String {
    let mut text = service.unit.clone();
    for port in &service.ports {
        text.push_str(&format!(" :{port}"));
    }
    text
}

/// Whether an event's text is a test report.
pub fn is_report(text: &str) -> bool {
    text.starts_with(PASSED) || text.starts_with(FAILED)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(unit: &str, state: &str, ports: &[i32]) -> Found {
        Found {
            unit: unit.into(),
            state: state.into(),
            ports: ports.to_vec(),
        }
    }

    #[test]
    fn ready_with_active_services_passes() {
        let r = report(&Ended::Ready(vec![
            found("nginx.service", "active", &[80]),
            found("cron.service", "active", &[]),
        ]));
        assert!(r.passed);
        assert_eq!(
            r.text,
            "test passed: 2 services active (nginx.service :80, cron.service)"
        );
        assert!(report(&Ended::Ready(vec![])).passed);
    }

    #[test]
    fn an_inactive_service_fails() {
        let r = report(&Ended::Ready(vec![
            found("nginx.service", "active", &[80]),
            found("bad.service", "failed", &[]),
        ]));
        assert!(!r.passed);
        assert_eq!(
            r.text,
            "test failed: 1 of 2 services not active: bad.service is failed"
        );
        assert_eq!(r.inactive, vec!["bad.service".to_owned()]);
    }

    #[test]
    fn a_failed_creation_quotes_its_last_lines() {
        let output: Vec<String> = (1..=12).map(|n| format!("line {n}")).collect();
        let r = report(&Ended::Failed {
            phase: "scripts".into(),
            message: "10-x.sh exited with status 1".into(),
            output,
        });
        assert!(!r.passed);
        assert!(r.text.starts_with("test failed in scripts: 10-x.sh exited"));
        assert!(r.text.contains("\n  line 3") && !r.text.contains("line 2\n"));
        assert!(r.text.ends_with("line 12"));
    }

    #[test]
    fn hostnames_skip_taken_ones() {
        assert_eq!(test_hostname("nginx-web", &[]), "test-nginx-web-01");
        let taken = vec!["test-nginx-web-01".to_owned()];
        assert_eq!(test_hostname("nginx-web", &taken), "test-nginx-web-02");
        let long = "a".repeat(70);
        assert!(test_hostname(&long, &[]).len() <= 63);
    }
}
