//! The core state every protocol reads: directory, token authority, clock, journal,
//! faults and mail store.
//!
//! It sits below the protocols (`identity`, `imap`, `admin`): each of them holds an
//! `Arc<Core>` plus its own state and configuration, and none of them knows the server
//! that wires them together. A core can be built without sockets
//! ([`Core::new`]), which is how unit tests and fuzz targets get a session.

use crate::clock::Clock;
use crate::directory::Directory;
use crate::faults::{Faults, Fired, Probe};
use crate::journal::{Journal, JournalEntry, Outcome};
use crate::mailstore::Store;
use crate::token::Authority;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};

/// Why a core could not be built from a directory.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("signing keys: {0}")]
    Authority(#[from] crate::token::AuthorityError),
    #[error("mail: {0}")]
    Mail(#[from] crate::mailstore::StoreError),
}

/// What every protocol shares.
pub struct Core {
    directory: RwLock<Directory>,
    /// The directory as loaded at start, for "reset to the fixture".
    pub fixture: Directory,
    /// Replaced whole when the signing key rotates; readers take an `Arc` and never hold
    /// the lock while signing or verifying.
    authority: RwLock<Arc<Authority>>,
    pub clock: Clock,
    pub journal: Journal,
    /// Scripted faults the layers ask about.
    pub faults: Faults,
    /// Every mailbox's folders and messages.
    pub store: Arc<Store>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core").finish_non_exhaustive()
    }
}

impl Core {
    /// A core for `directory`: its signing keys, its mail, an empty journal, no faults.
    pub fn new(directory: Directory, clock: Clock) -> Result<Self, CoreError> {
        Self::with_parts(directory, clock, Journal::default(), Faults::default())
    }

    /// As [`Core::new`], with a journal (perhaps writing to a file) and faults armed
    /// before start.
    pub fn with_parts(directory: Directory, clock: Clock, journal: Journal, faults: Faults) -> Result<Self, CoreError> {
        let authority = Authority::new(&directory.signing_keys)?;
        let store = Arc::new(Store::from_directory(&directory)?);
        Ok(Self {
            fixture: directory.clone(),
            directory: RwLock::new(directory),
            authority: RwLock::new(Arc::new(authority)),
            clock,
            journal,
            faults,
            store,
        })
    }

    /// Read access to the directory. Readers never hold it across an `.await`.
    pub fn directory(&self) -> RwLockReadGuard<'_, Directory> {
        // The directory is replaced whole by writers, so a poisoned lock still guards a
        // consistent value.
        self.directory.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Change the directory all-or-nothing: `f` works on a copy that replaces the
    /// directory only when it returns `Ok`. Sessions see the change at their next
    /// AUTHENTICATE, token requests at their next request.
    pub fn update_directory<R, E>(&self, f: impl FnOnce(&mut Directory) -> Result<R, E>) -> Result<R, E> {
        // Writers are serialised by this lock; the copy keeps a failed change invisible.
        let mut guard = self.directory.write().unwrap_or_else(PoisonError::into_inner);
        let mut copy = guard.clone();
        let r = f(&mut copy)?;
        *guard = copy;
        Ok(r)
    }

    /// The token authority as it is now (keys rotate at run time).
    pub fn authority(&self) -> Arc<Authority> {
        // Replaced whole by rotation: a poisoned lock still guards a consistent value.
        self.authority.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn set_authority(&self, authority: Authority) {
        // As in `authority`: the value is replaced whole.
        *self.authority.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(authority);
    }

    /// Ask whether a fault is armed for this probe; a firing is journaled here.
    pub fn fire(&self, probe: &Probe<'_>, peer: Option<String>) -> Option<Fired> {
        if !self.faults.any(probe.hook) {
            return None;
        }
        let fired = self.faults.take(probe)?;
        let what = fired.fault.describe();
        tracing::info!(fault = fired.id, %what, "fault fired");
        let protocol = probe.hook.protocol();
        let request = probe.command.map(str::to_string).unwrap_or_else(|| probe.hook.name());
        self.journal.record(JournalEntry {
            peer,
            client_id: probe.client_id.map(str::to_string),
            error_code: fired.fault.code,
            reason: Some(format!("scripted fault #{} fired: {what}", fired.id)),
            fix: Some(format!("disarm fault #{} (remove-fault --id {})", fired.id, fired.id)),
            details: serde_json::to_value(&fired.fault).unwrap_or_default(),
            ..JournalEntry::new(protocol, self.clock.now(), request, Outcome::Fault)
        });
        Some(fired)
    }
}
