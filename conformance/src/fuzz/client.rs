//! `fuzz-client`: per case, a scripted TLS server on 127.0.0.1 answers like Exchange
//! ([`super::responder`]) with the case's mutations applied ([`super::mutate`]); the
//! client command runs against it and is judged ([`super::command`]); every failure is
//! shrunk ([`super::shrink`]) and written as a recording ([`super::finding`]).

use super::command::{self, CrashCodes, Failure};
use super::finding::{self, Event};
use super::mutate::{self, Action, Mutation};
use super::responder::Responder;
use super::rng::SplitMix64;
use super::{case_seed, Protocol, FAKE_TOKEN, FUZZ_USER, MAX_MUTATIONS_PER_CASE, MAX_SHRINK_RUNS};
use regex_automata::meta::Regex;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A client that sends nothing for this long is hung up on, so a client waiting for bytes
/// that never come (a literal's promised count) sees the connection end.
pub const SERVER_IDLE: Duration = Duration::from_millis(1500);

/// The longest client line read (a client sending more is hung up on).
pub const MAX_CLIENT_LINE: usize = 1 << 20;

/// Connections served per case (a retrying client gets this many, then is refused).
pub const MAX_CONNECTIONS_PER_CASE: usize = 8;

/// The TLS handshake of one connection.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest HTTP request body read.
pub const MAX_HTTP_BODY: usize = 64 * 1024;

pub struct Config {
    pub protocol: Protocol,
    pub cases: u64,
    pub seed: u64,
    pub timeout: Duration,
    pub command: Vec<String>,
    pub crash_codes: CrashCodes,
    pub pattern: Regex,
    pub out_dir: PathBuf,
    /// Print every case's mutations and time.
    pub verbose: bool,
}

#[derive(Debug)]
pub struct Finding {
    pub case: u64,
    pub failure: Failure,
    pub mutations: Vec<Mutation>,
    pub drawn: usize,
    pub recording: PathBuf,
    /// The recording's name for `conformance client`.
    pub name: String,
}

#[derive(Debug)]
pub struct Summary {
    pub cases: u64,
    pub seed: u64,
    pub findings: Vec<Finding>,
}

/// What one run of the command against one mutation list gave.
struct CaseResult {
    failure: Option<Failure>,
    transcripts: Vec<Vec<Event>>,
    output: Vec<u8>,
}

type Log = Arc<Mutex<Vec<Vec<Event>>>>;

fn log(l: &Log, conn: usize, e: Event) {
    // The lock is held for one push, never across an await.
    if let Ok(mut g) = l.lock() {
        if let Some(v) = g.get_mut(conn) {
            v.push(e);
        }
    }
}

/// The mutations of one case, drawn from its seed.
pub fn draw(seed: u64, case: u64, p: Protocol) -> Vec<Mutation> {
    let mut rng = SplitMix64::new(case_seed(seed, case));
    let n = 1 + rng.below(MAX_MUTATIONS_PER_CASE);
    (0..n).map(|_| Mutation::random(&mut rng, p)).collect()
}

struct Env {
    acceptor: tokio_rustls::TlsAcceptor,
    ca_file: PathBuf,
    /// A real token endpoint (the in-process mock) for mail protocols; HTTP fuzzes its own.
    token_url: Option<String>,
    _token_server: Option<mock_server::MockServer>,
}

pub async fn run(cfg: &Config, progress: &dyn Fn(&str)) -> Result<Summary, String> {
    let tls = mock_server::tls::build(None, &[]).map_err(|e| e.to_string())?;
    let mut config = (*tls.server_config).clone();
    config.alpn_protocols.clear();
    let (token_server, token_url, mut bundle) = if cfg.protocol == Protocol::Http {
        (None, None, String::new())
    } else {
        let s = mock_server::MockServer::start().await;
        let (url, ca) = (s.https_url().to_string(), s.ca_pem().to_string());
        (Some(s), Some(url), ca)
    };
    bundle.push_str(&tls.ca_pem);
    let ca_file = std::env::temp_dir().join(format!(
        "conformance-fuzz-client-{}-{}.pem",
        std::process::id(),
        cfg.seed
    ));
    std::fs::write(&ca_file, bundle).map_err(|e| format!("{}: {e}", ca_file.display()))?;
    let env = Env {
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        ca_file: ca_file.clone(),
        token_url,
        _token_server: token_server,
    };
    let result = cases(cfg, &env, progress).await;
    let _ = std::fs::remove_file(&ca_file);
    result
}

