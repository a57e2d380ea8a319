//! The IMAP session as a sans-I/O state machine: client bytes in ([`Session::receive`]),
//! replies out ([`Session::next_reply`]), each with the action the connection must take.
//! It frames the bytes itself (with [`Framer`]), so every decision (limits, the literal
//! go-ahead, the SASL line, IDLE's DONE, deadlines) is made here; it never awaits and
//! never touches a socket.

use super::framer::{Frame, Framer};
use super::mail::MailState;
use super::personality::{self as p, Personality};
use super::{ImapConfig, ImapState};
use crate::directory::access::{self, Access, Protocol};
use crate::journal::{self, JournalEntry, Outcome};
pub use crate::net::{Action, Reply};
use crate::sasl::xoauth2;
use crate::token::verifier::{self, Principal, PrincipalKind};
use imap_codec::decode::Decoder;
use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::CommandCodec;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use time::OffsetDateTime;

impl Reply {
    fn tagged(&mut self, tag: &str, text: &str) {
        self.out.extend_from_slice(tag.as_bytes());
        self.out.push(b' ');
        self.out.extend_from_slice(text.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }
}

/// What kind of input the connection should decode next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Command,
    /// The client's SASL response line (after our `+`).
    SaslResponse,
    /// `DONE` ends IDLE.
    IdleDone,
}

#[derive(Debug)]
enum State {
    NotAuthenticated,
    /// Waiting for the SASL response of `AUTHENTICATE XOAUTH2` without SASL-IR.
    Authenticating {
        tag: String,
    },
    Authenticated,
    /// Token valid, mailbox refused: Exchange's "authenticated but not connected".
    NotConnected {
        bad_answers: u32,
    },
    Idling {
        tag: String,
    },
    Closed,
}

#[derive(Debug, Clone)]
struct Login {
    principal: Principal,
    user: String,
}

pub struct Session {
    imap: Arc<ImapState>,
    peer: String,
    tls: bool,
    state: State,
    failed_auth: u32,
    pre_auth_commands: u32,
    login: Option<Login>,
    /// Tenant and app of the last verified token, for journal entries of refusals.
    last_principal: Option<(String, String)>,
    mail: Option<MailState>,
    /// This session's place in its mailbox's connection count; freed when it ends.
    slot: Option<UserSlot>,
    /// Client bytes received and not yet framed (at most one read's worth).
    input: Vec<u8>,
    /// How much of `input` is framed.
    consumed: usize,
    framer: Framer,
    /// The connection's start: the pre-authentication deadline counts from here.
    connected: Instant,
    /// The end of the last whole line: the autologout timer counts from here.
    last_line: Instant,
    /// Bytes of `input` and `framer` last added to [`ImapState::buffered_bytes`].
    accounted: usize,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.imap.buffered.fetch_sub(self.accounted, Ordering::Relaxed);
    }
}

/// One of a mailbox's `max_connections_per_user` places, held by a session.
struct UserSlot {
    imap: Arc<ImapState>,
    mailbox: String,
}

impl UserSlot {
    fn take(imap: &Arc<ImapState>, mailbox: &str, limit: u32) -> Result<Self, u32> {
        let mut counts = imap.sessions_per_mailbox();
        let n = counts.entry(mailbox.to_string()).or_insert(0);
        if *n >= limit {
            return Err(*n);
        }
        *n += 1;
        Ok(Self {
            imap: imap.clone(),
            mailbox: mailbox.to_string(),
        })
    }
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        let mut counts = self.imap.sessions_per_mailbox();
        if let Some(n) = counts.get_mut(&self.mailbox) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.mailbox);
            }
        }
    }
}

