//! Compact JWS helpers shared by token issuing and checking.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decode base64url, tolerating `=` padding (some libraries pad).
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()
}

/// A compact JWS split into its parts; nothing is verified yet.
#[derive(Debug)]
pub struct Compact<'a> {
    /// `base64url(header) "." base64url(payload)`: the signed bytes.
    pub signing_input: &'a str,
    pub header: serde_json::Map<String, serde_json::Value>,
    pub payload: serde_json::Map<String, serde_json::Value>,
    pub signature: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CompactError {
    #[error("not three dot-separated parts")]
    Parts,
    #[error("the header is not base64url JSON object")]
    Header,
    #[error("the payload is not a base64url JSON object")]
    Payload,
    #[error("the signature is not base64url")]
    Signature,
}

pub fn split(token: &str) -> Result<Compact<'_>, CompactError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(CompactError::Parts);
    };
    let object = |part: &str| -> Option<serde_json::Map<String, serde_json::Value>> {
        match serde_json::from_slice(&b64url_decode(part)?) {
            Ok(serde_json::Value::Object(m)) => Some(m),
            _ => None,
        }
    };
    let header = object(h).ok_or(CompactError::Header)?;
    let payload = object(p).ok_or(CompactError::Payload)?;
    let signature = b64url_decode(s).ok_or(CompactError::Signature)?;
    Ok(Compact {
        signing_input: &token[..h.len() + 1 + p.len()],
        header,
        payload,
        signature,
    })
}

/// RSA signature algorithms by JWS name.
pub fn rsa_verification_algorithm(alg: &str) -> Option<&'static aws_lc_rs::signature::RsaParameters> {
    use aws_lc_rs::signature::*;
    Some(match alg {
        "RS256" => &RSA_PKCS1_2048_8192_SHA256,
        "RS384" => &RSA_PKCS1_2048_8192_SHA384,
        "RS512" => &RSA_PKCS1_2048_8192_SHA512,
        "PS256" => &RSA_PSS_2048_8192_SHA256,
        "PS384" => &RSA_PSS_2048_8192_SHA384,
        "PS512" => &RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

/// Verify an RSA signature with a public key given as modulus and exponent.
pub fn verify_rsa(alg: &str, modulus: &[u8], exponent: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let Some(params) = rsa_verification_algorithm(alg) else {
        return false;
    };
    aws_lc_rs::signature::RsaPublicKeyComponents {
        n: modulus,
        e: exponent,
    }
    .verify(params, message, signature)
    .is_ok()
}

/// A NumericDate claim: integer or fractional seconds (MSAL Python sends floats).
pub fn numeric_date(v: Option<&serde_json::Value>) -> Option<f64> {
    v?.as_f64()
}

/// The time claims a JWT may carry (RFC 7519 §4.1.4-6); each must be a NumericDate.
pub const TIME_CLAIMS: [&str; 3] = ["exp", "nbf", "iat"];

/// The first of `exp`, `nbf`, `iat` present with something other than a number, as
/// "the nbf claim is a string": a checker that skipped a malformed `nbf` would accept a
/// token the issuer meant to hold back, so every time claim is typed before any is used.
pub fn malformed_time_claim(claims: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
    TIME_CLAIMS.iter().find_map(|name| {
        let kind = match claims.get(*name)? {
            serde_json::Value::Number(_) => return None,
            serde_json::Value::String(_) => "a string",
            serde_json::Value::Array(_) => "an array",
            serde_json::Value::Object(_) => "an object",
            serde_json::Value::Bool(_) => "a boolean",
            serde_json::Value::Null => "null",
        };
        Some(format!(
            "the {name} claim is {kind}, not a NumericDate (seconds since 1970 as a JSON number)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_rejects_malformed() {
        assert_eq!(split("a.b").err(), Some(CompactError::Parts));
        assert_eq!(split("a.b.c.d").err(), Some(CompactError::Parts));
        assert_eq!(split("!!.e30.").err(), Some(CompactError::Header));
        let h = b64url(br#"{"alg":"RS256"}"#);
        assert_eq!(split(&format!("{h}.bm90IGpzb24.")).err(), Some(CompactError::Payload));
        let token = format!("{h}.e30=.");
        let ok = split(&token).expect("padded payload accepted");
        assert!(ok.signature.is_empty());
        assert_eq!(ok.signing_input, format!("{h}.e30="));
    }

    #[test]
    fn numeric_dates_may_be_fractional() {
        assert_eq!(numeric_date(Some(&serde_json::json!(1729200000.5))), Some(1729200000.5));
        assert_eq!(numeric_date(Some(&serde_json::json!(17))), Some(17.0));
        assert_eq!(numeric_date(Some(&serde_json::json!("17"))), None);
    }

    #[test]
    fn every_time_claim_must_be_a_number() {
        let claims = |v: serde_json::Value| v.as_object().cloned().unwrap_or_default();
        assert_eq!(
            malformed_time_claim(&claims(serde_json::json!({"exp": 1, "nbf": 0.5}))),
            None
        );
        assert_eq!(malformed_time_claim(&claims(serde_json::json!({}))), None);
        let why = malformed_time_claim(&claims(serde_json::json!({"exp": 1, "nbf": "0"}))).unwrap_or_default();
        assert!(why.starts_with("the nbf claim is a string"), "{why}");
        let why = malformed_time_claim(&claims(serde_json::json!({"iat": [1]}))).unwrap_or_default();
        assert!(why.starts_with("the iat claim is an array"), "{why}");
        let why = malformed_time_claim(&claims(serde_json::json!({"exp": null}))).unwrap_or_default();
        assert!(why.starts_with("the exp claim is null"), "{why}");
    }
}
