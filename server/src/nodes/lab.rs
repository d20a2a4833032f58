//! The lab node `./kiln.sh up` runs beside Kiln (`lab_node` in the configuration): given to
//! the first administrator as their default node (`AuthService` calls
//! `NodeService::add_lab_node`, then [`setup_ssh`]), and — when the lab has SSH (`lab_ssh`) —
//! made ready for `pct` the way a person readies a real node: the node's own public key goes
//! into the lab's `authorized_keys` (what the *Set up SSH* command does on a node) and the
//! lab's host key is pinned (what *Trust this host key* does), after checking that the lab's
//! sshd presents the key the lab printed. At every start [`reconcile`] does the same for the
//! lab node already registered, so a restart — or a lab node an older Kiln registered without
//! SSH — ends up with SSH ready too.
//!
//! Architecture Invariant: only rows marked `is_lab` whose address is the configured lab's are
//! touched; a pinned host key is never replaced (a different one is logged for the owner to
//! review on the node's SSH page); writing `authorized_keys` adds a line, never removes one.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context;
use kiln_shared::auth::Actor;
use serde_json::json;

use crate::app_state::AppState;
use crate::config::LabNode;
use crate::db::audit::Entry;
use crate::db::nodes;
use crate::ssh;

/// The user Kiln signs in as on the lab (as on a PVE node: root runs `pct`).
const SSH_USER: &str = "root";

/// What [`setup_ssh`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SshSetup {
    /// The lab has no SSH configured.
    NoSsh,
    /// Key authorized, host key pinned, `pct list` answered (its container count).
    Ready { containers: usize },
    /// Another host key is pinned already: left as it is for the owner to review.
    PinnedKeyDiffers,
}

/// Makes the lab node `node_id` of `owner` ready for `pct` over SSH (idempotent; a change is
/// audited as `actor`'s): authorizes the node's key in the lab's `authorized_keys`, checks that
/// the lab's sshd presents the configured host key, pins it (unless another one is pinned) and
/// runs `pct list` once.
pub async fn setup_ssh(
    state: &AppState,
    actor: &Actor,
    owner: i64,
    node_id: i64,
    lab: &LabNode,
) -> anyhow::Result<SshSetup> {
    let Some(lab_ssh) = &lab.ssh else {
        return Ok(SshSetup::NoSsh);
    };
    let key = ssh::keys::for_node(&state.db, &state.secret_key, owner, node_id)
        .await?
        .context("the lab node is gone")?;
    let path = lab_ssh.authorized_keys.clone();
    let line = key.public_key().to_owned();
    let added = tokio::task::spawn_blocking(move || authorize(&path, &line))
        .await
        .context("authorizing the node key")??;

    let presented = ssh::host_key::fetch(&lab.host, lab_ssh.port)
        .await
        .with_context(|| {
            format!(
                "fetching the lab's SSH host key from {}:{}",
                lab.host, lab_ssh.port
            )
        })?;
    anyhow::ensure!(
        presented == lab_ssh.host_key,
        "the lab's sshd on {}:{} presents {}, not the configured host key {} (KILN_LAB_SSH_HOST_KEY)",
        lab.host,
        lab_ssh.port,
        presented.fingerprint(),
        lab_ssh.host_key.fingerprint()
    );
    let mut conn = state.db.get().await.context("database connection")?;
    let row = nodes::get(&mut conn, owner, node_id)
        .await?
        .context("the lab node is gone")?;
    let pinned = row
        .ssh_host_key
        .as_deref()
        .map(ssh::host_key::HostKey::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("the pinned host key cannot be read: {e}"))?;
    if pinned.as_ref().is_some_and(|p| *p != lab_ssh.host_key) {
        tracing::warn!(
            node.id = node_id,
            node.name = %row.name,
            "the lab node has another SSH host key pinned than the lab's: left as it is (review it on the node's SSH page)"
        );
        return Ok(SshSetup::PinnedKeyDiffers);
    }
    let port = i32::from(lab_ssh.port);
    let changed = pinned.is_none() || row.ssh_user != SSH_USER || row.ssh_port != port;
    if changed {
        nodes::set_ssh(
            &mut conn,
            owner,
            node_id,
            SSH_USER,
            port,
            &lab_ssh.host_key.to_openssh(),
        )
        .await?;
    }
    drop(conn);
    if changed || added {
        state
            .audit(Entry {
                detail: json!({
                    "ssh_user": SSH_USER,
                    "ssh_port": lab_ssh.port,
                    "host_key": lab_ssh.host_key.fingerprint(),
                    "key_authorized": added,
                    "lab": true,
                }),
                ..Entry::by(actor, "node.ssh").on(&row.name)
            })
            .await;
    }
    let target = ssh::Target {
        user: SSH_USER.to_owned(),
        host: lab.host.clone(),
        port: lab_ssh.port,
    };
    let containers = ssh::shell::test_access(
        &state.config.data_dir,
        target,
        node_id,
        Some(&lab_ssh.host_key),
        &key,
    )
    .await
    .context("testing SSH to the lab node")?;
    Ok(SshSetup::Ready { containers })
}

