//! One stored message and its FETCH renderings (ENVELOPE, BODY, BODYSTRUCTURE, BODY[...]).

use super::flags::Flags;
use super::mime::{count_lines, field_values, header_fields, Kind, MimePart};
use base64::Engine as _;
use imap_codec::imap_types::{
    body::{
        BasicFields, Body, BodyStructure, Disposition, Language, Location, MultiPartExtensionData,
        SinglePartExtensionData, SpecificFields,
    },
    core::{IString, NString, Quoted, Vec1},
    envelope::{Address, Envelope},
    fetch::Section,
};
use mail_parser::{HeaderValue, MessageParser, MimeHeaders};
use std::sync::{Arc, OnceLock};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// A message as stored in one folder. Cheap to clone: the bytes and the parsed MIME tree
/// are shared between copies (COPY/MOVE) and flag versions.
#[derive(Debug, Clone)]
pub struct Message {
    pub uid: u32,
    pub raw: Arc<[u8]>,
    pub internal_date: OffsetDateTime,
    pub flags: Flags,
    pub(crate) tree: Arc<MimePart>,
    /// What SEARCH reads decoded, made on first use and shared by the message's copies
    /// (COPY/MOVE, flag versions, a restored store): a SEARCH no longer parses every
    /// message again (it was a fifth of a long fuzz run's time).
    decoded: Arc<Decoded>,
}

/// The decoded views of a message SEARCH matches against, each computed once.
#[derive(Debug, Default)]
struct Decoded {
    header: OnceLock<DecodedHeader>,
    /// The text and HTML parts' decoded text, each followed by a newline.
    body_text: OnceLock<String>,
}

#[derive(Debug, Default)]
struct DecodedHeader {
    /// `(field name, "Name <address>" strings)` for From, To, Cc and Bcc.
    addresses: Vec<(&'static str, Vec<String>)>,
    subject: Option<String>,
}

/// The address fields SEARCH decodes (FROM, TO, CC, BCC and TEXT).
const SEARCH_ADDRESS_FIELDS: [&str; 4] = ["From", "To", "Cc", "Bcc"];

/// Why a message cannot be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the message is empty")]
    Empty,
    #[error("the message has no header")]
    NoHeader,
}

impl Message {
    /// Parse `raw` (leniently: anything with a header is accepted).
    pub(crate) fn parse(
        raw: Arc<[u8]>,
        uid: u32,
        flags: Flags,
        internal_date: Option<OffsetDateTime>,
    ) -> Result<Message, ParseError> {
        if raw.is_empty() {
            return Err(ParseError::Empty);
        }
        if MessageParser::default().parse_headers(&raw[..]).is_none() {
            return Err(ParseError::NoHeader);
        }
        let tree = MimePart::parse(&raw, 0..raw.len(), false, 0);
        let internal_date = internal_date
            .or_else(|| header_date(&raw[tree.header.clone()]))
            .unwrap_or_else(OffsetDateTime::now_utc);
        Ok(Message {
            uid,
            raw,
            internal_date,
            flags,
            tree: Arc::new(tree),
            decoded: Arc::default(),
        })
    }

    /// RFC822.SIZE: the length of the raw message in octets.
    pub fn size(&self) -> u32 {
        u32::try_from(self.raw.len()).unwrap_or(u32::MAX)
    }

    /// The top-level header block (including the empty line that ends it).
    pub fn header(&self) -> &[u8] {
        &self.raw[self.tree.header.clone()]
    }

    /// The top-level body.
    pub fn text(&self) -> &[u8] {
        &self.raw[self.tree.body.clone()]
    }

    /// The date of the `Date:` header, if there is a valid one.
    pub fn sent_date(&self) -> Option<OffsetDateTime> {
        header_date(self.header())
    }

