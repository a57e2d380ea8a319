//! The SMTP session as a sans-I/O state machine: bytes in (as they arrive, any split),
//! response bytes and an action out. It never awaits and never touches a socket, so
//! every exchange is unit-testable without one.
//!
//! Input is held only until a line ends: at most [`super::SmtpConfig::max_line`] bytes
//! in command mode (a longer line is dropped as it arrives and answered once its CRLF
//! comes); message content is appended as it arrives, up to the message size limit, and
//! then discarded (answered `552 5.3.4` at end of data). Only CRLF ends a line: a bare
//! LF is data, as on Exchange (email-oauth2-proxy #234), so `LF . LF` never ends DATA.

use super::personality as p;
use super::{SmtpConfig, SmtpState};
use crate::directory::access::{self, Access, Cause, Protocol};
use crate::faults::{Hook, Kind, Probe};
use crate::journal::{self, JournalEntry, Outcome};
use crate::mailstore::SentMail;
pub use crate::net::{Action, Reply};
use crate::sasl::xoauth2::{self, Xoauth2Error};
use crate::token::verifier::{self, Principal, PrincipalKind};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::sync::Arc;
use std::time::Duration;

impl Reply {
    fn wait(&mut self, d: Duration) {
        if !d.is_zero() {
            self.delay = Some(self.delay.map_or(d, |x| x.max(d)));
        }
    }
}

#[derive(Debug)]
enum State {
    Command,
    /// After `334`: the XOAUTH2 response line.
    Xoauth2,
    /// AUTH LOGIN: the user name, then the password.
    LoginUser,
    LoginPassword,
    /// After `354`: message content until CRLF.CRLF.
    Data,
    /// A BDAT chunk of `remaining` more bytes; `refusal` answers it instead when set.
    Bdat {
        size: usize,
        remaining: usize,
        last: bool,
        refusal: Option<String>,
    },
    Closed,
}

#[derive(Debug)]
struct Login {
    principal: Principal,
    /// The `user=` mailbox (lower case).
    mailbox: String,
    /// Authenticated, but the submission will fail at DATA (no FullAccess).
    refused: Option<Cause>,
}

#[derive(Debug)]
struct Envelope {
    from: String,
    rcpts: Vec<String>,
    binary: bool,
    /// A BDAT series has begun (DATA is then out of sequence).
    chunking: bool,
}

pub struct Session {
    smtp: Arc<SmtpState>,
    peer: String,
    peer_ip: String,
    tls: bool,
    /// Bytes received and not yet consumed.
    buf: Vec<u8>,
    /// An over-long line is being dropped until its CRLF.
    draining: bool,
    helo: bool,
    state: State,
    login: Option<Login>,
    failed_auth: u32,
    /// Tenant and app of the last verified token, for journal entries.
    last_principal: Option<(String, String)>,
    envelope: Option<Envelope>,
    message: Vec<u8>,
    oversize: bool,
    /// The next content byte starts a line (for the end marker and dot-unstuffing).
    line_start: bool,
}

/// Does `b` hold a CRLF, and where?
fn find_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

/// An EHLO/HELO argument Exchange accepts: a domain (letters, digits, `-`, labels not
/// empty, a final dot allowed) or an address literal `[192.0.2.1]` / `[IPv6:…]`.
fn valid_helo(arg: &str) -> bool {
    if let Some(lit) = arg.strip_prefix('[').and_then(|a| a.strip_suffix(']')) {
        let ip = lit.strip_prefix("IPv6:").unwrap_or(lit);
        return ip.parse::<std::net::IpAddr>().is_ok();
    }
    let name = arg.strip_suffix('.').unwrap_or(arg);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// An address as RFC 5321 paths carry it: `local@domain`, no spaces, controls or angle
/// brackets, a domain with a dot (or an address literal).
pub fn valid_address(a: &str) -> bool {
    let Some((local, domain)) = a.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && a.len() <= 254
        && !a
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '<' || c == '>')
        && (valid_helo(domain) && domain.contains('.') || domain.starts_with('['))
}

/// `FROM:<path> params` / `TO:<path> params`: the path (without brackets) and params.
fn parse_path<'a>(args: &'a str, keyword: &str) -> Option<(&'a str, Vec<&'a str>)> {
    let head = args.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = args[keyword.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let (path, params) = rest.split_once('>')?;
    if !params.is_empty() && !params.starts_with(' ') {
        return None;
    }
    Some((path, params.split(' ').filter(|s| !s.is_empty()).collect()))
}

/// The addresses of the header From fields of a message (`Name <a@b>` or `a@b`).
fn header_from(raw: &[u8]) -> Vec<String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(raw.len());
    let header = String::from_utf8_lossy(&raw[..end]);
    let mut values: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for line in header.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.starts_with([' ', '\t']) {
            if let Some(c) = &mut current {
                c.push_str(line);
            }
            continue;
        }
        if let Some(c) = current.take() {
            values.push(c);
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("from") {
                current = Some(value.to_string());
            }
        }
    }
    values.extend(current);
    let mut out = Vec::new();
    for v in values {
        for part in v.split(',') {
            let a = match (part.find('<'), part.rfind('>')) {
                (Some(s), Some(e)) if s < e => &part[s + 1..e],
                _ => part.trim(),
            };
            if a.contains('@') {
                out.push(a.trim().to_string());
            }
        }
    }
    out
}

