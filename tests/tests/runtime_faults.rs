//! Scripted faults fire exactly as often as asked, at the token endpoint and in IMAP, and
//! `expect` verification catches a mismatch.

use e2e_tests::imap::{app_token, connector, xoauth2, Imap};
use e2e_tests::*;
use mock_server::{Fault, MockServer};
use serde_json::json;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TEST_USER: &str = "test.user@contoso.com";
const POLLER_SECRET: &str = "poller-secret-value";

async fn token_request(server: &MockServer, nn: u32, secret: &str) -> Reply {
    post_form(
        &client(server),
        &server.token_endpoint(CONTOSO),
        &secret_form(&app(nn), secret, EXO_SCOPE),
    )
    .await
}

#[tokio::test]
async fn aadsts_fault_fires_exactly_times_and_only_for_its_client() {
    let server = MockServer::start().await;
    let id = server.arm(Fault::token_error(7000215).for_client(&app(1)).times(2).expect(2));
    // Another client is not affected.
    assert_eq!(token_request(&server, 4, "no-permission-secret").await.status, 200);
    for _ in 0..2 {
        let r = token_request(&server, 1, POLLER_SECRET).await;
        let text = assert_aad_error(&r, 401, "invalid_client", 7000215);
        assert!(text.contains("Invalid client secret provided."), "{text}");
    }
    assert_eq!(token_request(&server, 1, POLLER_SECRET).await.status, 200);
    let armed = server.faults();
    assert_eq!(armed.len(), 1);
    assert_eq!((armed[0].id, armed[0].fired), (id, 2));
    server.verify_faults().expect("fired exactly twice");
    // Every firing is journaled, with the fault named.
    let fired: Vec<_> = server
        .journal()
        .into_iter()
        .filter(|e| e.outcome == mock_server::Outcome::Fault)
        .collect();
    assert_eq!(fired.len(), 2);
    assert!(fired[0].reason.as_deref().is_some_and(|r| r.contains("AADSTS7000215")));
}

#[tokio::test]
async fn throttling_answers_429_with_retry_after_in_both_body_styles() {
    let server = MockServer::start().await;
    let _json = server.arm_scoped(Fault::token_throttled(7).times(1).expect(1));
    let r = token_request(&server, 1, POLLER_SECRET).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.headers["retry-after"], "7");
    assert_eq!(r.json["error"], "temporarily_unavailable");
    let _plain = server.arm_scoped(Fault::token_throttled(30).plain_body().times(1).expect(1));
    let r = token_request(&server, 1, POLLER_SECRET).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.headers["retry-after"], "30");
    assert_eq!(r.json, json!("Too Many Requests"));
    assert_eq!(token_request(&server, 1, POLLER_SECRET).await.status, 200);
}

#[tokio::test]
async fn outages_delays_and_dropped_connections() {
    let server = MockServer::start().await;
    server.arm(
        Fault::token_server_error(503)
            .for_grant("client_credentials")
            .times(1)
            .expect(1),
    );
    let r = token_request(&server, 1, POLLER_SECRET).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json["error"], "temporarily_unavailable");
    server.arm(
        Fault::token_server_error(500)
            .for_scope("outlook.office365.com")
            .times(1)
            .expect(1),
    );
    assert_eq!(token_request(&server, 1, POLLER_SECRET).await.status, 500);
    // A delay answers normally (the length is not asserted: no timed tests).
    server.arm(Fault::token_delay(Duration::from_millis(1)).times(1).expect(1));
    assert_eq!(token_request(&server, 1, POLLER_SECRET).await.status, 200);
    server.arm(Fault::token_drop().times(1).expect(1));
    let err = client(&server)
        .post(server.token_endpoint(CONTOSO))
        .form(&secret_form(&app(1), POLLER_SECRET, EXO_SCOPE))
        .send()
        .await;
    assert!(err.is_err(), "the connection closes without an answer: {err:?}");
    assert_eq!(token_request(&server, 1, POLLER_SECRET).await.status, 200);
    server.verify_faults().expect("each fired once");
}

#[test]
fn unmet_expectations_panic_when_the_guard_or_the_server_drops() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(MockServer::start());
    let guard = server.arm_scoped(Fault::token_error(7000215).times(5).expect(2));
    rt.block_on(token_request(&server, 1, POLLER_SECRET));
    assert_eq!(guard.fired(), 1);
    let caught = catch_unwind(AssertUnwindSafe(move || drop(guard)));
    let msg = caught.expect_err("fired once, expected twice");
    let text = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(text.contains("expected to fire 2 time(s) and fired 1"), "{text}");
    assert!(server.faults().is_empty(), "the guard disarmed it");

    server.arm(Fault::imap_greeting_drop().expect(1));
    assert!(server.verify_faults().is_err());
    let caught = catch_unwind(AssertUnwindSafe(move || drop(server)));
    assert!(caught.is_err(), "the server verifies on drop");

    // The command-line server logs instead of panicking.
    let quiet = rt
        .block_on(MockServer::builder().verify_faults_on_drop(false).start())
        .expect("start");
    quiet.arm(Fault::imap_greeting_drop().expect(1));
    drop(quiet);
}