fn name(body: &CommandBody<'_>) -> &'static str {
    body.name()
}

impl Session {
    pub fn new(imap: Arc<ImapState>, peer: String, tls: bool) -> Self {
        Self {
            imap,
            peer,
            tls,
            state: State::NotAuthenticated,
            failed_auth: 0,
            pre_auth_commands: 0,
            login: None,
            last_principal: None,
            mail: None,
            slot: None,
            input: Vec::new(),
            consumed: 0,
            framer: Framer::default(),
            connected: Instant::now(),
            last_line: Instant::now(),
            accounted: 0,
        }
    }

    /// The greeting, shaped by a greeting fault (a delay, or a drop: nothing and close).
    pub fn open(&mut self) -> Reply {
        let mut r = Reply::new();
        if let Some(fired) = self.fault(crate::faults::Hook::ImapGreeting) {
            match fired.fault.kind {
                crate::faults::Kind::Drop => {
                    r.action = Action::Close;
                    self.state = State::Closed;
                    return r;
                }
                crate::faults::Kind::Delay => {
                    r.delay = Some(std::time::Duration::from_millis(fired.fault.millis.unwrap_or(0)));
                }
                _ => {}
            }
        }
        r.out = self.greeting();
        r
    }

    /// Whether a TLS handshake-failure fault fires for the handshake about to start.
    pub fn tls_fails(&self) -> bool {
        self.fault(crate::faults::Hook::ImapTls).is_some()
    }

    /// Bytes read from the client. Call [`Session::next_reply`] until it says `None`
    /// before feeding more: that keeps what is buffered to one read.
    pub fn receive(&mut self, bytes: &[u8]) {
        if !matches!(self.state, State::Closed) {
            self.input.extend_from_slice(bytes);
        }
        self.account();
    }

    /// The next reply to write, or `None` when more bytes are needed (or the session is
    /// closed).
    pub fn next_reply(&mut self) -> Option<Reply> {
        let reply = self.step();
        if let Some(r) = &reply {
            if r.action == Action::StartTls {
                // Anything the client sent after STARTTLS and before the handshake is
                // dropped: it must not be read as if it came over TLS (CVE-2011-0411).
                self.input = Vec::new();
                self.consumed = 0;
                self.framer.reset();
            }
        }
        self.account();
        reply
    }

    /// Keep [`ImapState::buffered_bytes`] up to date with what this session holds.
    fn account(&mut self) {
        let held = self.input.capacity() + self.framer.held();
        if held > self.accounted {
            self.imap.buffered.fetch_add(held - self.accounted, Ordering::Relaxed);
        } else {
            self.imap.buffered.fetch_sub(self.accounted - held, Ordering::Relaxed);
        }
        self.accounted = held;
    }

    /// The largest literal accepted in the current state.
    fn literal_limit(&self) -> u32 {
        if self.login.is_some() {
            self.imap.config.max_literal
        } else {
            self.imap.config.max_pre_auth_literal.min(self.imap.config.max_literal)
        }
    }

    fn step(&mut self) -> Option<Reply> {
        loop {
            if matches!(self.state, State::Closed) {
                self.input = Vec::new();
                self.consumed = 0;
                return None;
            }
            let c = &self.imap.config;
            let (line_limit, literals) = match self.expects() {
                Expect::Command => (c.max_command_line, true),
                Expect::SaslResponse => (c.max_sasl_line, false),
                Expect::IdleDone => (c.max_command_line, false),
            };
            let literal_limit = self.literal_limit();
            let message_limit = (literal_limit as usize).saturating_add(line_limit.saturating_add(2).saturating_mul(2));
            let mut input = &self.input[self.consumed..];
            let frame = self.framer.next(&mut input, line_limit, literals, message_limit);
            self.consumed = self.input.len() - input.len();
            if self.consumed == self.input.len() {
                // All framed: give the read's memory back (an idle session holds none).
                self.input = Vec::new();
                self.consumed = 0;
            }
            match frame? {
                Frame::Literal { length, sync } => {
                    // Before authentication, a command that is not allowed yet is refused
                    // for its state before its literal is looked at: imapsync's
                    // `2960 APPEND INBOX () "10-Feb-2022 10:45:34 -0500" {351553}` got
                    // `2960 BAD Command received in Invalid state.` after its token expired
                    // (https://github.com/imapsync/imapsync/issues/250). A non-synchronizing
                    // literal is already on its way and stays a hostile-input case.
                    if sync
                        && self.login.is_none()
                        && matches!(self.expects(), Expect::Command)
                        && !allowed_before_auth(self.framer.message())
                    {
                        let tag = valid_tag(self.framer.message());
                        self.framer.refuse_literal(true);
                        let mut r = Reply::new();
                        r.tagged(tag.as_deref().unwrap_or("*"), p::INVALID_STATE);
                        self.count_pre_auth(&mut r);
                        return Some(r);
                    }
                    let held = self.framer.message().len();
                    if length > literal_limit || held.saturating_add(length as usize) > message_limit {
                        let tag = valid_tag(self.framer.message());
                        self.framer.refuse_literal(sync);
                        return Some(self.literal_too_big(tag, length, sync, literal_limit));
                    }
                    if sync {
                        let mut r = Reply::new();
                        r.line(p::GO_AHEAD);
                        return Some(r);
                    }
                }
                Frame::LineTooLong => {
                    let tag = valid_tag(self.framer.message());
                    match self.expects() {
                        // Answered at the line's end, with its length (skipped meanwhile).
                        Expect::SaslResponse => {}
                        Expect::IdleDone => return Some(self.idle_done(false)),
                        // Answered at once: the client learns while it is still sending.
                        Expect::Command => return Some(self.bad_line(tag, true, true)),
                    }
                }
                Frame::Skipped => {
                    let overlong = self.framer.overlong();
                    self.framer.reset();
                    self.last_line = Instant::now();
                    if self.expects() == Expect::SaslResponse {
                        return Some(self.sasl_too_long(overlong));
                    }
                }
                Frame::Message => {
                    self.last_line = Instant::now();
                    let framed = std::mem::take(&mut self.framer);
                    let message = framed.message();
                    return Some(match self.expects() {
                        Expect::SaslResponse => self.sasl_response(trim_crlf(message)),
                        Expect::IdleDone => {
                            let line = trim_crlf(message);
                            match valid_tag(line).filter(|_| line.contains(&b' ')) {
                                // A command instead of DONE: Exchange answers it with its own
                                // tag and stays in IDLE ("TAG6 LOGOUT" during IDLE got
                                // "TAG6 BAD Command received in Invalid state.",
                                // https://github.com/Webklex/php-imap/issues/258).
                                Some(tag) if !line.eq_ignore_ascii_case(b"DONE") => {
                                    let mut r = Reply::new();
                                    r.tagged(&tag, p::INVALID_STATE);
                                    r
                                }
                                _ => self.idle_done(line.eq_ignore_ascii_case(b"DONE")),
                            }
                        }
                        Expect::Command => match CommandCodec::default().decode(message) {
                            Ok((b"", cmd)) => self.command(cmd),
                            _ => self.undecodable(message),
                        },
                    });
                }
            }
        }
    }

    /// A literal over the limit, refused before a byte of it is stored: `BAD Command
    /// Error. 10` (Exchange's answer to an over-long command). A non-synchronizing one
    /// before authentication also ends the connection: the stranger is already sending
    /// it, and skipping megabytes for someone who has not logged in helps no one.
    fn literal_too_big(&mut self, tag: Option<String>, length: u32, sync: bool, limit: u32) -> Reply {
        let mut r = self.bad_line(tag, true, true);
        let before_auth = self.login.is_none();
        self.journal(
            format!("(literal of {length} bytes)"),
            Outcome::Refused,
            Some(p::COMMAND_TOO_LONG),
            Some(format!(
                "a literal of {length} bytes; the limit {} is {limit}",
                if before_auth {
                    "before authentication"
                } else {
                    "for a literal"
                }
            )),
            Some(if before_auth {
                "authenticate first (AUTHENTICATE XOAUTH2 takes no literal)".into()
            } else {
                "send less (or raise --imap-max-literal)".into()
            }),
        );
        if !sync && before_auth && r.action == Action::Continue {
            r.line(p::LOGOUT_BYE);
            r.action = Action::Close;
            self.state = State::Closed;
        }
        r
    }

    /// When the connection ends if nothing completes: the pre-authentication deadline
    /// counts from the connection's start (a drip of bytes does not extend it), the
    /// autologout from the end of the last whole line.
    pub fn deadline(&self) -> Instant {
        if self.login.is_some() {
            self.last_line + self.imap.config.idle_timeout
        } else {
            self.connected + self.imap.config.pre_auth_timeout
        }
    }

    pub fn config(&self) -> &ImapConfig {
        &self.imap.config
    }

    pub fn greeting(&self) -> Vec<u8> {
        // The era decides the front end's greeting (classic, or 2026's tcpproxy one).
        self.personality().greeting_line(&self.imap.config.fqdn).into_bytes()
    }

    pub fn expects(&self) -> Expect {
        match self.state {
            State::Authenticating { .. } => Expect::SaslResponse,
            State::Idling { .. } => Expect::IdleDone,
            _ => Expect::Command,
        }
    }

    pub fn is_authenticated(&self) -> bool {
        self.login.is_some()
    }

    /// A new session with this one's connection settings, already logged in as this one
    /// is (same principal and user, its mailbox reopened from the store as it is now, no
    /// folder selected, nothing buffered), without checking a token again. One
    /// AUTHENTICATE's result reused for many runs: the `imap_commands` fuzz target starts
    /// every run from it instead of verifying the same RS256 token and parsing its 1.5 KB
    /// line each time. `None` unless this session is authenticated with its mailbox open,
    /// and not idling, or when the mailbox has no free connection slot (the fork takes one, as a login
    /// would) or is gone from the store.
    pub fn fork_authenticated(&self) -> Option<Session> {
        if !matches!(self.state, State::Authenticated) {
            return None;
        }
        let login = self.login.clone()?;
        let mailbox = self.slot.as_ref()?.mailbox.clone();
        let mail = MailState::open(&self.imap.core.store, &mailbox)?
            .with_exists_after_expunge(self.imap.config.exists_after_expunge);
        let slot = UserSlot::take(&self.imap, &mailbox, self.imap.config.max_connections_per_user).ok()?;
        let mut fork = Session::new(self.imap.clone(), self.peer.clone(), self.tls);
        fork.login = Some(login);
        fork.mail = Some(mail);
        fork.slot = Some(slot);
        fork.state = State::Authenticated;
        Some(fork)
    }

    /// The connection switched to TLS after STARTTLS.
    pub fn tls_started(&mut self) {
        self.tls = true;
    }

    /// The time limit in the current state (see [`Session::deadline`]).
    pub fn timeout(&self) -> std::time::Duration {
        if self.login.is_some() {
            self.imap.config.idle_timeout
        } else {
            self.imap.config.pre_auth_timeout
        }
    }

    pub fn mail(&self) -> Option<&MailState> {
        self.mail.as_ref()
    }

    fn personality(&self) -> Personality {
        self.imap.config.personality
    }

    fn journal(
        &self,
        request: String,
        outcome: Outcome,
        error: Option<&str>,
        reason: Option<String>,
        fix: Option<String>,
    ) {
        // Client bytes (user names, mechanisms) end up in these strings: escape control
        // characters so that no log or journal line carries a terminal escape or a NUL.
        let request = escape(&request);
        let reason = reason.map(|r| escape(&r));
        let fix = fix.map(|f| escape(&f));
        match outcome {
            Outcome::Authenticated => {
                tracing::debug!(peer = %self.peer, %request, reason = ?reason, "imap authenticated")
            }
            _ => tracing::info!(
                peer = %self.peer, %request, outcome = ?outcome, answer = ?error, reason = ?reason, fix = ?fix,
                "imap refused"
            ),
        }
        let (tenant, client_id) = match (&self.login, &self.last_principal) {
            (Some(l), _) => (Some(l.principal.tenant_id.clone()), Some(l.principal.app_id.clone())),
            (None, Some((t, a))) => (Some(t.clone()), Some(a.clone())),
            (None, None) => (None, None),
        };
        self.imap.core.journal.record(JournalEntry {
            peer: Some(self.peer.clone()),
            tenant,
            client_id,
            error: error.map(str::to_string),
            reason,
            fix,
            ..JournalEntry::new(journal::Protocol::Imap, self.imap.core.clock.now(), request, outcome)
        });
    }

    /// The inactivity timeout fired.
    pub fn timed_out(&mut self) -> Reply {
        let mut r = Reply::new();
        r.line(p::IDLE_TIMEOUT_BYE);
        r.action = Action::Close;
        self.journal(
            "(idle)".into(),
            Outcome::Ended,
            Some("* BYE Connection is closed. 13"),
            Some(if self.login.is_some() {
                format!("no whole line for {:?} (the autologout timer)", self.timeout())
            } else {
                format!(
                    "not authenticated {:?} after connecting (the pre-authentication deadline)",
                    self.timeout()
                )
            }),
            None,
        );
        self.state = State::Closed;
        r
    }

    /// A line that could not be decoded as a command.
    pub fn bad_line(&mut self, tag: Option<String>, too_long: bool, known_command: bool) -> Reply {
        let mut r = Reply::new();
        let text = if too_long {
            p::COMMAND_TOO_LONG
        } else if known_command {
            p::ARGUMENT_ERROR_12
        } else {
            p::UNKNOWN_COMMAND
        };
        r.tagged(tag.as_deref().unwrap_or("*"), text);
        self.count_pre_auth(&mut r);
        r
    }

    fn count_pre_auth(&mut self, r: &mut Reply) {
        if self.login.is_none() {
            self.pre_auth_commands += 1;
            if self.pre_auth_commands >= self.imap.config.max_pre_auth_commands && r.action == Action::Continue {
                // Exchange 2013: "Session disconnected after 9 pre-auth commands"; the
                // response is sent, then the connection closes.
                self.journal(
                    "(pre-auth limit)".into(),
                    Outcome::Ended,
                    None,
                    Some(format!("{} commands without authenticating", self.pre_auth_commands)),
                    Some("authenticate right after CAPABILITY".into()),
                );
                r.action = Action::Close;
                self.state = State::Closed;
            }
        }
    }

    /// Ask for a fault at `hook` (greeting, TLS), journaled with this connection's peer.
    pub fn fault(&self, hook: crate::faults::Hook) -> Option<crate::faults::Fired> {
        self.imap
            .core
            .fire(&crate::faults::Probe::new(hook), Some(self.peer.clone()))
    }

    /// A decoded command: a fault armed for it answers instead (or shapes the answer).
    pub fn command(&mut self, cmd: Command<'_>) -> Reply {
        use crate::faults::{Hook, Kind, Probe};
        let command = name(&cmd.body);
        let client_id = match (&self.login, &self.last_principal) {
            (Some(l), _) => Some(l.principal.app_id.clone()),
            (None, Some((_, a))) => Some(a.clone()),
            (None, None) => None,
        };
        let probe = Probe {
            client_id: client_id.as_deref(),
            user: self.login.as_ref().map(|l| l.user.as_str()),
            command: Some(command),
            ..Probe::new(Hook::ImapCommand)
        };
        let Some(fired) = self.imap.core.fire(&probe, Some(self.peer.clone())) else {
            return self.command_inner(cmd);
        };
        let f = fired.fault;
        let tag = cmd.tag.inner().to_string();
        let mut r = Reply::new();
        match f.kind {
            Kind::Reply => {
                let reply = f.reply.as_deref().unwrap_or("NO").to_ascii_uppercase();
                if reply == "BYE" {
                    r.line(&format!("* BYE {}\r\n", f.reply_text()));
                    r.action = Action::Close;
                    self.state = State::Closed;
                } else {
                    r.tagged(&tag, &format!("{reply} {}", f.reply_text()));
                }
            }
            Kind::TokenExpired => {
                r.line(p::TOKEN_EXPIRED_BYE);
                r.action = Action::Close;
                self.journal(
                    format!("{command} (token expired by a fault)"),
                    Outcome::Ended,
                    Some("* BYE Session invalidated - AccessTokenExpired"),
                    Some(format!(
                        "scripted fault #{}: the access token expired mid-session",
                        fired.id
                    )),
                    Some("refresh the token before it expires and reconnect on this BYE".into()),
                );
                self.state = State::Closed;
            }
            Kind::IdleTimeout => return self.timed_out(),
            Kind::Drop => {
                r.action = Action::Close;
                self.state = State::Closed;
            }
            Kind::Trickle => {
                r = self.command_inner(cmd);
                r.trickle = Some(f.bytes.unwrap_or(1));
            }
            Kind::Delay => {
                r = self.command_inner(cmd);
                r.delay = Some(std::time::Duration::from_millis(f.millis.unwrap_or(0)));
            }
            // Validation keeps other kinds away from this hook; answer normally if one slips by.
            _ => return self.command_inner(cmd),
        }
        r
    }

    fn command_inner(&mut self, cmd: Command<'_>) -> Reply {
        let tag = cmd.tag.inner().to_string();
        let mut r = Reply::new();

        // A session whose token has expired is invalidated at its next command.
        if let Some(login) = &self.login {
            let now = self.imap.core.clock.now();
            if now >= login.principal.expires {
                r.line(p::TOKEN_EXPIRED_BYE);
                r.action = Action::Close;
                self.journal(
                    format!("{} (after token expiry)", name(&cmd.body)),
                    Outcome::Ended,
                    Some("* BYE Session invalidated - AccessTokenExpired"),
                    Some(format!(
                        "the access token expired at {} (server time {now})",
                        login.principal.expires
                    )),
                    Some("refresh the token before it expires and reconnect on this BYE".into()),
                );
                self.state = State::Closed;
                return r;
            }
        }

        match cmd.body {
            CommandBody::Capability => {
                let caps = if !self.tls {
                    self.personality().capability_plain()
                } else if self.login.is_some() {
                    self.personality().capability_post_auth()
                } else {
                    self.personality().capability_pre_auth()
                };
                r.line(&format!("* CAPABILITY {caps}\r\n"));
                r.tagged(&tag, "OK CAPABILITY completed.");
            }
            CommandBody::Noop => {
                if let (State::Authenticated, Some(mail)) = (&self.state, &mut self.mail) {
                    mail.pending_updates(&mut r.out);
                }
                r.tagged(&tag, "OK NOOP completed.");
            }
            CommandBody::Logout => {
                r.line(p::LOGOUT_BYE);
                r.tagged(&tag, "OK LOGOUT completed.");
                r.action = Action::Close;
                self.state = State::Closed;
            }
            CommandBody::StartTLS => {
                if self.tls || self.login.is_some() {
                    r.tagged(&tag, p::INVALID_STATE);
                } else {
                    r.tagged(&tag, "OK Begin TLS negotiation now.");
                    r.action = Action::StartTls;
                }
            }
            CommandBody::Authenticate {
                mechanism,
                initial_response,
            } => {
                return self.authenticate(
                    &tag,
                    mechanism.as_ref(),
                    initial_response.map(|s| s.declassify().to_vec()),
                );
            }
            CommandBody::Login { .. } => {
                if !self.tls {
                    r.tagged(&tag, p::INVALID_STATE);
                } else {
                    // The answer is the era's (personality.rs); only 2025's also closes.
                    let answer = self.personality().login_refused();
                    r.tagged(&tag, answer);
                    if self.personality().login_refusal_closes() {
                        r.line(p::LOGOUT_BYE);
                        r.action = Action::Close;
                        self.state = State::Closed;
                    }
                    self.journal(
                        "LOGIN".into(),
                        Outcome::Refused,
                        Some(answer),
                        Some("basic authentication (user name and password) is disabled in Exchange Online".into()),
                        Some("authenticate with AUTHENTICATE XOAUTH2 and an OAuth 2.0 access token".into()),
                    );
                }
            }
            CommandBody::Id { .. } if matches!(self.state, State::NotAuthenticated | State::Authenticated) => {
                r.line(p::ID_RESPONSE);
                r.tagged(&tag, "OK ID completed.");
            }
            body => {
                match &mut self.state {
                    State::NotAuthenticated | State::Authenticating { .. } => r.tagged(&tag, p::INVALID_STATE),
                    State::NotConnected { bad_answers } => {
                        *bad_answers += 1;
                        r.tagged(&tag, p::NOT_CONNECTED);
                        // On the wire the BYE comes with the second such answer
                        // (MailKit #1496, email-oauth2-proxy #74).
                        if *bad_answers >= 2 {
                            r.line(p::NOT_CONNECTED_BYE);
                            r.action = Action::Close;
                            self.state = State::Closed;
                        }
                    }
                    State::Authenticated => {
                        if let Some(mail) = &mut self.mail {
                            match mail.handle(&tag, body, &mut r.out) {
                                super::mail::After::Continue => {}
                                super::mail::After::Idle => {
                                    self.state = State::Idling { tag: tag.clone() };
                                }
                            }
                        } else {
                            r.tagged(&tag, p::INVALID_STATE);
                        }
                    }
                    State::Idling { .. } | State::Closed => r.tagged(&tag, p::INVALID_STATE),
                }
            }
        }
        self.count_pre_auth(&mut r);
        r
    }

    fn authenticate(&mut self, tag: &str, mechanism: &str, initial: Option<Vec<u8>>) -> Reply {
        let mut r = Reply::new();
        if self.login.is_some() {
            r.tagged(tag, p::INVALID_STATE);
            return r;
        }
        if !self.tls {
            r.tagged(tag, p::INVALID_STATE);
            self.count_pre_auth(&mut r);
            return r;
        }
        let xoauth2 = mechanism.eq_ignore_ascii_case("XOAUTH2");
        let plain = mechanism.eq_ignore_ascii_case("PLAIN") && self.personality().advertises_plain();
        if !xoauth2 && !plain {
            r.tagged(tag, p::ARGUMENT_ERROR);
            self.journal(
                format!("AUTHENTICATE {mechanism}"),
                Outcome::Refused,
                Some(p::ARGUMENT_ERROR),
                Some(format!(
                    "mechanism {mechanism} is not offered; Exchange Online offers XOAUTH2 only (no OAUTHBEARER)"
                )),
                Some("use AUTHENTICATE XOAUTH2".into()),
            );
            self.count_pre_auth(&mut r);
            return r;
        }
        if plain {
            return self.fail_auth(
                tag,
                "AUTHENTICATE PLAIN".into(),
                "basic authentication is disabled in Exchange Online".into(),
                Some("use XOAUTH2".into()),
            );
        }
        match initial {
            // SASL-IR: the response came with the command. (An empty initial response,
            // `=`, means "none": ask for it.)
            Some(ir) if !ir.is_empty() => self.finish_xoauth2(tag, &ir, true),
            _ => {
                r.line(if self.imap.config.bare_continuation {
                    "+\r\n"
                } else {
                    "+ \r\n"
                });
                self.state = State::Authenticating { tag: tag.to_string() };
                r
            }
        }
    }

    /// The client's SASL response line, raw (without CRLF).
    pub fn sasl_response(&mut self, line: &[u8]) -> Reply {
        let tag = match &self.state {
            State::Authenticating { tag } => tag.clone(),
            _ => return Reply::new(),
        };
        self.state = State::NotAuthenticated;
        if line.first() == Some(&b'*') {
            // Exchange's test: the first byte of the line is '*'.
            let mut r = Reply::new();
            r.tagged(&tag, p::AUTH_CANCELLED);
            self.failed_auth += 1;
            self.journal(
                "AUTHENTICATE XOAUTH2 (cancelled)".into(),
                Outcome::Refused,
                Some(p::AUTH_CANCELLED),
                Some("the client sent * to cancel the exchange".into()),
                None,
            );
            self.after_failure(&mut r);
            return r;
        }
        if line.len() > self.imap.config.max_sasl_line {
            self.state = State::Authenticating { tag };
            return self.sasl_too_long(line.len());
        }
        self.finish_xoauth2(&tag, line, false)
    }

    /// A SASL response line of `len` bytes, over the limit.
    fn sasl_too_long(&mut self, len: usize) -> Reply {
        let tag = match &self.state {
            State::Authenticating { tag } => tag.clone(),
            _ => return Reply::new(),
        };
        self.state = State::NotAuthenticated;
        let mut r = Reply::new();
        r.tagged(&tag, p::COMMAND_TOO_LONG);
        self.failed_auth += 1;
        self.journal(
            "AUTHENTICATE XOAUTH2".into(),
            Outcome::Refused,
            Some(p::COMMAND_TOO_LONG),
            Some(format!(
                "the SASL response is {len} bytes; Exchange takes at most {}",
                self.imap.config.max_sasl_line
            )),
            Some("shrink the token (fewer optional or group claims)".into()),
        );
        self.after_failure(&mut r);
        r
    }

    /// A complete message imap-codec could not decode. `AUTHENTICATE <mech> <bad base64>`
    /// goes to the XOAUTH2 check (Exchange answers `NO AUTHENTICATE failed.`); anything
    /// else is a syntax error, worded by whether the command name is known.
    fn undecodable(&mut self, message: &[u8]) -> Reply {
        let line = String::from_utf8_lossy(trim_crlf(message));
        let mut words = line.split(' ');
        let tag = valid_tag(message);
        let _ = words.next();
        let command = words.next().unwrap_or("").to_ascii_uppercase();
        if command == "AUTHENTICATE" {
            if let (Some(tag), Some(mechanism), Some(ir), None) = (&tag, words.next(), words.next(), words.next()) {
                return self.authenticate_undecodable(tag, mechanism, ir.as_bytes());
            }
        }
        let known = COMMANDS.contains(&command.as_str());
        self.bad_line(tag, false, known)
    }

    /// `AUTHENTICATE` whose initial response the codec could not decode (malformed base64):
    /// Exchange answers these with `NO AUTHENTICATE failed.` rather than a syntax error.
    pub fn authenticate_undecodable(&mut self, tag: &str, mechanism: &str, raw_initial: &[u8]) -> Reply {
        if self.login.is_some() || !self.tls || !mechanism.eq_ignore_ascii_case("XOAUTH2") {
            return self.authenticate(tag, mechanism, None);
        }
        self.finish_xoauth2(tag, raw_initial, false)
    }

    /// `raw` is base64 (continuation line) or already decoded (SASL-IR through the codec).
    fn finish_xoauth2(&mut self, tag: &str, raw: &[u8], decoded: bool) -> Reply {
        let parsed = if decoded {
            xoauth2::parse_message(raw, self.imap.config.xoauth2_mode)
        } else {
            xoauth2::decode(raw, self.imap.config.xoauth2_mode)
        };
        let blob = match parsed {
            Ok(b) => b,
            Err(e) => {
                return self.fail_auth(
                    tag,
                    "AUTHENTICATE XOAUTH2".into(),
                    format!("malformed XOAUTH2: {e}"),
                    Some("send base64(\"user=\" + mailbox + \"\\x01auth=Bearer \" + token + \"\\x01\\x01\")".into()),
                )
            }
        };
        let request = format!("AUTHENTICATE XOAUTH2 user={}", blob.user);
        let now = self.imap.core.clock.now();
        let authority = self.imap.core.authority();
        let checked = {
            // The directory's read lock is held for the check alone: synchronous, no await,
            // microseconds; cheaper than copying the whole directory for every login.
            let directory = self.imap.core.directory();
            verifier::verify(&blob.token, &authority, &directory, now).map(|principal| {
                let access = access::decide(&directory, &principal, &blob.user, Protocol::Imap);
                (principal, access)
            })
        };
        let (principal, access) = match checked {
            Ok(pa) => pa,
            Err(rej) => return self.fail_auth(tag, request, rej.reason, rej.fix),
        };
        self.last_principal = Some((principal.tenant_id.clone(), principal.app_id.clone()));
        match access {
            Access::AuthenticationFailed(refusal) => self.fail_auth(tag, request, refusal.reason(), refusal.fix()),
            Access::NotConnected { cause: refusal, .. } => {
                let mut r = Reply::new();
                r.tagged(tag, p::AUTH_COMPLETED);
                self.login = Some(Login {
                    principal,
                    user: blob.user.clone(),
                });
                self.state = State::NotConnected { bad_answers: 0 };
                self.journal(
                    request,
                    Outcome::NotConnected,
                    Some(p::NOT_CONNECTED),
                    Some(refusal.reason()),
                    refusal.fix(),
                );
                r
            }
            Access::Granted { mailbox } => {
                let mut r = Reply::new();
                r.tagged(tag, p::AUTH_COMPLETED);
                let limit = self.imap.config.max_connections_per_user;
                match UserSlot::take(&self.imap, &mailbox, limit) {
                    Ok(slot) => self.slot = Some(slot),
                    Err(open) => {
                        // Exchange's answer to too many connections for one mailbox is the
                        // "authenticated but not connected" state (catalogue #22).
                        self.login = Some(Login {
                            principal,
                            user: blob.user.clone(),
                        });
                        self.state = State::NotConnected { bad_answers: 0 };
                        self.journal(
                            request,
                            Outcome::NotConnected,
                            Some(p::NOT_CONNECTED),
                            Some(format!("{open} IMAP sessions are already open on {mailbox} (limit {limit}, Exchange's MaxConnectionsPerUser)")),
                            Some("close idle connections (or raise --imap-max-connections-per-user)".into()),
                        );
                        return r;
                    }
                }
                let who = match &principal.kind {
                    PrincipalKind::App { .. } => {
                        format!("app {} (service principal {})", principal.app_id, principal.oid)
                    }
                    PrincipalKind::Delegated { upn, .. } => format!("user {upn}"),
                };
                self.mail = MailState::open(&self.imap.core.store, &mailbox)
                    .map(|m| m.with_exists_after_expunge(self.imap.config.exists_after_expunge));
                self.login = Some(Login {
                    principal,
                    user: blob.user,
                });
                // The login names tenant and app from now on; an idle session keeps less.
                self.last_principal = None;
                self.journal(
                    request,
                    Outcome::Authenticated,
                    None,
                    Some(format!("{who} opened {mailbox}")),
                    None,
                );
                self.state = State::Authenticated;
                r
            }
        }
    }

    fn fail_auth(&mut self, tag: &str, request: String, reason: String, fix: Option<String>) -> Reply {
        let mut r = Reply::new();
        r.tagged(tag, p::AUTH_FAILED);
        self.failed_auth += 1;
        self.journal(request, Outcome::Refused, Some(p::AUTH_FAILED), Some(reason), fix);
        self.after_failure(&mut r);
        r
    }

    fn after_failure(&mut self, r: &mut Reply) {
        if self.failed_auth >= self.imap.config.max_failed_auth {
            r.line(p::TOO_MANY_FAILURES_BYE);
            r.action = Action::Close;
            self.state = State::Closed;
        } else {
            self.count_pre_auth(r);
        }
    }

    /// `DONE` (or anything else) while idling.
    pub fn idle_done(&mut self, ok: bool) -> Reply {
        let mut r = Reply::new();
        if let State::Idling { tag } = &self.state {
            let tag = tag.clone();
            self.state = State::Authenticated;
            if ok {
                r.tagged(&tag, "OK IDLE completed.");
            } else {
                r.tagged(&tag, p::ARGUMENT_ERROR_12);
            }
        }
        r
    }

    /// A receiver that fires when the mailbox changes, while idling (nothing otherwise).
    pub fn idle_changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        match self.state {
            State::Idling { .. } => self.mail.as_ref().and_then(MailState::changes),
            _ => None,
        }
    }

    /// The server is stopping: say goodbye as Exchange does at LOGOUT, then close.
    pub fn server_stopping(&mut self) -> Reply {
        let mut r = Reply::new();
        r.line(p::LOGOUT_BYE);
        r.action = Action::Close;
        self.state = State::Closed;
        r
    }

    /// While idling: untagged updates (EXISTS, EXPUNGE, FETCH FLAGS) since last time.
    pub fn idle_updates(&mut self) -> Reply {
        let mut r = Reply::new();
        if let (State::Idling { .. }, Some(mail)) = (&self.state, &mut self.mail) {
            mail.pending_updates(&mut r.out);
        }
        r
    }

    /// The user= the session authenticated as, if any.
    pub fn user(&self) -> Option<&str> {
        self.login.as_ref().map(|l| l.user.as_str())
    }

    pub fn now(&self) -> OffsetDateTime {
        self.imap.core.clock.now()
    }
}

