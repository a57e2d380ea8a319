//! The IMAP protocol without sockets: a session built from a directory and a store
//! (`Core::new` + `ImapState::new`), fed byte chunks cut anywhere, answering exact bytes.

use mock_server::imap::session::{Action, Session};
use mock_server::imap::{ImapConfig, ImapState};
use mock_server::mailstore::Store;
use std::sync::Arc;

const USER: &str = "test.user@contoso.com";

struct World {
    imap: Arc<ImapState>,
    pristine: Store,
    blob: String,
}

fn world(config: ImapConfig) -> World {
    let (core, blob) = mock_server::demo::poller_login(USER, false).expect("the demo tenant and a token");
    World {
        pristine: core.store.duplicate(),
        imap: Arc::new(ImapState::new(core, config)),
        blob,
    }
}

impl World {
    /// A fresh session on the pristine mailbox.
    fn session(&self, tls: bool) -> Session {
        self.imap.core.store.restore_from(&self.pristine);
        Session::new(self.imap.clone(), "test".into(), tls)
    }
}

/// Feed `chunks` one by one, answering each as a connection would; all bytes written and
/// the last action.
fn drive(s: &mut Session, chunks: &[&[u8]]) -> (String, Action) {
    let mut out = Vec::new();
    let mut action = Action::Continue;
    for chunk in chunks {
        s.receive(chunk);
        while let Some(r) = s.next_reply() {
            out.extend_from_slice(&r.out);
            action = r.action;
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), action)
}

#[test]
fn a_conversation_answers_the_same_bytes_however_it_is_cut() {
    let w = world(ImapConfig::default());
    let msg = "From: a@b\r\n\r\nhi\r\n";
    let script = format!(
        "A1 NOOP\r\nA2 AUTHENTICATE XOAUTH2\r\n{}\r\nA3 APPEND Drafts {{{}}}\r\n{msg}\r\nA4 IDLE\r\nDONE\r\nA5 LOGOUT\r\n",
        w.blob,
        msg.len()
    );
    let script = script.as_bytes();
    let (whole, action) = drive(&mut w.session(true), &[script]);
    assert_eq!(
        whole,
        "A1 OK NOOP completed.\r\n\
         +\r\n\
         A2 OK AUTHENTICATE completed.\r\n\
         + Ready for additional command text.\r\n\
         A3 OK [APPENDUID 17 1] APPEND completed.\r\n\
         + IDLE accepted, awaiting DONE command.\r\n\
         A4 OK IDLE completed.\r\n\
         * BYE Microsoft Exchange Server IMAP4 server signing off.\r\n\
         A5 OK LOGOUT completed.\r\n"
    );
    assert_eq!(action, Action::Close);
    for cut in 1..script.len() {
        let (a, b) = script.split_at(cut);
        assert_eq!(drive(&mut w.session(true), &[a, b]).0, whole, "cut at {cut}");
    }
    let bytes: Vec<&[u8]> = script.chunks(1).collect();
    assert_eq!(drive(&mut w.session(true), &bytes).0, whole, "byte by byte");
}

#[test]
fn an_endless_line_is_answered_at_the_limit_and_holds_no_more() {
    let w = world(ImapConfig {
        max_command_line: 1024,
        ..ImapConfig::default()
    });
    let mut s = w.session(true);
    let (out, _) = drive(&mut s, &[b"T1 NOOP "]);
    assert_eq!(out, "");
    let junk = vec![b'x'; 4096];
    let mut answers = String::new();
    for _ in 0..256 {
        answers += &drive(&mut s, &[&junk]).0;
        assert!(
            w.imap.buffered_bytes() <= 1024 + 64,
            "{} bytes held for one line",
            w.imap.buffered_bytes()
        );
    }
    assert_eq!(answers, "T1 BAD Command Error. 10\r\n");
    // The line ends: nothing more is said about it, and the next command is served.
    assert_eq!(drive(&mut s, &[b"\r\nT2 NOOP\r\n"]).0, "T2 OK NOOP completed.\r\n");
    assert_eq!(w.imap.buffered_bytes(), 0);
}

#[test]
fn a_big_literal_before_authentication_is_refused_unread() {
    let w = world(ImapConfig::default());
    // Synchronizing: no go-ahead, the client sends nothing, the session goes on.
    let mut s = w.session(true);
    assert_eq!(
        drive(&mut s, &[b"T1 LOGIN {36700160}\r\n", b"T2 NOOP\r\n"]).0,
        "T1 BAD Command Error. 10\r\nT2 OK NOOP completed.\r\n"
    );
    // Non-synchronizing: the stranger is already sending it; answered and closed.
    let mut s = w.session(true);
    let (out, action) = drive(&mut s, &[b"T1 LOGIN {36700160+}\r\n", &vec![b'y'; 1 << 20]]);
    assert_eq!(
        out,
        "T1 BAD Command Error. 10\r\n* BYE Microsoft Exchange Server IMAP4 server signing off.\r\n"
    );
    assert_eq!(action, Action::Close);
    assert_eq!(w.imap.buffered_bytes(), 0);
    // After authentication the same literal is within Exchange's 35 MB.
    let mut s = w.session(true);
    let auth = format!(
        "A1 AUTHENTICATE XOAUTH2 {}\r\nT1 APPEND Drafts {{36700160}}\r\n",
        w.blob
    );
    let (out, _) = drive(&mut s, &[auth.as_bytes()]);
    assert!(out.ends_with("+ Ready for additional command text.\r\n"), "{out}");
}

