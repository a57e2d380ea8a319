//! Hostile IMAP clients over real TLS, each limit set short through `ImapConfig`: endless
//! lines, huge literals before authentication, drips of bytes, control bytes in tags.
//! In every test a canary (a normal token and login) is served while the hostile clients
//! hold their connections, and memory is checked as bytes buffered, not RSS.

use e2e_tests::imap::{app_token, xoauth2, Imap};
use e2e_tests::*;
use mock_server::imap::ImapConfig;
use mock_server::MockServer;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, ReadHalf};

const USER: &str = "test.user@contoso.com";

async fn server_with(config: ImapConfig) -> MockServer {
    MockServer::builder().imap_config(config).start().await.expect("start")
}

/// A normal client: token, AUTHENTICATE (the response on its own line, which fits a
/// short command-line limit), SELECT, LOGOUT, all answered.
async fn canary(server: &MockServer) {
    let token = app_token(server, 1, "poller-secret-value", EXO_SCOPE).await;
    let (mut c, greeting) = Imap::tls(server).await;
    assert!(greeting.starts_with("* OK The Microsoft Exchange IMAP4 service is ready."));
    c.send("C1 AUTHENTICATE XOAUTH2").await;
    assert_eq!(c.line().await, "+\r\n");
    c.send(&xoauth2(USER, &token)).await;
    assert_eq!(c.line().await, "C1 OK AUTHENTICATE completed.\r\n");
    assert_eq!(c.cmd("C2", "SELECT INBOX").await[0], "* 4 EXISTS\r\n");
    assert_eq!(
        c.cmd("C3", "LOGOUT").await.last().map(String::as_str),
        Some("C3 OK LOGOUT completed.\r\n")
    );
}

#[tokio::test]
async fn lines_that_never_end_hold_no_more_than_the_line_limit() {
    let server = server_with(ImapConfig {
        max_command_line: 1024,
        ..ImapConfig::default()
    })
    .await;
    let mut hostile = Vec::new();
    for _ in 0..8 {
        let (mut h, _) = Imap::tls(&server).await;
        h.send_raw(b"H1 NOOP ").await;
        for _ in 0..16 {
            h.send_raw(&[b'x'; 16 * 1024]).await;
        }
        // Answered as soon as the line passed the limit, long before it ends.
        assert_eq!(h.line().await, "H1 BAD Command Error. 10\r\n");
        hostile.push(h);
    }
    // 8 × 256 KiB sent without a line end; what is held is bounded by the limit (plus, at
    // most, one read being framed).
    let held = server.imap_buffered_bytes();
    assert!(held <= 8 * (1024 + 16 * 1024 + 64), "{held} bytes buffered");
    canary(&server).await;
    // The line ends at last: the session goes on.
    for (i, h) in hostile.iter_mut().enumerate() {
        h.send_raw(b"\r\n").await;
        let tag = format!("H{}", i + 2);
        assert_eq!(h.cmd(&tag, "NOOP").await, [format!("{tag} OK NOOP completed.\r\n")]);
    }
}

#[tokio::test]
async fn a_huge_literal_before_authentication_is_refused_without_buffering() {
    let server = MockServer::start().await;
    // Synchronizing: no go-ahead; the connection stays and is served.
    let mut waiting = Vec::new();
    for _ in 0..4 {
        let (mut h, _) = Imap::tls(&server).await;
        h.send("H1 LOGIN {36700160}").await;
        assert_eq!(h.line().await, "H1 BAD Command Error. 10\r\n");
        waiting.push(h);
    }
    // Non-synchronizing: the stranger is already sending it; answered, then closed.
    let (mut h, _) = Imap::tls(&server).await;
    h.send_raw(b"H1 APPEND Drafts {36700160+}\r\n").await;
    assert_eq!(h.line().await, "H1 BAD Command Error. 10\r\n");
    assert_eq!(
        h.line().await,
        "* BYE Microsoft Exchange Server IMAP4 server signing off.\r\n"
    );
    assert!(h.closed().await);
    let held = server.imap_buffered_bytes();
    assert!(held <= 4 * 64, "{held} bytes buffered");
    let e = server.imap_events().pop().expect("journaled");
    assert!(
        e.reason.unwrap_or_default().contains("before authentication is 4096"),
        "the reason names the limit"
    );
    canary(&server).await;
    for h in &mut waiting {
        assert_eq!(h.cmd("H2", "NOOP").await, ["H2 OK NOOP completed.\r\n"]);
    }
}

