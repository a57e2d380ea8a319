//! Replaying recordings: against a server (we are the client) and against a client (we
//! are a scripted server). Every wait is bounded and names its step.

use crate::format::{escape, glob, ImapRecording, Line, TokenRecording, Transport};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use oauth_mail_check::imap::Io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long any single step may take.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail(String),
    Skip(String),
}

/// The demo tenant's apps: (tenant, client id, secret).
pub fn demo_app(app: &str) -> Option<(&'static str, &'static str, &'static str)> {
    Some(match app {
        "01" => (
            "contoso.onmicrosoft.com",
            "00000000-0000-4000-8000-00000000a001",
            "poller-secret-value",
        ),
        "02" => (
            "contoso.onmicrosoft.com",
            "00000000-0000-4000-8000-00000000a002",
            "wrong-oid-secret",
        ),
        "03" => (
            "contoso.onmicrosoft.com",
            "00000000-0000-4000-8000-00000000a003",
            "not-registered-secret",
        ),
        "04" => (
            "contoso.onmicrosoft.com",
            "00000000-0000-4000-8000-00000000a004",
            "no-permission-secret",
        ),
        "05" => (
            "contoso.onmicrosoft.com",
            "00000000-0000-4000-8000-00000000a005",
            "delegated-only-secret",
        ),
        "06" => (
            "contoso.onmicrosoft.com",
            "00000000-0000-4000-8000-00000000a006",
            "no-consent-secret",
        ),
        "fabrikam" => (
            "fabrikam.onmicrosoft.com",
            "00000000-0000-4000-8000-0000000fa001",
            "fabrikam-poller-secret",
        ),
        _ => return None,
    })
}

/// Where a replay goes.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// `https://host:port` of the identity platform (tokens), if any.
    pub https_url: Option<String>,
    pub imaps: SocketAddr,
    pub imap: Option<SocketAddr>,
    /// SMTP submission (plain, STARTTLS), for `@protocol: smtp` recordings.
    pub smtp: Option<SocketAddr>,
    /// POP3 with implicit TLS (995) and with STLS (110), for `@protocol: pop3` recordings.
    pub pop3s: Option<SocketAddr>,
    pub pop3: Option<SocketAddr>,
    pub ca_pem: Vec<u8>,
    /// A fixed token to use instead of asking the identity platform.
    pub token: Option<String>,
}

/// The demo users who can sign in, and their password (ROPC).
pub fn demo_password(upn: &str) -> Option<&'static str> {
    match upn {
        "test.user@contoso.com" | "imap.disabled@contoso.com" => Some("Passw0rd!"),
        _ => None,
    }
}

/// The delegated scope recordings ask for.
pub const DELEGATED_SCOPE: &str = "https://outlook.office.com/IMAP.AccessAsUser.All";

pub async fn fetch_token(ep: &Endpoints, app: &str, scope: &str, signin: Option<&str>) -> Result<String, String> {
    if let Some(t) = &ep.token {
        return Ok(t.clone());
    }
    let base = ep.https_url.as_ref().ok_or("no token endpoint and no --token")?;
    if let Some(upn) = signin {
        let password = demo_password(upn).ok_or_else(|| format!("{upn} cannot sign in"))?;
        // A recording may name its delegated scope (SMTP.Send, POP.AccessAsUser.All);
        // the app default `.default` means IMAP's.
        let scope = if scope.starts_with("https://outlook.office.com/") {
            scope
        } else {
            DELEGATED_SCOPE
        };
        let http = http_client(&ep.ca_pem)?;
        let r: serde_json::Value = http
            .post(format!("{base}/contoso.onmicrosoft.com/oauth2/v2.0/token"))
            .form(&[
                ("grant_type", "password"),
                ("client_id", "00000000-0000-4000-8000-00000000a008"),
                ("username", upn),
                ("password", password),
                ("scope", scope),
            ])
            .send()
            .await
            .map_err(|e| format!("token request: {e}"))?
            .json()
            .await
            .map_err(|e| format!("token response: {e}"))?;
        return r["access_token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("no token for {upn}: {r}"));
    }
    let (tenant, id, secret) = demo_app(app).ok_or_else(|| format!("unknown demo app {app:?}"))?;
    let http = http_client(&ep.ca_pem)?;
    let r: serde_json::Value = http
        .post(format!("{base}/{tenant}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
            ("scope", scope),
        ])
        .send()
        .await
        .map_err(|e| format!("token request: {e}"))?
        .json()
        .await
        .map_err(|e| format!("token response: {e}"))?;
    r["access_token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no token for app {app}: {r}"))
}

