//! Proxmox nodes: adding (certificate pinned on first use, token tested before saving),
//! editing, deleting, the default node, and live health (version, members, missing
//! privileges). Secrets are encrypted at rest with the installation's key, bound to the row.

mod health;
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
