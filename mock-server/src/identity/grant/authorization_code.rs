//! The authorization code flow with PKCE: the front half checks the authorization
//! request and issues the code once the user signed in on `/authorize`; the back half
//! redeems the code at the token endpoint (reference §1.3, §4.5).

use super::{client_auth, client_id, Ctx};
use crate::directory::{Application, TenantSegment};
use crate::identity::consent::grant_scopes;
use crate::identity::errors::AadError;
use crate::identity::issue::Issued;
use crate::identity::lookup::{find_app, resolve_tenant, MultiTenantUse};
use crate::identity::mint::{mint, Delegation};
use crate::identity::request::{EndpointVersion, TokenRequest};
use crate::identity::sign_in::{check_password, SignedIn};
use crate::identity::store::{random_token, AuthCode, AUTH_CODE_LIFETIME};
use crate::token::jws::b64url;

/// A validated authorization request (the query of `/authorize`).
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    pub tenant_id: String,
    pub client_id: String,
    pub app_name: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub challenge: Option<(String, String)>,
    pub response_mode: String,
    pub client_info: bool,
}

/// Why an authorization request fails: before the redirect URI is trusted, an error
/// page; after, an error sent back to the client by redirect.
#[derive(Debug)]
pub enum AuthorizeError {
    Page(Box<AadError>),
    /// The error and the (validated) redirect URI to send it to.
    Redirect(Box<AadError>, String),
}

