//! `fuzz-server`: hostile client input to a loopback IMAP, SMTP or POP3 server. A case is
//! the protocol's ordinary session (greeting, CAPABILITY/EHLO/CAPA, XOAUTH2, NOOP, logout)
//! with hostile steps put in or laid over it: XOAUTH2 strings with every defect, over-long
//! lines and literals, NULs, non-UTF-8, bare LFs, split writes, half-closed sockets. A case
//! fails when its connection ends without a word in answer to the last line it sent (an
//! Exchange server says BAD, NO or BYE before it hangs up), or when a fresh
//! connection afterwards no longer gets a well-formed CAPABILITY/NOOP (EHLO/NOOP, CAPA).

use super::finding::{self, Event};
use super::rng::SplitMix64;
use super::{case_seed, Protocol, FUZZ_USER, MAX_MUTATIONS_PER_CASE, MAX_SHRINK_RUNS};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Connecting, the TLS handshake and the greeting, each.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait for the first byte of an answer after a step.
pub const ANSWER_WAIT: Duration = Duration::from_millis(1000);
/// After an answer started, more of it is read until the server is quiet this long.
pub const SETTLE: Duration = Duration::from_millis(60);
/// The whole health check after a case.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(10);
/// Answer bytes kept per case for the report (the rest is read and dropped).
pub const MAX_KEPT: usize = 64 * 1024;
/// An over-long line or token: 200 KB (Exchange's IMAP line limit is far lower, so a
/// server must refuse it; small enough for loopback).
pub const HUGE: usize = 200_000;
/// Pause between the pieces of a split write.
pub const SPLIT_GAP_MS: u64 = 10;

#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub protocol: Protocol,
    pub tls: bool,
    pub addr: SocketAddr,
}

/// `imaps://127.0.0.1:993` and friends; any host that is not loopback is refused.
pub fn parse_target(url: &str) -> Result<Target, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("{url}: expected scheme://host:port"))?;
    let (protocol, tls) = match scheme {
        "imaps" => (Protocol::Imap, true),
        "imap" => (Protocol::Imap, false),
        "smtps" => (Protocol::Smtp, true),
        "smtp" => (Protocol::Smtp, false),
        "pop3s" => (Protocol::Pop3, true),
        "pop3" => (Protocol::Pop3, false),
        s => {
            return Err(format!(
                "{url}: scheme {s:?} (expected imaps, imap, smtps, smtp, pop3s or pop3)"
            ))
        }
    };
    let hostport = rest.trim_end_matches('/');
    let addrs: Vec<SocketAddr> = hostport.to_socket_addrs().map_err(|e| format!("{url}: {e}"))?.collect();
    let addr = *addrs.first().ok_or_else(|| format!("{url}: no address"))?;
    if let Some(a) = addrs.iter().find(|a| !a.ip().is_loopback()) {
        return Err(format!(
            "{url}: {} is not a loopback address; fuzz-server only targets this machine",
            a.ip()
        ));
    }
    Ok(Target { protocol, tls, addr })
}

/// One hostile change to the ordinary session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hostile {
    /// An XOAUTH2 initial response with defect number n (see [`defective`]).
    Xoauth(usize),
    /// The same on the continuation path.
    XoauthContinued(usize),
    /// AUTHENTICATE, then `*`.
    Cancel,
    /// A line of this many bytes.
    Overlong(usize),
    /// A literal announcing this many bytes, followed by a few.
    Literal(u64),
    /// These bytes as a line of their own.
    Garbage(Vec<u8>),
    /// A NUL inside the step at this index.
    Nul,
    NonUtf8,
    BareLf,
    /// The step in this many pieces.
    Split(usize),
    /// Half-close our side here (no more steps).
    HalfClose,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutation {
    /// Before (or, for Nul/NonUtf8/BareLf/Split, on) this step of the session.
    pub at: usize,
    pub h: Hostile,
}

/// The number of XOAUTH2 defects.
pub const DEFECTS: usize = 13;

