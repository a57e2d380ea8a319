//! Exchange Online PowerShell: service principals, mailbox and recipient permissions,
//! `Set-CASMailbox`, `Set-TransportConfig`, `New-Mailbox`.

use super::http::{done, Params};
use super::{app_index, mailbox_index, tenant_index, Admin, AdminError, Result};
use crate::directory::{ExchangeServicePrincipal, MailboxConfig, MailboxKind, Tenant};

/// `Set-CASMailbox` switches; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct CasMailbox {
    pub imap_enabled: Option<bool>,
    pub pop_enabled: Option<bool>,
    /// `Some(None)` is `$null`: follow the tenant's setting.
    pub smtp_client_authentication_disabled: Option<Option<bool>>,
}
use serde_json::Value;

impl Admin {
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

// ---- the admin API (and CLI) binding: verb names and named parameters ----

/// This area's verbs and their parameters, for usage lines and `mock-server admin --help`.
pub const VERBS: &[(&str, &str)] = &[
    ("new-service-principal", "--app-id GUID --object-id GUID [--tenant T]"),
    ("remove-service-principal", "--identity OBJECT-ID|APP-ID"),
    (
        "add-mailbox-permission",
        "--identity MAILBOX --user TRUSTEE [--access-rights FullAccess]",
    ),
    (
        "remove-mailbox-permission",
        "--identity MAILBOX --user TRUSTEE [--access-rights FullAccess]",
    ),
    (
        "add-recipient-permission",
        "--identity MAILBOX --trustee TRUSTEE [--access-rights SendAs]",
    ),
    (
        "remove-recipient-permission",
        "--identity MAILBOX --trustee TRUSTEE [--access-rights SendAs]",
    ),
    (
        "set-cas-mailbox",
        "--identity MAILBOX [--imap-enabled B] [--pop-enabled B] [--smtp-client-authentication-disabled B|null]",
    ),
    (
        "set-transport-config",
        "--smtp-client-authentication-disabled B [--tenant T]",
    ),
    ("new-mailbox", "--address ADDRESS [--password P] [--shared B]"),
];

/// Run one of this area's verbs; `Ok(None)` when `verb` is not one of them.
pub(super) fn call(admin: &Admin, verb: &str, p: &mut Params) -> Result<Option<Value>> {
    let out = match verb {
        "new-service-principal" => {
            let app_id = p.str("app_id")?;
            let object_id = match p.opt_str("object_id")? {
                Some(o) => o,
                None => p.str("service_id")?,
            };
            let tenant = p.opt_str("tenant")?;
            p.finish()?;
            admin.new_service_principal_in(tenant.as_deref(), &app_id, &object_id)?;
            done()
        }
        "remove-service-principal" => {
            let identity = p.str("identity")?;
            p.finish()?;
            admin.remove_service_principal(&identity)?;
            done()
        }
        "add-mailbox-permission" | "remove-mailbox-permission" => {
            let identity = p.str("identity")?;
            let user = p.str("user")?;
            let rights = p.opt_str("access_rights")?.unwrap_or_else(|| "FullAccess".into());
            p.finish()?;
            if verb.starts_with("add") {
                admin.add_mailbox_permission(&identity, &user, &rights)?;
            } else {
                admin.remove_mailbox_permission(&identity, &user, &rights)?;
            }
            done()
        }
        "add-recipient-permission" | "remove-recipient-permission" => {
            let identity = p.str("identity")?;
            let trustee = p.str("trustee")?;
            let rights = p.opt_str("access_rights")?.unwrap_or_else(|| "SendAs".into());
            p.finish()?;
            if verb.starts_with("add") {
                admin.add_recipient_permission(&identity, &trustee, &rights)?;
            } else {
                admin.remove_recipient_permission(&identity, &trustee, &rights)?;
            }
            done()
        }
        "set-cas-mailbox" => {
            let identity = p.str("identity")?;
            // `$null` (follow the tenant) is a value here, not an absent parameter.
            let smtp = match p.take_raw("smtp_client_authentication_disabled") {
                None => None,
                Some(Value::Null) => Some(None),
                Some(Value::String(s)) if s.eq_ignore_ascii_case("null") || s.eq_ignore_ascii_case("$null") => {
                    Some(None)
                }
                Some(v) => {
                    p.put_back("smtp_client_authentication_disabled", v);
                    Some(p.opt_bool("smtp_client_authentication_disabled")?)
                }
            };
            let settings = CasMailbox {
                imap_enabled: p.opt_bool("imap_enabled")?,
                pop_enabled: p.opt_bool("pop_enabled")?,
                smtp_client_authentication_disabled: smtp,
            };
            p.finish()?;
            admin.set_cas_mailbox(&identity, &settings)?;
            done()
        }
        "set-transport-config" => {
            let disabled = p
                .opt_bool("smtp_client_authentication_disabled")?
                .ok_or_else(|| AdminError::invalid("--smtp-client-authentication-disabled is required"))?;
            let tenant = p.opt_str("tenant")?;
            p.finish()?;
            admin.set_transport_config(tenant.as_deref(), disabled)?;
            done()
        }
        "new-mailbox" => {
            let address = p.str("address")?;
            let password = p.opt_str("password")?;
            let shared_mbx = p.opt_bool("shared")?.unwrap_or(false);
            p.finish()?;
            admin.new_mailbox(&address, password.as_deref(), shared_mbx)?;
            done()
        }
        _ => return Ok(None),
    };
    Ok(Some(out))
}
