//! The administrator's verbs change the wire outcome while the server runs: through the
//! Rust API (`server.admin()`) and through the admin HTTP API (`/_mock/admin/<verb>`).

use e2e_tests::imap::{app_token, xoauth2, Imap};
use e2e_tests::*;
use mock_server::admin::CasMailbox;
use mock_server::MockServer;
use serde_json::{json, Value};

const TEST_USER: &str = "test.user@contoso.com";
const POLLER_SECRET: &str = "poller-secret-value";

fn sp(nn: u32) -> String {
    format!("00000000-0000-4000-8000-00000000c{nn:03}")
}

/// Authenticate app `nn` as `user` with a fresh token and SELECT INBOX: the answers.
async fn session(server: &MockServer, nn: u32, secret: &str, user: &str) -> (String, String) {
    let token = app_token(server, nn, secret, EXO_SCOPE).await;
    session_with(server, &token, user).await
}

async fn session_with(server: &MockServer, token: &str, user: &str) -> (String, String) {
    let (mut imap, _) = Imap::tls(server).await;
    let auth = imap
        .cmd("A1", &format!("AUTHENTICATE XOAUTH2 {}", xoauth2(user, token)))
        .await
        .concat();
    if !auth.starts_with("A1 OK") {
        return (auth, String::new());
    }
    let select = imap.cmd("A2", "SELECT INBOX").await;
    (auth, select.last().cloned().unwrap_or_default())
}

async fn admin_post(server: &MockServer, verb: &str, body: Value) -> Reply {
    let c = client(server);
    let r = c
        .post(format!("{}/_mock/admin/{verb}", server.https_url()))
        .json(&body)
        .send()
        .await
        .expect("admin POST");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let json = r.json().await.expect("admin answers JSON");
    Reply { status, headers, json }
}

#[tokio::test]
async fn remove_and_add_mailbox_permission_through_the_rust_api() {
    let server = MockServer::start().await;
    assert_eq!(
        session(&server, 1, POLLER_SECRET, TEST_USER).await.1,
        "A2 OK [READ-WRITE] SELECT completed.\r\n"
    );
    server
        .admin()
        .remove_mailbox_permission(TEST_USER, &sp(1), "FullAccess")
        .expect("remove");
    let (auth, select) = session(&server, 1, POLLER_SECRET, TEST_USER).await;
    assert_eq!(auth, "A1 OK AUTHENTICATE completed.\r\n");
    assert_eq!(select, "A2 BAD User is authenticated but not connected.\r\n");
    let why = server.imap_events().last().cloned().expect("journaled");
    assert!(
        why.fix.as_deref().is_some_and(|f| f.contains("Add-MailboxPermission")),
        "{why:?}"
    );

    server
        .admin()
        .add_mailbox_permission(TEST_USER, &sp(1), "FullAccess")
        .expect("add");
    assert_eq!(
        session(&server, 1, POLLER_SECRET, TEST_USER).await.1,
        "A2 OK [READ-WRITE] SELECT completed.\r\n"
    );
    // Both changes are in the journal as the cmdlet lines.
    let admin: Vec<String> = server
        .journal()
        .into_iter()
        .filter(|e| e.protocol == "admin")
        .map(|e| e.request)
        .collect();
    assert_eq!(
        admin,
        vec![
            format!(
                "Remove-MailboxPermission -Identity {TEST_USER} -User {} -AccessRights FullAccess",
                sp(1)
            ),
            format!(
                "Add-MailboxPermission -Identity {TEST_USER} -User {} -AccessRights FullAccess",
                sp(1)
            ),
        ]
    );
}

