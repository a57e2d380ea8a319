//! Certificate credentials: checking a client assertion JWT the way Entra does.
//!
//! Accepts what real libraries send (`shared/reference/identity-platform.md` §3.2): RS256
//! and PS256; `x5t`, `x5t#S256` or `kid` in base64url with or without padding or in
//! standard base64; `x5c` as DER or as base64 of PEM, whitespace tolerated; fractional
//! NumericDates; missing `nbf`/`iat`; `aud` equal to this tenant's token endpoint under
//! any alias. Each defect maps to its AADSTS code, checked in the order of §3.3.

use super::errors::AadError;
use crate::directory::fixture::pem_body;
use crate::directory::{Application, KeyCredential, Tenant};
use crate::token::jws::{self, numeric_date, verify_rsa};
use crate::token::x509::{hex_upper, RsaCertificate};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use time::macros::format_description;
use time::{Duration, OffsetDateTime};

/// Tolerated clock difference between the client and us, in each direction. Provenance:
/// the 5-minute default `ClockSkew` of Microsoft.IdentityModel, which Entra builds on.
pub const CLIENT_ASSERTION_CLOCK_SKEW: Duration = Duration::minutes(5);

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What a valid assertion proved.
#[derive(Debug, Clone)]
pub struct AssertionOk {
    pub alg: String,
    pub key_id: String,
    pub thumbprint: String,
}

/// Normalise a thumbprint header to raw bytes: padded, unpadded, base64url or standard.
fn thumbprint_bytes(value: &str) -> Option<Vec<u8>> {
    let normalised: String = value
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    URL_SAFE_NO_PAD.decode(normalised).ok()
}

/// Decode an `x5c` entry: base64 of DER, or base64 of the PEM text (azure_identity).
fn x5c_certificate(entry: &str) -> Option<RsaCertificate> {
    let compact: String = entry.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = STANDARD.decode(&compact).ok()?;
    let der = if bytes.starts_with(b"-----BEGIN") {
        pem_body(&String::from_utf8_lossy(&bytes), "CERTIFICATE")?
    } else {
        bytes
    };
    RsaCertificate::parse(&der).ok()
}

fn portal_date(t: OffsetDateTime) -> String {
    t.format(format_description!("[month]/[day]/[year] [hour]:[minute]:[second]"))
        .unwrap_or_default()
}

fn iso7(t: OffsetDateTime) -> String {
    let base = t
        .format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"))
        .unwrap_or_default();
    format!("{base}.{:07}Z", t.nanosecond() / 100)
}