    /// ENVELOPE.
    pub fn envelope(&self) -> Envelope<'static> {
        envelope(&self.raw[self.tree.header.clone()])
    }

    /// BODY (`extended == false`) or BODYSTRUCTURE (`extended == true`).
    pub fn body_structure(&self, extended: bool) -> BodyStructure<'static> {
        body_structure(&self.raw, &self.tree, extended)
    }

    /// The bytes of `BODY[section]` (`None` is `BODY[]`). A partial (`<n.m>`) is the
    /// caller's business. A part that does not exist is empty (RFC 3501 has servers
    /// return an empty string rather than fail).
    pub fn section(&self, section: Option<&Section<'_>>) -> Vec<u8> {
        let raw = &self.raw[..];
        let root = &*self.tree;
        let part = |p: Option<&imap_codec::imap_types::fetch::Part>| -> Option<&MimePart> {
            match p {
                None => Some(root),
                Some(p) => {
                    let path: Vec<u32> = p.0.as_ref().iter().map(|n| n.get()).collect();
                    // HEADER/TEXT of a part are those of its embedded message.
                    root.find(&path).and_then(MimePart::embedded)
                }
            }
        };
        match section {
            None => raw.to_vec(),
            Some(Section::Part(p)) => {
                let path: Vec<u32> = p.0.as_ref().iter().map(|n| n.get()).collect();
                root.find(&path)
                    .map(|m| raw[m.body.clone()].to_vec())
                    .unwrap_or_default()
            }
            Some(Section::Mime(p)) => {
                let path: Vec<u32> = p.0.as_ref().iter().map(|n| n.get()).collect();
                root.find(&path)
                    .map(|m| raw[m.header.clone()].to_vec())
                    .unwrap_or_default()
            }
            Some(Section::Header(p)) => part(p.as_ref())
                .map(|m| raw[m.header.clone()].to_vec())
                .unwrap_or_default(),
            Some(Section::Text(p)) => part(p.as_ref())
                .map(|m| raw[m.body.clone()].to_vec())
                .unwrap_or_default(),
            Some(Section::HeaderFields(p, names)) => part(p.as_ref())
                .map(|m| filter_fields(&raw[m.header.clone()], names.as_ref(), true))
                .unwrap_or_default(),
            Some(Section::HeaderFieldsNot(p, names)) => part(p.as_ref())
                .map(|m| filter_fields(&raw[m.header.clone()], names.as_ref(), false))
                .unwrap_or_default(),
        }
    }

    /// Raw (unfolded) values of the header fields called `name` (case-insensitive).
    pub fn header_values(&self, name: &str) -> Vec<String> {
        field_values(self.header(), name)
    }

    /// Decoded text of the text parts (for SEARCH BODY/TEXT).
    pub(crate) fn body_text(&self) -> &str {
        self.decoded.body_text.get_or_init(|| {
            let mut out = String::new();
            if let Some(m) = MessageParser::default().parse(&self.raw[..]) {
                for part in &m.parts {
                    if let mail_parser::PartType::Text(t) | mail_parser::PartType::Html(t) = &part.body {
                        out.push_str(t);
                        out.push('\n');
                    }
                }
            }
            out
        })
    }

    fn decoded_header(&self) -> &DecodedHeader {
        self.decoded.header.get_or_init(|| {
            let Some(m) = MessageParser::default().parse_headers(self.header()) else {
                return DecodedHeader::default();
            };
            let addresses = SEARCH_ADDRESS_FIELDS
                .iter()
                .map(|&name| {
                    let mut out = Vec::new();
                    for v in m.header_values(name) {
                        if let HeaderValue::Address(a) = v {
                            for addr in a.iter() {
                                out.push(format!(
                                    "{} <{}>",
                                    addr.name.as_deref().unwrap_or_default(),
                                    addr.address.as_deref().unwrap_or_default()
                                ));
                            }
                        }
                    }
                    (name, out)
                })
                .collect();
            DecodedHeader {
                addresses,
                subject: m.subject().map(str::to_string),
            }
        })
    }

    /// Decoded addresses of an address header (From, To, Cc or Bcc; any case) as
    /// "Name <address>" strings (for SEARCH); none for another field.
    pub(crate) fn decoded_addresses(&self, name: &str) -> &[String] {
        self.decoded_header()
            .addresses
            .iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map_or(&[], |(_, v)| v.as_slice())
    }

    /// The decoded Subject.
    pub(crate) fn decoded_subject(&self) -> Option<&str> {
        self.decoded_header().subject.as_deref()
    }
}

