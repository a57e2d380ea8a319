//! Properties (proptest): parsers and the IMAP session never panic on any input, and the
//! session keeps its invariants under arbitrary command sequences.

use imap_codec::decode::Decoder;
use imap_codec::CommandCodec;
use mock_server::identity::request::{EndpointVersion, TokenRequest};
use mock_server::identity::{issue, IdentityConfig};
use mock_server::token::Authority;
use mock_server::MockServer;
use proptest::prelude::*;

fn demo() -> (mock_server::Directory, Authority) {
    let d = mock_server::directory::fixture::demo_tenant().expect("demo");
    let a = Authority::new(&d.signing_keys).expect("authority");
    (d, a)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn token_requests_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400), auth in proptest::option::of(".{0,80}")) {
        let (d, a) = demo();
        let req = TokenRequest::parse(&body, auth.as_deref());
        let _ = req.summary();
        for v in [EndpointVersion::V1, EndpointVersion::V2] {
            for t in ["contoso.com", "common", "bad_tenant", "fab00000-1111-4222-8333-444455556666"] {
                let _ = issue::issue(&d, &a, v, t, &req, time::OffsetDateTime::now_utc(), &IdentityConfig::default());
            }
        }
    }

    #[test]
    fn structured_token_requests_never_panic(
        grant in prop_oneof![Just("client_credentials".to_string()), Just("password".to_string()), ".{0,12}"],
        client in prop_oneof![Just("00000000-0000-4000-8000-00000000a001".to_string()), Just("00000000-0000-4000-8000-00000000a008".to_string()), ".{0,40}"],
        secret in ".{0,30}",
        scope in prop_oneof![Just("https://outlook.office365.com/.default".to_string()), ".{0,60}"],
        assertion in proptest::option::of("[A-Za-z0-9_.=+/-]{0,300}"),
    ) {
        let (d, a) = demo();
        let mut pairs = vec![("grant_type", grant), ("client_id", client), ("client_secret", secret), ("scope", scope)];
        if let Some(x) = assertion {
            pairs.push(("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into()));
            pairs.push(("client_assertion", x));
        }
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let req = TokenRequest::from_pairs(&refs);
        let _ = issue::issue(&d, &a, EndpointVersion::V2, "contoso.onmicrosoft.com", &req, time::OffsetDateTime::now_utc(), &IdentityConfig::default());
    }

    #[test]
    fn client_assertions_with_any_header_and_claims_never_panic(header in ".{0,120}", claims in ".{0,200}", sig in "[A-Za-z0-9_-]{0,64}") {
        use base64::Engine;
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (d, _) = demo();
        let tenant = d.tenant("contoso.com").expect("contoso");
        let app = tenant.application("00000000-0000-4000-8000-00000000a001").expect("app");
        for h in [header.clone(), format!("{{\"alg\":\"RS256\",\"x5t\":{header:?},\"x5c\":[{claims:?}]}}")] {
            for c in [claims.clone(), format!("{{\"iss\":\"00000000-0000-4000-8000-00000000a001\",\"aud\":{claims:?},\"exp\":1e300}}")] {
                let jwt = format!("{}.{}.{sig}", e.encode(&h), e.encode(&c));
                let _ = mock_server::identity::assertion::check(&jwt, "00000000-0000-4000-8000-00000000a001", app, tenant, time::OffsetDateTime::now_utc());
            }
        }
    }

    #[test]
    fn tokens_checked_by_the_mail_side_never_panic(token in ".{0,400}") {
        let (d, a) = demo();
        let _ = mock_server::token::verifier::verify(&token, &a, &d, time::OffsetDateTime::now_utc());
    }
}

/// Commands a hostile or buggy client might send, valid and invalid.
fn command() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("SELECT INBOX".to_string()),
        Just("EXAMINE INBOX".to_string()),
        Just("SELECT Drafts".to_string()),
        Just("NOOP".to_string()),
        Just("CHECK".to_string()),
        Just("EXPUNGE".to_string()),
        Just("CLOSE".to_string()),
        Just("UNSELECT".to_string()),
        (1u32..8).prop_map(|n| format!("STORE {n} +FLAGS (\\Deleted)")),
        (1u32..8).prop_map(|n| format!("STORE 1:{n} -FLAGS.SILENT (\\Deleted \\Seen)")),
        (1u32..8).prop_map(|n| format!("UID STORE {n}:* +FLAGS (\\Seen)")),
        (1u32..8).prop_map(|n| format!("COPY 1:{n} Drafts")),
        (1u32..8).prop_map(|n| format!("MOVE {n} \"Deleted Items\"")),
        (1u32..8).prop_map(|n| format!("UID EXPUNGE 1:{n}")),
        (1u32..8)
            .prop_map(|n| format!("FETCH 1:{n} (FLAGS UID ENVELOPE BODYSTRUCTURE BODY.PEEK[1.MIME] BODY[TEXT]<0.5>)")),
        Just("UID FETCH 1:* (RFC822.SIZE INTERNALDATE)".to_string()),
        Just("SEARCH OR SEEN NOT DELETED SUBJECT mail".to_string()),
        Just("APPEND INBOX (\\Seen) {21+}\r\nSubject: x\r\n\r\nhello!".to_string()),
        Just("APPEND Nowhere {5+}\r\nhello".to_string()),
        Just("CREATE Archive/X".to_string()),
        Just("RENAME Archive/X Archive/Y".to_string()),
        Just("DELETE Archive/Y".to_string()),
        Just("LIST \"\" \"*\"".to_string()),
        Just("STATUS INBOX (MESSAGES UIDNEXT UNSEEN)".to_string()),
        "[ -~]{0,40}",
    ]
}

