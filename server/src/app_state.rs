//! `AppState`: everything a request handler or server function needs, cheap to clone.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::FromRef;
use kiln_app::Assets;
use leptos::config::LeptosOptions;

use crate::auth::rate_limit::LoginLimiter;
use crate::auth::sessions::SessionStore;
use crate::config::Config;
use crate::crypto::SecretKey;
use crate::db::{self, DbPool};

#[derive(Clone)]
pub struct AppState {
    /// The resolved configuration.
    pub config: Arc<Config>,
    /// The PostgreSQL pool (external or the private child's).
    pub db: DbPool,
    /// The Redis pool (sessions, rate limits; later pub/sub and locks).
    pub redis: deadpool_redis::Pool,
    /// Sessions in Redis.
    pub sessions: SessionStore,
    /// Sign-in failure counters.
    pub limiter: LoginLimiter,
    /// Password hashing threads (one per core, see `auth::hashing`): a burst of sign-ins
    /// queues for them instead of exhausting memory (argon2 holds 19 MiB a hash).
    pub hashing: crate::auth::hashing::Hasher,
    /// Set once a user exists, so the first-run check stops querying the database.
    pub has_users: Arc<AtomicBool>,
    /// The names of the built browser assets.
    pub assets: Assets,
    /// What leptos_axum needs to render (output name, pkg dir).
    pub leptos: LeptosOptions,
    /// The key that encrypts secrets at rest (node token secrets, ...).
    pub secret_key: SecretKey,
    /// The job queue: services enqueue, cancel and retry jobs through it; its wake-ups reach
    /// this process's workers (`jobs::Workers`, started by `kiln serve`).
    pub jobs: crate::jobs::Jobs,
    /// Creation events' fan-out to live watchers (`containers::events`).
    pub container_events: crate::containers::events::EventHub,
    /// The jobs' API client per node (`nodes::ClientCache`).
    pub node_clients: crate::nodes::ClientCache,
    /// Each user's last dashboard inventory, shared for a second by everyone asking
    /// (`containers::service::InventoryCache`).
    pub inventories: crate::containers::service::InventoryCache,
    /// What the monitor saw at each poll, for whoever listens (the alerts).
    pub observations: crate::monitor::Observations,
    /// The alert deliveries' wake-up (`alerts::AlertsHub`): whoever queues one wakes the
    /// dispatcher of this process.
    pub alerts: crate::alerts::AlertsHub,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("listen", &self.config.listen)
            .finish()
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

impl AppState {
    /// Assembles the state from connected pools and the secret key.
    pub fn new(
        config: Config,
        db: DbPool,
        redis: deadpool_redis::Pool,
        assets: Assets,
        secret_key: SecretKey,
    ) -> Self {
        let sessions = SessionStore::new(
            redis.clone(),
            config.redis_prefix.clone(),
            config.session_idle,
            config.session_absolute,
        );
        let limiter = LoginLimiter::new(
            redis.clone(),
            config.redis_prefix.clone(),
            config.login_max_failures,
        );
        let leptos = LeptosOptions::builder()
            .output_name("kiln")
            .site_pkg_dir("pkg")
            .site_root("target/site")
            .build();
        AppState {
            config: Arc::new(config),
            db,
            redis,
            sessions,
            limiter,
            hashing: crate::auth::hashing::Hasher::new(
                std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
            ),
            has_users: Arc::new(AtomicBool::new(false)),
            assets,
            leptos,
            secret_key,
            jobs: crate::jobs::Jobs::new(),
            container_events: crate::containers::events::EventHub::new(),
            node_clients: crate::nodes::ClientCache::default(),
            inventories: crate::containers::service::InventoryCache::default(),
            observations: crate::monitor::Observations::default(),
            alerts: crate::alerts::AlertsHub::default(),
        }
    }

    /// Whether any user exists (cached once true: users are never all deleted).
    pub async fn has_users(&self) -> anyhow::Result<bool> {
        if self.has_users.load(Ordering::Acquire) {
            return Ok(true);
        }
        let mut conn = self.db.get().await?;
        let exists = db::users::any_exist(&mut conn).await?;
        if exists {
            self.has_users.store(true, Ordering::Release);
        }
        Ok(exists)
    }

    /// A pooled database connection, or the boundary error (503 when unreachable).
    pub async fn conn(&self) -> Result<crate::db::DbConn, kiln_shared::AppError> {
        self.db
            .get()
            .await
            .map_err(|e| crate::errors::db("getting a database connection", e))
    }

    /// Writes one audit row (see `db::audit`); a failure is logged, not returned: the action
    /// it records already happened. Every service audits through this.
    pub async fn audit(&self, entry: crate::db::audit::Entry<'_>) {
        crate::db::audit::record_logged(&self.db, entry).await;
    }

    /// PostgreSQL answers a query.
    pub async fn db_ready(&self) -> anyhow::Result<()> {
        use diesel_async::RunQueryDsl;
        let mut conn = self.db.get().await?;
        diesel::sql_query("SELECT 1").execute(&mut conn).await?;
        Ok(())
    }

    /// Redis answers PING.
    pub async fn redis_ready(&self) -> anyhow::Result<()> {
        let mut conn = self.redis.get().await?;
        let _: String = deadpool_redis::redis::cmd("PING")
            .query_async(&mut conn)
            .await?;
        Ok(())
    }
}
