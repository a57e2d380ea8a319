//! Exchange Online's SMTP submission server (`smtp.office365.com:587`): plain with
//! STARTTLS, AUTH XOAUTH2, and delivery through the shared mail store.
//!
//! `conn` is the only module that touches sockets; `session` is a sans-I/O state machine
//! (bytes in, response bytes and an action out, never awaits); `personality` holds
//! Exchange's exact strings with their sources. Access rules live in
//! [`crate::directory::access`], XOAUTH2 parsing in [`crate::sasl`], token checks in
//! [`crate::token::verifier`]: this module imports none of its sibling protocols.

pub mod conn;
pub mod personality;
pub mod session;

use crate::sasl::xoauth2::Mode;
pub use personality::Personality;
use std::sync::Arc;
use std::time::Duration;

/// Longest command line, CRLF included, and so the most bytes held before a line ends.
/// RFC 5321 §4.5.3.1.4 sets 512 for commands, but `AUTH XOAUTH2 <initial response>`
/// carries a whole token: Exchange takes SASL data up to 4096 bytes (MailKit #1948), so a
/// line of `AUTH XOAUTH2 ` + 4096 + CRLF must fit; 8192 leaves room for clients that
/// pad. A longer line is answered `500 5.3.3 Unrecognized command 'unknown'`.
pub const MAX_LINE: usize = 8192;
/// Longest SASL payload (initial response or 334 answer): Exchange's 4096 (MailKit
/// #1948, since 2025-07-16 on Exchange Online).
pub const MAX_SASL: usize = 4096;
/// Largest message accepted: Exchange Online's default `MaxSendSize`, 35 MB. (EHLO
/// advertises 150 MB, as Exchange does; larger messages get `552 5.3.4` at end of data.)
pub const MAX_MESSAGE_SIZE: usize = 35 * 1024 * 1024;
/// Recipients per message: Exchange Online's `RecipientLimits` default, 500.
pub const MAX_RECIPIENTS: usize = 500;
/// A connection that has not authenticated within this time is closed (`451 4.7.0`),
/// however slowly it drips bytes: a total deadline, not an inactivity timer. One minute,
/// as IMAP's `PreAuthenticatedConnectionTimeout`.
pub const PRE_AUTH_TIMEOUT: Duration = Duration::from_secs(60);
/// Inactivity after authentication: Exchange's receive connector
/// `ConnectionInactivityTimeout` default, 5 minutes.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Concurrent SMTP connections (as IMAP's, sized for thousands of idle sessions).
pub const MAX_SMTP_CONNECTIONS: usize = 20_000;
/// Failed AUTH attempts before the connection is closed (`421 4.7.0`). Exchange's limit
/// is unpublished; IMAP uses 3, the reference's advice. UNCONFIRMED.
pub const MAX_FAILED_AUTH: u32 = 3;

/// How the SMTP server behaves.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub personality: Personality,
    /// The front end's short name (`MOCK01CA0001`): banner host
    /// `<name>.outlook.office365.com`, bracket FQDN `<name>.<region>.prod.outlook.com`.
    pub server_name: String,
    pub region: String,
    /// `334 ` with a trailing space (the default) or a bare `334` as [MS-OAUTH] prints it.
    /// No capture shows the bytes; msmtp, which people use with Exchange Online's
    /// XOAUTH2, refuses a bare `334` as an invalid reply, so the space is the default.
    pub continuation_space: bool,
    pub xoauth2_mode: Mode,
    /// [`MAX_LINE`].
    pub max_line: usize,
    /// [`MAX_SASL`].
    pub max_sasl: usize,
    /// [`MAX_MESSAGE_SIZE`].
    pub max_message_size: usize,
    /// [`MAX_RECIPIENTS`].
    pub max_recipients: usize,
    /// [`MAX_FAILED_AUTH`].
    pub max_failed_auth: u32,
    /// [`PRE_AUTH_TIMEOUT`].
    pub pre_auth_timeout: Duration,
    /// [`IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// [`MAX_SMTP_CONNECTIONS`].
    pub max_connections: usize,
    /// A write that takes longer ends the connection (slow reader).
    pub write_timeout: Duration,
    /// Wait before answering an unrecognized command. Exchange Online tarpits them by
    /// 5 s (email-oauth2-proxy #251: replies 5 s apart); 0 by default so tests stay fast.
    pub tarpit: Duration,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            personality: Personality::default(),
            server_name: personality::DEFAULT_SERVER_NAME.into(),
            region: personality::DEFAULT_REGION.into(),
            continuation_space: true,
            xoauth2_mode: Mode::Strict,
            max_line: MAX_LINE,
            max_sasl: MAX_SASL,
            max_message_size: MAX_MESSAGE_SIZE,
            max_recipients: MAX_RECIPIENTS,
            max_failed_auth: MAX_FAILED_AUTH,
            pre_auth_timeout: PRE_AUTH_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            max_connections: MAX_SMTP_CONNECTIONS,
            write_timeout: conn::WRITE_TIMEOUT,
            tarpit: Duration::ZERO,
        }
    }
}

/// The SMTP server's state: the shared core, its configuration and its texts.
#[derive(Debug)]
pub struct SmtpState {
    pub core: Arc<crate::state::Core>,
    pub config: SmtpConfig,
    pub texts: personality::Texts,
}

impl SmtpState {
    /// The server id of banners and brackets is taken from the server clock now.
    pub fn new(core: Arc<crate::state::Core>, config: SmtpConfig) -> Self {
        let texts = personality::Texts {
            personality: config.personality,
            host: format!("{}.outlook.office365.com", config.server_name),
            fqdn: format!("{}.{}.prod.outlook.com", config.server_name, config.region),
            id: personality::server_id(core.clock.now()),
        };
        Self { core, config, texts }
    }
}
