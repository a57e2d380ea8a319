//! The check itself: the steps a mail app takes, in order, each reported.

use crate::assertion::{Alg, CertificateCredential};
use crate::claims::Claims;
use crate::diagnose::{self, Protocol};
use crate::imap::{Client, Line};
use crate::report::{MessageLine, Report, Status, EXIT_ERROR, EXIT_REACHABLE, EXIT_REFUSED};
use crate::token::{self, Delegated, Secretish, TokenOutcome};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use imap_codec::imap_types::core::NString;
use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::response::{Capability, Data};
use std::path::PathBuf;

/// How the app (and, in delegated modes, the user) proves itself to the identity platform.
pub enum Credential {
    Secret(String),
    Certificate {
        cert_pem: String,
        key_pem: String,
        alg: Alg,
    },
    /// Delegated: the user's password (ROPC); a confidential app adds its secret.
    Password {
        username: String,
        password: String,
        client_secret: Option<String>,
    },
    /// Delegated: the device code flow; the sign-in message goes to `Config::prompt`.
    DeviceCode {
        client_secret: Option<String>,
    },
    /// Delegated: a refresh token from an earlier sign-in.
    RefreshToken {
        refresh_token: String,
        client_secret: Option<String>,
    },
}

/// Where the device-code sign-in message goes (the CLI prints it to stderr at once).
pub type Prompt = Box<dyn Fn(&str) + Send + Sync>;

/// The scope delegated modes ask for when none is given: IMAP on Exchange Online, and a
/// refresh token.
pub const DELEGATED_SCOPE: &str = "https://outlook.office.com/IMAP.AccessAsUser.All offline_access";

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Secret(_) => f.write_str("Secret(<redacted>)"),
            Credential::Certificate { alg, .. } => write!(f, "Certificate({alg:?})"),
            Credential::Password { username, .. } => write!(f, "Password({username}, <redacted>)"),
            Credential::DeviceCode { .. } => f.write_str("DeviceCode"),
            Credential::RefreshToken { .. } => f.write_str("RefreshToken(<redacted>)"),
        }
    }
}

pub struct Config {
    /// Tenant id or domain.
    pub tenant: String,
    pub client_id: String,
    pub credential: Credential,
    /// The mailbox (`user=`).
    pub email: String,
    pub folder: String,
    pub authority: String,
    pub imap_host: String,
    pub imap_port: u16,
    /// IMAP: STARTTLS on a plain port; POP3: STLS on port 110. (SMTP always uses STARTTLS.)
    pub starttls: bool,
    /// The protocol checked: IMAP (read a folder), SMTP (send a test message), POP3 (STAT, LIST).
    pub protocol: Protocol,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub pop3_host: String,
    pub pop3_port: u16,
    /// SMTP: MAIL FROM and the header From (default: the mailbox).
    pub from: Option<String>,
    /// SMTP: the recipient (default: the mailbox itself).
    pub to: Option<String>,
    /// Trust only this CA (e.g. mock-server's) instead of the system's.
    pub ca_file: Option<PathBuf>,
    pub scope: String,
    /// How many of the newest messages to list.
    pub list: u32,
    /// Receives the device-code sign-in message.
    pub prompt: Option<Prompt>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field("credential", &self.credential)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Microsoft's endpoints, as an app uses them.
    pub fn new(tenant: &str, client_id: &str, credential: Credential, email: &str) -> Self {
        let delegated = !matches!(credential, Credential::Secret(_) | Credential::Certificate { .. });
        Self {
            tenant: tenant.into(),
            client_id: client_id.into(),
            credential,
            email: email.into(),
            folder: "INBOX".into(),
            authority: "https://login.microsoftonline.com".into(),
            imap_host: "outlook.office365.com".into(),
            imap_port: 993,
            starttls: false,
            protocol: Protocol::Imap,
            smtp_host: "smtp.office365.com".into(),
            smtp_port: 587,
            pop3_host: "outlook.office365.com".into(),
            pop3_port: 995,
            from: None,
            to: None,
            ca_file: None,
            scope: if delegated {
                DELEGATED_SCOPE.into()
            } else {
                "https://outlook.office365.com/.default".into()
            },
            list: 10,
            prompt: None,
        }
    }

    /// Switch to `protocol`; a delegated default scope follows it (SMTP.Send,
    /// POP.AccessAsUser.All), an explicit one is kept.
    pub fn with_protocol(mut self, protocol: Protocol) -> Self {
        if self.scope == DELEGATED_SCOPE {
            self.scope = format!(
                "https://outlook.office.com/{} offline_access",
                protocol.delegated_scope()
            );
        }
        self.protocol = protocol;
        self
    }
}

