//! [`ScratchShell`]: the inside of the lab's in-memory containers. Each container gets a
//! scratch root file system, `<lab data dir>/rootfs/<vmid>/`, and commands run in a
//! bubblewrap (`bwrap`, Debian `bubblewrap`) sandbox whose `/` is that directory, with the
//! host's `/usr` mounted read-only (and `/bin`, `/lib`, ... as the usual symlinks into it),
//! a fresh `/proc` and `/dev`, and its own PID, IPC and UTS (hostname) namespaces. Files a
//! command writes, anywhere but `/usr`, land in the scratch root and stay there: `pct push`
//! then `pct exec ... cat` reads back what was pushed, and scripts' output and exit status are
//! real.
//!
//! Limits (this is a lab, not isolation): no network namespace (commands share the host's
//! network), no resource limits, the host's programs (no package installs: `/usr` is
//! read-only), commands run as root (bwrap as root does not map users), a minimal `/etc`
//! (passwd, group, hostname, hosts, resolv.conf, os-release). Push and pull also run inside
//! the sandbox, so symbolic links a container made resolve inside it, never on the host.

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::runtime::ContainerShell;

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

    /// Creates the scratch root's skeleton once (directories, `/usr` symlinks, minimal `/etc`).
    fn prepare(&self, vmid: u32, hostname: &str) -> Result<PathBuf, String> {
        let root = self.base.join(vmid.to_string());
        let io = |what: &str, e: std::io::Error| format!("preparing {what}: {e}");
        for dir in [
            "usr", "proc", "dev", "etc", "root", "tmp", "var/tmp", "home", "opt", "run", "srv",
        ] {
            std::fs::create_dir_all(root.join(dir)).map_err(|e| io(dir, e))?;
        }
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777));
        let _ = std::fs::set_permissions(root.join("root"), std::fs::Permissions::from_mode(0o700));
        for name in USR_LINKS {
            let host = Path::new("/").join(name);
            let inside = root.join(name);
            if inside.symlink_metadata().is_ok() {
                continue;
            }
            if let Ok(target) = std::fs::read_link(&host) {
                std::os::unix::fs::symlink(&target, &inside).map_err(|e| io(name, e))?;
            } else if host.is_dir() {
                std::fs::create_dir_all(&inside).map_err(|e| io(name, e))?;
            }
        }
        let etc = root.join("etc");
        let seed = |name: &str, content: &str| -> Result<(), String> {
            let path = etc.join(name);
            if path.symlink_metadata().is_err() {
                std::fs::write(&path, content).map_err(|e| io(name, e))?;
            }
            Ok(())
        };
        seed(
            "passwd",
            "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        )?;
        seed("group", "root:x:0:\nnogroup:x:65534:\n")?;
        seed("hostname", &format!("{hostname}\n"))?;
        seed(
            "hosts",
            &format!("127.0.0.1 localhost\n127.0.1.1 {hostname}\n"),
        )?;
        seed(
            "resolv.conf",
            &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        )?;
        seed(
            "os-release",
            &std::fs::read_to_string("/etc/os-release").unwrap_or_default(),
        )?;
        Ok(root)
    }

    /// `bwrap` with the sandbox set up, ready for `-- ARGV`.
    fn sandbox(&self, vmid: u32, hostname: &str) -> Result<Command, String> {
        let root = self.prepare(vmid, hostname)?;
        let root = std::fs::canonicalize(&root).map_err(|e| format!("{}: {e}", root.display()))?;
        let mut cmd = Command::new("bwrap");
        cmd.arg("--bind").arg(&root).arg("/");
        cmd.args(["--ro-bind", "/usr", "/usr"]);
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

fn check_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("'{path}' is not an absolute path"));
    }
    if path.contains('\0') {
        return Err("a path cannot contain NUL".to_owned());
    }
    Ok(())
}

impl ContainerShell for ScratchShell {
    fn exec(&self, vmid: u32, hostname: &str, argv: &[String]) -> Result<i32, String> {
        let mut cmd = self.sandbox(vmid, hostname)?;
        let status = cmd.args(argv).status().map_err(spawn_error)?;
        Ok(status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
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
        check_path(path)?;
        let mut cmd = self.sandbox(vmid, hostname)?;
        cmd.args([
            "sh",
            "-c",
            "cat > \"$1\" && chmod \"$2\" \"$1\" && { [ -z \"$3\" ] || chown \"$3\" \"$1\"; }",
            "sh",
        ])
        .arg(path)
        .arg(format!("{perms:o}"))
        .arg(owner.unwrap_or(""))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(spawn_error)?;
        if let Some(mut stdin) = child.stdin.take() {
            // A write error shows up as the command's failure below.
            let _ = stdin.write_all(data);
        }
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(failure(&out.stderr, path))
        }
    }

    fn pull(&self, vmid: u32, hostname: &str, path: &str) -> Result<Vec<u8>, String> {
        check_path(path)?;
        let mut cmd = self.sandbox(vmid, hostname)?;
        let out = cmd
            .args(["cat", "--", path])
            .stdin(Stdio::null())
            .output()
            .map_err(spawn_error)?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(failure(&out.stderr, path))
        }
    }
}

/// The sandboxed command's complaint, or a generic one.
fn failure(stderr: &[u8], path: &str) -> String {
    let text = String::from_utf8_lossy(stderr).trim().to_owned();
    if text.is_empty() {
        format!("failed to copy '{path}'")
    } else {
        text
    }
}
