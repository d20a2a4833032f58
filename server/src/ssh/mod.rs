//! SSH to Proxmox VE nodes: the only module that runs commands on a node.
//!
//! The API cannot reach inside a container; `pct exec` / `pct push` / `pct pull` on the node's
//! shell can. Kiln connects as the node's SSH user with a key of that node's own (ed25519), and
//! pins each node's SSH host key the way it pins the API's TLS certificate (trust on first use
//! after the user confirms the fingerprint, strict afterwards). The host is resolved once per
//! connection and `ssh` gets the address.
//!
//! Code map:
//! - `keys` — a key pair per node: generated when its SSH access is first set up, stored
//!   encrypted in its row, written to a mode-600 file under `<data dir>/run/ssh/` for
//!   `ssh -i`; the public key line and the one-line authorize command the user pastes on it.
//! - `address` — one name look-up, the addresses tried in order.
//! - `host_key` — `ssh-keyscan` a node, SHA256 fingerprints, the pinned known_hosts file.
//! - `shell` — [`shell::NodeShell`]: an `openssh` multiplexed session; `run`.
//! - `pct` — the `pct` helpers on a [`shell::NodeShell`] (list, status, exec, push, pull).
//! - `quote` — quoting for the remote shell.
//!
//! Architecture Invariant: every remote command line is built by [`quote::command_line`] from
//! separate arguments; no text is ever pasted into a command line.
//! Architecture Invariant: the private key never appears in logs, `Debug` output or the
//! database in clear; it exists in clear only in memory and in its mode-600 runtime file.

pub mod address;
pub mod host_key;
pub mod install;
pub mod keys;
pub mod pct;
pub mod quote;
pub mod shell;

use std::fmt;

/// Where a connection went, for messages (`root@pve.example:22`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The SSH user.
    pub user: String,
    /// Host name or address.
    pub host: String,
    /// The SSH port.
    pub port: u16,
}

impl fmt::Display for Target {
    /// `user@host:port`; without a user (a host-key scan logs in as no one) `host:port`, never
    /// a dangling `@host:port`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.user.is_empty() {
            write!(f, "{}@", self.user)?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// What went wrong talking SSH to a node. Messages are meant for the user.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// Nothing listens on the port (or a firewall rejects).
    #[error("{target}: connection refused (is sshd running and the port right?)")]
    Refused {
        /// Where.
        target: Target,
    },
    /// No answer in time, no route, or the name does not resolve.
    #[error("{target}: cannot reach the node: {detail}")]
    Unreachable {
        /// Where.
        target: Target,
        /// ssh's own words.
        detail: String,
    },
    /// The node refused the node's key.
    #[error(
        "{target}: the node refused the SSH key Kiln uses for it (authentication failed); add \
         the public key shown on the node's SSH page to ~{user}/.ssh/authorized_keys on the node",
        user = target.user
    )]
    AuthRefused {
        /// Where.
        target: Target,
    },
    /// The node presented another host key than the pinned one.
    #[error(
        "{target}: host key changed: the node presented a different SSH host key than the one \
         pinned for it (possible man-in-the-middle; if the node was reinstalled, fetch and \
         confirm its new host key)"
    )]
    HostKeyChanged {
        /// Where.
        target: Target,
    },
    /// No host key has been pinned for this node yet.
    #[error("{target}: no SSH host key is pinned for this node; fetch and confirm it first")]
    HostKeyNotPinned {
        /// Where.
        target: Target,
    },
    /// The master connection went away.
    #[error("{target}: the SSH connection was lost")]
    Disconnected {
        /// Where.
        target: Target,
    },
    /// Any other SSH failure.
    #[error("{target}: SSH failed: {detail}")]
    Other {
        /// Where.
        target: Target,
        /// What happened.
        detail: String,
    },
    /// A local problem (files, processes) before or after talking to the node.
    #[error("{0}")]
    Local(String),
    /// A remote command ran and failed.
    #[error("`{command}` failed on the node (exit status {status}): {stderr}")]
    Command {
        /// The program and subcommand, e.g. `pct push`.
        command: String,
        /// Its exit status.
        status: i32,
        /// What it printed on stderr (trimmed).
        stderr: String,
    },
}

impl SshError {
    /// Classifies ssh's own error text (its log or stderr).
    pub fn from_ssh_text(target: &Target, text: &str) -> SshError {
        let target = target.clone();
        let lower = text.to_ascii_lowercase();
        if lower.contains("remote host identification has changed")
            || lower.contains("host key verification failed")
            || lower.contains("host key for") && lower.contains("has changed")
        {
            SshError::HostKeyChanged { target }
        } else if lower.contains("permission denied (")
            || lower.contains("too many authentication failures")
        {
            SshError::AuthRefused { target }
        } else if lower.contains("connection refused") {
            SshError::Refused { target }
        } else if lower.contains("timed out")
            || lower.contains("no route to host")
            || lower.contains("network is unreachable")
            || lower.contains("could not resolve")
            || lower.contains("name or service not known")
        {
            SshError::Unreachable {
                target,
                detail: last_line(text),
            }
        } else {
            SshError::Other {
                target,
                detail: last_line(text),
            }
        }
    }
}

/// The last non-empty line of ssh's chatter (the error itself).
fn last_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("no details")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Target {
        Target {
            user: "root".into(),
            host: "10.0.0.5".into(),
            port: 22,
        }
    }

    #[test]
    fn targets_read_whole_in_messages() {
        assert_eq!(t().to_string(), "root@10.0.0.5:22");
        let scan = Target {
            user: String::new(),
            host: "pve.example".into(),
            port: 2222,
        };
        assert_eq!(scan.to_string(), "pve.example:2222");
        let v6 = Target {
            user: "kiln".into(),
            host: "fd00::5".into(),
            port: 22,
        };
        assert_eq!(v6.to_string(), "kiln@[fd00::5]:22");
        let refused = SshError::Refused { target: scan };
        assert!(
            refused.to_string().starts_with("pve.example:2222: "),
            "{refused}"
        );
    }

    #[test]
    fn classifies_ssh_messages() {
        let changed = "@@@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n...\nHost key verification failed.";
        assert!(matches!(
            SshError::from_ssh_text(&t(), changed),
            SshError::HostKeyChanged { .. }
        ));
        assert!(matches!(
            SshError::from_ssh_text(&t(), "root@10.0.0.5: Permission denied (publickey)."),
            SshError::AuthRefused { .. }
        ));
        assert!(matches!(
            SshError::from_ssh_text(
                &t(),
                "ssh: connect to host 10.0.0.5 port 22: Connection refused"
            ),
            SshError::Refused { .. }
        ));
        assert!(matches!(
            SshError::from_ssh_text(
                &t(),
                "ssh: connect to host 10.0.0.5 port 22: Connection timed out"
            ),
            SshError::Unreachable { .. }
        ));
        let other = SshError::from_ssh_text(&t(), "weird\nkex_exchange_identification: boom\n");
        assert!(
            other
                .to_string()
                .contains("kex_exchange_identification: boom")
        );
        assert!(
            SshError::HostKeyChanged { target: t() }
                .to_string()
                .contains("host key changed")
        );
        assert_eq!(t().to_string(), "root@10.0.0.5:22");
    }
}
