//! A node's SSH host key: fetched with `ssh-keyscan` (Debian `openssh-client`), shown to the
//! user as a `SHA256:...` fingerprint (as `ssh-keygen -lf` prints it), stored on confirmation
//! (`nodes.ssh_host_key`, as `ssh-ed25519 AAAA...`), and pinned: each connection gets a
//! known_hosts file holding only that key under a fixed alias, used with
//! `StrictHostKeyChecking=yes`, so any other key fails with "host key changed".

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use ssh_key::{HashAlg, PublicKey};

use super::{SshError, Target};

/// The name pinned keys are filed under (`HostKeyAlias`), so the known_hosts file does not
/// depend on how the host is spelled or which port it uses.
pub const HOST_KEY_ALIAS: &str = "kiln-pinned-node";

/// A host public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    /// `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, ...
    algorithm: String,
    /// The key blob, base64.
    base64: String,
    /// `SHA256:...`.
    fingerprint: String,
}

impl HostKey {
    /// Parses `ALGORITHM BASE64 [comment]` (a `.pub` file or the stored form), or a
    /// known_hosts / `ssh-keyscan` line `HOST ALGORITHM BASE64`.
    pub fn parse(text: &str) -> Result<HostKey, String> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let (algorithm, base64) = match fields.as_slice() {
            // `HOST TYPE BASE64` (known_hosts, ssh-keyscan)
            [_, b, c, ..] if !b.starts_with("AAAA") => (*b, *c),
            // `TYPE BASE64 [comment]`
            [a, b, ..] => (*a, *b),
            _ => return Err("not an SSH public key (expected `TYPE BASE64`)".to_owned()),
        };
        let key = PublicKey::from_openssh(&format!("{algorithm} {base64}"))
            .map_err(|e| format!("not a usable SSH public key: {e}"))?;
        Ok(HostKey {
            algorithm: key.algorithm().as_str().to_owned(),
            base64: base64.to_owned(),
            fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
        })
    }

    /// The key type.
    pub fn algorithm(&self) -> &str {
        &self.algorithm
    }

    /// `SHA256:...`, as `ssh-keygen -lf` and ssh's own prompts show it.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// `ALGORITHM BASE64`: the form to store and to pass to [`HostKey::parse`].
    pub fn to_openssh(&self) -> String {
        format!("{} {}", self.algorithm, self.base64)
    }

    /// Preference when a node offers several: ed25519, then ECDSA, then RSA.
    fn rank(&self) -> u8 {
        match self.algorithm.as_str() {
            "ssh-ed25519" => 0,
            a if a.starts_with("ecdsa-") => 1,
            "ssh-rsa" => 2,
            _ => 3,
        }
    }
}

impl std::fmt::Display for HostKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.algorithm, self.fingerprint)
    }
}

/// Refuses host names `ssh-keyscan`/`ssh` could take for options or that are not names.
pub fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty()
        || host.starts_with('-')
        || host.len() > 253
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_' | '%'))
    {
        return Err(format!("`{host}` is not a host name or address"));
    }
    Ok(())
}

/// Every host key `host:port` offers (ed25519, ECDSA, RSA), best first. The host is resolved
/// once and `ssh-keyscan` is given the address (see [`super::address`]).
pub async fn scan(host: &str, port: u16, timeout: Duration) -> Result<Vec<HostKey>, SshError> {
    let target = Target {
        user: String::new(),
        host: host.to_owned(),
        port,
    };
    check_host(host).map_err(SshError::Local)?;
    super::address::each_address(&target, |address| scan_address(&target, address, timeout)).await
}

