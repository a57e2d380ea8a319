//! Delegated sign-in over real HTTPS: the password grant, the device code flow, the
//! authorization code flow with PKCE and its sign-in page, refresh tokens, and the
//! resulting tokens over IMAP. Time moves only through the server's frozen clock.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use e2e_tests::imap::{xoauth2, Imap};
use e2e_tests::{app, assert_aad_error, claims, post_form, Reply, CONTOSO};
use mock_server::{Clock, MockServer};
use serde_json::Value;
use time::{Duration, OffsetDateTime};

const USER: &str = "test.user@contoso.com";
const PASSWORD: &str = "Passw0rd!";
const IMAP_SCOPE: &str = "https://outlook.office.com/IMAP.AccessAsUser.All offline_access openid profile";

async fn frozen_server() -> MockServer {
    MockServer::builder()
        .clock(Clock::frozen(OffsetDateTime::now_utc()))
        .start()
        .await
        .expect("server starts")
}

/// An HTTPS client that does not follow redirects, so tests see the 302 itself.
fn client(server: &MockServer) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(server.ca_pem().as_bytes()).expect("CA PEM");
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn v2_token(server: &MockServer) -> String {
    format!("{}/{CONTOSO}/oauth2/v2.0/token", server.https_url())
}

fn v1_token(server: &MockServer) -> String {
    format!("{}/{CONTOSO}/oauth2/token", server.https_url())
}

async fn ropc(server: &MockServer, c: &reqwest::Client, user: &str, password: &str, scope: &str) -> Reply {
    let app08 = app(8);
    post_form(
        c,
        &v2_token(server),
        &[
            ("grant_type", "password"),
            ("client_id", &app08),
            ("username", user),
            ("password", password),
            ("scope", scope),
            ("client_info", "1"),
        ],
    )
    .await
}

fn assert_user_token(token: &str, aud: &str) -> Value {
    let c = claims(token);
    assert_eq!(c["aud"], aud);
    assert_eq!(c["iss"], format!("https://sts.windows.net/{CONTOSO}/"));
    assert_eq!(c["scp"], "IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send");
    assert_eq!(c["upn"], USER);
    assert_eq!(c["unique_name"], USER);
    assert_eq!(c["name"], "Test User");
    assert_eq!(c["given_name"], "Test");
    assert_eq!(c["family_name"], "User");
    assert_eq!(c["oid"], "00000000-0000-4000-8000-00000000e001");
    assert_eq!(c["amr"], serde_json::json!(["pwd"]));
    assert_eq!(c["acr"], "1");
    assert_eq!(c["appid"], app(8));
    assert_eq!(c["appidacr"], "0");
    assert_eq!(c["idtyp"], "user");
    assert_eq!(c["tid"], CONTOSO);
    assert_eq!(c["ver"], "1.0");
    assert!(c.get("roles").is_none(), "{c}");
    assert_eq!(c["exp"].as_i64().expect("exp") - c["iat"].as_i64().expect("iat"), 3900);
    c
}

#[tokio::test]
async fn password_grant_v2_issues_user_id_and_refresh_tokens() {
    let server = frozen_server().await;
    let c = client(&server);
    let r = ropc(&server, &c, USER, PASSWORD, IMAP_SCOPE).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["token_type"], "Bearer");
    assert_eq!(r.json["expires_in"], 3599);
    assert_eq!(
        r.json["scope"],
        "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/POP.AccessAsUser.All https://outlook.office.com/SMTP.Send openid profile"
    );
    assert_user_token(
        r.json["access_token"].as_str().expect("at"),
        "https://outlook.office.com",
    );
    assert!(r.json["refresh_token"].as_str().is_some_and(|t| t.len() > 100));
    let id = claims(r.json["id_token"].as_str().expect("id_token"));
    assert_eq!(id["aud"], app(8));
    assert_eq!(id["iss"], format!("{}/{CONTOSO}/v2.0", server.https_url()));
    assert_eq!(id["preferred_username"], USER);
    assert_eq!(id["oid"], "00000000-0000-4000-8000-00000000e001");
    assert_eq!(id["ver"], "2.0");
    let info: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(r.json["client_info"].as_str().expect("client_info"))
            .expect("b64"),
    )
    .expect("json");
    assert_eq!(
        info,
        serde_json::json!({"uid": "00000000-0000-4000-8000-00000000e001", "utid": CONTOSO})
    );

    // Without offline_access and openid: no refresh token, no id_token.
    let r = ropc(
        &server,
        &c,
        USER,
        PASSWORD,
        "https://outlook.office.com/IMAP.AccessAsUser.All",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(r.json.get("refresh_token").is_none() && r.json.get("id_token").is_none());

    // The journal names the user and never holds the password.
    let journal = serde_json::to_string(&server.token_requests()).expect("json");
    assert!(!journal.contains(PASSWORD), "{journal}");
    assert!(journal.contains("password grant (ROPC) for test.user@contoso.com"));
}

