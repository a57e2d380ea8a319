//! A test in the style users write: arm a fault, run the client code under test, and
//! assert what the journal says happened and why.
//!
//! `cargo test -p examples --test fault_and_journal`

use mock_server::{demo, Fault, MockServer, Outcome};

/// The code under test: an app that retries once when the token endpoint says the secret
/// is wrong (as some apps do while a new secret propagates).
async fn token_with_one_retry(http: &reqwest::Client, url: &str) -> Result<String, String> {
    let mut last = String::new();
    for _ in 0..2 {
        let reply: serde_json::Value = http
            .post(url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", demo::POLLER.client_id),
                ("client_secret", demo::POLLER.secret.unwrap_or_default()),
                ("scope", demo::EXO_SCOPE),
            ])
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        match reply["access_token"].as_str() {
            Some(t) => return Ok(t.to_string()),
            None => last = reply.to_string(),
        }
    }
    Err(last)
}

#[tokio::test]
async fn the_app_survives_one_refused_token_request() {
    let server = MockServer::start().await;
    // Refuse the poller's next token request once with AADSTS7000215; the guard checks on
    // drop that it fired exactly once.
    let _fault = server.arm_scoped(
        Fault::token_error(7000215)
            .for_client(demo::POLLER.client_id)
            .times(1)
            .expect(1),
    );
    let http = e2e_tests::client(&server);

    let token = token_with_one_retry(&http, &server.token_endpoint(demo::CONTOSO_DOMAIN)).await;
    assert!(token.is_ok(), "{token:?}");

    // The journal tells the story: the fault fired (and why), then a token was issued.
    let requests = server.token_requests();
    let outcomes: Vec<Outcome> = requests.iter().map(|e| e.outcome).collect();
    assert_eq!(
        outcomes,
        [Outcome::Fault, Outcome::Refused, Outcome::Issued],
        "{requests:#?}"
    );
    let fired = &requests[0];
    assert_eq!(fired.error_code, Some(7000215));
    assert!(
        fired.reason.as_deref().is_some_and(|r| r.contains("scripted fault")),
        "{fired:?}"
    );
    assert!(
        fired.fix.as_deref().is_some_and(|f| f.contains("disarm fault")),
        "{fired:?}"
    );
}

#[tokio::test]
async fn an_imap_fault_is_journaled_with_its_reason() {
    let server = MockServer::start().await;
    let _fault = server.arm_scoped(Fault::imap_reply("SELECT", "NO").times(1).expect(1));
    let token = server.app_token(demo::POLLER).await;

    let (mut imap, _greeting) = e2e_tests::imap::Imap::tls(&server).await;
    let auth = e2e_tests::imap::xoauth2(demo::TEST_USER, &token);
    imap.cmd("a1", &format!("AUTHENTICATE XOAUTH2 {auth}")).await;
    let select = imap.cmd("a2", "SELECT INBOX").await;
    assert!(select.last().is_some_and(|l| l.starts_with("a2 NO")), "{select:?}");

    let fault = server
        .imap_events()
        .into_iter()
        .find(|e| e.outcome == Outcome::Fault)
        .expect("the fault is journaled");
    assert!(
        fault.reason.as_deref().is_some_and(|r| r.contains("scripted fault")),
        "{fault:?}"
    );
}
