//! The directory: tenants, app registrations, service principals, users, mailboxes and
//! permissions, as an administrator configured them.
//!
//! It is loaded once from a fixture (see `fixture`) and then owned by one store shared by
//! the identity side (which issues tokens) and the mail side (which checks them).

pub mod access;
pub mod fixture;
pub mod resources;

use crate::secret::Secret;
use std::sync::Arc;
use time::OffsetDateTime;

pub use resources::Resource;

#[derive(Debug, Clone)]
pub struct Directory {
    pub tenants: Vec<Tenant>,
    /// Token-signing keys; the first one signs, all are published in the JWKS.
    pub signing_keys: Vec<SigningKeyMaterial>,
}

/// A token-signing key pair as loaded from the fixture (PKCS#8 and X.509 DER).
#[derive(Clone)]
pub struct SigningKeyMaterial {
    pub private_key_pkcs8: Secret<Vec<u8>>,
    pub certificate_der: Vec<u8>,
}

impl std::fmt::Debug for SigningKeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyMaterial").finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct Tenant {
    /// Lower-case GUID.
    pub id: String,
    pub display_name: String,
    /// Verified domains, lower case.
    pub domains: Vec<String>,
    pub applications: Vec<Application>,
    pub users: Vec<User>,
    pub exchange: ExchangeOrganization,
}

impl Tenant {
    /// Does `alias` (a GUID or a domain, any case) name this tenant?
    pub fn answers_to(&self, alias: &str) -> bool {
        alias.eq_ignore_ascii_case(&self.id) || self.domains.iter().any(|d| d.eq_ignore_ascii_case(alias))
    }

    pub fn application(&self, app_id: &str) -> Option<&Application> {
        self.applications.iter().find(|a| a.app_id.eq_ignore_ascii_case(app_id))
    }

    pub fn user(&self, upn: &str) -> Option<&User> {
        self.users.iter().find(|u| u.upn.eq_ignore_ascii_case(upn))
    }

    /// The tenant's primary domain, as Entra shows it (the first `onmicrosoft.com` one).
    pub fn primary_domain(&self) -> &str {
        self.domains
            .iter()
            .find(|d| d.ends_with(".onmicrosoft.com"))
            .or(self.domains.first())
            .map(String::as_str)
            .unwrap_or(&self.id)
    }
}

#[derive(Debug, Clone)]
pub struct Application {
    pub display_name: String,
    /// Application (client) id.
    pub app_id: String,
    /// Object id of the app registration (the one people wrongly pass to New-ServicePrincipal).
    pub object_id: String,
    /// Object id of the enterprise application (service principal) in this tenant: the
    /// token's `oid`.
    pub service_principal_id: String,
    /// "Allow public client flows": no credential.
    pub public_client: bool,
    pub secrets: Vec<ClientSecret>,
    pub certificates: Vec<KeyCredential>,
    pub permissions: Vec<Permission>,
    pub redirect_uris: Vec<String>,
}

impl Application {
    /// Application permissions on `resource` that an administrator consented to: the
    /// token's `roles`.
    pub fn consented_roles(&self, resource: &Resource) -> Vec<String> {
        self.permissions
            .iter()
            .filter(|p| {
                p.kind == PermissionKind::Application && p.admin_consent && p.resource_app_id == resource.app_id
            })
            .map(|p| p.value.clone())
            .collect()
    }
}

#[derive(Debug, Clone)]
pub struct ClientSecret {
    pub id: String,
    pub value: Secret<String>,
    pub start: Option<OffsetDateTime>,
    pub end: OffsetDateTime,
}

