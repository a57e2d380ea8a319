//! The `imap_commands` fuzz target's logic, kept apart from libFuzzer so that a stable
//! test (`mock-server/tests/fuzz_imap_commands.rs`) runs it over the seed corpus and
//! measures its executions per second.
//!
//! Runs start either authenticated or before authentication (the first byte says; see
//! [`run`]).
//!
//! No server and no socket: the core (directory, signing keys, mail store) is made once per
//! process and one session logs in with a real token once; every run restores the pristine
//! store (a copy of the built one, no parsing), forks that logged-in session
//! ([`Session::fork_authenticated`]: the mailbox reopened, no token checked again) and
//! feeds the fork the input. Checking the same RS256 token and parsing its 1.5 KB
//! AUTHENTICATE line on every run was over half of each run's time under libFuzzer; the
//! `xoauth2` target and the recordings cover that path.

use mock_server::imap::session::{Action, Session};
use mock_server::imap::{ImapConfig, ImapState};
use mock_server::mailstore::Store;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// The mailbox the session opens.
pub const USER: &str = "test.user@contoso.com";

struct World {
    imap: Arc<ImapState>,
    pristine: Store,
    /// Logged in once with the fixture token; every run forks it.
    origin: Mutex<Session>,
}

static WORLD: OnceLock<World> = OnceLock::new();

fn world() -> &'static World {
    WORLD.get_or_init(|| {
        let (core, blob) = mock_server::demo::poller_login(USER, false).expect("the demo tenant and a token");
        let pristine = core.store.duplicate();
        let imap = Arc::new(ImapState::new(core, ImapConfig::default()));
        let mut origin = Session::new(imap.clone(), "fuzz".into(), true);
        let login = format!("A0 AUTHENTICATE XOAUTH2 {blob}\r\n");
        assert!(
            feed(&mut origin, login.as_bytes()) && origin.is_authenticated(),
            "the fixture token authenticates"
        );
        World {
            pristine,
            imap,
            origin: Mutex::new(origin),
        }
    })
}

/// Feed one chunk and answer it; false once the session has closed. STARTTLS is taken as
/// a handshake that succeeded, as the connection would make it.
fn feed(s: &mut Session, chunk: &[u8]) -> bool {
    s.receive(chunk);
    while let Some(r) = s.next_reply() {
        assert!(
            !r.out.is_empty() || r.action == Action::Close,
            "a reply with no bytes that does not close"
        );
        match r.action {
            Action::Close => return false,
            Action::StartTls => s.tls_started(),
            Action::Continue => {}
        }
    }
    true
}

/// One run: any bytes. The first byte says how: bit 7 clear, an authenticated session (a
/// fork of the logged-in one) and the input cut in two at bits 0–6; bit 7 set, a session
/// before authentication (what any client on the network reaches), over TLS unless bit 6
/// is set (then plain, STARTTLS available), cut at bits 0–5.
pub fn run(data: &[u8]) {
    let w = world();
    w.imap.core.store.restore_from(&w.pristine);
    w.imap.core.journal.clear();
    let first = data.first().copied().unwrap_or(0);
    let (mut s, cut) = if first & 0x80 == 0 {
        let fork = w
            .origin
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .fork_authenticated()
            .expect("a fork of the logged-in session");
        (fork, first & 0x7f)
    } else {
        let tls = first & 0x40 == 0;
        let mut fresh = Session::new(w.imap.clone(), "fuzz".into(), tls);
        assert!(!fresh.open().out.is_empty(), "a greeting");
        (fresh, first & 0x3f)
    };
    let cut = usize::from(cut).min(data.len());
    let (a, b) = data.split_at(cut);
    let _ = feed(&mut s, a) && feed(&mut s, b);
    let held = w.imap.buffered_bytes();
    let c = &w.imap.config;
    assert!(
        held <= c.max_literal as usize + 4 * c.max_command_line + data.len(),
        "{held} bytes held"
    );
    drop(s);
    let mbx = w.imap.core.store.mailbox(USER).expect("mailbox");
    for folder in ["INBOX", "Drafts", "Deleted Items"] {
        let snap = mbx.snapshot(folder).expect("folder");
        assert!(snap.entries.windows(2).all(|p| p[0].0 < p[1].0), "UIDs not ascending");
        assert!(
            snap.entries.iter().all(|(u, _)| *u < snap.uid_next),
            "UID at or above UIDNEXT"
        );
    }
}