/// `HEADER.FIELDS` (`keep == true`) or `HEADER.FIELDS.NOT`: the matching fields verbatim,
/// then the empty line (RFC 3501).
fn filter_fields(header: &[u8], names: &[imap_codec::imap_types::core::AString<'_>], keep: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for field in header_fields(header) {
        let listed = names.iter().any(|n| n.as_ref().eq_ignore_ascii_case(field.name));
        if listed == keep {
            out.extend_from_slice(field.raw);
            if !field.raw.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// A date header as a time (in the header's own offset).
pub(crate) fn header_date(header: &[u8]) -> Option<OffsetDateTime> {
    let value = field_values(header, "Date").into_iter().next()?;
    let d = mail_parser::DateTime::parse_rfc822(&value)?;
    let date = Date::from_calendar_date(i32::from(d.year), Month::try_from(d.month).ok()?, d.day).ok()?;
    let time = Time::from_hms(d.hour, d.minute, d.second).ok()?;
    let sign: i8 = if d.tz_before_gmt { -1 } else { 1 };
    let offset = UtcOffset::from_hms(
        sign * i8::try_from(d.tz_hour).ok()?,
        sign * i8::try_from(d.tz_minute).ok()?,
        0,
    )
    .ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_offset(offset))
}

// ---------------------------------------------------------------------------------------
// imap-types values

/// An IMAP string; NUL bytes (not representable) are dropped.
pub(crate) fn istring(bytes: impl Into<Vec<u8>>) -> IString<'static> {
    let mut bytes: Vec<u8> = bytes.into();
    bytes.retain(|&b| b != 0);
    IString::try_from(bytes).unwrap_or_else(|_| IString::Quoted(Quoted::unvalidated("")))
}

fn nstring(bytes: Option<impl Into<Vec<u8>>>) -> NString<'static> {
    NString(bytes.map(istring))
}

fn envelope(header: &[u8]) -> Envelope<'static> {
    let first = |name: &str| field_values(header, name).into_iter().next();
    let parsed = MessageParser::default().parse_headers(header);
    let addresses = |name: &str| -> Vec<Address<'static>> {
        parsed
            .as_ref()
            .and_then(|m| m.header(name))
            .and_then(HeaderValue::as_address)
            .map(imap_addresses)
            .unwrap_or_default()
    };
    let from = addresses("From");
    let mut sender = addresses("Sender");
    if sender.is_empty() {
        sender = from.clone();
    }
    let mut reply_to = addresses("Reply-To");
    if reply_to.is_empty() {
        reply_to = from.clone();
    }
    Envelope {
        date: nstring(first("Date")),
        subject: nstring(first("Subject")),
        from,
        sender,
        reply_to,
        to: addresses("To"),
        cc: addresses("Cc"),
        bcc: addresses("Bcc"),
        in_reply_to: nstring(first("In-Reply-To")),
        message_id: nstring(first("Message-ID")),
    }
}

/// A display name as an IMAP string: RFC 2047-encoded again if mail-parser decoded it to
/// something beyond ASCII.
fn name_string(name: Option<&str>) -> NString<'static> {
    match name {
        None | Some("") => NString(None),
        Some(n) if n.is_ascii() => nstring(Some(n)),
        Some(n) => nstring(Some(format!(
            "=?utf-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(n.as_bytes())
        ))),
    }
}

