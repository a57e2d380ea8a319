//! Exchange Online's decision, after the token itself is valid: may this principal open
//! the `user=` mailbox over this protocol?
//!
//! The order and the two failure stages follow Exchange: problems with the app's
//! permission or service principal, or a mailbox that does not exist, fail the
//! authentication itself (`NO AUTHENTICATE failed.`); problems at the mailbox stage (no
//! FullAccess, protocol disabled, `user=` of another mailbox) authenticate and then leave
//! the session "authenticated but not connected".

use super::{Directory, MailboxConfig, Tenant};
use crate::token::verifier::{Principal, PrincipalKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Imap,
    Pop,
}

impl Protocol {
    fn app_role(self) -> &'static str {
        match self {
            Protocol::Imap => "IMAP.AccessAsApp",
            Protocol::Pop => "POP.AccessAsApp",
        }
    }

    fn delegated_scope(self) -> &'static str {
        match self {
            Protocol::Imap => "IMAP.AccessAsUser.All",
            Protocol::Pop => "POP.AccessAsUser.All",
        }
    }

    fn enabled(self, m: &MailboxConfig) -> bool {
        match self {
            Protocol::Imap => m.imap_enabled,
            Protocol::Pop => m.pop_enabled,
        }
    }

    fn cas_switch(self) -> &'static str {
        match self {
            Protocol::Imap => "ImapEnabled",
            Protocol::Pop => "PopEnabled",
        }
    }
}

/// Why, and what an administrator types to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: String,
    pub fix: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// The session opens this mailbox (lower-case address).
    Granted { mailbox: String },
    /// `NO AUTHENTICATE failed.`
    AuthenticationFailed(Refusal),
    /// `OK AUTHENTICATE completed.`, then `BAD User is authenticated but not connected.`
    NotConnected(Refusal),
}

fn fail(reason: String, fix: Option<String>) -> Access {
    Access::AuthenticationFailed(Refusal { reason, fix })
}

fn not_connected(reason: String, fix: Option<String>) -> Access {
    Access::NotConnected(Refusal { reason, fix })
}

fn mailbox<'t>(tenant: &'t Tenant, address: &str) -> Option<&'t MailboxConfig> {
    tenant
        .exchange
        .mailboxes
        .iter()
        .find(|m| m.address.eq_ignore_ascii_case(address))
}

/// Decide access for a verified principal and the XOAUTH2 `user=` value.
pub fn decide(directory: &Directory, principal: &Principal, user: &str, protocol: Protocol) -> Access {
    let Some(tenant) = directory.tenant_by_id(&principal.tenant_id) else {
        return fail(format!("tenant {} is not in the directory", principal.tenant_id), None);
    };
    match &principal.kind {
        PrincipalKind::App { roles } => app(tenant, principal, roles, user, protocol),
        PrincipalKind::Delegated { scopes, upn } => delegated(tenant, scopes, upn, &principal.oid, user, protocol),
    }
}

