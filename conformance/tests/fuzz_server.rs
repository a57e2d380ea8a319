//! `fuzz-server` against a deliberately fragile IMAP server (it hangs up without a word on
//! an XOAUTH2 string without ^A: the fuzzer must find and shrink that) and against our
//! mock-server (no failure). Both run in-process over real TLS on 127.0.0.1 port 0.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use conformance::fuzz::server::{self, parse_target, Config, Fault};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The fragile server: Exchange-like answers, except that an XOAUTH2 string without ^A
/// makes it close the connection without answering. Returns its address and CA.
async fn fragile_server() -> (std::net::SocketAddr, String) {
    let tls = mock_server::tls::build(None, &[]).expect("TLS material");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new((*tls.server_config).clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(s) = acceptor.accept(tcp).await else { return };
                let mut s = BufReader::new(s);
                let _ = s.write_all(b"* OK fragile IMAP4 ready.\r\n").await;
                let mut pending: Option<String> = None;
                let mut line = Vec::new();
                loop {
                    line.clear();
                    match s.read_until(b'\n', &mut line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    let text = String::from_utf8_lossy(&line).trim_end().to_string();
                    let words: Vec<&str> = text.split(' ').collect();
                    let (tag, blob) = match (pending.take(), words.as_slice()) {
                        (Some(tag), _) if text == "*" => {
                            let _ = s.write_all(format!("{tag} NO canceled\r\n").as_bytes()).await;
                            continue;
                        }
                        (Some(tag), _) => (tag, text.clone()),
                        (None, [tag, cmd, mech]) if cmd.eq_ignore_ascii_case("AUTHENTICATE") && *mech == "XOAUTH2" => {
                            pending = Some(tag.to_string());
                            let _ = s.write_all(b"+\r\n").await;
                            continue;
                        }
                        (None, [tag, cmd, _, blob]) if cmd.eq_ignore_ascii_case("AUTHENTICATE") => {
                            (tag.to_string(), blob.to_string())
                        }
                        (None, [tag, cmd, ..]) => {
                            let answer = match cmd.to_ascii_uppercase().as_str() {
                                "CAPABILITY" => {
                                    format!("* CAPABILITY IMAP4rev1 AUTH=XOAUTH2 SASL-IR\r\n{tag} OK done\r\n")
                                }
                                "NOOP" => format!("{tag} OK done\r\n"),
                                "LOGOUT" => {
                                    let _ = s.write_all(format!("* BYE bye\r\n{tag} OK done\r\n").as_bytes()).await;
                                    return;
                                }
                                _ => format!("{tag} BAD what\r\n"),
                            };
                            let _ = s.write_all(answer.as_bytes()).await;
                            continue;
                        }
                        _ => {
                            let _ = s.write_all(b"* BAD what\r\n").await;
                            continue;
                        }
                    };
                    let answer = match STANDARD.decode(&blob) {
                        // The bug: it splits on ^A and, finding none, gives up on the client.
                        Ok(raw) if !raw.contains(&1) => return,
                        Ok(_) => format!("{tag} NO AUTHENTICATE failed.\r\n"),
                        Err(_) => format!("{tag} BAD not base64\r\n"),
                    };
                    let _ = s.write_all(answer.as_bytes()).await;
                }
            });
        }
    });
    (addr, tls.ca_pem)
}

fn config(target: &str, ca_pem: &str, out: &std::path::Path) -> Config {
    Config {
        target: parse_target(target).expect("target"),
        ca_pem: Some(ca_pem.as_bytes().to_vec()),
        cases: 30,
        seed: 1,
        token: conformance::fuzz::FAKE_TOKEN.into(),
        out_dir: out.to_path_buf(),
        verbose: false,
    }
}

fn out_dir(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("conformance-fuzz-server-test-{}-{name}", std::process::id()))
}

#[tokio::test]
async fn finds_the_fragile_servers_silent_hang_up_and_shrinks_it() {
    let (addr, ca) = fragile_server().await;
    let out = out_dir("fragile");
    let cfg = config(&format!("imaps://{addr}"), &ca, &out);
    let summary = server::run(&cfg, &|_| {}).await.expect("run");
    assert!(!summary.findings.is_empty(), "{summary:?}");
    for f in &summary.findings {
        assert_eq!(f.fault, Fault::NoAnswer, "{f:?}");
        assert_eq!(
            f.mutations.len(),
            1,
            "one defective XOAUTH2 string is all it takes: {f:?}"
        );
        let rec = std::fs::read_to_string(&f.recording).expect("recording");
        assert!(
            rec.contains("@provenance: conformance fuzz-server --seed 1, case"),
            "{rec}"
        );
        assert!(rec.trim_end().ends_with("S: <closed>"), "{rec}");
        conformance::format::parse_imap("finding", &rec).expect("a valid recording");
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[tokio::test]
async fn our_mock_server_survives_the_default_cases() {
    let mock = mock_server::MockServer::start().await;
    let out = out_dir("mock");
    let cfg = config(&format!("imaps://{}", mock.imaps_addr()), mock.ca_pem(), &out);
    let summary = server::run(&cfg, &|_| {}).await.expect("run");
    assert!(summary.findings.is_empty(), "{:#?}", summary.findings);
    assert_eq!(summary.cases, 30);
    // The STARTTLS port, spoken to in plain text, survives too.
    let cfg = config(&format!("imap://{}", mock.imap_addr()), mock.ca_pem(), &out);
    let summary = server::run(&Config { cases: 10, ..cfg }, &|_| {}).await.expect("run");
    assert!(summary.findings.is_empty(), "{:#?}", summary.findings);
}

#[test]
fn a_remote_target_is_refused() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_conformance"))
        .args(["fuzz-server", "--target", "imaps://192.0.2.7:993"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a loopback address"));
}