#[tokio::test]
async fn faults_from_the_admin_api_can_be_listed_and_disarmed() {
    let server = MockServer::start().await;
    let c = client(&server);
    let base = format!("{}/_mock/admin", server.https_url());
    let r: serde_json::Value = c
        .post(format!("{base}/add-fault"))
        .json(&json!({"hook": "token", "kind": "aad_error", "code": 700016, "client-id": app(1), "times": 1}))
        .send()
        .await
        .expect("add")
        .json()
        .await
        .expect("json");
    let id = r["id"].as_u64().expect("id");
    let r = token_request(&server, 1, POLLER_SECRET).await;
    assert_aad_error(&r, 400, "unauthorized_client", 700016);
    let list = get(&c, &format!("{base}/get-faults")).await;
    assert_eq!(list.json["faults"][0]["fired"], 1);
    assert_eq!(list.json["faults"][0]["id"], id);
    let bad = c
        .post(format!("{base}/add-fault"))
        .json(&json!({"hook": "imap_tls", "kind": "aad_error", "code": 1}))
        .send()
        .await
        .expect("add");
    assert_eq!(bad.status().as_u16(), 400);
    let removed = c
        .post(format!("{base}/remove-fault"))
        .json(&json!({"id": id}))
        .send()
        .await
        .expect("remove");
    assert_eq!(removed.status().as_u16(), 200);
    assert!(server.faults().is_empty());
}

#[tokio::test]
async fn imap_greeting_drop_and_tls_failure() {
    let server = MockServer::start().await;
    server.arm(Fault::imap_greeting_drop().times(1).expect(1));
    let tcp = tokio::net::TcpStream::connect(server.imaps_addr())
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut tls = connector(server.ca_pem()).connect(name, tcp).await.expect("TLS");
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(10), tls.read(&mut buf))
        .await
        .expect("in time")
        .unwrap_or(0);
    assert_eq!(n, 0, "closed before the greeting");
    let (_, greeting) = Imap::tls(&server).await;
    assert!(greeting.starts_with("* OK The Microsoft Exchange IMAP4 service is ready."));

    server.arm(Fault::imap_tls_failure().times(1).expect(1));
    let tcp = tokio::net::TcpStream::connect(server.imaps_addr())
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let err = connector(server.ca_pem())
        .connect(name, tcp)
        .await
        .expect_err("handshake fails");
    assert!(err.to_string().to_lowercase().contains("handshake"), "{err}");
    // STARTTLS fails the same way on the plain port.
    server.arm(Fault::imap_tls_failure().times(1).expect(1));
    let (mut plain, _) = Imap::plain(&server).await;
    assert_eq!(
        plain.cmd("S1", "STARTTLS").await,
        vec!["S1 OK Begin TLS negotiation now.\r\n"]
    );
    let mut tcp_alert = Vec::new();
    // Send a byte of "ClientHello" and read the alert record.
    plain.send_raw(&[0x16, 0x03, 0x01, 0x00, 0x00]).await;
    tcp_alert.extend(plain.bytes(7).await);
    assert_eq!(tcp_alert, vec![0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]);
    let (_, greeting) = Imap::tls(&server).await;
    assert!(greeting.starts_with("* OK"));
    server.verify_faults().expect("each once");
}

async fn authenticated(server: &MockServer) -> Imap {
    let token = app_token(server, 1, POLLER_SECRET, EXO_SCOPE).await;
    let (mut imap, _) = Imap::tls(server).await;
    let auth = imap
        .cmd("A1", &format!("AUTHENTICATE XOAUTH2 {}", xoauth2(TEST_USER, &token)))
        .await;
    assert_eq!(auth, vec!["A1 OK AUTHENTICATE completed.\r\n"]);
    imap
}

#[tokio::test]
async fn imap_replies_at_a_named_command() {
    let server = MockServer::start().await;
    server.arm(Fault::imap_reply("SELECT", "NO").times(1).expect(1));
    let mut imap = authenticated(&server).await;
    assert_eq!(
        imap.cmd("A2", "SELECT INBOX").await,
        vec!["A2 NO Server Unavailable. 15\r\n"]
    );
    assert_eq!(
        imap.cmd("A3", "SELECT INBOX").await.last().map(String::as_str),
        Some("A3 OK [READ-WRITE] SELECT completed.\r\n")
    );
    server.arm(Fault::imap_reply("noop", "BAD").text("Go away.").times(1).expect(1));
    assert_eq!(imap.cmd("A4", "NOOP").await, vec!["A4 BAD Go away.\r\n"]);
    server.arm(Fault::imap_reply("FETCH", "BYE").for_user(TEST_USER).times(1).expect(1));
    imap.send("A5 FETCH 1 FLAGS").await;
    assert_eq!(imap.line().await, "* BYE Server Unavailable. 15\r\n");
    assert!(imap.closed().await);
    // AUTHENTICATE itself can be refused.
    server.arm(
        Fault::imap_reply("AUTHENTICATE", "NO")
            .text("AUTHENTICATE failed.")
            .times(1)
            .expect(1),
    );
    let token = app_token(&server, 1, POLLER_SECRET, EXO_SCOPE).await;
    let (mut imap, _) = Imap::tls(&server).await;
    assert_eq!(
        imap.cmd("B1", &format!("AUTHENTICATE XOAUTH2 {}", xoauth2(TEST_USER, &token)))
            .await,
        vec!["B1 NO AUTHENTICATE failed.\r\n"]
    );
    server.verify_faults().expect("each once");
}