/// Does `uri` match a registered redirect URI? `http://localhost` and `http://127.0.0.1`
/// match on any port, as Entra does for loopback addresses (RFC 8252 §7.3).
pub fn redirect_registered(app: &Application, uri: &str) -> bool {
    let strip_port = |u: &str| -> Option<String> {
        let rest = u.strip_prefix("http://")?;
        let (hostport, path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
        let host = hostport.rsplit_once(':').map_or(hostport, |(h, _)| h);
        matches!(host, "localhost" | "127.0.0.1" | "[::1]").then(|| format!("http://{host}/{path}"))
    };
    app.redirect_uris.iter().any(|r| {
        r == uri || r.trim_end_matches('/') == uri.trim_end_matches('/') || {
            match (strip_port(r), strip_port(uri)) {
                (Some(a), Some(b)) => a.trim_end_matches('/') == b.trim_end_matches('/'),
                _ => false,
            }
        }
    })
}

/// Validate an authorization request; `get` reads its parameters.
pub fn check_authorize(
    ctx: &Ctx<'_>,
    segment: &str,
    login_hint: Option<&str>,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<AuthorizeRequest, AuthorizeError> {
    let page = |e: AadError| AuthorizeError::Page(Box::new(e));
    let multi = MultiTenantUse::ByUser {
        upn: login_hint,
        common: true,
    };
    let tenant = resolve_tenant(ctx.directory, segment, Some("authorization_code"), multi, ctx.config)
        .or_else(|e| match ctx.directory.resolve_segment(segment) {
            // Without a hint, /common and /organizations sign-ins pick the tenant from the
            // user name typed on the page; the demo's first tenant stands in until then.
            TenantSegment::MultiTenant(_) => ctx.directory.tenants.first().ok_or(e),
            _ => Err(e),
        })
        .map_err(page)?;
    let client_id = get("client_id").ok_or_else(|| page(AadError::missing_parameter("client_id")))?;
    let app = find_app(ctx.directory, tenant, &client_id).map_err(page)?;
    let redirect_uri = get("redirect_uri")
        .or_else(|| app.redirect_uris.first().cloned())
        .ok_or_else(|| page(AadError::missing_parameter("redirect_uri")))?;
    if !redirect_registered(app, &redirect_uri) {
        return Err(page(AadError::redirect_uri_mismatch(&redirect_uri, &app.app_id)));
    }
    let redirect = |e: AadError| AuthorizeError::Redirect(Box::new(e), redirect_uri.clone());
    match get("response_type").as_deref() {
        Some("code") => {}
        other => {
            return Err(redirect(AadError::invalid_request(
                900144,
                "The request body must contain the following parameter: 'response_type'.",
                format!("response_type={other:?}; only 'code' is supported here"),
            )))
        }
    }
    let scope = get("scope").unwrap_or_else(|| "openid".into());
    grant_scopes(app, tenant, EndpointVersion::V2, Some(&scope), None).map_err(redirect)?;
    let challenge = match get("code_challenge") {
        None => None,
        Some(c) => {
            let method = get("code_challenge_method").unwrap_or_else(|| "plain".into());
            if method != "S256" && method != "plain" {
                return Err(redirect(AadError::invalid_request(
                    50149,
                    "Invalid Code_Challenge_method parameter.",
                    format!("code_challenge_method={method:?}; S256 or plain"),
                )));
            }
            Some((c, method))
        }
    };
    Ok(AuthorizeRequest {
        tenant_id: tenant.id.clone(),
        client_id: app.app_id.clone(),
        app_name: app.display_name.clone(),
        redirect_uri,
        scope,
        state: get("state"),
        nonce: get("nonce"),
        challenge,
        response_mode: get("response_mode").unwrap_or_else(|| "query".into()),
        client_info: get("client_info").as_deref() == Some("1"),
    })
}

/// The user signed in on the page (or by `prompt=none`): create the code.
pub fn issue_code(ctx: &Ctx<'_>, ar: &AuthorizeRequest, user: SignedIn) -> Result<String, AadError> {
    let code = format!("1.A{}", random_token(96));
    ctx.state.insert_auth_code(
        code.clone(),
        AuthCode {
            client_id: ar.client_id.clone(),
            redirect_uri: ar.redirect_uri.clone(),
            scope: ar.scope.clone(),
            challenge: ar.challenge.clone(),
            nonce: ar.nonce.clone(),
            user,
            expires: ctx.now + AUTH_CODE_LIFETIME,
            redeemed: false,
        },
        ctx.now,
    )?;
    Ok(code)
}

/// Sign a user in for an authorization request: password, MFA flag, consent.
pub fn sign_in_for(
    ctx: &Ctx<'_>,
    ar: &AuthorizeRequest,
    upn: &str,
    password: Option<&str>,
) -> Result<SignedIn, AadError> {
    let tenant = ctx
        .directory
        .tenant_by_id(&ar.tenant_id)
        .ok_or_else(|| AadError::tenant_not_found(&ar.tenant_id))?;
    let user = match password {
        Some(p) => check_password(ctx.state, tenant, upn, p, ctx.now)?,
        None => {
            let user = tenant
                .user(upn)
                .ok_or_else(|| AadError::unknown_user(upn, tenant.primary_domain()))?;
            if !user.account_enabled {
                return Err(AadError::account_disabled(&user.upn));
            }
            if user.password.is_none() {
                return Err(AadError::wrong_password(&user.upn));
            }
            user
        }
    };
    Ok(SignedIn::new(tenant, user, ctx.now))
}

/// Is this user flagged as needing MFA (for `prompt=none`: `interaction_required`)?
pub fn user_needs_mfa(ctx: &Ctx<'_>, tenant_id: &str, upn: &str) -> bool {
    ctx.directory
        .tenant_by_id(tenant_id)
        .and_then(|t| t.user(upn))
        .is_some_and(|u| u.mfa_required)
}

fn s256(verifier: &str) -> String {
    b64url(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref())
}

/// The token endpoint redeeming a code: `grant_type=authorization_code`.
pub fn grant(ctx: &Ctx<'_>, version: EndpointVersion, segment: &str, req: &TokenRequest) -> Result<Issued, AadError> {
    // On /organizations and /common the code itself names the tenant (below).
    let multi = MultiTenantUse::ByUser {
        upn: None,
        common: false,
    };
    let tenant = resolve_tenant(ctx.directory, segment, Some("authorization_code"), multi, ctx.config);
    let client_id = client_id(req)?;
    let code_value = req.get("code").ok_or_else(|| AadError::missing_parameter("code"))?;
    let code = ctx.state.redeem_auth_code(code_value, ctx.now)?;
    // The code was issued in the user's tenant; /common and /organizations redeem there.
    let tenant = match tenant {
        Ok(t) => t,
        Err(e) => match ctx.directory.resolve_segment(segment) {
            TenantSegment::MultiTenant(_) => ctx
                .directory
                .tenant_by_id(&code.user.tenant_id)
                .ok_or_else(|| AadError::tenant_not_found(segment))?,
            _ => return Err(e),
        },
    };
    if tenant.id != code.user.tenant_id || !code.client_id.eq_ignore_ascii_case(client_id) {
        return Err(AadError::grant_client_mismatch(
            "the authorization code was issued to another client or tenant",
        ));
    }
    let app = find_app(ctx.directory, tenant, client_id)?;
    let (appidacr, how) = client_auth(app, req)?;
    let sent_redirect = req.get("redirect_uri").unwrap_or("");
    if sent_redirect != code.redirect_uri {
        return Err(AadError::reply_address_mismatch(sent_redirect, &code.redirect_uri));
    }
    if let Some((challenge, method)) = &code.challenge {
        let verifier = req.get("code_verifier").ok_or_else(|| {
            AadError::verifier_mismatch(
                "the authorization request had a code_challenge but the token request has no code_verifier",
            )
        })?;
        let computed = if method == "S256" {
            s256(verifier)
        } else {
            verifier.to_string()
        };
        if &computed != challenge {
            return Err(AadError::verifier_mismatch(format!(
                "the code_verifier does not produce the code_challenge ({method})"
            )));
        }
    }
    let scope = req.get("scope").unwrap_or(&code.scope);
    let granted = grant_scopes(app, tenant, version, Some(scope), req.get("resource"))?;
    let who = code.user.upn.clone();
    mint(
        ctx,
        Delegation {
            version,
            tenant,
            app,
            user: &code.user,
            granted: &granted,
            nonce: code.nonce.as_deref(),
            client_info: req.get("client_info") == Some("1"),
            appidacr,
            credential: format!(
                "authorization code of {who} redeemed by {how}{}",
                if code.challenge.is_some() { " with PKCE" } else { "" }
            ),
            rotate: false,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::fixture::demo_tenant;

    const APP08: &str = "00000000-0000-4000-8000-00000000a008";

    #[test]
    fn loopback_redirect_uris_match_any_port() {
        let d = demo_tenant().expect("demo");
        let app = d
            .tenant("contoso.com")
            .and_then(|t| t.application(APP08))
            .expect("app 08");
        assert!(redirect_registered(app, "http://localhost:53211"));
        assert!(redirect_registered(app, "http://localhost:53211/"));
        assert!(redirect_registered(
            app,
            "https://login.microsoftonline.com/common/oauth2/nativeclient"
        ));
        assert!(!redirect_registered(app, "http://localhost:1/callback"));
        assert!(!redirect_registered(app, "https://evil.example/"));
        assert!(!redirect_registered(app, "http://localhost.evil.example:80"));
    }

    #[test]
    fn pkce_s256_matches_an_independent_computation() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K9uhyUKQo3MaF8fKoIe3hYEg8aZ"),
            // base64url(SHA-256(verifier)), computed with Python hashlib.
            "C9Yq-mUXgd4CodBYiiDGPcgFHEifWhHtbOkiXQc__HY"
        );
    }
}
