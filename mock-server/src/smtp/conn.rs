//! The SMTP connection: the only SMTP code that touches a socket. It reads bytes, feeds
//! the sans-I/O [`Session`], writes its replies, upgrades to TLS on STARTTLS and enforces
//! the deadlines: a total one before authentication (a drip of bytes cannot extend it)
//! and an inactivity one after.

use super::session::{Action, Reply, Session};
use super::SmtpState;
use crate::net::{write_within as write, Stream};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A write that takes longer than this means the client stopped reading (slow reader).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// Bytes read per call. Every idle connection holds one while it waits, so it is small;
/// the session holds at most a line beyond it.
const READ_BUFFER: usize = 2048;

/// Write a reply (after a delay, trickled by a trickle fault); false when the connection
/// is done.
async fn finish(timeout: Duration, stream: &mut Stream, reply: &Reply) -> bool {
    let ok = crate::net::write_with_faults(timeout, stream, &reply.out, reply.delay, reply.trickle).await;
    if reply.action == Action::Close || !ok {
        let _ = stream.shutdown().await;
        return false;
    }
    true
}

/// Serve one connection (plain, offering STARTTLS) until it ends.
pub async fn serve(
    mut stream: Stream,
    mut session: Session,
    acceptor: tokio_rustls::TlsAcceptor,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let wt = session.config().write_timeout;
    if !write(wt, &mut stream, &session.banner()).await {
        return;
    }
    let pre_auth = session.config().pre_auth_timeout;
    let idle = session.config().idle_timeout;
    let deadline = tokio::time::Instant::now() + pre_auth;
    let mut buf = vec![0u8; READ_BUFFER];
    loop {
        let authenticated = session.is_authenticated();
        let until = if authenticated {
            tokio::time::Instant::now() + idle
        } else {
            deadline
        };
        // Why select: the next bytes may come from the client, or the deadline may pass,
        // or the server may stop; each gets its own answer.
        let n = tokio::select! {
            r = tokio::time::timeout_at(until, stream.read(&mut buf)) => match r {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    session.disconnected();
                    return;
                }
                Ok(Ok(n)) => n,
                Err(_) => {
                    let why = if authenticated {
                        format!("no input for {idle:?} (ConnectionInactivityTimeout)")
                    } else {
                        format!("not authenticated within {pre_auth:?} of connecting")
                    };
                    let reply = session.timed_out(why);
                    let _ = write(wt, &mut stream, &reply.out).await;
                    let _ = stream.shutdown().await;
                    return;
                }
            },
            _ = shutdown.changed() => {
                let _ = write(wt, &mut stream, super::personality::SHUTTING_DOWN.as_bytes()).await;
                let _ = stream.shutdown().await;
                return;
            }
        };
        let reply = session.feed(&buf[..n]);
        if reply.action == Action::StartTls {
            if !finish(wt, &mut stream, &reply).await {
                return;
            }
            let Stream::Plain(tcp) = stream else { return };
            // Whatever the client sent behind STARTTLS was dropped by the session; the
            // handshake starts from a clean socket.
            match tokio::time::timeout(crate::net::TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => stream = Stream::Tls(Box::new(tls)),
                _ => return,
            }
            session.tls_started();
        } else if !finish(wt, &mut stream, &reply).await {
            return;
        }
    }
}

/// Accept SMTP connections until shutdown.
pub async fn accept_loop(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    smtp: Arc<SmtpState>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let max = smtp.config.max_connections;
    let stop = shutdown.clone();
    crate::net::accept_connections(listener, max, "SMTP", stop, move |tcp, peer| {
        let acceptor = acceptor.clone();
        let smtp = smtp.clone();
        let shutdown = shutdown.clone();
        async move {
            let session = Session::new(smtp, peer);
            serve(Stream::Plain(tcp), session, acceptor, shutdown).await;
        }
    })
    .await
}