async fn cases(cfg: &Config, env: &Env, progress: &dyn Fn(&str)) -> Result<Summary, String> {
    let mut findings = Vec::new();
    for case in 0..cfg.cases {
        let muts = draw(cfg.seed, case, cfg.protocol);
        let started = std::time::Instant::now();
        let r = run_case(cfg, env, &muts).await?;
        if cfg.verbose {
            progress(&format!("case {case} ({} ms): {muts:?}", started.elapsed().as_millis()));
        }
        let Some(failure) = r.failure else { continue };
        progress(&format!("case {case}: {failure}; shrinking {} mutations", muts.len()));
        let (min, runs) = super::shrink::ddmin(
            muts.clone(),
            |m| {
                let f = failure.clone();
                async move {
                    matches!(run_case(cfg, env, &m).await, Ok(CaseResult { failure: Some(g), .. }) if g.same_kind(&f))
                }
            },
            MAX_SHRINK_RUNS,
        )
        .await;
        let last = run_case(cfg, env, &min).await?;
        let finding = write_finding(cfg, case, &failure, &muts, &min, runs, &last)?;
        progress(&format!(
            "case {case}: shrunk to {} mutation(s) in {runs} runs; wrote {}",
            min.len(),
            finding.recording.display()
        ));
        findings.push(finding);
    }
    Ok(Summary {
        cases: cfg.cases,
        seed: cfg.seed,
        findings,
    })
}

fn write_finding(
    cfg: &Config,
    case: u64,
    failure: &Failure,
    drawn: &[Mutation],
    min: &[Mutation],
    runs: usize,
    last: &CaseResult,
) -> Result<Finding, String> {
    let dir = super::prepare_out_dir(&cfg.out_dir)?;
    let p = cfg.protocol.name();
    let stem = format!("fuzz-client-{p}-s{}-c{case}", cfg.seed);
    // The connection that reached a mutated write, else the first.
    let reach = min.iter().map(|m| m.at).min().unwrap_or(0);
    let events = last
        .transcripts
        .iter()
        .find(|t| t.iter().filter(|e| matches!(e, Event::S(_))).count() > reach)
        .or(last.transcripts.first())
        .cloned()
        .unwrap_or_default();
    let tail: Vec<String> = String::from_utf8_lossy(&last.output)
        .lines()
        .rev()
        .take(8)
        .map(str::to_string)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let mut comments = vec![
        format!(
            "Found by: conformance fuzz-client --protocol {p} --seed {} (case {case})",
            cfg.seed
        ),
        format!("Command: {}", cfg.command.join(" ")),
        format!("Failure: {failure}"),
        format!(
            "Mutations: {} drawn, {} after {runs} shrinking runs: {min:?}",
            drawn.len(),
            min.len()
        ),
        format!(
            "Replay: conformance --recordings {} client {stem} -- <the command>",
            cfg.out_dir.display()
        ),
    ];
    if last.failure.as_ref().is_none_or(|f| !f.same_kind(failure)) {
        comments.push("The final run of the shrunk case did not fail the same way (a flaky failure?).".into());
    }
    comments.push("Last output lines:".into());
    comments.extend(tail.iter().map(|l| format!("  {l}")));
    let text = finding::render(
        p,
        &format!("fuzz-client finding: {failure}"),
        &format!(
            "conformance fuzz-client --protocol {p} --seed {}, case {case}",
            cfg.seed
        ),
        &comments,
        &events,
        true,
    );
    let path = dir.join(format!("{stem}.txt"));
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Finding {
        case,
        failure: failure.clone(),
        mutations: min.to_vec(),
        drawn: drawn.len(),
        recording: path,
        name: format!("imap/{stem}"),
    })
}

/// Fill a command's placeholders.
pub fn fill(argv: &[String], port: u16, ca_file: &str, https_url: &str) -> Vec<String> {
    argv.iter()
        .map(|a| {
            a.replace("{host}", "127.0.0.1")
                .replace("{port}", &port.to_string())
                .replace("{ca_file}", ca_file)
                .replace("{token}", FAKE_TOKEN)
                .replace("{user}", FUZZ_USER)
                .replace("{https_url}", https_url)
        })
        .collect()
}

