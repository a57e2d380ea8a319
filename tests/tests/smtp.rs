//! SMTP submission over real STARTTLS on 127.0.0.1:0: the documented exchanges and every
//! refusal of the reference's table, byte for byte, with the journal's reason and fix;
//! delivery read back over IMAP; hostile input.

use e2e_tests::imap::{app_token, xoauth2, Imap};
use e2e_tests::smtp::{unbracket, user_token, Smtp};
use e2e_tests::*;
use mock_server::smtp::SmtpConfig;
use mock_server::{Fault, MockServer, Outcome};

const USER: &str = "test.user@contoso.com";
const EHLO_PLAIN: [&str; 10] = [
    "250-MOCK01CA0001.outlook.office365.com Hello [127.0.0.1]\r\n",
    "250-SIZE 157286400\r\n",
    "250-PIPELINING\r\n",
    "250-DSN\r\n",
    "250-ENHANCEDSTATUSCODES\r\n",
    "250-STARTTLS\r\n",
    "250-8BITMIME\r\n",
    "250-BINARYMIME\r\n",
    "250-CHUNKING\r\n",
    "250 SMTPUTF8\r\n",
];
const AUTH_OK: &str = "235 2.7.0 Authentication successful\r\n";
const AUTH_FAILED: &str = "535 5.7.3 Authentication unsuccessful [*]\r\n";

fn last_smtp(server: &MockServer) -> mock_server::JournalEntry {
    server.smtp_events().pop().expect("journaled")
}

async fn poller(server: &MockServer) -> String {
    app_token(server, 1, "poller-secret-value", EXO_SCOPE).await
}

/// A TLS session authenticated with app `nn`'s token for `user`; returns the AUTH reply.
async fn auth_app(server: &MockServer, nn: u32, secret: &str, user: &str) -> (Smtp, Vec<String>) {
    let token = app_token(server, nn, secret, EXO_SCOPE).await;
    let mut c = Smtp::tls(server).await;
    let r = c.cmd(&format!("AUTH XOAUTH2 {}", xoauth2(user, &token))).await;
    (c, r)
}

fn message(from: &str, to: &str, subject: &str) -> String {
    format!("From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@client.example.com>\r\n\r\nHello from SMTP.\r\n")
}

async fn send(c: &mut Smtp, from: &str, to: &str, body: &str) -> Vec<String> {
    assert_eq!(c.cmd(&format!("MAIL FROM:<{from}>")).await, ["250 2.1.0 Sender OK\r\n"]);
    assert_eq!(c.cmd(&format!("RCPT TO:<{to}>")).await, ["250 2.1.5 Recipient OK\r\n"]);
    assert_eq!(
        c.cmd("DATA").await,
        ["354 Start mail input; end with <CRLF>.<CRLF>\r\n"]
    );
    c.send_raw(format!("{body}.\r\n").as_bytes()).await;
    c.reply().await
}

