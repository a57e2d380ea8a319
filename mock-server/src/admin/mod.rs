//! The administrator's verbs: what a tenant administrator does with Exchange Online
//! PowerShell and the Entra admin center, while the server runs. The same verbs serve the
//! Rust API ([`crate::MockServer::admin`]), the admin HTTP API (`http`) and the
//! `mock-server admin` command line.
//!
//! Every change is all-or-nothing (it works on a copy of the directory) and is journaled
//! with the cmdlet line an administrator would have typed (secrets never appear).

pub mod http;
pub mod transport;

use crate::directory::{
    resources, ClientSecret, Directory, ExchangeServicePrincipal, KeyCredential, MailboxConfig, MailboxKind,
    Permission, PermissionKind, Tenant, User,
};
use crate::identity::IdentityState;
use crate::journal::{JournalEntry, Outcome, Protocol};
use crate::secret::Secret;
use crate::state::Core;
use serde::Serialize;
use std::sync::Arc;
use time::OffsetDateTime;

/// Default lifetime of a secret added without an end date: the Entra admin center's
/// recommended (and default) choice, 180 days.
pub const DEFAULT_SECRET_LIFETIME_DAYS: i64 = 180;
/// Largest clock move in one call: ten years either way, as `/_mock/clock/advance`,
/// keeps the date arithmetic in range.
pub const MAX_CLOCK_MOVE_SECS: i64 = 10 * 366 * 86_400;

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

/// `Set-CASMailbox` switches; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct CasMailbox {
    pub imap_enabled: Option<bool>,
    pub pop_enabled: Option<bool>,
    /// `Some(None)` is `$null`: follow the tenant's setting.
    pub smtp_client_authentication_disabled: Option<Option<bool>>,
}

/// A new client secret; its value is shown once, as in the admin center.
#[derive(Debug, Clone, Serialize)]
pub struct NewSecret {
    pub key_id: String,
    pub value: String,
    #[serde(with = "time::serde::rfc3339")]
    pub end: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize)]
pub struct NewCertificate {
    pub key_id: String,
    /// SHA-1 thumbprint, upper-case hex as the portal shows it.
    pub thumbprint: String,
    #[serde(with = "time::serde::rfc3339")]
    pub end: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize)]
pub struct NewApplication {
    pub display_name: String,
    pub app_id: String,
    pub object_id: String,
    pub service_principal_id: String,
    pub tenant_id: String,
}

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

