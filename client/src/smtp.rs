//! The SMTP submission check (`--protocol smtp`): connect to port 587, EHLO, STARTTLS,
//! EHLO, AUTH XOAUTH2, send a small test message from the mailbox to itself, QUIT. Each
//! step is reported; a refusal is explained by [`crate::diagnose::smtp`].

use crate::claims::Claims;
use crate::diagnose;
use crate::lines::{LineClient, LineError};
use crate::report::{Report, Status, EXIT_ERROR, EXIT_REFUSED};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::sync::Arc;

use crate::check::Config;

fn io(r: &mut Report, id: &'static str, e: LineError) -> u8 {
    r.step(id, Status::Fail, format!("SMTP: {e}"));
    EXIT_ERROR
}

/// A refusal at `id`: the step, and the diagnosis of Microsoft's answer.
#[allow(clippy::too_many_arguments)]
fn refused(
    r: &mut Report,
    id: &'static str,
    what: &str,
    code: u16,
    texts: &[String],
    cfg: &Config,
    claims: Option<&Claims>,
    now: i64,
) -> u8 {
    let text = texts.first().map(String::as_str).unwrap_or("");
    r.step(id, Status::Fail, format!("{what}: {code} {text}"));
    let from = cfg.from.as_deref().unwrap_or(&cfg.email);
    r.diagnosis = diagnose::smtp(code, text, claims, &cfg.email, from, now);
    EXIT_REFUSED
}

/// The test message: plain text, CRLF lines, no line starting with a dot.
fn message(from: &str, to: &str, id: &str) -> String {
    let date = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default();
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: oauth-mail-check test message\r\nDate: {date}\r\nMessage-ID: {id}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nSent by oauth-mail-check to test SMTP AUTH XOAUTH2.\r\n"
    )
}

pub(crate) async fn steps(
    cfg: &Config,
    r: &mut Report,
    tls: Arc<rustls::ClientConfig>,
    token: &str,
    claims: Option<&Claims>,
    now: i64,
) -> Result<(), u8> {
    let (host, port) = (cfg.smtp_host.as_str(), cfg.smtp_port);
    let mut c = LineClient::connect_for_check(r, "SMTP", host, port, false, tls).await?;
    let result = session(cfg, r, &mut c, token, claims, now).await;
    r.trace.append(&mut c.trace);
    result
}

