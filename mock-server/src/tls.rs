//! TLS: an rcgen CA and a server certificate built as a matched pair, served by rustls
//! on aws-lc-rs.
//!
//! The CA is kept in a folder when asked (the binary keeps one per user by default), so a
//! person trusts it once; creating it is safe when many servers start at once. The
//! server certificate is made at every start, for `localhost`, `127.0.0.1`, `::1` and
//! every extra host name.
//!
//! Start-up speed: the CA and server keys are generated, and the certificates signed,
//! with `ring` (P-256 ECDSA), whose randomness is the kernel's CSPRNG (`getrandom(2)`).
//! aws-lc, which serves TLS and signs tokens, seeds its own generator on first use with
//! CPU-jitter entropy, about 35 ms of CPU; doing that on the start-up path cost most of
//! the time to ready. [`warm_up_rng`] seeds it on a background thread instead, once the
//! listeners are up, so neither start-up nor the first handshake waits for it.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SignatureAlgorithm, SigningKey,
};
use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_ASN1_SIGNING};
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
    #[error("key generation failed (no randomness from the operating system)")]
    KeyGeneration,
}

/// A P-256 ECDSA key held by `ring` (see the module comment for why not aws-lc).
pub struct RingKey {
    pair: EcdsaKeyPair,
    pkcs8: Vec<u8>,
    rng: ring::rand::SystemRandom,
}

impl RingKey {
    /// A new key from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, TlsError> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).map_err(|_| TlsError::KeyGeneration)?;
        Self::from_pkcs8(pkcs8.as_ref()).ok_or(TlsError::KeyGeneration)
    }

    /// A P-256 PKCS#8 key, or `None` when it is another kind (or a form ring does not read).
    fn from_pkcs8(der: &[u8]) -> Option<Self> {
        let rng = ring::rand::SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der, &rng).ok()?;
        Some(Self {
            pair,
            pkcs8: der.to_vec(),
            rng,
        })
    }

    /// PKCS#8 DER (a secret: written only to a private file or handed to rustls).
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    fn pem(&self) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.pkcs8);
        let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
        out.push_str("-----END PRIVATE KEY-----\n");
        out
    }
}

impl PublicKeyData for RingKey {
    fn der_bytes(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

impl SigningKey for RingKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let sig = self
            .pair
            .sign(&self.rng, msg)
            .map_err(|_| rcgen::Error::RingUnspecified)?;
        Ok(sig.as_ref().to_vec())
    }
}

/// The CA's key: ring's when it can read it (every CA made since ring signs), else rcgen's
/// on aws-lc (a CA folder from an older mock-server, or a key of another kind).
enum CaKey {
    Ring(RingKey),
    Rcgen(KeyPair),
}

impl PublicKeyData for CaKey {
    fn der_bytes(&self) -> &[u8] {
        match self {
            CaKey::Ring(k) => k.der_bytes(),
            CaKey::Rcgen(k) => k.der_bytes(),
        }
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        match self {
            CaKey::Ring(k) => k.algorithm(),
            CaKey::Rcgen(k) => k.algorithm(),
        }
    }
}

impl SigningKey for CaKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        match self {
            CaKey::Ring(k) => k.sign(msg),
            CaKey::Rcgen(k) => k.sign(msg),
        }
    }
}

