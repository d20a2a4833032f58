//! Proxmox nodes as the browser sees them, and the rules for adding one.

use serde::{Deserialize, Serialize};

use crate::pve::CertificateInfo;
use crate::validate::FieldErrors;

/// A node in the list (no secret: the token secret never leaves the server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeSummary {
    pub id: i64,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub is_cluster: bool,
    /// A lab node (simulated Proxmox) — its data is demo data.
    pub is_lab: bool,
    /// The user's default node for new containers.
    pub is_default: bool,
    /// The pinned certificate fingerprint.
    pub fingerprint: String,
    /// `user@realm!tokenid`.
    pub token_id: String,
    pub ssh_user: String,
    pub ssh_port: u16,
    /// The pinned SSH host key, once confirmed.
    pub ssh_host_key: Option<String>,
}

/// What a live check of a node found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeHealth {
    pub online: bool,
    /// `8.2.4` etc.
    pub version: Option<String>,
    /// Cluster members and their state (one entry for a single node).
    pub members: Vec<NodeMember>,
    /// Privileges Kiln needs on `/` that the token lacks.
    pub missing_privileges: Vec<String>,
    /// Why the node is offline or degraded (never contains a secret).
    pub error: Option<String>,
    /// The certificate changed since it was pinned: the user must re-confirm.
    pub certificate_changed: Option<CertificateInfo>,
}

/// One member of a node's cluster, with its load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeMember {
    pub name: String,
    pub online: bool,
    pub cpu: Option<f64>,
    pub maxcpu: Option<u32>,
    pub mem: Option<u64>,
    pub maxmem: Option<u64>,
}

/// A node with its health, for the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeView {
    pub node: NodeSummary,
    pub health: NodeHealth,
    /// What Kiln's monitor knows of its reachability (when it last answered).
    #[serde(default)]
    pub watch: Option<crate::metrics::NodeWatch>,
}

/// The privileges Kiln needs on `/` to create and manage containers.
pub const REQUIRED_PRIVILEGES: &[&str] = &[
    "VM.Allocate",
    "VM.Audit",
    "VM.Config.Options",
    "VM.PowerMgmt",
    "Datastore.AllocateSpace",
    "Datastore.Audit",
    "Sys.Audit",
];

/// The input of "add a node" (and of "edit": the secret may then be empty = unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInput {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub is_cluster: bool,
    pub fingerprint: String,
    pub token_id: String,
    pub token_secret: String,
}

/// A display name: 1–64 characters, no control characters.
pub fn node_name(value: &str) -> Result<(), String> {
    let len = value.trim().chars().count();
    if len == 0 || len > 64 {
        return Err("Use 1 to 64 characters.".into());
    }
    if value.chars().any(char::is_control) {
        return Err("Control characters are not allowed.".into());
    }
    Ok(())
}

/// A host name or IP address, without scheme, port or path.
pub fn host(value: &str) -> Result<(), String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("Enter the node's address.".into());
    }
    if value.contains("://") || value.contains('/') {
        return Err("Only the host name or IP address, without https:// or a path.".into());
    }
    if value.len() > 253 {
        return Err("That address is too long.".into());
    }
    let ipv6 = value.starts_with('[') && value.ends_with(']') || value.matches(':').count() >= 2;
    if ipv6 {
        return value
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::Ipv6Addr>()
            .map(|_| ())
            .map_err(|_| "Not a valid IPv6 address.".into());
    }
    if value.contains(':') {
        return Err("Give the port in its own field.".into());
    }
    let ok = value.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    if ok {
        Ok(())
    } else {
        Err("Not a valid host name or IP address.".into())
    }
}

/// A TCP port.
pub fn port(value: u16) -> Result<(), String> {
    if value == 0 {
        Err("Use a port between 1 and 65535.".into())
    } else {
        Ok(())
    }
}

/// `user@realm!tokenid`, as Proxmox shows it.
pub fn token_id(value: &str) -> Result<(), String> {
    let value = value.trim();
    let Some((user, token)) = value.split_once('!') else {
        return Err("Use the form user@realm!tokenid, e.g. root@pam!kiln.".into());
    };
    let Some((name, realm)) = user.split_once('@') else {
        return Err("The user needs a realm, e.g. root@pam!kiln.".into());
    };
    let word = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    if !word(name) || !word(realm) || !word(token) {
        return Err("Use the form user@realm!tokenid, e.g. root@pam!kiln.".into());
    }
    Ok(())
}

/// A token secret (Proxmox gives a UUID); only checked for shape.
pub fn token_secret(value: &str) -> Result<(), String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("Enter the token's secret.".into());
    }
    if value.len() > 128 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("That does not look like a token secret.".into());
    }
    Ok(())
}