fn app(tenant: &Tenant, p: &Principal, roles: &[String], user: &str, protocol: Protocol) -> Access {
    let role = protocol.app_role();
    let app = tenant.application(&p.app_id);
    let app_name = app.map(|a| a.display_name.as_str()).unwrap_or("?");
    if !roles.iter().any(|r| r == role) {
        let why = match app {
            Some(a) if a.permissions.iter().any(|x| x.value == role && !x.admin_consent) => {
                format!("{role} is added to app '{app_name}' but admin consent was not granted, so the token has no roles")
            }
            Some(a) if a.permissions.iter().any(|x| x.value.eq_ignore_ascii_case(protocol.delegated_scope())) => format!(
                "app '{app_name}' has only the delegated permission {}; a client-credentials token carries application permissions (roles) and has none",
                protocol.delegated_scope()
            ),
            _ => format!("the app token's roles {roles:?} do not include {role}"),
        };
        return fail(
            why,
            Some(format!(
                "in the app registration add the application permission {role} of 'Office 365 Exchange Online' (APIs my organization uses), then 'Grant admin consent'"
            )),
        );
    }
    let registrations: Vec<&str> = tenant
        .exchange
        .service_principals
        .iter()
        .filter(|s| s.app_id.eq_ignore_ascii_case(&p.app_id))
        .map(|s| s.object_id.as_str())
        .collect();
    if !registrations.iter().any(|o| o.eq_ignore_ascii_case(&p.oid)) {
        let fix = format!("New-ServicePrincipal -AppId {} -ObjectId {}", p.app_id, p.oid);
        return match registrations.first() {
            Some(wrong) => {
                let what = if app.is_some_and(|a| a.object_id.eq_ignore_ascii_case(wrong)) {
                    "the application object id (App registrations > Overview)"
                } else {
                    "an object id that is not this app's enterprise application"
                };
                fail(
                    format!(
                        "the Exchange service principal of app '{app_name}' is registered with {wrong}, {what}, while the token's oid is {}, the enterprise application object id",
                        p.oid
                    ),
                    Some(format!("Remove-ServicePrincipal -Identity {wrong}; {fix} (the Object ID under Enterprise applications)")),
                )
            }
            None => fail(
                format!(
                    "no Exchange service principal is registered for app '{app_name}' ({})",
                    p.app_id
                ),
                Some(fix),
            ),
        };
    }
    let Some(mbx) = mailbox(tenant, user) else {
        return fail(
            format!(
                "user={user} is not a mailbox of tenant {} ({})",
                tenant.display_name, tenant.id
            ),
            Some("put the target mailbox's address in user=".into()),
        );
    };
    if !mbx.full_access.iter().any(|t| t.eq_ignore_ascii_case(&p.oid)) {
        return not_connected(
            format!(
                "the service principal {} of app '{app_name}' has no FullAccess on {}",
                p.oid, mbx.address
            ),
            Some(format!(
                "Add-MailboxPermission -Identity {} -User {} -AccessRights FullAccess",
                mbx.address, p.oid
            )),
        );
    }
    if !protocol.enabled(mbx) {
        return not_connected(
            format!(
                "{} is disabled on mailbox {}",
                role.split('.').next().unwrap_or("the protocol"),
                mbx.address
            ),
            Some(format!(
                "Set-CASMailbox -Identity {} -{} $true",
                mbx.address,
                protocol.cas_switch()
            )),
        );
    }
    Access::Granted {
        mailbox: mbx.address.clone(),
    }
}

