//! The HTTPS front: TLS, hyper's HTTP/1 and HTTP/2, and the dispatch of `/_mock/…` to the
//! admin API and the web console, and everything else to the identity platform.

use crate::admin::{self, Admin, AdminAccess};
use crate::identity::routes::DropConnection;
use crate::identity::{self, IdentityState};
use crate::net::{accept_connections, SHUTDOWN_GRACE, TLS_HANDSHAKE_TIMEOUT};
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Time allowed to send a request head (slowloris guard). Browsers and MSAL send it at
/// once; nginx uses 60 s for `client_header_timeout`, we need far less.
pub const HTTP_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request head: Entra rejects far smaller ones; 64 KiB is nginx's
/// `large_client_header_buffers` default total (4 × 8 KiB) with room to spare.
pub const MAX_HTTP_HEADER_BYTES: usize = 64 * 1024;
/// Concurrent HTTPS connections; more are accepted and closed at once.
pub const MAX_HTTPS_CONNECTIONS: usize = 4096;

/// Limits of the HTTPS listener.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Time to send a request head ([`HTTP_HEADER_READ_TIMEOUT`]).
    pub header_read_timeout: Duration,
    /// Largest request head ([`MAX_HTTP_HEADER_BYTES`]).
    pub max_header_bytes: usize,
    /// HTTPS connections at once ([`MAX_HTTPS_CONNECTIONS`]).
    pub max_connections: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: HTTP_HEADER_READ_TIMEOUT,
            max_header_bytes: MAX_HTTP_HEADER_BYTES,
            max_connections: MAX_HTTPS_CONNECTIONS,
        }
    }
}

/// What a request can be sent to.
pub struct Routes {
    pub identity: Arc<IdentityState>,
    pub admin: Admin,
    pub access: AdminAccess,
}

/// Every response body: most are whole (`Full`), the console's live journal streams.
pub type Body = admin::console::Body;

/// A request goes to the admin API, the console or the identity platform; a drop fault
/// comes back as the service's error, so hyper closes the connection without answering.
async fn dispatch(
    req: hyper::Request<hyper::body::Incoming>,
    routes: Arc<Routes>,
    peer: SocketAddr,
) -> Result<hyper::Response<Body>, DropConnection> {
    let path = req.uri().path();
    if path.starts_with(admin::http::PREFIX) {
        if let Some(r) = admin::http::handle(req, &routes.admin, &routes.access, peer).await {
            return Ok(r.map(BodyExt::boxed_unsync));
        }
        return Ok(identity::routes::not_found().map(BodyExt::boxed_unsync));
    }
    if admin::console::serves(path) {
        if let Some(r) = admin::console::handle(req, &routes.admin, &routes.access, peer).await {
            return Ok(r);
        }
        return Ok(identity::routes::not_found().map(BodyExt::boxed_unsync));
    }
    let r = identity::routes::handle(req, &routes.identity, peer).await;
    if r.extensions().get::<DropConnection>().is_some() {
        return Err(DropConnection);
    }
    Ok(r.map(BodyExt::boxed_unsync))
}

/// Serve HTTPS on `listener` until `shutdown` turns true.
pub async fn accept_loop(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    routes: Arc<Routes>,
    config: HttpConfig,
    shutdown: watch::Receiver<bool>,
) {
    let max = config.max_connections;
    let stop = shutdown.clone();
    accept_connections(listener, max, "HTTPS", stop, move |tcp, peer| {
        let acceptor = acceptor.clone();
        let routes = routes.clone();
        let config = config.clone();
        let mut shutdown = shutdown.clone();
        async move {
            let tls = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(config.header_read_timeout)
                .max_buf_size(config.max_header_bytes);
            builder
                .http2()
                .timer(TokioTimer::new())
                .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX));
            let service = hyper::service::service_fn(move |req| dispatch(req, routes.clone(), peer));
            let conn = builder.serve_connection(TokioIo::new(tls), service);
            tokio::pin!(conn);
            // Why select: finish the request in flight, then close, when the server stops.
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
                    }
                }
                _ = shutdown.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(SHUTDOWN_GRACE, conn).await;
                }
            }
        }
    })
    .await
}
