//! The running server and its Rust API, shaped like wiremock-rs:
//! `MockServer::start().await` serves the demo tenant on `127.0.0.1:0`, a builder
//! changes directory, ports and clock, and dropping the server shuts it down.

use crate::admin::{Admin, AdminAccess};
use crate::clock::Clock;
use crate::directory::{fixture, Directory};
use crate::https::HttpConfig;
use crate::identity::store::DeviceCodeError;
use crate::identity::{self, DescriptionLayout, IdentityConfig, IdentityState, TokenLifetime};
use crate::imap::{ImapConfig, ImapState};
use crate::journal::{Journal, JournalEntry};
use crate::pop3::{Pop3Config, Pop3State};
use crate::smtp::{SmtpConfig, SmtpState};
use crate::state::{Core, CoreError};
use crate::tls;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The default HTTPS port of the command-line server.
pub const DEFAULT_HTTPS_PORT: u16 = 8443;
/// Default ports of the command-line server.
pub const DEFAULT_IMAPS_PORT: u16 = 9993;
pub const DEFAULT_IMAP_PORT: u16 = 9143;
/// POP3 with implicit TLS (995 at Microsoft) and with STLS (110).
pub const DEFAULT_POP3S_PORT: u16 = 9995;
pub const DEFAULT_POP3_PORT: u16 = 9110;
/// SMTP submission with STARTTLS (587 at Microsoft).
pub const DEFAULT_SMTP_PORT: u16 = 9587;

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
    #[error("{0}")]
    Core(#[from] CoreError),
    #[error("faults: {0}")]
    Fault(String),
}

/// Configure a server before starting it.
#[derive(Debug)]
pub struct MockServerBuilder {
    directory: Option<Directory>,
    bind: IpAddr,
    ipv6_loopback_too: bool,
    https_port: u16,
    ca_dir: Option<PathBuf>,
    hostnames: Vec<String>,
    clock: Clock,
    identity: IdentityConfig,
    http: HttpConfig,
    imaps_port: u16,
    imap_port: u16,
    imap: ImapConfig,
    smtp_port: u16,
    smtp: SmtpConfig,
    admin: AdminAccess,
    journal_file: Option<PathBuf>,
    journal_max_bytes: usize,
    mailbox_limits: crate::mailstore::MailboxLimits,
    faults: Vec<crate::faults::Fault>,
    verify_faults_on_drop: bool,
    pop3s_port: u16,
    pop3_port: u16,
    pop3: Pop3Config,
}

