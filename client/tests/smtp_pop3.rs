//! `oauth-mail-check --protocol smtp|pop3` against a running mock-server over real TLS:
//! the success paths, and each of Exchange's refusals diagnosed at the right step with
//! the right fix.

mod common;

use e2e_tests::{app, demo};
use mock_server::admin::exchange::CasMailbox;
use mock_server::MockServer;
use oauth_mail_check::{run, Config, Credential, Protocol, Report, Status};

fn config(server: &MockServer, client_id: &str, credential: Credential, email: &str, protocol: Protocol) -> Config {
    let mut c = common::config(server, demo::CONTOSO_DOMAIN, client_id, credential, email).with_protocol(protocol);
    c.smtp_host = "127.0.0.1".into();
    c.smtp_port = server.smtp_addr().port();
    c.pop3_host = "127.0.0.1".into();
    c.pop3_port = server.pop3s_addr().port();
    c
}

fn app_config(server: &MockServer, nn: u32, secret: &str, email: &str, protocol: Protocol) -> Config {
    config(server, &app(nn), Credential::Secret(secret.into()), email, protocol)
}

fn user_config(server: &MockServer, email: &str, protocol: Protocol) -> Config {
    let cred = Credential::Password {
        username: "test.user@contoso.com".into(),
        password: "Passw0rd!".into(),
        client_secret: None,
    };
    config(server, demo::DESKTOP.client_id, cred, email, protocol)
}

/// The step that failed, its detail, and the diagnosis; exit code 1 asserted.
fn refused_at(r: &Report, step: &str) -> (String, String) {
    assert_eq!(r.exit_code, 1, "{}", r.render());
    let s = r
        .steps
        .iter()
        .find(|s| s.status == Status::Fail && s.id == step)
        .unwrap_or_else(|| panic!("no failed step {step}: {}", r.render()));
    (s.detail.clone(), r.diagnosis.join("\n"))
}

#[tokio::test]
async fn smtp_sends_a_test_message_to_the_mailbox_itself() {
    let server = MockServer::start().await;
    let r = run(&app_config(
        &server,
        1,
        "poller-secret-value",
        "test.user@contoso.com",
        Protocol::Smtp,
    ))
    .await;
    assert_eq!(r.exit_code, 0, "{}", r.render());
    let ids: Vec<&str> = r.steps.iter().map(|s| s.id).collect();
    assert_eq!(
        ids,
        [
            "token",
            "token-audience",
            "token-permission",
            "token-tenant",
            "token-expiry",
            "connect",
            "starttls",
            "capability",
            "authenticate",
            "send",
            "quit"
        ]
    );
    let id = r.sent_message_id.clone().expect("a Message-ID");
    let sent = server.sent_mail();
    let m = sent
        .iter()
        .find(|m| m.message_id.as_deref() == Some(id.as_str()))
        .expect("the test message in the outbox");
    assert_eq!(m.mail_from, "test.user@contoso.com");
    assert_eq!(m.recipients, ["test.user@contoso.com"]);
    assert_eq!(m.delivered_to, ["test.user@contoso.com"]);
    let trace = r.trace.join("\n");
    assert!(
        trace.contains("SMTP > AUTH XOAUTH2 <XOAUTH2 user=test.user@contoso.com auth=Bearer <redacted"),
        "{trace}"
    );
    assert!(!trace.contains("eyJ") && !trace.contains("dXNlcj"), "{trace}");
}

