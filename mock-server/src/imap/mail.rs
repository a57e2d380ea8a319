//! The mailbox commands of an authenticated session, answered from the mail store and
//! encoded with imap-codec.
//!
//! Each session keeps the UIDs (and flags) it has told its client about. New messages
//! from other sessions are announced (`* n EXISTS`) after any command; expunges and flag
//! changes by others only on NOOP, CHECK and IDLE, where RFC 3501 allows them, so a
//! client's sequence numbers never shift under it mid-command.

use super::personality as p;
use crate::mailstore::{sequence_set_contains, FlagOp, Flags, Mailbox, Message, SearchContext, StoreError};
use imap_codec::encode::Encoder;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::core::{IString, Literal, NString, QuotedChar, Vec1};
use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::fetch::{MacroOrMessageDataItemNames, MessageDataItem, MessageDataItemName};
use imap_codec::imap_types::flag::{FlagNameAttribute, StoreResponse, StoreType};
use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox as ImapMailbox};
use imap_codec::imap_types::response::{Data, Response};
use imap_codec::imap_types::search::SearchKey;
use imap_codec::imap_types::sequence::SequenceSet;
use imap_codec::imap_types::status::{StatusDataItem, StatusDataItemName};
use imap_codec::ResponseCodec;
use std::num::NonZeroU32;
use std::sync::Arc;
use tokio::sync::watch;

/// What the session does after a mailbox command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    Continue,
    /// The command was IDLE: the session now waits for DONE.
    Idle,
}

/// Exchange's answer to a folder that does not exist. Not confirmed by a capture; the
/// wording is Exchange's store error text.
const NO_SUCH_FOLDER: &str = "NO The specified folder could not be found in the store.";
/// A sequence number out of range. Unconfirmed: Exchange's store wording, no capture.
const INVALID_SET: &str = "BAD The specified message set is invalid.";
/// STORE, MOVE or EXPUNGE in a folder opened with EXAMINE. Unconfirmed: no capture.
const READ_ONLY: &str = "NO [READ-ONLY] The folder is opened read-only.";

/// The folder a session has selected.
#[derive(Debug)]
struct Selected {
    folder: String,
    read_only: bool,
    /// What the client knows, in sequence order: (UID, flags).
    known: Vec<(u32, Flags)>,
}

/// The mailbox a session opened, and its selected folder.
#[derive(Debug)]
pub struct MailState {
    mailbox: Arc<Mailbox>,
    selected: Option<Selected>,
    changes: watch::Receiver<u64>,
    /// Follow EXPUNGE's `* n EXPUNGE` lines with `* n EXISTS` ([`super::ImapConfig::exists_after_expunge`]).
    exists_after_expunge: bool,
}

