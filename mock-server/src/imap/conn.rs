//! The IMAP connection: the only IMAP code that touches a socket.
//!
//! It splits the byte stream into lines and literals with imap-codec's `Fragmentizer`
//! (bounded memory, correct literal handling even for malformed input), decodes commands
//! with imap-codec, feeds the sans-I/O [`Session`], and writes its replies. Implicit TLS
//! and STARTTLS both end up here.

use super::session::{Action, Expect, Reply, Session};
use imap_codec::fragmentizer::{DecodeMessageError, FragmentInfo, Fragmentizer};
use imap_codec::imap_types::core::LiteralMode;
use imap_codec::CommandCodec;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// A write that takes longer than this means the client stopped reading (slow reader).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// Bytes read per call. Every idle connection holds one while it waits in `read`, so it
/// is small (10,000 idle sessions hold 20 MB of these); larger literals take more reads.
const READ_BUFFER: usize = 2048;
/// A TLS alert record: type alert (21), version TLS 1.2, length 2, fatal (2),
/// handshake_failure (40) (RFC 5246 §7.2), what a server sends when it cannot agree.
const HANDSHAKE_FAILURE_ALERT: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28];

/// A TLS handshake failure fault: read the ClientHello (so closing does not reset the
/// connection under the client's feet), answer a fatal handshake_failure alert, close.
async fn fail_tls(mut tcp: TcpStream) {
    let mut buf = [0u8; READ_BUFFER];
    let _ = tokio::time::timeout(crate::net::TLS_HANDSHAKE_TIMEOUT, tcp.read(&mut buf)).await;
    let _ = tcp.write_all(&HANDSHAKE_FAILURE_ALERT).await;
    let _ = tcp.shutdown().await;
}

/// The whole message the fragmentizer keeps: a command line with its literal and the
/// line after it, or a SASL response line, whichever the limits allow to be longer. (It
/// must hold a whole SASL line, or a valid response would arrive truncated.)
fn max_message(c: &super::ImapConfig) -> u32 {
    let line = |n: usize| u32::try_from(n).unwrap_or(u32::MAX / 4);
    c.max_literal
        .saturating_add(line(c.max_command_line).saturating_mul(2))
        .saturating_add(line(c.max_sasl_line))
}

/// Plain before STARTTLS, TLS after (or from the start on the implicit-TLS port).
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
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

