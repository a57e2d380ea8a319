//! The `oauth-mail-check` binary: output, exit codes, JSON, redacted trace, secrets from
//! the environment.

use mock_server::MockServer;
use std::process::Command;

fn check(server: &MockServer, client: u32, secret: &str, extra: &[&str]) -> std::process::Output {
    let authority = server.https_url().to_string();
    let port = server.imaps_addr().port().to_string();
    let ca = server.ca_file().to_path_buf();
    let client_id = e2e_tests::app(client);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_oauth-mail-check"));
    cmd.args([
        "contoso.onmicrosoft.com",
        "--client-id",
        &client_id,
        "--email",
        "test.user@contoso.com",
    ])
    .args([
        "--authority",
        &authority,
        "--imap-host",
        "127.0.0.1",
        "--imap-port",
        &port,
        "--ca-file",
    ])
    .arg(ca)
    .args(extra)
    .env("OAUTH_MAIL_CHECK_CLIENT_SECRET", secret);
    cmd.output().expect("run oauth-mail-check")
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_codes_text_json_and_redacted_trace() {
    let server = MockServer::start().await;
    let ok = tokio::task::block_in_place(|| check(&server, 1, "poller-secret-value", &["-v"]));
    assert_eq!(ok.status.code(), Some(0));
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(out.contains("[OK]   4 message(s) in INBOX"), "{out}");
    assert!(out.contains("Arthur Example <arthur@fabrikam.com>  My Mail"), "{out}");
    let trace = String::from_utf8_lossy(&ok.stderr);
    assert!(
        trace.contains("IMAP > A002 AUTHENTICATE XOAUTH2 <XOAUTH2 user=test.user@contoso.com"),
        "{trace}"
    );
    assert!(
        !trace.contains("poller-secret-value") && !trace.contains("eyJ"),
        "{trace}"
    );

    let refused = tokio::task::block_in_place(|| check(&server, 2, "wrong-oid-secret", &["--json"]));
    assert_eq!(refused.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&refused.stdout).expect("one JSON document");
    assert_eq!(json["reachable"], false);
    assert_eq!(json["exit_code"], 1);
    let failed = json["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["status"] == "fail")
        .expect("failed step");
    assert_eq!(failed["id"], "authenticate");
    assert!(json["diagnosis"][0]
        .as_str()
        .expect("d")
        .contains("-ObjectId 00000000-0000-4000-8000-00000000c002"));

    let token = tokio::task::block_in_place(|| check(&server, 1, "poller-secret-value", &["--print-token"]));
    let out = String::from_utf8_lossy(&token.stdout);
    assert!(out.contains("\"idtyp\": \"app\""), "{out}");

    // Usage errors exit 2.
    let usage = Command::new(env!("CARGO_BIN_EXE_oauth-mail-check"))
        .arg("--bogus")
        .output()
        .expect("run");
    assert_eq!(usage.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn protocol_smtp_and_pop3_from_the_command_line() {
    let server = MockServer::start().await;
    let smtp_port = server.smtp_addr().port().to_string();
    let pop3_port = server.pop3s_addr().port().to_string();
    let sent = tokio::task::block_in_place(|| {
        check(
            &server,
            1,
            "poller-secret-value",
            &[
                "--protocol",
                "smtp",
                "--smtp-host",
                "127.0.0.1",
                "--smtp-port",
                &smtp_port,
                "-v",
            ],
        )
    });
    let out = String::from_utf8_lossy(&sent.stdout);
    assert_eq!(sent.status.code(), Some(0), "{out}");
    assert!(out.contains("[OK]   STARTTLS: TLS started"), "{out}");
    assert!(
        out.contains("from test.user@contoso.com to test.user@contoso.com: 250 2.6.0"),
        "{out}"
    );
    let trace = String::from_utf8_lossy(&sent.stderr);
    assert!(
        trace.contains("SMTP > AUTH XOAUTH2 <XOAUTH2 user=test.user@contoso.com"),
        "{trace}"
    );
    assert!(!trace.contains("eyJ") && !trace.contains("dXNlcj"), "{trace}");

    let refused = tokio::task::block_in_place(|| {
        check(
            &server,
            4,
            "no-permission-secret",
            &[
                "--protocol",
                "pop3",
                "--pop3-host",
                "127.0.0.1",
                "--pop3-port",
                &pop3_port,
            ],
        )
    });
    let out = String::from_utf8_lossy(&refused.stdout);
    assert_eq!(refused.status.code(), Some(1), "{out}");
    assert!(
        out.contains("[FAIL] STAT: -ERR User is authenticated but not connected."),
        "{out}"
    );
    assert!(
        out.contains("Add-MailboxPermission -Identity test.user@contoso.com -User 00000000-0000-4000-8000-00000000c004 -AccessRights FullAccess"),
        "{out}"
    );
}
