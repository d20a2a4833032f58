//! Certificate pinning: a rustls verifier that trusts exactly one end-entity certificate,
//! identified by its SHA-256 fingerprint, and still checks the handshake signatures (so the
//! peer must hold the certificate's private key).
//!
//! **Invariant:** there is no "accept invalid certificates" path. A mismatch fails the
//! handshake before any HTTP is sent and surfaces as [`Error::CertificateChanged`] with the
//! fingerprint the node presented, so the user can compare and confirm it.
//!
//! reqwest does not expose rustls' error type, so the verifier reports the mismatch twice: as
//! a [`PinMismatch`] inside the rustls error (found by walking the error's sources), and in a
//! shared [`MismatchSlot`] that the transport reads when the chain is opaque.

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};

use super::tls::fingerprint;
use super::{Error, Result};

/// The fingerprint of the last certificate that did not match the pin.
pub type MismatchSlot = Arc<Mutex<Option<String>>>;

/// The ring provider, given to each rustls config explicitly (no process-wide default).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls client config for `verifier` with the ring provider; HTTP/1.1 only.
pub fn client_config(verifier: Arc<dyn ServerCertVerifier>) -> Result<rustls::ClientConfig> {
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config {
            detail: format!("TLS setup: {e}"),
        })?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The error the verifier puts inside rustls' `CertificateError::Other`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("certificate fingerprint {actual} does not match the pinned one")]
pub struct PinMismatch {
    pub actual: String,
}

/// Trusts the one certificate whose SHA-256 is `expected`.
#[derive(Debug)]
pub struct PinnedVerifier {
    /// Normalised `AB:CD:...`.
    expected: String,
    /// For the signature checks and the list of supported schemes.
    provider: Arc<CryptoProvider>,
    /// Written on a mismatch; read by the transport to build `CertificateChanged`.
    mismatch: MismatchSlot,
}

impl PinnedVerifier {
    /// `expected` must be normalised (see `tls::normalize_fingerprint`).
    pub fn new(expected: String) -> PinnedVerifier {
        PinnedVerifier {
            expected,
            provider: provider(),
            mismatch: MismatchSlot::default(),
        }
    }

    pub fn mismatch_slot(&self) -> MismatchSlot {
        Arc::clone(&self.mismatch)
    }
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let actual = fingerprint(end_entity.as_ref());
        if actual == self.expected {
            return Ok(ServerCertVerified::assertion());
        }
        if let Ok(mut slot) = self.mismatch.lock() {
            *slot = Some(actual.clone());
        }
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(
            OtherError(Arc::new(PinMismatch { actual })),
        )))
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

/// What a failed connection says about certificates, found by walking `err`'s sources.
#[derive(Debug, PartialEq, Eq)]
pub enum CertFailure {
    /// The pin did not match; the presented fingerprint.
    Mismatch(String),
    /// Another certificate problem (rustls rejected the certificate or its signature).
    Other(String),
}

/// Looks through `err`'s source chain for a rustls certificate error. `io::Error` hides its
/// inner error from `source()`, so that one is opened with `get_ref`.
pub fn cert_failure(err: &(dyn std::error::Error + 'static)) -> Option<CertFailure> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    // Bounded: a chain is a handful of links; never loop on a cyclic one.
    for _ in 0..16 {
        let current = next?;
        if let Some(found) = inspect(current) {
            return Some(found);
        }
        next = match current.downcast_ref::<std::io::Error>() {
            Some(io) => match io.get_ref() {
                Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
                None => current.source(),
            },
            None => current.source(),
        };
    }
    None
}

fn inspect(err: &(dyn std::error::Error + 'static)) -> Option<CertFailure> {
    if let Some(mismatch) = err.downcast_ref::<PinMismatch>() {
        return Some(CertFailure::Mismatch(mismatch.actual.clone()));
    }
    match err.downcast_ref::<rustls::Error>()? {
        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(inner))) => {
            match inner.downcast_ref::<PinMismatch>() {
                Some(m) => Some(CertFailure::Mismatch(m.actual.clone())),
                None => Some(CertFailure::Other(inner.to_string())),
            }
        }
        other @ (rustls::Error::InvalidCertificate(_)
        | rustls::Error::PeerIncompatible(_)
        | rustls::Error::PeerMisbehaved(_)) => Some(CertFailure::Other(other.to_string())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatch_is_recorded_and_found_through_nested_io_errors() {
        let verifier = PinnedVerifier::new(fingerprint(b"pinned"));
        let slot = verifier.mismatch_slot();
        let presented = CertificateDer::from(b"presented".to_vec());
        let Err(err) = verifier.verify_server_cert(
            &presented,
            &[],
            &ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()),
            &[],
            UnixTime::now(),
        ) else {
            panic!("a different certificate must be refused");
        };
        let actual = fingerprint(b"presented");
        assert_eq!(
            slot.lock().ok().and_then(|s| s.clone()),
            Some(actual.clone())
        );
        // tokio-rustls and hyper wrap the rustls error in io::Errors (whose `source()` skips
        // the wrapped error).
        let inner = std::io::Error::new(std::io::ErrorKind::InvalidData, err);
        let outer = std::io::Error::other(inner);
        assert_eq!(cert_failure(&outer), Some(CertFailure::Mismatch(actual)));
        let plain = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(cert_failure(&plain), None);
    }
}
