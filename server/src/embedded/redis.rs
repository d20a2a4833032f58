//! The private Redis: `redis-server` with no TCP port, its unix socket in
//! `<data dir>/run/redis/` (Kiln's user, mode 0700), and no persistence (sessions and counters
//! are disposable). It runs as Kiln's user.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::Signal;

use super::{Child, RunAs, own_dir, prepare};
use crate::run_dir::{self, Owner};

#[derive(Debug)]
pub struct Redis {
    pub child: Child,
    /// `redis+unix:///.../redis.sock`.
    pub url: String,
}

pub async fn start(data_dir: &Path, binary: &Path) -> anyhow::Result<Redis> {
    let me = RunAs {
        uid: nix::unistd::geteuid().as_raw(),
        gid: nix::unistd::getegid().as_raw(),
        switch: false,
    };
    let socket_dir = run_dir::socket_dir(data_dir, "redis", "redis.sock", Owner::me())?;
    let work = data_dir.join("redis");
    own_dir(&work, me)?;
    let socket = socket_dir.path().join("redis.sock");
    let _ = std::fs::remove_file(&socket);
    let log = data_dir.join("redis.log");

    let mut command = tokio::process::Command::new(binary);
    command
        .arg("--port")
        .arg("0")
        .arg("--unixsocket")
        .arg(&socket)
        .args([
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ])
        .arg("--dir")
        .arg(&work);
    prepare(&mut command, me, &log)?;
    let process = command.spawn().with_context(|| {
        format!(
            "starting {} (install Debian's `redis-server`, set KILN_REDIS_SERVER_BIN, or set REDIS_URL)",
            binary.display()
        )
    })?;
    let mut child = Child {
        name: "redis",
        process,
        stop_signal: Signal::SIGTERM,
        sockets: socket_dir,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !socket.exists() {
        child.check_alive(&log)?;
        if Instant::now() > deadline {
            bail!(
                "the private Redis did not open {} within 20 s",
                socket.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tracing::info!(redis.socket = %socket.display(), "private Redis ready");
    Ok(Redis {
        child,
        url: format!("redis+unix://{}", socket.display()),
    })
}