#[tokio::test]
async fn remove_and_add_mailbox_permission_through_the_http_api() {
    let server = MockServer::start().await;
    let r = admin_post(
        &server,
        "remove-mailbox-permission",
        json!({"identity": TEST_USER, "user": sp(1), "access_rights": "FullAccess"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(
        session(&server, 1, POLLER_SECRET, TEST_USER).await.1,
        "A2 BAD User is authenticated but not connected.\r\n"
    );
    // PowerShell-style parameter names work too.
    let r = admin_post(
        &server,
        "add-mailbox-permission",
        json!({"Identity": TEST_USER, "User": sp(1), "AccessRights": "FullAccess"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(
        session(&server, 1, POLLER_SECRET, TEST_USER).await.1,
        "A2 OK [READ-WRITE] SELECT completed.\r\n"
    );
}

#[tokio::test]
async fn unknown_identities_and_parameters_are_named_in_the_error() {
    let server = MockServer::start().await;
    let r = admin_post(
        &server,
        "add-mailbox-permission",
        json!({"identity": "test.userx@contoso.com", "user": sp(1)}),
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json["message"], "no mailbox test.userx@contoso.com in tenant Contoso");
    let e = server
        .admin()
        .add_mailbox_permission(TEST_USER, "00000000-0000-4000-8000-00000000dead", "FullAccess")
        .expect_err("unknown trustee");
    assert!(e.message.contains("run New-ServicePrincipal first"), "{e}");
    let r = admin_post(&server, "remove-service-principal", json!({"identiti": "x"})).await;
    assert_eq!(r.status, 400);
    assert!(
        r.json["message"]
            .as_str()
            .is_some_and(|m| m.contains("--identity is required")),
        "{}",
        r.json
    );
    let r = admin_post(&server, "reset", json!({"force": true})).await;
    assert_eq!(r.status, 400, "{}", r.json);
    let r = admin_post(&server, "frobnicate", json!({})).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn admin_token_is_required_when_set() {
    let server = MockServer::builder()
        .admin_token("s3cret-admin")
        .start()
        .await
        .expect("start");
    let c = client(&server);
    let url = format!("{}/_mock/admin/get-clock", server.https_url());
    assert_eq!(c.get(&url).send().await.expect("GET").status().as_u16(), 401);
    let wrong = c.get(&url).bearer_auth("s3cret-admiN").send().await.expect("GET");
    assert_eq!(wrong.status().as_u16(), 401);
    let ok = c.get(&url).bearer_auth("s3cret-admin").send().await.expect("GET");
    assert_eq!(ok.status().as_u16(), 200);

    let off = MockServer::builder().admin_api(false).start().await.expect("start");
    let r = get(&client(&off), &format!("{}/_mock/admin/get-clock", off.https_url())).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn new_service_principal_with_the_right_object_id_fixes_apps_02_and_03() {
    let server = MockServer::start().await;
    let admin = server.admin();
    // App 02: registered with the application object id (b002).
    assert_eq!(
        session(&server, 2, "wrong-oid-secret", TEST_USER).await.0,
        "A1 NO AUTHENTICATE failed.\r\n"
    );
    let e = admin
        .new_service_principal(&app(2), &sp(2))
        .expect_err("one service principal per app");
    assert_eq!(e.status, 409);
    admin
        .remove_service_principal("00000000-0000-4000-8000-00000000b002")
        .expect("remove the wrong one");
    admin.new_service_principal(&app(2), &sp(2)).expect("register");
    admin
        .add_mailbox_permission(TEST_USER, &sp(2), "FullAccess")
        .expect("permission for the right id");
    assert_eq!(
        session(&server, 2, "wrong-oid-secret", TEST_USER).await.1,
        "A2 OK [READ-WRITE] SELECT completed.\r\n"
    );

    // App 03: never registered; registering alone authenticates but does not connect.
    assert_eq!(
        session(&server, 3, "not-registered-secret", TEST_USER).await.0,
        "A1 NO AUTHENTICATE failed.\r\n"
    );
    let r = admin_post(
        &server,
        "new-service-principal",
        json!({"app_id": app(3), "object_id": sp(3)}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let (auth, select) = session(&server, 3, "not-registered-secret", TEST_USER).await;
    assert_eq!(auth, "A1 OK AUTHENTICATE completed.\r\n");
    assert_eq!(select, "A2 BAD User is authenticated but not connected.\r\n");
    admin
        .add_mailbox_permission(TEST_USER, &sp(3), "FullAccess")
        .expect("permission");
    assert_eq!(
        session(&server, 3, "not-registered-secret", TEST_USER).await.1,
        "A2 OK [READ-WRITE] SELECT completed.\r\n"
    );
}

#[tokio::test]
async fn set_cas_mailbox_imap_enabled_fixes_imap_disabled() {
    let server = MockServer::start().await;
    let mbx = "imap.disabled@contoso.com";
    assert_eq!(
        session(&server, 1, POLLER_SECRET, mbx).await.1,
        "A2 BAD User is authenticated but not connected.\r\n"
    );
    let r = admin_post(
        &server,
        "set-cas-mailbox",
        json!({"identity": mbx, "imap_enabled": true}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(
        session(&server, 1, POLLER_SECRET, mbx).await.1,
        "A2 OK [READ-WRITE] SELECT completed.\r\n"
    );
    server
        .admin()
        .set_cas_mailbox(
            mbx,
            &CasMailbox {
                imap_enabled: Some(false),
                ..CasMailbox::default()
            },
        )
        .expect("disable again");
    assert_eq!(
        session(&server, 1, POLLER_SECRET, mbx).await.1,
        "A2 BAD User is authenticated but not connected.\r\n"
    );
}

#[tokio::test]
async fn secrets_added_work_and_removed_ones_answer_7000215() {
    let server = MockServer::start().await;
    let c = client(&server);
    let url = server.token_endpoint(CONTOSO);
    let r = admin_post(&server, "add-app-secret", json!({"app_id": app(1), "days": 30})).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let value = r.json["value"].as_str().expect("value shown once").to_string();
    let key_id = r.json["key_id"].as_str().expect("key id").to_string();
    let ok = post_form(&c, &url, &secret_form(&app(1), &value, EXO_SCOPE)).await;
    assert_eq!(ok.status, 200, "{}", ok.json);
    // The journal never holds the new value.
    let journal = serde_json::to_string(&server.journal()).expect("json");
    assert!(!journal.contains(&value), "secret leaked into the journal");

    server.admin().remove_app_secret(&app(1), &key_id).expect("remove");
    let refused = post_form(&c, &url, &secret_form(&app(1), &value, EXO_SCOPE)).await;
    assert_aad_error(&refused, 401, "invalid_client", 7000215);
    // The fixture's secret (key id …d001) can be removed too.
    server
        .admin()
        .remove_app_secret(&app(1), "00000000-0000-4000-8000-00000000d001")
        .expect("remove fixture secret");
    let refused = post_form(&c, &url, &secret_form(&app(1), POLLER_SECRET, EXO_SCOPE)).await;
    assert_aad_error(&refused, 401, "invalid_client", 7000215);
    // An expired secret answers 7000222.
    let past = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    let s = server
        .admin()
        .add_app_secret(&app(1), Some("old-one"), Some(past))
        .expect("add");
    assert_eq!(s.value, "old-one");
    let refused = post_form(&c, &url, &secret_form(&app(1), "old-one", EXO_SCOPE)).await;
    assert_aad_error(&refused, 401, "invalid_client", 7000222);
}

#[tokio::test]
async fn consent_and_permissions_decide_the_roles() {
    let server = MockServer::start().await;
    let admin = server.admin();
    // App 06: permission added, consent missing.
    let token = app_token(&server, 6, "no-consent-secret", EXO_SCOPE).await;
    assert!(claims(&token)["roles"].is_null());
    admin.grant_admin_consent(&app(6)).expect("consent");
    let token = app_token(&server, 6, "no-consent-secret", EXO_SCOPE).await;
    assert_eq!(claims(&token)["roles"], json!(["IMAP.AccessAsApp"]));
    assert_eq!(
        session_with(&server, &token, TEST_USER).await.1,
        "A2 OK [READ-WRITE] SELECT completed.\r\n"
    );
    admin.revoke_admin_consent(&app(6)).expect("revoke");
    assert!(claims(&app_token(&server, 6, "no-consent-secret", EXO_SCOPE).await)["roles"].is_null());
    // App 05: delegated only; adding the application permission and consenting fixes it.
    admin
        .add_app_permission(&app(5), "Office 365 Exchange Online", "application", "IMAP.AccessAsApp")
        .expect("add permission");
    admin.grant_admin_consent(&app(5)).expect("consent");
    let token = app_token(&server, 5, "delegated-only-secret", EXO_SCOPE).await;
    assert_eq!(claims(&token)["roles"], json!(["IMAP.AccessAsApp"]));
    admin
        .remove_app_permission(&app(5), "IMAP.AccessAsApp")
        .expect("remove");
    assert!(claims(&app_token(&server, 5, "delegated-only-secret", EXO_SCOPE).await)["roles"].is_null());
    let e = admin
        .add_app_permission(&app(5), "Exchange Online", "application", "IMAP.AccessAsAnything")
        .expect_err("unknown permission");
    assert!(e.message.contains("IMAP.AccessAsAnything"), "{e}");
}

#[tokio::test]
async fn a_new_app_user_and_mailbox_work_end_to_end() {
    let server = MockServer::start().await;
    let admin = server.admin();
    let created = admin.new_application(CONTOSO, "CI Poller", false).expect("app");
    let secret = admin.add_app_secret(&created.app_id, None, None).expect("secret");
    admin
        .add_app_permission(
            &created.app_id,
            "Office 365 Exchange Online",
            "application",
            "IMAP.AccessAsApp",
        )
        .expect("permission");
    admin.grant_admin_consent(&created.app_id).expect("consent");
    admin
        .new_service_principal(&created.app_id, &created.service_principal_id)
        .expect("SP");
    admin
        .new_mailbox("ci.box@contoso.com", Some("pw"), false)
        .expect("mailbox");
    admin
        .add_mailbox_permission("ci.box@contoso.com", &created.service_principal_id, "FullAccess")
        .expect("permission");
    let c = client(&server);
    let r = post_form(
        &c,
        &server.token_endpoint(CONTOSO),
        &secret_form(&created.app_id, &secret.value, EXO_SCOPE),
    )
    .await;
    let token = r.json["access_token"].as_str().expect("token").to_string();
    let (auth, select) = session_with(&server, &token, "ci.box@contoso.com").await;
    assert_eq!(auth, "A1 OK AUTHENTICATE completed.\r\n");
    assert_eq!(select, "A2 OK [READ-WRITE] SELECT completed.\r\n");
    assert!(admin.messages("ci.box@contoso.com", "INBOX").expect("list").is_empty());
    assert!(server.directory().tenants[0].user("ci.box@contoso.com").is_some());
}

#[tokio::test]
async fn rotate_signing_key_keeps_old_tokens_valid_until_the_old_key_is_removed() {
    let server = MockServer::start().await;
    let old_token = app_token(&server, 1, POLLER_SECRET, EXO_SCOPE).await;
    let old_kid = header(&old_token)["kid"].as_str().expect("kid").to_string();
    let r = admin_post(&server, "rotate-signing-key", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let new_kid = r.json["active"].as_str().expect("active").to_string();
    assert_ne!(new_kid, old_kid);
    assert_eq!(r.json["published"], json!([new_kid, old_kid]));
    let new_token = app_token(&server, 1, POLLER_SECRET, EXO_SCOPE).await;
    assert_eq!(header(&new_token)["kid"], new_kid.as_str());
    assert_eq!(header(&new_token)["x5t"], new_kid.as_str());
    // The JWKS publishes both; both tokens verify.
    let jwks = get(
        &client(&server),
        &format!("{}/{CONTOSO}/discovery/v2.0/keys", server.https_url()),
    )
    .await;
    let kids: Vec<&str> = jwks.json["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert_eq!(kids, vec![new_kid.as_str(), old_kid.as_str()]);
    for t in [&old_token, &new_token] {
        assert_eq!(
            session_with(&server, t, TEST_USER).await.0,
            "A1 OK AUTHENTICATE completed.\r\n"
        );
    }
    server.admin().remove_signing_key(&old_kid).expect("remove old");
    assert_eq!(
        session_with(&server, &old_token, TEST_USER).await.0,
        "A1 NO AUTHENTICATE failed.\r\n"
    );
    assert_eq!(
        session_with(&server, &new_token, TEST_USER).await.0,
        "A1 OK AUTHENTICATE completed.\r\n"
    );
    let e = server.admin().remove_signing_key(&new_kid).expect_err("last key");
    assert!(e.message.contains("only signing key"), "{e}");
}

#[tokio::test]
async fn delivered_mail_reaches_an_idling_session_and_can_be_read_back() {
    let server = MockServer::start().await;
    let token = app_token(&server, 1, POLLER_SECRET, EXO_SCOPE).await;
    let (mut imap, _) = Imap::tls(&server).await;
    imap.cmd("A1", &format!("AUTHENTICATE XOAUTH2 {}", xoauth2(TEST_USER, &token)))
        .await;
    imap.cmd("A2", "SELECT INBOX").await;
    imap.send("A3 IDLE").await;
    assert_eq!(imap.line().await, "+ IDLE accepted, awaiting DONE command.\r\n");
    let eml = "From: ci@example.com\r\nTo: test.user@contoso.com\r\nSubject: From the admin API\r\nMessage-ID: <ci-1@example.com>\r\n\r\nHello.\r\n";
    let r = admin_post(&server, "deliver", json!({"mailbox": TEST_USER, "eml": eml})).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["uid"], 5);
    assert_eq!(imap.line().await, "* 5 EXISTS\r\n");
    imap.send("DONE").await;
    assert_eq!(imap.line().await, "A3 OK IDLE completed.\r\n");

    let list = admin_post(&server, "get-messages", json!({"mailbox": TEST_USER})).await;
    let last = list.json["messages"]
        .as_array()
        .and_then(|m| m.last())
        .cloned()
        .expect("messages");
    assert_eq!(last["subject"], "From the admin API");
    assert_eq!(last["uid"], 5);
    let one = admin_post(&server, "get-message", json!({"mailbox": TEST_USER, "uid": 5})).await;
    assert_eq!(one.json["eml"], eml);
    // A client's change is visible: flag it \Seen over IMAP, the API shows the flag.
    imap.cmd("A4", "UID STORE 5 +FLAGS (\\Seen)").await;
    let list = server.admin().messages(TEST_USER, "INBOX").expect("list");
    assert_eq!(list.last().map(|m| m.flags.clone()), Some(vec!["\\Seen"]));
    let r = admin_post(&server, "deliver", json!({"mailbox": "nobody@contoso.com", "eml": eml})).await;
    assert_eq!(r.json["message"], "no mailbox nobody@contoso.com in tenant Contoso");
    let r = admin_post(&server, "get-messages", json!({"mailbox": TEST_USER, "folder": "Nope"})).await;
    assert_eq!(r.status, 404, "{}", r.json);
}

#[tokio::test]
async fn clock_advance_expires_a_session() {
    let server = MockServer::start().await;
    let token = app_token(&server, 1, POLLER_SECRET, EXO_SCOPE).await;
    let (mut imap, _) = Imap::tls(&server).await;
    imap.cmd("A1", &format!("AUTHENTICATE XOAUTH2 {}", xoauth2(TEST_USER, &token)))
        .await;
    assert_eq!(imap.cmd("A2", "NOOP").await, vec!["A2 OK NOOP completed.\r\n"]);
    let r = admin_post(&server, "freeze-clock", json!({})).await;
    assert_eq!(r.json["frozen"], true);
    let r = admin_post(&server, "advance-clock", json!({"seconds": 3600})).await;
    assert_eq!(r.status, 200, "{}", r.json);
    imap.send("A3 NOOP").await;
    assert_eq!(imap.line().await, "* BYE Session invalidated - AccessTokenExpired\r\n");
    assert!(imap.closed().await);
    // The new token is fine again at the moved time; the clock can be resumed.
    let r = admin_post(&server, "resume-clock", json!({"offset": 0})).await;
    assert_eq!(r.json["frozen"], false);
    let r = admin_post(&server, "advance-clock", json!({"seconds": 999_999_999})).await;
    assert_eq!(r.status, 400, "out of range: {}", r.json);
    // The old alias still works when test controls are on.
    let s2 = MockServer::builder().test_controls(true).start().await.expect("start");
    let r = post_form(
        &client(&s2),
        &format!("{}/_mock/clock/advance", s2.https_url()),
        &[("seconds", "60")],
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn revoke_sign_in_sessions_refuses_earlier_refresh_tokens() {
    let server = MockServer::start().await;
    let c = client(&server);
    let url = server.token_endpoint(CONTOSO);
    let r = post_form(
        &c,
        &url,
        &[
            ("grant_type", "password"),
            ("client_id", &app(8)),
            ("username", TEST_USER),
            ("password", "Passw0rd!"),
            (
                "scope",
                "https://outlook.office.com/IMAP.AccessAsUser.All offline_access",
            ),
        ],
    )
    .await;
    let refresh = r.json["refresh_token"].as_str().expect("refresh token").to_string();
    server.clock().advance(time::Duration::seconds(5));
    let r = admin_post(&server, "revoke-sign-in-sessions", json!({"user": TEST_USER})).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let refused = post_form(
        &c,
        &url,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &app(8)),
            ("refresh_token", &refresh),
        ],
    )
    .await;
    assert_aad_error(&refused, 400, "invalid_grant", 50173);
}

#[tokio::test]
async fn journal_reads_from_a_position_and_reset_restores_the_fixture() {
    let server = MockServer::start().await;
    let admin = server.admin();
    admin
        .remove_mailbox_permission(TEST_USER, &sp(1), "FullAccess")
        .expect("remove");
    admin.new_mailbox("temp@contoso.com", None, true).expect("mailbox");
    admin.rotate_signing_key().expect("rotate");
    let first = admin_post(&server, "get-journal", json!({})).await;
    let entries = first.json["entries"].as_array().cloned().expect("entries");
    assert_eq!(entries.len(), 3);
    let after = entries[0]["seq"].as_u64().expect("seq");
    let rest = admin_post(&server, "get-journal", json!({"after": after})).await;
    assert_eq!(rest.json["entries"].as_array().map(Vec::len), Some(2));

    let r = admin_post(&server, "reset", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(
        session(&server, 1, POLLER_SECRET, TEST_USER).await.1,
        "A2 OK [READ-WRITE] SELECT completed.\r\n"
    );
    assert!(server.store().mailbox("temp@contoso.com").is_none());
    assert_eq!(admin.signing_keys().published.len(), 1);
    let r = admin_post(&server, "clear-journal", json!({})).await;
    assert_eq!(r.status, 200);
    assert!(server.journal().is_empty());
}

#[tokio::test]
async fn certificate_verbs_change_what_the_token_endpoint_accepts() {
    let server = MockServer::start().await;
    let cert = demo_cert();
    let x5t = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, sha1(&cert.der));
    let thumbprint: String = sha1(&cert.der).iter().map(|b| format!("{b:02X}")).collect();
    let try_cert = |server: &MockServer| {
        let assertion = sign_assertion(
            &cert,
            &serde_json::json!({"alg": "RS256", "x5t": x5t}),
            &assertion_claims(&server.token_endpoint(CONTOSO), now()),
        );
        let c = client(server);
        let url = server.token_endpoint(CONTOSO);
        async move { post_form(&c, &url, &assertion_form(&assertion, EXO_SCOPE, &app(1))).await }
    };
    assert_eq!(try_cert(&server).await.status, 200);
    // Remove-app-certificate by thumbprint: the same assertion is now refused.
    server
        .admin()
        .remove_app_certificate(&app(1), &thumbprint)
        .expect("removed");
    let r = try_cert(&server).await;
    assert_eq!(r.json["error_codes"], serde_json::json!([700027]), "{}", r.json);
    assert!(r.json["error_description"]
        .as_str()
        .unwrap_or("")
        .contains("The key was not found."));
    // Upload it again (the PEM of the certificate): accepted again.
    let added = server
        .admin()
        .add_app_certificate(&app(1), &cert.pem, None)
        .expect("added");
    assert_eq!(added.thumbprint.to_uppercase(), thumbprint);
    assert_eq!(try_cert(&server).await.status, 200);
    // An expired end date on the registration: refused as an expired key.
    server
        .admin()
        .remove_app_certificate(&app(1), &thumbprint)
        .expect("removed again");
    let past = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    server
        .admin()
        .add_app_certificate(&app(1), &cert.pem, Some(past))
        .expect("added with an end date");
    let r = try_cert(&server).await;
    assert!(
        r.json["error_description"]
            .as_str()
            .unwrap_or("")
            .contains("The key used is expired."),
        "{}",
        r.json
    );
}
