//! Proxmox nodes: adding (certificate pinned on first use, token tested before saving),
//! editing, deleting, the default node, and live health (version, members, missing
//! privileges). Secrets are encrypted at rest with the installation's key, bound to the row.

mod health;
pub mod lab;
mod service;

pub use health::check;
pub use service::NodeService;

use std::time::Duration;

use crate::crypto::SecretKey;
use crate::db::nodes::NodeRow;
use crate::proxmox::client::{Auth, Client, ClientConfig};

/// Connect timeout for node API calls from the UI.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Request timeout for node API calls from the UI.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// A client for a stored node (decrypting its token secret).
pub fn client_for(row: &NodeRow, key: &SecretKey) -> anyhow::Result<Client> {
    let secret = key.decrypt_string(&row.token_secret, &NodeRow::secret_context(row.id))?;
    Ok(Client::new(ClientConfig {
        host: row.host.clone(),
        port: u16::try_from(row.port)?,
        fingerprint: row.fingerprint.clone(),
        auth: Auth::Token {
            id: row.token_id.clone(),
            secret,
        },
        connect_timeout: CONNECT_TIMEOUT,
        request_timeout: REQUEST_TIMEOUT,
    })?)
}

/// An SSH shell on a stored node, with the node's own key and its pinned host key — for
/// jobs, which act for the node's owner. The error is one line for the job's events.
pub async fn shell_for(
    state: &crate::app_state::AppState,
    row: &NodeRow,
) -> Result<crate::ssh::shell::NodeShell, String> {
    let pinned = row
        .ssh_host_key
        .as_deref()
        .map(crate::ssh::host_key::HostKey::parse)
        .transpose()
        .map_err(|e| format!("the node's pinned SSH host key cannot be read: {e}"))?
        .ok_or_else(|| {
            "the node's SSH host key is not confirmed yet (Nodes → the node → SSH)".to_owned()
        })?;
    let key = crate::ssh::keys::for_node(&state.db, &state.secret_key, row.owner_id, row.id)
        .await
        .map_err(|e| format!("the node's SSH key cannot be loaded: {e:#}"))?
        .ok_or_else(|| "the node is gone".to_owned())?;
    let target = crate::ssh::Target {
        user: row.ssh_user.clone(),
        host: row.host.clone(),
        port: u16::try_from(row.ssh_port).unwrap_or(22),
    };
    crate::ssh::shell::NodeShell::connect_pinned(
        &state.config.data_dir,
        target,
        row.id,
        Some(&pinned),
        &key,
    )
    .await
    .map_err(|e| format!("SSH to the node failed: {e}"))
}
