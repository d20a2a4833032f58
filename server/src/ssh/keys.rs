//! Kiln's own SSH key pair (ed25519).
//!
//! Generated once, stored encrypted in `app_meta` (key `ssh_key`, AES-GCM bound to the context
//! `app_meta.ssh_key`), and written at runtime to `<data dir>/run/ssh/kiln_ed25519` (mode 600,
//! directory mode 700) because the system `ssh` reads identities only from files. The user
//! authorizes the public key on each node once, by pasting [`KilnKey::authorize_command`] into
//! the node's shell.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey};
use zeroize::Zeroizing;

use crate::crypto::SecretKey;
use crate::db::DbPool;

use super::quote::quote;

/// The `app_meta` key holding the sealed private key.
pub const META_KEY: &str = "ssh_key";
/// The encryption context (associated data) of the sealed private key.
pub const SEAL_CONTEXT: &str = "app_meta.ssh_key";
/// The private key file's name under `<data dir>/run/ssh/`.
pub const KEY_FILE: &str = "kiln_ed25519";

/// Kiln's key pair. `Debug` shows only the public half.
pub struct KilnKey {
    /// The private key in OpenSSH format (`-----BEGIN OPENSSH PRIVATE KEY-----`); wiped on drop.
    private_openssh: Zeroizing<String>,
    /// `ssh-ed25519 AAAA... kiln@host`.
    public_line: String,
    /// `SHA256:...` of the public key.
    fingerprint: String,
}

impl std::fmt::Debug for KilnKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KilnKey")
            .field("public", &self.public_line)
            .field("private", &"..")
            .finish()
    }
}

/// `kiln@<this machine's hostname>`, the comment new keys get.
pub fn default_comment() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let host: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        .collect();
    if host.is_empty() {
        "kiln".to_owned()
    } else {
        format!("kiln@{host}")
    }
}

impl KilnKey {
    /// A fresh ed25519 key pair with `comment` (e.g. `kiln@console`).
    pub fn generate(comment: &str) -> anyhow::Result<KilnKey> {
        let mut key = PrivateKey::random(&mut ssh_key::rand_core::OsRng, Algorithm::Ed25519)
            .map_err(|e| anyhow::anyhow!("generating the SSH key: {e}"))?;
        key.set_comment(comment);
        let text = key
            .to_openssh(LineEnding::LF)
            .map_err(|e| anyhow::anyhow!("encoding the SSH key: {e}"))?;
        Self::from_openssh(&text)
    }

    /// A key from its OpenSSH private key text.
    pub fn from_openssh(text: &str) -> anyhow::Result<KilnKey> {
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
        Ok(KilnKey {
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

    /// The private key sealed with `secret` for `app_meta`.
    pub fn seal(&self, secret: &SecretKey) -> anyhow::Result<Vec<u8>> {
        secret.encrypt(self.private_openssh.as_bytes(), SEAL_CONTEXT)
    }

    /// The key back from what [`seal`](Self::seal) produced.
    pub fn unseal(sealed: &[u8], secret: &SecretKey) -> anyhow::Result<KilnKey> {
        let plain = Zeroizing::new(secret.decrypt(sealed, SEAL_CONTEXT)?);
        let text = std::str::from_utf8(&plain)
            .map_err(|_| anyhow::anyhow!("the stored SSH private key is not text"))?;
        Self::from_openssh(text)
    }

    /// Writes the private key to `<data_dir>/run/ssh/kiln_ed25519` (directory 700, file 600)
    /// unless it is already there, and returns the path for `ssh -i`.
    pub fn materialise(&self, data_dir: &Path) -> anyhow::Result<PathBuf> {
        let dir = runtime_dir(data_dir)?;
        let path = dir.join(KEY_FILE);
        if let Ok(existing) = std::fs::read(&path).map(Zeroizing::new)
            && existing.as_slice() == self.private_openssh.as_bytes()
        {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("securing {}", path.display()))?;
            return Ok(path);
        }
        let tmp = dir.join(format!("{KEY_FILE}.tmp"));
        let _ = std::fs::remove_file(&tmp);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        file.write_all(self.private_openssh.as_bytes())
            .and_then(|()| file.sync_all())
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("replacing {}", path.display()))?;
        Ok(path)
    }
}

/// `<data_dir>/run/ssh`, created with mode 700.
pub fn runtime_dir(data_dir: &Path) -> anyhow::Result<PathBuf> {
    let dir = data_dir.join("run").join("ssh");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("securing {}", dir.display()))?;
    Ok(dir)
}

/// Kiln's key from the database, generating and storing one on first use.
pub async fn load_or_create(db: &DbPool, secret: &SecretKey) -> anyhow::Result<KilnKey> {
    let mut conn = db.get().await.context("database connection")?;
    if let Some(sealed) = crate::db::meta::get(&mut conn, META_KEY).await? {
        return KilnKey::unseal(&sealed, secret);
    }
    let key = KilnKey::generate(&default_comment())?;
    if crate::db::meta::insert_if_absent(&mut conn, META_KEY, &key.seal(secret)?).await? {
        tracing::info!(ssh.fingerprint = %key.fingerprint(), "generated Kiln's SSH key");
        return Ok(key);
    }
    // Another process stored one first: use that one.
    let sealed = crate::db::meta::get(&mut conn, META_KEY)
        .await?
        .context("the SSH key vanished from app_meta")?;
    KilnKey::unseal(&sealed, secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_seal_unseal() -> anyhow::Result<()> {
        let key = KilnKey::generate("kiln@test")?;
        assert!(key.public_key().starts_with("ssh-ed25519 AAAA"));
        assert!(key.public_key().ends_with(" kiln@test"));
        assert!(key.fingerprint().starts_with("SHA256:"));
        let secret = SecretKey::generate()?;
        let sealed = key.seal(&secret)?;
        assert!(!sealed.windows(10).any(|w| w == b"-----BEGIN"), "sealed");
        let back = KilnKey::unseal(&sealed, &secret)?;
        assert_eq!(back.public_key(), key.public_key());
        assert!(KilnKey::unseal(&sealed, &SecretKey::generate()?).is_err());
        let debug = format!("{key:?}");
        assert!(!debug.contains("PRIVATE"), "{debug}");
        Ok(())
    }

    #[test]
    fn materialised_file_is_private_and_usable() -> anyhow::Result<()> {
        let dir = std::env::temp_dir().join(format!("kiln-key-test-{}", std::process::id()));
        let key = KilnKey::generate("kiln@test")?;
        let path = key.materialise(&dir)?;
        let mode = std::fs::metadata(&path)?.permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = std::fs::metadata(path.parent().context("parent")?)?
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
        assert_eq!(key.materialise(&dir)?, path, "idempotent");
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
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn authorize_command_installs_the_key_once() -> anyhow::Result<()> {
        let key = KilnKey::generate("kiln@test")?;
        let home = std::env::temp_dir().join(format!("kiln-auth-test-{}", std::process::id()));
        std::fs::create_dir_all(&home)?;
        for _ in 0..2 {
            let status = std::process::Command::new("sh")
                .arg("-c")
                .arg(key.authorize_command())
                .env("HOME", &home)
                .status()?;
            assert!(status.success());
        }
        let keys = std::fs::read_to_string(home.join(".ssh/authorized_keys"))?;
        assert_eq!(keys, format!("{}\n", key.public_key()));
        std::fs::remove_dir_all(&home)?;
        Ok(())
    }
}