#[derive(Debug, Clone, Serialize)]
pub struct ClockInfo {
    #[serde(with = "time::serde::rfc3339")]
    pub now: OffsetDateTime,
    pub frozen: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SigningKeys {
    /// The key that signs new tokens.
    pub active: String,
    /// Every published key, the active one first.
    pub published: Vec<String>,
}

/// The verbs. Cheap to clone; obtained from [`crate::MockServer::admin`].
#[derive(Clone)]
pub struct Admin {
    core: Arc<Core>,
    /// The identity platform's own state: revocations and sign-in state live there.
    identity: Arc<IdentityState>,
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

fn resource(name: &str) -> Result<&'static resources::Resource> {
    resources::find(name)
        .or_else(|| {
            resources::RESOURCES.iter().copied().find(|r| {
                r.display_name.eq_ignore_ascii_case(name)
                    || r.display_name
                        .to_ascii_lowercase()
                        .ends_with(&name.to_ascii_lowercase())
            })
        })
        .ok_or_else(|| {
            AdminError::not_found(format!(
                "unknown resource {name:?}; known: Office 365 Exchange Online, Microsoft Graph"
            ))
        })
}

fn check_access_rights(given: &str, wanted: &str) -> Result<()> {
    if given.eq_ignore_ascii_case(wanted) {
        Ok(())
    } else {
        Err(AdminError::invalid(format!(
            "-AccessRights {given}: only {wanted} is modelled here"
        )))
    }
}

/// Does `trustee` (UPN, user object id, or registered Exchange service principal object
/// id) resolve in the tenant, as Exchange requires before granting a permission?
fn trustee_known(t: &Tenant, trustee: &str) -> bool {
    t.users
        .iter()
        .any(|u| u.upn.eq_ignore_ascii_case(trustee) || u.object_id.eq_ignore_ascii_case(trustee))
        || t.exchange
            .service_principals
            .iter()
            .any(|s| s.object_id.eq_ignore_ascii_case(trustee))
}

impl Admin {
    pub fn new(core: Arc<Core>, identity: Arc<IdentityState>) -> Self {
        Self { core, identity }
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

    // ---- Exchange Online PowerShell ----

    /// `New-ServicePrincipal -AppId … -ObjectId …` in the tenant of the app registration.
    pub fn new_service_principal(&self, app_id: &str, object_id: &str) -> Result<()> {
        self.new_service_principal_in(None, app_id, object_id)
    }

    /// `New-ServicePrincipal` in a named tenant (for apps registered elsewhere).
    pub fn new_service_principal_in(&self, tenant: Option<&str>, app_id: &str, object_id: &str) -> Result<()> {
        if !crate::directory::is_guid(app_id) || !crate::directory::is_guid(object_id) {
            return Err(AdminError::invalid("-AppId and -ObjectId must be GUIDs"));
        }
        self.edit(|d| {
            let ti = match tenant {
                Some(t) => tenant_index(d, t)?,
                None => app_index(d, None, app_id)
                    .map(|(ti, _)| ti)
                    .map_err(|_| AdminError::not_found(format!("no app registration {app_id}; name the tenant")))?,
            };
            let t = &mut d.tenants[ti];
            if let Some(existing) = t
                .exchange
                .service_principals
                .iter()
                .find(|s| s.app_id.eq_ignore_ascii_case(app_id))
            {
                return Err(AdminError::conflict(format!(
                    "a service principal for app {app_id} already exists in tenant {} (object id {}); run Remove-ServicePrincipal first",
                    t.display_name, existing.object_id
                )));
            }
            t.exchange.service_principals.push(ExchangeServicePrincipal {
                app_id: app_id.to_ascii_lowercase(),
                object_id: object_id.to_ascii_lowercase(),
            });
            Ok(())
        })?;
        self.note(
            format!("New-ServicePrincipal -AppId {app_id} -ObjectId {object_id}"),
            "service principal registered",
        );
        Ok(())
    }

    /// `Remove-ServicePrincipal -Identity …` (object id or app id).
    pub fn remove_service_principal(&self, identity: &str) -> Result<()> {
        self.edit(|d| {
            for t in &mut d.tenants {
                let before = t.exchange.service_principals.len();
                t.exchange.service_principals.retain(|s| {
                    !(s.object_id.eq_ignore_ascii_case(identity) || s.app_id.eq_ignore_ascii_case(identity))
                });
                if t.exchange.service_principals.len() != before {
                    return Ok(());
                }
            }
            Err(AdminError::not_found(format!(
                "no Exchange service principal {identity} in any tenant"
            )))
        })?;
        self.note(format!("Remove-ServicePrincipal -Identity {identity}"), "removed");
        Ok(())
    }

    /// `Add-MailboxPermission -Identity <mailbox> -User <trustee> -AccessRights FullAccess`.
    pub fn add_mailbox_permission(&self, identity: &str, user: &str, access_rights: &str) -> Result<()> {
        check_access_rights(access_rights, "FullAccess")?;
        self.edit(|d| {
            let (ti, mi) = mailbox_index(d, identity)?;
            let t = &mut d.tenants[ti];
            if !trustee_known(t, user) {
                return Err(AdminError::not_found(format!(
                    "no user or Exchange service principal {user} in tenant {}; for an app, run New-ServicePrincipal first",
                    t.display_name
                )));
            }
            let m = &mut t.exchange.mailboxes[mi];
            if !m.full_access.iter().any(|x| x.eq_ignore_ascii_case(user)) {
                m.full_access.push(user.to_string());
            }
            Ok(())
        })?;
        self.note(
            format!("Add-MailboxPermission -Identity {identity} -User {user} -AccessRights {access_rights}"),
            "granted",
        );
        Ok(())
    }

    /// `Remove-MailboxPermission -Identity … -User … -AccessRights FullAccess`.
    pub fn remove_mailbox_permission(&self, identity: &str, user: &str, access_rights: &str) -> Result<()> {
        check_access_rights(access_rights, "FullAccess")?;
        self.edit(|d| {
            let (ti, mi) = mailbox_index(d, identity)?;
            let m = &mut d.tenants[ti].exchange.mailboxes[mi];
            let before = m.full_access.len();
            m.full_access.retain(|x| !x.eq_ignore_ascii_case(user));
            if m.full_access.len() == before {
                return Err(AdminError::not_found(format!(
                    "{user} has no FullAccess on {}",
                    m.address
                )));
            }
            Ok(())
        })?;
        self.note(
            format!("Remove-MailboxPermission -Identity {identity} -User {user} -AccessRights {access_rights}"),
            "removed",
        );
        Ok(())
    }

    /// `Add-RecipientPermission -Identity … -Trustee … -AccessRights SendAs`.
    pub fn add_recipient_permission(&self, identity: &str, trustee: &str, access_rights: &str) -> Result<()> {
        check_access_rights(access_rights, "SendAs")?;
        self.edit(|d| {
            let (ti, mi) = mailbox_index(d, identity)?;
            let t = &mut d.tenants[ti];
            if !trustee_known(t, trustee) {
                return Err(AdminError::not_found(format!(
                    "no user or Exchange service principal {trustee} in tenant {}",
                    t.display_name
                )));
            }
            let m = &mut t.exchange.mailboxes[mi];
            if !m.send_as.iter().any(|x| x.eq_ignore_ascii_case(trustee)) {
                m.send_as.push(trustee.to_string());
            }
            Ok(())
        })?;
        self.note(
            format!("Add-RecipientPermission -Identity {identity} -Trustee {trustee} -AccessRights {access_rights}"),
            "granted",
        );
        Ok(())
    }

    /// `Remove-RecipientPermission -Identity … -Trustee … -AccessRights SendAs`.
    pub fn remove_recipient_permission(&self, identity: &str, trustee: &str, access_rights: &str) -> Result<()> {
        check_access_rights(access_rights, "SendAs")?;
        self.edit(|d| {
            let (ti, mi) = mailbox_index(d, identity)?;
            let m = &mut d.tenants[ti].exchange.mailboxes[mi];
            let before = m.send_as.len();
            m.send_as.retain(|x| !x.eq_ignore_ascii_case(trustee));
            if m.send_as.len() == before {
                return Err(AdminError::not_found(format!(
                    "{trustee} has no SendAs on {}",
                    m.address
                )));
            }
            Ok(())
        })?;
        self.note(
            format!("Remove-RecipientPermission -Identity {identity} -Trustee {trustee} -AccessRights {access_rights}"),
            "removed",
        );
        Ok(())
    }

    /// `Set-CASMailbox -Identity … [-ImapEnabled] [-PopEnabled] [-SmtpClientAuthenticationDisabled]`.
    pub fn set_cas_mailbox(&self, identity: &str, settings: &CasMailbox) -> Result<()> {
        self.edit(|d| {
            let (ti, mi) = mailbox_index(d, identity)?;
            let m = &mut d.tenants[ti].exchange.mailboxes[mi];
            if let Some(v) = settings.imap_enabled {
                m.imap_enabled = v;
            }
            if let Some(v) = settings.pop_enabled {
                m.pop_enabled = v;
            }
            if let Some(v) = settings.smtp_client_authentication_disabled {
                m.smtp_client_authentication_disabled = v;
            }
            Ok(())
        })?;
        let ps = |b: bool| if b { "$true" } else { "$false" };
        let mut line = format!("Set-CASMailbox -Identity {identity}");
        if let Some(v) = settings.imap_enabled {
            line.push_str(&format!(" -ImapEnabled {}", ps(v)));
        }
        if let Some(v) = settings.pop_enabled {
            line.push_str(&format!(" -PopEnabled {}", ps(v)));
        }
        if let Some(v) = settings.smtp_client_authentication_disabled {
            line.push_str(&format!(
                " -SmtpClientAuthenticationDisabled {}",
                v.map(ps).unwrap_or("$null")
            ));
        }
        self.note(line, "set");
        Ok(())
    }

    /// `Set-TransportConfig -SmtpClientAuthenticationDisabled …` for a tenant (default: the
    /// first tenant of the directory).
    pub fn set_transport_config(&self, tenant: Option<&str>, smtp_client_authentication_disabled: bool) -> Result<()> {
        self.edit(|d| {
            let ti = match tenant {
                Some(t) => tenant_index(d, t)?,
                None => 0,
            };
            let t = d
                .tenants
                .get_mut(ti)
                .ok_or_else(|| AdminError::not_found("the directory has no tenant"))?;
            t.exchange.smtp_client_authentication_disabled = smtp_client_authentication_disabled;
            Ok(())
        })?;
        self.note(
            format!(
                "Set-TransportConfig -SmtpClientAuthenticationDisabled {}",
                if smtp_client_authentication_disabled {
                    "$true"
                } else {
                    "$false"
                }
            ),
            "set",
        );
        Ok(())
    }

    // ---- app registrations (Entra admin center) ----

    /// Register an application (with its enterprise application) in a tenant.
    pub fn new_application(&self, tenant: &str, display_name: &str, public_client: bool) -> Result<NewApplication> {
        let created = self.edit(|d| {
            let ti = tenant_index(d, tenant)?;
            let t = &mut d.tenants[ti];
            let app = crate::directory::Application {
                display_name: display_name.to_string(),
                app_id: new_guid(),
                object_id: new_guid(),
                service_principal_id: new_guid(),
                public_client,
                secrets: Vec::new(),
                certificates: Vec::new(),
                permissions: Vec::new(),
                redirect_uris: Vec::new(),
            };
            let out = NewApplication {
                display_name: app.display_name.clone(),
                app_id: app.app_id.clone(),
                object_id: app.object_id.clone(),
                service_principal_id: app.service_principal_id.clone(),
                tenant_id: t.id.clone(),
            };
            t.applications.push(app);
            Ok(out)
        })?;
        self.note(
            format!(
                "New-MgApplication -DisplayName {display_name:?} (app id {})",
                created.app_id
            ),
            "registered",
        );
        Ok(created)
    }

    /// Add a client secret. `value` defaults to a random one; `end` to 180 days from now.
    pub fn add_app_secret(&self, app: &str, value: Option<&str>, end: Option<OffsetDateTime>) -> Result<NewSecret> {
        let now = self.core.clock.now();
        let end = end.unwrap_or(now + time::Duration::days(DEFAULT_SECRET_LIFETIME_DAYS));
        let value = match value {
            Some("") => return Err(AdminError::invalid("a secret value cannot be empty")),
            Some(v) => v.to_string(),
            None => {
                let mut b = [0u8; 30];
                // The system RNG failing is not input-dependent; a zero secret is still unique enough
                // for a mock and never happens in practice.
                let _ = aws_lc_rs::rand::fill(&mut b);
                crate::token::jws::b64url(&b)
            }
        };
        let key_id = new_guid();
        let app_id = self.edit(|d| {
            let (ti, ai) = app_index(d, None, app)?;
            let a = &mut d.tenants[ti].applications[ai];
            if a.public_client {
                return Err(AdminError::invalid(format!(
                    "app '{}' is a public client; it has no secrets",
                    a.display_name
                )));
            }
            a.secrets.push(ClientSecret {
                id: key_id.clone(),
                value: Secret::new(value.clone()),
                start: Some(now),
                end,
            });
            Ok(a.app_id.clone())
        })?;
        self.note(
            format!(
                "Add-MgApplicationPassword -ApplicationId {app_id} (key id {key_id}, ends {})",
                rfc3339(end)
            ),
            "secret added",
        );
        Ok(NewSecret { key_id, value, end })
    }

    /// Remove a client secret by its key id.
    pub fn remove_app_secret(&self, app: &str, key_id: &str) -> Result<()> {
        self.edit(|d| {
            let (ti, ai) = app_index(d, None, app)?;
            let a = &mut d.tenants[ti].applications[ai];
            let before = a.secrets.len();
            a.secrets.retain(|s| !s.id.eq_ignore_ascii_case(key_id));
            if a.secrets.len() == before {
                return Err(AdminError::not_found(format!(
                    "app '{}' has no secret with key id {key_id}",
                    a.display_name
                )));
            }
            Ok(())
        })?;
        self.note(
            format!("Remove-MgApplicationPassword -ApplicationId {app} -KeyId {key_id}"),
            "secret removed",
        );
        Ok(())
    }

    /// Upload a certificate (PEM) as a credential of the app.
    pub fn add_app_certificate(&self, app: &str, pem: &str, end: Option<OffsetDateTime>) -> Result<NewCertificate> {
        let der = crate::directory::fixture::pem_body(pem, "CERTIFICATE")
            .ok_or_else(|| AdminError::invalid("not a PEM certificate (-----BEGIN CERTIFICATE-----)"))?;
        let parsed = crate::token::x509::RsaCertificate::parse(&der)
            .map_err(|e| AdminError::invalid(format!("certificate: {e}")))?;
        let key_id = new_guid();
        let end = end.unwrap_or(parsed.not_after);
        let thumbprint = crate::token::x509::hex_upper(&parsed.sha1);
        self.edit(|d| {
            let (ti, ai) = app_index(d, None, app)?;
            let a = &mut d.tenants[ti].applications[ai];
            a.certificates.push(KeyCredential {
                key_id: key_id.clone(),
                certificate_der: der.into(),
                sha1: parsed.sha1,
                sha256: parsed.sha256,
                modulus: parsed.modulus.clone(),
                exponent: parsed.exponent.clone(),
                start: parsed.not_before,
                end,
            });
            Ok(())
        })?;
        self.note(
            format!("Update-MgApplication -ApplicationId {app} (certificate {thumbprint}, key id {key_id})"),
            "certificate added",
        );
        Ok(NewCertificate {
            key_id,
            thumbprint,
            end,
        })
    }

    /// Remove a certificate by key id or SHA-1 thumbprint (hex).
    pub fn remove_app_certificate(&self, app: &str, key_id_or_thumbprint: &str) -> Result<()> {
        let wanted = key_id_or_thumbprint.to_string();
        self.edit(|d| {
            let (ti, ai) = app_index(d, None, app)?;
            let a = &mut d.tenants[ti].applications[ai];
            let before = a.certificates.len();
            a.certificates.retain(|c| {
                !(c.key_id.eq_ignore_ascii_case(&wanted)
                    || crate::token::x509::hex_upper(&c.sha1).eq_ignore_ascii_case(&wanted))
            });
            if a.certificates.len() == before {
                return Err(AdminError::not_found(format!(
                    "app '{}' has no certificate {wanted}",
                    a.display_name
                )));
            }
            Ok(())
        })?;
        self.note(
            format!("remove certificate {wanted} of app {app}"),
            "certificate removed",
        );
        Ok(())
    }

    /// Add an API permission (not consented yet, as in the admin center).
    pub fn add_app_permission(&self, app: &str, resource_name: &str, kind: &str, value: &str) -> Result<()> {
        let r = resource(resource_name)?;
        let (kind, known) = match kind.to_ascii_lowercase().as_str() {
            "application" => (PermissionKind::Application, r.application_permissions),
            "delegated" => (PermissionKind::Delegated, r.delegated_permissions),
            other => {
                return Err(AdminError::invalid(format!(
                    "type {other:?}: expected application or delegated"
                )))
            }
        };
        let Some(canonical) = known.iter().find(|k| k.eq_ignore_ascii_case(value)) else {
            return Err(AdminError::not_found(format!(
                "{} has no {} permission {value:?}",
                r.display_name,
                if kind == PermissionKind::Application {
                    "application"
                } else {
                    "delegated"
                }
            )));
        };
        self.edit(|d| {
            let (ti, ai) = app_index(d, None, app)?;
            let a = &mut d.tenants[ti].applications[ai];
            if a.permissions
                .iter()
                .any(|p| p.resource_app_id == r.app_id && p.kind == kind && p.value == *canonical)
            {
                return Err(AdminError::conflict(format!(
                    "app '{}' already has {canonical}",
                    a.display_name
                )));
            }
            a.permissions.push(Permission {
                resource_app_id: r.app_id,
                kind,
                value: canonical.to_string(),
                admin_consent: false,
            });
            Ok(())
        })?;
        self.note(
            format!("add permission {canonical} of {} to app {app}", r.display_name),
            "added (admin consent not granted)",
        );
        Ok(())
    }

    /// Remove an API permission (by value, any resource unless named).
    pub fn remove_app_permission(&self, app: &str, value: &str) -> Result<()> {
        self.edit(|d| {
            let (ti, ai) = app_index(d, None, app)?;
            let a = &mut d.tenants[ti].applications[ai];
            let before = a.permissions.len();
            a.permissions.retain(|p| !p.value.eq_ignore_ascii_case(value));
            if a.permissions.len() == before {
                return Err(AdminError::not_found(format!(
                    "app '{}' has no permission {value}",
                    a.display_name
                )));
            }
            Ok(())
        })?;
        self.note(format!("remove permission {value} from app {app}"), "removed");
        Ok(())
    }

    /// "Grant admin consent for <tenant>": every permission of the app becomes consented.
    pub fn grant_admin_consent(&self, app: &str) -> Result<()> {
        self.set_consent(app, true)
    }

    /// Revoke admin consent: the app's tokens carry no roles any more.
    pub fn revoke_admin_consent(&self, app: &str) -> Result<()> {
        self.set_consent(app, false)
    }

    fn set_consent(&self, app: &str, on: bool) -> Result<()> {
        self.edit(|d| {
            let (ti, ai) = app_index(d, None, app)?;
            for p in &mut d.tenants[ti].applications[ai].permissions {
                p.admin_consent = on;
            }
            Ok(())
        })?;
        self.note(
            format!("{} admin consent for app {app}", if on { "grant" } else { "revoke" }),
            "done",
        );
        Ok(())
    }

    /// Create a user (no mailbox).
    pub fn new_user(&self, upn: &str, display_name: Option<&str>, password: Option<&str>) -> Result<String> {
        let upn = upn.to_ascii_lowercase();
        let domain = upn
            .rsplit_once('@')
            .map(|(_, d)| d.to_string())
            .ok_or_else(|| AdminError::invalid(format!("{upn}: a user principal name has the form name@domain")))?;
        let oid = new_guid();
        self.edit(|d| {
            let ti = d
                .tenants
                .iter()
                .position(|t| t.answers_to(&domain))
                .ok_or_else(|| AdminError::not_found(format!("no tenant has the domain {domain}")))?;
            let t = &mut d.tenants[ti];
            if t.user(&upn).is_some() {
                return Err(AdminError::conflict(format!(
                    "user {upn} already exists in tenant {}",
                    t.display_name
                )));
            }
            t.users.push(User {
                upn: upn.clone(),
                object_id: oid.clone(),
                display_name: display_name.unwrap_or(&upn).to_string(),
                password: password.map(|p| Secret::new(p.to_string())),
                account_enabled: true,
                mfa_required: false,
            });
            Ok(())
        })?;
        self.note(format!("New-MgUser -UserPrincipalName {upn}"), "created");
        Ok(oid)
    }

    /// `New-Mailbox`: a user (unless `shared`) and a mailbox with the default folders,
    /// IMAP and POP enabled, no permissions.
    pub fn new_mailbox(&self, address: &str, password: Option<&str>, shared: bool) -> Result<()> {
        let address = address.to_ascii_lowercase();
        if !shared {
            self.new_user(&address, None, password)?;
        }
        self.edit(|d| {
            let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
            let ti = d
                .tenants
                .iter()
                .position(|t| t.answers_to(domain))
                .ok_or_else(|| AdminError::not_found(format!("no tenant has the domain {domain}")))?;
            if mailbox_index(d, &address).is_ok() {
                return Err(AdminError::conflict(format!("mailbox {address} already exists")));
            }
            d.tenants[ti].exchange.mailboxes.push(MailboxConfig {
                address: address.clone(),
                kind: if shared { MailboxKind::Shared } else { MailboxKind::User },
                imap_enabled: true,
                pop_enabled: true,
                smtp_client_authentication_disabled: None,
                full_access: Vec::new(),
                send_as: Vec::new(),
                folders: Vec::new(),
            });
            self.core
                .store
                .add_mailbox(&address)
                .map_err(|e| AdminError::conflict(e.to_string()))
        })?;
        self.note(
            format!("New-Mailbox {}{address}", if shared { "-Shared " } else { "" }),
            "created",
        );
        Ok(())
    }

    // ---- mail ----

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

    // ---- tokens ----

    /// `Revoke-MgUserSignInSession`: the user's refresh tokens answer AADSTS50173.
    pub fn revoke_sign_in_sessions(&self, upn: &str) -> Result<()> {
        let now = self.core.clock.now();
        {
            let d = self.core.directory();
            let (t, u) = d
                .tenants
                .iter()
                .find_map(|t| t.user(upn).map(|u| (t, u)))
                .ok_or_else(|| AdminError::not_found(format!("no user {upn} in any tenant")))?;
            self.identity.delegated.revoke_user(&t.id, &u.object_id, now);
        }
        self.note(
            format!("Revoke-MgUserSignInSession -UserId {upn}"),
            "refresh tokens revoked",
        );
        Ok(())
    }

    /// Publish a new signing key and sign with it from now on; the old keys stay published
    /// (tokens they signed stay valid) until [`Admin::remove_signing_key`].
    pub fn rotate_signing_key(&self) -> Result<SigningKeys> {
        let material = crate::token::authority::generate_signing_key(self.core.clock.now())
            .map_err(|e| AdminError::invalid(e.to_string()))?;
        self.edit(|d| {
            d.signing_keys.insert(0, material);
            let authority =
                crate::token::Authority::new(&d.signing_keys).map_err(|e| AdminError::invalid(e.to_string()))?;
            self.core.set_authority(authority);
            Ok(())
        })?;
        let keys = self.signing_keys();
        self.note("rotate the signing key".into(), &format!("new kid {}", keys.active));
        Ok(keys)
    }

    /// Stop publishing a key: tokens it signed no longer verify.
    pub fn remove_signing_key(&self, kid: &str) -> Result<SigningKeys> {
        self.edit(|d| {
            let authority = self.core.authority();
            let kids = authority.kids();
            let i = kids.iter().position(|k| k == kid).ok_or_else(|| {
                AdminError::not_found(format!("no signing key {kid}; published: {}", kids.join(", ")))
            })?;
            if kids.len() == 1 {
                return Err(AdminError::invalid("cannot remove the only signing key"));
            }
            if i >= d.signing_keys.len() {
                return Err(AdminError::not_found(format!("no signing key {kid}")));
            }
            d.signing_keys.remove(i);
            let authority =
                crate::token::Authority::new(&d.signing_keys).map_err(|e| AdminError::invalid(e.to_string()))?;
            self.core.set_authority(authority);
            Ok(())
        })?;
        self.note(format!("remove signing key {kid}"), "no longer published");
        Ok(self.signing_keys())
    }

    pub fn signing_keys(&self) -> SigningKeys {
        let kids = self.core.authority().kids();
        SigningKeys {
            active: kids.first().cloned().unwrap_or_default(),
            published: kids,
        }
    }

    // ---- clock ----

    pub fn clock(&self) -> ClockInfo {
        ClockInfo {
            now: self.core.clock.now(),
            frozen: self.core.clock.is_frozen(),
        }
    }

    /// Freeze the clock at its current reading.
    pub fn freeze_clock(&self) -> ClockInfo {
        self.core.clock.freeze();
        let c = self.clock();
        self.note("freeze the clock".into(), &rfc3339(c.now));
        c
    }

    /// Let the clock run again, `offset_secs` from the system clock.
    pub fn resume_clock(&self, offset_secs: i64) -> Result<ClockInfo> {
        check_clock_move(offset_secs)?;
        self.core.clock.resume(time::Duration::seconds(offset_secs));
        let c = self.clock();
        self.note(format!("resume the clock with offset {offset_secs} s"), &rfc3339(c.now));
        Ok(c)
    }

    /// Move the clock by `seconds` (negative: back).
    pub fn advance_clock(&self, seconds: i64) -> Result<ClockInfo> {
        check_clock_move(seconds)?;
        self.core.clock.advance(time::Duration::seconds(seconds));
        let c = self.clock();
        self.note(format!("advance the clock by {seconds} s"), &rfc3339(c.now));
        Ok(c)
    }

    /// Run (or stay frozen) at system time plus `seconds`.
    pub fn set_clock_offset(&self, seconds: i64) -> Result<ClockInfo> {
        check_clock_move(seconds)?;
        let to = OffsetDateTime::now_utc() + time::Duration::seconds(seconds);
        self.core.clock.set(to);
        let c = self.clock();
        self.note(format!("set the clock offset to {seconds} s"), &rfc3339(c.now));
        Ok(c)
    }

    // ---- journal and reset ----

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

fn check_clock_move(seconds: i64) -> Result<()> {
    if seconds.abs() > MAX_CLOCK_MOVE_SECS {
        return Err(AdminError::invalid(format!(
            "{seconds} s: at most {MAX_CLOCK_MOVE_SECS} s either way"
        )));
    }
    Ok(())
}