/// Arbitrary command sequences on one mailbox: no panic, and the invariants hold.
#[test]
fn imap_sessions_keep_their_invariants() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (server, token) = rt.block_on(async {
        let server = MockServer::start().await;
        let ca = reqwest::Certificate::from_pem(server.ca_pem().as_bytes()).expect("ca");
        let http = reqwest::Client::builder()
            .tls_certs_only([ca])
            .no_proxy()
            .build()
            .expect("http");
        let r: serde_json::Value = http
            .post(server.token_endpoint("contoso.com"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "00000000-0000-4000-8000-00000000a001"),
                ("client_secret", "poller-secret-value"),
                ("scope", "https://outlook.office365.com/.default"),
            ])
            .send()
            .await
            .expect("post")
            .json()
            .await
            .expect("json");
        (server, r["access_token"].as_str().expect("token").to_string())
    });
    let blob = mock_server::sasl::xoauth2::encode("test.user@contoso.com", &token);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 96,
        ..ProptestConfig::default()
    });
    let highest_uid_next = std::cell::Cell::new(0u32);
    let result = runner.run(&proptest::collection::vec(command(), 1..30), |cmds| {
        let mut s = server.imap_session(true);
        let auth = format!("A0 AUTHENTICATE XOAUTH2 {blob}\r\n");
        let (_, c) = CommandCodec::default()
            .decode(auth.as_bytes())
            .map_err(|_| TestCaseError::fail("auth decode"))?;
        let r = s.command(c);
        prop_assert!(String::from_utf8_lossy(&r.out).starts_with("A0 OK"));
        for (i, cmd) in cmds.iter().enumerate() {
            let line = format!("T{i} {cmd}\r\n");
            let reply = match CommandCodec::default().decode(line.as_bytes()) {
                Ok((_, c)) => s.command(c),
                Err(_) => s.bad_line(Some(format!("T{i}")), false, false),
            };
            let text = String::from_utf8_lossy(&reply.out);
            prop_assert!(
                text.contains(&format!("T{i} ")),
                "no tagged answer to {cmd:?}: {text:?}"
            );
            // Store invariants after every command.
            let mbx = server.store().mailbox("test.user@contoso.com").expect("mailbox");
            for folder in ["INBOX", "Drafts", "Deleted Items"] {
                let snap = mbx.snapshot(folder).expect("folder");
                prop_assert!(
                    snap.entries.windows(2).all(|w| w[0].0 < w[1].0),
                    "UIDs not ascending in {folder}"
                );
                prop_assert!(snap.entries.iter().all(|(u, _)| *u < snap.uid_next));
                prop_assert_eq!(
                    mbx.status(folder).expect("status").messages as usize,
                    snap.entries.len()
                );
            }
            let next = mbx.snapshot("INBOX").expect("inbox").uid_next;
            prop_assert!(next >= highest_uid_next.get(), "UIDNEXT went down");
            highest_uid_next.set(next);
        }
        // A fresh session's EXISTS equals the store's count.
        let mut fresh = server.imap_session(true);
        let (_, c) = CommandCodec::default()
            .decode(auth.as_bytes())
            .map_err(|_| TestCaseError::fail("auth"))?;
        fresh.command(c);
        let (_, c) = CommandCodec::default()
            .decode(b"F1 SELECT INBOX\r\n")
            .map_err(|_| TestCaseError::fail("select"))?;
        let text = String::from_utf8_lossy(&fresh.command(c).out).into_owned();
        let count = server
            .store()
            .mailbox("test.user@contoso.com")
            .expect("m")
            .status("INBOX")
            .expect("s")
            .messages;
        let exists_line = format!("* {count} EXISTS\r\n");
        prop_assert!(text.starts_with(&exists_line), "{}", text);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

fn pop3_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"CAPA".to_vec()),
        Just(b"STAT".to_vec()),
        Just(b"LIST".to_vec()),
        Just(b"UIDL".to_vec()),
        Just(b"NOOP".to_vec()),
        Just(b"RSET".to_vec()),
        Just(b"AUTH XOAUTH2".to_vec()),
        Just(b"*".to_vec()),
        (0u32..8).prop_map(|n| format!("RETR {n}").into_bytes()),
        (0u32..8, 0u32..4).prop_map(|(n, k)| format!("TOP {n} {k}").into_bytes()),
        (0u32..8).prop_map(|n| format!("DELE {n}").into_bytes()),
        (0u32..8).prop_map(|n| format!("LIST {n}").into_bytes()),
        "[ -~]{0,40}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..60),
    ]
}