fn http_client(ca_pem: &[u8]) -> Result<reqwest::Client, String> {
    let certs = reqwest::Certificate::from_pem_bundle(ca_pem).map_err(|e| e.to_string())?;
    reqwest::Client::builder()
        .tls_certs_only(certs)
        .no_proxy()
        .timeout(STEP_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())
}

pub fn xoauth2(user: &str, token: &str) -> String {
    STANDARD.encode(format!("user={user}\x01auth=Bearer {token}\x01\x01"))
}

/// The token with its claims changed and its signature kept: a forgery.
fn tampered(token: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    if parts.len() == 3 {
        parts[1] = URL_SAFE_NO_PAD
            .encode(br#"{"aud":"https://outlook.office365.com","roles":["IMAP.AccessAsApp"],"oid":"forged"}"#);
    }
    parts.join(".")
}

/// Fill the placeholders of a `C:` line.
pub fn fill(line: &str, user: &str, token: &str) -> String {
    let mut out = line
        .replace("{xoauth2}", &xoauth2(user, token))
        .replace("{xoauth2-double-token}", &xoauth2(user, &STANDARD.encode(token)))
        .replace("{xoauth2-double-message}", &STANDARD.encode(xoauth2(user, token)))
        .replace("{xoauth2-tampered}", &xoauth2(user, &tampered(token)))
        .replace("{token}", token);
    while let Some(start) = out.find("{xoauth2:") {
        let Some(end) = out[start..].find('}') else { break };
        let who = out[start + 9..start + end].to_string();
        out.replace_range(start..start + end + 1, &xoauth2(&who, token));
    }
    while let Some(start) = out.find("{repeat:") {
        let Some(end) = out[start..].find('}') else { break };
        let spec = out[start + 8..start + end].to_string();
        let text = match spec.split_once(':') {
            Some((s, n)) => s.repeat(n.parse().unwrap_or(0)),
            None => String::new(),
        };
        out.replace_range(start..start + end + 1, &text);
    }
    out
}

/// The greeting blob of the default host name, for scripted servers.
pub fn greeting_blob() -> String {
    let fqdn = mock_server::imap::personality::DEFAULT_FQDN;
    STANDARD.encode(fqdn.encode_utf16().flat_map(u16::to_le_bytes).collect::<Vec<u8>>())
}

/// A line reader over plain or TLS, with the buffer kept across a STARTTLS upgrade check.
struct Wire {
    io: Io,
    buf: Vec<u8>,
}

impl Wire {
    /// One line without its CRLF; `None` at EOF.
    async fn line(&mut self) -> Result<Option<String>, String> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let raw: Vec<u8> = self.buf.drain(..=i).collect();
                let s = String::from_utf8_lossy(&raw);
                return Ok(Some(s.trim_end_matches('\n').trim_end_matches('\r').to_string()));
            }
            let mut chunk = [0u8; 8192];
            let n = match tokio::time::timeout(STEP_TIMEOUT, self.io.read(&mut chunk)).await {
                Err(_) => return Err(format!("no line within {STEP_TIMEOUT:?}")),
                Ok(Err(_)) => return Ok(None),
                Ok(Ok(n)) => n,
            };
            if n == 0 {
                return Ok(None);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn send(&mut self, line: &str) -> Result<(), String> {
        self.send_raw(format!("{line}\r\n").as_bytes()).await
    }

    async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), String> {
        let w = async {
            self.io.write_all(bytes).await?;
            self.io.flush().await
        };
        match tokio::time::timeout(STEP_TIMEOUT, w).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("write failed: {e}")),
            Err(_) => Err("write timed out".into()),
        }
    }
}

fn tls_connector(ca_pem: &[u8]) -> Result<tokio_rustls::TlsConnector, String> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(c.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

fn localhost() -> rustls::pki_types::ServerName<'static> {
    rustls::pki_types::ServerName::try_from("localhost").unwrap_or(rustls::pki_types::ServerName::IpAddress(
        std::net::IpAddr::from([127, 0, 0, 1]).into(),
    ))
}

/// Check the byte-exact encodings a recording vouches for.
pub fn check_golden(rec: &ImapRecording) -> Verdict {
    for (user, token, want) in &rec.golden {
        let got = xoauth2(user, token);
        if &got != want {
            return Verdict::Fail(format!(
                "golden XOAUTH2 for user={user}: expected {want}, encoder gives {got}"
            ));
        }
    }
    Verdict::Pass
}

