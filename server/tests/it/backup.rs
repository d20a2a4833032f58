//! `kiln backup` / `kiln restore` against the test PostgreSQL (a schema of the test's own) and
//! Redis (a prefix of its own): a round trip brings the data and the secret key back, ends the
//! sessions, and the refusals (a running Kiln, a newer schema, an existing file) say why.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use flate2::Compression;
use flate2::write::GzEncoder;
use kiln_server::backup::{self, Manifest};
use kiln_server::config::{Config, Overrides};
use kiln_server::crypto::SecretKey;
use kiln_server::data_lock::DataLock;
use kiln_server::db;

use crate::harness::{TestResult, database_url, redis_url, unique, with_search_path};

/// A configuration over a fresh, migrated schema with a key file in a fresh data directory.
struct Setup {
    config: Config,
    schema: String,
    dir: tempfile::TempDir,
}

impl Setup {
    async fn new() -> Result<Setup, Box<dyn std::error::Error + Send + Sync>> {
        let schema = format!("kiln_test_{}", unique());
        let mut admin = AsyncPgConnection::establish(&database_url()).await?;
        diesel::sql_query(format!("CREATE SCHEMA {schema}"))
            .execute(&mut admin)
            .await?;
        let dir = tempfile::tempdir()?;
        let no_env = |_: &str| None::<String>;
        let mut config = Config::load_from(&Overrides::default(), &no_env)?;
        config.data_dir = dir.path().join("data");
        config.database_url = Some(with_search_path(&database_url(), &schema));
        config.redis_url = Some(redis_url());
        config.redis_prefix = format!("kiln-test-{}:", unique());
        let pool = db::pool(config.database_url.as_deref().unwrap_or_default(), 2)?;
        db::migrate(&pool).await?;
        std::fs::create_dir_all(&config.data_dir)?;
        let key = SecretKey::load(None, &config.data_dir)?;
        kiln_server::crypto::verify_key(&pool, &key).await?;
        Ok(Setup {
            config,
            schema,
            dir,
        })
    }

    async fn conn(&self) -> Result<AsyncPgConnection, Box<dyn std::error::Error + Send + Sync>> {
        Ok(
            AsyncPgConnection::establish(self.config.database_url.as_deref().unwrap_or_default())
                .await?,
        )
    }

    async fn marker(&self) -> Result<Option<Vec<u8>>, Box<dyn std::error::Error + Send + Sync>> {
        Ok(db::meta::get(&mut self.conn().await?, "backup_test").await?)
    }

    async fn set_marker(&self, value: &[u8]) -> TestResult {
        db::meta::put(&mut self.conn().await?, "backup_test", value).await?;
        Ok(())
    }

    fn key_file(&self) -> std::io::Result<String> {
        std::fs::read_to_string(self.config.data_dir.join("secret.key"))
    }

    async fn redis(
        &self,
    ) -> Result<deadpool_redis::Connection, Box<dyn std::error::Error + Send + Sync>> {
        Ok(kiln_server::redis_pool::pool(&redis_url())?.get().await?)
    }

