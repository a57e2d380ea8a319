//! Nothing is lost: a client that drops in the middle of an APPEND leaves no half message
//! and loses no earlier one; sessions racing STORE/EXPUNGE/MOVE on one mailbox leave it
//! consistent.

use e2e_tests::imap::{app_token, xoauth2, Imap};
use e2e_tests::*;
use mock_server::MockServer;

const USER: &str = "test.user@contoso.com";

async fn login(server: &MockServer, token: &str) -> Imap {
    let (mut c, _) = Imap::tls(server).await;
    let r = c
        .cmd("L1", &format!("AUTHENTICATE XOAUTH2 {}", xoauth2(USER, token)))
        .await;
    assert_eq!(r, ["L1 OK AUTHENTICATE completed.\r\n"]);
    c
}

#[tokio::test]
async fn a_client_dropping_mid_append_leaves_no_half_message() {
    let server = MockServer::start().await;
    let token = app_token(&server, 1, "poller-secret-value", EXO_SCOPE).await;
    let mbx = server.store().mailbox(USER).expect("mailbox");
    let before = mbx.messages("INBOX").expect("inbox");

    // A synchronizing literal: the go-ahead, half the bytes, then the socket closes.
    let mut c = login(&server, &token).await;
    c.send("P1 APPEND INBOX {100}").await;
    assert_eq!(c.line().await, "+ Ready for additional command text.\r\n");
    c.send_raw(b"From: a@b.com\r\nSubject: half\r\n\r\nonly part of").await;
    drop(c);
    // A non-synchronizing literal, cut short the same way.
    let mut c = login(&server, &token).await;
    c.send_raw(b"P2 APPEND INBOX {100+}\r\nFrom: a@b.com\r\nSubject: half again\r\n")
        .await;
    drop(c);

    // Give the server a moment to notice both disconnects, via a third session's round trip.
    let mut c = login(&server, &token).await;
    assert_eq!(c.cmd("N1", "NOOP").await, ["N1 OK NOOP completed.\r\n"]);
    let after = mbx.messages("INBOX").expect("inbox");
    assert_eq!(after.len(), before.len(), "no partial message was stored");
    for (a, b) in before.iter().zip(&after) {
        assert_eq!((a.uid, &a.raw[..]), (b.uid, &b.raw[..]), "earlier messages untouched");
    }
    // And a complete APPEND still works afterwards, with the next UID.
    let msg = "From: a@b.com\r\nSubject: whole\r\n\r\nall of it\r\n";
    c.send_raw(format!("P3 APPEND INBOX {{{}+}}\r\n{msg}\r\n", msg.len()).as_bytes())
        .await;
    assert_eq!(c.line().await, "P3 OK [APPENDUID 14 5] APPEND completed.\r\n");
}

#[tokio::test]
async fn racing_sessions_leave_a_consistent_mailbox() {
    let server = std::sync::Arc::new(MockServer::start().await);
    let token = app_token(&server, 1, "poller-secret-value", EXO_SCOPE).await;
    // Enough mail to race over.
    for i in 0..40 {
        server
            .deliver(
                USER,
                "INBOX",
                format!("From: r@x.com\r\nMessage-ID: <race-{i}@x.com>\r\nSubject: race {i}\r\n\r\nbody {i}\r\n")
                    .as_bytes(),
            )
            .expect("deliver");
    }
    let mut tasks = Vec::new();
    for worker in 0..3u32 {
        let server = server.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = login(&server, &token).await;
            c.cmd("S0", "SELECT INBOX").await;
            for i in 0..25u32 {
                let n = 1 + (i * 7 + worker * 3) % 10;
                let cmd = match (i + worker) % 5 {
                    0 => format!("STORE {n} +FLAGS.SILENT (\\Deleted)"),
                    1 => "EXPUNGE".to_string(),
                    2 => format!("MOVE {n} \"Deleted Items\""),
                    3 => "UID STORE 1:* +FLAGS.SILENT (\\Seen)".to_string(),
                    _ => "NOOP".to_string(),
                };
                let r = c.cmd(&format!("W{worker}x{i}"), &cmd).await;
                let last = r.last().expect("tagged");
                // A message number may have gone away under another session: Exchange's
                // BAD for an invalid set is the only acceptable refusal.
                assert!(
                    last.contains(" OK ") || last.contains("BAD The specified message set is invalid."),
                    "{cmd}: {last}"
                );
            }
            c.cmd("Z", "LOGOUT").await;
        }));
    }
    for t in tasks {
        t.await.expect("worker");
    }
    let mbx = server.store().mailbox(USER).expect("mailbox");
    let mut seen = std::collections::HashMap::new();
    for folder in ["INBOX", "Deleted Items"] {
        let snap = mbx.snapshot(folder).expect("snapshot");
        assert!(
            snap.entries.windows(2).all(|w| w[0].0 < w[1].0),
            "{folder}: UIDs ascending"
        );
        assert!(
            snap.entries.iter().all(|(u, _)| *u < snap.uid_next),
            "{folder}: UIDs below UIDNEXT"
        );
        for m in mbx.messages(folder).expect("messages") {
            let id = m.header_values("Message-ID").first().cloned().unwrap_or_default();
            *seen.entry(id).or_insert(0) += 1;
        }
    }
    // MOVE never duplicates or loses: each message is in at most one place, and every
    // message still somewhere was never expunged twice over.
    assert!(seen.values().all(|&n| n == 1), "a message exists twice: {seen:?}");
    // A fresh session sees exactly what the store holds.
    let mut fresh = login(&server, &token).await;
    let count = mbx.status("INBOX").expect("status").messages;
    assert_eq!(
        fresh.cmd("F1", "SELECT INBOX").await[0],
        format!("* {count} EXISTS\r\n")
    );
}
