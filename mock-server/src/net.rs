//! Sockets shared by every protocol: the accept loop with its connection limit, the TLS
//! handshake deadline, and the set of connection tasks that shutdown waits for.
//!
//! Nothing here knows a protocol: each protocol's `conn` module hands a `serve` closure
//! to [`accept_connections`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// A TLS handshake that takes longer than this is a stalled or hostile peer.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long shutdown waits for connections in flight to finish their current request
/// (each protocol answers a stop by finishing or saying BYE; this bounds a stuck one).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Accept TCP connections until the server stops, at most `max` at once (more are
/// accepted and closed at once), and run `serve` for each in its own task, which holds
/// its connection slot until it returns. When the server stops, waits up to
/// [`SHUTDOWN_GRACE`] for the connections in flight, then aborts the rest.
pub async fn accept_connections<F, Fut>(
    listener: TcpListener,
    max: usize,
    what: &'static str,
    mut shutdown: watch::Receiver<bool>,
    serve: F,
) where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let limit = Arc::new(Semaphore::new(max));
    let mut connections = JoinSet::new();
    loop {
        // Why select: stop accepting as soon as the server stops, and reap finished
        // connection tasks so the set does not grow with work served.
        let accepted = tokio::select! {
            _ = shutdown.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            r = listener.accept() => r,
        };
        let (tcp, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "{what} accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "{what} connection limit reached; closing");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let connection = serve(tcp, peer);
        connections.spawn(async move {
            let _permit = permit;
            connection.await;
        });
    }
    drop(listener);
    // Connections saw the same shutdown signal and are finishing; wait for them.
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::debug!(
            left = connections.len(),
            "{what}: connections still open after the grace period; aborting"
        );
        connections.abort_all();
    }
}

/// The host form of a listening address for URLs: `127.0.0.1`, `[::1]`; an unspecified
/// address is reached as `127.0.0.1`.
pub fn url_host(addr: SocketAddr) -> String {
    match addr.ip() {
        ip if ip.is_unspecified() => "127.0.0.1".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        std::net::IpAddr::V4(ip) => ip.to_string(),
    }
}
