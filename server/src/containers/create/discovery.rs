//! The creation job's part of discovery: the list of units before the template (taken at the
//! start of the files phase), the helper library (pushed in the files phase), and the
//! `discover` phase — services, ports and web URLs, credentials sealed to their row — all
//! through the fixed commands of `containers::discover`. Each step is safe to repeat: the
//! baseline is written once, the library only when its content differs, and the findings
//! replace what an earlier run stored (one fenced transaction).
//!
//! Architecture Invariant: the output of the `credentials` command is never logged, never
//! put in an event or an error: only counts and file names are (`discover::find`).

use super::{Run, failed};
use crate::containers::{discover, fenced, provision};
use crate::db::containers;
use crate::jobs::JobError;
use crate::ssh::shell::Output;

impl Run<'_> {
    /// Runs `argv` in the container without turning its output into events.
    pub(super) async fn run_quiet(&mut self, argv: &[String]) -> Result<Output, JobError> {
        let vmid = self.vmid()?;
        let args: Vec<&str> = argv.iter().map(String::as_str).collect();
        self.shell()
            .await?
            .pct_exec(vmid, &args)
            .await
            .map_err(|e| failed(format!("pct exec in CT {vmid} failed: {e}")))
    }

    /// The SHA-256 (hex) of the file at `path` in the container; `None` when it cannot be
    /// read (absent, most often).
    pub(super) async fn sha256_in(&mut self, path: &str) -> Result<Option<String>, JobError> {
        let probe = self
            .run_quiet(&["sha256sum".into(), "--".into(), path.into()])
            .await?;
        Ok(probe
            .success()
            .then(|| {
                probe
                    .stdout_text()
                    .split_whitespace()
                    .next()
                    .map(str::to_owned)
            })
            .flatten())
    }

    /// Records, once, the service units the container has before the template changes
    /// anything (`/var/lib/kiln/units.baseline` inside; a repeat keeps the first list).
    pub(super) async fn baseline(&mut self) -> Result<(), JobError> {
        let output = self.run_quiet(&discover::command("baseline", &[])).await?;
        if !output.success() {
            return Err(failed(format!(
                "cannot list the container's services before the template: {}",
                provision::tail(&output, 2)
            )));
        }
        let text = output.stdout_text();
        if let Some(count) = text.trim().strip_prefix("taken\t") {
            self.event(
                "files",
                "log",
                &format!("{count} service units before the template (for discovery)"),
            )
            .await?;
        }
        Ok(())
    }

    /// Pushes the helper library (`/usr/local/lib/kiln/helpers.sh`, mode 644) unless it is
    /// there with this content.
    pub(super) async fn push_helpers(&mut self) -> Result<(), JobError> {
        let vmid = self.vmid()?;
        let bytes = discover::HELPERS.as_bytes();
        let existing = self.sha256_in(discover::HELPERS_PATH).await?;
        let action = provision::file_action(
            kiln_shared::templates::Policy::Replace,
            existing.as_deref(),
            bytes,
        );
        if action != provision::FileAction::Write {
            return Ok(());
        }
        let made = self
            .run_quiet(&[
                "mkdir".into(),
                "-p".into(),
                "-m".into(),
                "0755".into(),
                "--".into(),
                discover::HELPERS_DIR.into(),
            ])
            .await?;
        if !made.success() {
            return Err(failed(format!(
                "making {}: {}",
                discover::HELPERS_DIR,
                provision::tail(&made, 2)
            )));
        }
        self.shell()
            .await?
            .pct_push_bytes(vmid, bytes, discover::HELPERS_PATH, Some(0o644))
            .await
            .map_err(|e| failed(format!("pushing {}: {e}", discover::HELPERS_PATH)))?;
        self.event(
            "files",
            "log",
            &format!("{}: Kiln's helper library, written", discover::HELPERS_PATH),
        )
        .await
    }

    /// Phase 8: the template's services (state, ports, web URLs) and the credentials its
    /// scripts saved (`discover::find`); stored, replacing what an earlier run found. Nothing
    /// for a plain OS container (no template, so nothing was added, and no SSH needed).
    pub(super) async fn discover(&mut self) -> Result<(), JobError> {
        if self.template.is_none() {
            return self
                .event("discover", "log", "no template: nothing to discover")
                .await;
        }
        let vmid = self.vmid()?;
        let (id, address) = (self.row.id, self.row.address.clone());
        let key = self.state.secret_key.clone();
        let found = discover::find::find(self.shell().await?, vmid, id, address.as_deref(), &key)
            .await
            .map_err(|e| match e {
                discover::find::FindError::Failed(message) => failed(message),
                discover::find::FindError::Internal(message) => JobError::Internal(message),
            })?;
        for note in &found.notes {
            self.event("discover", "log", note).await?;
        }
        let (services, credentials) = (found.services, found.credentials);
        fenced!(self, |conn, id| containers::replace_discovered(
            conn,
            id,
            &services,
            &credentials
        ))?;
        Ok(())
    }
}
