//! Scripted faults: failures that are hard to get from the real service (throttling,
//! outages, tokens expiring mid-session), armed from the Rust API, the admin API or a
//! `--faults FILE`, in the spirit of wiremock-rs: a hook, matchers, `times`, `expect`.
//!
//! The layers *ask*: "is anything armed for this hook and this request?" and get an owned
//! [`Fault`] back (or nothing); the registry never calls into a layer. Every firing is
//! journaled by [`crate::state::Core::fire`].

use serde::{Deserialize, Serialize};
use std::sync::{Mutex, PoisonError};

/// Faults armed at once. A test arms a handful; the bound keeps a runaway script (or a
/// hostile local client of the admin API) from growing the list without limit.
pub const MAX_ARMED_FAULTS: usize = 1024;
/// Longest injected delay: an hour is beyond any client timeout worth testing.
pub const MAX_FAULT_DELAY_MS: u64 = 3_600_000;
/// Longest `Retry-After`: a day, far beyond what Entra sends (seconds to minutes).
pub const MAX_RETRY_AFTER_SECS: u64 = 86_400;
/// Longest custom IMAP response text: Exchange's command line limit (MAX_COMMAND_LINE)
/// is far larger; a response line this long is already absurd.
pub const MAX_REPLY_TEXT: usize = 1000;

/// Why a fault cannot be armed; the message names what is wrong and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultError {
    /// The kind does not exist at the hook.
    #[error("kind {kind} does not apply to hook {hook}; it takes {allowed}")]
    KindNotAtHook {
        kind: String,
        hook: String,
        allowed: String,
    },
    /// The kind needs a parameter that is missing.
    #[error("kind {kind} needs {field}")]
    Missing { field: &'static str, kind: String },
    /// A parameter given to a kind that has no use for it.
    #[error("{field} does not apply to kind {kind}")]
    NotForKind { field: &'static str, kind: String },
    /// A parameter that only one kind takes.
    #[error("{field} applies only to kind {kind}")]
    OnlyForKind { field: &'static str, kind: &'static str },
    /// A parameter out of its range or form; the message says which and what is allowed.
    #[error("{0}")]
    Invalid(String),
    /// A matcher that cannot match at this hook.
    #[error("{0}")]
    MatcherNotAtHook(&'static str),
    /// [`MAX_ARMED_FAULTS`] are armed already.
    #[error("{max} faults are armed already; disarm some")]
    TooMany { max: usize },
}

/// Faults whose `expect` was not met, one line each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .lines.join("\n"))]
pub struct UnmetExpectations {
    pub lines: Vec<String>,
}

/// Where a fault applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hook {
    /// A token request (`POST …/oauth2/v2.0/token` and v1), before it is answered.
    Token,
    /// A new IMAP connection, before the greeting (after TLS on the implicit-TLS port).
    ImapGreeting,
    /// The TLS handshake of IMAP (implicit TLS or STARTTLS).
    ImapTls,
    /// A decoded IMAP command, before the session answers it.
    ImapCommand,
    /// A POP3 command line, before the session answers it.
    Pop3Command,
    /// An SMTP command line, before the session answers it (`command`: the verb).
    SmtpCommand,
}

/// What happens when the fault fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// token: answer the AADSTS error `code` (Microsoft's text when known).
    AadError,
    /// token: HTTP 429 with `Retry-After: retry_after` and a JSON body, or with the plain
    /// `Too Many Requests` body when `plain` is true.
    Throttled,
    /// token: HTTP `status` (500 or 503).
    ServerError,
    /// token, imap_greeting, imap_command, pop3_command: wait `millis` before going on normally.
    Delay,
    /// token, imap_greeting, imap_command, pop3_command: close the connection without answering.
    Drop,
    /// imap_tls: fail the TLS handshake with a `handshake_failure` alert.
    TlsFailure,
    /// imap_command: answer `reply` (`NO`, `BAD` or `BYE`) with `text`; pop3_command:
    /// answer `-ERR text` (`reply` is `ERR`).
    Reply,
    /// imap_command: the session's token expires now: `* BYE Session invalidated - AccessTokenExpired`.
    TokenExpired,
    /// imap_command, pop3_command: answer normally but write the response `bytes` bytes at a time.
    Trickle,
    /// imap_command: the autologout fires: `* BYE Connection is closed. 13`.
    IdleTimeout,
}