/// Seed aws-lc's random generator on a background thread, once per process, so that the
/// first TLS handshake or token signature does not pay for its CPU-jitter collection.
pub fn warm_up_rng() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let spawned = std::thread::Builder::new().name("aws-lc-seed".into()).spawn(|| {
            let mut byte = [0u8; 1];
            // Only the side effect matters: aws-lc seeds its generator on first use.
            let _ = aws_lc_rs::rand::fill(&mut byte);
        });
        if spawned.is_err() {
            tracing::debug!("cannot start the RNG warm-up thread; aws-lc seeds on first use");
        }
    });
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
fn load_or_create_ca(dir: Option<&Path>) -> Result<(String, Issuer<'static, CaKey>), TlsError> {
    let Some(dir) = dir else {
        let key = RingKey::generate()?;
        let params = ca_params();
        let pem = params.self_signed(&key)?.pem();
        return Ok((pem, Issuer::new(params, CaKey::Ring(key))));
    };
    if let Some(ca) = load_ca(dir)? {
        return Ok(ca);
    }
    create_private_dir(dir)?;
    let key = RingKey::generate()?;
    let params = ca_params();
    let pem = params.self_signed(&key)?.pem();
    // Why link-then-rename: test suites start many servers at once on one folder. The
    // key's hard link is the single atomic commit point (it fails when another process
    // got there first); the certificate then appears by rename, never half-written.
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let tag = format!(
        ".new-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let key_path = dir.join(CA_KEY_FILE);
    let cert_path = dir.join(CA_CERT_FILE);
    let tmp_key = dir.join(format!("{CA_KEY_FILE}{tag}"));
    let tmp_cert = dir.join(format!("{CA_CERT_FILE}{tag}"));
    write_private(&tmp_key, key.pem().as_bytes())?;
    std::fs::write(&tmp_cert, &pem).map_err(io(&tmp_cert))?;
    let linked = std::fs::hard_link(&tmp_key, &key_path);
    let _ = std::fs::remove_file(&tmp_key);
    match linked {
        Ok(()) => {
            std::fs::rename(&tmp_cert, &cert_path).map_err(io(&cert_path))?;
            Ok((pem, Issuer::new(params, CaKey::Ring(key))))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // Another start won the race: use its CA once its certificate is in place.
            let _ = std::fs::remove_file(&tmp_cert);
            load_ca(dir)?.ok_or_else(|| TlsError::BadCa {
                path: dir.to_path_buf(),
                detail: "the CA disappeared while it was being created".into(),
            })
        }
        Err(source) => {
            let _ = std::fs::remove_file(&tmp_cert);
            Err(TlsError::Io { path: key_path, source })
        }
    }
}

/// The CA in `dir`, `None` when there is no key there yet. A key without its certificate
/// is a start in the middle of creating it: wait for it a little, then call it broken.
fn load_ca(dir: &Path) -> Result<Option<(String, Issuer<'static, CaKey>)>, TlsError> {
    let cert_path = dir.join(CA_CERT_FILE);
    let key_path = dir.join(CA_KEY_FILE);
    if !key_path.exists() {
        return Ok(None);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !cert_path.exists() {
        if std::time::Instant::now() >= deadline {
            return Err(TlsError::BadCa {
                path: dir.to_path_buf(),
                detail: format!("{CA_KEY_FILE} without {CA_CERT_FILE} (an interrupted start?); start with --new-ca"),
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let cert_pem = std::fs::read_to_string(&cert_path).map_err(io(&cert_path))?;
    let key_pem = std::fs::read_to_string(&key_path).map_err(io(&key_path))?;
    let bad = |detail: String| TlsError::BadCa {
        path: dir.to_path_buf(),
        detail,
    };
    let ring_key =
        crate::directory::fixture::pem_body(&key_pem, "PRIVATE KEY").and_then(|der| RingKey::from_pkcs8(&der));
    let key = match ring_key {
        Some(k) => CaKey::Ring(k),
        None => CaKey::Rcgen(KeyPair::from_pem(&key_pem).map_err(|e| bad(format!("{CA_KEY_FILE}: {e}")))?),
    };
    let issuer = Issuer::from_ca_cert_pem(&cert_pem, key).map_err(|e| bad(format!("{CA_CERT_FILE}: {e}")))?;
    Ok(Some((cert_pem, issuer)))
}

/// Create `dir` (and its missing parents) readable by its owner only: it holds a CA key.
fn create_private_dir(dir: &Path) -> Result<(), TlsError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io(dir))
}

/// The CA kept in `dir` (created there when missing), as PEM: what `trust install` trusts.
pub fn ensure_ca(dir: &Path) -> Result<String, TlsError> {
    load_or_create_ca(Some(dir)).map(|(pem, _)| pem)
}

/// Forget the CA kept in `dir` (`--new-ca`): the next start makes a fresh one there.
pub fn remove_ca(dir: &Path) -> Result<(), TlsError> {
    for name in [CA_KEY_FILE, CA_CERT_FILE] {
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(TlsError::Io { path, source }),
        }
    }
    Ok(())
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
    let leaf_key = RingKey::generate()?;
    let leaf = params.signed_by(&leaf_key, &issuer)?;

    let ca_der = crate::directory::fixture::pem_body(&ca_pem, "CERTIFICATE").ok_or_else(|| TlsError::BadCa {
        path: ca_dir.map(Path::to_path_buf).unwrap_or_default(),
        detail: "CA certificate is not PEM".into(),
    })?;
    let chain = vec![leaf.der().clone(), CertificateDer::from(ca_der)];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.pkcs8_der().to_vec()));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tls-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_ca_folder_is_reused_and_one_made_by_aws_lc_still_loads() {
        // Made by this version (ring): the second start reuses the same CA.
        let dir = temp_dir("ring");
        let first = build(Some(&dir), &[]).expect("first start");
        let second = build(Some(&dir), &[]).expect("second start");
        assert_eq!(first.ca_pem, second.ca_pem);
        let key_pem = std::fs::read_to_string(dir.join(CA_KEY_FILE)).expect("key");
        assert!(crate::directory::fixture::pem_body(&key_pem, "PRIVATE KEY")
            .and_then(|d| RingKey::from_pkcs8(&d))
            .is_some());
        let _ = std::fs::remove_dir_all(&dir);

        // Made by an older version (rcgen on aws-lc, ECDSA P-384 here to force the fallback).
        let dir = temp_dir("aws-lc");
        std::fs::create_dir_all(&dir).expect("dir");
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("key");
        let cert = ca_params().self_signed(&key).expect("cert");
        std::fs::write(dir.join(CA_CERT_FILE), cert.pem()).expect("write");
        std::fs::write(dir.join(CA_KEY_FILE), key.serialize_pem()).expect("write");
        let loaded = build(Some(&dir), &["login.microsoftonline.com".into()]).expect("old CA loads");
        assert_eq!(loaded.ca_pem, cert.pem());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn parallel_starts_on_one_new_folder_agree_on_one_ca() {
        let dir = temp_dir("race").join("nested").join("ca");
        let pems: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| build(Some(&dir), &[]).map(|m| m.ca_pem)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread").expect("build"))
                .collect()
        });
        assert!(pems.iter().all(|p| p == &pems[0]));
        let left: Vec<_> = std::fs::read_dir(&dir)
            .expect("dir")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left.len(), 2, "only ca.pem and ca.key remain: {left:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dir).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        remove_ca(&dir).expect("remove");
        assert!(!dir.join(CA_KEY_FILE).exists());
        let _ = std::fs::remove_dir_all(temp_dir("race"));
    }
}