/// The Message-ID and Subject of a message, for the outbox and the journal.
fn header_field(raw: &[u8], name: &str) -> Option<String> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).split("\r\n").find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

impl Session {
    pub fn new(smtp: Arc<SmtpState>, peer: std::net::SocketAddr) -> Self {
        Self {
            smtp,
            peer: peer.to_string(),
            peer_ip: peer.ip().to_string(),
            tls: false,
            buf: Vec::new(),
            draining: false,
            helo: false,
            state: State::Command,
            login: None,
            failed_auth: 0,
            last_principal: None,
            envelope: None,
            message: Vec::new(),
            oversize: false,
            line_start: true,
        }
    }

    pub fn config(&self) -> &SmtpConfig {
        &self.smtp.config
    }

    fn now(&self) -> time::OffsetDateTime {
        self.smtp.core.clock.now()
    }

    fn texts(&self) -> &p::Texts {
        &self.smtp.texts
    }

    /// The banner, from the server clock.
    pub fn banner(&self) -> Vec<u8> {
        self.texts().banner(self.now()).into_bytes()
    }

    pub fn is_authenticated(&self) -> bool {
        self.login.is_some()
    }

    /// The connection switched to TLS: the client starts over with EHLO (RFC 3207 §4.2).
    pub fn tls_started(&mut self) {
        self.tls = true;
        self.helo = false;
        self.envelope = None;
        self.buf.clear();
    }

    /// Bytes held (for tests of the memory bound).
    pub fn held(&self) -> usize {
        self.buf.len() + self.message.len()
    }

    /// The user= mailbox of the session, once authenticated.
    pub fn user(&self) -> Option<&str> {
        self.login.as_ref().map(|l| l.mailbox.as_str())
    }

    fn journal(
        &self,
        request: String,
        outcome: Outcome,
        error: Option<&str>,
        reason: Option<String>,
        fix: Option<String>,
    ) {
        self.journal_details(request, outcome, error, reason, fix, serde_json::Value::Null);
    }

    fn journal_details(
        &self,
        request: String,
        outcome: Outcome,
        error: Option<&str>,
        reason: Option<String>,
        fix: Option<String>,
        details: serde_json::Value,
    ) {
        tracing::info!(peer = %self.peer, %request, outcome = ?outcome, answer = ?error, reason = ?reason, "smtp");
        let (tenant, client_id) = match (&self.login, &self.last_principal) {
            (Some(l), _) => (Some(l.principal.tenant_id.clone()), Some(l.principal.app_id.clone())),
            (None, Some((t, a))) => (Some(t.clone()), Some(a.clone())),
            (None, None) => (None, None),
        };
        self.smtp.core.journal.record(JournalEntry {
            peer: Some(self.peer.clone()),
            tenant,
            client_id,
            error: error.map(|e| e.trim_end().to_string()),
            reason,
            fix,
            details,
            ..JournalEntry::new(journal::Protocol::Smtp, self.now(), request, outcome)
        });
    }

    /// Answer `line` and journal it as a refusal.
    fn refuse(&self, r: &mut Reply, line: &str, request: &str, reason: String, fix: Option<String>) {
        r.line(line);
        self.journal(request.to_string(), Outcome::Refused, Some(line), Some(reason), fix);
    }

    /// The inactivity or pre-authentication deadline passed.
    pub fn timed_out(&mut self, why: String) -> Reply {
        let mut r = Reply::new();
        let line = self.texts().timeout();
        r.line(&line);
        r.action = Action::Close;
        self.journal(
            "(timeout)".into(),
            Outcome::Ended,
            Some(&line),
            Some(why),
            Some("authenticate promptly and send a command at least every few minutes".into()),
        );
        self.state = State::Closed;
        r
    }

    /// The client closed the connection; a message in progress is dropped whole.
    pub fn disconnected(&mut self) {
        if matches!(self.state, State::Data | State::Bdat { .. }) || self.envelope.as_ref().is_some_and(|e| e.chunking)
        {
            self.journal(
                "(disconnect)".into(),
                Outcome::Ended,
                None,
                Some(format!(
                    "the client disconnected during a message ({} bytes received); nothing was delivered",
                    self.message.len()
                )),
                None,
            );
        }
        self.message = Vec::new();
        self.state = State::Closed;
    }