/// A fault: hook, kind, the kind's parameters, matchers, and counts. The JSON form (admin
/// API, `--faults FILE`) is this struct's fields, e.g.
/// `{"hook":"token","kind":"aad_error","code":7000215,"client_id":"…","times":1,"expect":1}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub hook: Hook,
    pub kind: Kind,
    /// aad_error: the AADSTS code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u32>,
    /// throttled: seconds in `Retry-After` (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// throttled: send the plain-text `Too Many Requests` body instead of JSON.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub plain: bool,
    /// server_error: 500 or 503.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// delay: milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub millis: Option<u64>,
    /// reply: `NO`, `BAD` or `BYE` (IMAP); `ERR` (POP3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// reply: the response text (default: Exchange's `Server Unavailable. 15` for NO and
    /// BYE, `Command Error. 12` for BAD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// trickle: bytes per write (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<usize>,
    /// Matcher: the client id of the token request, or the app of the IMAP session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Matcher (token): the `grant_type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_type: Option<String>,
    /// Matcher (token): the request's `scope` contains this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Matcher: the token request's `username`, or the IMAP session's `user=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Matcher (imap_command, pop3_command): the command name, e.g. `SELECT`, `RETR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Fire at most this many times (default: every time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u64>,
    /// Verified when the server (or a scoped guard) drops: it must have fired exactly
    /// this many times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<u64>,
}

impl Fault {
    fn new(hook: Hook, kind: Kind) -> Self {
        Self {
            hook,
            kind,
            code: None,
            retry_after: None,
            plain: false,
            status: None,
            millis: None,
            reply: None,
            text: None,
            bytes: None,
            client_id: None,
            grant_type: None,
            scope: None,
            user: None,
            command: None,
            times: None,
            expect: None,
        }
    }

    /// The token endpoint answers AADSTS`code`.
    pub fn token_error(code: u32) -> Self {
        Self {
            code: Some(code),
            ..Self::new(Hook::Token, Kind::AadError)
        }
    }

    /// The token endpoint answers 429 with `Retry-After` and Entra's JSON body.
    pub fn token_throttled(retry_after_secs: u64) -> Self {
        Self {
            retry_after: Some(retry_after_secs),
            ..Self::new(Hook::Token, Kind::Throttled)
        }
    }

    /// The token endpoint answers 500 or 503.
    pub fn token_server_error(status: u16) -> Self {
        Self {
            status: Some(status),
            ..Self::new(Hook::Token, Kind::ServerError)
        }
    }

