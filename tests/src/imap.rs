//! A raw IMAP client for tests: exact bytes in and out, every wait bounded.

use mock_server::MockServer;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Every wait in a test names its step and gives up after this long.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

pub enum Io {
    Plain(BufReader<TcpStream>),
    Tls(Box<BufReader<tokio_rustls::client::TlsStream<TcpStream>>>),
}

pub struct Imap {
    io: Option<Io>,
    ca_pem: String,
}

/// A TLS connector trusting the mock's CA (see [`crate::tls::try_connector`]).
pub fn connector(ca_pem: &str) -> tokio_rustls::TlsConnector {
    crate::tls::try_connector(ca_pem.as_bytes()).expect("connector trusting the mock's CA")
}

impl Imap {
    /// Connect to the implicit-TLS port and read the greeting.
    pub async fn tls(server: &MockServer) -> (Self, String) {
        let tcp = TcpStream::connect(server.imaps_addr()).await.expect("connect");
        let name = crate::tls::localhost();
        let tls = connector(server.ca_pem())
            .connect(name, tcp)
            .await
            .expect("TLS handshake");
        let mut c = Self {
            io: Some(Io::Tls(Box::new(BufReader::new(tls)))),
            ca_pem: server.ca_pem().to_string(),
        };
        let greeting = c.line().await;
        (c, greeting)
    }

    /// Connect to the STARTTLS port and read the greeting.
    pub async fn plain(server: &MockServer) -> (Self, String) {
        let tcp = TcpStream::connect(server.imap_addr()).await.expect("connect");
        let mut c = Self {
            io: Some(Io::Plain(BufReader::new(tcp))),
            ca_pem: server.ca_pem().to_string(),
        };
        let greeting = c.line().await;
        (c, greeting)
    }

    /// After `OK Begin TLS negotiation now.`: the TLS handshake on the same socket.
    pub async fn upgrade(&mut self) {
        let Some(Io::Plain(reader)) = self.io.take() else {
            panic!("not plain")
        };
        assert!(reader.buffer().is_empty(), "bytes after STARTTLS before the handshake");
        let tcp = reader.into_inner();
        let name = crate::tls::localhost();
        let tls = connector(&self.ca_pem)
            .connect(name, tcp)
            .await
            .expect("STARTTLS handshake");
        self.io = Some(Io::Tls(Box::new(BufReader::new(tls))));
    }

    pub async fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes()).await;
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        let r = match self.io.as_mut().expect("open") {
            Io::Plain(s) => s.get_mut().write_all(bytes).await,
            Io::Tls(s) => s.get_mut().write_all(bytes).await,
        };
        r.expect("write");
    }

    /// One line including its CRLF; "" at EOF.
    pub async fn line(&mut self) -> String {
        let mut buf = Vec::new();
        let read = async {
            match self.io.as_mut().expect("open") {
                Io::Plain(s) => s.read_until(b'\n', &mut buf).await,
                Io::Tls(s) => s.read_until(b'\n', &mut buf).await,
            }
        };
        let _ = tokio::time::timeout(STEP_TIMEOUT, read)
            .await
            .expect("a line within 10 s");
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// Exactly `n` bytes (a literal).
    pub async fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0u8; n];
        let read = async {
            match self.io.as_mut().expect("open") {
                Io::Plain(s) => s.read_exact(&mut buf).await,
                Io::Tls(s) => s.read_exact(&mut buf).await,
            }
        };
        tokio::time::timeout(STEP_TIMEOUT, read)
            .await
            .expect("literal in time")
            .expect("literal");
        buf
    }

    /// Send a command and collect every line up to and including its tagged answer,
    /// reading literals `{n}` as part of the line they end.
    pub async fn cmd(&mut self, tag: &str, command: &str) -> Vec<String> {
        self.send(&format!("{tag} {command}")).await;
        self.until_tagged(tag).await
    }

    pub async fn until_tagged(&mut self, tag: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let mut line = self.line().await;
            assert!(!line.is_empty(), "EOF before the tagged answer of {tag}; got {lines:?}");
            // A line ending in {n} announces a literal.
            while let Some(n) = literal_len(line.as_bytes()) {
                let lit = self.bytes(n).await;
                line.push_str(&String::from_utf8_lossy(&lit));
                line.push_str(&self.line().await);
            }
            let done = line.starts_with(&format!("{tag} "));
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    /// Read and count everything until the server closes the connection.
    pub async fn bytes_until_eof(&mut self) -> usize {
        let mut total = 0;
        let mut chunk = vec![0u8; 1 << 16];
        loop {
            let read = async {
                match self.io.as_mut().expect("open") {
                    Io::Plain(s) => s.read(&mut chunk).await,
                    Io::Tls(s) => s.read(&mut chunk).await,
                }
            };
            match tokio::time::timeout(STEP_TIMEOUT, read).await.expect("EOF in time") {
                Ok(0) | Err(_) => return total,
                Ok(n) => total += n,
            }
        }
    }

    /// True when the server has closed the connection (EOF, or a reset).
    pub async fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        let read = async {
            match self.io.as_mut().expect("open") {
                Io::Plain(s) => s.read(&mut b).await,
                Io::Tls(s) => s.read(&mut b).await,
            }
        };
        matches!(
            tokio::time::timeout(STEP_TIMEOUT, read).await.expect("EOF in time"),
            Ok(0) | Err(_)
        )
    }
}

/// The length `n` of a literal announced at the end of a line (`{n}` or `{n+}` before the
/// CRLF), if there is one.
pub fn literal_len(line: &[u8]) -> Option<usize> {
    let l = line.strip_suffix(b"\r\n")?;
    let l = l.strip_suffix(b"}")?;
    let open = l.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&l[open + 1..])
        .ok()?
        .trim_end_matches('+')
        .parse()
        .ok()
}

/// A client-credentials token from the server's own token endpoint.
pub async fn app_token(server: &MockServer, nn: u32, secret: &str, scope: &str) -> String {
    let c = crate::client(server);
    let r = crate::post_form(
        &c,
        &server.token_endpoint(crate::CONTOSO),
        &crate::secret_form(&crate::app(nn), secret, scope),
    )
    .await;
    r.json["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("token for app {nn}: {}", r.json))
        .to_string()
}

/// The XOAUTH2 initial response, base64 included, as `AUTHENTICATE XOAUTH2 <this>` sends it.
pub fn xoauth2(user: &str, token: &str) -> String {
    mock_server::sasl::xoauth2::encode(user, token)
}

#[cfg(test)]
mod tests {
    use super::literal_len;

    #[test]
    fn literal_lengths() {
        assert_eq!(literal_len(b"* 1 FETCH (BODY[] {42}\r\n"), Some(42));
        assert_eq!(literal_len(b"a1 APPEND INBOX {7+}\r\n"), Some(7));
        assert_eq!(literal_len(b"* OK {no}\r\n"), None);
        assert_eq!(literal_len(b"* 1 FETCH (BODY[] {42}"), None);
    }
}