/// An XOAUTH2 argument with defect `n`.
pub fn defective(n: usize, user: &str, token: &str) -> Vec<u8> {
    let b = |s: &[u8]| STANDARD.encode(s).into_bytes();
    match n % DEFECTS {
        0 => b(format!("user={user} auth=Bearer {token}").as_bytes()),
        1 => b(format!("user={user}\x01\x01").as_bytes()),
        2 => b"dXNlcj1!!!notbase64".to_vec(),
        3 => b(format!("user={user}\x01auth=Bearer {}\x01\x01", "A".repeat(HUGE)).as_bytes()),
        4 => b(format!("user={user}\0\x01auth=Bearer {token}\x01\x01").as_bytes()),
        5 => b(&[
            b"user=\xff\xfe\x01auth=Bearer ".as_slice(),
            token.as_bytes(),
            b"\x01\x01",
        ]
        .concat()),
        6 => b(format!("user=someone.else@contoso.com\x01auth=Bearer {token}\x01\x01").as_bytes()),
        7 => Vec::new(),
        8 => b(b"\x01\x01"),
        9 => b(format!("user={user}\x01auth=Bearer {token}").as_bytes()),
        10 => format!("user={user}\x01auth=Bearer {token}\x01\x01").into_bytes(),
        11 => b"dXNlcj1h====".to_vec(),
        _ => b(&b(format!("user={user}\x01auth=Bearer {token}\x01\x01").as_bytes())),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Send(Vec<u8>),
    Split(Vec<u8>, usize),
    HalfClose,
}

fn crlf(s: &str) -> Vec<u8> {
    format!("{s}\r\n").into_bytes()
}

/// The ordinary session of a protocol.
fn base(p: Protocol, user: &str, token: &str) -> Vec<Vec<u8>> {
    let blob = STANDARD.encode(format!("user={user}\x01auth=Bearer {token}\x01\x01"));
    match p {
        Protocol::Imap | Protocol::Http => vec![
            crlf("F1 CAPABILITY"),
            crlf(&format!("F2 AUTHENTICATE XOAUTH2 {blob}")),
            crlf("F3 NOOP"),
            crlf("F4 LOGOUT"),
        ],
        Protocol::Smtp => vec![
            crlf("EHLO fuzz.example"),
            crlf(&format!("AUTH XOAUTH2 {blob}")),
            crlf("NOOP"),
            crlf("QUIT"),
        ],
        Protocol::Pop3 => vec![
            crlf("CAPA"),
            crlf("AUTH XOAUTH2"),
            crlf(&blob),
            crlf("NOOP"),
            crlf("QUIT"),
        ],
    }
}

fn auth_lines(p: Protocol, n: usize, arg: Vec<u8>, continued: bool) -> Vec<Vec<u8>> {
    let verb = match p {
        Protocol::Imap | Protocol::Http => format!("Z{n} AUTHENTICATE XOAUTH2"),
        _ => "AUTH XOAUTH2".to_string(),
    };
    if continued {
        vec![crlf(&verb), [arg, b"\r\n".to_vec()].concat()]
    } else {
        vec![[format!("{verb} ").into_bytes(), arg, b"\r\n".to_vec()].concat()]
    }
}

/// The session with the mutations applied.
fn steps(p: Protocol, muts: &[Mutation], user: &str, token: &str) -> Vec<Step> {
    let base = base(p, user, token);
    let mut out = Vec::new();
    for (i, line) in base.iter().enumerate() {
        let mut line = line.clone();
        let mut split = None;
        for (k, m) in muts.iter().enumerate().filter(|(_, m)| m.at.min(base.len() - 1) == i) {
            match &m.h {
                Hostile::Xoauth(d) => out.extend(
                    auth_lines(p, k, defective(*d, user, token), false)
                        .into_iter()
                        .map(Step::Send),
                ),
                Hostile::XoauthContinued(d) => out.extend(
                    auth_lines(p, k, defective(*d, user, token), true)
                        .into_iter()
                        .map(Step::Send),
                ),
                Hostile::Cancel => out.extend(auth_lines(p, k, b"*".to_vec(), true).into_iter().map(Step::Send)),
                Hostile::Overlong(n) => out.push(Step::Send(crlf(&format!("Z{k} NOOP {}", "x".repeat(*n))))),
                Hostile::Literal(c) => out.push(Step::Send(format!("Z{k} LOGIN {{{c}}}\r\nabc\r\n").into_bytes())),
                Hostile::Garbage(g) => out.push(Step::Send([g.as_slice(), b"\r\n"].concat())),
                Hostile::Nul => line.insert(line.len().saturating_sub(2) / 2, 0),
                Hostile::NonUtf8 => {
                    line.splice(1..1, *b"\xff\xfe\xc3(");
                }
                Hostile::BareLf => {
                    if line.ends_with(b"\r\n") {
                        line.remove(line.len() - 2);
                    }
                }
                Hostile::Split(n) => split = Some(*n),
                Hostile::HalfClose => {
                    out.push(Step::HalfClose);
                    return out;
                }
            }
        }
        out.push(match split {
            Some(n) => Step::Split(line, n),
            None => Step::Send(line),
        });
    }
    out
}

impl Mutation {
    pub fn random(rng: &mut SplitMix64, p: Protocol) -> Mutation {
        let at = rng.index(base(p, "u", "t").len());
        let h = match rng.below(12) {
            0..=2 => Hostile::Xoauth(rng.index(DEFECTS)),
            3 => Hostile::XoauthContinued(rng.index(DEFECTS)),
            4 => Hostile::Cancel,
            5 => Hostile::Overlong(*[1000usize, 8192, 65_536, HUGE].get(rng.index(4)).unwrap_or(&1000)),
            6 => Hostile::Literal(*[0u64, 5, 4_294_967_295, u64::MAX].get(rng.index(4)).unwrap_or(&5)),
            7 => Hostile::Garbage(
                (0..1 + rng.below(64))
                    .map(|_| rng.below(256) as u8)
                    .filter(|b| *b != b'\n')
                    .collect(),
            ),
            8 => [Hostile::Nul, Hostile::NonUtf8, Hostile::BareLf][rng.index(3)].clone(),
            9 => Hostile::Split(2 + rng.index(6)),
            10 => Hostile::HalfClose,
            _ => Hostile::Xoauth(rng.index(DEFECTS)),
        };
        Mutation { at, h }
    }
}

pub fn draw(seed: u64, case: u64, p: Protocol) -> Vec<Mutation> {
    let mut rng = SplitMix64::new(case_seed(seed, case));
    let n = 1 + rng.below(MAX_MUTATIONS_PER_CASE);
    (0..n).map(|_| Mutation::random(&mut rng, p)).collect()
}

pub struct Config {
    pub target: Target,
    pub ca_pem: Option<Vec<u8>>,
    pub cases: u64,
    pub seed: u64,
    pub token: String,
    pub out_dir: PathBuf,
    pub verbose: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The case's connection ended before any answer to the last complete line it sent.
    NoAnswer,
    /// A fresh connection after the case failed the health check.
    Unhealthy(String),
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::NoAnswer => write!(f, "the connection ended without an answer to the last line sent"),
            Fault::Unhealthy(why) => write!(f, "afterwards the server failed the health check: {why}"),
        }
    }
}

