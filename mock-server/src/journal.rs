//! The journal: an ordered record of what happened and, for every refusal, *why* and
//! how to fix it: the answer Microsoft never gives.
//!
//! Entries never hold a secret: request summaries mask credentials before they get here.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use time::OffsetDateTime;

/// Memory the journal may hold, in bytes of entries (their JSON form plus bookkeeping);
/// older entries are dropped first (they stay in `--journal-file` when there is one).
/// An entry is 0.5 to 1 KB, so this keeps the last several thousand: enough to read
/// what a test or a person just did, small enough that a load run of hours holds the
/// same memory as a short one. Raise it with `--journal-max-bytes` /
/// [`crate::MockServerBuilder::journal_max_bytes`].
pub const DEFAULT_JOURNAL_MAX_BYTES: usize = 8 * 1024 * 1024;

/// Bookkeeping per entry besides its JSON text: the `Arc` header (16), the queue slot
/// (`u64` + fat pointer, 24) and the allocator's rounding (about 8).
const ENTRY_OVERHEAD: usize = 48;

/// How much of a journal file's tail is read at a time to find the last `seq` at open.
const TAIL_BLOCK: u64 = 64 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JournalEntry {
    /// Position in the journal, from 1; never reused.
    pub seq: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Which side recorded it.
    pub protocol: Protocol,
    pub peer: Option<String>,
    /// `POST /contoso.com/oauth2/v2.0/token`.
    pub request: String,
    /// The request's fields with credentials masked.
    pub summary: String,
    pub outcome: Outcome,
    pub status: u16,
    pub tenant: Option<String>,
    pub client_id: Option<String>,
    /// The AADSTS code of a refusal.
    pub error_code: Option<u32>,
    pub error: Option<String>,
    /// Why it was refused (or how the client proved itself when it was not).
    pub reason: Option<String>,
    pub fix: Option<String>,
    /// Outcome-specific facts (audience, roles, expiry of an issued token).
    pub details: serde_json::Value,
}

/// The side of the server an entry comes from; serialised as `https`, `imap`, `smtp`, `pop3`, `admin`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// The identity platform (token endpoint, sign-in pages, discovery).
    Https,
    Imap,
    /// SMTP submission.
    Smtp,
    Pop3,
    /// The admin API and the Rust API's administrator verbs.
    Admin,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Https => "https",
            Protocol::Imap => "imap",
            Protocol::Smtp => "smtp",
            Protocol::Pop3 => "pop3",
            Protocol::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lets callers filter with `entry.protocol == "imap"`, the word the JSON carries.
