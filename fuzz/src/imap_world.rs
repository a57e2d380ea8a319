//! The `imap_commands` fuzz target's logic, kept apart from libFuzzer so that a stable
//! test (`mock-server/tests/fuzz_imap_commands.rs`) runs it over the seed corpus and
//! measures its executions per second.
//!
//! No server and no socket: the core (directory, signing keys, mail store) and a token are
//! made once per process; every run restores the pristine store (a copy of the built one,
//! no parsing), opens a session, authenticates it and feeds it the input.

use mock_server::imap::session::{Action, Session};
use mock_server::imap::{ImapConfig, ImapState};
use mock_server::mailstore::Store;
use mock_server::state::Core;
use mock_server::Clock;
use std::sync::{Arc, OnceLock};

/// The mailbox the session opens.
pub const USER: &str = "test.user@contoso.com";

struct World {
    imap: Arc<ImapState>,
    pristine: Store,
    auth: Vec<u8>,
}

static WORLD: OnceLock<World> = OnceLock::new();

fn world() -> &'static World {
    WORLD.get_or_init(|| {
        let directory = mock_server::directory::fixture::demo_tenant().expect("demo tenant");
        let core = Arc::new(Core::new(directory, Clock::system()).expect("core"));
        let token = mock_server::demo::issue_app_token(&core, mock_server::demo::POLLER).expect("token");
        let blob = mock_server::sasl::xoauth2::encode(USER, &token);
        World {
            pristine: core.store.duplicate(),
            imap: Arc::new(ImapState::new(core, ImapConfig::default())),
            auth: format!("A0 AUTHENTICATE XOAUTH2 {blob}\r\n").into_bytes(),
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
    let mut s = Session::new(w.imap.clone(), "fuzz".into(), true);
    assert!(
        feed(&mut s, &w.auth) && s.is_authenticated(),
        "the fixture token authenticates"
    );
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
