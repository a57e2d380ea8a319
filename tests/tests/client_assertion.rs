//! Certificate credentials: every encoding real libraries send is accepted, every defect
//! gets its AADSTS code.

use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use e2e_tests::*;
use mock_server::{Clock, MockServer};
use serde_json::{json, Value};

async fn try_assertion(server: &MockServer, header: Value, claims: Value) -> Reply {
    let cert = demo_cert();
    let assertion = sign_assertion(&cert, &header, &claims);
    post_form(
        &client(server),
        &server.token_endpoint(CONTOSO),
        &assertion_form(&assertion, EXO_SCOPE, &app(1)),
    )
    .await
}

#[tokio::test]
async fn assertions_as_real_libraries_build_them_are_accepted() {
    let server = MockServer::start().await;
    let cert = demo_cert();
    let aud = server.token_endpoint(CONTOSO);
    let x5t = URL_SAFE_NO_PAD.encode(sha1(&cert.der));
    let x5t256 = sha256(&cert.der);
    let pem_b64 = STANDARD.encode(cert.pem.as_bytes());
    let n = now();
    let variants: Vec<(&str, Value, Value)> = vec![
        (
            "msal-node RS256 x5t unpadded",
            json!({"alg": "RS256", "typ": "JWT", "x5t": x5t}),
            assertion_claims(&aud, n),
        ),
        (
            "MSAL Python PS256 x5t#S256 padded, float times, no nbf",
            json!({"alg": "PS256", "x5t#S256": URL_SAFE.encode(&x5t256)}),
            json!({"aud": aud, "iss": app(1), "sub": app(1), "jti": "j", "iat": n as f64 + 0.123456, "exp": n as f64 + 600.5}),
        ),
        (
            "msal4j standard base64 + DER x5c, no iat",
            json!({"alg": "RS256", "x5t#S256": STANDARD.encode(&x5t256), "x5c": [STANDARD.encode(&cert.der)]}),
            json!({"aud": aud, "iss": app(1), "sub": app(1), "jti": "j", "nbf": n, "exp": n + 600}),
        ),
        (
            "azure_identity x5c as base64 of PEM",
            json!({"alg": "RS256", "x5t": STANDARD.encode(sha1(&cert.der)), "x5c": [pem_b64]}),
            assertion_claims(&aud, n),
        ),
        (
            "x5c with whitespace",
            json!({"alg": "RS256", "x5t": x5t, "x5c": [STANDARD.encode(&cert.der).chars().collect::<Vec<_>>().chunks(64).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("\n ")]}),
            assertion_claims(&aud, n),
        ),
        (
            "kid = key id",
            json!({"alg": "RS256", "kid": "00000000-0000-4000-8000-00000000d101"}),
            assertion_claims(&aud, n),
        ),
        (
            "kid = hex thumbprint",
            json!({"alg": "RS256", "kid": sha1(&cert.der).iter().map(|b| format!("{b:02x}")).collect::<String>()}),
            assertion_claims(&aud, n),
        ),
        (
            "aud with domain alias, upper case, trailing slash",
            json!({"alg": "RS256", "x5t": x5t}),
            assertion_claims(
                &format!("{}/CONTOSO.onmicrosoft.com/oauth2/v2.0/token/", server.https_url()),
                n,
            ),
        ),
        (
            "aud v1 endpoint on Microsoft's host",
            json!({"alg": "RS256", "x5t": x5t}),
            assertion_claims(&format!("https://login.microsoftonline.com/{CONTOSO}/oauth2/token"), n),
        ),
    ];
    for (name, header, claims) in variants {
        let r = try_assertion(&server, header, claims).await;
        assert_eq!(r.status, 200, "{name}: {}", r.json);
        let cl = e2e_tests::claims(r.json["access_token"].as_str().expect("token"));
        assert_eq!(cl["appidacr"], "2", "{name}");
        assert_eq!(cl["appid"], app(1), "{name}");
    }
}

