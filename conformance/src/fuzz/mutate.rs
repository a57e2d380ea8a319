//! Mutations of a scripted server's answers (for `fuzz-client`). A case is a list of
//! [`Mutation`]s, each aimed at the n-th write of the connection (a write is one response
//! line, or one part of an HTTP response). Every parameter is drawn when the mutation is
//! made, so applying it is deterministic and a shrunk list replays the same bytes.

use super::rng::SplitMix64;
use super::Protocol;

/// Mutations aim at one of the first this many writes (a session's interesting part).
pub const MAX_TARGET_WRITE: u64 = 14;

/// The longest line a `Huge` mutation appends (1 MiB: beyond every client's line limit
/// that we know of, small enough for loopback).
pub const MAX_HUGE: usize = 1 << 20;

/// The longest pause before a write, and the gap of a trickle, in milliseconds.
pub const MAX_PAUSE_MS: u64 = 400;
pub const MAX_TRICKLE_MS: u64 = 8;

/// Google's XOAUTH2 error challenges (base64 JSON), from its XOAUTH2 protocol page.
pub const GOOGLE_401: &str =
    "eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ==";
pub const GOOGLE_400: &str =
    "eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ==";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Keep this many bytes (the line end goes too).
    Truncate(usize),
    /// End the line with LF alone.
    BareLf,
    /// A NUL at this offset (clamped to the line).
    Nul(usize),
    /// Invalid UTF-8 at this offset.
    NonUtf8(usize),
    /// From word `word` on, a literal announcing `count` bytes followed by `sent` bytes.
    Literal { word: usize, count: u64, sent: usize },
    /// Send this protocol's untagged line number `i` first.
    Interleave(usize),
    /// Say goodbye (the protocol's BYE) instead, and close.
    Bye,
    /// Close the connection instead of this write.
    Close,
    /// Write this one byte at a time, with this many milliseconds between bytes.
    Trickle(u64),
    /// Wait this many milliseconds first.
    Pause(u64),
    /// Replace by this protocol's continuation number `i` (SASL challenges).
    Continuation(usize),
    /// Keep only the first n words.
    DropWords(usize),
    /// Append this many bytes before the line end.
    Huge(usize),
    /// Send it twice.
    Duplicate,
    /// Replace the status word by this protocol's status number `i`.
    Status(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutation {
    /// Which write of the connection (0 is the greeting).
    pub at: usize,
    pub op: Op,
}

/// What the connection does for one write after mutation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Write(Vec<u8>),
    Pause(u64),
    /// Write the next `Write` one byte at a time with this gap.
    Trickle(u64),
    Close,
}

pub fn untagged(p: Protocol) -> &'static [&'static str] {
    match p {
        Protocol::Imap => &[
            "* 3 EXISTS\r\n",
            "* OK [ALERT] Maintenance tonight\r\n",
            "* BYE Connection is closed. 13\r\n",
            "* CAPABILITY IMAP4rev1\r\n",
            "* 1 FETCH (FLAGS (\\Seen))\r\n",
            "* 1 FETCH (BODY[] {5}\r\nhello)\r\n",
            "+ \r\n",
            "* BAD Command Error. 12\r\n",
            "*\r\n",
            "* NO [UNAVAILABLE] try later\r\n",
            "* BYE Session invalidated - AccessTokenExpired\r\n",
        ],
        Protocol::Smtp => &[
            "250-extra\r\n",
            "220 again\r\n",
            "421 4.4.2 Connection dropped due to SocketError\r\n",
            "334 \r\n",
            "250\r\n",
            "\r\n",
        ],
        Protocol::Pop3 => &["+OK\r\n", ".\r\n", "-ERR Protocol error. 20\r\n", "+ \r\n", "-ERR\r\n"],
        Protocol::Http => &[
            "Content-Length: 99999\r\n",
            "Transfer-Encoding: chunked\r\n",
            "Content-Type: text/html\r\n",
            "Content-Length: -1\r\n",
            "X-Junk\r\n",
        ],
    }
}

