//! Password hashing with argon2id at OWASP's parameters (19 MiB, 2 passes, 1 lane).
//!
//! Hashing is CPU work: callers run it on the blocking pool (`spawn_blocking`).

use std::sync::LazyLock;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

fn hasher() -> anyhow::Result<Argon2<'static>> {
    let params = Params::new(19 * 1024, 2, 1, None)
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
pub fn hash(password: &str) -> anyhow::Result<String> {
    let hash = hasher()?
        .hash_password(password.as_bytes())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))?;
    Ok(hash.to_string())
}

/// Whether `password` matches `hash`. A malformed hash never matches.
pub fn verify(password: &str, hash: &str) -> bool {
    match hasher() {
        Ok(argon) => argon.verify_password(password.as_bytes(), hash).is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random password, verified against when the user does not exist, so a wrong
/// username takes as long as a wrong password.
static DUMMY: LazyLock<String> = LazyLock::new(|| {
    crate::auth::tokens::random_token()
        .ok()
        .and_then(|pw| hash(&pw).ok())
        .unwrap_or_default()
});

/// Spends the same time as [`verify`] and never matches.
pub fn verify_dummy(password: &str) {
    let _ = verify(password, &DUMMY);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify() -> anyhow::Result<()> {
        let h = hash("correct horse battery")?;
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse battery", &h));
        assert!(!verify("wrong horse battery", &h));
        assert!(!verify("x", "not a hash"));
        assert_ne!(hash("correct horse battery")?, h, "salted");
        Ok(())
    }
}
