//! The creation job's part of discovery: the list of units before the template (taken at the
//! start of the files phase), the helper library (pushed in the files phase), and the
//! `discover` phase — services, ports and web URLs, credentials sealed to their row — all
//! through the fixed commands of `containers::discover`. Each step is safe to repeat: the
//! baseline is written once, the library only when its content differs, and the findings
//! replace what an earlier run stored (one fenced transaction).
//!
//! Architecture Invariant: the output of the `credentials` command is never logged, never
//! put in an event or an error: only counts and file names are.

use super::{Run, failed};
use crate::containers::{discover, fenced, provision};
use crate::db::containers::{self, NewCredential, NewService};
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
    /// scripts saved; stored, replacing what an earlier run found. Nothing for a plain OS
    /// container (no template, so nothing was added, and no SSH needed).
    pub(super) async fn discover(&mut self) -> Result<(), JobError> {
        if self.template.is_none() {
            return self
                .event("discover", "log", "no template: nothing to discover")
                .await;
        }
        let units = self.run_quiet(&discover::command("units", &[])).await?;
        if !units.success() {
            return Err(failed(format!(
                "listing the container's services failed (exit status {}): {}",
                units.status,
                provision::tail(&units, 2)
            )));
        }
        let snapshot = discover::parse_units(&units.stdout_text());
        if !snapshot.systemd {
            self.event(
                "discover",
                "log",
                "no systemd in the container: services are not discovered",
            )
            .await?;
        } else if snapshot.baseline.is_none() {
            self.event(
                "discover",
                "log",
                "no list of the units from before the template: the services listening on a port are reported",
            )
            .await?;
        }
        if snapshot.systemd && snapshot.listeners.is_none() {
            self.event(
                "discover",
                "log",
                "`ss` is missing: ports are not discovered",
            )
            .await?;
        }
        let found = discover::services(&snapshot);
        let probe = discover::probe_args(&found);
        let web = if probe.is_empty() {
            Default::default()
        } else {
            let output = self.run_quiet(&discover::command("probe", &probe)).await?;
            discover::parse_probe(&output.stdout_text())
        };
        let address = self.row.address.clone();
        let mut services = Vec::with_capacity(found.len());
        for service in &found {
            let web_url = match &address {
                Some(address) => service
                    .reachable
                    .iter()
                    .find_map(|(_, port)| web.get(port).map(|scheme| (*scheme, *port)))
                    .map(|(scheme, port)| discover::web_url(scheme, address, port)),
                None => None,
            };
            self.event(
                "discover",
                "log",
                &discover::describe(service, web_url.as_deref()),
            )
            .await?;
            services.push(NewService {
                container_id: self.row.id,
                name: service.name.clone(),
                unit: service.unit.clone(),
                state: service.state.clone(),
                ports: service.ports.iter().map(|p| i32::from(*p)).collect(),
                web_url,
            });
        }
        if snapshot.systemd && found.is_empty() {
            self.event("discover", "log", "no service added by the template")
                .await?;
        }
        for port in discover::unowned_ports(&snapshot) {
            self.event(
                "discover",
                "log",
                &format!("port {port} listens, but not for a systemd service"),
            )
            .await?;
        }
        let credentials = self.read_credentials().await?;
        fenced!(self, |conn, id| containers::replace_discovered(
            conn,
            id,
            &services,
            &credentials
        ))?;
        Ok(())
    }

    /// The credential files, sealed (values never leave this function in clear).
    async fn read_credentials(&mut self) -> Result<Vec<NewCredential>, JobError> {
        let output = self
            .run_quiet(&discover::command("credentials", &[]))
            .await?;
        if !output.success() {
            // Neither its output nor its errors are shown: they may hold values.
            return Err(failed(format!(
                "reading the credential files failed (exit status {})",
                output.status
            )));
        }
        let (found, notes) = discover::parse_credentials(&output.stdout_text());
        drop(output);
        for note in notes {
            self.event("discover", "log", &note).await?;
        }
        if found.is_empty() {
            return Ok(Vec::new());
        }
        self.event(
            "discover",
            "log",
            &format!("found credentials: {}", discover::summary(&found)),
        )
        .await?;
        let mut sealed = Vec::with_capacity(found.len());
        for credential in found {
            let context =
                containers::credential_context(self.row.id, &credential.service, &credential.key);
            let value = self
                .state
                .secret_key
                .encrypt(credential.value.as_bytes(), &context)
                .map_err(|e| JobError::Internal(format!("sealing a credential: {e}")))?;
            sealed.push(NewCredential {
                service: credential.service,
                key: credential.key,
                sealed: value,
            });
        }
        Ok(sealed)
    }
}