#[tokio::test]
async fn smtp_refusals_are_diagnosed_with_their_fix() {
    let server = MockServer::start().await;
    // (app, secret, user=, step, Microsoft's answer, the fix)
    let cases = [
        (2, "wrong-oid-secret", "test.user@contoso.com", "authenticate", "535 5.7.3 Authentication unsuccessful", "New-ServicePrincipal -AppId 00000000-0000-4000-8000-00000000a002 -ObjectId 00000000-0000-4000-8000-00000000c002"),
        (3, "not-registered-secret", "test.user@contoso.com", "authenticate", "535 5.7.3 Authentication unsuccessful", "New-ServicePrincipal -AppId 00000000-0000-4000-8000-00000000a003"),
        (5, "delegated-only-secret", "test.user@contoso.com", "authenticate", "535 5.7.3", "APPLICATION permission SMTP.SendAsApp"),
        (4, "no-permission-secret", "test.user@contoso.com", "send", "430 4.2.0 STOREDRV; mailbox logon failure", "Add-MailboxPermission -Identity test.user@contoso.com -User 00000000-0000-4000-8000-00000000c004 -AccessRights FullAccess"),
        (1, "poller-secret-value", "smtp.disabled@contoso.com", "authenticate", "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox", "Set-CASMailbox -Identity smtp.disabled@contoso.com -SmtpClientAuthenticationDisabled $false"),
        (1, "poller-secret-value", "not-an-address", "authenticate", "501 5.5.124 Invalid XOAUTH2 auth data", "user= must be the mailbox's e-mail address"),
    ];
    for (nn, secret, email, step, answer, fix) in cases {
        let r = run(&app_config(&server, nn, secret, email, Protocol::Smtp)).await;
        let (detail, diagnosis) = refused_at(&r, step);
        assert!(detail.contains(answer), "app {nn} {email}: {detail}");
        assert!(diagnosis.contains(fix), "app {nn} {email}: {diagnosis}");
    }
    assert!(server.sent_mail().is_empty(), "nothing is delivered when refused");
}

#[tokio::test]
async fn smtp_delegated_send_as_and_other_mailbox() {
    let server = MockServer::start().await;
    // Sending as a mailbox test.user has no SendAs on: 554 5.2.252 at the end of data.
    let mut c = user_config(&server, "test.user@contoso.com", Protocol::Smtp);
    c.from = Some("imap.disabled@contoso.com".into());
    let r = run(&c).await;
    let (detail, diagnosis) = refused_at(&r, "send");
    assert!(detail.contains("554 5.2.252 SendAsDenied"), "{detail}");
    assert!(
        diagnosis.contains("Add-RecipientPermission -Identity imap.disabled@contoso.com -Trustee test.user@contoso.com -AccessRights SendAs"),
        "{diagnosis}"
    );
    // As the shared mailbox (SendAs granted in the demo tenant) it works.
    let mut c = user_config(&server, "test.user@contoso.com", Protocol::Smtp);
    c.from = Some("shared.inbox@contoso.com".into());
    c.to = Some("shared.inbox@contoso.com".into());
    let r = run(&c).await;
    assert_eq!(r.exit_code, 0, "{}", r.render());
    assert!(
        r.steps[0].detail.contains("SMTP.Send offline_access"),
        "{}",
        r.steps[0].detail
    );
    // user= of another mailbox: 535 5.7.3 with the FullAccess/SendAs advice.
    let r = run(&user_config(&server, "imap.disabled@contoso.com", Protocol::Smtp)).await;
    let (detail, diagnosis) = refused_at(&r, "authenticate");
    assert!(detail.contains("535 5.7.3"), "{detail}");
    assert!(
        diagnosis.contains("Add-RecipientPermission -Identity imap.disabled@contoso.com -Trustee test.user@contoso.com -AccessRights SendAs"),
        "{diagnosis}"
    );
}

#[tokio::test]
async fn smtp_auth_disabled_for_the_tenant() {
    let server = MockServer::start().await;
    server
        .admin()
        .set_transport_config(None, true)
        .expect("Set-TransportConfig");
    let r = run(&app_config(
        &server,
        1,
        "poller-secret-value",
        "test.user@contoso.com",
        Protocol::Smtp,
    ))
    .await;
    let (detail, diagnosis) = refused_at(&r, "authenticate");
    assert!(
        detail
            .contains("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant."),
        "{detail}"
    );
    assert!(
        diagnosis.contains("Set-TransportConfig -SmtpClientAuthenticationDisabled $false"),
        "{diagnosis}"
    );
    // A mailbox's own setting wins over the tenant's.
    server
        .admin()
        .set_cas_mailbox(
            "test.user@contoso.com",
            &CasMailbox {
                smtp_client_authentication_disabled: Some(Some(false)),
                ..Default::default()
            },
        )
        .expect("Set-CASMailbox");
    let r = run(&app_config(
        &server,
        1,
        "poller-secret-value",
        "test.user@contoso.com",
        Protocol::Smtp,
    ))
    .await;
    assert_eq!(r.exit_code, 0, "{}", r.render());
}

