//! The `mock-server` binary as a user runs it: ready file, CA folder, host names, errors.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod common;
use common::{start as start_with, tempdir as common_tempdir, Running, BIN, EPHEMERAL_PORTS};

fn tempdir(name: &str) -> PathBuf {
    common_tempdir(&format!("cli-{name}"))
}

fn start(dir: &Path, extra: &[&str]) -> Running {
    start_with(dir, extra, Stdio::piped())
}

fn client(ca_file: &str, resolve: Option<(&str, std::net::SocketAddr)>) -> reqwest::Client {
    let pem = std::fs::read(ca_file).expect("ca file");
    let mut b = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).expect("pem")])
        .no_proxy();
    if let Some((name, addr)) = resolve {
        b = b.resolve(name, addr);
    }
    b.build().expect("client")
}

#[tokio::test]
async fn ready_file_names_the_url_ca_and_tenants_and_the_summary_helps() {
    let dir = tempdir("ready");
    let mut run = start(&dir, &[]);
    let url = run.ready["https_url"].as_str().expect("url").to_string();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let ca = run.ready["ca_file"].as_str().expect("ca").to_string();
    assert!(Path::new(&ca).is_absolute());
    let tenants = run.ready["tenants"].as_array().expect("tenants");
    assert_eq!(tenants[0]["id"], "c0ffee00-1111-4222-8333-444455556666");
    assert_eq!(
        tenants[0]["domains"],
        serde_json::json!(["contoso.onmicrosoft.com", "contoso.com"])
    );
    assert_eq!(
        tenants[0]["authority"],
        format!("{url}/c0ffee00-1111-4222-8333-444455556666")
    );
    assert_eq!(tenants[1]["id"], "fab00000-1111-4222-8333-444455556666");
    for key in ["imaps_addr", "imap_addr"] {
        let addr: std::net::SocketAddr = run.ready[key].as_str().expect(key).parse().expect("host:port");
        let mut s = std::net::TcpStream::connect(addr).expect("IMAP port listening");
        if key == "imap_addr" {
            let mut greeting = [0u8; 52];
            s.read_exact(&mut greeting).expect("greeting");
            assert_eq!(&greeting, b"* OK The Microsoft Exchange IMAP4 service is ready. ");
        }
    }

    let r = client(&ca, None)
        .post(format!("{url}/contoso.com/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "00000000-0000-4000-8000-00000000a001"),
            ("client_secret", "poller-secret-value"),
            ("scope", "https://outlook.office365.com/.default"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);

    let _ = run.child.kill();
    let mut out = String::new();
    run.child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read");
    assert!(
        out.contains(&format!("authority {url}/c0ffee00-1111-4222-8333-444455556666")),
        "{out}"
    );
    assert!(
        out.contains("00000000-0000-4000-8000-00000000a001") && out.contains("poller-secret-value"),
        "{out}"
    );
    assert!(out.contains(&ca), "{out}");
}

#[tokio::test]
async fn ca_dir_is_created_once_and_reused_and_hostnames_are_on_the_certificate() {
    let dir = tempdir("ca");
    let ca_dir = dir.join("ca");
    let first = start(
        &dir,
        &[
            "--ca-dir",
            ca_dir.to_str().expect("utf8"),
            "--hostname",
            "login.microsoftonline.com",
        ],
    );
    let pem1 = std::fs::read_to_string(ca_dir.join("ca.pem")).expect("ca.pem kept");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(ca_dir.join("ca.key"))
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "CA key readable by others: {mode:o}");
    }
    // The extra name validates: resolve login.microsoftonline.com to our port.
    let url = first.ready["https_url"].as_str().expect("url");
    let addr: std::net::SocketAddr = url.trim_start_matches("https://").parse().expect("addr");
    let ca = first.ready["ca_file"].as_str().expect("ca");
    let c = client(ca, Some(("login.microsoftonline.com", addr)));
    let r = c
        .get(format!(
            "https://login.microsoftonline.com:{}/contoso.com/v2.0/.well-known/openid-configuration",
            addr.port()
        ))
        .send()
        .await
        .expect("TLS with the extra host name");
    let doc: serde_json::Value = r.json().await.expect("json");
    assert_eq!(
        doc["token_endpoint"],
        format!(
            "https://login.microsoftonline.com:{}/c0ffee00-1111-4222-8333-444455556666/oauth2/v2.0/token",
            addr.port()
        )
    );
    drop(first);
    let second = start(&dir, &["--ca-dir", ca_dir.to_str().expect("utf8")]);
    let pem2 = std::fs::read_to_string(ca_dir.join("ca.pem")).expect("ca.pem");
    assert_eq!(pem1, pem2, "the CA is reused");
    assert_eq!(second.ready["ca_file"], ca_dir.join("ca.pem").to_str().expect("utf8"));
}

