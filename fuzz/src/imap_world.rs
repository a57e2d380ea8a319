//! The `imap_commands` fuzz target's logic, kept apart from libFuzzer so that a stable
//! test (`mock-server/tests/fuzz_imap_commands.rs`) runs it over the seed corpus and
//! measures its executions per second.
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
use mock_server::state::Core;
use mock_server::Clock;
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
        let directory = mock_server::directory::fixture::demo_tenant().expect("demo tenant");
        let core = Arc::new(Core::new(directory, Clock::system()).expect("core"));
        let token = mock_server::demo::issue_app_token(&core, mock_server::demo::POLLER).expect("token");
        let blob = mock_server::sasl::xoauth2::encode(USER, &token);
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

/// Feed one chunk and answer it; false once the session has closed.
fn feed(s: &mut Session, chunk: &[u8]) -> bool {
    s.receive(chunk);
    while let Some(r) = s.next_reply() {
        assert!(
            !r.out.is_empty() || r.action == Action::Close,
            "a reply with no bytes that does not close"
        );
        if r.action == Action::Close {
            return false;
        }
    }
    true
}

/// One run: any bytes, cut in two where the first byte says.
pub fn run(data: &[u8]) {
    let w = world();
    w.imap.core.store.restore_from(&w.pristine);
    w.imap.core.journal.clear();
    let mut s = w
        .origin
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .fork_authenticated()
        .expect("a fork of the logged-in session");
    let cut = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
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
