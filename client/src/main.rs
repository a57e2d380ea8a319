//! `oauth-mail-check`: can this app read (IMAP, POP3) or send from (SMTP) this mailbox
//! with OAuth 2.0? Each step is printed `[OK]`/`[FAIL]`, and a failure comes with what
//! to fix.
//!
//! App-only (client credentials with a secret or a certificate) or delegated (password,
//! device code, refresh token).
//!
//! Exit codes: 0 the mailbox is reachable; 1 refused by the identity platform or the mail
//! server; 2 usage, network or TLS error.

use clap::Parser;
use oauth_mail_check::assertion::Alg;
use oauth_mail_check::{run, Config, Credential, Protocol};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Check OAuth 2.0 access to an Exchange Online (Office 365) mailbox over IMAP, POP3 or SMTP"
)]
struct Args {
    /// Tenant id (GUID) or domain, e.g. contoso.onmicrosoft.com.
    tenant: String,
    /// Application (client) id.
    #[arg(long)]
    client_id: String,
    /// Client secret value (or OAUTH_MAIL_CHECK_CLIENT_SECRET, to keep it out of shell history).
    #[arg(
        long,
        env = "OAUTH_MAIL_CHECK_CLIENT_SECRET",
        hide_env_values = true,
        conflicts_with = "certificate"
    )]
    client_secret: Option<String>,
    /// Delegated: sign in as this user with a password (ROPC); needs --password.
    #[arg(long, requires = "password", conflicts_with_all = ["device_code", "refresh_token", "certificate"])]
    username: Option<String>,
    /// The user's password (or OAUTH_MAIL_CHECK_PASSWORD).
    #[arg(long, env = "OAUTH_MAIL_CHECK_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Delegated: sign in with the device code flow (prints where and which code to enter).
    #[arg(long, conflicts_with_all = ["refresh_token", "certificate"])]
    device_code: bool,
    /// Delegated: use a refresh token from an earlier sign-in (or OAUTH_MAIL_CHECK_REFRESH_TOKEN).
    #[arg(
        long,
        env = "OAUTH_MAIL_CHECK_REFRESH_TOKEN",
        hide_env_values = true,
        conflicts_with = "certificate"
    )]
    refresh_token: Option<String>,
    /// Certificate (PEM) registered for the app; needs --private-key.
    #[arg(long, requires = "private_key")]
    certificate: Option<PathBuf>,
    /// Private key (PEM, PKCS#8 or PKCS#1) of the certificate (or OAUTH_MAIL_CHECK_PRIVATE_KEY as a path).
    #[arg(long, env = "OAUTH_MAIL_CHECK_PRIVATE_KEY")]
    private_key: Option<PathBuf>,
    /// Client assertion signature: ps256 (x5t#S256, Microsoft's current advice) or rs256 (x5t).
    #[arg(long, default_value = "ps256", value_parser = ["ps256", "rs256"])]
    assertion_alg: String,
    /// The mailbox to open (XOAUTH2 user=).
    #[arg(long)]
    email: String,
    #[arg(long, default_value = "INBOX")]
    folder: String,
    #[arg(long, default_value = "https://login.microsoftonline.com")]
    authority: String,
    #[arg(long, default_value = "outlook.office365.com")]
    imap_host: String,
    #[arg(long, default_value_t = 993)]
    imap_port: u16,
    /// Plain connection upgraded with STARTTLS (IMAP, port 143) or STLS (POP3, port 110)
    /// instead of TLS from the start. SMTP always uses STARTTLS.
    #[arg(long)]
    starttls: bool,
    /// imap: sign in and list a folder; smtp: send a test message to the mailbox itself;
    /// pop3: sign in, STAT and LIST.
    #[arg(long, default_value = "imap", value_parser = ["imap", "smtp", "pop3"])]
    protocol: String,
    #[arg(long, default_value = "smtp.office365.com")]
    smtp_host: String,
    #[arg(long, default_value_t = 587)]
    smtp_port: u16,
    #[arg(long, default_value = "outlook.office365.com")]
    pop3_host: String,
    /// Default 995 (TLS), or 110 with --starttls.
    #[arg(long)]
    pop3_port: Option<u16>,
    /// SMTP: the sender (MAIL FROM and From:), default the mailbox (--email).
    #[arg(long)]
    from: Option<String>,
    /// SMTP: the recipient, default the mailbox itself.
    #[arg(long)]
    to: Option<String>,
    /// Trust only this CA (PEM) for HTTPS and IMAP, e.g. mock-server's.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Default: https://outlook.office365.com/.default (app), or
    /// "https://outlook.office.com/IMAP.AccessAsUser.All offline_access" (delegated modes;
    /// SMTP.Send or POP.AccessAsUser.All with --protocol smtp or pop3).
    #[arg(long)]
    scope: Option<String>,
    /// How many of the newest messages to list.
    #[arg(long, default_value_t = 10)]
    list: u32,
    /// Print the protocol trace (HTTP and IMAP) with tokens and secrets redacted.
    #[arg(short, long)]
    verbose: bool,
    /// Print the decoded claims of the access token.
    #[arg(long)]
    print_token: bool,
    /// Print one JSON report instead of text.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let secret = args.client_secret.clone();
    let delegated = match (&args.username, &args.password, args.device_code, &args.refresh_token) {
        (Some(u), Some(p), _, _) => Some(Credential::Password {
            username: u.clone(),
            password: p.clone(),
            client_secret: secret.clone(),
        }),
        (None, _, true, _) => Some(Credential::DeviceCode {
            client_secret: secret.clone(),
        }),
        (None, _, false, Some(rt)) => Some(Credential::RefreshToken {
            refresh_token: rt.clone(),
            client_secret: secret.clone(),
        }),
        _ => None,
    };
    let credential = match (&args.client_secret, &args.certificate, &args.private_key) {
        _ if delegated.is_some() => delegated.unwrap_or(Credential::DeviceCode { client_secret: None }),
        (Some(s), _, _) => Credential::Secret(s.clone()),
        (None, Some(cert), Some(key)) => {
            let read = |p: &PathBuf| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
            match (read(cert), read(key)) {
                (Ok(cert_pem), Ok(key_pem)) => Credential::Certificate {
                    cert_pem,
                    key_pem,
                    alg: if args.assertion_alg == "rs256" {
                        Alg::Rs256
                    } else {
                        Alg::Ps256
                    },
                },
                (Err(e), _) | (_, Err(e)) => {
                    eprintln!("oauth-mail-check: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        _ => {
            eprintln!("oauth-mail-check: give --client-secret (or OAUTH_MAIL_CHECK_CLIENT_SECRET), --certificate with --private-key, or a delegated mode: --username with --password, --device-code, --refresh-token");
            return ExitCode::from(2);
        }
    };
    let protocol = match args.protocol.as_str() {
        "smtp" => Protocol::Smtp,
        "pop3" => Protocol::Pop3,
        _ => Protocol::Imap,
    };
    let mut cfg = Config::new(&args.tenant, &args.client_id, credential, &args.email).with_protocol(protocol);
    cfg.smtp_host = args.smtp_host.clone();
    cfg.smtp_port = args.smtp_port;
    cfg.pop3_host = args.pop3_host.clone();
    cfg.pop3_port = args.pop3_port.unwrap_or(if args.starttls { 110 } else { 995 });
    cfg.from = args.from.clone();
    cfg.to = args.to.clone();
    cfg.folder = args.folder.clone();
    cfg.authority = args.authority.clone();
    cfg.imap_host = args.imap_host.clone();
    cfg.imap_port = args.imap_port;
    cfg.starttls = args.starttls;
    cfg.ca_file = args.ca_file.clone();
    if let Some(scope) = &args.scope {
        cfg.scope = scope.clone();
    }
    cfg.list = args.list;

    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("oauth-mail-check: {e}");
            return ExitCode::from(2);
        }
    };
    let mut report = runtime.block_on(run(&cfg));
    if !args.verbose {
        report.trace.clear();
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    } else {
        if args.verbose {
            for line in &report.trace {
                eprintln!("{line}");
            }
        }
        if args.print_token {
            if let Some(t) = &report.token {
                println!("{}", serde_json::to_string_pretty(&t.raw).unwrap_or_default());
            }
        }
        print!("{}", report.render());
    }
    ExitCode::from(report.exit_code)
}
