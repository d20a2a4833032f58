//! Sign-in rate limits: wrong passwords are counted per username and per client address in
//! Redis, in a fixed one-minute window; at the limit, sign-in answers 429 until it passes.

use deadpool_redis::Pool;
use deadpool_redis::redis::AsyncCommands;

/// The window in which failures are counted.
pub const WINDOW_SECS: u64 = 60;

#[derive(Clone)]
pub struct LoginLimiter {
    /// The shared Redis pool.
    redis: Pool,
    /// The configured key prefix.
    prefix: String,
    /// Failures allowed per window before refusing.
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

    fn keys(&self, username: &str, ip: &str) -> [String; 2] {
        [
            format!("{}login-fail:user:{username}", self.prefix),
            format!("{}login-fail:ip:{ip}", self.prefix),
        ]
    }

    /// `Err(seconds)` when either counter is at the limit.
    pub async fn check(&self, username: &str, ip: &str) -> anyhow::Result<Result<(), u64>> {
        let mut conn = self.redis.get().await?;
        for key in self.keys(username, ip) {
            let count: Option<u32> = conn.get(&key).await?;
            if count.unwrap_or(0) >= self.max_failures {
                let ttl: i64 = conn.ttl(&key).await?;
                return Ok(Err(ttl.max(1) as u64));
            }
        }
        Ok(Ok(()))
    }

    /// Counts one wrong password.
    pub async fn record_failure(&self, username: &str, ip: &str) -> anyhow::Result<()> {
        let mut conn = self.redis.get().await?;
        let mut pipe = deadpool_redis::redis::pipe();
        for key in self.keys(username, ip) {
            pipe.incr(&key, 1u32)
                .ignore()
                .cmd("EXPIRE")
                .arg(&key)
                .arg(WINDOW_SECS)
                .arg("NX")
                .ignore();
        }
        let _: () = pipe.query_async(&mut conn).await?;
        Ok(())
    }

    /// Forgets the username's failures after a successful sign-in.
    pub async fn clear_user(&self, username: &str) -> anyhow::Result<()> {
        let mut conn = self.redis.get().await?;
        let [user_key, _] = self.keys(username, "");
        let _: () = conn.del(user_key).await?;
        Ok(())
    }
}
