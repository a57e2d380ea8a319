//! `conformance`: list and replay the recordings; play them to any client; print the
//! failure catalogue. Exits non-zero when any replay fails.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use conformance::replay::{self, Endpoints, Verdict};
use conformance::{catalogue, default_dir, format};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Replay the documented Exchange Online / Entra ID exchanges against servers and clients")]
struct Args {
    /// Folder with imap/*.txt, smtp/*.txt, pop3/*.txt and token/*.json.
    #[arg(long, global = true)]
    recordings: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// The recordings, one a line.
    List,
    /// Replay recordings against the in-process mock (default) or another server.
    Run {
        /// Only recordings whose name contains this.
        #[arg(long)]
        filter: Option<String>,
        /// Another IMAP server: imaps://host:port (implicit TLS).
        #[arg(long)]
        target: Option<String>,
        /// Its STARTTLS port: imap://host:port.
        #[arg(long)]
        starttls_target: Option<String>,
        /// Its SMTP submission port (STARTTLS): smtp://host:port.
        #[arg(long)]
        smtp_target: Option<String>,
        /// Its POP3 implicit-TLS port: pop3s://host:port.
        #[arg(long)]
        pop3s_target: Option<String>,
        /// Its POP3 STLS port: pop3://host:port.
        #[arg(long)]
        pop3_target: Option<String>,
        /// Its identity platform (for tokens and token recordings): https://host:port.
        #[arg(long)]
        identity: Option<String>,
        /// CA (PEM) of the target.
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// A fixed access token for every recording (when the target has no identity platform).
        #[arg(long, env = "CONFORMANCE_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Also play recordings with @client-outcome to the built-in client library.
        #[arg(long)]
        clients: bool,
        /// Which era the target imitates (as `mock-server --personality`): exo-2025,
        /// exo-2019, exo-2018 or exo-2016; recordings of another era are skipped.
        #[arg(long, default_value = "exo-2025", value_parser = ["exo-2026", "exo-2025", "exo-2019", "exo-2018", "exo-2016"])]
        personality: String,
    },
    /// Play one recording's server side to any client command. In the command, {host},
    /// {port}, {ca_file}, {user}, {token} and {https_url} are replaced; the client's lines
    /// are checked.
    Client {
        name: String,
        #[arg(trailing_var_arg = true, required = true)]
        command: Vec<String>,
    },
    /// Play mutated Exchange answers to a client command, case after case, and report the
    /// cases where it crashed (signal, crash exit code, stack trace, or hang). In the
    /// command, {host}, {port}, {ca_file}, {token}, {user} and {https_url} are replaced.
    FuzzClient {
        #[arg(long, default_value = "imap", value_parser = ["imap", "smtp", "pop3", "http"])]
        protocol: String,
        #[arg(long, default_value_t = 30)]
        cases: u64,
        /// Default: from the clock (printed, so the run can be repeated).
        #[arg(long)]
        seed: Option<u64>,
        /// Seconds one run of the command may take before it counts as hung.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
        /// Exit codes that mean a crash, e.g. `2,70-255` (default: anything but 0 and 1).
        #[arg(long)]
        crash_exit_codes: Option<String>,
        /// A regex over the command's output that means a crash (default: stack traces of
        /// Python, Java, Rust, Go, Node and .NET).
        #[arg(long)]
        crash_pattern: Option<String>,
        /// Where shrunk failures are written, as a recordings folder (imap/*.txt).
        #[arg(long, default_value = "fuzz-findings")]
        out: PathBuf,
        /// Print every case's mutations and how long it took.
        #[arg(long)]
        verbose: bool,
        #[arg(trailing_var_arg = true, required = true)]
        command: Vec<String>,
    },
    /// Send hostile SASL and command input to a loopback server, case after case, and
    /// report the cases after which it stopped answering (or that it cut off unanswered).
    FuzzServer {
        /// imaps://host:port, imap://…, smtps://…, smtp://…, pop3s://… or pop3://… (loopback only).
        #[arg(long)]
        target: String,
        /// CA (PEM) of a TLS target.
        #[arg(long)]
        ca_file: Option<PathBuf>,
        #[arg(long, default_value_t = 30)]
        cases: u64,
        /// Default: from the clock (printed, so the run can be repeated).
        #[arg(long)]
        seed: Option<u64>,
        /// The bearer token inside the XOAUTH2 strings (a valid one reaches deeper states).
        #[arg(long, env = "CONFORMANCE_TOKEN", hide_env_values = true, default_value = conformance::fuzz::FAKE_TOKEN)]
        token: String,
        #[arg(long, default_value = "fuzz-findings")]
        out: PathBuf,
        #[arg(long)]
        verbose: bool,
    },
    /// Print (or write into docs/conformance.md) the failure catalogue generated from the recordings.
    Catalogue {
        #[arg(long)]
        write: Option<PathBuf>,
    },
}

