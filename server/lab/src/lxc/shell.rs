//! [`LxcShell`]: `pct exec|push|pull` for the LXC runtime, through `lxc-attach` into the
//! running container (its namespaces, its root, its ids). Runs in the `kiln lab pct`
//! process (plain `std::process`: no async runtime there).

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use super::names::Names;
use crate::runtime::{ContainerShell, PUSH_SCRIPT, check_path, failure};

const PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The insides of one lab's LXC containers.
#[derive(Debug, Clone)]
pub struct LxcShell {
    names: Names,
}

impl LxcShell {
    /// The shell for the lab in `data_dir`.
    pub fn new(data_dir: &std::path::Path) -> std::io::Result<LxcShell> {
        Ok(LxcShell {
            names: Names::for_data_dir(data_dir)?,
        })
    }

    fn attach(&self, vmid: u32) -> Command {
        let mut cmd = Command::new("lxc-attach");
        cmd.arg("-n")
            .arg(self.names.container(vmid))
            .arg("-P")
            .arg(&self.names.lxcpath)
            .args(["--clear-env", "--set-var", PATH])
            .args(["--set-var", "HOME=/root", "--set-var", "LANG=C.UTF-8"])
            .args(["--set-var", "TERM=dumb", "--"]);
        cmd
    }
}

fn spawn_error(e: &std::io::Error) -> String {
    super::cmd::spawn_error("lxc-attach", e)
}

impl ContainerShell for LxcShell {
    fn exec(&self, vmid: u32, _hostname: &str, argv: &[String]) -> Result<i32, String> {
        let status = self
            .attach(vmid)
            .args(argv)
            .status()
            .map_err(|e| spawn_error(&e))?;
        Ok(status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
    }

    fn push(
        &self,
        vmid: u32,
        _hostname: &str,
        data: &[u8],
        path: &str,
        perms: u32,
        owner: Option<&str>,
    ) -> Result<(), String> {
        check_path(path)?;
        let mut cmd = self.attach(vmid);
        cmd.args(["sh", "-c", PUSH_SCRIPT, "sh"])
            .arg(path)
            .arg(format!("{perms:o}"))
            .arg(owner.unwrap_or(""))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| spawn_error(&e))?;
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

    fn pull(&self, vmid: u32, _hostname: &str, path: &str) -> Result<Vec<u8>, String> {
        check_path(path)?;
        let out = self
            .attach(vmid)
            .args(["cat", "--", path])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| spawn_error(&e))?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(failure(&out.stderr, path))
        }
    }
}
