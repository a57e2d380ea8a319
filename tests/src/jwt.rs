//! JWTs from the test's side: claims read without verification, the demo certificate of
//! app 01 and client assertions signed with it.

use crate::{app, fixtures};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RsaKeyPair, RSA_PKCS1_SHA256, RSA_PSS_SHA256};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::Value;

/// The claims of a JWT, without verification.
pub fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("json")
}

pub fn header(jwt: &str) -> Value {
    let h = jwt.split('.').next().expect("header");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).expect("b64")).expect("json")
}

/// The demo certificate of app 01 (Mail Poller).
pub struct DemoCert {
    pub pair: RsaKeyPair,
    pub der: Vec<u8>,
    pub pem: String,
}

fn pem_der(text: &str, label: &str) -> Vec<u8> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let s = text.find(&begin).expect("begin") + begin.len();
    let e = text.find(&end).expect("end");
    let b64: String = text[s..e].chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(b64).expect("pem base64")
}

pub fn demo_cert() -> DemoCert {
    let key = std::fs::read_to_string(fixtures().join("certs/mail-poller.key")).expect("key");
    let pem = std::fs::read_to_string(fixtures().join("certs/mail-poller.crt")).expect("crt");
    DemoCert {
        pair: RsaKeyPair::from_pkcs8(&pem_der(&key, "PRIVATE KEY")).expect("pkcs8"),
        der: pem_der(&pem, "CERTIFICATE"),
        pem,
    }
}

pub fn sha1(der: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der)
        .as_ref()
        .to_vec()
}

pub fn sha256(der: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der)
        .as_ref()
        .to_vec()
}

/// Sign `header.claims` (both JSON) with the demo key: RS256 or PS256 by `header.alg`.
pub fn sign_assertion(cert: &DemoCert, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).expect("h")),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("c"))
    );
    let alg = match header["alg"].as_str() {
        Some("PS256") => &RSA_PSS_SHA256,
        _ => &RSA_PKCS1_SHA256,
    };
    let mut sig = vec![0u8; cert.pair.public_modulus_len()];
    cert.pair
        .sign(alg, &SystemRandom::new(), input.as_bytes(), &mut sig)
        .expect("sign");
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// Standard assertion claims for app 01 against `aud`, valid for 10 minutes from `now`.
pub fn assertion_claims(aud: &str, now: i64) -> Value {
    serde_json::json!({
        "aud": aud,
        "iss": app(1),
        "sub": app(1),
        "jti": uuid::Uuid::new_v4().to_string(),
        "nbf": now,
        "iat": now,
        "exp": now + 600,
    })
}

pub fn assertion_form<'a>(assertion: &'a str, scope: &'a str, client_id: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion),
        ("scope", scope),
    ]
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
