//! Consent: which delegated permissions a token may carry. A v2 `scope` (or v1
//! `resource`) is checked against the permissions the app has admin consent for, and
//! the answer is Entra's static-consent one: every consented permission on the resource.

use super::errors::AadError;
use super::request::EndpointVersion;
use crate::directory::resources::{self, Resource, MICROSOFT_GRAPH};
use crate::directory::{Application, PermissionKind, Tenant};

/// OpenID Connect scopes: they name no resource. MSAL adds `openid profile
/// offline_access` to every delegated request on its own (reference §1.4).
pub const OIDC_SCOPES: &[&str] = &["openid", "profile", "offline_access", "email"];

/// What a delegated token is for, after the consent check.
#[derive(Debug, Clone)]
pub struct Granted {
    pub resource: &'static Resource,
    /// `aud`: the resource identifier the client used, without a trailing `/`.
    pub audience: String,
    /// Every consented delegated permission on the resource (Entra's static consent
    /// returns all of them, whatever subset was asked for): the token's `scp`.
    pub scp: Vec<String>,
    /// OpenID scopes as requested, lower case.
    pub oidc: Vec<String>,
}

impl Granted {
    pub fn offline(&self) -> bool {
        self.oidc.iter().any(|s| s == "offline_access")
    }

    pub fn openid(&self) -> bool {
        self.oidc.iter().any(|s| s == "openid")
    }

    /// The v2 `scope` field: the resource prefix kept, then the OpenID scopes granted,
    /// without `offline_access`: Entra does not echo it (a refresh token says it was
    /// granted). Captured: the azure-sdk-for-js device code recording of 2021-10-29 asked
    /// `… openid profile offline_access` and got `"scope":"email openid profile https://graph.microsoft.com/…"`;
    /// MSAL.NET's recorded AAD and MSA answers (TestConstants CreateAadTestTokenResponse,
    /// CreateMsaTestTokenResponse) carry refresh tokens and no `offline_access` either.
    /// Where Entra puts the OpenID scopes varies between those captures (first, or among
    /// the permissions); they stay last here (UNCONFIRMED).
    pub fn v2_scope(&self) -> String {
        let mut out: Vec<String> =
            if self.resource == &MICROSOFT_GRAPH && self.audience == "https://graph.microsoft.com" {
                self.scp.clone()
            } else {
                self.scp.iter().map(|p| format!("{}/{p}", self.audience)).collect()
            };
        // Graph's consented `openid`/`profile` are in `scp` already: name each scope once.
        for o in self.oidc.iter().filter(|o| *o != "offline_access") {
            if !out.contains(o) {
                out.push(o.clone());
            }
        }
        out.join(" ")
    }
}

fn consented_delegated<'a>(app: &'a Application, resource: &Resource) -> Vec<&'a str> {
    app.permissions
        .iter()
        .filter(|p| p.kind == PermissionKind::Delegated && p.admin_consent && p.resource_app_id == resource.app_id)
        .map(|p| p.value.as_str())
        .collect()
}

