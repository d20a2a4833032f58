//! The SSH key pairs (ed25519) Kiln uses for nodes: one per node.
//!
//! A node's key is generated when its SSH access is first set up, stored encrypted in its row
//! (`nodes.ssh_key`, AES-GCM bound to the context `nodes.ssh_key:<id>`), and written at runtime
//! to `<data dir>/run/ssh/node-<id>.key` (mode 600, directory mode 700, see
//! [`crate::run_dir`]) because the system `ssh` reads identities only from files. The user
//! authorizes a node's public key on that node once, by pasting [`NodeKey::authorize_command`]
//! into its shell. Because no two nodes share a key, a key one user authorized on a machine
//! opens nothing for another user who adds a node with the same host and SSH user.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey};
use zeroize::Zeroizing;

use crate::crypto::SecretKey;
use crate::db::DbPool;

use super::quote::quote;

/// The encryption context (associated data) binding a sealed private key to its node row.
pub fn seal_context(node_id: i64) -> String {
    format!("nodes.ssh_key:{node_id}")
}

/// The private key file's name under `<data dir>/run/ssh/`.
pub fn key_file_name(node_id: i64) -> String {
    format!("node-{node_id}.key")
}

/// One node's key pair. `Debug` shows only the public half.
pub struct NodeKey {
    /// The private key in OpenSSH format (`-----BEGIN OPENSSH PRIVATE KEY-----`); wiped on drop.
    private_openssh: Zeroizing<String>,
    /// `ssh-ed25519 AAAA... kiln@host`.
    public_line: String,
    /// `SHA256:...` of the public key.
    fingerprint: String,
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeKey")
            .field("public", &self.public_line)
            .field("private", &"..")
            .finish()
    }
}

/// `kiln-node-<id>@<this machine's hostname>`, the comment a node's new key gets (it tells the
/// lines in a node's `authorized_keys` apart).
pub fn comment_for(node_id: i64) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let host: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        .collect();
    if host.is_empty() {
        format!("kiln-node-{node_id}")
    } else {
        format!("kiln-node-{node_id}@{host}")
    }
}

impl NodeKey {
    /// A fresh ed25519 key pair with `comment` (e.g. `kiln@console`).
    pub fn generate(comment: &str) -> anyhow::Result<NodeKey> {
        let mut key = PrivateKey::random(&mut ssh_key::rand_core::OsRng, Algorithm::Ed25519)
            .map_err(|e| anyhow::anyhow!("generating the SSH key: {e}"))?;
        key.set_comment(comment);
        let text = key
            .to_openssh(LineEnding::LF)
            .map_err(|e| anyhow::anyhow!("encoding the SSH key: {e}"))?;
        Self::from_openssh(&text)
    }

    /// A key from its OpenSSH private key text.
    pub fn from_openssh(text: &str) -> anyhow::Result<NodeKey> {
        let key = PrivateKey::from_openssh(text).map_err(|_| {
            anyhow::anyhow!("the stored SSH private key is not a valid OpenSSH key")
        })?;
        anyhow::ensure!(
            !key.is_encrypted(),
            "the SSH private key is passphrase-protected"
        );
        let public_line = key
            .public_key()
            .to_openssh()
            .map_err(|e| anyhow::anyhow!("encoding the SSH public key: {e}"))?;
        Ok(NodeKey {
            private_openssh: Zeroizing::new(text.to_owned()),
            public_line,
            fingerprint: key.public_key().fingerprint(HashAlg::Sha256).to_string(),
        })
    }

    /// The OpenSSH public key line (`ssh-ed25519 AAAA... kiln@host`), for `authorized_keys`.
    pub fn public_key(&self) -> &str {
        &self.public_line
    }

    /// The public key's `SHA256:...` fingerprint (as `ssh-keygen -lf` shows it).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// One line for the user to paste into the node's shell (as the SSH user) that authorizes
    /// this key; running it twice adds the key once.
    pub fn authorize_command(&self) -> String {
        let key = quote(&self.public_line);
        format!(
            "mkdir -p ~/.ssh && chmod 700 ~/.ssh && (grep -qxF {key} ~/.ssh/authorized_keys 2>/dev/null || echo {key} >> ~/.ssh/authorized_keys) && chmod 600 ~/.ssh/authorized_keys"
        )
    }

    /// The private key sealed with `secret`, bound to the node row `node_id`.
    pub fn seal(&self, secret: &SecretKey, node_id: i64) -> anyhow::Result<Vec<u8>> {
        secret.encrypt(self.private_openssh.as_bytes(), &seal_context(node_id))
    }

    /// The key back from what [`seal`](Self::seal) produced for the same node.
    pub fn unseal(sealed: &[u8], secret: &SecretKey, node_id: i64) -> anyhow::Result<NodeKey> {
        let plain = Zeroizing::new(secret.decrypt(sealed, &seal_context(node_id))?);
        let text = std::str::from_utf8(&plain)
            .map_err(|_| anyhow::anyhow!("the stored SSH private key is not text"))?;
        Self::from_openssh(text)
    }