    /// The token endpoint waits before answering.
    pub fn token_delay(delay: std::time::Duration) -> Self {
        Self {
            millis: Some(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)),
            ..Self::new(Hook::Token, Kind::Delay)
        }
    }

    /// The token endpoint closes the connection without answering.
    pub fn token_drop() -> Self {
        Self::new(Hook::Token, Kind::Drop)
    }

    /// A new IMAP connection waits before the greeting.
    pub fn imap_greeting_delay(delay: std::time::Duration) -> Self {
        Self {
            millis: Some(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)),
            ..Self::new(Hook::ImapGreeting, Kind::Delay)
        }
    }

    /// A new IMAP connection is closed before the greeting.
    pub fn imap_greeting_drop() -> Self {
        Self::new(Hook::ImapGreeting, Kind::Drop)
    }

    /// The IMAP TLS handshake fails.
    pub fn imap_tls_failure() -> Self {
        Self::new(Hook::ImapTls, Kind::TlsFailure)
    }

    /// Answer `command` with `NO`, `BAD` or `BYE` (Exchange's default texts).
    pub fn imap_reply(command: &str, reply: &str) -> Self {
        Self {
            command: Some(command.to_string()),
            reply: Some(reply.to_string()),
            ..Self::new(Hook::ImapCommand, Kind::Reply)
        }
    }

    /// At `command`, the session's access token has expired.
    pub fn imap_token_expired(command: &str) -> Self {
        Self {
            command: Some(command.to_string()),
            ..Self::new(Hook::ImapCommand, Kind::TokenExpired)
        }
    }

    /// Answer `command` normally, `bytes` bytes per write.
    pub fn imap_trickle(command: &str, bytes: usize) -> Self {
        Self {
            command: Some(command.to_string()),
            bytes: Some(bytes),
            ..Self::new(Hook::ImapCommand, Kind::Trickle)
        }
    }

    /// Wait `delay` before answering `command` (then answer normally).
    pub fn imap_command_delay(command: &str, delay: std::time::Duration) -> Self {
        Self {
            command: Some(command.to_string()),
            millis: Some(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)),
            ..Self::new(Hook::ImapCommand, Kind::Delay)
        }
    }

    /// Close the connection instead of answering `command`.
    pub fn imap_command_drop(command: &str) -> Self {
        Self {
            command: Some(command.to_string()),
            ..Self::new(Hook::ImapCommand, Kind::Drop)
        }
    }

    /// At `command`, the idle autologout fires: `* BYE Connection is closed. 13`.
    pub fn imap_idle_timeout(command: &str) -> Self {
        Self {
            command: Some(command.to_string()),
            ..Self::new(Hook::ImapCommand, Kind::IdleTimeout)
        }
    }

    /// Answer the POP3 `command` with `-ERR <text>` (default `Server Unavailable. 15`).
    pub fn pop3_reply(command: &str) -> Self {
        Self {
            command: Some(command.to_string()),
            reply: Some("ERR".to_string()),
            ..Self::new(Hook::Pop3Command, Kind::Reply)
        }
    }

    /// Answer the POP3 `command` normally, `bytes` bytes per write.
    pub fn pop3_trickle(command: &str, bytes: usize) -> Self {
        Self {
            command: Some(command.to_string()),
            bytes: Some(bytes),
            ..Self::new(Hook::Pop3Command, Kind::Trickle)
        }
    }

    /// Wait `delay` before answering the POP3 `command` (then answer normally).
    pub fn pop3_command_delay(command: &str, delay: std::time::Duration) -> Self {
        Self {
            command: Some(command.to_string()),
            millis: Some(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)),
            ..Self::new(Hook::Pop3Command, Kind::Delay)
        }
    }

    /// Close the POP3 connection instead of answering `command`.
    pub fn pop3_command_drop(command: &str) -> Self {
        Self {
            command: Some(command.to_string()),
            ..Self::new(Hook::Pop3Command, Kind::Drop)
        }
    }

    /// Answer the SMTP `command` (a verb: `MAIL`, `DATA`, `AUTH`) with `reply`, an SMTP
    /// code such as `421` or `451 4.3.2`; `421` closes the connection.
    pub fn smtp_reply(command: &str, reply: &str) -> Self {
        Self {
            command: Some(command.to_string()),
            reply: Some(reply.to_string()),
            ..Self::new(Hook::SmtpCommand, Kind::Reply)
        }
    }

    /// Wait `delay` before answering the SMTP `command`.
    pub fn smtp_command_delay(command: &str, delay: std::time::Duration) -> Self {
        Self {
            command: Some(command.to_string()),
            millis: Some(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)),
            ..Self::new(Hook::SmtpCommand, Kind::Delay)
        }
    }

    /// Close the connection instead of answering the SMTP `command`.
    pub fn smtp_command_drop(command: &str) -> Self {
        Self {
            command: Some(command.to_string()),
            ..Self::new(Hook::SmtpCommand, Kind::Drop)
        }
    }

    /// Answer the SMTP `command` normally, `bytes` bytes per write.
    pub fn smtp_trickle(command: &str, bytes: usize) -> Self {
        Self {
            command: Some(command.to_string()),
            bytes: Some(bytes),
            ..Self::new(Hook::SmtpCommand, Kind::Trickle)
        }
    }

    /// The response text of a `reply` fault.
    pub fn text(mut self, text: &str) -> Self {
        self.text = Some(text.to_string());
        self
    }

    /// 429 with the plain-text `Too Many Requests` body.
    pub fn plain_body(mut self) -> Self {
        self.plain = true;
        self
    }

    pub fn for_client(mut self, client_id: &str) -> Self {
        self.client_id = Some(client_id.to_string());
        self
    }

    pub fn for_grant(mut self, grant_type: &str) -> Self {
        self.grant_type = Some(grant_type.to_string());
        self
    }

    pub fn for_scope(mut self, scope: &str) -> Self {
        self.scope = Some(scope.to_string());
        self
    }

    pub fn for_user(mut self, user: &str) -> Self {
        self.user = Some(user.to_string());
        self
    }

    /// Fire at most `n` times.
    pub fn times(mut self, n: u64) -> Self {
        self.times = Some(n);
        self
    }

    /// Must have fired exactly `n` times when verified.
    pub fn expect(mut self, n: u64) -> Self {
        self.expect = Some(n);
        self
    }

    /// Check the fault is complete and consistent; the error names what is wrong.
    pub fn validate(&self) -> Result<(), FaultError> {
        let allowed: &[Kind] = match self.hook {
            Hook::Token => &[
                Kind::AadError,
                Kind::Throttled,
                Kind::ServerError,
                Kind::Delay,
                Kind::Drop,
            ],
            Hook::ImapGreeting => &[Kind::Delay, Kind::Drop],
            Hook::ImapTls => &[Kind::TlsFailure],
            Hook::ImapCommand => &[
                Kind::Reply,
                Kind::TokenExpired,
                Kind::Trickle,
                Kind::IdleTimeout,
                Kind::Delay,
                Kind::Drop,
            ],
            Hook::Pop3Command => &[Kind::Reply, Kind::Trickle, Kind::Delay, Kind::Drop],
            Hook::SmtpCommand => &[Kind::Reply, Kind::Trickle, Kind::Delay, Kind::Drop],
        };
        if !allowed.contains(&self.kind) {
            return Err(FaultError::KindNotAtHook {
                kind: self.kind.name(),
                hook: self.hook.name(),
                allowed: allowed.iter().map(|k| k.name()).collect::<Vec<_>>().join(", "),
            });
        }
        let param = |field: &'static str, present: bool, wanted: bool| -> Result<(), FaultError> {
            match (present, wanted) {
                (true, false) => Err(FaultError::NotForKind {
                    field,
                    kind: self.kind.name(),
                }),
                (false, true) => Err(FaultError::Missing {
                    field,
                    kind: self.kind.name(),
                }),
                _ => Ok(()),
            }
        };
        param("code", self.code.is_some(), self.kind == Kind::AadError)?;
        param("status", self.status.is_some(), self.kind == Kind::ServerError)?;
        param("millis", self.millis.is_some(), self.kind == Kind::Delay)?;
        param("reply", self.reply.is_some(), self.kind == Kind::Reply)?;
        if self.retry_after.is_some() && self.kind != Kind::Throttled {
            return Err(FaultError::OnlyForKind {
                field: "retry_after",
                kind: "throttled",
            });
        }
        if self.plain && self.kind != Kind::Throttled {
            return Err(FaultError::OnlyForKind {
                field: "plain",
                kind: "throttled",
            });
        }
        if self.text.is_some() && self.kind != Kind::Reply {
            return Err(FaultError::OnlyForKind {
                field: "text",
                kind: "reply",
            });
        }
        if self.bytes.is_some() && self.kind != Kind::Trickle {
            return Err(FaultError::OnlyForKind {
                field: "bytes",
                kind: "trickle",
            });
        }
        if let Some(s) = self.status {
            if s != 500 && s != 503 {
                return Err(FaultError::Invalid(format!(
                    "status {s}: server_error takes 500 or 503"
                )));
            }
        }
        if self.millis.is_some_and(|m| m > MAX_FAULT_DELAY_MS) {
            return Err(FaultError::Invalid(format!("millis: at most {MAX_FAULT_DELAY_MS}")));
        }
        if self.retry_after.is_some_and(|s| s > MAX_RETRY_AFTER_SECS) {
            return Err(FaultError::Invalid(format!(
                "retry_after: at most {MAX_RETRY_AFTER_SECS} seconds"
            )));
        }
        if self.bytes == Some(0) {
            return Err(FaultError::Invalid("bytes: at least 1".into()));
        }
        if let (Some(r), Hook::SmtpCommand) = (&self.reply, self.hook) {
            let code = r.split(' ').next().unwrap_or("");
            if code.len() != 3
                || !code.bytes().all(|b| b.is_ascii_digit())
                || !matches!(code.as_bytes()[0], b'4' | b'5')
            {
                return Err(FaultError::Invalid(format!(
                    "reply {r:?}: expected an SMTP code 4xx or 5xx (e.g. 421 or \"451 4.3.2\")"
                )));
            }
        } else if let Some(r) = &self.reply {
            if self.hook == Hook::Pop3Command {
                if !r.eq_ignore_ascii_case("ERR") {
                    return Err(FaultError::Invalid(format!(
                        "reply {r:?}: pop3_command answers ERR (-ERR text)"
                    )));
                }
            } else if !["NO", "BAD", "BYE"].contains(&r.to_ascii_uppercase().as_str()) {
                return Err(FaultError::Invalid(format!("reply {r:?}: expected NO, BAD or BYE")));
            }
        }
        if let Some(t) = &self.text {
            if t.len() > MAX_REPLY_TEXT || t.bytes().any(|b| b == b'\r' || b == b'\n') {
                return Err(FaultError::Invalid(format!(
                    "text: one line of at most {MAX_REPLY_TEXT} bytes"
                )));
            }
        }
        if self.hook != Hook::Token && (self.grant_type.is_some() || self.scope.is_some()) {
            return Err(FaultError::MatcherNotAtHook(
                "grant_type and scope match token requests only (hook token)",
            ));
        }
        if self.command.is_some() && !matches!(self.hook, Hook::ImapCommand | Hook::Pop3Command | Hook::SmtpCommand) {
            return Err(FaultError::MatcherNotAtHook(
                "command matches only at hooks imap_command, pop3_command and smtp_command",
            ));
        }
        if matches!(self.hook, Hook::ImapGreeting | Hook::ImapTls) && (self.client_id.is_some() || self.user.is_some())
        {
            return Err(FaultError::MatcherNotAtHook(
                "before authentication nothing is known of the client: no client_id or user matcher",
            ));
        }
        Ok(())
    }

    fn matches(&self, r: &Probe<'_>) -> bool {
        fn eq(want: &Option<String>, got: Option<&str>) -> bool {
            match want {
                None => true,
                Some(w) => got.is_some_and(|g| g.eq_ignore_ascii_case(w)),
            }
        }
        self.hook == r.hook
            && eq(&self.client_id, r.client_id)
            && eq(
                &self.grant_type.as_deref().map(|g| canonical_grant(g).to_string()),
                r.grant_type.map(canonical_grant),
            )
            && eq(&self.user, r.user)
            && eq(&self.command, r.command)
            && match &self.scope {
                None => true,
                Some(s) => r
                    .scope
                    .is_some_and(|g| g.to_ascii_lowercase().contains(&s.to_ascii_lowercase())),
            }
    }

    /// One line for the journal and logs.
    pub fn describe(&self) -> String {
        let what = match self.kind {
            Kind::AadError => format!("AADSTS{}", self.code.unwrap_or(0)),
            Kind::Throttled => format!(
                "429 Retry-After {}{}",
                self.retry_after.unwrap_or(DEFAULT_RETRY_AFTER),
                if self.plain { " (plain body)" } else { "" }
            ),
            Kind::ServerError => format!("HTTP {}", self.status.unwrap_or(503)),
            Kind::Delay => format!("delay {} ms", self.millis.unwrap_or(0)),
            Kind::Drop => "connection dropped".into(),
            Kind::TlsFailure => "TLS handshake failure".into(),
            Kind::Reply => format!("{} {}", self.reply.as_deref().unwrap_or("NO"), self.reply_text()),
            Kind::TokenExpired => "access token expired mid-session".into(),
            Kind::Trickle => format!("response trickled {} byte(s) at a time", self.bytes.unwrap_or(1)),
            Kind::IdleTimeout => "idle autologout".into(),
        };
        format!("fault at {}: {what}", self.hook.name())
    }

    /// The text of a `reply` fault.
    pub fn reply_text(&self) -> String {
        match &self.text {
            Some(t) => t.clone(),
            None if self.reply.as_deref().is_some_and(|r| r.eq_ignore_ascii_case("BAD")) => "Command Error. 12".into(),
            // Exchange Online's answer when the mailbox back end is unreachable.
            None => "Server Unavailable. 15".into(),
        }
    }
}