#[tokio::test]
async fn documented_exchange_delivers_and_imap_reads_it_back() {
    let server = MockServer::start().await;
    let token = poller(&server).await;
    let (mut c, banner) = Smtp::connect(&server).await;
    // 220 <host> Microsoft ESMTP MAIL Service ready at <RFC 2822 date> [<16-hex id>]
    let prefix = "220 MOCK01CA0001.outlook.office365.com Microsoft ESMTP MAIL Service ready at ";
    assert!(banner.starts_with(prefix), "{banner}");
    let id = &banner[banner.len() - 20..];
    assert!(
        id.starts_with('[') && id.ends_with("]\r\n") && id[1..17].bytes().all(|b| b.is_ascii_hexdigit()),
        "{banner}"
    );
    assert!(banner.ends_with(&format!(" +0000 {id}")), "{banner}");
    assert_eq!(c.cmd("EHLO client.example.com").await, EHLO_PLAIN);
    assert_eq!(c.cmd("STARTTLS").await, ["220 2.0.0 SMTP server ready\r\n"]);
    c.upgrade().await;
    let mut after_tls = EHLO_PLAIN.map(str::to_string).to_vec();
    after_tls[5] = "250-AUTH LOGIN XOAUTH2\r\n".into();
    assert_eq!(c.cmd("EHLO client.example.com").await, after_tls);
    assert_eq!(
        c.cmd(&format!("AUTH XOAUTH2 {}", xoauth2(USER, &token))).await,
        [AUTH_OK]
    );
    let r = send(
        &mut c,
        USER,
        "shared.inbox@contoso.com",
        &message(USER, "shared.inbox@contoso.com", "smtp-1"),
    )
    .await;
    assert_eq!(r.len(), 1);
    assert!(
        r[0].starts_with("250 2.6.0 <smtp-1@client.example.com> [InternalId=1, Hostname=MOCK01CA0001.namprd01.prod.outlook.com] Queued mail for delivery"),
        "{r:?}"
    );
    assert_eq!(
        c.cmd("QUIT").await,
        ["221 2.0.0 Service closing transmission channel\r\n"]
    );
    assert!(c.closed().await);

    // The outbox, the journal, Sent Items.
    let sent = server.sent_mail();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].mail_from, USER);
    assert_eq!(sent[0].delivered_to, ["shared.inbox@contoso.com"]);
    assert_eq!(sent[0].subject.as_deref(), Some("smtp-1"));
    let e = last_smtp(&server);
    assert_eq!(e.outcome, Outcome::Delivered);
    assert_eq!(e.details["outbox_seq"], 1);
    let mbx = server.store().mailbox(USER).expect("mailbox");
    assert_eq!(mbx.status("Sent Items").expect("sent").messages, 1);

    // IMAP sees it in the recipient's INBOX (2 fixture messages + this one).
    let (mut imap, _) = Imap::tls(&server).await;
    let r = imap
        .cmd(
            "A1",
            &format!("AUTHENTICATE XOAUTH2 {}", xoauth2("shared.inbox@contoso.com", &token)),
        )
        .await;
    assert_eq!(r, ["A1 OK AUTHENTICATE completed.\r\n"]);
    let r = imap.cmd("A2", "SELECT INBOX").await;
    assert_eq!(r[0], "* 3 EXISTS\r\n");
    let r = imap.cmd("A3", "FETCH 3 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])").await;
    assert!(r[0].contains("Subject: smtp-1"), "{r:?}");
}

#[tokio::test]
async fn two_step_auth_with_334() {
    let server = MockServer::start().await;
    let token = poller(&server).await;
    let mut c = Smtp::tls(&server).await;
    assert_eq!(c.cmd("AUTH XOAUTH2").await, ["334 \r\n"]);
    assert_eq!(c.cmd(&xoauth2(USER, &token)).await, [AUTH_OK]);
    let e = last_smtp(&server);
    assert_eq!(e.outcome, Outcome::Authenticated);
    assert_eq!(e.request, "AUTH XOAUTH2 user=test.user@contoso.com");
}

