//! Limits, each set through its option: exceeding one gives the faithful answer and closes
//! cleanly, and the server stays healthy for everyone else.

use e2e_tests::imap::{app_token, xoauth2, Imap};
use e2e_tests::*;
use mock_server::imap::ImapConfig;
use mock_server::{MockServer, Outcome};

const USER: &str = "test.user@contoso.com";

async fn server_with(config: ImapConfig) -> MockServer {
    MockServer::builder().imap_config(config).start().await.expect("start")
}

async fn auth(server: &MockServer, token: &str) -> (Imap, Vec<String>) {
    auth_as(server, USER, token).await
}

async fn auth_as(server: &MockServer, user: &str, token: &str) -> (Imap, Vec<String>) {
    let (mut c, _) = Imap::tls(server).await;
    let r = c
        .cmd("L1", &format!("AUTHENTICATE XOAUTH2 {}", xoauth2(user, token)))
        .await;
    (c, r)
}

#[tokio::test]
async fn sessions_per_mailbox_beyond_the_limit_are_not_connected_until_one_ends() {
    let server = server_with(ImapConfig {
        max_connections_per_user: 2,
        ..ImapConfig::default()
    })
    .await;
    let token = app_token(&server, 1, "poller-secret-value", EXO_SCOPE).await;
    let (mut a, _) = auth(&server, &token).await;
    let (mut b, _) = auth(&server, &token).await;
    assert_eq!(a.cmd("A1", "SELECT INBOX").await[0], "* 4 EXISTS\r\n");
    assert_eq!(b.cmd("B1", "SELECT INBOX").await[0], "* 4 EXISTS\r\n");
    let (mut c, r) = auth(&server, &token).await;
    assert_eq!(r, ["L1 OK AUTHENTICATE completed.\r\n"]);
    assert_eq!(
        c.cmd("C1", "SELECT INBOX").await,
        ["C1 BAD User is authenticated but not connected.\r\n"]
    );
    let e = server.imap_events().pop().expect("journaled");
    assert_eq!(e.outcome, Outcome::NotConnected);
    assert!(e
        .reason
        .unwrap_or_default()
        .contains("2 IMAP sessions are already open on test.user@contoso.com (limit 2"));
    // Another mailbox is not affected.
    let (mut other, _) = auth_as(&server, "shared.inbox@contoso.com", &token).await;
    assert_eq!(other.cmd("O1", "SELECT INBOX").await[0], "* 2 EXISTS\r\n");
    // One session ends: its place is free again.
    a.cmd("A2", "LOGOUT").await;
    assert!(a.closed().await);
    let (mut d, _) = auth(&server, &token).await;
    assert_eq!(d.cmd("D1", "SELECT INBOX").await[0], "* 4 EXISTS\r\n");
}

#[tokio::test]
async fn line_literal_and_sasl_limits_follow_their_options() {
    let server = server_with(ImapConfig {
        max_command_line: 200,
        max_literal: 64,
        max_sasl_line: 2500,
        ..ImapConfig::default()
    })
    .await;
    let token = app_token(&server, 1, "poller-secret-value", EXO_SCOPE).await;
    let (mut c, _) = Imap::tls(&server).await;
    c.send(&format!("A1 NOOP {}", "x".repeat(300))).await;
    assert_eq!(c.line().await, "A1 BAD Command Error. 10\r\n");
    // The token does not fit in a 200-byte command line, nor (here) in the SASL line.
    c.send("A2 AUTHENTICATE XOAUTH2").await;
    assert_eq!(c.line().await, "+\r\n");
    c.send(&xoauth2(USER, &token)).await;
    let answer = c.line().await;
    if xoauth2(USER, &token).len() > 2500 {
        assert_eq!(answer, "A2 BAD Command Error. 10\r\n");
    } else {
        assert_eq!(answer, "A2 OK AUTHENTICATE completed.\r\n");
        c.send("A3 APPEND Drafts {100}").await;
        assert_eq!(c.line().await, "A3 BAD Command Error. 10\r\n");
        let msg = "From: a@b\r\n\r\nhi\r\n";
        c.send_raw(format!("A4 APPEND Drafts {{{}+}}\r\n{msg}\r\n", msg.len()).as_bytes())
            .await;
        assert!(c.line().await.starts_with("A4 OK [APPENDUID"));
    }
    assert_eq!(c.cmd("A5", "NOOP").await, ["A5 OK NOOP completed.\r\n"]);
}

