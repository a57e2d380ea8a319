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
    /// The directory as loaded at start, for "reset to the fixture".
    pub(crate) fixture: Directory,
    /// Replaced whole when the signing key rotates; readers take an `Arc` and never hold
    /// the lock while signing or verifying.
    authority: RwLock<Arc<Authority>>,
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
    /// Scripted faults the layers ask about.
    pub(crate) faults: crate::faults::Faults,
    /// Who may use the admin API.
    pub(crate) admin: AdminAccess,
    /// Open IMAP sessions per mailbox (for `max_connections_per_user`).
    imap_sessions_per_mailbox: std::sync::Mutex<std::collections::HashMap<String, u32>>,
}

/// The admin API's gate: on or off, and the optional bearer token.
#[derive(Clone, Default)]
pub struct AdminAccess {
    pub enabled: bool,
    pub token: Option<crate::secret::Secret<String>>,
}

impl std::fmt::Debug for AdminAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminAccess")
            .field("enabled", &self.enabled)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Shared {
    /// The per-mailbox session counts. Held only to read or bump a count, never across an
    /// `.await`; a poisoned lock still holds valid counts.
    pub(crate) fn imap_sessions_per_mailbox(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, u32>> {
        self.imap_sessions_per_mailbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Read access to the directory. Readers never hold it across an `.await`.
    pub fn directory(&self) -> RwLockReadGuard<'_, Directory> {
        // The directory is replaced whole by writers, so a poisoned lock still guards a
        // consistent value.
        self.directory.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Change the directory all-or-nothing: `f` works on a copy that replaces the
    /// directory only when it returns `Ok`. Sessions see the change at their next
    /// AUTHENTICATE, token requests at their next request.
    pub fn update_directory<R, E>(&self, f: impl FnOnce(&mut Directory) -> Result<R, E>) -> Result<R, E> {
        // Writers are serialised by this lock; the copy keeps a failed change invisible.
        let mut guard = self.directory.write().unwrap_or_else(PoisonError::into_inner);
        let mut copy = guard.clone();
        let r = f(&mut copy)?;
        *guard = copy;
        Ok(r)
    }

    /// The token authority as it is now (keys rotate at run time).
    pub fn authority(&self) -> Arc<Authority> {
        // Replaced whole by rotation: a poisoned lock still guards a consistent value.
        self.authority.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub(crate) fn set_authority(&self, authority: Authority) {
        // As in `authority`: the value is replaced whole.
        *self.authority.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(authority);
    }

    /// Ask whether a fault is armed for this probe; a firing is journaled here.
    pub fn fire(&self, probe: &crate::faults::Probe<'_>, peer: Option<String>) -> Option<crate::faults::Fired> {
        if !self.faults.any(probe.hook) {
            return None;
        }
        let fired = self.faults.take(probe)?;
        let what = fired.fault.describe();
        tracing::info!(fault = fired.id, %what, "fault fired");
        self.journal.record(JournalEntry {
            seq: 0,
            at: self.clock.now(),
            protocol: if probe.hook == crate::faults::Hook::Token {
                "https"
            } else {
                "imap"
            },
            peer,
            request: probe.command.map(str::to_string).unwrap_or_else(|| probe.hook.name()),
            summary: String::new(),
            outcome: crate::journal::Outcome::Fault,
            status: 0,
            tenant: None,
            client_id: probe.client_id.map(str::to_string),
            error_code: fired.fault.code,
            error: None,
            reason: Some(format!("scripted fault #{} fired: {what}", fired.id)),
            fix: Some(format!("disarm fault #{} (remove-fault --id {})", fired.id, fired.id)),
            details: serde_json::to_value(&fired.fault).unwrap_or_default(),
        });
        Some(fired)
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
    #[error("faults: {0}")]
    Fault(String),
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
    admin: AdminAccess,
    journal_file: Option<PathBuf>,
    faults: Vec<crate::faults::Fault>,
    verify_faults_on_drop: bool,
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
            admin: AdminAccess {
                enabled: true,
                token: None,
            },
            journal_file: None,
            faults: Vec::new(),
            verify_faults_on_drop: true,
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

    /// HTTP limits: time to send a request head, its size, connections at once.
    pub fn http_limits(
        mut self,
        header_read_timeout: Duration,
        max_header_bytes: usize,
        max_connections: usize,
    ) -> Self {
        self.identity.header_read_timeout = header_read_timeout;
        self.identity.max_header_bytes = max_header_bytes;
        self.identity.max_connections = max_connections;
        self
    }

    /// Largest token-request body in bytes (larger ones get 413).
    pub fn http_max_request_body(mut self, bytes: usize) -> Self {
        self.identity.max_request_body = bytes;
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

    /// Serve the admin API under `/_mock/admin/` to loopback peers (on by default).
    pub fn admin_api(mut self, on: bool) -> Self {
        self.admin.enabled = on;
        self
    }

    /// Require `Authorization: Bearer <token>` on the admin API.
    pub fn admin_token(mut self, token: impl Into<String>) -> Self {
        self.admin.token = Some(crate::secret::Secret::new(token.into()));
        self
    }

    /// Append every journal entry to this file as a JSON line.
    pub fn journal_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.journal_file = Some(path.into());
        self
    }

    /// Arm a fault from the start (as `--faults FILE` does).
    pub fn fault(mut self, fault: crate::faults::Fault) -> Self {
        self.faults.push(fault);
        self
    }

    /// Whether dropping the server panics when a fault's `expect` is not met (default:
    /// true, as wiremock-rs does, for tests). The command-line server turns it off and
    /// logs unmet expectations instead.
    pub fn verify_faults_on_drop(mut self, on: bool) -> Self {
        self.verify_faults_on_drop = on;
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
        let journal = match &self.journal_file {
            Some(path) => Journal::with_file(path).map_err(|source| StartError::Io {
                path: path.clone(),
                source,
            })?,
            None => Journal::default(),
        };
        let faults = crate::faults::Faults::default();
        for (i, f) in self.faults.into_iter().enumerate() {
            faults
                .arm(f)
                .map_err(|e| StartError::Fault(format!("fault {}: {e}", i + 1)))?;
        }
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
            fixture: directory.clone(),
            directory: RwLock::new(directory),
            authority: RwLock::new(Arc::new(authority)),
            clock: self.clock,
            journal,
            faults,
            admin: self.admin,
            identity: self.identity,
            https_url: https_url.clone(),
            authorities,
            store,
            delegated: identity::delegated::DelegatedState::default(),
            imap_sessions_per_mailbox: std::sync::Mutex::default(),
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
            verify_faults_on_drop: self.verify_faults_on_drop,
        })
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Accept TCP connections until the server stops, at most `max` at once (more are
/// accepted and closed at once), and run `serve` for each in its own task, which holds
/// its connection slot until it returns. Shared by the HTTPS and both IMAP listeners.
pub(crate) async fn accept_connections<F, Fut>(
    listener: TcpListener,
    max: usize,
    what: &'static str,
    mut shutdown: watch::Receiver<bool>,
    serve: F,
) where
    F: Fn(tokio::net::TcpStream, SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let limit = Arc::new(Semaphore::new(max));
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
                tracing::warn!(error = %e, "{what} accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "{what} connection limit reached; closing");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let connection = serve(tcp, peer);
        tokio::spawn(async move {
            let _permit = permit;
            connection.await;
        });
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) {
    let max = shared.identity.max_connections;
    let stop = shutdown.clone();
    accept_connections(listener, max, "HTTPS", stop, move |tcp, peer| {
        let acceptor = acceptor.clone();
        let shared = shared.clone();
        let mut shutdown = shutdown.clone();
        async move {
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
                .header_read_timeout(shared.identity.header_read_timeout)
                .max_buf_size(shared.identity.max_header_bytes);
            builder
                .http2()
                .timer(TokioTimer::new())
                .max_header_list_size(u32::try_from(shared.identity.max_header_bytes).unwrap_or(u32::MAX));
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
        }
    })
    .await
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
    verify_faults_on_drop: bool,
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

    /// The administrator's verbs (the same as the admin API's).
    pub fn admin(&self) -> crate::admin::Admin {
        crate::admin::Admin::new(self.shared.clone())
    }

    /// Arm a fault until the server stops; its `expect` is verified when the server drops.
    ///
    /// # Panics
    /// When the fault is inconsistent (a bug in the test); [`MockServer::try_arm`] returns
    /// the reason instead.
    pub fn arm(&self, fault: crate::faults::Fault) -> u64 {
        match self.try_arm(fault) {
            Ok(id) => id,
            Err(e) => panic!("invalid fault: {e}"),
        }
    }

    pub fn try_arm(&self, fault: crate::faults::Fault) -> Result<u64, String> {
        self.shared.faults.arm(fault)
    }

    /// Arm a fault for the life of the returned guard: dropping it disarms the fault and
    /// verifies its `expect` (panicking, as wiremock-rs's `MockGuard` does).
    ///
    /// # Panics
    /// As [`MockServer::arm`].
    pub fn arm_scoped(&self, fault: crate::faults::Fault) -> FaultGuard {
        FaultGuard {
            id: self.arm(fault),
            shared: self.shared.clone(),
        }
    }

    /// Armed faults with how often each fired.
    pub fn faults(&self) -> Vec<crate::faults::Armed> {
        self.shared.faults.list()
    }

    /// Disarm a fault; returns it with its count.
    pub fn disarm(&self, id: u64) -> Option<crate::faults::Armed> {
        self.shared.faults.disarm(id)
    }

    /// Check every `expect` now; `Err` lists the unmet ones.
    pub fn verify_faults(&self) -> Result<(), String> {
        let unmet = crate::faults::unmet(&self.shared.faults.list());
        if unmet.is_empty() {
            Ok(())
        } else {
            Err(unmet.join("\n"))
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
        let unmet = crate::faults::unmet(&self.shared.faults.list());
        if !unmet.is_empty() {
            if self.verify_faults_on_drop && !std::thread::panicking() {
                if let Some(dir) = &self.temp_dir {
                    let _ = std::fs::remove_dir_all(dir);
                }
                // Deliberate, as wiremock-rs does: a test that armed `.expect(n)` fails
                // here. Servers built for the command line turn this off.
                panic!("mock-server: fault expectations not met:\n{}", unmet.join("\n"));
            }
            for line in &unmet {
                tracing::warn!("{line}");
            }
        }
        if let Some(dir) = &self.temp_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A fault armed by [`MockServer::arm_scoped`]: disarmed, and its `expect` verified, on drop.
#[must_use = "the fault is disarmed when the guard drops"]
pub struct FaultGuard {
    id: u64,
    shared: Arc<Shared>,
}

impl FaultGuard {
    pub fn id(&self) -> u64 {
        self.id
    }

    /// How often the fault fired so far.
    pub fn fired(&self) -> u64 {
        self.shared.faults.get(self.id).map(|a| a.fired).unwrap_or(0)
    }
}

impl Drop for FaultGuard {
    fn drop(&mut self) {
        let Some(armed) = self.shared.faults.disarm(self.id) else {
            return;
        };
        let unmet = crate::faults::unmet(std::slice::from_ref(&armed));
        if !unmet.is_empty() && !std::thread::panicking() {
            // Deliberate, as wiremock-rs's MockGuard: the scoped expectation failed.
            panic!("mock-server: {}", unmet.join("\n"));
        }
    }
}
