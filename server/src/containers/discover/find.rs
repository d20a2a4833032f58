//! Discovery over the node's SSH: runs the discovery script's `units`, `probe` and
//! `credentials` in a container (`pct exec`) and makes the rows to store of what they print —
//! services with their web URLs on the container's address, credentials sealed to their row.
//! Shared by the creation job's `discover` phase and the container page's *Refresh*
//! (`ContainerService::refresh_services`); each stores the findings its own way (fenced by
//! the job's lease, or under the row's lock) and turns the notes into events.
//!
//! Architecture Invariant: the output of the `credentials` command is never logged, never
//! put in a note or an error: only counts and file names are.

use super::{
    command, describe, parse_credentials, parse_probe, parse_units, probe_args, services, summary,
    unowned_ports, web_url,
};
use crate::containers::provision;
use crate::crypto::SecretKey;
use crate::db::containers::{NewCredential, NewService, credential_context};
use crate::ssh::shell::{NodeShell, Output};

/// What discovery found in a container, ready to store.
#[derive(Debug, Default)]
pub struct Findings {
    /// The template's services, with ports and web URLs.
    pub services: Vec<NewService>,
    /// The credentials scripts saved, sealed.
    pub credentials: Vec<NewCredential>,
    /// What to tell the user, in order (never a value): one line per service, and what could
    /// not be looked at.
    pub notes: Vec<String>,
}

/// Why discovery stopped.
#[derive(Debug)]
pub enum FindError {
    /// The container or the node refused (shown to the user).
    Failed(String),
    /// Kiln's own fault (logged; the user sees a generic message).
    Internal(String),
}

/// Runs `argv` in container `vmid`; its output is not shown anywhere.
async fn exec(shell: &NodeShell, vmid: u32, argv: &[String]) -> Result<Output, FindError> {
    let args: Vec<&str> = argv.iter().map(String::as_str).collect();
    shell
        .pct_exec(vmid, &args)
        .await
        .map_err(|e| FindError::Failed(format!("pct exec in CT {vmid} failed: {e}")))
}

/// Finds the services and credentials of container `id` (CT `vmid`, reached at `address`
/// for its web URLs) over `shell`; values are sealed with `key` to their row.
pub async fn find(
    shell: &NodeShell,
    vmid: u32,
    id: i64,
    address: Option<&str>,
    key: &SecretKey,
) -> Result<Findings, FindError> {
    let mut notes = Vec::new();
    let units = exec(shell, vmid, &command("units", &[])).await?;
    if !units.success() {
        return Err(FindError::Failed(format!(
            "listing the container's services failed (exit status {}): {}",
            units.status,
            provision::tail(&units, 2)
        )));
    }
    let snapshot = parse_units(&units.stdout_text());
    if !snapshot.systemd {
        notes.push("no systemd in the container: services are not discovered".to_owned());
    } else if snapshot.baseline.is_none() {
        notes.push(
            "no list of the units from before the template: the services listening on a port are reported"
                .to_owned(),
        );
    }
    if snapshot.systemd && snapshot.listeners.is_none() {
        notes.push("`ss` is missing: ports are not discovered".to_owned());
    }
    let found = services(&snapshot);
    let probe = probe_args(&found);
    let web = if probe.is_empty() {
        Default::default()
    } else {
        let output = exec(shell, vmid, &command("probe", &probe)).await?;
        parse_probe(&output.stdout_text())
    };
    let mut stored = Vec::with_capacity(found.len());
    for service in &found {
        let url = address.and_then(|address| {
            service
                .reachable
                .iter()
                .find_map(|(_, port)| web.get(port).map(|scheme| (*scheme, *port)))
                .map(|(scheme, port)| web_url(scheme, address, port))
        });
        notes.push(describe(service, url.as_deref()));
        stored.push(NewService {
            container_id: id,
            name: service.name.clone(),
            unit: service.unit.clone(),
            state: service.state.clone(),
            ports: service.ports.iter().map(|p| i32::from(*p)).collect(),
            web_url: url,
        });
    }
    if snapshot.systemd && found.is_empty() {
        notes.push("no service added by the template".to_owned());
    }
    for port in unowned_ports(&snapshot) {
        notes.push(format!(
            "port {port} listens, but not for a systemd service"
        ));
    }
    let credentials = read_credentials(shell, vmid, id, key, &mut notes).await?;
    Ok(Findings {
        services: stored,
        credentials,
        notes,
    })
}

/// The credential files, sealed (values never leave this function in clear).
async fn read_credentials(
    shell: &NodeShell,
    vmid: u32,
    id: i64,
    key: &SecretKey,
    notes: &mut Vec<String>,
) -> Result<Vec<NewCredential>, FindError> {
    let output = exec(shell, vmid, &command("credentials", &[])).await?;
    if !output.success() {
        // Neither its output nor its errors are shown: they may hold values.
        return Err(FindError::Failed(format!(
            "reading the credential files failed (exit status {})",
            output.status
        )));
    }
    let (found, found_notes) = parse_credentials(&output.stdout_text());
    drop(output);
    notes.extend(found_notes);
    if found.is_empty() {
        return Ok(Vec::new());
    }
    notes.push(format!("found credentials: {}", summary(&found)));
    let mut sealed = Vec::with_capacity(found.len());
    for credential in found {
        let context = credential_context(id, &credential.service, &credential.key);
        let value = key
            .encrypt(credential.value.as_bytes(), &context)
            .map_err(|e| FindError::Internal(format!("sealing a credential: {e}")))?;
        sealed.push(NewCredential {
            service: credential.service,
            key: credential.key,
            sealed: value,
        });
    }
    Ok(sealed)
}
