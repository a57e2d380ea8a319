//! Message flags as Exchange Online stores them.
//!
//! Exchange's PERMANENTFLAGS are `\Seen \Answered \Flagged \Deleted \Draft $MDNSent`,
//! without `\*`: a client cannot create keywords. **Choice:** storing any other keyword is
//! silently ignored (the flag simply does not stick, and the FETCH FLAGS answer after a
//! STORE shows it is absent), which is what RFC 3501 allows for flags not in
//! PERMANENTFLAGS ("changes ... are not permanent"); it never fails the command.

use imap_codec::imap_types::{
    core::Atom,
    flag::{Flag, FlagFetch, FlagPerm},
};

/// The one keyword Exchange stores.
pub const MDN_SENT: &str = "$MDNSent";

/// The flags of one message: a small bit set, cheap to copy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flags(u8);

impl Flags {
    pub const SEEN: Flags = Flags(1);
    pub const ANSWERED: Flags = Flags(1 << 1);
    pub const FLAGGED: Flags = Flags(1 << 2);
    pub const DELETED: Flags = Flags(1 << 3);
    pub const DRAFT: Flags = Flags(1 << 4);
    pub const MDN_SENT: Flags = Flags(1 << 5);

    /// No flag set.
    pub const fn empty() -> Flags {
        Flags(0)
    }

    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    pub const fn difference(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn seen(self) -> bool {
        self.contains(Flags::SEEN)
    }

    pub fn deleted(self) -> bool {
        self.contains(Flags::DELETED)
    }

    /// Flags from IMAP flags; keywords other than `$MDNSent` (any case) and unknown
    /// system-flag extensions are ignored (see the module documentation).
    pub fn from_imap<'a, 'f: 'a>(flags: impl IntoIterator<Item = &'a Flag<'f>>) -> Flags {
        flags.into_iter().fold(Flags::empty(), |acc, f| {
            acc.union(match f {
                Flag::Seen => Flags::SEEN,
                Flag::Answered => Flags::ANSWERED,
                Flag::Flagged => Flags::FLAGGED,
                Flag::Deleted => Flags::DELETED,
                Flag::Draft => Flags::DRAFT,
                Flag::Keyword(k) if k.inner().eq_ignore_ascii_case(MDN_SENT) => Flags::MDN_SENT,
                Flag::Keyword(_) | Flag::Extension(_) => Flags::empty(),
            })
        })
    }

    /// Does the keyword `name` (as in SEARCH KEYWORD) stick to this message?
    pub fn has_keyword(self, name: &str) -> bool {
        name.eq_ignore_ascii_case(MDN_SENT) && self.contains(Flags::MDN_SENT)
    }

    /// The flags as IMAP flags, in Exchange's order.
    pub fn to_imap(self) -> Vec<Flag<'static>> {
        let mut out = Vec::new();
        for (bit, flag) in [
            (Flags::SEEN, Flag::Seen),
            (Flags::ANSWERED, Flag::Answered),
            (Flags::FLAGGED, Flag::Flagged),
            (Flags::DELETED, Flag::Deleted),
            (Flags::DRAFT, Flag::Draft),
        ] {
            if self.contains(bit) {
                out.push(flag);
            }
        }
        if self.contains(Flags::MDN_SENT) {
            out.extend(mdn_sent_flag());
        }
        out
    }

    /// For a FETCH FLAGS item (`\Recent` is never set: RECENT is always 0 on Exchange).
    pub fn to_fetch(self) -> Vec<FlagFetch<'static>> {
        self.to_imap().into_iter().map(FlagFetch::Flag).collect()
    }

    /// The FLAGS response of SELECT/EXAMINE.
    pub fn all_flags() -> Vec<Flag<'static>> {
        Flags(0x3f).to_imap()
    }

    /// The PERMANENTFLAGS response code (no `\*`).
    pub fn permanent_flags() -> Vec<FlagPerm<'static>> {
        Self::all_flags().into_iter().map(FlagPerm::Flag).collect()
    }
}

fn mdn_sent_flag() -> Option<Flag<'static>> {
    Atom::try_from(MDN_SENT).ok().map(Flag::Keyword)
}

/// How STORE changes flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    /// `+FLAGS`
    Add,
    /// `-FLAGS`
    Remove,
    /// `FLAGS`
    Replace,
}

impl FlagOp {
    pub fn apply(self, current: Flags, flags: Flags) -> Flags {
        match self {
            FlagOp::Add => current.union(flags),
            FlagOp::Remove => current.difference(flags),
            FlagOp::Replace => flags,
        }
    }
}
