//! A raw SMTP client for tests: exact bytes in and out, every wait bounded.
#![allow(dead_code)]

use crate::imap::connector;
use mock_server::MockServer;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Every wait in a test names its step and gives up after this long.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

enum Io {
    Plain(BufReader<TcpStream>),
    Tls(Box<BufReader<tokio_rustls::client::TlsStream<TcpStream>>>),
}

pub struct Smtp {
    io: Option<Io>,
    ca_pem: String,
}

/// The demo delegated token of `user` (ROPC with app 08, scope SMTP.Send).
pub async fn user_token(server: &MockServer, user: &str) -> String {
    let c = crate::http::client(server);
    let app08 = crate::app(8);
    let r = crate::http::post_form(
        &c,
        &server.token_endpoint(crate::CONTOSO),
        &[
            ("grant_type", "password"),
            ("client_id", &app08),
            ("username", user),
            ("password", "Passw0rd!"),
            ("scope", "https://outlook.office.com/SMTP.Send"),
        ],
    )
    .await;
    r.json["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("token for {user}: {}", r.json))
        .to_string()
}

impl Smtp {
    /// Connect and read the banner.
    pub async fn connect(server: &MockServer) -> (Self, String) {
        let tcp = TcpStream::connect(server.smtp_addr()).await.expect("connect");
        let mut c = Self {
            io: Some(Io::Plain(BufReader::new(tcp))),
            ca_pem: server.ca_pem().to_string(),
        };
        let banner = c.line().await;
        (c, banner)
    }

    /// Banner, EHLO, STARTTLS, handshake, EHLO again: ready for AUTH.
    pub async fn tls(server: &MockServer) -> Self {
        let (mut c, _) = Self::connect(server).await;
        c.cmd("EHLO client.example.com").await;
        assert_eq!(c.cmd("STARTTLS").await, ["220 2.0.0 SMTP server ready\r\n"]);
        c.upgrade().await;
        c.cmd("EHLO client.example.com").await;
        c
    }

    /// The TLS handshake after `220 2.0.0 SMTP server ready`.
    pub async fn upgrade(&mut self) {
        let Some(Io::Plain(reader)) = self.io.take() else {
            panic!("not plain")
        };
        assert!(reader.buffer().is_empty(), "bytes after STARTTLS before the handshake");
        let tcp = reader.into_inner();
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let tls = connector(&self.ca_pem)
            .connect(name, tcp)
            .await
            .expect("STARTTLS handshake");
        self.io = Some(Io::Tls(Box::new(BufReader::new(tls))));
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

    /// One reply: lines up to the one with a space after the code.
    pub async fn reply(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let l = self.line().await;
            assert!(!l.is_empty(), "EOF in a reply; got {lines:?}");
            let last = l.as_bytes().get(3) != Some(&b'-');
            lines.push(l);
            if last {
                return lines;
            }
        }
    }

    /// Send a command line and read its reply.
    pub async fn cmd(&mut self, line: &str) -> Vec<String> {
        self.send_raw(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// True when the server has closed the connection.
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

/// Replace the volatile `[host time id]` bracket at the end of a line with `[*]`.
pub fn unbracket(line: &str) -> String {
    match line.trim_end().rfind(" [") {
        Some(i) if line.trim_end().ends_with(']') => format!("{} [*]\r\n", &line[..i]),
        _ => line.to_string(),
    }
}