/// `Retry-After` when a throttled fault names none.
pub const DEFAULT_RETRY_AFTER: u64 = 5;

fn serde_name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

impl Kind {
    /// The snake_case name used in JSON.
    pub fn name(&self) -> String {
        serde_name(self)
    }
}

impl Hook {
    /// The snake_case name used in JSON.
    pub fn name(&self) -> String {
        serde_name(self)
    }

    /// The side of the server whose journal a firing of this hook goes to.
    pub fn protocol(self) -> crate::journal::Protocol {
        match self {
            Hook::Token => crate::journal::Protocol::Https,
            Hook::ImapGreeting | Hook::ImapTls | Hook::ImapCommand => crate::journal::Protocol::Imap,
            Hook::Pop3Command => crate::journal::Protocol::Pop3,
            Hook::SmtpCommand => crate::journal::Protocol::Smtp,
        }
    }
}

/// A grant type under the one name the token endpoint treats it as: msal4j polls the
/// device code flow with `grant_type=device_code`, which the endpoint takes as
/// `urn:ietf:params:oauth:grant-type:device_code`, so a fault armed on either name matches
/// both.
fn canonical_grant(grant_type: &str) -> &str {
    if grant_type.eq_ignore_ascii_case("device_code") {
        "urn:ietf:params:oauth:grant-type:device_code"
    } else {
        grant_type
    }
}

