//! oauth-mail-check against a running mock-server: for every app and mailbox of the demo
//! tenant, the right step fails with the right diagnosis and exit code.

mod common;

use e2e_tests::{app, demo, fixtures};
use mock_server::MockServer;
use oauth_mail_check::assertion::Alg;
use oauth_mail_check::{run, Config, Credential, Report, Status};

fn config(server: &MockServer, nn: u32, credential: Credential, email: &str) -> Config {
    common::config(server, demo::CONTOSO_DOMAIN, &app(nn), credential, email)
}

fn secret(s: &str) -> Credential {
    Credential::Secret(s.into())
}

fn failed(r: &Report) -> (&'static str, String) {
    let s = r.failed().expect("a failed step");
    (s.id, s.detail.clone())
}

fn diagnosis(r: &Report) -> String {
    r.diagnosis.join("\n")
}

#[tokio::test]
async fn the_working_app_reads_the_four_messages() {
    let server = MockServer::start().await;
    let r = run(&config(
        &server,
        1,
        secret("poller-secret-value"),
        "test.user@contoso.com",
    ))
    .await;
    assert_eq!(r.exit_code, 0, "{}", r.render());
    assert!(r.reachable);
    assert_eq!(r.message_count, Some(4));
    let subjects: Vec<&str> = r.messages.iter().map(|m| m.subject.as_str()).collect();
    assert_eq!(subjects, ["Test Mail", "Test 2 Process", "How are you?", "My Mail"]);
    assert_eq!(r.messages[0].from, "Arthur Example <arthur@fabrikam.com>");
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
            "open-folder",
            "count",
            "list",
            "logout"
        ]
    );
    assert!(r.steps.iter().all(|s| s.status == Status::Ok));
    // The JSON report for CI.
    let json = serde_json::to_value(&r).expect("json");
    assert_eq!(json["reachable"], true);
    assert_eq!(json["exit_code"], 0);
    assert_eq!(
        json["token"]["roles"],
        serde_json::json!(["IMAP.AccessAsApp", "POP.AccessAsApp", "SMTP.SendAsApp"])
    );
    assert_eq!(json["messages"][3]["subject"], "My Mail");
    // The trace is redacted: no secret, no token, no XOAUTH2 blob.
    let trace = r.trace.join("\n");
    assert!(trace.contains("client_secret=<redacted, 19 chars>"), "{trace}");
    assert!(
        trace.contains("AUTHENTICATE XOAUTH2 <XOAUTH2 user=test.user@contoso.com auth=Bearer <redacted"),
        "{trace}"
    );
    assert!(
        !trace.contains("poller-secret-value") && !trace.contains("eyJ") && !trace.contains("dXNlcj"),
        "{trace}"
    );
}

#[tokio::test]
async fn certificates_sign_ps256_and_rs256_and_starttls_works() {
    let server = MockServer::start().await;
    let cert_pem = std::fs::read_to_string(fixtures().join("certs/mail-poller.crt")).expect("crt");
    let key_pem = std::fs::read_to_string(fixtures().join("certs/mail-poller.key")).expect("key");
    for alg in [Alg::Ps256, Alg::Rs256] {
        let cred = Credential::Certificate {
            cert_pem: cert_pem.clone(),
            key_pem: key_pem.clone(),
            alg,
        };
        let mut c = config(&server, 1, cred, "test.user@contoso.com");
        c.starttls = alg == Alg::Rs256;
        if c.starttls {
            c.imap_port = server.imap_addr().port();
        }
        let r = run(&c).await;
        assert_eq!(r.exit_code, 0, "{alg:?}: {}", r.render());
        assert_eq!(
            r.token.as_ref().map(|t| t.raw["appidacr"].clone()),
            Some(serde_json::json!("2"))
        );
    }
}

