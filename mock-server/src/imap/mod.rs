//! Exchange Online's IMAP4 server with XOAUTH2.
//!
//! # The shape (shared with the SMTP and POP3 modules)
//!
//! - `session` is the protocol, sans-I/O: [`Session::new`](session::Session::new) from
//!   an [`ImapState`] (built from a [`Core`](crate::state::Core) without sockets), then
//!   `open()` for the greeting, `receive(bytes)` for what the client sent and
//!   `next_reply()` until it returns `None`. Each [`Reply`](session::Reply) carries the
//!   bytes to write and an [`Action`](session::Action) (continue, close, start TLS).
//!   `deadline()` says when the connection ends if nothing more completes. Every
//!   decision is made there: limits, the literal go-ahead, the SASL line, IDLE's DONE,
//!   faults, the journal. Unit tests drive it with byte chunks cut anywhere.
//! - `framer` splits the bytes into messages within the limits; the session owns it.
//! - `conn` is the only module that touches sockets and it decides nothing: read, feed,
//!   write what comes out, do the TLS handshake when told, and wait (client bytes, a
//!   mailbox change while idling, the deadline, server shutdown).
//! - `personality` holds Exchange's exact strings; `mail` answers the mailbox commands
//!   from the mail store.

pub mod conn;
pub mod framer;
pub mod mail;
pub mod personality;
pub mod session;

use crate::sasl::xoauth2::Mode;
pub use personality::Personality;
use std::time::Duration;

/// Exchange's limit on a line during a SASL exchange (`MaxLineLength = 4096` in
/// Exchange 2013's ResponseFactory.StartAuthentication); tokens over it have failed on
/// Exchange Online since 2025-07-16 (MailKit #1948).
pub const MAX_SASL_LINE: usize = 4096;
/// Longest command line: Exchange's `MaxCommandSize` default (Set-ImapSettings), 10240.
pub const MAX_COMMAND_LINE: usize = 10240;
/// Largest literal (APPEND): Exchange Online's default maximum message size, 35 MB.
pub const MAX_LITERAL: u32 = 35 * 1024 * 1024;
/// Largest literal before authentication. Not Exchange's figure (unpublished): the only
/// literals a client has reason to send before it authenticates are LOGIN's user name and
/// password and ID's values, all far shorter; XOAUTH2's token travels in the AUTHENTICATE
/// line or the SASL line, never in a literal. So a stranger's `{36700160+}` is refused
/// without buffering a byte of it.
pub const MAX_PRE_AUTH_LITERAL: u32 = 4096;
/// Failed AUTHENTICATEs before `* BYE Connection is closed. 14` (Exchange's
/// MaxFailedLoginAttempts is unpublished for Exchange Online; 3 is the reference's advice).
pub const MAX_FAILED_AUTH: u32 = 3;
/// Commands allowed before authentication ("Session disconnected after 9 pre-auth
/// commands", Exchange 2013).
pub const MAX_PRE_AUTH_COMMANDS: u32 = 9;
/// Concurrent IMAP sessions on one mailbox: Exchange's `MaxConnectionsPerUser` default
/// (Set-ImapSettings), 16. More are authenticated but not connected (catalogue #22).
pub const MAX_CONNECTIONS_PER_USER: u32 = 16;
/// Autologout for authenticated sessions: RFC 3501's minimum and Exchange's
/// `AuthenticatedConnectionTimeout` default, 30 minutes.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Concurrent IMAP connections across both ports (sized for 10,000 idle sessions).
pub const MAX_IMAP_CONNECTIONS: usize = 20_000;
/// Exchange's `PreAuthenticatedConnectionTimeout` default, 1 minute, counted here from the
/// connection's start as a total deadline to authenticate (bytes that arrive do not
/// extend it).
pub const PRE_AUTH_TIMEOUT: Duration = Duration::from_secs(60);

