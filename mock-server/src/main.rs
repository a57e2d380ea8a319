//! `mock-server`: serve the demo tenant (or a fixture) as an offline Microsoft identity
//! platform. Exit codes: 0 stopped by a signal, 1 could not start.

use anyhow::Context;
use clap::Parser;
use mock_server::imap::{ImapConfig, Personality};
use mock_server::sasl::xoauth2::Mode;
use mock_server::server::{DEFAULT_HTTPS_PORT, DEFAULT_IMAPS_PORT, DEFAULT_IMAP_PORT};
use mock_server::server::{DEFAULT_POP3S_PORT, DEFAULT_POP3_PORT};
use mock_server::smtp::SmtpConfig;
use mock_server::{DescriptionLayout, MockServer, TokenLifetime};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

mod admin_cli;
mod dropin;

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
    /// HTTPS port of the identity platform (default 8443; 443 with --real-hosts; 0 = any free port).
    #[arg(long, value_name = "N")]
    https_port: Option<u16>,
    /// IMAP port with implicit TLS (default 9993; Exchange and --real-hosts: 993; 0 = any free port).
    #[arg(long, value_name = "N")]
    imaps_port: Option<u16>,
    /// IMAP port with STARTTLS (default 9143; Exchange and --real-hosts: 143; 0 = any free port).
    #[arg(long, value_name = "N")]
    imap_port: Option<u16>,
    /// Which Exchange Online all three mail servers imitate, by the year of its earliest
    /// capture: exo-2025 (default; LOGINDISABLED, basic auth retired, SMTP banner with id,
    /// POP3 tcpproxy greeting), exo-2026 (as 2025, with the IMAP "tcpproxy" greeting),
    /// exo-2019 (AUTH=PLAIN and MOVE before IMAP authentication), exo-2018 (AUTH=PLAIN, no
    /// MOVE before IMAP authentication), exo-2016 (as 2019, no BACKENDAUTHENTICATE after
    /// it). SMTP and POP3 have two eras: 2025 (also for exo-2026) and the one before (2016,
    /// 2018, 2019). --imap-, --smtp- and --pop3-personality override it per protocol. The
    /// capture behind each era: docs/imap.md, "Fidelity".
    #[arg(long, value_name = "ERA", default_value = "exo-2025", value_parser = ["exo-2026", "exo-2025", "exo-2019", "exo-2018", "exo-2016"])]
    personality: String,
    /// The IMAP era alone, overriding --personality: exo-2025 (LOGINDISABLED, LOGIN answered
    /// "NO Basic authentication is disabled." and BYE), exo-2026 (the same with the
    /// "* OK Microsoft Exchange IMAP4 service ready. <id> (tcpproxy/...)" greeting), exo-2019
    /// (AUTH=PLAIN with MOVE before authentication, "NO LOGIN failed."), exo-2018
    /// (AUTH=PLAIN, no MOVE before authentication, "NO LOGIN failed."), exo-2016 (as 2019,
    /// no BACKENDAUTHENTICATE).
    #[arg(long, value_name = "ERA", value_parser = ["exo-2026", "exo-2025", "exo-2019", "exo-2018", "exo-2016"])]
    imap_personality: Option<String>,
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
    /// Follow EXPUNGE's `* n EXPUNGE` lines with `* n EXISTS`, as Exchange 2013 on-premises
    /// did (Exchange Online does not).
    #[arg(long)]
    imap_exists_after_expunge: bool,
    /// SMTP submission port with STARTTLS (default 9587; Exchange and --real-hosts: 587; 0 = any free port).
    #[arg(long, value_name = "N")]
    smtp_port: Option<u16>,
    /// The SMTP era alone, overriding --personality: exo-2025 (banner and error brackets
    /// with time and id, since 2024-10; exo-2026 is the same on SMTP) or exo-2018 (no id,
    /// brackets with the host only; exo-2016 and exo-2019 are the same on SMTP).
    #[arg(long, value_name = "ERA", value_parser = ["exo-2026", "exo-2025", "exo-2019", "exo-2018", "exo-2016"])]
    smtp_personality: Option<String>,
    /// AUTH continuation: "space" (`334 `, default; msmtp needs it) or "bare" (`334`, as Microsoft's page prints it).
    #[arg(long, value_name = "bare|space", default_value = "space", value_parser = ["bare", "space"])]
    smtp_continuation: String,
    /// Largest message in bytes (Exchange Online's MaxSendSize: 35 MB; 552 5.3.4 beyond).
    #[arg(long, value_name = "BYTES", default_value_t = mock_server::smtp::MAX_MESSAGE_SIZE)]
    smtp_max_message_size: usize,
    /// Longest SMTP command line in bytes, CRLF included.
    #[arg(long, value_name = "BYTES", default_value_t = mock_server::smtp::MAX_LINE)]
    smtp_max_line: usize,
    /// Recipients per message (Exchange Online's RecipientLimits: 500).
    #[arg(long, value_name = "N", default_value_t = mock_server::smtp::MAX_RECIPIENTS)]
    smtp_max_recipients: usize,
    /// Seconds a connection has to authenticate, in all (a drip of bytes does not extend it).
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    smtp_pre_auth_timeout: u64,
    /// Seconds without input before an authenticated SMTP connection is closed (Exchange: 300).
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    smtp_idle_timeout: u64,
    /// SMTP connections in all.
    #[arg(long, value_name = "N", default_value_t = mock_server::smtp::MAX_SMTP_CONNECTIONS)]
    smtp_max_connections: usize,
    /// Milliseconds to wait before answering an unrecognized command (Exchange Online: about 5000).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    smtp_tarpit_ms: u64,
    /// Seconds to send an HTTP request head (slowloris guard).
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    http_header_read_timeout: u64,
    /// Seconds from an HTTP request's head to its answer, body included (408 beyond).
    #[arg(long, value_name = "SECONDS", default_value_t = mock_server::https::HTTP_REQUEST_TIMEOUT.as_secs())]
    http_request_timeout: u64,
    /// Close an HTTP/1 keep-alive or HTTP/2 connection idle for this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = mock_server::https::HTTP_IDLE_TIMEOUT.as_secs())]
    http_idle_timeout: u64,
    /// Seconds between HTTP/2 PINGs to a peer.
    #[arg(long, value_name = "SECONDS", default_value_t = mock_server::https::HTTP2_KEEP_ALIVE_INTERVAL.as_secs())]
    http2_keep_alive_interval: u64,
    /// Seconds to wait for a PING acknowledgement before closing an HTTP/2 connection.
    #[arg(long, value_name = "SECONDS", default_value_t = mock_server::https::HTTP2_KEEP_ALIVE_TIMEOUT.as_secs())]
    http2_keep_alive_timeout: u64,
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
    /// Default: $XDG_DATA_HOME/mock-server/ca, else ~/.local/share/mock-server/ca.
    #[arg(long, value_name = "DIR", env = dropin::CA_DIR_ENV)]
    ca_dir: Option<PathBuf>,
    /// Replace the CA kept in the CA folder with a fresh one (trust it again afterwards).
    #[arg(long)]
    new_ca: bool,
    /// Drop-in mode: Microsoft's ports (443; IMAP 993/143; POP3 995/110; SMTP 587; a port
    /// flag still overrides) and Microsoft's host names on the certificate. Needs the hosts
    /// lines (`mock-server hosts install`) and the CA trusted (`mock-server trust install`).
    #[arg(long)]
    real_hosts: bool,
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
    /// AADSTS code for client credentials on /common: 9001023 (the service's answers, the error reference) or 90010 (MSAL.NET's own message).
    #[arg(long, value_name = "CODE", default_value_t = 9001023, value_parser = parse_common_code)]
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
    /// Memory the in-memory journal may hold, in bytes; older entries are dropped from
    /// memory first (and stay in --journal-file).
    #[arg(long, value_name = "BYTES", default_value_t = mock_server::journal::DEFAULT_JOURNAL_MAX_BYTES)]
    journal_max_bytes: usize,
    /// Bytes one mailbox may hold, every copy counted (Exchange Online: 50 or 100 GB; the
    /// mock holds mail in memory). Past it APPEND and COPY answer NO and SMTP delivers no copy.
    #[arg(long, value_name = "BYTES", default_value_t = mock_server::mailstore::DEFAULT_QUOTA_BYTES)]
    mailbox_quota_bytes: u64,
    /// Messages one mailbox may hold, all folders together (Exchange Online: 1 million per folder).
    #[arg(long, value_name = "N", default_value_t = mock_server::mailstore::MAX_MESSAGES)]
    mailbox_max_messages: usize,
    /// Folders one mailbox may hold (Exchange Online: 10,000).
    #[arg(long, value_name = "N", default_value_t = mock_server::mailstore::MAX_FOLDERS)]
    mailbox_max_folders: usize,
    /// Levels of folders one mailbox may nest (Exchange Online: 300).
    #[arg(long, value_name = "N", default_value_t = mock_server::mailstore::MAX_FOLDER_DEPTH)]
    mailbox_max_folder_depth: usize,
    /// Arm the faults in FILE (a JSON array of faults, format in fixtures/README.md) at start.
    #[arg(long, value_name = "FILE")]
    faults: Option<PathBuf>,
    /// POP3 port with implicit TLS (default 9995; Exchange and --real-hosts: 995; 0 = any free port).
    #[arg(long, value_name = "N")]
    pop3s_port: Option<u16>,
    /// POP3 port with STLS (default 9110; Exchange and --real-hosts: 110; 0 = any free port).
    #[arg(long, value_name = "N")]
    pop3_port: Option<u16>,
    /// The POP3 era alone, overriding --personality: exo-2025 (tcpproxy greeting, "-ERR
    /// Basic authentication is disabled"; exo-2026 is the same on POP3) or exo-2018 (classic
    /// greeting; exo-2016 and exo-2019 are the same on POP3).
    #[arg(long, value_name = "ERA", value_parser = ["exo-2026", "exo-2025", "exo-2019", "exo-2018", "exo-2016"])]
    pop3_personality: Option<String>,
    /// POP3 autologout after this many seconds without a command (`-ERR Connection is closed. 12`).
    #[arg(long, value_name = "SECONDS", default_value_t = 1800)]
    pop3_idle_timeout: u64,
    /// Close a POP3 connection not authenticated this many seconds after connecting.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pop3_pre_auth_timeout: u64,
    /// Failed POP3 authentications before `Connection is closed. 21`.
    #[arg(long, value_name = "N", default_value_t = mock_server::pop3::MAX_FAILED_AUTH)]
    pop3_max_failed_auth: u32,
    /// Longest POP3 command line in bytes (Exchange's MaxCommandSize, 512).
    #[arg(long, value_name = "BYTES", default_value_t = mock_server::pop3::MAX_COMMAND_LINE)]
    pop3_max_command_line: usize,
    /// Longest POP3 SASL response line in bytes (Exchange: 4096).
    #[arg(long, value_name = "BYTES", default_value_t = mock_server::pop3::MAX_SASL_LINE)]
    pop3_max_sasl_line: usize,
    /// POP3 connections in all.
    #[arg(long, value_name = "N", default_value_t = mock_server::pop3::MAX_POP3_CONNECTIONS)]
    pop3_max_connections: usize,
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
    /// Add (install) or remove (uninstall) the block in /etc/hosts that sends Microsoft's
    /// names (login.microsoftonline.com, outlook.office365.com, …) to 127.0.0.1 and ::1.
    Hosts {
        action: Action,
        /// The hosts file to edit.
        #[arg(long, value_name = "PATH", default_value = dropin::hosts::SYSTEM_HOSTS)]
        hosts_file: PathBuf,
    },
    /// Trust (install) or stop trusting (uninstall) the CA in the system store, every JDK's
    /// cacerts and the NSS databases (~/.pki/nssdb, every Firefox profile), as
    /// `mkcert -install` does.
    Trust {
        action: Action,
        /// The CA folder (default: the per-user one the server uses).
        #[arg(long, value_name = "DIR", env = dropin::CA_DIR_ENV)]
        ca_dir: Option<PathBuf>,
        /// TEST ONLY: look for every store under DIR instead of / (and run no system tool).
        #[arg(long, value_name = "DIR", hide = true)]
        root: Option<PathBuf>,
    },
}

