//! oauth-mail-check against a scripted IMAP server (bytes we control), for Exchange's wire
//! quirks: no CAPABILITY in the greeting or after AUTHENTICATE, a bare `+` continuation,
//! literals inside FETCH responses, and a BYE in the middle of a session. The token comes
//! from mock-server's token endpoint; only the IMAP side is scripted.

use mock_server::MockServer;
use oauth_mail_check::{run, Config, Credential, Status};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

enum Step {
    /// Read a client line; its command (after the tag) must start with this.
    Expect(&'static str),
    /// Send these bytes; `{tag}` becomes the tag of the last client line.
    Send(&'static str),
    /// Close the connection.
    Close,
}

/// Serve one connection with `script`; returns the port. The client lines seen are
/// returned through the join handle, to assert on.
async fn scripted(script: Vec<Step>) -> (u16, String, tokio::task::JoinHandle<Vec<String>>) {
    let tls = mock_server::tls::build(None, &[]).expect("tls");
    let dir = std::env::temp_dir().join(format!("scripted-{}-{}", std::process::id(), uuid_like()));
    std::fs::create_dir_all(&dir).expect("dir");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &tls.ca_pem).expect("write ca");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut config = (*tls.server_config).clone();
    config.alpn_protocols.clear();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let handle = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let stream = acceptor.accept(tcp).await.expect("tls");
        let mut s = BufReader::new(stream);
        let mut seen = Vec::new();
        let mut tag = String::from("*");
        for step in script {
            match step {
                Step::Expect(prefix) => {
                    let mut line = String::new();
                    s.read_line(&mut line).await.expect("read");
                    let (t, rest) = line.split_once(' ').unwrap_or(("", line.as_str()));
                    // A SASL continuation line has no tag: compare the whole line then.
                    let (t, rest) = if prefix == "<sasl>" {
                        (tag.as_str(), line.as_str())
                    } else {
                        (t, rest)
                    };
                    assert!(
                        prefix == "<sasl>" || rest.starts_with(prefix),
                        "expected {prefix:?}, got {line:?}"
                    );
                    tag = t.to_string();
                    seen.push(line.trim_end().to_string());
                }
                Step::Send(bytes) => {
                    s.get_mut()
                        .write_all(bytes.replace("{tag}", &tag).as_bytes())
                        .await
                        .expect("write");
                }
                Step::Close => {
                    let _ = s.get_mut().shutdown().await;
                    break;
                }
            }
        }
        seen
    });
    (port, ca_file.to_string_lossy().into_owned(), handle)
}

fn uuid_like() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A config whose token comes from `server` and whose IMAP side is the scripted port.
/// Both servers' CAs are trusted through one bundle.
fn config(server: &MockServer, port: u16, scripted_ca: &str) -> Config {
    let bundle = std::env::temp_dir().join(format!("bundle-{}-{}.pem", std::process::id(), uuid_like()));
    let both = format!(
        "{}{}",
        server.ca_pem(),
        std::fs::read_to_string(scripted_ca).expect("ca")
    );
    std::fs::write(&bundle, both).expect("bundle");
    let poller = e2e_tests::demo::POLLER;
    let mut c = Config::new(
        "contoso.com",
        poller.client_id,
        Credential::Secret(poller.secret.expect("the poller has a secret").into()),
        "test.user@contoso.com",
    );
    c.authority = server.https_url().to_string();
    c.imap_host = "127.0.0.1".into();
    c.imap_port = port;
    c.ca_file = Some(bundle);
    c
}

