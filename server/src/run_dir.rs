//! `<data dir>/run`: Kiln's runtime files, in directories with their own owners and modes so
//! that no other local user — in particular `postgres`, which runs the private database when
//! Kiln runs as root — can replace what Kiln relies on:
//!
//! | directory | owner | mode | holds |
//! | --- | --- | --- | --- |
//! | `run/` | Kiln's user | 0711 | the directories below (others may pass, not list or write) |
//! | `run/postgres/` | the database's user (`postgres` when Kiln is root) | 0700 | its socket and lock file |
//! | `run/redis/` | Kiln's user | 0700 | the private Redis' socket |
//! | `run/ssh/` | Kiln's user | 0700 | node keys, pinned known_hosts files, the client config, control sockets |
//!
//! Each directory is opened without following symbolic links (`O_NOFOLLOW | O_DIRECTORY`) and
//! checked on the open descriptor: a symbolic link or other file in its place is removed; a
//! directory owned by anyone but Kiln's user or its intended owner is removed with its content
//! (it can come from the older layout, where `run/` belonged to `postgres`); owner and mode are
//! then set on the descriptor (`fchown`, `fchmod`). Everything here is recreated at start, so
//! removing it loses nothing. Since `run/` belongs to Kiln's user and nobody else may write to
//! it, the names below it cannot be swapped between the check and the use.
//!
//! Unix socket paths are limited to [`SOCKET_PATH_MAX`] bytes: [`socket_dir`] falls back to a
//! private temporary directory (random name, mode 0700, made by `tempfile`) when the data
//! directory's path is too long; there is no predictable fallback path.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The longest path a unix socket can have on Linux (`sun_path` is 108 bytes with the NUL).
pub const SOCKET_PATH_MAX: usize = 107;

/// A user and group to own a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// The user id.
    pub uid: u32,
    /// The group id.
    pub gid: u32,
}

impl Owner {
    /// The user Kiln runs as.
    pub fn me() -> Owner {
        Owner {
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
        }
    }
}

/// `<data_dir>/run`: Kiln's user, mode 0711.
pub fn base(data_dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
    let dir = data_dir.join("run");
    secure_dir(&dir, Owner::me(), 0o711)?;
    Ok(dir)
}

/// `<data_dir>/run/<name>`, owned by `owner`, mode 0700 (and `run/` itself made safe first).
pub fn private(data_dir: &Path, name: &str, owner: Owner) -> anyhow::Result<PathBuf> {
    let dir = base(data_dir)?.join(name);
    secure_dir(&dir, owner, 0o700)?;
    Ok(dir)
}

/// `<data_dir>/run/ssh` (Kiln's user, 0700).
pub fn ssh(data_dir: &Path) -> anyhow::Result<PathBuf> {
    private(data_dir, "ssh", Owner::me())
}

/// Makes the layout safe at start: `run/` and `run/ssh/` (the database directories are made
/// when their servers start).
pub fn prepare(data_dir: &Path) -> anyhow::Result<()> {
    ssh(data_dir).map(|_| ())
}

/// Where a unix socket goes: the preferred directory, or a private temporary one.
#[derive(Debug)]
pub enum SocketDir {
    /// Under the data directory.
    InPlace(PathBuf),
    /// A fresh directory from `tempfile` (removed when this is dropped).
    Temporary(tempfile::TempDir),
}

impl SocketDir {
    /// The directory.
    pub fn path(&self) -> &Path {
        match self {
            SocketDir::InPlace(path) => path,
            SocketDir::Temporary(dir) => dir.path(),
        }
    }
}

/// Whether a socket `name` (plus `extra` bytes some programs append) fits in `dir`.
pub fn fits(dir: &Path, name: &str, extra: usize) -> bool {
    dir.as_os_str().len() + 1 + name.len() + extra <= SOCKET_PATH_MAX
}

/// A directory for the socket `socket` owned by `owner` (mode 0700): `<data_dir>/run/<name>`
/// when the socket's path fits in [`SOCKET_PATH_MAX`] bytes, else a private temporary
/// directory (random name under the system's temporary directory).
pub fn socket_dir(
    data_dir: &Path,
    name: &str,
    socket: &str,
    owner: Owner,
) -> anyhow::Result<SocketDir> {
    let preferred = private(data_dir, name, owner)?;
    if fits(&preferred, socket, 0) {
        return Ok(SocketDir::InPlace(preferred));
    }
    let temp = tempfile::Builder::new()
        .prefix(&format!("kiln-{name}-"))
        .tempdir()
        .context("creating a private directory for a unix socket")?;
    if !fits(temp.path(), socket, 0) {
        bail!(
            "the socket path {} is longer than {SOCKET_PATH_MAX} bytes even in the temporary \
             directory; choose a shorter --data-dir or TMPDIR",
            temp.path().join(socket).display()
        );
    }
    secure_dir(temp.path(), owner, 0o700)?;
    tracing::info!(
        socket.dir = %temp.path().display(),
        "the data directory's path is too long for a unix socket; using a private temporary directory"
    );
    Ok(SocketDir::Temporary(temp))
}

