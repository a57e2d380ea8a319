//! IMAP framing, sans-I/O: client bytes in, whole messages (a command line with its
//! literals, or one line in line mode) out, with every limit applied while bytes arrive.
//!
//! It plays the part of imap-codec's `Fragmentizer` (which checks a line's length only
//! once the line has ended, so an endless line grows to the message limit) but stores at
//! most `line_limit` bytes of a line that has not ended, never stores a literal it has
//! refused, and can skip the rest of a message without storing it, still following its
//! literal announcements so that literal bytes are never read as commands.
//!
//! The framer decides nothing about the protocol: it reports [`Frame`]s and the session
//! chooses the answer (the go-ahead, `BAD Command Error. 10`, a close).

/// The longest literal announcement, `{4294967295+}`, plus CR LF: what a skipped line
/// keeps of its end to see whether a literal follows it.
const ANNOUNCEMENT_TAIL: usize = 16;

/// What the framer found in the bytes fed so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// A whole message is in [`Framer::message`] (ending with its line's CRLF or LF).
    Message,
    /// A line of the message announced a literal. The framer reads it next, unless the
    /// session calls [`Framer::refuse_literal`].
    Literal { length: u32, sync: bool },
    /// The current line passed the line limit before its end. The framer now skips the
    /// rest of the message; until the next call [`Framer::message`] holds the start of
    /// the line (for a tag).
    LineTooLong,
    /// The end of a message the framer was skipping (nothing to decode).
    Skipped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Line,
    Literal { remaining: u32 },
}

/// Splits client bytes into messages within limits. Holds at most the current message
/// (bounded by the limits passed to [`Framer::next`]).
#[derive(Debug, Default)]
pub struct Framer {
    /// The current message; while skipping, only the end of the current line.
    message: Vec<u8>,
    /// Where the current line starts in `message`.
    line_start: usize,
    /// Skipping a message whose answer is already given: nothing is stored but the last
    /// bytes of each line (for literal announcements).
    skipping: bool,
    /// `message` still holds the start of a too-long line, shown for its tag until the
    /// next call.
    tag_shown: bool,
    /// The end of the too-long line so far, while its tag is shown.
    skipped_tail: Vec<u8>,
    /// A frame found together with the last one, returned by the next call.
    pending: Option<Frame>,
    /// The length of the too-long line being skipped, without its line ending.
    overlong: usize,
    /// `None` between messages.
    state: Option<State>,
}

impl Framer {
    /// Consume `input` until a frame is found (returned, with `input` advanced past it)
    /// or `input` is used up (`None`). `line_limit` counts a line's bytes without its
    /// CRLF; `literals` is false in line mode (a SASL response, IDLE's DONE), where a
    /// line ends a message whatever it ends with; `message_limit` caps the lines of a
    /// message (the session checks literal lengths when they are announced).
    pub fn next(
        &mut self,
        input: &mut &[u8],
        line_limit: usize,
        literals: bool,
        message_limit: usize,
    ) -> Option<Frame> {
        if let Some(frame) = self.pending.take() {
            self.forget_tag();
            return Some(frame);
        }
        self.forget_tag();
        loop {
            match self.state.unwrap_or(State::Line) {
                State::Literal { remaining } => {
                    // A literal of zero bytes is complete without any input.
                    if input.is_empty() && remaining > 0 {
                        return None;
                    }
                    let take = input.len().min(remaining as usize);
                    if !self.skipping {
                        self.message.extend_from_slice(&input[..take]);
                    }
                    *input = &input[take..];
                    // `take` is at most `remaining`, a u32.
                    let left = remaining.saturating_sub(u32::try_from(take).unwrap_or(u32::MAX));
                    if left > 0 {
                        self.state = Some(State::Literal { remaining: left });
                        return None;
                    }
                    self.state = Some(State::Line);
                    self.line_start = self.message.len();
                }
                State::Line => {
                    self.state = Some(State::Line);
                    let lf = input.iter().position(|&b| b == b'\n');
                    let (part, rest) = input.split_at(lf.map_or(input.len(), |i| i + 1));
                    *input = rest;
                    if self.skipping {
                        self.overlong = self.overlong.saturating_add(part.len());
                        let end = tail(&self.message[self.line_start..], part);
                        self.message.truncate(self.line_start);
                        self.message.extend_from_slice(&end);
                        // Without its LF the line goes on in the next bytes.
                        lf?;
                        self.overlong = self.overlong.saturating_sub(line_ending(&end));
                        let announced = if literals { announcement(&end) } else { None };
                        self.message.truncate(self.line_start);
                        if let Some(frame) = self.end_skipped_line(announced) {
                            return Some(frame);
                        }
                        continue;
                    }
                    let line = self.message.len() - self.line_start + part.len();
                    // A line without its LF yet is too long once even a bare LF would
                    // take it past the limit (with CRLF: limit + 2).
                    let over = match lf {
                        Some(_) => line > line_limit.saturating_add(2),
                        None => line > line_limit.saturating_add(1),
                    };
                    if over || self.message.len() + part.len() > message_limit {
                        // Keep the line's start for the answer's tag, skip the rest.
                        let end = tail(&self.message[self.line_start..], part);
                        self.overlong = line.saturating_sub(lf.map_or(0, |_| line_ending(&end)));
                        let room = (self.line_start + line_limit).saturating_sub(self.message.len());
                        self.message.extend_from_slice(&part[..room.min(part.len())]);
                        self.skipping = true;
                        self.tag_shown = true;
                        if lf.is_some() {
                            let announced = if literals { announcement(&end) } else { None };
                            self.pending = self.end_skipped_line(announced);
                        } else {
                            self.skipped_tail = end;
                        }
                        return Some(Frame::LineTooLong);
                    }
                    self.message.extend_from_slice(part);
                    lf?;
                    let announced = if literals {
                        announcement(&self.message[self.line_start..])
                    } else {
                        None
                    };
                    match announced {
                        Some((length, sync)) => {
                            self.state = Some(State::Literal { remaining: length });
                            return Some(Frame::Literal { length, sync });
                        }
                        None => {
                            self.state = None;
                            return Some(Frame::Message);
                        }
                    }
                }
            }
        }
    }

