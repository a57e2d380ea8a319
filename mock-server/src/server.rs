//! The running server and its Rust API, shaped like wiremock-rs:
//! `MockServer::start().await` serves the demo tenant on `127.0.0.1:0`, a builder
//! changes directory, ports and clock, and dropping the server shuts it down.

use crate::clock::Clock;
use crate::directory::{fixture, Directory};
use crate::identity::{self, DescriptionLayout, IdentityConfig, TokenLifetime};
use crate::imap::ImapConfig;
use crate::journal::{Journal, JournalEntry};
use crate::tls;
use crate::token::Authority;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// The default HTTPS port of the command-line server.
pub const DEFAULT_HTTPS_PORT: u16 = 8443;
/// A TLS handshake that takes longer than this is a stalled or hostile peer.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed to send a request head (slowloris guard). Browsers and MSAL send it at
/// once; nginx uses 60 s for `client_header_timeout`, we need far less.
pub const HTTP_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request head: Entra rejects far smaller ones; 64 KiB is nginx's
/// `large_client_header_buffers` default total (4 × 8 KiB) with room to spare.
pub const MAX_HTTP_HEADER_BYTES: usize = 64 * 1024;
/// Concurrent HTTPS connections; more are accepted and closed at once.
pub const MAX_HTTPS_CONNECTIONS: usize = 4096;
/// Concurrent IMAP connections across both ports (sized for 10,000 idle sessions).
pub const MAX_IMAP_CONNECTIONS: usize = 20_000;
/// Default ports of the command-line server.
pub const DEFAULT_IMAPS_PORT: u16 = 9993;
pub const DEFAULT_IMAP_PORT: u16 = 9143;

/// State shared by every connection.
pub struct Shared {
    directory: RwLock<Directory>,
    pub(crate) authority: Authority,
    pub(crate) clock: Clock,
    pub(crate) journal: Journal,
    pub(crate) identity: IdentityConfig,
    /// `https://127.0.0.1:PORT`.
    pub(crate) https_url: String,
    /// `host:port` forms under which clients may reach us (for instance discovery).
    pub(crate) authorities: Vec<String>,
    /// Every mailbox's folders and messages.
    pub(crate) store: Arc<crate::mailstore::Store>,
    /// Device codes, authorization codes, refresh tokens, lockouts, revocations.
    pub(crate) delegated: identity::delegated::DelegatedState,
}

