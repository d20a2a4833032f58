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
//! Architecture Invariant: every program runs with an argument list (no shell), and nothing is
//! written through a symlink inside the image being built (files are replaced, not opened).

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use super::cmd::{self, CmdError};

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

/// Removes a build's work directory, first unmounting what a killed `debootstrap` left
/// mounted inside (`/proc`, `/sys`, bind mounts of `/dev`): a recursive removal must never
/// reach into the host's file systems.
async fn remove_build_dir(dir: &Path) -> anyhow::Result<()> {
    let canonical = match std::fs::canonicalize(dir) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        other => other.with_context(|| format!("resolving {}", dir.display()))?,
    };
    for mount in mounts_under(&read_mountinfo()?, &canonical) {
        cmd::run("umount", [OsString::from("--lazy"), mount.into_os_string()])
            .await
            .map_err(anyhow::Error::msg)?;
    }
    let left = mounts_under(&read_mountinfo()?, &canonical);
    anyhow::ensure!(
        left.is_empty(),
        "not removing {}: {} is still mounted",
        dir.display(),
        left.first()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );
    let owned = dir.to_owned();
    tokio::task::spawn_blocking(move || std::fs::remove_dir_all(&owned))
        .await
        .context("removing the build directory")?
        .with_context(|| format!("removing {}", dir.display()))
}

/// This process's mount table.
fn read_mountinfo() -> anyhow::Result<String> {
    std::fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")
}

/// The mount points at or below `dir` in a `/proc/self/mountinfo` text, deepest first.
fn mounts_under(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|point| PathBuf::from(unescape_octal(point)))
        .filter(|point| point.starts_with(dir))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found.dedup();
    found
}

/// Undoes mountinfo's `\ooo` escapes (space, tab, newline, backslash).
fn unescape_octal(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let digits = bytes.get(i + 1..i + 4);
        match digits {
            Some(d) if bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)) => {
                let value = d.iter().fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

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

/// Runs a prepared command, handing every line it writes (standard output and error, as they
/// come) to `on_line`; fails like [`cmd::output`], with the last lines it wrote.
async fn stream(
    program: &str,
    mut command: Command,
    stdin: Stdio,
    on_line: &mut (dyn FnMut(&str) + Send),
) -> Result<(), CmdError> {
    command
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|e| cmd::spawn_error(program, &e))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(format!("cannot run {program}: no output pipes"));
    };
    let mut readers = (BufReader::new(stdout), BufReader::new(stderr));
    // Partial lines survive a `select!` that picks the other stream (read_until is cancel
    // safe as long as its buffer is kept).
    let mut buffers = (Vec::new(), Vec::new());
    let mut open = (true, true);
    let mut tail: VecDeque<String> = VecDeque::new();
    let mut take = |buffer: &mut Vec<u8>| {
        let text = String::from_utf8_lossy(buffer);
        let line = text.trim_end();
        if !line.is_empty() {
            on_line(line);
            if tail.len() == 5 {
                tail.pop_front();
            }
            tail.push_back(line.to_owned());
        }
        buffer.clear();
    };
    while open.0 || open.1 {
        let (which, read) = tokio::select! {
            r = readers.0.read_until(b'\n', &mut buffers.0), if open.0 => (0, r),
            r = readers.1.read_until(b'\n', &mut buffers.1), if open.1 => (1, r),
        };
        let (buffer, still_open) = if which == 0 {
            (&mut buffers.0, &mut open.0)
        } else {
            (&mut buffers.1, &mut open.1)
        };
        if !matches!(read, Ok(n) if n > 0) {
            *still_open = false;
        }
        if !buffer.is_empty() && (buffer.ends_with(b"\n") || !*still_open) {
            take(buffer);
        }
    }
    let status = child
        .wait()
        .await
        .map_err(|e| format!("{program}: waiting for it failed: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        let lines: Vec<String> = tail.into_iter().collect();
        Err(cmd::failure(program, status, lines.join("\n").as_bytes()))
    }
}

