//! The HTTPS listener: accepts TCP, completes TLS (rustls), serves HTTP/1.1 with hyper. When
//! the lab turns unreachable (a fault) the listening socket is closed — new connections are
//! refused — and open connections are dropped; when it turns reachable again the same
//! address is bound anew.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::core::Lab;

/// Serves until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
    lab: Arc<Lab>,
    mut shutdown: watch::Receiver<bool>,
) {
    let addr = listener.local_addr().ok();
    let mut listener = Some(listener);
    let mut reachable = lab.reachable.subscribe();
    loop {
        if *shutdown.borrow_and_update() {
            break;
        }
        let up = *reachable.borrow_and_update();
        if !up && listener.is_some() {
            tracing::info!("lab node unreachable: listener closed");
            listener = None;
        } else if up && listener.is_none() {
            match addr {
                Some(addr) => listener = rebind(addr).await,
                None => break,
            }
        }
        match &listener {
            Some(l) => tokio::select! {
                accepted = l.accept() => match accepted {
                    Ok((tcp, _)) => connection(tcp, acceptor.clone(), router.clone(), &lab, &shutdown),
                    Err(e) => tracing::warn!(error = %e, "lab accept failed"),
                },
                changed = reachable.changed() => if changed.is_err() { break },
                _ = shutdown.changed() => {}
            },
            None => tokio::select! {
                changed = reachable.changed() => if changed.is_err() { break },
                _ = shutdown.changed() => {},
                // Retry a failed rebind now and then.
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            },
        }
    }
}

/// Binds `addr` again after an outage (the old socket may linger briefly).
async fn rebind(addr: SocketAddr) -> Option<TcpListener> {
    for _ in 0..50 {
        match TcpListener::bind(addr).await {
            Ok(l) => {
                tracing::info!(%addr, "lab node reachable again");
                return Some(l);
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    tracing::error!(%addr, "lab listener could not be bound again");
    None
}

/// Serves one connection; drops it when the node turns unreachable or the lab stops.
fn connection(
    tcp: TcpStream,
    acceptor: TlsAcceptor,
    router: Router,
    lab: &Arc<Lab>,
    shutdown: &watch::Receiver<bool>,
) {
    let mut reachable = lab.reachable.subscribe();
    let mut shutdown = shutdown.clone();
    tokio::spawn(async move {
        let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
        else {
            return;
        };
        let service = TowerToHyperService::new(router);
        let conn =
            hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), service);
        tokio::pin!(conn);
        loop {
            tokio::select! {
                _ = conn.as_mut() => break,
                changed = reachable.changed() => {
                    if changed.is_err() || !*reachable.borrow_and_update() { break }
                }
                _ = shutdown.changed() => break,
            }
        }
    });
}
