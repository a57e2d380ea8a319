//! Transcripts of a fuzz case and their rendering as a recording (`@wire: escaped`), so a
//! shrunk failure is a file that `conformance client` (client findings) or `conformance
//! run --target` (server findings) replays.

use crate::format::escape_bytes;

/// What happened on one connection, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The client sent this line (client findings: only its first words are kept).
    C(Vec<u8>),
    /// The server wrote these exact bytes.
    S(Vec<u8>),
    Pause(u64),
    Trickle(u64),
    /// The writer half-closed its side (not replayable; kept as a comment).
    HalfClose,
    Closed,
}

/// An escaped line safe in a recording: a trailing space would be trimmed by the parser.
fn escaped(b: &[u8]) -> String {
    let mut s = escape_bytes(b);
    if s.ends_with(' ') {
        s.pop();
        s.push_str("\\x20");
    }
    s
}

/// A client's line as a pattern: its tag and command (printable words only), then `{*}`.
/// Tags bind at replay, so a client whose tags differ run to run still matches.
pub fn client_pattern(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches(['\r', '\n']);
    let ok = |w: &&str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_graphic() && b != b'{' && b != b'}');
    let words: Vec<&str> = text.split(' ').take(2).collect();
    // A command is a word of letters (CAPABILITY, AUTH, UID); a SASL response is not.
    let command = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphabetic());
    if words.len() == 2 && words.iter().all(ok) && command(words[1]) {
        format!("{} {} {{*}}", words[0], words[1])
    } else if words.len() == 1 && ok(&words[0]) && text.len() < 16 && !text.contains('=') {
        // A short single word (QUIT, CAPA, *): keep it.
        format!("{} {{*}}", words[0])
    } else {
        // A SASL response or anything unprintable.
        "{*}".into()
    }
}

/// The recording text. `client_side`: client lines become patterns (a client finding);
/// otherwise they are the exact bytes sent (a server finding) and server lines are
/// compared (the first, a greeting with a date or host name, as `{*}`).
pub fn render(
    protocol: &str,
    title: &str,
    provenance: &str,
    comments: &[String],
    events: &[Event],
    client_side: bool,
) -> String {
    let mut out = String::new();
    for c in comments {
        for l in c.lines() {
            out.push_str(&format!("# {l}\n"));
        }
    }
    out.push_str(&format!(
        "@title: {title}\n@provenance: {provenance}\n@protocol: {protocol}\n@wire: escaped\n"
    ));
    let mut first_s = true;
    for e in events {
        match e {
            Event::C(b) if client_side => out.push_str(&format!("C: {}\n", client_pattern(b))),
            Event::C(b) => out.push_str(&format!("C: {}\n", escaped(b))),
            Event::S(b) if client_side => out.push_str(&format!("S: {}\n", escaped(b))),
            Event::S(b) => {
                // Received bytes, one recording line per line received.
                for l in b.split_inclusive(|&c| c == b'\n') {
                    if first_s {
                        out.push_str("S: {*}\n");
                        first_s = false;
                    } else {
                        out.push_str(&format!("S: {}\n", escaped(l)));
                    }
                }
            }
            Event::Pause(ms) => out.push_str(&format!("@pause-ms: {ms}\n")),
            Event::Trickle(ms) => out.push_str(&format!("@trickle-ms: {ms}\n")),
            Event::HalfClose => out.push_str("# here the client half-closed its side (a replay cannot)\n"),
            Event::Closed => out.push_str("S: <closed>\n"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{parse_imap, unescape, Line};

    #[test]
    fn a_client_finding_parses_back_with_its_exact_bytes() {
        let events = vec![
            Event::S(b"* OK ready\r\n".to_vec()),
            Event::C(b"a001 CAPABILITY\r\n".to_vec()),
            Event::Trickle(3),
            Event::S(b"* CAPABILITY \x00\xff\n".to_vec()),
            Event::Trickle(0),
            Event::C(b"dXNlcj1h AQE=\r\n".to_vec()),
            Event::S(b"+ ".to_vec()),
            Event::Closed,
        ];
        let text = render("imap", "t", "p", &["seed 1".into()], &events, true);
        let r = parse_imap("x", &text).expect("parses");
        assert!(r.escaped);
        assert_eq!(r.lines[1], Line::C("a001 CAPABILITY {*}".into()));
        assert_eq!(r.lines[2], Line::Trickle(3));
        let Line::S(s) = &r.lines[3] else {
            panic!("{:?}", r.lines[3])
        };
        assert_eq!(unescape(s), b"* CAPABILITY \x00\xff\n");
        assert_eq!(r.lines[5], Line::C("{*}".into()));
        let Line::S(s) = &r.lines[6] else {
            panic!("{:?}", r.lines[6])
        };
        assert_eq!(unescape(s), b"+ ", "the trailing space survives");
        assert_eq!(r.lines[7], Line::S("<closed>".into()));
    }
}