/// The Debian archive URL the host's apt uses (deb822 `/etc/apt/sources.list.d/*.sources` and
/// one-line `sources.list` formats; the first `deb` entry whose suites include the host's
/// codename or 'bookworm' and whose URI path ends in /debian), e.g.
/// "http://deb.debian.org/debian".
pub fn debian_archive() -> anyhow::Result<String> {
    let codename = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| os_codename(&text))
        .unwrap_or_else(|| SUITE.to_owned());
    // apt's own order: sources.list, then sources.list.d/ by name.
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(entries) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        more.sort();
        files.extend(more);
    }
    for path in &files {
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some("sources") => SourcesFormat::Deb822,
            Some("list") => SourcesFormat::OneLine,
            _ => continue,
        };
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        if let Some(url) = archive_in(format, &text, &codename) {
            return Ok(url);
        }
    }
    anyhow::bail!(
        "no Debian archive in the host's apt sources (a `deb` entry for {codename} or {SUITE} \
         whose URI ends in /debian, in /etc/apt/sources.list or /etc/apt/sources.list.d/)"
    )
}

/// The two formats of apt's source lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SourcesFormat {
    /// `*.sources`: deb822 stanzas (`Types:`, `URIs:`, `Suites:`, ...).
    Deb822,
    /// `sources.list` and `*.list`: `deb [options] URI SUITE COMPONENT...`.
    OneLine,
}

/// The `VERSION_CODENAME` of an `/etc/os-release` text.
fn os_codename(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim().trim_matches(['"', '\'']).to_owned())
        .filter(|v| !v.is_empty())
}

/// The first Debian archive in one source list (see [`debian_archive`]).
fn archive_in(format: SourcesFormat, text: &str, codename: &str) -> Option<String> {
    let suite_fits = |suite: &str| suite == codename || suite == SUITE;
    match format {
        SourcesFormat::OneLine => text.lines().find_map(|line| {
            let line = line.split('#').next().unwrap_or_default();
            let rest = line.trim_start().strip_prefix("deb")?;
            if !rest.starts_with([' ', '\t']) {
                return None; // deb-src
            }
            let mut rest = rest.trim_start();
            if let Some(options) = rest.strip_prefix('[') {
                rest = &options[options.find(']')? + 1..];
            }
            let mut words = rest.split_whitespace();
            let (uri, suite) = (words.next()?, words.next()?);
            if suite_fits(suite) {
                debian_uri(uri)
            } else {
                None
            }
        }),
        SourcesFormat::Deb822 => deb822_stanzas(text).into_iter().find_map(|stanza| {
            let field = |name: &str| {
                stanza
                    .iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case(name))
                    .map(|(_, value)| value.as_str())
            };
            let enabled = !field("Enabled").is_some_and(|v| v.trim().eq_ignore_ascii_case("no"));
            let is_deb = field("Types")?.split_whitespace().any(|t| t == "deb");
            let fits = field("Suites")?.split_whitespace().any(suite_fits);
            if !(enabled && is_deb && fits) {
                return None;
            }
            field("URIs")?.split_whitespace().find_map(debian_uri)
        }),
    }
}

/// The fields of each deb822 stanza (comments skipped, continuation lines joined).
fn deb822_stanzas(text: &str) -> Vec<Vec<(String, String)>> {
    let mut stanzas = Vec::new();
    let mut current: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            if !current.is_empty() {
                stanzas.push(std::mem::take(&mut current));
            }
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = current.last_mut() {
                value.push('\n');
                value.push_str(line.trim());
            }
        } else if let Some((key, value)) = line.split_once(':') {
            current.push((key.trim().to_owned(), value.trim().to_owned()));
        }
    }
    if !current.is_empty() {
        stanzas.push(current);
    }
    stanzas
}

