//! The client credentials grant: an app-only token for a confidential client that
//! proves itself with a secret (body or HTTP Basic) or a certificate assertion
//! (reference §1.2, §1.3, §4.3).

use crate::directory::resources::{self, Resource};
use crate::directory::{Application, Directory, Tenant};
use crate::identity::assertion::{self, JWT_BEARER};
use crate::identity::consent::OIDC_SCOPES;
use crate::identity::errors::AadError;
use crate::identity::issue::{Issued, BACKDATE};
use crate::identity::lookup::{find_app, resolve_tenant, MultiTenantUse};
use crate::identity::request::{EndpointVersion, TokenRequest};
use crate::identity::IdentityConfig;
use crate::token::jws::b64url;
use crate::token::Authority;
use serde::Serialize;
use time::OffsetDateTime;

/// The claims of an app-only Exchange Online v1 access token (reference §4.3).
#[derive(Serialize)]
struct AppClaims<'a> {
    aud: &'a str,
    iss: &'a str,
    iat: i64,
    nbf: i64,
    exp: i64,
    aio: String,
    app_displayname: &'a str,
    appid: &'a str,
    appidacr: &'a str,
    idp: &'a str,
    idtyp: &'static str,
    oid: &'a str,
    rh: String,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    roles: &'a [String],
    sid: String,
    sub: &'a str,
    tid: &'a str,
    uti: String,
    ver: &'static str,
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // The system RNG failing is not recoverable and not input-dependent; zeros would
    // still produce a well-formed (if less unique) claim.
    let _ = aws_lc_rs::rand::fill(&mut b);
    b
}

fn guid_bytes(g: &str) -> Vec<u8> {
    uuid::Uuid::parse_str(g)
        .map(|u| u.as_bytes().to_vec())
        .unwrap_or_default()
}

/// The entry point for every grant that is not delegated: the tenant must be concrete,
/// `grant_type` present and `client_credentials`.
pub fn issue(
    directory: &Directory,
    authority: &Authority,
    version: EndpointVersion,
    segment: &str,
    req: &TokenRequest,
    now: OffsetDateTime,
    config: &IdentityConfig,
) -> Result<Issued, AadError> {
    let grant = req.get("grant_type");
    // Entra checks that a credential came before it looks at the tenant or the client id:
    // client credentials without client_id or any credential, on the tenant segment
    // `undefined`, answered 401 AADSTS7000216 (azure-sdk-for-js recording of 2021-01-15,
    // fixtures/recordings/token/missing-credential.json), and so did /common.
    let has_credential = req.get("client_secret").is_some()
        || req.get("client_assertion").is_some()
        || req.basic.is_some()
        || req.get("request").is_some();
    if grant == Some("client_credentials") && !has_credential {
        let public = req
            .get("client_id")
            .and_then(|id| crate::identity::lookup::home_of(directory, id))
            .is_some_and(|(_, app)| app.public_client);
        let e = AadError::no_credential("client_credentials");
        // The journal's fix says why for a public client; the answer is the same.
        return Err(if public {
            e.with_fix("a public client (Allow public client flows) cannot use client credentials; use a confidential app with a secret or certificate")
        } else {
            e
        });
    }
    let tenant = resolve_tenant(directory, segment, grant, MultiTenantUse::Refused, config)?;
    let grant = grant.ok_or_else(|| AadError::missing_parameter("grant_type"))?;
    match grant {
        "client_credentials" => client_credentials(directory, authority, version, tenant, req, now, config),
        other => Err(AadError::unsupported_grant(other)),
    }
}

