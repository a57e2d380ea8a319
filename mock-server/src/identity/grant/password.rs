//! The resource owner password credentials grant (ROPC): user name and password in the
//! token request. Works on a tenant and on `/organizations`, not on `/common` (Entra's
//! ROPC page: "can't be set to `common` or `consumers`").

use super::{client_auth, client_id, Ctx};
use crate::identity::consent::grant_scopes;
use crate::identity::errors::AadError;
use crate::identity::issue::Issued;
use crate::identity::lookup::{find_app, resolve_tenant, MultiTenantUse};
use crate::identity::mint::{mint, Delegation};
use crate::identity::request::{EndpointVersion, TokenRequest};
use crate::identity::sign_in::{check_password, SignedIn};

pub fn grant(ctx: &Ctx<'_>, version: EndpointVersion, segment: &str, req: &TokenRequest) -> Result<Issued, AadError> {
    let username = req.get("username");
    let multi = MultiTenantUse::ByUser {
        upn: username,
        common: false,
    };
    let tenant = resolve_tenant(ctx.directory, segment, Some("password"), multi, ctx.config)?;
    let client_id = client_id(req)?;
    let username = username.ok_or_else(|| AadError::missing_parameter("username"))?;
    let password = req
        .get("password")
        .ok_or_else(|| AadError::missing_parameter("password"))?;
    let app = find_app(ctx.directory, tenant, client_id)?;
    let (appidacr, how) = client_auth(app, req)?;
    let granted = grant_scopes(app, tenant, version, req.get("scope"), req.get("resource"))?;
    let user = check_password(ctx.state, tenant, username, password, ctx.now)?;
    if user.mfa_required {
        return Err(AadError::mfa_required(&user.upn, granted.resource.app_id));
    }
    let signed_in = SignedIn::new(tenant, user, ctx.now);
    mint(
        ctx,
        Delegation {
            version,
            tenant,
            app,
            user: &signed_in,
            granted: &granted,
            nonce: None,
            client_info: req.get("client_info") == Some("1"),
            appidacr,
            credential: format!("password grant (ROPC) for {} on {how}", user.upn),
            rotate: false,
        },
    )
}
