//! Sessions in Redis: an opaque random id in the cookie; Redis keeps the session under the id's
//! SHA-256 with the idle timeout as its TTL, and refuses it past the absolute lifetime.
//!
//! Keys (all under the configured prefix):
//! - `session:<digest>` → JSON [`SessionData`], TTL = time left before idle or absolute expiry
//! - `user-sessions:<user id>` → set of digests, so "sign out everywhere" finds them all
//! - `user-disabled:<user id>` → present while the user is disabled: every lookup checks it,
//!   so a session opened by a sign-in that raced the disable is refused too

use std::time::Duration;

use deadpool_redis::Pool;
use deadpool_redis::redis::AsyncCommands;
use kiln_shared::auth::CurrentUser;
use serde::{Deserialize, Serialize};

use super::tokens;

/// What a session remembers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionData {
    pub user: CurrentUser,
    /// Unix seconds at sign-in (for the absolute lifetime).
    pub created_at: i64,
    /// Unix seconds when the user last entered their password again in this session (a
    /// credential reveal asks for it once the sign-in is older than 10 minutes); `None`
    /// until then. Absent in sessions from before it existed.
    #[serde(default)]
    pub password_confirmed_at: Option<i64>,
}

impl SessionData {
    /// When this session last proved the user's password: sign-in, or a confirmation since.
    pub fn password_proved_at(&self) -> i64 {
        self.password_confirmed_at
            .map_or(self.created_at, |at| at.max(self.created_at))
    }
}

/// The session store.
#[derive(Clone)]
pub struct SessionStore {
    /// The shared Redis pool.
    redis: Pool,
    /// The configured key prefix.
    prefix: String,
    /// Inactivity after which a session ends.
    idle: Duration,
    /// Lifetime after which a session ends regardless of activity.
    absolute: Duration,
}

impl std::fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStore")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl SessionStore {
    pub fn new(redis: Pool, prefix: String, idle: Duration, absolute: Duration) -> Self {
        SessionStore {
            redis,
            prefix,
            idle,
            absolute,
        }
    }

    /// The absolute lifetime (the cookie's Max-Age).
    pub fn absolute(&self) -> Duration {
        self.absolute
    }

    fn key(&self, digest: &str) -> String {
        format!("{}session:{digest}", self.prefix)
    }

    fn user_key(&self, user_id: i64) -> String {
        format!("{}user-sessions:{user_id}", self.prefix)
    }

    fn disabled_key(&self, user_id: i64) -> String {
        format!("{}user-disabled:{user_id}", self.prefix)
    }

    /// Marks a user disabled (their sessions stop working at once) or enabled again.
    pub async fn set_user_disabled(&self, user_id: i64, disabled: bool) -> anyhow::Result<()> {
        let mut conn = self.redis.get().await?;
        let key = self.disabled_key(user_id);
        if disabled {
            let _: () = conn.set(key, 1).await?;
        } else {
            let _: () = conn.del(key).await?;
        }
        Ok(())
    }

    /// Opens a session for `user`; returns the id for the cookie.
    pub async fn create(&self, user: &CurrentUser) -> anyhow::Result<String> {
        let id = tokens::random_token()?;
        let digest = tokens::digest(&id);
        let data = SessionData {
            user: user.clone(),
            created_at: chrono::Utc::now().timestamp(),
            password_confirmed_at: None,
        };
        let mut conn = self.redis.get().await?;
        let _: () = deadpool_redis::redis::pipe()
            .atomic()
            .set_ex(
                self.key(&digest),
                serde_json::to_string(&data)?,
                self.idle.as_secs(),
            )
            .sadd(self.user_key(user.id), &digest)
            .expire(self.user_key(user.id), self.absolute.as_secs() as i64)
            .query_async(&mut conn)
            .await?;
        Ok(id)
    }

    /// The live session for a cookie value, refreshing its idle timer; `None` when unknown,
    /// expired, or malformed.
    pub async fn lookup(&self, id: &str) -> anyhow::Result<Option<SessionData>> {
        if !tokens::well_formed(id) {
            return Ok(None);
        }
        let key = self.key(&tokens::digest(id));
        let mut conn = self.redis.get().await?;
        let raw: Option<String> = conn.get(&key).await?;
        let Some(raw) = raw else { return Ok(None) };
        let Ok(data) = serde_json::from_str::<SessionData>(&raw) else {
            let _: () = conn.del(&key).await?;
            return Ok(None);
        };
        let age = chrono::Utc::now()
            .timestamp()
            .saturating_sub(data.created_at)
            .max(0) as u64;
        let absolute = self.absolute.as_secs();
        if age >= absolute {
            let _: () = conn.del(&key).await?;
            return Ok(None);
        }
        let ttl = self.idle.as_secs().min(absolute - age).max(1);
        let (disabled, ()): (bool, ()) = deadpool_redis::redis::pipe()
            .exists(self.disabled_key(data.user.id))
            .expire(&key, ttl as i64)
            .query_async(&mut conn)
            .await?;
        if disabled {
            let _: () = conn.del(&key).await?;
            return Ok(None);
        }
        Ok(Some(data))
    }

    /// Records in session `id` that its user entered their password again just now (`at`,
    /// Unix seconds), keeping its expiry. `false` when the session is gone.
    pub async fn confirm_password(&self, id: &str, at: i64) -> anyhow::Result<bool> {
        if !tokens::well_formed(id) {
            return Ok(false);
        }
        let key = self.key(&tokens::digest(id));
        let mut conn = self.redis.get().await?;
        let raw: Option<String> = conn.get(&key).await?;
        let Some(raw) = raw else { return Ok(false) };
        let Ok(mut data) = serde_json::from_str::<SessionData>(&raw) else {
            return Ok(false);
        };
        data.password_confirmed_at = Some(at);
        // `XX`: never brings back a session that ended meanwhile; `KEEPTTL`: its idle and
        // absolute expiry stay as they were.
        let written: Option<String> = deadpool_redis::redis::cmd("SET")
            .arg(&key)
            .arg(serde_json::to_string(&data)?)
            .arg("XX")
            .arg("KEEPTTL")
            .query_async(&mut conn)
            .await?;
        Ok(written.is_some())
    }

    /// Ends one session.
    pub async fn delete(&self, id: &str, user_id: i64) -> anyhow::Result<()> {
        let digest = tokens::digest(id);
        let mut conn = self.redis.get().await?;
        let _: () = deadpool_redis::redis::pipe()
            .del(self.key(&digest))
            .srem(self.user_key(user_id), &digest)
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Ends every session of a user except `keep` (a cookie id); returns how many ended.
    pub async fn delete_all_for(&self, user_id: i64, keep: Option<&str>) -> anyhow::Result<usize> {
        let keep = keep.map(tokens::digest);
        let mut conn = self.redis.get().await?;
        let digests: Vec<String> = conn.smembers(self.user_key(user_id)).await?;
        if digests.iter().all(|d| Some(d) == keep.as_ref()) {
            // Nothing to end (Redis refuses an empty request).
            return Ok(0);
        }
        let mut ended = 0;
        let mut pipe = deadpool_redis::redis::pipe();
        for digest in digests.iter().filter(|d| Some(*d) != keep.as_ref()) {
            pipe.del(self.key(digest))
                .srem(self.user_key(user_id), digest);
            ended += 1;
        }
        let _: () = pipe.query_async(&mut conn).await?;
        Ok(ended)
    }
}