fn client_credentials(
    directory: &Directory,
    authority: &Authority,
    version: EndpointVersion,
    tenant: &Tenant,
    req: &TokenRequest,
    now: OffsetDateTime,
    config: &IdentityConfig,
) -> Result<Issued, AadError> {
    let basic = req.basic.as_ref();
    let client_id = req
        .get("client_id")
        .or(basic.map(|(id, _)| id.as_str()))
        .ok_or_else(|| AadError::missing_parameter("client_id"))?;
    let resource_param = match version {
        EndpointVersion::V2 => "scope",
        EndpointVersion::V1 => "resource",
    };
    let requested = req
        .get(resource_param)
        .ok_or_else(|| AadError::missing_parameter(resource_param))?;

    let app = find_app(directory, tenant, client_id)?;
    let (appidacr, credential) = authenticate(app, tenant, client_id, req, now)?;

    let (resource, audience) = match version {
        EndpointVersion::V2 => resource_from_scope(requested, tenant)?,
        EndpointVersion::V1 => {
            let r = resources::find(requested)
                .ok_or_else(|| AadError::resource_not_found(requested, &tenant.display_name))?;
            (r, requested.to_string())
        }
    };

    let roles = app.consented_roles(resource);
    let expires_in = config.lifetime.pick();
    let issued_at = now.unix_timestamp();
    let iat = issued_at - BACKDATE.whole_seconds();
    let exp = issued_at + expires_in + 1;
    let issuer = format!("https://sts.windows.net/{}/", tenant.id);
    let rh_bytes = [
        guid_bytes(&tenant.id),
        guid_bytes(resource.app_id),
        guid_bytes(&app.app_id),
    ]
    .concat();
    let claims = AppClaims {
        aud: &audience,
        iss: &issuer,
        iat,
        nbf: iat,
        exp,
        aio: format!("E2d{}", b64url(&random_bytes::<48>()).replace(['-', '_'], "A")),
        app_displayname: &app.display_name,
        appid: &app.app_id,
        appidacr,
        idp: &issuer,
        idtyp: "app",
        oid: &app.service_principal_id,
        rh: format!("0.{}.", b64url(&rh_bytes)),
        roles: &roles,
        sid: uuid::Uuid::new_v4().to_string(),
        sub: &app.service_principal_id,
        tid: &tenant.id,
        uti: b64url(&random_bytes::<16>()),
        ver: "1.0",
    };
    let nonce = config.nonce_header.then(|| b64url(&random_bytes::<32>()));
    let token = authority
        .sign(&claims, nonce.as_deref())
        .map_err(|e| AadError::malformed_assertion(format!("internal signing failure: {e}")))?;

    let body = match version {
        EndpointVersion::V2 => serde_json::json!({
            "token_type": "Bearer",
            "expires_in": expires_in,
            "ext_expires_in": expires_in,
            "access_token": token,
        }),
        EndpointVersion::V1 => serde_json::json!({
            "token_type": "Bearer",
            "expires_in": expires_in.to_string(),
            "ext_expires_in": expires_in.to_string(),
            "expires_on": exp.to_string(),
            "not_before": iat.to_string(),
            "resource": requested,
            "access_token": token,
        }),
    };
    Ok(Issued {
        body,
        access_token: token,
        tenant_id: tenant.id.clone(),
        app_id: app.app_id.clone(),
        audience,
        roles,
        appidacr,
        expires: OffsetDateTime::from_unix_timestamp(exp).unwrap_or(now),
        credential,
        user: None,
        scopes: Vec::new(),
    })
}

