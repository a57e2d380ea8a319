//! The Entra admin center: app registrations, API permissions and admin consent, client
//! secrets, certificates, users.

use super::http::{done, to_value, Params};
use super::{app_index, new_guid, rfc3339, tenant_index, Admin, AdminError, Result};
use crate::directory::{resources, ClientSecret, KeyCredential, Permission, PermissionKind, User};
use crate::secret::Secret;
use serde::Serialize;
use serde_json::{json, Value};
use time::OffsetDateTime;

/// Default lifetime of a secret added without an end date: the Entra admin center's
/// recommended (and default) choice, 180 days.
pub const DEFAULT_SECRET_LIFETIME_DAYS: i64 = 180;

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

impl Admin {
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

    /// "Grant admin consent for \<tenant\>": every permission of the app becomes consented.
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

// ---- the admin API (and CLI) binding: verb names and named parameters ----

/// This area's verbs and their parameters, for usage lines and `mock-server admin --help`.
pub const VERBS: &[(&str, &str)] = &[
    ("new-application", "--tenant T --display-name NAME [--public-client B]"),
    ("add-app-secret", "--app-id APP [--value SECRET] [--end RFC3339 | --days N]"),
    ("remove-app-secret", "--app-id APP --key-id GUID"),
    ("add-app-certificate", "--app-id APP --pem PEM | --pem-file FILE [--end RFC3339]"),
    ("remove-app-certificate", "--app-id APP --key-id GUID|THUMBPRINT"),
    ("add-app-permission", "--app-id APP --value IMAP.AccessAsApp [--resource 'Office 365 Exchange Online'] [--type application|delegated]"),
    ("remove-app-permission", "--app-id APP --value PERMISSION"),
    ("grant-admin-consent", "--app-id APP"),
    ("revoke-admin-consent", "--app-id APP"),
    ("new-user", "--upn UPN [--display-name NAME] [--password P]"),
];

/// Run one of this area's verbs; `Ok(None)` when `verb` is not one of them.
pub(super) fn call(admin: &Admin, verb: &str, p: &mut Params) -> Result<Option<Value>> {
    let out = match verb {
        "new-application" => {
            let tenant = p.str("tenant")?;
            let name = p.str("display_name")?;
            let public = p.opt_bool("public_client")?.unwrap_or(false);
            p.finish()?;
            to_value(admin.new_application(&tenant, &name, public)?)
        }
        "add-app-secret" => {
            let app = p.str("app_id")?;
            let value = p.opt_str("value")?;
            let mut end = p.opt_time("end")?;
            if let Some(days) = p.opt_i64("days")? {
                if !(-3660..=3660).contains(&days) {
                    return Err(AdminError::invalid("--days: at most ten years either way"));
                }
                end = Some(admin.core().clock.now() + time::Duration::days(days));
            }
            p.finish()?;
            to_value(admin.add_app_secret(&app, value.as_deref(), end)?)
        }
        "remove-app-secret" => {
            let app = p.str("app_id")?;
            let key_id = p.str("key_id")?;
            p.finish()?;
            admin.remove_app_secret(&app, &key_id)?;
            done()
        }
        "add-app-certificate" => {
            let app = p.str("app_id")?;
            let pem = p.str("pem")?;
            let end = p.opt_time("end")?;
            p.finish()?;
            to_value(admin.add_app_certificate(&app, &pem, end)?)
        }
        "remove-app-certificate" => {
            let app = p.str("app_id")?;
            let key = match p.opt_str("key_id")? {
                Some(k) => k,
                None => p.str("thumbprint")?,
            };
            p.finish()?;
            admin.remove_app_certificate(&app, &key)?;
            done()
        }
        "add-app-permission" => {
            let app = p.str("app_id")?;
            let value = p.str("value")?;
            let resource = p
                .opt_str("resource")?
                .unwrap_or_else(|| "Office 365 Exchange Online".into());
            let kind = p.opt_str("type")?.unwrap_or_else(|| "application".into());
            p.finish()?;
            admin.add_app_permission(&app, &resource, &kind, &value)?;
            done()
        }
        "remove-app-permission" => {
            let app = p.str("app_id")?;
            let value = p.str("value")?;
            p.finish()?;
            admin.remove_app_permission(&app, &value)?;
            done()
        }
        "grant-admin-consent" | "revoke-admin-consent" => {
            let app = p.str("app_id")?;
            p.finish()?;
            if verb.starts_with("grant") {
                admin.grant_admin_consent(&app)?;
            } else {
                admin.revoke_admin_consent(&app)?;
            }
            done()
        }
        "new-user" => {
            let upn = p.str("upn")?;
            let name = p.opt_str("display_name")?;
            let password = p.opt_str("password")?;
            p.finish()?;
            json!({ "object_id": admin.new_user(&upn, name.as_deref(), password.as_deref())? })
        }
        _ => return Ok(None),
    };
    Ok(Some(out))
}
