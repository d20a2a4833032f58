//! The lab's self-signed certificate: generated with `rcgen` on first start, kept as PEM in
//! the data directory (`lab-cert.pem`, `lab-key.pem`) and reused after a restart, so a pinned
//! fingerprint stays valid. rustls with the `ring` provider serves it.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The certificate and key the lab serves.
#[derive(Debug)]
pub struct LabCert {
    /// The DER certificate (its SHA-256 is the fingerprint clients pin).
    pub cert: CertificateDer<'static>,
    /// The private key.
    pub key: PrivateKeyDer<'static>,
    /// The certificate as PEM (for `curl --cacert` and tests that trust it as a root).
    pub pem: String,
}

/// Loads the certificate from `dir`, or makes and stores one.
pub fn load_or_create(dir: &Path, names: &[String]) -> anyhow::Result<LabCert> {
    let cert_path = dir.join("lab-cert.pem");
    let key_path = dir.join("lab-key.pem");
    if !(cert_path.exists() && key_path.exists()) {
        let mut sans = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        sans.extend(names.iter().cloned());
        let made = rcgen::generate_simple_self_signed(sans).context("making the certificate")?;
        std::fs::write(&cert_path, made.cert.pem())
            .with_context(|| format!("writing {}", cert_path.display()))?;
        write_private(&key_path, made.signing_key.serialize_pem())?;
    }
    let pem = std::fs::read_to_string(&cert_path)
        .with_context(|| format!("reading {}", cert_path.display()))?;
    let cert = CertificateDer::from_pem_slice(pem.as_bytes())
        .with_context(|| format!("parsing {}", cert_path.display()))?;
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .with_context(|| format!("parsing {}", key_path.display()))?;
    Ok(LabCert { cert, key, pem })
}

/// A rustls server configuration (ring provider, HTTP/1.1) for `cert`.
pub fn server_config(cert: &LabCert) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.clone()], cert.key.clone_key())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn write_private(path: &Path, contents: String) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

/// The SHA-256 fingerprint of a DER certificate as PVE shows it (`AB:CD:...`).
pub fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let hex = hex::encode_upper(digest.as_ref());
    let pairs: Vec<&str> = hex
        .as_bytes()
        .chunks(2)
        .filter_map(|pair| std::str::from_utf8(pair).ok())
        .collect();
    pairs.join(":")
}
