//! The parts of an X.509 certificate the identity platform uses: thumbprints, validity,
//! and the RSA public key.

use aws_lc_rs::digest;
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub struct RsaCertificate {
    pub sha1: [u8; 20],
    pub sha256: [u8; 32],
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// Big-endian, without leading zero bytes.
    pub modulus: Vec<u8>,
    pub exponent: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("not a DER X.509 certificate")]
    NotACertificate,
    #[error("the certificate's key is not RSA")]
    NotRsa,
}

impl RsaCertificate {
    pub fn parse(der: &[u8]) -> Result<Self, CertificateError> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|_| CertificateError::NotACertificate)?;
        let validity = cert.validity();
        let key = match cert.public_key().parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => rsa,
            _ => return Err(CertificateError::NotRsa),
        };
        let strip = |b: &[u8]| {
            let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
            b[first..].to_vec()
        };
        Ok(Self {
            sha1: thumbprint_sha1(der),
            sha256: thumbprint_sha256(der),
            not_before: validity.not_before.to_datetime(),
            not_after: validity.not_after.to_datetime(),
            modulus: strip(key.modulus),
            exponent: strip(key.exponent),
        })
    }
}

pub fn thumbprint_sha1(der: &[u8]) -> [u8; 20] {
    let d = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, der);
    let mut out = [0u8; 20];
    out.copy_from_slice(d.as_ref());
    out
}

pub fn thumbprint_sha256(der: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, der);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Upper-case hexadecimal, as the Azure portal shows thumbprints.
pub fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}