    /// Bytes from the client, split anywhere. Answers every complete command (pipelined
    /// commands in order); after STARTTLS or a close, the rest of the input is dropped.
    pub fn feed(&mut self, input: &[u8]) -> Reply {
        let mut r = Reply::new();
        self.buf.extend_from_slice(input);
        loop {
            if r.action != Action::Continue {
                self.buf.clear();
                break;
            }
            match self.state {
                State::Closed => {
                    self.buf.clear();
                    break;
                }
                State::Data => {
                    if !self.data_progress(&mut r) {
                        break;
                    }
                }
                State::Bdat { .. } => {
                    if !self.bdat_progress(&mut r) {
                        break;
                    }
                }
                _ => {
                    let max = self.config().max_line;
                    let Some(pos) = find_crlf(&self.buf) else {
                        if self.buf.len() > max {
                            // Drop what arrived of the over-long line (a final CR may be
                            // half of its CRLF) and answer it when it ends.
                            let keep_cr = self.buf.last() == Some(&b'\r');
                            self.buf.clear();
                            if keep_cr {
                                self.buf.push(b'\r');
                            }
                            self.draining = true;
                        }
                        break;
                    };
                    let line: Vec<u8> = self.buf[..pos].to_vec();
                    self.buf.drain(..pos + 2);
                    if self.draining || pos + 2 > max {
                        self.draining = false;
                        self.line_too_long(&mut r, pos + 2);
                        continue;
                    }
                    self.line(&line, &mut r);
                }
            }
        }
        r
    }

    fn line_too_long(&mut self, r: &mut Reply, len: usize) {
        let line = self.texts().unrecognized("", self.now());
        let max = self.config().max_line;
        match self.state {
            State::Xoauth2 | State::LoginUser | State::LoginPassword => {
                self.state = State::Command;
                self.auth_failure(
                    r,
                    self.texts().auth_failed(self.now()),
                    "AUTH (response)",
                    format!("the SASL response line is longer than {max} bytes"),
                    Some("shrink the token (fewer optional or group claims)".into()),
                );
            }
            _ => self.refuse(
                r,
                &line,
                "(line too long)",
                format!("a command line of at least {len} bytes; the limit is {max} (CRLF included)"),
                Some("end every command with CRLF; keep commands short".into()),
            ),
        }
    }

    fn line(&mut self, line: &[u8], r: &mut Reply) {
        match std::mem::replace(&mut self.state, State::Command) {
            State::Xoauth2 => self.xoauth2(line, r),
            State::LoginUser => {
                if line == b"*" {
                    let l = self.texts().auth_failed(self.now());
                    self.auth_failure(
                        r,
                        l,
                        "AUTH LOGIN (cancelled)",
                        "the client cancelled with *".into(),
                        None,
                    );
                } else {
                    r.line(p::LOGIN_PASSWORD);
                    self.state = State::LoginPassword;
                }
            }
            State::LoginPassword => self.basic_auth(r, "AUTH LOGIN"),
            State::Command => self.command(line, r),
            // `feed` routes the other states elsewhere.
            other => self.state = other,
        }
    }

    fn command(&mut self, line: &[u8], r: &mut Reply) {
        let text = String::from_utf8_lossy(line).into_owned();
        let (verb, args) = match text.split_once(' ') {
            Some((v, a)) => (v.to_ascii_uppercase(), a.trim_end().to_string()),
            None => (text.to_ascii_uppercase(), String::new()),
        };
        let client_id = match (&self.login, &self.last_principal) {
            (Some(l), _) => Some(l.principal.app_id.clone()),
            (None, Some((_, a))) => Some(a.clone()),
            (None, None) => None,
        };
        let probe = Probe {
            client_id: client_id.as_deref(),
            user: self.login.as_ref().map(|l| l.mailbox.as_str()),
            command: Some(verb.as_str()),
            ..Probe::new(Hook::SmtpCommand)
        };
        let Some(fired) = self.smtp.core.fire(&probe, Some(self.peer.clone())) else {
            return self.command_inner(&text, &verb, &args, r);
        };
        let f = fired.fault;
        match f.kind {
            Kind::Reply => {
                let code = f.reply.as_deref().unwrap_or("421");
                let text = f.text.clone().unwrap_or_else(|| default_fault_text(code).into());
                r.line(&format!("{code} {text}\r\n"));
                if code.starts_with("421") {
                    r.action = Action::Close;
                    self.state = State::Closed;
                } else if verb == "BDAT" {
                    // The chunk follows the command whatever the answer: consume it.
                    if let Some(size) = args.split(' ').next().and_then(|s| s.parse::<usize>().ok()) {
                        r.out.clear();
                        self.state = State::Bdat {
                            size,
                            remaining: size,
                            last: false,
                            refusal: Some(format!("{code} {text}\r\n")),
                        };
                    }
                } else if verb == "DATA" {
                    self.envelope = None;
                }
            }
            Kind::Drop => {
                r.action = Action::Close;
                self.state = State::Closed;
            }
            Kind::Trickle => {
                self.command_inner(&text, &verb, &args, r);
                r.trickle = Some(f.bytes.unwrap_or(1));
            }
            Kind::Delay => {
                self.command_inner(&text, &verb, &args, r);
                r.wait(Duration::from_millis(f.millis.unwrap_or(0)));
            }
            // Validation keeps other kinds away from this hook.
            _ => self.command_inner(&text, &verb, &args, r),
        }
    }

