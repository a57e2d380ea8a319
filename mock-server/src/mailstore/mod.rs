//! The mail store: mailboxes, folders, messages, UIDs and flags, shared by every mail
//! protocol session. Pure data, no sockets (sans-I/O) and thread-safe.
//!
//! Exchange Online behaviour reproduced here:
//! - hierarchy delimiter `/`; default folders INBOX, "Sent Items", "Deleted Items",
//!   Drafts and "Junk Email" carry `\Sent`, `\Trash`, `\Drafts`, `\Junk` in LIST;
//! - LIST order is case-insensitive alphabetical (INBOX among the others), children
//!   right after their parent;
//! - PERMANENTFLAGS `\Seen \Answered \Flagged \Deleted \Draft $MDNSent`: other keywords
//!   are silently dropped (see [`flags`]);
//! - RECENT is always 0.
//!
//! Choices where Exchange's behaviour is not pinned down: default folders cannot be
//! deleted ([`StoreError::CannotDeleteDefaultFolder`]) or renamed, except INBOX as RFC 3501
//! describes ([`StoreError::CannotRenameDefaultFolder`]; Exchange keeps its well-known
//! folders by identity and Outlook offers no rename for them); a folder with subfolders cannot be
//! deleted ([`StoreError::HasChildren`]); CREATE creates missing parents; created folders
//! are subscribed; UIDVALIDITY values come from a per-mailbox counter starting at 14.

pub mod flags;
mod message;
mod mime;
pub mod outbox;
mod search;
#[cfg(test)]
mod tests;

pub use flags::{FlagOp, Flags};
pub use message::{Message, ParseError};
pub use outbox::{Outbox, SentMail};
pub use search::{naive_date, sequence_set_contains, SearchContext};

use crate::directory::Directory;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use time::OffsetDateTime;
use tokio::sync::watch;

/// The hierarchy delimiter.
pub const DELIMITER: char = '/';

/// The first UIDVALIDITY a mailbox hands out.
const FIRST_UID_VALIDITY: u32 = 14;

/// The default folders and their special-use attributes.
const DEFAULT_FOLDERS: [(&str, Option<&str>); 5] = [
    ("INBOX", None),
    ("Sent Items", Some("\\Sent")),
    ("Deleted Items", Some("\\Trash")),
    ("Drafts", Some("\\Drafts")),
    ("Junk Email", Some("\\Junk")),
];

/// Exchange Online's mailbox folder limits ("Maximum number of subfolders per mailbox
/// 10,000", "Maximum folder hierarchy depth 300"; the Exchange Online limits service
/// description, as quoted at <https://answers.uillinois.edu/illinois/page.php?id=90634>).
pub const MAX_FOLDERS: usize = 10_000;
/// See [`MAX_FOLDERS`].
pub const MAX_FOLDER_DEPTH: usize = 300;
/// Messages in one mailbox, all folders together. Exchange Online limits a folder to
/// 1 million messages (same source as [`MAX_FOLDERS`]); the mock holds mail in memory, so
/// it bounds the whole mailbox by that number, which also bounds what repeated COPY can
/// make (each copy is a new message of about 100 bytes besides the shared body).
pub const MAX_MESSAGES: usize = 1_000_000;
/// The bytes a mailbox may hold, every copy counted at its size as Exchange's quota counts
/// it. Exchange Online's quota is 50 or 100 GB by licence; the mock keeps mail in memory,
/// so its default is 1 GiB.
pub const DEFAULT_QUOTA_BYTES: u64 = 1 << 30;

/// The bounds every mailbox keeps (`--mailbox-quota-bytes`, `--mailbox-max-messages`,
/// `--mailbox-max-folders`, `--mailbox-max-folder-depth`; [`Store::set_limits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxLimits {
    pub quota_bytes: u64,
    pub max_messages: usize,
    pub max_folders: usize,
    pub max_depth: usize,
}