/// What a layer knows when it asks.
#[derive(Debug, Clone, Copy)]
pub struct Probe<'a> {
    pub hook: Hook,
    pub client_id: Option<&'a str>,
    pub grant_type: Option<&'a str>,
    pub scope: Option<&'a str>,
    pub user: Option<&'a str>,
    pub command: Option<&'a str>,
}

impl<'a> Probe<'a> {
    pub fn new(hook: Hook) -> Self {
        Self {
            hook,
            client_id: None,
            grant_type: None,
            scope: None,
            user: None,
            command: None,
        }
    }
}

/// An armed fault and how often it fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Armed {
    pub id: u64,
    #[serde(flatten)]
    pub fault: Fault,
    pub fired: u64,
}

/// A fault that fired: what the layer must do.
#[derive(Debug, Clone)]
pub struct Fired {
    pub id: u64,
    pub fault: Fault,
}

#[derive(Debug, Default)]
pub struct Faults {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    armed: Vec<Armed>,
}

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Plain values updated in one step: a panic elsewhere leaves them consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Arm a fault; returns its id.
    pub fn arm(&self, fault: Fault) -> Result<u64, FaultError> {
        fault.validate()?;
        let mut inner = self.lock();
        if inner.armed.len() >= MAX_ARMED_FAULTS {
            return Err(FaultError::Invalid(format!(
                "{MAX_ARMED_FAULTS} faults are armed already; disarm some"
            )));
        }
        inner.next_id += 1;
        let id = inner.next_id;
        inner.armed.push(Armed { id, fault, fired: 0 });
        Ok(id)
    }

    /// The first armed fault that matches and has firings left; counts the firing.
    pub fn take(&self, probe: &Probe<'_>) -> Option<Fired> {
        let mut inner = self.lock();
        let armed = inner
            .armed
            .iter_mut()
            .find(|a| a.fault.times.is_none_or(|t| a.fired < t) && a.fault.matches(probe))?;
        armed.fired += 1;
        Some(Fired {
            id: armed.id,
            fault: armed.fault.clone(),
        })
    }

    /// Is anything armed at this hook (cheap check before building a probe)?
    pub fn any(&self, hook: Hook) -> bool {
        self.lock().armed.iter().any(|a| a.fault.hook == hook)
    }

    pub fn list(&self) -> Vec<Armed> {
        self.lock().armed.clone()
    }

    pub fn get(&self, id: u64) -> Option<Armed> {
        self.lock().armed.iter().find(|a| a.id == id).cloned()
    }

    /// Disarm one fault; returns it, with its count.
    pub fn disarm(&self, id: u64) -> Option<Armed> {
        let mut inner = self.lock();
        let i = inner.armed.iter().position(|a| a.id == id)?;
        Some(inner.armed.remove(i))
    }

    pub fn clear(&self) -> Vec<Armed> {
        std::mem::take(&mut self.lock().armed)
    }
}

