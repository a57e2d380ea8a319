//! A line-oriented client connection for the SMTP and POP3 checks: connect (TLS from the
//! start or plain, upgraded later), read CRLF lines and send commands, every wait
//! bounded, every line traced with XOAUTH2 blobs redacted by the caller.

use crate::imap::Io;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A server that answers nothing for this long is treated as gone.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest line kept (SMTP allows far less; a longer one is cut, not refused).
const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("cannot connect to {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("TLS handshake with {0} failed: {1}")]
    Tls(String, std::io::Error),
    #[error("the server closed the connection")]
    Closed,
    #[error("no answer within {1:?} ({0})")]
    Timeout(&'static str, Duration),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

pub struct LineClient {
    io: Io,
    buf: Vec<u8>,
    tls: Arc<rustls::ClientConfig>,
    host: String,
    /// `SMTP` or `POP3`, the prefix of trace lines.
    proto: &'static str,
    pub trace: Vec<String>,
}

fn server_name(host: &str) -> rustls::pki_types::ServerName<'static> {
    rustls::pki_types::ServerName::try_from(host.to_string())
        .unwrap_or_else(|_| rustls::pki_types::ServerName::try_from("invalid.invalid").expect("static name is valid"))
}

impl LineClient {
    /// Connect to `host:port`, with TLS at once when `implicit_tls`.
    pub async fn connect(
        proto: &'static str,
        host: &str,
        port: u16,
        implicit_tls: bool,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<Self, LineError> {
        let addr = format!("{host}:{port}");
        let tcp = tokio::time::timeout(RESPONSE_TIMEOUT, TcpStream::connect(&addr))
            .await
            .map_err(|_| LineError::Timeout("connect", RESPONSE_TIMEOUT))?
            .map_err(|e| LineError::Connect(addr.clone(), e))?;
        let _ = tcp.set_nodelay(true);
        let mut c = Self {
            io: Io::Plain(tcp),
            buf: Vec::new(),
            tls,
            host: host.to_string(),
            proto,
            trace: Vec::new(),
        };
        if implicit_tls {
            c.upgrade().await?;
        }
        Ok(c)
    }

    /// [`LineClient::connect`] for a check: a failure becomes the report's failed
    /// `connect` step (`SMTP host:port: why`) and the exit code for a connection error.
    pub async fn connect_for_check(
        r: &mut crate::report::Report,
        proto: &'static str,
        host: &str,
        port: u16,
        implicit_tls: bool,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<Self, u8> {
        Self::connect(proto, host, port, implicit_tls, tls).await.map_err(|e| {
            r.step(
                "connect",
                crate::report::Status::Fail,
                format!("{proto} {host}:{port}: {e}"),
            );
            crate::report::EXIT_ERROR
        })
    }

    /// Start TLS on the plain connection (after STARTTLS/STLS was accepted). Bytes the
    /// server sent before the handshake are dropped, never read as if they came over TLS.
    pub async fn upgrade(&mut self) -> Result<(), LineError> {
        let Io::Plain(tcp) = std::mem::replace(&mut self.io, Io::Gone) else {
            return Err(LineError::Closed);
        };
        self.buf.clear();
        let addr = tcp
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| self.host.clone());
        let c = tokio_rustls::TlsConnector::from(self.tls.clone());
        let tls = tokio::time::timeout(RESPONSE_TIMEOUT, c.connect(server_name(&self.host), tcp))
            .await
            .map_err(|_| LineError::Timeout("TLS handshake", RESPONSE_TIMEOUT))?
            .map_err(|e| LineError::Tls(addr, e))?;
        self.io = Io::Tls(Box::new(tls));
        self.trace.push(format!("{}   (TLS started)", self.proto));
        Ok(())
    }

    /// The next line, without its CRLF.
    pub async fn line(&mut self, step: &'static str) -> Result<String, LineError> {
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let raw: Vec<u8> = self.buf.drain(..=end).collect();
                let text = String::from_utf8_lossy(&raw).trim_end_matches(['\r', '\n']).to_string();
                let shown: String = text.chars().take(300).collect();
                self.trace.push(format!("{} < {shown}", self.proto));
                return Ok(text);
            }
            if self.buf.len() > MAX_LINE {
                let text = String::from_utf8_lossy(&self.buf).chars().take(300).collect::<String>();
                self.buf.clear();
                return Ok(text);
            }
            let mut chunk = [0u8; 8 * 1024];
            let n = tokio::time::timeout(RESPONSE_TIMEOUT, self.io.read(&mut chunk))
                .await
                .map_err(|_| LineError::Timeout(step, RESPONSE_TIMEOUT))??;
            if n == 0 {
                return Err(LineError::Closed);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Send one line; `shown` replaces it in the trace (a redacted XOAUTH2 blob).
    pub async fn send_shown(&mut self, line: &str, shown: &str) -> Result<(), LineError> {
        self.trace.push(format!("{} > {shown}", self.proto));
        tokio::time::timeout(RESPONSE_TIMEOUT, async {
            self.io.write_all(format!("{line}\r\n").as_bytes()).await?;
            self.io.flush().await
        })
        .await
        .map_err(|_| LineError::Timeout("sending", RESPONSE_TIMEOUT))??;
        Ok(())
    }

    pub async fn send(&mut self, line: &str) -> Result<(), LineError> {
        self.send_shown(line, line).await
    }

    /// Send bytes as they are (a message body), traced as `shown`.
    pub async fn send_bytes(&mut self, bytes: &[u8], shown: &str) -> Result<(), LineError> {
        self.trace.push(format!("{} > {shown}", self.proto));
        tokio::time::timeout(RESPONSE_TIMEOUT, async {
            self.io.write_all(bytes).await?;
            self.io.flush().await
        })
        .await
        .map_err(|_| LineError::Timeout("sending", RESPONSE_TIMEOUT))??;
        Ok(())
    }

    /// An SMTP reply: every `NNN-` line up to the `NNN ` one. Returns the code and the
    /// lines' texts (after the code).
    pub async fn smtp_reply(&mut self, step: &'static str) -> Result<(u16, Vec<String>), LineError> {
        let mut texts = Vec::new();
        loop {
            let l = self.line(step).await?;
            let code = l.get(..3).and_then(|c| c.parse::<u16>().ok()).unwrap_or(0);
            let more = l.as_bytes().get(3) == Some(&b'-');
            texts.push(l.get(4..).unwrap_or("").to_string());
            if !more {
                return Ok((code, texts));
            }
        }
    }

    /// A POP3 multi-line body after `+OK`: the lines up to `.`, dot-stuffing undone.
    pub async fn pop3_multiline(&mut self, step: &'static str) -> Result<Vec<String>, LineError> {
        let mut lines = Vec::new();
        loop {
            let l = self.line(step).await?;
            if l == "." {
                return Ok(lines);
            }
            // Dot-stuffing: a line starting with `.` was sent with one more.
            lines.push(if l.starts_with("..") { l[1..].to_string() } else { l });
        }
    }
}