    fn command_inner(&mut self, text: &str, verb: &str, args: &str, r: &mut Reply) {
        let now = self.now();
        match verb {
            "EHLO" | "HELO" => {
                if !valid_helo(args) {
                    let l = self.texts().invalid_domain(now);
                    return self.refuse(
                        r,
                        &l,
                        verb,
                        format!("{verb} {args:?} is not a valid domain name or address literal"),
                        Some(format!(
                            "send {verb} with the client's fully qualified host name or [IP address]"
                        )),
                    );
                }
                self.helo = true;
                self.envelope = None;
                let answer = if verb == "EHLO" {
                    self.texts().ehlo(&self.peer_ip, self.tls)
                } else {
                    self.texts().helo(&self.peer_ip)
                };
                r.line(&answer);
            }
            "STARTTLS" => {
                if self.tls {
                    r.line(p::ALREADY_TLS);
                } else if !args.is_empty() {
                    r.line(p::INVALID_ARGUMENTS);
                } else {
                    r.line(p::STARTTLS_READY);
                    r.action = Action::StartTls;
                }
            }
            "AUTH" => self.auth(args, r),
            "MAIL" => self.mail(args, r),
            "RCPT" => self.rcpt(args, r),
            "DATA" => self.data(args, r),
            "BDAT" => self.bdat(args, r),
            "RSET" => {
                self.envelope = None;
                self.message = Vec::new();
                r.line(p::RESET);
            }
            "NOOP" => r.line(p::NOOP),
            "VRFY" => r.line(p::VRFY),
            "QUIT" => {
                r.line(p::QUIT);
                r.action = Action::Close;
                self.state = State::Closed;
            }
            _ => {
                let l = self.texts().unrecognized(text, now);
                let shown: String = verb.chars().take(32).filter(|c| !c.is_control()).collect();
                self.refuse(
                    r,
                    &l,
                    "(unrecognized command)",
                    format!("{shown:?} is not an SMTP command Exchange knows"),
                    Some(
                        "check the client speaks SMTP submission with STARTTLS on this port, and ends lines with CRLF"
                            .into(),
                    ),
                );
                r.wait(self.config().tarpit);
            }
        }
    }

    /// Checks shared by MAIL, RCPT, DATA and BDAT: hello first, then authentication.
    fn ready_to_send(&self, r: &mut Reply, verb: &str) -> bool {
        if !self.helo {
            r.line(p::SEND_HELLO_FIRST);
            return false;
        }
        if self.login.is_none() {
            let l = self.texts().not_authenticated(self.now());
            self.refuse(
                r,
                &l,
                verb,
                format!("{verb} before a successful AUTH"),
                Some(
                    "STARTTLS, EHLO, then AUTH XOAUTH2 with a token for https://outlook.office365.com before MAIL FROM"
                        .into(),
                ),
            );
            return false;
        }
        true
    }

    // ---- AUTH ----

