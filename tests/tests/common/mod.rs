//! Helpers shared by the end-to-end tests: an HTTPS client that trusts the server's CA,
//! demo-tenant constants, and client assertions signed with the demo certificate.
#![allow(dead_code)]

pub mod imap;
pub mod smtp;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RsaKeyPair, RSA_PKCS1_SHA256, RSA_PSS_SHA256};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use mock_server::MockServer;
use serde_json::Value;
use std::path::PathBuf;

pub const CONTOSO: &str = "c0ffee00-1111-4222-8333-444455556666";
pub const FABRIKAM: &str = "fab00000-1111-4222-8333-444455556666";
pub const EXO_SCOPE: &str = "https://outlook.office365.com/.default";

pub fn app(nn: u32) -> String {
    format!("00000000-0000-4000-8000-00000000a{nn:03}")
}

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

pub fn client(server: &MockServer) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(server.ca_pem().as_bytes()).expect("CA PEM");
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .no_proxy()
        .build()
        .expect("client")
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
}

pub async fn post_form(client: &reqwest::Client, url: &str, form: &[(&str, &str)]) -> Reply {
    let r = client.post(url).form(form).send().await.expect("POST");
    reply(r).await
}

pub async fn get(client: &reqwest::Client, url: &str) -> Reply {
    reply(client.get(url).send().await.expect("GET")).await
}

async fn reply(r: reqwest::Response) -> Reply {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply { status, headers, json }
}

/// Client-credentials form for a demo app with its secret.
pub fn secret_form<'a>(client_id: &'a str, secret: &'a str, scope: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", secret),
        ("scope", scope),
    ]
}

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

/// Check an Entra error body; returns its `error_description`.
pub fn assert_aad_error(r: &Reply, status: u16, error: &str, code: u64) -> String {
    assert_eq!(r.status, status, "status of {}", r.json);
    assert_eq!(r.json["error"], error, "{}", r.json);
    assert_eq!(r.json["error_codes"], serde_json::json!([code]), "{}", r.json);
    let d = r.json["error_description"].as_str().expect("description").to_string();
    assert!(d.starts_with(&format!("AADSTS{code}: ")), "{d}");
    assert!(
        d.contains("\r\nTrace ID: ") && d.contains("\r\nCorrelation ID: ") && d.contains("\r\nTimestamp: "),
        "{d}"
    );
    let ts = r.json["timestamp"].as_str().expect("timestamp");
    assert_eq!(ts.len(), "2016-01-09 02:02:12Z".len(), "{ts}");
    assert!(ts.ends_with('Z') && ts.as_bytes()[10] == b' ', "{ts}");
    assert_eq!(
        r.json["error_uri"],
        format!("https://login.microsoftonline.com/error?code={code}")
    );
    assert!(r.json["trace_id"].as_str().is_some_and(|t| t.len() == 36));
    d
}
