//! One action at a time per container, across users, requests and workers of every Kiln
//! process sharing the Redis: a lock per container row, `<prefix>lock:guest:<id>`.
//!
//! Taken with `SET key value NX PX ttl`; the value is a JSON [`Holder`] with a random owner
//! token, what is under way, since when and by whom — so a refused caller can say "busy: stop
//! since 10:02:03 UTC by alice". Released and renewed only by its holder: a Lua script
//! compares the stored value with the holder's before `DEL` / `PEXPIRE` (never a plain `DEL`,
//! which could drop a lock that expired and was taken by someone else meanwhile).
//!
//! A holder that dies (a killed worker, a dropped request) leaves nothing behind for long:
//! the key expires after its TTL. Work that lasts longer than one TTL (the creation job, a
//! deletion, a slow shutdown) keeps the lock with [`Held::keep_alive`], which renews it every
//! third of the TTL until the guard is released or dropped.
//!
//! The lock is what keeps two calls from reaching Proxmox at once for one container; Proxmox's
//! own `lock` on the guest config is not enough (a `start` and a `stop` can both be accepted).

use std::sync::Arc;
use std::time::Duration;

use deadpool_redis::Pool;
use deadpool_redis::redis::{AsyncCommands, Script};
use kiln_shared::inventory::Busy;
use serde::{Deserialize, Serialize};

/// The TTL of a lock: how long a dead holder blocks the container at most.
pub const TTL: Duration = Duration::from_secs(30);

/// Deletes `KEYS[1]` only while it holds `ARGV[1]` (the holder's own value).
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Sets `KEYS[1]`'s expiry to `ARGV[2]` ms only while it holds `ARGV[1]`.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

/// Replaces `KEYS[1]`'s value `ARGV[1]` by `ARGV[2]`, expiring in `ARGV[3]` ms (a job taking
/// over the lock an earlier run of the same job left).
const TAKE_OVER: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return false
";

/// What a lock's value says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Holder {
    /// The holder's random token (never shown).
    pub token: String,
    /// The durable job holding it, if a job does: a resumed run of the same job takes its
    /// lock over instead of waiting for it to expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<i64>,
    /// What is under way.
    pub what: String,
    /// Since when (RFC 3339).
    pub since: String,
    /// Who asked.
    pub by: String,
}

impl Holder {
    /// What a refused caller is told.
    pub fn busy(&self) -> Busy {
        Busy {
            what: self.what.clone(),
            since: self.since.clone(),
            by: self.by.clone(),
        }
    }
}

/// Why a lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Someone holds it.
    #[error("{0}")]
    Busy(Busy),
    /// Redis did not answer.
    #[error("the lock store is unavailable: {0}")]
    Unavailable(String),
}

/// The locks over the app's Redis pool and key prefix.
#[derive(Clone)]
pub struct GuestLocks {
    redis: Pool,
    prefix: String,
    ttl: Duration,
}

