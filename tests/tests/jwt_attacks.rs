//! The JWT attack suite, against both checkers: the mail side's token check (over IMAP)
//! and the identity platform's client-assertion check. Every attack is refused and
//! journaled with its reason.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{KeyPair, RsaKeyPair, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use e2e_tests::imap::{app_token, xoauth2, Imap};
use e2e_tests::*;
use mock_server::{MockServer, Outcome};
use serde_json::{json, Value};

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("json"))
}

/// Sign `header.claims` with an RSA key that is NOT published by the server.
fn sign_with_foreign_key(header: &Value, claims: &Value) -> String {
    let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("keygen");
    let input = format!("{}.{}", b64(header), b64(claims));
    let mut sig = vec![0u8; pair.public_modulus_len()];
    pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), input.as_bytes(), &mut sig)
        .expect("sign");
    let _ = pair.public_key();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

fn hs256(header: &Value, claims: &Value, key: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let tag = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key),
        input.as_bytes(),
    );
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

fn parts(token: &str) -> (Value, Value, String) {
    let p: Vec<&str> = token.split('.').collect();
    let d = |s: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).expect("b64")).expect("json");
    (d(p[0]), d(p[1]), p[2].to_string())
}

/// Try a bearer token over IMAP: must be `NO AUTHENTICATE failed.` with a journaled reason.
async fn imap_refuses(server: &MockServer, name: &str, token: &str, reason: &str) {
    let (mut c, _) = Imap::tls(server).await;
    let r = c
        .cmd(
            "A1",
            &format!("AUTHENTICATE XOAUTH2 {}", xoauth2("test.user@contoso.com", token)),
        )
        .await;
    assert_eq!(r, ["A1 NO AUTHENTICATE failed.\r\n"], "{name}");
    let e = server.imap_events().pop().expect("journaled");
    assert_eq!(e.outcome, Outcome::Refused, "{name}");
    let why = e.reason.unwrap_or_default();
    assert!(why.contains(reason), "{name}: journal says {why:?}");
}

#[tokio::test]
async fn attacks_on_the_mail_side_token_check() {
    let server = MockServer::start().await;
    let good = app_token(&server, 1, "poller-secret-value", EXO_SCOPE).await;
    let (h, c, sig) = parts(&good);
    let kid = h["kid"].as_str().expect("kid").to_string();
    let jwks = get(
        &client(&server),
        &format!("{}/{CONTOSO}/discovery/v2.0/keys", server.https_url()),
    )
    .await;
    let public_n = jwks.json["keys"][0]["n"].as_str().expect("n").to_string();
    let now = now();
    let with = |claims: Value| format!("{}.{}.{sig}", b64(&h), b64(&claims));
    let mut claims_expired = c.clone();
    claims_expired["exp"] = json!(now - 10);
    let mut claims_future = c.clone();
    claims_future["nbf"] = json!(now + 3600);
    let mut claims_iss = c.clone();
    claims_iss["iss"] = json!("https://sts.windows.net/99999999-1111-4222-8333-444455556666/");
    let mut claims_tid = c.clone();
    claims_tid["tid"] = json!(FABRIKAM);
    let mut claims_roles = c.clone();
    claims_roles["oid"] = json!("00000000-0000-4000-8000-00000000c004");
    let attacks: Vec<(&str, String, &str)> = vec![
        (
            "alg none",
            format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&c)),
            "RS256 only",
        ),
        (
            "HS256 keyed with our public key",
            hs256(&json!({"alg": "HS256", "kid": kid}), &c, public_n.as_bytes()),
            "RS256 only",
        ),
        (
            "unknown kid",
            with(c.clone()).replacen(&b64(&h), &b64(&json!({"alg": "RS256", "kid": "not-our-key"})), 1),
            "not one of the identity platform's published keys",
        ),
        (
            "injected kid",
            format!(
                "{}.{}.{sig}",
                b64(&json!({"alg": "RS256", "kid": "../../../dev/null", "jku": "https://evil.example/keys"})),
                b64(&c)
            ),
            "not one of",
        ),
        (
            "crit header",
            format!(
                "{}.{}.{sig}",
                b64(&json!({"alg": "RS256", "kid": kid, "crit": ["exp"]})),
                b64(&c)
            ),
            "crit",
        ),
        ("stripped signature", format!("{}.{}.", b64(&h), b64(&c)), "signature"),
        ("tampered claims", with(claims_roles), "signature"),
        (
            "key not in our JWKS (kid ours)",
            sign_with_foreign_key(&json!({"alg": "RS256", "kid": kid}), &c),
            "signature",
        ),
    ];
    for (name, token, reason) in attacks {
        imap_refuses(&server, name, &token, reason).await;
    }
    // Claims changed and re-signed with a foreign key: rejected on the signature before
    // the time or issuer checks matter; with a valid signature each is caught by itself
    // (unit tests in token::verifier cover expired, nbf and issuer with genuine tokens).
    for (name, claims) in [
        ("expired", claims_expired),
        ("nbf in the future", claims_future),
        ("wrong iss", claims_iss),
        ("wrong tid", claims_tid),
    ] {
        imap_refuses(&server, name, &with(claims), "signature").await;
    }
    // An oversized token makes the line longer than Exchange's 10240-byte command limit:
    // refused before any token parsing (the verifier's own cap is unit-tested).
    let (mut conn, _) = Imap::tls(&server).await;
    let huge = format!("{}.{}.{sig}", b64(&h), "A".repeat(20_000));
    let r = conn
        .cmd(
            "A1",
            &format!("AUTHENTICATE XOAUTH2 {}", xoauth2("test.user@contoso.com", &huge)),
        )
        .await;
    assert_eq!(r, ["A1 BAD Command Error. 10\r\n"]);
    // Genuine tokens that are expired, or of another tenant.
    server.clock().advance(time::Duration::hours(2));
    imap_refuses(&server, "expired (genuine)", &good, "expired").await;
}