async fn write(timeout: Duration, stream: &mut Stream, bytes: &[u8]) -> bool {
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

/// IMAP command names imap-codec knows, to tell "bad arguments" from "unknown command".
const COMMANDS: &[&str] = &[
    "CAPABILITY",
    "NOOP",
    "LOGOUT",
    "STARTTLS",
    "AUTHENTICATE",
    "LOGIN",
    "SELECT",
    "EXAMINE",
    "CREATE",
    "DELETE",
    "RENAME",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "LIST",
    "LSUB",
    "STATUS",
    "APPEND",
    "CHECK",
    "CLOSE",
    "EXPUNGE",
    "SEARCH",
    "FETCH",
    "STORE",
    "COPY",
    "UID",
    "MOVE",
    "IDLE",
    "ID",
    "NAMESPACE",
    "UNSELECT",
    "ENABLE",
];

/// Serve one connection until it ends. `tls` is the acceptor for STARTTLS (plain port)
/// or `None` when `stream` is already TLS.
pub async fn serve(
    mut stream: Stream,
    mut session: Session,
    starttls: Option<tokio_rustls::TlsAcceptor>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    if let Some(fired) = session.fault(crate::faults::Hook::ImapGreeting) {
        match fired.fault.kind {
            crate::faults::Kind::Drop => {
                let _ = stream.shutdown().await;
                return;
            }
            crate::faults::Kind::Delay => {
                tokio::time::sleep(Duration::from_millis(fired.fault.millis.unwrap_or(0))).await;
            }
            _ => {}
        }
    }
    // Slow readers: a write that does not complete in time ends the connection.
    let wt = session.config().write_timeout;
    if !write(wt, &mut stream, &session.greeting()).await {
        return;
    }
    let max_message = max_message(session.config());
    let mut frag = Fragmentizer::new(max_message);
    let mut buf = vec![0u8; READ_BUFFER];
    let mut poisoned_too_long = false;
    loop {
        let Some(fragment) = frag.progress() else {
            // Between commands, with nothing of the next one received, start a fresh
            // fragmentizer: the old one keeps the capacity of the largest message it saw
            // (an AUTHENTICATE line is ~2 KB), which an idle connection should not hold.
            if frag.message_bytes().is_empty() && !poisoned_too_long {
                frag = Fragmentizer::new(max_message);
            }
            // Need more bytes: wait for the client, a mailbox change (while idling), the
            // inactivity timeout, or the server stopping.
            let mut changes = session.mail().and_then(|m| m.changes());
            let idling = session.expects() == Expect::IdleDone;
            let timeout = session.timeout();
            let read = tokio::time::timeout(timeout, stream.read(&mut buf));
            // Why select: a reply can be caused by the client, by another session
            // changing the mailbox (IDLE), or by the server shutting down.
            let n = tokio::select! {
                r = read => match r {
                    Ok(Ok(0)) | Ok(Err(_)) => return,
                    Ok(Ok(n)) => n,
                    Err(_) => {
                        let reply = session.timed_out();
                        let _ = write(wt, &mut stream, &reply.out).await;
                        let _ = stream.shutdown().await;
                        return;
                    }
                },
                changed = async {
                    match changes.as_mut() {
                        Some(rx) if idling => rx.changed().await.is_ok(),
                        _ => std::future::pending().await,
                    }
                } => {
                    if changed {
                        let reply = session.idle_updates();
                        if !write(wt, &mut stream, &reply.out).await {
                            return;
                        }
                    }
                    continue;
                }
                _ = shutdown.changed() => {
                    let _ = write(wt, &mut stream, super::personality::LOGOUT_BYE.as_bytes()).await;
                    let _ = stream.shutdown().await;
                    return;
                }
            };
            frag.enqueue_bytes(&buf[..n]);
            continue;
        };

        if let FragmentInfo::Line {
            start,
            end,
            announcement,
            ..
        } = fragment
        {
            let limit = match session.expects() {
                Expect::SaslResponse => session.config().max_sasl_line + 2,
                _ => session.config().max_command_line + 2,
            };
            if end - start > limit {
                poisoned_too_long = true;
                frag.poison_message();
            }
            if let Some(lit) = announcement {
                if lit.length > session.config().max_literal || poisoned_too_long {
                    poisoned_too_long = true;
                    frag.poison_message();
                    if lit.mode == LiteralMode::Sync {
                        // The client waits for our go-ahead, which never comes: answer
                        // now and start afresh with its next line.
                        let tag = frag.decode_tag().map(|t| t.inner().to_string());
                        let reply = session.bad_line(tag, true, true);
                        frag.skip_message();
                        poisoned_too_long = false;
                        if !finish(wt, &mut stream, &reply).await {
                            return;
                        }
                        continue;
                    }
                } else if lit.mode == LiteralMode::Sync
                    && !frag.is_message_complete()
                    && !write(wt, &mut stream, b"+ Ready for additional command text.\r\n").await
                {
                    return;
                }
            }
        }
        if !frag.is_message_complete() {
            continue;
        }

        let reply = match session.expects() {
            // The session checks the SASL line's length itself (and names it).
            Expect::SaslResponse => session.sasl_response(trim_crlf(frag.message_bytes())),
            Expect::IdleDone => {
                let line = trim_crlf(frag.message_bytes());
                session.idle_done(line.eq_ignore_ascii_case(b"DONE"))
            }
            Expect::Command => {
                if poisoned_too_long {
                    let tag = frag.decode_tag().map(|t| t.inner().to_string());
                    session.bad_line(tag, true, true)
                } else {
                    match frag.decode_message(&CommandCodec::default()) {
                        Ok(cmd) => session.command(cmd),
                        Err(DecodeMessageError::DecodingFailure(_))
                        | Err(DecodeMessageError::DecodingRemainder { .. }) => {
                            undecodable(&mut session, frag.message_bytes())
                        }
                        Err(_) => {
                            let tag = frag.decode_tag().map(|t| t.inner().to_string());
                            session.bad_line(tag, true, true)
                        }
                    }
                }
            }
        };
        poisoned_too_long = false;
        match reply.action {
            Action::StartTls => {
                if !write(wt, &mut stream, &reply.out).await {
                    return;
                }
                let Some(acceptor) = starttls.clone() else { return };
                let Stream::Plain(tcp) = stream else { return };
                // Anything the client sent after STARTTLS and before the handshake is
                // dropped: it must not be read as if it came over TLS (CVE-2011-0411).
                frag = Fragmentizer::new(max_message);
                if session.fault(crate::faults::Hook::ImapTls).is_some() {
                    fail_tls(tcp).await;
                    return;
                }
                match tokio::time::timeout(crate::net::TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => stream = Stream::Tls(Box::new(tls)),
                    _ => return,
                }
                session.tls_started();
            }
            _ => {
                if !finish(wt, &mut stream, &reply).await {
                    return;
                }
            }
        }
    }
}

/// Write a reply (after a delay fault's wait, trickled by a trickle fault); false when
/// the connection is done.
async fn finish(timeout: Duration, stream: &mut Stream, reply: &Reply) -> bool {
    if let Some(delay) = reply.delay {
        tokio::time::sleep(delay).await;
    }
    let ok = match reply.trickle {
        Some(n) => {
            let mut ok = true;
            for chunk in reply.out.chunks(n.max(1)) {
                if !write(timeout, stream, chunk).await {
                    ok = false;
                    break;
                }
            }
            ok
        }
        None => write(timeout, stream, &reply.out).await,
    };
    if reply.action == Action::Close || !ok {
        let _ = stream.shutdown().await;
        return false;
    }
    true
}

fn trim_crlf(b: &[u8]) -> &[u8] {
    let b = b.strip_suffix(b"\n").unwrap_or(b);
    b.strip_suffix(b"\r").unwrap_or(b)
}

/// A complete message imap-codec could not decode. `AUTHENTICATE <mech> <bad base64>`
/// goes to the session (Exchange answers `NO AUTHENTICATE failed.`); anything else is a
/// syntax error, worded by whether the command name is known.
fn undecodable(session: &mut Session, message: &[u8]) -> Reply {
    let line = String::from_utf8_lossy(trim_crlf(message));
    let mut words = line.split(' ');
    let tag = words.next().filter(|t| !t.is_empty()).map(str::to_string);
    let command = words.next().unwrap_or("").to_ascii_uppercase();
    if command == "AUTHENTICATE" {
        if let (Some(tag), Some(mechanism), Some(ir), None) = (&tag, words.next(), words.next(), words.next()) {
            return session.authenticate_undecodable(tag, mechanism, ir.as_bytes());
        }
    }
    let known = COMMANDS.contains(&command.as_str());
    session.bad_line(tag, false, known)
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
            let session = Session::new(imap, peer.to_string(), implicit_tls);
            if implicit_tls && session.fault(crate::faults::Hook::ImapTls).is_some() {
                fail_tls(tcp).await;
                return;
            }
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