/// Check the client's credential; returns `appidacr` and a description for the journal.
fn authenticate(
    app: &Application,
    tenant: &Tenant,
    client_id: &str,
    req: &TokenRequest,
    now: OffsetDateTime,
) -> Result<(&'static str, String), AadError> {
    let body_secret = req.get("client_secret");
    let basic_secret = req.basic.as_ref().map(|(_, s)| s.expose().as_str());
    let secret = body_secret.or(basic_secret);
    let assertion = req.get("client_assertion");
    let assertion_type = req.get("client_assertion_type");

    if app.public_client {
        return if secret.is_some() || assertion.is_some() {
            Err(AadError::public_client_with_credential())
        } else {
            Err(AadError::no_credential("client_credentials").with_fix(
                "a public client (Allow public client flows) cannot use client credentials; use a confidential app with a secret or certificate",
            ))
        };
    }

    if let Some(assertion) = assertion {
        if assertion_type != Some(JWT_BEARER) {
            return Err(AadError::malformed_assertion(format!(
                "client_assertion_type is {:?}, expected {JWT_BEARER}",
                assertion_type.unwrap_or("(absent)")
            )));
        }
        let ok = assertion::check(assertion, client_id, app, tenant, now)?;
        return Ok(("2", format!("certificate {} ({})", ok.thumbprint, ok.alg)));
    }

    let Some(secret) = secret else {
        return Err(AadError::no_credential("client_credentials"));
    };
    let via = if body_secret.is_some() {
        "client_secret"
    } else {
        "HTTP Basic"
    };
    let current = |s: &&crate::directory::ClientSecret| s.start.is_none_or(|st| st <= now) && now <= s.end;
    if let Some(s) = app.secrets.iter().filter(current).find(|s| s.value.expose() == secret) {
        return Ok(("1", format!("secret {} ({via})", s.id)));
    }
    if let Some(s) = app.secrets.iter().find(|s| s.value.expose() == secret) {
        return Err(AadError::expired_secret(
            &app.app_id,
            format!(
                "the secret {} of app '{}' expired on {}",
                s.id,
                app.display_name,
                s.end.date()
            ),
        ));
    }
    if let Some(s) = app.secrets.iter().find(|s| s.id.eq_ignore_ascii_case(secret)) {
        return Err(AadError::invalid_secret(
            &app.app_id,
            format!("the request sent the secret's ID ({}) instead of its value", s.id),
            "use the secret's Value column (shown only once, when the secret is created), not its Secret ID",
        ));
    }
    Err(AadError::invalid_secret(
        &app.app_id,
        format!(
            "the secret sent ({via}) matches none of the {} secret(s) of app '{}'",
            app.secrets.len(),
            app.display_name
        ),
        "copy the secret value again or create a new secret",
    ))
}

/// v2 client credentials: exactly one `<resource>/.default` scope.
fn resource_from_scope(scope: &str, tenant: &Tenant) -> Result<(&'static Resource, String), AadError> {
    let all: Vec<&str> = scope.split_whitespace().collect();
    // msal4j (`addCommonScopes`) and MSAL for Go send `openid profile offline_access`
    // beside `<resource>/.default` in client-credentials requests too, and Entra issues
    // the app token (those libraries work against it): beside a `.default` scope, the
    // OpenID scopes are ignored. Alone, they are still the AADSTS70011 below.
    let has_default = all.iter().any(|s| s.ends_with("/.default"));
    let scopes: Vec<&str> = all
        .iter()
        .copied()
        .filter(|s| !(has_default && OIDC_SCOPES.contains(&s.to_ascii_lowercase().as_str())))
        .collect();
    let defaults: Vec<&str> = scopes.iter().filter_map(|s| s.strip_suffix("/.default")).collect();
    if scopes.len() == 1 && defaults.len() == 1 {
        let id = defaults[0];
        // Entra answers a `.default` whose resource part is no identifier at all (neither a
        // URI nor a client id) with AADSTS70011, and only a well-formed identifier it does
        // not know with AADSTS500011: `user.read/.default` gave 70011 and
        // `https://graph.microsoft.com/user.read/.default` 500011 (MSAL.NET's live captures
        // of 2023-12-08, TestConstants InvalidScopeError70011 / InvalidResourceError).
        if !id.contains("://") && !crate::directory::is_guid(id) {
            return Err(AadError::invalid_scope(
                scope,
                format!("{id:?} is not a resource identifier (an application ID URI such as https://outlook.office365.com, or a client id)"),
            ));
        }
        let r = resources::find(id).ok_or_else(|| AadError::resource_not_found(id, &tenant.display_name))?;
        return Ok((r, id.trim_end_matches('/').to_string()));
    }
    if let Some(bad) = scopes
        .iter()
        .find(|s| OIDC_SCOPES.contains(&s.to_ascii_lowercase().as_str()))
    {
        return Err(AadError::invalid_scope(
            scope,
            format!("{bad:?} is an OpenID scope; client credentials take one '<resource>/.default' scope"),
        ));
    }
    // Two `.default` scopes in client credentials are the plain AADSTS70011, without the
    // delegated flows' "static scope limit exceeded." (whole answers: Azure/azure-sdk-for-net
    // #9076, 2019; AzureAD/microsoft-authentication-library-for-js #6069, 2023).
    if scopes.len() > 1 {
        return Err(AadError::invalid_scope(
            scope,
            format!("{} scopes given; a token is for exactly one resource", scopes.len()),
        ));
    }
    Err(AadError::scope_needs_default(scope))
}