/// The answer to a `C:` line that starts TLS on a plain connection, if it is one: IMAP
/// `<tag> STARTTLS` → `<tag> OK`, SMTP `STARTTLS` → `220`, POP3 `STLS` → `+OK`.
fn upgrade_answer(protocol: &str, line: &str) -> Option<String> {
    match protocol {
        "smtp" if line.eq_ignore_ascii_case("STARTTLS") => Some("220".into()),
        "pop3" if line.eq_ignore_ascii_case("STLS") => Some("+OK".into()),
        "imap"
            if line
                .split(' ')
                .nth(1)
                .is_some_and(|w| w.eq_ignore_ascii_case("STARTTLS")) =>
        {
            line.split(' ').next().map(|t| format!("{t} OK"))
        }
        _ => None,
    }
}

/// Replay against a server (IMAP, SMTP or POP3, by `@protocol`): send the `C:` lines,
/// compare every `S:` line. `advance` moves the server's clock (None: the target's clock
/// cannot be moved).
pub async fn imap_against_server(rec: &ImapRecording, ep: &Endpoints, advance: Option<&dyn Fn(i64)>) -> Verdict {
    if let v @ Verdict::Fail(_) = check_golden(rec) {
        return v;
    }
    if !matches!(rec.protocol.as_str(), "imap" | "smtp" | "pop3") {
        return Verdict::Skip(format!(
            "a {} recording (IMAP, SMTP and POP3 are replayed against servers)",
            rec.protocol
        ));
    }
    if advance.is_none() && rec.lines.iter().any(|l| matches!(l, Line::Advance(_))) {
        return Verdict::Skip("needs the server clock moved (in-process only)".into());
    }
    if advance.is_none() && !rec.setup.is_empty() {
        return Verdict::Skip(format!(
            "needs the directory changed ({}; in-process only)",
            rec.setup.join(", ")
        ));
    }
    let needs_token = rec
        .lines
        .iter()
        .any(|l| matches!(l, Line::C(c) if c.contains("{xoauth2") || c.contains("{token}")));
    let token = if needs_token {
        match fetch_token(ep, &rec.app, &rec.scope, rec.signin.as_deref()).await {
            Ok(t) => t,
            Err(e) => return Verdict::Fail(format!("could not get a token: {e}")),
        }
    } else {
        String::new()
    };
    let connector = match tls_connector(&ep.ca_pem) {
        Ok(c) => c,
        Err(e) => return Verdict::Fail(e),
    };
    // SMTP submission always starts plain (port 587) and upgrades with STARTTLS.
    let transport = if rec.protocol == "smtp" {
        Transport::StartTls
    } else {
        rec.transport.clone()
    };
    let addr = match (rec.protocol.as_str(), &transport) {
        ("imap", Transport::Tls) => Some(ep.imaps),
        ("imap", Transport::StartTls) => ep.imap,
        ("smtp", _) => ep.smtp,
        ("pop3", Transport::Tls) => ep.pop3s,
        _ => ep.pop3,
    };
    let Some(addr) = addr else {
        return Verdict::Skip(format!("no {} port given for a {transport:?} recording", rec.protocol));
    };
    let tcp = match tokio::time::timeout(STEP_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(t)) => t,
        _ => return Verdict::Fail(format!("cannot connect to {addr}")),
    };
    let io = match transport {
        Transport::Tls => match connector.connect(localhost(), tcp).await {
            Ok(s) => Io::Tls(Box::new(s)),
            Err(e) => return Verdict::Fail(format!("TLS: {e}")),
        },
        Transport::StartTls => Io::Plain(tcp),
    };
    let mut wire = Wire { io, buf: Vec::new() };
    // The answer that, once received, starts TLS (after STARTTLS/STLS).
    let mut upgrade_on: Option<String> = None;
    for (i, line) in rec.lines.iter().enumerate() {
        let step = i + 1;
        match line {
            Line::Advance(s) => {
                if let Some(f) = advance {
                    f(*s);
                }
            }
            Line::Pause(ms) => tokio::time::sleep(Duration::from_millis(*ms).min(MAX_PAUSE)).await,
            // Trickling is what a scripted server does to a client; a client sends at once.
            Line::Trickle(_) => {}
            Line::C(c) if rec.escaped => {
                if let Err(e) = wire
                    .send_raw(&crate::format::unescape(&fill(c, &rec.user, &token)))
                    .await
                {
                    return Verdict::Fail(format!("line {step}: {e}"));
                }
            }
            Line::C(c) => {
                let filled = fill(c, &rec.user, &token);
                if let Some(answer) = upgrade_answer(&rec.protocol, &filled) {
                    upgrade_on = Some(answer);
                }
                if let Err(e) = wire.send(&filled).await {
                    return Verdict::Fail(format!("line {step}: {e}"));
                }
            }
            Line::S(expected) => {
                let got = match wire.line().await {
                    Ok(g) => g,
                    Err(e) => return Verdict::Fail(format!("line {step}: expected S: {}\n  {e}", escape(expected))),
                };
                if expected == "<closed>" {
                    match got {
                        None => continue,
                        Some(g) => {
                            return Verdict::Fail(format!(
                                "line {step}: expected the server to close, got\n  S: {}",
                                escape(&g)
                            ))
                        }
                    }
                }
                let expected_filled = expected.replace("{greeting-blob}", "{*}");
                // Escaped recordings hold exact bytes: compare escaped text without the CRLF.
                let (expected_filled, got) = if rec.escaped {
                    (
                        expected_filled.trim_end_matches("\\r\\n").to_string(),
                        got.map(|g| escape(&g)),
                    )
                } else {
                    (expected_filled, got)
                };
                match got {
                    None => {
                        return Verdict::Fail(format!(
                            "line {step}: expected\n  S: {}\n  but the server closed the connection",
                            escape(expected)
                        ))
                    }
                    Some(g) if glob(&expected_filled, &g) => {
                        if let Some(t) = &upgrade_on {
                            if g.starts_with(t.as_str()) {
                                upgrade_on = None;
                                let Io::Plain(tcp) = std::mem::replace(&mut wire.io, Io::Gone) else {
                                    return Verdict::Fail("STARTTLS on a TLS connection".into());
                                };
                                match connector.connect(localhost(), tcp).await {
                                    Ok(s) => wire.io = Io::Tls(Box::new(s)),
                                    Err(e) => return Verdict::Fail(format!("STARTTLS handshake: {e}")),
                                }
                            }
                        }
                    }
                    Some(g) => {
                        return Verdict::Fail(format!(
                            "line {step}: first difference\n  expected S: {}\n  received S: {}",
                            escape(expected),
                            escape(&g)
                        ))
                    }
                }
            }
        }
    }
    Verdict::Pass
}

