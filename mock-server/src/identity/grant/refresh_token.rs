//! The refresh token grant: a refresh token from an earlier delegated grant buys a new
//! access token without the user (reference §1.3). Revocation, inactivity and the
//! token's client and tenant are checked; the user must still exist and be enabled.
//!
//! As Entra does: without `scope` (v1: `resource`) the new access token carries what the
//! refresh token was granted; with `scope`, any resource the app has consent for (a
//! multi-resource refresh token); a scope never consented is AADSTS65001
//! (`consent_required`). Every answer has a new refresh token; the old one keeps
//! working until it is inactive for 90 days or revoked.

use super::{client_auth, client_id, Ctx};
use crate::identity::consent::grant_scopes;
use crate::identity::errors::AadError;
use crate::identity::issue::Issued;
use crate::identity::lookup::{find_app, resolve_tenant, MultiTenantUse};
use crate::identity::mint::{mint, Delegation};
use crate::identity::request::{EndpointVersion, TokenRequest};

pub fn grant(ctx: &Ctx<'_>, version: EndpointVersion, segment: &str, req: &TokenRequest) -> Result<Issued, AadError> {
    let client_id = client_id(req)?;
    let value = req
        .get("refresh_token")
        .ok_or_else(|| AadError::missing_parameter("refresh_token"))?;
    let grant = ctx.state.use_refresh(value, ctx.now, ctx.config.refresh_inactivity)?;
    let multi = MultiTenantUse::ByUser {
        upn: Some(&grant.user.upn),
        common: true,
    };
    let tenant = resolve_tenant(ctx.directory, segment, Some("refresh_token"), multi, ctx.config)?;
    if tenant.id != grant.user.tenant_id || !grant.client_id.eq_ignore_ascii_case(client_id) {
        return Err(AadError::grant_client_mismatch(
            "the refresh token was issued to another client or in another tenant",
        ));
    }
    let app = find_app(ctx.directory, tenant, client_id)?;
    let (appidacr, how) = client_auth(app, req)?;
    let user = tenant
        .user(&grant.user.upn)
        .ok_or_else(|| AadError::unknown_user(&grant.user.upn, tenant.primary_domain()))?;
    if !user.account_enabled {
        return Err(AadError::account_disabled(&user.upn));
    }
    let granted = match version {
        // Without `scope`, the scopes granted to the refresh token; with `scope`, those
        // (any resource the app has consent for: Entra's refresh tokens are
        // multi-resource), checked against consent as on first issue.
        EndpointVersion::V2 => grant_scopes(
            app,
            tenant,
            version,
            Some(req.get("scope").unwrap_or(&grant.scope)),
            None,
        )?,
        // Without `resource`, the resource the refresh token was issued for.
        EndpointVersion::V1 => grant_scopes(
            app,
            tenant,
            version,
            req.get("scope"),
            Some(req.get("resource").unwrap_or(&grant.audience)),
        )?,
    };
    mint(
        ctx,
        Delegation {
            version,
            tenant,
            app,
            user: &grant.user,
            granted: &granted,
            nonce: None,
            client_info: req.get("client_info") == Some("1"),
            appidacr,
            credential: format!("refresh token of {} redeemed by {how}", grant.user.upn),
            rotate: true,
        },
    )
}
