//! `mock-server`: serve the demo tenant (or a fixture) as an offline Microsoft identity
//! platform. Exit codes: 0 stopped by a signal, 1 could not start.

use anyhow::Context;
use clap::Parser;
use mock_server::imap::{ImapConfig, Personality};
use mock_server::sasl::xoauth2::Mode;
use mock_server::server::{DEFAULT_HTTPS_PORT, DEFAULT_IMAPS_PORT, DEFAULT_IMAP_PORT};
use mock_server::{DescriptionLayout, MockServer, TokenLifetime};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

mod admin_cli;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Offline stand-in for Microsoft 365 mail authentication (Entra ID token endpoint)"
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// A directory fixture (JSON, format in fixtures/README.md) instead of the embedded demo tenant.
    #[arg(long, value_name = "FILE")]
    fixture: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    bind: IpAddr,
    /// HTTPS port of the identity platform (0 = any free port).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_HTTPS_PORT)]
    https_port: u16,
    /// IMAP port with implicit TLS (Exchange: 993; 0 = any free port).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_IMAPS_PORT)]
    imaps_port: u16,
    /// IMAP port with STARTTLS (Exchange: 143; 0 = any free port).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_IMAP_PORT)]
    imap_port: u16,
    /// Which Exchange Online the IMAP server imitates: exo-2025 (basic auth retired,
    /// LOGINDISABLED; default) or exo-2018 (AUTH=PLAIN, "NO LOGIN failed.").
    #[arg(long, value_name = "ERA", default_value = "exo-2025", value_parser = ["exo-2025", "exo-2018"])]
    imap_personality: String,
    /// First AUTHENTICATE continuation: "bare" (`+`, as Exchange sends it) or "space" (`+ `, RFC 3501).
    #[arg(long, value_name = "bare|space", default_value = "bare", value_parser = ["bare", "space"])]
    imap_continuation: String,
    /// XOAUTH2 parsing: strict (default) or lenient (missing final ^A, extra spaces).
    #[arg(long, value_name = "strict|lenient", default_value = "strict", value_parser = ["strict", "lenient"])]
    xoauth2: String,
    /// IMAP autologout after this many seconds without a whole command line (`* BYE Connection is closed. 13`).
    #[arg(long, value_name = "SECONDS", default_value_t = 1800)]
    imap_idle_timeout: u64,
    /// Close a connection that has not authenticated this many seconds after connecting (BYE 13).
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    imap_pre_auth_timeout: u64,
    /// Failed AUTHENTICATEs before `* BYE Connection is closed. 14`.
    #[arg(long, value_name = "N", default_value_t = mock_server::imap::MAX_FAILED_AUTH)]
    imap_max_failed_auth: u32,
    /// IMAP commands allowed before authentication (Exchange 2013: 9), then the connection closes.
    #[arg(long, value_name = "N", default_value_t = mock_server::imap::MAX_PRE_AUTH_COMMANDS)]
    imap_max_pre_auth_commands: u32,
    /// Longest IMAP command line in bytes (Exchange's MaxCommandSize).
    #[arg(long, value_name = "BYTES", default_value_t = mock_server::imap::MAX_COMMAND_LINE)]
    imap_max_command_line: usize,
    /// Longest SASL response line in bytes (Exchange: 4096).
    #[arg(long, value_name = "BYTES", default_value_t = mock_server::imap::MAX_SASL_LINE)]
    imap_max_sasl_line: usize,
    /// Largest IMAP literal (APPEND) in bytes (Exchange Online: 35 MB).
    #[arg(long, value_name = "BYTES", default_value_t = mock_server::imap::MAX_LITERAL)]
    imap_max_literal: u32,
    /// Largest IMAP literal before authentication in bytes (a larger one is refused unread).
    #[arg(long, value_name = "BYTES", default_value_t = mock_server::imap::MAX_PRE_AUTH_LITERAL)]
    imap_max_pre_auth_literal: u32,
    /// IMAP sessions per mailbox (Exchange's MaxConnectionsPerUser).
    #[arg(long, value_name = "N", default_value_t = mock_server::imap::MAX_CONNECTIONS_PER_USER)]
    imap_max_connections_per_user: u32,
    /// IMAP connections in all.
    #[arg(long, value_name = "N", default_value_t = mock_server::imap::MAX_IMAP_CONNECTIONS)]
    imap_max_connections: usize,
    /// Seconds an IMAP client may take to accept a response before it is cut off (slow reader).
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    imap_write_timeout: u64,
    /// Seconds to send an HTTP request head (slowloris guard).
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    http_header_read_timeout: u64,
    /// Largest HTTP request head in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = mock_server::https::MAX_HTTP_HEADER_BYTES)]
    http_max_header: usize,
    /// HTTPS connections at once.
    #[arg(long, value_name = "N", default_value_t = mock_server::https::MAX_HTTPS_CONNECTIONS)]
    http_max_connections: usize,
    /// Largest token-request body in bytes (413 beyond).
    #[arg(long, value_name = "BYTES", default_value_t = mock_server::identity::routes::MAX_TOKEN_REQUEST_BODY)]
    http_max_request_body: usize,
    /// Keep the test CA in DIR (created on first use, reused after), so it is trusted once.
    #[arg(long, value_name = "DIR")]
    ca_dir: Option<PathBuf>,
    /// Extra name on the server certificate (repeatable), e.g. login.microsoftonline.com.
    #[arg(long = "hostname", value_name = "NAME")]
    hostnames: Vec<String>,
    /// Once listening, write the addresses as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    ready_file: Option<PathBuf>,
    /// Access-token lifetime (`expires_in`) in seconds.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 3599,
        conflicts_with = "random_token_lifetime"
    )]
    token_lifetime: i64,
    /// Microsoft's behaviour: a random lifetime between 60 and 90 minutes.
    #[arg(long)]
    random_token_lifetime: bool,
    /// Add a Microsoft-style `nonce` to access-token headers.
    #[arg(long)]
    nonce_header: bool,
    /// Separator before "Trace ID:" in error_description: crlf (documented) or space (seen live).
    #[arg(long, value_name = "crlf|space", default_value = "crlf", value_parser = ["crlf", "space"])]
    error_description_separator: String,
    /// AADSTS code for client credentials on /common: 90010 (live capture) or 9001023 (error reference).
    #[arg(long, value_name = "CODE", default_value_t = 90010, value_parser = parse_common_code)]
    common_endpoint_error_code: u32,
    /// Refresh tokens unused for this many days answer AADSTS700082 (Entra: 90).
    #[arg(long, value_name = "DAYS", default_value_t = 90)]
    refresh_token_inactivity_days: i64,
    /// TEST ONLY: serve POST /_mock/clock/advance (form field seconds=N) to loopback
    /// clients, so out-of-process tests can expire tokens without waiting.
    #[arg(long)]
    test_controls: bool,
    /// Require `Authorization: Bearer TOKEN` on the admin API (/_mock/admin/…).
    #[arg(long, value_name = "TOKEN", env = "MOCK_SERVER_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Do not serve the admin API at all.
    #[arg(long)]
    no_admin: bool,
    /// Append every journal entry to FILE as a JSON line.
    #[arg(long, value_name = "FILE")]
    journal_file: Option<PathBuf>,
    /// Arm the faults in FILE (a JSON array of faults, format in fixtures/README.md) at start.
    #[arg(long, value_name = "FILE")]
    faults: Option<PathBuf>,
    /// Log filter (tracing syntax), e.g. info or mock_server=debug. Also RUST_LOG.
    #[arg(long, value_name = "FILTER", default_value = "info")]
    log: String,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Run an administrator's verb against a running server: `mock-server admin <verb>
    /// --param value …` (`mock-server admin help` lists the verbs). The server is found
    /// through --ready-file FILE or --url URL --ca-file PEM; --admin-token TOKEN (or
    /// MOCK_SERVER_ADMIN_TOKEN) when the server has one.
    #[command(disable_help_flag = true)]
    Admin {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<String>,
    },
}

