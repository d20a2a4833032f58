//! Writing into a directory tree someone else controls (a container's root file system)
//! without ever following a symbolic link it made: every step is relative to a descriptor,
//! one name at a time with `O_NOFOLLOW` (`openat`, `mkdirat`), files are created with
//! `O_EXCL` and put in place with `renameat` (which replaces a link itself, never its
//! target), and modes and owners are set on descriptors.

use std::io::Write;
use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{Mode, fchmod, mkdirat};

/// What opening a directory without following links found.
pub enum Found {
    /// The directory.
    Dir(OwnedFd),
    /// A link or something else than a directory in its place (not followed).
    NotADir,
}

/// Opens the directory `rel` (relative, `/`-separated) below `dir` one name at a time without
/// following links, making missing ones (mode 0755) when `create`.
pub fn open_dir(dir: &OwnedFd, rel: &str, create: bool) -> Result<Found, Errno> {
    let mut current: Option<OwnedFd> = None;
    for name in rel.split('/').filter(|n| !n.is_empty()) {
        let parent = current.as_ref().unwrap_or(dir);
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = match openat(parent, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) if create => {
                match mkdirat(parent, name, Mode::from_bits_truncate(0o755)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(e),
                }
                match openat(parent, name, flags, Mode::empty()) {
                    Ok(fd) => fd,
                    Err(Errno::ELOOP | Errno::ENOTDIR) => return Ok(Found::NotADir),
                    Err(e) => return Err(e),
                }
            }
            Err(Errno::ELOOP | Errno::ENOTDIR) => return Ok(Found::NotADir),
            Err(e) => return Err(e),
        };
        current = Some(fd);
    }
    match current {
        Some(fd) => Ok(Found::Dir(fd)),
        None => Err(Errno::EINVAL),
    }
}

/// Creates `name` in `dir` with `content` unless the name exists (as anything, a link too).
pub fn create_new(dir: &OwnedFd, name: &str, content: &[u8]) -> Result<(), Errno> {
    let flags =
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    match openat(dir, name, flags, Mode::from_bits_truncate(0o644)) {
        Ok(fd) => std::fs::File::from(fd)
            .write_all(content)
            .map_err(|e| e.raw_os_error().map_or(Errno::EIO, Errno::from_raw)),
        Err(Errno::EEXIST) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Opens `path` (absolute, on the host) as a directory descriptor without following a link
/// in its last component.
pub fn open_root(path: &std::path::Path) -> Result<OwnedFd, Errno> {
    nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// Replaces the file `rel` (relative, `/`-separated) below `root` with `content`, mode
/// `mode`, owned by `owner` (uid, gid) when given; missing directories are made (mode 0755,
/// same owner). A link or non-directory on the way refuses (`ENOTDIR`); a link at the name
/// itself is replaced, not followed.
pub fn replace_file(
    root: &OwnedFd,
    rel: &str,
    content: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<(), Errno> {
    let (dir_rel, name) = match rel.rsplit_once('/') {
        Some((d, n)) => (Some(d), n),
        None => (None, rel),
    };
    if name.is_empty() || name == "." || name == ".." {
        return Err(Errno::EINVAL);
    }
    let dir = match dir_rel.filter(|d| !d.is_empty()) {
        Some(d) => match open_dir_owned(root, d, owner)? {
            Found::Dir(fd) => Some(fd),
            Found::NotADir => return Err(Errno::ENOTDIR),
        },
        None => None,
    };
    let dir = dir.as_ref().unwrap_or(root);
    let tmp = format!(".{name}.kiln-lab-tmp");
    let flags =
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    // A stale temporary file from an interrupted write (never followed: unlinkat removes the
    // name itself).
    let _ = nix::unistd::unlinkat(dir, tmp.as_str(), nix::unistd::UnlinkatFlags::NoRemoveDir);
    let fd = openat(dir, tmp.as_str(), flags, Mode::from_bits_truncate(0o600))?;
    let written = (|| {
        fchmod(&fd, Mode::from_bits_truncate(mode))?;
        if let Some((uid, gid)) = owner {
            nix::unistd::fchown(
                &fd,
                Some(nix::unistd::Uid::from_raw(uid)),
                Some(nix::unistd::Gid::from_raw(gid)),
            )?;
        }
        std::fs::File::from(fd)
            .write_all(content)
            .map_err(|e| e.raw_os_error().map_or(Errno::EIO, Errno::from_raw))
    })();
    if let Err(e) = written {
        let _ = nix::unistd::unlinkat(dir, tmp.as_str(), nix::unistd::UnlinkatFlags::NoRemoveDir);
        return Err(e);
    }
    nix::fcntl::renameat(dir, tmp.as_str(), dir, name)
}

/// [`open_dir`] with creation, giving directories it makes to `owner`.
fn open_dir_owned(root: &OwnedFd, rel: &str, owner: Option<(u32, u32)>) -> Result<Found, Errno> {
    let mut current: Option<OwnedFd> = None;
    for name in rel.split('/').filter(|n| !n.is_empty()) {
        let parent = current.as_ref().unwrap_or(root);
        let made = match mkdirat(parent, name, Mode::from_bits_truncate(0o755)) {
            Ok(()) => true,
            Err(Errno::EEXIST) => false,
            Err(e) => return Err(e),
        };
        let Found::Dir(fd) = open_dir(parent, name, false)? else {
            return Ok(Found::NotADir);
        };
        if let (true, Some((uid, gid))) = (made, owner) {
            nix::unistd::fchown(
                &fd,
                Some(nix::unistd::Uid::from_raw(uid)),
                Some(nix::unistd::Gid::from_raw(gid)),
            )?;
        }
        current = Some(fd);
    }
    match current {
        Some(fd) => Ok(Found::Dir(fd)),
        None => Err(Errno::EINVAL),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_file_never_follows_a_link() -> Result<(), Box<dyn std::error::Error>> {
        let root = tempfile::tempdir()?;
        let outside = tempfile::tempdir()?;
        std::fs::write(outside.path().join("secret"), "host")?;
        // The container made etc a link to a host directory, and hostname a link to a file.
        std::os::unix::fs::symlink(outside.path(), root.path().join("etc"))?;
        std::fs::create_dir(root.path().join("var"))?;
        std::os::unix::fs::symlink(
            outside.path().join("secret"),
            root.path().join("var/hostname"),
        )?;
        let fd = open_root(root.path())?;
        assert_eq!(
            replace_file(&fd, "etc/hostname", b"ct\n", 0o644, None),
            Err(Errno::ENOTDIR)
        );
        replace_file(&fd, "var/hostname", b"ct\n", 0o644, None)?;
        assert_eq!(
            std::fs::read_to_string(outside.path().join("secret"))?,
            "host"
        );
        assert_eq!(
            std::fs::read_to_string(root.path().join("var/hostname"))?,
            "ct\n"
        );
        assert!(!outside.path().join("hostname").exists());
        replace_file(&fd, "a/b/c.conf", b"x", 0o600, None)?;
        assert_eq!(std::fs::read(root.path().join("a/b/c.conf"))?, b"x");
        Ok(())
    }
}