/// Replay a token-endpoint recording.
pub async fn token_against_server(rec: &TokenRecording, ep: &Endpoints) -> Verdict {
    let Some(base) = &ep.https_url else {
        return Verdict::Skip("no identity platform given".into());
    };
    let http = match http_client(&ep.ca_pem) {
        Ok(h) => h,
        Err(e) => return Verdict::Fail(e),
    };
    let path = match crate::token_steps::endpoint_path(&rec.request.endpoint) {
        Ok(p) => p,
        Err(e) => return Verdict::Fail(e),
    };
    let form = match crate::token_steps::prepare_form(rec, base, &http).await {
        Ok(f) => f,
        Err(e) => return Verdict::Fail(format!("before the request: {e}")),
    };
    let url = format!("{base}/{}/{path}", rec.request.tenant);
    let r = match http.post(&url).form(&form).send().await {
        Ok(r) => r,
        Err(e) => return Verdict::Fail(format!("POST {url}: {e}")),
    };
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body: serde_json::Value = match r.json().await {
        Ok(b) => b,
        Err(e) => return Verdict::Fail(format!("body is not JSON: {e}")),
    };
    if status != rec.expect.status {
        return Verdict::Fail(format!(
            "status: expected {}, received {status}: {body}",
            rec.expect.status
        ));
    }
    if let Err(e) = crate::http_get::check_headers(&headers, &rec.expect.headers, base) {
        return Verdict::Fail(e);
    }
    let Some(obj) = body.as_object() else {
        return Verdict::Fail(format!("body is not an object: {body}"));
    };
    // Whole-body comparison shared with the GET recordings: `{*}`, `{base}`, nested values.
    if let Err(e) = crate::http_get::check_object(
        obj,
        &rec.expect.body,
        &rec.expect.volatile,
        rec.expect.ordered,
        base,
        "",
    ) {
        return Verdict::Fail(format!("{e}\nin {body}"));
    }
    if !rec.expect.claims.is_empty() {
        let claims = body["access_token"]
            .as_str()
            .and_then(|t| t.split('.').nth(1))
            .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .unwrap_or_default();
        for (k, want) in &rec.expect.claims {
            let got = claims.get(k).cloned().unwrap_or(serde_json::Value::Null);
            if &got != want {
                return Verdict::Fail(format!("claim {k}: expected {want}, received {got}"));
            }
        }
    }
    Verdict::Pass
}

