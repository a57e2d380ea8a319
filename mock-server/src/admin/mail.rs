//! Mail: deliver a message, list a folder, read one message.

use super::http::Params;
use super::{mailbox_index, Admin, AdminError, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::Arc;
use time::OffsetDateTime;

#[derive(Debug, Clone, Serialize)]
pub struct MessageInfo {
    pub uid: u32,
    pub flags: Vec<&'static str>,
    pub size: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub internal_date: OffsetDateTime,
    pub subject: Option<String>,
    pub from: Option<String>,
    pub message_id: Option<String>,
}

impl Admin {
    /// Deliver a message (RFC 5322 bytes) to a folder; idling sessions see `* n EXISTS`.
    pub fn deliver(&self, mailbox: &str, folder: &str, raw: &[u8]) -> Result<u32> {
        let uid = self
            .core
            .store
            .deliver(
                mailbox,
                folder,
                raw,
                crate::mailstore::Flags::default(),
                Some(self.core.clock.now()),
            )
            .map_err(|e| self.store_error(mailbox, e))?;
        self.note(
            format!("deliver {} bytes to {mailbox} {folder}", raw.len()),
            &format!("UID {uid}"),
        );
        Ok(uid)
    }

    fn store_error(&self, mailbox: &str, e: crate::mailstore::StoreError) -> AdminError {
        match e {
            crate::mailstore::StoreError::NoSuchMailbox(_) => mailbox_index(&self.core.directory(), mailbox)
                .err()
                .unwrap_or_else(|| AdminError::not_found(format!("no mailbox {mailbox}"))),
            crate::mailstore::StoreError::NoSuchFolder(f) => {
                AdminError::not_found(format!("no folder {f:?} in mailbox {mailbox}"))
            }
            e => AdminError::invalid(e.to_string()),
        }
    }

    fn mailbox(&self, mailbox: &str) -> Result<Arc<crate::mailstore::Mailbox>> {
        self.core
            .store
            .mailbox(mailbox)
            .ok_or_else(|| self.store_error(mailbox, crate::mailstore::StoreError::NoSuchMailbox(mailbox.into())))
    }

    /// The messages of a folder, in UID order.
    pub fn messages(&self, mailbox: &str, folder: &str) -> Result<Vec<MessageInfo>> {
        let m = self.mailbox(mailbox)?;
        let messages = m.messages(folder).map_err(|e| self.store_error(mailbox, e))?;
        Ok(messages
            .iter()
            .map(|msg| {
                let first = |name: &str| msg.header_values(name).into_iter().next();
                let f = msg.flags;
                let flags = [
                    (crate::mailstore::Flags::SEEN, "\\Seen"),
                    (crate::mailstore::Flags::ANSWERED, "\\Answered"),
                    (crate::mailstore::Flags::FLAGGED, "\\Flagged"),
                    (crate::mailstore::Flags::DELETED, "\\Deleted"),
                    (crate::mailstore::Flags::DRAFT, "\\Draft"),
                    (crate::mailstore::Flags::MDN_SENT, "$MDNSent"),
                ]
                .into_iter()
                .filter(|(bit, _)| f.contains(*bit))
                .map(|(_, n)| n)
                .collect();
                MessageInfo {
                    uid: msg.uid,
                    flags,
                    size: msg.size(),
                    internal_date: msg.internal_date,
                    subject: first("Subject"),
                    from: first("From"),
                    message_id: first("Message-ID"),
                }
            })
            .collect())
    }

    /// One message's bytes.
    pub fn message(&self, mailbox: &str, folder: &str, uid: u32) -> Result<Vec<u8>> {
        let m = self.mailbox(mailbox)?;
        if !m.exists(folder) {
            return Err(AdminError::not_found(format!(
                "no folder {folder:?} in mailbox {mailbox}"
            )));
        }
        m.message(folder, uid)
            .map(|msg| msg.raw.to_vec())
            .ok_or_else(|| AdminError::not_found(format!("no message with UID {uid} in {mailbox} {folder}")))
    }
}

// ---- the admin API (and CLI) binding: verb names and named parameters ----

/// This area's verbs and their parameters, for usage lines and `mock-server admin --help`.
pub const VERBS: &[(&str, &str)] = &[
    (
        "deliver",
        "--mailbox ADDRESS [--folder INBOX] --eml TEXT | --eml-file FILE",
    ),
    ("get-messages", "--mailbox ADDRESS [--folder INBOX]"),
    ("get-message", "--mailbox ADDRESS [--folder INBOX] --uid N"),
];

/// Run one of this area's verbs; `Ok(None)` when `verb` is not one of them.
pub(super) fn call(admin: &Admin, verb: &str, p: &mut Params) -> Result<Option<Value>> {
    let out = match verb {
        "deliver" => {
            let mailbox = p.str("mailbox")?;
            let folder = p.opt_str("folder")?.unwrap_or_else(|| "INBOX".into());
            let raw = match (p.opt_str("eml")?, p.opt_str("eml_base64")?) {
                (Some(text), None) => text.into_bytes(),
                (None, Some(b64)) => STANDARD
                    .decode(b64.trim())
                    .map_err(|_| AdminError::invalid("--eml-base64: not base64"))?,
                _ => {
                    return Err(AdminError::invalid(
                        "deliver: give exactly one of --eml or --eml-base64",
                    ))
                }
            };
            p.finish()?;
            json!({ "uid": admin.deliver(&mailbox, &folder, &raw)? })
        }
        "get-messages" => {
            let mailbox = p.str("mailbox")?;
            let folder = p.opt_str("folder")?.unwrap_or_else(|| "INBOX".into());
            p.finish()?;
            json!({ "messages": admin.messages(&mailbox, &folder)? })
        }
        "get-message" => {
            let mailbox = p.str("mailbox")?;
            let folder = p.opt_str("folder")?.unwrap_or_else(|| "INBOX".into());
            let uid = u32::try_from(p.i64("uid")?).map_err(|_| AdminError::invalid("--uid: out of range"))?;
            p.finish()?;
            let raw = admin.message(&mailbox, &folder, uid)?;
            json!({
                "uid": uid,
                "eml": String::from_utf8_lossy(&raw),
                "eml_base64": STANDARD.encode(&raw),
            })
        }
        _ => return Ok(None),
    };
    Ok(Some(out))
}