#[tokio::test]
async fn a_genuine_token_of_another_tenant_is_refused() {
    let server = MockServer::start().await;
    let c = client(&server);
    let r = post_form(
        &c,
        &server.token_endpoint(FABRIKAM),
        &secret_form(
            "00000000-0000-4000-8000-0000000fa001",
            "fabrikam-poller-secret",
            EXO_SCOPE,
        ),
    )
    .await;
    let token = r.json["access_token"].as_str().expect("Fabrikam token").to_string();
    imap_refuses(&server, "another tenant", &token, "not a mailbox of tenant Fabrikam").await;
}

#[tokio::test]
async fn attacks_on_the_client_assertion_check() {
    let server = MockServer::start().await;
    let cert = demo_cert();
    let aud = server.token_endpoint(CONTOSO);
    let x5t = URL_SAFE_NO_PAD.encode(sha1(&cert.der));
    let n = now();
    let claims = assertion_claims(&aud, n);
    let good = sign_assertion(&cert, &json!({"alg": "RS256", "x5t": x5t}), &claims);
    let gp: Vec<&str> = good.split('.').collect();
    let cert_n = {
        let c = x509_parser::parse_x509_certificate(&cert.der).expect("cert").1;
        match c.public_key().parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(k)) => k.modulus.to_vec(),
            _ => panic!("RSA"),
        }
    };
    let mut expired = claims.clone();
    expired["exp"] = json!(n - 3600);
    expired["nbf"] = json!(n - 7200);
    let mut future = claims.clone();
    future["nbf"] = json!(n + 7200);
    future["exp"] = json!(n + 9000);
    let attacks: Vec<(&str, String, u64, &str)> = vec![
        (
            "alg none",
            format!("{}.{}.", b64(&json!({"alg": "none", "x5t": x5t})), gp[1]),
            5002738,
            "\"none\"",
        ),
        (
            "HS256 keyed with the certificate's public key",
            hs256(&json!({"alg": "HS256", "x5t": x5t}), &claims, &cert_n),
            5002738,
            "HS256",
        ),
        (
            "unknown x5t",
            sign_assertion(
                &cert,
                &json!({"alg": "RS256", "x5t": URL_SAFE_NO_PAD.encode([9u8; 20])}),
                &claims,
            ),
            700027,
            "no certificate of app",
        ),
        (
            "injected kid",
            sign_assertion(&cert, &json!({"alg": "RS256", "kid": "../../etc/passwd"}), &claims),
            700027,
            "no certificate of app",
        ),
        (
            "stripped signature",
            format!("{}.{}.", gp[0], gp[1]),
            700027,
            "does not verify",
        ),
        (
            "tampered claims",
            format!("{}.{}.{}", gp[0], b64(&assertion_claims(&aud, n + 5)), gp[2]),
            700027,
            "does not verify",
        ),
        (
            "signed by a key not registered",
            sign_with_foreign_key(&json!({"alg": "RS256", "x5t": x5t}), &claims),
            700027,
            "does not verify",
        ),
        (
            "expired",
            sign_assertion(&cert, &json!({"alg": "RS256", "x5t": x5t}), &expired),
            700024,
            "expired",
        ),
        (
            "nbf in the future",
            sign_assertion(&cert, &json!({"alg": "RS256", "x5t": x5t}), &future),
            700024,
            "not valid before",
        ),
        (
            "audience of another tenant",
            sign_assertion(
                &cert,
                &json!({"alg": "RS256", "x5t": x5t}),
                &assertion_claims(&server.token_endpoint(FABRIKAM), n),
            ),
            700023,
            "not this tenant's token endpoint",
        ),
        (
            "x5c that is not a certificate",
            sign_assertion(
                &cert,
                &json!({"alg": "RS256", "x5t": x5t, "x5c": [STANDARD.encode(b"junk")]}),
                &claims,
            ),
            50027,
            "x5c",
        ),
    ];
    let c = client(&server);
    for (name, assertion, code, reason) in attacks {
        let r = post_form(
            &c,
            &server.token_endpoint(CONTOSO),
            &assertion_form(&assertion, EXO_SCOPE, &app(1)),
        )
        .await;
        assert_eq!(r.json["error_codes"], json!([code]), "{name}: {}", r.json);
        let e = server.token_requests().pop().expect("journaled");
        assert_eq!(e.outcome, Outcome::Refused);
        let why = e.reason.unwrap_or_default();
        assert!(why.contains(reason), "{name}: journal says {why:?}");
        assert!(
            !e.summary.contains(&assertion),
            "{name}: the assertion itself is not journaled"
        );
    }
    // An oversized assertion: refused at the body limit, never parsed.
    let huge = format!("{}.{}.{}", gp[0], "A".repeat(100_000), gp[2]);
    let r = c
        .post(server.token_endpoint(CONTOSO))
        .form(&assertion_form(&huge, EXO_SCOPE, &app(1)))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 413);
}