/// IMAP command names imap-codec knows, to tell "bad arguments" from "unknown command".
const COMMANDS: &[&str] = &[
    "CAPABILITY",
    "NOOP",
    "LOGOUT",
    "STARTTLS",
    "AUTHENTICATE",
    "LOGIN",
    "SELECT",
    "EXAMINE",
    "CREATE",
    "DELETE",
    "RENAME",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "LIST",
    "LSUB",
    "STATUS",
    "APPEND",
    "CHECK",
    "CLOSE",
    "EXPUNGE",
    "SEARCH",
    "FETCH",
    "STORE",
    "COPY",
    "UID",
    "MOVE",
    "IDLE",
    "ID",
    "NAMESPACE",
    "UNSELECT",
    "ENABLE",
];

fn trim_crlf(b: &[u8]) -> &[u8] {
    let b = b.strip_suffix(b"\n").unwrap_or(b);
    b.strip_suffix(b"\r").unwrap_or(b)
}

/// The message's first word if it is a valid IMAP tag (RFC 3501: astring characters but
/// `+`), for a BAD answer; `None` (answered untagged, `* BAD`, as RFC 3501 §7.1 allows)
/// when it is not, so that no NUL, escape sequence or CR ever goes back on the wire.
/// Whether the command of a message (its second word) may be sent before authentication.
fn allowed_before_auth(message: &[u8]) -> bool {
    let mut words = message.split(|&b| b == b' ');
    let _tag = words.next();
    let command = words.next().unwrap_or_default();
    [
        "LOGIN",
        "AUTHENTICATE",
        "ID",
        "CAPABILITY",
        "NOOP",
        "LOGOUT",
        "STARTTLS",
    ]
    .iter()
    .any(|c| command.eq_ignore_ascii_case(c.as_bytes()))
}

fn valid_tag(message: &[u8]) -> Option<String> {
    let end = message
        .iter()
        .position(|&b| b == b' ' || b == b'\r' || b == b'\n')
        .unwrap_or(message.len());
    let word = &message[..end];
    imap_codec::imap_types::core::Tag::try_from(word)
        .ok()
        .map(|t| t.inner().to_string())
}

/// Control characters escaped (`\u{1b}`), everything else as it is.
pub(crate) fn escape(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}
