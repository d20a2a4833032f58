//! [`ScratchShell`]: the inside of the lab's in-memory containers. Each container gets a
//! scratch root file system, `<lab data dir>/rootfs/<vmid>/`, and commands run in a
//! bubblewrap (`bwrap`, Debian `bubblewrap`) sandbox whose `/` is that directory, with the
//! host's `/usr` mounted read-only (and `/bin`, `/lib`, ... as the usual symlinks into it)
//! but for `/usr/local`, the container's own and writable (`<root>/usr/local`),
//! a fresh `/proc` and `/dev`, and its own PID, IPC and UTS (hostname) namespaces. Files a
//! command writes, anywhere but the host's `/usr`, land in the scratch root and stay there: `pct push`
//! then `pct exec ... cat` reads back what was pushed, and scripts' output and exit status are
//! real.
//!
//! Limits (this is a lab, not isolation): no network namespace (commands share the host's
//! network), no resource limits, the host's programs (no package installs: `/usr` is
//! read-only), commands run as root (bwrap as root does not map users), a minimal `/etc`
//! (passwd, group, hostname, hosts, resolv.conf, os-release). Push and pull also run inside
//! the sandbox, so symbolic links a container made resolve inside it, never on the host.
//!
//! The skeleton is made on the host (as the lab's user, usually root) in a directory the
//! container's commands can change, so it never follows a symbolic link the container made
//! (say `etc -> /etc` or `root -> /root`): every step is relative to a descriptor of the
//! scratch root, one name at a time with `O_NOFOLLOW` (`openat`, `mkdirat`, `symlinkat`),
//! files are created only with `O_EXCL` (an existing name, link or not, is left alone) and
//! modes are set on descriptors (`fchmod`). Where the container put a link in place of a
//! skeleton directory, that part of the skeleton is skipped; a link in place of a mount point
//! (`/usr`, `/proc`, `/dev`) refuses the command.

use std::path::{Path, PathBuf};
use std::process::Command;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, fchmod, mkdirat};

use super::nofollow::{Found, create_new, open_dir};

use super::runtime::{ContainerShell, exec_through, pull_through, push_through};

/// The scratch roots of a lab data directory.
#[derive(Debug, Clone)]
pub struct ScratchShell {
    /// `<lab data dir>/rootfs`.
    base: PathBuf,
}

/// Top-level names that are symlinks (merged /usr) or directories on the host, taken from
/// the host's `/usr`.
const USR_LINKS: [&str; 6] = ["bin", "sbin", "lib", "lib32", "lib64", "libx32"];

const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Directories the sandbox mounts over (or, `usr/local`, mounts): a link in their place
/// refuses the command.
const MOUNT_POINTS: [&str; 4] = ["usr", "usr/local", "proc", "dev"];

/// The skeleton's directories, made where missing (never through a link).
const SKELETON: [&str; 12] = [
    "usr",
    "usr/local",
    "proc",
    "dev",
    "etc",
    "root",
    "tmp",
    "var/tmp",
    "home",
    "opt",
    "run",
    "srv",
];

/// `<data_dir>/rootfs/<vmid>`.
pub fn root_of(data_dir: &Path, vmid: u32) -> PathBuf {
    data_dir.join("rootfs").join(vmid.to_string())
}

/// Removes a container's scratch root (on create, so a reused id starts empty, and destroy).
pub fn remove(data_dir: &Path, vmid: u32) {
    let root = root_of(data_dir, vmid);
    if let Err(e) = std::fs::remove_dir_all(&root)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %root.display(), error = %e, "scratch root not removed");
    }
}

impl ScratchShell {
    /// Scratch roots under `<data_dir>/rootfs/`.
    pub fn new(data_dir: &Path) -> ScratchShell {
        ScratchShell {
            base: data_dir.join("rootfs"),
        }
    }

