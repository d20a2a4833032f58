//! The seams between the simulated API and whatever runs containers.
//!
//! [`ContainerRuntime`] is the API side's: create, start, stop, destroy, live figures and
//! addresses. Two implementations: [`InMemoryRuntime`] (the `scratch` runtime: containers are
//! rows of the lab's state, "running" is a flag, figures are simulated) and
//! [`super::lxc::LxcRuntime`] (real LXC containers on this machine).
//!
//! [`ContainerShell`] is the inside of containers, for `kiln lab pct` (a separate process):
//! [`super::scratch::ScratchShell`] (bubblewrap) or [`super::lxc::shell::LxcShell`]
//! (`lxc-attach`).
//!
//! Architecture Invariant: runtimes do not validate requests or check PVE rules (locks,
//! running/stopped); the API layer does that before calling them. Their errors are the text
//! a PVE task ends with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::state::Container;
use super::tasks::TaskLog;

/// Which runtime a lab uses (persisted in its state, so `kiln lab pct` picks the same shell).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    /// Real LXC containers (root, `lxc`, cgroup v1 or v2).
    Lxc,
    /// Simulated containers; `pct exec` in a bubblewrap scratch root.
    #[default]
    Scratch,
}

impl RuntimeKind {
    /// `lxc` / `scratch`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeKind::Lxc => "lxc",
            RuntimeKind::Scratch => "scratch",
        }
    }
}

/// What a runtime needs to know to create a container.
#[derive(Debug, Clone)]
pub struct CreateSpec {
    /// The container id.
    pub vmid: u32,
    /// The template volume (`local:vztmpl/...`).
    pub ostemplate: String,
    /// The container configuration as stored (property strings as PVE writes them).
    pub config: BTreeMap<String, String>,
    /// What PVE writes into the new container but never stores in its config.
    pub access: Access,
}

/// The root password and SSH keys of a create call (PVE sets them inside the new container
/// and keeps neither). Debug never shows the password.
#[derive(Clone, Default)]
pub struct Access {
    /// `password`.
    pub password: Option<String>,
    /// `ssh-public-keys`.
    pub ssh_public_keys: Option<String>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("ssh_public_keys", &self.ssh_public_keys)
            .finish()
    }
}

/// A running container's figures, as the host sees them (PVE's `status/current` fields).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// CPU use as a share of the container's cores (0..=1).
    pub cpu: f64,
    /// Memory in use (bytes, without the page cache).
    pub mem: u64,
    /// Swap in use (bytes).
    pub swap: u64,
    /// Bytes used by its root file system.
    pub disk: u64,
    /// Bytes received by the container.
    pub netin: u64,
    /// Bytes sent by the container.
    pub netout: u64,
    /// Bytes read from block devices.
    pub diskread: u64,
    /// Bytes written to block devices.
    pub diskwrite: u64,
    /// Its init's pid on the host.
    pub pid: Option<u32>,
}

/// One network interface inside a container (`GET .../interfaces`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// `lo`, `eth0`, ...
    pub name: String,
    /// MAC address, lower case.
    pub hwaddr: String,
    /// IPv4 address with prefix length.
    pub inet: Option<String>,
    /// IPv6 address with prefix length.
    pub inet6: Option<String>,
}

/// A template volume of the `local` storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateVolume {
    /// The file name (`debian-12-standard_12.7-1_amd64.tar.zst`).
    pub file: String,
    /// `debian`, `alpine`, ...
    pub ostype: &'static str,
    /// Size in bytes.
    pub size: u64,
    /// Whether a container can be created from it.
    pub usable: bool,
}

/// Runs containers for the lab.
#[async_trait]
pub trait ContainerRuntime: Send + Sync + std::fmt::Debug {
    /// Which runtime this is.
    fn kind(&self) -> RuntimeKind;
    /// The OS templates of the `local` storage.
    fn templates(&self) -> Vec<TemplateVolume>;
    /// Makes the container's root file system from the template.
    async fn create(&self, spec: &CreateSpec, log: &TaskLog) -> Result<(), String>;
    /// Starts it.
    async fn start(&self, ct: &Container, log: &TaskLog) -> Result<(), String>;
    /// Stops it: `clean` asks its init to shut down (waiting up to `timeout` seconds, then
    /// killing it when `force`), else kills it.
    async fn stop(&self, vmid: u32, clean: Option<Shutdown>, log: &TaskLog) -> Result<(), String>;
    /// Removes it and its volumes.
    async fn destroy(&self, vmid: u32, log: &TaskLog) -> Result<(), String>;
    /// Applies changed configuration keys to the running container `ct` (already updated):
    /// cgroup limits, hostname. Keys it cannot apply live take effect at the next start.
    async fn apply(&self, _ct: &Container, _changed: &[String]) -> Result<(), String> {
        Ok(())
    }
    /// Live figures of a running container; `None` means "simulate them".
    fn usage(&self, _ct: &Container) -> Option<Usage> {
        None
    }
    /// Its interfaces and addresses; `None` means "simulate them".
    async fn interfaces(&self, _ct: &Container) -> Option<Vec<Interface>> {
        None
    }
    /// Whether it really runs; `None` means the state's flag is the truth.
    async fn is_running(&self, _vmid: u32) -> Option<bool> {
        None
    }
    /// The node's network bridges (`vmbr0` stands for which address); `None` = simulated.
    fn bridge_cidr(&self) -> Option<(String, String)> {
        None
    }
    /// Refreshes slow figures (root file system use); called by the lab's sampler.
    async fn refresh(&self) {}
    /// Stops everything it started (the lab is stopping).
    async fn shutdown(&self) {}
}