#[derive(Debug)]
pub struct Finding {
    pub case: u64,
    pub fault: Fault,
    pub mutations: Vec<Mutation>,
    pub drawn: usize,
    pub recording: PathBuf,
}

#[derive(Debug)]
pub struct Summary {
    pub cases: u64,
    pub seed: u64,
    pub findings: Vec<Finding>,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

struct Conn {
    tls: Option<tokio_rustls::TlsConnector>,
    target: Target,
}

impl Conn {
    async fn open(&self) -> Result<Box<dyn Io>, String> {
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(self.target.addr))
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|e| format!("connect: {e}"))?;
        match &self.tls {
            None => Ok(Box::new(tcp)),
            Some(c) => {
                let name = rustls::pki_types::ServerName::try_from("localhost").map_err(|e| e.to_string())?;
                let s = tokio::time::timeout(CONNECT_TIMEOUT, c.connect(name, tcp))
                    .await
                    .map_err(|_| "TLS handshake timed out".to_string())?
                    .map_err(|e| format!("TLS: {e}"))?;
                Ok(Box::new(s))
            }
        }
    }
}

fn connector(ca_pem: &[u8]) -> Result<tokio_rustls::TlsConnector, String> {
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

/// Read what arrives within `first` (then until quiet for [`SETTLE`]); Err at EOF or error.
async fn read_answer(s: &mut Box<dyn Io>, first: Duration, kept: &mut Vec<u8>) -> Result<usize, ()> {
    let mut got = 0;
    let mut wait = first;
    loop {
        let mut chunk = [0u8; 16 * 1024];
        match tokio::time::timeout(wait, s.read(&mut chunk)).await {
            Err(_) => return Ok(got),
            Ok(Ok(0)) | Ok(Err(_)) => return Err(()),
            Ok(Ok(n)) => {
                got += n;
                let room = MAX_KEPT.saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..n.min(room)]);
                wait = SETTLE;
            }
        }
    }
}

