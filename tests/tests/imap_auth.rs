//! IMAP authentication over real TLS and STARTTLS: the documented exchanges of
//! Microsoft's guide and every failure of the demo tenant, byte for byte, with the
//! journal's reason for each refusal.

use e2e_tests::imap::{app_token, xoauth2, Imap};
use e2e_tests::*;
use mock_server::imap::{ImapConfig, Personality};
use mock_server::{Clock, MockServer, Outcome};

const GREETING: &str = "* OK The Microsoft Exchange IMAP4 service is ready. [TQBPAEMASwAwADEAQwBBADAAMAAwADEALgBOAEEATQBQAFIARAAwADEALgBQAFIATwBEAC4ATwBVAFQATABPAE8ASwAuAEMATwBNAA==]\r\n";
const CAPS_PRE: &str = "* CAPABILITY IMAP4 IMAP4rev1 AUTH=XOAUTH2 LOGINDISABLED SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+\r\n";
const USER: &str = "test.user@contoso.com";

async fn poller_token(server: &MockServer) -> String {
    app_token(server, 1, "poller-secret-value", EXO_SCOPE).await
}

fn last_imap_reason(server: &MockServer) -> String {
    server.imap_events().pop().and_then(|e| e.reason).unwrap_or_default()
}

#[tokio::test]
async fn microsofts_documented_success_exchange() {
    let server = MockServer::start().await;
    let token = poller_token(&server).await;
    let (mut c, greeting) = Imap::tls(&server).await;
    assert_eq!(greeting, GREETING);
    assert_eq!(
        c.cmd("C01", "CAPABILITY").await,
        [CAPS_PRE, "C01 OK CAPABILITY completed.\r\n"]
    );
    let blob = xoauth2(USER, &token);
    assert_eq!(
        c.cmd("A01", &format!("AUTHENTICATE XOAUTH2 {blob}")).await,
        ["A01 OK AUTHENTICATE completed.\r\n"]
    );
    // Exchange sends no CAPABILITY code with the OK; clients ask again. After
    // authentication AUTH=PLAIN is back and LOGINDISABLED gone (MailKit #2016, 2026-09).
    let caps = c.cmd("A02", "CAPABILITY").await;
    assert_eq!(caps[0], "* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT CLIENTACCESSRULES CLIENTNETWORKPRESENCELOCATION BACKENDAUTHENTICATE CHILDREN IDLE NAMESPACE LITERAL+\r\n");
    assert_eq!(
        c.cmd("A03", "NAMESPACE").await,
        [
            "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n",
            "A03 OK NAMESPACE completed.\r\n"
        ]
    );
    assert_eq!(c.cmd("A04", "NOOP").await, ["A04 OK NOOP completed.\r\n"]);
    assert_eq!(
        c.cmd("A05", "LOGOUT").await,
        [
            "* BYE Microsoft Exchange Server IMAP4 server signing off.\r\n",
            "A05 OK LOGOUT completed.\r\n"
        ]
    );
    assert!(c.closed().await);
    let e = server.imap_events().pop().expect("journaled");
    assert_eq!(e.outcome, Outcome::Authenticated);
    assert_eq!(e.request, "AUTHENTICATE XOAUTH2 user=test.user@contoso.com");
    assert_eq!(e.client_id.as_deref(), Some(app(1).as_str()));
}

#[tokio::test]
async fn microsofts_documented_failure_sample_blob() {
    // The XOAUTH2 sample of Microsoft's guide: Google's example token, not ours.
    let server = MockServer::start().await;
    let (mut c, _) = Imap::tls(&server).await;
    c.cmd("C01", "CAPABILITY").await;
    let r = c
        .cmd("A01", "AUTHENTICATE XOAUTH2 dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==")
        .await;
    assert_eq!(r, ["A01 NO AUTHENTICATE failed.\r\n"]);
    assert!(
        last_imap_reason(&server).contains("not a JWT"),
        "{}",
        last_imap_reason(&server)
    );
}