/// Check a v2 `scope` (or v1 `resource` plus optional `scope`) against the app's consent.
pub fn grant_scopes(
    app: &Application,
    tenant: &Tenant,
    version: EndpointVersion,
    req_scope: Option<&str>,
    req_resource: Option<&str>,
) -> Result<Granted, AadError> {
    let mut oidc: Vec<String> = Vec::new();
    let mut resource: Option<(&'static Resource, String)> = None;
    let mut asked: Vec<String> = Vec::new();
    // Whether the first resource was asked for as `<resource>/.default`.
    let mut first_default = false;
    for s in req_scope.unwrap_or("").split_whitespace() {
        let lower = s.to_ascii_lowercase();
        if OIDC_SCOPES.contains(&lower.as_str()) {
            if !oidc.contains(&lower) {
                oidc.push(lower);
            }
            continue;
        }
        if version == EndpointVersion::V1 {
            // v1 takes the resource from `resource=`; other scopes are ignored there.
            continue;
        }
        let (id, perm) = match s.rsplit_once('/') {
            Some((id, perm)) if id.contains('/') || crate::directory::is_guid(id) => (id, perm),
            // A bare permission such as `User.Read` is Microsoft Graph's.
            _ => ("https://graph.microsoft.com", s),
        };
        let r = resources::find(id).ok_or_else(|| AadError::resource_not_found(id, &tenant.display_name))?;
        let audience = id.trim_end_matches('/').to_string();
        match &resource {
            Some((prev, _)) if *prev != r => {
                let reason = format!(
                    "the scopes name two resources ({} and {}); one token is for one resource",
                    prev.display_name, r.display_name
                );
                // Two `.default` scopes hit Entra's static-scope limit (70011); any other
                // pair of resources is AADSTS28000.
                return Err(if perm == ".default" && first_default {
                    AadError::static_scope_limit(req_scope.unwrap_or(""), reason)
                } else {
                    AadError::multiple_resources(req_scope.unwrap_or(""), reason)
                });
            }
            Some(_) => {}
            None => {
                first_default = perm == ".default";
                resource = Some((r, audience));
            }
        }
        if perm != ".default" {
            if !r.delegated_permissions.iter().any(|k| k.eq_ignore_ascii_case(perm)) {
                return Err(AadError::invalid_scope(
                    req_scope.unwrap_or(""),
                    format!("{} has no delegated permission {perm:?}", r.display_name),
                ));
            }
            asked.push(perm.to_string());
        }
    }
    if version == EndpointVersion::V1 {
        let id = req_resource.ok_or_else(|| AadError::missing_parameter("resource"))?;
        let r = resources::find(id).ok_or_else(|| AadError::resource_not_found(id, &tenant.display_name))?;
        resource = Some((r, id.trim_end_matches('/').to_string()));
        // v1 has no offline_access: delegated v1 responses always carry a refresh token.
        if !oidc.iter().any(|s| s == "offline_access") {
            oidc.push("offline_access".into());
        }
    }
    let (resource, audience) = resource.unwrap_or((&MICROSOFT_GRAPH, "https://graph.microsoft.com".to_string()));
    let consented = consented_delegated(app, resource);
    if let Some(missing) = asked
        .iter()
        .find(|p| !consented.iter().any(|c| c.eq_ignore_ascii_case(p)))
    {
        return Err(AadError::consent_required(
            &app.app_id,
            &app.display_name,
            &format!("{missing} on {}", resource.display_name),
        ));
    }
    let mut scp: Vec<String> = consented
        .iter()
        .filter(|c| !OIDC_SCOPES.contains(&c.to_ascii_lowercase().as_str()) || *resource == MICROSOFT_GRAPH)
        .filter(|c| !c.eq_ignore_ascii_case("offline_access"))
        .map(|c| c.to_string())
        .collect();
    if scp.is_empty() {
        return Err(AadError::consent_required(
            &app.app_id,
            &app.display_name,
            &format!("(any) on {}", resource.display_name),
        ));
    }
    scp.dedup();
    Ok(Granted {
        resource,
        audience,
        scp,
        oidc,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::fixture::demo_tenant;

    const APP08: &str = "00000000-0000-4000-8000-00000000a008";

    #[test]
    fn consent_covers_every_exchange_permission_and_refuses_others() {
        let d = demo_tenant().expect("demo");
        let t = d.tenant("contoso.com").expect("contoso");
        let app = t.application(APP08).expect("app 08");
        let g = grant_scopes(
            app,
            t,
            EndpointVersion::V2,
            Some("https://outlook.office.com/IMAP.AccessAsUser.All offline_access openid profile"),
            None,
        )
        .expect("granted");
        assert_eq!(g.audience, "https://outlook.office.com");
        assert_eq!(g.scp, ["IMAP.AccessAsUser.All", "POP.AccessAsUser.All", "SMTP.Send"]);
        assert!(g.offline() && g.openid());
        assert_eq!(
            g.v2_scope(),
            "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/POP.AccessAsUser.All https://outlook.office.com/SMTP.Send openid profile"
        );
        let e = grant_scopes(
            app,
            t,
            EndpointVersion::V2,
            Some("https://outlook.office.com/EWS.AccessAsUser.All"),
            None,
        )
        .expect_err("EWS not consented");
        assert_eq!((e.code, e.suberror), (65001, Some("consent_required")));
        let e = grant_scopes(
            app,
            t,
            EndpointVersion::V2,
            Some("https://outlook.office.com/IMAP.AccessAsUser.All User.Read"),
            None,
        )
        .expect_err("two resources");
        assert_eq!((e.code, e.error), (28000, "invalid_scope"));
        let e = grant_scopes(
            app,
            t,
            EndpointVersion::V2,
            Some("https://outlook.office.com/.default https://graph.microsoft.com/.default openid"),
            None,
        )
        .expect_err("two .default scopes");
        assert_eq!(e.code, 70011);
        assert!(
            e.message.ends_with("openid is not valid. static scope limit exceeded."),
            "{}",
            e.message
        );
    }
}