fn addr(url: &str, scheme: &str) -> Result<SocketAddr> {
    let rest = url
        .strip_prefix(scheme)
        .with_context(|| format!("{url}: expected {scheme}host:port"))?;
    let a: SocketAddr = rest
        .trim_end_matches('/')
        .parse()
        .with_context(|| format!("{url}: not host:port"))?;
    if !a.ip().is_loopback() {
        bail!("{a}: the conformance runner only targets loopback addresses");
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("conformance: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("conformance: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        % 1_000_000
}

async fn run(args: Args) -> Result<bool> {
    if let Cmd::FuzzClient {
        protocol,
        cases,
        seed,
        timeout,
        crash_exit_codes,
        crash_pattern,
        out,
        verbose,
        command,
    } = args.command
    {
        use conformance::fuzz::{self, command as cmd};
        if cases > fuzz::MAX_CASES {
            bail!("--cases {cases}: at most {}", fuzz::MAX_CASES);
        }
        let cfg = fuzz::client::Config {
            protocol: fuzz::Protocol::parse(&protocol).context("unknown protocol")?,
            cases,
            seed: seed.unwrap_or_else(clock_seed),
            timeout: std::time::Duration::from_secs(timeout.max(1)),
            command,
            crash_codes: match crash_exit_codes {
                Some(s) => cmd::CrashCodes::parse(&s).map_err(anyhow::Error::msg)?,
                None => cmd::CrashCodes::default(),
            },
            pattern: cmd::crash_regex(crash_pattern.as_deref().unwrap_or(cmd::DEFAULT_CRASH_PATTERN))
                .map_err(anyhow::Error::msg)?,
            out_dir: out,
            verbose,
        };
        println!("fuzz-client: protocol {protocol}, {cases} cases, seed {}", cfg.seed);
        let summary = fuzz::client::run(&cfg, &|m| println!("{m}"))
            .await
            .map_err(anyhow::Error::msg)?;
        for f in &summary.findings {
            println!(
                "FAIL case {}: {} ({} of {} mutations needed) -> {}",
                f.case,
                f.failure,
                f.mutations.len(),
                f.drawn,
                f.recording.display()
            );
        }
        println!(
            "\n{} cases, {} failures, seed {}",
            summary.cases,
            summary.findings.len(),
            summary.seed
        );
        return Ok(summary.findings.is_empty());
    }
    if let Cmd::FuzzServer {
        target,
        ca_file,
        cases,
        seed,
        token,
        out,
        verbose,
    } = args.command
    {
        use conformance::fuzz;
        if cases > fuzz::MAX_CASES {
            bail!("--cases {cases}: at most {}", fuzz::MAX_CASES);
        }
        let cfg = fuzz::server::Config {
            target: fuzz::server::parse_target(&target).map_err(anyhow::Error::msg)?,
            ca_pem: ca_file
                .map(|p| std::fs::read(&p).with_context(|| p.display().to_string()))
                .transpose()?,
            cases,
            seed: seed.unwrap_or_else(clock_seed),
            token,
            out_dir: out,
            verbose,
        };
        println!("fuzz-server: {target}, {cases} cases, seed {}", cfg.seed);
        let summary = fuzz::server::run(&cfg, &|m| println!("{m}"))
            .await
            .map_err(anyhow::Error::msg)?;
        for f in &summary.findings {
            println!(
                "FAIL case {}: {} ({} of {} mutations needed) -> {}",
                f.case,
                f.fault,
                f.mutations.len(),
                f.drawn,
                f.recording.display()
            );
        }
        println!(
            "\n{} cases, {} failures, seed {}",
            summary.cases,
            summary.findings.len(),
            summary.seed
        );
        return Ok(summary.findings.is_empty());
    }
    let dir = args.recordings.unwrap_or_else(default_dir);
    let (imap, token) = format::load_all(&dir).map_err(anyhow::Error::msg)?;
    let http = conformance::http_get::load(&dir).map_err(anyhow::Error::msg)?;
    match args.command {
        Cmd::List => {
            for r in &imap {
                println!("{:<40} {}  [{}]", r.meta.name, r.meta.title, r.meta.provenance);
            }
            for r in &token {
                println!("{:<40} {}  [{}]", r.name, r.title, r.provenance);
            }
            for r in &http {
                println!("{:<40} {}  [{}]", r.name, r.title, r.provenance);
            }
            Ok(true)
        }
        Cmd::FuzzClient { .. } | Cmd::FuzzServer { .. } => Ok(true),
        Cmd::Catalogue { write } => {
            let table = catalogue(&imap, &token, &http);
            match write {
                None => print!("{table}"),
                Some(path) => {
                    let readme = std::fs::read_to_string(&path)?;
                    let updated =
                        conformance::with_catalogue(&readme, &table).context("the file has no catalogue markers")?;
                    std::fs::write(&path, updated)?;
                }
            }
            Ok(true)
        }
        Cmd::Client { name, command } => {
            let rec = imap
                .iter()
                .find(|r| r.meta.name == name || r.meta.name.ends_with(&format!("/{name}")))
                .context("no such recording")?;
            let (addr, mut ca_pem, script) = replay::scripted_server(rec).await.map_err(anyhow::Error::msg)?;
            // {https_url}: the scripted server itself for token-endpoint (http) recordings;
            // otherwise a real token endpoint (the in-process mock), as fuzz-client gives.
            let wants_token_endpoint = rec.protocol != "http" && command.iter().any(|a| a.contains("{https_url}"));
            let token_server = if wants_token_endpoint {
                Some(mock_server::MockServer::start().await)
            } else {
                None
            };
            let https_url = match &token_server {
                Some(t) => {
                    ca_pem.push_str(t.ca_pem());
                    t.https_url().to_string()
                }
                None => format!("https://127.0.0.1:{}", addr.port()),
            };
            let ca_file = std::env::temp_dir().join(format!("conformance-client-{}.pem", addr.port()));
            std::fs::write(&ca_file, ca_pem)?;
            let filled: Vec<String> = command
                .iter()
                .map(|a| {
                    a.replace("{host}", "127.0.0.1")
                        .replace("{port}", &addr.port().to_string())
                        .replace("{ca_file}", &ca_file.to_string_lossy())
                        .replace("{user}", &rec.user)
                        .replace("{token}", conformance::fuzz::FAKE_TOKEN)
                        .replace("{https_url}", &https_url)
                })
                .collect();
            let mut child = tokio::process::Command::new(&filled[0]).args(&filled[1..]).spawn()?;
            let status = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait()).await;
            let verdict = script.await?;
            let _ = std::fs::remove_file(&ca_file);
            match status {
                Ok(Ok(s)) => println!(
                    "client command exited with {}",
                    s.code().map_or("a signal".to_string(), |c| c.to_string())
                ),
                Ok(Err(e)) => println!("client command failed: {e}"),
                Err(_) => println!("client command still running after 60 s"),
            }
            print_verdict(&rec.meta.name, &verdict);
            Ok(verdict == Verdict::Pass)
        }
        Cmd::Run {
            filter,
            target,
            starttls_target,
            smtp_target,
            pop3s_target,
            pop3_target,
            identity,
            ca_file,
            token: fixed,
            clients,
            personality,
        } => {
            let external = match &target {
                Some(t) => {
                    let ca = ca_file.as_ref().context("--ca-file is needed with --target")?;
                    Some(Endpoints {
                        https_url: identity.clone(),
                        imaps: addr(t, "imaps://")?,
                        imap: starttls_target.as_deref().map(|s| addr(s, "imap://")).transpose()?,
                        smtp: smtp_target.as_deref().map(|s| addr(s, "smtp://")).transpose()?,
                        pop3s: pop3s_target.as_deref().map(|s| addr(s, "pop3s://")).transpose()?,
                        pop3: pop3_target.as_deref().map(|s| addr(s, "pop3://")).transpose()?,
                        ca_pem: std::fs::read(ca)?,
                        token: fixed.clone(),
                    })
                }
                None => None,
            };
            // `--identity` alone: the identity platform's recordings (token, discovery)
            // against it, the mail recordings skipped.
            let identity_only = match (&target, &identity) {
                (None, Some(url)) => {
                    let ca = ca_file.as_ref().context("--ca-file is needed with --identity")?;
                    Some((url.trim_end_matches('/').to_string(), std::fs::read(ca)?))
                }
                _ => None,
            };
            let identity_endpoints = identity_only.as_ref().map(|(url, ca)| Endpoints {
                https_url: Some(url.clone()),
                // Never dialled: token recordings only use the identity platform.
                imaps: SocketAddr::from(([127, 0, 0, 1], 0)),
                imap: None,
                smtp: None,
                pop3s: None,
                pop3: None,
                ca_pem: ca.clone(),
                token: None,
            });
            let wanted = |n: &str| filter.as_ref().is_none_or(|f| n.contains(f.as_str()));
            let mut all_ok = true;
            let (mut pass, mut fail, mut skip) = (0, 0, 0);
            let mut tally = |v: &Verdict| match v {
                Verdict::Pass => pass += 1,
                Verdict::Fail(_) => fail += 1,
                Verdict::Skip(_) => skip += 1,
            };
            println!("{:<46} result", "recording");
            for r in imap.iter().filter(|r| wanted(&r.meta.name)) {
                let v = match &external {
                    Some(_) if r.personality != personality => {
                        Verdict::Skip(format!("recorded for {}, the target is {personality}", r.personality))
                    }
                    Some(ep) => replay::imap_against_server(r, ep, None).await,
                    None if identity_only.is_some() => Verdict::Skip("only --identity given".into()),
                    None => conformance::imap_in_process(r).await,
                };
                all_ok &= !matches!(v, Verdict::Fail(_));
                tally(&v);
                print_verdict(&r.meta.name, &v);
                if clients && r.client_outcome.is_some() {
                    let v = conformance::client_library(r).await;
                    all_ok &= !matches!(v, Verdict::Fail(_));
                    tally(&v);
                    print_verdict(&format!("{} (client)", r.meta.name), &v);
                }
            }
            for r in token.iter().filter(|r| wanted(&r.name)) {
                let v = match (&external, &identity_endpoints) {
                    (Some(ep), _) | (None, Some(ep)) => replay::token_against_server(r, ep).await,
                    (None, None) => conformance::token_in_process(r).await,
                };
                all_ok &= !matches!(v, Verdict::Fail(_));
                tally(&v);
                print_verdict(&r.name, &v);
            }
            for r in http.iter().filter(|r| wanted(&r.name)) {
                let v = match (&external, &identity_only) {
                    (Some(ep), _) => conformance::http_get::against_server(r, ep).await,
                    (None, Some((base, ca))) => conformance::http_get::against_base(r, base, ca).await,
                    (None, None) => conformance::http_get_in_process(r).await,
                };
                all_ok &= !matches!(v, Verdict::Fail(_));
                tally(&v);
                print_verdict(&r.name, &v);
            }
            println!("\n{pass} passed, {fail} failed, {skip} skipped");
            Ok(all_ok)
        }
    }
}

fn print_verdict(name: &str, v: &Verdict) {
    match v {
        Verdict::Pass => println!("{name:<46} PASS"),
        Verdict::Skip(why) => println!("{name:<46} SKIP  {why}"),
        Verdict::Fail(why) => println!("{name:<46} FAIL  {why}"),
    }
}
