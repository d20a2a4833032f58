//! Sign-in rate limits: attempts are counted per username and per client address in Redis,
//! in a fixed one-minute window; past the limit, sign-in answers 429 until the window ends.
//!
//! An attempt is *reserved* before the password is verified ([`LoginLimiter::reserve`]: one
//! atomic script increments both counters), so a burst of parallel guesses cannot all be
//! verified before the first failure is counted: of 50 parallel wrong passwords for one
//! user, at most the limit are verified, the rest are refused. A successful sign-in gives
//! its reservation back ([`LoginLimiter::succeeded`]). The script also (re)sets the window's
//! expiry on any counter that has none, so a counter whose expiry was lost cannot lock a user
//! out for good; it uses only `INCR`, `TTL` and `EXPIRE` (Redis 6 and 7 alike).
//!
//! The same limiter guards the current-password check of a password change.

use deadpool_redis::Pool;
use deadpool_redis::redis::{AsyncCommands, Script};

/// The window in which attempts are counted.
pub const WINDOW_SECS: u64 = 60;

/// Increments every key in `KEYS`, giving it the window `ARGV[1]` when it has no expiry;
/// returns `[count, ttl]` per key.
const RESERVE: &str = r"
local out = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  local ttl = redis.call('TTL', key)
  if ttl < 0 then
    redis.call('EXPIRE', key, ARGV[1])
    ttl = tonumber(ARGV[1])
  end
  out[2 * i - 1] = n
  out[2 * i] = ttl
end
return out
";

/// Forgets the username's count (`KEYS[1]`) and gives the address (`KEYS[2]`) its attempt
/// back, unless its window has already ended.
const SUCCEEDED: &str = r"
redis.call('DEL', KEYS[1])
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('DECR', KEYS[2])
end
return 0
";

/// Counts one hit on `key` in its fixed window of [`WINDOW_SECS`]: the hits so far in the
/// window (this one included) and the seconds until the window ends. The API's limits
/// (`api::auth`: requests per token, unknown tokens per address) count with it.
pub async fn hit(redis: &Pool, key: &str) -> anyhow::Result<(i64, u64)> {
    let mut conn = redis.get().await?;
    let out: Vec<i64> = Script::new(RESERVE)
        .key(key)
        .arg(WINDOW_SECS)
        .invoke_async(&mut conn)
        .await?;
    match out.as_slice() {
        [count, ttl] => Ok((*count, (*ttl).max(1) as u64)),
        _ => anyhow::bail!("the rate-limit script answered {out:?}"),
    }
}

#[derive(Clone)]
pub struct LoginLimiter {
    /// The shared Redis pool.
    redis: Pool,
    /// The configured key prefix.
    prefix: String,
    /// Attempts allowed per window (per username and per address) before refusing.
    max_failures: u32,
}

impl std::fmt::Debug for LoginLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginLimiter")
            .field("max_failures", &self.max_failures)
            .finish()
    }
}

impl LoginLimiter {
    pub fn new(redis: Pool, prefix: String, max_failures: u32) -> Self {
        LoginLimiter {
            redis,
            prefix,
            max_failures,
        }
    }

    /// The counters' keys. The username is hashed: a key's length does not depend on input.
    fn keys(&self, username: &str, ip: &str) -> [String; 2] {
        [
            format!(
                "{}login-fail:user:{}",
                self.prefix,
                super::tokens::digest(username)
            ),
            format!("{}login-fail:ip:{ip}", self.prefix),
        ]
    }

    /// Reserves one attempt for `username` from `ip`: `Ok(Err(seconds))` when either counter
    /// is past the limit (the attempt must be refused), `Ok(Ok(()))` when it may go ahead.
    pub async fn reserve(&self, username: &str, ip: &str) -> anyhow::Result<Result<(), u64>> {
        let mut conn = self.redis.get().await?;
        let [user_key, ip_key] = self.keys(username, ip);
        let out: Vec<i64> = Script::new(RESERVE)
            .key(&user_key)
            .key(&ip_key)
            .arg(WINDOW_SECS)
            .invoke_async(&mut conn)
            .await?;
        let max = i64::from(self.max_failures);
        let refused = out
            .chunks_exact(2)
            .filter(|pair| pair[0] > max)
            .map(|pair| pair[1].max(1) as u64)
            .max();
        Ok(refused.map_or(Ok(()), Err))
    }

    /// A reserved attempt succeeded: the username's count starts again, and the address gets
    /// its attempt back.
    pub async fn succeeded(&self, username: &str, ip: &str) -> anyhow::Result<()> {
        let mut conn = self.redis.get().await?;
        let [user_key, ip_key] = self.keys(username, ip);
        let _: i64 = Script::new(SUCCEEDED)
            .key(&user_key)
            .key(&ip_key)
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Seconds until the username's window ends (tests and diagnostics).
    pub async fn ttl(&self, username: &str) -> anyhow::Result<i64> {
        let mut conn = self.redis.get().await?;
        let [user_key, _] = self.keys(username, "");
        Ok(conn.ttl(&user_key).await?)
    }

    /// The username's counter key (tests: simulate a counter whose expiry was lost).
    pub fn user_key(&self, username: &str) -> String {
        let [user_key, _] = self.keys(username, "");
        user_key
    }
}
