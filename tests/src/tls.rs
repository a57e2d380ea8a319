//! A rustls client configuration that trusts exactly one CA: the mock's, never the
//! system's, so a test cannot reach a real Microsoft host by mistake.

use rustls::pki_types::pem::PemObject;
use std::sync::Arc;

/// Why a connector could not be built from a PEM.
#[derive(Debug)]
pub struct BadCa(pub String);

impl std::fmt::Display for BadCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CA certificate: {}", self.0)
    }
}

impl std::error::Error for BadCa {}

/// A TLS connector trusting the certificates in `ca_pem` (aws-lc-rs, TLS 1.2 and 1.3).
pub fn try_connector(ca_pem: &[u8]) -> Result<tokio_rustls::TlsConnector, BadCa> {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem) {
        roots
            .add(c.map_err(|e| BadCa(e.to_string()))?)
            .map_err(|e| BadCa(e.to_string()))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| BadCa(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// The name the mock's server certificate carries for loopback.
pub fn localhost() -> rustls::pki_types::ServerName<'static> {
    rustls::pki_types::ServerName::DnsName(rustls::pki_types::DnsName::try_from("localhost").expect("a valid DNS name"))
}
