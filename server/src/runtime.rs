//! Running Kiln: bring up the databases (external or private children), migrate, serve (and
//! run the job workers), and shut down gracefully on SIGTERM/SIGINT (stop accepting and
//! claiming, finish in-flight requests and let running jobs reach a stopping point within the
//! grace period, then stop the children).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use kiln_shared::AppError;

use crate::app_state::AppState;
use crate::auth::service::AuthService;
use crate::config::Config;
use crate::crypto::SecretKey;
use crate::data_lock::DataLock;
use crate::db;
use crate::embedded::{self, Child};
use crate::routes::assets::built_assets;

/// The connected backing services, and the children to stop at the end.
pub struct Services {
    pub db: db::DbPool,
    pub redis: deadpool_redis::Pool,
    /// Private PostgreSQL / Redis processes we started (stopped by [`Services::stop`]).
    children: Vec<Child>,
    /// The shared lock on the data directory (`kiln restore` waits for it to go).
    _lock: DataLock,
}

impl Services {
    /// Connects to the configured servers, starting private ones where none is configured.
    /// Must run on the main thread (see `embedded`).
    pub async fn start(config: &Config) -> anyhow::Result<Services> {
        let lock = DataLock::shared(&config.data_dir)?;
        prepare_data_dir(&config.data_dir)?;
        let mut children = Vec::new();
        let result = Self::connect(config, &mut children).await;
        match result {
            Ok((db, redis)) => Ok(Services {
                db,
                redis,
                children,
                _lock: lock,
            }),
            Err(e) => {
                for child in children {
                    child.stop().await;
                }
                Err(e)
            }
        }
    }

    async fn connect(
        config: &Config,
        children: &mut Vec<Child>,
    ) -> anyhow::Result<(db::DbPool, deadpool_redis::Pool)> {
        let (db_url, pg) = database(config).await?;
        children.extend(pg);
        let redis_url = match &config.redis_url {
            Some(url) => url.clone(),
            None => {
                let redis =
                    embedded::redis::start(&config.data_dir, &config.redis_server_bin).await?;
                children.push(redis.child);
                redis.url
            }
        };
        let pool = db::pool(&db_url, config.database_pool_size)?;
        let redis = crate::redis_pool::pool(&redis_url)?;
        // Both pools connect lazily: check them now so a wrong URL fails at start.
        let mut conn = redis.get().await.context("connecting to Redis")?;
        let _: String = deadpool_redis::redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .context("Redis did not answer PING")?;
        drop(conn);
        drop(pool.get().await.context("connecting to PostgreSQL")?);
        Ok((pool, redis))
    }

    /// Stops the private children (no-op with external servers).
    pub async fn stop(self) {
        for child in self.children {
            child.stop().await;
        }
    }
}

/// The database's connection string: `DATABASE_URL`, or the private cluster's, started here
/// (its child is returned for the caller to stop). Must run on the main thread.
pub async fn database(config: &Config) -> anyhow::Result<(String, Option<Child>)> {
    match &config.database_url {
        Some(url) => Ok((url.clone(), None)),
        None => {
            let bin = embedded::postgres::find_bin_dir(config.postgres_bin_dir.as_deref())?;
            let pg = embedded::postgres::start(&config.data_dir, &bin).await?;
            Ok((pg.url, Some(pg.child)))
        }
    }
}

/// Syncs the configured template roots to the database; a failure is logged, not fatal.
/// Runs in the background once the listener is bound (a slow or hung root never delays
/// serving); the counts are logged when it is done.
async fn sync_templates(config: Config, db: db::DbPool) {
    use crate::templates::sync::{TemplateRoot, configured_roots};
    let roots = configured_roots(&config).unwrap_or_else(|e| {
        tracing::error!("cannot write out the built-in templates: {e:#}");
        TemplateRoot::from_config(&config)
    });
    match crate::templates::sync::sync(&db, &roots).await {
        Ok(report) => {
            tracing::info!(
                templates.roots = roots.len(),
                templates.added = report.added,
                templates.updated = report.updated,
                templates.missing = report.missing,
                templates.unchanged = report.unchanged,
                templates.errors = report.errors.len(),
                "templates synced"
            );
            for e in &report.errors {
                tracing::warn!(
                    template.slug = %e.slug,
                    template.path = %e.path,
                    "template not synced: {}",
                    e.message
                );
            }
        }
        Err(e) => tracing::error!("template sync failed: {e:#}"),
    }
}

pub fn prepare_data_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating the data directory {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711))
        .with_context(|| format!("setting permissions on {}", dir.display()))?;
    crate::run_dir::prepare(dir)
}

/// `kiln serve`.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let services = Services::start(&config).await?;
    let result = serve_with(config, &services).await;
    services.stop().await;
    result
}