/// A certificate credential of an app registration.
#[derive(Debug, Clone)]
pub struct KeyCredential {
    pub key_id: String,
    pub certificate_der: Arc<[u8]>,
    pub sha1: [u8; 20],
    pub sha256: [u8; 32],
    /// RSA public key, big-endian modulus and exponent.
    pub modulus: Vec<u8>,
    pub exponent: Vec<u8>,
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermissionKind {
    Application,
    Delegated,
}

#[derive(Debug, Clone)]
pub struct Permission {
    /// The resource's application id (e.g. Exchange Online's `00000002-…`).
    pub resource_app_id: &'static str,
    pub kind: PermissionKind,
    pub value: String,
    pub admin_consent: bool,
}

#[derive(Debug, Clone)]
pub struct User {
    pub upn: String,
    pub object_id: String,
    pub display_name: String,
    pub password: Option<Secret<String>>,
    pub account_enabled: bool,
    /// A Conditional Access policy demands MFA for this user: the password grant, which
    /// cannot do MFA, answers AADSTS50076.
    pub mfa_required: bool,
}

/// What Exchange Online knows about the tenant (what the PowerShell cmdlets change).
#[derive(Debug, Clone, Default)]
pub struct ExchangeOrganization {
    /// `Set-TransportConfig -SmtpClientAuthenticationDisabled`.
    pub smtp_client_authentication_disabled: bool,
    /// `New-ServicePrincipal -AppId … -ObjectId …` registrations, as typed by the admin.
    pub service_principals: Vec<ExchangeServicePrincipal>,
    pub mailboxes: Vec<MailboxConfig>,
}

#[derive(Debug, Clone)]
pub struct ExchangeServicePrincipal {
    pub app_id: String,
    /// The object id the administrator registered (right: the enterprise application's;
    /// wrong: the app registration's).
    pub object_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailboxKind {
    User,
    Shared,
}

#[derive(Debug, Clone)]
pub struct MailboxConfig {
    pub address: String,
    pub kind: MailboxKind,
    pub imap_enabled: bool,
    pub pop_enabled: bool,
    /// `Set-CASMailbox -SmtpClientAuthenticationDisabled`: `None` follows the tenant.
    pub smtp_client_authentication_disabled: Option<bool>,
    /// Trustees with FullAccess: object ids (service principals, users) or UPNs.
    pub full_access: Vec<String>,
    /// Trustees with SendAs.
    pub send_as: Vec<String>,
    /// Folders in fixture order, with their messages.
    pub folders: Vec<FolderConfig>,
}

#[derive(Debug, Clone)]
pub struct FolderConfig {
    pub name: String,
    pub messages: Vec<MessageSource>,
}

#[derive(Debug, Clone)]
pub struct MessageSource {
    /// Where the message came from (a fixture path), for error messages.
    pub origin: String,
    pub bytes: Arc<[u8]>,
}

/// How the tenant segment of a URL resolved.
#[derive(Debug, Clone, Copy)]
pub enum TenantSegment<'a> {
    Tenant(&'a Tenant),
    /// `common`, `organizations` or `consumers`.
    MultiTenant(MultiTenant),
    /// A well-formed GUID or domain that no tenant answers to (AADSTS90002).
    Unknown,
    /// Neither a GUID nor a DNS name (AADSTS900023).
    Invalid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultiTenant {
    Common,
    Organizations,
    Consumers,
}

impl MultiTenant {
    pub fn as_str(self) -> &'static str {
        match self {
            MultiTenant::Common => "common",
            MultiTenant::Organizations => "organizations",
            MultiTenant::Consumers => "consumers",
        }
    }
}

impl Directory {
    pub fn tenant(&self, alias: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.answers_to(alias))
    }

    pub fn tenant_by_id(&self, id: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.id.eq_ignore_ascii_case(id))
    }

    /// Resolve the `{tenant}` path segment of an identity-platform URL.
    pub fn resolve_segment(&self, segment: &str) -> TenantSegment<'_> {
        match segment.to_ascii_lowercase().as_str() {
            "common" => return TenantSegment::MultiTenant(MultiTenant::Common),
            "organizations" => return TenantSegment::MultiTenant(MultiTenant::Organizations),
            "consumers" => return TenantSegment::MultiTenant(MultiTenant::Consumers),
            _ => {}
        }
        if let Some(t) = self.tenant(segment) {
            return TenantSegment::Tenant(t);
        }
        // A single DNS label is no tenant name for the token endpoint: `undefined` answered
        // AADSTS900023 (captured 2022-08-17). Discovery looks it up (see
        // identity::discovery_endpoints).
        if is_guid(segment) || is_dns_name(segment) {
            TenantSegment::Unknown
        } else {
            TenantSegment::Invalid
        }
    }
}

/// `8-4-4-4-12` hexadecimal digits.
pub fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A plausible DNS name: labels of letters, digits and `-`, at least one dot.
pub fn is_dns_name(s: &str) -> bool {
    s.len() <= 253
        && s.contains('.')
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_and_dns_shapes() {
        assert!(is_guid("c0ffee00-1111-4222-8333-444455556666"));
        assert!(!is_guid("c0ffee00-1111-4222-8333-44445555666"));
        assert!(!is_guid("g0ffee00-1111-4222-8333-444455556666"));
        assert!(is_dns_name("contoso.onmicrosoft.com"));
        assert!(!is_dns_name("contoso"));
        assert!(!is_dns_name("bad_name.com"));
        assert!(!is_dns_name("a..b"));
    }
}