impl Shared {
    /// Read access to the directory. Readers never hold it across an `.await`.
    pub fn directory(&self) -> RwLockReadGuard<'_, Directory> {
        // The directory is replaced whole by writers, so a poisoned lock still guards a
        // consistent value.
        self.directory.read().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("fixture: {0}")]
    Fixture(#[from] fixture::FixtureError),
    #[error("signing keys: {0}")]
    Authority(#[from] crate::token::AuthorityError),
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("mail: {0}")]
    Mail(#[from] crate::mailstore::StoreError),
}

/// Configure a server before starting it.
#[derive(Debug)]
pub struct MockServerBuilder {
    directory: Option<Directory>,
    bind: IpAddr,
    https_port: u16,
    ca_dir: Option<PathBuf>,
    hostnames: Vec<String>,
    clock: Clock,
    identity: IdentityConfig,
    imaps_port: u16,
    imap_port: u16,
    imap: ImapConfig,
}

impl Default for MockServerBuilder {
    fn default() -> Self {
        Self {
            directory: None,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            https_port: 0,
            ca_dir: None,
            hostnames: Vec::new(),
            clock: Clock::system(),
            identity: IdentityConfig::default(),
            imaps_port: 0,
            imap_port: 0,
            imap: ImapConfig::default(),
        }
    }
}

impl MockServerBuilder {
    /// Serve this directory instead of the embedded demo tenant.
    pub fn directory(mut self, directory: Directory) -> Self {
        self.directory = Some(directory);
        self
    }

    /// Serve the directory of a fixture JSON file.
    pub fn fixture_file(mut self, path: &Path) -> Result<Self, StartError> {
        self.directory = Some(fixture::load_file(path)?);
        Ok(self)
    }

    pub fn bind(mut self, addr: IpAddr) -> Self {
        self.bind = addr;
        self
    }

    /// 0 (the default for the Rust API) picks a free port.
    pub fn https_port(mut self, port: u16) -> Self {
        self.https_port = port;
        self
    }

    /// Keep (or reuse) the CA in this folder.
    pub fn ca_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.ca_dir = Some(dir.into());
        self
    }

    /// An extra name on the server certificate, e.g. `login.microsoftonline.com`.
    pub fn hostname(mut self, name: impl Into<String>) -> Self {
        self.hostnames.push(name.into());
        self
    }

    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn token_lifetime(mut self, lifetime: TokenLifetime) -> Self {
        self.identity.lifetime = lifetime;
        self
    }

    pub fn nonce_header(mut self, on: bool) -> Self {
        self.identity.nonce_header = on;
        self
    }

    pub fn description_layout(mut self, layout: DescriptionLayout) -> Self {
        self.identity.layout = layout;
        self
    }

    /// IMAP with implicit TLS (993 at Microsoft); 0 picks a free port.
    pub fn imaps_port(mut self, port: u16) -> Self {
        self.imaps_port = port;
        self
    }

    /// IMAP with STARTTLS (143 at Microsoft); 0 picks a free port.
    pub fn imap_port(mut self, port: u16) -> Self {
        self.imap_port = port;
        self
    }

    /// IMAP behaviour: personality, continuation style, XOAUTH2 strictness, timeouts.
    pub fn imap_config(mut self, config: ImapConfig) -> Self {
        self.imap = config;
        self
    }

    /// Refresh tokens unused for longer than this answer AADSTS700082 (default 90 days).
    pub fn refresh_token_inactivity(mut self, inactivity: time::Duration) -> Self {
        self.identity.refresh_inactivity = inactivity;
        self
    }

    /// Serve the test-only control endpoint `POST /_mock/clock/advance` (form field
    /// `seconds`) to loopback peers. Off by default: it lets any local process move time.
    pub fn test_controls(mut self, on: bool) -> Self {
        self.identity.test_controls = on;
        self
    }

    pub fn multi_tenant_grant_error_code(mut self, code: u32) -> Self {
        self.identity.multi_tenant_grant_error_code = code;
        self
    }

    pub async fn start(self) -> Result<MockServer, StartError> {
        let directory = match self.directory {
            Some(d) => d,
            None => fixture::demo_tenant()?,
        };
        let authority = Authority::new(&directory.signing_keys)?;
        let store = Arc::new(crate::mailstore::Store::from_directory(&directory)?);
        let tls = tls::build(self.ca_dir.as_deref(), &self.hostnames)?;

        let addr = SocketAddr::new(self.bind, self.https_port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        let url_host = match local.ip() {
            ip if ip.is_unspecified() => "127.0.0.1".to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
            IpAddr::V4(ip) => ip.to_string(),
        };
        let https_url = format!("https://{url_host}:{}", local.port());
        let mut authorities = vec![
            format!("{url_host}:{}", local.port()),
            format!("localhost:{}", local.port()),
            format!("127.0.0.1:{}", local.port()),
            format!("[::1]:{}", local.port()),
        ];
        for h in &self.hostnames {
            authorities.push(format!("{}:{}", h.to_ascii_lowercase(), local.port()));
            if local.port() == 443 {
                authorities.push(h.to_ascii_lowercase());
            }
        }

        // The CA file: in the CA folder when there is one, else in a private temp folder.
        let (ca_file, temp_dir) = match &self.ca_dir {
            Some(dir) => (absolute(&dir.join(tls::CA_CERT_FILE)), None),
            None => {
                static COUNTER: AtomicU64 = AtomicU64::new(0);
                let dir = std::env::temp_dir().join(format!(
                    "mock-server-{}-{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&dir).map_err(|source| StartError::Io {
                    path: dir.clone(),
                    source,
                })?;
                let file = dir.join(tls::CA_CERT_FILE);
                std::fs::write(&file, &tls.ca_pem).map_err(|source| StartError::Io {
                    path: file.clone(),
                    source,
                })?;
                (absolute(&file), Some(dir))
            }
        };

        let shared = Arc::new(Shared {
            directory: RwLock::new(directory),
            authority,
            clock: self.clock,
            journal: Journal::default(),
            identity: self.identity,
            https_url: https_url.clone(),
            authorities,
            store,
            delegated: identity::delegated::DelegatedState::default(),
        });
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        // IMAP gets the same certificate without ALPN: rustls refuses a client that
        // offers only protocols the server does not list (curl offers none, others "imap").
        let mut imap_tls = (*tls.server_config).clone();
        imap_tls.alpn_protocols.clear();
        let imap_acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(imap_tls));
        let acceptor = tokio_rustls::TlsAcceptor::from(tls.server_config);
        tokio::spawn(accept_loop(listener, acceptor, shared.clone(), shutdown_rx.clone()));
        let mut imap_addrs = Vec::new();
        for (port, implicit) in [(self.imaps_port, true), (self.imap_port, false)] {
            let addr = SocketAddr::new(self.bind, port);
            let l = TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Bind { addr, source })?;
            imap_addrs.push(l.local_addr().map_err(|source| StartError::Bind { addr, source })?);
            tokio::spawn(crate::imap::conn::accept_loop(
                l,
                imap_acceptor.clone(),
                implicit,
                shared.clone(),
                self.imap.clone(),
                shutdown_rx.clone(),
            ));
        }

        Ok(MockServer {
            shared,
            https_addr: local,
            imaps_addr: imap_addrs[0],
            imap_addr: imap_addrs[1],
            https_url,
            ca_pem: tls.ca_pem,
            ca_file,
            temp_dir,
            shutdown: shutdown_tx,
        })
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let limit = Arc::new(Semaphore::new(MAX_HTTPS_CONNECTIONS));
    loop {
        // Why select: stop accepting as soon as the server is dropped.
        let accepted = tokio::select! {
            _ = shutdown.changed() => break,
            r = listener.accept() => r,
        };
        let (tcp, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "connection limit reached; closing");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let shared = shared.clone();
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let tls = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HTTP_HEADER_READ_TIMEOUT)
                .max_buf_size(MAX_HTTP_HEADER_BYTES);
            builder
                .http2()
                .timer(TokioTimer::new())
                .max_header_list_size(MAX_HTTP_HEADER_BYTES as u32);
            let service = hyper::service::service_fn(move |req| identity::routes::handle(req, shared.clone(), peer));
            let conn = builder.serve_connection(TokioIo::new(tls), service);
            tokio::pin!(conn);
            // Why select: finish the request in flight, then close, when the server stops.
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
                    }
                }
                _ = shutdown.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
                }
            }
        });
    }
}