fn parse_common_code(s: &str) -> Result<u32, String> {
    match s {
        "90010" => Ok(90010),
        "9001023" => Ok(9001023),
        _ => Err("expected 90010 or 9001023".into()),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Command::Admin { args }) = &args.command {
        return admin_cli::run(args);
    }
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| args.log.clone());
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mock-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let imap = ImapConfig {
        personality: Personality::parse(&args.imap_personality).unwrap_or_default(),
        bare_continuation: args.imap_continuation == "bare",
        xoauth2_mode: if args.xoauth2 == "lenient" {
            Mode::Lenient
        } else {
            Mode::Strict
        },
        idle_timeout: std::time::Duration::from_secs(args.imap_idle_timeout),
        pre_auth_timeout: std::time::Duration::from_secs(args.imap_pre_auth_timeout),
        max_failed_auth: args.imap_max_failed_auth,
        max_pre_auth_commands: args.imap_max_pre_auth_commands,
        max_command_line: args.imap_max_command_line,
        max_sasl_line: args.imap_max_sasl_line,
        max_literal: args.imap_max_literal,
        max_pre_auth_literal: args.imap_max_pre_auth_literal,
        max_connections_per_user: args.imap_max_connections_per_user,
        max_connections: args.imap_max_connections,
        write_timeout: std::time::Duration::from_secs(args.imap_write_timeout),
        ..ImapConfig::default()
    };
    let mut builder = MockServer::builder()
        .bind(args.bind)
        .https_port(args.https_port)
        .imaps_port(args.imaps_port)
        .imap_port(args.imap_port)
        .imap_config(imap)
        .nonce_header(args.nonce_header)
        .multi_tenant_grant_error_code(args.common_endpoint_error_code)
        .refresh_token_inactivity(time::Duration::days(
            args.refresh_token_inactivity_days.clamp(0, 36_500),
        ))
        .test_controls(args.test_controls)
        .admin_api(!args.no_admin)
        .verify_faults_on_drop(false)
        .description_layout(if args.error_description_separator == "space" {
            DescriptionLayout::Space
        } else {
            DescriptionLayout::Crlf
        })
        .http_max_request_body(args.http_max_request_body)
        .http_limits(
            std::time::Duration::from_secs(args.http_header_read_timeout),
            args.http_max_header,
            args.http_max_connections,
        )
        .token_lifetime(if args.random_token_lifetime {
            TokenLifetime::Random60To90Minutes
        } else {
            TokenLifetime::Fixed(args.token_lifetime)
        });
    if let Some(f) = &args.fixture {
        builder = builder.fixture_file(f)?;
    }
    if let Some(token) = &args.admin_token {
        builder = builder.admin_token(token);
    }
    if let Some(path) = &args.journal_file {
        builder = builder.journal_file(path);
    }
    if let Some(path) = &args.faults {
        let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let faults: Vec<mock_server::Fault> = serde_json::from_slice(&text)
            .with_context(|| format!("{}: expected a JSON array of faults", path.display()))?;
        for (i, f) in faults.into_iter().enumerate() {
            f.validate()
                .map_err(|e| anyhow::anyhow!("{}: fault {}: {e}", path.display(), i + 1))?;
            builder = builder.fault(f);
        }
    }
    if let Some(d) = &args.ca_dir {
        builder = builder.ca_dir(d);
    }
    for h in &args.hostnames {
        builder = builder.hostname(h);
    }
    let server = builder.start().await?;
    print_summary(&server);
    if let Some(path) = &args.ready_file {
        server
            .write_ready_file(path)
            .with_context(|| format!("writing the ready file {}", path.display()))?;
    }
    wait_for_signal().await;
    eprintln!("mock-server: stopping");
    server.shutdown().await;
    Ok(())
}

fn print_summary(server: &MockServer) {
    let directory = server.directory();
    println!("mock-server: Microsoft identity platform on {}", server.https_url());
    println!(
        "mock-server: Exchange Online IMAP on {} (TLS) and {} (STARTTLS)",
        server.imaps_addr(),
        server.imap_addr()
    );
    println!("  trust this CA: {}", server.ca_file().display());
    for t in &directory.tenants {
        println!(
            "  tenant {} ({}): authority {}",
            t.display_name,
            t.domains.join(", "),
            server.authority(&t.id)
        );
    }
    if let Some(app) = directory.tenants.first().and_then(|t| t.applications.first()) {
        let secret = app
            .secrets
            .first()
            .map(|s| s.value.expose().as_str())
            .unwrap_or("(none)");
        println!(
            "  demo app {:?}: client id {}  secret {}",
            app.display_name, app.app_id, secret
        );
        println!("  scope for IMAP/POP/SMTP: https://outlook.office365.com/.default; mailbox test.user@contoso.com");
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            // Why select: stop on Ctrl-C or on SIGTERM (CI and process managers).
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