struct CaseRun {
    fault: Option<Fault>,
    events: Vec<Event>,
}

async fn run_case(cfg: &Config, conn: &Conn, muts: &[Mutation]) -> CaseRun {
    let mut events = Vec::new();
    let fault = match conn.open().await {
        Err(_) => None, // the health check below says what is wrong
        Ok(mut s) => session(cfg, &mut s, muts, &mut events).await,
    };
    let fault = match fault {
        Some(f) => Some(f),
        None => health(cfg.target.protocol, conn).await.err().map(Fault::Unhealthy),
    };
    CaseRun { fault, events }
}

async fn session(cfg: &Config, s: &mut Box<dyn Io>, muts: &[Mutation], events: &mut Vec<Event>) -> Option<Fault> {
    let mut kept = Vec::new();
    if read_answer(s, CONNECT_TIMEOUT, &mut kept).await.is_err() {
        events.push(Event::S(kept));
        events.push(Event::Closed);
        return None; // no greeting: the health check judges the server
    }
    events.push(Event::S(std::mem::take(&mut kept)));
    let mut sent_line = false;
    let mut answered = false;
    for step in steps(cfg.target.protocol, muts, FUZZ_USER, &cfg.token) {
        let written = match &step {
            Step::Send(b) => {
                events.push(Event::C(b.clone()));
                s.write_all(b).await.and(s.flush().await)
            }
            Step::Split(b, n) => {
                let size = b.len().div_ceil((*n).max(1)).max(1);
                let mut r = Ok(());
                for piece in b.chunks(size) {
                    events.push(Event::C(piece.to_vec()));
                    events.push(Event::Pause(SPLIT_GAP_MS));
                    r = s.write_all(piece).await.and(s.flush().await);
                    tokio::time::sleep(Duration::from_millis(SPLIT_GAP_MS)).await;
                    if r.is_err() {
                        break;
                    }
                }
                r
            }
            Step::HalfClose => {
                events.push(Event::HalfClose);
                s.shutdown().await
            }
        };
        // What must be answered is the last complete line: a server that answered
        // CAPABILITY and then hangs up on a bad AUTHENTICATE without a word is at fault.
        if let Step::Send(b) | Step::Split(b, _) = &step {
            if b.contains(&b'\n') {
                sent_line = true;
                answered = false;
            }
        }
        let ended = written.is_err() || read_answer(s, ANSWER_WAIT, &mut kept).await.is_err();
        if !kept.is_empty() {
            answered = true;
            events.push(Event::S(std::mem::take(&mut kept)));
        }
        if ended {
            events.push(Event::Closed);
            return (sent_line && !answered).then_some(Fault::NoAnswer);
        }
        if step == Step::HalfClose {
            break;
        }
    }
    None
}

