//! Findings of the fuzz campaign (issue #16), each kept as the input bytes that found it,
//! run through the same logic as the fuzz target (`fuzz/src/*_world.rs`), so the bug
//! cannot come back unnoticed. See docs/benchmarks.md for the campaign.

#[path = "../../fuzz/src/imap_world.rs"]
mod imap_world;
#[path = "../../fuzz/src/smtp_world.rs"]
mod smtp_world;

use std::time::{Duration, Instant};

/// smtp_commands, crash-b0c3787f: a Message-ID header holding a bare LF (header lines end
/// only at CRLF) was echoed into `250 2.6.0 <id> [InternalId=…] Queued mail for delivery`,
/// cutting that reply into two lines, the second not a reply at all. The target's oracle
/// (every answer is well-formed `ddd` lines) caught it.
#[test]
fn smtp_message_id_with_bare_lf_is_not_echoed_into_the_reply() {
    let found: &[u8] = b"\x0bDATA\r\nFrTARTTLS\r\xd0\xd0\xa0\xd0\xd0\xd0[\xd0\xd0\xd0\xd0\xd0\xd0\xd0\xd0\xd0\xd0\xd0\xd0\xd0\xd0\xd0\x00EHicO\x00HLl ent.example.com\r\nAUTH XOAUTH2 dXNlcce\r\nMessage-ID: <conformance@\x00\x99\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00o.c:LLo \nO @contoso.com\r\nS\x00bject:: test.u\xd0\xd0\xd0\xd0\xd0\xd0\xd0\xd0\xd0\xd0\xd0\xd0om\r\nSuutibject: s\x9f\r\n\r\nhi\r\n..dOt\r\n.\r\nQUIT s\r\n\r\n.\r\nQUIT s\r\n\r\nhi\r\n..dOt\r\n.ser@contos0o.cIN\r\nu\n\x00EHEH:LLo \nO c\x00\x00\x00\x00\x00lic";
    let seen = smtp_world::run(found);
    assert!(seen.answers > 0);
    // The same, minimised by hand: bit 3 of the first byte has MAIL and RCPT done.
    let seen = smtp_world::run(b"\x0bDATA\r\nMessage-ID: <a\nb@x>\r\n\r\nhi\r\n.\r\n");
    assert!(seen.answers > 0);
    // NUL, a space or a non-ASCII byte in the id: the server's own id is shown instead.
    smtp_world::run(b"\x0bDATA\r\nMessage-ID: <a\x00b c\xc3\xa9@x>\r\n\r\nhi\r\n.\r\n");
}

/// imap_commands, a hang: LIST matched its pattern by recursive backtracking, exponential
/// in the number of `*`/`%` when the match fails late. An input of about 100 bytes held
/// the fuzzer on one LIST for minutes (libFuzzer's -max_total_time never came). Now the
/// match costs pattern × name steps.
#[test]
fn imap_list_with_many_wildcards_answers_at_once() {
    let started = Instant::now();
    let pattern = format!("{}x", "*%".repeat(40));
    imap_world::run(format!("\x00T1 LIST \"\" \"{pattern}\"\r\nT2 LSUB \"\" \"{pattern}\"\r\n").as_bytes());
    let pattern = format!("INBOX{}/x", "%*".repeat(40));
    imap_world::run(format!("\x00T1 LIST \"\" \"{pattern}\"\r\n").as_bytes());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "LIST took {:?}",
        started.elapsed()
    );
}

/// imap_commands, crash-886e60ed (found without compare tracing, with fuzz/dict/imap.dict):
/// `RENAME Drafts <name>` moved a default folder away, which the store refuses for DELETE;
/// the target's oracle (the default folders are still there after any input) caught it.
/// RENAME of Drafts, Sent Items, Deleted Items and Junk Email is now `NO RENAME failed: …`;
/// RENAME INBOX still moves INBOX's messages (RFC 3501).
#[test]
fn imap_rename_keeps_the_default_folders() {
    imap_world::run(b"\x00A1 RENAME Drafts URETNQ2cBAQ==\r\nA2 RENAME \"Deleted Items\" X\r\nA3 RENAME INBOX Old\r\n");
}