/// Makes `path` a real directory owned by `owner` with `mode` (see the module docs). Only for
/// runtime directories: a directory of another owner is removed with its content.
pub fn secure_dir(path: &Path, owner: Owner, mode: u32) -> anyhow::Result<()> {
    let me = Owner::me();
    for _ in 0..4 {
        let opened = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path);
        match opened {
            Ok(dir) => {
                let meta = dir
                    .metadata()
                    .with_context(|| format!("inspecting {}", path.display()))?;
                if meta.uid() != me.uid && meta.uid() != owner.uid {
                    drop(dir);
                    tracing::warn!(
                        path = %path.display(),
                        found.uid = meta.uid(),
                        "a runtime directory belongs to another user; replacing it"
                    );
                    std::fs::remove_dir_all(path)
                        .with_context(|| format!("removing {}", path.display()))?;
                    continue;
                }
                if meta.uid() != owner.uid || meta.gid() != owner.gid {
                    std::os::unix::fs::fchown(&dir, Some(owner.uid), Some(owner.gid))
                        .with_context(|| {
                            format!("giving {} to uid {}", path.display(), owner.uid)
                        })?;
                }
                if meta.mode() & 0o7777 != mode {
                    dir.set_permissions(Permissions::from_mode(mode))
                        .with_context(|| format!("securing {}", path.display()))?;
                }
                return Ok(());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                match DirBuilder::new().mode(0o700).create(path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => {
                        return Err(e).with_context(|| format!("creating {}", path.display()));
                    }
                }
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) => {
                tracing::warn!(
                    path = %path.display(),
                    "a runtime directory's name is taken by a link or a file; replacing it"
                );
                std::fs::remove_file(path)
                    .with_context(|| format!("removing {}", path.display()))?;
            }
            Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
        }
    }
    bail!("{} keeps changing; not using it", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .map(|m| m.mode() & 0o7777)
            .unwrap_or(0)
    }

    #[test]
    fn links_and_files_in_place_of_a_directory_are_replaced() -> anyhow::Result<()> {
        let data = tempfile::tempdir()?;
        let elsewhere = tempfile::tempdir()?;
        std::fs::set_permissions(elsewhere.path(), Permissions::from_mode(0o755))?;
        std::fs::create_dir(data.path().join("run"))?;
        std::os::unix::fs::symlink(elsewhere.path(), data.path().join("run/ssh"))?;
        std::fs::write(data.path().join("run/redis"), "not a directory")?;

        let ssh = ssh(data.path())?;
        let meta = std::fs::symlink_metadata(&ssh)?;
        assert!(meta.is_dir() && !meta.file_type().is_symlink());
        assert_eq!(mode(&ssh), 0o700);
        assert_eq!(mode(&data.path().join("run")), 0o711);
        assert_eq!(
            mode(elsewhere.path()),
            0o755,
            "the link's target is untouched"
        );

        let redis = private(data.path(), "redis", Owner::me())?;
        assert!(std::fs::symlink_metadata(&redis)?.is_dir());
        // A FIFO does not hang the check.
        let fifo = data.path().join("run/fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))?;
        secure_dir(&fifo, Owner::me(), 0o700)?;
        assert!(std::fs::symlink_metadata(&fifo)?.is_dir());
        Ok(())
    }

    #[test]
    fn a_long_data_directory_gets_a_private_temporary_socket_directory() -> anyhow::Result<()> {
        let data = tempfile::tempdir()?;
        let short = socket_dir(data.path(), "redis", "redis.sock", Owner::me())?;
        assert!(matches!(short, SocketDir::InPlace(_)));
        assert_eq!(short.path(), data.path().join("run/redis"));

        let long = data.path().join("d".repeat(100));
        std::fs::create_dir(&long)?;
        let dir = socket_dir(&long, "redis", "redis.sock", Owner::me())?;
        let SocketDir::Temporary(temp) = &dir else {
            anyhow::bail!("expected a temporary directory, got {dir:?}");
        };
        let path = temp.path().to_owned();
        assert!(fits(&path, "redis.sock", 0));
        assert_eq!(mode(&path), 0o700);
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        assert!(
            name.as_deref()
                .is_some_and(|n| n.starts_with("kiln-redis-") && n.len() > "kiln-redis-".len()),
            "a random name: {name:?}"
        );
        drop(dir);
        assert!(!path.exists(), "removed with its owner");
        Ok(())
    }
}