/// A SHA-256 fingerprint: 32 hex pairs, `:` optional.
pub fn fingerprint(value: &str) -> Result<(), String> {
    let hex: String = value.chars().filter(|c| *c != ':').collect();
    if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err("Confirm the node's certificate first.".into())
    }
}

impl NodeInput {
    /// Every rule at once; `secret_required` is false when editing (empty = keep).
    pub fn validate(&self, secret_required: bool) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        errors.check("name", node_name(&self.name));
        errors.check("host", host(&self.host));
        errors.check("port", port(self.port));
        errors.check("fingerprint", fingerprint(&self.fingerprint));
        errors.check("token_id", token_id(&self.token_id));
        if secret_required || !self.token_secret.is_empty() {
            errors.check("token_secret", token_secret(&self.token_secret));
        }
        errors.into_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert!(host("pve.lan").is_ok());
        assert!(host("192.168.1.10").is_ok());
        assert!(host("[fe80::1]").is_ok());
        assert!(host("fe80::1").is_ok());
        assert!(host("https://pve").is_err());
        assert!(host("pve:8006").is_err());
        assert!(host("bad_host").is_err());
        assert!(host("").is_err());
    }

    #[test]
    fn token_ids() {
        assert!(token_id("root@pam!kiln").is_ok());
        assert!(token_id("kiln@pve!auto-1").is_ok());
        assert!(token_id("root@pam").is_err());
        assert!(token_id("root!kiln").is_err());
        assert!(token_id("root@pam!").is_err());
    }

    #[test]
    fn input_validation_collects_every_field() {
        let input = NodeInput {
            port: 0,
            ..NodeInput::default()
        };
        let Err(errors) = input.validate(true) else {
            panic!("expected errors");
        };
        for field in [
            "name",
            "host",
            "port",
            "fingerprint",
            "token_id",
            "token_secret",
        ] {
            assert!(errors.get(field).is_some(), "{field}");
        }
        let editing = NodeInput {
            name: "pve".into(),
            host: "pve.lan".into(),
            port: 8006,
            fingerprint: "AB".repeat(32),
            token_id: "root@pam!kiln".into(),
            ..NodeInput::default()
        };
        assert!(
            editing.validate(false).is_ok(),
            "an empty secret keeps the old one"
        );
        assert!(editing.validate(true).is_err());
    }
}

/// A one-time Proxmox sign-in used to create Kiln's API token (never stored).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PveLogin {
    /// Without realm, e.g. `root`.
    pub username: String,
    pub password: String,
    /// `pam` or `pve` (or another realm name).
    pub realm: String,
    /// A TOTP code when the account has two factors.
    pub otp: Option<String>,
}

impl std::fmt::Debug for PveLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PveLogin({}@{})", self.username, self.realm)
    }
}

impl PveLogin {
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        let word = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        if !word(&self.username) {
            errors.add("pve_username", "Enter the Proxmox user, e.g. root.");
        }
        if !word(&self.realm) {
            errors.add("pve_realm", "Choose the realm, e.g. pam.");
        }
        if self.password.is_empty() {
            errors.add("pve_password", "Enter the password.");
        }
        let six_digits = |o: &str| o.len() == 6 && o.chars().all(|c| c.is_ascii_digit());
        if self
            .otp
            .as_deref()
            .is_some_and(|o| !o.is_empty() && !six_digits(o))
        {
            errors.add("pve_otp", "A code is 6 digits.");
        }
        errors.into_result()
    }
}

/// What "sign in once and create a token" created, to show the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenCreated {
    pub node: NodeSummary,
    /// `root@pam!kiln-…`.
    pub token_id: String,
    /// The roles granted to the token, with their paths (`PVEVMAdmin on /`).
    pub grants: Vec<String>,
}

/// The SSH public key Kiln uses for one node (each node has its own) and how to authorize it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshAccess {
    /// `ssh-ed25519 AAAA… kiln-node-<id>@host`.
    pub public_key: String,
    /// `SHA256:…`.
    pub fingerprint: String,
    /// A one-line command to paste on the node as the SSH user.
    pub authorize_command: String,
}

/// A node's SSH host key, shown for the user to confirm before it is pinned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostKeyInfo {
    /// `ssh-ed25519`, `ecdsa-sha2-nistp256`, …
    pub algorithm: String,
    /// `SHA256:…`, as `ssh-keygen -lf` prints it.
    pub fingerprint: String,
    /// The public key line to pin.
    pub openssh: String,
}

/// An SSH user name for `pct` (normally root).
pub fn ssh_user(value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= 32
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !value.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err("Use a plain user name, e.g. root.".into())
    }
}