    fn auth(&mut self, args: &str, r: &mut Reply) {
        let mut words = args.split(' ').filter(|s| !s.is_empty());
        let mechanism = words.next().unwrap_or("").to_ascii_uppercase();
        let initial = words.next().map(str::to_string);
        let now = self.now();
        if !self.tls {
            let l = self.texts().unrecognized_auth(now);
            return self.refuse(
                r,
                &l,
                &format!("AUTH {mechanism}"),
                "AUTH before STARTTLS: Exchange offers AUTH only on a TLS connection (the EHLO before TLS lists no AUTH)".into(),
                Some("send STARTTLS, EHLO again, then AUTH XOAUTH2".into()),
            );
        }
        if !self.helo {
            r.line(p::SEND_HELLO_FIRST);
            return;
        }
        if self.login.is_some() {
            r.line(p::ALREADY_AUTHENTICATED);
            return;
        }
        match mechanism.as_str() {
            "XOAUTH2" => match initial.as_deref() {
                None | Some("=") => {
                    r.line(if self.config().continuation_space {
                        p::CONTINUE_SPACE
                    } else {
                        p::CONTINUE_BARE
                    });
                    self.state = State::Xoauth2;
                }
                Some(ir) => self.xoauth2(ir.as_bytes(), r),
            },
            "LOGIN" => match initial {
                None => {
                    r.line(p::LOGIN_USERNAME);
                    self.state = State::LoginUser;
                }
                Some(_) => {
                    r.line(p::LOGIN_PASSWORD);
                    self.state = State::LoginPassword;
                }
            },
            _ => {
                let l = self.texts().unrecognized_auth(now);
                let shown: String = mechanism.chars().take(32).filter(|c| !c.is_control()).collect();
                self.auth_failure(
                    r,
                    l,
                    &format!("AUTH {shown}"),
                    format!("mechanism {shown:?} is not offered; Exchange Online offers AUTH LOGIN XOAUTH2 (and LOGIN only to refuse basic authentication)"),
                    Some("use AUTH XOAUTH2 with an OAuth 2.0 access token".into()),
                );
            }
        }
    }

    /// AUTH LOGIN with a password: basic authentication is retired.
    fn basic_auth(&mut self, r: &mut Reply, request: &str) {
        let l = self.texts().basic_auth_disabled(self.now());
        self.auth_failure(
            r,
            l,
            request,
            "basic authentication (user name and password) is disabled in Exchange Online".into(),
            Some("authenticate with AUTH XOAUTH2 and an OAuth 2.0 access token".into()),
        );
    }

    fn auth_failure(&mut self, r: &mut Reply, line: String, request: &str, reason: String, fix: Option<String>) {
        self.refuse(r, &line, request, reason, fix);
        self.failed_auth += 1;
        if self.failed_auth >= self.config().max_failed_auth {
            // UNCONFIRMED: Exchange Server's wording for a connection with too many errors.
            r.line("421 4.7.0 Too many errors on this connection, closing transmission channel\r\n");
            r.action = Action::Close;
            self.state = State::Closed;
        }
    }

    /// The XOAUTH2 response (base64), from the AUTH line or after `334`.
    fn xoauth2(&mut self, raw: &[u8], r: &mut Reply) {
        let now = self.now();
        let failed = self.texts().auth_failed(now);
        if raw == b"*" {
            // email-oauth2-proxy: a cancel on Exchange Online's SMTP gets 535, not 501.
            return self.auth_failure(
                r,
                failed,
                "AUTH XOAUTH2 (cancelled)",
                "the client sent * to cancel the exchange".into(),
                None,
            );
        }
        if raw.len() > self.config().max_sasl {
            return self.auth_failure(
                r,
                failed,
                "AUTH XOAUTH2",
                format!(
                    "the XOAUTH2 response is {} bytes; Exchange takes at most {} (since 2025-07-16)",
                    raw.len(),
                    self.config().max_sasl
                ),
                Some("shrink the token (fewer optional or group claims)".into()),
            );
        }
        let blob = match xoauth2::decode(raw, self.config().xoauth2_mode) {
            Ok(b) => b,
            Err(Xoauth2Error::EmptyUser) => {
                let l = self.texts().invalid_user_address(now);
                return self.auth_failure(
                    r,
                    l,
                    "AUTH XOAUTH2 user=",
                    "user= is empty".into(),
                    Some("put the mailbox's email address in user=".into()),
                );
            }
            Err(e) => {
                return self.auth_failure(
                    r,
                    failed,
                    "AUTH XOAUTH2",
                    format!("malformed XOAUTH2: {e}"),
                    Some("send base64(\"user=\" + mailbox + \"\\x01auth=Bearer \" + token + \"\\x01\\x01\")".into()),
                )
            }
        };
        let request = format!("AUTH XOAUTH2 user={}", blob.user);
        if !valid_address(&blob.user) {
            let l = self.texts().invalid_user_address(now);
            return self.auth_failure(
                r,
                l,
                &request,
                format!("user={} is not an email address", blob.user),
                Some("put the mailbox's email address in user= (the UPN for a delegated token)".into()),
            );
        }
        let directory = self.smtp.core.directory().clone();
        let principal = match verifier::verify(&blob.token, &self.smtp.core.authority(), &directory, now) {
            Ok(p) => p,
            Err(rej) => return self.auth_failure(r, failed, &request, rej.reason, rej.fix),
        };
        self.last_principal = Some((principal.tenant_id.clone(), principal.app_id.clone()));
        match access::decide(&directory, &principal, &blob.user, Protocol::Smtp) {
            Access::AuthenticationFailed(cause) => {
                let line = match cause {
                    Cause::SmtpAuthDisabledForTenant { .. } => self.texts().smtp_auth_disabled_tenant(now),
                    Cause::SmtpAuthDisabledForMailbox { .. } => self.texts().smtp_auth_disabled_mailbox(now),
                    _ => failed,
                };
                self.auth_failure(r, line, &request, cause.reason(), cause.fix());
            }
            Access::NotConnected { mailbox, cause } => {
                r.line(p::AUTH_SUCCESS);
                let answer = self.texts().storedrv_logon_failure(&mailbox, now);
                self.journal(
                    request,
                    Outcome::NotConnected,
                    Some(&answer),
                    Some(format!(
                        "{} (AUTH succeeds; DATA will answer 430 4.2.0 STOREDRV)",
                        cause.reason()
                    )),
                    cause.fix(),
                );
                self.login = Some(Login {
                    principal,
                    mailbox,
                    refused: Some(cause),
                });
            }
            Access::Granted { mailbox } => {
                r.line(p::AUTH_SUCCESS);
                let who = match &principal.kind {
                    PrincipalKind::App { .. } => {
                        format!("app {} (service principal {})", principal.app_id, principal.oid)
                    }
                    PrincipalKind::Delegated { upn, .. } => format!("user {upn}"),
                };
                self.login = Some(Login {
                    principal,
                    mailbox: mailbox.clone(),
                    refused: None,
                });
                self.journal(
                    request,
                    Outcome::Authenticated,
                    None,
                    Some(format!("{who} may send as {mailbox}")),
                    None,
                );
            }
        }
    }