#[tokio::test]
async fn broken_apps_get_535_5_7_3_with_the_reason_journaled() {
    let server = MockServer::start().await;
    let cases = [
        (2, "wrong-oid-secret", "the application object id", "New-ServicePrincipal -AppId 00000000-0000-4000-8000-00000000a002 -ObjectId 00000000-0000-4000-8000-00000000c002"),
        (3, "not-registered-secret", "no Exchange service principal is registered", "New-ServicePrincipal -AppId 00000000-0000-4000-8000-00000000a003"),
        (5, "delegated-only-secret", "do not include SMTP.SendAsApp", "application permission SMTP.SendAsApp"),
        (6, "no-consent-secret", "do not include SMTP.SendAsApp", "Grant admin consent"),
    ];
    for (nn, secret, reason, fix) in cases {
        let (_c, r) = auth_app(&server, nn, secret, USER).await;
        assert_eq!(
            r.iter().map(|l| unbracket(l)).collect::<Vec<_>>(),
            [AUTH_FAILED],
            "app {nn}"
        );
        let e = last_smtp(&server);
        assert_eq!(e.outcome, Outcome::Refused);
        assert!(
            e.reason.as_deref().unwrap_or("").contains(reason),
            "app {nn}: {:?}",
            e.reason
        );
        assert!(e.fix.as_deref().unwrap_or("").contains(fix), "app {nn}: {:?}", e.fix);
    }
    // The bracket: host, ISO time with milliseconds, the banner's id.
    let (_c, r) = auth_app(&server, 3, "not-registered-secret", USER).await;
    let b = &r[0]["535 5.7.3 Authentication unsuccessful [".len()..];
    assert!(b.starts_with("MOCK01CA0001.namprd01.prod.outlook.com 20"), "{b}");
    assert_eq!(
        b.len(),
        "MOCK01CA0001.namprd01.prod.outlook.com 2024-07-11T11:46:49.042Z 08DCA18218166FB4]\r\n".len(),
        "{b}"
    );
}

#[tokio::test]
async fn no_full_access_authenticates_then_430_at_data() {
    let server = MockServer::start().await;
    let (mut c, r) = auth_app(&server, 4, "no-permission-secret", USER).await;
    assert_eq!(r, [AUTH_OK]);
    assert_eq!(last_smtp(&server).outcome, Outcome::NotConnected);
    c.cmd(&format!("MAIL FROM:<{USER}>")).await;
    c.cmd("RCPT TO:<x@example.org>").await;
    let r = c.cmd("DATA").await;
    assert_eq!(
        unbracket(&r[0]),
        "430 4.2.0 STOREDRV; mailbox logon failure; Cannot open mailbox test.user@contoso.com. MapiExceptionLogonFailed [*]\r\n"
    );
    let e = last_smtp(&server);
    assert_eq!(
        e.fix.as_deref(),
        Some("Add-MailboxPermission -Identity test.user@contoso.com -User 00000000-0000-4000-8000-00000000c004 -AccessRights FullAccess")
    );
    assert!(server.sent_mail().is_empty());
}

#[tokio::test]
async fn smtp_auth_disabled_for_the_mailbox_and_for_the_tenant() {
    let server = MockServer::start().await;
    let (_c, r) = auth_app(&server, 1, "poller-secret-value", "smtp.disabled@contoso.com").await;
    assert_eq!(unbracket(&r[0]), "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information. [*]\r\n");
    assert_eq!(
        last_smtp(&server).fix.as_deref(),
        Some("Set-CASMailbox -Identity smtp.disabled@contoso.com -SmtpClientAuthenticationDisabled $false (or $null to follow the tenant)")
    );
    server
        .admin()
        .set_transport_config(None, true)
        .expect("Set-TransportConfig");
    let (_c, r) = auth_app(&server, 1, "poller-secret-value", USER).await;
    assert_eq!(unbracket(&r[0]), "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [*]\r\n");
    // The mailbox's own setting overrides the tenant's.
    let settings = mock_server::admin::CasMailbox {
        smtp_client_authentication_disabled: Some(Some(false)),
        ..Default::default()
    };
    server.admin().set_cas_mailbox(USER, &settings).expect("Set-CASMailbox");
    let (_c, r) = auth_app(&server, 1, "poller-secret-value", USER).await;
    assert_eq!(r, [AUTH_OK]);
}