// ---------------------------------------------------------------------------------------
// Replay against a client: we play the S: lines and check the client's C: lines.

/// A scripted server for one recording. Returns its address, its CA (PEM) and the task
/// that plays the script and judges the client's lines.
pub async fn scripted_server(
    rec: &ImapRecording,
) -> Result<(SocketAddr, String, tokio::task::JoinHandle<Verdict>), String> {
    if rec.transport != Transport::Tls {
        return Err("only implicit-TLS recordings can be played to clients".into());
    }
    let tls = mock_server::tls::build(None, &[]).map_err(|e| e.to_string())?;
    let mut config = (*tls.server_config).clone();
    config.alpn_protocols.clear();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let rec = rec.clone();
    let task = tokio::spawn(async move {
        let accepted = tokio::time::timeout(STEP_TIMEOUT * 3, listener.accept()).await;
        let Ok(Ok((tcp, _))) = accepted else {
            return Verdict::Fail("the client never connected".into());
        };
        let stream = match acceptor.accept(tcp).await {
            Ok(s) => s,
            Err(e) => return Verdict::Fail(format!("TLS with the client: {e}")),
        };
        play(&rec, stream).await
    });
    Ok((addr, tls.ca_pem, task))
}

async fn play(rec: &ImapRecording, stream: tokio_rustls::server::TlsStream<TcpStream>) -> Verdict {
    // Reuse the line reader with a server-side stream.
    struct ServerWire {
        s: tokio_rustls::server::TlsStream<TcpStream>,
        buf: Vec<u8>,
    }
    let mut w = ServerWire {
        s: stream,
        buf: Vec::new(),
    };
    let mut tags: Vec<(String, String)> = Vec::new();
    // A client may stop after a refusal; the rest of the script then does not apply.
    let mut last_sent_refusal = false;
    let mut trickle = Duration::ZERO;
    for (i, line) in rec.lines.iter().enumerate() {
        let step = i + 1;
        match line {
            Line::Advance(_) => {}
            Line::Pause(ms) => tokio::time::sleep(Duration::from_millis(*ms).min(MAX_PAUSE)).await,
            Line::Trickle(ms) => trickle = Duration::from_millis(*ms).min(MAX_PAUSE),
            Line::S(s) if s == "<closed>" => break,
            Line::S(s) => {
                let mut out: Vec<u8> = if rec.escaped {
                    crate::format::unescape(s)
                } else {
                    format!(
                        "{}\r\n",
                        s.replace("{greeting-blob}", &greeting_blob()).replace("{*}", "")
                    )
                    .into_bytes()
                };
                if let Some(sp) = out.iter().position(|&b| b == b' ') {
                    let rtag = String::from_utf8_lossy(&out[..sp]).into_owned();
                    if let Some((_, ctag)) = tags.iter().find(|(r, _)| *r == rtag) {
                        out.splice(..sp, ctag.bytes());
                    }
                }
                let words: Vec<&[u8]> = out.splitn(3, |&b| b == b' ').collect();
                // IMAP's NO/BAD/BYE, POP3's -ERR.
                last_sent_refusal =
                    matches!(words.get(1), Some(&b"NO") | Some(&b"BAD") | Some(&b"BYE")) || out.starts_with(b"-ERR");
                let written = if trickle.is_zero() {
                    w.s.write_all(&out).await
                } else {
                    trickle_write(&mut w.s, &out, trickle).await
                };
                if written.is_err() {
                    // A client that already said everything the script expects from it
                    // followed the script; whether it read the server's last lines before
                    // closing (or crashing) is a race the verdict must not depend on.
                    if !rec.lines[i + 1..].iter().any(|l| matches!(l, Line::C(_))) {
                        break;
                    }
                    return Verdict::Fail(format!(
                        "line {step}: the client closed the connection before S: {}",
                        escape(s)
                    ));
                }
            }
            Line::C(expected) => {
                let got = loop {
                    if let Some(i) = w.buf.iter().position(|&b| b == b'\n') {
                        let raw: Vec<u8> = w.buf.drain(..=i).collect();
                        break Some(String::from_utf8_lossy(&raw).trim_end().to_string());
                    }
                    let mut chunk = [0u8; 8192];
                    match tokio::time::timeout(STEP_TIMEOUT, w.s.read(&mut chunk)).await {
                        Ok(Ok(0)) | Ok(Err(_)) => break None,
                        Err(_) => {
                            return Verdict::Fail(format!(
                                "line {step}: the client sent nothing for {STEP_TIMEOUT:?} (expected C: {})",
                                escape(expected)
                            ))
                        }
                        Ok(Ok(n)) => w.buf.extend_from_slice(&chunk[..n]),
                    }
                };
                let Some(got) = got else {
                    if last_sent_refusal {
                        break;
                    }
                    return Verdict::Fail(format!(
                        "line {step}: the client closed the connection instead of\n  C: {}",
                        escape(expected)
                    ));
                };
                if let Err(why) = client_line_matches(expected, &got, &rec.user, &mut tags, rec.protocol == "imap") {
                    return Verdict::Fail(format!(
                        "line {step}: first difference ({why})\n  expected C: {}\n  received C: {}",
                        escape(expected),
                        escape(&got)
                    ));
                }
            }
        }
    }
    let _ = w.s.shutdown().await;
    Verdict::Pass
}

