//! A small IMAP client for the check: every server response is decoded with imap-codec
//! (which also copes with Exchange's bare `+` continuation). Traces are redacted.

use imap_codec::decode::{Decoder, GreetingDecodeError, ResponseDecodeError};
use imap_codec::imap_types::response::{Data, Response, Status, StatusKind};
use imap_codec::{GreetingCodec, ResponseCodec};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// A server that answers nothing for this long is treated as gone.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
/// The most a single response may hold (a FETCH of headers of many messages).
pub const MAX_RESPONSE: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("cannot connect to {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("TLS handshake with {0} failed: {1}")]
    Tls(String, std::io::Error),
    #[error("the server closed the connection")]
    Closed,
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("the server sent something that is not IMAP: {0:?}")]
    Garbage(String),
    #[error("STARTTLS refused: {0}")]
    StartTls(String),
}

/// A client connection: plain (before STARTTLS), TLS, or given up during an upgrade.
pub enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    Gone,
}

impl AsyncRead for Io {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Io::Gone => Poll::Ready(Ok(())),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Io::Gone => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Io::Gone => Poll::Ready(Ok(())),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Io::Gone => Poll::Ready(Ok(())),
        }
    }
}

/// One response as the check needs it.
#[derive(Debug, Clone)]
pub enum Line {
    /// Untagged data, kept decoded.
    Data(Data<'static>),
    /// `* OK/NO/BAD/BYE …` without a tag.
    Untagged { kind: String, text: String },
    /// The tagged completion: `OK`, `NO` or `BAD`, and the text.
    Tagged { tag: String, kind: String, text: String },
    /// A continuation request (`+`, `+ …`).
    Continue,
}

pub struct Client {
    io: Io,
    buf: Vec<u8>,
    tls: Arc<rustls::ClientConfig>,
    host: String,
    next_tag: u32,
    pub trace: Vec<String>,
}

fn server_name(host: &str) -> rustls::pki_types::ServerName<'static> {
    rustls::pki_types::ServerName::try_from(host.to_string())
        .unwrap_or_else(|_| rustls::pki_types::ServerName::try_from("invalid.invalid").expect("static name is valid"))
}

fn status_parts(s: &Status<'_>) -> (Option<String>, String, String) {
    let (tag, kind, text) = match s {
        Status::Tagged(t) => (
            Some(t.tag.inner().to_string()),
            t.body.kind,
            t.body.text.inner().to_string(),
        ),
        Status::Untagged(b) => (None, b.kind, b.text.inner().to_string()),
        Status::Bye(b) => return (None, "BYE".into(), b.text.inner().to_string()),
    };
    let kind = match kind {
        StatusKind::Ok => "OK",
        StatusKind::No => "NO",
        StatusKind::Bad => "BAD",
    };
    (tag, kind.to_string(), text)
}

