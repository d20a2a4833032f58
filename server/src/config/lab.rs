//! The lab node keys, set by `./kiln.sh up` for the lab it starts beside Kiln: `lab_node`,
//! `lab_token`, `lab_fingerprint` (its API; all three or none) and `lab_ssh`,
//! `lab_ssh_host_key`, `lab_authorized_keys` (its sshd for `pct`; all three or none, and only
//! with the API keys). Kiln gives the first administrator this node and, with the SSH keys,
//! authorizes the node's own key in the lab's `authorized_keys` and pins the host key
//! (`nodes::lab`).

use std::path::PathBuf;

use super::{ConfigError, Env, Key, Redacted, raw};
use crate::ssh::host_key::HostKey;

const LAB_NODE: Key = Key {
    toml: "lab_node",
    env: "KILN_LAB_NODE",
};
const LAB_TOKEN: Key = Key {
    toml: "lab_token",
    env: "KILN_LAB_TOKEN",
};
const LAB_FINGERPRINT: Key = Key {
    toml: "lab_fingerprint",
    env: "KILN_LAB_FINGERPRINT",
};
const LAB_SSH: Key = Key {
    toml: "lab_ssh",
    env: "KILN_LAB_SSH",
};
const LAB_SSH_HOST_KEY: Key = Key {
    toml: "lab_ssh_host_key",
    env: "KILN_LAB_SSH_HOST_KEY",
};
const LAB_AUTHORIZED_KEYS: Key = Key {
    toml: "lab_authorized_keys",
    env: "KILN_LAB_AUTHORIZED_KEYS",
};

/// A lab node (`kiln lab`) that the first administrator gets as their default node.
#[derive(Debug, Clone)]
pub struct LabNode {
    pub host: String,
    pub port: u16,
    /// `user@realm!tokenid`.
    pub token_id: String,
    pub token_secret: Redacted,
    /// The lab certificate's SHA-256 fingerprint.
    pub fingerprint: String,
    /// Its sshd, when it has one (`pct` over SSH, so containers can be provisioned).
    pub ssh: Option<LabSsh>,
}

/// The lab's sshd, on the same host as its API.
#[derive(Debug, Clone)]
pub struct LabSsh {
    /// Its port.
    pub port: u16,
    /// Its host key as the lab printed it (pinned; the sshd must present it).
    pub host_key: HostKey,
    /// The lab's `authorized_keys`: Kiln adds the node's own public key there (both run on
    /// this machine, as the same user).
    pub authorized_keys: PathBuf,
}

/// The lab's values as given in the TOML file.
#[derive(Debug, Default)]
pub(super) struct FileKeys {
    pub node: Option<String>,
    pub token: Option<String>,
    pub fingerprint: Option<String>,
    pub ssh: Option<String>,
    pub ssh_host_key: Option<String>,
    pub authorized_keys: Option<String>,
}

/// The lab node: its three API keys or none, and its three SSH keys or none.
pub(super) fn lab_node(env: &dyn Env, file: FileKeys) -> Result<Option<LabNode>, ConfigError> {
    let node = raw(&LAB_NODE, None, env, file.node);
    let token = raw(&LAB_TOKEN, None, env, file.token);
    let fingerprint = raw(&LAB_FINGERPRINT, None, env, file.fingerprint);
    let ssh = raw(&LAB_SSH, None, env, file.ssh);
    let host_key = raw(&LAB_SSH_HOST_KEY, None, env, file.ssh_host_key);
    let authorized = raw(&LAB_AUTHORIZED_KEYS, None, env, file.authorized_keys);
    let (node, token, fingerprint) = match (node, token, fingerprint) {
        (None, None, None) => {
            if let Some((name, _)) = ssh.or(host_key).or(authorized) {
                return Err(ConfigError::key(
                    &name,
                    "needs KILN_LAB_NODE (the lab's API)",
                ));
            }
            return Ok(None);
        }
        (Some(n), Some(t), Some(f)) => (n, t, f),
        _ => {
            return Err(ConfigError::key(
                LAB_NODE.env,
                "KILN_LAB_NODE, KILN_LAB_TOKEN and KILN_LAB_FINGERPRINT go together",
            ));
        }
    };
    let (host, port) = host_port(&node)?;
    let (token_id, secret) = token
        .1
        .split_once('=')
        .ok_or_else(|| ConfigError::key(&token.0, "expected user@realm!tokenid=SECRET"))?;
    let ssh = match (ssh, host_key, authorized) {
        (None, None, None) => None,
        (Some(ssh), Some(host_key), Some(authorized)) => {
            Some(lab_ssh(&host, ssh, host_key, authorized)?)
        }
        _ => {
            return Err(ConfigError::key(
                LAB_SSH.env,
                "KILN_LAB_SSH, KILN_LAB_SSH_HOST_KEY and KILN_LAB_AUTHORIZED_KEYS go together",
            ));
        }
    };
    Ok(Some(LabNode {
        host,
        port,
        token_id: token_id.to_owned(),
        token_secret: Redacted(secret.to_owned()),
        fingerprint: fingerprint.1,
        ssh,
    }))
}

