//! A one-time install of a node's public key with the SSH user's password: the system `ssh`
//! driven by Debian's `sshpass`, with the password in the environment (never on a command
//! line, never stored, never logged), the node's host key already pinned, and the host
//! resolved once (the password goes to the address whose host key was checked).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use super::host_key::{self, HOST_KEY_ALIAS, HostKey};
use super::keys::{self, NodeKey};
use super::{SshError, Target};

/// How long the whole install may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the node's authorize command on `target` as its user, signing in with `password`.
pub async fn install_key(
    data_dir: &Path,
    target: &Target,
    node_id: i64,
    pinned: &HostKey,
    key: &NodeKey,
    password: &str,
) -> Result<(), SshError> {
    host_key::check_host(&target.host).map_err(SshError::Local)?;
    let dir = keys::runtime_dir(data_dir).map_err(|e| SshError::Local(e.to_string()))?;
    let known_hosts = host_key::write_known_hosts(&dir, &format!("install-{node_id}"), pinned)
        .map_err(|e| SshError::Local(e.to_string()))?;
    let result = super::address::each_address(target, |address| {
        install_at(target, address, &known_hosts, key, password)
    })
    .await;
    let _ = std::fs::remove_file(&known_hosts);
    result
}

/// [`install_key`] at one address.
async fn install_at(
    target: &Target,
    address: String,
    known_hosts: &Path,
    key: &NodeKey,
    password: &str,
) -> Result<(), SshError> {
    let mut command = tokio::process::Command::new("sshpass");
    command
        .arg("-e")
        .arg("ssh")
        .args(["-F", "/dev/null", "-T"])
        .args(["-o", "BatchMode=no", "-o", "StrictHostKeyChecking=yes"])
        .args([
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "NumberOfPasswordPrompts=1",
        ])
        .args([
            "-o",
            "PreferredAuthentications=password,keyboard-interactive",
        ])
        .args(["-o", "ConnectTimeout=10"])
        .arg("-o")
        .arg(format!("HostKeyAlias={HOST_KEY_ALIAS}"))
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
        .arg("-p")
        .arg(target.port.to_string())
        .arg("-l")
        .arg(&target.user)
        .arg("--")
        .arg(&address)
        // Kiln's own command (its public key, quoted): no user text in it.
        .arg(key.authorize_command())
        .env("SSHPASS", password)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = match tokio::time::timeout(TIMEOUT, command.output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(SshError::Local(
                "`sshpass` is not installed (Debian package sshpass); authorize the key by hand"
                    .into(),
            ));
        }
        Ok(Err(e)) => return Err(SshError::Local(format!("cannot run ssh: {e}"))),
        Err(_) => return Err(SshError::Local("the key install timed out".into())),
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    match output.status.code() {
        Some(0) => Ok(()),
        // sshpass answers 5 for a refused password.
        Some(5) => Err(SshError::Local(format!("{target} refused the password"))),
        _ => match SshError::from_ssh_text(target, &stderr) {
            // Key authentication is off here: a refusal is the password's.
            SshError::AuthRefused { .. } => {
                Err(SshError::Local(format!("{target} refused the password")))
            }
            other => Err(other),
        },
    }
}