#[tokio::test]
async fn password_grant_v1_uses_strings_and_resource() {
    let server = frozen_server().await;
    let c = client(&server);
    let app08 = app(8);
    let r = post_form(
        &c,
        &v1_token(&server),
        &[
            ("grant_type", "password"),
            ("client_id", &app08),
            ("username", USER),
            ("password", PASSWORD),
            ("resource", "https://outlook.office.com"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["expires_in"], "3599");
    assert_eq!(r.json["resource"], "https://outlook.office.com");
    assert_eq!(r.json["scope"], "IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send");
    assert!(r.json["refresh_token"].is_string());
    assert_user_token(
        r.json["access_token"].as_str().expect("at"),
        "https://outlook.office.com",
    );
}

#[tokio::test]
async fn password_grant_errors() {
    let server = frozen_server().await;
    let c = client(&server);
    let r = ropc(&server, &c, USER, "wrong", IMAP_SCOPE).await;
    let d = assert_aad_error(&r, 400, "invalid_grant", 50126);
    assert!(d.contains("Error validating credentials due to invalid username or password."));
    let r = ropc(&server, &c, "nobody@contoso.com", PASSWORD, IMAP_SCOPE).await;
    let d = assert_aad_error(&r, 400, "invalid_grant", 50034);
    assert!(d.contains("The user account {EmailHidden} does not exist in the contoso.onmicrosoft.com directory."));
    let r = ropc(&server, &c, "shared.inbox@contoso.com", "", IMAP_SCOPE).await;
    assert_aad_error(&r, 400, "invalid_request", 900144);
    let r = ropc(&server, &c, "shared.inbox@contoso.com", "anything", IMAP_SCOPE).await;
    let d = assert_aad_error(&r, 400, "invalid_grant", 50057);
    assert!(d.contains("The user account is disabled."));
    let r = ropc(
        &server,
        &c,
        USER,
        PASSWORD,
        "https://outlook.office.com/EWS.AccessAsUser.All",
    )
    .await;
    let d = assert_aad_error(&r, 400, "invalid_grant", 65001);
    assert_eq!(r.json["suberror"], "consent_required");
    assert!(d.contains("named 'Desktop Mail Client'"), "{d}");

    // A confidential app without its credential; a public client with one.
    let app01 = app(1);
    let r = post_form(
        &c,
        &v2_token(&server),
        &[
            ("grant_type", "password"),
            ("client_id", &app01),
            ("username", USER),
            ("password", PASSWORD),
            ("scope", IMAP_SCOPE),
        ],
    )
    .await;
    assert_aad_error(&r, 401, "invalid_client", 7000218);
    let app08 = app(8);
    let r = post_form(
        &c,
        &v2_token(&server),
        &[
            ("grant_type", "password"),
            ("client_id", &app08),
            ("client_secret", "x"),
            ("username", USER),
            ("password", PASSWORD),
            ("scope", IMAP_SCOPE),
        ],
    )
    .await;
    assert_aad_error(&r, 401, "invalid_client", 700025);

    // The password grant needs a tenant: /common is refused, /organizations works.
    let common = format!("{}/common/oauth2/v2.0/token", server.https_url());
    let form = [
        ("grant_type", "password"),
        ("client_id", app08.as_str()),
        ("username", USER),
        ("password", PASSWORD),
        ("scope", IMAP_SCOPE),
    ];
    assert_aad_error(&post_form(&c, &common, &form).await, 400, "invalid_request", 9001023);
    let orgs = format!("{}/organizations/oauth2/v2.0/token", server.https_url());
    assert_eq!(post_form(&c, &orgs, &form).await.status, 200);
}

#[tokio::test]
async fn repeated_wrong_passwords_lock_the_account_until_the_lockout_ends() {
    let server = frozen_server().await;
    let c = client(&server);
    for attempt in 1..=9 {
        let r = ropc(&server, &c, "imap.disabled@contoso.com", "guess", IMAP_SCOPE).await;
        assert_eq!(r.json["error_codes"], serde_json::json!([50126]), "attempt {attempt}");
    }
    let r = ropc(&server, &c, "imap.disabled@contoso.com", "guess", IMAP_SCOPE).await;
    let d = assert_aad_error(&r, 400, "invalid_grant", 50053);
    assert!(d.contains("You've tried to sign in too many times with an incorrect user ID or password."));
    // Locked: even the right password is refused, until the lockout ends.
    let r = ropc(&server, &c, "imap.disabled@contoso.com", PASSWORD, IMAP_SCOPE).await;
    assert_aad_error(&r, 400, "invalid_grant", 50053);
    server.clock().advance(Duration::seconds(61));
    let r = ropc(&server, &c, "imap.disabled@contoso.com", PASSWORD, IMAP_SCOPE).await;
    assert_eq!(r.status, 200, "{}", r.json);
}

#[tokio::test]
async fn a_user_flagged_for_mfa_cannot_use_the_password_grant() {
    let mut directory = mock_server::directory::fixture::demo_tenant().expect("demo");
    directory.tenants[0].users[0].mfa_required = true;
    let server = MockServer::builder().directory(directory).start().await.expect("start");
    let c = client(&server);
    let r = ropc(&server, &c, USER, PASSWORD, IMAP_SCOPE).await;
    let d = assert_aad_error(&r, 400, "invalid_grant", 50076);
    assert!(d.contains("you must use multi-factor authentication to access '00000002-0000-0ff1-ce00-000000000000'"));
}

async fn start_device(server: &MockServer, c: &reqwest::Client) -> Value {
    let app08 = app(8);
    let r = post_form(
        c,
        &format!("{}/{CONTOSO}/oauth2/v2.0/devicecode", server.https_url()),
        &[("client_id", &app08), ("scope", IMAP_SCOPE)],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    r.json
}

async fn poll(server: &MockServer, c: &reqwest::Client, device_code: &str) -> Reply {
    let app08 = app(8);
    post_form(
        c,
        &v2_token(server),
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", &app08),
            ("device_code", device_code),
            ("code", device_code),
        ],
    )
    .await
}

#[tokio::test]
async fn device_code_flow_with_api_approval_and_every_polling_answer() {
    let server = frozen_server().await;
    let c = client(&server);
    let flow = start_device(&server, &c).await;
    let verification = format!("{}/devicelogin", server.https_url());
    assert_eq!(flow["verification_uri"], verification);
    assert_eq!(flow["expires_in"], 900);
    assert_eq!(flow["interval"], 5);
    let user_code = flow["user_code"].as_str().expect("user_code");
    assert_eq!(user_code.len(), 9);
    assert_eq!(
        flow["message"],
        format!("To sign in, use a web browser to open the page {verification} and enter the code {user_code} to authenticate.")
    );
    let device_code = flow["device_code"].as_str().expect("device_code");

    let d = assert_aad_error(
        &poll(&server, &c, device_code).await,
        400,
        "authorization_pending",
        70016,
    );
    assert!(d.contains("OAuth 2.0 device flow error. Authorization is pending. Continue polling."));
    // No time passed on the frozen clock: too fast.
    assert_aad_error(&poll(&server, &c, device_code).await, 400, "slow_down", 70016);
    server.clock().advance(Duration::seconds(5));
    assert_aad_error(
        &poll(&server, &c, device_code).await,
        400,
        "authorization_pending",
        70016,
    );

    assert!(server.approve_device_code("NOTACODE1", USER).is_err());
    server.approve_device_code(user_code, USER).expect("approve");
    server.clock().advance(Duration::seconds(5));
    let r = poll(&server, &c, device_code).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_user_token(
        r.json["access_token"].as_str().expect("at"),
        "https://outlook.office.com",
    );
    assert!(r.json["refresh_token"].is_string() && r.json["id_token"].is_string());
    // The device code is spent.
    assert_aad_error(
        &poll(&server, &c, device_code).await,
        400,
        "bad_verification_code",
        70018,
    );
    assert_aad_error(&poll(&server, &c, "garbage").await, 400, "bad_verification_code", 70018);

    // Declined.
    let flow = start_device(&server, &c).await;
    server
        .decline_device_code(flow["user_code"].as_str().expect("uc"))
        .expect("decline");
    let r = poll(&server, &c, flow["device_code"].as_str().expect("dc")).await;
    assert_aad_error(&r, 400, "authorization_declined", 65004);

    // Expired.
    let flow = start_device(&server, &c).await;
    server.clock().advance(Duration::seconds(901));
    let r = poll(&server, &c, flow["device_code"].as_str().expect("dc")).await;
    assert_aad_error(&r, 400, "expired_token", 70019);
    assert!(server
        .approve_device_code(flow["user_code"].as_str().expect("uc"), USER)
        .is_err());

    let journal = serde_json::to_string(&server.token_requests()).expect("json");
    assert!(!journal.contains(device_code), "device codes must be masked");
}

#[tokio::test]
async fn device_code_v1_form() {
    let server = frozen_server().await;
    let c = client(&server);
    let app08 = app(8);
    let r = post_form(
        &c,
        &format!("{}/{CONTOSO}/oauth2/devicecode", server.https_url()),
        &[("client_id", &app08), ("resource", "https://outlook.office.com")],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["expires_in"], "900");
    assert_eq!(
        r.json["verification_url"],
        format!("{}/devicelogin", server.https_url())
    );
    server
        .approve_device_code(r.json["user_code"].as_str().expect("uc"), USER)
        .expect("approve");
    let dc = r.json["device_code"].as_str().expect("dc");
    let r = post_form(
        &c,
        &v1_token(&server),
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", &app08),
            ("code", dc),
            ("resource", "https://outlook.office.com"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["resource"], "https://outlook.office.com");
    assert!(r.json["refresh_token"].is_string());
}

async fn page(c: &reqwest::Client, url: &str, form: &[(&str, &str)]) -> (u16, String) {
    let r = c.post(url).form(form).send().await.expect("POST");
    (r.status().as_u16(), r.text().await.expect("body"))
}

#[tokio::test]
async fn device_code_verification_page_signs_a_person_in() {
    let server = frozen_server().await;
    let c = client(&server);
    let flow = start_device(&server, &c).await;
    let url = format!("{}/devicelogin", server.https_url());
    let r = c.get(&url).send().await.expect("GET");
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("body").contains("name=\"otc\""));
    let (_, body) = page(&c, &url, &[("otc", "WRONGCODE")]).await;
    assert!(body.contains("That code didn&#39;t work."), "{body}");
    let user_code = flow["user_code"].as_str().expect("uc");
    let (_, body) = page(&c, &url, &[("otc", user_code)]).await;
    assert!(
        body.contains("Desktop Mail Client") && body.contains("name=\"passwd\""),
        "{body}"
    );
    let (_, body) = page(
        &c,
        &url,
        &[
            ("otc", user_code),
            ("login", USER),
            ("passwd", "wrong"),
            ("action", "accept"),
        ],
    )
    .await;
    assert!(body.contains("Your account or password is incorrect."), "{body}");
    let (_, body) = page(
        &c,
        &url,
        &[
            ("otc", user_code),
            ("login", USER),
            ("passwd", PASSWORD),
            ("action", "accept"),
        ],
    )
    .await;
    assert!(
        body.contains("You have signed in to the Desktop Mail Client application on your device."),
        "{body}"
    );
    let r = poll(&server, &c, flow["device_code"].as_str().expect("dc")).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let journal = serde_json::to_string(&server.journal()).expect("json");
    assert!(!journal.contains(PASSWORD) && !journal.contains(user_code), "{journal}");
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref())
}

fn authorize_url(server: &MockServer, extra: &[(&str, &str)]) -> String {
    let app08 = app(8);
    let mut q = form_pairs(&[
        ("client_id", app08.as_str()),
        ("response_type", "code"),
        ("redirect_uri", "http://localhost:8400"),
        ("scope", IMAP_SCOPE),
        ("state", "st-1"),
        ("nonce", "n-1"),
    ]);
    for (k, v) in extra {
        q.push('&');
        q.push_str(&form_pairs(&[(k, v)]));
    }
    format!("{}/{CONTOSO}/oauth2/v2.0/authorize?{q}", server.https_url())
}

fn form_pairs(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn urlencode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The query parameters of a redirect's Location.
fn location_params(r: &reqwest::Response) -> (String, Vec<(String, String)>) {
    let loc = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("Location")
        .to_string();
    let (base, query) = loc.split_once('?').expect("query");
    let params = query
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_string(), percent_decode(v))
        })
        .collect();
    (base.to_string(), params)
}