impl Client {
    /// Connect (TLS from the start, or plain then STARTTLS) and return the greeting text.
    pub async fn connect(
        host: &str,
        port: u16,
        starttls: bool,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<(Self, String), ImapError> {
        let addr = format!("{host}:{port}");
        let tcp = tokio::time::timeout(RESPONSE_TIMEOUT, TcpStream::connect(&addr))
            .await
            .map_err(|_| ImapError::Timeout(RESPONSE_TIMEOUT))?
            .map_err(|e| ImapError::Connect(addr.clone(), e))?;
        let _ = tcp.set_nodelay(true);
        let io = if starttls {
            Io::Plain(tcp)
        } else {
            let c = tokio_rustls::TlsConnector::from(tls.clone());
            Io::Tls(Box::new(
                c.connect(server_name(host), tcp)
                    .await
                    .map_err(|e| ImapError::Tls(addr.clone(), e))?,
            ))
        };
        let mut client = Self {
            io,
            buf: Vec::new(),
            tls,
            host: host.to_string(),
            next_tag: 1,
            trace: Vec::new(),
        };
        let greeting = client.greeting().await?;
        if starttls {
            let tag = client.send("STARTTLS").await?;
            let lines = client.until_tagged(&tag).await?;
            match lines.last() {
                Some(Line::Tagged { kind, .. }) if kind == "OK" => {}
                Some(Line::Tagged { kind, text, .. }) => return Err(ImapError::StartTls(format!("{kind} {text}"))),
                _ => return Err(ImapError::Closed),
            }
            let Io::Plain(tcp) = std::mem::replace(&mut client.io, Io::Gone) else {
                return Err(ImapError::Closed);
            };
            let c = tokio_rustls::TlsConnector::from(client.tls.clone());
            let tls = c
                .connect(server_name(&client.host), tcp)
                .await
                .map_err(|e| ImapError::Tls(addr, e))?;
            client.io = Io::Tls(Box::new(tls));
            client.trace.push("IMAP   (TLS started)".into());
        }
        Ok((client, greeting))
    }

    async fn fill(&mut self) -> Result<(), ImapError> {
        if self.buf.len() > MAX_RESPONSE {
            return Err(ImapError::Garbage(format!("a response over {MAX_RESPONSE} bytes")));
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = tokio::time::timeout(RESPONSE_TIMEOUT, self.io.read(&mut chunk))
            .await
            .map_err(|_| ImapError::Timeout(RESPONSE_TIMEOUT))??;
        if n == 0 {
            return Err(ImapError::Closed);
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    fn trace_in(&mut self, consumed: usize) {
        let text = String::from_utf8_lossy(&self.buf[..consumed]);
        for l in text.lines() {
            let shown: String = l.chars().take(300).collect();
            self.trace.push(format!("IMAP < {shown}"));
        }
    }

    async fn greeting(&mut self) -> Result<String, ImapError> {
        loop {
            let outcome = match GreetingCodec::default().decode(&self.buf) {
                Ok((rest, g)) => Ok((self.buf.len() - rest.len(), g.text.inner().to_string(), g.kind)),
                Err(GreetingDecodeError::Incomplete) => Err(false),
                Err(GreetingDecodeError::Failed) => Err(true),
            };
            match outcome {
                Ok((consumed, text, _)) => {
                    self.trace_in(consumed);
                    self.buf.drain(..consumed);
                    return Ok(text);
                }
                Err(true) => {
                    return Err(ImapError::Garbage(
                        String::from_utf8_lossy(&self.buf).chars().take(120).collect(),
                    ))
                }
                Err(false) => self.fill().await?,
            }
        }
    }

    /// The next complete response.
    pub async fn read(&mut self) -> Result<Line, ImapError> {
        loop {
            let decoded = match ResponseCodec::default().decode(&self.buf) {
                Ok((rest, r)) => {
                    let line = match r {
                        Response::Data(d) => Line::Data(imap_codec::imap_types::IntoStatic::into_static(d)),
                        Response::Status(s) => match status_parts(&s) {
                            (Some(tag), kind, text) => Line::Tagged { tag, kind, text },
                            (None, kind, text) => Line::Untagged { kind, text },
                        },
                        Response::CommandContinuationRequest(_) => Line::Continue,
                    };
                    Some((self.buf.len() - rest.len(), Ok(line)))
                }
                Err(ResponseDecodeError::Incomplete) | Err(ResponseDecodeError::LiteralFound { .. }) => None,
                Err(ResponseDecodeError::Failed) => {
                    // A line imap-codec rejects: keep going with the raw text, so an odd
                    // server line never hides the tagged answer behind it.
                    match self.buf.iter().position(|&b| b == b'\n') {
                        Some(end) => {
                            let raw = String::from_utf8_lossy(&self.buf[..end]).trim_end().to_string();
                            let mut words = raw.splitn(3, ' ');
                            let (tag, kind, text) = (
                                words.next().unwrap_or("").to_string(),
                                words.next().unwrap_or("").to_string(),
                                words.next().unwrap_or("").to_string(),
                            );
                            let line = if tag == "*" {
                                Line::Untagged { kind, text }
                            } else {
                                Line::Tagged { tag, kind, text }
                            };
                            Some((end + 1, Ok(line)))
                        }
                        None => None,
                    }
                }
            };
            match decoded {
                Some((consumed, line)) => {
                    self.trace_in(consumed);
                    self.buf.drain(..consumed);
                    return line;
                }
                None => self.fill().await?,
            }
        }
    }

    /// Send a command; returns its tag. `shown` replaces the command in the trace.
    pub async fn send_shown(&mut self, command: &str, shown: &str) -> Result<String, ImapError> {
        let tag = format!("A{:03}", self.next_tag);
        self.next_tag += 1;
        self.trace.push(format!("IMAP > {tag} {shown}"));
        self.io.write_all(format!("{tag} {command}\r\n").as_bytes()).await?;
        self.io.flush().await?;
        Ok(tag)
    }

    pub async fn send(&mut self, command: &str) -> Result<String, ImapError> {
        self.send_shown(command, command).await
    }

    /// A continuation answer (a SASL response) with its trace text.
    pub async fn send_raw_line(&mut self, line: &str, shown: &str) -> Result<(), ImapError> {
        self.trace.push(format!("IMAP > {shown}"));
        self.io.write_all(format!("{line}\r\n").as_bytes()).await?;
        self.io.flush().await?;
        Ok(())
    }

    /// Every response up to the tagged one (a BYE or EOF ends early: the last line tells).
    pub async fn until_tagged(&mut self, tag: &str) -> Result<Vec<Line>, ImapError> {
        let mut lines = Vec::new();
        loop {
            let line = match self.read().await {
                Ok(l) => l,
                Err(ImapError::Closed) if !lines.is_empty() => return Ok(lines),
                Err(e) => return Err(e),
            };
            let done = matches!(&line, Line::Tagged { tag: t, .. } if t == tag);
            lines.push(line);
            if done {
                return Ok(lines);
            }
        }
    }
}
