//! The real `kiln` binary: command line, private PostgreSQL/Redis children, graceful shutdown,
//! children dying with their parent even on SIGKILL, and the `<data dir>/run` layout (a
//! directory per owner, so the database's user cannot touch Redis' socket or the SSH files).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{PASSWORD, TestResult, unique};

pub(crate) const KILN: &str = env!("CARGO_BIN_EXE_kiln");

fn kiln(data_dir: &Path) -> Command {
    let mut cmd = Command::new(KILN);
    cmd.env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env("RUST_LOG", "warn")
        .env("KILN_DATA_DIR", data_dir);
    cmd
}

pub(crate) fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A minimal HTTP/1.0 request; returns the status and the raw head.
pub(crate) fn http(
    port: u16,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\nAccept: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = String::new();
    stream.read_to_string(&mut out)?;
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, out))
}

pub(crate) fn wait_ready(port: u16, child: &mut Child) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("kiln exited early: {status}"));
        }
        if matches!(http(port, "GET", "/readyz", ""), Ok((200, _))) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err("kiln did not become ready within 90 s".into())
}

fn pid_alive(pid: i32) -> bool {
    // Signal 0 checks existence; a zombie counts as gone.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty() && !stat.contains(") Z ")
}

fn postgres_pid(data_dir: &Path) -> Option<i32> {
    std::fs::read_to_string(data_dir.join("postgres/postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

fn redis_pids(data_dir: &Path) -> Vec<i32> {
    let needle = data_dir.display().to_string();
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                .filter(|pid| {
                    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                    let cmd = String::from_utf8_lossy(&cmd);
                    cmd.contains("redis-server") && cmd.contains(&needle) && pid_alive(*pid)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn gone_within(pids: &[i32], secs: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if pids.iter().all(|p| !pid_alive(*p)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// A `kiln serve` child, killed when a failed assertion would leave it running.
pub(crate) struct Server(pub(crate) Child);

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl std::ops::Deref for Server {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

pub(crate) struct TempDir(pub(crate) PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn version_and_bad_configuration() -> TestResult {
    let out = Command::new(KILN).arg("--version").output()?;
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("kiln "));

    let out = Command::new(KILN)
        .env("KILN_LISTEN", "not-an-address")
        .arg("serve")
        .output()?;
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("KILN_LISTEN"), "{err}");

    let out = Command::new(KILN)
        .env("KILN_SESSION_IDLE_SECS", "ten")
        .arg("migrate")
        .output()?;
    assert!(String::from_utf8_lossy(&out.stderr).contains("KILN_SESSION_IDLE_SECS"));
    Ok(())
}

/// The uid and gid the private PostgreSQL runs as: `postgres` when we are root.
fn database_owner() -> Result<(u32, u32), Box<dyn std::error::Error + Send + Sync>> {
    if !nix::unistd::geteuid().is_root() {
        return Ok((
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        ));
    }
    let user = nix::unistd::User::from_name("postgres")?.ok_or("no postgres user")?;
    Ok((user.uid.as_raw(), user.gid.as_raw()))
}

/// The layout an older Kiln left when run as root, with what the `postgres` user (who owned
/// `run/`) could have planted: `run/ssh` as a link to a directory of its choosing.
fn plant_old_layout(data: &Path, elsewhere: &Path) -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    let run = data.join("run");
    std::fs::create_dir_all(&run)?;
    std::fs::create_dir_all(elsewhere)?;
    std::fs::set_permissions(elsewhere, std::fs::Permissions::from_mode(0o755))?;
    std::os::unix::fs::symlink(elsewhere, run.join("ssh"))?;
    std::fs::write(run.join("redis.sock"), "stale")?;
    let (uid, gid) = database_owner()?;
    std::os::unix::fs::chown(&run, Some(uid), Some(gid))?;
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700))?;
    Ok(())
}

/// `<data>/run` and its directories: owners and modes.
fn check_run_layout(data: &Path) -> TestResult {
    use std::os::unix::fs::MetadataExt;
    let me = nix::unistd::geteuid().as_raw();
    let (db_uid, _) = database_owner()?;
    for (name, uid, mode) in [
        ("run", me, 0o711),
        ("run/postgres", db_uid, 0o700),
        ("run/redis", me, 0o700),
        ("run/ssh", me, 0o700),
    ] {
        let meta = std::fs::symlink_metadata(data.join(name))?;
        assert!(meta.is_dir(), "{name} is a real directory");
        assert_eq!(meta.uid(), uid, "owner of {name}");
        assert_eq!(meta.mode() & 0o7777, mode, "mode of {name}");
    }
    let socket = std::fs::symlink_metadata(data.join("run/postgres/.s.PGSQL.5432"))?;
    assert_eq!(socket.uid(), db_uid, "postgres' socket");
    let redis = std::fs::symlink_metadata(data.join("run/redis/redis.sock"))?;
    assert_eq!(redis.uid(), me, "redis' socket");
    Ok(())
}

/// Private databases end to end: `user create` on a fresh data dir, serve, sign in, SIGKILL
/// (children die with kiln), restart on the same data, SIGTERM (clean stop). The data dir
/// starts with an old, unsafe `run/` layout, which the first start replaces.
#[test]
fn private_databases_live_and_die_with_kiln() -> TestResult {
    let dir = TempDir(std::env::temp_dir().join(format!("kiln-it-{}", unique())));
    let data = dir.0.clone();
    let elsewhere = TempDir(std::env::temp_dir().join(format!("kiln-it-else-{}", unique())));
    plant_old_layout(&data, &elsewhere.0)?;

    // `kiln user create --admin` reads the password from stdin when it is not a terminal.
    let mut create = kiln(&data)
        .args(["user", "create", "--admin", "Boss"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    create
        .stdin
        .take()
        .ok_or("stdin")?
        .write_all(format!("{PASSWORD}\n").as_bytes())?;
    let out = create.wait_with_output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Created administrator boss"));
    assert!(
        postgres_pid(&data).is_none_or(|p| !pid_alive(p)),
        "user create stops its database"
    );

    // Serve on the same data: the user exists, sign-in works.
    let port = free_port()?;
    let mut server = Server(
        kiln(&data)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .spawn()?,
    );
    wait_ready(port, &mut server)?;
    let body = format!("username=boss&password={}", PASSWORD.replace(' ', "+"));
    let (status, head) = http(port, "POST", "/api/fn/login", &body)?;
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("kiln_session="));

    let pg = postgres_pid(&data).ok_or("postgres pid file")?;
    let redis = redis_pids(&data);
    assert!(pid_alive(pg) && !redis.is_empty(), "children running");
    check_run_layout(&data)?;
    {
        use std::os::unix::fs::PermissionsExt;
        let untouched = std::fs::symlink_metadata(&elsewhere.0)?;
        assert_eq!(
            untouched.permissions().mode() & 0o7777,
            0o755,
            "the old link's target"
        );
        assert_eq!(
            std::fs::read_dir(&elsewhere.0)?.count(),
            0,
            "nothing written there"
        );
    }
    server.kill()?; // SIGKILL: no chance to clean up; PDEATHSIG must take the children down.
    server.wait()?;
    assert!(gone_within(&[pg], 15), "postgres died with kiln");
    assert!(gone_within(&redis, 15), "redis died with kiln");

    // Restart on the same data after the crash; then a graceful SIGTERM.
    let port = free_port()?;
    let mut server = Server(
        kiln(&data)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .spawn()?,
    );
    wait_ready(port, &mut server)?;
    let (status, _) = http(port, "POST", "/api/fn/login", &body)?;
    assert_eq!(status, 200, "data survived the restart");
    let pg = postgres_pid(&data).ok_or("postgres pid file")?;
    let redis = redis_pids(&data);
    nix_term(server.id())?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = server.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            server.kill()?;
            return Err("kiln did not stop within 30 s of SIGTERM".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "clean exit: {status}");
    assert!(
        gone_within(&[pg], 15) && gone_within(&redis, 15),
        "children stopped"
    );
    assert!(
        !data.join("postgres/postmaster.pid").exists(),
        "postgres shut down cleanly"
    );
    Ok(())
}

fn nix_term(pid: u32) -> std::io::Result<()> {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other("kill -TERM failed"))
    }
}