/// A running server. Dropping it stops it.
pub struct MockServer {
    shared: Arc<Shared>,
    https_addr: SocketAddr,
    imaps_addr: SocketAddr,
    imap_addr: SocketAddr,
    https_url: String,
    ca_pem: String,
    ca_file: PathBuf,
    temp_dir: Option<PathBuf>,
    shutdown: watch::Sender<bool>,
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServer")
            .field("https_url", &self.https_url)
            .finish_non_exhaustive()
    }
}

impl MockServer {
    /// The demo tenant on `https://127.0.0.1:<free port>`.
    ///
    /// # Panics
    /// When the server cannot start (no free port, unwritable temp folder): a test
    /// cannot go on without it. Use [`MockServer::builder`] to handle the error.
    pub async fn start() -> Self {
        match Self::builder().start().await {
            Ok(s) => s,
            Err(e) => panic!("mock-server failed to start: {e}"),
        }
    }

    pub fn builder() -> MockServerBuilder {
        MockServerBuilder::default()
    }

    /// `https://127.0.0.1:PORT`.
    pub fn https_url(&self) -> &str {
        &self.https_url
    }

    pub fn https_addr(&self) -> SocketAddr {
        self.https_addr
    }

    /// IMAP with implicit TLS.
    pub fn imaps_addr(&self) -> SocketAddr {
        self.imaps_addr
    }

    /// IMAP with STARTTLS.
    pub fn imap_addr(&self) -> SocketAddr {
        self.imap_addr
    }

    /// The authority URL MSAL takes: `https://127.0.0.1:PORT/<tenant>`.
    pub fn authority(&self, tenant: &str) -> String {
        format!("{}/{tenant}", self.https_url)
    }

    /// The v2 token endpoint of a tenant (any alias).
    pub fn token_endpoint(&self, tenant: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/token", self.https_url)
    }

