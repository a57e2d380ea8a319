//! The device code flow (RFC 8628): `POST …/devicecode` hands out a device code and a
//! user code; the person enters the user code on `/devicelogin` (or a test approves it);
//! the client polls the token endpoint with the device code (reference §1.3).

use super::{client_auth, client_id, Ctx};
use crate::identity::consent::grant_scopes;
use crate::identity::errors::AadError;
use crate::identity::issue::Issued;
use crate::identity::lookup::{find_app, resolve_tenant, MultiTenantUse};
use crate::identity::mint::mint;
use crate::identity::request::{EndpointVersion, TokenRequest};
use crate::identity::store::{random_token, DeviceFlow, DeviceStatus, DEVICE_CODE_INTERVAL, DEVICE_CODE_LIFETIME};

pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

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

/// `POST /{t}/oauth2[/v2.0]/devicecode`: the device authorization response.
pub fn start(
    ctx: &Ctx<'_>,
    version: EndpointVersion,
    segment: &str,
    req: &TokenRequest,
) -> Result<serde_json::Value, AadError> {
    let tenant = resolve_tenant(
        ctx.directory,
        segment,
        Some(DEVICE_CODE_GRANT),
        MultiTenantUse::Refused,
        ctx.config,
    )?;
    let client_id = client_id(req)?;
    let app = find_app(ctx.directory, tenant, client_id)?;
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
            tenant_id: tenant.id.clone(),
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

/// The token endpoint polled with `grant_type=urn:ietf:params:oauth:grant-type:device_code`.
pub fn grant(ctx: &Ctx<'_>, version: EndpointVersion, segment: &str, req: &TokenRequest) -> Result<Issued, AadError> {
    let tenant = resolve_tenant(
        ctx.directory,
        segment,
        Some(DEVICE_CODE_GRANT),
        MultiTenantUse::Refused,
        ctx.config,
    )?;
    let client_id = client_id(req)?;
    // MSAL for Python sends the device code as both `device_code` and `code`.
    let code = req
        .get("device_code")
        .or(req.get("code"))
        .ok_or_else(|| AadError::missing_parameter("device_code"))?;
    let app = find_app(ctx.directory, tenant, client_id)?;
    let (appidacr, how) = client_auth(app, req)?;
    let (flow, user) = ctx.state.poll_device(code, ctx.now, |flow| {
        if !flow.client_id.eq_ignore_ascii_case(client_id) || flow.tenant_id != tenant.id {
            return Err(AadError::bad_verification_code(
                "the device_code was issued to another client or tenant",
            ));
        }
        Ok(())
    })?;
    let granted = match flow.version {
        EndpointVersion::V2 => grant_scopes(app, tenant, version, Some(&flow.requested), None)?,
        EndpointVersion::V1 => grant_scopes(app, tenant, version, req.get("scope"), Some(&flow.requested))?,
    };
    let who = user.upn.clone();
    mint(
        ctx,
        version,
        tenant,
        app,
        &user,
        &granted,
        None,
        req.get("client_info") == Some("1"),
        appidacr,
        format!("device code approved by {who} on {how}"),
    )
}