/// `uri` without a trailing slash if it is an http(s) URL whose path ends in `/debian`.
fn debian_uri(uri: &str) -> Option<String> {
    let rest = uri
        .strip_prefix("http://")
        .or_else(|| uri.strip_prefix("https://"))?;
    let trimmed = rest.trim_end_matches('/');
    let (_host, path) = trimmed.split_once('/')?;
    (path == "debian" || path.ends_with("/debian")).then(|| uri.trim_end_matches('/').to_owned())
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

    const HOST_SOURCES: &str = "\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
";

    #[test]
    fn deb822_sources() {
        let deb822 = SourcesFormat::Deb822;
        assert_eq!(
            archive_in(deb822, HOST_SOURCES, "bookworm").as_deref(),
            Some("http://deb.debian.org/debian")
        );
        // Only the security stanza fits: its URI is not a /debian archive.
        let security_only = HOST_SOURCES.replace("bookworm bookworm-updates", "sid");
        assert_eq!(archive_in(deb822, &security_only, "bookworm"), None);
        // The host's codename (trixie) counts as well as bookworm; several URIs, a disabled
        // stanza, deb-src only, a multi-line Signed-By, a trailing slash.
        let text = "\
Types: deb-src
URIs: http://src.example/debian
Suites: trixie

Types: deb
URIs: http://off.example/debian
Suites: trixie
Enabled: no

types: deb deb-src
uris: http://snapshot.example/archive/debian/2025 https://mirror.example/pub/debian/
suites: trixie-updates trixie
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 xyz: not a field
 -----END PGP PUBLIC KEY BLOCK-----
";
        assert_eq!(
            archive_in(deb822, text, "trixie").as_deref(),
            Some("https://mirror.example/pub/debian")
        );
        assert_eq!(archive_in(deb822, text, "bullseye"), None);
    }

    #[test]
    fn one_line_sources() {
        let one_line = SourcesFormat::OneLine;
        let text = "\
# deb http://commented.example/debian bookworm main
deb-src http://src.example/debian bookworm main
deb http://deb.debian.org/debian-security bookworm-security main
deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://ftp.example/debian/ bookworm main contrib # a comment
deb http://deb.debian.org/debian bookworm main
";
        assert_eq!(
            archive_in(one_line, text, "bookworm").as_deref(),
            Some("http://ftp.example/debian")
        );
        assert_eq!(
            archive_in(
                one_line,
                "deb http://x.example/debian sid main\n",
                "bookworm"
            ),
            None
        );
        assert_eq!(
            archive_in(
                one_line,
                "deb [broken http://x.example/debian bookworm\n",
                "bookworm"
            ),
            None
        );
        assert_eq!(
            archive_in(
                one_line,
                "deb\thttp://x.example/debian\tbookworm main",
                "trixie"
            )
            .as_deref(),
            Some("http://x.example/debian")
        );
        assert_eq!(
            archive_in(one_line, "deb ftp://x.example/debian bookworm", "x"),
            None
        );
        assert_eq!(
            archive_in(one_line, "deb http://debian bookworm", "x"),
            None
        );
    }

    #[test]
    fn codename_from_os_release() {
        let text = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_CODENAME=bookworm\n";
        assert_eq!(os_codename(text).as_deref(), Some("bookworm"));
        assert_eq!(
            os_codename("VERSION_CODENAME=\"trixie\""),
            Some("trixie".to_owned())
        );
        assert_eq!(os_codename("ID=debian\n"), None);
    }

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
    fn mounts_below_a_directory_deepest_first() {
        let mountinfo = "\
22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
40 22 0:5 / /var/cache/kiln/.build-7/rootfs/proc rw - proc proc rw
41 22 0:6 / /var/cache/kiln/.build-7/rootfs/dev/pts rw - devpts devpts rw
42 22 0:7 / /var/cache/kiln/.build-7/rootfs/dev rw - tmpfs nodev rw
43 22 0:8 / /var/cache/kiln/.build-70 rw - tmpfs x rw
44 22 0:9 / /tmp/a\\040b/c rw - tmpfs x rw
";
        let found = mounts_under(mountinfo, Path::new("/var/cache/kiln/.build-7"));
        assert_eq!(found.len(), 3);
        assert_eq!(
            found[0],
            Path::new("/var/cache/kiln/.build-7/rootfs/dev/pts")
        );
        assert_eq!(found[2], Path::new("/var/cache/kiln/.build-7/rootfs/dev"));
        assert_eq!(
            mounts_under(mountinfo, Path::new("/tmp/a b")),
            vec![PathBuf::from("/tmp/a b/c")]
        );
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

    #[tokio::test]
    async fn stream_hands_over_lines_and_fails_with_the_last() {
        let mut lines = Vec::new();
        let mut sh = Command::new("sh");
        sh.args(["-c", "echo one; echo two >&2; printf three; exit 3"]);
        let result = stream("sh", sh, Stdio::null(), &mut |l| lines.push(l.to_owned())).await;
        lines.sort();
        assert_eq!(lines, ["one", "three", "two"]);
        let error = result.err().unwrap_or_default();
        assert!(error.starts_with("sh failed (exit status 3): "), "{error}");
        assert!(error.contains("two"), "{error}");
    }
}
