//! A MIME tree over the raw bytes of a message: byte ranges of every part's header and
//! body, which is what IMAP needs (BODY[1.2], BODY[1.MIME], sizes in octets, line counts).
//!
//! mail-parser decodes header *values* (addresses, RFC 2047 words, RFC 2231 parameters);
//! this module only finds where things are, following RFC 2045/2046: the CRLF before a
//! boundary delimiter belongs to the delimiter, preamble and epilogue belong to no part.

use mail_parser::{MessageParser, MimeHeaders};
use std::ops::Range;

/// Nesting limit for multiparts and message/rfc822 (deeper parts are leaves).
const MAX_DEPTH: usize = 32;

/// One MIME entity: a whole message, an embedded message, or a body part.
#[derive(Debug, Clone)]
pub(crate) struct MimePart {
    /// The header block, including the blank line that ends it (if any).
    pub header: Range<usize>,
    /// The body (for an embedded message: the whole embedded message).
    pub body: Range<usize>,
    /// Lower-case type and subtype.
    pub ctype: String,
    pub subtype: String,
    /// Content-Type parameters, names lower-case, values decoded.
    pub params: Vec<(String, String)>,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Leaf,
    Multipart(Vec<MimePart>),
    /// message/rfc822: the embedded message, whose header starts at `body.start`.
    Message(Box<MimePart>),
}

impl MimePart {
    /// Parse the entity spanning `range` of `raw`. `default_digest` is true for the
    /// children of multipart/digest, whose default type is message/rfc822.
    pub fn parse(raw: &[u8], range: Range<usize>, default_digest: bool, depth: usize) -> MimePart {
        let bytes = &raw[range.clone()];
        let header_len = header_length(bytes);
        let header = range.start..range.start + header_len;
        let body = range.start + header_len..range.end;
        let (mut ctype, mut subtype, params) = content_type(&raw[header.clone()], default_digest);
        let kind = if depth >= MAX_DEPTH {
            Kind::Leaf
        } else if ctype == "multipart" {
            let boundary = params.iter().find(|(n, _)| n == "boundary").map(|(_, v)| v.clone());
            let ranges = boundary
                .map(|b| split_multipart(raw, body.clone(), b.as_bytes()))
                .unwrap_or_default();
            if ranges.is_empty() {
                // A multipart without boundary or parts: show it as plain text, as
                // servers commonly do, rather than an empty (invalid) multipart.
                ctype = "text".into();
                subtype = "plain".into();
                Kind::Leaf
            } else {
                let digest = subtype == "digest";
                Kind::Multipart(
                    ranges
                        .into_iter()
                        .map(|r| MimePart::parse(raw, r, digest, depth + 1))
                        .collect(),
                )
            }
        } else if ctype == "message" && (subtype == "rfc822" || subtype == "global") {
            Kind::Message(Box::new(MimePart::parse(raw, body.clone(), false, depth + 1)))
        } else {
            Kind::Leaf
        };
        MimePart {
            header,
            body,
            ctype,
            subtype,
            params,
            kind,
        }
    }

    /// The part IMAP calls `path` (e.g. `[1, 2]`), starting at this (top-level) message.
    /// Returns the part and whether it is the message itself standing in as part 1 of a
    /// non-multipart message.
    pub fn find(&self, path: &[u32]) -> Option<&MimePart> {
        let mut cur = self;
        let mut cur_is_message = true;
        for &n in path {
            let n = usize::try_from(n).ok()?.checked_sub(1)?;
            let container = if cur_is_message {
                cur
            } else if let Kind::Message(inner) = &cur.kind {
                inner
            } else {
                match &cur.kind {
                    Kind::Multipart(children) => {
                        cur = children.get(n)?;
                        cur_is_message = false;
                        continue;
                    }
                    _ => return None,
                }
            };
            cur = match &container.kind {
                Kind::Multipart(children) => children.get(n)?,
                _ if n == 0 => container,
                _ => return None,
            };
            cur_is_message = false;
        }
        Some(cur)
    }

    /// The embedded message of a message/rfc822 part.
    pub fn embedded(&self) -> Option<&MimePart> {
        match &self.kind {
            Kind::Message(inner) => Some(inner),
            _ => None,
        }
    }

    pub fn is_text(&self) -> bool {
        self.ctype == "text"
    }
}

/// Length of the header block including its terminating empty line; the whole input if
/// there is no empty line (then the body is empty).
pub(crate) fn header_length(bytes: &[u8]) -> usize {
    let mut pos = 0;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        if rest.starts_with(b"\r\n") {
            return pos + 2;
        }
        if rest.starts_with(b"\n") {
            return pos + 1;
        }
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => pos += i + 1,
            None => return bytes.len(),
        }
    }
    bytes.len()
}

