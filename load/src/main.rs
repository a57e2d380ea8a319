//! `mock-load`: measure mock-server (or another IMAP server) from a second process.
//!
//! - `imap-sessions`: full sessions (TLS connect, AUTHENTICATE, SELECT, FETCH 1:* (FLAGS
//!   ENVELOPE), LOGOUT) at a concurrency, for a duration: sessions/s and latency
//!   percentiles.
//! - `tokens`: client-credentials tokens per second over HTTPS keep-alive.
//! - `imap-idle`: hold N authenticated, idling sessions and report the server's resident
//!   memory per connection (needs the server's PID: it is read when this tool starts the
//!   server itself).
//! - `smtp-sessions`: full SMTP submissions (connect, EHLO, STARTTLS, EHLO, AUTH
//!   XOAUTH2, one 10 KiB message to one local recipient, QUIT) at a concurrency.
//! - `smtp-idle`: hold N authenticated SMTP connections and report the server's memory
//!   per connection.
//!
//! - `pop3-sessions`: full POP3 sessions (TLS connect, AUTH XOAUTH2 in two lines, STAT,
//!   LIST, RETR 1, QUIT) at a concurrency, for a duration.
//! - `pop3-idle`: hold N authenticated POP3 sessions (after STAT) and report the server's
//!   resident memory per connection.
//!
//! Targets loopback only and stops by itself. Prints one JSON report on stdout.

use anyhow::{bail, Context, Result};
use base64::Engine;
use clap::{Parser, Subcommand};
use e2e_tests::imap::literal_len;
use e2e_tests::{demo, process};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

