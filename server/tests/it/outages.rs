//! A stopped PostgreSQL or Redis (SIGSTOP: the process is there, the kernel still accepts
//! connections, nothing answers) gives 503 within 5 s, and Kiln recovers once it runs again.
//! Each test runs its own throwaway `redis-server` and PostgreSQL cluster on free loopback
//! ports — never the machine's shared ones.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::harness::{PASSWORD, Reply, TestApp, TestResult};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What "quickly" means for an outage.
const WITHIN: Duration = Duration::from_secs(5);

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The process and every process below it (PostgreSQL's backends are the postmaster's
/// children).
fn process_tree(root: i32) -> Vec<i32> {
    let mut all = vec![root];
    let mut i = 0;
    while i < all.len() {
        let parent = all[i];
        let children = std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children"))
            .unwrap_or_default();
        all.extend(
            children
                .split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok()),
        );
        i += 1;
    }
    all
}

/// Sends `signal` to `root` first (so it forks nothing new), then to its descendants.
fn signal_tree(root: i32, signal: Signal) {
    for pid in process_tree(root) {
        let _ = kill(Pid::from_raw(pid), signal);
    }
}

/// A throwaway service process; resumed and stopped when dropped (also on a failed assert).
struct Service {
    child: Child,
    /// The signal that stops it quickly.
    stop: Signal,
    /// Removed at the end.
    dir: Option<tempfile::TempDir>,
}

impl Service {
    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn freeze(&self) {
        signal_tree(self.pid(), Signal::SIGSTOP);
    }

    fn thaw(&self) {
        signal_tree(self.pid(), Signal::SIGCONT);
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.thaw();
        let _ = kill(Pid::from_raw(self.pid()), self.stop);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        drop(self.dir.take());
    }
}

