//! POP3 over real TLS (995) and STLS (110): Microsoft's documented exchange, every
//! failure cause of the demo tenant byte for byte with the journal's reason and fix, the
//! mail store shared with IMAP, and hostile input (long lines, drips, bare LF, pipelining,
//! data behind STLS, half-closed sockets).

use e2e_tests::imap::{app_token, connector, xoauth2, Imap};
use e2e_tests::*;
use mock_server::pop3::{Personality, Pop3Config};
use mock_server::{Clock, Fault, MockServer, Outcome};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Every wait in a test names its step and gives up after this long.
const STEP: Duration = Duration::from_secs(10);
const FQDN_B64: &str =
    "TQBPAEMASwAwADEAQwBBADAAMAAwADEALgBOAEEATQBQAFIARAAwADEALgBQAFIATwBEAC4ATwBVAFQATABPAE8ASwAuAEMATwBNAA==";
const CAPA_TLS: &str = "+OK\r\nTOP\r\nUIDL\r\nSASL PLAIN XOAUTH2\r\nUSER\r\n.\r\n";
const CAPA_PLAIN: &str = "+OK\r\nTOP\r\nUIDL\r\nSTLS\r\n.\r\n";
const AUTH_OK: &str = "+OK User successfully authenticated.\r\n";
const AUTH_FAILED: &str = "-ERR Authentication failure: unknown user name or bad password.\r\n";
const NOT_CONNECTED: &str = "-ERR User is authenticated but not connected.\r\n";
const PROTOCOL_ERROR_10: &str = "-ERR Protocol error. Connection is closed. 10\r\n";
const SIGNING_OFF: &str = "+OK Microsoft Exchange Server POP3 server signing off.\r\n";
const USER: &str = "test.user@contoso.com";

enum Io {
    Plain(BufReader<TcpStream>),
    Tls(Box<BufReader<tokio_rustls::client::TlsStream<TcpStream>>>),
}

/// A raw POP3 client: exact bytes in and out, every wait bounded.
struct Pop3 {
    io: Option<Io>,
    ca_pem: String,
}

impl Pop3 {
    async fn tls(server: &MockServer) -> (Self, String) {
        let tcp = TcpStream::connect(server.pop3s_addr()).await.expect("connect");
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let tls = connector(server.ca_pem())
            .connect(name, tcp)
            .await
            .expect("TLS handshake");
        let mut c = Self {
            io: Some(Io::Tls(Box::new(BufReader::new(tls)))),
            ca_pem: server.ca_pem().to_string(),
        };
        let g = c.line().await;
        (c, g)
    }

    async fn plain(server: &MockServer) -> (Self, String) {
        let tcp = TcpStream::connect(server.pop3_addr()).await.expect("connect");
        let mut c = Self {
            io: Some(Io::Plain(BufReader::new(tcp))),
            ca_pem: server.ca_pem().to_string(),
        };
        let g = c.line().await;
        (c, g)
    }

    async fn upgrade(&mut self) {
        let Some(Io::Plain(reader)) = self.io.take() else {
            panic!("not plain")
        };
        assert!(reader.buffer().is_empty(), "bytes after STLS before the handshake");
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let tls = connector(&self.ca_pem)
            .connect(name, reader.into_inner())
            .await
            .expect("STLS handshake");
        self.io = Some(Io::Tls(Box::new(BufReader::new(tls))));
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        let r = match self.io.as_mut().expect("open") {
            Io::Plain(s) => s.get_mut().write_all(bytes).await,
            Io::Tls(s) => s.get_mut().write_all(bytes).await,
        };
        r.expect("write");
    }

