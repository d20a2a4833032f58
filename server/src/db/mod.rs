//! PostgreSQL: the pool, the embedded migrations, and one module of queries per table.
//!
//! Errors here are `diesel::result::Error` (`QueryResult`); the boundary (`crate::errors`)
//! maps them to `AppError`. Row structs live beside `schema.rs` and convert to `shared` types
//! with `From`.

pub mod audit;
pub mod buckets;
pub mod meta;
pub mod nodes;
pub mod schema;
pub mod templates;
pub mod users;

use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::{AsyncMigrationHarness, AsyncPgConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// The migrations in `migrations/`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

/// The connection pool every request and job borrows from.
pub type DbPool = Pool<AsyncPgConnection>;
/// One borrowed connection.
pub type DbConn = Object<AsyncPgConnection>;

/// Builds a pool for `url` (a URL or a `key=value` connection string). Connects lazily.
pub fn pool(url: &str, size: usize) -> anyhow::Result<DbPool> {
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(url);
    Ok(Pool::builder(manager).max_size(size).build()?)
}

/// Applies every pending migration; returns the versions applied.
///
/// Needs the multi-threaded runtime (diesel's harness blocks in place).
pub async fn migrate(pool: &DbPool) -> anyhow::Result<Vec<String>> {
    let conn = pool.get().await?;
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
    let conn = pool.get().await?;
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
