//! `kiln lab pct`: the lab node's `pct`, for the node's shell (Kiln reaches it over SSH; the
//! tests put a `pct` wrapper on sshd's PATH). It reads the lab's persisted state
//! (`lab-state.json` in the data directory, written by the running lab) and behaves like PVE's
//! `pct` for what Kiln uses: `list`, `status`, `exec`, `push`, `pull`. Messages and exit
//! statuses follow `pct`: errors print one line on stderr and exit 255, `exec` passes the
//! command's status through. The inside of containers is a [`ContainerShell`]
//! ([`ScratchShell`] for the in-memory runtime).
//!
//! Limits: every container of the lab is visible (one shell stands for all nodes of a
//! simulated cluster); `pct enter` and `pct config` are not implemented.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::lxc::shell::LxcShell;
use super::runtime::{ContainerShell, RuntimeKind};
use super::scratch::ScratchShell;
use super::state::{self, Container, State};

/// The `pct` subcommands the lab implements.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum PctCommand {
    /// List the containers.
    List,
    /// Show a container's status.
    Status {
        /// The container id.
        vmid: u32,
    },
    /// Run a command inside a running container (`pct exec VMID -- CMD [ARGS...]`); its
    /// exit status passes through.
    Exec {
        /// The container id.
        vmid: u32,
        /// The command and its arguments (after `--`).
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "COMMAND"
        )]
        command: Vec<String>,
    },
    /// Copy a file of this machine into a running container.
    Push {
        /// The container id.
        vmid: u32,
        /// The file on this machine (`-` reads standard input).
        file: PathBuf,
        /// The absolute path inside the container.
        destination: String,
        /// Permissions (octal; `0x` prefix for hexadecimal) [default: 0644].
        #[arg(long, value_name = "MODE")]
        perms: Option<String>,
        /// Owner user (name or uid) inside the container.
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// Owner group (name or gid) inside the container.
        #[arg(long, value_name = "GROUP")]
        group: Option<String>,
    },
    /// Copy a file out of a running container.
    Pull {
        /// The container id.
        vmid: u32,
        /// The absolute path inside the container.
        path: String,
        /// The file on this machine (`-` writes standard output).
        destination: PathBuf,
    },
}

/// A `pct` failure: the message for stderr and the exit status.
#[derive(Debug)]
struct Fail(String, u8);

fn fail(message: impl Into<String>) -> Fail {
    Fail(message.into(), 255)
}

/// Runs one `pct` command against the lab in `data_dir`; returns the exit status.
pub fn run(data_dir: &Path, command: PctCommand) -> u8 {
    let outcome = load(data_dir).and_then(|state| {
        let shell: Box<dyn ContainerShell> = match state.runtime {
            RuntimeKind::Scratch => Box::new(ScratchShell::new(data_dir)),
            RuntimeKind::Lxc => Box::new(
                LxcShell::new(data_dir)
                    .map_err(|e| fail(format!("{}: {e}", data_dir.display())))?,
            ),
        };
        dispatch(state, shell.as_ref(), command)
    });
    match outcome {
        Ok(code) => code,
        Err(Fail(message, code)) => {
            eprintln!("{message}");
            code
        }
    }
}

fn load(data_dir: &Path) -> Result<State, Fail> {
    match state::load(data_dir) {
        Ok(Some(state)) => Ok(state),
        Ok(None) => Err(fail(format!(
            "no lab state in {} (start `kiln lab --data-dir {}` first)",
            data_dir.display(),
            data_dir.display()
        ))),
        Err(e) => Err(fail(format!("{e:#}"))),
    }
}

fn find(state: &State, vmid: u32) -> Result<&Container, Fail> {
    state.containers.get(&vmid).ok_or_else(|| {
        fail(format!(
            "Configuration file 'nodes/pve/lxc/{vmid}.conf' does not exist"
        ))
    })
}

fn running(state: &State, vmid: u32) -> Result<&Container, Fail> {
    let ct = find(state, vmid)?;
    if !ct.running() {
        return Err(fail(format!("CT {vmid} not running")));
    }
    Ok(ct)
}

fn hostname(ct: &Container) -> String {
    ct.config
        .get("hostname")
        .cloned()
        .unwrap_or_else(|| format!("CT{}", ct.vmid))
}

/// `--perms`: octal, or hexadecimal with `0x`.
fn parse_perms(text: &str) -> Result<u32, Fail> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => u32::from_str_radix(text, 8),
    };
    match parsed {
        Ok(mode) if mode <= 0o7777 => Ok(mode),
        _ => Err(Fail(
            format!("400 Parameter verification failed.\nperms: invalid mode '{text}'"),
            255,
        )),
    }
}

fn dispatch(state: State, shell: &dyn ContainerShell, command: PctCommand) -> Result<u8, Fail> {
    let mut out = std::io::stdout().lock();
    let io = |e: std::io::Error| fail(e.to_string());
    match command {
        PctCommand::List => {
            writeln!(
                out,
                "{:<10} {:<10} {:<12} {:<20}",
                "VMID", "Status", "Lock", "Name"
            )
            .map_err(io)?;
            for ct in state.containers.values() {
                writeln!(
                    out,
                    "{:<10} {:<10} {:<12} {:<20}",
                    ct.vmid,
                    ct.status,
                    ct.lock().unwrap_or(""),
                    hostname(ct)
                )
                .map_err(io)?;
            }
            Ok(0)
        }
        PctCommand::Status { vmid } => {
            let ct = find(&state, vmid)?;
            writeln!(out, "status: {}", ct.status).map_err(io)?;
            Ok(0)
        }
        PctCommand::Exec { vmid, command } => {
            let ct = running(&state, vmid)?;
            drop(out);
            let code = shell.exec(vmid, &hostname(ct), &command).map_err(fail)?;
            Ok(u8::try_from(code).unwrap_or(255))
        }
        PctCommand::Push {
            vmid,
            file,
            destination,
            perms,
            user,
            group,
        } => {
            let ct = running(&state, vmid)?;
            let perms = parse_perms(perms.as_deref().unwrap_or("0644"))?;
            let data = if file.as_os_str() == "-" {
                let mut buf = Vec::new();
                std::io::stdin().read_to_end(&mut buf).map_err(io)?;
                buf
            } else {
                std::fs::read(&file)
                    .map_err(|e| fail(format!("unable to open file '{}' - {e}", file.display())))?
            };
            let owner = match (user, group) {
                (None, None) => None,
                (Some(u), None) => Some(u),
                (None, Some(g)) => Some(format!(":{g}")),
                (Some(u), Some(g)) => Some(format!("{u}:{g}")),
            };
            shell
                .push(
                    vmid,
                    &hostname(ct),
                    &data,
                    &destination,
                    perms,
                    owner.as_deref(),
                )
                .map_err(fail)?;
            Ok(0)
        }
        PctCommand::Pull {
            vmid,
            path,
            destination,
        } => {
            let ct = running(&state, vmid)?;
            let data = shell.pull(vmid, &hostname(ct), &path).map_err(fail)?;
            if destination.as_os_str() == "-" {
                out.write_all(&data).map_err(io)?;
            } else {
                std::fs::write(&destination, data).map_err(|e| {
                    fail(format!("unable to write '{}' - {e}", destination.display()))
                })?;
            }
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perms() {
        assert_eq!(parse_perms("0644").ok(), Some(0o644));
        assert_eq!(parse_perms("755").ok(), Some(0o755));
        assert_eq!(parse_perms("0x1ed").ok(), Some(0o755));
        assert!(parse_perms("0999").is_err());
        assert!(parse_perms("77777").is_err());
    }
}
