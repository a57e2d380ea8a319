//! `mock-server admin <verb>` against a running `mock-server` binary: verbs, errors,
//! the journal (once, followed, and as a file), faults from a file, the admin token.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

mod common;
use common::{start as start_with, tempdir as common_tempdir, Running, BIN, EPHEMERAL_PORTS};

fn tempdir(name: &str) -> PathBuf {
    common_tempdir(&format!("admin-cli-{name}"))
}

fn start(dir: &Path, extra: &[&str]) -> Running {
    start_with(dir, extra, Stdio::null())
}

fn admin(server: &Running, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("admin")
        .args(args)
        .arg("--ready-file")
        .arg(&server.ready_file)
        .env_remove("MOCK_SERVER_ADMIN_TOKEN")
        .output()
        .expect("run admin")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn verbs_errors_and_the_journal() {
    let dir = tempdir("verbs");
    let journal_file = dir.join("journal.jsonl");
    let server = start(&dir, &["--journal-file", journal_file.to_str().expect("utf-8")]);
    let out = admin(
        &server,
        &[
            "remove-mailbox-permission",
            "--identity",
            "test.user@contoso.com",
            "--user",
            "00000000-0000-4000-8000-00000000c001",
            "--access-rights",
            "FullAccess",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("\"ok\": true"));

    let out = admin(
        &server,
        &[
            "add-mailbox-permission",
            "--identity",
            "test.userx@contoso.com",
            "--user",
            "00000000-0000-4000-8000-00000000c004",
            "--access-rights",
            "FullAccess",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no mailbox test.userx@contoso.com in tenant Contoso"),
        "{}",
        text(&out.stderr)
    );
    let out = admin(
        &server,
        &[
            "set-cas-mailbox",
            "--identity",
            "imap.disabled@contoso.com",
            "--imap-enabled",
            "true",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = admin(&server, &["frobnicate"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("unknown verb"), "{}", text(&out.stderr));

    // The journal for a person: the cmdlet lines, in order.
    let out = admin(&server, &["journal"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let journal = text(&out.stdout);
    let remove = journal
        .find("Remove-MailboxPermission -Identity test.user@contoso.com")
        .expect("remove line");
    let set = journal
        .find("Set-CASMailbox -Identity imap.disabled@contoso.com -ImapEnabled $true")
        .expect("set line");
    assert!(remove < set, "{journal}");
    assert!(journal.starts_with("#1 "), "{journal}");
    // The same entries as JSON lines in the journal file.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&journal_file)
        .expect("journal file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[1]["request"],
        "Set-CASMailbox -Identity imap.disabled@contoso.com -ImapEnabled $true"
    );

    // --url with --ca-file reaches the same server.
    let out = Command::new(BIN)
        .args(["admin", "get-clock", "--url"])
        .arg(server.ready["https_url"].as_str().expect("url"))
        .arg("--ca-file")
        .arg(server.ready["ca_file"].as_str().expect("ca"))
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("\"frozen\": false"));
}

#[test]
fn journal_follow_prints_new_entries_live() {
    let dir = tempdir("follow");
    let server = start(&dir, &[]);
    let mut follow = Command::new(BIN)
        .args(["admin", "journal", "--follow", "--ready-file"])
        .arg(&server.ready_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("follow");
    let stdout = follow.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let out = admin(&server, &["freeze-clock"]);
    assert!(out.status.success());
    let out = admin(&server, &["advance-clock", "--seconds", "60"]);
    assert!(out.status.success());
    let first = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("a line while following");
    assert!(first.contains("freeze the clock"), "{first}");
    let mut second = rx.recv_timeout(Duration::from_secs(20)).expect("the next entry");
    while second.starts_with("    ") {
        second = rx.recv_timeout(Duration::from_secs(20)).expect("the next entry");
    }
    assert!(second.contains("advance the clock by 60 s"), "{second}");
    let _ = follow.kill();
    let _ = follow.wait();
}

#[test]
fn faults_file_and_admin_token() {
    let dir = tempdir("faults");
    let faults = dir.join("faults.json");
    std::fs::write(
        &faults,
        r#"[{"hook": "token", "kind": "throttled", "retry_after": 9, "times": 1},
            {"hook": "imap_command", "kind": "reply", "reply": "NO", "command": "SELECT"}]"#,
    )
    .expect("write");
    let server = start(
        &dir,
        &["--faults", faults.to_str().expect("utf-8"), "--admin-token", "tok-123"],
    );
    let out = admin(&server, &["get-faults"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("Authorization: Bearer"),
        "{}",
        text(&out.stderr)
    );
    let out = admin(&server, &["get-faults", "--admin-token", "tok-123"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(listed["faults"].as_array().map(Vec::len), Some(2));
    assert_eq!(listed["faults"][0]["retry_after"], 9);
    let out = admin(
        &server,
        &[
            "add-fault",
            "--hook",
            "token",
            "--kind",
            "aad_error",
            "--code",
            "7000215",
            "--times",
            "1",
            "--admin-token",
            "tok-123",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = admin(&server, &["remove-fault", "--id", "3", "--admin-token", "tok-123"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // A bad faults file stops the server at start with the reason.
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"[{"hook": "imap_tls", "kind": "drop"}]"#).expect("write");
    let out = Command::new(BIN)
        .args(EPHEMERAL_PORTS)
        .arg("--faults")
        .arg(&bad)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("kind drop does not apply to hook imap_tls"),
        "{}",
        text(&out.stderr)
    );
}