#[derive(Parser)]
#[command(about = "Load generator for mock-server (loopback only); prints a JSON report")]
struct Args {
    /// The mock-server binary to start (on free ports) when no --imaps-addr is given.
    #[arg(long, default_value = "target/release/mock-server", global = true)]
    server_bin: PathBuf,
    /// An already running IMAP server (host:port, implicit TLS), e.g. Dovecot on 127.0.0.1:993.
    #[arg(long, global = true)]
    imaps_addr: Option<SocketAddr>,
    /// CA certificate (PEM) of that server.
    #[arg(long, global = true)]
    ca_file: Option<PathBuf>,
    /// Authenticate with PLAIN user/password instead of XOAUTH2 (for servers without it).
    #[arg(long, global = true, value_names = ["USER", "PASSWORD"], num_args = 2)]
    plain: Option<Vec<String>>,
    /// Mailbox for XOAUTH2 (`user=`).
    #[arg(long, default_value = "test.user@contoso.com", global = true)]
    user: String,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Full IMAP sessions at a concurrency for a duration.
    ImapSessions {
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        #[arg(long, default_value_t = 30)]
        seconds: u64,
    },
    /// Client-credentials tokens per second over HTTPS keep-alive, from this process.
    Tokens {
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Hold N authenticated idling sessions and measure the server's memory.
    ImapIdle {
        #[arg(long, default_value_t = 1000)]
        connections: usize,
        /// How many connect at once while ramping up.
        #[arg(long, default_value_t = 100)]
        ramp: usize,
    },
    /// Full POP3 sessions at a concurrency for a duration (a server this tool starts).
    Pop3Sessions {
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        #[arg(long, default_value_t = 30)]
        seconds: u64,
    },
    /// Hold N authenticated POP3 sessions and measure the server's memory.
    Pop3Idle {
        #[arg(long, default_value_t = 1000)]
        connections: usize,
        /// How many connect at once while ramping up.
        #[arg(long, default_value_t = 100)]
        ramp: usize,
    },
    /// Full SMTP submissions at a concurrency for a duration (needs a started server).
    SmtpSessions {
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// The local recipient.
        #[arg(long, default_value = "shared.inbox@contoso.com")]
        to: String,
    },
    /// Hold N authenticated SMTP connections and measure the server's memory.
    SmtpIdle {
        #[arg(long, default_value_t = 1000)]
        connections: usize,
        #[arg(long, default_value_t = 100)]
        ramp: usize,
    },
}

/// The server under test, when this tool started it.
struct Spawned {
    child: Child,
    dir: PathBuf,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Target {
    /// `https://host:port` of the identity platform (when this tool started the server).
    https: Option<SocketAddr>,
    imaps: SocketAddr,
    /// POP3 with implicit TLS (when this tool started the server).
    pop3s: Option<SocketAddr>,
    /// SMTP submission (when this tool started the server).
    smtp: Option<SocketAddr>,
    /// The XOAUTH2 `user=` (also MAIL FROM of SMTP submissions).
    user: String,
    ca_pem: Vec<u8>,
    /// SASL line for AUTHENTICATE (without the tag): `XOAUTH2 <b64>` or `PLAIN <b64>`.
    auth: String,
    pid: Option<u32>,
    _spawned: Option<Spawned>,
}

fn only_loopback(addr: &SocketAddr) -> Result<()> {
    if !addr.ip().is_loopback() {
        bail!("{addr} is not a loopback address; mock-load only targets this machine");
    }
    Ok(())
}

async fn prepare(args: &Args) -> Result<Target> {
    let mut pop3s = None;
    let mut smtp: Option<SocketAddr> = None;
    let (imaps, ca_pem, spawned, https_url, https) = match args.imaps_addr {
        Some(addr) => {
            only_loopback(&addr)?;
            let ca = args.ca_file.as_ref().context("--ca-file is needed with --imaps-addr")?;
            (
                addr,
                std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?,
                None,
                None,
                None,
            )
        }
        None => {
            let dir = std::env::temp_dir().join(format!("mock-load-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            let ready = dir.join("ready.json");
            // The harness's way of starting the binary: ports 0, readiness from the ready file.
            let child = process::command(&args.server_bin, &ready)
                .args(["--log", "warn"])
                .stdout(Stdio::null())
                .spawn()
                .with_context(|| {
                    format!(
                        "starting {} (build it with cargo build --release -p mock-server)",
                        args.server_bin.display()
                    )
                })?;
            let mut spawned = Spawned { child, dir };
            let info = process::wait_for_ready(&mut spawned.child, &ready, process::READY_TIMEOUT)
                .map_err(anyhow::Error::msg)?;
            let imaps: SocketAddr = info["imaps_addr"].as_str().context("imaps_addr")?.parse()?;
            pop3s = info["pop3s_addr"].as_str().and_then(|a| a.parse().ok());
            smtp = info["smtp_addr"].as_str().and_then(|a| a.parse().ok());
            let ca = std::fs::read(info["ca_file"].as_str().context("ca_file")?)?;
            let base = info["https_url"].as_str().context("https_url")?.to_string();
            let https: SocketAddr = base.trim_start_matches("https://").parse()?;
            (imaps, ca, Some(spawned), Some(base), Some(https))
        }
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    let auth = match (&args.plain, https_url) {
        (Some(p), _) => format!("PLAIN {}", b64.encode(format!("\0{}\0{}", p[0], p[1]))),
        (None, Some(base)) => {
            let client = e2e_tests::https_client(&ca_pem)?;
            let token = e2e_tests::request_app_token(&client, &base, demo::POLLER, demo::EXO_SCOPE)
                .await
                .map_err(anyhow::Error::msg)?;
            format!("XOAUTH2 {}", e2e_tests::imap::xoauth2(&args.user, &token))
        }
        (None, None) => bail!("an external server needs --plain USER PASSWORD (or a token flow it supports)"),
    };
    let pid = spawned.as_ref().map(|s| s.child.id());
    Ok(Target {
        https,
        imaps,
        pop3s,
        smtp,
        user: args.user.clone(),
        ca_pem,
        auth,
        pid,
        _spawned: spawned,
    })
}

fn connector(ca_pem: &[u8]) -> Result<tokio_rustls::TlsConnector> {
    Ok(e2e_tests::tls::try_connector(ca_pem)?)
}

type Conn = BufReader<tokio_rustls::client::TlsStream<TcpStream>>;

/// Read lines until the tagged answer; Ok if it is OK. Literals are skipped by length.
async fn until_tagged(c: &mut Conn, tag: &str) -> Result<()> {
    let mut line = Vec::new();
    loop {
        line.clear();
        if c.read_until(b'\n', &mut line).await? == 0 {
            bail!("connection closed before {tag}");
        }
        if let Some(n) = literal_len(&line) {
            let mut skip = vec![0u8; n];
            tokio::io::AsyncReadExt::read_exact(c, &mut skip).await?;
            continue;
        }
        if line.starts_with(tag.as_bytes()) && line.get(tag.len()) == Some(&b' ') {
            return if line[tag.len() + 1..].starts_with(b"OK") {
                Ok(())
            } else {
                bail!("{}", String::from_utf8_lossy(&line).trim_end())
            };
        }
    }
}

async fn open_session(t: &Target, tls: &tokio_rustls::TlsConnector) -> Result<Conn> {
    let tcp = TcpStream::connect(t.imaps).await?;
    tcp.set_nodelay(true)?;
    let name = e2e_tests::tls::localhost();
    let mut c = BufReader::new(tls.connect(name, tcp).await?);
    let mut greeting = Vec::new();
    c.read_until(b'\n', &mut greeting).await?;
    c.get_mut()
        .write_all(format!("a1 AUTHENTICATE {}\r\n", t.auth).as_bytes())
        .await?;
    until_tagged(&mut c, "a1").await?;
    c.get_mut().write_all(b"a2 SELECT INBOX\r\n").await?;
    until_tagged(&mut c, "a2").await?;
    Ok(c)
}

async fn full_session(t: &Target, tls: &tokio_rustls::TlsConnector) -> Result<()> {
    let mut c = open_session(t, tls).await?;
    c.get_mut().write_all(b"a3 FETCH 1:* (FLAGS ENVELOPE)\r\n").await?;
    until_tagged(&mut c, "a3").await?;
    c.get_mut().write_all(b"a4 LOGOUT\r\n").await?;
    until_tagged(&mut c, "a4").await?;
    Ok(())
}

/// One POP3 line; an error unless it starts with `+`.
async fn pop3_ok(c: &mut Conn) -> Result<()> {
    let mut line = Vec::new();
    if c.read_until(b'\n', &mut line).await? == 0 {
        bail!("POP3 connection closed");
    }
    if !line.starts_with(b"+") {
        bail!("{}", String::from_utf8_lossy(&line).trim_end());
    }
    Ok(())
}

/// A multi-line POP3 answer up to its `.` line.
async fn pop3_multi(c: &mut Conn) -> Result<()> {
    pop3_ok(c).await?;
    let mut line = Vec::new();
    loop {
        line.clear();
        if c.read_until(b'\n', &mut line).await? == 0 {
            bail!("POP3 connection closed inside a multi-line answer");
        }
        if line == b".\r\n" {
            return Ok(());
        }
    }
}

/// TLS connect, greeting, AUTH XOAUTH2 in Microsoft's two lines, STAT.
async fn open_pop3(t: &Target, tls: &tokio_rustls::TlsConnector) -> Result<Conn> {
    let addr = t
        .pop3s
        .context("POP3 needs a server this tool started (no --imaps-addr)")?;
    let blob = t
        .auth
        .strip_prefix("XOAUTH2 ")
        .context("POP3 needs XOAUTH2 (no --plain)")?;
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("localhost")?;
    let mut c = BufReader::new(tls.connect(name, tcp).await?);
    pop3_ok(&mut c).await?;
    c.get_mut().write_all(b"AUTH XOAUTH2\r\n").await?;
    pop3_ok(&mut c).await?;
    c.get_mut().write_all(format!("{blob}\r\n").as_bytes()).await?;
    pop3_ok(&mut c).await?;
    c.get_mut().write_all(b"STAT\r\n").await?;
    pop3_ok(&mut c).await?;
    Ok(c)
}

async fn full_pop3_session(t: &Target, tls: &tokio_rustls::TlsConnector) -> Result<()> {
    let mut c = open_pop3(t, tls).await?;
    c.get_mut().write_all(b"LIST\r\n").await?;
    pop3_multi(&mut c).await?;
    c.get_mut().write_all(b"RETR 1\r\n").await?;
    pop3_multi(&mut c).await?;
    c.get_mut().write_all(b"QUIT\r\n").await?;
    pop3_ok(&mut c).await
}

fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn imap_sessions(t: Target, concurrency: usize, seconds: u64, pop3: bool) -> Result<serde_json::Value> {
    let tls = connector(&t.ca_pem)?;
    let t = Arc::new(t);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let t = t.clone();
        let tls = tls.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = Vec::new();
            while Instant::now() < deadline {
                let s = Instant::now();
                let session = async {
                    if pop3 {
                        full_pop3_session(&t, &tls).await
                    } else {
                        full_session(&t, &tls).await
                    }
                };
                match tokio::time::timeout(Duration::from_secs(30), session).await {
                    Ok(Ok(())) => lat.push(s.elapsed().as_secs_f64() * 1000.0),
                    Ok(Err(e)) => errors.push(e.to_string()),
                    Err(_) => errors.push("session took over 30 s".into()),
                }
            }
            (lat, errors)
        }));
    }
    let mut lat = Vec::new();
    let mut errors = Vec::new();
    for task in tasks {
        let (l, e) = task.await?;
        lat.extend(l);
        errors.extend(e);
    }
    let elapsed = t0.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    errors.sort();
    errors.dedup();
    Ok(serde_json::json!({
        "benchmark": if pop3 {
            "pop3 full sessions: TLS connect, AUTH XOAUTH2 (two lines), STAT, LIST, RETR 1, QUIT"
        } else {
            "imap full sessions: TLS connect, AUTHENTICATE, SELECT INBOX, FETCH 1:* (FLAGS ENVELOPE), LOGOUT"
        },
        "target": if pop3 { t.pop3s.map(|a| a.to_string()) } else { Some(t.imaps.to_string()) },
        "concurrency": concurrency,
        "seconds": elapsed,
        "sessions": lat.len(),
        "errors": errors.len(),
        "error_kinds": errors.iter().take(5).collect::<Vec<_>>(),
        "sessions_per_second": lat.len() as f64 / elapsed,
        "latency_ms": {
            "p50": percentile(&lat, 0.50), "p90": percentile(&lat, 0.90),
            "p99": percentile(&lat, 0.99), "max": lat.last().copied().unwrap_or(0.0),
        },
        "server_rss_bytes": t.pid.and_then(rss_bytes),
    }))
}

/// Read one SMTP reply (the lines up to the one with a space after the code); its code.
async fn smtp_reply<R: tokio::io::AsyncBufRead + Unpin>(c: &mut R) -> Result<u16> {
    let mut line = Vec::new();
    loop {
        line.clear();
        if c.read_until(b'\n', &mut line).await? == 0 {
            bail!("connection closed in an SMTP reply");
        }
        if line.get(3) != Some(&b'-') {
            let code = std::str::from_utf8(line.get(..3).unwrap_or(b"000"))?.parse()?;
            return Ok(code);
        }
    }
}

async fn smtp_expect<R: tokio::io::AsyncBufRead + Unpin>(c: &mut R, want: u16, step: &str) -> Result<()> {
    let got = smtp_reply(c).await?;
    if got != want {
        bail!("{step}: {got}, expected {want}");
    }
    Ok(())
}

/// Connect, EHLO, STARTTLS, EHLO, AUTH XOAUTH2.
async fn smtp_open(t: &Target, tls: &tokio_rustls::TlsConnector) -> Result<Conn> {
    let addr = t
        .smtp
        .context("the server has no smtp_addr (start it with this tool)")?;
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let mut plain = BufReader::new(tcp);
    smtp_expect(&mut plain, 220, "banner").await?;
    plain.get_mut().write_all(b"EHLO load.example.com\r\n").await?;
    smtp_expect(&mut plain, 250, "EHLO").await?;
    plain.get_mut().write_all(b"STARTTLS\r\n").await?;
    smtp_expect(&mut plain, 220, "STARTTLS").await?;
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("localhost")?;
    let mut c = BufReader::new(tls.connect(name, plain.into_inner()).await?);
    c.get_mut().write_all(b"EHLO load.example.com\r\n").await?;
    smtp_expect(&mut c, 250, "EHLO after TLS").await?;
    c.get_mut().write_all(format!("AUTH {}\r\n", t.auth).as_bytes()).await?;
    smtp_expect(&mut c, 235, "AUTH").await?;
    Ok(c)
}

async fn smtp_full(t: &Target, tls: &tokio_rustls::TlsConnector, to: &str, body: &[u8]) -> Result<()> {
    let mut c = smtp_open(t, tls).await?;
    c.get_mut()
        .write_all(format!("MAIL FROM:<{}>\r\nRCPT TO:<{to}>\r\nDATA\r\n", t.user).as_bytes())
        .await?;
    smtp_expect(&mut c, 250, "MAIL").await?;
    smtp_expect(&mut c, 250, "RCPT").await?;
    smtp_expect(&mut c, 354, "DATA").await?;
    c.get_mut().write_all(body).await?;
    smtp_expect(&mut c, 250, "end of data").await?;
    c.get_mut().write_all(b"QUIT\r\n").await?;
    smtp_expect(&mut c, 221, "QUIT").await?;
    Ok(())
}

/// A 10 KiB message from `from` to `to`, with the end-of-data marker.
fn smtp_message(from: &str, to: &str) -> Vec<u8> {
    let mut m = format!("From: {from}\r\nTo: {to}\r\nSubject: load\r\n\r\n").into_bytes();
    let line = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789\r\n";
    while m.len() + line.len() <= 10 * 1024 {
        m.extend_from_slice(line);
    }
    m.extend_from_slice(b".\r\n");
    m
}

async fn smtp_sessions(t: Target, concurrency: usize, seconds: u64, to: String) -> Result<serde_json::Value> {
    let tls = connector(&t.ca_pem)?;
    let body = Arc::new(smtp_message(&t.user, &to));
    let to = Arc::new(to);
    let t = Arc::new(t);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (t, tls, body, to) = (t.clone(), tls.clone(), body.clone(), to.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = Vec::new();
            while Instant::now() < deadline {
                let s = Instant::now();
                match tokio::time::timeout(Duration::from_secs(30), smtp_full(&t, &tls, &to, &body)).await {
                    Ok(Ok(())) => lat.push(s.elapsed().as_secs_f64() * 1000.0),
                    Ok(Err(e)) => errors.push(e.to_string()),
                    Err(_) => errors.push("session took over 30 s".into()),
                }
            }
            (lat, errors)
        }));
    }
    let mut lat = Vec::new();
    let mut errors = Vec::new();
    for task in tasks {
        let (l, e) = task.await?;
        lat.extend(l);
        errors.extend(e);
    }
    let elapsed = t0.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    let failures = errors.len();
    errors.sort();
    errors.dedup();
    Ok(serde_json::json!({
        "benchmark": "smtp submissions: connect, EHLO, STARTTLS, EHLO, AUTH XOAUTH2, MAIL, RCPT, DATA (10 KiB), QUIT",
        "target": t.smtp.map(|a| a.to_string()),
        "concurrency": concurrency,
        "seconds": elapsed,
        "sessions": lat.len(),
        "errors": failures,
        "error_kinds": errors.iter().take(5).collect::<Vec<_>>(),
        "sessions_per_second": lat.len() as f64 / elapsed,
        "latency_ms": {
            "p50": percentile(&lat, 0.50), "p90": percentile(&lat, 0.90),
            "p99": percentile(&lat, 0.99), "max": lat.last().copied().unwrap_or(0.0),
        },
        "server_rss_bytes": t.pid.and_then(rss_bytes),
    }))
}