#[tokio::test]
async fn basic_auth_plain_bad_user_and_auth_before_tls() {
    let server = MockServer::start().await;
    let mut c = Smtp::tls(&server).await;
    assert_eq!(c.cmd("AUTH LOGIN").await, ["334 VXNlcm5hbWU6\r\n"]);
    assert_eq!(c.cmd("dGVzdA==").await, ["334 UGFzc3dvcmQ6\r\n"]);
    let r = c.cmd("cGFzcw==").await;
    assert_eq!(
        unbracket(&r[0]),
        "535 5.7.139 Authentication unsuccessful, basic authentication is disabled. [*]\r\n"
    );
    let r = c.cmd("AUTH PLAIN AHRlc3QAcGFzcw==").await;
    assert_eq!(unbracket(&r[0]), "504 5.7.4 Unrecognized authentication type [*]\r\n");
    let token = poller(&server).await;
    let r = c
        .cmd(&format!("AUTH XOAUTH2 {}", xoauth2("not-an-address", &token)))
        .await;
    assert_eq!(unbracket(&r[0]), "501 5.5.124 Invalid XOAUTH2 auth data - User address provided is not valid. Please ensure the auth data is in the correct format. [*]\r\n");
    assert_eq!(
        c.reply().await,
        ["421 4.7.0 Too many errors on this connection, closing transmission channel\r\n"]
    );
    assert!(c.closed().await, "the third failure closes");

    let (mut c, _) = Smtp::connect(&server).await;
    c.cmd("EHLO client.example.com").await;
    let r = c.cmd(&format!("AUTH XOAUTH2 {}", xoauth2(USER, &token))).await;
    assert_eq!(unbracket(&r[0]), "504 5.7.4 Unrecognized authentication type [*]\r\n");
    assert!(last_smtp(&server)
        .reason
        .unwrap_or_default()
        .contains("before STARTTLS"));
}

#[tokio::test]
async fn protocol_refusals_ehlo_unknown_and_mail_before_auth() {
    let server = MockServer::start().await;
    let (mut c, _) = Smtp::connect(&server).await;
    let r = c.cmd("EHLO bad_name!").await;
    assert_eq!(unbracket(&r[0]), "501 5.5.4 Invalid domain name [*]\r\n");
    let r = c.cmd("Length: 3").await;
    assert_eq!(unbracket(&r[0]), "500 5.3.3 Unrecognized command 'Length: 3' [*]\r\n");
    c.cmd("EHLO client.example.com").await;
    let r = c.cmd("MAIL FROM:<test.user@contoso.com>").await;
    assert_eq!(
        unbracket(&r[0]),
        "530 5.7.57 Client not authenticated to send mail. [*]\r\n"
    );
    assert_eq!(c.cmd("RSET").await, ["250 2.0.0 Resetting\r\n"]);
    assert_eq!(c.cmd("NOOP").await, ["250 2.0.0 OK\r\n"]);
}

#[tokio::test]
async fn send_as_rules_for_mail_from_and_header_from() {
    let server = MockServer::start().await;
    let token = user_token(&server, USER).await;
    let mut c = Smtp::tls(&server).await;
    assert_eq!(
        c.cmd(&format!("AUTH XOAUTH2 {}", xoauth2(USER, &token))).await,
        [AUTH_OK]
    );
    // SendAs on shared.inbox: allowed.
    let r = send(
        &mut c,
        "shared.inbox@contoso.com",
        USER,
        &message("shared.inbox@contoso.com", USER, "as-shared"),
    )
    .await;
    assert!(r[0].starts_with("250 2.6.0 "), "{r:?}");
    // No SendAs on imap.disabled: refused, with the fix.
    let r = send(
        &mut c,
        "imap.disabled@contoso.com",
        USER,
        &message("imap.disabled@contoso.com", USER, "as-other"),
    )
    .await;
    assert_eq!(unbracket(&r[0]), "554 5.2.252 SendAsDenied; test.user@contoso.com not allowed to send as imap.disabled@contoso.com; STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message due to a permanent exception with message Cannot submit message. [*]\r\n");
    assert_eq!(
        last_smtp(&server).fix.as_deref(),
        Some("Add-RecipientPermission -Identity imap.disabled@contoso.com -Trustee test.user@contoso.com -AccessRights SendAs")
    );
    // MAIL FROM is fine, the header From is not.
    let r = send(
        &mut c,
        USER,
        USER,
        &message("Boss <imap.disabled@contoso.com>", USER, "hdr"),
    )
    .await;
    assert!(r[0].starts_with("554 5.2.252 SendAsDenied; "), "{r:?}");
    // Granting SendAs fixes it at once.
    server
        .admin()
        .add_recipient_permission("imap.disabled@contoso.com", USER, "SendAs")
        .expect("Add-RecipientPermission");
    let r = send(&mut c, USER, USER, &message("imap.disabled@contoso.com", USER, "hdr2")).await;
    assert!(r[0].starts_with("250 2.6.0 "), "{r:?}");
    assert_eq!(server.sent_mail().len(), 2);
}

