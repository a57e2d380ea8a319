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
    /// SMTP submission (`smtp.office365.com:587`): sending, not opening a mailbox.
    Smtp,
}

impl Protocol {
    fn app_role(self) -> &'static str {
        match self {
            Protocol::Imap => "IMAP.AccessAsApp",
            Protocol::Pop => "POP.AccessAsApp",
            Protocol::Smtp => "SMTP.SendAsApp",
        }
    }

    fn delegated_scope(self) -> &'static str {
        match self {
            Protocol::Imap => "IMAP.AccessAsUser.All",
            Protocol::Pop => "POP.AccessAsUser.All",
            Protocol::Smtp => "SMTP.Send",
        }
    }

    /// The `Set-CASMailbox` switch of the protocol, with the name the app role uses
    /// (`IMAP`, `POP`, `SMTP`) for messages.
    fn cas_switch(self) -> &'static str {
        match self {
            Protocol::Imap => "ImapEnabled",
            Protocol::Pop => "PopEnabled",
            Protocol::Smtp => "SmtpClientAuthenticationDisabled",
        }
    }
}

/// Why Exchange refuses, as a value: each cause knows its reason (for the journal) and
/// the administrator's fix. The wire answer depends on the protocol and the stage, not
/// on the cause (see [`Access`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// The token's tenant is not in the directory.
    UnknownTenant { tenant_id: String },
    /// An app token without the protocol's application permission (catalogue #5).
    MissingRole {
        role: &'static str,
        app: String,
        roles: Vec<String>,
        gap: RoleGap,
    },
    /// A delegated token without the protocol's scope.
    MissingScope { scope: &'static str, scopes: Vec<String> },
    /// New-ServicePrincipal was run with the wrong object id (catalogue #6).
    WrongServicePrincipalId {
        app: String,
        app_id: String,
        registered: String,
        token_oid: String,
        /// `registered` is the app registration's object id (the classic mistake).
        is_application_object_id: bool,
    },
    /// No New-ServicePrincipal at all.
    NoServicePrincipal {
        app: String,
        app_id: String,
        token_oid: String,
    },
    /// `user=` names no mailbox of the tenant.
    NoSuchMailbox {
        user: String,
        tenant: String,
        tenant_id: String,
        app_token: bool,
    },
    /// The service principal has no FullAccess on the mailbox (catalogue #7).
    NoFullAccess { app: String, sp: String, mailbox: String },
    /// `Set-CASMailbox -ImapEnabled $false` / `-PopEnabled $false` (catalogue #8).
    ProtocolDisabled {
        protocol: Protocol,
        mailbox: String,
        /// How the name is spelt in the reason: `IMAP` for app tokens, `Imap` for
        /// delegated ones (kept as the journal has always said it).
        label: &'static str,
    },
    /// A delegated token for another mailbox without rights on it (catalogue #9, #10).
    NotOwner {
        mailbox: String,
        upn: String,
        protocol: Protocol,
    },
    /// `Set-TransportConfig -SmtpClientAuthenticationDisabled $true` (catalogue #12).
    SmtpAuthDisabledForTenant { tenant: String, mailbox: String },
    /// `Set-CASMailbox -SmtpClientAuthenticationDisabled $true` (catalogue #12).
    SmtpAuthDisabledForMailbox { mailbox: String },
    /// MAIL FROM or the header From is a mailbox the sender may not send as.
    SendAsDenied {
        /// The authenticated mailbox (`user=`).
        sender: String,
        from: String,
        /// Who would need SendAs (UPN or service principal object id).
        trustee: String,
        /// `from` is not a mailbox of the tenant at all.
        unknown_from: bool,
    },
}

/// Why an app token has no role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleGap {
    /// The permission is added but admin consent was not granted.
    NoConsent,
    /// The app has only the delegated permission of the protocol.
    DelegatedOnly,
    /// Neither.
    Absent,
}

