//! The harness itself: the demo constants, `MockServer::app_token` and the harness's own
//! token request agree, and a token opens the mailbox.

use e2e_tests::imap::{xoauth2, Imap};
use e2e_tests::{claims, client, demo, request_app_token};
use mock_server::MockServer;

#[tokio::test]
async fn both_token_paths_give_the_poller_a_token_that_opens_the_mailbox() {
    let server = MockServer::start().await;
    let from_server = server.app_token(demo::POLLER).await;
    let from_harness = request_app_token(&client(&server), server.https_url(), demo::POLLER, demo::EXO_SCOPE)
        .await
        .expect("token");
    for token in [&from_server, &from_harness] {
        let c = claims(token);
        assert_eq!(c["appid"], demo::POLLER.client_id);
        assert_eq!(
            c["roles"],
            serde_json::json!(["IMAP.AccessAsApp", "POP.AccessAsApp", "SMTP.SendAsApp"])
        );
    }
    let (mut imap, _) = Imap::tls(&server).await;
    let auth = imap
        .cmd(
            "a1",
            &format!("AUTHENTICATE XOAUTH2 {}", xoauth2(demo::TEST_USER, &from_server)),
        )
        .await;
    assert_eq!(
        auth.last().map(String::as_str),
        Some("a1 OK AUTHENTICATE completed.\r\n")
    );
    let select = imap.cmd("a2", "SELECT INBOX").await;
    assert!(select.iter().any(|l| l == "* 4 EXISTS\r\n"), "{select:?}");
}

#[tokio::test]
async fn a_refused_token_request_says_why() {
    let server = MockServer::start().await;
    let e = request_app_token(
        &client(&server),
        server.https_url(),
        demo::EXPIRED_SECRET,
        demo::EXO_SCOPE,
    )
    .await
    .expect_err("expired secret");
    assert!(e.starts_with("HTTP 401") && e.contains("AADSTS7000222"), "{e}");
}