async fn serve_with(config: Config, services: &Services) -> anyhow::Result<()> {
    let applied = db::migrate(&services.db).await?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "database migrated");
    }
    let assets = built_assets();
    if assets.js.is_none() {
        tracing::warn!(
            "built without the frontend assets: pages will not hydrate (run ./kiln.sh build)"
        );
    }
    let key = load_key(&config, &services.db).await?;
    let listen = config.listen;
    let grace = config.shutdown_grace;
    let sync_config = config.clone();
    let job_options = crate::jobs::Options::from_config(&config);
    let state = AppState::new(
        config,
        services.db.clone(),
        services.redis.clone(),
        assets,
        key,
    );
    let app = crate::http::router(state.clone());
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("configuration key `KILN_LISTEN`: cannot listen on {listen}"))?;
    tracing::info!(http.listen = %listen, "kiln is serving on http://{listen}");
    tokio::spawn(sync_templates(sync_config, services.db.clone()));
    // The lab node registered at an earlier start gets (or keeps) its SSH ready.
    let lab_state = state.clone();
    tokio::spawn(async move { crate::nodes::lab::reconcile(&lab_state).await });
    // Jobs run beside the requests; the stop signal ends both.
    let workers = crate::jobs::Workers::start(&state, crate::jobs::handlers(&state), job_options);
    // The alerts' evaluator (it follows the monitor's observations: subscribed before the
    // monitor starts) and their deliveries.
    let alerts = crate::alerts::start(&state);
    // The monitor polls the nodes and keeps the resource history beside them.
    let monitor = state.config.monitor_interval.map(|interval| {
        crate::monitor::start(
            &state,
            crate::monitor::MonitorOptions::from_config(interval, state.config.retention),
        )
    });
    let stop_jobs = workers.stopper();
    let progress_streams = state.container_events.clone();

    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests and running jobs");
        stop_jobs.stop();
        // Progress streams never end by themselves while a creation runs: end them so the
        // drain does not wait for them (browsers reconnect to the next server).
        progress_streams.close();
        let _ = stop_tx.send(true);
    });
    let result = tokio::select! {
        result = server => result.context("serving HTTP"),
        _ = async {
            let _ = stop_rx.wait_for(|stop| *stop).await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace_secs = grace.as_secs(), "in-flight requests did not finish in time");
            Ok(())
        }
    };
    // Within the same grace (counted from the signal), then running jobs are dropped and
    // released for the next start.
    workers.shutdown().await;
    if let Some(monitor) = monitor {
        monitor.stop();
    }
    alerts.stop();
    result
}

/// Loads the secret key and checks it against the database's key check value.
async fn load_key(config: &Config, db: &db::DbPool) -> anyhow::Result<SecretKey> {
    let key = SecretKey::load(
        config.secret_key.as_ref().map(|k| k.0.as_str()),
        &config.data_dir,
    )?;
    crate::crypto::verify_key(db, &key).await?;
    Ok(key)
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// `kiln migrate`.
pub async fn migrate(config: Config) -> anyhow::Result<()> {
    let services = Services::start(&config).await?;
    let result = db::migrate(&services.db).await;
    services.stop().await;
    let applied = result?;
    if applied.is_empty() {
        println!("The database is up to date.");
    } else {
        for version in applied {
            println!("applied {version}");
        }
    }
    Ok(())
}

/// `kiln user create [--admin] NAME`; the password comes from `password`.
pub async fn create_user(
    config: Config,
    name: &str,
    password: &str,
    admin: bool,
) -> anyhow::Result<()> {
    let services = Services::start(&config).await?;
    let result = async {
        db::migrate(&services.db).await?;
        let key = load_key(&config, &services.db).await?;
        let state = AppState::new(
            config,
            services.db.clone(),
            services.redis.clone(),
            built_assets(),
            key,
        );
        // The service validates; each field's message becomes one line.
        AuthService::new(state)
            .create_user_cli(name, password, admin)
            .await
            .map_err(|e| match e {
                AppError::Invalid(fields) => anyhow::anyhow!(
                    "{}",
                    fields
                        .iter()
                        .map(|(field, message)| format!("{field}: {message}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
                other => anyhow::anyhow!("{other}"),
            })
    }
    .await;
    services.stop().await;
    let user = result?;
    println!(
        "Created {} {}.",
        if user.is_admin {
            "administrator"
        } else {
            "user"
        },
        user.username
    );
    Ok(())
}

/// `kiln backup FILE`: writes the archive and says what it holds.
pub async fn backup(config: Config, file: &Path) -> anyhow::Result<()> {
    let written = crate::backup::backup(&config, file).await?;
    println!(
        "Wrote {} ({} KiB): the database (schema version {}) and the SECRET KEY.",
        file.display(),
        written.bytes.div_ceil(1024),
        written.manifest.schema_version
    );
    println!(
        "Anyone with this file can read every stored secret (node tokens, credentials): keep it \
         like a password, off this machine."
    );
    Ok(())
}

/// `kiln restore FILE`.
pub async fn restore(config: Config, file: &Path) -> anyhow::Result<()> {
    let restored = crate::backup::restore(&config, file).await?;
    let m = &restored.manifest;
    println!(
        "Restored the database (schema version {}) from {}, a backup made at {} by Kiln {}.",
        m.schema_version,
        file.display(),
        m.created_at,
        m.kiln_version
    );
    if restored.key_file_written {
        println!(
            "The secret key is back in {}.",
            config.data_dir.join("secret.key").display()
        );
    }
    if let Some(n) = restored.sessions_ended {
        println!("Cleared {n} key(s) of Kiln's in Redis: everyone signs in again.");
    }
    println!("Start Kiln again; pending migrations run at start.");
    Ok(())
}

/// How long to wait for children in tests and tools.
pub const CHILD_STOP_TIMEOUT: Duration = Duration::from_secs(15);

// `kiln template test` (`runtime/test_template.rs`).
mod test_template;
pub use test_template::{TestTarget, test_template};