fn tagged(out: &mut Vec<u8>, tag: &str, text: &str) {
    out.extend_from_slice(tag.as_bytes());
    out.push(b' ');
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn data(out: &mut Vec<u8>, d: Data<'_>) {
    out.extend_from_slice(&ResponseCodec::default().encode(&Response::Data(d)).dump());
}

/// imap-codec writes the media type of a text part as `"TEXT"`; Exchange writes it in
/// lower case as the other types: `("text" "plain" ("charset" "ISO-8859-1") …` in
/// https://github.com/jstedfast/MailKit/issues/919 and `("text" "html" ("charset" "utf-8") …`
/// in https://github.com/pmengal/MailSystem.NET/issues/23. Rewrites every `("TEXT" ` token in
/// an encoded FETCH response outside quoted strings' contents and literals, in place.
fn lower_case_text_type(line: &mut [u8]) {
    const TOKEN: &[u8] = b"(\"TEXT\" ";
    let mut i = 0;
    while i < line.len() {
        match line[i] {
            b'"' => {
                // Skip a quoted string that is not the token (escapes included).
                i += 1;
                while i < line.len() && line[i] != b'"' {
                    i += if line[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'{' => {
                // A literal: `{n}` or `{n+}`, CRLF, n bytes that are never rewritten.
                let digits_end = line[i + 1..]
                    .iter()
                    .position(|b| !b.is_ascii_digit())
                    .map_or(line.len(), |p| i + 1 + p);
                let n: usize = std::str::from_utf8(&line[i + 1..digits_end])
                    .ok()
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(0);
                let crlf = line[digits_end..]
                    .windows(2)
                    .position(|w| w == b"\r\n")
                    .map_or(line.len(), |p| digits_end + p + 2);
                i = crlf.saturating_add(n);
            }
            b'(' if line[i..].starts_with(TOKEN) => {
                line[i + 2..i + 6].make_ascii_lowercase();
                i += TOKEN.len();
            }
            _ => i += 1,
        }
    }
}

fn folder_name(m: &ImapMailbox<'_>) -> String {
    match m {
        ImapMailbox::Inbox => "INBOX".into(),
        ImapMailbox::Other(o) => String::from_utf8_lossy(o.inner().as_ref()).into_owned(),
    }
}

fn imap_mailbox(name: &str) -> ImapMailbox<'static> {
    ImapMailbox::try_from(name.to_string()).unwrap_or(ImapMailbox::Inbox)
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

/// Whether a search program uses KEYWORD or UNKEYWORD anywhere.
fn has_keyword_key(key: &SearchKey<'_>) -> bool {
    match key {
        SearchKey::Keyword(_) | SearchKey::Unkeyword(_) => true,
        SearchKey::And(keys) => keys.as_ref().iter().any(has_keyword_key),
        SearchKey::Or(a, b) => has_keyword_key(a) || has_keyword_key(b),
        SearchKey::Not(k) => has_keyword_key(k),
        _ => false,
    }
}

fn nstring(bytes: Vec<u8>) -> NString<'static> {
    let literal = Literal::try_from(bytes.clone()).unwrap_or_else(|_| Literal::unvalidated(bytes));
    NString(Some(IString::Literal(literal)))
}

/// LIST wildcards: `*` matches anything, `%` anything but the delimiter. INBOX matches
/// case-insensitively.
///
/// Row by row over the pattern (`row[j]`: the pattern so far matches the name's first `j`
/// bytes), so a match costs pattern × name steps at most. The recursive backtracking it
/// replaces took exponential time on a pattern of many `*`/`%` that fails late: one LIST
/// held a core for minutes (found by the imap_commands fuzz target).
fn wildcard(pattern: &[u8], name: &[u8]) -> bool {
    let mut row = vec![false; name.len() + 1];
    row[0] = true;
    for &p in pattern {
        let mut next = vec![false; name.len() + 1];
        match p {
            b'*' | b'%' => {
                // Matches nothing (the row above), or one more byte after a match.
                next[0] = row[0];
                for j in 1..=name.len() {
                    next[j] = row[j] || (next[j - 1] && (p == b'*' || name[j - 1] != b'/'));
                }
            }
            _ => {
                for j in 1..=name.len() {
                    next[j] = row[j - 1] && name[j - 1] == p;
                }
            }
        }
        if !next.contains(&true) {
            return false;
        }
        row = next;
    }
    row[name.len()]
}

fn list_matches(reference: &str, pattern: &str, name: &str) -> bool {
    let full = format!("{reference}{pattern}");
    let (full, name) = if name.eq_ignore_ascii_case("INBOX") || name.to_ascii_uppercase().starts_with("INBOX/") {
        (full.to_ascii_uppercase(), name.to_ascii_uppercase())
    } else {
        (full, name.to_string())
    };
    wildcard(full.as_bytes(), name.as_bytes())
}

fn internal_date(t: time::OffsetDateTime) -> Option<DateTime> {
    let offset = chrono::FixedOffset::east_opt(t.offset().whole_seconds())?;
    let dt = chrono::DateTime::from_timestamp(t.unix_timestamp(), 0)?.with_timezone(&offset);
    DateTime::try_from(dt).ok()
}

fn from_imap_date(d: &DateTime) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp(d.as_ref().timestamp()).ok()
}

impl MailState {
    pub fn open(store: &crate::mailstore::Store, mailbox: &str) -> Option<Self> {
        let mailbox = store.mailbox(mailbox)?;
        let changes = mailbox.changes();
        Some(Self {
            mailbox,
            selected: None,
            changes,
            exists_after_expunge: false,
        })
    }

    /// Whether EXPUNGE follows its `* n EXPUNGE` lines with the new `* n EXISTS` (Exchange
    /// 2013 on-premises does; Exchange Online, in aioimaplib #67, does not).
    pub fn with_exists_after_expunge(mut self, on: bool) -> Self {
        self.exists_after_expunge = on;
        self
    }

    pub fn mailbox(&self) -> &str {
        self.mailbox.address()
    }

    /// Fires when the mailbox changes (for IDLE).
    pub fn changes(&self) -> Option<watch::Receiver<u64>> {
        Some(self.changes.clone())
    }

    /// Everything other sessions changed: expunges, flags, new messages.
    pub fn pending_updates(&mut self, out: &mut Vec<u8>) {
        self.changes.borrow_and_update();
        let Some(sel) = &mut self.selected else { return };
        let Ok(snap) = self.mailbox.snapshot(&sel.folder) else {
            return;
        };
        let current: std::collections::HashMap<u32, Flags> = snap.entries.iter().copied().collect();
        // Expunges, lowest first, each number relative to the list as it shrinks.
        let mut i = 0;
        while i < sel.known.len() {
            if current.contains_key(&sel.known[i].0) {
                i += 1;
            } else {
                sel.known.remove(i);
                data(out, Data::Expunge(nz(i as u32 + 1)));
            }
        }
        for (seq, (uid, flags)) in sel.known.iter_mut().enumerate() {
            if let Some(now) = current.get(uid) {
                if now != flags {
                    *flags = *now;
                    if let Ok(items) = Vec1::try_from(vec![MessageDataItem::Flags(now.to_fetch())]) {
                        data(
                            out,
                            Data::Fetch {
                                seq: nz(seq as u32 + 1),
                                items,
                            },
                        );
                    }
                }
            }
        }
        self.new_messages(out, &snap.entries);
    }

    /// Announce messages that arrived since the client last looked (allowed after any command).
    fn announce_new(&mut self, out: &mut Vec<u8>) {
        let Some(sel) = &self.selected else { return };
        let Ok(snap) = self.mailbox.snapshot(&sel.folder) else {
            return;
        };
        self.new_messages(out, &snap.entries);
    }

    fn new_messages(&mut self, out: &mut Vec<u8>, entries: &[(u32, Flags)]) {
        let Some(sel) = &mut self.selected else { return };
        let max_known = sel.known.last().map(|(u, _)| *u).unwrap_or(0);
        let before = sel.known.len();
        sel.known
            .extend(entries.iter().filter(|(u, _)| *u > max_known).copied());
        if sel.known.len() != before {
            data(out, Data::Exists(sel.known.len() as u32));
        }
    }

    /// The (sequence number, UID) pairs a set names; `None` when a sequence number is
    /// out of range.
    fn resolve(&self, set: &SequenceSet, uid: bool) -> Option<Vec<(u32, u32)>> {
        let sel = self.selected.as_ref()?;
        let count = sel.known.len() as u32;
        let max_uid = sel.known.last().map(|(u, _)| *u).unwrap_or(0);
        if !uid {
            use imap_codec::imap_types::sequence::{SeqOrUid, Sequence};
            let value = |s: &SeqOrUid| match s {
                SeqOrUid::Value(n) => n.get(),
                SeqOrUid::Asterisk => count,
            };
            for seq in set.0.as_ref() {
                let bad = match seq {
                    Sequence::Single(s) => value(s) == 0 || value(s) > count,
                    Sequence::Range(a, b) => value(a).max(value(b)) > count || value(a).min(value(b)) == 0,
                };
                if bad {
                    return None;
                }
            }
        }
        Some(
            sel.known
                .iter()
                .enumerate()
                .map(|(i, (u, _))| (i as u32 + 1, *u))
                .filter(|(s, u)| {
                    if uid {
                        sequence_set_contains(set, *u, max_uid)
                    } else {
                        sequence_set_contains(set, *s, count)
                    }
                })
                .collect(),
        )
    }

    pub fn handle(&mut self, tag: &str, body: CommandBody<'_>, out: &mut Vec<u8>) -> After {
        let selected_only = matches!(
            body,
            CommandBody::Fetch { .. }
                | CommandBody::Store { .. }
                | CommandBody::Search { .. }
                | CommandBody::Copy { .. }
                | CommandBody::Move { .. }
                | CommandBody::Expunge
                | CommandBody::ExpungeUid { .. }
                | CommandBody::Close
                | CommandBody::Unselect
        );
        if selected_only && self.selected.is_none() {
            tagged(out, tag, p::INVALID_STATE);
            return After::Continue;
        }
        let after = match body {
            CommandBody::Namespace => {
                out.extend_from_slice(p::NAMESPACE_RESPONSE.as_bytes());
                tagged(out, tag, "OK NAMESPACE completed.");
                After::Continue
            }
            CommandBody::Select { mailbox, .. } => {
                self.select(tag, &folder_name(&mailbox), false, out);
                return After::Continue;
            }
            CommandBody::Examine { mailbox, .. } => {
                self.select(tag, &folder_name(&mailbox), true, out);
                return After::Continue;
            }
            // The tagged texts of UNSELECT, CLOSE and CHECK follow the `<CMD> completed.`
            // pattern; unconfirmed for these commands.
            CommandBody::Unselect => {
                self.selected = None;
                tagged(out, tag, "OK UNSELECT completed.");
                return After::Continue;
            }
            CommandBody::Close => {
                if let Some(sel) = self.selected.take() {
                    if !sel.read_only {
                        let _ = self.mailbox.expunge(&sel.folder, None);
                    }
                }
                tagged(out, tag, "OK CLOSE completed.");
                return After::Continue;
            }
            CommandBody::Check => {
                self.pending_updates(out);
                tagged(out, tag, "OK CHECK completed.");
                return After::Continue;
            }
            CommandBody::Idle => {
                self.pending_updates(out);
                out.extend_from_slice(b"+ IDLE accepted, awaiting DONE command.\r\n");
                return After::Idle;
            }
            CommandBody::List {
                reference,
                mailbox_wildcard,
            } => {
                self.list(tag, &folder_name(&reference), &mailbox_wildcard, false, out);
                After::Continue
            }
            CommandBody::Lsub {
                reference,
                mailbox_wildcard,
            } => {
                self.list(tag, &folder_name(&reference), &mailbox_wildcard, true, out);
                After::Continue
            }
            CommandBody::Status { mailbox, item_names } => {
                let name = folder_name(&mailbox);
                match self.mailbox.status(&name) {
                    Ok(st) => {
                        let items: Vec<StatusDataItem> = item_names
                            .iter()
                            .filter_map(|i| match i {
                                StatusDataItemName::Messages => Some(StatusDataItem::Messages(st.messages)),
                                StatusDataItemName::Recent => Some(StatusDataItem::Recent(st.recent)),
                                StatusDataItemName::UidNext => Some(StatusDataItem::UidNext(nz(st.uid_next))),
                                StatusDataItemName::UidValidity => {
                                    Some(StatusDataItem::UidValidity(nz(st.uid_validity)))
                                }
                                StatusDataItemName::Unseen => Some(StatusDataItem::Unseen(st.unseen)),
                                _ => None,
                            })
                            .collect();
                        let start = out.len();
                        data(
                            out,
                            Data::Status {
                                mailbox: imap_mailbox(&name),
                                items: items.into(),
                            },
                        );
                        // Exchange ends the untagged STATUS line with a space after the
                        // closing parenthesis: `* STATUS INBOX (MESSAGES 7075 RECENT 0
                        // UNSEEN 0 UIDNEXT 36023) ` (imapfilter's log of outlook.office365.com,
                        // https://github.com/lefcha/imapfilter/issues/224).
                        if out[start..].ends_with(b")\r\n") {
                            out.truncate(out.len() - 2);
                            out.extend_from_slice(b" \r\n");
                        }
                        tagged(out, tag, "OK STATUS completed.");
                    }
                    Err(_) => tagged(out, tag, NO_SUCH_FOLDER),
                }
                After::Continue
            }
            CommandBody::Create { mailbox } => {
                self.folder_op(tag, "CREATE", self.mailbox.create(&folder_name(&mailbox)), out);
                After::Continue
            }
            CommandBody::Delete { mailbox } => {
                let name = folder_name(&mailbox);
                let r = self.mailbox.delete(&name);
                if r.is_ok() && self.selected.as_ref().is_some_and(|s| s.folder == name) {
                    self.selected = None;
                }
                self.folder_op(tag, "DELETE", r, out);
                After::Continue
            }
            CommandBody::Rename { from, to } => {
                self.folder_op(
                    tag,
                    "RENAME",
                    self.mailbox.rename(&folder_name(&from), &folder_name(&to)),
                    out,
                );
                After::Continue
            }
            CommandBody::Subscribe { mailbox } => {
                self.folder_op(tag, "SUBSCRIBE", self.mailbox.subscribe(&folder_name(&mailbox)), out);
                After::Continue
            }
            CommandBody::Unsubscribe { mailbox } => {
                self.folder_op(
                    tag,
                    "UNSUBSCRIBE",
                    self.mailbox.unsubscribe(&folder_name(&mailbox)),
                    out,
                );
                After::Continue
            }
            CommandBody::Append {
                mailbox,
                flags,
                date,
                message,
            } => {
                let name = folder_name(&mailbox);
                let raw = match &message {
                    imap_codec::imap_types::extensions::binary::LiteralOrLiteral8::Literal(l) => l.data().to_vec(),
                    imap_codec::imap_types::extensions::binary::LiteralOrLiteral8::Literal8(l) => l.data.to_vec(),
                };
                let when = date.as_ref().and_then(from_imap_date);
                match self.mailbox.append(&name, &raw, Flags::from_imap(flags.iter()), when) {
                    // Unconfirmed: no capture of APPEND's tagged line.
                    Ok((validity, uid)) => {
                        tagged(out, tag, &format!("OK [APPENDUID {validity} {uid}] APPEND completed."))
                    }
                    Err(StoreError::NoSuchFolder(_)) => tagged(
                        out,
                        tag,
                        "NO [TRYCREATE] The specified folder could not be found in the store.",
                    ),
                    // Unconfirmed wording (no capture of a store error on Exchange).
                    Err(e) => tagged(out, tag, &format!("NO APPEND failed: {e}.")),
                }
                After::Continue
            }
            CommandBody::Fetch {
                sequence_set,
                macro_or_item_names,
                uid,
                ..
            } => {
                self.fetch(tag, &sequence_set, macro_or_item_names, uid, out);
                After::Continue
            }
            CommandBody::Store {
                sequence_set,
                kind,
                response,
                flags,
                uid,
                ..
            } => {
                self.store(
                    tag,
                    &sequence_set,
                    kind,
                    response,
                    Flags::from_imap(flags.iter()),
                    uid,
                    out,
                );
                After::Continue
            }
            CommandBody::Search { charset, criteria, uid } => {
                // Exchange takes US-ASCII only: `SEARCH CHARSET utf-8 …` is answered
                // `NO [BADCHARSET (US-ASCII)] The specified charset is not supported.`
                // (outlook.office365.com, https://github.com/home-assistant/core/issues/48294).
                if let Some(cs) = charset {
                    if !cs.as_ref().eq_ignore_ascii_case("US-ASCII") {
                        tagged(out, tag, p::SEARCH_BAD_CHARSET);
                        return After::Continue;
                    }
                }
                let key = SearchKey::And(criteria);
                // KEYWORD and UNKEYWORD are refused as arguments (Exchange's PERMANENTFLAGS
                // has no `\*`): `BAD Command Argument Error. 11` (outlook.office365.com,
                // https://github.com/ikvk/imap_tools/issues/181).
                if has_keyword_key(&key) {
                    tagged(out, tag, p::ARGUMENT_ERROR);
                    return After::Continue;
                }
                self.search(tag, &key, uid, out);
                After::Continue
            }
            CommandBody::Copy {
                sequence_set,
                mailbox,
                uid,
            } => {
                self.copy_or_move(tag, &sequence_set, &folder_name(&mailbox), uid, false, out);
                After::Continue
            }
            CommandBody::Move {
                sequence_set,
                mailbox,
                uid,
            } => {
                self.copy_or_move(tag, &sequence_set, &folder_name(&mailbox), uid, true, out);
                After::Continue
            }
            CommandBody::Expunge => {
                self.expunge(tag, None, out);
                After::Continue
            }
            CommandBody::ExpungeUid { sequence_set } => {
                self.expunge(tag, Some(&sequence_set), out);
                After::Continue
            }
            _ => {
                // Exchange does not offer ENABLE, COMPRESS, QUOTA, SORT, THREAD, ...
                tagged(out, tag, p::UNKNOWN_COMMAND);
                After::Continue
            }
        };
        after
    }

    /// CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE: `<CMD> completed.` and the store's
    /// errors; unconfirmed for these commands.
    fn folder_op(&mut self, tag: &str, command: &str, r: Result<(), StoreError>, out: &mut Vec<u8>) {
        match r {
            Ok(()) => tagged(out, tag, &format!("OK {command} completed.")),
            Err(StoreError::NoSuchFolder(_)) => tagged(out, tag, NO_SUCH_FOLDER),
            // Unconfirmed wording (no capture of a store error on Exchange).
            Err(e) => tagged(out, tag, &format!("NO {command} failed: {e}.")),
        }
    }

    fn select(&mut self, tag: &str, name: &str, read_only: bool, out: &mut Vec<u8>) {
        self.selected = None;
        let (Ok(snap), Ok(status)) = (self.mailbox.snapshot(name), self.mailbox.status(name)) else {
            tagged(out, tag, NO_SUCH_FOLDER);
            return;
        };
        let folder = if name.eq_ignore_ascii_case("INBOX") {
            "INBOX".to_string()
        } else {
            name.to_string()
        };
        // Exchange's SELECT lines and texts (Exchange 2013 transcript, EXO client logs).
        data(out, Data::Exists(snap.entries.len() as u32));
        data(out, Data::Recent(0));
        out.extend_from_slice(b"* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $MDNSent)\r\n");
        // EXAMINE: Exchange keeps the FLAGS line but answers an empty PERMANENTFLAGS list
        // (outlook.office365.com, https://github.com/jstedfast/MailKit/issues/1446).
        if read_only {
            out.extend_from_slice(b"* OK [PERMANENTFLAGS ()] Permanent flags\r\n");
        } else {
            out.extend_from_slice(
                b"* OK [PERMANENTFLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $MDNSent)] Permanent flags\r\n",
            );
        }
        if let Some(pos) = snap.entries.iter().position(|(_, f)| !f.seen()) {
            out.extend_from_slice(format!("* OK [UNSEEN {}] Is the first unseen message\r\n", pos + 1).as_bytes());
        }
        out.extend_from_slice(format!("* OK [UIDVALIDITY {}] UIDVALIDITY value\r\n", status.uid_validity).as_bytes());
        out.extend_from_slice(
            format!(
                "* OK [UIDNEXT {}] The next unique identifier value\r\n",
                status.uid_next
            )
            .as_bytes(),
        );
        if read_only {
            tagged(out, tag, "OK [READ-ONLY] EXAMINE completed.");
        } else {
            tagged(out, tag, "OK [READ-WRITE] SELECT completed.");
        }
        self.changes.borrow_and_update();
        self.selected = Some(Selected {
            folder,
            read_only,
            known: snap.entries,
        });
    }

    fn list(&mut self, tag: &str, reference: &str, pattern: &ListMailbox<'_>, lsub: bool, out: &mut Vec<u8>) {
        let pattern = match pattern {
            ListMailbox::Token(t) => String::from_utf8_lossy(t.as_ref()).into_owned(),
            ListMailbox::String(s) => String::from_utf8_lossy(s.as_ref()).into_owned(),
        };
        let reference = if reference == "INBOX" && !pattern.is_empty() {
            String::new()
        } else {
            reference.to_string()
        };
        let command = if lsub { "LSUB" } else { "LIST" };
        if pattern.is_empty() && !lsub {
            // The hierarchy delimiter and root: `* LIST (\Noselect \HasChildren) "/" ""`
            // (an on-premises Exchange in https://github.com/mscdex/node-imap/issues/820; no
            // Exchange Online capture of `LIST "" ""` is known).
            out.extend_from_slice(b"* LIST (\\Noselect \\HasChildren) \"/\" \"\"\r\n");
        } else {
            let folders = if lsub { self.mailbox.lsub() } else { self.mailbox.list() };
            for f in folders.iter().filter(|f| list_matches(&reference, &pattern, &f.name)) {
                let items: Vec<FlagNameAttribute<'static>> = f
                    .attributes
                    .iter()
                    .filter_map(|a| {
                        imap_codec::imap_types::core::Atom::try_from(a.trim_start_matches('\\').to_string())
                            .ok()
                            .map(FlagNameAttribute::from)
                    })
                    .collect();
                let delimiter = QuotedChar::try_from('/').ok();
                let mailbox = imap_mailbox(&f.name);
                data(
                    out,
                    if lsub {
                        Data::Lsub {
                            items,
                            delimiter,
                            mailbox,
                        }
                    } else {
                        Data::List {
                            items,
                            delimiter,
                            mailbox,
                        }
                    },
                );
            }
        }
        tagged(out, tag, &format!("OK {command} completed."));
    }

    fn fetch(
        &mut self,
        tag: &str,
        set: &SequenceSet,
        names: MacroOrMessageDataItemNames<'_>,
        uid: bool,
        out: &mut Vec<u8>,
    ) {
        // An empty item list, `UID FETCH 2 ()`, is an argument error (Exchange, in
        // https://github.com/DirectoryTree/ImapEngine/issues/109).
        if matches!(&names, MacroOrMessageDataItemNames::MessageDataItemNames(v) if v.is_empty()) {
            tagged(out, tag, p::ARGUMENT_ERROR);
            return;
        }
        let Some(targets) = self.resolve(set, uid) else {
            tagged(out, tag, INVALID_SET);
            return;
        };
        let expanded;
        let names: &[MessageDataItemName<'_>] = match &names {
            MacroOrMessageDataItemNames::Macro(m) => {
                expanded = m.expand();
                &expanded
            }
            MacroOrMessageDataItemNames::MessageDataItemNames(v) => v,
        };
        let Some(sel) = &self.selected else { return };
        let folder = sel.folder.clone();
        let read_only = sel.read_only;
        for (seq, u) in targets {
            let Some(msg) = self.mailbox.message(&folder, u) else {
                continue;
            };
            let mut items = Vec::new();
            let mut mark_seen = false;
            let mut flags_requested = false;
            for n in names {
                match n {
                    MessageDataItemName::Uid => items.push(MessageDataItem::Uid(nz(u))),
                    MessageDataItemName::Flags => {
                        flags_requested = true;
                        items.push(MessageDataItem::Flags(msg.flags.to_fetch()));
                    }
                    MessageDataItemName::InternalDate => {
                        if let Some(d) = internal_date(msg.internal_date) {
                            items.push(MessageDataItem::InternalDate(d));
                        }
                    }
                    MessageDataItemName::Rfc822Size => items.push(MessageDataItem::Rfc822Size(msg.size())),
                    MessageDataItemName::Envelope => items.push(MessageDataItem::Envelope(msg.envelope())),
                    MessageDataItemName::Body => items.push(MessageDataItem::Body(msg.body_structure(false))),
                    MessageDataItemName::BodyStructure => {
                        items.push(MessageDataItem::BodyStructure(msg.body_structure(true)))
                    }
                    MessageDataItemName::BodyExt { section, partial, peek } => {
                        let mut bytes = msg.section(section.as_ref());
                        if let Some((origin, len)) = partial {
                            let start = (*origin as usize).min(bytes.len());
                            let end = start.saturating_add(len.get() as usize).min(bytes.len());
                            bytes = bytes[start..end].to_vec();
                        }
                        mark_seen |= !peek;
                        items.push(MessageDataItem::BodyExt {
                            section: section.clone(),
                            origin: partial.map(|(o, _)| o),
                            data: nstring(bytes),
                        });
                    }
                    MessageDataItemName::Rfc822 => {
                        mark_seen = true;
                        items.push(MessageDataItem::Rfc822(nstring(msg.raw.to_vec())));
                    }
                    MessageDataItemName::Rfc822Header => {
                        items.push(MessageDataItem::Rfc822Header(nstring(msg.header().to_vec())))
                    }
                    MessageDataItemName::Rfc822Text => {
                        mark_seen = true;
                        items.push(MessageDataItem::Rfc822Text(nstring(msg.text().to_vec())));
                    }
                    _ => {}
                }
            }
            // A UID FETCH that did not ask for UID gets it after the items asked for:
            // `UID FETCH 3063 (BODY.PEEK[])` is answered `* 1 FETCH (BODY[] {10197}` …
            // (Outlook.com on Exchange, https://github.com/getmail6/getmail6/issues/48);
            // where exactly after the literal the UID comes is not in the capture
            // (unconfirmed: after the items asked for).
            if uid && !names.iter().any(|n| matches!(n, MessageDataItemName::Uid)) {
                items.push(MessageDataItem::Uid(nz(u)));
            }
            if mark_seen && !read_only && !msg.flags.seen() {
                if let Ok(changed) = self.mailbox.store_flags(&folder, &[u], FlagOp::Add, Flags::SEEN) {
                    if let Some((_, f)) = changed.first() {
                        self.remember(u, *f);
                        // Exchange appends FLAGS when a fetch set \Seen (Exchange 2013 transcript);
                        // its place after an appended UID is unconfirmed.
                        if !flags_requested {
                            items.push(MessageDataItem::Flags(f.to_fetch()));
                        }
                    }
                }
            }
            if let Ok(items) = Vec1::try_from(items) {
                let start = out.len();
                data(out, Data::Fetch { seq: nz(seq), items });
                lower_case_text_type(&mut out[start..]);
            }
        }
        self.announce_new(out);
        tagged(out, tag, "OK FETCH completed.");
    }

    fn remember(&mut self, uid: u32, flags: Flags) {
        if let Some(sel) = &mut self.selected {
            if let Some(k) = sel.known.iter_mut().find(|(u, _)| *u == uid) {
                k.1 = flags;
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn store(
        &mut self,
        tag: &str,
        set: &SequenceSet,
        kind: StoreType,
        response: StoreResponse,
        flags: Flags,
        uid: bool,
        out: &mut Vec<u8>,
    ) {
        if self.selected.as_ref().is_some_and(|s| s.read_only) {
            tagged(out, tag, READ_ONLY);
            return;
        }
        let Some(targets) = self.resolve(set, uid) else {
            tagged(out, tag, INVALID_SET);
            return;
        };
        let op = match kind {
            StoreType::Add => FlagOp::Add,
            StoreType::Remove => FlagOp::Remove,
            StoreType::Replace => FlagOp::Replace,
        };
        let folder = self.selected.as_ref().map(|s| s.folder.clone()).unwrap_or_default();
        let uids: Vec<u32> = targets.iter().map(|(_, u)| *u).collect();
        let Ok(changed) = self.mailbox.store_flags(&folder, &uids, op, flags) else {
            tagged(out, tag, NO_SUCH_FOLDER);
            return;
        };
        for (u, f) in changed {
            self.remember(u, f);
            if response == StoreResponse::Answer {
                let seq = targets.iter().find(|(_, x)| *x == u).map(|(s, _)| *s).unwrap_or(1);
                let mut items = vec![MessageDataItem::Flags(f.to_fetch())];
                if uid {
                    items.push(MessageDataItem::Uid(nz(u)));
                }
                if let Ok(items) = Vec1::try_from(items) {
                    data(out, Data::Fetch { seq: nz(seq), items });
                }
            }
        }
        self.announce_new(out);
        tagged(out, tag, "OK STORE completed.");
    }

    fn search(&mut self, tag: &str, key: &SearchKey<'_>, uid: bool, out: &mut Vec<u8>) {
        let Some(sel) = &self.selected else { return };
        let max_seq = sel.known.len() as u32;
        let max_uid = sel.known.last().map(|(u, _)| *u).unwrap_or(0);
        let mut hits = Vec::new();
        for (i, (u, _)) in sel.known.iter().enumerate() {
            let Some(msg) = self.mailbox.message(&sel.folder, *u) else {
                continue;
            };
            let ctx = SearchContext {
                seq: i as u32 + 1,
                uid: *u,
                max_seq,
                max_uid,
            };
            if msg.matches(key, &ctx) {
                hits.push(nz(if uid { *u } else { i as u32 + 1 }));
            }
        }
        data(out, Data::Search(hits));
        self.announce_new(out);
        tagged(out, tag, "OK SEARCH completed.");
    }

    fn copy_or_move(&mut self, tag: &str, set: &SequenceSet, to: &str, uid: bool, moving: bool, out: &mut Vec<u8>) {
        let command = if moving { "MOVE" } else { "COPY" };
        if moving && self.selected.as_ref().is_some_and(|s| s.read_only) {
            tagged(out, tag, READ_ONLY);
            return;
        }
        let Some(targets) = self.resolve(set, uid) else {
            tagged(out, tag, INVALID_SET);
            return;
        };
        let folder = self.selected.as_ref().map(|s| s.folder.clone()).unwrap_or_default();
        let uids: Vec<u32> = targets.iter().map(|(_, u)| *u).collect();
        let result = if moving {
            self.mailbox.move_messages(&folder, &uids, to)
        } else {
            self.mailbox.copy(&folder, &uids, to)
        };
        match result {
            // COPY of UIDs the folder does not hold: no COPYUID (unconfirmed: no capture of it).
            Ok(r) if r.pairs.is_empty() && !moving => tagged(out, tag, &format!("OK {command} completed.")),
            Ok(r) => {
                let src: Vec<String> = r.pairs.iter().map(|(s, _)| s.to_string()).collect();
                let dst: Vec<String> = r.pairs.iter().map(|(_, d)| d.to_string()).collect();
                let code = format!("COPYUID {} {} {}", r.uid_validity, src.join(","), dst.join(","));
                if moving {
                    // Exchange's untagged COPYUID has no text after the code, and a MOVE of
                    // UIDs that are gone still sends it with both sets empty:
                    // `* OK [COPYUID 983  ]`, then `OK MOVE completed.` (Office 365,
                    // https://github.com/jstedfast/MailKit/issues/1275).
                    out.extend_from_slice(format!("* OK [{code}]\r\n").as_bytes());
                    self.report_expunged(&r.pairs.iter().map(|(s, _)| *s).collect::<Vec<_>>(), out);
                    self.announce_new(out);
                    tagged(out, tag, "OK MOVE completed.");
                } else {
                    self.announce_new(out);
                    // Unconfirmed: no capture of COPY's tagged line on Exchange.
                    tagged(out, tag, &format!("OK [{code}] COPY completed."));
                }
            }
            Err(StoreError::NoSuchFolder(_)) => tagged(
                out,
                tag,
                "NO [TRYCREATE] The specified folder could not be found in the store.",
            ),
            // Unconfirmed wording (no capture of a store error on Exchange).
            Err(e) => tagged(out, tag, &format!("NO {command} failed: {e}.")),
        }
    }

    /// `* n EXPUNGE` for UIDs this session removed, updating what the client knows.
    fn report_expunged(&mut self, uids: &[u32], out: &mut Vec<u8>) {
        let Some(sel) = &mut self.selected else { return };
        let mut i = 0;
        while i < sel.known.len() {
            if uids.contains(&sel.known[i].0) {
                sel.known.remove(i);
                data(out, Data::Expunge(nz(i as u32 + 1)));
            } else {
                i += 1;
            }
        }
    }

    fn expunge(&mut self, tag: &str, uids: Option<&SequenceSet>, out: &mut Vec<u8>) {
        if self.selected.as_ref().is_some_and(|s| s.read_only) {
            tagged(out, tag, READ_ONLY);
            return;
        }
        let only: Option<Vec<u32>> = match uids {
            Some(set) => match self.resolve(set, true) {
                Some(t) => Some(t.into_iter().map(|(_, u)| u).collect()),
                None => {
                    tagged(out, tag, INVALID_SET);
                    return;
                }
            },
            None => None,
        };
        let folder = self.selected.as_ref().map(|s| s.folder.clone()).unwrap_or_default();
        match self.mailbox.expunge(&folder, only.as_deref()) {
            Ok(gone) => {
                self.report_expunged(&gone, out);
                // Exchange Online answers `* 4 EXPUNGE` and the tagged line, nothing else
                // (outlook.office365.com, https://github.com/iroco-co/aioimaplib/issues/67);
                // Exchange 2013 on-premises followed the EXPUNGEs with the new count (the
                // wire reference's KTH transcript): `--imap-exists-after-expunge`.
                if self.exists_after_expunge && !gone.is_empty() {
                    if let Some(sel) = &self.selected {
                        data(out, Data::Exists(sel.known.len() as u32));
                    }
                }
                self.announce_new(out);
                tagged(out, tag, "OK EXPUNGE completed.");
            }
            Err(_) => tagged(out, tag, NO_SUCH_FOLDER),
        }
    }

    /// For tests and the journal: the selected folder and what the client knows.
    pub fn selected(&self) -> Option<(&str, usize)> {
        self.selected.as_ref().map(|s| (s.folder.as_str(), s.known.len()))
    }

    /// A message of the selected folder by UID.
    pub fn message(&self, uid: u32) -> Option<Arc<Message>> {
        let sel = self.selected.as_ref()?;
        self.mailbox.message(&sel.folder, uid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_media_type_is_lower_case_outside_literals() {
        let mut line = b"* 1 FETCH (BODYSTRUCTURE ((\"TEXT\" \"plain\" NIL NIL NIL \"7bit\" 1 1)(\"TEXT\" \"html\" NIL NIL NIL \"7bit\" 1 1) \"alternative\") ENVELOPE (NIL \"(\\\"TEXT\\\" x\" NIL NIL NIL NIL NIL NIL NIL NIL) BODY[] {10}\r\n(\"TEXT\" a))\r\n".to_vec();
        lower_case_text_type(&mut line);
        assert_eq!(
            String::from_utf8_lossy(&line),
            "* 1 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" NIL NIL NIL \"7bit\" 1 1)(\"text\" \"html\" NIL NIL NIL \"7bit\" 1 1) \"alternative\") ENVELOPE (NIL \"(\\\"TEXT\\\" x\" NIL NIL NIL NIL NIL NIL NIL NIL) BODY[] {10}\r\n(\"TEXT\" a))\r\n"
        );
    }

    #[test]
    fn keyword_keys_are_found_anywhere_in_a_search_program() {
        use imap_codec::imap_types::core::Atom;
        let kw = || SearchKey::Keyword(Atom::try_from("TEST").expect("atom"));
        assert!(has_keyword_key(&kw()));
        assert!(has_keyword_key(&SearchKey::Or(
            Box::new(SearchKey::Seen),
            Box::new(SearchKey::Not(Box::new(kw())))
        )));
        assert!(!has_keyword_key(&SearchKey::Or(
            Box::new(SearchKey::Seen),
            Box::new(SearchKey::Undeleted)
        )));
    }

    #[test]
    fn list_wildcards() {
        assert!(list_matches("", "*", "Sent Items"));
        assert!(list_matches("", "%", "Drafts"));
        assert!(!list_matches("", "%", "Archive/2022"));
        assert!(list_matches("", "Archive/%", "Archive/2022"));
        assert!(list_matches("", "inbox", "INBOX"));
        assert!(list_matches("Archive/", "*", "Archive/2022"));
        assert!(!list_matches("", "Sent", "Sent Items"));
        assert!(list_matches("", "*%*", "Archive/2022"));
        assert!(list_matches("", "A*2", "Archive/2022"));
        assert!(!list_matches("", "A%2", "Archive/2022"));
        assert!(list_matches("", "%/%", "Archive/2022"));
        assert!(!list_matches("", "*x", "Archive/2022"));
        assert!(list_matches("", "", ""));
        assert!(!list_matches("", "", "INBOX"));
    }

    /// The imap_commands fuzz finding: many wildcards that fail at the end took
    /// exponential time (minutes for one LIST); now pattern × name steps.
    #[test]
    fn list_wildcards_many_stars_fail_fast() {
        let pattern = format!("{}x", "*%".repeat(200));
        let started = std::time::Instant::now();
        for name in ["Archive/2022", "Deleted Items", "Conversation History/Team Chat"] {
            assert!(!list_matches("", &pattern, name));
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }
}