/// The longest pause or trickle interval a recording may ask for.
pub const MAX_PAUSE: Duration = Duration::from_secs(5);

/// The most bytes written one at a time; the rest of a trickled line goes at once, so a
/// huge line cannot make a replay take hours.
pub const MAX_TRICKLE_BYTES: usize = 256;

/// Write `bytes` one at a time with `gap` between them (the first [`MAX_TRICKLE_BYTES`]).
pub async fn trickle_write<W: tokio::io::AsyncWrite + Unpin>(
    w: &mut W,
    bytes: &[u8],
    gap: Duration,
) -> std::io::Result<()> {
    let cut = bytes.len().min(MAX_TRICKLE_BYTES);
    for b in &bytes[..cut] {
        w.write_all(std::slice::from_ref(b)).await?;
        w.flush().await?;
        tokio::time::sleep(gap).await;
    }
    w.write_all(&bytes[cut..]).await?;
    w.flush().await
}

/// Compare a client's line with the recording: IMAP tags bind, XOAUTH2 blobs are decoded and
/// checked for structure and `user=`, the rest is compared (case-insensitively for the
/// command name) with `{*}` wildcards.
fn client_line_matches(
    expected: &str,
    got: &str,
    user: &str,
    tags: &mut Vec<(String, String)>,
    tagged: bool,
) -> Result<(), String> {
    // POP3 and SMTP lines have no tag: the whole line is compared.
    let is_sasl_line = !tagged || (!expected.contains(' ') && expected.starts_with('{'));
    let (etag, erest, gtag, grest) = if is_sasl_line {
        ("", expected, "", got)
    } else {
        let (et, er) = expected.split_once(' ').unwrap_or((expected, ""));
        let (gt, gr) = got.split_once(' ').unwrap_or((got, ""));
        (et, er, gt, gr)
    };
    if !is_sasl_line {
        tags.retain(|(r, _)| r != etag);
        tags.push((etag.to_string(), gtag.to_string()));
    }
    let mut ewords: Vec<&str> = erest.split(' ').collect();
    let mut gwords: Vec<&str> = grest.split(' ').collect();
    // A last word `{*}` stands for the rest of the line, however many words it has (fuzz
    // findings name only the command a client sent).
    if ewords.last() == Some(&"{*}") {
        ewords.pop();
        if gwords.len() < ewords.len() {
            return Err("fewer words than expected".into());
        }
        gwords.truncate(ewords.len());
    }
    if ewords.len() != gwords.len() {
        return Err("different number of words".into());
    }
    for (e, g) in ewords.iter().zip(&gwords) {
        if e.starts_with("{xoauth2") {
            let raw = STANDARD
                .decode(g)
                .map_err(|_| "the XOAUTH2 argument is not base64".to_string())?;
            let text = String::from_utf8(raw).map_err(|_| "XOAUTH2 is not UTF-8".to_string())?;
            let want = format!("user={user}\x01auth=Bearer ");
            if !text.starts_with(&want) || !text.ends_with("\x01\x01") {
                return Err(format!("XOAUTH2 is not user={user}^Aauth=Bearer <token>^A^A"));
            }
        } else if !(glob(e, g) || e.eq_ignore_ascii_case(g)) {
            return Err(format!("{e:?} vs {g:?}"));
        }
    }
    Ok(())
}
