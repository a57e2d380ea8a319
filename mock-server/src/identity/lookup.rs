//! Which tenant and which app registration a request means: the tenant segment of the
//! URL (`/{tenant}/oauth2/…`) and the `client_id`, resolved against the directory.
//!
//! The one place that decides how `/common`, `/organizations` and `/consumers` are
//! treated; every grant and page asks here.

use super::errors::AadError;
use super::IdentityConfig;
use crate::directory::{is_guid, Application, Directory, MultiTenant, Tenant, TenantSegment};

/// How a request treats the multi-tenant segments `/organizations` and `/common`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultiTenantUse<'u> {
    /// The grant needs a concrete tenant (client credentials, and the device-code
    /// endpoints, which decide the tenant themselves): AADSTS9001023 (or 90010).
    Refused,
    /// The user's domain picks the tenant: on `/organizations` always, on `/common` too
    /// when `common` is set (interactive flows and refresh; the password grant is
    /// refused on `/common`, as Entra's ROPC page says).
    ByUser { upn: Option<&'u str>, common: bool },
}

/// The tenant a request runs in. `grant` names the grant type for AADSTS9001023's text.
pub fn resolve_tenant<'d>(
    directory: &'d Directory,
    segment: &str,
    grant: Option<&str>,
    multi: MultiTenantUse<'_>,
    config: &IdentityConfig,
) -> Result<&'d Tenant, AadError> {
    match directory.resolve_segment(segment) {
        TenantSegment::Tenant(t) => Ok(t),
        TenantSegment::MultiTenant(m) => match multi {
            MultiTenantUse::ByUser { upn, common }
                if m == MultiTenant::Organizations || (common && m == MultiTenant::Common) =>
            {
                let domain = upn.and_then(|u| u.rsplit_once('@')).map(|(_, d)| d).unwrap_or("");
                directory
                    .tenant(domain)
                    .ok_or_else(|| AadError::unknown_user(upn.unwrap_or(""), m.as_str()))
            }
            _ => Err(AadError::grant_needs_tenant(
                config.multi_tenant_grant_error_code,
                m.as_str(),
                grant.unwrap_or("(none)"),
            )),
        },
        TenantSegment::Unknown => Err(AadError::tenant_not_found(segment)),
        TenantSegment::Invalid => Err(AadError::invalid_tenant_identifier(segment)),
    }
}

/// The app registration `client_id` names in `tenant`; AADSTS700016 otherwise, with the
/// likely cause (registered in another tenant, not a GUID) for the journal.
pub fn find_app<'t>(directory: &Directory, tenant: &'t Tenant, client_id: &str) -> Result<&'t Application, AadError> {
    if let Some(app) = tenant.application(client_id) {
        return Ok(app);
    }
    let elsewhere = directory
        .tenants
        .iter()
        .find(|t| t.id != tenant.id && t.application(client_id).is_some());
    let reason = match elsewhere {
        Some(other) => format!(
            "app {client_id} is registered in tenant {} ({}), not in {} ({}); it is single-tenant",
            other.display_name, other.id, tenant.display_name, tenant.id
        ),
        None if !is_guid(client_id) => format!("client_id {client_id:?} is not a GUID"),
        None => format!("no app with client id {client_id} in any tenant of the directory"),
    };
    // Entra names the directory by its display name, whichever alias the request used:
    // 'Default Directory' (the default tenant name) in many verbatim answers, also to
    // requests by tenant GUID (`az login --tenant <guid>`), and 'MSIDLAB4' in MSAL.NET's
    // capture of 2023-12-11 (TestConstants.WrongTenantError700016).
    Err(AadError::app_not_found(client_id, &tenant.display_name, reason))
}

/// The tenant an app is registered in (its home tenant), for requests on a multi-tenant
/// segment that must name the app before any user has signed in.
pub fn home_of<'d>(directory: &'d Directory, client_id: &str) -> Option<(&'d Tenant, &'d Application)> {
    directory
        .tenants
        .iter()
        .find_map(|t| t.application(client_id).map(|a| (t, a)))
}