    // ---- the mail transaction ----

    fn mail(&mut self, args: &str, r: &mut Reply) {
        if !self.ready_to_send(r, "MAIL FROM") {
            return;
        }
        if self.envelope.is_some() {
            r.line(p::SENDER_ALREADY);
            return;
        }
        let Some((path, params)) = parse_path(args, "FROM:") else {
            r.line(p::INVALID_ARGUMENTS);
            return;
        };
        if !path.is_empty() && !valid_address(path) {
            r.line(p::INVALID_SENDER);
            return;
        }
        let mut binary = false;
        for param in params {
            let (k, v) = param.split_once('=').unwrap_or((param, ""));
            match k.to_ascii_uppercase().as_str() {
                "SIZE" => match v.parse::<u64>() {
                    Ok(n) if n > self.config().max_message_size as u64 => {
                        let max = self.config().max_message_size;
                        return self.refuse(
                            r,
                            p::TOO_LARGE,
                            "MAIL FROM",
                            format!("SIZE={n} is over the maximum message size of {max} bytes (MaxSendSize)"),
                            Some("send a smaller message (attachments over 35 MB go by link)".into()),
                        );
                    }
                    Ok(_) => {}
                    Err(_) => {
                        r.line(p::INVALID_ARGUMENTS);
                        return;
                    }
                },
                "BODY" => match v.to_ascii_uppercase().as_str() {
                    "7BIT" | "8BITMIME" => {}
                    "BINARYMIME" => binary = true,
                    _ => {
                        r.line(p::INVALID_ARGUMENTS);
                        return;
                    }
                },
                "SMTPUTF8" | "RET" | "ENVID" | "AUTH" => {}
                _ => {
                    r.line(p::INVALID_ARGUMENTS);
                    return;
                }
            }
        }
        self.envelope = Some(Envelope {
            from: path.to_string(),
            rcpts: Vec::new(),
            binary,
            chunking: false,
        });
        r.line(p::SENDER_OK);
    }

    fn rcpt(&mut self, args: &str, r: &mut Reply) {
        if !self.ready_to_send(r, "RCPT TO") {
            return;
        }
        let max = self.config().max_recipients;
        let Some(env) = self.envelope.as_mut() else {
            r.line(p::NEED_MAIL);
            return;
        };
        let Some((path, params)) = parse_path(args, "TO:") else {
            r.line(p::INVALID_ARGUMENTS);
            return;
        };
        if !valid_address(path) {
            r.line(p::INVALID_RECIPIENT);
            return;
        }
        if params.iter().any(|p| {
            let k = p.split_once('=').map(|(k, _)| k).unwrap_or(p);
            !k.eq_ignore_ascii_case("NOTIFY") && !k.eq_ignore_ascii_case("ORCPT")
        }) {
            r.line(p::INVALID_ARGUMENTS);
            return;
        }
        if env.rcpts.len() >= max {
            r.line(p::TOO_MANY_RECIPIENTS);
            return;
        }
        env.rcpts.push(path.to_string());
        r.line(p::RECIPIENT_OK);
    }