    /// The CA certificate (PEM) a client must trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Absolute path of the CA certificate file.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The clock that issuing and checking use; advance it to expire tokens.
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// Everything recorded so far, oldest first.
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.shared.journal.entries()
    }

    /// IMAP authentications and session ends recorded so far, with their reasons.
    pub fn imap_events(&self) -> Vec<JournalEntry> {
        self.shared
            .journal
            .entries()
            .into_iter()
            .filter(|e| e.protocol == "imap")
            .collect()
    }

    /// Token requests (issued and refused) recorded so far, with secrets masked and the
    /// reason for every refusal.
    pub fn token_requests(&self) -> Vec<JournalEntry> {
        self.shared
            .journal
            .entries()
            .into_iter()
            .filter(|e| e.protocol == "https")
            .collect()
    }

    /// A sans-I/O IMAP session on this server's state, as a connection would get, for
    /// property tests and fuzzing (no socket involved).
    pub fn imap_session(&self, tls: bool) -> crate::imap::session::Session {
        crate::imap::session::Session::new(
            self.shared.clone(),
            crate::imap::ImapConfig::default(),
            "fuzz".into(),
            tls,
        )
    }

    /// Deliver a message (RFC 5322 bytes) to a folder of a mailbox, as if it arrived from
    /// outside; idling IMAP sessions see `* n EXISTS`. Returns its UID.
    pub fn deliver(&self, address: &str, folder: &str, raw: &[u8]) -> Result<u32, crate::mailstore::StoreError> {
        self.shared.store.deliver(
            address,
            folder,
            raw,
            crate::mailstore::Flags::default(),
            Some(self.shared.clock.now()),
        )
    }

    /// The mail store (to check what clients appended, moved or deleted).
    pub fn store(&self) -> &crate::mailstore::Store {
        &self.shared.store
    }

    /// A copy of the directory as it is now.
    pub fn directory(&self) -> Directory {
        self.shared.directory().clone()
    }

    /// What the ready file holds.
    pub fn ready_info(&self) -> serde_json::Value {
        let directory = self.shared.directory();
        let tenants: Vec<serde_json::Value> = directory
            .tenants
            .iter()
            .map(|t| {
                serde_json::json!({
                    "id": t.id,
                    "domains": t.domains,
                    "authority": self.authority(&t.id),
                })
            })
            .collect();
        serde_json::json!({
            "https_url": self.https_url,
            "ca_file": self.ca_file,
            "tenants": tenants,
            "imaps_addr": self.imaps_addr.to_string(),
            "imap_addr": self.imap_addr.to_string(),
        })
    }

    /// Write the ready file atomically (temp file + rename), so a watcher never reads
    /// half of it.
    pub fn write_ready_file(&self, path: &Path) -> std::io::Result<()> {
        let body = serde_json::to_vec_pretty(&self.ready_info()).map_err(std::io::Error::other)?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, body)?;
        std::fs::rename(&tmp, path)
    }

    /// Approve a pending device code as `upn` would on `/devicelogin` (no password asked:
    /// the test vouches for the user). `Err` says why not.
    pub fn approve_device_code(&self, user_code: &str, upn: &str) -> Result<(), String> {
        let now = self.shared.clock.now();
        let user = {
            let directory = self.shared.directory();
            let (tenant, user) = directory
                .tenants
                .iter()
                .find_map(|t| t.user(upn).map(|u| (t, u)))
                .ok_or_else(|| format!("no user {upn} in the directory"))?;
            if !user.account_enabled {
                return Err(format!("{upn} is disabled and cannot sign in"));
            }
            identity::delegated::SignedIn {
                tenant_id: tenant.id.clone(),
                oid: user.object_id.clone(),
                upn: user.upn.clone(),
                auth_time: now,
            }
        };
        self.shared.delegated.decide_device_code(user_code, Some(user), now)
    }

    /// Decline a pending device code, as the Cancel button does: polling answers
    /// `authorization_declined`.
    pub fn decline_device_code(&self, user_code: &str) -> Result<(), String> {
        self.shared
            .delegated
            .decide_device_code(user_code, None, self.shared.clock.now())
    }

    /// Revoke the user's sign-in sessions (`Revoke-MgUserSignInSession`): refresh tokens
    /// from earlier sign-ins answer AADSTS50173. Returns false for an unknown user.
    pub fn revoke_sign_in_sessions(&self, upn: &str) -> bool {
        let directory = self.shared.directory();
        match directory.tenants.iter().find_map(|t| t.user(upn).map(|u| (t, u))) {
            Some((t, u)) => {
                self.shared
                    .delegated
                    .revoke_user(&t.id, &u.object_id, self.shared.clock.now());
                true
            }
            None => false,
        }
    }

    /// Stop accepting, let requests in flight finish (bounded), and wait briefly.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        tokio::task::yield_now().await;
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(dir) = &self.temp_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
