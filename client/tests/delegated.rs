//! oauth-mail-check's delegated modes against the mock: password, device code, refresh
//! token; the delegated IMAP rules (own mailbox, shared mailbox, another user's).

mod common;

use e2e_tests::demo;
use mock_server::MockServer;
use oauth_mail_check::{run, Config, Credential, Status};

const DESKTOP: &str = demo::DESKTOP.client_id;

fn config(server: &MockServer, credential: Credential, email: &str) -> Config {
    common::config(server, demo::CONTOSO_DOMAIN, DESKTOP, credential, email)
}

fn password(user: &str, pw: &str) -> Credential {
    Credential::Password {
        username: user.into(),
        password: pw.into(),
        client_secret: None,
    }
}

#[tokio::test]
async fn password_grant_reads_own_and_shared_mailboxes() {
    let server = MockServer::start().await;
    let r = run(&config(
        &server,
        password("test.user@contoso.com", "Passw0rd!"),
        "test.user@contoso.com",
    ))
    .await;
    assert_eq!(r.exit_code, 0, "{}", r.render());
    assert!(
        r.steps[0]
            .detail
            .contains("(password grant, scope https://outlook.office.com/IMAP.AccessAsUser.All offline_access)"),
        "{}",
        r.steps[0].detail
    );
    let perm = r
        .steps
        .iter()
        .find(|s| s.id == "token-permission")
        .expect("permission step");
    assert!(
        perm.detail.starts_with("Delegated scopes: ") && perm.detail.contains("IMAP.AccessAsUser.All"),
        "{}",
        perm.detail
    );
    assert_eq!(r.message_count, Some(4));
    let trace = r.trace.join("\n");
    assert!(
        trace.contains("password=<redacted>") && !trace.contains("Passw0rd!"),
        "{trace}"
    );

    let r = run(&config(
        &server,
        password("test.user@contoso.com", "Passw0rd!"),
        "shared.inbox@contoso.com",
    ))
    .await;
    assert_eq!((r.exit_code, r.message_count), (0, Some(2)), "{}", r.render());
}

#[tokio::test]
async fn another_users_mailbox_is_authenticated_but_not_connected() {
    let server = MockServer::start().await;
    let r = run(&config(
        &server,
        password("test.user@contoso.com", "Passw0rd!"),
        "imap.disabled@contoso.com",
    ))
    .await;
    assert_eq!(r.exit_code, 1);
    assert_eq!(r.failed().map(|s| s.id), Some("open-folder"));
    let d = r.diagnosis.join("\n");
    assert!(
        d.contains("user=imap.disabled@contoso.com but the token belongs to test.user@contoso.com"),
        "{d}"
    );
}

#[tokio::test]
async fn sign_in_refusals_are_explained() {
    let server = MockServer::start().await;
    for (user, pw, code, hint) in [
        (
            "test.user@contoso.com",
            "wrong",
            "AADSTS50126",
            "password of test.user@contoso.com is wrong",
        ),
        (
            "nobody@contoso.com",
            "x",
            "AADSTS50034",
            "does not exist in this tenant",
        ),
        ("shared.inbox@contoso.com", "x", "AADSTS50057", "cannot sign in"),
    ] {
        let r = run(&config(&server, password(user, pw), user)).await;
        assert_eq!(r.exit_code, 1, "{}", r.render());
        let step = r.failed().expect("failed");
        assert_eq!(step.id, "token");
        assert!(step.detail.contains(code), "{}", step.detail);
        assert!(r.diagnosis.join("\n").contains(hint), "{:?}", r.diagnosis);
    }
}

#[tokio::test]
async fn device_code_flow_with_the_person_approving() {
    let server = std::sync::Arc::new(MockServer::start().await);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mut cfg = config(
        &server,
        Credential::DeviceCode { client_secret: None },
        "test.user@contoso.com",
    );
    cfg.prompt = Some(Box::new(move |m: &str| {
        let _ = tx.send(m.to_string());
    }));
    let check = tokio::spawn(async move { run(&cfg).await });
    let message = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
        .await
        .expect("prompt in time")
        .expect("prompt");
    assert!(
        message.contains("/devicelogin") && message.contains("enter the code"),
        "{message}"
    );
    let code = message
        .split_whitespace()
        .skip_while(|w| *w != "code")
        .nth(1)
        .expect("a code in the message")
        .to_string();
    server
        .approve_device_code(&code, "test.user@contoso.com")
        .expect("approve");
    let r = tokio::time::timeout(std::time::Duration::from_secs(30), check)
        .await
        .expect("done in time")
        .expect("task");
    assert_eq!(r.exit_code, 0, "{}", r.render());
    assert!(r.steps[0].detail.contains("(device code"), "{}", r.steps[0].detail);
    assert!(r.steps.iter().all(|s| s.status == Status::Ok));
}

#[tokio::test]
async fn refresh_token_mode() {
    let server = MockServer::start().await;
    let ca = reqwest::Certificate::from_pem(server.ca_pem().as_bytes()).expect("ca");
    let http = reqwest::Client::builder()
        .tls_certs_only([ca])
        .no_proxy()
        .build()
        .expect("http");
    let r: serde_json::Value = http
        .post(server.token_endpoint("contoso.onmicrosoft.com"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", DESKTOP),
            ("username", "test.user@contoso.com"),
            ("password", "Passw0rd!"),
            (
                "scope",
                "https://outlook.office.com/IMAP.AccessAsUser.All offline_access",
            ),
        ])
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    let rt = r["refresh_token"].as_str().expect("refresh token").to_string();
    let cred = Credential::RefreshToken {
        refresh_token: rt,
        client_secret: None,
    };
    let r = run(&config(&server, cred, "test.user@contoso.com")).await;
    assert_eq!(r.exit_code, 0, "{}", r.render());
    assert!(r.steps[0].detail.contains("(refresh token"), "{}", r.steps[0].detail);
    // A made-up refresh token is refused and explained.
    let cred = Credential::RefreshToken {
        refresh_token: "not-a-refresh-token".into(),
        client_secret: None,
    };
    let r = run(&config(&server, cred, "test.user@contoso.com")).await;
    assert_eq!(r.exit_code, 1);
    assert!(r.diagnosis.join("\n").contains("sign in again"), "{:?}", r.diagnosis);
}
