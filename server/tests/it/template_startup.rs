//! The real `kiln serve`: the template sync at start runs in the background once the
//! listener is bound, so a sync that cannot finish (here: the `templates` table locked by
//! another session, and a template root holding FIFOs) never delays serving.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{TestResult, unique, with_search_path};

const KILN: &str = env!("CARGO_BIN_EXE_kiln");

/// The status of `GET path` (0 when nothing answers).
async fn get_status(port: u16, path: &str) -> u16 {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut out = Vec::new();
        stream.read_to_end(&mut out).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&out).into_owned())
    };
    match tokio::time::timeout(Duration::from_secs(2), attempt).await {
        Ok(Ok(head)) => head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        _ => 0,
    }
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

async fn count(conn: &mut AsyncPgConnection, sql: &str) -> Result<i64, diesel::result::Error> {
    Ok(diesel::sql_query(sql).get_result::<Count>(conn).await?.n)
}

/// Kills the child on every way out of the test.
struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn mkfifo(path: &Path) -> nix::Result<()> {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))
}

#[tokio::test(flavor = "multi_thread")]
async fn serving_does_not_wait_for_the_template_sync() -> TestResult {
    let base = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let redis = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let schema = format!("kiln_test_{}", unique());
    let mut admin = AsyncPgConnection::establish(&base).await?;
    diesel::sql_query(format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await?;
    let url = with_search_path(&base, &schema);
    let result = run(&url, &redis).await;
    diesel::sql_query(format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&mut admin)
        .await?;
    result
}

async fn run(url: &str, redis: &str) -> TestResult {
    let pool = kiln_server::db::pool(url, 2)?;
    kiln_server::db::migrate(&pool).await?;
    pool.close();

    let tmp = tempfile::tempdir()?;
    let root = tmp.path().join("templates");
    let slow = root.join("slow");
    std::fs::create_dir_all(slow.join("container-configs/scripts"))?;
    std::fs::write(slow.join("template.conf"), "TEMPLATE_APP=Slow\n")?;
    mkfifo(&slow.join("notes"))?;
    mkfifo(&slow.join("container-configs/scripts/10-fifo.sh"))?;

    // Another session holds the `templates` table: the sync cannot finish until it lets go.
    let mut lock = AsyncPgConnection::establish(url).await?;
    diesel::sql_query("BEGIN").execute(&mut lock).await?;
    diesel::sql_query("LOCK TABLE templates IN ACCESS EXCLUSIVE MODE")
        .execute(&mut lock)
        .await?;

    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let started = Instant::now();
    let mut server = Server(
        Command::new(KILN)
            .arg("serve")
            .env("DATABASE_URL", url)
            .env("REDIS_URL", redis)
            .env("KILN_REDIS_PREFIX", format!("kiln-test-{}:", unique()))
            .env("KILN_DATA_DIR", tmp.path().join("data"))
            .env("KILN_LISTEN", format!("127.0.0.1:{port}"))
            .env("KILN_TEMPLATE_DIRS", &root)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let deadline = started + Duration::from_secs(30);
    while get_status(port, "/healthz").await != 200 {
        if let Some(status) = server.0.try_wait()? {
            return Err(format!("kiln exited: {status}").into());
        }
        if Instant::now() > deadline {
            return Err("kiln did not answer /healthz within 30 s (waiting for the sync?)".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let answered = started.elapsed();
    let mut conn = AsyncPgConnection::establish(url).await?;
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM template_sync_runs").await?,
        0,
        "the sync is still waiting while kiln serves"
    );

    // Let go: the sync finishes in the background, FIFOs and all.
    diesel::sql_query("ROLLBACK").execute(&mut lock).await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&mut conn, "SELECT count(*) AS n FROM template_sync_runs").await? == 0 {
        if Instant::now() > deadline {
            return Err("the background sync did not finish within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let errors = count(
        &mut conn,
        "SELECT error_count::bigint AS n FROM templates WHERE slug = 'slow'",
    )
    .await?;
    assert_eq!(errors, 1, "the FIFO script is a finding");
    eprintln!("kiln answered /healthz {answered:?} after start while the sync was blocked");
    drop(server);
    Ok(())
}