    /// Writes the private key to `<data_dir>/run/ssh/node-<id>.key` (directory 700, file 600)
    /// unless it is already there, and returns the path for `ssh -i`.
    pub fn materialise(&self, data_dir: &Path, node_id: i64) -> anyhow::Result<PathBuf> {
        let dir = runtime_dir(data_dir)?;
        let name = key_file_name(node_id);
        let path = dir.join(&name);
        if let Ok(existing) = std::fs::read(&path).map(Zeroizing::new)
            && existing.as_slice() == self.private_openssh.as_bytes()
        {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("securing {}", path.display()))?;
            return Ok(path);
        }
        let mut file = tempfile::Builder::new()
            .prefix(&format!("{name}."))
            .tempfile_in(&dir)
            .with_context(|| format!("creating a file in {}", dir.display()))?;
        file.write_all(self.private_openssh.as_bytes())
            .and_then(|()| file.as_file().sync_all())
            .with_context(|| format!("writing {}", path.display()))?;
        file.persist(&path)
            .with_context(|| format!("replacing {}", path.display()))?;
        Ok(path)
    }
}

/// `<data_dir>/run/ssh` (Kiln's user, mode 700; see [`crate::run_dir`]).
pub fn runtime_dir(data_dir: &Path) -> anyhow::Result<PathBuf> {
    crate::run_dir::ssh(data_dir)
}

/// The key of the node `node_id` owned by `owner`, generating and storing one on first use.
/// `None` when the user has no such node.
pub async fn for_node(
    db: &DbPool,
    secret: &SecretKey,
    owner: i64,
    node_id: i64,
) -> anyhow::Result<Option<NodeKey>> {
    use crate::db::nodes;
    let mut conn = db.get().await.context("database connection")?;
    match nodes::ssh_key(&mut conn, owner, node_id).await? {
        None => return Ok(None),
        Some(Some(sealed)) => return NodeKey::unseal(&sealed, secret, node_id).map(Some),
        Some(None) => {}
    }
    let key = NodeKey::generate(&comment_for(node_id))?;
    if nodes::set_ssh_key_if_absent(&mut conn, owner, node_id, &key.seal(secret, node_id)?).await? {
        tracing::info!(node.id = node_id, ssh.fingerprint = %key.fingerprint(), "generated a node's SSH key");
        return Ok(Some(key));
    }
    // Another request stored one first (or the node is gone): use what is there.
    match nodes::ssh_key(&mut conn, owner, node_id).await? {
        Some(Some(sealed)) => NodeKey::unseal(&sealed, secret, node_id).map(Some),
        Some(None) => anyhow::bail!("the node's SSH key vanished"),
        None => Ok(None),
    }
}

/// Removes a deleted node's runtime files (its private key and pinned known_hosts file).
pub fn forget(data_dir: &Path, node_id: i64) {
    let dir = data_dir.join("run").join("ssh");
    for name in [
        key_file_name(node_id),
        format!("known_hosts.{node_id}"),
        format!("known_hosts.install-{node_id}"),
    ] {
        let path = dir.join(name);
        if let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), error = %e, "runtime file not removed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_seal_unseal() -> anyhow::Result<()> {
        let key = NodeKey::generate("kiln@test")?;
        assert!(key.public_key().starts_with("ssh-ed25519 AAAA"));
        assert!(key.public_key().ends_with(" kiln@test"));
        assert!(key.fingerprint().starts_with("SHA256:"));
        let secret = SecretKey::generate()?;
        let sealed = key.seal(&secret, 7)?;
        assert!(!sealed.windows(10).any(|w| w == b"-----BEGIN"), "sealed");
        let back = NodeKey::unseal(&sealed, &secret, 7)?;
        assert_eq!(back.public_key(), key.public_key());
        assert!(NodeKey::unseal(&sealed, &SecretKey::generate()?, 7).is_err());
        assert!(
            NodeKey::unseal(&sealed, &secret, 8).is_err(),
            "bound to its node row"
        );
        let debug = format!("{key:?}");
        assert!(!debug.contains("PRIVATE"), "{debug}");
        Ok(())
    }

    #[test]
    fn materialised_file_is_private_and_usable() -> anyhow::Result<()> {
        let temp = tempfile::tempdir()?;
        let dir = temp.path();
        let key = NodeKey::generate("kiln@test")?;
        let path = key.materialise(dir, 3)?;
        assert_eq!(path, dir.join("run/ssh/node-3.key"));
        let mode = std::fs::metadata(&path)?.permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = std::fs::metadata(path.parent().context("parent")?)?
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
        assert_eq!(key.materialise(dir, 3)?, path, "idempotent");
        let other = NodeKey::generate("kiln@test")?;
        assert_ne!(other.materialise(dir, 4)?, path, "a file per node");
        // ssh-keygen derives the same public key from the file.
        if let Ok(out) = std::process::Command::new("ssh-keygen")
            .arg("-y")
            .arg("-f")
            .arg(&path)
            .output()
        {
            let derived = String::from_utf8(out.stdout)?;
            let expected = key.public_key().rsplit_once(' ').map(|(k, _)| k);
            assert_eq!(
                derived
                    .split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" "),
                expected.unwrap_or_default()
            );
        }
        forget(dir, 3);
        assert!(!path.exists(), "forgotten with its node");
        Ok(())
    }

    #[test]
    fn authorize_command_installs_the_key_once() -> anyhow::Result<()> {
        let key = NodeKey::generate("kiln@test")?;
        let temp = tempfile::tempdir()?;
        let home = temp.path();
        for _ in 0..2 {
            let status = std::process::Command::new("sh")
                .arg("-c")
                .arg(key.authorize_command())
                .env("HOME", home)
                .status()?;
            assert!(status.success());
        }
        let keys = std::fs::read_to_string(home.join(".ssh/authorized_keys"))?;
        assert_eq!(keys, format!("{}\n", key.public_key()));
        Ok(())
    }
}
