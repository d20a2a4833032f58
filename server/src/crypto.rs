//! Secrets at rest: AES-256-GCM (ring) with a random 96-bit nonce stored before the
//! ciphertext, and associated data that binds each value to its record (a secret copied into
//! another row does not decrypt).
//!
//! The key comes from `KILN_SECRET_KEY` (32 bytes, base64) or from `<data dir>/secret.key`,
//! created on first run with mode 600. A key check value stored in the database makes a wrong
//! key fail at start with a clear message instead of later, at the first decryption.

use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// The encryption key. Debug never shows it.
#[derive(Clone)]
pub struct SecretKey {
    /// The raw key bytes.
    bytes: [u8; 32],
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// Decryption failed: wrong key, or the value was moved or tampered with.
#[derive(Debug, thiserror::Error)]
#[error("a stored secret could not be decrypted (wrong KILN_SECRET_KEY, or the value was altered)")]
pub struct DecryptError;

impl SecretKey {
    /// A key from its base64 form (`KILN_SECRET_KEY`).
    pub fn from_base64(text: &str) -> anyhow::Result<SecretKey> {
        let raw = STANDARD
            .decode(text.trim())
            .context("configuration key `KILN_SECRET_KEY`: not valid base64")?;
        let bytes: [u8; 32] = raw.try_into().map_err(|_| {
            anyhow::anyhow!(
                "configuration key `KILN_SECRET_KEY`: must be 32 bytes (44 base64 characters)"
            )
        })?;
        Ok(SecretKey { bytes })
    }

    /// A fresh random key.
    pub fn generate() -> anyhow::Result<SecretKey> {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
        Ok(SecretKey { bytes })
    }

    /// The configured key, or the key file in `data_dir` (created with mode 600 when absent).
    pub fn load(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<SecretKey> {
        if let Some(text) = configured {
            return Self::from_base64(text);
        }
        let path = data_dir.join("secret.key");
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                Self::from_base64(&text).with_context(|| format!("reading {}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                use std::io::Write;
                use std::os::unix::fs::OpenOptionsExt;
                let key = Self::generate()?;
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .with_context(|| format!("creating {}", path.display()))?;
                writeln!(file, "{}", STANDARD.encode(key.bytes))?;
                tracing::info!(key.file = %path.display(), "created a new secret key; back it up with the database");
                Ok(key)
            }
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    fn sealing_key(&self) -> anyhow::Result<LessSafeKey> {
        let unbound = UnboundKey::new(&AES_256_GCM, &self.bytes)
            .map_err(|_| anyhow::anyhow!("bad AES key"))?;
        Ok(LessSafeKey::new(unbound))
    }

    /// Encrypts `plain` bound to `context` (e.g. `nodes.token_secret:42`).
    pub fn encrypt(&self, plain: &[u8], context: &str) -> anyhow::Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
        let mut buffer = plain.to_vec();
        self.sealing_key()?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buffer,
            )
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buffer);
        Ok(out)
    }

    /// Decrypts what [`encrypt`](Self::encrypt) produced for the same `context`.
    pub fn decrypt(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>, DecryptError> {
        if sealed.len() < NONCE_LEN {
            return Err(DecryptError);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| DecryptError)?;
        let mut buffer = body.to_vec();
        let key = self.sealing_key().map_err(|_| DecryptError)?;
        let plain = key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
            .map_err(|_| DecryptError)?;
        Ok(plain.to_vec())
    }

    /// Decrypts to a UTF-8 string.
    pub fn decrypt_string(&self, sealed: &[u8], context: &str) -> Result<String, DecryptError> {
        String::from_utf8(self.decrypt(sealed, context)?).map_err(|_| DecryptError)
    }
}

/// The plaintext of the key check value.
const CHECK_PLAIN: &[u8] = b"kiln key check v1";
const CHECK_CONTEXT: &str = "app_meta.key_check";

/// Whether `key` opens the database's key check value (`None`: none is stored yet).
pub async fn key_matches(
    conn: &mut diesel_async::AsyncPgConnection,
    key: &SecretKey,
) -> anyhow::Result<Option<bool>> {
    Ok(crate::db::meta::get(conn, "key_check")
        .await?
        .map(|sealed| key.decrypt(&sealed, CHECK_CONTEXT).ok().as_deref() == Some(CHECK_PLAIN)))
}

/// Verifies `key` against the check value in the database, storing one on first use.
pub async fn verify_key(db: &crate::db::DbPool, key: &SecretKey) -> anyhow::Result<()> {
    let mut conn = db.get().await?;
    match key_matches(&mut conn, key).await? {
        Some(matches) => {
            if !matches {
                bail!(
                    "configuration key `KILN_SECRET_KEY`: this is not the key the database's secrets were \
                     encrypted with (restore the original key or secret.key file)"
                );
            }
        }
        None => {
            let sealed = key.encrypt(CHECK_PLAIN, CHECK_CONTEXT)?;
            crate::db::meta::put(&mut conn, "key_check", &sealed).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() -> anyhow::Result<()> {
        let key = SecretKey::generate()?;
        let sealed = key.encrypt(b"token-secret", "nodes.token_secret:1")?;
        assert!(
            !sealed.windows(12).any(|w| w == b"token-secret"),
            "not in clear"
        );
        assert_eq!(
            key.decrypt(&sealed, "nodes.token_secret:1")?,
            b"token-secret"
        );
        assert!(
            key.decrypt(&sealed, "nodes.token_secret:2").is_err(),
            "bound to its record"
        );
        let other = SecretKey::generate()?;
        assert!(
            other.decrypt(&sealed, "nodes.token_secret:1").is_err(),
            "wrong key fails"
        );
        assert_ne!(
            key.encrypt(b"x", "c")?,
            key.encrypt(b"x", "c")?,
            "fresh nonce each time"
        );
        Ok(())
    }

    #[test]
    fn key_parsing() {
        assert!(SecretKey::from_base64("short").is_err());
        let err = SecretKey::from_base64("c2hvcnQ=")
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert!(matches!(err, Err(ref m) if m.contains("KILN_SECRET_KEY")));
    }
}