async fn session(
    cfg: &Config,
    r: &mut Report,
    c: &mut LineClient,
    token: &str,
    claims: Option<&Claims>,
    now: i64,
) -> Result<(), u8> {
    let (host, port) = (cfg.smtp_host.as_str(), cfg.smtp_port);
    let (code, texts) = c.smtp_reply("banner").await.map_err(|e| io(r, "connect", e))?;
    let banner = texts.first().cloned().unwrap_or_default();
    if code != 220 {
        r.step("connect", Status::Fail, format!("SMTP {host}:{port}: {code} {banner}"));
        return Err(EXIT_REFUSED);
    }
    r.step("connect", Status::Ok, format!("Connected to {host}:{port}: {banner}"));

    // EHLO, STARTTLS, EHLO again: Exchange offers AUTH only over TLS.
    c.send("EHLO oauth-mail-check")
        .await
        .map_err(|e| io(r, "starttls", e))?;
    let (code, caps) = c.smtp_reply("EHLO").await.map_err(|e| io(r, "starttls", e))?;
    if code != 250 {
        return Err(refused(r, "starttls", "EHLO", code, &caps, cfg, claims, now));
    }
    if !caps.iter().any(|l| l.eq_ignore_ascii_case("STARTTLS")) {
        r.step("starttls", Status::Fail, "The server does not offer STARTTLS");
        r.diagnosis.push(format!("Exchange Online's submission port is smtp.office365.com:587 with STARTTLS; check --smtp-host and --smtp-port ({host}:{port})."));
        return Err(EXIT_REFUSED);
    }
    c.send("STARTTLS").await.map_err(|e| io(r, "starttls", e))?;
    let (code, texts) = c.smtp_reply("STARTTLS").await.map_err(|e| io(r, "starttls", e))?;
    if code != 220 {
        return Err(refused(r, "starttls", "STARTTLS", code, &texts, cfg, claims, now));
    }
    c.upgrade().await.map_err(|e| io(r, "starttls", e))?;
    r.step("starttls", Status::Ok, "STARTTLS: TLS started");
    c.send("EHLO oauth-mail-check")
        .await
        .map_err(|e| io(r, "capability", e))?;
    let (code, caps) = c.smtp_reply("EHLO").await.map_err(|e| io(r, "capability", e))?;
    if code != 250 {
        return Err(refused(r, "capability", "EHLO", code, &caps, cfg, claims, now));
    }
    let auth = caps
        .iter()
        .find(|l| l.to_ascii_uppercase().starts_with("AUTH "))
        .cloned()
        .unwrap_or_default();
    if !auth.split_whitespace().any(|m| m.eq_ignore_ascii_case("XOAUTH2")) {
        r.step(
            "capability",
            Status::Fail,
            format!("The server does not offer AUTH XOAUTH2 ({auth:?})"),
        );
        r.diagnosis.push(
            "This server does not do OAuth: check --smtp-host (Exchange Online is smtp.office365.com:587).".into(),
        );
        return Err(EXIT_REFUSED);
    }
    r.step("capability", Status::Ok, format!("{auth} offered"));

    // AUTH XOAUTH2 with the initial response, as Microsoft's guide shows.
    let blob = STANDARD.encode(format!("user={}\x01auth=Bearer {token}\x01\x01", cfg.email));
    let shown = format!(
        "AUTH XOAUTH2 <XOAUTH2 user={} auth=Bearer <redacted, {} chars>>",
        cfg.email,
        token.len()
    );
    c.send_shown(&format!("AUTH XOAUTH2 {blob}"), &shown)
        .await
        .map_err(|e| io(r, "authenticate", e))?;
    let (mut code, mut texts) = c.smtp_reply("AUTH").await.map_err(|e| io(r, "authenticate", e))?;
    if code == 334 {
        // An error challenge (Google's style): an empty line asks for the final answer.
        c.send_shown("", "(empty line: acknowledging an error challenge)")
            .await
            .map_err(|e| io(r, "authenticate", e))?;
        (code, texts) = c.smtp_reply("AUTH").await.map_err(|e| io(r, "authenticate", e))?;
    }
    if code != 235 {
        let what = format!("AUTH XOAUTH2 as {}", cfg.email);
        return Err(refused(r, "authenticate", &what, code, &texts, cfg, claims, now));
    }
    r.step(
        "authenticate",
        Status::Ok,
        format!("AUTH XOAUTH2 as {}: {code} {}", cfg.email, texts.join(" ")),
    );

    // The test message, from the mailbox (or --from) to itself (or --to).
    let from = cfg.from.clone().unwrap_or_else(|| cfg.email.clone());
    let to = cfg.to.clone().unwrap_or_else(|| cfg.email.clone());
    let id = format!("<{}@oauth-mail-check>", uuid::Uuid::new_v4());
    for (cmd, want) in [
        (format!("MAIL FROM:<{from}>"), 250),
        (format!("RCPT TO:<{to}>"), 250),
        ("DATA".to_string(), 354),
    ] {
        c.send(&cmd).await.map_err(|e| io(r, "send", e))?;
        let (code, texts) = c.smtp_reply("send").await.map_err(|e| io(r, "send", e))?;
        if code != want {
            return Err(refused(r, "send", &cmd, code, &texts, cfg, claims, now));
        }
    }
    let body = format!("{}.\r\n", message(&from, &to, &id));
    c.send_bytes(body.as_bytes(), &format!("(test message {id}, {} bytes) .", body.len()))
        .await
        .map_err(|e| io(r, "send", e))?;
    let (code, texts) = c.smtp_reply("end of data").await.map_err(|e| io(r, "send", e))?;
    if code != 250 {
        return Err(refused(r, "send", "end of data", code, &texts, cfg, claims, now));
    }
    r.step(
        "send",
        Status::Ok,
        format!("Sent {id} from {from} to {to}: {code} {}", texts.join(" ")),
    );
    r.sent_message_id = Some(id);

    c.send("QUIT").await.map_err(|e| io(r, "quit", e))?;
    let _ = c.smtp_reply("QUIT").await;
    r.step("quit", Status::Ok, "QUIT");
    Ok(())
}
