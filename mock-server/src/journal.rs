//! The journal: an ordered record of what happened and, for every refusal, *why* and
//! how to fix it: the answer Microsoft never gives.
//!
//! Entries never hold a secret: request summaries mask credentials before they get here.

use serde::Serialize;
use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use time::OffsetDateTime;

/// Entries kept in memory; older ones are dropped first. An entry is a few hundred bytes,
/// so this bounds the journal near 30 MB under a load test that runs for hours.
pub const MAX_JOURNAL_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, Serialize, PartialEq)]
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
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Hash)]
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

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
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

#[derive(Debug, Default)]
pub struct Journal {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_seq: u64,
    entries: VecDeque<JournalEntry>,
    /// `--journal-file`: every entry as a JSON line, written under the same lock as the
    /// in-memory record so the file has the journal's order.
    file: Option<std::io::LineWriter<std::fs::File>>,
}

impl Journal {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Entries are plain values: a panic elsewhere cannot leave them half-written.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Also append every entry to `path` as JSON lines (created or appended to).
    pub fn with_file(path: &std::path::Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        let journal = Self::default();
        journal.lock().file = Some(std::io::LineWriter::new(file));
        Ok(journal)
    }

    /// Append an entry; its `seq` is assigned here.
    pub fn record(&self, mut entry: JournalEntry) -> u64 {
        let mut inner = self.lock();
        inner.next_seq += 1;
        entry.seq = inner.next_seq;
        if let Some(file) = inner.file.as_mut() {
            use std::io::Write;
            // A full disk must not stop the server: the in-memory journal still has it.
            let line = serde_json::to_string(&entry).unwrap_or_default();
            if writeln!(file, "{line}").is_err() {
                tracing::warn!("cannot write the journal file; continuing without it");
                inner.file = None;
            }
        }
        if inner.entries.len() >= MAX_JOURNAL_ENTRIES {
            inner.entries.pop_front();
        }
        inner.entries.push_back(entry);
        inner.next_seq
    }

    /// All entries still held, oldest first.
    pub fn entries(&self) -> Vec<JournalEntry> {
        self.lock().entries.iter().cloned().collect()
    }

    /// Entries with `seq > after`.
    pub fn since(&self, after: u64) -> Vec<JournalEntry> {
        self.lock().entries.iter().filter(|e| e.seq > after).cloned().collect()
    }

    /// The last `seq` handed out (0 when nothing was recorded).
    pub fn last_seq(&self) -> u64 {
        self.lock().next_seq
    }

    pub fn clear(&self) {
        self.lock().entries.clear();
    }
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
}
