//! `kiln backup FILE` and `kiln restore FILE`: one `.tar.gz` (mode 600) holding
//!
//! | entry | what |
//! | --- | --- |
//! | `manifest.json` | [`Manifest`]: Kiln's version, the schema's migration version, when |
//! | `database.pgdump` | `pg_dump --format=custom` of the schema Kiln's tables are in |
//! | `secret.key` | the secret key (base64, as in `<data dir>/secret.key`) |
//!
//! The key is in the archive because the database's secrets are useless without it: the file
//! must be kept like a password. The key is never printed.
//!
//! Both work with the private cluster (started here as `kiln migrate` starts it, or reached
//! through a serving Kiln's socket for a backup) and with an external `DATABASE_URL`. A backup
//! may run beside a serving Kiln (`pg_dump` reads one consistent snapshot); a restore takes the
//! data directory's exclusive lock ([`crate::data_lock`]) and refuses while anything runs on
//! it. The restore is all or nothing: the current schema is renamed aside, the dump restored
//! in one transaction, and the old schema dropped only once that succeeded (renamed back
//! otherwise). A backup from a newer schema than this Kiln knows is refused.
//!
//! Errors are `anyhow` with what to do next (a command-line tool's boundary).

mod archive;
pub mod pg;

use std::path::Path;

use anyhow::{Context, bail};
use diesel::migration::MigrationSource;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::config::Config;
use crate::crypto::SecretKey;
use crate::data_lock::DataLock;
use crate::embedded::Child;

/// The archive format this Kiln writes and reads.
pub const FORMAT: u32 = 1;

/// `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    /// [`FORMAT`] when written; a restore refuses others.
    pub format: u32,
    /// The Kiln that wrote it (`CARGO_PKG_VERSION`).
    pub kiln_version: String,
    /// The newest migration applied in the database (e.g. `20261206000016`): a restore
    /// refuses a newer one than it knows.
    pub schema_version: String,
    /// The PostgreSQL schema the tables were in (and are restored to).
    pub schema: String,
    /// When (RFC 3339, UTC).
    pub created_at: String,
}

/// What a backup wrote (for the command's summary).
#[derive(Debug)]
pub struct Written {
    pub manifest: Manifest,
    /// The archive's size in bytes.
    pub bytes: u64,
}

/// The newest migration compiled into this binary.
pub fn newest_migration() -> anyhow::Result<String> {
    MigrationSource::<diesel::pg::Pg>::migrations(&crate::db::MIGRATIONS)
        .map_err(|e| anyhow::anyhow!("reading the embedded migrations: {e}"))?
        .iter()
        .map(|m| m.name().version().to_string())
        .max()
        .context("no migrations are embedded (a bug)")
}

