//! The IMAP connection: the only IMAP code that touches a socket, and it decides nothing.
//!
//! It reads bytes and feeds them to the sans-I/O [`Session`] (which frames them and
//! applies every limit), writes the replies that come out and does what they say (close,
//! TLS handshake for STARTTLS), and waits for the client, a mailbox change while idling,
//! the session's deadline or the server stopping. Implicit TLS and STARTTLS both end up
//! here.

use super::session::{Action, Reply, Session};
use crate::net::{write_within as write, Stream};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// A write that takes longer than this means the client stopped reading (slow reader).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// Bytes read per call. The buffer exists only while a read completes (a waiting
/// connection holds none), so it can be as large as a TLS record's plaintext.
const READ_BUFFER: usize = 16 * 1024;
/// A TLS alert record: type alert (21), version TLS 1.2, length 2, fatal (2),
/// handshake_failure (40) (RFC 5246 §7.2), what a server sends when it cannot agree.
const HANDSHAKE_FAILURE_ALERT: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28];

/// A TLS handshake failure fault: read the ClientHello (so closing does not reset the
/// connection under the client's feet), answer a fatal handshake_failure alert, close.
async fn fail_tls(mut tcp: TcpStream) {
    let mut buf = vec![0u8; READ_BUFFER];
    let _ = tokio::time::timeout(crate::net::TLS_HANDSHAKE_TIMEOUT, tcp.read(&mut buf)).await;
    let _ = tcp.write_all(&HANDSHAKE_FAILURE_ALERT).await;
    let _ = tcp.shutdown().await;
}

/// The client's next bytes (`None` at the end of the stream or on an error). No buffer is
/// held while waiting: one read is tried (TLS may hold decrypted bytes already), and only
/// when it would block does the wait on the socket begin, with the buffer freed.
async fn read(stream: &mut Stream) -> Option<Vec<u8>> {
    loop {
        let mut buf = vec![0u8; READ_BUFFER];
        let mut rb = ReadBuf::new(&mut buf);
        let polled = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *stream).poll_read(cx, &mut rb))).await;
        match polled {
            Poll::Ready(Ok(())) => {
                let n = rb.filled().len();
                if n == 0 {
                    return None;
                }
                buf.truncate(n);
                return Some(buf);
            }
            Poll::Ready(Err(_)) => return None,
            Poll::Pending => {
                drop(buf);
                stream.tcp().readable().await.ok()?;
            }
        }
    }
}

/// The TLS handshake, within [`crate::net::TLS_HANDSHAKE_TIMEOUT`]. Its future (which
/// holds a whole rustls connection and a timer) is boxed so that it takes memory only
/// while the handshake runs, not in every idle connection's future.
async fn handshake(acceptor: &tokio_rustls::TlsAcceptor, tcp: TcpStream) -> Option<Stream> {
    match Box::pin(tokio::time::timeout(
        crate::net::TLS_HANDSHAKE_TIMEOUT,
        acceptor.accept(tcp),
    ))
    .await
    {
        Ok(Ok(tls)) => Some(Stream::Tls(Box::new(tls))),
        _ => None,
    }
}

/// Serve one connection until it ends. `starttls` is the acceptor for STARTTLS (plain
/// port) or `None` when `stream` is already TLS.
pub async fn serve(
    mut stream: Stream,
    mut session: Box<Session>,
    starttls: Option<tokio_rustls::TlsAcceptor>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    // Slow readers: a write that does not complete in time ends the connection. Writes
    // are boxed futures: they live only while writing, so the connection's own future,
    // which an idle connection holds, is only as large as its wait.
    let wt = session.config().write_timeout;
    let greeting = session.open();
    if !Box::pin(finish(wt, &mut stream, &greeting)).await {
        return;
    }
    loop {
        while let Some(reply) = session.next_reply() {
            if reply.action != Action::StartTls {
                if !Box::pin(finish(wt, &mut stream, &reply)).await {
                    return;
                }
                continue;
            }
            if !Box::pin(write(wt, &mut stream, &reply.out)).await {
                return;
            }
            let Some(acceptor) = starttls.clone() else { return };
            let Stream::Plain(tcp) = stream else { return };
            if session.tls_fails() {
                Box::pin(fail_tls(tcp)).await;
                return;
            }
            match handshake(&acceptor, tcp).await {
                Some(tls) => stream = tls,
                None => return,
            }
            session.tls_started();
        }
        let mut changes = session.idle_changes();
        let deadline = tokio::time::Instant::from_std(session.deadline());
        // Why select: a reply can be caused by the client, by another session changing
        // the mailbox (IDLE), by the session's deadline or by the server shutting down.
        tokio::select! {
            bytes = read(&mut stream) => match bytes {
                Some(bytes) => session.receive(&bytes),
                None => return,
            },
            () = tokio::time::sleep_until(deadline) => {
                let reply = session.timed_out();
                let _ = Box::pin(finish(wt, &mut stream, &reply)).await;
                return;
            }
            changed = async {
                match changes.as_mut() {
                    Some(rx) => rx.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            } => {
                if changed && !Box::pin(finish(wt, &mut stream, &session.idle_updates())).await {
                    return;
                }
            }
            _ = shutdown.changed() => {
                let _ = Box::pin(finish(wt, &mut stream, &session.server_stopping())).await;
                return;
            }
        }
    }
}

/// Write a reply (after a delay fault's wait, trickled by a trickle fault); false when
/// the connection is done.
async fn finish(timeout: Duration, stream: &mut Stream, reply: &Reply) -> bool {
    let ok = crate::net::write_with_faults(timeout, stream, &reply.out, reply.delay, reply.trickle).await;
    if reply.action == Action::Close || !ok {
        let _ = stream.shutdown().await;
        return false;
    }
    true
}

/// Accept IMAP connections until shutdown. `implicit_tls` says whether the port speaks
/// TLS from the first byte (993) or offers STARTTLS (143).
pub async fn accept_loop(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    implicit_tls: bool,
    imap: Arc<super::ImapState>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let max = imap.config.max_connections;
    let stop = shutdown.clone();
    crate::net::accept_connections(listener, max, "IMAP", stop, move |tcp, peer| {
        let acceptor = acceptor.clone();
        let imap = imap.clone();
        let shutdown = shutdown.clone();
        async move {
            // Boxed once: the accept future and the connection's future would each hold a
            // copy's worth of space for it otherwise.
            let session = Box::new(Session::new(imap, peer.to_string(), implicit_tls));
            if implicit_tls && session.tls_fails() {
                Box::pin(fail_tls(tcp)).await;
                return;
            }
            // The connection's future lives as long as the connection: boxed, the task
            // holds a pointer instead of the largest of its states.
            if implicit_tls {
                let Some(tls) = handshake(&acceptor, tcp).await else {
                    return;
                };
                Box::pin(serve(tls, session, None, shutdown)).await;
            } else {
                Box::pin(serve(Stream::Plain(tcp), session, Some(acceptor), shutdown)).await;
            }
        }
    })
    .await
}
