//! The end of a template test run (`containers::test_run`), in the creation job: the report
//! as an `outcome` event — written before the terminal status, so a watcher that sees the
//! status has the report — and, after the status, the deletion unless the run is kept.
//! Both are safe to repeat after a crash: a resumed run repeats its last phase and ends with
//! a fresh report, and a deletion under way is not started twice.

use kiln_shared::AppError;
use kiln_shared::auth::Actor;

use diesel_async::AsyncPgConnection;

use super::{Run, fenced};
use crate::containers::provision;
use crate::containers::service::ContainerService;
use crate::containers::test_run::{self, Ended, Found};
use crate::db::audit::{self, Entry, Outcome};
use crate::db::containers;
use crate::jobs::JobError;

/// The most events read to find a failed phase's output.
const HISTORY: i64 = 100_000;

impl Run<'_> {
    /// For a test run, the report of a creation that ended in `phase` with `result` (a lost
    /// lease or an interruption writes nothing).
    pub(super) async fn test_report(
        &mut self,
        phase: &str,
        result: &Result<(), JobError>,
    ) -> Result<(), JobError> {
        if !self.row.test_run {
            return Ok(());
        }
        let mut conn = self.state.db.get().await?;
        let history = containers::events_after(&mut conn, self.row.id, 0, HISTORY).await?;
        let services = containers::services_of(&mut conn, self.row.id).await?;
        drop(conn);
        let ended = match result {
            Ok(()) => Ended::Ready(
                services
                    .into_iter()
                    .map(|s| Found {
                        unit: s.unit,
                        state: s.state,
                        ports: s.ports,
                    })
                    .collect(),
            ),
            Err(JobError::Failed { message, .. }) => Ended::Failed {
                phase: phase.to_owned(),
                message: message.clone(),
                output: history
                    .into_iter()
                    .filter(|e| e.phase == phase && e.kind == "log")
                    .map(|e| e.text)
                    .collect(),
            },
            Err(JobError::Cancelled) => Ended::Cancelled,
            Err(_) => return Ok(()),
        };
        let report = test_run::report(&ended);
        let mut text = report.text;
        for unit in &report.inactive {
            text.push_str(&format!("\n{unit}:"));
            for line in self.unit_status(unit).await {
                text.push_str("\n  ");
                text.push_str(&line);
            }
        }
        // The verdict outlives a deleted container: audited with the event, in one write.
        let target = test_run::audit_target(self.row.template_slug.as_deref(), self.row.id);
        let actor = Actor::system("test-run");
        let entry = Entry {
            outcome: if report.passed {
                Outcome::Ok
            } else {
                Outcome::Failed
            },
            detail: serde_json::json!({
                "container_id": self.row.id,
                "passed": report.passed,
                "report": text.lines().next().unwrap_or_default(),
            }),
            ..Entry::by(&actor, test_run::AUDIT_ACTION).on(&target)
        };
        let seq = fenced!(self, |conn, id| write_report(
            conn, id, phase, &text, &entry
        ))?;
        self.hub.notify(self.row.id, seq);
        Ok(())
    }

    /// The last lines of `systemctl status UNIT` in the container (its journal included);
    /// a line saying why when it cannot be read.
    async fn unit_status(&mut self, unit: &str) -> Vec<String> {
        let vmid = match self.vmid() {
            Ok(vmid) => vmid,
            Err(e) => return vec![format!("(no status: {e})")],
        };
        let lines = test_run::REPORT_LINES.to_string();
        let argv = [
            "systemctl",
            "status",
            "--no-pager",
            "--full",
            "--lines",
            &lines,
            "--",
            unit,
        ];
        let output = match self.shell().await {
            Ok(shell) => shell.pct_exec(vmid, &argv).await,
            Err(e) => return vec![format!("(no status: {e})")],
        };
        match output {
            Ok(output) => {
                let all = provision::output_lines(&output);
                let start = all.len().saturating_sub(2 * test_run::REPORT_LINES);
                all[start..].to_vec()
            }
            Err(e) => vec![format!("(no status: {e})")],
        }
    }

    /// After the terminal status: a test run not kept is deleted (`ContainerService::delete`,
    /// as Kiln itself: the deletion job destroys it on the node and removes the row).
    pub(super) async fn end_test_run(&mut self) -> Result<(), JobError> {
        if !self.row.test_run || self.row.keep_after_test {
            return Ok(());
        }
        let deleted = ContainerService::new(self.state.clone())
            .delete(&Actor::system("test-run"), self.row.id)
            .await;
        match deleted {
            // Gone meanwhile (someone deleted it): nothing left to do.
            Ok(()) | Err(AppError::NotFound(_)) => Ok(()),
            Err(AppError::Unavailable(m)) => Err(JobError::Interrupted(m)),
            Err(other) => Err(JobError::Internal(format!("deleting a test run: {other}"))),
        }
    }
}

/// The report event and its audit entry; the event's number.
async fn write_report(
    conn: &mut AsyncPgConnection,
    id: i64,
    phase: &str,
    text: &str,
    entry: &Entry<'_>,
) -> diesel::QueryResult<i64> {
    let seq = containers::append_event(conn, id, phase, "outcome", text).await?;
    audit::record(conn, entry).await?;
    Ok(seq)
}
