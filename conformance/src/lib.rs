//! The conformance suite: recordings of the documented success and failure exchanges of
//! Exchange Online and the Microsoft identity platform, replayed against the in-process
//! mock, against any server, and against clients.

pub mod format;
pub mod fuzz;
pub mod http_get;
pub mod replay;
pub mod token_steps;

use format::{ImapRecording, Line, TokenRecording};
use http_get::HttpGetRecording;
use replay::{Endpoints, Verdict};
use std::path::PathBuf;

/// Where the shipped recordings live.
pub fn default_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/recordings"))
}

/// Replay an IMAP, SMTP or POP3 recording against a fresh in-process mock, all three
/// protocols set to the recording's era (`@personality`, as `mock-server --personality`).
pub async fn imap_in_process(rec: &ImapRecording) -> Verdict {
    if !matches!(rec.protocol.as_str(), "imap" | "smtp" | "pop3") {
        return Verdict::Skip(format!("a {} recording", rec.protocol));
    }
    let (Some(personality), Some(smtp_personality), Some(pop3_personality)) = (
        mock_server::imap::Personality::parse(&rec.personality),
        mock_server::smtp::Personality::parse(&rec.personality),
        mock_server::pop3::Personality::parse(&rec.personality),
    ) else {
        return Verdict::Fail(format!("unknown personality {:?}", rec.personality));
    };
    let clock = mock_server::Clock::system();
    let server = match mock_server::MockServer::builder()
        .clock(clock.clone())
        .imap_config(mock_server::imap::ImapConfig {
            personality,
            ..Default::default()
        })
        .smtp_config(mock_server::smtp::SmtpConfig {
            personality: smtp_personality,
            ..Default::default()
        })
        .pop3_config(mock_server::pop3::Pop3Config {
            personality: pop3_personality,
            ..Default::default()
        })
        .start()
        .await
    {
        Ok(s) => s,
        Err(e) => return Verdict::Fail(format!("mock-server: {e}")),
    };
    let ep = Endpoints {
        https_url: Some(server.https_url().to_string()),
        imaps: server.imaps_addr(),
        imap: Some(server.imap_addr()),
        smtp: Some(server.smtp_addr()),
        pop3s: Some(server.pop3s_addr()),
        pop3: Some(server.pop3_addr()),
        ca_pem: server.ca_pem().as_bytes().to_vec(),
        token: None,
    };
    for setup in &rec.setup {
        let applied = match setup.as_str() {
            "smtp-auth-disabled-for-tenant" => server.admin().set_transport_config(None, true),
            other => return Verdict::Fail(format!("unknown @setup {other:?}")),
        };
        if let Err(e) = applied {
            return Verdict::Fail(format!("@setup {setup}: {e}"));
        }
    }
    let advance = |s: i64| clock.advance(time::Duration::seconds(s));
    replay::imap_against_server(rec, &ep, Some(&advance)).await
}

pub async fn token_in_process(rec: &TokenRecording) -> Verdict {
    let server = mock_server::MockServer::start().await;
    let ep = Endpoints {
        https_url: Some(server.https_url().to_string()),
        imaps: server.imaps_addr(),
        imap: Some(server.imap_addr()),
        smtp: Some(server.smtp_addr()),
        pop3s: Some(server.pop3s_addr()),
        pop3: Some(server.pop3_addr()),
        ca_pem: server.ca_pem().as_bytes().to_vec(),
        token: None,
    };
    replay::token_against_server(rec, &ep).await
}

/// Replay an HTTP GET recording (discovery) against a fresh in-process mock.
pub async fn http_get_in_process(rec: &HttpGetRecording) -> Verdict {
    let server = mock_server::MockServer::start().await;
    http_get::against_base(rec, server.https_url(), server.ca_pem().as_bytes()).await
}

/// Play the recording's server side to our client library and check both the lines it
/// sends and the outcome it reports (`@client-outcome`).
pub async fn client_library(rec: &ImapRecording) -> Verdict {
    let Some((exit, step)) = rec.client_outcome.clone() else {
        return Verdict::Skip("no @client-outcome".into());
    };
    // The scripted server speaks implicit TLS: IMAP on 993-style ports and POP3 on 995.
    let protocol = match rec.protocol.as_str() {
        "imap" => oauth_mail_check::Protocol::Imap,
        "pop3" => oauth_mail_check::Protocol::Pop3,
        p => return Verdict::Skip(format!("a {p} recording cannot be played to the client library")),
    };
    let (tenant, client_id, credential) = match (&rec.signin, replay::demo_app(&rec.app)) {
        (Some(upn), _) => (
            "contoso.onmicrosoft.com",
            "00000000-0000-4000-8000-00000000a008",
            oauth_mail_check::Credential::Password {
                username: upn.clone(),
                password: replay::demo_password(upn).unwrap_or_default().to_string(),
                client_secret: None,
            },
        ),
        (None, Some((t, id, secret))) => (t, id, oauth_mail_check::Credential::Secret(secret.into())),
        (None, None) => return Verdict::Fail(format!("unknown demo app {}", rec.app)),
    };
    let token_server = mock_server::MockServer::start().await;
    let (addr, ca_pem, script) = match replay::scripted_server(rec).await {
        Ok(x) => x,
        Err(e) => return Verdict::Fail(e),
    };
    let bundle = std::env::temp_dir().join(format!("conformance-{}-{}.pem", std::process::id(), addr.port()));
    if let Err(e) = std::fs::write(&bundle, format!("{}{ca_pem}", token_server.ca_pem())) {
        return Verdict::Fail(format!("{}: {e}", bundle.display()));
    }
    let delegated = rec.signin.is_some();
    let mut cfg = oauth_mail_check::Config::new(tenant, client_id, credential, &rec.user).with_protocol(protocol);
    cfg.authority = token_server.https_url().to_string();
    cfg.imap_host = "127.0.0.1".into();
    cfg.imap_port = addr.port();
    cfg.pop3_host = "127.0.0.1".into();
    cfg.pop3_port = addr.port();
    cfg.ca_file = Some(bundle.clone());
    if !delegated {
        cfg.scope = rec.scope.clone();
    }
    let report = oauth_mail_check::run(&cfg).await;
    let _ = std::fs::remove_file(&bundle);
    match script.await {
        Ok(Verdict::Pass) => {}
        Ok(v) => return v,
        Err(e) => return Verdict::Fail(format!("scripted server: {e}")),
    }
    if report.exit_code != exit {
        return Verdict::Fail(format!(
            "client exit code {} (expected {exit})\n{}",
            report.exit_code,
            report.render()
        ));
    }
    let failed = report.failed().map(|s| s.id.to_string());
    if step.is_some() && failed != step {
        return Verdict::Fail(format!(
            "client failed at {failed:?} (expected {step:?})\n{}",
            report.render()
        ));
    }
    Verdict::Pass
}