    /// The DATA/BDAT checks after hello and AUTH: the answer that refuses, if any.
    fn transaction_refusal(&mut self, verb: &str) -> Option<String> {
        let env = match &self.envelope {
            None => return Some(p::NEED_MAIL.into()),
            Some(e) if e.rcpts.is_empty() => return Some(p::NEED_RCPT.into()),
            Some(e) => e,
        };
        if verb == "DATA" && (env.binary || env.chunking) {
            return Some(p::BDAT_MIXED.into());
        }
        let login = self.login.as_ref()?;
        let cause = login.refused.as_ref()?;
        let line = self.texts().storedrv_logon_failure(&login.mailbox, self.now());
        self.journal(
            verb.to_string(),
            Outcome::Refused,
            Some(&line),
            Some(cause.reason()),
            cause.fix(),
        );
        self.envelope = None;
        Some(line)
    }

    fn data(&mut self, args: &str, r: &mut Reply) {
        if !self.ready_to_send(r, "DATA") {
            return;
        }
        if !args.is_empty() {
            r.line(p::INVALID_ARGUMENTS);
            return;
        }
        if let Some(refusal) = self.transaction_refusal("DATA") {
            r.line(&refusal);
            return;
        }
        r.line(p::START_MAIL_INPUT);
        self.message = Vec::new();
        self.oversize = false;
        self.line_start = true;
        self.state = State::Data;
    }

    fn bdat(&mut self, args: &str, r: &mut Reply) {
        let mut words = args.split(' ').filter(|s| !s.is_empty());
        let size = words.next().and_then(|s| s.parse::<usize>().ok());
        let last = match words.next() {
            None => false,
            Some(w) if w.eq_ignore_ascii_case("LAST") => true,
            Some(_) => {
                r.line(p::INVALID_ARGUMENTS);
                return;
            }
        };
        let Some(size) = size else {
            r.line(p::INVALID_ARGUMENTS);
            return;
        };
        // The chunk follows whatever the answer: refusals are given after consuming it.
        let mut probe = Reply::new();
        let refusal = if !self.ready_to_send(&mut probe, "BDAT") {
            Some(String::from_utf8_lossy(&probe.out).into_owned())
        } else {
            self.transaction_refusal("BDAT")
        };
        if refusal.is_none() {
            if let Some(env) = self.envelope.as_mut() {
                if !env.chunking {
                    env.chunking = true;
                    self.message = Vec::new();
                    self.oversize = false;
                }
            }
        }
        self.state = State::Bdat {
            size,
            remaining: size,
            last,
            refusal,
        };
    }

    fn append(&mut self, bytes: &[u8]) {
        if self.oversize {
            return;
        }
        if self.message.len() + bytes.len() > self.config().max_message_size {
            // Over the limit: stop holding it; the end of data answers 552.
            self.oversize = true;
            self.message = Vec::new();
            return;
        }
        self.message.extend_from_slice(bytes);
    }

    /// DATA content: complete lines are appended (dot-unstuffed); the end marker ends it.
    /// Returns true when the state changed (the loop goes on with the rest).
    fn data_progress(&mut self, r: &mut Reply) -> bool {
        loop {
            match find_crlf(&self.buf) {
                Some(pos) => {
                    if self.line_start && &self.buf[..pos] == b"." {
                        self.buf.drain(..pos + 2);
                        self.state = State::Command;
                        self.finish(r);
                        return true;
                    }
                    let skip = usize::from(self.line_start && self.buf.first() == Some(&b'.'));
                    let chunk: Vec<u8> = self.buf[skip..pos + 2].to_vec();
                    self.append(&chunk);
                    self.buf.drain(..pos + 2);
                    self.line_start = true;
                }
                None => {
                    // A long line without its CRLF yet: pass its content on, keeping a
                    // final CR (half of a CRLF), so no more than a line is held.
                    if self.buf.len() > self.config().max_line {
                        let keep = usize::from(self.buf.last() == Some(&b'\r'));
                        let n = self.buf.len() - keep;
                        let skip = usize::from(self.line_start && self.buf.first() == Some(&b'.'));
                        let chunk: Vec<u8> = self.buf[skip..n].to_vec();
                        self.append(&chunk);
                        self.buf.drain(..n);
                        self.line_start = false;
                    }
                    return false;
                }
            }
        }
    }

    fn bdat_progress(&mut self, r: &mut Reply) -> bool {
        let State::Bdat {
            size,
            remaining,
            last,
            refusal,
        } = std::mem::replace(&mut self.state, State::Command)
        else {
            return false;
        };
        let take = remaining.min(self.buf.len());
        if refusal.is_none() {
            let chunk: Vec<u8> = self.buf[..take].to_vec();
            self.append(&chunk);
        }
        self.buf.drain(..take);
        let remaining = remaining - take;
        if remaining > 0 {
            self.state = State::Bdat {
                size,
                remaining,
                last,
                refusal,
            };
            return false;
        }
        match refusal {
            Some(line) => r.line(&line),
            None if last => self.finish(r),
            // UNCONFIRMED: Exchange's wording for an intermediate chunk.
            None => r.line(&format!("250 2.0.0 {size} bytes received\r\n")),
        }
        true
    }