/// `HOST:PORT`.
fn host_port((name, value): &(String, String)) -> Result<(String, u16), ConfigError> {
    value
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_owned(), p.parse::<u16>().ok()?)))
        .filter(|(h, _)| !h.is_empty())
        .ok_or_else(|| ConfigError::key(name, "expected HOST:PORT"))
}

fn lab_ssh(
    api_host: &str,
    ssh: (String, String),
    host_key: (String, String),
    authorized: (String, String),
) -> Result<LabSsh, ConfigError> {
    let (host, port) = host_port(&ssh)?;
    if host != api_host {
        return Err(ConfigError::key(
            &ssh.0,
            format!("must be on the lab's host `{api_host}` (a node has one address)"),
        ));
    }
    let host_key =
        HostKey::parse(&host_key.1).map_err(|message| ConfigError::key(&host_key.0, message))?;
    let path = PathBuf::from(authorized.1.trim());
    if !path.is_absolute() || !path.is_file() {
        return Err(ConfigError::key(
            &authorized.0,
            "must be the lab's authorized_keys file (an absolute path; `kiln lab` prints it)",
        ));
    }
    Ok(LabSsh {
        port,
        host_key,
        authorized_keys: path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOoSQirgfYY4lGtzyfaPuxCSqVKTBSO/ACl35PBoRYWn";

    fn load(pairs: &[(&str, &str)]) -> Result<Option<LabNode>, String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let env = move |k: &str| map.get(k).cloned();
        lab_node(&env, FileKeys::default()).map_err(|e| e.to_string())
    }

    #[test]
    fn the_lab_with_and_without_ssh() -> Result<(), Box<dyn std::error::Error>> {
        let file = tempfile::NamedTempFile::new()?;
        let keys = file.path().to_str().ok_or("path")?;
        let api = [
            ("KILN_LAB_NODE", "127.0.0.1:8006"),
            ("KILN_LAB_TOKEN", "root@pam!kiln=s3cr3t-value"),
            ("KILN_LAB_FINGERPRINT", "AB:CD"),
        ];
        assert!(load(&[])?.is_none());
        let lab = load(&api)?.ok_or("lab")?;
        assert!(lab.ssh.is_none());
        assert!(!format!("{lab:?}").contains("s3cr3t-value"));

        let mut with_ssh = api.to_vec();
        with_ssh.extend([
            ("KILN_LAB_SSH", "127.0.0.1:8022"),
            ("KILN_LAB_SSH_HOST_KEY", KEY),
            ("KILN_LAB_AUTHORIZED_KEYS", keys),
        ]);
        let ssh = load(&with_ssh)?.and_then(|l| l.ssh).ok_or("ssh")?;
        assert_eq!(ssh.port, 8022);
        assert_eq!(ssh.host_key.to_openssh(), KEY);
        assert_eq!(ssh.authorized_keys, file.path());

        let refused = |pairs: &[(&str, &str)], key: &str| {
            let err = load(pairs).map(|_| ()).err().unwrap_or_default();
            assert!(err.contains(key), "{pairs:?}: {err}");
        };
        refused(&with_ssh[..4], "KILN_LAB_SSH");
        refused(&with_ssh[3..], "KILN_LAB_SSH");
        let mut other_host = with_ssh.clone();
        other_host[3] = ("KILN_LAB_SSH", "10.0.0.1:22");
        refused(&other_host, "KILN_LAB_SSH");
        let mut bad_key = with_ssh.clone();
        bad_key[4] = ("KILN_LAB_SSH_HOST_KEY", "ssh-ed25519 nope");
        refused(&bad_key, "KILN_LAB_SSH_HOST_KEY");
        let mut missing = with_ssh.clone();
        missing[5] = ("KILN_LAB_AUTHORIZED_KEYS", "/nonexistent/authorized_keys");
        refused(&missing, "KILN_LAB_AUTHORIZED_KEYS");
        let mut relative = with_ssh;
        relative[5] = ("KILN_LAB_AUTHORIZED_KEYS", "authorized_keys");
        refused(&relative, "KILN_LAB_AUTHORIZED_KEYS");
        Ok(())
    }
}
