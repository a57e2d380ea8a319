//! `mock-server admin <verb> --param value …`: the admin API from the command line.
//!
//! Each `--kebab-name value` becomes a JSON parameter of `POST /_mock/admin/<verb>`; a
//! flag without a value means `true`. `--eml-file` and `--pem-file` read a file. `journal`
//! prints the journal for a person (`--follow` keeps polling). The request is plain
//! HTTP/1.1 over rustls, trusting only the server's CA: no proxy, nothing but loopback
//! in practice.

use anyhow::{anyhow, bail, Context};
use base64::Engine;
use serde_json::{Map, Value};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How often `journal --follow` asks for new entries: fast enough to read live, slow
/// enough to cost the server nothing (one small request per half second).
const FOLLOW_POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Largest answer read: a journal page (`MAX_JOURNAL_PAGE` entries) or a 35 MB message
/// base64-encoded twice over (text and base64) stays under this.
const MAX_RESPONSE_BYTES: usize = 128 * 1024 * 1024;
/// Give up on a server that does not answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

struct Target {
    url: String,
    ca_pem: Vec<u8>,
    token: Option<String>,
}

pub fn run(args: &[String]) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mock-server admin: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(main(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mock-server admin: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> String {
    let mut s = String::from(
        "usage: mock-server admin <verb> [--param value …] (--ready-file FILE | --url URL --ca-file PEM) [--admin-token TOKEN]\n\
         \x20      mock-server admin journal [--follow] [--after SEQ] [--json]\n\nverbs:\n",
    );
    for (verb, params) in mock_server::admin::http::verbs() {
        s.push_str(&format!("  {verb} {params}\n"));
    }
    s
}

async fn main(args: &[String]) -> anyhow::Result<()> {
    let mut verb: Option<String> = None;
    let mut params: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if let Some(name) = a.strip_prefix("--") {
            let (name, value) = match name.split_once('=') {
                Some((n, v)) => (n.to_string(), v.to_string()),
                None => match args.get(i + 1) {
                    Some(v) if !v.starts_with("--") => {
                        i += 1;
                        (name.to_string(), v.clone())
                    }
                    _ => (name.to_string(), "true".to_string()),
                },
            };
            params.push((name, value));
        } else if verb.is_none() {
            verb = Some(a.to_ascii_lowercase());
        } else {
            bail!("unexpected argument {a:?}; parameters are --name value\n\n{}", usage());
        }
        i += 1;
    }
    let verb = match verb.as_deref() {
        None | Some("help") => {
            print!("{}", usage());
            return Ok(());
        }
        Some(v) => v.to_string(),
    };
    if params.iter().any(|(n, _)| n == "help") {
        print!("{}", usage());
        return Ok(());
    }
    let mut take = |name: &str| -> Option<String> {
        let i = params.iter().position(|(n, _)| n == name)?;
        Some(params.remove(i).1)
    };
    let ready_file = take("ready-file");
    let url = take("url");
    let ca_file = take("ca-file");
    let token = take("admin-token").or_else(|| std::env::var("MOCK_SERVER_ADMIN_TOKEN").ok());
    let target = match (ready_file, url) {
        (Some(f), None) => {
            let text = std::fs::read(&f).with_context(|| format!("reading the ready file {f}"))?;
            let ready: Value = serde_json::from_slice(&text).with_context(|| format!("{f}: not JSON"))?;
            let url = ready["https_url"]
                .as_str()
                .ok_or_else(|| anyhow!("{f}: no https_url"))?
                .to_string();
            let ca = match &ca_file {
                Some(c) => c.clone(),
                None => ready["ca_file"]
                    .as_str()
                    .ok_or_else(|| anyhow!("{f}: no ca_file"))?
                    .to_string(),
            };
            Target {
                url,
                ca_pem: std::fs::read(&ca).with_context(|| format!("reading the CA file {ca}"))?,
                token,
            }
        }
        (None, Some(url)) => {
            let ca = ca_file.ok_or_else(|| anyhow!("--url needs --ca-file PEM (the server's CA)"))?;
            Target {
                url: url.trim_end_matches('/').to_string(),
                ca_pem: std::fs::read(&ca).with_context(|| format!("reading the CA file {ca}"))?,
                token,
            }
        }
        (Some(_), Some(_)) => bail!("give --ready-file or --url, not both"),
        (None, None) => bail!("which server? give --ready-file FILE or --url URL --ca-file PEM"),
    };

    if verb == "journal" {
        let follow = take("follow").is_some_and(|v| v != "false");
        let json = take("json").is_some_and(|v| v != "false");
        let mut after: u64 = match take("after") {
            Some(a) => a.parse().with_context(|| format!("--after {a}: expected a number"))?,
            None => 0,
        };
        if let Some((n, _)) = params.first() {
            bail!("journal: unknown parameter --{n}");
        }
        loop {
            let mut body = Map::new();
            body.insert("after".into(), Value::from(after));
            let page = call(&target, "get-journal", &Value::Object(body)).await?;
            let entries = page["entries"].as_array().cloned().unwrap_or_default();
            for e in &entries {
                if json {
                    println!("{e}");
                } else {
                    println!("{}", human(e));
                }
                after = after.max(e["seq"].as_u64().unwrap_or(after));
            }
            let last_seq = page["last_seq"].as_u64().unwrap_or(after);
            // Pages are at most MAX_JOURNAL_PAGE entries: keep asking until caught up.
            if !follow && (entries.is_empty() || after >= last_seq) {
                return Ok(());
            }
            if entries.is_empty() {
                tokio::time::sleep(FOLLOW_POLL_INTERVAL).await;
            }
        }
    }

    let mut body = Map::new();
    for (name, value) in params {
        match name.as_str() {
            "eml-file" => {
                let raw = std::fs::read(&value).with_context(|| format!("reading {value}"))?;
                body.insert(
                    "eml_base64".into(),
                    base64::engine::general_purpose::STANDARD.encode(raw).into(),
                );
            }
            "pem-file" => {
                let pem = std::fs::read_to_string(&value).with_context(|| format!("reading {value}"))?;
                body.insert("pem".into(), pem.into());
            }
            _ => {
                let v = if verb == "add-fault" {
                    // A fault's fields are typed (numbers, booleans).
                    typed(&value)
                } else {
                    Value::String(value)
                };
                body.insert(name.replace('-', "_"), v);
            }
        }
    }
    let answer = call(&target, &verb, &Value::Object(body)).await?;
    println!("{}", serde_json::to_string_pretty(&answer).unwrap_or_default());
    Ok(())
}

fn typed(v: &str) -> Value {
    match v {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => v
            .parse::<u64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(v.into())),
    }
}