fn percent_decode(s: &str) -> String {
    let s = s.replace('+', " ");
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(x) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(x);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).expect("utf-8")
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

async fn redeem(server: &MockServer, c: &reqwest::Client, code: &str, verifier: &str) -> Reply {
    let app08 = app(8);
    post_form(
        c,
        &v2_token(server),
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &app08),
            ("code", code),
            ("redirect_uri", "http://localhost:8400"),
            ("scope", IMAP_SCOPE),
            ("code_verifier", verifier),
            ("client_info", "1"),
        ],
    )
    .await
}

#[tokio::test]
async fn authorization_code_with_pkce_through_the_sign_in_page() {
    let server = frozen_server().await;
    let c = client(&server);
    let verifier = "a-verifier-of-at-least-43-characters-0123456789";
    let url = authorize_url(
        &server,
        &[
            ("code_challenge", &challenge(verifier)),
            ("code_challenge_method", "S256"),
            ("client_info", "1"),
        ],
    );
    let r = c.get(&url).send().await.expect("GET authorize");
    assert_eq!(r.status(), 200);
    let body = r.text().await.expect("page");
    assert!(
        body.contains("name=\"login\"") && body.contains("name=\"passwd\"") && body.contains("IMAP.AccessAsUser.All")
    );
    let post_url = format!("{}/{CONTOSO}/oauth2/v2.0/authorize", server.https_url());
    let ch = challenge(verifier);
    let app08 = app(8);
    let mut form = vec![
        ("client_id", app08.as_str()),
        ("response_type", "code"),
        ("redirect_uri", "http://localhost:8400"),
        ("scope", IMAP_SCOPE),
        ("state", "st-1"),
        ("nonce", "n-1"),
        ("code_challenge", ch.as_str()),
        ("code_challenge_method", "S256"),
        ("client_info", "1"),
        ("login", USER),
        ("passwd", "wrong"),
        ("action", "accept"),
    ];
    let r = c.post(&post_url).form(&form).send().await.expect("POST");
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .await
        .expect("page")
        .contains("Your account or password is incorrect."));
    form[10] = ("passwd", PASSWORD);
    let r = c.post(&post_url).form(&form).send().await.expect("POST");
    assert_eq!(r.status(), 302);
    let (base, params) = location_params(&r);
    assert_eq!(base, "http://localhost:8400");
    assert_eq!(param(&params, "state"), Some("st-1"));
    assert!(param(&params, "session_state").is_some());
    assert!(param(&params, "client_info").is_some());
    let code = param(&params, "code").expect("code").to_string();

    let r = redeem(&server, &c, &code, "not-the-verifier").await;
    let d = assert_aad_error(&r, 400, "invalid_grant", 501481);
    assert!(d.contains("The Code_Verifier does not match the code_challenge supplied in the authorization request."));
    // The failed attempt spent the code, as Entra's single-use codes are.
    let r = redeem(&server, &c, &code, verifier).await;
    let d = assert_aad_error(&r, 400, "invalid_grant", 54005);
    assert!(d.contains("OAuth2 Authorization code was already redeemed"));

    // A fresh code, redeemed properly.
    let r = c.post(&post_url).form(&form).send().await.expect("POST");
    let (_, params) = location_params(&r);
    let code = param(&params, "code").expect("code").to_string();
    let r = redeem(&server, &c, &code, verifier).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_user_token(
        r.json["access_token"].as_str().expect("at"),
        "https://outlook.office.com",
    );
    assert_eq!(claims(r.json["id_token"].as_str().expect("id"))["nonce"], "n-1");
    let r = redeem(&server, &c, &code, verifier).await;
    assert_aad_error(&r, 400, "invalid_grant", 54005);
    let journal = serde_json::to_string(&server.journal()).expect("json");
    assert!(!journal.contains(PASSWORD) && !journal.contains(&code), "{journal}");
}

