//! Sans-I/O tests: whole exchanges with exact bytes, without sockets.

use super::*;
use crate::clock::Clock;
use crate::directory::fixture::demo_tenant;
use crate::state::Core;

fn state() -> Arc<SmtpState> {
    let core = Arc::new(Core::new(demo_tenant().expect("demo"), Clock::system()).expect("core"));
    Arc::new(SmtpState::new(core, SmtpConfig::default()))
}

fn session(smtp: &Arc<SmtpState>) -> Session {
    Session::new(smtp.clone(), "127.0.0.1:5555".parse().expect("addr"))
}

fn feed(s: &mut Session, bytes: &str) -> String {
    String::from_utf8(s.feed(bytes.as_bytes()).out).expect("utf8")
}

/// Strip the volatile bracket `[… time id]` for comparisons.
fn unbracket(s: &str) -> String {
    s.lines()
        .map(|l| match l.rfind(" [") {
            Some(i) if l.ends_with(']') => format!("{} [*]", &l[..i]),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

#[test]
fn plain_ehlo_offers_starttls_and_refuses_auth() {
    let smtp = state();
    let mut s = session(&smtp);
    let banner = String::from_utf8(s.banner()).expect("utf8");
    assert!(banner.starts_with("220 MOCK01CA0001.outlook.office365.com Microsoft ESMTP MAIL Service ready at "));
    assert_eq!(
        feed(&mut s, "EHLO client.example.com\r\n"),
        "250-MOCK01CA0001.outlook.office365.com Hello [127.0.0.1]\r\n250-SIZE 157286400\r\n250-PIPELINING\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n"
    );
    assert_eq!(
        unbracket(&feed(&mut s, "AUTH XOAUTH2\r\n")),
        "504 5.7.4 Unrecognized authentication type [*]"
    );
    assert_eq!(
        unbracket(&feed(&mut s, "MAIL FROM:<a@contoso.com>\r\n")),
        "530 5.7.57 Client not authenticated to send mail. [*]"
    );
}

#[test]
fn starttls_drops_bytes_behind_it() {
    let smtp = state();
    let mut s = session(&smtp);
    feed(&mut s, "EHLO x.example\r\n");
    let r = s.feed(b"STARTTLS\r\nAUTH XOAUTH2 AAAA\r\n");
    assert_eq!(r.out, b"220 2.0.0 SMTP server ready\r\n");
    assert_eq!(r.action, Action::StartTls);
    assert_eq!(s.held(), 0);
}

#[test]
fn bad_ehlo_names_get_501_5_5_4() {
    let smtp = state();
    let mut s = session(&smtp);
    for bad in ["EHLO\r\n", "EHLO bad_name.com\r\n", "EHLO a..b\r\n", "HELO -x.com\r\n"] {
        assert_eq!(
            unbracket(&feed(&mut s, bad)),
            "501 5.5.4 Invalid domain name [*]",
            "{bad}"
        );
    }
    assert!(feed(&mut s, "EHLO [192.0.2.1]\r\n").starts_with("250-"));
    assert!(feed(&mut s, "HELO localhost\r\n").starts_with("250 "));
}

#[test]
fn unknown_commands_quote_the_line_or_unknown() {
    let smtp = state();
    let mut s = session(&smtp);
    assert_eq!(
        unbracket(&feed(&mut s, "Length: 3\r\n")),
        "500 5.3.3 Unrecognized command 'Length: 3' [*]"
    );
    // A bare LF does not end a line: both "commands" are one unrecognized line.
    assert_eq!(feed(&mut s, "QUIT\n"), "");
    assert_eq!(
        unbracket(&feed(&mut s, "EHLO x.example\r\n")),
        "500 5.3.3 Unrecognized command 'unknown' [*]"
    );
}

#[test]
fn over_long_lines_are_answered_once_and_never_held() {
    let smtp = state();
    let mut s = session(&smtp);
    let chunk = "A".repeat(1000);
    for _ in 0..100 {
        assert_eq!(feed(&mut s, &chunk), "");
        assert!(s.held() <= super::super::MAX_LINE + 1000, "{}", s.held());
    }
    assert_eq!(
        unbracket(&feed(&mut s, "\r\nNOOP\r\n")),
        "500 5.3.3 Unrecognized command 'unknown' [*]\r\n250 2.0.0 OK"
    );
}

#[test]
fn pipelined_commands_are_answered_in_order() {
    let smtp = state();
    let mut s = session(&smtp);
    assert_eq!(
        feed(&mut s, "NOOP\r\nRSET\r\nVRFY x\r\nQUIT\r\nNOOP\r\n"),
        "250 2.0.0 OK\r\n250 2.0.0 Resetting\r\n252 2.1.5 Cannot VRFY user, but will take message for this user\r\n221 2.0.0 Service closing transmission channel\r\n"
    );
}

fn app_token(smtp: &Arc<SmtpState>, nn: u32, roles: &[&str]) -> String {
    let now = smtp.core.clock.now().unix_timestamp();
    let tid = "c0ffee00-1111-4222-8333-444455556666";
    let claims = serde_json::json!({
        "iss": format!("https://sts.windows.net/{tid}/"),
        "tid": tid,
        "aud": "https://outlook.office365.com",
        "nbf": now - 10,
        "exp": now + 3600,
        "appid": format!("00000000-0000-4000-8000-00000000a{nn:03}"),
        "oid": format!("00000000-0000-4000-8000-00000000c{nn:03}"),
        "roles": roles,
    });
    smtp.core.authority().sign(&claims, None).expect("token")
}

fn tls_session(smtp: &Arc<SmtpState>) -> Session {
    let mut s = session(smtp);
    s.tls_started();
    feed(&mut s, "EHLO x.example\r\n");
    s
}

#[test]
fn tls_ehlo_offers_auth_and_xoauth2_succeeds_one_line_and_two_step() {
    let smtp = state();
    let mut s = session(&smtp);
    s.tls_started();
    assert!(feed(&mut s, "EHLO x.example\r\n").contains("250-AUTH LOGIN XOAUTH2\r\n"));
    let token = app_token(&smtp, 1, &["SMTP.SendAsApp"]);
    let blob = xoauth2_blob("test.user@contoso.com", &token);
    assert_eq!(
        feed(&mut s, &format!("AUTH XOAUTH2 {blob}\r\n")),
        "235 2.7.0 Authentication successful\r\n"
    );
    let mut s = tls_session(&smtp);
    assert_eq!(feed(&mut s, "AUTH XOAUTH2\r\n"), "334 \r\n");
    assert_eq!(
        feed(&mut s, &format!("{blob}\r\n")),
        "235 2.7.0 Authentication successful\r\n"
    );
}

#[test]
fn dot_stuffing_bare_lf_and_split_end_marker() {
    let smtp = state();
    let mut s = tls_session(&smtp);
    let token = app_token(&smtp, 1, &["SMTP.SendAsApp"]);
    feed(
        &mut s,
        &format!("AUTH XOAUTH2 {}\r\n", xoauth2_blob("test.user@contoso.com", &token)),
    );
    assert_eq!(
        feed(
            &mut s,
            "MAIL FROM:<test.user@contoso.com>\r\nRCPT TO:<someone@example.org>\r\nDATA\r\n"
        ),
        "250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n354 Start mail input; end with <CRLF>.<CRLF>\r\n"
    );
    assert_eq!(
        feed(&mut s, "Subject: dots\r\n\r\n..leading dot\r\nbare\n.\nlf\r\n"),
        ""
    );
    assert_eq!(feed(&mut s, "\r\n."), "");
    let out = feed(&mut s, "\r\n");
    assert!(out.starts_with("250 2.6.0 <"), "{out}");
    let sent = smtp.core.store.outbox.list(0);
    assert_eq!(
        &sent[0].raw[..],
        b"Subject: dots\r\n\r\n.leading dot\r\nbare\n.\nlf\r\n\r\n"
    );
}

#[test]
fn oversize_messages_are_refused_and_not_held() {
    let core = Arc::new(Core::new(demo_tenant().expect("demo"), Clock::system()).expect("core"));
    let smtp = Arc::new(SmtpState::new(
        core,
        SmtpConfig {
            max_message_size: 100,
            ..SmtpConfig::default()
        },
    ));
    let mut s = tls_session(&smtp);
    let token = app_token(&smtp, 1, &["SMTP.SendAsApp"]);
    feed(
        &mut s,
        &format!("AUTH XOAUTH2 {}\r\n", xoauth2_blob("test.user@contoso.com", &token)),
    );
    assert_eq!(
        feed(&mut s, "MAIL FROM:<test.user@contoso.com> SIZE=101\r\n"),
        "552 5.3.4 Message size exceeds fixed maximum message size\r\n"
    );
    feed(
        &mut s,
        "MAIL FROM:<test.user@contoso.com>\r\nRCPT TO:<x@example.org>\r\nDATA\r\n",
    );
    feed(&mut s, &format!("{}\r\n", "x".repeat(150)));
    assert_eq!(s.held(), 0, "content over the limit is not held");
    assert_eq!(
        feed(&mut s, ".\r\n"),
        "552 5.3.4 Message size exceeds fixed maximum message size\r\n"
    );
    assert!(smtp.core.store.outbox.list(0).is_empty());
}

#[test]
fn bdat_chunks_deliver_and_data_after_bdat_is_out_of_sequence() {
    let smtp = state();
    let mut s = tls_session(&smtp);
    let token = app_token(&smtp, 1, &["SMTP.SendAsApp"]);
    feed(
        &mut s,
        &format!("AUTH XOAUTH2 {}\r\n", xoauth2_blob("test.user@contoso.com", &token)),
    );
    feed(
        &mut s,
        "MAIL FROM:<test.user@contoso.com> BODY=BINARYMIME\r\nRCPT TO:<test.user@contoso.com>\r\n",
    );
    assert_eq!(
        feed(&mut s, "BDAT 17\r\nSubject: b\r\n\r\nx\r\n"),
        "250 2.0.0 17 bytes received\r\n"
    );
    assert_eq!(feed(&mut s, "DATA\r\n"), "503 5.5.1 Bad sequence of commands\r\n");
    let out = feed(&mut s, "BDAT 3 LAST\r\nyz\n");
    assert!(out.starts_with("250 2.6.0 <"), "{out}");
    assert_eq!(
        &smtp.core.store.outbox.list(0)[0].raw[..],
        b"Subject: b\r\n\r\nx\r\nyz\n"
    );
}