/// Authenticate app `nn` for `user`; return the client and the AUTHENTICATE answer.
async fn try_app(server: &MockServer, nn: u32, secret: &str, user: &str) -> (Imap, Vec<String>) {
    let token = app_token(server, nn, secret, EXO_SCOPE).await;
    let (mut c, _) = Imap::tls(server).await;
    let r = c
        .cmd("A01", &format!("AUTHENTICATE XOAUTH2 {}", xoauth2(user, &token)))
        .await;
    (c, r)
}

#[tokio::test]
async fn broken_apps_fail_authentication_with_the_reason_journaled() {
    let server = MockServer::start().await;
    let cases = [
        (2, "wrong-oid-secret", "registered with 00000000-0000-4000-8000-00000000b002, the application object id", "New-ServicePrincipal -AppId 00000000-0000-4000-8000-00000000a002 -ObjectId 00000000-0000-4000-8000-00000000c002"),
        (3, "not-registered-secret", "no Exchange service principal is registered", "New-ServicePrincipal -AppId 00000000-0000-4000-8000-00000000a003 -ObjectId 00000000-0000-4000-8000-00000000c003"),
        (5, "delegated-only-secret", "only the delegated permission IMAP.AccessAsUser.All", "application permission IMAP.AccessAsApp"),
        (6, "no-consent-secret", "admin consent was not granted", "Grant admin consent"),
    ];
    for (nn, secret, reason, fix) in cases {
        let (_c, r) = try_app(&server, nn, secret, USER).await;
        assert_eq!(r, ["A01 NO AUTHENTICATE failed.\r\n"], "app {nn}");
        let e = server.imap_events().pop().expect("journaled");
        assert_eq!(e.outcome, Outcome::Refused);
        assert!(
            e.reason.as_deref().unwrap_or("").contains(reason),
            "app {nn}: {:?}",
            e.reason
        );
        assert!(e.fix.as_deref().unwrap_or("").contains(fix), "app {nn}: {:?}", e.fix);
    }
}

#[tokio::test]
async fn mailbox_stage_failures_are_authenticated_but_not_connected() {
    let server = MockServer::start().await;
    for (nn, secret, user, fix) in [
        (4, "no-permission-secret", USER, "Add-MailboxPermission -Identity test.user@contoso.com -User 00000000-0000-4000-8000-00000000c004 -AccessRights FullAccess"),
        (1, "poller-secret-value", "imap.disabled@contoso.com", "Set-CASMailbox -Identity imap.disabled@contoso.com -ImapEnabled $true"),
    ] {
        let (mut c, r) = try_app(&server, nn, secret, user).await;
        assert_eq!(r, ["A01 OK AUTHENTICATE completed.\r\n"]);
        let e = server.imap_events().pop().expect("journaled");
        assert_eq!(e.outcome, Outcome::NotConnected);
        assert_eq!(e.fix.as_deref(), Some(fix));
        // CAPABILITY and NOOP are allowed and do not count.
        assert_eq!(c.cmd("A02", "CAPABILITY").await.len(), 2);
        assert_eq!(c.cmd("A03", "NOOP").await, ["A03 OK NOOP completed.\r\n"]);
        assert_eq!(c.cmd("A04", "NAMESPACE").await, ["A04 BAD User is authenticated but not connected.\r\n"]);
        c.send("A05 LIST \"\" \"INBOX\"").await;
        assert_eq!(c.line().await, "A05 BAD User is authenticated but not connected.\r\n");
        assert_eq!(c.line().await, "* BYE Connection closed. 14\r\n");
        assert!(c.closed().await);
    }
}

