//! The token authority: signs tokens with the directory's key and publishes the JWKS.

use super::jws::b64url;
use super::x509::{thumbprint_sha1, RsaCertificate};
use crate::directory::SigningKeyMaterial;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Serialize;

/// One signing key: the parsed key pair (parsed once: parsing per token would cost a
/// measurable share of the signing rate) and its published description.
pub struct SigningKey {
    pair: RsaKeyPair,
    /// base64url SHA-1 thumbprint of the certificate: both `kid` and `x5t`, as Entra does.
    pub kid: String,
    pub modulus: Vec<u8>,
    pub exponent: Vec<u8>,
    pub certificate_der: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthorityError {
    #[error("signing key {index}: not an RSA PKCS#8 key")]
    BadKey { index: usize },
    #[error("signing key {index}: certificate: {source}")]
    BadCertificate {
        index: usize,
        source: super::x509::CertificateError,
    },
    #[error("no signing key")]
    NoKey,
    #[error("signing failed")]
    Sign,
    #[error("cannot generate a signing key")]
    Generate,
}

pub struct Authority {
    keys: Vec<SigningKey>,
    rng: SystemRandom,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority").field("keys", &self.keys).finish()
    }
}

/// The JOSE header of an Entra v1 access token: `typ`, optional `nonce`, `alg`, `x5t`,
/// `kid`, in Microsoft's order.
#[derive(Serialize)]
struct Header<'a> {
    typ: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    alg: &'static str,
    x5t: &'a str,
    kid: &'a str,
}

impl Authority {
    pub fn new(material: &[SigningKeyMaterial]) -> Result<Self, AuthorityError> {
        let mut keys = Vec::new();
        for (index, m) in material.iter().enumerate() {
            let pair =
                RsaKeyPair::from_pkcs8(m.private_key_pkcs8.expose()).map_err(|_| AuthorityError::BadKey { index })?;
            let cert = RsaCertificate::parse(&m.certificate_der)
                .map_err(|source| AuthorityError::BadCertificate { index, source })?;
            keys.push(SigningKey {
                pair,
                kid: b64url(&thumbprint_sha1(&m.certificate_der)),
                modulus: cert.modulus,
                exponent: cert.exponent,
                certificate_der: m.certificate_der.clone(),
            });
        }
        if keys.is_empty() {
            return Err(AuthorityError::NoKey);
        }
        Ok(Self {
            keys,
            rng: SystemRandom::new(),
        })
    }

    /// The key that signs new tokens.
    pub fn active(&self) -> &SigningKey {
        &self.keys[0]
    }

    /// Every published key's `kid`, the signing one first.
    pub fn kids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.kid.clone()).collect()
    }

    /// A published key by `kid` (or `x5t`).
    pub fn key(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// Sign `claims` as an RS256 JWT with the active key.
    pub fn sign(&self, claims: &impl Serialize, nonce: Option<&str>) -> Result<String, AuthorityError> {
        let key = self.active();
        let header = Header {
            typ: "JWT",
            nonce,
            alg: "RS256",
            x5t: &key.kid,
            kid: &key.kid,
        };
        let header = serde_json::to_vec(&header).map_err(|_| AuthorityError::Sign)?;
        let claims = serde_json::to_vec(claims).map_err(|_| AuthorityError::Sign)?;
        let mut token = String::with_capacity(header.len() * 4 / 3 + claims.len() * 4 / 3 + 350);
        token.push_str(&b64url(&header));
        token.push('.');
        token.push_str(&b64url(&claims));
        let mut signature = vec![0u8; key.pair.public_modulus_len()];
        key.pair
            .sign(&RSA_PKCS1_SHA256, &self.rng, token.as_bytes(), &mut signature)
            .map_err(|_| AuthorityError::Sign)?;
        token.push('.');
        token.push_str(&b64url(&signature));
        Ok(token)
    }

    /// The JWKS document. v2 key sets carry an `issuer` per key; v1 sets do not.
    pub fn jwks(&self, issuer: Option<&str>) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .keys
            .iter()
            .map(|k| {
                let mut jwk = serde_json::json!({
                    "kty": "RSA",
                    "use": "sig",
                    "kid": k.kid,
                    "x5t": k.kid,
                    "n": b64url(&k.modulus),
                    "e": b64url(&k.exponent),
                    "x5c": [STANDARD.encode(&k.certificate_der)],
                });
                if let (Some(issuer), Some(obj)) = (issuer, jwk.as_object_mut()) {
                    obj.insert("issuer".into(), issuer.into());
                }
                jwk
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

/// Validity of a signing certificate made at run time: Entra's own signing certificates
/// are issued for about five years; tests never outlive that.
const ROTATED_KEY_VALIDITY_DAYS: i64 = 5 * 365;

/// A fresh RSA-2048 signing key with a self-signed certificate (subject
/// `accounts.accesscontrol.windows.net`, as Entra's), so that `kid` is the certificate's
/// SHA-1 thumbprint (`x5t`) and `x5c` is published, exactly like the fixture's keys.
pub fn generate_signing_key(now: time::OffsetDateTime) -> Result<SigningKeyMaterial, AuthorityError> {
    let key = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        .map_err(|_| AuthorityError::Generate)?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|_| AuthorityError::Generate)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "accounts.accesscontrol.windows.net");
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(ROTATED_KEY_VALIDITY_DAYS);
    let cert = params.self_signed(&key).map_err(|_| AuthorityError::Generate)?;
    Ok(SigningKeyMaterial {
        private_key_pkcs8: crate::secret::Secret::new(key.serialize_der()),
        certificate_der: cert.der().to_vec(),
    })
}