impl Cause {
    /// Why, in an administrator's words.
    pub fn reason(&self) -> String {
        match self {
            Cause::UnknownTenant { tenant_id } => format!("tenant {tenant_id} is not in the directory"),
            Cause::MissingRole { role, app, roles, gap } => match gap {
                RoleGap::NoConsent => format!(
                    "{role} is added to app '{app}' but admin consent was not granted, so the token has no roles"
                ),
                RoleGap::DelegatedOnly => format!(
                    "app '{app}' has only the delegated permission {}; a client-credentials token carries application permissions (roles) and has none",
                    delegated_of(role)
                ),
                RoleGap::Absent => format!("the app token's roles {roles:?} do not include {role}"),
            },
            Cause::MissingScope { scope, scopes } => {
                format!("the delegated token's scp {scopes:?} does not include {scope}")
            }
            Cause::WrongServicePrincipalId {
                app,
                registered,
                token_oid,
                is_application_object_id,
                ..
            } => {
                let what = if *is_application_object_id {
                    "the application object id (App registrations > Overview)"
                } else {
                    "an object id that is not this app's enterprise application"
                };
                format!(
                    "the Exchange service principal of app '{app}' is registered with {registered}, {what}, while the token's oid is {token_oid}, the enterprise application object id"
                )
            }
            Cause::NoServicePrincipal { app, app_id, .. } => {
                format!("no Exchange service principal is registered for app '{app}' ({app_id})")
            }
            Cause::NoSuchMailbox {
                user,
                tenant,
                tenant_id,
                app_token: true,
            } => format!("user={user} is not a mailbox of tenant {tenant} ({tenant_id})"),
            Cause::NoSuchMailbox { user, tenant, .. } => format!("user={user} is not a mailbox of tenant {tenant}"),
            Cause::NoFullAccess { app, sp, mailbox } => {
                format!("the service principal {sp} of app '{app}' has no FullAccess on {mailbox}")
            }
            Cause::ProtocolDisabled { mailbox, label, .. } => format!("{label} is disabled on mailbox {mailbox}"),
            Cause::NotOwner {
                mailbox,
                upn,
                protocol: Protocol::Smtp,
            } => format!(
                "user={mailbox} but the token belongs to {upn}, who has neither FullAccess nor SendAs on that mailbox"
            ),
            Cause::NotOwner { mailbox, upn, .. } => {
                format!("user={mailbox} but the token belongs to {upn}, who has no FullAccess on that mailbox")
            }
            Cause::SmtpAuthDisabledForTenant { tenant, mailbox } => format!(
                "SMTP AUTH is disabled for tenant {tenant} (Set-TransportConfig -SmtpClientAuthenticationDisabled $true) and mailbox {mailbox} does not override it"
            ),
            Cause::SmtpAuthDisabledForMailbox { mailbox } => format!(
                "SMTP AUTH is disabled for mailbox {mailbox} (Set-CASMailbox -SmtpClientAuthenticationDisabled $true)"
            ),
            Cause::SendAsDenied {
                sender,
                from,
                trustee,
                unknown_from: false,
            } => format!(
                "{sender} (authenticated as {trustee}) may not send as {from}: {trustee} has no SendAs on {from}"
            ),
            Cause::SendAsDenied { sender, from, .. } => format!(
                "{sender} may not send as {from}: it is not a mailbox of the tenant, so no SendAs can exist for it"
            ),
        }
    }

    /// What an administrator types (or a developer changes) to fix it.
    pub fn fix(&self) -> Option<String> {
        match self {
            Cause::UnknownTenant { .. } => None,
            Cause::MissingRole { role, .. } => Some(format!(
                "in the app registration add the application permission {role} of 'Office 365 Exchange Online' (APIs my organization uses), then 'Grant admin consent'"
            )),
            Cause::MissingScope { scope, .. } => Some(format!("request the scope https://outlook.office.com/{scope}")),
            Cause::WrongServicePrincipalId {
                app_id,
                registered,
                token_oid,
                ..
            } => Some(format!(
                "Remove-ServicePrincipal -Identity {registered}; New-ServicePrincipal -AppId {app_id} -ObjectId {token_oid} (the Object ID under Enterprise applications)"
            )),
            Cause::NoServicePrincipal { app_id, token_oid, .. } => {
                Some(format!("New-ServicePrincipal -AppId {app_id} -ObjectId {token_oid}"))
            }
            Cause::NoSuchMailbox { app_token: true, .. } => Some("put the target mailbox's address in user=".into()),
            Cause::NoSuchMailbox { .. } => None,
            Cause::NoFullAccess { sp, mailbox, .. } => Some(format!(
                "Add-MailboxPermission -Identity {mailbox} -User {sp} -AccessRights FullAccess"
            )),
            Cause::ProtocolDisabled { protocol, mailbox, .. } => Some(format!(
                "Set-CASMailbox -Identity {mailbox} -{} $true",
                protocol.cas_switch()
            )),
            Cause::NotOwner {
                mailbox,
                upn,
                protocol: Protocol::Smtp,
            } => Some(format!(
                "put your own address ({upn}) in user= and send as {mailbox} with Add-RecipientPermission -Identity {mailbox} -Trustee {upn} -AccessRights SendAs, or grant Add-MailboxPermission -Identity {mailbox} -User {upn} -AccessRights FullAccess"
            )),
            Cause::NotOwner { mailbox, upn, .. } => Some(format!(
                "sign in as {mailbox} or run Add-MailboxPermission -Identity {mailbox} -User {upn} -AccessRights FullAccess"
            )),
            Cause::SmtpAuthDisabledForTenant { mailbox, .. } => Some(format!(
                "Set-TransportConfig -SmtpClientAuthenticationDisabled $false (security defaults must be off), or for this mailbox only: Set-CASMailbox -Identity {mailbox} -SmtpClientAuthenticationDisabled $false"
            )),
            Cause::SmtpAuthDisabledForMailbox { mailbox } => Some(format!(
                "Set-CASMailbox -Identity {mailbox} -SmtpClientAuthenticationDisabled $false (or $null to follow the tenant)"
            )),
            Cause::SendAsDenied {
                sender,
                unknown_from: true,
                ..
            } => Some(format!("send with MAIL FROM:<{sender}> and From: {sender}")),
            Cause::SendAsDenied { from, trustee, .. } => Some(format!(
                "Add-RecipientPermission -Identity {from} -Trustee {trustee} -AccessRights SendAs"
            )),
        }
    }
}