#[tokio::test]
async fn token_problems_fail_authentication() {
    let clock = Clock::system();
    let server = MockServer::builder().clock(clock.clone()).start().await.expect("start");
    let good = poller_token(&server).await;
    let graph = app_token(
        &server,
        1,
        "poller-secret-value",
        "https://graph.microsoft.com/.default",
    )
    .await;
    let mut tampered: Vec<String> = good.split('.').map(str::to_string).collect();
    tampered[1] = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        br#"{"aud":"https://outlook.office365.com","roles":["IMAP.AccessAsApp"]}"#,
    );
    let tampered = tampered.join(".");
    let double = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &good);
    let cases: Vec<(&str, String, &str)> = vec![
        ("Graph audience", xoauth2(USER, &graph), "Microsoft Graph"),
        ("tampered", xoauth2(USER, &tampered), "signature"),
        (
            "double-encoded token",
            xoauth2(USER, &double),
            "base64-encoded a second time",
        ),
        (
            "double-encoded blob",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, xoauth2(USER, &good)),
            "base64-encoded twice",
        ),
        (
            "unknown mailbox",
            xoauth2("nobody@contoso.com", &good),
            "not a mailbox of tenant Contoso",
        ),
        ("malformed base64", "dXNlcj1!!!".to_string(), "not valid base64"),
    ];
    for (name, blob, reason) in cases {
        let (mut c, _) = Imap::tls(&server).await;
        let r = c.cmd("A01", &format!("AUTHENTICATE XOAUTH2 {blob}")).await;
        assert_eq!(r, ["A01 NO AUTHENTICATE failed.\r\n"], "{name}");
        assert!(
            last_imap_reason(&server).contains(reason),
            "{name}: {}",
            last_imap_reason(&server)
        );
    }
    // Expired: the same good token after the clock moves past its exp.
    clock.advance(time::Duration::hours(2));
    let (mut c, _) = Imap::tls(&server).await;
    assert_eq!(
        c.cmd("A01", &format!("AUTHENTICATE XOAUTH2 {}", xoauth2(USER, &good)))
            .await,
        ["A01 NO AUTHENTICATE failed.\r\n"]
    );
    assert!(last_imap_reason(&server).contains("expired"));
}

#[tokio::test]
async fn a_token_of_another_tenant_fails() {
    // Give Fabrikam its own mail app; its token must not open a Contoso mailbox.
    let mut directory = mock_server::directory::fixture::demo_tenant().expect("demo");
    let mut app01 = directory.tenants[0].applications[0].clone();
    app01.app_id = "10000000-0000-4000-8000-00000000a001".into();
    app01.service_principal_id = "10000000-0000-4000-8000-00000000c001".into();
    directory.tenants[1].applications.push(app01);
    let server = MockServer::builder().directory(directory).start().await.expect("start");
    let c = client(&server);
    let r = post_form(
        &c,
        &server.token_endpoint(FABRIKAM),
        &secret_form("10000000-0000-4000-8000-00000000a001", "poller-secret-value", EXO_SCOPE),
    )
    .await;
    let token = r.json["access_token"].as_str().expect("token").to_string();
    let (mut imap, _) = Imap::tls(&server).await;
    let r = imap
        .cmd("A01", &format!("AUTHENTICATE XOAUTH2 {}", xoauth2(USER, &token)))
        .await;
    assert_eq!(r, ["A01 NO AUTHENTICATE failed.\r\n"]);
    assert!(
        last_imap_reason(&server).contains("no Exchange service principal")
            || last_imap_reason(&server).contains("not a mailbox of tenant Fabrikam")
    );
}

#[tokio::test]
async fn continuation_path_with_bare_plus_cancel_and_unknown_mechanism() {
    let server = MockServer::start().await;
    let token = poller_token(&server).await;
    let (mut c, _) = Imap::tls(&server).await;
    c.send("A01 AUTHENTICATE XOAUTH2").await;
    assert_eq!(c.line().await, "+\r\n", "Exchange's bare continuation");
    c.send("*").await;
    assert_eq!(
        c.line().await,
        "A01 NO The AUTH protocol exchange was canceled by the client.\r\n"
    );
    assert_eq!(
        c.cmd("A02", "AUTHENTICATE OAUTHBEARER").await,
        ["A02 BAD Command Argument Error. 11\r\n"]
    );
    c.send("A03 AUTHENTICATE XOAUTH2").await;
    assert_eq!(c.line().await, "+\r\n");
    c.send(&xoauth2(USER, &token)).await;
    assert_eq!(c.line().await, "A03 OK AUTHENTICATE completed.\r\n");

    // The RFC 3501 form, as an option.
    let server = MockServer::builder()
        .imap_config(ImapConfig {
            bare_continuation: false,
            ..ImapConfig::default()
        })
        .start()
        .await
        .expect("start");
    let (mut c, _) = Imap::tls(&server).await;
    c.send("A01 AUTHENTICATE XOAUTH2").await;
    assert_eq!(c.line().await, "+ \r\n");
}