/// [`scan`] of one address.
async fn scan_address(
    target: &Target,
    address: String,
    timeout: Duration,
) -> Result<Vec<HostKey>, SshError> {
    let target = target.clone();
    let port = target.port;
    let secs = timeout.as_secs().max(1);
    let mut cmd = tokio::process::Command::new("ssh-keyscan");
    cmd.arg("-T")
        .arg(secs.to_string())
        .arg("-p")
        .arg(port.to_string())
        .arg("-t")
        .arg("ed25519,ecdsa,rsa")
        .arg("--")
        .arg(&address)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(timeout + Duration::from_secs(5), cmd.output())
        .await
        .map_err(|_| SshError::Unreachable {
            target: target.clone(),
            detail: "ssh-keyscan timed out".to_owned(),
        })?
        .map_err(|e| {
            SshError::Local(format!(
                "cannot run ssh-keyscan (install Debian's openssh-client): {e}"
            ))
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut keys: Vec<HostKey> = stdout
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| HostKey::parse(l).ok())
        .collect();
    keys.sort_by_key(HostKey::rank);
    keys.dedup();
    if keys.is_empty() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let detail = stderr
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(if detail.is_empty() {
            SshError::Unreachable {
                target,
                detail: "no SSH host key received (nothing listening, or not an SSH server)"
                    .to_owned(),
            }
        } else {
            SshError::from_ssh_text(&target, &detail)
        });
    }
    Ok(keys)
}

/// The key to pin for `host:port`: the best one it offers.
pub async fn fetch(host: &str, port: u16) -> Result<HostKey, SshError> {
    let keys = scan(host, port, Duration::from_secs(5)).await?;
    keys.into_iter()
        .next()
        .ok_or_else(|| SshError::Local("no host key".to_owned()))
}

/// The known_hosts line pinning `key` under [`HOST_KEY_ALIAS`].
pub fn known_hosts_line(key: &HostKey) -> String {
    format!("{HOST_KEY_ALIAS} {}\n", key.to_openssh())
}

/// Writes the known_hosts file for one connection, holding only `key`, in `dir` (mode 600).
/// `name` distinguishes nodes (e.g. the node id).
pub fn write_known_hosts(dir: &Path, name: &str, key: &HostKey) -> anyhow::Result<PathBuf> {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path = dir.join(format!("known_hosts.{safe}"));
    // A fresh mode-600 file from `tempfile`, renamed over the old one.
    let mut file = tempfile::Builder::new()
        .prefix(&format!("known_hosts.{safe}."))
        .tempfile_in(dir)
        .with_context(|| format!("creating a file in {}", dir.display()))?;
    file.write_all(known_hosts_line(key).as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    file.persist(&path)
        .with_context(|| format!("replacing {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    #[test]
    fn parses_the_forms_and_matches_ssh_keygen() -> anyhow::Result<()> {
        let plain = HostKey::parse(&format!("ssh-ed25519 {ED}")).map_err(anyhow::Error::msg)?;
        let commented =
            HostKey::parse(&format!("ssh-ed25519 {ED} root@pve")).map_err(anyhow::Error::msg)?;
        let scanned = HostKey::parse(&format!("[10.0.0.5]:2222 ssh-ed25519 {ED}"))
            .map_err(anyhow::Error::msg)?;
        assert_eq!(plain, commented);
        assert_eq!(plain, scanned);
        assert_eq!(plain.to_openssh(), format!("ssh-ed25519 {ED}"));
        assert!(plain.fingerprint().starts_with("SHA256:"));
        // The same fingerprint as `ssh-keygen -lf`.
        let temp = tempfile::tempdir()?;
        let file = temp.path().join("hk.pub");
        std::fs::write(&file, format!("ssh-ed25519 {ED}\n"))?;
        if let Ok(out) = std::process::Command::new("ssh-keygen")
            .arg("-lf")
            .arg(&file)
            .output()
        {
            let text = String::from_utf8(out.stdout)?;
            assert!(text.contains(plain.fingerprint()), "{text}");
        }
        assert!(HostKey::parse("ssh-ed25519 AAAAnotbase64!").is_err());
        assert!(HostKey::parse("garbage").is_err());
        Ok(())
    }

    #[test]
    fn hosts_that_look_like_options_are_refused() {
        assert!(check_host("-oProxyCommand=x").is_err());
        assert!(check_host("a b").is_err());
        assert!(check_host("").is_err());
        assert!(check_host("pve.example.com").is_ok());
        assert!(check_host("fe80::1%eth0").is_ok());
        assert!(check_host("127.0.0.1").is_ok());
    }
}