#[tokio::test]
async fn delegated_user_of_a_mailbox_without_rights_gets_535() {
    let server = MockServer::start().await;
    let token = user_token(&server, USER).await;
    let mut c = Smtp::tls(&server).await;
    let r = c
        .cmd(&format!(
            "AUTH XOAUTH2 {}",
            xoauth2("imap.disabled@contoso.com", &token)
        ))
        .await;
    assert_eq!(unbracket(&r[0]), AUTH_FAILED);
    let e = last_smtp(&server);
    assert!(e.reason.unwrap_or_default().contains("neither FullAccess nor SendAs"));
}

#[tokio::test]
async fn pipelining_bdat_and_nothing_half_delivered() {
    let server = MockServer::start().await;
    let token = poller(&server).await;
    let mut c = Smtp::tls(&server).await;
    c.cmd(&format!("AUTH XOAUTH2 {}", xoauth2(USER, &token))).await;
    c.send_raw(b"MAIL FROM:<test.user@contoso.com>\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<shared.inbox@contoso.com>\r\nDATA\r\n")
        .await;
    assert_eq!(c.reply().await, ["250 2.1.0 Sender OK\r\n"]);
    assert_eq!(c.reply().await, ["250 2.1.5 Recipient OK\r\n"]);
    assert_eq!(c.reply().await, ["250 2.1.5 Recipient OK\r\n"]);
    assert_eq!(c.reply().await, ["354 Start mail input; end with <CRLF>.<CRLF>\r\n"]);
    c.send_raw(b"Subject: p\r\n\r\n..dot\r\n.\r\nRSET\r\n").await;
    assert!(c.reply().await[0].starts_with("250 2.6.0 "));
    assert_eq!(c.reply().await, ["250 2.0.0 Resetting\r\n"]);
    let sent = server.sent_mail();
    assert_eq!(&sent[0].raw[..], b"Subject: p\r\n\r\n.dot\r\n");
    assert_eq!(sent[0].delivered_to, ["shared.inbox@contoso.com"]);
    assert_eq!(sent[0].recipients, ["a@example.org", "shared.inbox@contoso.com"]);

    // BDAT.
    c.cmd("MAIL FROM:<test.user@contoso.com> BODY=BINARYMIME").await;
    c.cmd("RCPT TO:<shared.inbox@contoso.com>").await;
    c.send_raw(b"BDAT 13 LAST\r\nSubject: b\r\n\r\n").await;
    assert!(c.reply().await[0].starts_with("250 2.6.0 "));

    // A client that leaves mid-DATA delivers nothing.
    let before = server
        .store()
        .mailbox("shared.inbox@contoso.com")
        .expect("m")
        .status("INBOX")
        .expect("s");
    let mut c2 = Smtp::tls(&server).await;
    c2.cmd(&format!("AUTH XOAUTH2 {}", xoauth2(USER, &token))).await;
    c2.cmd("MAIL FROM:<test.user@contoso.com>").await;
    c2.cmd("RCPT TO:<shared.inbox@contoso.com>").await;
    c2.cmd("DATA").await;
    c2.send_raw(b"Subject: half\r\n\r\nhalf a message\r\n").await;
    drop(c2);
    c.cmd("NOOP").await;
    let after = server
        .store()
        .mailbox("shared.inbox@contoso.com")
        .expect("m")
        .status("INBOX")
        .expect("s");
    assert_eq!(after.messages, before.messages);
    assert_eq!(server.sent_mail().len(), 2);
}