fn delegated_of(role: &str) -> &'static str {
    match role {
        "POP.AccessAsApp" => Protocol::Pop.delegated_scope(),
        "SMTP.SendAsApp" => Protocol::Smtp.delegated_scope(),
        _ => Protocol::Imap.delegated_scope(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// The session opens (or, for SMTP, sends from) this mailbox (lower-case address).
    Granted { mailbox: String },
    /// IMAP `NO AUTHENTICATE failed.`; SMTP `535 5.7.3` (or `535 5.7.139` when SMTP
    /// AUTH is disabled, see [`Cause::SmtpAuthDisabledForTenant`]).
    AuthenticationFailed(Cause),
    /// IMAP: `OK AUTHENTICATE completed.`, then `BAD User is authenticated but not
    /// connected.`; SMTP: `235`, then `430 4.2.0 STOREDRV` at DATA. `mailbox` is the
    /// `user=` mailbox.
    NotConnected { mailbox: String, cause: Cause },
}

fn fail(cause: Cause) -> Access {
    Access::AuthenticationFailed(cause)
}

fn not_connected(mbx: &MailboxConfig, cause: Cause) -> Access {
    Access::NotConnected {
        mailbox: mbx.address.clone(),
        cause,
    }
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
        return fail(Cause::UnknownTenant {
            tenant_id: principal.tenant_id.clone(),
        });
    };
    match &principal.kind {
        PrincipalKind::App { roles } => app(tenant, principal, roles, user, protocol),
        PrincipalKind::Delegated { scopes, upn } => delegated(tenant, scopes, upn, &principal.oid, user, protocol),
    }
}

/// SMTP AUTH for a mailbox: its own `Set-CASMailbox` setting wins over the tenant's
/// `Set-TransportConfig` ([MS-SMTPAUTH]).
fn smtp_auth(tenant: &Tenant, mbx: &MailboxConfig) -> Result<(), Cause> {
    match mbx.smtp_client_authentication_disabled {
        Some(true) => Err(Cause::SmtpAuthDisabledForMailbox {
            mailbox: mbx.address.clone(),
        }),
        Some(false) => Ok(()),
        None if tenant.exchange.smtp_client_authentication_disabled => Err(Cause::SmtpAuthDisabledForTenant {
            tenant: tenant.display_name.clone(),
            mailbox: mbx.address.clone(),
        }),
        None => Ok(()),
    }
}

fn has(list: &[String], who: &[&str]) -> bool {
    list.iter().any(|t| who.iter().any(|w| t.eq_ignore_ascii_case(w)))
}

