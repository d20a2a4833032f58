//! The Proxmox client reads at most `proxmox::MAX_BODY` of an answer: a node (or anything
//! posing as one) that streams 100 MB gets a clear `Error::TooLarge`, quickly, without the
//! client holding 100 MB.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Response, header};
use axum::routing::get;
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use futures::StreamExt;
use kiln_server::proxmox::tls::fingerprint;
use kiln_server::proxmox::{Client, ClientConfig, Error, MAX_BODY, ProxmoxApi};

use crate::pve_stub::{TestResult, token_auth};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const HUGE: usize = 100 * 1000 * 1000;
const CHUNK: usize = 1024 * 1024;

/// An HTTPS server whose `/api2/json/version` streams `HUGE` bytes of a JSON string, with or
/// without `Content-Length`. Returns the client config and the bytes it produced so far.
async fn huge_node(
    content_length: bool,
) -> Result<(ClientConfig, Arc<AtomicUsize>, Handle<std::net::SocketAddr>), BoxError> {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])?;
    let cert_der = certified.cert.der().to_vec();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![rustls::pki_types::CertificateDer::from(cert_der.clone())],
            rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into()),
        )?;
    let produced = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&produced);
    let app = Router::new().route(
        "/api2/json/version",
        get(move || {
            let counter = Arc::clone(&counter);
            async move {
                let chunks = futures::stream::iter(0..HUGE / CHUNK).map(move |i| {
                    counter.fetch_add(CHUNK, Ordering::Relaxed);
                    let mut chunk = vec![b'a'; CHUNK];
                    if i == 0 {
                        chunk[..10].copy_from_slice(b"{\"data\":\"a");
                    }
                    Ok::<_, std::io::Error>(Bytes::from(chunk))
                });
                let mut response = Response::new(Body::from_stream(chunks));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                if content_length {
                    response
                        .headers_mut()
                        .insert(header::CONTENT_LENGTH, HeaderValue::from(HUGE));
                }
                response
            }
        }),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let handle = Handle::new();
    let server = axum_server::from_tcp_rustls(listener, RustlsConfig::from_config(Arc::new(tls)))?
        .handle(handle.clone());
    tokio::spawn(async move {
        let _ = server.serve(app.into_make_service()).await;
    });
    let config = ClientConfig {
        host: "127.0.0.1".into(),
        port: addr.port(),
        fingerprint: fingerprint(&cert_der),
        auth: token_auth(),
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(60),
    };
    Ok((config, produced, handle))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_100_mb_answer_is_a_clear_error() -> TestResult {
    for content_length in [false, true] {
        let (config, produced, handle) = huge_node(content_length).await?;
        let client = Client::new(config)?;
        let started = Instant::now();
        let result = client.version().await;
        let took = started.elapsed();
        let sent = produced.load(Ordering::Relaxed);
        println!(
            "content-length {content_length}: {:?} after {took:?}, {} MiB produced",
            result.as_ref().err().map(ToString::to_string),
            sent / CHUNK
        );
        match result {
            Err(Error::TooLarge { what, limit_mib }) => {
                assert_eq!(what, "GET /version");
                assert_eq!(limit_mib, MAX_BODY / (1024 * 1024));
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
        let message = Error::TooLarge {
            what: "GET /version".into(),
            limit_mib: 32,
        }
        .to_string();
        assert!(message.contains("larger than 32 MiB"), "{message}");
        // Kiln stopped reading: the stub could not push (much) more than the cap into the socket.
        assert!(sent < HUGE / 2, "{sent} bytes were produced");
        if content_length {
            assert!(
                sent < MAX_BODY,
                "refused by Content-Length before reading: {sent}"
            );
        }
        assert!(took < Duration::from_secs(20), "took {took:?}");
        handle.shutdown();
    }
    Ok(())
}