    /// After a too-long line's answer: drop the start kept for its tag, keep its end.
    fn forget_tag(&mut self) {
        if !self.tag_shown {
            return;
        }
        self.tag_shown = false;
        self.message.truncate(self.line_start);
        self.message.shrink_to(self.line_start + ANNOUNCEMENT_TAIL);
        let end = std::mem::take(&mut self.skipped_tail);
        if self.state == Some(State::Line) {
            self.message.extend_from_slice(&end);
        }
    }

    /// A skipped line ended: a non-synchronizing literal after it is skipped too; a
    /// synchronizing one is never sent (the client waits for a go-ahead that does not
    /// come), so the message ends here. `Some(Skipped)` at the message's end.
    fn end_skipped_line(&mut self, announced: Option<(u32, bool)>) -> Option<Frame> {
        match announced {
            Some((length, false)) => {
                self.state = Some(State::Literal { remaining: length });
                None
            }
            _ => {
                self.state = None;
                Some(Frame::Skipped)
            }
        }
    }

    /// Do not read the literal just announced. A synchronizing literal is not sent by the
    /// client, so the message ends now; a non-synchronizing one is skipped with the rest
    /// of the message.
    pub fn refuse_literal(&mut self, sync: bool) {
        if sync {
            self.reset();
        } else {
            self.message = Vec::new();
            self.line_start = 0;
            self.skipping = true;
        }
    }

    /// How long the last too-long line was (without its line ending) once it has ended;
    /// so far, before.
    pub fn overlong(&self) -> usize {
        self.overlong
    }

    /// The current message's bytes (after [`Frame::Message`]: all of it).
    pub fn message(&self) -> &[u8] {
        &self.message
    }

    /// Whether nothing of a next message has arrived (between commands).
    pub fn is_idle(&self) -> bool {
        self.state.is_none() && self.message.is_empty() && self.pending.is_none()
    }

    /// Forget the current message (after it was answered, or after STARTTLS), and give
    /// back the memory of a large one.
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// The bytes this framer holds on the heap.
    pub fn held(&self) -> usize {
        self.message.capacity() + self.skipped_tail.capacity()
    }
}

/// How many bytes of a line's end are its line ending (CRLF or LF).
fn line_ending(end: &[u8]) -> usize {
    if end.ends_with(b"\r\n") {
        2
    } else {
        usize::from(end.ends_with(b"\n"))
    }
}

/// The last [`ANNOUNCEMENT_TAIL`] bytes of a line held in two parts.
fn tail(before: &[u8], part: &[u8]) -> Vec<u8> {
    let from_part = part.len().min(ANNOUNCEMENT_TAIL);
    let from_before = (ANNOUNCEMENT_TAIL - from_part).min(before.len());
    let mut t = before[before.len() - from_before..].to_vec();
    t.extend_from_slice(&part[part.len() - from_part..]);
    t
}

