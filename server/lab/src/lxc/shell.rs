//! [`LxcShell`]: `pct exec|push|pull` for the LXC runtime, through `lxc-attach` into the
//! running container (its namespaces, its root, its ids). Runs in the `kiln lab pct`
//! process (plain `std::process`: no async runtime there).

use std::process::Command;

use super::names::Names;
use crate::runtime::{ContainerShell, exec_through, pull_through, push_through};

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

fn spawn_error(e: std::io::Error) -> String {
    super::cmd::spawn_error("lxc-attach", &e)
}

impl ContainerShell for LxcShell {
    fn exec(&self, vmid: u32, _hostname: &str, argv: &[String]) -> Result<i32, String> {
        exec_through(self.attach(vmid), argv, spawn_error)
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
        push_through(self.attach(vmid), spawn_error, data, path, perms, owner)
    }

    fn pull(&self, vmid: u32, _hostname: &str, path: &str) -> Result<Vec<u8>, String> {
        pull_through(self.attach(vmid), spawn_error, path)
    }
}