impl PartialEq<&str> for Protocol {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl JournalEntry {
    /// An entry with nothing but its origin, time, request line and outcome; the rest
    /// is filled in with struct update syntax (`JournalEntry { reason, ..new(…) }`).
    /// `seq` is assigned by [`Journal::record`].
    pub fn new(protocol: Protocol, at: OffsetDateTime, request: impl Into<String>, outcome: Outcome) -> Self {
        Self {
            seq: 0,
            at,
            protocol,
            peer: None,
            request: request.into(),
            summary: String::new(),
            outcome,
            status: 0,
            tenant: None,
            client_id: None,
            error_code: None,
            error: None,
            reason: None,
            fix: None,
            details: serde_json::Value::Null,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A token was issued.
    Issued,
    /// A token request or a mail authentication was refused.
    Refused,
    /// A mail session authenticated and opened its mailbox.
    Authenticated,
    /// A mail session authenticated but cannot open the mailbox
    /// ("User is authenticated but not connected").
    NotConnected,
    /// A mail session was ended by the server (token expired, limits, timeouts).
    Ended,
    /// A scripted fault fired (the entry says which and where).
    Fault,
    /// An administrator changed the tenant, the clock, the faults or the mail (admin API).
    Admin,
    /// SMTP accepted a message and delivered it (local INBOXes, Sent Items, outbox).
    Delivered,
}

/// The in-memory journal, bounded by bytes, with an optional JSON-lines file that keeps
/// everything.
///
/// Entries are held as their JSON text (what the file and the admin API carry anyway):
/// compact, exactly measured, and shared (`Arc`) with readers, so a reader copies
/// pointers under the lock and does its formatting after releasing it.
#[derive(Debug)]
pub struct Journal {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    next_seq: u64,
    /// `(seq, JSON)`, oldest first; `seq` grows, so a position is found by bisection.
    entries: VecDeque<(u64, Arc<str>)>,
    /// What `entries` holds, as [`entry_bytes`] counts it.
    bytes: usize,
    max_bytes: usize,
    /// `--journal-file`: every entry as a JSON line, written under the same lock as the
    /// in-memory record so the file has the journal's order.
    file: Option<std::io::LineWriter<std::fs::File>>,
}

/// One page of the journal for a reader.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Entries with `seq > after`, oldest first, as JSON objects.
    pub entries: Vec<Arc<str>>,
    /// The last `seq` handed out.
    pub last_seq: u64,
    /// The oldest `seq` still in memory (0 when none): entries before it were dropped
    /// by the byte limit or `clear` (and are in the journal file when there is one).
    pub oldest_seq: u64,
}

impl Default for Journal {
    fn default() -> Self {
        Self::with_max_bytes(DEFAULT_JOURNAL_MAX_BYTES)
    }
}

/// Memory an entry of this JSON length holds.
fn entry_bytes(json: &str) -> usize {
    json.len() + ENTRY_OVERHEAD
}

impl Journal {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Entries are plain values: a panic elsewhere cannot leave them half-written.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An in-memory journal holding at most about `max_bytes` of entries.
    pub fn with_max_bytes(max_bytes: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                next_seq: 0,
                entries: VecDeque::new(),
                bytes: 0,
                max_bytes,
                file: None,
            }),
        }
    }

    /// Also append every entry to `path` as JSON lines (created or appended to). The
    /// sequence continues from the file's last entry, so a restarted server never
    /// reuses a `seq` of the same file.
    pub fn with_file(path: &Path) -> std::io::Result<Self> {
        Self::with_file_and_max_bytes(path, DEFAULT_JOURNAL_MAX_BYTES)
    }

    /// [`Journal::with_file`] with a memory limit.
    pub fn with_file_and_max_bytes(path: &Path, max_bytes: usize) -> std::io::Result<Self> {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)?;
        let (last_seq, ends_in_newline) = last_seq_of(&mut file)?;
        if !ends_in_newline {
            // A line cut short by a crash: end it, so the next entry starts a line.
            file.write_all(b"\n")?;
        }
        let journal = Self::with_max_bytes(max_bytes);
        {
            let mut inner = journal.lock();
            inner.next_seq = last_seq;
            inner.file = Some(std::io::LineWriter::new(file));
        }
        Ok(journal)
    }

    /// Append an entry; its `seq` is assigned here.
    pub fn record(&self, mut entry: JournalEntry) -> u64 {
        // One lock for seq, file and memory: the file and the memory share one order.
        let mut inner = self.lock();
        inner.next_seq += 1;
        entry.seq = inner.next_seq;
        // Serialising plain strings and a JSON value cannot fail; an empty object keeps
        // the seq visible if it ever did.
        let json: Arc<str> = serde_json::to_string(&entry)
            .unwrap_or_else(|_| format!("{{\"seq\":{}}}", entry.seq))
            .into();
        if let Some(file) = inner.file.as_mut() {
            use std::io::Write;
            // A full disk must not stop the server: the in-memory journal still has it.
            if writeln!(file, "{json}").is_err() {
                tracing::warn!("cannot write the journal file; continuing without it");
                inner.file = None;
            }
        }
        inner.bytes += entry_bytes(&json);
        inner.entries.push_back((entry.seq, json));
        // Keep the newest entry even when it alone is over the limit.
        while inner.bytes > inner.max_bytes && inner.entries.len() > 1 {
            if let Some((_, old)) = inner.entries.pop_front() {
                inner.bytes -= entry_bytes(&old);
            }
        }
        inner.next_seq
    }

    /// Up to `limit` entries with `seq > after`, oldest first. The lock is held for a
    /// bisection and `limit` pointer copies, never for formatting.
    pub fn page(&self, after: u64, limit: usize) -> Page {
        // Short: readers never stall writers (the token endpoint) for long.
        let inner = self.lock();
        let start = inner.entries.partition_point(|(seq, _)| *seq <= after);
        Page {
            entries: inner
                .entries
                .range(start..)
                .take(limit)
                .map(|(_, json)| json.clone())
                .collect(),
            last_seq: inner.next_seq,
            oldest_seq: inner.entries.front().map(|(seq, _)| *seq).unwrap_or(0),
        }
    }

    /// All entries still held, oldest first.
    pub fn entries(&self) -> Vec<JournalEntry> {
        self.since(0)
    }

    /// Entries with `seq > after` still held.
    pub fn since(&self, after: u64) -> Vec<JournalEntry> {
        self.page(after, usize::MAX)
            .entries
            .iter()
            .filter_map(|json| serde_json::from_str(json).ok())
            .collect()
    }

    /// The last `seq` handed out (0 when nothing was recorded).
    pub fn last_seq(&self) -> u64 {
        self.lock().next_seq
    }

    /// Memory the entries hold now, in bytes (as the limit counts them).
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.entries = VecDeque::new();
        inner.bytes = 0;
    }
}

/// The `seq` of the last entry of a journal file (0 for an empty or foreign file), and
/// whether the file ends with a newline. Reads the tail only, a block at a time: an
/// entry's JSON starts with `{"seq":N`.
fn last_seq_of(file: &mut std::fs::File) -> std::io::Result<(u64, bool)> {
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok((0, true));
    }
    let mut block = TAIL_BLOCK.min(len);
    loop {
        let start = len - block;
        file.seek(SeekFrom::Start(start))?;
        let mut tail = Vec::new();
        file.by_ref().take(block).read_to_end(&mut tail)?;
        let ends_in_newline = tail.last() == Some(&b'\n');
        let mut lines: Vec<&[u8]> = tail.split(|b| *b == b'\n').collect();
        if start > 0 && !lines.is_empty() {
            // The first piece may be the end of a longer line.
            lines.remove(0);
        }
        if let Some(seq) = lines.iter().rev().find_map(|l| seq_prefix(l)) {
            return Ok((seq, ends_in_newline));
        }
        if start == 0 {
            return Ok((0, ends_in_newline));
        }
        block = (block * 2).min(len);
    }
}

