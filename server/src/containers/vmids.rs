//! The VMID cache: which VMIDs a node's cluster uses, kept in Redis for a short while so the
//! allocate phase of a burst of creations does not ask `/cluster/resources` once per
//! container.
//!
//! One Redis set per node row (a node row is one Proxmox node or one cluster — VMIDs are
//! unique per cluster, and `/cluster/resources` lists the whole cluster's guests):
//! `<prefix>vmids:node:<id>`, filled from `/cluster/resources?type=vm` on a miss and expiring
//! after [`TTL`]. It always holds the member [`FILLED`], so an empty cluster is a cached
//! answer too (Redis removes empty sets).
//!
//! Kept true by Kiln's own changes: a VMID the allocate phase reserves (or finds taken) is
//! added — only to a set that exists, since a partial set must never pass for a full one —
//! and a deletion that destroyed a container drops the node's set, so the next allocation
//! reads the cluster again.
//!
//! **The cache is advisory.** What makes an allocation right is elsewhere: Kiln's own
//! reservations are the unique row `(node_id, vmid)` of `containers`, and Proxmox's view is
//! checked with `/cluster/nextid?vmid=X` before an id is used. A stale set (a guest made or
//! removed by someone else within [`TTL`]) costs one more candidate, never a collision.
//! When Redis is unavailable the cluster is asked directly (logged once per allocation).

use std::collections::BTreeSet;
use std::time::Duration;

use deadpool_redis::Pool;
use deadpool_redis::redis::{AsyncCommands, Script};

use crate::proxmox::ProxmoxApi;

/// How long a node's set is trusted.
pub const TTL: Duration = Duration::from_secs(30);

/// The member every filled set holds (not a number, so never a VMID).
pub const FILLED: &str = "filled";

/// Replaces the set `KEYS[1]` with `ARGV[2..]` plus the marker, expiring in `ARGV[1]` s.
const FILL: &str = r"
redis.call('DEL', KEYS[1])
redis.call('SADD', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 0
";

/// Adds `ARGV[1]` to the set `KEYS[1]` only when the set exists.
const ADD: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('SADD', KEYS[1], ARGV[1])
end
return 0
";

/// Where a [`VmidCache::used`] answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The node's set in Redis.
    Cache,
    /// `/cluster/resources` (and the set was filled from it).
    Cluster,
}

/// The VMID cache over the app's Redis pool and key prefix.
#[derive(Clone)]
pub struct VmidCache {
    /// The shared Redis pool.
    redis: Pool,
    /// The configured key prefix (tests get their own).
    prefix: String,
}

impl std::fmt::Debug for VmidCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VmidCache")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl VmidCache {
    /// The cache of this app (its pool and prefix).
    pub fn new(state: &crate::app_state::AppState) -> Self {
        VmidCache {
            redis: state.redis.clone(),
            prefix: state.config.redis_prefix.clone(),
        }
    }

    /// The key of node row `node_id`'s set.
    pub fn key(&self, node_id: i64) -> String {
        format!("{}vmids:node:{node_id}", self.prefix)
    }

    /// The VMIDs the node's cluster uses: the cached set, else `/cluster/resources` (which
    /// then fills the set). A Proxmox failure is returned; a Redis failure is logged and the
    /// cluster asked directly.
    pub async fn used(
        &self,
        node_id: i64,
        client: &dyn ProxmoxApi,
    ) -> crate::proxmox::Result<(BTreeSet<u32>, Source)> {
        match self.cached(node_id).await {
            Ok(Some(set)) => return Ok((set, Source::Cache)),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(node.id = node_id, error = %e, "VMID cache unavailable; asking the cluster");
                let set = fetch(client).await?;
                return Ok((set, Source::Cluster));
            }
        }
        let set = fetch(client).await?;
        if let Err(e) = self.fill(node_id, &set).await {
            tracing::warn!(node.id = node_id, error = %e, "cannot fill the VMID cache");
        }
        Ok((set, Source::Cluster))
    }

    /// The node's cached set; `None` when there is none (never filled, or expired).
    pub async fn cached(&self, node_id: i64) -> anyhow::Result<Option<BTreeSet<u32>>> {
        let mut conn = self.redis.get().await?;
        let members: Vec<String> = conn.smembers(self.key(node_id)).await?;
        if !members.iter().any(|m| m == FILLED) {
            return Ok(None);
        }
        Ok(Some(
            members.iter().filter_map(|m| m.parse().ok()).collect(),
        ))
    }

    /// Records that `vmid` is used now (reserved by Kiln, or found taken), if the node's set
    /// exists. Best effort: a failure is logged.
    pub async fn add(&self, node_id: i64, vmid: u32) {
        let result: anyhow::Result<()> = async {
            let mut conn = self.redis.get().await?;
            let _: i64 = Script::new(ADD)
                .key(self.key(node_id))
                .arg(vmid)
                .invoke_async(&mut conn)
                .await?;
            Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(node.id = node_id, ct.vmid = vmid, error = %e, "cannot update the VMID cache");
        }
    }

    /// Drops the node's set: its guests changed (a container was destroyed). Best effort: a
    /// failure is logged (the set expires within [`TTL`] anyway).
    pub async fn invalidate(&self, node_id: i64) {
        let result: anyhow::Result<()> = async {
            let mut conn = self.redis.get().await?;
            let _: i64 = conn.del(self.key(node_id)).await?;
            Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(node.id = node_id, error = %e, "cannot invalidate the VMID cache");
        }
    }

    async fn fill(&self, node_id: i64, set: &BTreeSet<u32>) -> anyhow::Result<()> {
        let mut conn = self.redis.get().await?;
        let script = Script::new(FILL);
        let mut invocation = script.prepare_invoke();
        invocation
            .key(self.key(node_id))
            .arg(TTL.as_secs())
            .arg(FILLED);
        for vmid in set {
            invocation.arg(*vmid);
        }
        let _: i64 = invocation.invoke_async(&mut conn).await?;
        Ok(())
    }
}

/// Every VMID of the cluster's guests (containers and VMs alike: they share the id space).
async fn fetch(client: &dyn ProxmoxApi) -> crate::proxmox::Result<BTreeSet<u32>> {
    Ok(client
        .cluster_resources_vm()
        .await?
        .into_iter()
        .filter_map(|r| r.vmid)
        .collect())
}