/// `kiln backup FILE`. Must run on the main thread (it may start the private cluster).
pub async fn backup(config: &Config, file: &Path) -> anyhow::Result<Written> {
    check_user(&config.data_dir)?;
    let _lock = DataLock::shared(&config.data_dir)?;
    let key = key_text(config)?;
    let key_value = SecretKey::from_base64(&key)?;
    let tools = pg::Tools::find(config.postgres_bin_dir.as_deref())?;
    let (url, child) = backup_database(config).await?;
    let result = async {
        let mut conn = pg::connect(&url).await?;
        let schema = pg::current_schema(&mut conn).await?.context(
            "the database has no schema on the connection's search path: nothing to back up",
        )?;
        let schema_version = pg::schema_version(&mut conn, &schema).await?.with_context(|| {
            format!("the schema {schema} holds no Kiln database (start Kiln once, or check DATABASE_URL)")
        })?;
        if crate::crypto::key_matches(&mut conn, &key_value).await? == Some(false) {
            bail!(
                "the secret key (KILN_SECRET_KEY or <data dir>/secret.key) is not the one this \
                 database's secrets were encrypted with; a backup with it could not be used"
            );
        }
        drop(conn);
        let manifest = Manifest {
            format: FORMAT,
            kiln_version: env!("CARGO_PKG_VERSION").to_owned(),
            schema_version,
            schema,
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        let bytes = archive::write(file, &manifest, &key, |dump| {
            let tools = tools.clone();
            let (url, schema) = (url.clone(), manifest.schema.clone());
            async move { tools.dump(&url, &schema, &dump).await }
        })
        .await?;
        Ok(Written { manifest, bytes })
    }
    .await;
    if let Some(child) = child {
        child.stop().await;
    }
    result
}

/// The database to back up: `DATABASE_URL`, the private cluster a serving Kiln runs, or the
/// private cluster started here (returned to be stopped).
async fn backup_database(config: &Config) -> anyhow::Result<(String, Option<Child>)> {
    if config.database_url.is_none() {
        if let Some(url) = crate::embedded::postgres::running_url(&config.data_dir) {
            return Ok((url, None));
        }
        if !crate::embedded::postgres::exists(&config.data_dir) {
            bail!(
                "there is no database in {} (and no DATABASE_URL): nothing to back up; check \
                 --data-dir / --config",
                config.data_dir.display()
            );
        }
    }
    crate::runtime::prepare_data_dir(&config.data_dir)?;
    crate::runtime::database(config).await
}

/// What a restore did (for the command's summary).
#[derive(Debug)]
pub struct Restored {
    pub manifest: Manifest,
    /// Whether `<data dir>/secret.key` was written (else `KILN_SECRET_KEY` already held it).
    pub key_file_written: bool,
    /// Sessions ended in an external Redis (`None`: the private Redis keeps none across starts).
    pub sessions_ended: Option<usize>,
}

/// `kiln restore FILE`. Must run on the main thread (it may start the private cluster).
pub async fn restore(config: &Config, file: &Path) -> anyhow::Result<Restored> {
    check_user(&config.data_dir)?;
    let _lock = DataLock::exclusive(&config.data_dir)?;
    let unpacked = archive::read(file)?;
    let manifest = unpacked.manifest.clone();
    if manifest.format != FORMAT {
        bail!(
            "{} is a backup in format {} (this Kiln reads format {FORMAT}): restore it with the \
             Kiln version that wrote it ({})",
            file.display(),
            manifest.format,
            manifest.kiln_version
        );
    }
    let newest = newest_migration()?;
    if manifest.schema_version > newest {
        bail!(
            "{} comes from a newer Kiln ({}, database schema {}) than this one ({}, schema {newest}): \
             install Kiln {} or newer, then restore",
            file.display(),
            manifest.kiln_version,
            manifest.schema_version,
            env!("CARGO_PKG_VERSION"),
            manifest.kiln_version
        );
    }
    SecretKey::from_base64(&unpacked.key)
        .map_err(|_| anyhow::anyhow!("{}: its secret.key is damaged", file.display()))?;
    // A configured key cannot be replaced from here: it must already be the backup's.
    if let Some(configured) = &config.secret_key
        && configured.0.trim() != unpacked.key.trim()
    {
        bail!(
            "KILN_SECRET_KEY (or `secret_key` in the configuration file) is not the key in \
             this backup: set it to the backup's key (`tar -xzOf {} secret.key`), then \
             restore again",
            file.display()
        );
    }
    let tools = pg::Tools::find(config.postgres_bin_dir.as_deref())?;
    crate::runtime::prepare_data_dir(&config.data_dir)?;
    let (url, child) = crate::runtime::database(config).await?;
    let result = restore_database(&tools, &url, &manifest, &unpacked.dump).await;
    if let Some(child) = child {
        child.stop().await;
    }
    result?;
    // The database holds the backup's secrets now: its key goes with it.
    let key_file_written = config.secret_key.is_none();
    if key_file_written {
        write_key_file(&config.data_dir, &unpacked.key)?;
    }
    let sessions_ended = end_sessions(config).await;
    Ok(Restored {
        manifest,
        key_file_written,
        sessions_ended,
    })
}

/// Replaces the schema with the dump's, all or nothing.
async fn restore_database(
    tools: &pg::Tools,
    url: &str,
    manifest: &Manifest,
    dump: &Path,
) -> anyhow::Result<()> {
    let mut conn = pg::connect(url).await?;
    let schema = &manifest.schema;
    if let Some(current) = pg::current_schema(&mut conn).await?
        && &current != schema
    {
        bail!(
            "the backup's tables are in the schema {schema}, but this database's search \
             path uses {current}: point DATABASE_URL at a search path with {schema}"
        );
    }
    let aside = format!(
        "kiln_before_restore_{}",
        chrono::Utc::now().format("%Y%m%d%H%M%S")
    );
    let had_schema = pg::schema_exists(&mut conn, schema).await?;
    if had_schema {
        pg::rename_schema(&mut conn, schema, &aside).await?;
    }
    match tools.restore(url, dump).await {
        Ok(()) => {
            if had_schema {
                pg::drop_schema(&mut conn, &aside).await.with_context(|| {
                    format!("the backup is restored, but the old data is left in the schema {aside}: drop it")
                })?;
            }
            Ok(())
        }
        Err(e) => {
            if had_schema {
                let put_back = async {
                    pg::drop_schema(&mut conn, schema).await?;
                    pg::rename_schema(&mut conn, &aside, schema).await
                };
                if let Err(back) = put_back.await {
                    return Err(e.context(format!(
                        "the restore failed and the old data could not be put back ({back:#}): \
                         it is in the schema {aside}"
                    )));
                }
            }
            Err(e.context("the restore failed; the database is unchanged"))
        }
    }
}

/// The secret key's base64 text: `KILN_SECRET_KEY`, else `<data dir>/secret.key`.
fn key_text(config: &Config) -> anyhow::Result<Zeroizing<String>> {
    if let Some(key) = &config.secret_key {
        return Ok(Zeroizing::new(key.0.trim().to_owned()));
    }
    let path = config.data_dir.join("secret.key");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading the secret key {} (set KILN_SECRET_KEY if it is kept elsewhere)",
            path.display()
        )
    })?;
    Ok(Zeroizing::new(text.trim().to_owned()))
}

