//! The administrator's verbs: what a tenant administrator does with Exchange Online
//! PowerShell and the Entra admin center, while the server runs. The same verbs serve the
//! Rust API ([`crate::MockServer::admin`]), the admin HTTP API (`http`), the
//! `mock-server admin` command line and the web console (`console`).
//!
//! One file per area, each with its verbs and their admin-API binding (`VERBS`, `call`):
//! `exchange` (Exchange Online PowerShell), `entra` (app registrations, consent, secrets,
//! certificates, users), `mail`, `keys` (tokens and signing keys), `clock`, `faults`,
//! `journal` (journal and reset). This file keeps what they share.
//!
//! Every change is all-or-nothing (it works on a copy of the directory) and is journaled
//! with the cmdlet line an administrator would have typed (secrets never appear).

pub mod clock;
pub mod console;
pub mod entra;
pub mod exchange;
pub mod faults;
pub mod http;
pub mod journal;
pub mod keys;
pub mod mail;
pub mod transport;

pub use clock::{ClockInfo, MAX_CLOCK_MOVE_SECS};
pub use entra::{NewApplication, NewCertificate, NewSecret, DEFAULT_SECRET_LIFETIME_DAYS};
pub use exchange::CasMailbox;
pub use keys::SigningKeys;
pub use mail::MessageInfo;

use crate::directory::{Directory, Tenant};
use crate::identity::IdentityState;
use crate::journal::{JournalEntry, Outcome, Protocol};
use crate::secret::Secret;
use crate::state::Core;
use std::sync::Arc;
use time::OffsetDateTime;

/// A refused verb: HTTP status and a message that names what was not found or wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AdminError {
    pub status: u16,
    pub message: String,
}

impl AdminError {
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: 404,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            status: 400,
            message: message.into(),
        }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self {
            status: 409,
            message: message.into(),
        }
    }
}

type Result<T> = std::result::Result<T, AdminError>;

/// The verbs. Cheap to clone; obtained from [`crate::MockServer::admin`].
#[derive(Clone)]
pub struct Admin {
    core: Arc<Core>,
    /// The identity platform's own state: revocations and sign-in state live there.
    identity: Arc<IdentityState>,
    /// The console's live journal streams open now (bounded).
    streams: Arc<console::Streams>,
}

/// The admin API's gate: on or off, and the optional bearer token.
#[derive(Clone, Default)]
pub struct AdminAccess {
    pub enabled: bool,
    pub token: Option<Secret<String>>,
}

impl std::fmt::Debug for AdminAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminAccess")
            .field("enabled", &self.enabled)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").finish_non_exhaustive()
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn new_guid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn tenant_label(t: &Tenant) -> String {
    t.display_name.clone()
}

/// The tenant named by `alias` (id, domain or display name).
fn tenant_index(d: &Directory, alias: &str) -> Result<usize> {
    d.tenants
        .iter()
        .position(|t| t.answers_to(alias) || t.display_name.eq_ignore_ascii_case(alias))
        .ok_or_else(|| {
            AdminError::not_found(format!(
                "no tenant {alias}; tenants: {}",
                d.tenants
                    .iter()
                    .map(|t| format!("{} ({})", t.display_name, t.id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

/// The tenant that holds mailbox `address` (or the one its domain names, for the error).
fn mailbox_index(d: &Directory, address: &str) -> Result<(usize, usize)> {
    for (ti, t) in d.tenants.iter().enumerate() {
        if let Some(mi) = t
            .exchange
            .mailboxes
            .iter()
            .position(|m| m.address.eq_ignore_ascii_case(address))
        {
            return Ok((ti, mi));
        }
    }
    let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or(address);
    Err(AdminError::not_found(match d.tenant(domain) {
        Some(t) => format!("no mailbox {address} in tenant {}", tenant_label(t)),
        None => format!("no mailbox {address}: no tenant has the domain {domain}"),
    }))
}

/// The app registration `id` (client id, object id or display name) in `tenant` or anywhere.
fn app_index(d: &Directory, tenant: Option<&str>, id: &str) -> Result<(usize, usize)> {
    let only = tenant.map(|t| tenant_index(d, t)).transpose()?;
    for (ti, t) in d.tenants.iter().enumerate() {
        if only.is_some_and(|o| o != ti) {
            continue;
        }
        if let Some(ai) = t.applications.iter().position(|a| {
            a.app_id.eq_ignore_ascii_case(id) || a.object_id.eq_ignore_ascii_case(id) || a.display_name == id
        }) {
            return Ok((ti, ai));
        }
    }
    Err(AdminError::not_found(match only {
        Some(ti) => format!(
            "no application {id} in tenant {}",
            d.tenants.get(ti).map(tenant_label).unwrap_or_default()
        ),
        None => format!("no application {id} in any tenant"),
    }))
}

impl Admin {
    pub fn new(core: Arc<Core>, identity: Arc<IdentityState>) -> Self {
        Self {
            core,
            identity,
            streams: Arc::default(),
        }
    }

    /// The state these verbs change.
    pub fn core(&self) -> &Core {
        &self.core
    }

    /// Journal a change as the command an administrator would have typed.
    fn note(&self, command: String, outcome: &str) {
        tracing::info!(%command, "admin");
        self.core.journal.record(JournalEntry {
            status: 200,
            reason: Some(outcome.to_string()),
            ..JournalEntry::new(Protocol::Admin, self.core.clock.now(), command, Outcome::Admin)
        });
    }

    fn edit<R>(&self, f: impl FnOnce(&mut Directory) -> Result<R>) -> Result<R> {
        self.core.update_directory(f)
    }
}