type Reader = BufReader<ReadHalf<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>>;

/// A TLS connection whose writing half drips one byte (never a line end) every 100 ms
/// for up to 20 s, in a task, until the server closes; `before` is sent first (and its
/// answer read). Returns the reading half, past the greeting and that answer.
async fn dripper(server: &MockServer, before: &str) -> Reader {
    let tcp = tokio::net::TcpStream::connect(server.imaps_addr()).await.expect("tcp");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let tls = e2e_tests::imap::connector(server.ca_pem())
        .connect(name, tcp)
        .await
        .expect("tls");
    let (r, mut w) = tokio::io::split(tls);
    let mut r = BufReader::new(r);
    let mut line = String::new();
    r.read_line(&mut line).await.expect("greeting");
    if !before.is_empty() {
        w.write_all(before.as_bytes()).await.expect("write");
        line.clear();
        r.read_line(&mut line).await.expect("answer");
        assert!(line.contains(" OK "), "{line}");
    }
    tokio::spawn(async move {
        for _ in 0..200 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if w.write_all(b"x").await.is_err() {
                break;
            }
        }
    });
    r
}

/// The next line, within 10 s (the deadlines under test are 1 s).
async fn line(r: &mut Reader) -> String {
    let mut line = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), r.read_line(&mut line))
        .await
        .expect("a line within 10 s");
    line
}

#[tokio::test]
async fn a_drip_of_bytes_does_not_extend_the_pre_authentication_deadline() {
    let server = server_with(ImapConfig {
        pre_auth_timeout: Duration::from_secs(1),
        ..ImapConfig::default()
    })
    .await;
    let mut h = dripper(&server, "").await;
    canary(&server).await;
    // The drip goes on for 20 s; the deadline (1 s from the start) closes it.
    assert_eq!(line(&mut h).await, "* BYE Connection is closed. 13\r\n");
    let e = server.imap_events().pop().expect("journaled");
    assert!(e.reason.unwrap_or_default().contains("pre-authentication deadline"));
}

#[tokio::test]
async fn a_drip_of_bytes_does_not_extend_the_autologout() {
    let server = server_with(ImapConfig {
        idle_timeout: Duration::from_secs(1),
        ..ImapConfig::default()
    })
    .await;
    let token = app_token(&server, 1, "poller-secret-value", EXO_SCOPE).await;
    let auth = format!("L1 AUTHENTICATE XOAUTH2 {}\r\n", xoauth2(USER, &token));
    let mut h = dripper(&server, &auth).await;
    canary(&server).await;
    assert_eq!(line(&mut h).await, "* BYE Connection is closed. 13\r\n");
    let e = server.imap_events().pop().expect("journaled");
    assert!(e.reason.unwrap_or_default().contains("autologout"));
}

#[tokio::test]
async fn client_bytes_are_not_echoed_raw_nor_journaled_raw() {
    let server = MockServer::start().await;
    let (mut h, _) = Imap::tls(&server).await;
    h.send_raw(b"\x1b[31m\x00 NOOP\r\n").await;
    assert_eq!(h.line().await, "* BAD Command Argument Error. 12\r\n");
    h.send_raw(b"T\x07 FOO\r\n").await;
    assert_eq!(h.line().await, "* BAD Command Error. 12\r\n");
    let blob = xoauth2("\x1b]0;owned\x07@contoso.com", "not-a-token");
    assert_eq!(
        h.cmd("A1", &format!("AUTHENTICATE XOAUTH2 {blob}")).await,
        ["A1 NO AUTHENTICATE failed.\r\n"]
    );
    canary(&server).await;
    let e = server
        .imap_events()
        .into_iter()
        .find(|e| e.request.contains("owned"))
        .expect("journaled");
    assert!(!e.request.chars().any(char::is_control), "{:?}", e.request);
    assert!(e.request.contains("\\u{1b}]0;owned\\u{7}"), "{:?}", e.request);
}