/// A fresh connection gets a greeting and a well-formed answer to the protocol's probe.
async fn health(p: Protocol, conn: &Conn) -> Result<(), String> {
    let probe = async {
        let mut s = conn.open().await?;
        let mut r = LineReader::default();
        let greeting = r.line(&mut s).await?;
        let (prefix, probe, done): (&str, &[u8], ProbeDone) = match p {
            Protocol::Imap | Protocol::Http => ("* OK", b"H1 CAPABILITY\r\n", |l| {
                l.starts_with("H1 ").then(|| l.starts_with("H1 OK"))
            }),
            Protocol::Smtp => ("220", b"EHLO fuzz.example\r\n", |l| {
                (l.len() >= 4 && &l[3..4] == " ").then(|| l.starts_with("250 "))
            }),
            Protocol::Pop3 => ("+OK", b"CAPA\r\n", |l| {
                (l == "." || l.starts_with("-ERR")).then(|| l == ".")
            }),
        };
        if !greeting.starts_with(prefix) {
            return Err(format!("greeting {:?}", greeting));
        }
        s.write_all(probe).await.map_err(|e| format!("write: {e}"))?;
        loop {
            let l = r.line(&mut s).await?;
            match done(&l) {
                Some(true) => break,
                Some(false) => return Err(format!("probe answered {l:?}")),
                None => {}
            }
        }
        let (noop, ok): (&[u8], &str) = match p {
            Protocol::Imap | Protocol::Http => (b"H2 NOOP\r\n", "H2 OK"),
            Protocol::Smtp => (b"NOOP\r\n", "250"),
            Protocol::Pop3 => (b"NOOP\r\n", "+OK"),
        };
        s.write_all(noop).await.map_err(|e| format!("write: {e}"))?;
        loop {
            let l = r.line(&mut s).await?;
            if l.starts_with(ok) {
                return Ok(());
            }
            if !l.starts_with('*') {
                return Err(format!("NOOP answered {l:?}"));
            }
        }
    };
    tokio::time::timeout(HEALTH_TIMEOUT, probe)
        .await
        .map_err(|_| format!("no answer within {HEALTH_TIMEOUT:?}"))?
}

/// Is this line the probe's last (Some), and a good one (true)?
type ProbeDone = fn(&str) -> Option<bool>;

#[derive(Default)]
struct LineReader {
    buf: Vec<u8>,
}

