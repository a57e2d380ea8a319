//! The POP3 session as a sans-I/O state machine: complete lines (without CRLF) in,
//! response bytes and an action out. It never awaits and never touches a socket, so
//! every answer is testable without one.
//!
//! States follow RFC 1939 (AUTHORIZATION, TRANSACTION, UPDATE at QUIT) plus Exchange's
//! "authenticated but not connected" state for a valid token without mailbox access.

use super::personality::{self as p, Personality};
use super::{Pop3Config, Pop3State};
use crate::directory::access::{self, Access, Protocol};
use crate::journal::{self, JournalEntry, Outcome};
use crate::mailstore::{FlagOp, Flags, Mailbox, Message};
pub use crate::net::{Action, Reply};
use crate::sasl::xoauth2;
use crate::token::verifier::{self, Principal, PrincipalKind};
use std::sync::Arc;

/// The folder POP3 shows: Exchange's POP3 serves the Inbox only.
pub const INBOX: &str = "INBOX";

impl Reply {
    fn text(s: &str) -> Self {
        let mut r = Self::new();
        r.line(s);
        r
    }

    fn close(mut self) -> Self {
        self.action = Action::Close;
        self
    }
}

/// What kind of line the connection should expect next (it sets the line limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Command,
    /// The client's SASL response line (after our `+ `).
    SaslResponse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mechanism {
    Xoauth2,
    Plain,
}

#[derive(Debug)]
enum State {
    /// RFC 1939 AUTHORIZATION; `user_given` after USER (for PASS).
    Authorization {
        user_given: bool,
    },
    /// Waiting for the SASL response after `+ `.
    Authenticating(Mechanism),
    /// RFC 1939 TRANSACTION, on a maildrop.
    Transaction(Maildrop),
    /// Token valid, mailbox refused: Exchange's "authenticated but not connected".
    NotConnected {
        answers: u32,
    },
    Closed,
}

/// The INBOX as the session saw it when it authenticated (RFC 1939: message numbers and
/// sizes are fixed for the session), and which messages DELE marked.
#[derive(Debug)]
struct Maildrop {
    mailbox: Arc<Mailbox>,
    messages: Vec<Arc<Message>>,
    /// Octets each message takes on the wire (CRLF lines, before dot-stuffing).
    sizes: Vec<usize>,
    deleted: Vec<bool>,
}

impl Maildrop {
    fn open(mailbox: Arc<Mailbox>) -> Self {
        let messages = mailbox.messages(INBOX).unwrap_or_default();
        let sizes = messages.iter().map(|m| wire_size(&m.raw)).collect();
        let deleted = vec![false; messages.len()];
        Self {
            mailbox,
            messages,
            sizes,
            deleted,
        }
    }

    /// Messages not marked deleted, and their octets.
    fn totals(&self) -> (usize, usize) {
        (0..self.messages.len())
            .filter(|&i| !self.deleted[i])
            .fold((0, 0), |(n, o), i| (n + 1, o + self.sizes[i]))
    }
}

/// The lines of a message as POP3 sends them: split at LF, a CR before it dropped.
fn lines(raw: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = raw.strip_suffix(b"\n").unwrap_or(raw);
    let empty = raw.is_empty();
    body.split(|&b| b == b'\n')
        .filter(move |_| !empty)
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

/// The size POP3 reports: every line with CRLF, before dot-stuffing (RFC 1939 §11).
pub fn wire_size(raw: &[u8]) -> usize {
    lines(raw).map(|l| l.len() + 2).sum()
}

/// Append `lines` dot-stuffed with CRLF endings (RFC 1939 §3).
fn stuff<'a>(out: &mut Vec<u8>, lines: impl Iterator<Item = &'a [u8]>) {
    for l in lines {
        if l.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(l);
        out.extend_from_slice(b"\r\n");
    }
}

#[derive(Debug)]
struct Login {
    principal: Principal,
    user: String,
}

/// Transaction commands: in the wrong state they get Exchange's state answers.
const TRANSACTION: &[&str] = &["STAT", "LIST", "UIDL", "RETR", "TOP", "DELE", "RSET", "NOOP"];

pub struct Session {
    pop: Arc<Pop3State>,
    peer: String,
    tls: bool,
    state: State,
    failed_auth: u32,
    pre_auth_commands: u32,
    unknown_commands: u32,
    login: Option<Login>,
    /// Tenant and app of the last verified token, for journal entries of refusals.
    last_principal: Option<(String, String)>,
}

