//! TLS for Proxmox nodes: certificate pinning by SHA-256 fingerprint (never "accept invalid
//! certificates") and the trust-on-first-use probe that shows a node's certificate.

use std::sync::Arc;
use std::time::Duration;

use kiln_shared::pve::CertificateInfo;
use rustls::DigitallySignedStruct;
use rustls::SignatureScheme;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use super::{Error, Result, pin};

/// SHA-256 of a DER certificate as PVE shows it: `AB:CD:...` (upper-case).
pub fn fingerprint(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Normalises a fingerprint as typed or stored (`ab:cd..`, `abcd..`) to `AB:CD:...`.
pub fn normalize_fingerprint(value: &str) -> Option<String> {
    let hex: String = value
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    Some(
        hex.to_ascii_uppercase()
            .as_bytes()
            .chunks(2)
            .map(|pair| String::from_utf8_lossy(pair).into_owned())
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// A rustls client config that trusts only the certificate with this SHA-256 fingerprint
/// (the same verifier the client uses; for other HTTPS clients, e.g. tests of the lab node).
pub fn pinned_client_config(fingerprint: &str) -> Result<rustls::ClientConfig> {
    let expected = normalize_fingerprint(fingerprint).ok_or_else(|| Error::Config {
        detail: "not a SHA-256 fingerprint".into(),
    })?;
    super::pin::client_config(std::sync::Arc::new(super::pin::PinnedVerifier::new(
        expected,
    )))
}

/// Connects to `host:port`, completes a TLS handshake accepting any certificate, and reports
/// the end-entity certificate (for the user to confirm). Sends no HTTP request.
///
/// The handshake signatures are still verified, so the node holds the certificate's key.
pub async fn probe(host: &str, port: u16, timeout: Duration) -> Result<CertificateInfo> {
    let target = format!("{host}:{port}");
    let failed = |detail: String| Error::Connect {
        host: target.clone(),
        detail,
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let server_name = match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ServerName::IpAddress(ip.into()),
        Err(_) => ServerName::try_from(bare.to_owned())
            .map_err(|_| failed(format!("{host:?} is not a host name or address")))?,
    };
    let config = pin::client_config(Arc::new(AnyCertificate {
        provider: pin::provider(),
    }))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let handshake = async {
        let tcp = tokio::net::TcpStream::connect((bare, port))
            .await
            .map_err(|e| failed(e.to_string()))?;
        let mut tls = connector
            .connect(server_name, tcp)
            .await
            .map_err(|e| failed(format!("TLS handshake failed: {e}")))?;
        let der = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|cert| cert.as_ref().to_vec())
            .ok_or_else(|| failed("the node presented no certificate".into()))?;
        // Best effort: the certificate is what we came for.
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut tls).await;
        Ok(der)
    };
    let der = tokio::time::timeout(timeout, handshake)
        .await
        .map_err(|_| {
            failed(format!(
                "no TLS handshake within {} s",
                timeout.as_secs_f32()
            ))
        })??;
    describe(&der).map_err(|detail| Error::Decode {
        what: format!("the certificate of {target}"),
        detail,
    })
}

/// Fingerprint, names and validity of a DER certificate.
pub fn describe(der: &[u8]) -> std::result::Result<CertificateInfo, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    let validity = cert.validity();
    Ok(CertificateInfo {
        fingerprint: fingerprint(der),
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_before: rfc3339(validity.not_before.timestamp())?,
        not_after: rfc3339(validity.not_after.timestamp())?,
    })
}

fn rfc3339(unix: i64) -> std::result::Result<String, String> {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .ok_or_else(|| format!("{unix} is not a representable time"))
}

/// Accepts any certificate (the probe only looks at it); checks handshake signatures.
#[derive(Debug)]
struct AnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_normalised() {
        let fp = fingerprint(b"hello");
        assert_eq!(fp.len(), 95);
        assert_eq!(normalize_fingerprint(&fp.to_lowercase()), Some(fp.clone()));
        assert_eq!(normalize_fingerprint(&fp.replace(':', "")), Some(fp));
        assert_eq!(normalize_fingerprint("zz"), None);
    }
}