fn text(n: &NString<'_>) -> String {
    n.0.as_ref()
        .map(|s| String::from_utf8_lossy(s.as_ref()).into_owned())
        .unwrap_or_default()
}

fn last_tagged(lines: &[Line]) -> Option<(&str, &str)> {
    lines.iter().rev().find_map(|l| match l {
        Line::Tagged { kind, text, .. } => Some((kind.as_str(), text.as_str())),
        _ => None,
    })
}

fn bye(lines: &[Line]) -> Option<&str> {
    lines.iter().find_map(|l| match l {
        Line::Untagged { kind, text } if kind == "BYE" => Some(text.as_str()),
        _ => None,
    })
}

/// Run every step; never panics, always returns a report.
pub async fn run(cfg: &Config) -> Report {
    let mut r = Report::new();
    let result = steps(cfg, &mut r).await;
    r.exit_code = match result {
        Ok(()) => {
            r.reachable = true;
            EXIT_REACHABLE
        }
        Err(code) => code,
    };
    r
}

async fn steps(cfg: &Config, r: &mut Report) -> Result<(), u8> {
    // ---- trust ----
    let roots = crate::tls::roots(cfg.ca_file.as_deref()).map_err(|e| {
        r.step("tls-setup", Status::Fail, format!("TLS setup: {e}"));
        EXIT_ERROR
    })?;
    let tls = crate::tls::client_config(&roots).map_err(|e| {
        r.step("tls-setup", Status::Fail, format!("TLS setup: {e}"));
        EXIT_ERROR
    })?;
    let mut http = reqwest::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(30));
    if cfg.ca_file.is_some() {
        let certs: Vec<reqwest::Certificate> = roots
            .iter()
            .filter_map(|c| reqwest::Certificate::from_der(c).ok())
            .collect();
        http = http.tls_certs_only(certs);
    }
    let http = http.build().map_err(|e| {
        r.step("tls-setup", Status::Fail, format!("HTTP client: {e}"));
        EXIT_ERROR
    })?;

    // ---- token ----
    let cert;
    let to_stderr = |m: &str| eprintln!("{m}");
    let prompt: &(dyn Fn(&str) + Send + Sync) = match &cfg.prompt {
        Some(p) => p.as_ref(),
        None => &to_stderr,
    };
    let (base, tenant, id, scope) = (&cfg.authority, &cfg.tenant, &cfg.client_id, &cfg.scope);
    // App-only grants and user grants differ in what they send; the rest of the check is
    // the same for both.
    enum Grant<'a> {
        App(Secretish<'a>),
        User(Option<&'a str>, Delegated<'a>),
    }
    let (grant, how) = match &cfg.credential {
        Credential::Secret(s) => (Grant::App(Secretish::Secret(s)), "client credentials"),
        Credential::Certificate { cert_pem, key_pem, alg } => {
            cert = CertificateCredential::from_pem(cert_pem, key_pem).map_err(|e| {
                r.step("token", Status::Fail, format!("Certificate credential: {e}"));
                EXIT_ERROR
            })?;
            (
                Grant::App(Secretish::Certificate(&cert, *alg)),
                "client credentials, certificate",
            )
        }
        Credential::Password {
            username,
            password,
            client_secret,
        } => (
            Grant::User(client_secret.as_deref(), Delegated::Password { username, password }),
            "password grant",
        ),
        Credential::DeviceCode { client_secret } => (
            Grant::User(client_secret.as_deref(), Delegated::DeviceCode { prompt }),
            "device code",
        ),
        Credential::RefreshToken {
            refresh_token,
            client_secret,
        } => (
            Grant::User(client_secret.as_deref(), Delegated::RefreshToken(refresh_token)),
            "refresh token",
        ),
    };
    let outcome = match grant {
        Grant::App(c) => token::client_credentials(&http, base, tenant, id, c, scope, &mut r.trace).await,
        Grant::User(secret, d) => token::delegated(&http, base, tenant, id, secret, d, scope, &mut r.trace).await,
    };
    let (access_token, token_endpoint) = match outcome {
        Ok(TokenOutcome::Token {
            access_token,
            token_endpoint,
        }) => (access_token, token_endpoint),
        Ok(TokenOutcome::Refused(e)) => {
            r.step(
                "token",
                Status::Fail,
                format!(
                    "Token from {}/{} refused: HTTP {} {}: {}",
                    cfg.authority,
                    cfg.tenant,
                    e.status,
                    e.error,
                    e.summary()
                ),
            );
            r.diagnosis = diagnose::aad(&e, &cfg.client_id, &cfg.tenant);
            // For a user grant the user-side reasons replace the generic app-side line.
            let user = match &cfg.credential {
                Credential::Password { username, .. } => Some(username.as_str()),
                Credential::DeviceCode { .. } | Credential::RefreshToken { .. } => Some(cfg.email.as_str()),
                Credential::Secret(_) | Credential::Certificate { .. } => None,
            };
            if let Some(user) = user {
                r.diagnosis.retain(|d| !d.starts_with("The identity platform refused"));
                r.diagnosis.extend(diagnose::delegated(&e, user));
            }
            return Err(EXIT_REFUSED);
        }
        Err(e) => {
            r.step("token", Status::Fail, format!("Token request failed: {e}"));
            return Err(EXIT_ERROR);
        }
    };
    r.step(
        "token",
        Status::Ok,
        format!("Got an access token from {token_endpoint} ({how}, scope {})", cfg.scope),
    );

    // ---- what the token says ----
    let claims = Claims::decode(&access_token);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    match &claims {
        None => r.step(
            "token-claims",
            Status::Warn,
            "The access token is not a readable JWT; cannot check it before connecting",
        ),
        Some(c) => {
            if c.audience_is_exchange() {
                r.step(
                    "token-audience",
                    Status::Ok,
                    format!("Audience is Exchange Online ({})", c.aud),
                );
            } else if c.audience_is_graph() {
                r.step(
                    "token-audience",
                    Status::Fail,
                    format!(
                        "Audience is Microsoft Graph ({}): Exchange will refuse this token",
                        c.aud
                    ),
                );
            } else {
                r.step(
                    "token-audience",
                    Status::Fail,
                    format!("Audience {:?} is not Exchange Online", c.aud),
                );
            }
            if c.is_delegated() {
                let ok = c.scp.iter().any(|s| s == cfg.protocol.delegated_scope());
                r.step(
                    "token-permission",
                    if ok { Status::Ok } else { Status::Fail },
                    format!(
                        "Delegated scopes: {}",
                        if c.scp.is_empty() {
                            "(none)".into()
                        } else {
                            c.scp.join(" ")
                        }
                    ),
                );
            } else {
                let ok = c.roles.iter().any(|s| s == cfg.protocol.app_role());
                r.step(
                    "token-permission",
                    if ok { Status::Ok } else { Status::Fail },
                    if c.roles.is_empty() {
                        "The app token has no roles: no application permission with admin consent".into()
                    } else {
                        format!("Application roles: {}", c.roles.join(" "))
                    },
                );
            }
            let tenant_in_endpoint = token_endpoint.split('/').nth(3).unwrap_or("").to_string();
            if c.tid.eq_ignore_ascii_case(&tenant_in_endpoint) || c.tid.eq_ignore_ascii_case(&cfg.tenant) {
                r.step("token-tenant", Status::Ok, format!("Tenant {}", c.tid));
            } else {
                r.step(
                    "token-tenant",
                    Status::Fail,
                    format!("Token tenant {} is not {}", c.tid, cfg.tenant),
                );
            }
            let left = c.exp - now;
            r.step(
                "token-expiry",
                if left > 60 { Status::Ok } else { Status::Fail },
                format!("Expires in {} minutes", left / 60),
            );
            r.token = Some(c.clone());
        }
    }

    match cfg.protocol {
        Protocol::Imap => {}
        Protocol::Smtp => return crate::smtp::steps(cfg, r, tls, &access_token, claims.as_ref(), now).await,
        Protocol::Pop3 => return crate::pop3::steps(cfg, r, tls, &access_token, claims.as_ref(), now).await,
    }

    // ---- IMAP ----
    let (mut imap, greeting) = match Client::connect(&cfg.imap_host, cfg.imap_port, cfg.starttls, tls).await {
        Ok(x) => x,
        Err(e) => {
            r.step(
                "connect",
                Status::Fail,
                format!("IMAP {}:{}: {e}", cfg.imap_host, cfg.imap_port),
            );
            return Err(EXIT_ERROR);
        }
    };
    let how = if cfg.starttls { "STARTTLS" } else { "TLS" };
    r.step(
        "connect",
        Status::Ok,
        format!(
            "Connected to {}:{} with {how}: {greeting}",
            cfg.imap_host, cfg.imap_port
        ),
    );
    let result = imap_steps(cfg, r, &mut imap, &access_token, claims.as_ref(), now).await;
    r.trace.append(&mut imap.trace);
    result
}