impl Session {
    pub fn new(pop: Arc<Pop3State>, peer: String, tls: bool) -> Self {
        Self {
            pop,
            peer,
            tls,
            state: State::Authorization { user_given: false },
            failed_auth: 0,
            pre_auth_commands: 0,
            unknown_commands: 0,
            login: None,
            last_principal: None,
        }
    }

    pub fn config(&self) -> &Pop3Config {
        &self.pop.config
    }

    fn personality(&self) -> Personality {
        self.pop.config.personality
    }

    pub fn greeting(&self) -> Vec<u8> {
        p::greeting(self.personality(), &self.pop.config.fqdn).into_bytes()
    }

    pub fn expects(&self) -> Expect {
        match self.state {
            State::Authenticating(_) => Expect::SaslResponse,
            _ => Expect::Command,
        }
    }

    /// The longest line (without CRLF) the connection may hold in the current state.
    pub fn line_limit(&self) -> usize {
        match self.expects() {
            Expect::SaslResponse => self.pop.config.max_sasl_line,
            Expect::Command => self.pop.config.max_command_line,
        }
    }

    pub fn is_authenticated(&self) -> bool {
        self.login.is_some()
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// The connection switched to TLS after STLS.
    pub fn tls_started(&mut self) {
        self.tls = true;
    }

    /// The user= the session authenticated as, if any.
    pub fn user(&self) -> Option<&str> {
        self.login.as_ref().map(|l| l.user.as_str())
    }

    /// Ask for a fault at `hook`, journaled with this connection's peer.
    pub fn fault(&self, hook: crate::faults::Hook) -> Option<crate::faults::Fired> {
        self.pop
            .core
            .fire(&crate::faults::Probe::new(hook), Some(self.peer.clone()))
    }

    fn journal(
        &self,
        request: String,
        outcome: Outcome,
        error: Option<&str>,
        reason: Option<String>,
        fix: Option<String>,
    ) {
        let error = error.map(|e| e.trim_end().replace("\r\n", " "));
        match outcome {
            Outcome::Authenticated => {
                tracing::info!(peer = %self.peer, %request, reason = ?reason, "pop3 authenticated")
            }
            _ => tracing::info!(
                peer = %self.peer, %request, outcome = ?outcome, answer = ?error, reason = ?reason, fix = ?fix,
                "pop3 refused"
            ),
        }
        let (tenant, client_id) = match (&self.login, &self.last_principal) {
            (Some(l), _) => (Some(l.principal.tenant_id.clone()), Some(l.principal.app_id.clone())),
            (None, Some((t, a))) => (Some(t.clone()), Some(a.clone())),
            (None, None) => (None, None),
        };
        self.pop.core.journal.record(JournalEntry {
            peer: Some(self.peer.clone()),
            tenant,
            client_id,
            error,
            reason,
            fix,
            ..JournalEntry::new(journal::Protocol::Pop3, self.pop.core.clock.now(), request, outcome)
        });
    }

    /// The deadline passed: the pre-authentication deadline, or the idle autologout.
    pub fn timed_out(&mut self) -> Reply {
        let reason = if self.login.is_some() {
            format!("no command for {:?} (autologout)", self.pop.config.idle_timeout)
        } else {
            format!(
                "not authenticated within {:?} of connecting (PreAuthenticatedConnectionTimeout)",
                self.pop.config.pre_auth_timeout
            )
        };
        self.journal("(timeout)".into(), Outcome::Ended, Some(p::TIMEOUT), Some(reason), None);
        self.state = State::Closed;
        Reply::text(p::TIMEOUT).close()
    }

    /// A line longer than [`Session::line_limit`]: Exchange's CommandTooLong. `prefix` is
    /// the start of the line, to say which mistake it was.
    pub fn too_long(&mut self, prefix: &[u8]) -> Reply {
        let head = String::from_utf8_lossy(&prefix[..prefix.len().min(16)]).to_ascii_uppercase();
        let (request, reason, fix) = if self.expects() == Expect::SaslResponse {
            (
                "AUTH XOAUTH2 (response)".to_string(),
                format!(
                    "the SASL response is longer than {} bytes; Exchange Online refuses such tokens since 2025-07-16",
                    self.pop.config.max_sasl_line
                ),
                "shrink the token (drop optional claims and group claims)".to_string(),
            )
        } else if head.starts_with("AUTH ") {
            (
                "AUTH (single line)".to_string(),
                format!(
                    "single-line AUTH with the initial response ({} bytes and more): Exchange's POP3 takes the SASL response only on its own line after \"+ \"",
                    self.pop.config.max_command_line
                ),
                two_line_fix(),
            )
        } else {
            (
                "(line too long)".to_string(),
                format!(
                    "a command line longer than {} bytes (Exchange's POP3 MaxCommandSize)",
                    self.pop.config.max_command_line
                ),
                "send shorter commands".to_string(),
            )
        };
        self.journal(
            request,
            Outcome::Refused,
            Some(p::PROTOCOL_ERROR_CLOSED),
            Some(reason),
            Some(fix),
        );
        self.state = State::Closed;
        Reply::text(p::PROTOCOL_ERROR_CLOSED).close()
    }

    /// One complete line from the client, without its CRLF.
    pub fn line(&mut self, line: &[u8]) -> Reply {
        match self.state {
            State::Closed => Reply::new().close(),
            State::Authenticating(m) => self.sasl_response(m, line),
            _ => self.command(line),
        }
    }

    /// A command line: a fault armed for it answers instead (or shapes the answer).
    fn command(&mut self, line: &[u8]) -> Reply {
        use crate::faults::{Hook, Kind, Probe};
        let text = String::from_utf8_lossy(line);
        let (keyword, args) = match text.split_once(' ') {
            Some((k, a)) => (k.to_ascii_uppercase(), a.to_string()),
            None => (text.to_ascii_uppercase(), String::new()),
        };
        let client_id = match (&self.login, &self.last_principal) {
            (Some(l), _) => Some(l.principal.app_id.clone()),
            (None, Some((_, a))) => Some(a.clone()),
            (None, None) => None,
        };
        let probe = Probe {
            client_id: client_id.as_deref(),
            user: self.login.as_ref().map(|l| l.user.as_str()),
            command: Some(keyword.as_str()),
            ..Probe::new(Hook::Pop3Command)
        };
        let Some(fired) = self.pop.core.fire(&probe, Some(self.peer.clone())) else {
            return self.command_inner(&keyword, &args);
        };
        let f = fired.fault;
        match f.kind {
            Kind::Reply => Reply::text(&format!("-ERR {}\r\n", f.reply_text())),
            Kind::Drop => {
                self.state = State::Closed;
                Reply::new().close()
            }
            Kind::Trickle => {
                let mut r = self.command_inner(&keyword, &args);
                r.trickle = Some(f.bytes.unwrap_or(1));
                r
            }
            Kind::Delay => {
                let mut r = self.command_inner(&keyword, &args);
                r.delay = Some(std::time::Duration::from_millis(f.millis.unwrap_or(0)));
                r
            }
            // Validation keeps other kinds away from this hook; answer normally if one slips by.
            _ => self.command_inner(&keyword, &args),
        }
    }

    fn command_inner(&mut self, keyword: &str, args: &str) -> Reply {
        let mut r = match keyword {
            "CAPA" => Reply::text(if self.tls { p::CAPA_TLS } else { p::CAPA_PLAIN }),
            "QUIT" => return self.quit(),
            "STLS" => {
                if self.tls || self.login.is_some() {
                    Reply::text(p::INVALID_STATE)
                } else {
                    let mut r = Reply::text(p::BEGIN_TLS);
                    r.action = Action::StartTls;
                    r
                }
            }
            "AUTH" => self.auth(args),
            "USER" => {
                if self.login.is_some() || !self.tls {
                    Reply::text(p::INVALID_STATE)
                } else {
                    // Exchange takes the name and refuses at PASS (UNCONFIRMED; the
                    // refusal text itself is from a 2025–2026 probe).
                    self.state = State::Authorization { user_given: true };
                    Reply::text(p::OK)
                }
            }
            "PASS" => {
                if self.login.is_some() || !self.tls || !matches!(self.state, State::Authorization { user_given: true })
                {
                    Reply::text(p::INVALID_STATE)
                } else {
                    self.state = State::Authorization { user_given: false };
                    return self.fail_auth(
                        "USER/PASS".into(),
                        self.personality().basic_auth_refused(),
                        "basic authentication (USER/PASS) is disabled in Exchange Online".into(),
                        Some(
                            "use AUTH XOAUTH2 with an OAuth access token (POP.AccessAsApp or POP.AccessAsUser.All)"
                                .into(),
                        ),
                    );
                }
            }
            k if TRANSACTION.contains(&k) => return self.transaction(k, args),
            _ => {
                self.unknown_commands += 1;
                if self.unknown_commands >= super::MAX_UNKNOWN_COMMANDS {
                    self.journal(
                        "(unknown commands)".into(),
                        Outcome::Ended,
                        Some(p::PROTOCOL_ERROR_CLOSE),
                        Some(format!("{} unknown commands", self.unknown_commands)),
                        Some("send only RFC 1939/2449/5034 commands Exchange knows".into()),
                    );
                    self.state = State::Closed;
                    Reply::text(p::PROTOCOL_ERROR_CLOSE).close()
                } else {
                    Reply::text(p::PROTOCOL_ERROR)
                }
            }
        };
        self.count_pre_auth(&mut r);
        r
    }

    fn count_pre_auth(&mut self, r: &mut Reply) {
        if self.login.is_some() || r.action != Action::Continue {
            return;
        }
        self.pre_auth_commands += 1;
        if self.pre_auth_commands >= super::MAX_PRE_AUTH_COMMANDS {
            // Exchange 2013: "Session disconnected after 9 pre-auth commands"; the
            // response is sent, then the connection closes.
            self.journal(
                "(pre-auth limit)".into(),
                Outcome::Ended,
                None,
                Some(format!("{} commands without authenticating", self.pre_auth_commands)),
                Some("authenticate right after CAPA".into()),
            );
            r.action = Action::Close;
            self.state = State::Closed;
        }
    }

    fn quit(&mut self) -> Reply {
        // RFC 1939 UPDATE state: only QUIT in TRANSACTION removes what DELE marked.
        if let State::Transaction(drop) = &self.state {
            let uids: Vec<u32> = (0..drop.messages.len())
                .filter(|&i| drop.deleted[i])
                .map(|i| drop.messages[i].uid)
                .collect();
            if !uids.is_empty() {
                let removed = drop
                    .mailbox
                    .store_flags(INBOX, &uids, FlagOp::Add, Flags::DELETED)
                    .and_then(|_| drop.mailbox.expunge(INBOX, Some(&uids)));
                if let Err(e) = removed {
                    tracing::warn!(peer = %self.peer, error = %e, "pop3: QUIT could not remove messages");
                }
            }
        }
        self.state = State::Closed;
        Reply::text(p::SIGNING_OFF).close()
    }

    fn auth(&mut self, args: &str) -> Reply {
        if self.login.is_some() || !self.tls {
            return Reply::text(p::INVALID_STATE);
        }
        if args.is_empty() {
            return Reply::text(p::AUTH_LIST);
        }
        let (mechanism, initial) = match args.split_once(' ') {
            Some((m, i)) => (m, Some(i)),
            None => (args, None),
        };
        if initial.is_some() {
            // Reference §3.1: Exchange's POP3 refuses an initial response on the AUTH
            // line (its argument parser takes one word) and closes the connection.
            self.journal(
                format!("AUTH {} (single line)", mechanism.to_ascii_uppercase()),
                Outcome::Refused,
                Some(p::PROTOCOL_ERROR_CLOSED),
                Some("single-line AUTH with the initial response: Exchange's POP3 takes the SASL response only on its own line after \"+ \"".into()),
                Some(two_line_fix()),
            );
            self.state = State::Closed;
            return Reply::text(p::PROTOCOL_ERROR_CLOSED).close();
        }
        let mechanism_upper = mechanism.to_ascii_uppercase();
        let m = match mechanism_upper.as_str() {
            "XOAUTH2" => Mechanism::Xoauth2,
            "PLAIN" => Mechanism::Plain,
            _ => {
                self.journal(
                    format!("AUTH {mechanism_upper}"),
                    Outcome::Refused,
                    Some(p::PROTOCOL_ERROR),
                    Some(format!(
                        "mechanism {mechanism_upper} is not offered; Exchange Online's POP3 offers XOAUTH2 (and PLAIN, which basic-auth retirement refuses)"
                    )),
                    Some("use AUTH XOAUTH2".into()),
                );
                return Reply::text(p::PROTOCOL_ERROR);
            }
        };
        self.state = State::Authenticating(m);
        Reply::text(p::CONTINUATION)
    }

    fn sasl_response(&mut self, mechanism: Mechanism, line: &[u8]) -> Reply {
        self.state = State::Authorization { user_given: false };
        if line.first() == Some(&b'*') {
            // Exchange's test: the first byte of the line is '*'.
            return self.fail_auth(
                "AUTH XOAUTH2 (cancelled)".into(),
                p::AUTH_CANCELLED,
                "the client sent * to cancel the exchange".into(),
                None,
            );
        }
        if mechanism == Mechanism::Plain {
            return self.fail_auth(
                "AUTH PLAIN".into(),
                p::AUTH_FAILED,
                "basic authentication (AUTH PLAIN with a password) is disabled in Exchange Online".into(),
                Some("use AUTH XOAUTH2 with an OAuth access token".into()),
            );
        }
        let blob = match xoauth2::decode(line, self.pop.config.xoauth2_mode) {
            Ok(b) => b,
            Err(e) => {
                return self.fail_auth(
                    "AUTH XOAUTH2".into(),
                    p::AUTH_FAILED,
                    format!("malformed XOAUTH2: {e}"),
                    Some("send base64(\"user=\" + mailbox + \"\\x01auth=Bearer \" + token + \"\\x01\\x01\")".into()),
                )
            }
        };
        let request = format!("AUTH XOAUTH2 user={}", blob.user);
        let now = self.pop.core.clock.now();
        let directory = self.pop.core.directory().clone();
        let principal = match verifier::verify(&blob.token, &self.pop.core.authority(), &directory, now) {
            Ok(p) => p,
            Err(rej) => return self.fail_auth(request, p::AUTH_FAILED, rej.reason, rej.fix),
        };
        self.last_principal = Some((principal.tenant_id.clone(), principal.app_id.clone()));
        match access::decide(&directory, &principal, &blob.user, Protocol::Pop) {
            Access::AuthenticationFailed(cause) => self.fail_auth(request, p::AUTH_FAILED, cause.reason(), cause.fix()),
            Access::NotConnected { cause, .. } => {
                self.not_connected_login(principal, blob.user, request, cause.reason(), cause.fix())
            }
            Access::Granted { mailbox } => {
                let Some(store) = self.pop.core.store.mailbox(&mailbox) else {
                    return self.not_connected_login(
                        principal,
                        blob.user,
                        request,
                        format!("{mailbox} has no mailbox in the mail store"),
                        Some("New-Mailbox (or reset the server to its fixture)".into()),
                    );
                };
                let who = match &principal.kind {
                    PrincipalKind::App { .. } => {
                        format!("app {} (service principal {})", principal.app_id, principal.oid)
                    }
                    PrincipalKind::Delegated { upn, .. } => format!("user {upn}"),
                };
                let drop = Maildrop::open(store);
                let (n, octets) = drop.totals();
                self.login = Some(Login {
                    principal,
                    user: blob.user,
                });
                self.journal(
                    request,
                    Outcome::Authenticated,
                    None,
                    Some(format!("{who} opened {mailbox} (INBOX: {n} messages, {octets} octets)")),
                    None,
                );
                self.state = State::Transaction(drop);
                Reply::text(p::AUTH_OK)
            }
        }
    }

    fn not_connected_login(
        &mut self,
        principal: Principal,
        user: String,
        request: String,
        reason: String,
        fix: Option<String>,
    ) -> Reply {
        self.login = Some(Login { principal, user });
        self.state = State::NotConnected { answers: 0 };
        self.journal(
            request,
            Outcome::NotConnected,
            Some(p::NOT_CONNECTED),
            Some(reason),
            fix,
        );
        Reply::text(p::AUTH_OK)
    }

    fn fail_auth(&mut self, request: String, answer: &str, reason: String, fix: Option<String>) -> Reply {
        let mut r = Reply::text(answer);
        self.failed_auth += 1;
        self.journal(request, Outcome::Refused, Some(answer), Some(reason), fix);
        if self.failed_auth >= self.pop.config.max_failed_auth {
            r.line(p::TOO_MANY_FAILURES);
            self.state = State::Closed;
            return r.close();
        }
        self.count_pre_auth(&mut r);
        r
    }

    fn transaction(&mut self, keyword: &str, args: &str) -> Reply {
        match &mut self.state {
            State::Transaction(_) => {}
            State::NotConnected { answers } => {
                *answers += 1;
                let mut r = Reply::text(p::NOT_CONNECTED);
                if *answers >= super::MAX_NOT_CONNECTED_ANSWERS {
                    r.line(p::NOT_CONNECTED_CLOSE);
                    let n = *answers;
                    self.journal(
                        keyword.to_string(),
                        Outcome::Ended,
                        Some(p::NOT_CONNECTED_CLOSE),
                        Some(format!("{n} commands while authenticated but not connected")),
                        Some("fix the mailbox access the authentication entry names, then reconnect".into()),
                    );
                    self.state = State::Closed;
                    return r.close();
                }
                return r;
            }
            _ => {
                let mut r = Reply::text(p::INVALID_STATE);
                self.count_pre_auth(&mut r);
                return r;
            }
        }
        // A session whose token has expired is invalidated at its next command.
        if let Some(login) = &self.login {
            let now = self.pop.core.clock.now();
            if now >= login.principal.expires {
                let expires = login.principal.expires;
                self.journal(
                    format!("{keyword} (after token expiry)"),
                    Outcome::Ended,
                    Some(p::TOKEN_EXPIRED),
                    Some(format!("the access token expired at {expires} (server time {now})")),
                    Some("refresh the token before it expires and reconnect".into()),
                );
                self.state = State::Closed;
                return Reply::text(p::TOKEN_EXPIRED).close();
            }
        }
        let State::Transaction(drop) = &mut self.state else {
            return Reply::text(p::INVALID_STATE);
        };
        let words: Vec<&str> = if args.is_empty() {
            Vec::new()
        } else {
            args.split(' ').collect()
        };
        // A message number: 1-based, in range, not deleted.
        let pick = |drop: &Maildrop, word: &str| -> Result<usize, &'static str> {
            let n: usize = word.parse().map_err(|_| p::PROTOCOL_ERROR)?;
            if n == 0 || n > drop.messages.len() {
                return Err(p::NO_SUCH_MESSAGE);
            }
            if drop.deleted[n - 1] {
                return Err(p::MESSAGE_DELETED);
            }
            Ok(n - 1)
        };
        let mut r = Reply::new();
        match (keyword, words.as_slice()) {
            ("NOOP", []) => r.line(p::OK),
            ("RSET", []) => {
                drop.deleted.iter_mut().for_each(|d| *d = false);
                r.line(p::OK);
            }
            ("STAT", []) => {
                let (n, octets) = drop.totals();
                r.line(&format!("+OK {n} {octets}\r\n"));
            }
            ("LIST", []) => {
                let (n, octets) = drop.totals();
                r.line(&format!("+OK {n} {octets}\r\n"));
                for i in (0..drop.messages.len()).filter(|&i| !drop.deleted[i]) {
                    r.line(&format!("{} {}\r\n", i + 1, drop.sizes[i]));
                }
                r.line(".\r\n");
            }
            ("LIST", [n]) => match pick(drop, n) {
                Ok(i) => r.line(&format!("+OK {} {}\r\n", i + 1, drop.sizes[i])),
                Err(e) => r.line(e),
            },
            ("UIDL", []) => {
                r.line(p::OK);
                for i in (0..drop.messages.len()).filter(|&i| !drop.deleted[i]) {
                    r.line(&format!("{} {}\r\n", i + 1, drop.messages[i].uid));
                }
                r.line(".\r\n");
            }
            ("UIDL", [n]) => match pick(drop, n) {
                Ok(i) => r.line(&format!("+OK {} {}\r\n", i + 1, drop.messages[i].uid)),
                Err(e) => r.line(e),
            },
            ("RETR", [n]) => match pick(drop, n) {
                Ok(i) => {
                    r.line(p::OK);
                    stuff(&mut r.out, lines(&drop.messages[i].raw));
                    r.line(".\r\n");
                }
                Err(e) => r.line(e),
            },
            ("TOP", [n, k]) => match (pick(drop, n), k.parse::<usize>()) {
                (Ok(i), Ok(k)) => {
                    let m = &drop.messages[i];
                    r.line(p::OK);
                    stuff(&mut r.out, lines(m.header()));
                    stuff(&mut r.out, lines(m.text()).take(k));
                    r.line(".\r\n");
                }
                (Err(e), _) => r.line(e),
                (Ok(_), Err(_)) => r.line(p::PROTOCOL_ERROR),
            },
            ("DELE", [n]) => match pick(drop, n) {
                Ok(i) => {
                    drop.deleted[i] = true;
                    r.line(p::OK);
                }
                Err(e) => r.line(e),
            },
            // Right command, wrong number of arguments.
            _ => r.line(p::PROTOCOL_ERROR),
        }
        r
    }
}