#[tokio::test]
async fn bare_continuation_no_capabilities_and_literals_in_fetch() {
    let server = MockServer::start().await;
    let (port, ca, seen) = scripted(vec![
        // Exchange's greeting carries no CAPABILITY code.
        Step::Send("* OK The Microsoft Exchange IMAP4 service is ready. [TQBPAEMASwA=]\r\n"),
        Step::Expect("CAPABILITY"),
        // No SASL-IR: the client must use the continuation path.
        Step::Send("* CAPABILITY IMAP4 IMAP4rev1 AUTH=XOAUTH2 UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+\r\n{tag} OK CAPABILITY completed.\r\n"),
        Step::Expect("AUTHENTICATE XOAUTH2"),
        Step::Send("+\r\n"),
        Step::Expect("<sasl>"),
        // No CAPABILITY code after authenticating either.
        Step::Send("{tag} OK AUTHENTICATE completed.\r\n"),
        Step::Expect("EXAMINE INBOX"),
        Step::Send("* 2 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 14] UIDVALIDITY value\r\n{tag} OK [READ-ONLY] EXAMINE completed.\r\n"),
        Step::Expect("FETCH 1:2 (ENVELOPE)"),
        // A subject sent as a literal, and a sender name with a quoted-special.
        Step::Send("* 1 FETCH (ENVELOPE (\"Tue, 15 Nov 2022 16:49:03 +0000\" {12}\r\nLiteral \"Hi\" ((\"Arthur \\\"Art\\\" Example\" NIL \"arthur\" \"fabrikam.com\")) NIL NIL NIL NIL NIL NIL NIL))\r\n* 2 FETCH (ENVELOPE (NIL \"Second\" NIL NIL NIL NIL NIL NIL NIL NIL))\r\n{tag} OK FETCH completed.\r\n"),
        Step::Expect("LOGOUT"),
        Step::Send("* BYE Microsoft Exchange Server IMAP4 server signing off.\r\n{tag} OK LOGOUT completed.\r\n"),
    ])
    .await;
    let r = run(&config(&server, port, &ca)).await;
    assert_eq!(r.exit_code, 0, "{}", r.render());
    assert!(r
        .steps
        .iter()
        .any(|s| s.id == "authenticate" && s.detail.contains("(continuation)")));
    assert_eq!(r.messages.len(), 2);
    assert_eq!(r.messages[0].subject, "Literal \"Hi\"");
    assert_eq!(r.messages[0].from, "Arthur \"Art\" Example <arthur@fabrikam.com>");
    assert_eq!(r.messages[1].subject, "Second");
    let lines = seen.await.expect("script");
    // The SASL response went on its own line, base64 of the XOAUTH2 string.
    assert!(
        lines[2].starts_with("dXNlcj10ZXN0LnVzZXJAY29udG9zby5jb20BYXV0aD1CZWFyZXIg"),
        "{:?}",
        lines[2]
    );
}

#[tokio::test]
async fn a_bye_in_the_middle_of_the_session() {
    let server = MockServer::start().await;
    let (port, ca, _seen) = scripted(vec![
        Step::Send("* OK The Microsoft Exchange IMAP4 service is ready. [TQBPAEMASwA=]\r\n"),
        Step::Expect("CAPABILITY"),
        Step::Send("* CAPABILITY IMAP4 IMAP4rev1 AUTH=XOAUTH2 SASL-IR UIDPLUS\r\n{tag} OK CAPABILITY completed.\r\n"),
        Step::Expect("AUTHENTICATE XOAUTH2 "),
        Step::Send("{tag} OK AUTHENTICATE completed.\r\n"),
        Step::Expect("EXAMINE INBOX"),
        Step::Send("* BYE Session invalidated - AccessTokenExpired\r\n"),
        Step::Close,
    ])
    .await;
    let r = run(&config(&server, port, &ca)).await;
    assert_eq!(r.exit_code, 1, "{}", r.render());
    let failed = r.failed().expect("failed");
    assert_eq!(failed.id, "open-folder");
    assert!(
        failed.detail.contains("Session invalidated - AccessTokenExpired"),
        "{}",
        failed.detail
    );
    assert!(r.diagnosis.iter().any(|d| d.contains("expired during the session")));
    assert!(r.steps.iter().any(|s| s.id == "authenticate" && s.status == Status::Ok));
}

#[tokio::test]
async fn a_server_without_xoauth2_is_reported() {
    let server = MockServer::start().await;
    let (port, ca, _seen) = scripted(vec![
        Step::Send("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] Dovecot ready.\r\n"),
        Step::Expect("CAPABILITY"),
        Step::Send("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK Pre-login capabilities listed.\r\n"),
        Step::Close,
    ])
    .await;
    let r = run(&config(&server, port, &ca)).await;
    assert_eq!(
        (r.failed().map(|s| s.id), r.exit_code),
        (Some("capability"), 1),
        "{}",
        r.render()
    );
}
