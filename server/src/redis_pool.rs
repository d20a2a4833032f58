//! The Redis pool (sessions, sign-in counters): deadpool-redis with wait, create and recycle
//! timeouts, and connections whose connect and response timeouts are set, so a stopped Redis
//! answers an error within seconds instead of hanging a request.

use std::time::Duration;

use anyhow::Context;
use deadpool_redis::redis::AsyncConnectionConfig;
use deadpool_redis::{Manager, Pool, Runtime, Timeouts};

/// Connections in the pool (each is multiplexed).
pub const POOL_SIZE: usize = 8;
/// The longest a request waits for a free connection.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest opening a connection may take (covers the connect timeout below).
pub const CREATE_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest the liveness `PING` of an idle connection may take before it is thrown away.
pub const RECYCLE_TIMEOUT: Duration = Duration::from_secs(1);
/// The longest the TCP (or unix socket) connection takes to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The longest one command waits for its answer.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Builds the pool for `url` (`redis://`, `rediss://`, `redis+unix://`). Connects lazily.
pub fn pool(url: &str) -> anyhow::Result<Pool> {
    let connection = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT));
    // The error of a bad URL may quote it (and its password): name the key only.
    let manager = Manager::new_with_config(url, connection)
        .map_err(|_| anyhow::anyhow!("configuration key `REDIS_URL`: not a usable Redis URL"))?;
    Pool::builder(manager)
        .max_size(POOL_SIZE)
        .runtime(Runtime::Tokio1)
        .timeouts(Timeouts {
            wait: Some(WAIT_TIMEOUT),
            create: Some(CREATE_TIMEOUT),
            recycle: Some(RECYCLE_TIMEOUT),
        })
        .build()
        .context("configuration key `REDIS_URL`: cannot build a pool")
}