#[tokio::test]
async fn too_many_failures_end_with_bye_14() {
    let server = MockServer::start().await;
    let (mut c, _) = Imap::tls(&server).await;
    let bad = xoauth2(USER, "not-a-token");
    assert_eq!(
        c.cmd("A1", &format!("AUTHENTICATE XOAUTH2 {bad}")).await,
        ["A1 NO AUTHENTICATE failed.\r\n"]
    );
    assert_eq!(
        c.cmd("A2", &format!("AUTHENTICATE XOAUTH2 {bad}")).await,
        ["A2 NO AUTHENTICATE failed.\r\n"]
    );
    c.send(&format!("A3 AUTHENTICATE XOAUTH2 {bad}")).await;
    assert_eq!(c.line().await, "A3 NO AUTHENTICATE failed.\r\n");
    assert_eq!(c.line().await, "* BYE Connection is closed. 14\r\n");
    assert!(c.closed().await);
}

#[tokio::test]
async fn sasl_line_over_4096_bytes_is_refused() {
    let server = MockServer::start().await;
    let (mut c, _) = Imap::tls(&server).await;
    c.send("A01 AUTHENTICATE XOAUTH2").await;
    assert_eq!(c.line().await, "+\r\n");
    c.send(&"QUFB".repeat(1100)).await;
    assert_eq!(c.line().await, "A01 BAD Command Error. 10\r\n");
    assert!(
        last_imap_reason(&server).contains("4400 bytes"),
        "{}",
        last_imap_reason(&server)
    );
    // The session goes on.
    assert_eq!(c.cmd("A02", "NOOP").await, ["A02 OK NOOP completed.\r\n"]);
}

/// A server in the given era and a TLS connection to it (past the greeting).
async fn tls_in_era(personality: Personality) -> (MockServer, Imap) {
    let server = MockServer::builder()
        .imap_config(ImapConfig {
            personality,
            ..ImapConfig::default()
        })
        .start()
        .await
        .expect("start");
    let (c, _) = Imap::tls(&server).await;
    (server, c)
}

#[tokio::test]
async fn basic_login_by_personality() {
    let server = MockServer::start().await;
    let (mut c, _) = Imap::tls(&server).await;
    c.send("A01 LOGIN test.user@contoso.com Passw0rd!").await;
    assert_eq!(c.line().await, "A01 NO Basic authentication is disabled.\r\n");
    assert_eq!(
        c.line().await,
        "* BYE Microsoft Exchange Server IMAP4 server signing off.\r\n"
    );
    assert!(c.closed().await);

    let (_server, mut c) = tls_in_era(Personality::Exo2018).await;
    assert_eq!(
        c.cmd("C01", "CAPABILITY").await[0],
        "* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+\r\n"
    );
    assert_eq!(
        c.cmd("A01", "LOGIN test.user@contoso.com Passw0rd!").await,
        ["A01 NO LOGIN failed.\r\n"]
    );

    // 2019: the same refusal, with MOVE before authentication (Mailspring #1912).
    let (_server, mut c) = tls_in_era(Personality::Exo2019).await;
    assert_eq!(
        c.cmd("C01", "CAPABILITY").await[0],
        "* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+\r\n"
    );
    assert_eq!(
        c.cmd("A01", "LOGIN test.user@contoso.com Passw0rd!").await,
        ["A01 NO LOGIN failed.\r\n"]
    );
    // The connection stays open, as in 2018.
    assert_eq!(c.cmd("A02", "NOOP").await, ["A02 OK NOOP completed.\r\n"]);
}