/// At start: [`setup_ssh`] for every lab node already registered for the configured lab.
/// Best effort: failures are logged.
pub async fn reconcile(state: &AppState) {
    let Some(lab) = state.config.lab_node.clone() else {
        return;
    };
    if lab.ssh.is_none() {
        return;
    }
    let rows = match state.db.get().await {
        Ok(mut conn) => nodes::lab_nodes(&mut conn, &lab.host, i32::from(lab.port)).await,
        Err(e) => {
            tracing::warn!(error = %e, "lab node SSH not checked: no database connection");
            return;
        }
    };
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %e, "lab node SSH not checked: cannot list lab nodes");
            return;
        }
    };
    let actor = Actor::system("lab");
    for row in rows {
        let outcome = setup_ssh(state, &actor, row.owner_id, row.id, &lab).await;
        log_outcome(&row.name, outcome);
    }
}

/// Logs what [`setup_ssh`] did for the node `name`.
pub fn log_outcome(name: &str, outcome: anyhow::Result<SshSetup>) {
    match outcome {
        Ok(SshSetup::Ready { containers }) => {
            tracing::info!(node.name = %name, containers, "lab node SSH ready (pct over SSH)");
        }
        Ok(SshSetup::NoSsh | SshSetup::PinnedKeyDiffers) => {}
        Err(e) => {
            tracing::warn!(node.name = %name, error = format!("{e:#}"), "lab node SSH not set up");
        }
    }
}

/// Adds `line` (`TYPE BASE64 comment`) to the authorized keys file `path` unless a line with
/// the same key is there (mode 600 when created); whether it was added.
fn authorize(path: &Path, line: &str) -> anyhow::Result<bool> {
    let key = key_of(line).context("not a public key line")?;
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    if text.lines().any(|l| key_of(l) == Some(key)) {
        return Ok(false);
    }
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let separator = if text.is_empty() || text.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    file.write_all(format!("{separator}{}\n", line.trim()).as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(true)
}

/// The `TYPE BASE64` of an authorized_keys line without options (`None` for comments and
/// blank lines).
fn key_of(line: &str) -> Option<(&str, &str)> {
    let mut fields = line.split_whitespace();
    let kind = fields.next().filter(|k| !k.starts_with('#'))?;
    Some((kind, fields.next()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_authorized_once() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("authorized_keys");
        let line = "ssh-ed25519 AAAAkey kiln-node-1@here";
        assert!(authorize(&path, line)?);
        assert!(!authorize(&path, line)?, "already there");
        assert!(
            !authorize(&path, "ssh-ed25519 AAAAkey another-comment")?,
            "the same key under another comment"
        );
        std::fs::write(&path, "# people\nssh-rsa AAAAother me@laptop")?;
        assert!(authorize(&path, line)?);
        assert_eq!(
            std::fs::read_to_string(&path)?,
            "# people\nssh-rsa AAAAother me@laptop\nssh-ed25519 AAAAkey kiln-node-1@here\n",
            "appended on a line of its own, nothing removed"
        );
        assert!(authorize(&path, "  ").is_err());
        Ok(())
    }

    #[test]
    fn a_new_file_is_private() -> anyhow::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("authorized_keys");
        authorize(&path, "ssh-ed25519 AAAAkey c")?;
        assert_eq!(
            std::fs::metadata(&path)?.permissions().mode() & 0o777,
            0o600
        );
        Ok(())
    }
}
