//! The token endpoint over real HTTPS: grants, token shape, every AADSTS error, journal.

use e2e_tests::*;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use mock_server::{MockServer, Outcome};
use serde_json::{json, Value};

async fn jwks_key(client: &reqwest::Client, server: &MockServer, kid: &str) -> DecodingKey {
    let keys = get(client, &format!("{}/{CONTOSO}/discovery/v2.0/keys", server.https_url())).await;
    let key = keys.json["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == kid)
        .expect("kid published")
        .clone();
    DecodingKey::from_rsa_components(key["n"].as_str().expect("n"), key["e"].as_str().expect("e")).expect("jwk")
}

#[tokio::test]
async fn client_secret_in_body_gives_an_exchange_app_token() {
    let server = MockServer::start().await;
    let c = client(&server);
    let before = now();
    let r = post_form(
        &c,
        &server.token_endpoint("contoso.onmicrosoft.com"),
        &secret_form(&app(1), "poller-secret-value", EXO_SCOPE),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    // v2 shape: integers, no scope, no refresh token, Entra's key order and cache headers.
    let obj = r.json.as_object().expect("object");
    assert_eq!(
        obj.keys().collect::<Vec<_>>(),
        ["token_type", "expires_in", "ext_expires_in", "access_token"]
    );
    assert_eq!(r.json["token_type"], "Bearer");
    assert_eq!(r.json["expires_in"], json!(3599));
    assert_eq!(r.headers["cache-control"], "no-store, no-cache");
    assert_eq!(r.headers["pragma"], "no-cache");
    assert_eq!(r.headers["content-type"], "application/json; charset=utf-8");

    let token = r.json["access_token"].as_str().expect("token");
    let h = header(token);
    assert_eq!(h["typ"], "JWT");
    assert_eq!(h["alg"], "RS256");
    assert_eq!(h["kid"], h["x5t"]);
    assert!(h.get("nonce").is_none());

    // A third-party JWT library verifies it with the published JWKS.
    let key = jwks_key(&c, &server, h["kid"].as_str().expect("kid")).await;
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&["https://outlook.office365.com"]);
    v.set_issuer(&[format!("https://sts.windows.net/{CONTOSO}/")]);
    let data = jsonwebtoken::decode::<Value>(token, &key, &v).expect("verifies");
    let cl = data.claims;
    assert_eq!(cl["appid"], app(1));
    assert_eq!(cl["app_displayname"], "Mail Poller");
    assert_eq!(cl["appidacr"], "1");
    assert_eq!(cl["idtyp"], "app");
    assert_eq!(cl["oid"], "00000000-0000-4000-8000-00000000c001");
    assert_eq!(cl["sub"], cl["oid"]);
    assert_eq!(cl["tid"], CONTOSO);
    assert_eq!(cl["idp"], format!("https://sts.windows.net/{CONTOSO}/"));
    assert_eq!(cl["ver"], "1.0");
    assert_eq!(
        cl["roles"],
        json!(["IMAP.AccessAsApp", "POP.AccessAsApp", "SMTP.SendAsApp"])
    );
    for k in ["aio", "rh", "sid", "uti"] {
        assert!(cl[k].as_str().is_some_and(|s| !s.is_empty()), "{k}");
    }
    let iat = cl["iat"].as_i64().expect("iat");
    assert_eq!(cl["nbf"], cl["iat"]);
    assert!(
        (before - 300 - 2..=now() - 300 + 2).contains(&iat),
        "iat back-dated 5 min: {iat}"
    );
    assert_eq!(cl["exp"].as_i64().expect("exp") - iat, 3900);

    // uti is unique per token.
    let r2 = post_form(
        &c,
        &server.token_endpoint(CONTOSO),
        &secret_form(&app(1), "poller-secret-value", EXO_SCOPE),
    )
    .await;
    let t2 = r2.json["access_token"].as_str().expect("token");
    assert_ne!(claims(t2)["uti"], cl["uti"]);
}

#[tokio::test]
async fn client_secret_through_http_basic_rfc6749() {
    let server = MockServer::start().await;
    let c = client(&server);
    let r = c
        .post(server.token_endpoint(CONTOSO))
        .basic_auth(app(1), Some("poller-secret-value"))
        .form(&[("grant_type", "client_credentials"), ("scope", EXO_SCOPE)])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    let j: Value = r.json().await.expect("json");
    assert_eq!(claims(j["access_token"].as_str().expect("t"))["appid"], app(1));
}

#[tokio::test]
async fn every_alias_any_case_and_a_query_string_reach_the_tenant() {
    let server = MockServer::start().await;
    let c = client(&server);
    for t in [
        CONTOSO,
        "contoso.onmicrosoft.com",
        "CONTOSO.COM",
        "C0FFEE00-1111-4222-8333-444455556666",
    ] {
        let url = format!(
            "{}/{t}/OAuth2/V2.0/Token?client-request-id=00000000-1111-2222-3333-444444444444",
            server.https_url()
        );
        let r = post_form(&c, &url, &secret_form(&app(1), "poller-secret-value", EXO_SCOPE)).await;
        assert_eq!(r.status, 200, "{t}: {}", r.json);
        assert_eq!(claims(r.json["access_token"].as_str().expect("t"))["tid"], CONTOSO);
    }
}

#[tokio::test]
async fn v1_endpoint_takes_resource_and_answers_with_strings() {
    let server = MockServer::start().await;
    let c = client(&server);
    let url = format!("{}/contoso.com/oauth2/token", server.https_url());
    let r = post_form(
        &c,
        &url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &app(1)),
            ("client_secret", "poller-secret-value"),
            ("resource", "https://outlook.office365.com/"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["expires_in"], "3599");
    assert_eq!(r.json["resource"], "https://outlook.office365.com/");
    let on: i64 = r.json["expires_on"].as_str().expect("s").parse().expect("n");
    let nb: i64 = r.json["not_before"].as_str().expect("s").parse().expect("n");
    assert_eq!(on - nb, 3900);
    let cl = claims(r.json["access_token"].as_str().expect("t"));
    assert_eq!(cl["aud"], "https://outlook.office365.com/");
    assert_eq!(cl["exp"].as_i64(), Some(on));
}

#[tokio::test]
async fn roles_hold_only_consented_application_permissions_of_that_resource() {
    let server = MockServer::start().await;
    let c = client(&server);
    let ep = server.token_endpoint(CONTOSO);
    // Graph audience: a token is issued, with no Exchange roles.
    let r = post_form(
        &c,
        &ep,
        &secret_form(&app(1), "poller-secret-value", "https://graph.microsoft.com/.default"),
    )
    .await;
    let cl = claims(r.json["access_token"].as_str().expect("t"));
    assert_eq!(cl["aud"], "https://graph.microsoft.com");
    assert!(cl.get("roles").is_none(), "{cl}");
    // Delegated-only app and app without admin consent: tokens without roles.
    for (nn, secret) in [(5, "delegated-only-secret"), (6, "no-consent-secret")] {
        let r = post_form(&c, &ep, &secret_form(&app(nn), secret, EXO_SCOPE)).await;
        assert_eq!(r.status, 200);
        let cl = claims(r.json["access_token"].as_str().expect("t"));
        assert!(cl.get("roles").is_none(), "app {nn}: {cl}");
        assert_eq!(cl["oid"], format!("00000000-0000-4000-8000-00000000c{nn:03}"));
    }
    // Exchange's other resource identifiers give the audience as asked.
    for (scope, aud) in [
        ("https://outlook.office.com/.default", "https://outlook.office.com"),
        ("https://ps.outlook.com/.default", "https://ps.outlook.com"),
        (
            "00000002-0000-0ff1-ce00-000000000000/.default",
            "00000002-0000-0ff1-ce00-000000000000",
        ),
    ] {
        let r = post_form(&c, &ep, &secret_form(&app(1), "poller-secret-value", scope)).await;
        let cl = claims(r.json["access_token"].as_str().expect("t"));
        assert_eq!(cl["aud"], aud);
        assert_eq!(cl["roles"].as_array().map(Vec::len), Some(3));
    }
}

#[tokio::test]
async fn openid_scopes_beside_default_are_ignored_as_msal4j_and_msal_go_send_them() {
    // msal4j and MSAL for Go add `openid profile offline_access` to client-credentials
    // requests; Entra issues the app token, without refresh or id token.
    let server = MockServer::start().await;
    let c = client(&server);
    let scope = format!("{EXO_SCOPE} openid profile offline_access");
    let r = post_form(
        &c,
        &server.token_endpoint("contoso.onmicrosoft.com"),
        &secret_form(&app(1), "poller-secret-value", &scope),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(
        r.json.get("refresh_token").is_none() && r.json.get("id_token").is_none(),
        "{}",
        r.json
    );
    let cl = claims(r.json["access_token"].as_str().expect("token"));
    assert_eq!(cl["aud"], "https://outlook.office365.com");
    // Alone, an OpenID scope is still Entra's AADSTS70011.
    let r = post_form(
        &c,
        &server.token_endpoint("contoso.onmicrosoft.com"),
        &secret_form(&app(1), "poller-secret-value", "openid profile"),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.json);
    assert_eq!(r.json["error_codes"][0], 70011);
}

struct Case {
    name: &'static str,
    tenant: &'static str,
    form: Vec<(&'static str, String)>,
    status: u16,
    error: &'static str,
    code: u64,
    text: &'static str,
    reason: &'static str,
}

fn cc(client_id: String, secret: &str, scope: &str) -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", "client_credentials".into()),
        ("client_id", client_id),
        ("client_secret", secret.into()),
        ("scope", scope.into()),
    ]
}

#[tokio::test]
async fn every_refusal_has_entras_status_code_and_text_and_a_journaled_reason() {
    let cases = vec![
        Case { name: "wrong secret", tenant: CONTOSO, form: cc(app(1), "not-the-secret", EXO_SCOPE), status: 401, error: "invalid_client", code: 7000215,
            text: "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '00000000-0000-4000-8000-00000000a001'.", reason: "matches none" },
        Case { name: "secret id sent", tenant: CONTOSO, form: cc(app(1), "00000000-0000-4000-8000-00000000d001", EXO_SCOPE), status: 401, error: "invalid_client", code: 7000215,
            text: "Invalid client secret provided.", reason: "secret's ID" },
        Case { name: "expired secret", tenant: CONTOSO, form: cc(app(7), "expired-secret", EXO_SCOPE), status: 401, error: "invalid_client", code: 7000222,
            text: "The provided client secret keys for app '00000000-0000-4000-8000-00000000a007' are expired.", reason: "expired on 2024-01-31" },
        Case { name: "no credential", tenant: CONTOSO, form: vec![("grant_type", "client_credentials".into()), ("client_id", app(1)), ("scope", EXO_SCOPE.into())], status: 401, error: "invalid_client", code: 7000216,
            text: "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.", reason: "without client_secret" },
        Case { name: "public client", tenant: CONTOSO, form: vec![("grant_type", "client_credentials".into()), ("client_id", app(8)), ("scope", EXO_SCOPE.into())], status: 401, error: "invalid_client", code: 7000216,
            text: "'client_assertion'", reason: "without client_secret" },
        Case { name: "unknown app", tenant: CONTOSO, form: cc("11111111-2222-4333-8444-555555555555".into(), "x", EXO_SCOPE), status: 400, error: "unauthorized_client", code: 700016,
            text: "Application with identifier '11111111-2222-4333-8444-555555555555' was not found in the directory 'Contoso'.", reason: "in any tenant" },
        Case { name: "app of another tenant", tenant: "fabrikam.onmicrosoft.com", form: cc(app(1), "poller-secret-value", EXO_SCOPE), status: 400, error: "unauthorized_client", code: 700016,
            text: "was not found in the directory 'Fabrikam'", reason: "registered in tenant Contoso" },
        Case { name: "unknown tenant", tenant: "nowhere.onmicrosoft.com", form: cc(app(1), "poller-secret-value", EXO_SCOPE), status: 400, error: "invalid_request", code: 90002,
            text: "Tenant 'nowhere.onmicrosoft.com' not found.", reason: "no tenant" },
        Case { name: "malformed tenant", tenant: "not_a_tenant", form: cc(app(1), "poller-secret-value", EXO_SCOPE), status: 400, error: "invalid_request", code: 900023,
            text: "Specified tenant identifier 'not_a_tenant' is neither a valid DNS name, nor a valid external domain.", reason: "neither a GUID" },
        Case { name: "common endpoint", tenant: "common", form: cc(app(1), "poller-secret-value", EXO_SCOPE), status: 400, error: "invalid_request", code: 9001023,
            text: "The grant type is not supported over the /common or /consumers endpoints.", reason: "needs a concrete tenant" },
        Case { name: "no grant_type", tenant: CONTOSO, form: vec![("client_id", app(1))], status: 400, error: "invalid_request", code: 900144,
            text: "The request body must contain the following parameter: 'grant_type'.", reason: "no 'grant_type'" },
        Case { name: "unsupported grant", tenant: CONTOSO, form: vec![("grant_type", "client_credentials1".into()), ("client_id", app(1))], status: 400, error: "unsupported_grant_type", code: 70003,
            text: "The access grant 'client_credentials1' is not supported.", reason: "not one this endpoint supports" },
        Case { name: "no scope", tenant: CONTOSO, form: vec![("grant_type", "client_credentials".into()), ("client_id", app(1)), ("client_secret", "poller-secret-value".into())], status: 400, error: "invalid_request", code: 900144,
            text: "The request body must contain the following parameter: 'scope'.", reason: "no 'scope'" },
        Case { name: "delegated scope", tenant: CONTOSO, form: cc(app(1), "poller-secret-value", "https://outlook.office.com/IMAP.AccessAsUser.All"), status: 400, error: "invalid_scope", code: 1002012,
            text: "The provided value for scope https://outlook.office.com/IMAP.AccessAsUser.All is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", reason: "application permissions" },
        Case { name: "openid scope", tenant: CONTOSO, form: cc(app(1), "poller-secret-value", "openid"), status: 400, error: "invalid_scope", code: 70011,
            text: "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope openid is not valid.", reason: "OpenID scope" },
        Case { name: "two resources", tenant: CONTOSO, form: cc(app(1), "poller-secret-value", "https://outlook.office365.com/.default https://graph.microsoft.com/.default"), status: 400, error: "invalid_scope", code: 70011,
            text: "The scope https://outlook.office365.com/.default https://graph.microsoft.com/.default is not valid.", reason: "exactly one resource" },
        Case { name: "unknown resource", tenant: CONTOSO, form: cc(app(1), "poller-secret-value", "https://mail.example.com/.default"), status: 400, error: "invalid_resource", code: 500011,
            text: "The resource principal named https://mail.example.com was not found in the tenant named Contoso.", reason: "not a resource" },
    ];
    let server = MockServer::start().await;
    let c = client(&server);
    for case in &cases {
        let url = format!("{}/{}/oauth2/v2.0/token", server.https_url(), case.tenant);
        let form: Vec<(&str, &str)> = case.form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = c
            .post(&url)
            .header("client-request-id", "0000aaaa-11bb-cccc-dd33-eeeeee333333")
            .form(&form)
            .send()
            .await
            .expect("post");
        let status = r.status().as_u16();
        let json: Value = r.json().await.expect("json");
        let reply = Reply {
            status,
            headers: Default::default(),
            json,
        };
        let d = assert_aad_error(&reply, case.status, case.error, case.code);
        assert!(d.contains(case.text), "{}: {d}", case.name);
        assert_eq!(
            reply.json["correlation_id"], "0000aaaa-11bb-cccc-dd33-eeeeee333333",
            "{}",
            case.name
        );
        let last = server.token_requests().pop().expect("journaled");
        assert_eq!(last.outcome, Outcome::Refused, "{}", case.name);
        assert_eq!(last.error_code, Some(case.code as u32), "{}", case.name);
        let reason = last.reason.expect("reason");
        assert!(reason.contains(case.reason), "{}: reason {reason:?}", case.name);
    }
    // The journal never holds a secret value.
    let dump = serde_json::to_string(&server.journal()).expect("json");
    assert!(
        !dump.contains("poller-secret-value") && !dump.contains("not-the-secret") && !dump.contains("expired-secret"),
        "{dump}"
    );
    assert!(dump.contains("<redacted, 19 chars>"));
}

#[tokio::test]
async fn get_on_the_token_endpoint_is_refused_like_entra() {
    let server = MockServer::start().await;
    let c = client(&server);
    let r = get(&c, &server.token_endpoint(CONTOSO)).await;
    let d = assert_aad_error(&r, 400, "invalid_request", 900561);
    assert!(
        d.contains("The endpoint only accepts POST, OPTIONS requests. Received a GET request."),
        "{d}"
    );
}

#[tokio::test]
async fn options_change_lifetime_nonce_layout_and_common_code() {
    let server = MockServer::builder()
        .token_lifetime(mock_server::TokenLifetime::Random60To90Minutes)
        .nonce_header(true)
        .description_layout(mock_server::DescriptionLayout::Space)
        .multi_tenant_grant_error_code(90010)
        .start()
        .await
        .expect("start");
    let c = client(&server);
    let r = post_form(
        &c,
        &server.token_endpoint(CONTOSO),
        &secret_form(&app(1), "poller-secret-value", EXO_SCOPE),
    )
    .await;
    let e = r.json["expires_in"].as_i64().expect("int");
    assert!((3600..=5400).contains(&e), "{e}");
    let t = r.json["access_token"].as_str().expect("t");
    assert!(header(t)["nonce"].as_str().is_some_and(|n| n.len() > 20));
    let r = post_form(
        &c,
        &server.token_endpoint("common"),
        &secret_form(&app(1), "poller-secret-value", EXO_SCOPE),
    )
    .await;
    assert_eq!(r.json["error_codes"], json!([90010]));
    let d = r.json["error_description"].as_str().expect("d");
    assert!(d.contains(" Trace ID: ") && !d.contains('\r'), "{d}");
}

#[tokio::test]
async fn journal_records_issued_tokens_with_their_facts() {
    let server = MockServer::start().await;
    let c = client(&server);
    post_form(
        &c,
        &server.token_endpoint(CONTOSO),
        &secret_form(&app(4), "no-permission-secret", EXO_SCOPE),
    )
    .await;
    let e = server.token_requests().pop().expect("entry");
    assert_eq!(e.outcome, Outcome::Issued);
    assert_eq!(e.client_id.as_deref(), Some(app(4).as_str()));
    assert_eq!(e.tenant.as_deref(), Some(CONTOSO));
    assert_eq!(e.details["aud"], "https://outlook.office365.com");
    assert!(e
        .reason
        .expect("how")
        .contains("secret 00000000-0000-4000-8000-00000000d004"));
    assert!(e.summary.contains("client_secret=<redacted"), "{}", e.summary);
}

#[tokio::test]
async fn oversized_bodies_and_garbage_do_not_hurt_the_server() {
    let server = MockServer::start().await;
    let c = client(&server);
    let big = "x".repeat(200 * 1024);
    let r = c
        .post(server.token_endpoint(CONTOSO))
        .body(big)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 413);

    // Raw garbage over TLS, and a TCP connection that never speaks TLS.
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile_certs(server.ca_pem()) {
        roots.add(cert).expect("root");
    }
    let config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(server.https_addr()).await.expect("tcp");
    let mut tls = connector
        .connect(rustls::pki_types::ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("tls");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tls.write_all(b"\x00\x01GARBAGE / HTTP/9.9\r\n\r\n")
        .await
        .expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), tls.read_to_end(&mut buf))
        .await
        .expect("closed in time");
    let text = String::from_utf8_lossy(&buf);
    assert!(buf.is_empty() || text.starts_with("HTTP/1.1 400"), "{text}");
    let mut plain = tokio::net::TcpStream::connect(server.https_addr()).await.expect("tcp");
    plain.write_all(b"GET / HTTP/1.1\r\n\r\n").await.expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), plain.read_to_end(&mut buf))
        .await
        .expect("closed");

    // Still serving.
    let r = post_form(
        &c,
        &server.token_endpoint(CONTOSO),
        &secret_form(&app(1), "poller-secret-value", EXO_SCOPE),
    )
    .await;
    assert_eq!(r.status, 200);
}

fn rustls_pemfile_certs(pem: &str) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .map(|c| c.expect("pem"))
        .collect()
}

#[tokio::test]
async fn dropping_the_server_stops_it() {
    let server = MockServer::start().await;
    let addr = server.https_addr();
    let ca_file = server.ca_file().to_path_buf();
    assert!(ca_file.is_absolute() && ca_file.exists());
    drop(server);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "still listening");
    assert!(!ca_file.exists(), "temporary CA file removed");
}