/// `exp`, `nbf` and `iat` must be numbers: a string or array `nbf` is not skipped (a token
/// meant to be held back would pass), on the mail side and in client assertions alike.
#[tokio::test]
async fn time_claims_that_are_not_numbers_are_refused_naming_the_claim() {
    let server = MockServer::start().await;
    let good = app_token(&server, 1, "poller-secret-value", EXO_SCOPE).await;
    let (_, c, _) = parts(&good);
    // Genuinely signed by the server's own key, so only the claim's type is wrong.
    let authority = mock_server::token::Authority::new(&server.directory().signing_keys).expect("authority");
    let n = now();
    for (name, value) in [
        ("nbf", json!((n - 60).to_string())),
        ("nbf", json!([n - 60])),
        ("iat", json!("yesterday")),
        ("exp", json!((n + 3600).to_string())),
    ] {
        let mut claims = c.clone();
        claims[name] = value.clone();
        let token = authority.sign(&claims, None).expect("signed");
        imap_refuses(
            &server,
            &format!("{name}={value}"),
            &token,
            &format!("the {name} claim is"),
        )
        .await;
    }

    let cert = demo_cert();
    let aud = server.token_endpoint(CONTOSO);
    let x5t = URL_SAFE_NO_PAD.encode(sha1(&cert.der));
    let http = client(&server);
    for (name, value) in [
        ("nbf", json!((n - 60).to_string())),
        ("iat", json!([n])),
        ("exp", json!({"at": n + 600})),
    ] {
        let mut claims = assertion_claims(&aud, n);
        claims[name] = value.clone();
        let assertion = sign_assertion(&cert, &json!({"alg": "RS256", "x5t": x5t}), &claims);
        let r = post_form(
            &http,
            &server.token_endpoint(CONTOSO),
            &assertion_form(&assertion, EXO_SCOPE, &app(1)),
        )
        .await;
        assert_eq!(r.json["error_codes"], json!([50027]), "{name}={value}: {}", r.json);
        let e = server.token_requests().pop().expect("journaled");
        assert_eq!(e.outcome, Outcome::Refused);
        let why = e.reason.unwrap_or_default();
        assert!(
            why.starts_with(&format!("the {name} claim is")),
            "{name}={value}: {why}"
        );
    }
}