impl Default for MockServerBuilder {
    fn default() -> Self {
        Self {
            directory: None,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ipv6_loopback_too: false,
            https_port: 0,
            ca_dir: None,
            hostnames: Vec::new(),
            clock: Clock::system(),
            identity: IdentityConfig::default(),
            http: HttpConfig::default(),
            imaps_port: 0,
            imap_port: 0,
            imap: ImapConfig::default(),
            smtp_port: 0,
            smtp: SmtpConfig::default(),
            admin: AdminAccess {
                enabled: true,
                token: None,
            },
            journal_file: None,
            journal_max_bytes: crate::journal::DEFAULT_JOURNAL_MAX_BYTES,
            mailbox_limits: crate::mailstore::MailboxLimits::default(),
            faults: Vec::new(),
            verify_faults_on_drop: true,
            pop3s_port: 0,
            pop3_port: 0,
            pop3: Pop3Config::default(),
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

    /// When bound to 127.0.0.1, listen on `::1` as well, on the same ports: for names a
    /// hosts file maps to both (`mock-server hosts install` does), which many clients try
    /// on `::1` first. A machine without IPv6 loopback is tolerated (nothing more is bound;
    /// [`MockServer::ipv6_loopback_addrs`] is then empty); a `::1` port another program
    /// holds is an error, since clients trying `::1` first would reach that program. The
    /// connection limits count per address.
    pub fn ipv6_loopback_too(mut self, on: bool) -> Self {
        self.ipv6_loopback_too = on;
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
        self.http = HttpConfig {
            header_read_timeout,
            max_header_bytes,
            max_connections,
            ..self.http
        };
        self
    }

    /// Time from a request's head to its answer, body included (default
    /// [`crate::https::HTTP_REQUEST_TIMEOUT`]); later, `408` and the connection closes.
    pub fn http_request_timeout(mut self, timeout: Duration) -> Self {
        self.http.request_timeout = timeout;
        self
    }

    /// Close an HTTP/1 keep-alive or HTTP/2 connection with no request in flight for
    /// this long (default [`crate::https::HTTP_IDLE_TIMEOUT`]).
    pub fn http_idle_timeout(mut self, timeout: Duration) -> Self {
        self.http.idle_timeout = timeout;
        self
    }

    /// HTTP/2 PING interval and acknowledgement deadline (defaults
    /// [`crate::https::HTTP2_KEEP_ALIVE_INTERVAL`], [`crate::https::HTTP2_KEEP_ALIVE_TIMEOUT`]).
    pub fn http2_keep_alive(mut self, interval: Duration, timeout: Duration) -> Self {
        self.http.http2_keep_alive_interval = interval;
        self.http.http2_keep_alive_timeout = timeout;
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

    /// SMTP submission with STARTTLS (`smtp.office365.com:587`); 0 picks a free port.
    pub fn smtp_port(mut self, port: u16) -> Self {
        self.smtp_port = port;
        self
    }

    /// SMTP behaviour: personality, limits, timeouts.
    pub fn smtp_config(mut self, config: SmtpConfig) -> Self {
        self.smtp = config;
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

    /// Memory the in-memory journal may hold, in bytes (default
    /// [`crate::journal::DEFAULT_JOURNAL_MAX_BYTES`]); older entries are dropped from
    /// memory first and stay in the journal file when there is one.
    pub fn journal_max_bytes(mut self, bytes: usize) -> Self {
        self.journal_max_bytes = bytes;
        self
    }

    /// Every mailbox's limits: quota in bytes, messages, folders and folder depth
    /// (default [`crate::mailstore::MailboxLimits::default`]: Exchange Online's folder
    /// limits and a 1 GiB quota, the mail being held in memory). Past them APPEND and COPY
    /// answer `NO … failed: the mailbox is full: …`, CREATE and RENAME too, and SMTP
    /// delivers no copy to that mailbox.
    pub fn mailbox_limits(mut self, limits: crate::mailstore::MailboxLimits) -> Self {
        self.mailbox_limits = limits;
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

    /// The AADSTS number for client credentials on /common: 9001023 (default, the
    /// service's answers) or 90010 (MSAL.NET's own message).
    pub fn multi_tenant_grant_error_code(mut self, code: u32) -> Self {
        self.identity.multi_tenant_grant_error_code = code;
        self
    }

    /// POP3 with implicit TLS (995 at Microsoft); 0 picks a free port.
    pub fn pop3s_port(mut self, port: u16) -> Self {
        self.pop3s_port = port;
        self
    }

    /// POP3 with STLS (110 at Microsoft); 0 picks a free port.
    pub fn pop3_port(mut self, port: u16) -> Self {
        self.pop3_port = port;
        self
    }

    /// POP3 behaviour: personality, XOAUTH2 strictness, limits, timeouts.
    pub fn pop3_config(mut self, config: Pop3Config) -> Self {
        self.pop3 = config;
        self
    }

    pub async fn start(self) -> Result<MockServer, StartError> {
        let directory = match self.directory {
            Some(d) => d,
            None => fixture::demo_tenant()?,
        };
        let journal = match &self.journal_file {
            Some(path) => {
                Journal::with_file_and_max_bytes(path, self.journal_max_bytes).map_err(|source| StartError::Io {
                    path: path.clone(),
                    source,
                })?
            }
            None => Journal::with_max_bytes(self.journal_max_bytes),
        };
        let faults = crate::faults::Faults::default();
        for (i, f) in self.faults.into_iter().enumerate() {
            faults
                .arm(f)
                .map_err(|e| StartError::Fault(format!("fault {}: {e}", i + 1)))?;
        }
        let core = Arc::new(Core::with_parts(directory, self.clock, journal, faults)?);
        core.store.set_limits(self.mailbox_limits);
        let tls = tls::build(self.ca_dir.as_deref(), &self.hostnames)?;

        let twin = self.ipv6_loopback_too && self.bind == IpAddr::V4(Ipv4Addr::LOCALHOST);
        let mut ipv6_addrs = Vec::new();
        let addr = SocketAddr::new(self.bind, self.https_port);
        let (listener, https6) = bind_listener(self.bind, self.https_port, twin).await?;
        let local = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        let url_host = crate::net::url_host(local);
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

        let identity = Arc::new(IdentityState {
            core: core.clone(),
            config: self.identity,
            https_url: https_url.clone(),
            authorities,
            delegated: identity::delegated::DelegatedState::default(),
        });
        let admin = Admin::new(core.clone(), identity.clone());
        let imap = Arc::new(ImapState::new(core.clone(), self.imap));
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        // IMAP gets the same certificate without ALPN: rustls refuses a client that
        // offers only protocols the server does not list (curl offers none, others "imap").
        let mut imap_tls = (*tls.server_config).clone();
        imap_tls.alpn_protocols.clear();
        let imap_acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(imap_tls));
        let acceptor = tokio_rustls::TlsAcceptor::from(tls.server_config);
        let routes = Arc::new(crate::https::Routes {
            identity: identity.clone(),
            admin: admin.clone(),
            access: self.admin,
        });
        let mut tasks = Vec::new();
        for l in std::iter::once(listener).chain(https6) {
            ipv6_addrs.extend(l.local_addr().ok().filter(SocketAddr::is_ipv6));
            tasks.push(tokio::spawn(crate::https::accept_loop(
                l,
                acceptor.clone(),
                routes.clone(),
                self.http.clone(),
                shutdown_rx.clone(),
            )));
        }
        let mut imap_addrs = Vec::new();
        for (port, implicit) in [(self.imaps_port, true), (self.imap_port, false)] {
            let (l, l6) = bind_listener(self.bind, port, twin).await?;
            let addr = SocketAddr::new(self.bind, port);
            imap_addrs.push(l.local_addr().map_err(|source| StartError::Bind { addr, source })?);
            for l in std::iter::once(l).chain(l6) {
                ipv6_addrs.extend(l.local_addr().ok().filter(SocketAddr::is_ipv6));
                tasks.push(tokio::spawn(crate::imap::conn::accept_loop(
                    l,
                    imap_acceptor.clone(),
                    implicit,
                    imap.clone(),
                    shutdown_rx.clone(),
                )));
            }
        }

        let pop3 = Arc::new(Pop3State::new(core.clone(), self.pop3));
        let mut pop3_addrs = Vec::new();
        for (port, implicit) in [(self.pop3s_port, true), (self.pop3_port, false)] {
            let (l, l6) = bind_listener(self.bind, port, twin).await?;
            let addr = SocketAddr::new(self.bind, port);
            pop3_addrs.push(l.local_addr().map_err(|source| StartError::Bind { addr, source })?);
            for l in std::iter::once(l).chain(l6) {
                ipv6_addrs.extend(l.local_addr().ok().filter(SocketAddr::is_ipv6));
                // The same acceptor as IMAP's: no ALPN, for the same reason.
                tasks.push(tokio::spawn(crate::pop3::conn::accept_loop(
                    l,
                    imap_acceptor.clone(),
                    implicit,
                    pop3.clone(),
                    shutdown_rx.clone(),
                )));
            }
        }

        // SMTP: STARTTLS on the plain port, the IMAP certificate (no ALPN either).
        let smtp = Arc::new(SmtpState::new(core.clone(), self.smtp));
        let smtp_addr = {
            let addr = SocketAddr::new(self.bind, self.smtp_port);
            let (l, l6) = bind_listener(self.bind, self.smtp_port, twin).await?;
            let local = l.local_addr().map_err(|source| StartError::Bind { addr, source })?;
            for l in std::iter::once(l).chain(l6) {
                ipv6_addrs.extend(l.local_addr().ok().filter(SocketAddr::is_ipv6));
                tasks.push(tokio::spawn(crate::smtp::conn::accept_loop(
                    l,
                    imap_acceptor.clone(),
                    smtp.clone(),
                    shutdown_rx.clone(),
                )));
            }
            local
        };

        // Listeners are up: seed aws-lc's generator off the start-up path (tls.rs says why).
        tls::warm_up_rng();
        Ok(MockServer {
            core,
            identity,
            imap,
            pop3,
            pop3s_addr: pop3_addrs[0],
            pop3_addr: pop3_addrs[1],
            smtp,
            smtp_addr,
            admin,
            https_addr: local,
            imaps_addr: imap_addrs[0],
            imap_addr: imap_addrs[1],
            https_url,
            ca_pem: tls.ca_pem,
            ca_file,
            temp_dir,
            shutdown: shutdown_tx,
            tasks,
            verify_faults_on_drop: self.verify_faults_on_drop,
            ipv6_addrs,
        })
    }
}

/// Listen on `bind:port`, and with `ipv6_twin` also on `[::1]` at the same port. With
/// port 0 the twin's port may be taken on `::1` alone: then both are chosen again.
async fn bind_listener(
    bind: IpAddr,
    port: u16,
    ipv6_twin: bool,
) -> Result<(TcpListener, Option<TcpListener>), StartError> {
    let addr = SocketAddr::new(bind, port);
    let mut tries = 0;
    loop {
        let l = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        if !ipv6_twin {
            return Ok((l, None));
        }
        let local = l.local_addr().map_err(|source| StartError::Bind { addr, source })?;
        let addr6 = SocketAddr::new(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), local.port());
        match TcpListener::bind(addr6).await {
            Ok(l6) => return Ok((l, Some(l6))),
            Err(e) if no_ipv6_loopback(&e) => return Ok((l, None)),
            Err(e) if port == 0 && e.kind() == std::io::ErrorKind::AddrInUse && tries < 20 => tries += 1,
            Err(source) => return Err(StartError::Bind { addr: addr6, source }),
        }
    }
}

/// The errors of a machine without `::1`: IPv6 off on `lo` (EADDRNOTAVAIL) or not in the
/// kernel at all (EAFNOSUPPORT).
fn no_ipv6_loopback(e: &std::io::Error) -> bool {
    // EAFNOSUPPORT: 97 on Linux, 47 on macOS and the BSDs.
    let eafnosupport = if cfg!(target_os = "linux") { 97 } else { 47 };
    e.kind() == std::io::ErrorKind::AddrNotAvailable || e.raw_os_error() == Some(eafnosupport)
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// A running server. Dropping it stops it.
pub struct MockServer {
    core: Arc<Core>,
    identity: Arc<IdentityState>,
    imap: Arc<ImapState>,
    smtp: Arc<SmtpState>,
    smtp_addr: SocketAddr,
    admin: Admin,
    https_addr: SocketAddr,
    imaps_addr: SocketAddr,
    imap_addr: SocketAddr,
    https_url: String,
    ca_pem: String,
    ca_file: PathBuf,
    temp_dir: Option<PathBuf>,
    shutdown: watch::Sender<bool>,
    /// The accept loops; each waits for its connections when the server stops.
    tasks: Vec<JoinHandle<()>>,
    verify_faults_on_drop: bool,
    pop3: Arc<Pop3State>,
    pop3s_addr: SocketAddr,
    pop3_addr: SocketAddr,
    ipv6_addrs: Vec<SocketAddr>,
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

    /// The `[::1]` twins of the listeners ([`MockServerBuilder::ipv6_loopback_too`]):
    /// HTTPS, IMAPS, IMAP, POP3S, POP3, SMTP in that order; empty when not asked for or
    /// when this machine has no IPv6 loopback.
    pub fn ipv6_loopback_addrs(&self) -> &[SocketAddr] {
        &self.ipv6_addrs
    }

    /// IMAP with implicit TLS.
    pub fn imaps_addr(&self) -> SocketAddr {
        self.imaps_addr
    }

    /// IMAP with STARTTLS.
    pub fn imap_addr(&self) -> SocketAddr {
        self.imap_addr
    }

    /// POP3 with implicit TLS.
    pub fn pop3s_addr(&self) -> SocketAddr {
        self.pop3s_addr
    }

    /// POP3 with STLS.
    pub fn pop3_addr(&self) -> SocketAddr {
        self.pop3_addr
    }

    /// POP3 authentications and session ends recorded so far, with their reasons.
    pub fn pop3_events(&self) -> Vec<JournalEntry> {
        self.core
            .journal
            .entries()
            .into_iter()
            .filter(|e| e.protocol == "pop3")
            .collect()
    }

    /// A sans-I/O POP3 session on this server's state, as a connection would get, for
    /// property tests and fuzzing (no socket involved).
    pub fn pop3_session(&self, tls: bool) -> crate::pop3::session::Session {
        crate::pop3::session::Session::new(self.pop3.clone(), "fuzz".into(), tls)
    }

    /// SMTP submission with STARTTLS.
    pub fn smtp_addr(&self) -> SocketAddr {
        self.smtp_addr
    }

    /// Every message SMTP accepted (local and external recipients), oldest first, up to
    /// [`crate::mailstore::outbox::MAX_OUTBOX_MESSAGES`].
    pub fn sent_mail(&self) -> Vec<crate::mailstore::SentMail> {
        self.core.store.outbox.list(0)
    }

    /// SMTP authentications, refusals and deliveries recorded so far, with their reasons.
    pub fn smtp_events(&self) -> Vec<JournalEntry> {
        self.core
            .journal
            .entries()
            .into_iter()
            .filter(|e| e.protocol == "smtp")
            .collect()
    }

    /// A sans-I/O SMTP session on this server's state, as a connection would get (no
    /// socket), for property tests and fuzzing.
    pub fn smtp_session(&self) -> crate::smtp::session::Session {
        crate::smtp::session::Session::new(self.smtp.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))
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
        &self.core.clock
    }

    /// Everything recorded so far, oldest first.
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.core.journal.entries()
    }

    /// IMAP authentications and session ends recorded so far, with their reasons.
    pub fn imap_events(&self) -> Vec<JournalEntry> {
        self.core
            .journal
            .entries()
            .into_iter()
            .filter(|e| e.protocol == "imap")
            .collect()
    }

    /// Token requests (issued and refused) recorded so far, with secrets masked and the
    /// reason for every refusal.
    pub fn token_requests(&self) -> Vec<JournalEntry> {
        self.core
            .journal
            .entries()
            .into_iter()
            .filter(|e| e.protocol == "https")
            .collect()
    }

    /// Client bytes all IMAP sessions hold right now (unframed input, partial messages):
    /// what the line and literal limits bound.
    pub fn imap_buffered_bytes(&self) -> usize {
        self.imap.buffered_bytes()
    }

    /// A sans-I/O IMAP session on this server's state, as a connection would get, for
    /// property tests and fuzzing (no socket involved).
    pub fn imap_session(&self, tls: bool) -> crate::imap::session::Session {
        crate::imap::session::Session::new(self.imap.clone(), "fuzz".into(), tls)
    }

    /// Deliver a message (RFC 5322 bytes) to a folder of a mailbox, as if it arrived from
    /// outside; idling IMAP sessions see `* n EXISTS`. Returns its UID.
    pub fn deliver(&self, address: &str, folder: &str, raw: &[u8]) -> Result<u32, crate::mailstore::StoreError> {
        self.core.store.deliver(
            address,
            folder,
            raw,
            crate::mailstore::Flags::default(),
            Some(self.core.clock.now()),
        )
    }

    /// The mail store (to check what clients appended, moved or deleted).
    pub fn store(&self) -> &crate::mailstore::Store {
        &self.core.store
    }

    /// A copy of the directory as it is now.
    pub fn directory(&self) -> Directory {
        self.core.directory().clone()
    }

    /// What the ready file holds.
    pub fn ready_info(&self) -> serde_json::Value {
        let directory = self.core.directory();
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
            "pop3s_addr": self.pop3s_addr.to_string(),
            "pop3_addr": self.pop3_addr.to_string(),
            "smtp_addr": self.smtp_addr.to_string(),
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
    pub fn approve_device_code(&self, user_code: &str, upn: &str) -> Result<(), DeviceCodeError> {
        let now = self.core.clock.now();
        let user = {
            let directory = self.core.directory();
            let (tenant, user) = directory
                .tenants
                .iter()
                .find_map(|t| t.user(upn).map(|u| (t, u)))
                .ok_or_else(|| DeviceCodeError::UnknownUser(upn.to_string()))?;
            if !user.account_enabled {
                return Err(DeviceCodeError::Disabled(upn.to_string()));
            }
            identity::delegated::SignedIn {
                tenant_id: tenant.id.clone(),
                oid: user.object_id.clone(),
                upn: user.upn.clone(),
                auth_time: now,
            }
        };
        self.identity.delegated.decide_device_code(user_code, Some(user), now)
    }

    /// Decline a pending device code, as the Cancel button does: polling answers
    /// `authorization_declined`.
    pub fn decline_device_code(&self, user_code: &str) -> Result<(), DeviceCodeError> {
        self.identity
            .delegated
            .decide_device_code(user_code, None, self.core.clock.now())
    }

    /// Revoke the user's sign-in sessions (`Revoke-MgUserSignInSession`): refresh tokens
    /// from earlier sign-ins answer AADSTS50173. Returns false for an unknown user.
    pub fn revoke_sign_in_sessions(&self, upn: &str) -> bool {
        let directory = self.core.directory();
        match directory.tenants.iter().find_map(|t| t.user(upn).map(|u| (t, u))) {
            Some((t, u)) => {
                self.identity
                    .delegated
                    .revoke_user(&t.id, &u.object_id, self.core.clock.now());
                true
            }
            None => false,
        }
    }

    /// The administrator's verbs (the same as the admin API's).
    pub fn admin(&self) -> crate::admin::Admin {
        self.admin.clone()
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

    pub fn try_arm(&self, fault: crate::faults::Fault) -> Result<u64, crate::faults::FaultError> {
        self.core.faults.arm(fault)
    }

    /// Arm a fault for the life of the returned guard: dropping it disarms the fault and
    /// verifies its `expect` (panicking, as wiremock-rs's `MockGuard` does).
    ///
    /// # Panics
    /// As [`MockServer::arm`].
    pub fn arm_scoped(&self, fault: crate::faults::Fault) -> FaultGuard {
        FaultGuard {
            id: self.arm(fault),
            core: self.core.clone(),
        }
    }

    /// Armed faults with how often each fired.
    pub fn faults(&self) -> Vec<crate::faults::Armed> {
        self.core.faults.list()
    }

    /// Disarm a fault; returns it with its count.
    pub fn disarm(&self, id: u64) -> Option<crate::faults::Armed> {
        self.core.faults.disarm(id)
    }

    /// Check every `expect` now; `Err` lists the unmet ones.
    pub fn verify_faults(&self) -> Result<(), crate::faults::UnmetExpectations> {
        let lines = crate::faults::unmet(&self.core.faults.list());
        if lines.is_empty() {
            Ok(())
        } else {
            Err(crate::faults::UnmetExpectations { lines })
        }
    }

    /// Stop accepting, and wait until the connections in flight have finished their
    /// request or said BYE (bounded by [`crate::net::SHUTDOWN_GRACE`]).
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }

    /// A client-credentials token for a demo app (`mock_server::demo::POLLER`, …) and
    /// Exchange Online (`https://outlook.office365.com/.default`).
    ///
    /// The token is asked of this server's own token endpoint over HTTPS, exactly as a
    /// client asks: the same route, checks, journal entry and armed `token` faults, and
    /// nothing that depends on how the identity module is organised inside.
    ///
    /// # Panics
    /// When no token comes back (a public client, an expired secret, a token fault
    /// armed, a changed directory): the message carries the server's answer.
    /// [`MockServer::try_app_token`] returns it instead.
    pub async fn app_token(&self, app: crate::demo::App) -> String {
        match self.try_app_token(app).await {
            Ok(token) => token,
            Err(e) => panic!("no token for {} ({}): {e}", app.display_name, app.client_id),
        }
    }

    /// As [`MockServer::app_token`], with the server's answer as the error.
    pub async fn try_app_token(&self, app: crate::demo::App) -> Result<String, crate::demo::AppTokenError> {
        crate::demo::request_app_token(self.https_addr, &self.ca_pem, app).await
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        let unmet = crate::faults::unmet(&self.core.faults.list());
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
    core: Arc<Core>,
}

impl FaultGuard {
    pub fn id(&self) -> u64 {
        self.id
    }

    /// How often the fault fired so far.
    pub fn fired(&self) -> u64 {
        self.core.faults.get(self.id).map(|a| a.fired).unwrap_or(0)
    }
}

impl Drop for FaultGuard {
    fn drop(&mut self) {
        let Some(armed) = self.core.faults.disarm(self.id) else {
            return;
        };
        let unmet = crate::faults::unmet(std::slice::from_ref(&armed));
        if !unmet.is_empty() && !std::thread::panicking() {
            // Deliberate, as wiremock-rs's MockGuard: the scoped expectation failed.
            panic!("mock-server: {}", unmet.join("\n"));
        }
    }
}