#[tokio::test]
async fn each_assertion_defect_has_its_code() {
    let server = MockServer::start().await;
    let cert = demo_cert();
    let aud = server.token_endpoint(CONTOSO);
    let x5t = URL_SAFE_NO_PAD.encode(sha1(&cert.der));
    let n = now();
    let c = client(&server);
    let ep = server.token_endpoint(CONTOSO);

    // Malformed: not a JWS.
    let r = post_form(&c, &ep, &assertion_form("not.a-jwt", EXO_SCOPE, &app(1))).await;
    assert_aad_error(&r, 400, "invalid_request", 50027);

    // HS256 signed with the public key (the classic confusion attack).
    let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","x5t":"x"}"#);
    let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&assertion_claims(&aud, n)).expect("c"));
    let forged = format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(b"mac"));
    let r = post_form(&c, &ep, &assertion_form(&forged, EXO_SCOPE, &app(1))).await;
    let d = assert_aad_error(&r, 401, "invalid_client", 5002738);
    assert!(
        d.contains(
            "'HS256' is not a supported signature algorithm. Supported signing algorithms are: 'RS256,RS384,RS512'"
        ),
        "{d}"
    );

    let cases: Vec<(&str, Value, Value, u16, &str, u64, &str)> = vec![
        ("no key id", json!({"alg": "RS256"}), assertion_claims(&aud, n), 401, "invalid_client", 5002723,
            "No certificate SHA-1 thumbprint, certificate SHA-256 thumbprint, nor keyId specified in token header."),
        ("no iss", json!({"alg": "RS256", "x5t": x5t}), json!({"aud": aud, "sub": app(1), "exp": n + 600}), 400, "invalid_request", 90014,
            "The required field 'iss' is missing from the credential."),
        ("no aud", json!({"alg": "RS256", "x5t": x5t}), json!({"iss": app(1), "sub": app(1), "exp": n + 600}), 400, "invalid_request", 90014,
            "The required field 'aud' is missing"),
        ("iss of another app", json!({"alg": "RS256", "x5t": x5t}), json!({"aud": aud, "iss": app(2), "sub": app(2), "exp": n + 600}), 401, "invalid_client", 700021,
            "Client assertion application identifier doesn't match 'client_id' parameter."),
        ("aud /common", json!({"alg": "RS256", "x5t": x5t}), assertion_claims(&server.token_endpoint("common"), n), 401, "invalid_client", 700023,
            "Client assertion audience claim does not match Realm issuer."),
        ("aud of Fabrikam", json!({"alg": "RS256", "x5t": x5t}), assertion_claims(&server.token_endpoint(FABRIKAM), n), 401, "invalid_client", 700023,
            "does not match Realm issuer"),
        ("unknown thumbprint", json!({"alg": "RS256", "x5t": URL_SAFE_NO_PAD.encode([7u8; 20])}), assertion_claims(&aud, n), 401, "invalid_client", 700027,
            "[Reason - The key was not found., Thumbprint of key used by client: '0707070707070707070707070707070707070707', Please visit the Azure Portal"),
        ("expired", json!({"alg": "RS256", "x5t": x5t}), json!({"aud": aud, "iss": app(1), "sub": app(1), "nbf": n - 3600, "exp": n - 1800}), 401, "invalid_client", 700024,
            "Client assertion is not within its valid time range. Current time: "),
        ("not yet valid", json!({"alg": "RS256", "x5t": x5t}), json!({"aud": aud, "iss": app(1), "sub": app(1), "nbf": n + 3600, "exp": n + 4000}), 401, "invalid_client", 700024,
            "assertion valid from "),
    ];
    for (name, header, claims, status, error, code, text) in cases {
        let r = try_assertion(&server, header, claims).await;
        let d = assert_aad_error(&r, status, error, code);
        assert!(d.contains(text), "{name}: {d}");
        assert!(
            server.token_requests().pop().and_then(|e| e.reason).is_some(),
            "{name} journaled"
        );
    }

    // Bad signature: valid header and claims, payload swapped after signing.
    let good = sign_assertion(&cert, &json!({"alg": "RS256", "x5t": x5t}), &assertion_claims(&aud, n));
    let mut parts: Vec<&str> = good.split('.').collect();
    let other = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&assertion_claims(&aud, n + 1)).expect("c"));
    parts[1] = &other;
    let tampered = parts.join(".");
    let r = post_form(&c, &ep, &assertion_form(&tampered, EXO_SCOPE, &app(1))).await;
    let d = assert_aad_error(&r, 401, "invalid_client", 700027);
    assert!(
        d.contains("The provided signature value did not match the expected signature value."),
        "{d}"
    );
    // Stripped signature.
    let stripped = format!("{}.{}.", parts[0], parts[1]);
    let r = post_form(&c, &ep, &assertion_form(&stripped, EXO_SCOPE, &app(1))).await;
    assert_aad_error(&r, 401, "invalid_client", 700027);
    // An assertion to an app that has no certificate: key not found.
    let for_app2 = sign_assertion(
        &cert,
        &json!({"alg": "RS256", "x5t": x5t}),
        &json!({"aud": aud, "iss": app(2), "sub": app(2), "exp": n + 600}),
    );
    let r = post_form(&c, &ep, &assertion_form(&for_app2, EXO_SCOPE, &app(2))).await;
    let d = assert_aad_error(&r, 401, "invalid_client", 700027);
    assert!(d.contains("The key was not found."), "{d}");
}

#[tokio::test]
async fn an_expired_certificate_is_refused_with_its_dates() {
    // The demo certificate is valid for a century; move the clock past its end.
    let at = time::macros::datetime!(2130-01-01 0:00 UTC);
    let server = MockServer::builder()
        .clock(Clock::frozen(at))
        .start()
        .await
        .expect("start");
    let cert = demo_cert();
    let x5t = URL_SAFE_NO_PAD.encode(sha1(&cert.der));
    let r = try_assertion(
        &server,
        json!({"alg": "RS256", "x5t": x5t}),
        assertion_claims(&server.token_endpoint(CONTOSO), at.unix_timestamp()),
    )
    .await;
    let d = assert_aad_error(&r, 401, "invalid_client", 700027);
    assert!(
        d.contains("[Reason - The key used is expired., Thumbprint of key used by client: '"),
        "{d}"
    );
    assert!(d.contains("Found key 'Start="), "{d}");
}