/// The literal announced at the end of an ended line: `{n}` or `{n+}` before CRLF or LF,
/// as imap-codec's fragmentizer reads it (a length over `u32` is no announcement).
fn announcement(line: &[u8]) -> Option<(u32, bool)> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = line.strip_suffix(b"}")?;
    let (line, sync) = match line.strip_suffix(b"+") {
        Some(l) => (l, false),
        None => (line, true),
    };
    let open = line.iter().rposition(|&b| b == b'{')?;
    let digits = &line[open + 1..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let length = std::str::from_utf8(digits).ok()?.parse::<u32>().ok()?;
    Some((length, sync))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `chunks`, collecting (frame, message bytes) pairs.
    fn run(chunks: &[&[u8]], limit: usize, literals: bool) -> Vec<(Frame, Vec<u8>)> {
        let mut f = Framer::default();
        let mut out = Vec::new();
        for chunk in chunks {
            let mut input = *chunk;
            while let Some(frame) = f.next(&mut input, limit, literals, 1 << 20) {
                out.push((frame, f.message().to_vec()));
                if matches!(frame, Frame::Message | Frame::Skipped) {
                    f.reset();
                }
            }
        }
        out
    }

    #[test]
    fn lines_and_literals_are_framed_across_any_split() {
        let whole: &[u8] = b"A1 NOOP\r\nA2 APPEND x {5}\r\nhello\r\nA3 LOGIN {1+}\r\nu p\n";
        for cut in 0..whole.len() {
            let (a, b) = whole.split_at(cut);
            let frames = run(&[a, b], 100, true);
            assert_eq!(
                frames,
                vec![
                    (Frame::Message, b"A1 NOOP\r\n".to_vec()),
                    (
                        Frame::Literal { length: 5, sync: true },
                        b"A2 APPEND x {5}\r\n".to_vec()
                    ),
                    (Frame::Message, b"A2 APPEND x {5}\r\nhello\r\n".to_vec()),
                    (Frame::Literal { length: 1, sync: false }, b"A3 LOGIN {1+}\r\n".to_vec()),
                    (Frame::Message, b"A3 LOGIN {1+}\r\nu p\n".to_vec()),
                ],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn an_endless_line_is_reported_at_the_limit_and_never_stored() {
        let mut f = Framer::default();
        let chunk = [b'x'; 1000];
        let mut input: &[u8] = b"T1 NOOP ";
        assert_eq!(f.next(&mut input, 64, true, 1 << 20), None);
        let mut reported = 0;
        for _ in 0..100 {
            let mut input = &chunk[..];
            if f.next(&mut input, 64, true, 1 << 20) == Some(Frame::LineTooLong) {
                reported += 1;
                assert!(f.message().starts_with(b"T1 NOOP "));
            }
            assert!(input.is_empty());
            assert!(f.held() <= 1024 + 64, "holds {}", f.held());
        }
        assert_eq!(reported, 1);
        let mut input: &[u8] = b"xx\r\nT2 NOOP\r\n";
        assert_eq!(f.next(&mut input, 64, true, 1 << 20), Some(Frame::Skipped));
        f.reset();
        assert_eq!(f.next(&mut input, 64, true, 1 << 20), Some(Frame::Message));
        assert_eq!(f.message(), b"T2 NOOP\r\n");
    }

    #[test]
    fn a_skipped_line_still_skips_its_non_synchronizing_literal() {
        let long = format!("T1 APPEND {} {{6+}}\r\nT9 X\r\n\r\nT2 NOOP\r\n", "x".repeat(100));
        let frames = run(&[long.as_bytes()], 50, true);
        let kinds: Vec<Frame> = frames.iter().map(|f| f.0).collect();
        assert_eq!(kinds, [Frame::LineTooLong, Frame::Skipped, Frame::Message]);
        assert_eq!(frames[2].1, b"T2 NOOP\r\n");
    }

    #[test]
    fn an_empty_literal_needs_no_bytes() {
        let frames = run(&[b"A1 LOGIN {0}\r\n", b" x\r\n"], 100, true);
        assert_eq!(
            frames,
            vec![
                (Frame::Literal { length: 0, sync: true }, b"A1 LOGIN {0}\r\n".to_vec()),
                (Frame::Message, b"A1 LOGIN {0}\r\n x\r\n".to_vec()),
            ]
        );
    }

    #[test]
    fn line_mode_ignores_announcements() {
        let frames = run(&[b"abc{5}\r\n"], 100, false);
        assert_eq!(frames, vec![(Frame::Message, b"abc{5}\r\n".to_vec())]);
    }

    #[test]
    fn a_refused_literal_is_not_stored() {
        let mut f = Framer::default();
        let mut input: &[u8] = b"T1 APPEND x {100+}\r\n";
        assert_eq!(
            f.next(&mut input, 100, true, 1 << 20),
            Some(Frame::Literal {
                length: 100,
                sync: false
            })
        );
        f.refuse_literal(false);
        let body = [b'y'; 100];
        let mut input = &body[..];
        assert_eq!(f.next(&mut input, 100, true, 1 << 20), None);
        assert_eq!(f.held(), 0);
        let mut input: &[u8] = b"\r\nT2 NOOP\r\n";
        assert_eq!(f.next(&mut input, 100, true, 1 << 20), Some(Frame::Skipped));
    }
}