impl LineReader {
    async fn line(&mut self, s: &mut Box<dyn Io>) -> Result<String, String> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let raw: Vec<u8> = self.buf.drain(..=i).collect();
                return Ok(String::from_utf8_lossy(&raw).trim_end().to_string());
            }
            if self.buf.len() > MAX_KEPT {
                return Err("a line longer than 64 KiB".into());
            }
            let mut chunk = [0u8; 4096];
            match s.read(&mut chunk).await {
                Ok(0) => return Err("connection closed".into()),
                Err(e) => return Err(format!("read: {e}")),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

pub async fn run(cfg: &Config, progress: &dyn Fn(&str)) -> Result<Summary, String> {
    let tls = match (cfg.target.tls, &cfg.ca_pem) {
        (false, _) => None,
        (true, Some(pem)) => Some(connector(pem)?),
        (true, None) => return Err("a TLS target needs --ca-file".into()),
    };
    let conn = Conn {
        tls,
        target: cfg.target,
    };
    health(cfg.target.protocol, &conn)
        .await
        .map_err(|e| format!("the target fails the health check before any case: {e}"))?;
    let mut findings = Vec::new();
    for case in 0..cfg.cases {
        let muts = draw(cfg.seed, case, cfg.target.protocol);
        let started = std::time::Instant::now();
        let r = run_case(cfg, &conn, &muts).await;
        if cfg.verbose {
            progress(&format!("case {case} ({} ms): {muts:?}", started.elapsed().as_millis()));
        }
        let Some(fault) = r.fault else { continue };
        progress(&format!("case {case}: {fault}; shrinking {} mutations", muts.len()));
        let (min, runs) = super::shrink::ddmin(
            muts.clone(),
            |m| {
                let f = fault.clone();
                let conn = &conn;
                async move {
                    let g = run_case(cfg, conn, &m).await.fault;
                    g.is_some_and(|g| std::mem::discriminant(&g) == std::mem::discriminant(&f))
                }
            },
            MAX_SHRINK_RUNS,
        )
        .await;
        let last = run_case(cfg, &conn, &min).await;
        let p = cfg.target.protocol.name();
        let stem = format!("fuzz-server-{p}-s{}-c{case}", cfg.seed);
        let comments = vec![
            format!("Found by: conformance fuzz-server --target {} --seed {} (case {case})", target_url(&cfg.target), cfg.seed),
            format!("Fault: {fault}"),
            format!("Mutations: {} drawn, {} after {runs} shrinking runs: {min:?}", muts.len(), min.len()),
            format!(
                "Replay (IMAP): conformance --recordings {} run --filter {stem} --target <imaps://host:port> --ca-file <PEM> --token x",
                cfg.out_dir.display()
            ),
            "The S: lines are what the faulty server answered; a fixed server differs from them.".into(),
        ];
        let text = finding::render(
            p,
            &format!("fuzz-server finding: {fault}"),
            &format!("conformance fuzz-server --seed {}, case {case}", cfg.seed),
            &comments,
            &last.events,
            false,
        );
        let dir = super::prepare_out_dir(&cfg.out_dir)?;
        let path = dir.join(format!("{stem}.txt"));
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        progress(&format!(
            "case {case}: shrunk to {} mutation(s); wrote {}",
            min.len(),
            path.display()
        ));
        findings.push(Finding {
            case,
            fault,
            mutations: min,
            drawn: muts.len(),
            recording: path,
        });
    }
    Ok(Summary {
        cases: cfg.cases,
        seed: cfg.seed,
        findings,
    })
}

fn target_url(t: &Target) -> String {
    let scheme = match (t.protocol, t.tls) {
        (Protocol::Smtp, true) => "smtps",
        (Protocol::Smtp, false) => "smtp",
        (Protocol::Pop3, true) => "pop3s",
        (Protocol::Pop3, false) => "pop3",
        (_, true) => "imaps",
        (_, false) => "imap",
    };
    format!("{scheme}://{}", t.addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets() {
        assert!(parse_target("imaps://127.0.0.1:993").is_ok());
        assert!(parse_target("pop3://[::1]:110").is_ok());
        let e = parse_target("imaps://192.0.2.1:993").expect_err("refused");
        assert!(e.contains("not a loopback"), "{e}");
        assert!(parse_target("ftp://127.0.0.1:21").is_err());
    }

    #[test]
    fn defects_differ_from_the_good_string_and_steps_hold_them() {
        let good = STANDARD.encode("user=u\x01auth=Bearer t\x01\x01").into_bytes();
        for n in 0..DEFECTS {
            assert_ne!(defective(n, "u", "t"), good, "defect {n}");
        }
        let s = steps(
            Protocol::Imap,
            &[Mutation {
                at: 1,
                h: Hostile::Xoauth(0),
            }],
            "u",
            "t",
        );
        assert_eq!(s.len(), 5);
        assert_eq!(
            s[1],
            Step::Send(
                format!(
                    "Z0 AUTHENTICATE XOAUTH2 {}\r\n",
                    STANDARD.encode("user=u auth=Bearer t")
                )
                .into_bytes()
            )
        );
        let h = steps(
            Protocol::Smtp,
            &[Mutation {
                at: 2,
                h: Hostile::HalfClose,
            }],
            "u",
            "t",
        );
        assert_eq!(h.last(), Some(&Step::HalfClose));
    }
}