#[tokio::test]
async fn each_broken_app_fails_at_its_step_with_its_fix() {
    let server = MockServer::start().await;
    let user = "test.user@contoso.com";
    let cases: Vec<(u32, &str, &str, &str, &str)> = vec![
        (2, "wrong-oid-secret", "authenticate", "NO AUTHENTICATE failed.", "New-ServicePrincipal -AppId 00000000-0000-4000-8000-00000000a002 -ObjectId 00000000-0000-4000-8000-00000000c002"),
        (3, "not-registered-secret", "authenticate", "NO AUTHENTICATE failed.", "New-ServicePrincipal -AppId 00000000-0000-4000-8000-00000000a003 -ObjectId 00000000-0000-4000-8000-00000000c003"),
        (4, "no-permission-secret", "open-folder", "BAD User is authenticated but not connected.", "Add-MailboxPermission -Identity test.user@contoso.com -User 00000000-0000-4000-8000-00000000c004 -AccessRights FullAccess"),
        (5, "delegated-only-secret", "token-permission", "no roles", "APPLICATION permission IMAP.AccessAsApp"),
        (6, "no-consent-secret", "token-permission", "no roles", "Grant admin consent"),
        (7, "expired-secret", "token", "AADSTS7000222", "has expired. Create a new secret"),
        (8, "", "token", "AADSTS7000216", "No credential was sent"),
    ];
    for (nn, s, step, detail, fix) in cases {
        let r = run(&config(&server, nn, secret(s), user)).await;
        assert_eq!(r.exit_code, 1, "app {nn}: {}", r.render());
        let (id, d) = failed(&r);
        assert_eq!(id, step, "app {nn}: {}", r.render());
        assert!(d.contains(detail), "app {nn}: {d}");
        assert!(diagnosis(&r).contains(fix), "app {nn}: {}", diagnosis(&r));
        if nn == 5 || nn == 6 {
            // The server agrees with the prediction.
            assert!(r
                .steps
                .iter()
                .any(|s| s.id == "authenticate" && s.status == Status::Fail));
        }
    }
}

#[tokio::test]
async fn mailbox_and_request_mistakes() {
    let server = MockServer::start().await;
    // IMAP disabled on the mailbox.
    let r = run(&config(
        &server,
        1,
        secret("poller-secret-value"),
        "imap.disabled@contoso.com",
    ))
    .await;
    assert_eq!(failed(&r).0, "open-folder");
    assert!(diagnosis(&r).contains("Set-CASMailbox -Identity imap.disabled@contoso.com -ImapEnabled $true"));
    // The secret's id instead of its value.
    let r = run(&config(
        &server,
        1,
        secret("00000000-0000-4000-8000-00000000d001"),
        "test.user@contoso.com",
    ))
    .await;
    assert_eq!(failed(&r).0, "token");
    assert!(failed(&r).1.contains("AADSTS7000215"));
    assert!(diagnosis(&r).contains("send the Value, not the Secret ID"));
    // Graph audience: predicted before connecting, confirmed by the server.
    let mut c = config(&server, 1, secret("poller-secret-value"), "test.user@contoso.com");
    c.scope = "https://graph.microsoft.com/.default".into();
    let r = run(&c).await;
    assert_eq!(failed(&r).0, "token-audience");
    assert!(r
        .steps
        .iter()
        .any(|s| s.id == "authenticate" && s.status == Status::Fail));
    assert!(r.diagnosis[0].contains("Microsoft Graph"), "{}", diagnosis(&r));
    // Unknown tenant.
    let mut c = config(&server, 1, secret("poller-secret-value"), "test.user@contoso.com");
    c.tenant = "nowhere.onmicrosoft.com".into();
    let r = run(&c).await;
    assert_eq!((failed(&r).0, r.exit_code), ("token", 1));
    assert!(failed(&r).1.contains("AADSTS90002"), "{}", failed(&r).1);
    // A missing folder.
    let mut c = config(&server, 1, secret("poller-secret-value"), "test.user@contoso.com");
    c.folder = "Archive".into();
    let r = run(&c).await;
    assert_eq!(failed(&r).0, "open-folder");
    assert!(diagnosis(&r).contains("cannot be opened"));
}

#[tokio::test]
async fn network_and_tls_errors_exit_2() {
    let server = MockServer::start().await;
    // Nothing listens on this port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut c = config(&server, 1, secret("poller-secret-value"), "test.user@contoso.com");
    c.imap_port = closed;
    let r = run(&c).await;
    assert_eq!((failed(&r).0, r.exit_code), ("connect", 2), "{}", r.render());
    // A CA that is not the server's: the HTTPS step fails on TLS.
    let other = MockServer::start().await;
    let mut c = config(&server, 1, secret("poller-secret-value"), "test.user@contoso.com");
    c.ca_file = Some(other.ca_file().to_path_buf());
    let r = run(&c).await;
    assert_eq!((failed(&r).0, r.exit_code), ("token", 2), "{}", r.render());
}