#[tokio::test]
async fn starttls_port() {
    let server = MockServer::start().await;
    let token = poller_token(&server).await;
    let (mut c, greeting) = Imap::plain(&server).await;
    assert_eq!(greeting, GREETING);
    assert_eq!(
        c.cmd("C01", "CAPABILITY").await[0],
        "* CAPABILITY IMAP4 IMAP4rev1 LOGINDISABLED STARTTLS UIDPLUS MOVE ID CHILDREN IDLE NAMESPACE LITERAL+\r\n"
    );
    let blob = xoauth2(USER, &token);
    assert_eq!(
        c.cmd("A01", &format!("AUTHENTICATE XOAUTH2 {blob}")).await,
        ["A01 BAD Command received in Invalid state.\r\n"]
    );
    assert_eq!(
        c.cmd("A02", "STARTTLS").await,
        ["A02 OK Begin TLS negotiation now.\r\n"]
    );
    c.upgrade().await;
    assert_eq!(c.cmd("C02", "CAPABILITY").await[0], CAPS_PRE);
    assert_eq!(
        c.cmd("A03", &format!("AUTHENTICATE XOAUTH2 {blob}")).await,
        ["A03 OK AUTHENTICATE completed.\r\n"]
    );
    assert_eq!(
        c.cmd("A04", "STARTTLS").await,
        ["A04 BAD Command received in Invalid state.\r\n"]
    );
}

#[tokio::test]
async fn token_expiring_mid_session_invalidates_it() {
    let clock = Clock::system();
    let server = MockServer::builder().clock(clock.clone()).start().await.expect("start");
    let token = poller_token(&server).await;
    let (mut c, _) = Imap::tls(&server).await;
    assert_eq!(
        c.cmd("A01", &format!("AUTHENTICATE XOAUTH2 {}", xoauth2(USER, &token)))
            .await,
        ["A01 OK AUTHENTICATE completed.\r\n"]
    );
    assert_eq!(c.cmd("A02", "NOOP").await, ["A02 OK NOOP completed.\r\n"]);
    clock.advance(time::Duration::minutes(61));
    c.send("A03 NOOP").await;
    assert_eq!(c.line().await, "* BYE Session invalidated - AccessTokenExpired\r\n");
    assert!(c.closed().await);
    assert_eq!(server.imap_events().pop().map(|e| e.outcome), Some(Outcome::Ended));
}

#[tokio::test]
async fn pre_auth_state_limits_and_errors() {
    let server = MockServer::builder()
        .imap_config(ImapConfig {
            pre_auth_timeout: std::time::Duration::from_millis(300),
            ..ImapConfig::default()
        })
        .start()
        .await
        .expect("start");
    let (mut c, _) = Imap::tls(&server).await;
    assert_eq!(
        c.cmd("A01", "SELECT INBOX").await,
        ["A01 BAD Command received in Invalid state.\r\n"]
    );
    assert_eq!(c.cmd("A02", "FROB").await, ["A02 BAD Command Error. 12\r\n"]);
    assert_eq!(
        c.cmd("A03", "FETCH nonsense").await,
        ["A03 BAD Command Argument Error. 12\r\n"]
    );
    // Nine commands before authenticating: the ninth is answered, then the door closes.
    for i in 4..=8 {
        c.cmd(&format!("A0{i}"), "NOOP").await;
    }
    assert_eq!(c.cmd("A09", "NOOP").await, ["A09 OK NOOP completed.\r\n"]);
    assert!(c.closed().await);

    // Silence before authentication ends with the autologout BYE.
    let (mut c, _) = Imap::tls(&server).await;
    assert_eq!(c.line().await, "* BYE Connection is closed. 13\r\n");
    assert!(c.closed().await);
}

#[tokio::test]
async fn an_oversized_command_line_and_literal_are_refused_and_the_session_survives() {
    let server = MockServer::start().await;
    let (mut c, _) = Imap::tls(&server).await;
    c.send(&format!("A01 NOOP {}", "x".repeat(20_000))).await;
    assert_eq!(c.line().await, "A01 BAD Command Error. 10\r\n");
    // Before authentication APPEND is refused for its state before its literal is looked
    // at (imapsync #250); a command allowed then is refused for the literal's size.
    c.send("A02 APPEND INBOX {999999999}").await;
    assert_eq!(c.line().await, "A02 BAD Command received in Invalid state.\r\n");
    c.send("A03 LOGIN {999999999}").await;
    assert_eq!(c.line().await, "A03 BAD Command Error. 10\r\n");
    assert_eq!(c.cmd("A04", "NOOP").await, ["A04 OK NOOP completed.\r\n"]);
}
