//! The private PostgreSQL cluster: `initdb` once, then `postgres` with no TCP listener and its
//! socket in `<data dir>/run/postgres/` (owned by the database's user, mode 0700; nothing else
//! of Kiln's is in reach of that user). Debian keeps the binaries in
//! `/usr/lib/postgresql/<v>/bin`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use nix::sys::signal::Signal;

use super::{Child, RunAs, own_dir, prepare};
use crate::run_dir::{self, Owner};

/// The database Kiln uses inside its private cluster.
const DATABASE: &str = "kiln";

/// A started private cluster and the connection string for it.
#[derive(Debug)]
pub struct Postgres {
    pub child: Child,
    /// `host=<socket dir> user=postgres dbname=kiln`.
    pub url: String,
}

/// Finds `initdb` and `postgres`: the configured directory, else the newest Debian version.
pub fn find_bin_dir(configured: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = configured {
        if dir.join("postgres").exists() {
            return Ok(dir.to_owned());
        }
        bail!(
            "configuration key `KILN_POSTGRES_BIN_DIR`: no `postgres` binary in {}",
            dir.display()
        );
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter_map(|e| {
                    let version = e.file_name().to_str()?.parse::<u32>().ok()?;
                    let bin = e.path().join("bin");
                    bin.join("initdb").exists().then_some((version, bin))
                })
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).context(
        "no PostgreSQL server found (looked in /usr/lib/postgresql/*/bin): install Debian's \
         `postgresql` package, set KILN_POSTGRES_BIN_DIR, or set DATABASE_URL",
    )
}

/// Who runs the cluster: `postgres` when we are root.
fn run_as() -> anyhow::Result<RunAs> {
    let me = nix::unistd::geteuid();
    if !me.is_root() {
        return Ok(RunAs {
            uid: me.as_raw(),
            gid: nix::unistd::getegid().as_raw(),
            switch: false,
        });
    }
    let user = nix::unistd::User::from_name("postgres")?
        .context("running as root needs a `postgres` system user for the private database (Debian's postgresql package creates it)")?;
    Ok(RunAs {
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
        switch: true,
    })
}

/// Every ancestor of `dir` must let the `postgres` user through.
fn check_traversable(dir: &Path, run_as: RunAs) -> anyhow::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if !run_as.switch {
        return Ok(());
    }
    for ancestor in dir.ancestors().skip(1) {
        let Ok(meta) = std::fs::metadata(ancestor) else {
            continue;
        };
        let mode = meta.permissions().mode();
        let ok = mode & 0o001 != 0 || (meta.uid() == run_as.uid && mode & 0o100 != 0);
        if !ok {
            bail!(
                "the data directory {} is inside {}, which the `postgres` user cannot enter; \
                 choose a --data-dir outside it (e.g. /var/lib/kiln) or set DATABASE_URL",
                dir.display(),
                ancestor.display()
            );
        }
    }
    Ok(())
}

/// Initialises (first time) and starts the private cluster; waits until it accepts connections.
pub async fn start(data_dir: &Path, bin_dir: &Path) -> anyhow::Result<Postgres> {
    let run_as = run_as()?;
    check_traversable(data_dir, run_as)?;
    let pgdata = data_dir.join("postgres");
    let socket_dir = run_dir::socket_dir(
        data_dir,
        "postgres",
        ".s.PGSQL.5432",
        Owner {
            uid: run_as.uid,
            gid: run_as.gid,
        },
    )?;
    let sockets = socket_dir.path().to_owned();
    check_traversable(&sockets, run_as)?;
    let log = data_dir.join("postgres.log");
    if run_as.switch {
        std::fs::File::create(&log)?;
        nix::unistd::chown(&log, Some(nix::unistd::Uid::from_raw(run_as.uid)), None)?;
    }

    if !pgdata.join("PG_VERSION").exists() {
        own_dir(&pgdata, run_as)?;
        tracing::info!(pg.data = %pgdata.display(), "initialising the private PostgreSQL cluster");
        let mut initdb = tokio::process::Command::new(bin_dir.join("initdb"));
        initdb.arg("-D").arg(&pgdata).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ]);
        prepare(&mut initdb, run_as, &log)?;
        let status = initdb.status().await.context("running initdb")?;
        if !status.success() {
            bail!(
                "initdb failed ({status}); see {}:\n{}",
                log.display(),
                super::tail(&log, 15)
            );
        }
    }
    // Lock files left by a killed run would block the start.
    let socket_lock = sockets.join(".s.PGSQL.5432.lock");
    for lock in [pgdata.join("postmaster.pid"), socket_lock.clone()] {
        if lock.exists() && !postmaster_alive(&lock) {
            let _ = std::fs::remove_file(&lock);
            if lock == socket_lock {
                let _ = std::fs::remove_file(sockets.join(".s.PGSQL.5432"));
            }
        }
    }

    let mut postgres = tokio::process::Command::new(bin_dir.join("postgres"));
    postgres
        .arg("-D")
        .arg(&pgdata)
        .arg("-k")
        .arg(&sockets)
        .args([
            "-c",
            "listen_addresses=",
            "-c",
            "max_connections=100",
            "-c",
            "fsync=on",
        ]);
    prepare(&mut postgres, run_as, &log)?;
    let process = postgres.spawn().context("starting postgres")?;
    let mut child = Child {
        name: "postgres",
        process,
        stop_signal: Signal::SIGINT,
        sockets: socket_dir,
    };

    let admin_url = format!("host={} user=postgres dbname=postgres", sockets.display());
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut conn = loop {
        child.check_alive(&log)?;
        match AsyncPgConnection::establish(&admin_url).await {
            Ok(conn) => break conn,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => bail!("the private PostgreSQL did not accept connections within 60 s: {e}"),
        }
    };
    #[derive(diesel::QueryableByName)]
    struct Exists {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        exists: bool,
    }
    let found: Exists = diesel::sql_query(format!(
        "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = '{DATABASE}') AS exists"
    ))
    .get_result(&mut conn)
    .await?;
    if !found.exists {
        diesel::sql_query(format!("CREATE DATABASE {DATABASE}"))
            .execute(&mut conn)
            .await?;
    }
    tracing::info!(pg.socket = %sockets.display(), "private PostgreSQL ready");
    Ok(Postgres {
        child,
        url: format!("host={} user=postgres dbname={DATABASE}", sockets.display()),
    })
}

/// The connection string of the private cluster when its `postgres` is already running (a
/// serving Kiln's), from its `postmaster.pid` (line 5 names the socket directory).
pub fn running_url(data_dir: &Path) -> Option<String> {
    let pid_file = data_dir.join("postgres").join("postmaster.pid");
    if !postmaster_alive(&pid_file) {
        return None;
    }
    let text = std::fs::read_to_string(&pid_file).ok()?;
    let sockets = text.lines().nth(4)?.trim();
    (!sockets.is_empty()).then(|| format!("host={sockets} user=postgres dbname={DATABASE}"))
}

/// Whether the private cluster was ever initialised in `data_dir`.
pub fn exists(data_dir: &Path) -> bool {
    data_dir.join("postgres").join("PG_VERSION").exists()
}

/// Whether the pid in a `postmaster.pid` names a live process. A zombie (killed with us, not
/// yet reaped by an init that is slow to reap) counts as dead.
fn postmaster_alive(pid_file: &Path) -> bool {
    std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|text| {
            text.lines()
                .next()
                .and_then(|l| l.trim().parse::<i32>().ok())
        })
        .is_some_and(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            !stat.is_empty() && !stat.contains(") Z ")
        })
}
