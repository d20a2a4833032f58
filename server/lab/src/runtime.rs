//! The seam between the simulated API and whatever runs containers. Today only
//! [`InMemoryRuntime`] exists: containers are rows in the lab's state and "running" is a flag.
//! A later runtime will start real LXC containers (and serve `pct` over SSH); the API side
//! calls only this trait, so it will not change.
//!
//! Architecture Invariant: runtimes do not validate requests or check PVE rules (locks,
//! running/stopped); the API layer does that before calling them.

use std::collections::BTreeMap;

/// What a runtime needs to know to create a container.
#[derive(Debug, Clone)]
pub struct CreateSpec {
    /// The container id.
    pub vmid: u32,
    /// The template volume (`local:vztmpl/...`).
    pub ostemplate: String,
    /// The container configuration as stored (property strings as PVE writes them).
    pub config: BTreeMap<String, String>,
}

/// Runs containers for the lab. Errors are the text a PVE task would end with.
pub trait ContainerRuntime: Send + Sync + std::fmt::Debug {
    /// Makes the container's root file system from the template.
    fn create(&self, spec: &CreateSpec) -> Result<Vec<String>, String>;
    /// Starts it; returns task log lines.
    fn start(&self, vmid: u32) -> Result<Vec<String>, String>;
    /// Stops it (hard, or cleanly when `clean`).
    fn stop(&self, vmid: u32, clean: bool) -> Result<Vec<String>, String>;
    /// Removes it and its volumes.
    fn destroy(&self, vmid: u32) -> Result<Vec<String>, String>;
}

/// The simulation: nothing to do besides writing plausible task log lines.
#[derive(Debug, Default)]
pub struct InMemoryRuntime;

impl ContainerRuntime for InMemoryRuntime {
    fn create(&self, spec: &CreateSpec) -> Result<Vec<String>, String> {
        let rootfs = spec.config.get("rootfs").cloned().unwrap_or_default();
        Ok(vec![
            format!("  Logical volume \"vm-{}-disk-0\" created.", spec.vmid),
            format!("extracting archive '{}'", spec.ostemplate),
            "Total bytes read: 536870912 (512MiB, 97MiB/s)".to_owned(),
            format!("Detected container architecture: amd64 ({rootfs})"),
            "Creating SSH host key 'ssh_host_ed25519_key' - this may take some time ...".to_owned(),
        ])
    }
    fn start(&self, vmid: u32) -> Result<Vec<String>, String> {
        Ok(vec![format!("starting CT {vmid}")])
    }
    fn stop(&self, vmid: u32, clean: bool) -> Result<Vec<String>, String> {
        let how = if clean { "shutting down" } else { "stopping" };
        Ok(vec![format!("{how} CT {vmid}")])
    }
    fn destroy(&self, vmid: u32) -> Result<Vec<String>, String> {
        Ok(vec![format!(
            "  Logical volume \"vm-{vmid}-disk-0\" successfully removed."
        )])
    }
}

/// The inside of containers: what `pct exec`, `pct push` and `pct pull` need. Kept apart from
/// [`ContainerRuntime`] (the API side's seam) because it runs in the `kiln lab pct` process,
/// not in the lab server. An LXC-backed runtime would implement it with `lxc-attach`.
///
/// Architecture Invariant: callers check that the container exists and runs; implementations
/// only act.
pub trait ContainerShell: Send + Sync + std::fmt::Debug {
    /// Runs `argv` inside container `vmid` (named `hostname`) with this process's standard
    /// input, output and error; returns its exit status (128 + signal when killed).
    fn exec(&self, vmid: u32, hostname: &str, argv: &[String]) -> Result<i32, String>;
    /// Writes `data` to the absolute path `path` inside, with `perms` and optionally
    /// `owner` (`user[:group]`).
    fn push(
        &self,
        vmid: u32,
        hostname: &str,
        data: &[u8],
        path: &str,
        perms: u32,
        owner: Option<&str>,
    ) -> Result<(), String>;
    /// Reads the absolute path `path` inside.
    fn pull(&self, vmid: u32, hostname: &str, path: &str) -> Result<Vec<u8>, String>;
}
