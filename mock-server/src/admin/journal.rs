//! The journal as the admin verbs see it, and reset to the fixture.
//!
//! Reading the journal is kept to one small method so the way it is read (paging,
//! streaming) can change without touching the other areas.

use super::http::{done, Params, MAX_JOURNAL_PAGE};
use super::{Admin, AdminError, Result};
use crate::journal::JournalEntry;
use serde_json::{json, Value};

impl Admin {
    pub fn journal(&self, after: u64) -> Vec<JournalEntry> {
        self.core.journal.since(after)
    }

    pub fn clear_journal(&self) {
        self.core.journal.clear();
    }

    /// Back to the fixture: directory, mail, signing keys, refresh tokens and sign-in
    /// state, faults. The clock and the journal are not part of the fixture and stay.
    pub fn reset(&self) -> Result<()> {
        let fixture = self.core.fixture.clone();
        let authority =
            crate::token::Authority::new(&fixture.signing_keys).map_err(|e| AdminError::invalid(e.to_string()))?;
        self.core
            .store
            .reset_from(&fixture)
            .map_err(|e| AdminError::invalid(e.to_string()))?;
        self.core.update_directory(|d| {
            *d = fixture;
            Ok::<(), AdminError>(())
        })?;
        self.core.set_authority(authority);
        self.identity.delegated.clear();
        self.core.faults.clear();
        self.note(
            "reset to the fixture".into(),
            "directory, mail, keys, sign-ins and faults restored",
        );
        Ok(())
    }
}

// ---- the admin API (and CLI) binding: verb names and named parameters ----

/// This area's verbs and their parameters, for usage lines and `mock-server admin --help`.
pub const VERBS: &[(&str, &str)] = &[("get-journal", "[--after SEQ]"), ("clear-journal", ""), ("reset", "")];

/// Run one of this area's verbs; `Ok(None)` when `verb` is not one of them.
pub(super) fn call(admin: &Admin, verb: &str, p: &mut Params) -> Result<Option<Value>> {
    let out = match verb {
        "get-journal" => get_journal(admin, p)?,
        "clear-journal" => {
            p.finish()?;
            admin.clear_journal();
            done()
        }
        "reset" => {
            p.finish()?;
            admin.reset()?;
            done()
        }
        _ => return Ok(None),
    };
    Ok(Some(out))
}

/// `get-journal [--after SEQ]`: the entries after `SEQ`, at most [`MAX_JOURNAL_PAGE`] of
/// them, and the last sequence number handed out (a follower pages with `after`).
/// Kept apart so the way the journal is read can change here alone.
fn get_journal(admin: &Admin, p: &mut Params) -> Result<Value> {
    let after = u64::try_from(p.opt_i64("after")?.unwrap_or(0)).unwrap_or(0);
    p.finish()?;
    // A page under a short lock; parsing happens after it is released.
    let page = admin.core().journal.page(after, MAX_JOURNAL_PAGE);
    let entries: Vec<Value> = page
        .entries
        .iter()
        .filter_map(|e| serde_json::from_str(e).ok())
        .collect();
    Ok(json!({ "entries": entries, "last_seq": page.last_seq, "oldest_seq": page.oldest_seq }))
}