/// The ranges of the body parts of a multipart body.
fn split_multipart(raw: &[u8], body: Range<usize>, boundary: &[u8]) -> Vec<Range<usize>> {
    let mut delimiter = b"--".to_vec();
    delimiter.extend_from_slice(boundary);
    let bytes = &raw[body.clone()];
    // (start of the delimiter including the preceding line break, start of the next
    // part, is close delimiter)
    let mut delimiters = Vec::new();
    let mut line_start = 0;
    while line_start < bytes.len() {
        let line_end = bytes[line_start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| line_start + i + 1);
        let line = &bytes[line_start..line_end];
        if line.starts_with(&delimiter) {
            let after = &line[delimiter.len()..];
            let close = after.starts_with(b"--");
            let rest = if close { &after[2..] } else { after };
            // Only transport padding may follow the boundary on its line.
            if rest.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')) {
                let mut start = line_start;
                if start >= 2 && &bytes[start - 2..start] == b"\r\n" {
                    start -= 2;
                } else if start >= 1 && bytes[start - 1] == b'\n' {
                    start -= 1;
                }
                delimiters.push((start, line_end, close));
                if close {
                    break;
                }
            }
        }
        line_start = line_end;
    }
    let mut parts = Vec::new();
    for (i, &(_, next, close)) in delimiters.iter().enumerate() {
        if close {
            break;
        }
        let end = delimiters.get(i + 1).map_or(bytes.len(), |d| d.0.max(next));
        parts.push(body.start + next..body.start + end);
    }
    parts
}

/// Type, subtype and parameters from a header block (RFC 2045 defaults).
fn content_type(header: &[u8], default_digest: bool) -> (String, String, Vec<(String, String)>) {
    let parsed = MessageParser::default().parse_headers(header);
    let ct = parsed.as_ref().and_then(|m| m.content_type());
    match ct {
        Some(ct) if !ct.c_type.is_empty() => {
            let params = ct
                .attributes
                .iter()
                .flatten()
                .map(|a| (a.name.to_ascii_lowercase(), a.value.to_string()))
                .collect::<Vec<_>>();
            let ctype = ct.c_type.to_ascii_lowercase();
            let subtype = ct.c_subtype.as_deref().map(str::to_ascii_lowercase).unwrap_or_else(|| {
                match ctype.as_str() {
                    "text" => "plain",
                    "message" => "rfc822",
                    "multipart" => "mixed",
                    _ => "octet-stream",
                }
                .to_string()
            });
            (ctype, subtype, params)
        }
        _ if default_digest => ("message".into(), "rfc822".into(), Vec::new()),
        _ => (
            "text".into(),
            "plain".into(),
            vec![("charset".into(), "us-ascii".into())],
        ),
    }
}

/// Lines of a body: line breaks, plus one for an unterminated last line.
pub(crate) fn count_lines(bytes: &[u8]) -> u32 {
    let breaks = bytes.iter().filter(|&&b| b == b'\n').count();
    let extra = usize::from(!bytes.is_empty() && !bytes.ends_with(b"\n"));
    u32::try_from(breaks + extra).unwrap_or(u32::MAX)
}

/// One header field: its name and its full raw text (name, colon, value, folded lines,
/// final line break).
pub(crate) struct RawField<'a> {
    pub name: &'a [u8],
    pub raw: &'a [u8],
}

impl RawField<'_> {
    /// The value unfolded (line breaks removed) and trimmed.
    pub fn value(&self) -> String {
        let colon = self
            .raw
            .iter()
            .position(|&b| b == b':')
            .map_or(self.raw.len(), |i| i + 1);
        let value: Vec<u8> = self.raw[colon..]
            .iter()
            .copied()
            .filter(|&b| b != b'\r' && b != b'\n')
            .collect();
        String::from_utf8_lossy(&value).trim().to_string()
    }
}

/// The fields of a header block (the terminating empty line is not a field).
pub(crate) fn header_fields(header: &[u8]) -> Vec<RawField<'_>> {
    // (name, start of the field, end of its last line)
    let mut spans: Vec<(&[u8], usize, usize)> = Vec::new();
    let mut pos = 0;
    while pos < header.len() {
        let end = header[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(header.len(), |i| pos + i + 1);
        let line = &header[pos..end];
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        match spans.last_mut() {
            // A continuation line extends the previous field.
            Some(last) if matches!(line.first(), Some(b' ' | b'\t')) => last.2 = end,
            _ => {
                let name_end = line.iter().position(|&b| b == b':').unwrap_or(line.len());
                spans.push((trim_ascii(&line[..name_end]), pos, end));
            }
        }
        pos = end;
    }
    spans
        .into_iter()
        .map(|(name, start, end)| RawField {
            name,
            raw: &header[start..end],
        })
        .collect()
}

fn trim_ascii(mut b: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = b {
        if first.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = b {
        if last.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    b
}

/// The raw values of all fields called `name` (case-insensitive), unfolded and trimmed.
pub(crate) fn field_values(header: &[u8], name: &str) -> Vec<String> {
    header_fields(header)
        .into_iter()
        .filter(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))
        .map(|f| f.value())
        .collect()
}