#[tokio::test]
async fn prompt_none_plain_challenge_expiry_and_redirect_errors() {
    let server = frozen_server().await;
    let c = client(&server);
    let url = authorize_url(
        &server,
        &[
            ("prompt", "none"),
            ("login_hint", USER),
            ("code_challenge", "plain-verifier-plain-verifier-plain-verifier"),
            ("code_challenge_method", "plain"),
        ],
    );
    let r = c.get(&url).send().await.expect("GET");
    assert_eq!(r.status(), 302);
    let (_, params) = location_params(&r);
    let code = param(&params, "code").expect("code").to_string();
    let r = redeem(&server, &c, &code, "plain-verifier-plain-verifier-plain-verifier").await;
    assert_eq!(r.status, 200, "{}", r.json);

    // Codes expire after 10 minutes.
    let r = c.get(&url).send().await.expect("GET");
    let (_, params) = location_params(&r);
    let code = param(&params, "code").expect("code").to_string();
    server.clock().advance(Duration::minutes(11));
    let r = redeem(&server, &c, &code, "plain-verifier-plain-verifier-plain-verifier").await;
    assert_aad_error(&r, 400, "invalid_grant", 70008);

    // prompt=none without a hint: login_required, by redirect.
    let r = c
        .get(authorize_url(&server, &[("prompt", "none")]))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 302);
    let (_, params) = location_params(&r);
    assert_eq!(param(&params, "error"), Some("login_required"));
    assert_eq!(param(&params, "state"), Some("st-1"));
    assert!(param(&params, "error_description").is_some_and(|d| d.starts_with("AADSTS50058: ")));

    // A scope without consent: consent_required, by redirect.
    let app08 = app(8);
    let url = format!(
        "{}/{CONTOSO}/oauth2/v2.0/authorize?{}",
        server.https_url(),
        form_pairs(&[
            ("client_id", &app08),
            ("response_type", "code"),
            ("redirect_uri", "http://localhost:8400"),
            ("scope", "https://outlook.office.com/EWS.AccessAsUser.All"),
        ])
    );
    let r = c.get(&url).send().await.expect("GET");
    let (_, params) = location_params(&r);
    assert_eq!(param(&params, "error"), Some("consent_required"));
    assert!(param(&params, "error_description").is_some_and(|d| d.starts_with("AADSTS65001: ")));

    // An unregistered redirect URI: an error page, never a redirect.
    let url = format!(
        "{}/{CONTOSO}/oauth2/v2.0/authorize?{}",
        server.https_url(),
        form_pairs(&[
            ("client_id", &app08),
            ("response_type", "code"),
            ("redirect_uri", "https://evil.example/cb"),
            ("scope", IMAP_SCOPE),
        ])
    );
    let r = c.get(&url).send().await.expect("GET");
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    let body = r.text().await.expect("page");
    assert!(body.contains("AADSTS50011: The redirect URI &#39;https://evil.example/cb&#39; specified in the request does not match the redirect URIs configured for the application"), "{body}");
}