/// The unmet expectations among `armed`, one line each.
pub fn unmet(armed: &[Armed]) -> Vec<String> {
    armed
        .iter()
        .filter_map(|a| {
            let want = a.fault.expect?;
            (a.fired != want).then(|| {
                format!(
                    "fault #{} ({}) was expected to fire {want} time(s) and fired {}",
                    a.id,
                    a.fault.describe(),
                    a.fired
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_only_the_given_number_of_times_and_counts() {
        let f = Faults::default();
        let id = f
            .arm(Fault::token_error(7000215).for_client("A").times(2).expect(2))
            .expect("valid fault");
        let mut probe = Probe::new(Hook::Token);
        assert!(f.take(&probe).is_none(), "no client id: no match");
        probe.client_id = Some("a");
        assert_eq!(f.take(&probe).map(|x| x.id), Some(id));
        assert!(unmet(&f.list()).len() == 1, "fired once of two");
        assert!(f.take(&probe).is_some());
        assert!(f.take(&probe).is_none(), "times exhausted");
        assert!(unmet(&f.list()).is_empty());
    }

    #[test]
    fn invalid_faults_are_refused_with_the_reason() {
        let f = Faults::default();
        let e = f.arm(Fault::token_server_error(404)).expect_err("404 is not an outage");
        assert!(e.to_string().contains("500 or 503"), "{e}");
        let mut bad = Fault::imap_tls_failure();
        bad.kind = Kind::AadError;
        let e = f.arm(bad).expect_err("wrong hook");
        assert!(e.to_string().contains("does not apply to hook imap_tls"), "{e}");
        let e = f.arm(Fault::imap_reply("SELECT", "OK")).expect_err("OK is no fault");
        assert!(e.to_string().contains("NO, BAD or BYE"), "{e}");
    }

    #[test]
    fn a_device_code_fault_matches_both_names_of_the_grant() {
        let long = "urn:ietf:params:oauth:grant-type:device_code";
        for (armed, sent) in [
            (long, "device_code"),
            ("device_code", long),
            ("device_code", "device_code"),
        ] {
            let f = Faults::default();
            f.arm(Fault::token_error(70000).for_grant(armed)).expect("valid fault");
            let mut probe = Probe::new(Hook::Token);
            probe.grant_type = Some("password");
            assert!(f.take(&probe).is_none(), "another grant: no match");
            probe.grant_type = Some(sent);
            assert!(f.take(&probe).is_some(), "armed {armed}, sent {sent}");
        }
    }

    #[test]
    fn json_form_round_trips() {
        let json = r#"{"hook":"imap_command","kind":"reply","reply":"NO","command":"select","times":1}"#;
        let f: Fault = serde_json::from_str(json).expect("parses");
        assert_eq!(f, Fault::imap_reply("select", "NO").times(1));
        assert!(serde_json::from_str::<Fault>(r#"{"hook":"token","kind":"drop","bogus":1}"#).is_err());
    }
}