impl Default for MailboxLimits {
    fn default() -> Self {
        Self {
            quota_bytes: DEFAULT_QUOTA_BYTES,
            max_messages: MAX_MESSAGES,
            max_folders: MAX_FOLDERS,
            max_depth: MAX_FOLDER_DEPTH,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no mailbox {0}")]
    NoSuchMailbox(String),
    #[error("mailbox {0} is configured twice")]
    DuplicateMailbox(String),
    #[error("no folder {0:?}")]
    NoSuchFolder(String),
    #[error("folder {0:?} already exists")]
    FolderExists(String),
    #[error("INBOX cannot be deleted")]
    CannotDeleteInbox,
    #[error("{0:?} is a default folder and cannot be deleted")]
    CannotDeleteDefaultFolder(String),
    #[error("{0:?} is a default folder and cannot be renamed")]
    CannotRenameDefaultFolder(String),
    #[error("the mailbox is full: {0}")]
    OverQuota(String),
    #[error("{0:?} has subfolders")]
    HasChildren(String),
    #[error("{0:?} is not a valid folder name")]
    InvalidName(String),
    #[error("cannot rename {0:?} into itself")]
    RenameIntoItself(String),
    #[error("{origin}: cannot parse the message: {source}")]
    Unparseable { origin: String, source: ParseError },
    #[error("invalid message: {0}")]
    InvalidMessage(ParseError),
}

/// All mailboxes of a directory, keyed by lower-case address.
#[derive(Debug, Default)]
pub struct Store {
    /// Mailboxes come and go at run time (the admin API's New-Mailbox and reset), so the
    /// map is behind a lock; sessions hold their own `Arc<Mailbox>`.
    mailboxes: std::sync::RwLock<HashMap<String, Arc<Mailbox>>>,
    /// Every message SMTP submission accepted, external recipients included.
    pub outbox: Outbox,
    /// The limits mailboxes added or reset later get ([`Store::set_limits`]).
    limits: std::sync::RwLock<MailboxLimits>,
}

impl Store {
    pub fn from_directory(directory: &Directory) -> Result<Store, StoreError> {
        Ok(Store {
            mailboxes: std::sync::RwLock::new(Self::build(directory)?),
            outbox: Outbox::default(),
            limits: std::sync::RwLock::new(MailboxLimits::default()),
        })
    }

    fn map(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Mailbox>>> {
        // Writers replace or insert whole entries: a poisoned lock still guards a
        // consistent map.
        self.mailboxes.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn map_mut(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Mailbox>>> {
        // As in `map`: entries are inserted or replaced whole.
        self.mailboxes
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replace every mailbox with the directory's (reset to the fixture) and empty the
    /// outbox. Sessions that hold a mailbox keep the old one until they reconnect.
    pub fn reset_from(&self, directory: &Directory) -> Result<(), StoreError> {
        let fresh = Self::build(directory)?;
        give_limits(&fresh, self.limits());
        *self.map_mut() = fresh;
        self.outbox.clear();
        Ok(())
    }

    /// A copy of every mailbox as it is now (messages are shared: they never change once
    /// stored), watched by no session: how fuzz targets and tests start each run from one
    /// built store without parsing the fixture's messages again.
    pub fn duplicate(&self) -> Store {
        let map = self
            .map()
            .iter()
            .map(|(k, m)| (k.clone(), Arc::new(m.duplicate())))
            .collect();
        Store {
            mailboxes: std::sync::RwLock::new(map),
            // What SMTP accepted is history, not mailbox state: a copy starts empty.
            outbox: Outbox::default(),
            limits: std::sync::RwLock::new(self.limits()),
        }
    }

    /// Replace every mailbox with a copy of `other`'s (see [`Store::duplicate`]).
    pub fn restore_from(&self, other: &Store) {
        let fresh = other.duplicate();
        let map = fresh.mailboxes.into_inner().unwrap_or_else(PoisonError::into_inner);
        give_limits(&map, self.limits());
        *self.map_mut() = map;
        self.outbox.clear();
    }

    /// Set every mailbox's limits, and those of mailboxes added later.
    pub fn set_limits(&self, limits: MailboxLimits) {
        *self.limits.write().unwrap_or_else(PoisonError::into_inner) = limits;
        give_limits(&self.map(), limits);
    }

    /// The limits new mailboxes get.
    pub fn limits(&self) -> MailboxLimits {
        *self.limits.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Add an empty mailbox with the default folders (New-Mailbox).
    pub fn add_mailbox(&self, address: &str) -> Result<(), StoreError> {
        let key = address.to_ascii_lowercase();
        let mut map = self.map_mut();
        if map.contains_key(&key) {
            return Err(StoreError::DuplicateMailbox(address.to_string()));
        }
        let mailbox = Mailbox::new(address);
        mailbox.lock().limits = self.limits();
        map.insert(key, Arc::new(mailbox));
        Ok(())
    }

    fn build(directory: &Directory) -> Result<HashMap<String, Arc<Mailbox>>, StoreError> {
        let mut mailboxes = HashMap::new();
        for tenant in &directory.tenants {
            for config in &tenant.exchange.mailboxes {
                let key = config.address.to_ascii_lowercase();
                let mut state = State::new();
                for folder in &config.folders {
                    let name = canonical(&folder.name);
                    if state.find(&name).is_none() {
                        state.create(&name).map_err(|e| match e {
                            StoreError::InvalidName(n) => StoreError::InvalidName(format!("{}: {n}", config.address)),
                            e => e,
                        })?;
                    }
                    let idx = state
                        .find(&name)
                        .ok_or_else(|| StoreError::NoSuchFolder(name.clone()))?;
                    for source in &folder.messages {
                        let f = &mut state.folders[idx];
                        let msg = Message::parse(source.bytes.clone(), f.uid_next, Flags::empty(), None).map_err(
                            |source_err| StoreError::Unparseable {
                                origin: source.origin.clone(),
                                source: source_err,
                            },
                        )?;
                        f.push(msg);
                    }
                }
                let mailbox = Arc::new(Mailbox::with_state(&config.address, state));
                if mailboxes.insert(key, mailbox).is_some() {
                    return Err(StoreError::DuplicateMailbox(config.address.clone()));
                }
            }
        }
        Ok(mailboxes)
    }

    /// The mailbox of `address` (any case).
    pub fn mailbox(&self, address: &str) -> Option<Arc<Mailbox>> {
        self.map().get(&address.to_ascii_lowercase()).cloned()
    }

    /// All addresses, sorted.
    pub fn addresses(&self) -> Vec<String> {
        let mut v: Vec<String> = self.map().values().map(|m| m.address.clone()).collect();
        v.sort();
        v
    }

    /// Mail arriving from outside (SMTP, a test): appended to `folder` of `address`.
    pub fn deliver(
        &self,
        address: &str,
        folder: &str,
        raw: &[u8],
        flags: Flags,
        internal_date: Option<OffsetDateTime>,
    ) -> Result<u32, StoreError> {
        let mailbox = self
            .mailbox(address)
            .ok_or_else(|| StoreError::NoSuchMailbox(address.to_string()))?;
        mailbox.append(folder, raw, flags, internal_date).map(|(_, uid)| uid)
    }
}

impl Store {
    /// SMTP submission: the message goes to the INBOX of every recipient that has a
    /// mailbox here (once each), and a `\Seen` copy to the sender's Sent Items. The
    /// message is parsed before anything is stored, so a message that cannot be stored
    /// is stored nowhere. A mailbox over its limits ([`MailboxLimits`]) gets no copy.
    /// Returns the recipients whose INBOX got it.
    pub fn submit(
        &self,
        sender: &str,
        recipients: &[String],
        raw: &[u8],
        at: OffsetDateTime,
    ) -> Result<Vec<String>, StoreError> {
        Message::parse(Arc::from(raw), 0, Flags::empty(), Some(at)).map_err(StoreError::InvalidMessage)?;
        let mut delivered: Vec<String> = Vec::new();
        for r in recipients {
            let key = r.to_ascii_lowercase();
            if delivered.contains(&key) {
                continue;
            }
            if let Some(mailbox) = self.mailbox(&key) {
                // A full mailbox does not get it (Exchange would bounce it later with
                // `554 5.2.2 mailbox full`); the submission still succeeds for the others.
                match mailbox.append("INBOX", raw, Flags::empty(), Some(at)) {
                    Ok(_) => delivered.push(key),
                    Err(StoreError::OverQuota(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if let Some(mailbox) = self.mailbox(sender) {
            // A mailbox whose Sent Items was deleted (or never made), or that is full, just
            // keeps no copy.
            if mailbox.exists("Sent Items") {
                match mailbox.append("Sent Items", raw, Flags::SEEN, Some(at)) {
                    Ok(_) | Err(StoreError::OverQuota(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(delivered)
    }
}

/// A folder as LIST/LSUB show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderInfo {
    pub name: String,
    /// `\HasChildren` or `\HasNoChildren`, then the special-use attribute if any.
    pub attributes: Vec<&'static str>,
    pub subscribed: bool,
}

/// STATUS / SELECT numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderStatus {
    pub messages: u32,
    /// Always 0 on Exchange.
    pub recent: u32,
    pub uid_next: u32,
    pub uid_validity: u32,
    pub unseen: u32,
}

/// The state of a folder at one instant, for a session to diff against (EXISTS, EXPUNGE,
/// FETCH FLAGS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderSnapshot {
    pub uid_validity: u32,
    pub uid_next: u32,
    /// UIDs ascending, with their flags; the index + 1 is the sequence number.
    pub entries: Vec<(u32, Flags)>,
}

/// The answer to COPY/MOVE (for the COPYUID response code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyResult {
    /// UIDVALIDITY of the destination.
    pub uid_validity: u32,
    /// (source UID, destination UID), by ascending source UID.
    pub pairs: Vec<(u32, u32)>,
}

/// One user's or shared mailbox.
#[derive(Debug)]
pub struct Mailbox {
    address: String,
    /// One lock per mailbox, held only for the duration of one operation and never across
    /// an `.await` (all operations here are synchronous), so a plain `std` mutex is right:
    /// cheaper than tokio's and no session can stall another one by being slow.
    state: Mutex<State>,
    changes: watch::Sender<u64>,
}

#[derive(Debug, Clone)]
struct Folder {
    name: String,
    special: Option<&'static str>,
    subscribed: bool,
    uid_validity: u32,
    uid_next: u32,
    /// Ascending UIDs.
    messages: Vec<Arc<Message>>,
}

impl Folder {
    /// Append `msg` with the next UID.
    fn push(&mut self, mut msg: Message) -> u32 {
        let uid = self.uid_next;
        msg.uid = uid;
        self.uid_next += 1;
        self.messages.push(Arc::new(msg));
        uid
    }

    fn position(&self, uid: u32) -> Option<usize> {
        self.messages.binary_search_by_key(&uid, |m| m.uid).ok()
    }
}

#[derive(Debug, Clone)]
struct State {
    folders: Vec<Folder>,
    next_uid_validity: u32,
    limits: MailboxLimits,
}

/// Every mailbox of `map` keeps `limits` from now on.
fn give_limits(map: &HashMap<String, Arc<Mailbox>>, limits: MailboxLimits) {
    for m in map.values() {
        m.lock().limits = limits;
    }
}

/// INBOX in any case is INBOX, also as the first segment of a subfolder.
fn canonical(name: &str) -> String {
    match name.split_once(DELIMITER) {
        Some((first, rest)) if first.eq_ignore_ascii_case("INBOX") => format!("INBOX{DELIMITER}{rest}"),
        None if name.eq_ignore_ascii_case("INBOX") => "INBOX".to_string(),
        _ => name.to_string(),
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.split(DELIMITER).all(|s| !s.is_empty())
        && !name.chars().any(|c| c.is_control() || c == '*' || c == '%')
}

fn is_inferior(name: &str, parent: &str) -> bool {
    name.len() > parent.len() + 1 && name.starts_with(parent) && name[parent.len()..].starts_with(DELIMITER)
}

impl State {
    fn new() -> State {
        let mut s = State {
            folders: Vec::new(),
            next_uid_validity: FIRST_UID_VALIDITY,
            limits: MailboxLimits::default(),
        };
        for (name, special) in DEFAULT_FOLDERS {
            s.add(name.to_string(), special);
        }
        s
    }

    /// Whether `count` more messages of `bytes` in all fit the mailbox's limits; the
    /// usage is counted afresh (one pass over the messages) so that no path can let a
    /// running total drift.
    fn room_for(&self, count: usize, bytes: u64) -> Result<(), StoreError> {
        let held: usize = self.folders.iter().map(|f| f.messages.len()).sum();
        let used: u64 = self
            .folders
            .iter()
            .flat_map(|f| &f.messages)
            .map(|m| u64::from(m.size()))
            .sum();
        let l = self.limits;
        if held.saturating_add(count) > l.max_messages {
            return Err(StoreError::OverQuota(format!(
                "{held} messages held, {count} more would pass the limit of {} (--mailbox-max-messages)",
                l.max_messages
            )));
        }
        if used.saturating_add(bytes) > l.quota_bytes {
            return Err(StoreError::OverQuota(format!(
                "{used} bytes held, {bytes} more would pass the quota of {} bytes (--mailbox-quota-bytes)",
                l.quota_bytes
            )));
        }
        Ok(())
    }

    fn add(&mut self, name: String, special: Option<&'static str>) {
        let uid_validity = self.next_uid_validity;
        self.next_uid_validity += 1;
        self.folders.push(Folder {
            name,
            special,
            subscribed: true,
            uid_validity,
            uid_next: 1,
            messages: Vec::new(),
        });
    }

    fn find(&self, name: &str) -> Option<usize> {
        let name = canonical(name);
        self.folders.iter().position(|f| f.name == name)
    }

    fn folder(&self, name: &str) -> Result<&Folder, StoreError> {
        self.find(name)
            .map(|i| &self.folders[i])
            .ok_or_else(|| StoreError::NoSuchFolder(name.to_string()))
    }

    fn folder_mut(&mut self, name: &str) -> Result<&mut Folder, StoreError> {
        match self.find(name) {
            Some(i) => Ok(&mut self.folders[i]),
            None => Err(StoreError::NoSuchFolder(name.to_string())),
        }
    }

    fn create(&mut self, name: &str) -> Result<(), StoreError> {
        let name = canonical(name.strip_suffix(DELIMITER).unwrap_or(name));
        if !valid_name(&name) {
            return Err(StoreError::InvalidName(name));
        }
        if self.find(&name).is_some() {
            return Err(StoreError::FolderExists(name));
        }
        self.room_for_folder(&name)?;
        // Missing parents are created too (RFC 3501 CREATE).
        for missing in self.missing_folders(&name) {
            self.add(missing, None);
        }
        Ok(())
    }

    /// `name` and its parents that do not exist yet, outermost first.
    fn missing_folders(&self, name: &str) -> Vec<String> {
        let mut missing = Vec::new();
        let mut prefix = String::new();
        for segment in name.split(DELIMITER) {
            if !prefix.is_empty() {
                prefix.push(DELIMITER);
            }
            prefix.push_str(segment);
            if self.find(&prefix).is_none() {
                missing.push(prefix.clone());
            }
        }
        missing
    }

    /// Whether folders `depth` levels deep fit the depth limit.
    fn room_for_depth(&self, depth: usize) -> Result<(), StoreError> {
        if depth > self.limits.max_depth {
            return Err(StoreError::OverQuota(format!(
                "{depth} levels of folders, more than the limit of {} (--mailbox-max-folder-depth)",
                self.limits.max_depth
            )));
        }
        Ok(())
    }

    /// Whether a folder called `name` (and its missing parents) fits the folder limits.
    fn room_for_folder(&self, name: &str) -> Result<(), StoreError> {
        self.room_for_depth(name.split(DELIMITER).count())?;
        let missing = self.missing_folders(name).len();
        if self.folders.len() + missing > self.limits.max_folders {
            return Err(StoreError::OverQuota(format!(
                "{} folders, {missing} more would pass the limit of {} (--mailbox-max-folders)",
                self.folders.len(),
                self.limits.max_folders
            )));
        }
        Ok(())
    }

    /// Two distinct folders (by index), mutably.
    fn pair_mut(&mut self, a: usize, b: usize) -> (&mut Folder, &mut Folder) {
        if a < b {
            let (left, right) = self.folders.split_at_mut(b);
            (&mut left[a], &mut right[0])
        } else {
            let (left, right) = self.folders.split_at_mut(a);
            (&mut right[0], &mut left[b])
        }
    }

    /// Copy `uids` of folder `from` into folder `to`; with `remove`, take them out of
    /// `from` (MOVE). UIDs that do not exist are skipped.
    fn transfer(&mut self, from: &str, uids: &[u32], to: &str, remove: bool) -> Result<CopyResult, StoreError> {
        let src = self
            .find(from)
            .ok_or_else(|| StoreError::NoSuchFolder(from.to_string()))?;
        let dst = self.find(to).ok_or_else(|| StoreError::NoSuchFolder(to.to_string()))?;
        let mut wanted: Vec<u32> = uids.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        let picked: Vec<Arc<Message>> = wanted
            .iter()
            .filter_map(|uid| {
                let f = &self.folders[src];
                f.position(*uid).map(|i| f.messages[i].clone())
            })
            .collect();
        if !remove {
            let bytes = picked.iter().map(|m| u64::from(m.size())).sum();
            self.room_for(picked.len(), bytes)?;
        }
        let mut pairs = Vec::with_capacity(picked.len());
        if src == dst {
            // COPY into the same folder: new UIDs; MOVE into itself: new UIDs too
            // (Exchange treats it as a copy followed by an expunge).
            let f = &mut self.folders[src];
            for m in &picked {
                let new_uid = f.push(Message::clone(m));
                pairs.push((m.uid, new_uid));
            }
            if remove {
                let old: Vec<u32> = pairs.iter().map(|p| p.0).collect();
                f.messages.retain(|m| old.binary_search(&m.uid).is_err());
            }
            return Ok(CopyResult {
                uid_validity: f.uid_validity,
                pairs,
            });
        }
        let (s, d) = self.pair_mut(src, dst);
        for m in &picked {
            let new_uid = d.push(Message::clone(m));
            pairs.push((m.uid, new_uid));
        }
        if remove {
            s.messages.retain(|m| wanted.binary_search(&m.uid).is_err());
        }
        Ok(CopyResult {
            uid_validity: d.uid_validity,
            pairs,
        })
    }
}

impl Mailbox {
    /// A mailbox with the default folders, empty.
    pub fn new(address: &str) -> Mailbox {
        Mailbox::with_state(address, State::new())
    }

    fn with_state(address: &str, state: State) -> Mailbox {
        Mailbox {
            address: address.to_string(),
            state: Mutex::new(state),
            changes: watch::Sender::new(0),
        }
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// A mailbox with the same folders and messages, and its own change notifications.
    fn duplicate(&self) -> Mailbox {
        Mailbox::with_state(&self.address, self.lock().clone())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-changed in a way that
        // matters more than losing the mailbox, so keep going.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn changed(&self) {
        self.changes.send_modify(|v| *v += 1);
    }

    /// A receiver whose value increments on every change of this mailbox (delivery,
    /// append, expunge, flags, copy/move, folder operations): idling sessions wait on it.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The folders in Exchange's LIST order.
    pub fn list(&self) -> Vec<FolderInfo> {
        let state = self.lock();
        // Every name that is some folder's parent: one pass, not one per folder (a LIST of
        // the 10,000 folders a mailbox may hold compared 10^8 pairs).
        let parents: std::collections::HashSet<&str> = state
            .folders
            .iter()
            .flat_map(|f| f.name.match_indices(DELIMITER).map(|(i, _)| &f.name[..i]))
            .collect();
        let mut out: Vec<FolderInfo> = state
            .folders
            .iter()
            .map(|f| {
                let has_children = parents.contains(f.name.as_str());
                let mut attributes = Vec::new();
                // Exchange lists INBOX as `(\Marked \HasNoChildren)` (outlook.office365.com,
                // https://github.com/jstedfast/MailKit/issues/1446, an INBOX with unseen mail).
                // When it drops `\Marked` is not captured: here, once nothing is unseen.
                if f.name == "INBOX" && f.messages.iter().any(|m| !m.flags.seen()) {
                    attributes.push("\\Marked");
                }
                attributes.push(if has_children {
                    "\\HasChildren"
                } else {
                    "\\HasNoChildren"
                });
                attributes.extend(f.special);
                FolderInfo {
                    name: f.name.clone(),
                    attributes,
                    subscribed: f.subscribed,
                }
            })
            .collect();
        // Depth-first: compare segment by segment, case-insensitively (ties by case).
        out.sort_by_cached_key(|f| {
            f.name
                .split(DELIMITER)
                .map(|s| (s.to_lowercase(), s.to_string()))
                .collect::<Vec<_>>()
        });
        out
    }

    /// The subscribed folders (LSUB), in LIST order.
    pub fn lsub(&self) -> Vec<FolderInfo> {
        self.list().into_iter().filter(|f| f.subscribed).collect()
    }

    /// Does `folder` exist (INBOX in any case)?
    pub fn exists(&self, folder: &str) -> bool {
        self.lock().find(folder).is_some()
    }

    pub fn create(&self, folder: &str) -> Result<(), StoreError> {
        self.lock().create(folder)?;
        self.changed();
        Ok(())
    }

    pub fn delete(&self, folder: &str) -> Result<(), StoreError> {
        let mut state = self.lock();
        let idx = state
            .find(folder)
            .ok_or_else(|| StoreError::NoSuchFolder(folder.to_string()))?;
        let f = &state.folders[idx];
        if f.name == "INBOX" {
            return Err(StoreError::CannotDeleteInbox);
        }
        if DEFAULT_FOLDERS.iter().any(|(n, _)| *n == f.name) {
            return Err(StoreError::CannotDeleteDefaultFolder(f.name.clone()));
        }
        if state.folders.iter().any(|c| is_inferior(&c.name, &f.name)) {
            return Err(StoreError::HasChildren(f.name.clone()));
        }
        state.folders.remove(idx);
        drop(state);
        self.changed();
        Ok(())
    }

    /// RENAME. Subfolders move along. Renaming INBOX moves its messages into a new folder
    /// and leaves INBOX empty (RFC 3501); INBOX keeps its UIDVALIDITY and UIDNEXT.
    pub fn rename(&self, from: &str, to: &str) -> Result<(), StoreError> {
        let mut state = self.lock();
        let to = canonical(to.strip_suffix(DELIMITER).unwrap_or(to));
        let idx = state
            .find(from)
            .ok_or_else(|| StoreError::NoSuchFolder(from.to_string()))?;
        let from = state.folders[idx].name.clone();
        if from != "INBOX" && DEFAULT_FOLDERS.iter().any(|(n, _)| *n == from) {
            // Found by the imap_commands fuzz target: `RENAME Drafts X` left the mailbox
            // without the Drafts folder the SMTP and IMAP paths expect.
            return Err(StoreError::CannotRenameDefaultFolder(from));
        }
        if !valid_name(&to) {
            return Err(StoreError::InvalidName(to));
        }
        if state.find(&to).is_some() {
            return Err(StoreError::FolderExists(to));
        }
        // The limits as CREATE keeps them: the new name's missing parents (and, for INBOX,
        // the new folder) must fit, and so must the deepest subfolder once moved.
        let below = state
            .folders
            .iter()
            .filter(|f| is_inferior(&f.name, &from))
            .map(|f| f.name[from.len()..].split(DELIMITER).count() - 1)
            .max()
            .unwrap_or(0);
        let parent_of_to = to.rsplit_once(DELIMITER).map(|(p, _)| p);
        if from == "INBOX" {
            state.room_for_folder(&to)?;
        } else if let Some(parent) = parent_of_to {
            if state.find(parent).is_none() {
                state.room_for_folder(parent)?;
            }
        }
        state.room_for_depth(to.split(DELIMITER).count() + below)?;
        if is_inferior(&to, &from) {
            return Err(StoreError::RenameIntoItself(from));
        }
        if from == "INBOX" {
            state.create(&to)?;
            let dst = state.find(&to).ok_or_else(|| StoreError::NoSuchFolder(to.clone()))?;
            let inbox_messages = std::mem::take(&mut state.folders[idx].messages);
            let uid_next = state.folders[idx].uid_next;
            let d = &mut state.folders[dst];
            d.messages = inbox_messages;
            d.uid_next = uid_next;
        } else {
            // Parents of the new name, then the folder and its subfolders.
            if let Some((parent, _)) = to.rsplit_once(DELIMITER) {
                if state.find(parent).is_none() {
                    state.create(parent)?;
                }
            }
            for f in &mut state.folders {
                if f.name == from {
                    f.name = to.clone();
                } else if is_inferior(&f.name, &from) {
                    f.name = format!("{to}{}", &f.name[from.len()..]);
                }
            }
        }
        drop(state);
        self.changed();
        Ok(())
    }

    pub fn subscribe(&self, folder: &str) -> Result<(), StoreError> {
        self.lock().folder_mut(folder)?.subscribed = true;
        Ok(())
    }

    pub fn unsubscribe(&self, folder: &str) -> Result<(), StoreError> {
        self.lock().folder_mut(folder)?.subscribed = false;
        Ok(())
    }

    pub fn status(&self, folder: &str) -> Result<FolderStatus, StoreError> {
        let state = self.lock();
        let f = state.folder(folder)?;
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Ok(FolderStatus {
            messages: count(f.messages.len()),
            recent: 0,
            uid_next: f.uid_next,
            uid_validity: f.uid_validity,
            unseen: count(f.messages.iter().filter(|m| !m.flags.seen()).count()),
        })
    }

    pub fn snapshot(&self, folder: &str) -> Result<FolderSnapshot, StoreError> {
        let state = self.lock();
        let f = state.folder(folder)?;
        Ok(FolderSnapshot {
            uid_validity: f.uid_validity,
            uid_next: f.uid_next,
            entries: f.messages.iter().map(|m| (m.uid, m.flags)).collect(),
        })
    }

    pub fn message(&self, folder: &str, uid: u32) -> Option<Arc<Message>> {
        let state = self.lock();
        let f = state.folder(folder).ok()?;
        f.position(uid).map(|i| f.messages[i].clone())
    }

    /// All messages of `folder`, ascending UIDs (for FETCH/SEARCH over a snapshot).
    pub fn messages(&self, folder: &str) -> Result<Vec<Arc<Message>>, StoreError> {
        Ok(self.lock().folder(folder)?.messages.clone())
    }

    /// STORE: change the flags of `uids` (missing ones skipped); returns the new flags by
    /// ascending UID.
    pub fn store_flags(
        &self,
        folder: &str,
        uids: &[u32],
        op: FlagOp,
        flags: Flags,
    ) -> Result<Vec<(u32, Flags)>, StoreError> {
        let mut state = self.lock();
        let f = state.folder_mut(folder)?;
        let mut wanted = uids.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        let mut out = Vec::new();
        let mut changed = false;
        for uid in wanted {
            if let Some(i) = f.position(uid) {
                let m = &mut f.messages[i];
                let new = op.apply(m.flags, flags);
                if new != m.flags {
                    Arc::make_mut(m).flags = new;
                    changed = true;
                }
                out.push((uid, new));
            }
        }
        drop(state);
        if changed {
            self.changed();
        }
        Ok(out)
    }

    /// EXPUNGE (`only == None`) or UID EXPUNGE: remove the `\Deleted` messages; returns
    /// their UIDs ascending.
    pub fn expunge(&self, folder: &str, only: Option<&[u32]>) -> Result<Vec<u32>, StoreError> {
        let mut state = self.lock();
        let f = state.folder_mut(folder)?;
        let mut gone = Vec::new();
        f.messages.retain(|m| {
            let remove = m.flags.deleted() && only.is_none_or(|u| u.contains(&m.uid));
            if remove {
                gone.push(m.uid);
            }
            !remove
        });
        drop(state);
        if !gone.is_empty() {
            self.changed();
        }
        Ok(gone)
    }

    pub fn copy(&self, from: &str, uids: &[u32], to: &str) -> Result<CopyResult, StoreError> {
        let result = self.lock().transfer(from, uids, to, false)?;
        if !result.pairs.is_empty() {
            self.changed();
        }
        Ok(result)
    }

    /// MOVE: copy and expunge at the source, in one step under the lock.
    pub fn move_messages(&self, from: &str, uids: &[u32], to: &str) -> Result<CopyResult, StoreError> {
        let result = self.lock().transfer(from, uids, to, true)?;
        if !result.pairs.is_empty() {
            self.changed();
        }
        Ok(result)
    }

    /// APPEND: the message is stored whole or not at all. Returns (UIDVALIDITY, UID) for
    /// APPENDUID.
    pub fn append(
        &self,
        folder: &str,
        raw: &[u8],
        flags: Flags,
        internal_date: Option<OffsetDateTime>,
    ) -> Result<(u32, u32), StoreError> {
        // Parse outside the lock: it is the slow part.
        let date = internal_date.unwrap_or_else(OffsetDateTime::now_utc);
        let msg = Message::parse(Arc::from(raw), 0, flags, Some(date)).map_err(StoreError::InvalidMessage)?;
        let mut state = self.lock();
        state.folder_mut(folder)?;
        state.room_for(1, u64::from(msg.size()))?;
        let f = state.folder_mut(folder)?;
        let uid = f.push(msg);
        let uid_validity = f.uid_validity;
        drop(state);
        self.changed();
        Ok((uid_validity, uid))
    }
}