fn wire_summary(rec: &ImapRecording) -> String {
    let mut parts: Vec<String> = Vec::new();
    for l in &rec.lines {
        if let Line::S(s) = l {
            let text = s
                .split_once(' ')
                .map(|(t, rest)| if t == "*" { s.as_str() } else { rest })
                .unwrap_or(s);
            let interesting = match rec.protocol.as_str() {
                // SMTP: the AUTH answer and every 4xx/5xx reply.
                "smtp" => s.starts_with("235 ") || s.starts_with('4') || s.starts_with('5'),
                "pop3" => s.starts_with("-ERR") || s.starts_with("+OK User successfully authenticated"),
                _ => {
                    text.starts_with("NO ")
                        || text.starts_with("BAD ")
                        || text.starts_with("* BYE")
                        || text.starts_with("OK AUTHENTICATE")
                }
            };
            // SMTP's and POP3's volatile brackets say nothing in a table.
            let bare = s.replace(" [{*}]", "");
            let text = if rec.protocol == "imap" { text } else { bare.as_str() };
            if interesting && !text.contains("signing off") && parts.last().map(String::as_str) != Some(text) {
                parts.push(text.to_string());
            }
        }
    }
    parts
        .iter()
        .map(|p| format!("`{p}`"))
        .collect::<Vec<_>>()
        .join(", then ")
}

fn reproduce(rec: &ImapRecording) -> String {
    let needs_token = rec
        .lines
        .iter()
        .any(|l| matches!(l, Line::C(c) if c.contains("{xoauth2") || c.contains("{token}")));
    if !needs_token {
        return "no token needed".into();
    }
    let app = match (rec.app.as_str(), &rec.signin) {
        (_, Some(upn)) => format!("app 08 signed in as {upn}"),
        ("fabrikam", None) => "Fabrikam's app `…0fa001`".to_string(),
        (a, None) => format!("app {a}"),
    };
    let mut s = format!("{app}, `user={}`", rec.user);
    if rec.scope != "https://outlook.office365.com/.default" {
        s.push_str(&format!(", scope `{}`", rec.scope));
    }
    if rec.lines.iter().any(|l| matches!(l, Line::Advance(_))) {
        s.push_str(", clock advanced");
    }
    if rec.setup.iter().any(|x| x == "smtp-auth-disabled-for-tenant") {
        s.push_str(", `Set-TransportConfig -SmtpClientAuthenticationDisabled $true`");
    }
    s
}

/// The failure catalogue, as a Markdown table, generated from the recordings.
pub fn catalogue(imap: &[ImapRecording], token: &[TokenRecording], http: &[HttpGetRecording]) -> String {
    let mut out =
        String::from("| cause | token endpoint | mail server | reproduce (recording) | fix |\n|---|---|---|---|---|\n");
    for r in imap.iter().filter(|r| !r.meta.cause.is_empty()) {
        out.push_str(&format!(
            "| {} | {} | {} | {} (`{}`) | {} |\n",
            r.meta.cause,
            if r.meta.token_endpoint.is_empty() {
                "token issued"
            } else {
                &r.meta.token_endpoint
            },
            wire_summary(r),
            reproduce(r),
            r.meta.name,
            r.meta.fix
        ));
    }
    for r in token.iter().filter(|r| !r.cause.is_empty()) {
        let m = r.meta();
        out.push_str(&format!(
            "| {} | {} | none (no token) | `{}` |  {} |\n",
            m.cause, m.token_endpoint, m.name, m.fix
        ));
    }
    // Discovery answers are in the table only when they are a failure with a cause.
    for r in http.iter().filter(|r| !r.cause.is_empty()) {
        let m = r.meta();
        out.push_str(&format!(
            "| {} | {} | none (no token) | `{}` |  {} |\n",
            m.cause, m.token_endpoint, m.name, m.fix
        ));
    }
    out
}

pub const CATALOGUE_START: &str =
    "<!-- catalogue:start (generated by `cargo run -p conformance -- catalogue --write docs/conformance.md`) -->";
pub const CATALOGUE_END: &str = "<!-- catalogue:end -->";

/// `readme` with the catalogue section replaced; `None` when the markers are missing.
pub fn with_catalogue(readme: &str, table: &str) -> Option<String> {
    let start = readme.find(CATALOGUE_START)?;
    let end = readme.find(CATALOGUE_END)?;
    Some(format!(
        "{}{CATALOGUE_START}\n{table}{}",
        &readme[..start],
        &readme[end..]
    ))
}
