//! The lab's OS templates (`vztmpl` images): building them with `debootstrap`, finding them,
//! and unpacking one into a container's root file system.
//!
//! There is one image, [`DEBIAN_12`], named like Proxmox's own. It is a minimal Debian 12
//! (`debootstrap --variant=minbase` plus systemd, ca-certificates, iproute2, dbus, procps)
//! from the Debian archive the host's apt uses ([`debian_archive`]), made ready to boot as a
//! container: systemd-networkd enabled with a DHCP `eth0.network` (the runtime rewrites it),
//! `sys-kernel-debug.mount` masked, apt pointed at the same archive, empty `machine-id` and
//! `resolv.conf`, no `hostname`, apt's lists and caches removed. It is packed as
//! `tar --xattrs --acls` + zstd (file capabilities live in xattrs).
//!
//! Images live in [`cache_dir`] — outside any clone and shared by every lab and test run — and
//! are written atomically (a temporary name in the same directory, then a rename) under an
//! exclusive `flock` on `<cache dir>/.lock`, so two processes building at once produce one
//! image: the second waits and finds it built.
//!
//! Here: the image's content, the cache, the lock, unpacking. `sources` finds the host's
//! Debian archive, `stream` runs debootstrap while passing its lines on, `mounts` removes a
//! work directory without reaching through mounts a killed debootstrap left behind.
//!
//! Architecture Invariant: every program runs with an argument list (no shell), and nothing is
//! written through a symlink inside the image being built (files are replaced, not opened).

use std::ffi::OsString;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use anyhow::Context;
use tokio::process::Command;

use super::cmd;

mod mounts;
mod sources;
mod stream;

use self::mounts::remove_build_dir;
pub use self::sources::debian_archive;
use self::stream::stream;

/// The one image the lab can build, named and listed like Proxmox's.
pub const DEBIAN_12: &str = "debian-12-standard_12.7-1_amd64.tar.zst";

/// Every template file name the lab knows (built or not).
pub const TEMPLATES: &[&str] = &[DEBIAN_12];

/// The Debian suite of [`DEBIAN_12`].
const SUITE: &str = "bookworm";

/// What `debootstrap --include` adds to `minbase`: an init, TLS roots, `ip`, the system bus
/// (`systemctl`, `hostnamectl`) and `ps`/`free`/`top`.
const PACKAGES: &str = "systemd-sysv,ca-certificates,iproute2,dbus,procps";

/// [`cache_dir`] unless `KILN_LAB_IMAGE_DIR` says otherwise.
const DEFAULT_CACHE_DIR: &str = "/var/cache/kiln/lab-images";

/// The lock file in the cache directory.
const LOCK_FILE: &str = ".lock";

/// The prefix of a build's work directory in the cache directory (`.build-<pid>`).
const BUILD_PREFIX: &str = ".build-";

/// Where images are kept: $KILN_LAB_IMAGE_DIR, else /var/cache/kiln/lab-images (outside any
/// clone, shared by every lab and test run).
pub fn cache_dir() -> PathBuf {
    match std::env::var_os("KILN_LAB_IMAGE_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(DEFAULT_CACHE_DIR),
    }
}

/// The path of a built image for a vztmpl file name (just the file name; anything with '/' or
/// not a known image → None), if it exists.
pub fn built(file: &str) -> Option<PathBuf> {
    built_in(&cache_dir(), file)
}

/// [`built`] in a given directory.
fn built_in(dir: &Path, file: &str) -> Option<PathBuf> {
    if file.contains('/') || !TEMPLATES.contains(&file) {
        return None;
    }
    let path = dir.join(file);
    path.is_file().then_some(path)
}

/// Builds DEBIAN_12 into cache_dir() unless present (or `force`); idempotent and safe when two
/// processes call it at once (flock on a lock file in cache_dir; the second waits, then finds
/// it built). Writes atomically (temp name in the same dir, rename). Reports progress lines
/// through `progress` (stages and debootstrap's own "I: ..." lines) so the first build shows
/// its progress. Returns the image path.
pub async fn build(
    force: bool,
    progress: &mut (dyn FnMut(&str) + Send),
) -> anyhow::Result<PathBuf> {
    let dir = cache_dir();
    let image = dir.join(DEBIAN_12);
    if !force && image.is_file() {
        progress(&format!("{DEBIAN_12} is built: {}", image.display()));
        return Ok(image);
    }
    anyhow::ensure!(
        nix::unistd::geteuid().is_root(),
        "building {DEBIAN_12} needs root (debootstrap, chroot)"
    );
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let _lock = lock(&dir, progress).await?;
    if !force && image.is_file() {
        progress(&format!(
            "{DEBIAN_12} was built by another process: {}",
            image.display()
        ));
        return Ok(image);
    }
    remove_leftovers(&dir, progress).await?;
    let archive = debian_archive()?;
    let work = dir.join(format!("{BUILD_PREFIX}{}", std::process::id()));
    std::fs::create_dir(&work).with_context(|| format!("creating {}", work.display()))?;
    let started = Instant::now();
    let built = build_in(&work, &archive, &image, progress).await;
    let removed = remove_build_dir(&work).await;
    built?;
    if let Err(e) = removed {
        progress(&format!("warning: {e:#}"));
    }
    let size = std::fs::metadata(&image).map(|m| m.len()).unwrap_or(0);
    progress(&format!(
        "built {} ({}) in {:.0} s",
        image.display(),
        megabytes(size),
        started.elapsed().as_secs_f64()
    ));
    Ok(image)
}