async fn refresh(server: &MockServer, c: &reqwest::Client, token: &str) -> Reply {
    let app08 = app(8);
    post_form(
        c,
        &v2_token(server),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &app08),
            ("refresh_token", token),
            ("scope", IMAP_SCOPE),
        ],
    )
    .await
}

#[tokio::test]
async fn refresh_tokens_rotate_expire_after_inactivity_and_can_be_revoked() {
    let server = MockServer::builder()
        .clock(Clock::frozen(OffsetDateTime::now_utc()))
        .refresh_token_inactivity(Duration::days(90))
        .start()
        .await
        .expect("start");
    let c = client(&server);
    let first = ropc(&server, &c, USER, PASSWORD, IMAP_SCOPE).await;
    let rt1 = first.json["refresh_token"].as_str().expect("rt").to_string();
    server.clock().advance(Duration::hours(2));
    let r = refresh(&server, &c, &rt1).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let rt2 = r.json["refresh_token"].as_str().expect("rt2").to_string();
    assert_ne!(rt1, rt2, "a new refresh token each use");
    assert_user_token(
        r.json["access_token"].as_str().expect("at"),
        "https://outlook.office.com",
    );
    // Entra keeps the old one valid.
    assert_eq!(refresh(&server, &c, &rt1).await.status, 200);

    // v1 form: resource instead of scope.
    let app08 = app(8);
    let r = post_form(
        &c,
        &v1_token(&server),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &app08),
            ("refresh_token", &rt2),
            ("resource", "https://outlook.office.com"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["expires_in"], "3599");

    // 91 days without use.
    server.clock().advance(Duration::days(91));
    let r = refresh(&server, &c, &rt2).await;
    let d = assert_aad_error(&r, 400, "invalid_grant", 700082);
    assert!(
        d.contains("The refresh token has expired due to inactivity.") && d.contains("was inactive for 90.00:00:00."),
        "{d}"
    );
    assert_aad_error(
        &refresh(&server, &c, "1.Anot-a-token").await,
        400,
        "invalid_grant",
        9002313,
    );

    // Revocation reaches every token of earlier sign-ins.
    let fresh = ropc(&server, &c, USER, PASSWORD, IMAP_SCOPE).await;
    let rt = fresh.json["refresh_token"].as_str().expect("rt").to_string();
    let rotated = refresh(&server, &c, &rt).await;
    let rt_rotated = rotated.json["refresh_token"].as_str().expect("rt").to_string();
    server.clock().advance(Duration::seconds(1));
    assert!(server.revoke_sign_in_sessions(USER));
    assert!(!server.revoke_sign_in_sessions("nobody@contoso.com"));
    let d = assert_aad_error(&refresh(&server, &c, &rt).await, 400, "invalid_grant", 50173);
    assert!(d.contains("The provided grant has expired due to it being revoked"));
    assert_aad_error(&refresh(&server, &c, &rt_rotated).await, 400, "invalid_grant", 50173);
    // A new sign-in after the revocation works.
    let again = ropc(&server, &c, USER, PASSWORD, IMAP_SCOPE).await;
    let rt = again.json["refresh_token"].as_str().expect("rt").to_string();
    assert_eq!(refresh(&server, &c, &rt).await.status, 200);
}