#[test]
fn answers_echo_only_valid_tags_and_the_journal_escapes_client_bytes() {
    let w = world(ImapConfig::default());
    let mut s = w.session(true);
    assert_eq!(
        drive(&mut s, &[b"\x1b[31m\x00 NOOP\r\n"]).0,
        "* BAD Command Argument Error. 12\r\n"
    );
    assert_eq!(drive(&mut s, &[b"T\x07 FOO\r\n"]).0, "* BAD Command Error. 12\r\n");
    let blob = mock_server::sasl::xoauth2::encode("\x1b[2J@contoso.com", "not-a-token");
    let out = drive(&mut s, &[format!("A1 AUTHENTICATE XOAUTH2 {blob}\r\n").as_bytes()]).0;
    assert_eq!(out, "A1 NO AUTHENTICATE failed.\r\n");
    let entry = w.imap.core.journal.entries().pop().expect("journaled");
    assert!(!entry.request.chars().any(char::is_control), "{:?}", entry.request);
    assert!(entry.request.contains("\\u{1b}[2J"), "{:?}", entry.request);
}

#[test]
fn deadlines_do_not_move_for_bytes_that_complete_no_line() {
    let w = world(ImapConfig::default());
    let mut s = w.session(true);
    let first = s.deadline();
    drive(&mut s, &[b"A1 NO", b"OP\r\n", b"A2 CAPA"]);
    assert_eq!(
        s.deadline(),
        first,
        "the pre-authentication deadline counts from the start"
    );
    drive(
        &mut s,
        &[format!("BILITY\r\nA3 AUTHENTICATE XOAUTH2 {}\r\n", w.blob).as_bytes()],
    );
    assert!(s.is_authenticated());
    let after_auth = s.deadline();
    drive(&mut s, &[b"A4 NO", b"O", b"P"]);
    assert_eq!(
        s.deadline(),
        after_auth,
        "a drip of bytes does not extend the autologout"
    );
}

#[test]
fn starttls_drops_what_was_pipelined_behind_it() {
    let w = world(ImapConfig::default());
    let mut s = w.session(false);
    s.receive(b"S1 STARTTLS\r\nS2 NOOP\r\n");
    let r = s.next_reply().expect("answer");
    assert_eq!(r.out, b"S1 OK Begin TLS negotiation now.\r\n");
    assert_eq!(r.action, Action::StartTls);
    assert!(s.next_reply().is_none(), "S2 must not be read as if it came over TLS");
    s.tls_started();
    assert_eq!(drive(&mut s, &[b"S3 NOOP\r\n"]).0, "S3 OK NOOP completed.\r\n");
}

#[test]
fn an_over_long_sasl_line_is_answered_at_its_end_with_its_length() {
    let w = world(ImapConfig::default());
    let mut s = w.session(true);
    let line = "QUFB".repeat(2000);
    let (out, _) = drive(&mut s, &[b"A1 AUTHENTICATE XOAUTH2\r\n", line.as_bytes()]);
    assert_eq!(out, "+\r\n", "not answered before the line ends");
    assert!(w.imap.buffered_bytes() <= 4096 + 64);
    assert_eq!(drive(&mut s, &[b"\r\n"]).0, "A1 BAD Command Error. 10\r\n");
    let entry = w.imap.core.journal.entries().pop().expect("journaled");
    assert!(entry.reason.unwrap_or_default().contains("8000 bytes"));
}

#[test]
fn the_pre_authentication_command_count_follows_its_option() {
    let w = world(ImapConfig {
        max_pre_auth_commands: 2,
        ..ImapConfig::default()
    });
    let mut s = w.session(true);
    let (out, action) = drive(&mut s, &[b"A1 NOOP\r\nA2 NOOP\r\nA3 NOOP\r\n"]);
    assert_eq!(out, "A1 OK NOOP completed.\r\nA2 OK NOOP completed.\r\n");
    assert_eq!(action, Action::Close);
}

#[test]
fn a_fork_starts_logged_in_on_the_store_as_it_is_now_and_holds_a_connection_slot() {
    let w = world(ImapConfig {
        max_connections_per_user: 2,
        ..ImapConfig::default()
    });
    let mut origin = w.session(true);
    assert!(origin.fork_authenticated().is_none(), "not logged in: nothing to fork");
    let login = format!("A1 AUTHENTICATE XOAUTH2 {}\r\n", w.blob);
    assert_eq!(
        drive(&mut origin, &[login.as_bytes()]).0,
        "A1 OK AUTHENTICATE completed.\r\n"
    );

    // The store is restored after the login: the fork opens the mailbox as it is now.
    w.imap.core.store.restore_from(&w.pristine);
    let mut fork = origin.fork_authenticated().expect("a fork of a logged-in session");
    assert!(fork.is_authenticated());
    assert_eq!(fork.user(), origin.user());
    let (out, _) = drive(&mut fork, &[b"B1 SELECT INBOX\r\n"]);
    assert!(
        out.contains("* 4 EXISTS\r\n") && out.ends_with("B1 OK [READ-WRITE] SELECT completed.\r\n"),
        "{out}"
    );

    // Two sessions hold the mailbox's two places: a third fork is refused, as a login would be.
    assert!(origin.fork_authenticated().is_none(), "no free connection slot");
    drop(fork);
    assert!(
        origin.fork_authenticated().is_some(),
        "the dropped fork gave its slot back"
    );

    // Idling is not a state to fork from.
    drive(&mut origin, &[b"A2 IDLE\r\n"]);
    assert!(origin.fork_authenticated().is_none());
}