fn delegated(tenant: &Tenant, scopes: &[String], upn: &str, oid: &str, user: &str, protocol: Protocol) -> Access {
    let scope = protocol.delegated_scope();
    if !scopes.iter().any(|s| s == scope) {
        return fail(
            format!("the delegated token's scp {scopes:?} does not include {scope}"),
            Some(format!("request the scope https://outlook.office.com/{scope}")),
        );
    }
    let Some(mbx) = mailbox(tenant, user) else {
        return fail(
            format!("user={user} is not a mailbox of tenant {}", tenant.display_name),
            None,
        );
    };
    let own = mbx.address.eq_ignore_ascii_case(upn);
    let delegate = mbx
        .full_access
        .iter()
        .any(|t| t.eq_ignore_ascii_case(upn) || t.eq_ignore_ascii_case(oid));
    if !own && !delegate {
        return not_connected(
            format!(
                "user={} but the token belongs to {upn}, who has no FullAccess on that mailbox",
                mbx.address
            ),
            Some(format!(
                "sign in as {} or run Add-MailboxPermission -Identity {} -User {upn} -AccessRights FullAccess",
                mbx.address, mbx.address
            )),
        );
    }
    if !protocol.enabled(mbx) {
        return not_connected(
            format!(
                "{} is disabled on mailbox {}",
                protocol.cas_switch().trim_end_matches("Enabled"),
                mbx.address
            ),
            Some(format!(
                "Set-CASMailbox -Identity {} -{} $true",
                mbx.address,
                protocol.cas_switch()
            )),
        );
    }
    Access::Granted {
        mailbox: mbx.address.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::fixture::demo_tenant;

    fn app_principal(nn: u32, oid_kind: char, roles: &[&str]) -> Principal {
        Principal {
            tenant_id: "c0ffee00-1111-4222-8333-444455556666".into(),
            app_id: format!("00000000-0000-4000-8000-00000000a{nn:03}"),
            oid: format!("00000000-0000-4000-8000-00000000{oid_kind}{nn:03}"),
            audience: "https://outlook.office365.com".into(),
            expires: time::OffsetDateTime::now_utc(),
            kind: PrincipalKind::App {
                roles: roles.iter().map(|r| r.to_string()).collect(),
            },
        }
    }

    const ALL: &[&str] = &["IMAP.AccessAsApp", "POP.AccessAsApp", "SMTP.SendAsApp"];

    #[test]
    fn every_demo_app_gets_its_documented_outcome() {
        let d = demo_tenant().expect("demo");
        let user = "test.user@contoso.com";
        assert_eq!(
            decide(&d, &app_principal(1, 'c', ALL), user, Protocol::Imap),
            Access::Granted { mailbox: user.into() }
        );
        match decide(&d, &app_principal(2, 'c', ALL), user, Protocol::Imap) {
            Access::AuthenticationFailed(r) => {
                assert!(
                    r.reason
                        .contains("registered with 00000000-0000-4000-8000-00000000b002, the application object id"),
                    "{}",
                    r.reason
                );
                assert!(
                    r.reason.contains("token's oid is 00000000-0000-4000-8000-00000000c002"),
                    "{}",
                    r.reason
                );
                let fix = r.fix.expect("fix");
                assert!(fix.contains("New-ServicePrincipal -AppId 00000000-0000-4000-8000-00000000a002 -ObjectId 00000000-0000-4000-8000-00000000c002"), "{fix}");
            }
            other => panic!("app 02: {other:?}"),
        }
        match decide(&d, &app_principal(3, 'c', ALL), user, Protocol::Imap) {
            Access::AuthenticationFailed(r) => {
                assert!(r.reason.contains("no Exchange service principal"), "{}", r.reason)
            }
            other => panic!("app 03: {other:?}"),
        }
        match decide(&d, &app_principal(4, 'c', ALL), user, Protocol::Imap) {
            Access::NotConnected(r) => assert_eq!(
                r.fix.as_deref(),
                Some("Add-MailboxPermission -Identity test.user@contoso.com -User 00000000-0000-4000-8000-00000000c004 -AccessRights FullAccess")
            ),
            other => panic!("app 04: {other:?}"),
        }
        match decide(&d, &app_principal(5, 'c', &[]), user, Protocol::Imap) {
            Access::AuthenticationFailed(r) => {
                assert!(r.reason.contains("only the delegated permission"), "{}", r.reason)
            }
            other => panic!("app 05: {other:?}"),
        }
        match decide(&d, &app_principal(6, 'c', &[]), user, Protocol::Imap) {
            Access::AuthenticationFailed(r) => {
                assert!(r.reason.contains("admin consent was not granted"), "{}", r.reason)
            }
            other => panic!("app 06: {other:?}"),
        }
        match decide(
            &d,
            &app_principal(1, 'c', ALL),
            "imap.disabled@contoso.com",
            Protocol::Imap,
        ) {
            Access::NotConnected(r) => assert_eq!(
                r.fix.as_deref(),
                Some("Set-CASMailbox -Identity imap.disabled@contoso.com -ImapEnabled $true")
            ),
            other => panic!("imap.disabled: {other:?}"),
        }
        assert!(matches!(
            decide(&d, &app_principal(1, 'c', ALL), "nobody@contoso.com", Protocol::Imap),
            Access::AuthenticationFailed(_)
        ));
        assert_eq!(
            decide(
                &d,
                &app_principal(1, 'c', ALL),
                "SHARED.inbox@contoso.com",
                Protocol::Imap
            ),
            Access::Granted {
                mailbox: "shared.inbox@contoso.com".into()
            }
        );
    }

    #[test]
    fn delegated_users_open_their_own_and_shared_mailboxes_only() {
        let d = demo_tenant().expect("demo");
        let p = Principal {
            tenant_id: "c0ffee00-1111-4222-8333-444455556666".into(),
            app_id: "00000000-0000-4000-8000-00000000a008".into(),
            oid: "00000000-0000-4000-8000-00000000e001".into(),
            audience: "https://outlook.office.com".into(),
            expires: time::OffsetDateTime::now_utc(),
            kind: PrincipalKind::Delegated {
                scopes: vec!["IMAP.AccessAsUser.All".into()],
                upn: "test.user@contoso.com".into(),
            },
        };
        assert!(matches!(
            decide(&d, &p, "Test.User@contoso.com", Protocol::Imap),
            Access::Granted { .. }
        ));
        assert!(matches!(
            decide(&d, &p, "shared.inbox@contoso.com", Protocol::Imap),
            Access::Granted { .. }
        ));
        match decide(&d, &p, "imap.disabled@contoso.com", Protocol::Imap) {
            Access::NotConnected(r) => assert!(
                r.reason.contains("token belongs to test.user@contoso.com"),
                "{}",
                r.reason
            ),
            other => panic!("{other:?}"),
        }
    }
}