pub fn continuations(p: Protocol) -> Vec<String> {
    let (plus, extra): (&str, &[&str]) = match p {
        Protocol::Imap => ("+", &["+ Ready for additional command text.", "+ e30=", "+ not base64 !!"]),
        Protocol::Smtp => ("334", &["334 VXNlcm5hbWU6", "334 e30="]),
        Protocol::Pop3 => ("+", &["+ e30="]),
        Protocol::Http => {
            return [
                "{\"access_token\":12,\"token_type\":\"Bearer\",\"expires_in\":3599}",
                "{\"token_type\":\"Bearer\",\"expires_in\":\"soon\",\"access_token\":null}",
                "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: Invalid client secret provided.\",\"error_codes\":[7000215]}",
                "{\"error\":\"invalid_request\"",
                "<html><body>Bad Gateway</body></html>",
                "[]",
                "{\"access_token\":\"\",\"expires_in\":-1}",
                "{\"expires_in\":18446744073709551616,\"access_token\":\"x\"}",
                "{\"access_token\":\"\\ud800\"}",
                "",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect()
        }
    };
    let mut v = vec![
        format!("{plus}\r\n"),
        format!("{plus} \r\n"),
        format!("{plus} {GOOGLE_401}\r\n"),
        format!("{plus} {GOOGLE_400}\r\n"),
    ];
    v.extend(extra.iter().map(|s| format!("{s}\r\n")));
    v
}

pub fn statuses(p: Protocol) -> &'static [&'static str] {
    match p {
        Protocol::Imap => &["NO", "BAD", "BYE", "PREAUTH", "OKAY", ""],
        Protocol::Smtp => &["535", "421", "999", "2", "250-", ""],
        Protocol::Pop3 => &["-ERR", "+", "+OK+", "-", ""],
        Protocol::Http => &[
            "HTTP/1.1 400 Bad Request",
            "HTTP/1.1 401 Unauthorized",
            "HTTP/1.1 500 Internal Server Error",
            "HTTP/1.1 503 Service Unavailable",
            "HTTP/1.1 302 Found",
            "HTTP/1.1 204 No Content",
            "HTTP/1.1 999 Nonsense",
            "HTTP/1.0 200",
            "garbage",
        ],
    }
}

pub fn bye(p: Protocol) -> &'static str {
    match p {
        Protocol::Imap => "* BYE Microsoft Exchange Server IMAP4 server signing off.\r\n",
        Protocol::Smtp => "421 4.3.2 Service not available, closing transmission channel\r\n",
        Protocol::Pop3 => "-ERR Connection is closed. 12\r\n",
        Protocol::Http => "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n",
    }
}

impl Mutation {
    /// A random mutation for `protocol`. Early writes (greeting, capabilities, the SASL
    /// exchange) are aimed at more often: that is where clients parse the most.
    pub fn random(rng: &mut SplitMix64, p: Protocol) -> Mutation {
        let at = if rng.one_in(2) {
            rng.below(4)
        } else {
            rng.below(MAX_TARGET_WRITE)
        } as usize;
        let op = match rng.below(15) {
            0 => Op::Truncate(rng.index(40)),
            1 => Op::BareLf,
            2 => Op::Nul(rng.index(40)),
            3 => Op::NonUtf8(rng.index(40)),
            4 => Op::Literal {
                word: 1 + rng.index(4),
                count: *[0u64, 1, 5, 4096, 4_294_967_295, u64::MAX]
                    .get(rng.index(6))
                    .unwrap_or(&1),
                sent: rng.index(12),
            },
            5 => Op::Interleave(rng.index(untagged(p).len())),
            6 => Op::Bye,
            7 => Op::Close,
            8 => Op::Trickle(1 + rng.below(MAX_TRICKLE_MS)),
            9 => Op::Pause(rng.below(MAX_PAUSE_MS)),
            10 => Op::Continuation(rng.index(continuations(p).len())),
            11 => Op::DropWords(rng.index(3)),
            12 => Op::Huge(*[1000usize, 8192, 65_536, MAX_HUGE].get(rng.index(4)).unwrap_or(&1000)),
            13 => Op::Duplicate,
            _ => Op::Status(rng.index(statuses(p).len())),
        };
        Mutation { at, op }
    }
}

/// Split off a trailing CRLF or LF.
fn body_and_end(line: &[u8]) -> (&[u8], &[u8]) {
    if line.ends_with(b"\r\n") {
        line.split_at(line.len() - 2)
    } else if line.ends_with(b"\n") {
        line.split_at(line.len() - 1)
    } else {
        (line, &[])
    }
}

/// Byte offset where word `n` (0-based, split on spaces) starts, or the end.
fn word_start(body: &[u8], n: usize) -> usize {
    let mut seen = 0;
    for (i, b) in body.iter().enumerate() {
        if *b == b' ' {
            seen += 1;
            if seen == n {
                return i + 1;
            }
        }
    }
    body.len()
}