/// Writes `<data dir>/secret.key` (mode 600) in one step (a new file renamed over the old).
fn write_key_file(data_dir: &Path, key: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let path = data_dir.join("secret.key");
    let mut file = tempfile::Builder::new()
        .prefix(".secret.key.")
        .tempfile_in(data_dir)
        .with_context(|| format!("writing the secret key into {}", data_dir.display()))?;
    writeln!(file, "{}", key.trim())?;
    file.as_file().sync_all()?;
    file.persist(&path)
        .map_err(|e| anyhow::anyhow!("writing {}: {}", path.display(), e.error))?;
    Ok(())
}

/// Ends every session in an external Redis (the restored users are not the ones the sessions
/// were made for). A failure is reported, not fatal: the database is restored by then.
async fn end_sessions(config: &Config) -> Option<usize> {
    let url = config.redis_url.as_deref()?;
    let result = async {
        let pool = crate::redis_pool::pool(url)?;
        let mut conn = pool.get().await.context("connecting to Redis")?;
        let pattern = format!("{}*", config.redis_prefix);
        let mut cursor: u64 = 0;
        let mut ended = 0usize;
        loop {
            let (next, keys): (u64, Vec<String>) = deadpool_redis::redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(500)
                .query_async(&mut conn)
                .await?;
            if !keys.is_empty() {
                let _: () = deadpool_redis::redis::cmd("DEL")
                    .arg(&keys)
                    .query_async(&mut conn)
                    .await?;
                ended += keys.len();
            }
            if next == 0 {
                return anyhow::Ok(ended);
            }
            cursor = next;
        }
    }
    .await;
    match result {
        Ok(n) => Some(n),
        Err(e) => {
            eprintln!(
                "warning: could not clear Kiln's keys in Redis ({e:#}); sessions made before the \
                 restore stay valid until they expire: delete the keys under the prefix {} by hand",
                config.redis_prefix
            );
            None
        }
    }
}

/// As root on a data directory that belongs to another user (a package's `kiln`), files and
/// the private database would end up with the wrong owner: refused, with the command to use.
fn check_user(data_dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    if !nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    let Ok(meta) = std::fs::metadata(data_dir) else {
        return Ok(());
    };
    if meta.uid() == 0 {
        return Ok(());
    }
    let owner = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(meta.uid()))
        .ok()
        .flatten()
        .map_or_else(|| meta.uid().to_string(), |u| u.name);
    bail!(
        "the data directory {} belongs to the user {owner}: run this as that user (e.g. `sudo -u \
         {owner} kiln ...`)",
        data_dir.display()
    )
}