async fn imap_steps(
    cfg: &Config,
    r: &mut Report,
    imap: &mut Client,
    token: &str,
    claims: Option<&Claims>,
    now: i64,
) -> Result<(), u8> {
    let io = |r: &mut Report, id: &'static str, e: crate::imap::ImapError| {
        r.step(id, Status::Fail, format!("IMAP: {e}"));
        EXIT_ERROR
    };
    // CAPABILITY (Exchange puts none in its greeting).
    let tag = imap.send("CAPABILITY").await.map_err(|e| io(r, "capability", e))?;
    let lines = imap.until_tagged(&tag).await.map_err(|e| io(r, "capability", e))?;
    let caps: Vec<String> = lines
        .iter()
        .filter_map(|l| match l {
            Line::Data(Data::Capability(c)) => Some(
                c.as_ref()
                    .iter()
                    .map(|c: &Capability| c.to_string())
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .flatten()
        .collect();
    let has = |c: &str| caps.iter().any(|x| x.eq_ignore_ascii_case(c));
    if !has("AUTH=XOAUTH2") {
        r.step(
            "capability",
            Status::Fail,
            format!("The server does not offer AUTH=XOAUTH2 (CAPABILITY {})", caps.join(" ")),
        );
        r.diagnosis.push(
            "This server does not do OAuth: check --imap-host (Exchange Online is outlook.office365.com:993).".into(),
        );
        return Err(EXIT_REFUSED);
    }
    let sasl_ir = has("SASL-IR");
    r.step(
        "capability",
        Status::Ok,
        format!("AUTH=XOAUTH2 offered{}", if sasl_ir { ", with SASL-IR" } else { "" }),
    );

    // AUTHENTICATE XOAUTH2
    let blob = STANDARD.encode(format!("user={}\x01auth=Bearer {token}\x01\x01", cfg.email));
    let shown = format!(
        "<XOAUTH2 user={} auth=Bearer <redacted, {} chars>>",
        cfg.email,
        token.len()
    );
    let lines = if sasl_ir {
        let tag = imap
            .send_shown(
                &format!("AUTHENTICATE XOAUTH2 {blob}"),
                &format!("AUTHENTICATE XOAUTH2 {shown}"),
            )
            .await
            .map_err(|e| io(r, "authenticate", e))?;
        auth_answers(imap, &tag).await.map_err(|e| io(r, "authenticate", e))?
    } else {
        let tag = imap
            .send("AUTHENTICATE XOAUTH2")
            .await
            .map_err(|e| io(r, "authenticate", e))?;
        match imap.read().await.map_err(|e| io(r, "authenticate", e))? {
            Line::Continue => {
                imap.send_raw_line(&blob, &shown)
                    .await
                    .map_err(|e| io(r, "authenticate", e))?;
                auth_answers(imap, &tag).await.map_err(|e| io(r, "authenticate", e))?
            }
            other => vec![other],
        }
    };
    let mode = if sasl_ir { "SASL-IR" } else { "continuation" };
    match last_tagged(&lines) {
        Some(("OK", text)) => r.step(
            "authenticate",
            Status::Ok,
            format!("AUTHENTICATE XOAUTH2 ({mode}) as {}: OK {text}", cfg.email),
        ),
        Some((kind, text)) => {
            r.step(
                "authenticate",
                Status::Fail,
                format!("AUTHENTICATE XOAUTH2 ({mode}) as {}: {kind} {text}", cfg.email),
            );
            r.diagnosis = diagnose::authenticate_failed(claims, &cfg.email, now);
            return Err(EXIT_REFUSED);
        }
        None => {
            let why = bye(&lines).unwrap_or("the connection closed");
            r.step(
                "authenticate",
                Status::Fail,
                format!("AUTHENTICATE XOAUTH2: no answer ({why})"),
            );
            return Err(EXIT_REFUSED);
        }
    }

    // Open the folder read-only: a check should change nothing.
    let folder = if cfg.folder.contains(' ') {
        format!("\"{}\"", cfg.folder)
    } else {
        cfg.folder.clone()
    };
    let tag = imap
        .send(&format!("EXAMINE {folder}"))
        .await
        .map_err(|e| io(r, "open-folder", e))?;
    let lines = imap.until_tagged(&tag).await.map_err(|e| io(r, "open-folder", e))?;
    match last_tagged(&lines) {
        Some(("OK", _)) => {}
        Some((kind, text)) => {
            r.step(
                "open-folder",
                Status::Fail,
                format!("EXAMINE {}: {kind} {text}", cfg.folder),
            );
            if text.contains("authenticated but not connected") {
                r.diagnosis = diagnose::not_connected(claims, &cfg.email);
            } else {
                r.diagnosis.push(format!("The folder {:?} cannot be opened; Exchange's folders are INBOX, \"Sent Items\", \"Deleted Items\", Drafts, \"Junk Email\".", cfg.folder));
            }
            return Err(EXIT_REFUSED);
        }
        None => {
            let why = bye(&lines).unwrap_or("the connection closed").to_string();
            r.step(
                "open-folder",
                Status::Fail,
                format!("EXAMINE {}: the server ended the session: {why}", cfg.folder),
            );
            if why.contains("AccessTokenExpired") {
                r.diagnosis
                    .push("The access token expired during the session: get a new token and reconnect.".into());
            }
            return Err(EXIT_REFUSED);
        }
    }
    let count = lines
        .iter()
        .find_map(|l| match l {
            Line::Data(Data::Exists(n)) => Some(*n),
            _ => None,
        })
        .unwrap_or(0);
    r.step("open-folder", Status::Ok, format!("Opened {}", cfg.folder));
    r.step("count", Status::Ok, format!("{count} message(s) in {}", cfg.folder));
    r.message_count = Some(count);

    if count > 0 && cfg.list > 0 {
        let first = count.saturating_sub(cfg.list - 1).max(1);
        let tag = imap
            .send(&format!("FETCH {first}:{count} (ENVELOPE)"))
            .await
            .map_err(|e| io(r, "list", e))?;
        let lines = imap.until_tagged(&tag).await.map_err(|e| io(r, "list", e))?;
        for l in &lines {
            if let Line::Data(Data::Fetch { seq, items }) = l {
                for item in items.as_ref() {
                    if let MessageDataItem::Envelope(env) = item {
                        let from = env
                            .from
                            .first()
                            .map(|a| {
                                let name = text(&a.name);
                                let addr = format!("{}@{}", text(&a.mailbox), text(&a.host));
                                if name.is_empty() {
                                    addr
                                } else {
                                    format!("{name} <{addr}>")
                                }
                            })
                            .unwrap_or_default();
                        r.messages.push(MessageLine {
                            seq: seq.get(),
                            date: text(&env.date),
                            from,
                            subject: text(&env.subject),
                        });
                    }
                }
            }
        }
        match last_tagged(&lines) {
            Some(("OK", _)) => r.step("list", Status::Ok, format!("Listed {} message(s)", r.messages.len())),
            Some((kind, text)) => {
                r.step("list", Status::Fail, format!("FETCH: {kind} {text}"));
                return Err(EXIT_REFUSED);
            }
            None => {
                let why = bye(&lines).unwrap_or("the connection closed").to_string();
                r.step(
                    "list",
                    Status::Fail,
                    format!("FETCH: the server ended the session: {why}"),
                );
                return Err(EXIT_REFUSED);
            }
        }
    }

    let tag = imap.send("LOGOUT").await.map_err(|e| io(r, "logout", e))?;
    let _ = imap.until_tagged(&tag).await;
    r.step("logout", Status::Ok, "Logged out");
    Ok(())
}

/// The answers to AUTHENTICATE. A JSON error challenge (Google's style) is answered with
/// an empty line, as the XOAUTH2 specification asks, so the tagged answer follows.
async fn auth_answers(imap: &mut Client, tag: &str) -> Result<Vec<Line>, crate::imap::ImapError> {
    let mut lines = Vec::new();
    loop {
        let line = match imap.read().await {
            Ok(l) => l,
            Err(crate::imap::ImapError::Closed) if !lines.is_empty() => return Ok(lines),
            Err(e) => return Err(e),
        };
        if matches!(line, Line::Continue) {
            imap.send_raw_line("", "(empty line: acknowledging an error challenge)")
                .await?;
            continue;
        }
        let done = matches!(&line, Line::Tagged { tag: t, .. } if t == tag);
        let is_bye = matches!(&line, Line::Untagged { kind, .. } if kind == "BYE");
        lines.push(line);
        if done || is_bye {
            // After a BYE the tagged answer may or may not come; do not wait for it.
            if is_bye && !done {
                if let Ok(Ok(l)) = tokio::time::timeout(std::time::Duration::from_millis(200), imap.read()).await {
                    lines.push(l);
                }
            }
            return Ok(lines);
        }
    }
}
