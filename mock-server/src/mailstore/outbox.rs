//! The outbox: every message accepted by SMTP submission, local and external recipients
//! alike, kept for tests to read (as GreenMail keeps its received messages). Bounded:
//! the oldest messages go first when either cap is reached.

use serde::Serialize;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use time::OffsetDateTime;

/// Messages kept. A test sends a handful; a load test thousands, and only the latest
/// matter.
pub const MAX_OUTBOX_MESSAGES: usize = 10_000;
/// Bytes of message content kept (the 35 MB maximum message fits several times).
pub const MAX_OUTBOX_BYTES: usize = 256 * 1024 * 1024;

/// One accepted submission.
#[derive(Debug, Clone, Serialize)]
pub struct SentMail {
    /// Position in the outbox, from 1; never reused.
    pub seq: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The `user=` mailbox the session authenticated for.
    pub authenticated_as: String,
    /// The client application of the token.
    pub client_id: Option<String>,
    /// MAIL FROM.
    pub mail_from: String,
    /// RCPT TO, in order.
    pub recipients: Vec<String>,
    /// Recipients whose INBOX in this server got the message.
    pub delivered_to: Vec<String>,
    pub message_id: Option<String>,
    pub subject: Option<String>,
    pub size: usize,
    /// The message as received (dot-unstuffed), exactly.
    #[serde(skip)]
    pub raw: Arc<[u8]>,
}

#[derive(Debug, Default)]
pub struct Outbox {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_seq: u64,
    bytes: usize,
    mails: VecDeque<SentMail>,
}

impl Outbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Held only to push or copy entries; each entry is pushed whole, so a poisoned
        // lock still guards a consistent list.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keep `mail` (its `seq` is assigned here); returns the seq.
    pub fn push(&self, mut mail: SentMail) -> u64 {
        let mut inner = self.lock();
        inner.next_seq += 1;
        mail.seq = inner.next_seq;
        inner.bytes += mail.raw.len();
        inner.mails.push_back(mail);
        while inner.mails.len() > MAX_OUTBOX_MESSAGES || (inner.bytes > MAX_OUTBOX_BYTES && inner.mails.len() > 1) {
            match inner.mails.pop_front() {
                Some(old) => inner.bytes -= old.raw.len(),
                None => break,
            }
        }
        inner.next_seq
    }

    /// Every kept message with `seq > after`, oldest first.
    pub fn list(&self, after: u64) -> Vec<SentMail> {
        self.lock().mails.iter().filter(|m| m.seq > after).cloned().collect()
    }

    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.mails.clear();
        inner.bytes = 0;
    }
}