#[tokio::test]
async fn failed_authentications_and_total_connections_follow_their_options() {
    let server = server_with(ImapConfig {
        max_failed_auth: 1,
        max_connections: 2,
        ..ImapConfig::default()
    })
    .await;
    let (mut a, _) = Imap::tls(&server).await;
    a.send(&format!("A1 AUTHENTICATE XOAUTH2 {}", xoauth2(USER, "not-a-token")))
        .await;
    assert_eq!(a.line().await, "A1 NO AUTHENTICATE failed.\r\n");
    assert_eq!(a.line().await, "* BYE Connection is closed. 14\r\n");
    assert!(a.closed().await);
    // Two connections in all: a third is closed at once, the two keep working.
    let (mut b, _) = Imap::tls(&server).await;
    let (mut c, _) = Imap::tls(&server).await;
    let tcp = tokio::net::TcpStream::connect(server.imaps_addr()).await.expect("tcp");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let third = e2e_tests::imap::connector(server.ca_pem()).connect(name, tcp).await;
    if let Ok(mut tls) = third {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), tls.read(&mut buf))
            .await
            .expect("closed in time");
        assert!(matches!(n, Ok(0) | Err(_)), "the third connection got a greeting");
    }
    assert_eq!(b.cmd("B1", "NOOP").await, ["B1 OK NOOP completed.\r\n"]);
    assert_eq!(c.cmd("C1", "NOOP").await, ["C1 OK NOOP completed.\r\n"]);
}