async fn smtp_idle(t: Target, connections: usize, ramp: usize) -> Result<serde_json::Value> {
    let tls = connector(&t.ca_pem)?;
    let before = t.pid.and_then(rss_bytes);
    let t = Arc::new(t);
    let mut held = Vec::with_capacity(connections);
    let mut errors = 0usize;
    let mut remaining = connections;
    while remaining > 0 {
        let batch = remaining.min(ramp);
        let mut tasks = Vec::new();
        for _ in 0..batch {
            let (t, tls) = (t.clone(), tls.clone());
            tasks.push(tokio::spawn(async move { smtp_open(&t, &tls).await }));
        }
        for task in tasks {
            match task.await? {
                Ok(c) => held.push(c),
                Err(_) => errors += 1,
            }
        }
        remaining -= batch;
    }
    // Let allocations settle before reading RSS.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = t.pid.and_then(rss_bytes);
    let per = match (before, after) {
        (Some(b), Some(a)) if !held.is_empty() => Some((a.saturating_sub(b)) as f64 / held.len() as f64),
        _ => None,
    };
    let report = serde_json::json!({
        "benchmark": "authenticated idle SMTP connections (STARTTLS, AUTH XOAUTH2)",
        "requested": connections,
        "held": held.len(),
        "errors": errors,
        "server_rss_bytes_before": before,
        "server_rss_bytes_after": after,
        "server_bytes_per_connection": per,
        "server_kib_per_connection": per.map(|p| p / 1024.0),
    });
    drop(held);
    Ok(report)
}

