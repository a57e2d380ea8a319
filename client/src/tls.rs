//! Trust: the machine's roots, or only the CA given with `--ca-file`.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read CA file {0}: {1}")]
    Read(String, std::io::Error),
    #[error("CA file {0} holds no PEM certificate")]
    NoCertificate(String),
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The CA certificates to trust: those in `ca_file`, or the system's.
pub fn roots(ca_file: Option<&Path>) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    match ca_file {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| TlsSetupError::Read(path.display().to_string(), e))?;
            let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok).collect();
            if certs.is_empty() {
                return Err(TlsSetupError::NoCertificate(path.display().to_string()));
            }
            Ok(certs)
        }
        None => Ok(rustls_native_certs::load_native_certs().certs),
    }
}

pub fn client_config(roots: &[CertificateDer<'static>]) -> Result<Arc<rustls::ClientConfig>, TlsSetupError> {
    let mut store = rustls::RootCertStore::empty();
    for c in roots {
        // A system store may hold certificates rustls cannot use; skip those.
        let _ = store.add(c.clone());
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