impl std::fmt::Debug for GuestLocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestLocks")
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl GuestLocks {
    /// The locks of this app, with [`TTL`].
    pub fn new(state: &crate::app_state::AppState) -> Self {
        Self::with_ttl(state.redis.clone(), state.config.redis_prefix.clone(), TTL)
    }

    /// Locks with another TTL (tests of expiry).
    pub fn with_ttl(redis: Pool, prefix: String, ttl: Duration) -> Self {
        GuestLocks { redis, prefix, ttl }
    }

    /// The key of container `id`'s lock.
    pub fn key(&self, id: i64) -> String {
        format!("{}lock:guest:{id}", self.prefix)
    }

    /// Takes container `id`'s lock for `what`, asked by `by`; [`LockError::Busy`] with the
    /// holder when someone has it.
    pub async fn acquire(&self, id: i64, what: &str, by: &str) -> Result<Held, LockError> {
        self.acquire_as(id, what, by, None).await
    }

    /// [`Self::acquire`] for durable job `job`: a lock an earlier run of the same job left
    /// (killed before it released it) is taken over at once — the job's lease already makes
    /// this run its only runner.
    async fn acquire_as(
        &self,
        id: i64,
        what: &str,
        by: &str,
        job: Option<i64>,
    ) -> Result<Held, LockError> {
        let holder = Holder {
            token: crate::auth::tokens::random_token()
                .map_err(|e| LockError::Unavailable(e.to_string()))?,
            job,
            what: what.to_owned(),
            since: chrono::Utc::now().to_rfc3339(),
            by: by.to_owned(),
        };
        let value =
            serde_json::to_string(&holder).map_err(|e| LockError::Unavailable(e.to_string()))?;
        let key = self.key(id);
        let unavailable = |e: &dyn std::fmt::Display| LockError::Unavailable(e.to_string());
        let mut conn = self.redis.get().await.map_err(|e| unavailable(&e))?;
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        let set: Option<String> = deadpool_redis::redis::cmd("SET")
            .arg(&key)
            .arg(&value)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .query_async(&mut conn)
            .await
            .map_err(|e| unavailable(&e))?;
        if set.is_some() {
            return Ok(self.held(key, value));
        }
        let current: Option<String> = conn.get(&key).await.map_err(|e| unavailable(&e))?;
        let parsed = current
            .as_deref()
            .and_then(|v| serde_json::from_str::<Holder>(v).ok());
        if let (Some(job), Some(old), Some(found)) = (job, &current, &parsed)
            && found.job == Some(job)
        {
            let taken: Option<String> = Script::new(TAKE_OVER)
                .key(&key)
                .arg(old)
                .arg(&value)
                .arg(ttl_ms)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| unavailable(&e))?;
            if taken.is_some() {
                tracing::info!(
                    ct.id = id,
                    job.id = job,
                    "took over the lock an earlier run of the job left"
                );
                return Ok(self.held(key, value));
            }
        }
        let busy = parsed.map_or_else(
            // Released between the two calls: say so plainly rather than retrying.
            || Busy {
                what: "another action".to_owned(),
                since: chrono::Utc::now().to_rfc3339(),
                by: "someone".to_owned(),
            },
            |h| h.busy(),
        );
        Err(LockError::Busy(busy))
    }

    /// The guard of a lock just taken with `value` under `key`.
    fn held(&self, key: String, value: String) -> Held {
        Held {
            inner: Arc::new(Inner {
                redis: self.redis.clone(),
                key,
                value,
                ttl: self.ttl,
            }),
            renewer: None,
            released: false,
        }
    }

    /// Takes the lock for durable job `job`, waiting while it is busy (polling every `poll`)
    /// for at most `wait` — what holds the lock ends on its own; a lock an earlier run of the
    /// same job left is taken over.
    pub async fn acquire_waiting(
        &self,
        id: i64,
        (what, by, job): (&str, &str, i64),
        poll: Duration,
        wait: Duration,
    ) -> Result<Held, LockError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match self.acquire_as(id, what, by, Some(job)).await {
                Err(LockError::Busy(busy)) if tokio::time::Instant::now() < deadline => {
                    tracing::debug!(ct.id = id, %busy, "waiting for the container's lock");
                    tokio::time::sleep(poll).await;
                }
                other => return other,
            }
        }
    }

    /// Who holds the locks of `ids` (one round trip); missing ids are free.
    pub async fn holders(
        &self,
        ids: &[i64],
    ) -> anyhow::Result<std::collections::HashMap<i64, Busy>> {
        let mut out = std::collections::HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let mut conn = self.redis.get().await?;
        let keys: Vec<String> = ids.iter().map(|id| self.key(*id)).collect();
        let values: Vec<Option<String>> = deadpool_redis::redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut conn)
            .await?;
        for (id, value) in ids.iter().zip(values) {
            if let Some(h) = value.and_then(|v| serde_json::from_str::<Holder>(&v).ok()) {
                out.insert(*id, h.busy());
            }
        }
        Ok(out)
    }

    /// Who holds container `id`'s lock, if anyone.
    pub async fn holder(&self, id: i64) -> anyhow::Result<Option<Busy>> {
        Ok(self.holders(&[id]).await?.remove(&id))
    }
}

struct Inner {
    redis: Pool,
    key: String,
    value: String,
    ttl: Duration,
}

impl Inner {
    async fn run(&self, script: &str, with_ttl: bool) -> anyhow::Result<bool> {
        let mut conn = self.redis.get().await?;
        let script = Script::new(script);
        let mut invocation = script.prepare_invoke();
        invocation.key(&self.key).arg(&self.value);
        if with_ttl {
            invocation.arg(u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX));
        }
        let n: i64 = invocation.invoke_async(&mut conn).await?;
        Ok(n == 1)
    }
}

/// A lock this caller holds. Release it with [`Held::release`]; dropping it releases it in
/// the background (best effort — the TTL covers a failure).
pub struct Held {
    inner: Arc<Inner>,
    renewer: Option<tokio::task::JoinHandle<()>>,
    released: bool,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("key", &self.inner.key)
            .finish()
    }
}

impl Held {
    /// Renews the lock every third of its TTL until released or dropped (for work longer
    /// than one TTL). A renewal that finds the lock gone (expired while Redis was away, and
    /// taken by someone else) is logged; the work goes on.
    pub fn keep_alive(mut self) -> Self {
        let inner = self.inner.clone();
        let every = (inner.ttl / 3).max(Duration::from_millis(10));
        self.renewer = Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match inner.run(RENEW, true).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(lock = %inner.key, "the container's lock was lost");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(lock = %inner.key, error = %e, "cannot renew the container's lock")
                    }
                }
            }
        }));
        self
    }

    /// Releases the lock (only if still this holder's).
    pub async fn release(mut self) {
        self.released = true;
        if let Some(renewer) = self.renewer.take() {
            renewer.abort();
        }
        if let Err(e) = self.inner.run(RELEASE, false).await {
            tracing::warn!(lock = %self.inner.key, error = %e, "cannot release the container's lock; it expires");
        }
    }

    /// Drops the guard without releasing (a simulated crash, in tests): the lock stays until
    /// it expires.
    pub fn abandon(mut self) {
        self.released = true;
        if let Some(renewer) = self.renewer.take() {
            renewer.abort();
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(renewer) = self.renewer.take() {
            renewer.abort();
        }
        if self.released {
            return;
        }
        let inner = self.inner.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Err(e) = inner.run(RELEASE, false).await {
                    tracing::warn!(lock = %inner.key, error = %e, "cannot release the container's lock; it expires");
                }
            });
        }
    }
}
