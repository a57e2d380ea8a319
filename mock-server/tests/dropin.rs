//! Drop-in mode from the command line: the per-user CA folder (stable, private, renewed
//! by --new-ca), `--real-hosts` (Microsoft's names on the certificate, the notice) and
//! the plain explanation of a port that is taken. Privileged ports themselves are proved
//! by tests/dropin/run.sh, inside a private mount namespace.

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};

mod common;
use common::{start, tempdir, BIN, EPHEMERAL_PORTS};
use e2e_tests::process::{wait_for_ready, Running, READY_TIMEOUT};

/// The binary with the per-user default folder under `data_home` (never the real one).
fn start_with_data_home(dir: &Path, data_home: &Path, extra: &[&str]) -> Running {
    let ready_file = dir.join("ready.json");
    let _ = std::fs::remove_file(&ready_file);
    let mut child = Command::new(BIN)
        .args(EPHEMERAL_PORTS)
        .arg("--ready-file")
        .arg(&ready_file)
        .args(extra)
        .env_remove("MOCK_SERVER_CA_DIR")
        .env("XDG_DATA_HOME", data_home)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let ready = wait_for_ready(&mut child, &ready_file, READY_TIMEOUT).expect("ready");
    Running {
        child,
        ready_file,
        ready,
    }
}

#[test]
fn the_default_ca_folder_is_private_and_the_same_from_one_start_to_the_next() {
    let dir = tempdir("dropin-default-ca");
    let data_home = dir.join("data");
    let folder = data_home.join("mock-server/ca");
    let first = start_with_data_home(&dir, &data_home, &[]);
    assert_eq!(first.ready["ca_file"], folder.join("ca.pem").to_str().expect("utf8"));
    let pem = std::fs::read_to_string(folder.join("ca.pem")).expect("ca.pem");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&folder).expect("folder").permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{mode:o}");
    }
    drop(first);
    let second = start_with_data_home(&dir, &data_home, &[]);
    assert_eq!(std::fs::read_to_string(folder.join("ca.pem")).expect("ca.pem"), pem);
    drop(second);
    let renewed = start_with_data_home(&dir, &data_home, &["--new-ca"]);
    assert_ne!(std::fs::read_to_string(folder.join("ca.pem")).expect("ca.pem"), pem);
    drop(renewed);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn real_hosts_puts_microsofts_names_on_the_certificate_and_says_what_it_needs() {
    let dir = tempdir("dropin-real-hosts");
    // Port flags override --real-hosts' ports: everything on port 0 here.
    let mut run = start(&dir, &["--real-hosts"], Stdio::piped());
    let url = run.ready["https_url"].as_str().expect("url").to_string();
    let addr: std::net::SocketAddr = url.trim_start_matches("https://").parse().expect("addr");
    assert_ne!(addr.port(), 443);
    let pem = std::fs::read(run.ready["ca_file"].as_str().expect("ca")).expect("ca file");
    for name in [
        "login.microsoftonline.com",
        "login.windows.net",
        "sts.windows.net",
        "outlook.office365.com",
    ] {
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&pem).expect("pem")])
            .resolve(name, addr)
            .no_proxy()
            .build()
            .expect("client");
        let r = client
            .get(format!(
                "https://{name}:{}/contoso.com/v2.0/.well-known/openid-configuration",
                addr.port()
            ))
            .send()
            .await
            .unwrap_or_else(|e| panic!("TLS as {name}: {e}"));
        assert!(r.status().is_success(), "{name}: {}", r.status());
    }
    let stdout = run.child.stdout.take().expect("stdout");
    let mut notice = String::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.expect("line");
        notice.push_str(&line);
        notice.push('\n');
        if line.contains("NODE_EXTRA_CA_CERTS") {
            break;
        }
    }
    assert!(notice.contains("127.0.0.1 login.microsoftonline.com"), "{notice}");
    assert!(
        notice.contains("mock-server hosts install") || notice.contains("has them"),
        "{notice}"
    );
    assert!(notice.contains("mock-server trust install --ca-dir"), "{notice}");
    drop(run);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_port_in_use_is_explained() {
    let dir = tempdir("dropin-port-taken");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let out = Command::new(BIN)
        .args(["--https-port", "0", "--imap-port", "0", "--pop3s-port", "0"])
        .args(["--pop3-port", "0", "--smtp-port", "0", "--imaps-port", &port])
        .env("MOCK_SERVER_CA_DIR", dir.join("ca"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("another program already listens on port {port}")),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