    async fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes()).await;
    }

    /// Close our sending side only (a half-closed socket).
    async fn shutdown_write(&mut self) {
        let r = match self.io.as_mut().expect("open") {
            Io::Plain(s) => s.get_mut().shutdown().await,
            Io::Tls(s) => s.get_mut().shutdown().await,
        };
        r.expect("shutdown");
    }

    /// One line including its CRLF; "" at EOF.
    async fn line(&mut self) -> String {
        let mut buf = Vec::new();
        let read = async {
            match self.io.as_mut().expect("open") {
                Io::Plain(s) => s.read_until(b'\n', &mut buf).await,
                Io::Tls(s) => s.read_until(b'\n', &mut buf).await,
            }
        };
        let _ = tokio::time::timeout(STEP, read).await.expect("a line within 10 s");
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// A one-line answer.
    async fn cmd(&mut self, line: &str) -> String {
        self.send(line).await;
        self.line().await
    }

    /// A multi-line answer up to and including `.\r\n` (or the first line when it is -ERR).
    async fn multi(&mut self, line: &str) -> String {
        self.send(line).await;
        self.until_dot().await
    }

    async fn until_dot(&mut self) -> String {
        let mut all = self.line().await;
        if !all.starts_with("+OK") {
            return all;
        }
        loop {
            let l = self.line().await;
            assert!(!l.is_empty(), "EOF inside a multi-line answer: {all:?}");
            all.push_str(&l);
            if l == ".\r\n" {
                return all;
            }
        }
    }

    async fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        let read = async {
            match self.io.as_mut().expect("open") {
                Io::Plain(s) => s.read(&mut b).await,
                Io::Tls(s) => s.read(&mut b).await,
            }
        };
        matches!(
            tokio::time::timeout(STEP, read).await.expect("EOF in time"),
            Ok(0) | Err(_)
        )
    }

    /// AUTH XOAUTH2 in Microsoft's two lines; returns the answer to the blob.
    async fn auth(&mut self, user: &str, token: &str) -> String {
        assert_eq!(self.cmd("AUTH XOAUTH2").await, "+ \r\n");
        self.cmd(&xoauth2(user, token)).await
    }
}

async fn poller_token(server: &MockServer) -> String {
    app_token(server, 1, "poller-secret-value", EXO_SCOPE).await
}