/// Add or remove: the two verbs of `hosts` and `trust`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Install,
    Uninstall,
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
    match &args.command {
        Some(Command::Admin { args }) => return admin_cli::run(args),
        Some(Command::Hosts { action, hosts_file }) => {
            return report(dropin::hosts::apply(hosts_file, *action == Action::Install))
        }
        Some(Command::Trust { action, ca_dir, root }) => return report(trust(ca_dir.clone(), root.clone(), *action)),
        None => {}
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

/// Print a subcommand's report, or its error; the exit code.
fn report(result: anyhow::Result<String>) -> ExitCode {
    match result {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mock-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The CA folder: the one given, else the per-user default.
fn ca_dir_or_default(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    given.or_else(dropin::default_ca_dir).ok_or_else(|| {
        anyhow::anyhow!("no home folder for the CA (neither XDG_DATA_HOME nor HOME is set): give --ca-dir DIR")
    })
}

fn trust(ca_dir: Option<PathBuf>, root: Option<PathBuf>, action: Action) -> anyhow::Result<String> {
    let test_root = root.is_some();
    let opts = dropin::trust::Options {
        ca_dir: ca_dir_or_default(ca_dir)?,
        root: root.unwrap_or_else(|| PathBuf::from("/")),
        java_home: std::env::var_os("JAVA_HOME").filter(|_| !test_root).map(PathBuf::from),
        home: std::env::var_os("HOME").map(PathBuf::from),
        update_system: !test_root,
    };
    dropin::trust::apply(&opts, action == Action::Install)
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
        // The per-protocol option wins; without it, --personality (clap restricts both to
        // known eras, so the fallback to the default is never taken).
        personality: Personality::parse(args.imap_personality.as_deref().unwrap_or(&args.personality))
            .unwrap_or_default(),
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
        exists_after_expunge: args.imap_exists_after_expunge,
        ..ImapConfig::default()
    };
    let pop3 = mock_server::pop3::Pop3Config {
        personality: mock_server::pop3::Personality::parse(
            args.pop3_personality.as_deref().unwrap_or(&args.personality),
        )
        .unwrap_or_default(),
        xoauth2_mode: imap.xoauth2_mode,
        idle_timeout: std::time::Duration::from_secs(args.pop3_idle_timeout),
        pre_auth_timeout: std::time::Duration::from_secs(args.pop3_pre_auth_timeout),
        max_failed_auth: args.pop3_max_failed_auth,
        max_command_line: args.pop3_max_command_line,
        max_sasl_line: args.pop3_max_sasl_line,
        max_connections: args.pop3_max_connections,
        ..mock_server::pop3::Pop3Config::default()
    };
    let smtp = SmtpConfig {
        personality: mock_server::smtp::Personality::parse(
            args.smtp_personality.as_deref().unwrap_or(&args.personality),
        )
        .unwrap_or_default(),
        continuation_space: args.smtp_continuation == "space",
        xoauth2_mode: if args.xoauth2 == "lenient" {
            Mode::Lenient
        } else {
            Mode::Strict
        },
        max_message_size: args.smtp_max_message_size,
        max_line: args.smtp_max_line,
        max_recipients: args.smtp_max_recipients,
        pre_auth_timeout: std::time::Duration::from_secs(args.smtp_pre_auth_timeout),
        idle_timeout: std::time::Duration::from_secs(args.smtp_idle_timeout),
        max_connections: args.smtp_max_connections,
        tarpit: std::time::Duration::from_millis(args.smtp_tarpit_ms),
        ..SmtpConfig::default()
    };
    let real = args.real_hosts;
    let port = |given: Option<u16>, ours: u16, microsoft: u16| given.unwrap_or(if real { microsoft } else { ours });
    use dropin::RealPorts;
    let mut builder = MockServer::builder()
        .bind(args.bind)
        // The hosts block maps Microsoft's names to ::1 too, which most clients try first.
        .ipv6_loopback_too(real)
        .https_port(port(args.https_port, DEFAULT_HTTPS_PORT, RealPorts::HTTPS))
        .imaps_port(port(args.imaps_port, DEFAULT_IMAPS_PORT, RealPorts::IMAPS))
        .imap_port(port(args.imap_port, DEFAULT_IMAP_PORT, RealPorts::IMAP))
        .imap_config(imap)
        .pop3s_port(port(args.pop3s_port, DEFAULT_POP3S_PORT, RealPorts::POP3S))
        .pop3_port(port(args.pop3_port, DEFAULT_POP3_PORT, RealPorts::POP3))
        .pop3_config(pop3)
        .smtp_port(port(
            args.smtp_port,
            mock_server::server::DEFAULT_SMTP_PORT,
            RealPorts::SMTP,
        ))
        .smtp_config(smtp)
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
        .journal_max_bytes(args.journal_max_bytes)
        .mailbox_limits(mock_server::mailstore::MailboxLimits {
            quota_bytes: args.mailbox_quota_bytes,
            max_messages: args.mailbox_max_messages,
            max_folders: args.mailbox_max_folders,
            max_depth: args.mailbox_max_folder_depth,
        })
        .http_request_timeout(std::time::Duration::from_secs(args.http_request_timeout))
        .http_idle_timeout(std::time::Duration::from_secs(args.http_idle_timeout))
        .http2_keep_alive(
            std::time::Duration::from_secs(args.http2_keep_alive_interval),
            std::time::Duration::from_secs(args.http2_keep_alive_timeout),
        )
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
    // The command line keeps its CA in one folder (trusted once); the Rust API's default
    // stays a fresh CA per server.
    let ca_dir = ca_dir_or_default(args.ca_dir.clone())?;
    if args.new_ca {
        mock_server::tls::remove_ca(&ca_dir)?;
    }
    builder = builder.ca_dir(&ca_dir);
    if real {
        for h in dropin::MICROSOFT_HOSTS {
            builder = builder.hostname(h);
        }
    }
    for h in &args.hostnames {
        builder = builder.hostname(h);
    }
    let server = match builder.start().await {
        Ok(s) => s,
        Err(e) => match dropin::explain_start_error(&e) {
            Some(text) => anyhow::bail!(text),
            None => return Err(e.into()),
        },
    };
    print_summary(&server);
    if real {
        println!(
            "{}",
            dropin::real_hosts_notice(server.ca_file(), &ca_dir, server.ipv6_loopback_addrs())
        );
    }
    if let Some(path) = &args.ready_file {
        server
            .write_ready_file(path)
            .with_context(|| format!("writing the ready file {}", path.display()))?;
    }
    wait_for_signal().await;
    eprintln!("mock-server: stopping");
    server.shutdown().await;
    if let Some(path) = &args.ready_file {
        // A ready file left behind would send the next watcher to a dead server.
        if let Err(e) = std::fs::remove_file(path) {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove the ready file");
        }
    }
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
    println!(
        "mock-server: Exchange Online POP3 on {} (TLS) and {} (STLS)",
        server.pop3s_addr(),
        server.pop3_addr()
    );
    println!(
        "mock-server: Exchange Online SMTP submission on {} (STARTTLS)",
        server.smtp_addr()
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