    /// End of data: check size and SendAs, deliver, keep in the outbox, answer.
    fn finish(&mut self, r: &mut Reply) {
        let env = self.envelope.take();
        let raw = std::mem::take(&mut self.message);
        let (Some(env), Some(login)) = (env, self.login.as_ref()) else {
            r.line(p::NEED_MAIL);
            return;
        };
        let now = self.now();
        if std::mem::take(&mut self.oversize) {
            let max = self.config().max_message_size;
            return self.refuse(
                r,
                p::TOO_LARGE,
                "DATA",
                format!(
                    "the message is over the maximum message size of {max} bytes (MaxSendSize); nothing was delivered"
                ),
                Some("send a smaller message (attachments over 35 MB go by link)".into()),
            );
        }
        let mailbox = login.mailbox.clone();
        let principal = login.principal.clone();
        let mut froms: Vec<String> = Vec::new();
        if !env.from.is_empty() {
            froms.push(env.from.clone());
        }
        froms.extend(header_from(&raw));
        let denied = {
            let directory = self.smtp.core.directory();
            froms
                .iter()
                .find_map(|f| access::may_send_as(&directory, &principal, &mailbox, f).err())
        };
        if let Some(cause) = denied {
            let from = match &cause {
                Cause::SendAsDenied { from, .. } => from.clone(),
                _ => env.from.clone(),
            };
            let line = self.texts().send_as_denied(&mailbox, &from, now);
            return self.refuse(r, &line, "DATA", cause.reason(), cause.fix());
        }
        let delivered = match self.smtp.core.store.submit(&mailbox, &env.rcpts, &raw, now) {
            Ok(d) => d,
            Err(e) => {
                // UNCONFIRMED: Exchange Server's wording.
                return self.refuse(
                    r,
                    "554 5.6.0 Invalid message content\r\n",
                    "DATA",
                    format!("the message cannot be stored: {e}"),
                    Some("send an RFC 5322 message: header fields, an empty line, the body".into()),
                );
            }
        };
        let size = raw.len();
        let message_id = header_field(&raw, "Message-ID");
        let subject = header_field(&raw, "Subject");
        let seq = self.smtp.core.store.outbox.push(SentMail {
            seq: 0,
            at: now,
            authenticated_as: mailbox.clone(),
            client_id: Some(principal.app_id.clone()),
            mail_from: env.from.clone(),
            recipients: env.rcpts.clone(),
            delivered_to: delivered.clone(),
            message_id: message_id.clone(),
            subject: subject.clone(),
            size,
            raw: raw.into(),
        });
        // The client's Message-ID is echoed in our reply line only when it is one token of
        // printable ASCII, as a msg-id is: a bare LF or CR in it (header lines end only at
        // CRLF) would cut the reply into lines a client reads as more replies (found by the
        // smtp_commands fuzz target). Anything else gets the id we make for a message
        // without one; the outbox still keeps the header as sent.
        let shown_id = message_id
            .clone()
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_graphic()))
            .unwrap_or_else(|| format!("<{}{seq:08X}@{}>", self.texts().id, self.texts().fqdn));
        r.line(&self.texts().queued(&shown_id, seq));
        let external: Vec<&String> = env
            .rcpts
            .iter()
            .filter(|x| !delivered.iter().any(|d| d.eq_ignore_ascii_case(x)))
            .collect();
        self.journal_details(
            "DATA".into(),
            Outcome::Delivered,
            None,
            Some(format!(
                "{mailbox} sent {size} bytes from {} to {} recipient(s): INBOX of {delivered:?}, outbox only for {external:?}",
                env.from,
                env.rcpts.len()
            )),
            None,
            serde_json::json!({
                "outbox_seq": seq,
                "mail_from": env.from,
                "recipients": env.rcpts,
                "delivered_to": delivered,
                "message_id": message_id,
                "subject": subject,
                "size": size,
            }),
        );
    }
}

/// The text of a `reply` fault without one: Exchange's wording for the code's class.
fn default_fault_text(code: &str) -> &'static str {
    if code.starts_with('4') {
        "4.3.2 Service not available"
    } else {
        "5.3.0 Other mail system problem"
    }
}

/// The XOAUTH2 blob a client would send, base64 (for tests and tools).
pub fn xoauth2_blob(user: &str, token: &str) -> String {
    STANDARD.encode(format!("user={user}\x01auth=Bearer {token}\x01\x01"))
}

#[cfg(test)]
mod tests;