/// Takes the cache directory's lock (released when the file is dropped), saying so when
/// another process holds it.
async fn lock(dir: &Path, progress: &mut (dyn FnMut(&str) + Send)) -> anyhow::Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => return Ok(file),
        Err(TryLockError::WouldBlock) => {
            progress("another process is building the image; waiting for it");
        }
        Err(TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", path.display()));
        }
    }
    tokio::task::spawn_blocking(move || file.lock().map(|()| file))
        .await
        .context("waiting for the image lock")?
        .with_context(|| format!("locking {}", path.display()))
}

/// Removes what an interrupted build left in the cache directory (under the lock, so no
/// build is running): work directories and temporary images.
async fn remove_leftovers(
    dir: &Path,
    progress: &mut (dyn FnMut(&str) + Send),
) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if name.starts_with(BUILD_PREFIX) {
            progress(&format!(
                "removing an interrupted build: {}",
                path.display()
            ));
            remove_build_dir(&path).await?;
        } else if name.starts_with('.') && name.ends_with(".tmp") {
            progress(&format!(
                "removing an interrupted build: {}",
                path.display()
            ));
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    Ok(())
}

/// Bootstraps, configures and packs the image in the work directory `work`; renames it to
/// `image` when complete.
async fn build_in(
    work: &Path,
    archive: &str,
    image: &Path,
    progress: &mut (dyn FnMut(&str) + Send),
) -> anyhow::Result<()> {
    let rootfs = work.join("rootfs");
    progress(&format!(
        "debootstrap {SUITE} from {archive} (minbase + {PACKAGES})"
    ));
    let started = Instant::now();
    if !on_path("debootstrap") {
        return Err(anyhow::anyhow!(cmd::spawn_error(
            "debootstrap",
            &ErrorKind::NotFound.into()
        )));
    }
    // Killed when this process dies, even by SIGKILL (strictly: when the spawning thread ends;
    // a runtime worker lives as long as the runtime), so an interrupted build leaves nothing
    // running that still writes into the work directory the next build removes.
    let mut debootstrap = Command::new("setpriv");
    debootstrap
        .args(["--pdeathsig", "KILL", "--", "debootstrap"])
        .arg("--variant=minbase")
        .arg(format!("--include={PACKAGES}"))
        .arg(SUITE)
        .arg(&rootfs)
        .arg(archive);
    stream("debootstrap", debootstrap, Stdio::null(), &mut *progress)
        .await
        .map_err(anyhow::Error::msg)?;
    progress(&format!(
        "debootstrap done in {:.0} s; configuring the image",
        started.elapsed().as_secs_f64()
    ));
    configure(&rootfs, archive).await?;

    let started = Instant::now();
    progress("packing the image (tar + zstd)");
    let dir = image.parent().unwrap_or(Path::new("."));
    let temporary = dir.join(format!(".{DEBIAN_12}.{}.tmp", std::process::id()));
    let packed = pack(&rootfs, &temporary).await;
    if packed.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    packed?;
    std::fs::rename(&temporary, image)
        .with_context(|| format!("renaming {} to {}", temporary.display(), image.display()))?;
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    progress(&format!(
        "packed in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Whether `program` is an executable file in a `$PATH` directory.
fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// Makes a fresh debootstrap tree ready to boot as a container (see the module doc).
async fn configure(rootfs: &Path, archive: &str) -> anyhow::Result<()> {
    // The image's own systemctl knows its units; it needs no running systemd to enable.
    let chroot_args = [
        rootfs.as_os_str(),
        "systemctl".as_ref(),
        "enable".as_ref(),
        "--quiet".as_ref(),
        "systemd-networkd".as_ref(),
    ];
    cmd::run("chroot", chroot_args)
        .await
        .map_err(|e| anyhow::anyhow!("enabling systemd-networkd in the image: {e}"))?;
    let rootfs = rootfs.to_owned();
    let archive = archive.to_owned();
    tokio::task::spawn_blocking(move || configure_files(&rootfs, &archive))
        .await
        .context("configuring the image")?
}

/// The file part of [`configure`].
fn configure_files(rootfs: &Path, archive: &str) -> anyhow::Result<()> {
    replace_symlink(
        rootfs,
        "etc/systemd/system/sys-kernel-debug.mount",
        "/dev/null",
    )?;
    replace_file(
        rootfs,
        "etc/systemd/network/eth0.network",
        "[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\n",
        0o644,
    )?;
    replace_file(
        rootfs,
        "etc/apt/sources.list",
        &format!("deb {archive} {SUITE} main\ndeb {archive} {SUITE}-updates main\n"),
        0o644,
    )?;
    replace_file(rootfs, "etc/default/locale", "LANG=C.UTF-8\n", 0o644)?;
    replace_file(
        rootfs,
        "etc/hosts",
        "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n\
         ff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n",
        0o644,
    )?;
    // Empty: systemd makes one at first boot, so every container gets its own.
    replace_file(rootfs, "etc/machine-id", "", 0o444)?;
    replace_symlink(rootfs, "var/lib/dbus/machine-id", "/etc/machine-id")?;
    replace_file(rootfs, "etc/resolv.conf", "", 0o644)?;
    // debootstrap copies the host's; PVE writes the container's at start.
    remove(rootfs, "etc/hostname")?;
    remove(rootfs, "var/log/bootstrap.log")?;
    empty_dir(rootfs, "var/lib/apt/lists", &["lock"])?;
    empty_dir(rootfs, "var/cache/apt/archives", &["lock"])?;
    for name in ["pkgcache.bin", "srcpkgcache.bin"] {
        remove(rootfs, &format!("var/cache/apt/{name}"))?;
    }
    Ok(())
}

/// Removes `rootfs/rel` if it is there (a file or a symlink, never followed).
fn remove(rootfs: &Path, rel: &str) -> anyhow::Result<()> {
    let path = rootfs.join(rel);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Writes `rootfs/rel` as a new file (whatever was there, even a symlink, is removed first).
fn replace_file(rootfs: &Path, rel: &str, contents: &str, mode: u32) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    remove(rootfs, rel)?;
    let path = rootfs.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    // The mode without the umask.
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))
}

/// Makes `rootfs/rel` a symlink to `target` (replacing whatever file was there).
fn replace_symlink(rootfs: &Path, rel: &str, target: &str) -> anyhow::Result<()> {
    remove(rootfs, rel)?;
    let path = rootfs.join(rel);
    std::os::unix::fs::symlink(target, &path)
        .with_context(|| format!("creating the symlink {}", path.display()))
}

/// Removes the files in `rootfs/rel` except those named in `keep`, and empties its
/// subdirectories (apt's `partial/`), keeping them.
fn empty_dir(rootfs: &Path, rel: &str, keep: &[&str]) -> anyhow::Result<()> {
    let dir = rootfs.join(rel);
    let entries = match std::fs::read_dir(&dir) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        other => other.with_context(|| format!("reading {}", dir.display()))?,
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let name = entry.file_name();
        if keep.iter().any(|k| name == *k) {
            continue;
        }
        let kind = entry
            .file_type()
            .with_context(|| format!("reading {}", entry.path().display()))?;
        if kind.is_dir() {
            let sub = Path::new(rel).join(&name);
            empty_dir(rootfs, &sub.to_string_lossy(), &[])?;
        } else {
            std::fs::remove_file(entry.path())
                .with_context(|| format!("removing {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Packs `rootfs` into `out` (owners as numbers, xattrs and ACLs kept, `/dev` left empty).
async fn pack(rootfs: &Path, out: &Path) -> anyhow::Result<()> {
    let mut tar = Command::new("tar");
    tar.args(TAR_OPTIONS)
        .args(["-I", "zstd -T0 -3", "-C"])
        .arg(rootfs)
        .arg("--exclude=./dev/*")
        .arg("-cf")
        .arg(out)
        .arg(".");
    stream("tar", tar, Stdio::null(), &mut |_| {})
        .await
        .map_err(|e| anyhow::anyhow!("packing the image: {e}"))?;
    File::open(out)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("syncing {}", out.display()))
}

/// `tar` options for both directions: file capabilities live in `security.*` xattrs.
const TAR_OPTIONS: [&str; 4] = [
    "--numeric-owner",
    "--xattrs",
    "--xattrs-include=*",
    "--acls",
];

/// Unpacks an image into `rootfs` (which exists, empty). `idmap = Some((100000, 65536))` for
/// an unprivileged container: tar runs inside the mapping (`lxc-usernsexec -m
/// b:0:100000:65536 --`) after the rootfs directory is given to 100000:100000; `None` = plain
/// tar as root. The image is read by this process and fed to tar's standard input, so the
/// mapped user needs no access to the cache directory. Error text is one line, fit for a
/// Proxmox task log.
pub async fn unpack(image: &Path, rootfs: &Path, idmap: Option<(u32, u32)>) -> Result<(), String> {
    let name = image
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| image.display().to_string());
    let file = File::open(image).map_err(|e| format!("cannot open {}: {e}", image.display()))?;
    let mut tar_args: Vec<OsString> = TAR_OPTIONS.iter().map(OsString::from).collect();
    tar_args.extend(["-I", "zstd -d -T0", "-C"].map(OsString::from));
    tar_args.push(rootfs.as_os_str().to_owned());
    tar_args.extend(["-xpf", "-", "--exclude=./dev/*"].map(OsString::from));
    let (program, command) = match idmap {
        None => {
            let mut tar = Command::new("tar");
            tar.args(&tar_args);
            ("tar", tar)
        }
        Some((base, count)) => {
            check_subids(base, count)?;
            let id = Some(base);
            nix::unistd::chown(
                rootfs,
                id.map(nix::unistd::Uid::from_raw),
                id.map(nix::unistd::Gid::from_raw),
            )
            .map_err(|e| format!("cannot give {} to {base}: {e}", rootfs.display()))?;
            let mut usernsexec = Command::new("lxc-usernsexec");
            usernsexec
                .arg("-m")
                .arg(format!("b:0:{base}:{count}"))
                .arg("--")
                .arg("tar")
                .args(&tar_args);
            ("lxc-usernsexec", usernsexec)
        }
    };
    stream(program, command, Stdio::from(file), &mut |_| {})
        .await
        .map_err(|e| format!("unpacking {name}: {e}"))
}

/// Refuses an id mapping root may not use (`newuidmap`/`newgidmap`, which `lxc-usernsexec`
/// runs even for root, allow only ranges of `/etc/subuid` and `/etc/subgid`).
fn check_subids(base: u32, count: u32) -> Result<(), String> {
    for file in ["/etc/subuid", "/etc/subgid"] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if !subid_allows(&text, base, count) {
            return Err(format!(
                "unprivileged containers need `root:{base}:{count}` in /etc/subuid and \
                 /etc/subgid (missing in {file})"
            ));
        }
    }
    Ok(())
}

/// Whether a `/etc/subuid` text gives root the ids `base..base+count`.
fn subid_allows(text: &str, base: u32, count: u32) -> bool {
    let wanted_end = u64::from(base) + u64::from(count);
    text.lines().any(|line| {
        let mut fields = line.trim().split(':');
        let (Some(user), Some(start), Some(len)) = (fields.next(), fields.next(), fields.next())
        else {
            return false;
        };
        let (Ok(start), Ok(len)) = (start.parse::<u64>(), len.parse::<u64>()) else {
            return false;
        };
        (user == "root" || user == "0") && start <= u64::from(base) && wanted_end <= start + len
    })
}

/// "56.1 MB".
pub fn megabytes(bytes: u64) -> String {
    // Display only: the precision lost above 2^52 bytes does not matter.
    #[expect(clippy::cast_precision_loss, reason = "a human-readable size")]
    let mb = bytes as f64 / 1_000_000.0;
    format!("{mb:.1} MB")
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn built_refuses_odd_names() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        assert_eq!(built_in(dir.path(), DEBIAN_12), None, "not built yet");
        std::fs::write(dir.path().join(DEBIAN_12), b"x")?;
        std::fs::write(dir.path().join("other.tar.zst"), b"x")?;
        assert_eq!(
            built_in(dir.path(), DEBIAN_12),
            Some(dir.path().join(DEBIAN_12))
        );
        for odd in [
            "",
            "other.tar.zst",
            ".lock",
            "../debian-12-standard_12.7-1_amd64.tar.zst",
            "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
            "/etc/passwd",
        ] {
            assert_eq!(built_in(dir.path(), odd), None, "{odd}");
        }
        Ok(())
    }

    #[test]
    fn subids() {
        let text = "root:100000:65536\nkiln:165536:65536\n";
        assert!(subid_allows(text, 100_000, 65536));
        assert!(!subid_allows(text, 100_000, 65537));
        assert!(!subid_allows(text, 165_536, 65536), "another user's range");
        assert!(subid_allows("0:0:4294967295\n", 100_000, 65536));
        assert!(!subid_allows("", 100_000, 65536));
    }
}
