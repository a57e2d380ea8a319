//! The device code flow (RFC 8628): `POST …/devicecode` hands out a device code and a
//! user code; the person enters the user code on `/devicelogin` (or a test approves it);
//! the client polls the token endpoint with the device code (reference §1.3).
//!
//! On `/organizations` and `/common` the code is issued without a tenant: the tenant is
//! the one of the user who signs in on the verification page (or whom a test approves),
//! and the tokens carry it (`tid`, `iss`). The app must be registered there too, else
//! the poll answers AADSTS700016. `/consumers` is for personal Microsoft accounts, which
//! the demo apps do not accept: AADSTS9002332.

use super::{client_auth, client_id, Ctx};
use crate::directory::{Application, MultiTenant, Tenant, TenantSegment};
use crate::identity::consent::grant_scopes;
use crate::identity::errors::AadError;
use crate::identity::issue::Issued;
use crate::identity::lookup::{find_app, home_of, resolve_tenant, MultiTenantUse};
use crate::identity::mint::{mint, Delegation};
use crate::identity::request::{EndpointVersion, TokenRequest};
use crate::identity::store::{random_token, DeviceFlow, DeviceStatus, DEVICE_CODE_INTERVAL, DEVICE_CODE_LIFETIME};

pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The short name Entra accepts for the same grant: msal4j polls with it (its
/// `GrantConstants.DEVICE_CODE`, so also azure-identity's `DeviceCodeCredential` for
/// Java), as ADAL did before it.
pub const DEVICE_CODE_GRANT_SHORT: &str = "device_code";

/// User codes: capitals and digits, without look-alikes (0/O, 1/I), 9 long like Entra's.
const USER_CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const USER_CODE_LEN: usize = 9;

fn random_user_code() -> String {
    let mut b = [0u8; USER_CODE_LEN];
    let _ = aws_lc_rs::rand::fill(&mut b);
    b.iter()
        .map(|x| USER_CODE_ALPHABET[usize::from(*x) % USER_CODE_ALPHABET.len()] as char)
        .collect()
}

/// Where a device flow runs: a tenant, or a multi-tenant segment whose tenant the
/// signing-in user decides.
enum FlowTenant<'d> {
    Tenant(&'d Tenant),
    Multi(MultiTenant),
}

/// Resolve the segment of a device-code request (either endpoint): a tenant as every
/// grant does; `/organizations` and `/common` accepted; `/consumers` refused for our
/// work-account-only apps (before that, a missing `client_id` is 900144).
fn flow_tenant<'d>(ctx: &Ctx<'d>, segment: &str, req: &TokenRequest) -> Result<FlowTenant<'d>, AadError> {
    match ctx.directory.resolve_segment(segment) {
        TenantSegment::MultiTenant(MultiTenant::Consumers) => {
            let client_id = client_id(req)?;
            match home_of(ctx.directory, client_id) {
                Some((_, app)) => Err(AadError::work_accounts_only(&app.app_id, &app.display_name)),
                None => Err(AadError::app_not_found(
                    client_id,
                    "consumers",
                    format!("no app with client id {client_id} in any tenant of the directory"),
                )),
            }
        }
        TenantSegment::MultiTenant(m) => Ok(FlowTenant::Multi(m)),
        _ => resolve_tenant(
            ctx.directory,
            segment,
            Some(DEVICE_CODE_GRANT),
            MultiTenantUse::Refused,
            ctx.config,
        )
        .map(FlowTenant::Tenant),
    }
}

/// The app a device-code request names, and the tenant to check its scopes in: the
/// flow's tenant, or on a multi-tenant segment the app's home tenant.
fn flow_app<'d>(
    ctx: &Ctx<'d>,
    flow_tenant: &FlowTenant<'d>,
    client_id: &str,
) -> Result<(&'d Tenant, &'d Application), AadError> {
    match flow_tenant {
        FlowTenant::Tenant(t) => Ok((t, find_app(ctx.directory, t, client_id)?)),
        FlowTenant::Multi(m) => home_of(ctx.directory, client_id).ok_or_else(|| {
            AadError::app_not_found(
                client_id,
                m.as_str(),
                format!("no app with client id {client_id} in any tenant of the directory"),
            )
        }),
    }
}

