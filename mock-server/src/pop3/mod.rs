//! Exchange Online's POP3 server (`outlook.office365.com:995`, and 110 with STLS) with
//! XOAUTH2.
//!
//! `conn` is the only module that touches sockets; `session` is a sans-I/O state machine
//! (complete lines in, response bytes and an action out, never awaits); `personality`
//! holds Exchange's exact strings. POP3 shows the INBOX of the mail store IMAP uses;
//! deletions are applied at QUIT and seen by IMAP.

pub mod conn;
pub mod personality;
pub mod session;

use crate::sasl::xoauth2::Mode;
pub use personality::Personality;
use std::time::Duration;

/// Longest command line: the POP3 `MaxCommandSize` default, 512 (Set-PopSettings; range
/// 40–1024). Longer lines get `-ERR Protocol error. Connection is closed. 10`: this is why
/// a single-line `AUTH XOAUTH2 <token>` fails on Exchange (reference §3.1).
pub const MAX_COMMAND_LINE: usize = 512;
/// Longest SASL response line: 4096 (Exchange 2013's `MaxLineLength` during a SASL
/// exchange; longer tokens have failed over POP3 since 2025-07-16, MailKit #1948).
pub const MAX_SASL_LINE: usize = 4096;
/// Failed authentications before `Connection is closed. 21` (Exchange's
/// MaxFailedLoginAttempts is unpublished for Exchange Online; 3 is the reference's advice).
pub const MAX_FAILED_AUTH: u32 = 3;
/// Commands allowed before authentication ("Session disconnected after 9 pre-auth
/// commands", Exchange 2013's ResponseFactory, shared by IMAP and POP3).
pub const MAX_PRE_AUTH_COMMANDS: u32 = 9;
/// Unknown commands: the third gets `-ERR Protocol error. 20` and a disconnect
/// (Exchange 2013's Pop3RequestInvalid).
pub const MAX_UNKNOWN_COMMANDS: u32 = 3;
/// "Not connected" answers: the third carries `Connection is closed. 21` and the
/// connection closes (Exchange 2013 tests `InvalidCommands > 2`).
pub const MAX_NOT_CONNECTED_ANSWERS: u32 = 3;
/// Autologout of an authenticated session: `AuthenticatedConnectionTimeout` default
/// (Set-PopSettings), 30 minutes.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Total time from connect to authentication: `PreAuthenticatedConnectionTimeout` default
/// (Set-PopSettings), 1 minute. A deadline, not an inactivity timer: a client dripping a
/// byte at a time cannot extend it.
pub const PRE_AUTH_TIMEOUT: Duration = Duration::from_secs(60);
/// Concurrent POP3 connections across both ports (sized like IMAP's, for 10,000 idle
/// sessions).
pub const MAX_POP3_CONNECTIONS: usize = 20_000;

/// How the POP3 server behaves.
#[derive(Debug, Clone)]
pub struct Pop3Config {
    pub personality: Personality,
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
    /// POP3 connections in all ([`MAX_POP3_CONNECTIONS`]).
    pub max_connections: usize,
    /// A write that takes longer ends the connection: a client that stopped reading
    /// ([`conn::WRITE_TIMEOUT`]).
    pub write_timeout: Duration,
}

impl Default for Pop3Config {
    fn default() -> Self {
        Self {
            personality: Personality::default(),
            xoauth2_mode: Mode::Strict,
            fqdn: personality::DEFAULT_FQDN.to_string(),
            idle_timeout: IDLE_TIMEOUT,
            pre_auth_timeout: PRE_AUTH_TIMEOUT,
            max_failed_auth: MAX_FAILED_AUTH,
            max_command_line: MAX_COMMAND_LINE,
            max_sasl_line: MAX_SASL_LINE,
            max_connections: MAX_POP3_CONNECTIONS,
            write_timeout: conn::WRITE_TIMEOUT,
        }
    }
}

/// The POP3 server's state: the shared core and its configuration.
#[derive(Debug)]
pub struct Pop3State {
    pub core: std::sync::Arc<crate::state::Core>,
    pub config: Pop3Config,
}

impl Pop3State {
    pub fn new(core: std::sync::Arc<crate::state::Core>, config: Pop3Config) -> Self {
        Self { core, config }
    }
}