/// Read one HTTP/1.1 response by its Content-Length; its status, or None at EOF.
async fn http_response<S: tokio::io::AsyncRead + Unpin>(s: &mut S, buf: &mut Vec<u8>) -> Option<u16> {
    use tokio::io::AsyncReadExt;
    buf.clear();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end]).ok()?;
    let status: u16 = head.get(9..12)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_string())
        })?
        .parse()
        .ok()?;
    while buf.len() < head_end + length {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(status)
}

/// Tokens per second: a lean HTTP/1.1 keep-alive client (the request bytes are built
/// once, like wrk) so the machine's CPU goes to the server.
async fn tokens(t: Target, concurrency: usize, seconds: u64) -> Result<serde_json::Value> {
    let https = t
        .https
        .context("the token benchmark needs a server this tool started (no --imaps-addr)")?;
    let tls = connector(&t.ca_pem)?;
    let app = demo::POLLER;
    let body = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}&scope=https%3A%2F%2Foutlook.office365.com%2F.default",
        app.client_id,
        app.secret.context("the demo poller has a secret")?
    );
    let request: Arc<[u8]> = format!(
        "POST /{}/oauth2/v2.0/token HTTP/1.1\r\nHost: {https}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        app.tenant,
        body.len()
    )
    .into_bytes()
    .into();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let tls = tls.clone();
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut err) = (0u64, 0u64);
            let Ok(tcp) = TcpStream::connect(https).await else {
                return (0, 1);
            };
            let _ = tcp.set_nodelay(true);
            let name = e2e_tests::tls::localhost();
            let Ok(mut s) = tls.connect(name, tcp).await else {
                return (0, 1);
            };
            let mut buf = Vec::with_capacity(4096);
            while Instant::now() < deadline {
                if s.write_all(&request).await.is_err() {
                    err += 1;
                    break;
                }
                match http_response(&mut s, &mut buf).await {
                    Some(200) => ok += 1,
                    Some(_) => err += 1,
                    None => {
                        err += 1;
                        break;
                    }
                }
            }
            (ok, err)
        }));
    }
    let (mut ok, mut err) = (0u64, 0u64);
    for task in tasks {
        let (o, e) = task.await?;
        ok += o;
        err += e;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    Ok(serde_json::json!({
        "benchmark": "client_credentials tokens over HTTPS keep-alive (HTTP/1.1), server in its own process",
        "concurrency": concurrency,
        "seconds": elapsed,
        "tokens": ok,
        "errors": err,
        "tokens_per_second": ok as f64 / elapsed,
        "server_rss_bytes": t.pid.and_then(rss_bytes),
    }))
}

