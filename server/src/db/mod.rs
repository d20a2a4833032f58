//! PostgreSQL: the pool, the embedded migrations, and one module of queries per table.
//!
//! Errors here are `diesel::result::Error` (`QueryResult`); the boundary (`crate::errors`)
//! maps them to `AppError`. Row structs live beside `schema.rs` and convert to `shared` types
//! with `From`.

pub mod alert_channels;
pub mod alert_deliveries;
pub mod alerts;
pub mod api_tokens;
pub mod audit;
pub mod buckets;
pub mod container_page;
pub mod containers;
pub mod jobs;
pub mod meta;
pub mod metrics;
pub mod nodes;
pub mod schema;
pub mod templates;
pub mod users;

use std::time::Duration;

use deadpool::Runtime;
use deadpool::managed::{TimeoutType, Timeouts};
use diesel_async::pooled_connection::deadpool::{Object, Pool, PoolError};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::{
    AsyncConnection, AsyncMigrationHarness, AsyncPgConnection, SimpleAsyncConnection,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures::FutureExt;

/// The migrations in `migrations/`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

/// The longest a request waits for a free connection (all of them busy).
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest opening a new connection may take (TCP, TLS, authentication, setup).
pub const CREATE_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest the liveness check (`SELECT 1`) of an idle connection may take before the
/// connection is thrown away.
pub const RECYCLE_TIMEOUT: Duration = Duration::from_secs(1);
/// The longest [`DbPool::get`] takes in all: the pool recycles idle connections one after the
/// other, so without this bound a stopped server would cost a recycle timeout per idle
/// connection.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// PostgreSQL cancels a statement that runs longer (SQLSTATE 57014, answered 503).
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// PostgreSQL ends a session that sits in an open transaction this long (a stuck task must
/// not hold its locks forever).
pub const IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(60);

/// The connection pool every request and job borrows from: deadpool with wait, create and
/// recycle timeouts, and [`DbPool::get`] bounded by [`ACQUIRE_TIMEOUT`]. Everything else of
/// deadpool's `Pool` is reached through `Deref`.
#[derive(Clone)]
pub struct DbPool(Pool<AsyncPgConnection>);

/// One borrowed connection.
pub type DbConn = Object<AsyncPgConnection>;

impl std::fmt::Debug for DbPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbPool")
            .field("status", &self.0.status())
            .finish()
    }
}

impl std::ops::Deref for DbPool {
    type Target = Pool<AsyncPgConnection>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DbPool {
    /// A connection, or `PoolError::Timeout` after at most [`ACQUIRE_TIMEOUT`] (a stopped or
    /// unreachable server; every slot busy).
    pub async fn get(&self) -> Result<DbConn, PoolError> {
        tokio::time::timeout(ACQUIRE_TIMEOUT, self.0.get())
            .await
            .unwrap_or(Err(PoolError::Timeout(TimeoutType::Wait)))
    }
}

/// Builds a pool for `url` (a URL or a `key=value` connection string). Connects lazily; each
/// new connection gets the statement and idle-in-transaction timeouts.
pub fn pool(url: &str, size: usize) -> anyhow::Result<DbPool> {
    let mut config = ManagerConfig::<AsyncPgConnection>::default();
    config.custom_setup = Box::new(|url| connect(url).boxed());
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
    let pool = Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .timeouts(Timeouts {
            wait: Some(WAIT_TIMEOUT),
            create: Some(CREATE_TIMEOUT),
            recycle: Some(RECYCLE_TIMEOUT),
        })
        .build()?;
    Ok(DbPool(pool))
}

/// Opens one connection and sets its session timeouts.
async fn connect(url: &str) -> diesel::ConnectionResult<AsyncPgConnection> {
    let mut conn = AsyncPgConnection::establish(url).await?;
    conn.batch_execute(&format!(
        "SET statement_timeout = {}; SET idle_in_transaction_session_timeout = {}",
        STATEMENT_TIMEOUT.as_millis(),
        IDLE_IN_TRANSACTION_TIMEOUT.as_millis()
    ))
    .await
    .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}

/// A connection of its own for the migration harness: taken out of the pool (it leaves with
/// its session settings changed) and without the statement timeout (a migration may rewrite
/// a large table).
async fn migration_conn(pool: &DbPool) -> anyhow::Result<AsyncPgConnection> {
    let mut conn = Object::take(pool.get().await?);
    conn.batch_execute("SET statement_timeout = 0").await?;
    Ok(conn)
}

/// Applies every pending migration; returns the versions applied.
///
/// Needs the multi-threaded runtime (diesel's harness blocks in place).
pub async fn migrate(pool: &DbPool) -> anyhow::Result<Vec<String>> {
    let conn = migration_conn(pool).await?;
    tokio::task::block_in_place(|| {
        let mut harness = AsyncMigrationHarness::new(conn);
        let applied = harness
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("running migrations: {e}"))?;
        Ok(applied.iter().map(ToString::to_string).collect())
    })
}

/// Reverts the latest migration (used by the reversibility test).
pub async fn revert_all(pool: &DbPool) -> anyhow::Result<()> {
    let conn = migration_conn(pool).await?;
    tokio::task::block_in_place(|| {
        let mut harness = AsyncMigrationHarness::new(conn);
        harness
            .revert_all_migrations(MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("reverting migrations: {e}"))?;
        Ok(())
    })
}

/// Whether a query failed on a unique constraint (a name or slug already taken).
pub fn is_unique_violation(err: &diesel::result::Error) -> bool {
    matches!(
        err,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Whether a query failed on a foreign key (a row still referenced, e.g. by `containers`).
pub fn is_foreign_key_violation(err: &diesel::result::Error) -> bool {
    matches!(
        err,
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::ForeignKeyViolation,
            _
        )
    )
}