#[tokio::test]
async fn token_expiry_idle_timeout_and_trickle_mid_session() {
    let server = MockServer::start().await;
    server.arm(Fault::imap_token_expired("NOOP").times(1).expect(1));
    let mut imap = authenticated(&server).await;
    imap.send("A2 NOOP").await;
    assert_eq!(imap.line().await, "* BYE Session invalidated - AccessTokenExpired\r\n");
    assert!(imap.closed().await);

    server.arm(Fault::imap_idle_timeout("NOOP").times(1).expect(1));
    let mut imap = authenticated(&server).await;
    imap.send("A2 NOOP").await;
    assert_eq!(imap.line().await, "* BYE Connection is closed. 13\r\n");
    assert!(imap.closed().await);

    // Trickled one byte at a time, the answer is still whole and correct.
    server.arm(Fault::imap_trickle("CAPABILITY", 1).times(1).expect(1));
    let mut imap = authenticated(&server).await;
    let caps = imap.cmd("A2", "CAPABILITY").await;
    assert_eq!(caps.last().map(String::as_str), Some("A2 OK CAPABILITY completed.\r\n"));
    assert!(caps[0].starts_with("* CAPABILITY IMAP4 IMAP4rev1"));
    let ends = server
        .journal()
        .into_iter()
        .filter(|e| e.outcome == mock_server::Outcome::Fault)
        .count();
    assert_eq!(ends, 3);
    server.verify_faults().expect("each once");
}

#[tokio::test]
async fn faults_given_at_start_fire() {
    let server = MockServer::builder()
        .fault(Fault::token_error(50126).for_grant("password").times(1).expect(1))
        .start()
        .await
        .expect("start");
    let r = post_form(
        &client(&server),
        &server.token_endpoint(CONTOSO),
        &[
            ("grant_type", "password"),
            ("client_id", &app(8)),
            ("username", TEST_USER),
            ("password", "Passw0rd!"),
            ("scope", "https://outlook.office.com/IMAP.AccessAsUser.All"),
        ],
    )
    .await;
    assert_aad_error(&r, 400, "invalid_grant", 50126);
    let bad = MockServer::builder()
        .fault(Fault::token_server_error(418))
        .start()
        .await;
    assert!(bad.is_err(), "an invalid fault stops the start");
    let _ = tokio::net::TcpStream::connect(server.imaps_addr())
        .await
        .expect("still up")
        .shutdown()
        .await;
}

#[tokio::test]
async fn imap_greeting_delay_and_command_delay_and_drop_fire_as_often_as_asked() {
    let server = MockServer::start().await;
    // Delays change only when the bytes come, not what they are.
    server.arm(Fault::imap_greeting_delay(Duration::from_millis(50)).times(1).expect(1));
    let (_, greeting) = Imap::tls(&server).await;
    assert!(greeting.starts_with("* OK The Microsoft Exchange IMAP4 service is ready."));
    server.arm(
        Fault::imap_command_delay("NOOP", Duration::from_millis(50))
            .times(2)
            .expect(2),
    );
    let mut c = authenticated(&server).await;
    for tag in ["N1", "N2", "N3"] {
        assert_eq!(c.cmd(tag, "NOOP").await, vec![format!("{tag} OK NOOP completed.\r\n")]);
    }
    // Drop at SELECT: no answer, the connection closes; the next session is unaffected.
    server.arm(Fault::imap_command_drop("SELECT").times(1).expect(1));
    c.send("S1 SELECT INBOX").await;
    assert!(c.closed().await, "closed instead of answering");
    let mut c = authenticated(&server).await;
    assert_eq!(
        c.cmd("S2", "SELECT INBOX").await.last().map(String::as_str),
        Some("S2 OK [READ-WRITE] SELECT completed.\r\n")
    );
    server
        .verify_faults()
        .expect("greeting delay once, NOOP delay twice, SELECT drop once");
    let fired = server
        .journal()
        .iter()
        .filter(|e| format!("{:?}", e.outcome).to_lowercase().contains("fault"))
        .count();
    assert_eq!(fired, 4, "each firing journaled");
}
