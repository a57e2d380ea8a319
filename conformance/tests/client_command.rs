//! `conformance client` around a real third-party client (curl): the scripted server plays
//! a recording, the client's lines are checked, and the verdict is printed.

use std::process::Command;

fn conformance(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_conformance"))
        .args(args)
        .output()
        .expect("run conformance");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

const CURL: &[&str] = &[
    "--",
    "curl",
    "-s",
    "--cacert",
    "{ca_file}",
    "--user",
    "{user}:",
    "--oauth2-bearer",
    "eyJ0eXAiOiJKV1QifQ.e30.c2ln",
    "imaps://{host}:{port}/INBOX;UID=1",
];

#[test]
fn curl_follows_the_failure_exchange_and_is_caught_off_the_continuation_path() {
    // Against the wrong-object-id exchange curl sends CAPABILITY and AUTHENTICATE with
    // SASL-IR, then stops at NO: a pass.
    let (ok, out) = conformance(&[&["client", "imap/wrong-object-id"], CURL].concat());
    assert!(ok, "{out}");
    assert!(out.contains("client command exited with 67"), "{out}");
    // The continuation-path recording expects AUTHENTICATE without an initial response;
    // curl sends one (SASL-IR is advertised): the first difference is reported.
    let (ok, out) = conformance(&[&["client", "imap/continuation-success"], CURL].concat());
    assert!(!ok, "{out}");
    assert!(
        out.contains("expected C: A01 AUTHENTICATE XOAUTH2\n")
            && out.contains("received C: A002 AUTHENTICATE XOAUTH2 dXNl"),
        "{out}"
    );
}

#[test]
fn list_names_every_recording_with_its_provenance() {
    let (ok, out) = conformance(&["list"]);
    assert!(ok);
    assert!(
        out.contains("imap/ms-guide-success") && out.contains("Microsoft, \"Authenticate an IMAP"),
        "{out}"
    );
    assert!(out.contains("token/wrong-secret"), "{out}");
}