#[tokio::test]
async fn delegated_tokens_open_own_and_shared_mailboxes_only() {
    let server = MockServer::start().await;
    let c = client(&server);
    let r = ropc(&server, &c, USER, PASSWORD, IMAP_SCOPE).await;
    let token = r.json["access_token"].as_str().expect("at").to_string();
    for (mailbox, selected) in [(USER, "* 4 EXISTS"), ("shared.inbox@contoso.com", "* 2 EXISTS")] {
        let (mut imap, _) = Imap::tls(&server).await;
        let a = imap
            .cmd("A01", &format!("AUTHENTICATE XOAUTH2 {}", xoauth2(mailbox, &token)))
            .await;
        assert_eq!(
            a.last().map(String::as_str),
            Some("A01 OK AUTHENTICATE completed.\r\n"),
            "{a:?}"
        );
        let s = imap.cmd("A02", "SELECT INBOX").await;
        assert!(s.iter().any(|l| l.trim_end() == selected), "{mailbox}: {s:?}");
    }
    let (mut imap, _) = Imap::tls(&server).await;
    let a = imap
        .cmd(
            "A01",
            &format!("AUTHENTICATE XOAUTH2 {}", xoauth2("imap.disabled@contoso.com", &token)),
        )
        .await;
    assert_eq!(
        a.last().map(String::as_str),
        Some("A01 OK AUTHENTICATE completed.\r\n"),
        "{a:?}"
    );
    let s = imap.cmd("A02", "SELECT INBOX").await;
    assert_eq!(
        s.last().map(String::as_str),
        Some("A02 BAD User is authenticated but not connected.\r\n"),
        "{s:?}"
    );
}

#[tokio::test]
async fn test_controls_are_off_by_default_and_move_the_clock_when_on() {
    let off = MockServer::start().await;
    let c = client(&off);
    let r = c
        .post(format!("{}/_mock/clock/advance", off.https_url()))
        .form(&[("seconds", "60")])
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 404);

    let on = MockServer::builder()
        .clock(Clock::frozen(OffsetDateTime::now_utc()))
        .test_controls(true)
        .start()
        .await
        .expect("start");
    let before = on.clock().now();
    let c = client(&on);
    let r = c
        .post(format!("{}/_mock/clock/advance", on.https_url()))
        .form(&[("seconds", "3600")])
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 200);
    assert_eq!(on.clock().now() - before, Duration::hours(1));
    let r = c
        .post(format!("{}/_mock/clock/advance", on.https_url()))
        .form(&[("seconds", "soon")])
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 400);
}

// ---- Refresh tokens as Entra redeems them (issue #18, item 1) ----

// Entra does not echo offline_access in `scope` (the refresh token says it was granted).
const GRANTED_V2_SCOPE: &str = "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/POP.AccessAsUser.All https://outlook.office.com/SMTP.Send openid profile";

async fn refresh_with(c: &reqwest::Client, url: &str, token: &str, extra: &[(&str, &str)]) -> Reply {
    let app08 = app(8);
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("client_id", app08.as_str()),
        ("refresh_token", token),
    ];
    form.extend_from_slice(extra);
    post_form(c, url, &form).await
}

fn rt(r: &Reply) -> String {
    r.json["refresh_token"].as_str().expect("refresh_token").to_string()
}

#[tokio::test]
async fn refresh_without_scope_gives_the_granted_scopes_and_a_new_refresh_token() {
    let server = frozen_server().await;
    let c = client(&server);
    let rt1 = rt(&ropc(&server, &c, USER, PASSWORD, IMAP_SCOPE).await);

    // v2 without scope: the scopes granted to the refresh token, not a Graph token.
    let r = refresh_with(&c, &v2_token(&server), &rt1, &[]).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["scope"], GRANTED_V2_SCOPE);
    assert_user_token(
        r.json["access_token"].as_str().expect("at"),
        "https://outlook.office.com",
    );
    let rt2 = rt(&r);
    assert_ne!(rt1, rt2);
    assert!(r.json["id_token"].is_string(), "openid was granted: {}", r.json);
    // The new refresh token carries the same grant.
    let r = refresh_with(&c, &v2_token(&server), &rt2, &[]).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["scope"], GRANTED_V2_SCOPE);

    // v1 without resource: the resource granted, numbers as strings, a new refresh token.
    let r = refresh_with(&c, &v1_token(&server), &rt2, &[]).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["resource"], "https://outlook.office.com");
    assert_eq!(r.json["scope"], "IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send");
    assert_eq!(r.json["expires_in"], "3599");
    assert!(r.json["refresh_token"].as_str().is_some_and(|t| t != rt2));
    assert_user_token(
        r.json["access_token"].as_str().expect("at"),
        "https://outlook.office.com",
    );
}

