//! The POP3 check (`--protocol pop3`): TLS from the start (port 995) or STLS (port 110,
//! `--starttls`), CAPA, AUTH XOAUTH2 in the two lines Exchange wants, STAT, LIST, QUIT.
//! Each step is reported; a `-ERR` is explained by [`crate::diagnose::pop3`].

use crate::check::Config;
use crate::claims::Claims;
use crate::diagnose;
use crate::lines::{LineClient, LineError};
use crate::report::{Report, Status, EXIT_ERROR, EXIT_REFUSED};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::sync::Arc;

fn io(r: &mut Report, id: &'static str, e: LineError) -> u8 {
    r.step(id, Status::Fail, format!("POP3: {e}"));
    EXIT_ERROR
}

/// A `-ERR` (or anything but `+OK`) at `id`: the step and the diagnosis.
fn refused(
    r: &mut Report,
    id: &'static str,
    what: &str,
    answer: &str,
    cfg: &Config,
    claims: Option<&Claims>,
    now: i64,
) -> u8 {
    r.step(id, Status::Fail, format!("{what}: {answer}"));
    let text = answer.strip_prefix("-ERR").unwrap_or(answer).trim_start();
    r.diagnosis = diagnose::pop3(text, claims, &cfg.email, now);
    EXIT_REFUSED
}

pub(crate) async fn steps(
    cfg: &Config,
    r: &mut Report,
    tls: Arc<rustls::ClientConfig>,
    token: &str,
    claims: Option<&Claims>,
    now: i64,
) -> Result<(), u8> {
    let (host, port) = (cfg.pop3_host.as_str(), cfg.pop3_port);
    let mut c = LineClient::connect_for_check(r, "POP3", host, port, !cfg.starttls, tls).await?;
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
    let (host, port) = (cfg.pop3_host.as_str(), cfg.pop3_port);
    let greeting = c.line("greeting").await.map_err(|e| io(r, "connect", e))?;
    if !greeting.starts_with("+OK") {
        r.step("connect", Status::Fail, format!("POP3 {host}:{port}: {greeting}"));
        return Err(EXIT_REFUSED);
    }
    let how = if cfg.starttls { "STLS" } else { "TLS" };
    r.step(
        "connect",
        Status::Ok,
        format!("Connected to {host}:{port} with {how}: {greeting}"),
    );
    if cfg.starttls {
        c.send("STLS").await.map_err(|e| io(r, "stls", e))?;
        let answer = c.line("STLS").await.map_err(|e| io(r, "stls", e))?;
        if !answer.starts_with("+OK") {
            return Err(refused(r, "stls", "STLS", &answer, cfg, claims, now));
        }
        c.upgrade().await.map_err(|e| io(r, "stls", e))?;
        r.step("stls", Status::Ok, "STLS: TLS started");
    }

    c.send("CAPA").await.map_err(|e| io(r, "capability", e))?;
    let answer = c.line("CAPA").await.map_err(|e| io(r, "capability", e))?;
    if !answer.starts_with("+OK") {
        return Err(refused(r, "capability", "CAPA", &answer, cfg, claims, now));
    }
    let caps = c.pop3_multiline("CAPA").await.map_err(|e| io(r, "capability", e))?;
    let sasl = caps
        .iter()
        .find(|l| l.to_ascii_uppercase().starts_with("SASL"))
        .cloned()
        .unwrap_or_default();
    if !sasl.split_whitespace().any(|m| m.eq_ignore_ascii_case("XOAUTH2")) {
        r.step(
            "capability",
            Status::Fail,
            format!("The server does not offer SASL XOAUTH2 (CAPA {})", caps.join(" ")),
        );
        r.diagnosis.push(
            "This server does not do OAuth: check --pop3-host (Exchange Online is outlook.office365.com:995).".into(),
        );
        return Err(EXIT_REFUSED);
    }
    r.step("capability", Status::Ok, format!("{sasl} offered"));

    // Two lines, as Microsoft's guide asks: a single-line AUTH with the initial response
    // is answered `-ERR Protocol error. Connection is closed. 10`.
    c.send("AUTH XOAUTH2").await.map_err(|e| io(r, "authenticate", e))?;
    let answer = c.line("AUTH").await.map_err(|e| io(r, "authenticate", e))?;
    if !answer.starts_with('+') || answer.starts_with("+OK") {
        return Err(refused(r, "authenticate", "AUTH XOAUTH2", &answer, cfg, claims, now));
    }
    let blob = STANDARD.encode(format!("user={}\x01auth=Bearer {token}\x01\x01", cfg.email));
    let shown = format!(
        "<XOAUTH2 user={} auth=Bearer <redacted, {} chars>>",
        cfg.email,
        token.len()
    );
    c.send_shown(&blob, &shown)
        .await
        .map_err(|e| io(r, "authenticate", e))?;
    let answer = c.line("AUTH").await.map_err(|e| io(r, "authenticate", e))?;
    let what = format!("AUTH XOAUTH2 as {}", cfg.email);
    if !answer.starts_with("+OK") {
        return Err(refused(r, "authenticate", &what, &answer, cfg, claims, now));
    }
    r.step("authenticate", Status::Ok, format!("{what}: {answer}"));

    // STAT: the first mailbox command, where a mailbox that cannot be opened shows.
    c.send("STAT").await.map_err(|e| io(r, "count", e))?;
    let answer = c.line("STAT").await.map_err(|e| io(r, "count", e))?;
    if !answer.starts_with("+OK") {
        return Err(refused(r, "count", "STAT", &answer, cfg, claims, now));
    }
    let mut words = answer.split_whitespace().skip(1);
    let count = words.next().and_then(|n| n.parse::<u32>().ok()).unwrap_or(0);
    let octets = words.next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
    r.step(
        "count",
        Status::Ok,
        format!("{count} message(s), {octets} octets in the INBOX"),
    );
    r.message_count = Some(count);

    c.send("LIST").await.map_err(|e| io(r, "list", e))?;
    let answer = c.line("LIST").await.map_err(|e| io(r, "list", e))?;
    if !answer.starts_with("+OK") {
        return Err(refused(r, "list", "LIST", &answer, cfg, claims, now));
    }
    let listed = c.pop3_multiline("LIST").await.map_err(|e| io(r, "list", e))?;
    r.step("list", Status::Ok, format!("LIST: {} message(s)", listed.len()));

    // QUIT without DELE: the check changes nothing.
    c.send("QUIT").await.map_err(|e| io(r, "quit", e))?;
    let _ = c.line("QUIT").await;
    r.step("quit", Status::Ok, "QUIT");
    Ok(())
}