fn app(tenant: &Tenant, p: &Principal, roles: &[String], user: &str, protocol: Protocol) -> Access {
    let role = protocol.app_role();
    let app = tenant.application(&p.app_id);
    let app_name = app.map(|a| a.display_name.as_str()).unwrap_or("?").to_string();
    if !roles.iter().any(|r| r == role) {
        let gap = match app {
            Some(a) if a.permissions.iter().any(|x| x.value == role && !x.admin_consent) => RoleGap::NoConsent,
            Some(a)
                if a.permissions
                    .iter()
                    .any(|x| x.value.eq_ignore_ascii_case(protocol.delegated_scope())) =>
            {
                RoleGap::DelegatedOnly
            }
            _ => RoleGap::Absent,
        };
        return fail(Cause::MissingRole {
            role,
            app: app_name,
            roles: roles.to_vec(),
            gap,
        });
    }
    let registrations: Vec<&str> = tenant
        .exchange
        .service_principals
        .iter()
        .filter(|s| s.app_id.eq_ignore_ascii_case(&p.app_id))
        .map(|s| s.object_id.as_str())
        .collect();
    if !registrations.iter().any(|o| o.eq_ignore_ascii_case(&p.oid)) {
        return match registrations.first() {
            Some(wrong) => fail(Cause::WrongServicePrincipalId {
                app: app_name,
                app_id: p.app_id.clone(),
                registered: wrong.to_string(),
                token_oid: p.oid.clone(),
                is_application_object_id: app.is_some_and(|a| a.object_id.eq_ignore_ascii_case(wrong)),
            }),
            None => fail(Cause::NoServicePrincipal {
                app: app_name,
                app_id: p.app_id.clone(),
                token_oid: p.oid.clone(),
            }),
        };
    }
    let Some(mbx) = mailbox(tenant, user) else {
        return fail(Cause::NoSuchMailbox {
            user: user.to_string(),
            tenant: tenant.display_name.clone(),
            tenant_id: tenant.id.clone(),
            app_token: true,
        });
    };
    if protocol == Protocol::Smtp {
        if let Err(cause) = smtp_auth(tenant, mbx) {
            return fail(cause);
        }
    }
    if !has(&mbx.full_access, &[&p.oid]) {
        // SMTP: AUTH succeeds and the submission fails at DATA with STOREDRV
        // (email-oauth2-proxy #271); IMAP/POP: "authenticated but not connected".
        return not_connected(
            mbx,
            Cause::NoFullAccess {
                app: app_name,
                sp: p.oid.clone(),
                mailbox: mbx.address.clone(),
            },
        );
    }
    match protocol {
        Protocol::Imap if !mbx.imap_enabled => not_connected(
            mbx,
            Cause::ProtocolDisabled {
                protocol,
                mailbox: mbx.address.clone(),
                label: "IMAP",
            },
        ),
        Protocol::Pop if !mbx.pop_enabled => not_connected(
            mbx,
            Cause::ProtocolDisabled {
                protocol,
                mailbox: mbx.address.clone(),
                label: "POP",
            },
        ),
        _ => Access::Granted {
            mailbox: mbx.address.clone(),
        },
    }
}

fn delegated(tenant: &Tenant, scopes: &[String], upn: &str, oid: &str, user: &str, protocol: Protocol) -> Access {
    let scope = protocol.delegated_scope();
    if !scopes.iter().any(|s| s == scope) {
        return fail(Cause::MissingScope {
            scope,
            scopes: scopes.to_vec(),
        });
    }
    let Some(mbx) = mailbox(tenant, user) else {
        return fail(Cause::NoSuchMailbox {
            user: user.to_string(),
            tenant: tenant.display_name.clone(),
            tenant_id: tenant.id.clone(),
            app_token: false,
        });
    };
    let own = mbx.address.eq_ignore_ascii_case(upn);
    let delegate = has(&mbx.full_access, &[upn, oid]);
    if protocol == Protocol::Smtp {
        // Catalogue #10: on SMTP, a user= the token's user has no rights on fails the
        // authentication itself (535 5.7.3, MailKit #1770).
        if !own && !delegate && !has(&mbx.send_as, &[upn, oid]) {
            return fail(Cause::NotOwner {
                mailbox: mbx.address.clone(),
                upn: upn.to_string(),
                protocol,
            });
        }
        return match smtp_auth(tenant, mbx) {
            Err(cause) => fail(cause),
            Ok(()) => Access::Granted {
                mailbox: mbx.address.clone(),
            },
        };
    }
    if !own && !delegate {
        return not_connected(
            mbx,
            Cause::NotOwner {
                mailbox: mbx.address.clone(),
                upn: upn.to_string(),
                protocol,
            },
        );
    }
    let (enabled, label) = match protocol {
        Protocol::Pop => (mbx.pop_enabled, "Pop"),
        _ => (mbx.imap_enabled, "Imap"),
    };
    if !enabled {
        return not_connected(
            mbx,
            Cause::ProtocolDisabled {
                protocol,
                mailbox: mbx.address.clone(),
                label,
            },
        );
    }
    Access::Granted {
        mailbox: mbx.address.clone(),
    }
}