/// A delegated token from ROPC for the Desktop Mail Client (app 08).
async fn user_token(server: &MockServer, upn: &str, scope: &str) -> String {
    let c = client(server);
    let r = post_form(
        &c,
        &server.token_endpoint(CONTOSO),
        &[
            ("grant_type", "password"),
            ("client_id", &app(8)),
            ("username", upn),
            ("password", "Passw0rd!"),
            ("scope", scope),
        ],
    )
    .await;
    r.json["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("ROPC token: {}", r.json))
        .to_string()
}

fn last_pop3(server: &MockServer) -> mock_server::JournalEntry {
    server.pop3_events().pop().expect("a POP3 journal entry")
}

#[tokio::test]
async fn microsofts_documented_two_line_exchange_and_a_full_session() {
    let server = MockServer::start().await;
    let token = poller_token(&server).await;
    let (mut c, greeting) = Pop3::tls(&server).await;
    assert_eq!(
        greeting,
        format!("+OK Microsoft Exchange POP3 server ready (tcpproxy/15.20.9137.005). [{FQDN_B64}]\r\n")
    );
    assert_eq!(c.multi("CAPA").await, CAPA_TLS);
    assert_eq!(c.auth(USER, &token).await, AUTH_OK);
    let e = last_pop3(&server);
    assert_eq!(e.outcome, Outcome::Authenticated);
    assert_eq!(e.request, "AUTH XOAUTH2 user=test.user@contoso.com");
    assert_eq!(e.client_id.as_deref(), Some(app(1).as_str()));

    let mbx = server.store().mailbox(USER).expect("mailbox");
    let msgs = mbx.messages("INBOX").expect("inbox");
    let sizes: Vec<usize> = msgs
        .iter()
        .map(|m| mock_server::pop3::session::wire_size(&m.raw))
        .collect();
    let total: usize = sizes.iter().sum();
    assert_eq!(c.cmd("STAT").await, format!("+OK 4 {total}\r\n"));
    let mut list = format!("+OK 4 {total}\r\n");
    for (i, s) in sizes.iter().enumerate() {
        list.push_str(&format!("{} {s}\r\n", i + 1));
    }
    list.push_str(".\r\n");
    assert_eq!(c.multi("LIST").await, list);
    assert_eq!(c.cmd("LIST 2").await, format!("+OK 2 {}\r\n", sizes[1]));
    let uids: Vec<u32> = msgs.iter().map(|m| m.uid).collect();
    let mut uidl = "+OK\r\n".to_string();
    for (i, u) in uids.iter().enumerate() {
        uidl.push_str(&format!("{} {u}\r\n", i + 1));
    }
    uidl.push_str(".\r\n");
    assert_eq!(c.multi("UIDL").await, uidl);
    let retr = c.multi("RETR 1").await;
    // RETR is the message with CRLF lines, dot-stuffed, between +OK and the dot.
    let mut expect = "+OK\r\n".to_string();
    for l in String::from_utf8_lossy(&msgs[0].raw).trim_end_matches('\n').split('\n') {
        let l = l.trim_end_matches('\r');
        if l.starts_with('.') {
            expect.push('.');
        }
        expect.push_str(l);
        expect.push_str("\r\n");
    }
    expect.push_str(".\r\n");
    assert_eq!(retr, expect);
    assert_eq!(
        retr.len() - "+OK\r\n".len() - ".\r\n".len(),
        sizes[0],
        "LIST size is what RETR sends"
    );
    let top = c.multi("TOP 1 0").await;
    assert!(top.starts_with("+OK\r\n") && top.ends_with("\r\n\r\n.\r\n"), "{top}");
    assert!(top.contains("Subject: Test Mail\r\n"), "{top}");
    assert_eq!(c.cmd("NOOP").await, "+OK\r\n");
    assert_eq!(c.cmd("QUIT").await, SIGNING_OFF);
    assert!(c.closed().await);
}

#[tokio::test]
async fn classic_era_greeting() {
    let server = MockServer::builder()
        .pop3_config(Pop3Config {
            personality: Personality::Exo2018,
            ..Pop3Config::default()
        })
        .start()
        .await
        .expect("start");
    let (_, greeting) = Pop3::tls(&server).await;
    assert_eq!(
        greeting,
        format!("+OK The Microsoft Exchange POP3 service is ready. [{FQDN_B64}]\r\n")
    );
}

#[tokio::test]
async fn port_110_offers_stls_and_authenticates_after_it() {
    let server = MockServer::start().await;
    let token = poller_token(&server).await;
    let (mut c, greeting) = Pop3::plain(&server).await;
    assert!(greeting.starts_with("+OK Microsoft Exchange POP3 server ready"));
    assert_eq!(c.multi("CAPA").await, CAPA_PLAIN);
    assert_eq!(
        c.cmd("AUTH XOAUTH2").await,
        "-ERR Command is not valid in this state.\r\n"
    );
    assert_eq!(
        c.cmd("USER test.user@contoso.com").await,
        "-ERR Command is not valid in this state.\r\n"
    );
    assert_eq!(c.cmd("STLS").await, "+OK Begin TLS negotiation.\r\n");
    c.upgrade().await;
    assert_eq!(c.multi("CAPA").await, CAPA_TLS);
    assert_eq!(c.cmd("STLS").await, "-ERR Command is not valid in this state.\r\n");
    assert_eq!(c.auth(USER, &token).await, AUTH_OK);
    assert!(c.cmd("STAT").await.starts_with("+OK 4 "));
}

#[tokio::test]
async fn bytes_behind_stls_in_the_same_packet_are_dropped() {
    let server = MockServer::start().await;
    let (mut c, _) = Pop3::plain(&server).await;
    // The STARTTLS injection: a command smuggled behind STLS must not be answered over TLS.
    c.send_raw(b"STLS\r\nCAPA\r\n").await;
    assert_eq!(c.line().await, "+OK Begin TLS negotiation.\r\n");
    c.upgrade().await;
    assert_eq!(c.cmd("NOOP").await, "-ERR Command is not valid in this state.\r\n");
}

#[tokio::test]
async fn single_line_auth_is_refused_and_closed() {
    let server = MockServer::start().await;
    let token = poller_token(&server).await;
    let (mut c, _) = Pop3::tls(&server).await;
    assert_eq!(
        c.cmd(&format!("AUTH XOAUTH2 {}", xoauth2(USER, &token))).await,
        PROTOCOL_ERROR_10
    );
    assert!(c.closed().await);
    let e = last_pop3(&server);
    assert_eq!(e.outcome, Outcome::Refused);
    assert!(e.reason.as_deref().unwrap_or("").contains("single-line AUTH"), "{e:?}");
    assert!(e.fix.as_deref().unwrap_or("").contains("AUTH XOAUTH2"), "{e:?}");
    // A short one too (the argument parser takes one word).
    let (mut c, _) = Pop3::tls(&server).await;
    assert_eq!(c.cmd("AUTH XOAUTH2 dXNlcj0=").await, PROTOCOL_ERROR_10);
    assert!(c.closed().await);
}

#[tokio::test]
async fn every_app_refused_at_authentication_gets_the_failure_and_a_reason() {
    let server = MockServer::start().await;
    for (nn, secret, reason) in [
        (2, "wrong-oid-secret", "application object id"),
        (3, "not-registered-secret", "no Exchange service principal"),
        // The app has IMAP.AccessAsUser.All only, so its token has no roles at all.
        (5, "delegated-only-secret", "do not include POP.AccessAsApp"),
        // IMAP.AccessAsApp added without consent: no roles, and no POP permission at all.
        (6, "no-consent-secret", "do not include POP.AccessAsApp"),
    ] {
        let token = app_token(&server, nn, secret, EXO_SCOPE).await;
        let (mut c, _) = Pop3::tls(&server).await;
        assert_eq!(c.auth(USER, &token).await, AUTH_FAILED, "app {nn}");
        let e = last_pop3(&server);
        assert_eq!(e.outcome, Outcome::Refused, "app {nn}");
        assert!(e.reason.as_deref().unwrap_or("").contains(reason), "app {nn}: {e:?}");
        assert!(e.fix.is_some(), "app {nn}: a fix");
    }
    // Graph audience (catalogue #1).
    let token = app_token(
        &server,
        1,
        "poller-secret-value",
        "https://graph.microsoft.com/.default",
    )
    .await;
    let (mut c, _) = Pop3::tls(&server).await;
    assert_eq!(c.auth(USER, &token).await, AUTH_FAILED);
    assert!(last_pop3(&server)
        .reason
        .unwrap_or_default()
        .contains("Microsoft Graph"));
    // Not base64 at all.
    assert_eq!(c.cmd("AUTH XOAUTH2").await, "+ \r\n");
    assert_eq!(c.cmd("user=x").await, AUTH_FAILED);
    assert!(last_pop3(&server)
        .reason
        .unwrap_or_default()
        .contains("malformed XOAUTH2"));
}

#[tokio::test]
async fn no_mailbox_permission_is_authenticated_but_not_connected() {
    let server = MockServer::start().await;
    let token = app_token(&server, 4, "no-permission-secret", EXO_SCOPE).await;
    let (mut c, _) = Pop3::tls(&server).await;
    assert_eq!(c.auth(USER, &token).await, AUTH_OK);
    let e = last_pop3(&server);
    assert_eq!(e.outcome, Outcome::NotConnected);
    assert!(e
        .fix
        .as_deref()
        .unwrap_or("")
        .starts_with("Add-MailboxPermission -Identity test.user@contoso.com"));
    assert_eq!(c.multi("CAPA").await, CAPA_TLS, "CAPA is still answered");
    assert_eq!(c.cmd("STAT").await, NOT_CONNECTED);
    assert_eq!(c.cmd("LIST").await, NOT_CONNECTED);
    c.send("RETR 1").await;
    assert_eq!(c.line().await, NOT_CONNECTED);
    assert_eq!(c.line().await, "Connection is closed. 21\r\n");
    assert!(c.closed().await);
}

#[tokio::test]
async fn pop_disabled_and_user_mismatch_are_not_connected() {
    let server = MockServer::start().await;
    let token = poller_token(&server).await;
    let (mut c, _) = Pop3::tls(&server).await;
    assert_eq!(c.auth("imap.disabled@contoso.com", &token).await, AUTH_OK);
    assert_eq!(
        last_pop3(&server).fix.as_deref(),
        Some("Set-CASMailbox -Identity imap.disabled@contoso.com -PopEnabled $true")
    );
    assert_eq!(c.cmd("STAT").await, NOT_CONNECTED);

    // Delegated: test.user's token for imap.disabled's mailbox (no FullAccess there).
    let token = user_token(&server, USER, "https://outlook.office.com/POP.AccessAsUser.All").await;
    let (mut c, _) = Pop3::tls(&server).await;
    assert_eq!(c.auth("imap.disabled@contoso.com", &token).await, AUTH_OK);
    let e = last_pop3(&server);
    assert_eq!(e.outcome, Outcome::NotConnected);
    assert!(
        e.reason
            .as_deref()
            .unwrap_or("")
            .contains("token belongs to test.user@contoso.com"),
        "{e:?}"
    );
    // …and for the shared mailbox, where test.user has FullAccess, it works.
    let (mut c, _) = Pop3::tls(&server).await;
    assert_eq!(c.auth("shared.inbox@contoso.com", &token).await, AUTH_OK);
    assert_eq!(last_pop3(&server).outcome, Outcome::Authenticated);
    assert!(c.cmd("STAT").await.starts_with("+OK 2 "));
}

#[tokio::test]
async fn expired_tokens_fail_and_expiry_mid_session_invalidates() {
    let clock = Clock::system();
    let server = MockServer::builder().clock(clock.clone()).start().await.expect("start");
    let token = poller_token(&server).await;
    let (mut c, _) = Pop3::tls(&server).await;
    assert_eq!(c.auth(USER, &token).await, AUTH_OK);
    clock.advance(time::Duration::hours(2));
    assert_eq!(c.cmd("STAT").await, "-ERR Session invalidated - AccessTokenExpired\r\n");
    assert!(c.closed().await);
    let (mut c, _) = Pop3::tls(&server).await;
    assert_eq!(c.auth(USER, &token).await, AUTH_FAILED);
    assert!(last_pop3(&server).reason.unwrap_or_default().contains("expired"));
}

#[tokio::test]
async fn third_failure_closes_and_cancel_counts() {
    let server = MockServer::start().await;
    let (mut c, _) = Pop3::tls(&server).await;
    assert_eq!(c.cmd("AUTH XOAUTH2").await, "+ \r\n");
    assert_eq!(
        c.cmd("*").await,
        "-ERR The AUTH protocol exchange was canceled by the client.\r\n"
    );
    assert_eq!(c.cmd("USER test.user@contoso.com").await, "+OK\r\n");
    assert_eq!(
        c.cmd("PASS Passw0rd!").await,
        "-ERR Basic authentication is disabled\r\n"
    );
    assert_eq!(c.cmd("AUTH XOAUTH2").await, "+ \r\n");
    c.send(&xoauth2(USER, "not-a-token")).await;
    assert_eq!(c.line().await, AUTH_FAILED);
    assert_eq!(c.line().await, "Connection is closed. 21\r\n");
    assert!(c.closed().await);
    assert!(server
        .journal()
        .iter()
        .all(|e| !e.to_owned().summary.contains("Passw0rd")));
}

#[tokio::test]
async fn delivered_mail_is_listed_retrieved_and_dele_quit_removes_it_for_imap_too() {
    let server = MockServer::start().await;
    let token = poller_token(&server).await;
    let raw = b"From: a@fabrikam.com\r\nTo: test.user@contoso.com\r\nSubject: Via POP\r\n\r\nline one\r\n.starts with a dot\r\n";
    server.deliver(USER, "INBOX", raw).expect("deliver");
    let (mut c, _) = Pop3::tls(&server).await;
    assert_eq!(c.auth(USER, &token).await, AUTH_OK);
    let stat = c.cmd("STAT").await;
    assert!(stat.starts_with("+OK 5 "), "{stat}");
    assert_eq!(c.cmd("LIST 5").await, format!("+OK 5 {}\r\n", raw.len()));
    assert_eq!(
        c.multi("RETR 5").await,
        "+OK\r\nFrom: a@fabrikam.com\r\nTo: test.user@contoso.com\r\nSubject: Via POP\r\n\r\nline one\r\n..starts with a dot\r\n.\r\n"
    );
    assert_eq!(
        c.multi("TOP 5 1").await,
        "+OK\r\nFrom: a@fabrikam.com\r\nTo: test.user@contoso.com\r\nSubject: Via POP\r\n\r\nline one\r\n.\r\n"
    );
    assert_eq!(c.cmd("DELE 5").await, "+OK\r\n");
    assert_eq!(c.cmd("DELE 1").await, "+OK\r\n");

    // An IMAP session open meanwhile still sees five messages: POP3 deletes at QUIT.
    let (mut imap, _) = Imap::tls(&server).await;
    let r = imap
        .cmd("A1", &format!("AUTHENTICATE XOAUTH2 {}", xoauth2(USER, &token)))
        .await;
    assert_eq!(r, ["A1 OK AUTHENTICATE completed.\r\n"]);
    let r = imap.cmd("A2", "STATUS INBOX (MESSAGES)").await;
    assert_eq!(r[0], "* STATUS INBOX (MESSAGES 5) \r\n");

    assert_eq!(c.cmd("QUIT").await, SIGNING_OFF);
    assert!(c.closed().await);
    let r = imap.cmd("A3", "STATUS INBOX (MESSAGES)").await;
    assert_eq!(r[0], "* STATUS INBOX (MESSAGES 3) \r\n");
    let subjects: Vec<String> = server
        .store()
        .mailbox(USER)
        .expect("mbx")
        .messages("INBOX")
        .expect("inbox")
        .iter()
        .flat_map(|m| m.header_values("Subject"))
        .collect();
    assert!(
        !subjects.iter().any(|s| s == "Via POP" || s == "Test Mail"),
        "{subjects:?}"
    );
}

#[tokio::test]
async fn without_quit_nothing_is_deleted_and_a_half_closed_quit_still_commits() {
    let server = MockServer::start().await;
    let token = poller_token(&server).await;
    let count = || {
        server
            .store()
            .mailbox(USER)
            .expect("m")
            .status("INBOX")
            .expect("s")
            .messages
    };
    // DELE, then the client closes its side without QUIT: no UPDATE state.
    let (mut c, _) = Pop3::tls(&server).await;
    assert_eq!(c.auth(USER, &token).await, AUTH_OK);
    assert_eq!(c.cmd("DELE 1").await, "+OK\r\n");
    c.shutdown_write().await;
    assert!(c.closed().await);
    assert_eq!(count(), 4);
    // DELE and QUIT pipelined, then a half-close: both are answered, the delete applies.
    let (mut c, _) = Pop3::tls(&server).await;
    assert_eq!(c.auth(USER, &token).await, AUTH_OK);
    c.send_raw(b"DELE 1\r\nQUIT\r\n").await;
    c.shutdown_write().await;
    assert_eq!(c.line().await, "+OK\r\n");
    assert_eq!(c.line().await, SIGNING_OFF);
    assert!(c.closed().await);
    assert_eq!(count(), 3);
}

#[tokio::test]
async fn pipelined_commands_are_answered_in_order() {
    let server = MockServer::start().await;
    let token = poller_token(&server).await;
    let (mut c, _) = Pop3::tls(&server).await;
    c.send_raw(format!("CAPA\r\nAUTH XOAUTH2\r\n{}\r\nSTAT\r\nNOOP\r\n", xoauth2(USER, &token)).as_bytes())
        .await;
    assert_eq!(c.until_dot().await, CAPA_TLS);
    assert_eq!(c.line().await, "+ \r\n");
    assert_eq!(c.line().await, AUTH_OK);
    assert!(c.line().await.starts_with("+OK 4 "));
    assert_eq!(c.line().await, "+OK\r\n");
}

#[tokio::test]
async fn over_long_lines_are_a_protocol_error() {
    let server = MockServer::start().await;
    // A command line over 512 bytes, still unfinished: answered as soon as it passes the
    // limit, without waiting for an end that may never come.
    let (mut c, _) = Pop3::tls(&server).await;
    c.send_raw(&[b'A'; 600]).await;
    assert_eq!(c.line().await, PROTOCOL_ERROR_10);
    assert!(c.closed().await);
    assert!(last_pop3(&server).reason.unwrap_or_default().contains("512"));
    // A SASL response over 4096 bytes (catalogue #21).
    let (mut c, _) = Pop3::tls(&server).await;
    assert_eq!(c.cmd("AUTH XOAUTH2").await, "+ \r\n");
    c.send(&"A".repeat(5000)).await;
    assert_eq!(c.line().await, PROTOCOL_ERROR_10);
    assert!(c.closed().await);
    assert!(last_pop3(&server).fix.unwrap_or_default().contains("shrink the token"));
}

#[tokio::test]
async fn bare_lf_ends_no_line() {
    let server = MockServer::start().await;
    let (mut c, _) = Pop3::tls(&server).await;
    // As on Exchange, "NOOP\n" is not a command: the next CRLF ends one line "NOOP\nCAPA".
    c.send_raw(b"NOOP\n").await;
    c.send_raw(b"CAPA\r\n").await;
    assert_eq!(c.line().await, "-ERR Protocol error. 14\r\n");
}

#[tokio::test]
async fn the_pre_auth_deadline_is_not_reset_by_a_drip() {
    let server = MockServer::builder()
        .pop3_config(Pop3Config {
            pre_auth_timeout: Duration::from_millis(500),
            ..Pop3Config::default()
        })
        .start()
        .await
        .expect("start");
    let tcp = TcpStream::connect(server.pop3_addr()).await.expect("connect");
    let (read, mut write) = tcp.into_split();
    let mut read = BufReader::new(read);
    let mut greeting = String::new();
    tokio::time::timeout(STEP, read.read_line(&mut greeting))
        .await
        .expect("greeting")
        .expect("read");
    // One byte every 50 ms, never a line end, far below the line limit (up to 10 s).
    let drip = tokio::spawn(async move {
        for _ in 0..200 {
            if write.write_all(b"N").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut answer = String::new();
    tokio::time::timeout(STEP, read.read_line(&mut answer))
        .await
        .expect("the deadline fires while the drip goes on")
        .expect("read");
    assert_eq!(answer, "-ERR Connection is closed. 12\r\n");
    drip.abort();
    let e = last_pop3(&server);
    assert_eq!(e.outcome, Outcome::Ended);
    assert!(e.reason.unwrap_or_default().contains("not authenticated within"));
}

#[tokio::test]
async fn pop3_command_faults_reply_drop_and_trickle() {
    let server = MockServer::start().await;
    let token = poller_token(&server).await;
    let _reply = server.arm_scoped(Fault::pop3_reply("STAT").times(1).expect(1));
    let _trickle = server.arm_scoped(Fault::pop3_trickle("UIDL", 3).expect(1));
    let _drop = server.arm_scoped(Fault::pop3_command_drop("RETR").expect(1));
    let (mut c, _) = Pop3::tls(&server).await;
    assert_eq!(c.auth(USER, &token).await, AUTH_OK);
    assert_eq!(c.cmd("STAT").await, "-ERR Server Unavailable. 15\r\n");
    assert!(
        c.cmd("STAT").await.starts_with("+OK 4 "),
        "times(1): the second STAT is answered"
    );
    let uidl = c.multi("UIDL").await;
    assert!(uidl.starts_with("+OK\r\n1 ") && uidl.ends_with("\r\n.\r\n"), "{uidl}");
    c.send("RETR 1").await;
    assert!(c.closed().await);
    assert!(server
        .journal()
        .iter()
        .any(|e| e.protocol == "pop3" && e.outcome == Outcome::Fault));
}

#[tokio::test]
async fn ready_info_names_both_pop3_ports() {
    let server = MockServer::start().await;
    let info = server.ready_info();
    assert_eq!(info["pop3s_addr"], server.pop3s_addr().to_string());
    assert_eq!(info["pop3_addr"], server.pop3_addr().to_string());
    assert_ne!(server.pop3s_addr(), server.pop3_addr());
}
