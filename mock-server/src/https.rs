//! The HTTPS front: TLS, hyper's HTTP/1 and HTTP/2, and the dispatch of `/_mock/…` to the
//! admin API and the web console, and everything else to the identity platform.

use crate::admin::{self, Admin, AdminAccess};
use crate::identity::routes::DropConnection;
use crate::identity::{self, IdentityState};
use crate::net::{accept_connections, SHUTDOWN_GRACE, TLS_HANDSHAKE_TIMEOUT};
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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
/// Time from a request's head to its answer: receiving the body and handling it. Token
/// requests are a few hundred bytes sent at once; 30 s matches the head's allowance and
/// carries the admin API's largest upload (48 MB) many times over on loopback. nginx's
/// `client_body_timeout` is 60 s between two reads; a total is what stops a slow trickle.
/// A request still unanswered then gets `408 Request Timeout` and its connection closes.
pub const HTTP_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// A connection (HTTP/1 keep-alive or HTTP/2) with no request in flight for this long is
/// closed (HTTP/2 with GOAWAY). IIS, which fronts Microsoft's endpoints, closes idle
/// connections after 120 s (`connectionTimeout`, its default).
pub const HTTP_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// HTTP/2 PING every this often on a connection, to find peers that vanished without a
/// FIN. hyper's own keep-alive example interval.
pub const HTTP2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// A PING not acknowledged within this closes the connection (hyper's default, 20 s).
pub const HTTP2_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// Limits of the HTTPS listener.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Time to send a request head ([`HTTP_HEADER_READ_TIMEOUT`]).
    pub header_read_timeout: Duration,
    /// Largest request head ([`MAX_HTTP_HEADER_BYTES`]).
    pub max_header_bytes: usize,
    /// HTTPS connections at once ([`MAX_HTTPS_CONNECTIONS`]).
    pub max_connections: usize,
    /// From a request's head to its answer ([`HTTP_REQUEST_TIMEOUT`]).
    pub request_timeout: Duration,
    /// Connection without a request in flight ([`HTTP_IDLE_TIMEOUT`]).
    pub idle_timeout: Duration,
    /// HTTP/2 PING interval ([`HTTP2_KEEP_ALIVE_INTERVAL`]).
    pub http2_keep_alive_interval: Duration,
    /// HTTP/2 PING acknowledgement deadline ([`HTTP2_KEEP_ALIVE_TIMEOUT`]).
    pub http2_keep_alive_timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: HTTP_HEADER_READ_TIMEOUT,
            max_header_bytes: MAX_HTTP_HEADER_BYTES,
            max_connections: MAX_HTTPS_CONNECTIONS,
            request_timeout: HTTP_REQUEST_TIMEOUT,
            idle_timeout: HTTP_IDLE_TIMEOUT,
            http2_keep_alive_interval: HTTP2_KEEP_ALIVE_INTERVAL,
            http2_keep_alive_timeout: HTTP2_KEEP_ALIVE_TIMEOUT,
        }
    }
}

/// Requests in flight on one connection and when the last one began or ended, for the
/// idle deadline. Times are milliseconds since the connection was accepted.
struct Activity {
    opened: tokio::time::Instant,
    in_flight: AtomicUsize,
    last_ms: AtomicU64,
}

/// Marks a request in flight until dropped (also when its future is cancelled).
struct InFlight(Arc<Activity>);

impl Activity {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            opened: tokio::time::Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
        })
    }

    fn touch(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.touch();
        InFlight(self.clone())
    }

    /// When the connection will have been idle for `idle`, if nothing happens first;
    /// `None` while a request is in flight (the request deadline bounds that).
    fn idle_deadline(&self, idle: Duration) -> Option<tokio::time::Instant> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        Some(self.opened + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)) + idle)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The answer to a request that did not arrive (or was not handled) in time.
fn request_timeout() -> hyper::Response<identity::routes::Body> {
    let mut r = hyper::Response::new(identity::routes::Body::default());
    *r.status_mut() = hyper::StatusCode::REQUEST_TIMEOUT;
    r.headers_mut().insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    r
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
        let shutdown = shutdown.clone();
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
            serve_connection(tls, routes, &config, peer, shutdown).await;
        }
    })
    .await
}

/// Serve HTTP/1 or HTTP/2 on one connection whose TLS is done (or, for the fuzz target
/// and its stable smoke test, on any in-memory byte stream), with the listener's limits,
/// until the peer closes, the server stops or the connection sits idle too long. Public
/// so that the request-head parsing and routing can be fuzzed without TLS or sockets.
pub async fn serve_connection<I>(
    io: I,
    routes: Arc<Routes>,
    config: &HttpConfig,
    peer: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .max_buf_size(config.max_header_bytes);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(config.http2_keep_alive_interval))
        .keep_alive_timeout(config.http2_keep_alive_timeout)
        .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX));
    let activity = Activity::new();
    let requests = activity.clone();
    let request_deadline = config.request_timeout;
    let service = hyper::service::service_fn(move |req| {
        let in_flight = requests.begin();
        let answer = dispatch(req, routes.clone(), peer);
        async move {
            let _in_flight = in_flight;
            // The body is read inside the handler: this bounds a slow trickle.
            match tokio::time::timeout(request_deadline, answer).await {
                Ok(r) => r,
                Err(_) => {
                    tracing::debug!(%peer, "HTTP request not received in time; 408");
                    Ok(request_timeout().map(BodyExt::boxed_unsync))
                }
            }
        }
    });
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    loop {
        let idle_at = activity.idle_deadline(config.idle_timeout);
        let recheck = tokio::time::Instant::now() + config.idle_timeout;
        // Why select: the connection ends by itself, or the server stops (finish
        // the request in flight, then close), or it sat idle too long (close,
        // HTTP/2 with GOAWAY), checked again whenever a request was in flight.
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
                }
                break;
            }
            _ = shutdown.changed() => {
                conn.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(SHUTDOWN_GRACE, conn.as_mut()).await;
                break;
            }
            _ = tokio::time::sleep_until(idle_at.unwrap_or(recheck)) => {
                if activity.idle_deadline(config.idle_timeout).is_some_and(|at| at <= tokio::time::Instant::now()) {
                    tracing::debug!(%peer, "HTTP connection idle; closing");
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(SHUTDOWN_GRACE, conn.as_mut()).await;
                    break;
                }
            }
        }
    }
}