#[tokio::test]
async fn starttls_with_data_behind_it_drops_the_data() {
    let server = MockServer::start().await;
    let (mut c, _) = Smtp::connect(&server).await;
    c.cmd("EHLO client.example.com").await;
    c.send_raw(b"STARTTLS\r\nNOOP\r\n").await;
    assert_eq!(c.reply().await, ["220 2.0.0 SMTP server ready\r\n"]);
    c.upgrade().await;
    // The injected NOOP was never answered: the first answer over TLS is the EHLO's.
    let r = c.cmd("EHLO client.example.com").await;
    assert_eq!(r[0], "250-MOCK01CA0001.outlook.office365.com Hello [127.0.0.1]\r\n");
    assert_eq!(c.cmd("NOOP").await, ["250 2.0.0 OK\r\n"]);
}

#[tokio::test]
async fn pre_auth_deadline_is_not_reset_by_a_drip() {
    let server = MockServer::builder()
        .smtp_config(SmtpConfig {
            pre_auth_timeout: std::time::Duration::from_millis(300),
            ..SmtpConfig::default()
        })
        .start()
        .await
        .expect("start");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(server.smtp_addr())
        .await
        .expect("connect");
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    // One byte of a never-ending line every 50 ms (a read that times out is cancel-safe):
    // the pre-authentication deadline passes all the same.
    for _ in 0..200 {
        let _ = tcp.write_all(b"N").await;
        match tokio::time::timeout(std::time::Duration::from_millis(50), tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.ends_with("\r\n451 4.7.0 Timeout waiting for client input\r\n"),
        "{text}"
    );
}

#[tokio::test]
async fn smtp_command_fault_replies_and_counts() {
    let server = MockServer::start().await;
    let token = poller(&server).await;
    let f = Fault::smtp_reply("MAIL", "451")
        .text("4.3.2 Try again later")
        .times(1)
        .expect(1);
    let _guard = server.arm_scoped(f);
    let mut c = Smtp::tls(&server).await;
    c.cmd(&format!("AUTH XOAUTH2 {}", xoauth2(USER, &token))).await;
    assert_eq!(
        c.cmd("MAIL FROM:<test.user@contoso.com>").await,
        ["451 4.3.2 Try again later\r\n"]
    );
    assert_eq!(
        c.cmd("MAIL FROM:<test.user@contoso.com>").await,
        ["250 2.1.0 Sender OK\r\n"]
    );
}

#[tokio::test]
async fn sent_mail_through_the_admin_api() {
    let server = MockServer::start().await;
    let token = poller(&server).await;
    let mut c = Smtp::tls(&server).await;
    c.cmd(&format!("AUTH XOAUTH2 {}", xoauth2(USER, &token))).await;
    let r = send(
        &mut c,
        USER,
        "someone@example.org",
        &message(USER, "someone@example.org", "ext"),
    )
    .await;
    assert!(r[0].starts_with("250 2.6.0 "), "{r:?}");
    let http = client(&server);
    let r = get(&http, &format!("{}/_mock/admin/sent-mail?after=0", server.https_url())).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let m = &r.json["messages"][0];
    assert_eq!(m["seq"], 1);
    assert_eq!(m["mail_from"], USER);
    assert_eq!(m["recipients"][0], "someone@example.org");
    assert_eq!(m["delivered_to"].as_array().map(Vec::len), Some(0));
    assert_eq!(m["eml"], message(USER, "someone@example.org", "ext"));
    let r = get(&http, &format!("{}/_mock/admin/sent-mail?after=1", server.https_url())).await;
    assert_eq!(r.json["messages"].as_array().map(Vec::len), Some(0));
}
