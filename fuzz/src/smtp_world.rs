//! The `smtp_commands` fuzz target's logic, kept apart from libFuzzer so that a stable
//! proptest (`smtp_sessions_answer_every_line_and_deliver_only_whole_messages` in
//! `mock-server/tests/properties.rs`) runs the same checks.
//!
//! No server and no socket: the core (directory, signing keys, mail store) and a token are
//! made once per process, on a frozen clock so the token never expires however long the
//! fuzzer runs; every run restores the pristine store, opens a sans-I/O SMTP session and
//! feeds it the input cut as a connection would: a line at a time (optionally in two
//! pieces), a BDAT chunk at a time. A small model beside the session knows only what the
//! replies tell it (`354` opens DATA, an unanswered `BDAT n` awaits n bytes) and checks:
//!
//! * every complete command line, the end of DATA and every whole BDAT chunk gets an
//!   answer of well-formed `ddd ` / `ddd-` lines, unless the session closes; nothing else
//!   does (a partial line, a DATA content line, part of a chunk);
//! * the bytes held stay within one line plus the message size limit;
//! * a message reaches the outbox only with a `250 2.6.0` answer to `.` or to the chunk of
//!   `BDAT n LAST`, exactly as the client sent it (dot-unstuffed, chunks joined), and a
//!   disconnect mid-message delivers nothing.

use mock_server::mailstore::Store;
use mock_server::smtp::session::{Action, Session};
use mock_server::smtp::{SmtpConfig, SmtpState};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// The mailbox the session authenticates as.
pub const USER: &str = "test.user@contoso.com";
/// The message size limit of the fuzzed server: small, so that inputs of a few KB reach
/// the `552` path and the held-bytes bound means something.
pub const MAX_MESSAGE: usize = 4096;

struct World {
    smtp: Arc<SmtpState>,
    pristine: Store,
    blob: String,
}

static WORLD: OnceLock<World> = OnceLock::new();

fn world() -> &'static World {
    WORLD.get_or_init(|| {
        let (core, blob) = mock_server::demo::poller_login(USER, true).expect("the demo tenant and a token");
        let config = SmtpConfig {
            max_message_size: MAX_MESSAGE,
            ..SmtpConfig::default()
        };
        World {
            pristine: core.store.duplicate(),
            blob,
            smtp: Arc::new(SmtpState::new(core, config)),
        }
    })
}

/// What a run saw, so that tests can tell the deep paths were reached.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// Answers (one per answered line or chunk).
    pub answers: usize,
    /// Messages delivered.
    pub delivered: usize,
    /// The session closed.
    pub closed: bool,
}

/// What the model expects the session to be doing.
enum Mode {
    Command,
    /// After `354`: the content so far, dot-unstuffed.
    Data(Vec<u8>),
    /// An unanswered `BDAT`: bytes still to come, LAST, and the chunk so far.
    Bdat {
        remaining: usize,
        last: bool,
        chunk: Vec<u8>,
    },
}

struct Harness<'a> {
    w: &'a World,
    s: Session,
    mode: Mode,
    /// Chunks of the current BDAT series answered `250 2.0.0`.
    series: Vec<u8>,
    /// The outbox's last seq seen.
    seq: u64,
    /// The last answer.
    last: Vec<u8>,
    seen: Seen,
}

/// The size and LAST of a BDAT line, read as the session reads it.
fn bdat_args(line: &[u8]) -> Option<(usize, bool)> {
    let text = String::from_utf8_lossy(line);
    let (verb, args) = text.split_once(' ')?;
    if !verb.eq_ignore_ascii_case("BDAT") {
        return None;
    }
    let mut words = args.trim_end().split(' ').filter(|w| !w.is_empty());
    let size = words.next()?.parse().ok()?;
    let last = words.next().is_some_and(|w| w.eq_ignore_ascii_case("LAST"));
    Some((size, last))
}

