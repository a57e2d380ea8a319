//! TLS: an rcgen CA and a server certificate built as a matched pair, served by rustls
//! on aws-lc-rs.
//!
//! The CA is kept in a folder when asked (`--ca-dir`), so a person trusts it once; the
//! server certificate is made at every start, for `localhost`, `127.0.0.1`, `::1` and
//! every extra host name.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

pub const CA_CERT_FILE: &str = "ca.pem";
pub const CA_KEY_FILE: &str = "ca.key";

/// How long a new CA is valid: long enough to trust it once and forget it.
const CA_VALIDITY: Duration = Duration::days(3650);
/// Server certificates are made at each start; a year is plenty.
const LEAF_VALIDITY: Duration = Duration::days(365);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a CA certificate and key made by mock-server: {detail}")]
    BadCa { path: PathBuf, detail: String },
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("TLS configuration failed: {0}")]
    Rustls(#[from] rustls::Error),
}

pub struct TlsMaterial {
    pub ca_pem: String,
    pub server_config: Arc<rustls::ServerConfig>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
    move |source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn ca_params() -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::OrganizationName,
        "mock-server (offline Microsoft 365 mail test double)",
    );
    dn.push(DnType::CommonName, "mock-server test CA");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = OffsetDateTime::now_utc();
    p.not_before = now - Duration::days(1);
    p.not_after = now + CA_VALIDITY;
    p
}

/// Load the CA kept in `dir`, or create one there.
fn load_or_create_ca(dir: Option<&Path>) -> Result<(String, Issuer<'static, KeyPair>), TlsError> {
    if let Some(dir) = dir {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        if cert_path.exists() && key_path.exists() {
            let cert_pem = std::fs::read_to_string(&cert_path).map_err(io(&cert_path))?;
            let key_pem = std::fs::read_to_string(&key_path).map_err(io(&key_path))?;
            let bad = |detail: String| TlsError::BadCa {
                path: dir.to_path_buf(),
                detail,
            };
            let key = KeyPair::from_pem(&key_pem).map_err(|e| bad(format!("{CA_KEY_FILE}: {e}")))?;
            let issuer = Issuer::from_ca_cert_pem(&cert_pem, key).map_err(|e| bad(format!("{CA_CERT_FILE}: {e}")))?;
            return Ok((cert_pem, issuer));
        }
    }
    let key = KeyPair::generate()?;
    let params = ca_params();
    let cert = params.self_signed(&key)?;
    let pem = cert.pem();
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let cert_path = dir.join(CA_CERT_FILE);
        std::fs::write(&cert_path, &pem).map_err(io(&cert_path))?;
        let key_path = dir.join(CA_KEY_FILE);
        write_private(&key_path, key.serialize_pem().as_bytes())?;
    }
    Ok((pem, Issuer::new(params, key)))
}

/// Write a private key readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path).map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))
}

/// Build the CA (reused from `ca_dir` when present) and a server certificate for
/// `localhost`, `127.0.0.1`, `::1` and `hostnames`.
pub fn build(ca_dir: Option<&Path>, hostnames: &[String]) -> Result<TlsMaterial, TlsError> {
    let (ca_pem, issuer) = load_or_create_ca(ca_dir)?;
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    for h in hostnames {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(h)) {
            names.push(h.to_ascii_lowercase());
        }
    }
    let mut params = CertificateParams::new(names)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "mock-server");
    params.distinguished_name = dn;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.use_authority_key_identifier_extension = true;
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + LEAF_VALIDITY;
    let leaf_key = KeyPair::generate()?;
    let leaf = params.signed_by(&leaf_key, &issuer)?;

    let ca_der = crate::directory::fixture::pem_body(&ca_pem, "CERTIFICATE").ok_or_else(|| TlsError::BadCa {
        path: ca_dir.map(Path::to_path_buf).unwrap_or_default(),
        detail: "CA certificate is not PEM".into(),
    })?;
    let chain = vec![leaf.der().clone(), CertificateDer::from(ca_der)];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let mut config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsMaterial {
        ca_pem,
        server_config: Arc::new(config),
    })
}