/// One journal entry for a person: position, time, protocol, request, outcome, and the
/// why and fix on their own lines.
fn human(e: &Value) -> String {
    let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
    let mut line = format!(
        "#{} {} {:<5} {} -> {}",
        e["seq"].as_u64().unwrap_or(0),
        s("at"),
        s("protocol"),
        s("request"),
        s("outcome"),
    );
    if let Some(code) = e["error_code"].as_u64() {
        line.push_str(&format!(" AADSTS{code}"));
    }
    if let Some(err) = e["error"].as_str() {
        line.push_str(&format!(" {err}"));
    }
    if let Some(c) = e["client_id"].as_str() {
        line.push_str(&format!(" (client {c})"));
    }
    if let Some(r) = e["reason"].as_str() {
        line.push_str(&format!("\n    why: {r}"));
    }
    if let Some(f) = e["fix"].as_str() {
        line.push_str(&format!("\n    fix: {f}"));
    }
    line
}

/// POST one verb; `Err` carries the server's message (e.g. "no mailbox … in tenant …").
async fn call(target: &Target, verb: &str, body: &Value) -> anyhow::Result<Value> {
    let (status, answer) = tokio::time::timeout(REQUEST_TIMEOUT, post(target, verb, body))
        .await
        .map_err(|_| anyhow!("{} did not answer within {REQUEST_TIMEOUT:?}", target.url))??;
    let json: Value =
        serde_json::from_slice(&answer).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&answer).into()));
    if status == 200 {
        return Ok(json);
    }
    match json["message"].as_str() {
        Some(m) => bail!("{verb}: {m} (HTTP {status})"),
        None if status == 404 => bail!("{verb}: the server has no admin API (started with --no-admin?)"),
        None => bail!("{verb}: HTTP {status}: {json}"),
    }
}

async fn post(target: &Target, verb: &str, body: &Value) -> anyhow::Result<(u16, Vec<u8>)> {
    let rest = target
        .url
        .strip_prefix("https://")
        .ok_or_else(|| anyhow!("--url {}: expected https://host:port", target.url))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (
            h.to_string(),
            p.parse::<u16>().with_context(|| format!("port in {}", target.url))?,
        ),
        _ => (authority.to_string(), 443),
    };
    let host_bare = host.trim_start_matches('[').trim_end_matches(']').to_string();

    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut target.ca_pem.as_slice()) {
        roots
            .add(cert.context("reading the CA file")?)
            .context("adding the CA certificate")?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .context("TLS configuration")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from(host_bare.clone())
        .with_context(|| format!("{host_bare}: not a host name"))?;
    let tcp = tokio::net::TcpStream::connect((host_bare.as_str(), port))
        .await
        .with_context(|| format!("connecting to {}", target.url))?;
    let mut tls = connector
        .connect(name, tcp)
        .await
        .with_context(|| format!("TLS with {} (is --ca-file the server's CA?)", target.url))?;
    let payload = serde_json::to_vec(body)?;
    let mut head = format!(
        "POST {}{verb} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        mock_server::admin::http::PREFIX,
        payload.len()
    );
    if let Some(t) = &target.token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    head.push_str("\r\n");
    tls.write_all(head.as_bytes()).await?;
    tls.write_all(&payload).await?;
    tls.flush().await?;
    let mut raw = Vec::new();
    // The server closes after answering (Connection: close); a TLS close_notify missing
    // at the end is not an error for us once the body is complete.
    let _ = (&mut tls).take(MAX_RESPONSE_BYTES as u64).read_to_end(&mut raw).await;
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("the server closed the connection without an answer"))?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("not an HTTP answer"))?;
    let body = &raw[end + 4..];
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.to_ascii_lowercase().contains("chunked")
    });
    if !chunked {
        return Ok((status, body.to_vec()));
    }
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..line_end]).trim(), 16).unwrap_or(0);
        rest = &rest[line_end + 2..];
        if size == 0 || rest.len() < size {
            break;
        }
        out.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or(&[]);
    }
    Ok((status, out))
}