/// `redis-server` on a free loopback port, without persistence. Returns it and its URL.
async fn start_redis() -> Result<(Service, String), BoxError> {
    let port = free_port()?;
    let dir = tempfile::tempdir()?;
    let child = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .arg("--dir")
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting redis-server (Debian's redis-server package): {e}"))?;
    let service = Service {
        child,
        stop: Signal::SIGTERM,
        dir: Some(dir),
    };
    let url = format!("redis://127.0.0.1:{port}");
    let pool = kiln_server::redis_pool::pool(&url)?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ping = async {
            let mut conn = pool.get().await.map_err(|e| e.to_string())?;
            deadpool_redis::redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map_err(|e| e.to_string())
        };
        match ping.await {
            Ok(_) => break,
            Err(e) if Instant::now() > deadline => {
                return Err(format!("the throwaway Redis did not answer: {e}").into());
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    Ok((service, url))
}

/// Runs `command` as the `postgres` user when we are root (initdb refuses root).
fn as_postgres(command: &mut Command) -> Result<(), BoxError> {
    use std::os::unix::process::CommandExt;
    if nix::unistd::geteuid().is_root() {
        let user = nix::unistd::User::from_name("postgres")?
            .ok_or("running as root needs the `postgres` system user")?;
        command.uid(user.uid.as_raw()).gid(user.gid.as_raw());
    }
    Ok(())
}

/// A PostgreSQL cluster (`initdb` into a temporary directory) on a free loopback port.
/// Returns it and the URL of its `postgres` database.
async fn start_postgres() -> Result<(Service, String), BoxError> {
    let bin = kiln_server::embedded::postgres::find_bin_dir(None).map_err(|e| e.to_string())?;
    let dir = tempfile::Builder::new()
        .prefix("kiln-outage-pg")
        .tempdir()?;
    give_to_postgres(dir.path())?;
    let data = dir.path().join("data");
    let log = std::fs::File::create(dir.path().join("log"))?;
    give_to_postgres(&dir.path().join("log"))?;
    let mut initdb = Command::new(bin.join("initdb"));
    initdb
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
        ])
        .arg("--no-sync")
        .stdout(Stdio::null())
        .stderr(log.try_clone()?);
    as_postgres(&mut initdb)?;
    let status = initdb.status()?;
    if !status.success() {
        return Err(format!("initdb failed: {status}").into());
    }
    let port = free_port()?;
    let mut postgres = Command::new(bin.join("postgres"));
    postgres
        .arg("-D")
        .arg(&data)
        .arg("-k")
        .arg(dir.path())
        .args(["-p", &port.to_string()])
        .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    as_postgres(&mut postgres)?;
    let child = postgres.spawn()?;
    // SIGQUIT: immediate shutdown (the backends exit at once).
    let service = Service {
        child,
        stop: Signal::SIGQUIT,
        dir: Some(dir),
    };
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        use diesel_async::AsyncConnection;
        match diesel_async::AsyncPgConnection::establish(&url).await {
            Ok(_) => break,
            Err(e) if Instant::now() > deadline => {
                return Err(format!("the throwaway PostgreSQL did not start: {e}").into());
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    Ok((service, url))
}

fn give_to_postgres(path: &Path) -> Result<(), BoxError> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    let user = nix::unistd::User::from_name("postgres")?
        .ok_or("running as root needs the `postgres` system user")?;
    nix::unistd::chown(path, Some(user.uid), Some(user.gid))?;
    Ok(())
}

/// Times one request.
async fn timed<F: std::future::Future<Output = Result<Reply, BoxError>>>(
    request: F,
) -> Result<(Reply, Duration), BoxError> {
    let started = Instant::now();
    let reply = request.await?;
    Ok((reply, started.elapsed()))
}

/// A signed-in page, a server function and `/readyz` all answer 503 within [`WITHIN`].
async fn all_unavailable(app: &TestApp, session: &str, what: &str) -> TestResult {
    let (page, took) = timed(app.get("/packages", Some(session))).await?;
    println!("{what}: page {} in {took:?}", page.status);
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE, "{what}: page");
    assert!(took < WITHIN, "{what}: the page took {took:?}");

    let (call, took) = timed(app.call("list_buckets", &[], Some(session))).await?;
    println!("{what}: server function {} in {took:?}", call.status);
    assert_eq!(
        call.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{what}: {}",
        call.body
    );
    assert!(took < WITHIN, "{what}: the server function took {took:?}");
    assert!(call.body.contains("unreachable"), "{}", call.body);

    let (ready, took) = timed(app.get("/readyz", None)).await?;
    assert_eq!(
        ready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{what}: readyz"
    );
    assert!(took < WITHIN, "{what}: /readyz took {took:?}");
    Ok(())
}

/// Everything answers normally (after a thaw: stale connections were replaced) — within
/// 20 s: on a loaded machine (CI runs the suite in parallel) a first answer may still be a
/// pool timeout, which is not what this test is about.
async fn all_available(app: &TestApp, session: &str, what: &str) -> TestResult {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match answers_normally(app, session).await {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() > deadline => {
                return Err(format!("{what}: {e}").into());
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

async fn answers_normally(app: &TestApp, session: &str) -> TestResult {
    let page = app.get("/packages", Some(session)).await?;
    if page.status != StatusCode::OK {
        return Err(format!("page {}", page.status).into());
    }
    let call = app.call("list_buckets", &[], Some(session)).await?;
    if call.status != StatusCode::OK {
        return Err(format!("server function {}: {}", call.status, call.body).into());
    }
    let ready = app.get("/readyz", None).await?.status;
    if ready != StatusCode::OK {
        return Err(format!("readyz {ready}").into());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_redis_or_postgres_is_503_within_5_s() -> TestResult {
    let (redis, redis_url) = start_redis().await?;
    let (postgres, pg_url) = start_postgres().await?;
    let app = TestApp::with_services(&pg_url, &redis_url, |_| {}).await?;
    app.create_user("outage", false).await?;
    let session = app.login("outage", PASSWORD).await?;
    // Warm both pools: idle connections are what a stopped server leaves hanging.
    for _ in 0..3 {
        all_available(&app, &session, "before").await?;
    }

    redis.freeze();
    all_unavailable(&app, &session, "redis stopped").await?;
    redis.thaw();
    all_available(&app, &session, "redis resumed").await?;

    postgres.freeze();
    all_unavailable(&app, &session, "postgres stopped").await?;
    postgres.thaw();
    all_available(&app, &session, "postgres resumed").await?;

    app.cleanup().await?;
    drop(redis);
    drop(postgres);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_statement_is_cancelled_and_answered_503() -> TestResult {
    let app = TestApp::new().await?;
    // Taken out of the pool: it leaves with its timeout changed.
    let mut conn = deadpool::managed::Object::take(app.state.db.get().await?);
    // The pool's connections carry the statement timeout.
    let shown: Vec<Setting> =
        diesel_async::RunQueryDsl::load(diesel::sql_query("SHOW statement_timeout"), &mut conn)
            .await?;
    assert_eq!(
        shown.first().map(|s| s.statement_timeout.as_str()),
        Some("30s")
    );
    // A statement over a (here shortened) timeout fails as 57014 and maps to 503.
    diesel_async::RunQueryDsl::execute(diesel::sql_query("SET statement_timeout = 100"), &mut conn)
        .await?;
    let err =
        diesel_async::RunQueryDsl::execute(diesel::sql_query("SELECT pg_sleep(2)"), &mut conn)
            .await
            .err()
            .ok_or("pg_sleep(2) was not cancelled")?;
    let mapped = kiln_server::errors::db("sleeping", err);
    assert_eq!(mapped.status(), 503, "{mapped:?}");
    drop(conn);
    app.cleanup().await
}

#[derive(diesel::QueryableByName)]
struct Setting {
    #[diesel(sql_type = diesel::sql_types::Text)]
    statement_timeout: String,
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_that_hangs_is_answered_503_at_the_request_timeout() -> TestResult {
    let app = TestApp::with_config(|c| c.request_timeout = Duration::from_secs(1)).await?;
    app.create_user("slow", false).await?;
    let session = app.login("slow", PASSWORD).await?;
    // A "node" that accepts the connection and never says a word: the certificate probe
    // would wait for its own 5 s timeout.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = silent.local_addr()?.port().to_string();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let (reply, took) = timed(app.call(
        "probe_node",
        &[("host", "127.0.0.1"), ("port", &port)],
        Some(&session),
    ))
    .await?;
    holder.abort();
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
    assert!(reply.body.contains("too long"), "{}", reply.body);
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(3),
        "took {took:?}"
    );
    app.cleanup().await
}