    /// Creates the scratch root's skeleton where missing (directories, `/usr` links, a minimal
    /// `/etc`), never following a link the container made (see the module docs).
    fn prepare(&self, vmid: u32, hostname: &str) -> Result<PathBuf, String> {
        let root = self.base.join(vmid.to_string());
        let io = |what: &str, e: Errno| format!("preparing {what}: {}", e.desc());
        // `<data dir>/rootfs/<vmid>` itself is the lab's; below it is the container's.
        std::fs::create_dir_all(&root).map_err(|e| format!("preparing {}: {e}", root.display()))?;
        let root_fd = nix::fcntl::open(
            &root,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io(&root.display().to_string(), e))?;
        for dir in SKELETON {
            let found = open_dir(&root_fd, dir, true).map_err(|e| io(dir, e))?;
            match (found, dir) {
                (Found::NotADir, _) if MOUNT_POINTS.contains(&dir) => {
                    return Err(format!(
                        "the container's /{dir} is a symbolic link or not a directory; the lab \
                         does not follow it"
                    ));
                }
                (Found::Dir(fd), "tmp") => {
                    fchmod(&fd, Mode::from_bits_truncate(0o1777)).map_err(|e| io(dir, e))?
                }
                (Found::Dir(fd), "root") => {
                    fchmod(&fd, Mode::from_bits_truncate(0o700)).map_err(|e| io(dir, e))?
                }
                _ => {}
            }
        }
        for name in USR_LINKS {
            let host = Path::new("/").join(name);
            let made = if let Ok(target) = std::fs::read_link(&host) {
                nix::unistd::symlinkat(&target, &root_fd, name)
            } else if host.is_dir() {
                mkdirat(&root_fd, name, Mode::from_bits_truncate(0o755))
            } else {
                Ok(())
            };
            match made {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(io(name, e)),
            }
        }
        // A link or file in place of /etc: no minimal /etc (the container made its own).
        let Found::Dir(etc) = open_dir(&root_fd, "etc", false).map_err(|e| io("etc", e))? else {
            return Ok(root);
        };
        let seed = |name: &str, content: &str| create_new(&etc, name, content.as_bytes());
        let seeds = [
            (
                "passwd",
                "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n".to_owned(),
            ),
            ("group", "root:x:0:\nnogroup:x:65534:\n".to_owned()),
            ("hostname", format!("{hostname}\n")),
            (
                "hosts",
                format!("127.0.0.1 localhost\n127.0.1.1 {hostname}\n"),
            ),
            (
                "resolv.conf",
                std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
            ),
            (
                "os-release",
                std::fs::read_to_string("/etc/os-release").unwrap_or_default(),
            ),
        ];
        for (name, content) in seeds {
            seed(name, &content).map_err(|e| io(name, e))?;
        }
        Ok(root)
    }

    /// `bwrap` with the sandbox set up, ready for `-- ARGV`.
    fn sandbox(&self, vmid: u32, hostname: &str) -> Result<Command, String> {
        let root = self.prepare(vmid, hostname)?;
        let root = std::fs::canonicalize(&root).map_err(|e| format!("{}: {e}", root.display()))?;
        let mut cmd = Command::new("bwrap");
        cmd.arg("--bind").arg(&root).arg("/");
        cmd.args(["--ro-bind", "/usr", "/usr"]);
        // The container's own /usr/local (kept under its root, hidden by the /usr mount), as
        // on a real container: Kiln's helper library and hand-installed tools go there.
        cmd.arg("--bind")
            .arg(root.join("usr/local"))
            .arg("/usr/local");
        for name in USR_LINKS {
            let host = Path::new("/").join(name);
            if host.is_dir() && std::fs::read_link(&host).is_err() {
                cmd.arg("--ro-bind").arg(&host).arg(&host);
            }
        }
        cmd.args(["--proc", "/proc", "--dev", "/dev"])
            .args(["--unshare-pid", "--unshare-ipc", "--unshare-uts"])
            .args(["--hostname", hostname])
            .args(["--die-with-parent", "--new-session", "--clearenv"])
            .args(["--setenv", "PATH", PATH])
            .args(["--setenv", "HOME", "/root"])
            .args(["--setenv", "LANG", "C.UTF-8"])
            .args(["--setenv", "TERM", "dumb"])
            .args(["--chdir", "/root", "--"]);
        Ok(cmd)
    }
}

fn spawn_error(e: std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound {
        "the lab runs container commands with bubblewrap: install it (apt-get install bubblewrap)"
            .to_owned()
    } else {
        format!("cannot start bwrap: {e}")
    }
}

impl ContainerShell for ScratchShell {
    fn exec(&self, vmid: u32, hostname: &str, argv: &[String]) -> Result<i32, String> {
        exec_through(self.sandbox(vmid, hostname)?, argv, spawn_error)
    }

    fn push(
        &self,
        vmid: u32,
        hostname: &str,
        data: &[u8],
        path: &str,
        perms: u32,
        owner: Option<&str>,
    ) -> Result<(), String> {
        push_through(
            self.sandbox(vmid, hostname)?,
            spawn_error,
            data,
            path,
            perms,
            owner,
        )
    }

    fn pull(&self, vmid: u32, hostname: &str, path: &str) -> Result<Vec<u8>, String> {
        pull_through(self.sandbox(vmid, hostname)?, spawn_error, path)
    }
}
