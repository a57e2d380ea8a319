//! SEARCH: does a message match a search key?

use super::flags::Flags;
use super::message::Message;
use imap_codec::imap_types::{
    datetime::NaiveDate,
    search::SearchKey,
    sequence::{SeqOrUid, Sequence, SequenceSet},
};
use time::{Date, Month, OffsetDateTime};

/// Where the message stands in the selected folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchContext {
    /// Its message sequence number.
    pub seq: u32,
    pub uid: u32,
    /// The highest sequence number (`*` in a sequence set).
    pub max_seq: u32,
    /// The highest UID in the folder (`*` in a UID set).
    pub max_uid: u32,
}

/// Is `value` in `set`, with `*` standing for `max` (RFC 3501: `n:m` is the same as
/// `m:n`)?
pub fn sequence_set_contains(set: &SequenceSet, value: u32, max: u32) -> bool {
    let resolve = |s: &SeqOrUid| match s {
        SeqOrUid::Value(n) => n.get(),
        SeqOrUid::Asterisk => max,
    };
    set.0.as_ref().iter().any(|seq| match seq {
        Sequence::Single(s) => resolve(s) == value,
        Sequence::Range(a, b) => {
            let (a, b) = (resolve(a), resolve(b));
            (a.min(b)..=a.max(b)).contains(&value)
        }
    })
}

/// An imap-types date as a `time` date. imap-types keeps a chrono date, which this crate
/// does not depend on; its `Debug` form is ISO 8601 (`2022-11-15`).
pub fn naive_date(date: &NaiveDate) -> Option<Date> {
    let text = format!("{:?}", date.as_ref());
    let mut it = text.rsplitn(3, '-');
    let day: u8 = it.next()?.parse().ok()?;
    let month: u8 = it.next()?.parse().ok()?;
    let year: i32 = it.next()?.trim_start_matches('+').parse().ok()?;
    Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()
}

fn contains_ci(haystack: &str, needle: &str) -> bool {
    needle.is_empty() || haystack.to_lowercase().contains(&needle.to_lowercase())
}

impl Message {
    /// Does this message match `key`? `ctx` gives its position in the folder.
    pub fn matches(&self, key: &SearchKey<'_>, ctx: &SearchContext) -> bool {
        let flag = |f: Flags| self.flags.contains(f);
        let text = |s: &dyn AsRef<[u8]>| String::from_utf8_lossy(s.as_ref()).into_owned();
        let date_cmp = |d: &NaiveDate, of: Option<OffsetDateTime>, cmp: fn(Date, Date) -> bool| -> bool {
            match (naive_date(d), of) {
                (Some(want), Some(have)) => cmp(have.date(), want),
                _ => false,
            }
        };
        let sent = || self.sent_date().or(Some(self.internal_date));
        match key {
            SearchKey::And(keys) => keys.as_ref().iter().all(|k| self.matches(k, ctx)),
            SearchKey::Or(a, b) => self.matches(a, ctx) || self.matches(b, ctx),
            SearchKey::Not(k) => !self.matches(k, ctx),
            SearchKey::All => true,
            SearchKey::SequenceSet(set) => sequence_set_contains(set, ctx.seq, ctx.max_seq),
            SearchKey::Uid(set) => sequence_set_contains(set, ctx.uid, ctx.max_uid),
            SearchKey::Answered => flag(Flags::ANSWERED),
            SearchKey::Unanswered => !flag(Flags::ANSWERED),
            SearchKey::Deleted => flag(Flags::DELETED),
            SearchKey::Undeleted => !flag(Flags::DELETED),
            SearchKey::Draft => flag(Flags::DRAFT),
            SearchKey::Undraft => !flag(Flags::DRAFT),
            SearchKey::Flagged => flag(Flags::FLAGGED),
            SearchKey::Unflagged => !flag(Flags::FLAGGED),
            SearchKey::Seen => flag(Flags::SEEN),
            SearchKey::Unseen => !flag(Flags::SEEN),
            // Nothing is ever \Recent on Exchange: NEW (RECENT UNSEEN) never matches and
            // OLD (NOT RECENT) always does.
            SearchKey::New | SearchKey::Recent => false,
            SearchKey::Old => true,
            SearchKey::Keyword(k) => self.flags.has_keyword(k.inner()),
            SearchKey::Unkeyword(k) => !self.flags.has_keyword(k.inner()),
            SearchKey::From(s) => self.address_matches("From", &text(s)),
            SearchKey::To(s) => self.address_matches("To", &text(s)),
            SearchKey::Cc(s) => self.address_matches("Cc", &text(s)),
            SearchKey::Bcc(s) => self.address_matches("Bcc", &text(s)),
            SearchKey::Subject(s) => {
                let needle = text(s);
                self.header_values("Subject").iter().any(|v| contains_ci(v, &needle))
                    || self.decoded_subject().is_some_and(|v| contains_ci(v, &needle))
            }
            SearchKey::Header(name, value) => {
                let (name, needle) = (text(name), text(value));
                self.header_values(&name).iter().any(|v| contains_ci(v, &needle))
            }
            SearchKey::Body(s) => self.body_matches(&text(s)),
            SearchKey::Text(s) => {
                let needle = text(s);
                contains_ci(&String::from_utf8_lossy(self.header()), &needle)
                    || self.address_matches("From", &needle)
                    || self.address_matches("To", &needle)
                    || self.address_matches("Cc", &needle)
                    || self.decoded_subject().is_some_and(|v| contains_ci(v, &needle))
                    || self.body_matches(&needle)
            }
            SearchKey::Before(d) => date_cmp(d, Some(self.internal_date), |have, want| have < want),
            SearchKey::On(d) => date_cmp(d, Some(self.internal_date), |have, want| have == want),
            SearchKey::Since(d) => date_cmp(d, Some(self.internal_date), |have, want| have >= want),
            SearchKey::SentBefore(d) => date_cmp(d, sent(), |have, want| have < want),
            SearchKey::SentOn(d) => date_cmp(d, sent(), |have, want| have == want),
            SearchKey::SentSince(d) => date_cmp(d, sent(), |have, want| have >= want),
            SearchKey::Larger(n) => self.size() > *n,
            SearchKey::Smaller(n) => self.size() < *n,
        }
    }

    /// Substring of the raw header value or of a decoded "Name <address>" (Exchange matches
    /// display names too).
    fn address_matches(&self, header: &str, needle: &str) -> bool {
        self.header_values(header).iter().any(|v| contains_ci(v, needle))
            || self.decoded_addresses(header).iter().any(|v| contains_ci(v, needle))
    }

    fn body_matches(&self, needle: &str) -> bool {
        contains_ci(self.body_text(), needle) || contains_ci(&String::from_utf8_lossy(self.text()), needle)
    }
}
