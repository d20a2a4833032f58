//! The package proxy on the lab's bridge: `apt-cacher-ng` on `<gateway>:3142`, run as its
//! own user (`setpriv`), from a private copy of `/etc/apt-cacher-ng` whose Debian backend is
//! the archive the lab was given (the stock backend list names a mirror that need not
//! resolve), with its log, socket and pid file in `<run dir>/acng/`.
//!
//! The cache is shared across labs and test runs: `$KILN_LAB_PROXY_CACHE`, by default
//! `/var/cache/kiln/apt-cacher-ng` (beside the image cache), owned by `apt-cacher-ng`. One
//! proxy at a time uses it: a lab holds an exclusive `flock` on `kiln-lab.lock` in it for the
//! life of its proxy and writes the proxy's identity into that file (an apt-cacher-ng left
//! behind by a lab killed with `kill -9` outlives the lock until that lab's next start).
//! A lab that finds the cache busy uses a private, cold cache in `<run dir>/acng/cache`.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::unistd::User;
use tokio::process::Command;

use crate::children::{self, Readiness, Record};
use crate::lxc::names::Names;

/// The proxy's port (apt-cacher-ng's usual one).
pub(super) const PORT: u16 = 3142;

/// The account apt-cacher-ng runs as (made by its Debian package).
const USER: &str = "apt-cacher-ng";

/// The stock configuration copied for each lab.
const ETC: &str = "/etc/apt-cacher-ng";

/// The lock file in the shared cache.
const LOCK: &str = "kiln-lab.lock";

/// The shared cache: `$KILN_LAB_PROXY_CACHE` or `/var/cache/kiln/apt-cacher-ng`.
pub(super) fn shared_cache_dir() -> PathBuf {
    std::env::var_os("KILN_LAB_PROXY_CACHE")
        .filter(|v| !v.is_empty())
        .map_or_else(
            || PathBuf::from("/var/cache/kiln/apt-cacher-ng"),
            PathBuf::from,
        )
}

/// apt-cacher-ng's account.
pub(super) fn account() -> anyhow::Result<User> {
    User::from_name(USER)
        .with_context(|| format!("looking up user {USER}"))?
        .with_context(|| format!("no user {USER} on this host (apt-get install apt-cacher-ng)"))
}

/// The proxy's own files.
pub(super) struct Files {
    /// The private configuration directory (`-c`).
    pub conf: PathBuf,
    /// `<run dir>/acng`, owned by apt-cacher-ng: log directory, socket, pid file.
    pub dir: PathBuf,
}

/// Makes the proxy's configuration and directories in the run directory.
pub(super) fn prepare(names: &Names, archive: &str, user: &User) -> anyhow::Result<Files> {
    let conf = names.run_dir.join("acng-conf");
    let dir = names.run_dir.join("acng");
    write_config(&conf, archive, user).with_context(|| format!("preparing {}", conf.display()))?;
    (|| -> std::io::Result<()> {
        for d in [dir.clone(), dir.join("log")] {
            std::fs::create_dir_all(&d)?;
            std::os::unix::fs::chown(&d, Some(user.uid.as_raw()), Some(user.gid.as_raw()))?;
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700))?;
        }
        for stale in ["socket", "pid"] {
            match std::fs::remove_file(dir.join(stale)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    })()
    .with_context(|| format!("preparing {}", dir.display()))?;
    Ok(Files { conf, dir })
}

/// A fresh copy of `/etc/apt-cacher-ng` (links followed; root:apt-cacher-ng, 0750/0640) whose
/// `backends_debian` holds `archive`.
fn write_config(conf: &Path, archive: &str, user: &User) -> std::io::Result<()> {
    if conf.exists() {
        std::fs::remove_dir_all(conf)?;
    }
    std::fs::create_dir(conf)?;
    for entry in std::fs::read_dir(ETC)? {
        let entry = entry?;
        let from = entry.path();
        // A dangling link (a `.default` whose target is gone) or a directory is skipped.
        if !std::fs::metadata(&from).is_ok_and(|m| m.is_file()) {
            continue;
        }
        std::fs::copy(&from, conf.join(entry.file_name()))?;
    }
    let _ = std::fs::remove_file(conf.join("backends_debian.default"));
    std::fs::write(
        conf.join("backends_debian"),
        format!("{}/\n", archive.trim_end_matches('/')),
    )?;
    for entry in std::fs::read_dir(conf)? {
        let path = entry?.path();
        std::os::unix::fs::chown(&path, Some(0), Some(user.gid.as_raw()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640))?;
    }
    std::os::unix::fs::chown(conf, Some(0), Some(user.gid.as_raw()))?;
    std::fs::set_permissions(conf, std::fs::Permissions::from_mode(0o750))
}

/// The cache the proxy uses.
pub(super) struct Cache {
    /// Its directory.
    pub dir: PathBuf,
    /// The lock on the shared cache while this lab's proxy uses it; `None`: a private cache.
    lock: Option<Flock<File>>,
}

impl Cache {
    /// Whether this is the shared cache.
    pub fn is_shared(&self) -> bool {
        self.lock.is_some()
    }

    /// Writes the proxy's identity into the lock file (shared cache only).
    pub fn claim(&self, proxy: &Record) -> anyhow::Result<()> {
        let Some(lock) = &self.lock else {
            return Ok(());
        };
        let text = serde_json::to_vec(proxy).context("encoding the proxy's identity")?;
        lock.set_len(0)
            .and_then(|()| lock.write_all_at(&text, 0))
            .with_context(|| format!("writing {}", self.dir.join(LOCK).display()))
    }
}