fn imap_address(a: &mail_parser::Addr<'_>) -> Address<'static> {
    let addr = a.address.as_deref().unwrap_or_default();
    let (mailbox, host) = match addr.rfind('@') {
        Some(i) => (&addr[..i], &addr[i + 1..]),
        None => (addr, ""),
    };
    Address {
        name: name_string(a.name.as_deref()),
        adl: NString(None),
        mailbox: nstring(Some(mailbox)),
        host: nstring(Some(host)),
    }
}

fn imap_addresses(a: &mail_parser::Address<'_>) -> Vec<Address<'static>> {
    match a {
        mail_parser::Address::List(list) => list.iter().map(imap_address).collect(),
        mail_parser::Address::Group(groups) => {
            let mut out = Vec::new();
            for g in groups {
                match &g.name {
                    // RFC 3501 group syntax: a start marker (NIL host, group name as
                    // mailbox), the members, an end marker (NIL mailbox and host).
                    Some(name) => {
                        out.push(Address {
                            name: NString(None),
                            adl: NString(None),
                            mailbox: nstring(Some(name.as_bytes())),
                            host: NString(None),
                        });
                        out.extend(g.addresses.iter().map(imap_address));
                        out.push(Address {
                            name: NString(None),
                            adl: NString(None),
                            mailbox: NString(None),
                            host: NString(None),
                        });
                    }
                    None => out.extend(g.addresses.iter().map(imap_address)),
                }
            }
            out
        }
    }
}

fn params_list(params: &[(String, String)]) -> Vec<(IString<'static>, IString<'static>)> {
    params
        .iter()
        .map(|(n, v)| (istring(n.as_bytes()), istring(v.as_bytes())))
        .collect()
}

/// Content-Disposition, Content-Language and Content-Location of a part.
struct MimeExtras {
    id: Option<String>,
    description: Option<String>,
    encoding: String,
    disposition: Option<(String, Vec<(String, String)>)>,
    language: Vec<String>,
    location: Option<String>,
}

fn mime_extras(header: &[u8]) -> MimeExtras {
    let first = |name: &str| field_values(header, name).into_iter().next();
    let parsed = MessageParser::default().parse_headers(header);
    let disposition = parsed.as_ref().and_then(|m| m.content_disposition()).map(|d| {
        (
            d.c_type.to_ascii_lowercase(),
            d.attributes
                .iter()
                .flatten()
                .map(|a| (a.name.to_ascii_lowercase(), a.value.to_string()))
                .collect(),
        )
    });
    let language = match parsed.as_ref().map(|m| m.content_language()) {
        Some(HeaderValue::Text(t)) => vec![t.to_string()],
        Some(HeaderValue::TextList(l)) => l.iter().map(|t| t.to_string()).collect(),
        _ => Vec::new(),
    };
    MimeExtras {
        id: first("Content-ID"),
        description: first("Content-Description"),
        encoding: first("Content-Transfer-Encoding")
            .map(|e| e.to_ascii_lowercase())
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| "7bit".into()),
        disposition,
        language,
        location: first("Content-Location"),
    }
}

fn disposition_tail(x: &MimeExtras) -> Disposition<'static> {
    Disposition {
        disposition: x
            .disposition
            .as_ref()
            .map(|(kind, params)| (istring(kind.as_bytes()), params_list(params))),
        tail: Some(Language {
            language: x.language.iter().map(|l| istring(l.as_bytes())).collect(),
            tail: Some(Location {
                location: nstring(x.location.as_deref()),
                extensions: Vec::new(),
            }),
        }),
    }
}

/// A multipart's extension data ends after the language: Exchange writes
/// `"mixed" ("boundary" "…") NIL NIL` with no body location
/// (https://github.com/pmengal/MailSystem.NET/issues/23, Exchange 2016/Online), where a
/// single part carries all four fields (`… NIL NIL NIL NIL`, same capture).
fn multipart_tail(x: &MimeExtras) -> Disposition<'static> {
    let mut d = disposition_tail(x);
    if let Some(language) = &mut d.tail {
        language.tail = None;
    }
    d
}

fn body_structure(raw: &[u8], part: &MimePart, extended: bool) -> BodyStructure<'static> {
    let header = &raw[part.header.clone()];
    let x = mime_extras(header);
    if let Kind::Multipart(children) = &part.kind {
        let bodies: Vec<BodyStructure<'static>> = children.iter().map(|c| body_structure(raw, c, extended)).collect();
        if let Ok(bodies) = Vec1::try_from(bodies) {
            return BodyStructure::Multi {
                bodies,
                subtype: istring(part.subtype.as_bytes()),
                extension_data: extended.then(|| MultiPartExtensionData {
                    parameter_list: params_list(&part.params),
                    tail: Some(multipart_tail(&x)),
                }),
            };
        }
    }
    let body = &raw[part.body.clone()];
    let size = u32::try_from(body.len()).unwrap_or(u32::MAX);
    let specific = match &part.kind {
        Kind::Message(inner) => SpecificFields::Message {
            envelope: Box::new(envelope(&raw[inner.header.clone()])),
            body_structure: Box::new(body_structure(raw, inner, extended)),
            number_of_lines: count_lines(body),
        },
        _ if part.is_text() => SpecificFields::Text {
            subtype: istring(part.subtype.as_bytes()),
            number_of_lines: count_lines(body),
        },
        _ => SpecificFields::Basic {
            r#type: istring(part.ctype.as_bytes()),
            subtype: istring(part.subtype.as_bytes()),
        },
    };
    BodyStructure::Single {
        body: Body {
            basic: BasicFields {
                parameter_list: params_list(&part.params),
                id: nstring(x.id.as_deref()),
                description: nstring(x.description.as_deref()),
                content_transfer_encoding: istring(x.encoding.as_bytes()),
                size,
            },
            specific,
        },
        extension_data: extended.then(|| SinglePartExtensionData {
            md5: nstring(field_values(header, "Content-MD5").into_iter().next()),
            tail: Some(disposition_tail(&x)),
        }),
    }
}