/// Arbitrary POP3 line sequences, authenticated or not: no panic, every line answered with
/// `+` or `-` until the session closes, and the store keeps its INBOX (deletes happen only
/// at QUIT, which the sequences never send).
#[test]
fn pop3_sessions_answer_every_line_and_never_panic() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (server, token) = rt.block_on(async {
        let server = MockServer::start().await;
        let ca = reqwest::Certificate::from_pem(server.ca_pem().as_bytes()).expect("ca");
        let http = reqwest::Client::builder()
            .tls_certs_only([ca])
            .no_proxy()
            .build()
            .expect("http");
        let r: serde_json::Value = http
            .post(server.token_endpoint("contoso.com"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "00000000-0000-4000-8000-00000000a001"),
                ("client_secret", "poller-secret-value"),
                ("scope", "https://outlook.office365.com/.default"),
            ])
            .send()
            .await
            .expect("post")
            .json()
            .await
            .expect("json");
        (server, r["access_token"].as_str().expect("token").to_string())
    });
    let blob = mock_server::sasl::xoauth2::encode("test.user@contoso.com", &token);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 128,
        ..ProptestConfig::default()
    });
    let result = runner.run(
        &(any::<bool>(), proptest::collection::vec(pop3_line(), 1..30)),
        |(authenticate, lines)| {
            let mut s = server.pop3_session(true);
            if authenticate {
                prop_assert_eq!(s.line(b"AUTH XOAUTH2").out, b"+ \r\n".to_vec());
                let r = s.line(blob.as_bytes());
                prop_assert_eq!(r.out, b"+OK User successfully authenticated.\r\n".to_vec());
            }
            for line in &lines {
                if s.is_closed() {
                    break;
                }
                let r = s.line(line);
                let closing = r.action == mock_server::pop3::session::Action::Close;
                prop_assert!(
                    r.out.first().is_some_and(|b| *b == b'+' || *b == b'-') || (closing && r.out.is_empty()),
                    "no answer to {:?}: {:?}",
                    String::from_utf8_lossy(line),
                    String::from_utf8_lossy(&r.out)
                );
            }
            let count = server
                .store()
                .mailbox("test.user@contoso.com")
                .expect("m")
                .status("INBOX")
                .expect("s")
                .messages;
            prop_assert_eq!(count, 4);
            Ok(())
        },
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The `smtp_commands` fuzz target's logic (`fuzz/src/smtp_world.rs`), shared rather
/// than copied.
#[path = "../../fuzz/src/smtp_world.rs"]
mod smtp_world;

const SMTP_MESSAGE: &[u8] =
    b"From: test.user@contoso.com\r\nTo: test.user@contoso.com\r\nSubject: fuzz\r\n\r\nhi\r\n..stuffed\r\n";

/// One SMTP input line (CRLF-ended unless it is garbage) or a DATA/BDAT transaction.
fn smtp_piece() -> impl Strategy<Value = Vec<u8>> {
    let fixed = |s: &'static str| Just(s.as_bytes().to_vec());
    prop_oneof![
        fixed("EHLO client.example.com\r\n"),
        fixed("HELO client.example.com\r\n"),
        fixed("EHLO not a domain\r\n"),
        fixed("STARTTLS\r\n"),
        fixed("AUTH XOAUTH2\r\n"),
        fixed("AUTH XOAUTH2 dXNlcj0BAQ==\r\n"),
        fixed("AUTH LOGIN\r\n"),
        fixed("*\r\n"),
        fixed("MAIL FROM:<test.user@contoso.com>\r\n"),
        fixed("MAIL FROM:<test.user@contoso.com> BODY=BINARYMIME SIZE=100\r\n"),
        fixed("MAIL FROM:<someone@fabrikam.com>\r\n"),
        fixed("RCPT TO:<test.user@contoso.com>\r\n"),
        fixed("RCPT TO:<x@example.org>\r\n"),
        fixed("DATA\r\n"),
        fixed("RSET\r\n"),
        fixed("NOOP\r\n"),
        fixed("QUIT\r\n"),
        fixed(".\r\n"),
        fixed("bare\nLF\n.\n"),
        Just([SMTP_MESSAGE, b".\r\n"].concat()),
        Just([b"DATA\r\n", SMTP_MESSAGE, b".\r\n"].concat()),
        (0usize..80, any::<bool>()).prop_map(|(n, last)| {
            let body = [SMTP_MESSAGE, &[b'x'; 80][..]].concat();
            let head = format!("BDAT {n}{}\r\n", if last { " LAST" } else { "" });
            [head.as_bytes(), &body[..n]].concat()
        }),
        (1usize..3).prop_map(|k| vec![b'A'; k * 5000]),
        proptest::collection::vec(any::<u8>(), 0..40),
    ]
}

/// Arbitrary SMTP inputs through the fuzz target's checks: every complete line answered
/// with well-formed replies until the session closes, no panic, bytes held within a line
/// plus the message limit, and messages delivered only whole with `250 2.6.0`.
#[test]
fn smtp_sessions_answer_every_line_and_deliver_only_whole_messages() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    });
    let result = runner.run(
        &(
            prop_oneof![Just(0b1011u8), Just(0b1111u8), Just(0b0011), any::<u8>()],
            proptest::collection::vec(smtp_piece(), 0..24),
        ),
        |(flags, pieces)| {
            let data = [vec![flags], pieces.concat()].concat();
            smtp_world::run(&data);
            Ok(())
        },
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The checks reach delivery (DATA, and BDAT in two chunks), refuse a message over the
/// limit, and a message cut off by the connection is not delivered.
#[test]
fn the_smtp_fuzz_logic_reaches_delivery_and_holds_back_partial_messages() {
    let data = [
        &[0b1011u8][..],
        b"DATA\r\n",
        SMTP_MESSAGE,
        b".\r\n",
        b"MAIL FROM:<test.user@contoso.com>\r\nRCPT TO:<test.user@contoso.com>\r\n",
        format!(
            "BDAT 10\r\n{}",
            std::str::from_utf8(&SMTP_MESSAGE[..10]).expect("ascii")
        )
        .as_bytes(),
        format!("BDAT {} LAST\r\n", SMTP_MESSAGE.len() - 10).as_bytes(),
        &SMTP_MESSAGE[10..],
        b"MAIL FROM:<test.user@contoso.com>\r\nRCPT TO:<test.user@contoso.com>\r\nDATA\r\n",
        &[b'x'; 5000],
        b"\r\n.\r\n",
    ]
    .concat();
    for split in 0..8u8 {
        let mut d = data.clone();
        d[0] |= split << 5;
        let seen = smtp_world::run(&d);
        assert_eq!(seen.delivered, 2, "split {split}: {seen:?}");
        assert!(!seen.closed);
    }
    // Cut mid-DATA and mid-BDAT LAST: nothing delivered.
    for cut in [
        b"DATA\r\nFrom: a\r\n".to_vec(),
        b"BDAT 100 LAST\r\nFrom: a\r\n".to_vec(),
    ] {
        let seen = smtp_world::run(&[&[0b1011u8][..], &cut].concat());
        assert_eq!(seen.delivered, 0);
    }
    // Two-step AUTH, then QUIT closes.
    let seen = smtp_world::run(b"\x07QUIT\r\nNOOP\r\n");
    assert!(seen.closed);
}