#[tokio::test]
async fn pop3_signs_in_and_counts_over_tls_and_stls() {
    let server = MockServer::start().await;
    let r = run(&app_config(
        &server,
        1,
        "poller-secret-value",
        "test.user@contoso.com",
        Protocol::Pop3,
    ))
    .await;
    assert_eq!(r.exit_code, 0, "{}", r.render());
    assert_eq!(r.message_count, Some(4));
    let ids: Vec<&str> = r.steps.iter().map(|s| s.id).collect();
    assert_eq!(
        ids,
        [
            "token",
            "token-audience",
            "token-permission",
            "token-tenant",
            "token-expiry",
            "connect",
            "capability",
            "authenticate",
            "count",
            "list",
            "quit"
        ]
    );
    let trace = r.trace.join("\n");
    assert!(trace.contains("POP3 > AUTH XOAUTH2\n"), "{trace}");
    assert!(!trace.contains("eyJ") && !trace.contains("dXNlcj"), "{trace}");

    let mut c = app_config(
        &server,
        1,
        "poller-secret-value",
        "test.user@contoso.com",
        Protocol::Pop3,
    );
    c.starttls = true;
    c.pop3_port = server.pop3_addr().port();
    let r = run(&c).await;
    assert_eq!(r.exit_code, 0, "{}", r.render());
    assert!(r.steps.iter().any(|s| s.id == "stls" && s.status == Status::Ok));
    assert_eq!(r.message_count, Some(4));

    // Delegated, the shared mailbox test.user has FullAccess to.
    let r = run(&user_config(&server, "shared.inbox@contoso.com", Protocol::Pop3)).await;
    assert_eq!(r.exit_code, 0, "{}", r.render());
    assert_eq!(r.message_count, Some(2));
}

#[tokio::test]
async fn pop3_refusals_are_diagnosed_with_their_fix() {
    let server = MockServer::start().await;
    let fail = "-ERR Authentication failure: unknown user name or bad password.";
    let not_connected = "-ERR User is authenticated but not connected.";
    let cases = [
        (2, "wrong-oid-secret", "test.user@contoso.com", "authenticate", fail, "New-ServicePrincipal -AppId 00000000-0000-4000-8000-00000000a002 -ObjectId 00000000-0000-4000-8000-00000000c002"),
        (6, "no-consent-secret", "test.user@contoso.com", "authenticate", fail, "APPLICATION permission POP.AccessAsApp"),
        (4, "no-permission-secret", "test.user@contoso.com", "count", not_connected, "Add-MailboxPermission -Identity test.user@contoso.com -User 00000000-0000-4000-8000-00000000c004 -AccessRights FullAccess"),
        (1, "poller-secret-value", "imap.disabled@contoso.com", "count", not_connected, "Set-CASMailbox -Identity imap.disabled@contoso.com -PopEnabled $true"),
    ];
    for (nn, secret, email, step, answer, fix) in cases {
        let r = run(&app_config(&server, nn, secret, email, Protocol::Pop3)).await;
        let (detail, diagnosis) = refused_at(&r, step);
        assert!(detail.ends_with(answer), "app {nn} {email}: {detail}");
        assert!(diagnosis.contains(fix), "app {nn} {email}: {diagnosis}");
    }
    // A Graph token.
    let mut c = app_config(
        &server,
        1,
        "poller-secret-value",
        "test.user@contoso.com",
        Protocol::Pop3,
    );
    c.scope = "https://graph.microsoft.com/.default".into();
    let r = run(&c).await;
    let (detail, diagnosis) = refused_at(&r, "authenticate");
    assert!(detail.ends_with(fail), "{detail}");
    assert!(diagnosis.contains("Microsoft Graph"), "{diagnosis}");
    // Delegated: another user's mailbox.
    let r = run(&user_config(&server, "imap.disabled@contoso.com", Protocol::Pop3)).await;
    let (detail, diagnosis) = refused_at(&r, "count");
    assert!(detail.ends_with(not_connected), "{detail}");
    assert!(
        diagnosis.contains("user=imap.disabled@contoso.com but the token belongs to test.user@contoso.com"),
        "{diagnosis}"
    );
}

#[test]
fn pop3_single_line_and_expiry_answers_are_explained() {
    let d = oauth_mail_check::diagnose::pop3("Protocol error. Connection is closed. 10", None, "x@contoso.com", 0)
        .join("\n");
    assert!(
        d.contains("mail.pop3.auth.xoauth2.two.line.authentication.format=true"),
        "{d}"
    );
    let d = oauth_mail_check::diagnose::pop3("Session invalidated - AccessTokenExpired", None, "x@contoso.com", 0)
        .join("\n");
    assert!(d.contains("expired during the session"), "{d}");
}