/// `N` from a line starting `{"seq":N`.
fn seq_prefix(line: &[u8]) -> Option<u64> {
    let rest = line.strip_prefix(b"{\"seq\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> JournalEntry {
        JournalEntry {
            status: 200,
            ..JournalEntry::new(Protocol::Https, OffsetDateTime::UNIX_EPOCH, "POST /x", Outcome::Issued)
        }
    }

    #[test]
    fn sequence_numbers_grow_and_survive_clear() {
        let j = Journal::default();
        assert_eq!(j.record(entry()), 1);
        assert_eq!(j.record(entry()), 2);
        assert_eq!(j.since(1).len(), 1);
        j.clear();
        assert_eq!(j.record(entry()), 3);
        assert_eq!(j.entries().len(), 1);
    }

    #[test]
    fn the_file_gets_one_json_line_per_entry_in_order() {
        let dir = std::env::temp_dir().join(format!("journal-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("journal.jsonl");
        let _ = std::fs::remove_file(&path);
        let j = Journal::with_file(&path).expect("open");
        j.record(entry());
        j.record(entry());
        let text = std::fs::read_to_string(&path).expect("read");
        let seqs: Vec<u64> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).expect("json")["seq"]
                    .as_u64()
                    .expect("seq")
            })
            .collect();
        assert_eq!(seqs, vec![1, 2]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn temp_file(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("journal-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir.join("journal.jsonl")
    }

    #[test]
    fn memory_is_bounded_by_bytes_and_the_newest_entries_stay() {
        let one = entry_bytes(&serde_json::to_string(&JournalEntry { seq: 1, ..entry() }).expect("json"));
        let j = Journal::with_max_bytes(one * 10);
        for _ in 0..1000 {
            j.record(entry());
        }
        assert!(j.bytes() <= one * 10, "{} > {}", j.bytes(), one * 10);
        let held = j.entries();
        assert!((9..=10).contains(&held.len()), "{}", held.len());
        assert_eq!(held.last().map(|e| e.seq), Some(1000));
        let page = j.page(0, 3);
        assert_eq!(page.entries.len(), 3);
        assert_eq!(page.last_seq, 1000);
        assert_eq!(page.oldest_seq, held[0].seq);
        // An entry larger than the whole limit is still kept (alone).
        let big = Journal::with_max_bytes(10);
        big.record(entry());
        big.record(entry());
        assert_eq!(big.entries().len(), 1);
    }

    #[test]
    fn pages_start_after_the_given_seq_and_entries_read_back_equal() {
        let j = Journal::default();
        for _ in 0..25 {
            j.record(entry());
        }
        let seqs = |p: &Page| -> Vec<u64> {
            p.entries
                .iter()
                .map(|e| serde_json::from_str::<JournalEntry>(e).expect("entry").seq)
                .collect()
        };
        assert_eq!(seqs(&j.page(10, 5)), vec![11, 12, 13, 14, 15]);
        assert_eq!(seqs(&j.page(24, 5)), vec![25]);
        assert!(j.page(25, 5).entries.is_empty());
        assert_eq!(j.since(23)[0], JournalEntry { seq: 24, ..entry() });
    }

    #[test]
    fn a_reopened_file_continues_the_sequence_even_after_a_cut_line() {
        let path = temp_file("restart");
        {
            let j = Journal::with_file(&path).expect("open");
            for _ in 0..3 {
                j.record(entry());
            }
        }
        let j = Journal::with_file(&path).expect("reopen");
        assert_eq!(j.last_seq(), 3);
        assert_eq!(j.record(entry()), 4);
        drop(j);
        // A crash in the middle of a line: the cut line is ended, the next entry is whole.
        std::fs::write(
            &path,
            format!(
                "{}\n{{\"seq\":5,\"at",
                std::fs::read_to_string(&path).expect("read").trim_end()
            ),
        )
        .expect("write");
        let j = Journal::with_file(&path).expect("reopen");
        assert_eq!(j.record(entry()), 6);
        let text = std::fs::read_to_string(&path).expect("read");
        let last: serde_json::Value = serde_json::from_str(text.lines().last().expect("line")).expect("json");
        assert_eq!(last["seq"], 6);
        // A tail longer than one block is read block by block.
        let long = JournalEntry {
            summary: "x".repeat(3 * TAIL_BLOCK as usize),
            ..entry()
        };
        j.record(long);
        drop(j);
        assert_eq!(Journal::with_file(&path).expect("reopen").last_seq(), 7);
        let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
    }
}
