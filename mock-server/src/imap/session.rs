//! The IMAP session as a sans-I/O state machine: decoded commands in, response bytes and
//! an action out. It never awaits and never touches a socket.

use super::mail::MailState;
use super::personality::{self as p, Personality};
use super::{ImapConfig, ImapState};
use crate::directory::access::{self, Access, Protocol};
use crate::journal::{self, JournalEntry, Outcome};
use crate::sasl::xoauth2;
use crate::token::verifier::{self, Principal, PrincipalKind};
use imap_codec::imap_types::command::{Command, CommandBody};
use std::sync::Arc;
use time::OffsetDateTime;

/// What the connection must do after writing a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Continue,
    /// Upgrade the plain connection to TLS (after `OK Begin TLS negotiation now.`).
    StartTls,
    /// Close the connection after writing.
    Close,
}

#[derive(Debug)]
pub struct Reply {
    pub out: Vec<u8>,
    pub action: Action,
    /// A delay fault: wait this long before writing.
    pub delay: Option<std::time::Duration>,
    /// A trickle fault: write this many bytes at a time.
    pub trickle: Option<usize>,
}

impl Reply {
    fn new() -> Self {
        Self {
            out: Vec::new(),
            action: Action::Continue,
            delay: None,
            trickle: None,
        }
    }

    fn line(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }

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

#[derive(Debug)]
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
        }
    }

    pub fn config(&self) -> &ImapConfig {
        &self.imap.config
    }

    pub fn greeting(&self) -> Vec<u8> {
        p::greeting(&self.imap.config.fqdn).into_bytes()
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

    /// The connection switched to TLS after STARTTLS.
    pub fn tls_started(&mut self) {
        self.tls = true;
    }

    /// The inactivity limit in the current state.
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
            Some(format!("no command for {:?}", self.timeout())),
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
            if self.pre_auth_commands >= super::MAX_PRE_AUTH_COMMANDS && r.action == Action::Continue {
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
                    match self.personality() {
                        Personality::Exo2025 => {
                            r.tagged(&tag, p::BASIC_AUTH_DISABLED);
                            r.line(p::LOGOUT_BYE);
                            r.action = Action::Close;
                            self.state = State::Closed;
                        }
                        Personality::Exo2018 => r.tagged(&tag, p::LOGIN_FAILED),
                    }
                    self.journal(
                        "LOGIN".into(),
                        Outcome::Refused,
                        Some(if self.personality() == Personality::Exo2025 {
                            p::BASIC_AUTH_DISABLED
                        } else {
                            p::LOGIN_FAILED
                        }),
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
            let mut r = Reply::new();
            r.tagged(&tag, p::COMMAND_TOO_LONG);
            self.failed_auth += 1;
            self.journal(
                "AUTHENTICATE XOAUTH2".into(),
                Outcome::Refused,
                Some(p::COMMAND_TOO_LONG),
                Some(format!(
                    "the SASL response is {} bytes; Exchange takes at most {}",
                    line.len(),
                    self.imap.config.max_sasl_line
                )),
                Some("shrink the token (fewer optional or group claims)".into()),
            );
            self.after_failure(&mut r);
            return r;
        }
        self.finish_xoauth2(&tag, line, false)
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
        let directory = self.imap.core.directory().clone();
        let principal = match verifier::verify(&blob.token, &self.imap.core.authority(), &directory, now) {
            Ok(p) => p,
            Err(rej) => return self.fail_auth(tag, request, rej.reason, rej.fix),
        };
        self.last_principal = Some((principal.tenant_id.clone(), principal.app_id.clone()));
        match access::decide(&directory, &principal, &blob.user, Protocol::Imap) {
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
                self.mail = MailState::open(&self.imap.core.store, &mailbox);
                self.login = Some(Login {
                    principal,
                    user: blob.user,
                });
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