#[test]
fn a_bad_fixture_is_reported_with_file_and_json_path() {
    let dir = tempdir("fixture");
    let fixture = dir.join("broken.json");
    std::fs::write(
        &fixture,
        r#"{"signing_keys":[{"private_key":"k.pem","certificate":"c.pem"}],"tenants":[{"id":"not-a-guid","display_name":"X","domains":[]}]}"#,
    )
    .expect("write");
    let out = Command::new(BIN)
        .args(EPHEMERAL_PORTS)
        .arg("--fixture")
        .arg(&fixture)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken.json") && err.contains("signing_keys[0].private_key"),
        "{err}"
    );

    // A fixture copied from the demo tenant with a typo in a field name.
    let demo =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/demo-tenant.json")).expect("demo");
    let fixtures = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures"));
    let typo = fixtures.join(format!("typo-{}.json", std::process::id()));
    std::fs::write(&typo, demo.replacen("\"public_client\"", "\"public_clinet\"", 1)).expect("write");
    let out = Command::new(BIN)
        .args(EPHEMERAL_PORTS)
        .arg("--fixture")
        .arg(&typo)
        .output()
        .expect("run");
    let _ = std::fs::remove_file(&typo);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("tenants[0].applications[7]") && err.contains("public_clinet"),
        "{err}"
    );
}

#[tokio::test]
async fn the_demo_fixture_file_loads_like_the_embedded_one() {
    let dir = tempdir("demo-file");
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/demo-tenant.json");
    let run = start(&dir, &["--fixture", fixture]);
    assert_eq!(run.ready["tenants"].as_array().map(Vec::len), Some(2));
}

/// A clean stop (SIGTERM) removes the ready file; a restart on the same journal file
/// continues its sequence numbers instead of starting again at 1.
#[cfg(unix)]
#[tokio::test]
async fn a_clean_stop_removes_the_ready_file_and_a_restart_continues_the_journal() {
    let dir = tempdir("restart");
    let journal = dir.join("journal.jsonl");
    let journal_arg = journal.to_str().expect("utf-8 path");
    let token = |run: &Running| {
        let url = run.ready["https_url"].as_str().expect("url").to_string();
        let ca = run.ready["ca_file"].as_str().expect("ca").to_string();
        async move {
            let r = client(&ca, None)
                .post(format!("{url}/contoso.com/oauth2/v2.0/token"))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", "00000000-0000-4000-8000-00000000a001"),
                    ("client_secret", "poller-secret-value"),
                    ("scope", "https://outlook.office365.com/.default"),
                ])
                .send()
                .await
                .expect("post");
            assert_eq!(r.status(), 200);
        }
    };
    for _ in 0..2 {
        let mut run = start(&dir, &["--journal-file", journal_arg]);
        token(&run).await;
        token(&run).await;
        let killed = Command::new("kill")
            .args(["-TERM", &run.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(killed.success());
        let status = run.child.wait().expect("wait");
        assert!(status.success(), "a signal is a clean stop: {status}");
        assert!(!run.ready_file.exists(), "the ready file is removed on a clean stop");
    }
    let seqs: Vec<u64> = std::fs::read_to_string(&journal)
        .expect("journal")
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("json")["seq"]
                .as_u64()
                .expect("seq")
        })
        .collect();
    assert_eq!(seqs, vec![1, 2, 3, 4]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--personality` sets all three protocols' era; a per-protocol option overrides it.
#[test]
fn personality_sets_every_protocol_and_per_protocol_options_override_it() {
    use std::io::{BufRead, BufReader};
    let first_line = |run: &Running, key: &str| {
        let addr: std::net::SocketAddr = run.ready[key].as_str().expect(key).parse().expect("host:port");
        let s = std::net::TcpStream::connect(addr).expect("listening");
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("timeout");
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).expect("first line");
        line
    };
    let dir = tempdir("personality");
    let mut run = start(&dir, &["--personality", "exo-2026", "--pop3-personality", "exo-2018"]);
    // IMAP: 2026's tcpproxy greeting (MailKit #2016).
    let imap = first_line(&run, "imap_addr");
    assert!(
        imap.starts_with("* OK Microsoft Exchange IMAP4 service ready. "),
        "{imap}"
    );
    assert!(
        imap.contains(" (tcpproxy/15.21.0406.000 BACKENDAUTHENTICATE) ["),
        "{imap}"
    );
    // POP3: overridden to the classic greeting.
    let pop3 = first_line(&run, "pop3_addr");
    assert!(
        pop3.starts_with("+OK The Microsoft Exchange POP3 service is ready. ["),
        "{pop3}"
    );
    // SMTP: exo-2026 is 2025 on SMTP, the banner ends with the id.
    let smtp = first_line(&run, "smtp_addr");
    assert!(smtp.starts_with("220 ") && smtp.ends_with("]\r\n"), "{smtp}");
    let _ = run.child.kill();
}