async fn run_case(cfg: &Config, env: &Env, muts: &[Mutation]) -> Result<CaseResult, String> {
    let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let logs: Log = Arc::new(Mutex::new(Vec::new()));
    let server = {
        let (acceptor, logs, muts, p) = (env.acceptor.clone(), logs.clone(), muts.to_vec(), cfg.protocol);
        tokio::spawn(async move {
            // Dropping this set (when the case ends and this task is aborted) aborts every
            // connection task, so none outlives its case.
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                let conn = match logs.lock() {
                    Ok(mut g) if g.len() < MAX_CONNECTIONS_PER_CASE => {
                        g.push(Vec::new());
                        g.len() - 1
                    }
                    _ => continue,
                };
                let (acceptor, logs, muts) = (acceptor.clone(), logs.clone(), muts.clone());
                conns.spawn(async move {
                    if let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        serve(p, tls, &muts, &logs, conn).await;
                    }
                });
            }
        })
    };
    let https_url = match &env.token_url {
        Some(u) => u.clone(),
        None => format!("https://127.0.0.1:{port}"),
    };
    let argv = fill(&cfg.command, port, &env.ca_file.to_string_lossy(), &https_url);
    let outcome = command::run(&argv, cfg.timeout).await;
    server.abort();
    let _ = server.await;
    let outcome = outcome?;
    let transcripts = logs.lock().map(|g| g.clone()).unwrap_or_default();
    Ok(CaseResult {
        failure: command::judge(&outcome, &cfg.crash_codes, &cfg.pattern),
        transcripts,
        output: outcome.output,
    })
}

/// One connection: greeting, then answer every client line, all through the mutations.
async fn serve<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    p: Protocol,
    mut s: S,
    muts: &[Mutation],
    logs: &Log,
    conn: usize,
) {
    let mut responder = Responder::new(p);
    let mut index = 0usize;
    let mut buf: Vec<u8> = Vec::new();
    if !send(p, &mut s, muts, &mut index, responder.greeting(), logs, conn).await {
        return;
    }
    let mut content_length = 0usize;
    loop {
        let line = match read_line(&mut s, &mut buf).await {
            Some(l) => l,
            None => {
                // Idle, over-long or closed by the client: hang up.
                log(logs, conn, Event::Closed);
                let _ = s.shutdown().await;
                return;
            }
        };
        log(logs, conn, Event::C(line.clone()));
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if p == Protocol::Http {
            if let Some((k, v)) = text.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    content_length = v.trim().parse().unwrap_or(0).min(MAX_HTTP_BODY);
                }
            }
            if !text.is_empty() {
                continue;
            }
            // Headers done: read the body we were promised (bounded), so closing after the
            // answer does not reset a connection with unread bytes in it.
            while buf.len() < content_length {
                let mut chunk = [0u8; 8192];
                match tokio::time::timeout(SERVER_IDLE, s.read(&mut chunk)).await {
                    Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                    _ => break,
                }
            }
            let writes = Responder::http_response();
            if send(p, &mut s, muts, &mut index, writes, logs, conn).await {
                log(logs, conn, Event::Closed);
                let _ = s.shutdown().await;
            }
            return;
        }
        let reply = responder.on_line(text);
        if !send(p, &mut s, muts, &mut index, reply.writes, logs, conn).await {
            return;
        }
        if reply.close {
            log(logs, conn, Event::Closed);
            let _ = s.shutdown().await;
            return;
        }
    }
}

/// One line (with its LF), or None at EOF, idle or over-long.
async fn read_line<S: tokio::io::AsyncRead + Unpin>(s: &mut S, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    loop {
        if let Some(i) = buf.iter().position(|&b| b == b'\n') {
            return Some(buf.drain(..=i).collect());
        }
        if buf.len() > MAX_CLIENT_LINE {
            return None;
        }
        let mut chunk = [0u8; 8192];
        match tokio::time::timeout(SERVER_IDLE, s.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return None,
        }
    }
}

/// Send the writes through the mutations; false once the connection is closed.
async fn send<S: tokio::io::AsyncWrite + Unpin>(
    p: Protocol,
    s: &mut S,
    muts: &[Mutation],
    index: &mut usize,
    writes: Vec<String>,
    logs: &Log,
    conn: usize,
) -> bool {
    for w in writes {
        let actions = mutate::apply(muts, *index, w.into_bytes(), p);
        *index += 1;
        let mut trickle = None;
        for a in actions {
            match a {
                Action::Pause(ms) => {
                    log(logs, conn, Event::Pause(ms));
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                Action::Trickle(ms) => trickle = Some(ms),
                Action::Close => {
                    log(logs, conn, Event::Closed);
                    let _ = s.shutdown().await;
                    return false;
                }
                Action::Write(bytes) => {
                    let ok = match trickle.take() {
                        Some(ms) => {
                            log(logs, conn, Event::Trickle(ms));
                            log(logs, conn, Event::S(bytes.clone()));
                            log(logs, conn, Event::Trickle(0));
                            crate::replay::trickle_write(s, &bytes, Duration::from_millis(ms)).await
                        }
                        None => {
                            log(logs, conn, Event::S(bytes.clone()));
                            async {
                                s.write_all(&bytes).await?;
                                s.flush().await
                            }
                            .await
                        }
                    };
                    if ok.is_err() {
                        return false;
                    }
                }
            }
        }
    }
    true
}
