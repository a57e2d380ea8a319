//! Certificate credentials: a client assertion JWT signed with the app's private key,
//! as MSAL builds it (`shared/reference/identity-platform.md` §3).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RsaKeyPair, RSA_PKCS1_SHA256, RSA_PSS_SHA256};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

/// How the assertion is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// RS256 with the SHA-1 thumbprint in `x5t` (MSAL with a SHA-1 thumbprint, msal4j).
    Rs256,
    /// PS256 with the SHA-256 thumbprint in `x5t#S256` (what Microsoft documents now).
    Ps256,
}

#[derive(Debug, thiserror::Error)]
pub enum AssertionError {
    #[error("the certificate file has no PEM CERTIFICATE block")]
    NoCertificate,
    #[error("the private key file has no PEM PRIVATE KEY or RSA PRIVATE KEY block")]
    NoKey,
    #[error("the private key is not an RSA key aws-lc can use")]
    BadKey,
    #[error("signing failed")]
    Sign,
}

fn pem_block(text: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let s = text.find(&begin)? + begin.len();
    let e = s + text[s..].find(&end)?;
    let b64: String = text[s..e].chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(b64).ok()
}

/// A signer for one app certificate.
pub struct CertificateCredential {
    key: RsaKeyPair,
    sha1: Vec<u8>,
    sha256: Vec<u8>,
}

impl std::fmt::Debug for CertificateCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CertificateCredential(<key>)")
    }
}

impl CertificateCredential {
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, AssertionError> {
        let der = pem_block(cert_pem, "CERTIFICATE").ok_or(AssertionError::NoCertificate)?;
        let key = if let Some(pkcs8) = pem_block(key_pem, "PRIVATE KEY") {
            RsaKeyPair::from_pkcs8(&pkcs8).map_err(|_| AssertionError::BadKey)?
        } else if let Some(pkcs1) = pem_block(key_pem, "RSA PRIVATE KEY") {
            RsaKeyPair::from_der(&pkcs1).map_err(|_| AssertionError::BadKey)?
        } else {
            return Err(AssertionError::NoKey);
        };
        let digest = |alg| aws_lc_rs::digest::digest(alg, &der).as_ref().to_vec();
        Ok(Self {
            key,
            sha1: digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY),
            sha256: digest(&aws_lc_rs::digest::SHA256),
        })
    }

    /// Upper-case hex SHA-1 thumbprint, as the Azure portal shows it.
    pub fn thumbprint(&self) -> String {
        self.sha1.iter().map(|b| format!("{b:02X}")).collect()
    }

    /// A fresh assertion for `client_id` and the token endpoint `audience`, valid 10 minutes.
    pub fn assertion(&self, client_id: &str, audience: &str, alg: Alg, now: i64) -> Result<String, AssertionError> {
        let header = match alg {
            Alg::Rs256 => serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t": URL_SAFE_NO_PAD.encode(&self.sha1)}),
            Alg::Ps256 => {
                serde_json::json!({"alg": "PS256", "typ": "JWT", "x5t#S256": URL_SAFE_NO_PAD.encode(&self.sha256)})
            }
        };
        let claims = serde_json::json!({
            "aud": audience, "iss": client_id, "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(), "nbf": now, "iat": now, "exp": now + 600,
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        let params = match alg {
            Alg::Rs256 => &RSA_PKCS1_SHA256,
            Alg::Ps256 => &RSA_PSS_SHA256,
        };
        self.key
            .sign(params, &SystemRandom::new(), input.as_bytes(), &mut sig)
            .map_err(|_| AssertionError::Sign)?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}