/// Every line `ddd ` or `ddd-` and CRLF-ended, the last one final.
fn well_formed(out: &[u8]) -> bool {
    let Some(body) = out.strip_suffix(b"\r\n") else {
        return false;
    };
    let lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
    lines.iter().enumerate().all(|(i, l)| {
        let l = if i + 1 < lines.len() {
            match l.strip_suffix(b"\r") {
                Some(l) => l,
                None => return false,
            }
        } else {
            l
        };
        l.len() >= 4 && l[..3].iter().all(u8::is_ascii_digit) && (l[3] == b' ' || (l[3] == b'-' && i + 1 < lines.len()))
    })
}

impl Harness<'_> {
    /// Feed `bytes`; `answer` says whether an answer is due (the session may also close)
    /// or forbidden (`None`: a BDAT line, answered at once or after its chunk). Returns
    /// false once the session has closed.
    fn feed(&mut self, bytes: &[u8], answer: Option<bool>, end_of_message: Option<&[u8]>) -> bool {
        let r = self.s.feed(bytes);
        let c = self.s.config();
        assert!(
            self.s.held() <= c.max_line + c.max_message_size,
            "{} bytes held",
            self.s.held()
        );
        let new = self.w.smtp.core.store.outbox.list(self.seq);
        let queued = r.out.windows(10).any(|w| w == b"\r\n250 2.6.0") || r.out.starts_with(b"250 2.6.0");
        assert!(new.len() <= 1, "{} messages from one feed", new.len());
        if let Some(m) = new.first() {
            self.seq = m.seq;
            self.seen.delivered += 1;
            let expected = end_of_message.expect("a message delivered before its end of data");
            assert!(queued, "delivered without a 250 2.6.0 answer");
            assert_eq!(&m.raw[..], expected, "the delivered message is not what was sent");
            assert!(m.raw.len() <= MAX_MESSAGE, "a message over the size limit delivered");
        } else {
            assert!(!queued, "250 2.6.0 for a message not delivered");
        }
        if r.out.is_empty() {
            assert!(
                answer != Some(true) || r.action == Action::Close,
                "no answer to {:?}",
                String::from_utf8_lossy(bytes)
            );
        } else {
            assert!(
                answer != Some(false),
                "an answer to a partial line, a content line or part of a chunk"
            );
            assert!(
                well_formed(&r.out),
                "malformed answer {:?}",
                String::from_utf8_lossy(&r.out)
            );
            self.seen.answers += 1;
            self.last.clone_from(&r.out);
        }
        match r.action {
            Action::Close => {
                self.seen.closed = true;
                return false;
            }
            Action::StartTls => self.s.tls_started(),
            Action::Continue => {}
        }
        if r.out
            .ends_with(mock_server::smtp::personality::START_MAIL_INPUT.as_bytes())
        {
            self.mode = Mode::Data(Vec::new());
        }
        if r.out.ends_with(mock_server::smtp::personality::SENDER_OK.as_bytes()) {
            self.series.clear();
        }
        true
    }

    /// One line (CRLF-ended or the input's partial tail), in two pieces cut at `split`/8.
    fn line(&mut self, line: &[u8], split: usize) -> bool {
        let complete = line.ends_with(b"\r\n");
        let cut = (line.len() * split / 8).min(line.len().saturating_sub(1));
        if cut > 0 && !self.feed(&line[..cut], Some(false), None) {
            return false;
        }
        let rest = &line[cut..];
        match std::mem::replace(&mut self.mode, Mode::Command) {
            Mode::Command => {
                let bdat = bdat_args(line).filter(|&(n, _)| complete && n > 0);
                let before = self.seen.answers;
                let open = self.feed(rest, if bdat.is_some() { None } else { Some(complete) }, None);
                if open && complete && self.seen.answers == before {
                    // Only a BDAT with a chunk to come goes unanswered.
                    let (remaining, last) = bdat.expect("an unanswered line that is no BDAT");
                    self.mode = Mode::Bdat {
                        remaining,
                        last,
                        chunk: Vec::new(),
                    };
                }
                open
            }
            Mode::Data(mut content) => {
                if complete && line == b".\r\n" {
                    return self.feed(rest, Some(true), Some(&content));
                }
                content.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
                self.mode = Mode::Data(content);
                self.feed(rest, Some(false), None)
            }
            Mode::Bdat { .. } => unreachable!("chunks are fed by `chunk`"),
        }
    }

    /// Up to the rest of a BDAT chunk; returns the bytes used and whether still open.
    fn chunk(&mut self, input: &[u8]) -> (usize, bool) {
        let Mode::Bdat {
            remaining,
            last,
            mut chunk,
        } = std::mem::replace(&mut self.mode, Mode::Command)
        else {
            unreachable!("only in BDAT")
        };
        let n = remaining.min(input.len());
        chunk.extend_from_slice(&input[..n]);
        if n < remaining {
            self.mode = Mode::Bdat {
                remaining: remaining - n,
                last,
                chunk,
            };
            return (n, self.feed(&input[..n], Some(false), None));
        }
        let whole = [&self.series[..], &chunk[..]].concat();
        let before = self.seen.answers;
        let open = self.feed(&input[..n], Some(true), last.then_some(&whole[..]));
        // `250 2.0.0 n bytes received` takes the chunk into the series (a refusal does not).
        if open && self.seen.answers > before && !last && self.last.starts_with(b"250 2.0.0 ") {
            self.series = whole;
        }
        (n, open)
    }
}