/// Apply the mutations aimed at write `index` to `line`, in list order.
pub fn apply(muts: &[Mutation], index: usize, line: Vec<u8>, p: Protocol) -> Vec<Action> {
    let mut before: Vec<Action> = Vec::new();
    let mut line = line;
    let mut copies = 1;
    let mut trickle = None;
    for m in muts.iter().filter(|m| m.at == index) {
        let (body, end) = body_and_end(&line);
        let (body, end) = (body.to_vec(), end.to_vec());
        match &m.op {
            Op::Truncate(n) => line.truncate((*n).min(body.len())),
            Op::BareLf => line = [body, b"\n".to_vec()].concat(),
            Op::Nul(at) | Op::NonUtf8(at) => {
                let at = (*at).min(body.len());
                let bad: &[u8] = if matches!(m.op, Op::Nul(_)) {
                    b"\0"
                } else {
                    b"\xff\xfe\xc3("
                };
                line = [&body[..at], bad, &body[at..], &end].concat();
            }
            Op::Literal { word, count, sent } => {
                let at = word_start(&body, *word);
                let mut l = body[..at].to_vec();
                l.extend_from_slice(format!("{{{count}}}\r\n").as_bytes());
                l.extend(std::iter::repeat_n(b'x', *sent));
                l.extend_from_slice(&end);
                line = l;
            }
            Op::Interleave(i) => {
                if let Some(u) = untagged(p).get(*i) {
                    before.push(Action::Write(u.as_bytes().to_vec()));
                }
            }
            Op::Bye => return [before, vec![Action::Write(bye(p).as_bytes().to_vec()), Action::Close]].concat(),
            Op::Close => return [before, vec![Action::Close]].concat(),
            Op::Trickle(ms) => trickle = Some((*ms).min(MAX_TRICKLE_MS)),
            Op::Pause(ms) => before.push(Action::Pause((*ms).min(MAX_PAUSE_MS))),
            Op::Continuation(i) => {
                if let Some(c) = continuations(p).get(*i) {
                    line = c.clone().into_bytes();
                }
            }
            Op::DropWords(n) => {
                let at = word_start(&body, *n + 1).saturating_sub(1).min(body.len());
                line = [&body[..at], &end[..]].concat();
            }
            Op::Huge(n) => {
                let n = (*n).min(MAX_HUGE);
                let mut l = body;
                l.extend(std::iter::repeat_n(b'A', n));
                l.extend_from_slice(&end);
                line = l;
            }
            Op::Duplicate => copies = 2,
            Op::Status(i) => {
                if let Some(s) = statuses(p).get(*i) {
                    line = status_replaced(&body, &end, s, p);
                }
            }
        }
    }
    let mut out = before;
    for _ in 0..copies {
        if let Some(ms) = trickle {
            out.push(Action::Trickle(ms));
        }
        out.push(Action::Write(line.clone()));
    }
    out
}

/// The status word of a response: IMAP's second word (after the tag), the first word of
/// SMTP, POP3 and an HTTP status line (the whole line for HTTP).
fn status_replaced(body: &[u8], end: &[u8], status: &str, p: Protocol) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    let replaced = match p {
        Protocol::Http if text.starts_with("HTTP/") => status.to_string(),
        Protocol::Http => text.into_owned(),
        Protocol::Imap => match text.splitn(3, ' ').collect::<Vec<_>>()[..] {
            [tag, _, rest] => format!("{tag} {status} {rest}"),
            [tag, _] => format!("{tag} {status}"),
            _ => format!("{text} {status}"),
        },
        Protocol::Smtp | Protocol::Pop3 => {
            let skip = text
                .find([' ', '-'])
                .filter(|_| p == Protocol::Smtp)
                .or_else(|| text.find(' '))
                .unwrap_or(text.len());
            format!("{status}{}", &text[skip..])
        }
    };
    [replaced.as_bytes(), end].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(op: Op, line: &str) -> Vec<Action> {
        apply(&[Mutation { at: 0, op }], 0, line.as_bytes().to_vec(), Protocol::Imap)
    }

    #[test]
    fn operators_shape_the_line() {
        let caps = "* CAPABILITY IMAP4rev1 AUTH=XOAUTH2\r\n";
        assert_eq!(
            one(Op::DropWords(1), caps),
            [Action::Write(b"* CAPABILITY\r\n".to_vec())]
        );
        assert_eq!(one(Op::Truncate(5), caps), [Action::Write(b"* CAP".to_vec())]);
        assert_eq!(
            one(Op::BareLf, caps),
            [Action::Write(b"* CAPABILITY IMAP4rev1 AUTH=XOAUTH2\n".to_vec())]
        );
        assert_eq!(
            one(
                Op::Literal {
                    word: 2,
                    count: 99,
                    sent: 2
                },
                caps
            ),
            [Action::Write(b"* CAPABILITY {99}\r\nxx\r\n".to_vec())]
        );
        assert_eq!(
            one(Op::Status(0), "A1 OK AUTHENTICATE completed.\r\n"),
            [Action::Write(b"A1 NO AUTHENTICATE completed.\r\n".to_vec())]
        );
        assert_eq!(one(Op::Close, caps), [Action::Close]);
        // A mutation aimed elsewhere leaves the line alone.
        let other = apply(
            &[Mutation { at: 3, op: Op::Bye }],
            0,
            caps.as_bytes().to_vec(),
            Protocol::Imap,
        );
        assert_eq!(other, [Action::Write(caps.as_bytes().to_vec())]);
    }

    #[test]
    fn random_mutations_are_reproducible() {
        let draw = |seed| {
            let mut r = SplitMix64::new(seed);
            (0..50)
                .map(|_| Mutation::random(&mut r, Protocol::Smtp))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(9), draw(9));
        assert_ne!(draw(9), draw(10));
    }
}