/// How a clean shutdown goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shutdown {
    /// Seconds to wait for the container's init.
    pub timeout: u64,
    /// Kill it when the timeout passes.
    pub force: bool,
}

/// The OS templates every lab lists (file name, ostype, size as Proxmox's download shows).
pub const TEMPLATES: &[(&str, &str, u64)] = &[
    (
        "alpine-3.20-default_20240908_amd64.tar.xz",
        "alpine",
        3_207_508,
    ),
    (super::lxc::image::DEBIAN_12, "debian", 126_528_218),
    (
        "ubuntu-24.04-standard_24.04-2_amd64.tar.zst",
        "ubuntu",
        141_529_487,
    ),
];

/// The simulation: nothing to do besides writing plausible task log lines. `pct exec` runs
/// in a scratch root (see [`super::scratch`]) made on first use.
#[derive(Debug)]
pub struct InMemoryRuntime {
    data_dir: PathBuf,
}

impl InMemoryRuntime {
    /// The simulation for the lab in `data_dir` (its scratch roots live there).
    pub fn new(data_dir: &Path) -> InMemoryRuntime {
        InMemoryRuntime {
            data_dir: data_dir.to_owned(),
        }
    }
}

#[async_trait]
impl ContainerRuntime for InMemoryRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Scratch
    }
    fn templates(&self) -> Vec<TemplateVolume> {
        TEMPLATES
            .iter()
            .map(|(file, ostype, size)| TemplateVolume {
                file: (*file).to_owned(),
                ostype,
                size: *size,
                usable: true,
            })
            .collect()
    }
    async fn create(&self, spec: &CreateSpec, log: &TaskLog) -> Result<(), String> {
        // A reused id starts with an empty scratch root.
        super::scratch::remove(&self.data_dir, spec.vmid);
        let rootfs = spec.config.get("rootfs").cloned().unwrap_or_default();
        log.line(format!(
            "  Logical volume \"vm-{}-disk-0\" created.",
            spec.vmid
        ));
        log.line(format!("extracting archive '{}'", spec.ostemplate));
        log.line("Total bytes read: 536870912 (512MiB, 97MiB/s)");
        log.line(format!("Detected container architecture: amd64 ({rootfs})"));
        log.line("Creating SSH host key 'ssh_host_ed25519_key' - this may take some time ...");
        Ok(())
    }
    async fn start(&self, ct: &Container, log: &TaskLog) -> Result<(), String> {
        log.line(format!("starting CT {}", ct.vmid));
        Ok(())
    }
    async fn stop(&self, vmid: u32, clean: Option<Shutdown>, log: &TaskLog) -> Result<(), String> {
        let how = if clean.is_some() {
            "shutting down"
        } else {
            "stopping"
        };
        log.line(format!("{how} CT {vmid}"));
        Ok(())
    }
    async fn destroy(&self, vmid: u32, log: &TaskLog) -> Result<(), String> {
        super::scratch::remove(&self.data_dir, vmid);
        log.line(format!(
            "  Logical volume \"vm-{vmid}-disk-0\" successfully removed."
        ));
        Ok(())
    }
}

/// The inside of containers: what `pct exec`, `pct push` and `pct pull` need. Kept apart from
/// [`ContainerRuntime`] (the API side's seam) because it runs in the `kiln lab pct` process,
/// not in the lab server.
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

/// The script `pct push` runs inside (`sh -c SCRIPT sh PATH MODE OWNER`, data on stdin).
pub const PUSH_SCRIPT: &str =
    "cat > \"$1\" && chmod \"$2\" \"$1\" && { [ -z \"$3\" ] || chown \"$3\" \"$1\"; }";

/// Refuses a path that is not absolute or holds a NUL.
fn check_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("'{path}' is not an absolute path"));
    }
    if path.contains('\0') {
        return Err("a path cannot contain NUL".to_owned());
    }
    Ok(())
}

/// How a shell reports that its command could not start.
pub type SpawnError = fn(std::io::Error) -> String;

/// `pct exec` through `inside`, a command that runs its arguments in the container: this
/// process's standard streams, the exit status (128 + signal when killed).
pub fn exec_through(
    mut inside: std::process::Command,
    argv: &[String],
    spawn_error: SpawnError,
) -> Result<i32, String> {
    use std::os::unix::process::ExitStatusExt;
    let status = inside.args(argv).status().map_err(spawn_error)?;
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

/// `pct push` through `inside`: [`PUSH_SCRIPT`] writes stdin to `path`, sets the mode and
/// the owner.
pub fn push_through(
    mut inside: std::process::Command,
    spawn_error: SpawnError,
    data: &[u8],
    path: &str,
    perms: u32,
    owner: Option<&str>,
) -> Result<(), String> {
    use std::io::Write;
    use std::process::Stdio;
    check_path(path)?;
    inside
        .args(["sh", "-c", PUSH_SCRIPT, "sh"])
        .arg(path)
        .arg(format!("{perms:o}"))
        .arg(owner.unwrap_or(""))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = inside.spawn().map_err(spawn_error)?;
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

/// `pct pull` through `inside`: the file's bytes.
pub fn pull_through(
    mut inside: std::process::Command,
    spawn_error: SpawnError,
    path: &str,
) -> Result<Vec<u8>, String> {
    check_path(path)?;
    let out = inside
        .args(["cat", "--", path])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(spawn_error)?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(failure(&out.stderr, path))
    }
}

/// The complaint of a command run inside, or a generic one.
fn failure(stderr: &[u8], path: &str) -> String {
    let text = String::from_utf8_lossy(stderr).trim().to_owned();
    if text.is_empty() {
        format!("failed to copy '{path}'")
    } else {
        text
    }
}