/// `POST /{t}/oauth2[/v2.0]/devicecode`: the device authorization response.
pub fn start(
    ctx: &Ctx<'_>,
    version: EndpointVersion,
    segment: &str,
    req: &TokenRequest,
) -> Result<serde_json::Value, AadError> {
    let flow_tenant = flow_tenant(ctx, segment, req)?;
    let client_id = client_id(req)?;
    let (tenant, app) = flow_app(ctx, &flow_tenant, client_id)?;
    if !app.public_client {
        return Err(AadError::no_credential_for_confidential()
            .with_fix("the device code flow needs 'Allow public client flows' on the app registration"));
    }
    let (requested, param) = match version {
        EndpointVersion::V2 => (req.get("scope"), "scope"),
        EndpointVersion::V1 => (req.get("resource"), "resource"),
    };
    let requested = requested.ok_or_else(|| AadError::missing_parameter(param))?;
    // Scope problems show up now, not after the person signed in.
    match version {
        EndpointVersion::V2 => grant_scopes(app, tenant, version, Some(requested), None)?,
        EndpointVersion::V1 => grant_scopes(app, tenant, version, req.get("scope"), Some(requested))?,
    };
    let device_code = random_token(48);
    let user_code = random_user_code();
    let verification_uri = format!("{}/devicelogin", ctx.base);
    ctx.state.insert_device_flow(
        device_code.clone(),
        DeviceFlow {
            user_code: user_code.clone(),
            client_id: app.app_id.clone(),
            tenant_id: match flow_tenant {
                FlowTenant::Tenant(t) => Some(t.id.clone()),
                FlowTenant::Multi(_) => None,
            },
            app_tenant_id: tenant.id.clone(),
            version,
            requested: requested.to_string(),
            expires: ctx.now + DEVICE_CODE_LIFETIME,
            last_poll: None,
            status: DeviceStatus::Pending,
            user: None,
        },
        ctx.now,
    )?;
    let message = format!(
        "To sign in, use a web browser to open the page {verification_uri} and enter the code {user_code} to authenticate."
    );
    let expires_in = DEVICE_CODE_LIFETIME.whole_seconds();
    Ok(match version {
        EndpointVersion::V2 => serde_json::json!({
            "user_code": user_code,
            "device_code": device_code,
            "verification_uri": verification_uri,
            "expires_in": expires_in,
            "interval": DEVICE_CODE_INTERVAL,
            "message": message,
        }),
        // The v1 endpoint names the page `verification_url` and sends numbers as strings.
        EndpointVersion::V1 => serde_json::json!({
            "user_code": user_code,
            "device_code": device_code,
            "verification_url": verification_uri,
            "expires_in": expires_in.to_string(),
            "interval": DEVICE_CODE_INTERVAL.to_string(),
            "message": message,
        }),
    })
}

/// The token endpoint polled with `grant_type=urn:ietf:params:oauth:grant-type:device_code`
/// (or `device_code`).
pub fn grant(ctx: &Ctx<'_>, version: EndpointVersion, segment: &str, req: &TokenRequest) -> Result<Issued, AadError> {
    let flow_tenant = flow_tenant(ctx, segment, req)?;
    let client_id = client_id(req)?;
    // MSAL for Python sends the device code as both `device_code` and `code`.
    let code = req
        .get("device_code")
        .or(req.get("code"))
        .ok_or_else(|| AadError::missing_parameter("device_code"))?;
    let (_, app) = flow_app(ctx, &flow_tenant, client_id)?;
    let (appidacr, how) = client_auth(app, req)?;
    let (flow, user) = ctx.state.poll_device(code, ctx.now, |flow| {
        // Poll where the code was issued: the same tenant, or a multi-tenant segment.
        let same_place = match (&flow_tenant, &flow.tenant_id) {
            (FlowTenant::Tenant(t), Some(id)) => &t.id == id,
            (FlowTenant::Multi(_), None) => true,
            _ => false,
        };
        if !flow.client_id.eq_ignore_ascii_case(client_id) || !same_place {
            return Err(AadError::bad_verification_code(
                "the device_code was issued to another client or tenant",
            ));
        }
        Ok(())
    })?;
    // The user's tenant: for a multi-tenant flow, the one they signed in to.
    let tenant = match flow_tenant {
        FlowTenant::Tenant(t) => t,
        FlowTenant::Multi(_) => ctx
            .directory
            .tenant_by_id(&user.tenant_id)
            .ok_or_else(|| AadError::tenant_not_found(&user.tenant_id))?,
    };
    let app = find_app(ctx.directory, tenant, client_id)?;
    let granted = match flow.version {
        EndpointVersion::V2 => grant_scopes(app, tenant, version, Some(&flow.requested), None)?,
        EndpointVersion::V1 => grant_scopes(app, tenant, version, req.get("scope"), Some(&flow.requested))?,
    };
    let who = user.upn.clone();
    mint(
        ctx,
        Delegation {
            version,
            tenant,
            app,
            user: &user,
            granted: &granted,
            nonce: None,
            client_info: req.get("client_info") == Some("1"),
            appidacr,
            credential: format!("device code approved by {who} on {how}"),
            rotate: false,
        },
    )
}