#[tokio::test]
async fn the_token_request_body_limit_follows_its_option() {
    let server = MockServer::builder()
        .http_max_request_body(1000)
        .start()
        .await
        .expect("start");
    let c = client(&server);
    let r = c
        .post(server.token_endpoint(CONTOSO))
        .body("x".repeat(2000))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 413);
    let r = post_form(
        &c,
        &server.token_endpoint(CONTOSO),
        &secret_form(&app(1), "poller-secret-value", EXO_SCOPE),
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off_and_others_carry_on() {
    let server = server_with(ImapConfig {
        write_timeout: std::time::Duration::from_millis(300),
        ..ImapConfig::default()
    })
    .await;
    let big = format!(
        "From: a@b.com\r\nSubject: big\r\n\r\n{}\r\n",
        "0123456789abcdef".repeat(512 * 1024)
    );
    server.deliver(USER, "INBOX", big.as_bytes()).expect("deliver 8 MB");
    let token = app_token(&server, 1, "poller-secret-value", EXO_SCOPE).await;
    let (mut slow, _) = auth(&server, &token).await;
    slow.cmd("S1", "SELECT INBOX").await;
    // Ask for ~40 MB and read nothing: the server's writes stall, then it gives up.
    for i in 0..5 {
        slow.send(&format!("F{i} FETCH 5 BODY.PEEK[]")).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (mut other, _) = auth(&server, &token).await;
    assert_eq!(
        other.cmd("O1", "NOOP").await,
        ["O1 OK NOOP completed.\r\n"],
        "the server is healthy"
    );
    // What was sent before the cut-off can be read, then EOF: far less than 40 MB.
    let total = slow.bytes_until_eof().await;
    assert!(
        total < 5 * big.len(),
        "the slow reader was cut off ({total} bytes arrived)"
    );
}

#[tokio::test]
async fn http_slowloris_and_oversized_heads_are_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = MockServer::builder()
        .http_limits(std::time::Duration::from_millis(300), 8 * 1024, 64)
        .start()
        .await
        .expect("start");
    let connect = || async {
        let tcp = tokio::net::TcpStream::connect(server.https_addr()).await.expect("tcp");
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        e2e_tests::imap::connector(server.ca_pem())
            .connect(name, tcp)
            .await
            .expect("tls")
    };
    // A request head that never ends: closed at the header read timeout.
    let mut s = connect().await;
    s.write_all(b"POST /contoso.com/oauth2/v2.0/token HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .expect("write");
    let mut buf = Vec::new();
    let r = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    assert!(r.is_ok(), "the slowloris connection was closed in time");
    // A head over 8 KiB.
    let mut s = connect().await;
    let head = format!(
        "GET /common/discovery/keys HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n",
        "a".repeat(16 * 1024)
    );
    let _ = s.write_all(head.as_bytes()).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("answered or closed in time");
    let text = String::from_utf8_lossy(&buf);
    assert!(buf.is_empty() || text.starts_with("HTTP/1.1 431"), "{text}");
    // Everyone else is served.
    let r = post_form(
        &client(&server),
        &server.token_endpoint(CONTOSO),
        &secret_form(&app(1), "poller-secret-value", EXO_SCOPE),
    )
    .await;
    assert_eq!(r.status, 200);
}

/// A TLS connection to the HTTPS port offering `alpn` (e.g. `h2`).
async fn https_tls(server: &MockServer, alpn: &[u8]) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(server.ca_pem().as_bytes()) {
        roots.add(c.expect("pem")).expect("root");
    }
    let mut config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let tcp = tokio::net::TcpStream::connect(server.https_addr()).await.expect("tcp");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("tls")
}

/// Slow-body and idle HTTP/2 clients holding every connection slot are let go by the
/// request and idle deadlines, and a canary token request is served meanwhile.
#[tokio::test]
async fn slow_bodies_and_idle_http2_connections_are_let_go_and_a_canary_is_served() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const SLOTS: usize = 6;
    let server = MockServer::builder()
        .http_limits(std::time::Duration::from_secs(30), 8 * 1024, SLOTS)
        .http_request_timeout(std::time::Duration::from_millis(400))
        .http_idle_timeout(std::time::Duration::from_millis(400))
        // Long PING interval: what closes the idle HTTP/2 clients must be the idle deadline.
        .http2_keep_alive(std::time::Duration::from_secs(600), std::time::Duration::from_secs(600))
        .start()
        .await
        .expect("start");
    let mut hostile = Vec::new();
    for i in 0..SLOTS {
        if i % 2 == 0 {
            // A token request whose body never finishes.
            let mut s = https_tls(&server, b"http/1.1").await;
            s.write_all(
                b"POST /contoso.com/oauth2/v2.0/token HTTP/1.1\r\nHost: localhost\r\n\
                  Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ngrant_type=",
            )
            .await
            .expect("write");
            hostile.push(("slow body", s));
        } else {
            // HTTP/2: the preface and empty SETTINGS, then nothing.
            let mut s = https_tls(&server, b"h2").await;
            s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
                .await
                .expect("write");
            hostile.push(("idle HTTP/2", s));
        }
    }
    // Every slot is taken; the canary retries on fresh connections until one frees.
    let canary = async {
        loop {
            let c = client(&server);
            let r = c
                .post(server.token_endpoint(CONTOSO))
                .form(&secret_form(&app(1), "poller-secret-value", EXO_SCOPE))
                .send()
                .await;
            if let Ok(r) = r {
                return r.status().as_u16();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    let status = tokio::time::timeout(std::time::Duration::from_secs(20), canary)
        .await
        .expect("the canary was served while hostile clients held the slots");
    assert_eq!(status, 200);
    for (what, mut s) in hostile {
        let mut buf = Vec::new();
        let r = tokio::time::timeout(std::time::Duration::from_secs(20), s.read_to_end(&mut buf)).await;
        assert!(r.is_ok(), "the {what} connection was closed");
        if what == "slow body" {
            let text = String::from_utf8_lossy(&buf);
            assert!(text.starts_with("HTTP/1.1 408"), "{what}: {text}");
        } else {
            // The last frame before the close is a GOAWAY (type 7).
            assert!(
                buf.windows(4).any(|w| w[3] == 7 && w[..3] == [0, 0, 8]),
                "{what}: no GOAWAY"
            );
        }
    }
}

#[tokio::test]
async fn a_full_mailbox_refuses_append_and_copy_and_other_mailboxes_carry_on() {
    let server = MockServer::builder()
        .mailbox_limits(mock_server::mailstore::MailboxLimits {
            quota_bytes: 3_000,
            ..mock_server::mailstore::MailboxLimits::default()
        })
        .start()
        .await
        .expect("start");
    let token = app_token(&server, 1, "poller-secret-value", EXO_SCOPE).await;
    // The demo mailbox holds 2,073 bytes: a 1,500-byte message, or a copy of INBOX, passes 3,000.
    let (mut c, _) = auth(&server, &token).await;
    let msg = format!("Subject: big\r\n\r\n{}\r\n", "x".repeat(1_500));
    c.send_raw(format!("A1 APPEND Drafts {{{}+}}\r\n{msg}\r\n", msg.len()).as_bytes())
        .await;
    let answer = c.line().await;
    assert!(
        answer.starts_with("A1 NO APPEND failed: the mailbox is full: ") && answer.contains("--mailbox-quota-bytes"),
        "{answer}"
    );
    c.cmd("A2", "SELECT INBOX").await;
    let r = c.cmd("A3", "COPY 1:* INBOX").await;
    assert!(r[0].starts_with("A3 NO COPY failed: the mailbox is full: "), "{r:?}");
    assert_eq!(c.cmd("A4", "NOOP").await, ["A4 OK NOOP completed.\r\n"]);
    // A small message still fits, and another mailbox is not affected.
    let small = "Subject: s\r\n\r\nhi\r\n";
    c.send_raw(format!("A5 APPEND Drafts {{{}+}}\r\n{small}\r\n", small.len()).as_bytes())
        .await;
    let a5 = c.line().await;
    assert!(a5.starts_with("A5 OK [APPENDUID"), "{a5}");
    let (mut other, _) = auth_as(&server, "shared.inbox@contoso.com", &token).await;
    other
        .send_raw(format!("O1 APPEND Drafts {{{}+}}\r\n{msg}\r\n", msg.len()).as_bytes())
        .await;
    assert!(other.line().await.starts_with("O1 OK [APPENDUID"));
}
