//! Exchange Online's IMAP4 server with XOAUTH2.
//!
//! `conn` is the only module that touches sockets; `session` is a sans-I/O state machine
//! (decoded commands in, response bytes out, never awaits); `personality` holds
//! Exchange's exact strings; `mail` answers the mailbox commands from the mail store.

pub mod conn;
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
/// Exchange's `PreAuthenticatedConnectionTimeout` default, 1 minute.
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
    pub idle_timeout: Duration,
    pub pre_auth_timeout: Duration,
    pub max_failed_auth: u32,
    /// Longest command line ([`MAX_COMMAND_LINE`]).
    pub max_command_line: usize,
    /// Longest SASL response line ([`MAX_SASL_LINE`]).
    pub max_sasl_line: usize,
    /// Largest literal, e.g. an APPENDed message ([`MAX_LITERAL`]).
    pub max_literal: u32,
    /// Sessions per mailbox ([`MAX_CONNECTIONS_PER_USER`]).
    pub max_connections_per_user: u32,
    /// IMAP connections in all ([`MAX_IMAP_CONNECTIONS`]).
    pub max_connections: usize,
    /// A write that takes longer ends the connection: a client that stopped reading
    /// ([`conn::WRITE_TIMEOUT`]).
    pub write_timeout: Duration,
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
            max_command_line: MAX_COMMAND_LINE,
            max_sasl_line: MAX_SASL_LINE,
            max_literal: MAX_LITERAL,
            max_connections_per_user: MAX_CONNECTIONS_PER_USER,
            max_connections: MAX_IMAP_CONNECTIONS,
            write_timeout: conn::WRITE_TIMEOUT,
        }
    }
}

/// The IMAP server's state: the shared core, its configuration, and the open sessions
/// per mailbox (for `max_connections_per_user`).
#[derive(Debug)]
pub struct ImapState {
    pub core: std::sync::Arc<crate::state::Core>,
    pub config: ImapConfig,
    sessions_per_mailbox: std::sync::Mutex<std::collections::HashMap<String, u32>>,
}

impl ImapState {
    pub fn new(core: std::sync::Arc<crate::state::Core>, config: ImapConfig) -> Self {
        Self {
            core,
            config,
            sessions_per_mailbox: std::sync::Mutex::default(),
        }
    }

    /// The per-mailbox session counts. Held only to read or bump a count, never across an
    /// `.await`; a poisoned lock still holds valid counts.
    pub(crate) fn sessions_per_mailbox(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, u32>> {
        self.sessions_per_mailbox
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