/// May a principal, authenticated for `mailbox`, send with `from` as MAIL FROM or as
/// the header From? Yes for the mailbox itself; otherwise `from` must be a mailbox on
/// which the principal (the user's UPN or object id, or the service principal's object
/// id) or the authenticated mailbox has SendAs (`Add-RecipientPermission`).
pub fn may_send_as(directory: &Directory, principal: &Principal, mailbox: &str, from: &str) -> Result<(), Cause> {
    if from.eq_ignore_ascii_case(mailbox) {
        return Ok(());
    }
    let (trustee, ids): (String, Vec<&str>) = match &principal.kind {
        PrincipalKind::Delegated { upn, .. } => (upn.clone(), vec![upn.as_str(), principal.oid.as_str(), mailbox]),
        PrincipalKind::App { .. } => (principal.oid.clone(), vec![principal.oid.as_str(), mailbox]),
    };
    let target = directory
        .tenant_by_id(&principal.tenant_id)
        .and_then(|t| mailbox_of(t, from));
    match target {
        Some(m) if has(&m.send_as, &ids) => Ok(()),
        Some(m) => Err(Cause::SendAsDenied {
            sender: mailbox.to_string(),
            from: m.address.clone(),
            trustee,
            unknown_from: false,
        }),
        None => Err(Cause::SendAsDenied {
            sender: mailbox.to_string(),
            from: from.to_string(),
            trustee,
            unknown_from: true,
        }),
    }
}

fn mailbox_of<'t>(tenant: &'t Tenant, address: &str) -> Option<&'t MailboxConfig> {
    mailbox(tenant, address)
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
                    r.reason()
                        .contains("registered with 00000000-0000-4000-8000-00000000b002, the application object id"),
                    "{}",
                    r.reason()
                );
                assert!(
                    r.reason()
                        .contains("token's oid is 00000000-0000-4000-8000-00000000c002"),
                    "{}",
                    r.reason()
                );
                let fix = r.fix().expect("fix");
                assert!(fix.contains("New-ServicePrincipal -AppId 00000000-0000-4000-8000-00000000a002 -ObjectId 00000000-0000-4000-8000-00000000c002"), "{fix}");
            }
            other => panic!("app 02: {other:?}"),
        }
        match decide(&d, &app_principal(3, 'c', ALL), user, Protocol::Imap) {
            Access::AuthenticationFailed(r) => {
                assert!(r.reason().contains("no Exchange service principal"), "{}", r.reason())
            }
            other => panic!("app 03: {other:?}"),
        }
        match decide(&d, &app_principal(4, 'c', ALL), user, Protocol::Imap) {
            Access::NotConnected { cause: r, .. } => assert_eq!(
                r.fix().as_deref(),
                Some("Add-MailboxPermission -Identity test.user@contoso.com -User 00000000-0000-4000-8000-00000000c004 -AccessRights FullAccess")
            ),
            other => panic!("app 04: {other:?}"),
        }
        match decide(&d, &app_principal(5, 'c', &[]), user, Protocol::Imap) {
            Access::AuthenticationFailed(r) => {
                assert!(r.reason().contains("only the delegated permission"), "{}", r.reason())
            }
            other => panic!("app 05: {other:?}"),
        }
        match decide(&d, &app_principal(6, 'c', &[]), user, Protocol::Imap) {
            Access::AuthenticationFailed(r) => {
                assert!(r.reason().contains("admin consent was not granted"), "{}", r.reason())
            }
            other => panic!("app 06: {other:?}"),
        }
        match decide(
            &d,
            &app_principal(1, 'c', ALL),
            "imap.disabled@contoso.com",
            Protocol::Imap,
        ) {
            Access::NotConnected { cause: r, .. } => assert_eq!(
                r.fix().as_deref(),
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
            Access::NotConnected { cause: r, .. } => assert!(
                r.reason().contains("token belongs to test.user@contoso.com"),
                "{}",
                r.reason()
            ),
            other => panic!("{other:?}"),
        }
    }
}