/// How the IMAP server behaves.
#[derive(Debug, Clone)]
pub struct ImapConfig {
    pub personality: Personality,
    /// The first continuation of AUTHENTICATE: `+` (Exchange 2013, MailKit #178) or `+ `
    /// (RFC 3501).
    pub bare_continuation: bool,
    pub xoauth2_mode: Mode,
    /// Host name encoded in the greeting.
    pub fqdn: String,
    /// Autologout: no whole line for this long ([`IDLE_TIMEOUT`]).
    pub idle_timeout: Duration,
    /// Total time to authenticate, from the connection's start ([`PRE_AUTH_TIMEOUT`]).
    pub pre_auth_timeout: Duration,
    pub max_failed_auth: u32,
    /// Commands allowed before authentication ([`MAX_PRE_AUTH_COMMANDS`]).
    pub max_pre_auth_commands: u32,
    /// Longest command line ([`MAX_COMMAND_LINE`]).
    pub max_command_line: usize,
    /// Longest SASL response line ([`MAX_SASL_LINE`]).
    pub max_sasl_line: usize,
    /// Largest literal, e.g. an APPENDed message ([`MAX_LITERAL`]).
    pub max_literal: u32,
    /// Largest literal before authentication ([`MAX_PRE_AUTH_LITERAL`]).
    pub max_pre_auth_literal: u32,
    /// Sessions per mailbox ([`MAX_CONNECTIONS_PER_USER`]).
    pub max_connections_per_user: u32,
    /// IMAP connections in all ([`MAX_IMAP_CONNECTIONS`]).
    pub max_connections: usize,
    /// A write that takes longer ends the connection: a client that stopped reading
    /// ([`conn::WRITE_TIMEOUT`]).
    pub write_timeout: Duration,
    /// EXPUNGE follows its `* n EXPUNGE` lines with `* n EXISTS`, as Exchange 2013
    /// on-premises did (the wire reference's transcript). Off by default: Exchange Online
    /// answers without it (aioimaplib #67, outlook.office365.com, 2021).
    pub exists_after_expunge: bool,
}

impl Default for ImapConfig {
    fn default() -> Self {
        Self {
            personality: Personality::default(),
            bare_continuation: true,
            xoauth2_mode: Mode::Strict,
            fqdn: personality::DEFAULT_FQDN.to_string(),
            idle_timeout: IDLE_TIMEOUT,
            pre_auth_timeout: PRE_AUTH_TIMEOUT,
            max_failed_auth: MAX_FAILED_AUTH,
            max_pre_auth_commands: MAX_PRE_AUTH_COMMANDS,
            max_command_line: MAX_COMMAND_LINE,
            max_sasl_line: MAX_SASL_LINE,
            max_literal: MAX_LITERAL,
            max_pre_auth_literal: MAX_PRE_AUTH_LITERAL,
            max_connections_per_user: MAX_CONNECTIONS_PER_USER,
            max_connections: MAX_IMAP_CONNECTIONS,
            write_timeout: conn::WRITE_TIMEOUT,
            exists_after_expunge: false,
        }
    }
}

/// The IMAP server's state: the shared core, its configuration, the open sessions per
/// mailbox (for `max_connections_per_user`) and the client bytes all sessions hold.
#[derive(Debug)]
pub struct ImapState {
    pub core: std::sync::Arc<crate::state::Core>,
    pub config: ImapConfig,
    sessions_per_mailbox: std::sync::Mutex<std::collections::HashMap<String, u32>>,
    /// Client bytes buffered by all sessions (unframed input and partial messages).
    pub(crate) buffered: std::sync::atomic::AtomicUsize,
}

impl ImapState {
    pub fn new(core: std::sync::Arc<crate::state::Core>, config: ImapConfig) -> Self {
        Self {
            core,
            config,
            sessions_per_mailbox: std::sync::Mutex::default(),
            buffered: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Client bytes all sessions hold right now (input not yet framed, messages not yet
    /// complete): what the line and literal limits bound.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The per-mailbox session counts. Held only to read or bump a count, never across an
    /// `.await`; a poisoned lock still holds valid counts.
    pub(crate) fn sessions_per_mailbox(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, u32>> {
        self.sessions_per_mailbox
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