fn from_numeric(v: f64) -> OffsetDateTime {
    let nanos = (v * 1e9) as i128;
    OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Does `aud` name this tenant's token endpoint (v1 or v2, any host, any alias)?
fn audience_matches(aud: &str, tenant: &Tenant) -> bool {
    let Some(rest) = aud.strip_prefix("https://").or_else(|| aud.strip_prefix("HTTPS://")) else {
        return false;
    };
    let Some((_host, path)) = rest.split_once('/') else {
        return false;
    };
    let path = path.trim_end_matches('/').to_ascii_lowercase();
    let segments: Vec<&str> = path.split('/').collect();
    match segments.as_slice() {
        [t, "oauth2", "v2.0", "token"] | [t, "oauth2", "token"] => tenant.answers_to(t),
        _ => false,
    }
}

pub fn check(
    assertion: &str,
    client_id: &str,
    app: &Application,
    tenant: &Tenant,
    now: OffsetDateTime,
) -> Result<AssertionOk, AadError> {
    // 1. A compact JWS with JSON header and payload.
    let jwt = jws::split(assertion).map_err(|e| AadError::malformed_assertion(format!("client_assertion: {e}")))?;
    let header = &jwt.header;
    let claims = &jwt.payload;

    // 2. An RSA algorithm.
    let alg = header.get("alg").and_then(|v| v.as_str()).unwrap_or("none");
    if jws::rsa_verification_algorithm(alg).is_none() {
        return Err(AadError::unsupported_assertion_alg(alg));
    }

    // 3. A key identifier.
    let x5t = header.get("x5t").and_then(|v| v.as_str());
    let x5t256 = header.get("x5t#S256").and_then(|v| v.as_str());
    let kid = header.get("kid").and_then(|v| v.as_str());
    if x5t.is_none() && x5t256.is_none() && kid.is_none() {
        return Err(AadError::assertion_without_key_id());
    }
    if let Some(x5c) = header.get("x5c") {
        let first = x5c.as_array().and_then(|a| a.first()).and_then(|v| v.as_str());
        if first.and_then(x5c_certificate).is_none() {
            return Err(AadError::malformed_assertion(
                "the x5c header is neither base64 DER nor base64 PEM of a certificate",
            ));
        }
    }

    // 4. iss and aud present; iss and sub name the client.
    let claim_str = |name: &str| claims.get(name).and_then(|v| v.as_str());
    let iss = claim_str("iss").ok_or_else(|| AadError::assertion_missing_field("iss"))?;
    let aud_value = claims
        .get("aud")
        .ok_or_else(|| AadError::assertion_missing_field("aud"))?;
    if !iss.eq_ignore_ascii_case(client_id) {
        return Err(AadError::assertion_app_mismatch(format!(
            "assertion iss {iss:?} is not the client_id {client_id:?}"
        )));
    }
    if let Some(sub) = claim_str("sub") {
        if !sub.eq_ignore_ascii_case(iss) {
            return Err(AadError::assertion_subject_mismatch(sub, iss));
        }
    }

    // 5. The audience is this tenant's token endpoint.
    let aud = aud_value.as_str().unwrap_or_default();
    if !audience_matches(aud, tenant) {
        return Err(AadError::assertion_audience(&aud_value.to_string()));
    }

    // 6. The key is one of the app's certificates, and current.
    let used_thumbprint = x5t256
        .or(x5t)
        .and_then(thumbprint_bytes)
        .map(|b| hex_upper(&b))
        .or_else(|| kid.map(str::to_string))
        .unwrap_or_default();
    let matches = |k: &KeyCredential| {
        let by_x5t = x5t.and_then(thumbprint_bytes).is_some_and(|b| b == k.sha1);
        let by_x5t256 = x5t256.and_then(thumbprint_bytes).is_some_and(|b| b == k.sha256);
        let by_kid = kid.is_some_and(|kid| {
            kid.eq_ignore_ascii_case(&k.key_id)
                || kid.eq_ignore_ascii_case(&hex_upper(&k.sha1))
                || kid.eq_ignore_ascii_case(&hex_upper(&k.sha256))
                || thumbprint_bytes(kid).is_some_and(|b| b == k.sha1 || b == k.sha256)
        });
        by_x5t || by_x5t256 || by_kid
    };
    let Some(key) = app.certificates.iter().find(|k| matches(k)) else {
        return Err(AadError::assertion_key(
            "The key was not found.",
            &used_thumbprint,
            &app.app_id,
            None,
            format!(
                "no certificate of app '{}' has thumbprint {used_thumbprint} ({} certificate(s) registered)",
                app.display_name,
                app.certificates.len()
            ),
        )
        .with_fix("upload the certificate (.cer/.pem) under Certificates & secrets, or sign with the registered one"));
    };
    let found = format!(
        "Found key 'Start={}, End={}'",
        portal_date(key.start),
        portal_date(key.end)
    );
    if now < key.start || now > key.end {
        return Err(AadError::assertion_key(
            "The key used is expired.",
            &used_thumbprint,
            &app.app_id,
            Some(found),
            format!(
                "certificate {used_thumbprint} is valid from {} to {}, now is {now}",
                key.start, key.end
            ),
        )
        .with_fix("upload a new certificate and sign assertions with it"));
    }

    // 7. The signature.
    if !verify_rsa(
        alg,
        &key.modulus,
        &key.exponent,
        jwt.signing_input.as_bytes(),
        &jwt.signature,
    ) {
        return Err(AadError::assertion_key(
            "The provided signature value did not match the expected signature value.",
            &used_thumbprint,
            &app.app_id,
            Some(found),
            format!("the {alg} signature does not verify with certificate {used_thumbprint}"),
        )
        .with_fix("sign the assertion with the private key of the registered certificate"));
    }

    // 8. The time window, of claims that are numbers.
    if let Some(why) = crate::token::jws::malformed_time_claim(claims) {
        return Err(AadError::malformed_assertion(why)
            .with_fix("write exp, nbf and iat as numbers of seconds since 1970, not strings"));
    }
    let exp = numeric_date(claims.get("exp")).ok_or_else(|| AadError::assertion_missing_field("exp"))?;
    let nbf = numeric_date(claims.get("nbf")).or_else(|| numeric_date(claims.get("iat")));
    let now_s = (now.unix_timestamp_nanos() as f64) / 1e9;
    let skew = CLIENT_ASSERTION_CLOCK_SKEW.whole_seconds() as f64;
    let too_early = nbf.is_some_and(|nbf| nbf > now_s + skew);
    let too_late = exp < now_s - skew;
    if too_early || too_late {
        let from = nbf.map(from_numeric).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        return Err(AadError::assertion_time(
            &iso7(now),
            &iso7(from),
            &iso7(from_numeric(exp)),
            if too_late {
                format!("the assertion expired at {} (now {now})", from_numeric(exp))
            } else {
                format!("the assertion is not valid before {from} (now {now})")
            },
        ));
    }

    Ok(AssertionOk {
        alg: alg.to_string(),
        key_id: key.key_id.clone(),
        thumbprint: used_thumbprint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_in_every_encoding() {
        let raw = [0xfbu8, 0xff, 0x01, 0x02];
        let url = URL_SAFE_NO_PAD.encode(raw);
        let std = STANDARD.encode(raw);
        assert_eq!(thumbprint_bytes(&url), Some(raw.to_vec()));
        assert_eq!(thumbprint_bytes(&format!("{url}==")), Some(raw.to_vec()));
        assert_eq!(thumbprint_bytes(&std), Some(raw.to_vec()));
    }

    #[test]
    fn date_formats() {
        let t = time::macros::datetime!(2023-12-08 22:11:08.1234567 UTC);
        assert_eq!(iso7(t), "2023-12-08T22:11:08.1234567Z");
        assert_eq!(portal_date(t), "12/08/2023 22:11:08");
    }
}
