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

/// The start notice on stdout, up to its last line (the environment for Node).
fn start_notice(run: &mut Running) -> String {
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
    notice
}

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
    let notice = start_notice(&mut run);
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

/// Whether this machine can listen on `::1` at all (containers may have IPv6 off).
fn has_ipv6_loopback() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

#[tokio::test]
async fn real_hosts_serves_ipv6_loopback_too_since_the_hosts_block_maps_the_names_there() {
    if !has_ipv6_loopback() {
        eprintln!("skipped: no IPv6 loopback on this machine (mock-server tolerates it)");
        return;
    }
    let dir = tempdir("dropin-ipv6");
    let mut run = start(&dir, &["--real-hosts"], Stdio::piped());
    let port = |key: &str| -> u16 {
        let addr: std::net::SocketAddr = run.ready[key]
            .as_str()
            .expect("addr")
            .trim_start_matches("https://")
            .parse()
            .expect("addr");
        addr.port()
    };
    let https = port("https_url");
    let (imap, pop3, smtp) = (port("imap_addr"), port("pop3_addr"), port("smtp_addr"));
    // The plain-text ports greet on ::1 as on 127.0.0.1.
    for (p, greeting) in [(imap, "* OK"), (pop3, "+OK"), (smtp, "220")] {
        let tcp = std::net::TcpStream::connect(("::1", p)).unwrap_or_else(|e| panic!("[::1]:{p}: {e}"));
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("timeout");
        let mut line = String::new();
        std::io::BufReader::new(tcp).read_line(&mut line).expect("greeting");
        assert!(line.starts_with(greeting), "[::1]:{p} said {line:?}");
    }
    for key in ["imaps_addr", "pop3s_addr"] {
        std::net::TcpStream::connect(("::1", port(key))).unwrap_or_else(|e| panic!("{key} on ::1: {e}"));
    }
    // HTTPS on ::1 under Microsoft's name, with the same certificate.
    let pem = std::fs::read(run.ready["ca_file"].as_str().expect("ca")).expect("ca file");
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).expect("pem")])
        .resolve("login.microsoftonline.com", ([0, 0, 0, 0, 0, 0, 0, 1], https).into())
        .no_proxy()
        .build()
        .expect("client");
    let r = client
        .get(format!(
            "https://login.microsoftonline.com:{https}/contoso.com/v2.0/.well-known/openid-configuration"
        ))
        .send()
        .await
        .expect("HTTPS on ::1");
    assert!(r.status().is_success(), "{}", r.status());
    let notice = start_notice(&mut run);
    assert!(
        notice.contains(&format!("::1 is served too (ports {https}, ")),
        "{notice}"
    );
    drop(run);

    // Without --real-hosts only 127.0.0.1 listens, as before.
    let run = start(&dir, &[], Stdio::null());
    let addr: std::net::SocketAddr = run.ready["imap_addr"].as_str().expect("addr").parse().expect("addr");
    assert!(std::net::TcpStream::connect(("::1", addr.port())).is_err());
    drop(run);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A machine without IPv6 loopback: a private network namespace (root only) whose `lo`
/// has IPv6 switched off. The server starts all the same and says ::1 is not served.
#[test]
fn real_hosts_starts_without_ipv6_loopback_and_says_so() {
    let netns = Command::new("unshare")
        .args(["--net", "sh", "-c", "ip link set lo up"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !netns {
        eprintln!("skipped: cannot make a network namespace (unshare or ip missing, or not root)");
        return;
    }
    let dir = tempdir("dropin-no-ipv6");
    let ready_file = dir.join("ready.json");
    let script = "ip link set lo up && echo 1 > /proc/sys/net/ipv6/conf/lo/disable_ipv6 && exec \"$0\" \"$@\"";
    let mut child = Command::new("unshare")
        .args(["--net", "sh", "-c", script, BIN, "--real-hosts"])
        .args(EPHEMERAL_PORTS)
        .arg("--ready-file")
        .arg(&ready_file)
        .env("MOCK_SERVER_CA_DIR", dir.join("ca"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let ready = wait_for_ready(&mut child, &ready_file, READY_TIMEOUT).expect("ready without ::1");
    let mut run = Running {
        child,
        ready_file,
        ready,
    };
    let notice = start_notice(&mut run);
    assert!(notice.contains("::1 is not served"), "{notice}");
    drop(run);
    let _ = std::fs::remove_dir_all(&dir);
}
