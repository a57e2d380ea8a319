//! Sockets shared by every protocol: the accept loop with its connection limit, the TLS
//! handshake deadline, and the set of connection tasks that shutdown waits for.
//!
//! Nothing here knows a protocol: each protocol's `conn` module hands a `serve` closure
//! to [`accept_connections`].

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::server::TlsStream;

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

/// A mail connection (IMAP, POP3, SMTP): plain before STARTTLS/STLS, TLS after (or from the
/// start on an implicit-TLS port).
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// The socket under the TLS layer (for readiness waits that hold no buffer).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref().0,
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Write all of `bytes` and flush within `timeout`; false when the connection is done (an
/// error, or a client that stopped reading: the slow-reader guard of every protocol).
pub async fn write_within(timeout: Duration, stream: &mut Stream, bytes: &[u8]) -> bool {
    if bytes.is_empty() {
        return true;
    }
    matches!(
        tokio::time::timeout(timeout, async {
            stream.write_all(bytes).await?;
            stream.flush().await
        })
        .await,
        Ok(Ok(()))
    )
}

/// What a protocol's connection must do after writing a session's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Action {
    #[default]
    Continue,
    /// Upgrade the plain connection to TLS after the reply (IMAP's and SMTP's STARTTLS,
    /// POP3's STLS); bytes the client sent behind the command are dropped (STARTTLS
    /// command injection, CVE-2011-0411).
    StartTls,
    /// Close the connection after writing.
    Close,
}

/// A sans-I/O session's answer to what it was fed: the bytes to write, what the connection
/// does next, and the faults' delay and trickle ([`write_with_faults`] carries them out).
/// One type for IMAP, POP3 and SMTP; each protocol adds its own builders in its session.
#[derive(Debug, Default)]
pub struct Reply {
    pub out: Vec<u8>,
    pub action: Action,
    /// A delay fault (or SMTP's tarpit): wait this long before writing.
    pub delay: Option<Duration>,
    /// A trickle fault: write this many bytes at a time.
    pub trickle: Option<usize>,
}

impl Reply {
    pub fn new() -> Self {
        Self::default()
    }

    /// Append a line (the caller writes its CRLF).
    pub fn line(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }
}

/// Write a reply as the delay and trickle faults ask: wait `delay` first, then write
/// `trickle` bytes at a time (or all at once). False when the connection is done.
pub async fn write_with_faults(
    timeout: Duration,
    stream: &mut Stream,
    out: &[u8],
    delay: Option<Duration>,
    trickle: Option<usize>,
) -> bool {
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    match trickle {
        Some(n) => {
            for chunk in out.chunks(n.max(1)) {
                if !write_within(timeout, stream, chunk).await {
                    return false;
                }
            }
            true
        }
        None => write_within(timeout, stream, out).await,
    }
}