    async fn cleanup(self) -> TestResult {
        let mut admin = AsyncPgConnection::establish(&database_url()).await?;
        diesel::sql_query(format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema))
            .execute(&mut admin)
            .await?;
        drop(self.dir);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_restores_the_data_and_the_key_and_ends_the_sessions() -> TestResult {
    let setup = Setup::new().await?;
    setup.set_marker(b"before").await?;
    let key_before = setup.key_file()?;
    let file = setup.dir.path().join("kiln.tar.gz");

    let written = backup::backup(&setup.config, &file).await?;
    assert_eq!(written.manifest.schema, setup.schema);
    assert_eq!(written.manifest.schema_version, backup::newest_migration()?);
    assert_eq!(written.manifest.kiln_version, env!("CARGO_PKG_VERSION"));
    let mode = std::fs::metadata(&file)?.permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the archive holds the key: owner only");
    let mut names = entry_names(&file)?;
    names.sort();
    assert_eq!(names, ["database.pgdump", "manifest.json", "secret.key"]);
    let again = backup::backup(&setup.config, &file).await.map(|_| ());
    assert!(
        matches!(&again, Err(e) if e.to_string().contains("exists already")),
        "{again:?}"
    );

    // Everything changes after the backup: the data, the key file, a session in Redis.
    setup.set_marker(b"after").await?;
    std::fs::remove_file(setup.config.data_dir.join("secret.key"))?;
    SecretKey::load(None, &setup.config.data_dir)?;
    assert_ne!(setup.key_file()?, key_before);
    let session = format!("{}session:backup-test", setup.config.redis_prefix);
    let mut redis = setup.redis().await?;
    let _: () = deadpool_redis::redis::cmd("SET")
        .arg(&session)
        .arg("42")
        .query_async(&mut redis)
        .await?;

    // Not while a Kiln runs on the data directory.
    let serving = DataLock::shared(&setup.config.data_dir)?;
    let refused = backup::restore(&setup.config, &file).await.map(|_| ());
    assert!(
        matches!(&refused, Err(e) if e.to_string().contains("stop it first")),
        "{refused:?}"
    );
    assert_eq!(setup.marker().await?.as_deref(), Some(&b"after"[..]));
    drop(serving);

    let restored = backup::restore(&setup.config, &file).await?;
    assert!(restored.key_file_written);
    assert_eq!(restored.sessions_ended, Some(1));
    assert_eq!(setup.marker().await?.as_deref(), Some(&b"before"[..]));
    assert_eq!(setup.key_file()?, key_before, "the key is back");
    let exists: bool = deadpool_redis::redis::cmd("EXISTS")
        .arg(&session)
        .query_async(&mut redis)
        .await?;
    assert!(!exists, "sessions made before the restore are gone");
    // The restored key opens the restored database, and migrations find nothing to do.
    let pool = db::pool(setup.config.database_url.as_deref().unwrap_or_default(), 2)?;
    assert!(db::migrate(&pool).await?.is_empty());
    let key = SecretKey::load(None, &setup.config.data_dir)?;
    kiln_server::crypto::verify_key(&pool, &key).await?;
    let mode = std::fs::metadata(setup.config.data_dir.join("secret.key"))?
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    drop(pool);
    setup.cleanup().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_of_a_newer_schema_or_not_a_backup_is_refused() -> TestResult {
    let setup = Setup::new().await?;
    setup.set_marker(b"kept").await?;
    let file = setup.dir.path().join("kiln.tar.gz");
    let written = backup::backup(&setup.config, &file).await?;

    // The same backup, as a future Kiln would write it.
    let newer = setup.dir.path().join("newer.tar.gz");
    let manifest = Manifest {
        kiln_version: "99.0.0".into(),
        schema_version: "99991231000000".into(),
        ..written.manifest
    };
    let mut tar = tar::Builder::new(GzEncoder::new(
        std::fs::File::create(&newer)?,
        Compression::fast(),
    ));
    for (name, bytes) in [
        ("manifest.json", serde_json::to_vec(&manifest)?),
        ("secret.key", setup.key_file()?.into_bytes()),
        ("database.pgdump", b"not reached".to_vec()),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o600);
        tar.append_data(&mut header, name, bytes.as_slice())?;
    }
    tar.into_inner()?.finish()?;
    let refused = backup::restore(&setup.config, &newer).await.map(|_| ());
    assert!(
        matches!(&refused, Err(e) if e.to_string().contains("newer Kiln") && e.to_string().contains("99.0.0")),
        "{refused:?}"
    );

    let junk = setup.dir.path().join("junk.tar.gz");
    std::fs::write(&junk, b"hello")?;
    let refused = backup::restore(&setup.config, &junk).await.map(|_| ());
    assert!(
        matches!(&refused, Err(e) if e.to_string().contains("not a Kiln backup")),
        "{refused:?}"
    );
    assert_eq!(setup.marker().await?.as_deref(), Some(&b"kept"[..]));
    setup.cleanup().await
}

fn entry_names(file: &Path) -> Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(std::fs::File::open(file)?));
    let mut names = Vec::new();
    for entry in archive.entries()? {
        names.push(entry?.path()?.to_string_lossy().into_owned());
    }
    Ok(names)
}
