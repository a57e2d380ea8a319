//! The `pop3_commands` fuzz target's logic, kept apart from libFuzzer so that the stable
//! smoke test (`mock-server/tests/fuzz_smoke.rs`) runs it too.
//!
//! A sans-I/O POP3 session (TLS or not, authenticated or not, by the first byte) on the
//! demo mailbox, fed any bytes cut into lines at CRLF exactly as the connection cuts them
//! (over-long lines go to `too_long`). Never panics, and answers every line with `+` or
//! `-` until it closes.
//!
//! No server and no socket: the core (directory, keys, store) is built once per process on
//! a frozen clock, so the token issued here never expires however long the run.

use mock_server::pop3::session::{Action, Session};
use mock_server::pop3::{Pop3Config, Pop3State};
use std::sync::{Arc, OnceLock};

struct World {
    pop: Arc<Pop3State>,
    blob: Vec<u8>,
}

static WORLD: OnceLock<World> = OnceLock::new();

fn world() -> &'static World {
    WORLD.get_or_init(|| {
        let (core, blob) =
            mock_server::demo::poller_login("test.user@contoso.com", true).expect("the demo tenant and a token");
        World {
            pop: Arc::new(Pop3State::new(core, Pop3Config::default())),
            blob: blob.into_bytes(),
        }
    })
}

/// One run: the first byte's bit 0 is TLS, bit 1 authenticates first; the rest is lines.
pub fn run(data: &[u8]) {
    let w = world();
    let Some((&mode, mut input)) = data.split_first() else {
        return;
    };
    let mut s = Session::new(w.pop.clone(), "fuzz".into(), mode & 1 == 1);
    if mode & 2 == 2 {
        s.line(b"AUTH XOAUTH2");
        s.line(&w.blob);
    }
    while let Some(end) = input.windows(2).position(|p| p == b"\r\n") {
        let line = &input[..end];
        input = &input[end + 2..];
        let reply = if line.len() > s.line_limit() {
            s.too_long(line)
        } else {
            s.line(line)
        };
        if reply.action == Action::Close && reply.out.is_empty() {
            break;
        }
        assert!(matches!(reply.out.first(), Some(b'+') | Some(b'-')), "unanswered line");
        if reply.action == Action::Close {
            break;
        }
    }
}