#[tokio::test]
async fn refresh_with_a_subset_another_resource_or_an_unconsented_scope() {
    let server = frozen_server().await;
    let c = client(&server);
    let app08 = app(8);
    let rt1 = rt(&ropc(&server, &c, USER, PASSWORD, IMAP_SCOPE).await);

    // A subset (no OpenID scopes): that resource, with Entra's static consent (every
    // consented permission of it), no id_token, and still a new refresh token.
    let r = refresh_with(
        &c,
        &v2_token(&server),
        &rt1,
        &[("scope", "https://outlook.office.com/IMAP.AccessAsUser.All")],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(
        r.json["scope"],
        "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/POP.AccessAsUser.All https://outlook.office.com/SMTP.Send"
    );
    assert!(r.json.get("id_token").is_none(), "{}", r.json);
    assert!(r.json["refresh_token"].is_string(), "{}", r.json);

    // The other Exchange identifier: a token for that audience.
    let r = refresh_with(
        &c,
        &v2_token(&server),
        &rt1,
        &[(
            "scope",
            "https://outlook.office365.com/IMAP.AccessAsUser.All offline_access",
        )],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_user_token(
        r.json["access_token"].as_str().expect("at"),
        "https://outlook.office365.com",
    );
    assert_eq!(
        r.json["scope"],
        "https://outlook.office365.com/IMAP.AccessAsUser.All https://outlook.office365.com/POP.AccessAsUser.All https://outlook.office365.com/SMTP.Send"
    );

    // A resource never consented: AADSTS65001, consent_required.
    let consent_text = format!("The user or administrator has not consented to use the application with ID '{app08}' named 'Desktop Mail Client'. Send an interactive authorization request for this user and resource.");
    let r = refresh_with(
        &c,
        &v2_token(&server),
        &rt1,
        &[(
            "scope",
            "https://graph.microsoft.com/User.Read offline_access openid profile",
        )],
    )
    .await;
    let d = assert_aad_error(&r, 400, "invalid_grant", 65001);
    assert_eq!(r.json["suberror"], "consent_required", "{}", r.json);
    assert!(d.contains(&consent_text), "{d}");
    // A permission of the granted resource that was never consented: the same answer.
    let r = refresh_with(
        &c,
        &v2_token(&server),
        &rt1,
        &[(
            "scope",
            "https://outlook.office.com/EWS.AccessAsUser.All offline_access",
        )],
    )
    .await;
    assert_aad_error(&r, 400, "invalid_grant", 65001);
    assert_eq!(r.json["suberror"], "consent_required", "{}", r.json);

    // Once the administrator consents to Graph User.Read, the same refresh token buys a
    // Graph token (multi-resource refresh token).
    let admin = server.admin();
    admin
        .add_app_permission(&app08, "Microsoft Graph", "delegated", "User.Read")
        .expect("add permission");
    admin.grant_admin_consent(&app08).expect("consent");
    let r = refresh_with(
        &c,
        &v2_token(&server),
        &rt1,
        &[(
            "scope",
            "https://graph.microsoft.com/User.Read offline_access openid profile",
        )],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let claims = claims(r.json["access_token"].as_str().expect("at"));
    assert_eq!(claims["aud"], "https://graph.microsoft.com");
    assert_eq!(claims["tid"], CONTOSO);
    let scp = claims["scp"].as_str().expect("scp");
    assert!(scp.split(' ').any(|s| s == "User.Read"), "{scp}");
    let scope = r.json["scope"].as_str().expect("scope");
    assert!(scope.split(' ').any(|s| s == "User.Read"), "{scope}");
    assert_eq!(scope.split(' ').filter(|s| *s == "openid").count(), 1, "{scope}");
    assert!(r.json["refresh_token"].is_string() && r.json["id_token"].is_string());
}

// ---- Device code on /organizations, /common and /consumers (issue #18, item 2) ----

const FABRIKAM_USER: &str = "anna.lee@fabrikam.onmicrosoft.com";

/// The demo directory plus a Fabrikam user; with `app_in_fabrikam`, app 08 is registered
/// in Fabrikam as well (as a multi-tenant app is, once consented there).
fn with_fabrikam_user(app_in_fabrikam: bool) -> mock_server::Directory {
    let mut d = mock_server::directory::fixture::demo_tenant().expect("demo");
    let app08 = d.tenants[0].application(&app(8)).expect("app 08").clone();
    let fabrikam = &mut d.tenants[1];
    assert_eq!(fabrikam.id, e2e_tests::FABRIKAM);
    fabrikam.users.push(mock_server::directory::User {
        upn: FABRIKAM_USER.into(),
        object_id: "00000000-0000-4000-8000-00000000f001".into(),
        display_name: "Anna Lee".into(),
        password: Some(mock_server::secret::Secret::new(PASSWORD.into())),
        account_enabled: true,
        mfa_required: false,
    });
    if app_in_fabrikam {
        fabrikam.applications.push(app08);
    }
    d
}

async fn start_device_at(c: &reqwest::Client, server: &MockServer, segment: &str) -> Reply {
    let app08 = app(8);
    post_form(
        c,
        &format!("{}/{segment}/oauth2/v2.0/devicecode", server.https_url()),
        &[("client_id", &app08), ("scope", IMAP_SCOPE)],
    )
    .await
}

async fn poll_at(c: &reqwest::Client, server: &MockServer, segment: &str, device_code: &str) -> Reply {
    let app08 = app(8);
    post_form(
        c,
        &format!("{}/{segment}/oauth2/v2.0/token", server.https_url()),
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", &app08),
            ("device_code", device_code),
        ],
    )
    .await
}

#[tokio::test]
async fn device_code_on_organizations_takes_the_tenant_of_the_user_who_signs_in() {
    let server = frozen_server().await;
    let c = client(&server);
    let flow = start_device_at(&c, &server, "organizations").await;
    assert_eq!(flow.status, 200, "{}", flow.json);
    assert_eq!(flow.json["interval"], 5);
    let dc = flow.json["device_code"].as_str().expect("dc");
    assert_aad_error(
        &poll_at(&c, &server, "organizations", dc).await,
        400,
        "authorization_pending",
        70016,
    );
    server
        .approve_device_code(flow.json["user_code"].as_str().expect("uc"), USER)
        .expect("approve");
    server.clock().advance(Duration::seconds(5));
    // Polling where the code was not issued (the tenant endpoint) does not find it.
    assert_aad_error(
        &poll_at(&c, &server, CONTOSO, dc).await,
        400,
        "bad_verification_code",
        70018,
    );
    let r = poll_at(&c, &server, "organizations", dc).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["scope"], GRANTED_V2_SCOPE);
    assert_user_token(
        r.json["access_token"].as_str().expect("at"),
        "https://outlook.office.com",
    );
    let id = claims(r.json["id_token"].as_str().expect("id_token"));
    assert_eq!(id["tid"], CONTOSO);
    assert_eq!(id["iss"], format!("{}/{CONTOSO}/v2.0", server.https_url()));
    assert!(r.json["refresh_token"].is_string());
}

/// msal4j (so also azure-identity's DeviceCodeCredential for Java) polls with the short
/// grant name `device_code`, not RFC 8628's URN; Entra takes both, on a tenant and on
/// `/organizations`.
#[tokio::test]
async fn device_code_polled_with_msal4j_s_short_grant_name() {
    let server = frozen_server().await;
    let c = client(&server);
    let app08 = app(8);
    for segment in [CONTOSO, "organizations"] {
        let flow = start_device_at(&c, &server, segment).await;
        assert_eq!(flow.status, 200, "{}", flow.json);
        let dc = flow.json["device_code"].as_str().expect("dc");
        let url = format!("{}/{segment}/oauth2/v2.0/token", server.https_url());
        let form = [
            ("grant_type", "device_code"),
            ("client_id", app08.as_str()),
            ("device_code", dc),
            ("scope", IMAP_SCOPE),
            ("client_info", "1"),
        ];
        assert_aad_error(&post_form(&c, &url, &form).await, 400, "authorization_pending", 70016);
        server
            .approve_device_code(flow.json["user_code"].as_str().expect("uc"), USER)
            .expect("approve");
        server.clock().advance(Duration::seconds(5));
        let r = post_form(&c, &url, &form).await;
        assert_eq!(r.status, 200, "{segment}: {}", r.json);
        assert_user_token(
            r.json["access_token"].as_str().expect("at"),
            "https://outlook.office.com",
        );
    }
}

#[tokio::test]
async fn device_code_on_common_signs_in_a_user_of_another_tenant_on_the_page() {
    let server = MockServer::builder()
        .directory(with_fabrikam_user(true))
        .clock(Clock::frozen(OffsetDateTime::now_utc()))
        .start()
        .await
        .expect("start");
    let c = client(&server);
    let flow = start_device_at(&c, &server, "common").await;
    assert_eq!(flow.status, 200, "{}", flow.json);
    let user_code = flow.json["user_code"].as_str().expect("uc");
    let url = format!("{}/devicelogin", server.https_url());
    let (_, body) = page(
        &c,
        &url,
        &[
            ("otc", user_code),
            ("login", FABRIKAM_USER),
            ("passwd", PASSWORD),
            ("action", "accept"),
        ],
    )
    .await;
    assert!(
        body.contains("You have signed in to the Desktop Mail Client application on your device."),
        "{body}"
    );
    let r = poll_at(&c, &server, "common", flow.json["device_code"].as_str().expect("dc")).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let at = claims(r.json["access_token"].as_str().expect("at"));
    assert_eq!(at["tid"], e2e_tests::FABRIKAM);
    assert_eq!(at["iss"], format!("https://sts.windows.net/{}/", e2e_tests::FABRIKAM));
    assert_eq!(at["upn"], FABRIKAM_USER);
    let id = claims(r.json["id_token"].as_str().expect("id_token"));
    assert_eq!(
        id["iss"],
        format!("{}/{}/v2.0", server.https_url(), e2e_tests::FABRIKAM)
    );
}

#[tokio::test]
async fn device_code_on_organizations_for_a_user_whose_tenant_lacks_the_app_is_700016() {
    let server = MockServer::builder()
        .directory(with_fabrikam_user(false))
        .clock(Clock::frozen(OffsetDateTime::now_utc()))
        .start()
        .await
        .expect("start");
    let c = client(&server);
    let app08 = app(8);
    // On the page: Entra's refusal, before any approval.
    let flow = start_device_at(&c, &server, "organizations").await;
    let user_code = flow.json["user_code"].as_str().expect("uc");
    let (_, body) = page(
        &c,
        &format!("{}/devicelogin", server.https_url()),
        &[
            ("otc", user_code),
            ("login", FABRIKAM_USER),
            ("passwd", PASSWORD),
            ("action", "accept"),
        ],
    )
    .await;
    assert!(
        body.contains(&format!(
            "AADSTS700016: Application with identifier &#39;{app08}&#39; was not found in the directory"
        )),
        "{body}"
    );
    // Approved through the API anyway: the poll answers 700016.
    server.approve_device_code(user_code, FABRIKAM_USER).expect("approve");
    let r = poll_at(
        &c,
        &server,
        "organizations",
        flow.json["device_code"].as_str().expect("dc"),
    )
    .await;
    assert_aad_error(&r, 400, "unauthorized_client", 700016);
}

#[tokio::test]
async fn device_code_on_consumers_is_refused_for_a_work_account_app() {
    let server = frozen_server().await;
    let c = client(&server);
    let app08 = app(8);
    let text = format!("AADSTS9002332: Application '{app08}' (Desktop Mail Client) is configured for use by Azure Active Directory users only. Please do not use the /consumers endpoint to serve this request.\r\n");
    let r = start_device_at(&c, &server, "consumers").await;
    let d = assert_aad_error(&r, 400, "invalid_request", 9002332);
    assert!(d.starts_with(&text), "{d}");
    let r = poll_at(&c, &server, "consumers", "any-device-code").await;
    let d = assert_aad_error(&r, 400, "invalid_request", 9002332);
    assert!(d.starts_with(&text), "{d}");
}
