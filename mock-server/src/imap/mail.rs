//! The mailbox commands of an authenticated session, answered from the mail store.

use super::personality as p;
use crate::server::Shared;
use imap_codec::imap_types::command::CommandBody;

/// What the session does after a mailbox command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    Continue,
    /// The command was IDLE: the session now waits for DONE.
    Idle,
}

/// The mailbox a session opened, and its selected folder.
#[derive(Debug)]
pub struct MailState {
    mailbox: String,
}

fn tagged(out: &mut Vec<u8>, tag: &str, text: &str) {
    out.extend_from_slice(format!("{tag} {text}\r\n").as_bytes());
}

impl MailState {
    pub fn open(_shared: &Shared, mailbox: &str) -> Option<Self> {
        Some(Self {
            mailbox: mailbox.to_string(),
        })
    }

    pub fn mailbox(&self) -> &str {
        &self.mailbox
    }

    /// Fires when the mailbox changes (for IDLE).
    pub fn changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }

    /// Untagged updates other sessions caused since the last look.
    pub fn pending_updates(&mut self, _out: &mut Vec<u8>) {}

    pub fn handle(&mut self, tag: &str, body: CommandBody<'_>, out: &mut Vec<u8>) -> After {
        match body {
            CommandBody::Namespace => {
                out.extend_from_slice(p::NAMESPACE_RESPONSE.as_bytes());
                tagged(out, tag, "OK NAMESPACE completed.");
            }
            _ => tagged(out, tag, p::UNKNOWN_COMMAND),
        }
        After::Continue
    }
}
