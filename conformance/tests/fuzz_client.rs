//! `conformance fuzz-client` against three clients over real TLS on 127.0.0.1: a
//! deliberately fragile Python client (its crash must be found and shrunk to a recording
//! that `conformance client` replays), CPython's imaplib, and our `oauth-mail-check`
//! (neither may fail).

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn out_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("conformance-fuzz-client-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn conformance(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_conformance"))
        .args(args)
        .current_dir(fixtures())
        .output()
        .expect("run conformance");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The client binary, built on demand when only this package was built.
fn oauth_mail_check() -> PathBuf {
    let exe = Path::new(env!("CARGO_BIN_EXE_conformance")).with_file_name("oauth-mail-check");
    if !exe.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo)
            .args(["build", "-q", "-p", "client", "--bin", "oauth-mail-check"])
            .status()
            .expect("run cargo build");
        assert!(ok.success(), "cargo build -p client failed");
    }
    exe
}

#[test]
fn finds_the_fragile_clients_crash_shrinks_it_and_the_recording_replays_it() {
    let out = out_dir("fragile");
    let o = out.to_string_lossy();
    let (ok, text) = conformance(&[
        "fuzz-client",
        "--seed",
        "1",
        "--out",
        &o,
        "--",
        "python3",
        "fragile_imap_client.py",
        "{host}",
        "{port}",
        "{ca_file}",
        "{token}",
    ]);
    assert!(!ok, "a failure must make the run fail\n{text}");
    assert!(text.contains("IndexError"), "{text}");
    assert!(text.contains("30 cases,") && text.contains("seed 1"), "{text}");
    let name = text
        .lines()
        .find_map(|l| l.split("imap/").nth(1).and_then(|r| r.strip_suffix(".txt")))
        .expect("a recording path in the summary")
        .to_string();
    let rec = std::fs::read_to_string(out.join("imap").join(format!("{name}.txt"))).expect("recording");
    assert!(
        rec.contains("@provenance: conformance fuzz-client --protocol imap --seed 1, case"),
        "{rec}"
    );
    assert!(rec.contains("@wire: escaped"), "{rec}");
    // Every shrunk finding needs exactly one mutation: the capability line is all it takes.
    assert!(
        text.lines()
            .filter(|l| l.starts_with("FAIL case"))
            .all(|l| l.contains("(1 of")),
        "{text}"
    );
    // The recording replays: the fragile client crashes the same way under `conformance client`.
    let (ok, replay) = conformance(&[
        "--recordings",
        &o,
        "client",
        &name,
        "--",
        "python3",
        "fragile_imap_client.py",
        "{host}",
        "{port}",
        "{ca_file}",
        "eyJ0",
    ]);
    assert!(replay.contains("IndexError"), "{replay}");
    assert!(ok, "the client followed the recorded script\n{replay}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn imaplib_survives_the_default_cases() {
    let out = out_dir("imaplib");
    let (ok, text) = conformance(&[
        "fuzz-client",
        "--seed",
        "1",
        "--out",
        &out.to_string_lossy(),
        "--",
        "python3",
        "imaplib_client.py",
        "{host}",
        "{port}",
        "{ca_file}",
        "{user}",
        "{token}",
    ]);
    assert!(ok && text.contains("30 cases, 0 failures, seed 1"), "{text}");
}

#[test]
fn oauth_mail_check_survives_the_default_cases() {
    // oauth-mail-check documents exit 2 for "usage, network or TLS error": not a crash.
    let exe = oauth_mail_check();
    let out = out_dir("omc");
    let (ok, text) = conformance(&[
        "fuzz-client",
        "--seed",
        "1",
        "--crash-exit-codes",
        "3-255",
        "--out",
        &out.to_string_lossy(),
        "--",
        &exe.to_string_lossy(),
        "contoso.onmicrosoft.com",
        "--client-id",
        "00000000-0000-4000-8000-00000000a001",
        "--client-secret",
        "poller-secret-value",
        "--email",
        "{user}",
        "--authority",
        "{https_url}",
        "--imap-host",
        "{host}",
        "--imap-port",
        "{port}",
        "--ca-file",
        "{ca_file}",
    ]);
    assert!(ok && text.contains("30 cases, 0 failures, seed 1"), "{text}");
}

#[test]
fn a_non_crashing_command_passes_and_a_bad_pattern_is_refused() {
    let out = out_dir("true");
    let (ok, text) = conformance(&[
        "fuzz-client",
        "--cases",
        "3",
        "--seed",
        "2",
        "--out",
        &out.to_string_lossy(),
        "--",
        "true",
    ]);
    assert!(ok && text.contains("3 cases, 0 failures, seed 2"), "{text}");
    let (ok, text) = conformance(&["fuzz-client", "--crash-pattern", "(", "--", "true"]);
    assert!(!ok && text.contains("--crash-pattern"), "{text}");
}
