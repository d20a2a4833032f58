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
use crate::proxmox::ProxmoxApi as _;
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

/// One API client per node for the jobs, kept while the node's connection settings are the
/// same: a job reuses the connections the last one opened (keep-alive) instead of a TLS
/// handshake with the pinned node per job. A changed node (host, port, pin, token) gets a new
/// client.
#[derive(Debug, Clone, Default)]
pub struct ClientCache {
    clients: std::sync::Arc<std::sync::Mutex<ClientMap>>,
    /// Node id → the cluster member its creations went to, and when that was asked.
    members: std::sync::Arc<std::sync::Mutex<MemberMap>>,
    /// Node id → its last `/cluster/resources` answer (the dashboard's refreshes).
    resources: std::sync::Arc<std::sync::Mutex<ResourceMap>>,
}

/// A node's `/cluster/resources` answer, or why there is none (one line).
pub type Resources = Result<std::sync::Arc<Vec<kiln_shared::pve::ClusterResource>>, String>;

/// One node's slot: its last answer and when it came. Fetching holds the slot's lock, so
/// dashboards asking at once wait for one call instead of each making one.
type ResourceSlot = std::sync::Arc<tokio::sync::Mutex<Option<(std::time::Instant, Resources)>>>;

/// Node id → its slot.
type ResourceMap = std::collections::HashMap<i64, ResourceSlot>;

/// How long one `/cluster/resources` answer serves every dashboard that asks for the node:
/// fifty people looking at once cost a node one call per this interval.
pub const RESOURCES_TTL: Duration = Duration::from_secs(2);

/// Node id → (when, the member's name).
type MemberMap = std::collections::HashMap<i64, (std::time::Instant, String)>;

/// How long the member a node's creations go to is taken as still online without asking
/// (`/nodes`) again: a burst of creations asks once.
pub const MEMBER_TTL: Duration = Duration::from_secs(10);

/// Node id → (what its client was built from, the client).
type ClientMap = std::collections::HashMap<i64, (Vec<u8>, std::sync::Arc<Client>)>;

impl ClientCache {
    /// The client of `row` (built with [`client_for`] when missing or stale).
    pub fn client(&self, row: &NodeRow, key: &SecretKey) -> anyhow::Result<std::sync::Arc<Client>> {
        let stamp = settings(row);
        if let Ok(clients) = self.clients.lock()
            && let Some((built_from, client)) = clients.get(&row.id)
            && *built_from == stamp
        {
            return Ok(client.clone());
        }
        let client = std::sync::Arc::new(client_for(row, key)?);
        if let Ok(mut clients) = self.clients.lock() {
            clients.insert(row.id, (stamp, client.clone()));
        }
        Ok(client)
    }

    /// The online member node `id`'s creations went to less than [`MEMBER_TTL`] ago.
    pub fn member(&self, id: i64) -> Option<String> {
        let members = self.members.lock().ok()?;
        let (at, name) = members.get(&id)?;
        (at.elapsed() < MEMBER_TTL).then(|| name.clone())
    }

    /// Node `row`'s guests, members and storages (`/cluster/resources`), at most
    /// [`RESOURCES_TTL`] old; a call that takes longer than `timeout` (or fails) is an
    /// error, remembered as long as an answer would be.
    pub async fn resources(&self, row: &NodeRow, key: &SecretKey, timeout: Duration) -> Resources {
        self.resources_within(row, key, timeout, RESOURCES_TTL)
            .await
    }

    /// [`ClientCache::resources`] at most `max_age` old: the monitor asks for a fresh answer
    /// (`Duration::ZERO`) and leaves it for the dashboards.
    pub async fn resources_within(
        &self,
        row: &NodeRow,
        key: &SecretKey,
        timeout: Duration,
        max_age: Duration,
    ) -> Resources {
        let slot = match self.resources.lock() {
            Ok(mut map) => map.entry(row.id).or_default().clone(),
            Err(_) => return Err("the node cache is unavailable".to_owned()),
        };
        let mut slot = slot.lock().await;
        if let Some((at, answer)) = slot.as_ref()
            && at.elapsed() < max_age
        {
            return answer.clone();
        }
        let answer = match self.client(row, key) {
            Ok(client) => match tokio::time::timeout(timeout, client.cluster_resources()).await {
                Ok(Ok(list)) => Ok(std::sync::Arc::new(list)),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no answer within {} s", timeout.as_secs())),
            },
            Err(e) => Err(format!("{e:#}")),
        };
        *slot = Some((std::time::Instant::now(), answer.clone()));
        answer
    }

    /// Forgets node `id`'s last `/cluster/resources` answer (an action changed its guests).
    pub fn forget_resources(&self, id: i64) {
        if let Ok(mut map) = self.resources.lock() {
            map.remove(&id);
        }
    }

    /// Remembers that node `id`'s member `name` was online just now.
    pub fn set_member(&self, id: i64, name: &str) {
        if let Ok(mut members) = self.members.lock() {
            members.insert(id, (std::time::Instant::now(), name.to_owned()));
        }
    }
}

/// A digest of what a node's client is built from (the sealed token included, so a new
/// token makes a new client).
fn settings(row: &NodeRow) -> Vec<u8> {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [
        row.host.as_bytes(),
        &row.port.to_be_bytes(),
        row.fingerprint.as_bytes(),
        row.token_id.as_bytes(),
        &row.token_secret,
    ] {
        context.update(&(part.len() as u64).to_be_bytes());
        context.update(part);
    }
    context.finish().as_ref().to_vec()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &SecretKey, fingerprint: &str) -> anyhow::Result<NodeRow> {
        Ok(NodeRow {
            id: 7,
            owner_id: 1,
            name: "pve".into(),
            host: "127.0.0.1".into(),
            port: 8006,
            is_cluster: false,
            fingerprint: fingerprint.into(),
            token_id: "root@pam!kiln".into(),
            token_secret: key.encrypt(b"secret", &NodeRow::secret_context(7))?,
            ssh_user: "root".into(),
            ssh_port: 22,
            ssh_host_key: None,
            is_lab: false,
            created_at: chrono::Utc::now(),
        })
    }

    #[test]
    fn a_node_keeps_its_client_until_its_settings_change() -> anyhow::Result<()> {
        let key = SecretKey::generate()?;
        let cache = ClientCache::default();
        let pin = ["AB"; 32].join(":");
        let first = cache.client(&row(&key, &pin)?, &key)?;
        let again = cache.client(&row(&key, &pin)?, &key)?;
        // The same settings, but the token sealed again (a new nonce): a new client, since
        // the sealed token is part of what the client is built from.
        assert!(!std::sync::Arc::ptr_eq(&first, &again));
        let stable = row(&key, &pin)?;
        let one = cache.client(&stable, &key)?;
        let two = cache.client(&stable, &key)?;
        assert!(std::sync::Arc::ptr_eq(&one, &two), "reused");
        let mut moved = stable.clone();
        moved.fingerprint = ["CD"; 32].join(":");
        let three = cache.client(&moved, &key)?;
        assert!(
            !std::sync::Arc::ptr_eq(&two, &three),
            "a new pin, a new client"
        );
        assert_eq!(cache.member(7), None);
        cache.set_member(7, "pve2");
        assert_eq!(cache.member(7).as_deref(), Some("pve2"));
        assert_eq!(cache.member(8), None);
        Ok(())
    }
}