fn two_line_fix() -> String {
    "send \"AUTH XOAUTH2\", wait for \"+ \", then send the base64 XOAUTH2 blob on its own line (Jakarta Mail: mail.pop3.auth.xoauth2.two.line.authentication.format=true)".into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::directory::fixture::demo_tenant;
    use crate::state::Core;

    const CONTOSO: &str = "c0ffee00-1111-4222-8333-444455556666";
    const USER: &str = "test.user@contoso.com";

    fn state() -> Arc<Pop3State> {
        let core = Core::new(demo_tenant().expect("demo"), Clock::system()).expect("core");
        Arc::new(Pop3State::new(Arc::new(core), Pop3Config::default()))
    }

    /// An app token of demo app `nn` signed by the server's own key, as the token
    /// endpoint would issue it.
    fn app_token(pop: &Pop3State, nn: u32, roles: &[&str]) -> String {
        let now = pop.core.clock.now().unix_timestamp();
        let claims = serde_json::json!({
            "aud": "https://outlook.office365.com",
            "iss": format!("https://sts.windows.net/{CONTOSO}/"),
            "tid": CONTOSO,
            "iat": now, "nbf": now, "exp": now + 3600,
            "appid": format!("00000000-0000-4000-8000-00000000a{nn:03}"),
            "oid": format!("00000000-0000-4000-8000-00000000c{nn:03}"),
            "roles": roles,
        });
        pop.core.authority().sign(&claims, None).expect("sign")
    }

    fn say(s: &mut Session, line: &str) -> String {
        String::from_utf8_lossy(&s.line(line.as_bytes()).out).into_owned()
    }

    fn login(pop: &Arc<Pop3State>, nn: u32, user: &str) -> (Session, String) {
        let mut s = Session::new(pop.clone(), "test".into(), true);
        assert_eq!(say(&mut s, "AUTH XOAUTH2"), "+ \r\n");
        let token = app_token(pop, nn, &["POP.AccessAsApp"]);
        let r = say(&mut s, &xoauth2::encode(user, &token));
        (s, r)
    }

    #[test]
    fn capa_differs_before_and_after_tls() {
        let pop = state();
        let mut plain = Session::new(pop.clone(), "t".into(), false);
        assert_eq!(say(&mut plain, "CAPA"), "+OK\r\nTOP\r\nUIDL\r\nSTLS\r\n.\r\n");
        let r = plain.line(b"STLS");
        assert_eq!(r.out, b"+OK Begin TLS negotiation.\r\n");
        assert_eq!(r.action, Action::StartTls);
        plain.tls_started();
        assert_eq!(
            say(&mut plain, "capa"),
            "+OK\r\nTOP\r\nUIDL\r\nSASL PLAIN XOAUTH2\r\nUSER\r\n.\r\n"
        );
        assert_eq!(say(&mut plain, "STLS"), "-ERR Command is not valid in this state.\r\n");
    }

    #[test]
    fn single_line_auth_is_a_protocol_error_that_closes() {
        let pop = state();
        let mut s = Session::new(pop.clone(), "t".into(), true);
        let r = s.line(b"AUTH XOAUTH2 dXNlcj0=");
        assert_eq!(r.out, b"-ERR Protocol error. Connection is closed. 10\r\n");
        assert_eq!(r.action, Action::Close);
        let e = pop.core.journal.entries().pop().expect("journaled");
        assert!(e.fix.unwrap_or_default().contains("two.line"));
    }

    #[test]
    fn full_session_lists_retrieves_and_deletes_at_quit() {
        let pop = state();
        let (mut s, r) = login(&pop, 1, USER);
        assert_eq!(r, "+OK User successfully authenticated.\r\n");
        let stat = say(&mut s, "STAT");
        assert!(stat.starts_with("+OK 4 "), "{stat}");
        let list = say(&mut s, "LIST");
        assert_eq!(list.lines().count(), 6, "{list}");
        assert!(list.ends_with("\r\n.\r\n"));
        let retr = say(&mut s, "RETR 1");
        assert!(retr.starts_with("+OK\r\n") && retr.ends_with("\r\n.\r\n"));
        assert!(retr.contains("Subject: Test Mail\r\n"), "{retr}");
        let top = say(&mut s, "TOP 1 0");
        assert!(
            top.contains("Subject: Test Mail\r\n") && top.ends_with("\r\n\r\n.\r\n"),
            "{top}"
        );
        assert_eq!(say(&mut s, "DELE 1"), "+OK\r\n");
        assert_eq!(
            say(&mut s, "RETR 1"),
            "-ERR The specified message has been deleted.\r\n"
        );
        assert_eq!(say(&mut s, "RETR 9"), "-ERR The specified message is out of range.\r\n");
        assert_eq!(say(&mut s, "RSET"), "+OK\r\n");
        assert_eq!(say(&mut s, "DELE 2"), "+OK\r\n");
        assert!(say(&mut s, "STAT").starts_with("+OK 3 "));
        let mbx = pop.core.store.mailbox(USER).expect("mailbox");
        assert_eq!(
            mbx.status(INBOX).expect("inbox").messages,
            4,
            "nothing removed before QUIT"
        );
        let r = s.line(b"QUIT");
        assert_eq!(r.out, b"+OK Microsoft Exchange Server POP3 server signing off.\r\n");
        assert_eq!(r.action, Action::Close);
        let left: Vec<u32> = mbx
            .snapshot(INBOX)
            .expect("inbox")
            .entries
            .iter()
            .map(|e| e.0)
            .collect();
        assert_eq!(left, [1, 3, 4]);
    }

    #[test]
    fn not_connected_answers_close_on_the_third() {
        let pop = state();
        // App 04: registered, no FullAccess.
        let (mut s, r) = login(&pop, 4, USER);
        assert_eq!(r, "+OK User successfully authenticated.\r\n");
        assert_eq!(say(&mut s, "STAT"), "-ERR User is authenticated but not connected.\r\n");
        assert_eq!(say(&mut s, "LIST"), "-ERR User is authenticated but not connected.\r\n");
        let r = s.line(b"UIDL");
        assert_eq!(
            r.out,
            b"-ERR User is authenticated but not connected.\r\nConnection is closed. 21\r\n"
        );
        assert_eq!(r.action, Action::Close);
    }

    #[test]
    fn pop_disabled_mailbox_is_not_connected_with_the_cas_fix() {
        let pop = state();
        let (_, r) = login(&pop, 1, "imap.disabled@contoso.com");
        assert_eq!(r, "+OK User successfully authenticated.\r\n");
        let e = pop.core.journal.entries().pop().expect("journaled");
        assert_eq!(e.outcome, Outcome::NotConnected);
        assert_eq!(
            e.fix.as_deref(),
            Some("Set-CASMailbox -Identity imap.disabled@contoso.com -PopEnabled $true")
        );
    }

    #[test]
    fn third_failure_closes_with_connection_is_closed_21() {
        let pop = state();
        let mut s = Session::new(pop.clone(), "t".into(), true);
        for i in 1..=3 {
            assert_eq!(say(&mut s, "AUTH XOAUTH2"), "+ \r\n");
            let r = s.line(b"bm90IGEgdG9rZW4=");
            let text = String::from_utf8_lossy(&r.out).into_owned();
            if i < 3 {
                assert_eq!(
                    text,
                    "-ERR Authentication failure: unknown user name or bad password.\r\n"
                );
                assert_eq!(r.action, Action::Continue);
            } else {
                assert_eq!(
                    text,
                    "-ERR Authentication failure: unknown user name or bad password.\r\nConnection is closed. 21\r\n"
                );
                assert_eq!(r.action, Action::Close);
            }
        }
    }

    #[test]
    fn user_pass_is_basic_auth_and_refused() {
        let pop = state();
        let mut s = Session::new(pop.clone(), "t".into(), true);
        assert_eq!(say(&mut s, "PASS x"), "-ERR Command is not valid in this state.\r\n");
        assert_eq!(say(&mut s, "USER test.user@contoso.com"), "+OK\r\n");
        assert_eq!(
            say(&mut s, "PASS Passw0rd!"),
            "-ERR Basic authentication is disabled\r\n"
        );
        let e = pop.core.journal.entries().pop().expect("journaled");
        assert_eq!(e.request, "USER/PASS");
        assert!(
            !format!("{e:?}").contains("Passw0rd"),
            "the password never reaches the journal"
        );
    }

    #[test]
    fn cancel_and_unknown_mechanism_and_unknown_commands() {
        let pop = state();
        let mut s = Session::new(pop.clone(), "t".into(), true);
        assert_eq!(say(&mut s, "AUTH"), "+OK\r\nPLAIN\r\nXOAUTH2\r\n.\r\n");
        assert_eq!(say(&mut s, "AUTH OAUTHBEARER"), "-ERR Protocol error. 14\r\n");
        assert_eq!(say(&mut s, "AUTH XOAUTH2"), "+ \r\n");
        assert_eq!(
            say(&mut s, "*"),
            "-ERR The AUTH protocol exchange was canceled by the client.\r\n"
        );
        assert_eq!(say(&mut s, "STAT"), "-ERR Command is not valid in this state.\r\n");
        let mut s = Session::new(pop, "t".into(), true);
        assert_eq!(say(&mut s, "HELO"), "-ERR Protocol error. 14\r\n");
        assert_eq!(say(&mut s, "XYZZY"), "-ERR Protocol error. 14\r\n");
        let r = s.line(b"APOP a b");
        assert_eq!(r.out, b"-ERR Protocol error. 20\r\n");
        assert_eq!(r.action, Action::Close);
    }

    #[test]
    fn nine_pre_auth_commands_close() {
        let mut s = Session::new(state(), "t".into(), true);
        for _ in 0..8 {
            assert_eq!(s.line(b"CAPA").action, Action::Continue);
        }
        assert_eq!(s.line(b"CAPA").action, Action::Close);
    }

    #[test]
    fn wire_size_counts_crlf_lines_and_dot_stuffing_is_applied() {
        assert_eq!(wire_size(b"a\nb\n"), 6);
        assert_eq!(wire_size(b"a\r\nb\r\n"), 6);
        assert_eq!(wire_size(b"a\r\nb"), 6);
        assert_eq!(wire_size(b""), 0);
        let mut out = Vec::new();
        stuff(&mut out, lines(b"H: v\r\n\r\n.\r\n..x\n"));
        assert_eq!(out, b"H: v\r\n\r\n..\r\n...x\r\n");
    }
}
