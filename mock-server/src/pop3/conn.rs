//! The POP3 connection: the only POP3 code that touches a socket.
//!
//! It splits the byte stream into CRLF lines (a bare LF ends nothing, as on Exchange,
//! where a client sending LF alone waits for an answer that never comes), holds at most
//! the current line limit of an unfinished line, feeds the sans-I/O [`Session`] one line
//! at a time (pipelined commands are answered in order), and writes its replies. Implicit
//! TLS (995) and STLS (110) both end up here.

use super::session::{Action, Reply, Session};
use crate::net::{write_within as write, Stream};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

/// A write that takes longer than this means the client stopped reading (slow reader);
/// the same bound as IMAP's.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// Bytes read per call. Every idle connection holds one while it waits in `read`, so it
/// is small (10,000 idle sessions hold 20 MB of these).
const READ_BUFFER: usize = 2048;

/// Close the write side, bounded (a TLS close_notify can block on a client not reading).
async fn close(timeout: Duration, stream: &mut Stream) {
    let _ = tokio::time::timeout(timeout, stream.shutdown()).await;
}

/// Write a reply (after a delay fault's wait, trickled by a trickle fault); false when
/// the connection is done.
async fn finish(timeout: Duration, stream: &mut Stream, reply: &Reply) -> bool {
    let ok = crate::net::write_with_faults(timeout, stream, &reply.out, reply.delay, reply.trickle).await;
    if reply.action == Action::Close || !ok {
        close(timeout, stream).await;
        return false;
    }
    true
}

/// Where the first CRLF starts.
fn find_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

/// Serve one connection until it ends. `starttls` is the acceptor for STLS (port 110) or
/// `None` when `stream` is already TLS.
pub async fn serve(
    mut stream: Stream,
    mut session: Session,
    starttls: Option<tokio_rustls::TlsAcceptor>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let wt = session.config().write_timeout;
    if !write(wt, &mut stream, &session.greeting()).await {
        return;
    }
    // The pre-authentication deadline counts from the connection's start, so bytes
    // dripping in cannot extend it; once authenticated, the autologout counts from the
    // last complete command.
    let connected = Instant::now();
    let mut last_command = connected;
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; READ_BUFFER];
    loop {
        // Answer every complete line received, in order (pipelining).
        while let Some(end) = find_crlf(&pending) {
            let reply = if end > session.line_limit() {
                session.too_long(&pending[..end])
            } else {
                session.line(&pending[..end])
            };
            pending.drain(..end + 2);
            last_command = Instant::now();
            if reply.action == Action::StartTls {
                if !write(wt, &mut stream, &reply.out).await {
                    return;
                }
                let Some(acceptor) = starttls.clone() else { return };
                let Stream::Plain(tcp) = stream else { return };
                // Anything the client sent behind STLS before the handshake is dropped:
                // it must not be read as if it came over TLS (CVE-2011-0411).
                pending = Vec::new();
                match tokio::time::timeout(crate::net::TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => stream = Stream::Tls(Box::new(tls)),
                    _ => return,
                }
                session.tls_started();
                break;
            }
            if !finish(wt, &mut stream, &reply).await {
                return;
            }
        }
        // No complete line is left. An unfinished one may hold the limit plus its CR,
        // no more: this bounds what a connection holds.
        if pending.len() > session.line_limit() + 1 {
            let reply = session.too_long(&pending);
            let _ = finish(wt, &mut stream, &reply).await;
            return;
        }
        let deadline = if session.is_authenticated() {
            last_command + session.config().idle_timeout
        } else {
            connected + session.config().pre_auth_timeout
        };
        // Between lines, free what the last long line (an AUTH response) left behind.
        if pending.is_empty() && pending.capacity() > READ_BUFFER {
            pending = Vec::new();
        }
        // Why select: the next bytes come from the client, but the deadline and the
        // server stopping must end the wait too.
        tokio::select! {
            r = tokio::time::timeout_at(deadline, stream.read(&mut buf)) => match r {
                // EOF (a half-closed socket included): every complete line before it has
                // been answered above; an unfinished one is dropped.
                Ok(Ok(0)) | Ok(Err(_)) => {
                    close(wt, &mut stream).await;
                    return;
                }
                Ok(Ok(n)) => pending.extend_from_slice(&buf[..n]),
                Err(_) => {
                    let reply = session.timed_out();
                    let _ = finish(wt, &mut stream, &reply).await;
                    return;
                }
            },
            _ = shutdown.changed() => {
                close(wt, &mut stream).await;
                return;
            }
        }
    }
}

/// Accept POP3 connections until shutdown. `implicit_tls` says whether the port speaks
/// TLS from the first byte (995) or offers STLS (110).
pub async fn accept_loop(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    implicit_tls: bool,
    pop: Arc<super::Pop3State>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let max = pop.config.max_connections;
    let stop = shutdown.clone();
    crate::net::accept_connections(listener, max, "POP3", stop, move |tcp, peer| {
        let acceptor = acceptor.clone();
        let pop = pop.clone();
        let shutdown = shutdown.clone();
        async move {
            let session = Session::new(pop, peer.to_string(), implicit_tls);
            if implicit_tls {
                let tls = match tokio::time::timeout(crate::net::TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    _ => return,
                };
                serve(Stream::Tls(Box::new(tls)), session, None, shutdown).await;
            } else {
                serve(Stream::Plain(tcp), session, Some(acceptor), shutdown).await;
            }
        }
    })
    .await
}