/// The shared cache if it is free, else a private one in `<run dir>/acng/cache`.
pub(super) fn take_cache(names: &Names, user: &User) -> anyhow::Result<Cache> {
    let shared = shared_cache_dir();
    match lock_shared(&shared, user) {
        Ok(Some(lock)) => {
            tracing::info!(cache = %shared.display(), "lab proxy uses the shared package cache");
            return Ok(Cache {
                dir: shared,
                lock: Some(lock),
            });
        }
        Ok(None) => tracing::info!(
            shared = %shared.display(),
            "the shared package cache is in use by another lab: this lab's proxy uses a private cache"
        ),
        Err(e) => tracing::warn!(
            shared = %shared.display(),
            error = format!("{e:#}"),
            "cannot use the shared package cache: this lab's proxy uses a private cache"
        ),
    }
    let dir = names.run_dir.join("acng").join("cache");
    std::fs::create_dir_all(&dir)
        .and_then(|()| {
            std::os::unix::fs::chown(&dir, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
        })
        .with_context(|| format!("preparing {}", dir.display()))?;
    tracing::info!(cache = %dir.display(), "lab proxy uses a private package cache");
    Ok(Cache { dir, lock: None })
}

/// The exclusive lock on the shared cache `dir` (made and given to apt-cacher-ng if
/// missing); `None` when another lab's proxy uses it.
fn lock_shared(dir: &Path, user: &User) -> anyhow::Result<Option<Flock<File>>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::os::unix::fs::chown(dir, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
        .with_context(|| format!("giving {} to {USER}", dir.display()))?;
    let path = dir.join(LOCK);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    let lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => lock,
        Err((_, Errno::EWOULDBLOCK)) => return Ok(None),
        Err((_, e)) => return Err(e).with_context(|| format!("locking {}", path.display())),
    };
    // The previous holder's proxy may have outlived its lab (kill -9) and still write here.
    let mut text = String::new();
    (&*lock)
        .read_to_string(&mut text)
        .with_context(|| format!("reading {}", path.display()))?;
    if let Ok(previous) = serde_json::from_str::<Record>(&text)
        && children::is_running(&previous)
    {
        tracing::info!(
            pid = previous.pid,
            "the shared package cache's last proxy still runs"
        );
        return Ok(None);
    }
    Ok(Some(lock))
}

/// The apt-cacher-ng command: as its own user, on `gateway:3142`, IPv4 only.
pub(super) fn command(files: &Files, cache: &Cache, gateway: Ipv4Addr) -> Command {
    let kv = |key: &str, path: &Path| {
        let mut arg = std::ffi::OsString::from(key);
        arg.push("=");
        arg.push(path.as_os_str());
        arg
    };
    let mut cmd = Command::new("setpriv");
    cmd.arg(format!("--reuid={USER}"))
        .arg(format!("--regid={USER}"))
        .arg("--init-groups")
        .arg("/usr/sbin/apt-cacher-ng")
        .arg("-c")
        .arg(&files.conf)
        .arg("ForeGround=1")
        .arg(format!("BindAddress={gateway}"))
        .arg(format!("Port={PORT}"))
        .arg(kv("CacheDir", &cache.dir))
        .arg(kv("LogDir", &files.dir.join("log")))
        .arg(kv("SocketPath", &files.dir.join("socket")))
        .arg(kv("PidFile", &files.dir.join("pid")))
        .arg("ConnectProto=v4");
    cmd
}

/// Ready once the child itself listens on `gateway:3142` and a connection succeeds. (A
/// connection alone proves nothing: another program listening on port 3142 of every address
/// would answer, while apt-cacher-ng, unable to bind, keeps running.)
pub(super) fn readiness(pid: u32, log: &Path, gateway: Ipv4Addr) -> Readiness {
    let log_text = std::fs::read(log).unwrap_or_default();
    if String::from_utf8_lossy(&log_text).contains("Couldn't bind") {
        return Readiness::Failed(format!(
            "cannot listen on {gateway}:{PORT} (another program listens on port {PORT}?)"
        ));
    }
    if !listens(pid, gateway, PORT) {
        return Readiness::NotYet;
    }
    let addr = SocketAddr::from((gateway, PORT));
    match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
        Ok(_) => Readiness::Ready,
        Err(_) => Readiness::NotYet,
    }
}

/// Whether process `pid` holds a TCP socket listening on `addr:port` (`/proc/net/tcp` and
/// the process's descriptors).
fn listens(pid: u32, addr: Ipv4Addr, port: u16) -> bool {
    let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else {
        return false;
    };
    // The kernel prints the address as the u32 in memory (network order) in host order hex.
    let local = format!("{:08X}:{port:04X}", u32::from_ne_bytes(addr.octets()));
    let inodes: Vec<String> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.get(1) == Some(&local.as_str()) && fields.get(3) == Some(&"0A"))
                .then(|| fields.get(9).map(|inode| format!("socket:[{inode}]")))?
        })
        .collect();
    if inodes.is_empty() {
        return false;
    }
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .any(|target| inodes.iter().any(|i| target.as_os_str() == i.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_of_this_process_is_found_and_others_are_not() -> std::io::Result<()> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let me = std::process::id();
        assert!(listens(me, Ipv4Addr::LOCALHOST, port));
        assert!(!listens(me, Ipv4Addr::new(127, 0, 0, 2), port));
        assert!(!listens(1, Ipv4Addr::LOCALHOST, port), "not pid 1's socket");
        Ok(())
    }
}