/// One run. The first byte: bit 0 STARTTLS and EHLO first, bit 1 then AUTH XOAUTH2 (bit 2:
/// two-step, after `334`), bit 3 then MAIL FROM and RCPT TO; bits 5-7 where each line is
/// cut in two (eighths; 0 feeds it whole).
/// One run at a time: the world (store, outbox, journal) is shared by the whole process,
/// and tests of one binary run on parallel threads; a message another run delivered must
/// not show up in this run's outbox.
static ONE_RUN_AT_A_TIME: Mutex<()> = Mutex::new(());

pub fn run(data: &[u8]) -> Seen {
    // A panicking run (a finding) leaves nothing half-done that the next run relies on:
    // it restores the store first.
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let w = world();
    w.smtp.core.store.restore_from(&w.pristine);
    w.smtp.core.journal.clear();
    let Some((&flags, mut input)) = data.split_first() else {
        return Seen::default();
    };
    let mut h = Harness {
        w,
        s: Session::new(w.smtp.clone(), std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
        mode: Mode::Command,
        series: Vec::new(),
        seq: w.smtp.core.store.outbox.list(0).last().map_or(0, |m| m.seq),
        last: Vec::new(),
        seen: Seen::default(),
    };
    let split = usize::from(flags >> 5);
    let mut preamble: Vec<String> = Vec::new();
    if flags & 1 == 1 {
        preamble.extend([
            "EHLO fuzz.example.com".into(),
            "STARTTLS".into(),
            "EHLO fuzz.example.com".into(),
        ]);
        if flags & 2 == 2 {
            if flags & 4 == 4 {
                preamble.extend(["AUTH XOAUTH2".into(), w.blob.clone()]);
            } else {
                preamble.push(format!("AUTH XOAUTH2 {}", w.blob));
            }
            if flags & 8 == 8 {
                preamble.extend([format!("MAIL FROM:<{USER}>"), format!("RCPT TO:<{USER}>")]);
            }
        }
    }
    for line in preamble {
        assert!(
            h.line(format!("{line}\r\n").as_bytes(), split),
            "closed in the preamble"
        );
    }
    if flags & 3 == 3 {
        assert!(h.s.is_authenticated(), "the fixture token authenticates");
    }
    let mut open = true;
    while open && !input.is_empty() {
        if matches!(h.mode, Mode::Bdat { .. }) {
            let (n, o) = h.chunk(input);
            input = &input[n..];
            open = o;
            continue;
        }
        let end = input
            .windows(2)
            .position(|p| p == b"\r\n")
            .map_or(input.len(), |p| p + 2);
        let (line, rest) = input.split_at(end);
        input = rest;
        open = h.line(line, split);
    }
    if open {
        // The connection drops: a message in progress is not delivered.
        h.s.disconnected();
        assert!(
            w.smtp.core.store.outbox.list(h.seq).is_empty(),
            "a message delivered at disconnect"
        );
    }
    h.seen
}