async fn imap_idle(t: Target, connections: usize, ramp: usize, pop3: bool) -> Result<serde_json::Value> {
    let tls = connector(&t.ca_pem)?;
    let before = t.pid.and_then(rss_bytes);
    let t = Arc::new(t);
    let mut held = Vec::with_capacity(connections);
    let mut errors = 0usize;
    let t0 = Instant::now();
    let mut remaining = connections;
    while remaining > 0 {
        let batch = remaining.min(ramp);
        let mut tasks = Vec::new();
        for _ in 0..batch {
            let t = t.clone();
            let tls = tls.clone();
            tasks.push(tokio::spawn(async move {
                if pop3 {
                    return open_pop3(&t, &tls).await;
                }
                let mut c = open_session(&t, &tls).await?;
                c.get_mut().write_all(b"a3 IDLE\r\n").await?;
                let mut line = Vec::new();
                c.read_until(b'\n', &mut line).await?;
                if !line.starts_with(b"+") {
                    bail!("IDLE refused: {}", String::from_utf8_lossy(&line));
                }
                Ok::<_, anyhow::Error>(c)
            }));
        }
        for task in tasks {
            match task.await? {
                Ok(c) => held.push(c),
                Err(_) => errors += 1,
            }
        }
        remaining -= batch;
    }
    let ramp_seconds = t0.elapsed().as_secs_f64();
    // Let allocations settle before reading RSS.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = t.pid.and_then(rss_bytes);
    let per = match (before, after) {
        (Some(b), Some(a)) if !held.is_empty() => Some((a.saturating_sub(b)) as f64 / held.len() as f64),
        _ => None,
    };
    let report = serde_json::json!({
        "benchmark": if pop3 {
            "authenticated idle POP3 sessions (AUTH XOAUTH2, STAT)"
        } else {
            "authenticated idling IMAP sessions (AUTHENTICATE, SELECT INBOX, IDLE)"
        },
        "target": if pop3 { t.pop3s.map(|a| a.to_string()) } else { Some(t.imaps.to_string()) },
        "requested": connections,
        "held": held.len(),
        "errors": errors,
        "ramp_seconds": ramp_seconds,
        "server_rss_bytes_before": before,
        "server_rss_bytes_after": after,
        "server_bytes_per_connection": per,
        "server_kib_per_connection": per.map(|p| p / 1024.0),
    });
    drop(held);
    Ok(report)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let run = async {
        let target = prepare(&args).await?;
        match args.command {
            Cmd::ImapSessions { concurrency, seconds } => imap_sessions(target, concurrency, seconds, false).await,
            Cmd::ImapIdle { connections, ramp } => imap_idle(target, connections, ramp, false).await,
            Cmd::Pop3Sessions { concurrency, seconds } => imap_sessions(target, concurrency, seconds, true).await,
            Cmd::Pop3Idle { connections, ramp } => imap_idle(target, connections, ramp, true).await,
            Cmd::Tokens { concurrency, seconds } => tokens(target, concurrency, seconds).await,
            Cmd::SmtpSessions {
                concurrency,
                seconds,
                to,
            } => smtp_sessions(target, concurrency, seconds, to).await,
            Cmd::SmtpIdle { connections, ramp } => smtp_idle(target, connections, ramp).await,
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mock-load: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run) {
        Ok(report) => {
            println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mock-load: {e:#}");
            ExitCode::from(2)
        }
    }
}
