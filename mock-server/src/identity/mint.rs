//! Minting a delegated answer: the user's v1 access token for the resource, the
//! id_token (v2 or v1 shape), the refresh token and `client_info`, in the v2 or v1
//! response body (reference §1.5, §4.3, §4.5).

use super::consent::Granted;
use super::errors::AadError;
use super::grant::Ctx;
use super::issue::{Issued, BACKDATE};
use super::request::EndpointVersion;
use super::sign_in::SignedIn;
use super::store::{random_token, RefreshGrant};
use crate::directory::{Application, Tenant};
use crate::token::jws::b64url;
use serde::Serialize;
use time::OffsetDateTime;

/// A delegated v1 access token for Exchange Online (reference §4.3).
#[derive(Serialize)]
struct UserClaims<'a> {
    aud: &'a str,
    iss: &'a str,
    iat: i64,
    nbf: i64,
    exp: i64,
    acct: u8,
    acr: &'static str,
    aio: String,
    amr: [&'static str; 1],
    app_displayname: &'a str,
    appid: &'a str,
    appidacr: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    family_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    given_name: Option<&'a str>,
    idtyp: &'static str,
    name: &'a str,
    oid: &'a str,
    rh: String,
    scp: String,
    sid: String,
    sub: String,
    tid: &'a str,
    unique_name: &'a str,
    upn: &'a str,
    uti: String,
    ver: &'static str,
}

/// A v2 id_token (reference §4.5).
#[derive(Serialize)]
struct IdClaimsV2<'a> {
    aud: &'a str,
    iss: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    name: &'a str,
    oid: &'a str,
    preferred_username: &'a str,
    rh: String,
    sid: String,
    sub: String,
    tid: &'a str,
    uti: String,
    ver: &'static str,
}

/// A v1 id_token.
#[derive(Serialize)]
struct IdClaimsV1<'a> {
    aud: &'a str,
    iss: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    amr: [&'static str; 1],
    name: &'a str,
    oid: &'a str,
    sub: String,
    tid: &'a str,
    unique_name: &'a str,
    upn: &'a str,
    ver: &'static str,
}

/// Pairwise `sub`: stable per user and app, different across apps, as Entra's is.
fn pairwise_sub(oid: &str, app_id: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, format!("{oid}|{app_id}").as_bytes());
    b64url(&d.as_ref()[..32])
}

/// One delegated answer to mint: who, for which app and resource, and how it was asked.
pub(crate) struct Delegation<'a> {
    pub version: EndpointVersion,
    /// The user's tenant: `tid`, `iss`, and where the refresh token may be redeemed.
    pub tenant: &'a Tenant,
    pub app: &'a Application,
    pub user: &'a SignedIn,
    pub granted: &'a Granted,
    /// The authorization request's `nonce`, echoed in the v2 id_token.
    pub nonce: Option<&'a str>,
    /// `client_info=1` was sent.
    pub client_info: bool,
    pub appidacr: &'static str,
    /// How the client and user proved themselves, for the journal.
    pub credential: String,
    /// Answer with a new refresh token even without `offline_access` in this request:
    /// a refresh token grant always returns the next refresh token (Entra's documented
    /// refresh response has `refresh_token` unconditionally).
    pub rotate: bool,
}

/// Sign the access token (and id_token), keep the refresh token, build the body.
pub(crate) fn mint(ctx: &Ctx<'_>, d: Delegation<'_>) -> Result<Issued, AadError> {
    let Delegation {
        version,
        tenant,
        app,
        user,
        granted,
        nonce,
        client_info,
        appidacr,
        credential,
        rotate,
    } = d;
    let u = tenant
        .user(&user.upn)
        .ok_or_else(|| AadError::unknown_user(&user.upn, tenant.primary_domain()))?;
    let expires_in = ctx.config.lifetime.pick();
    let issued_at = ctx.now.unix_timestamp();
    let iat = issued_at - BACKDATE.whole_seconds();
    let exp = issued_at + expires_in + 1;
    let issuer = format!("https://sts.windows.net/{}/", tenant.id);
    let (given, family) = match u.display_name.split_once(' ') {
        Some((g, f)) => (Some(g), Some(f)),
        None => (None, None),
    };
    let rh = format!("0.{}.", random_token(24));
    let sid = uuid::Uuid::new_v4().to_string();
    let scp = granted.scp.join(" ");
    let claims = UserClaims {
        aud: &granted.audience,
        iss: &issuer,
        iat,
        nbf: iat,
        exp,
        acct: 0,
        acr: "1",
        aio: format!("AT{}", random_token(48)),
        amr: ["pwd"],
        app_displayname: &app.display_name,
        appid: &app.app_id,
        appidacr,
        family_name: family,
        given_name: given,
        idtyp: "user",
        name: &u.display_name,
        oid: &u.object_id,
        rh: rh.clone(),
        scp: scp.clone(),
        sid: sid.clone(),
        sub: pairwise_sub(&u.object_id, &app.app_id),
        tid: &tenant.id,
        unique_name: &u.upn,
        upn: &u.upn,
        uti: random_token(16),
        ver: "1.0",
    };
    let sign_err =
        |e: crate::token::AuthorityError| AadError::malformed_assertion(format!("internal signing failure: {e}"));
    let header_nonce = ctx.config.nonce_header.then(|| random_token(32));
    let access_token = ctx.authority.sign(&claims, header_nonce.as_deref()).map_err(sign_err)?;

    let refresh = (rotate || granted.offline()).then(|| {
        ctx.state.store_refresh(
            RefreshGrant {
                client_id: app.app_id.clone(),
                user: user.clone(),
                scope: granted.v2_scope(),
                audience: granted.audience.clone(),
                issued: ctx.now,
                last_used: ctx.now,
            },
            ctx.config.refresh_inactivity,
        )
    });
    // id_tokens are not back-dated and live an hour, as Entra's do.
    let id_token = if granted.openid() {
        let token = match version {
            EndpointVersion::V2 => ctx.authority.sign(
                &IdClaimsV2 {
                    aud: &app.app_id,
                    iss: format!("{}/{}/v2.0", ctx.base, tenant.id),
                    iat: issued_at,
                    nbf: issued_at,
                    exp: issued_at + 3600,
                    nonce,
                    name: &u.display_name,
                    oid: &u.object_id,
                    preferred_username: &u.upn,
                    rh,
                    sid,
                    sub: pairwise_sub(&u.object_id, &app.app_id),
                    tid: &tenant.id,
                    uti: random_token(16),
                    ver: "2.0",
                },
                None,
            ),
            EndpointVersion::V1 => ctx.authority.sign(
                &IdClaimsV1 {
                    aud: &app.app_id,
                    iss: issuer.clone(),
                    iat: issued_at,
                    nbf: issued_at,
                    exp: issued_at + 3600,
                    amr: ["pwd"],
                    name: &u.display_name,
                    oid: &u.object_id,
                    sub: pairwise_sub(&u.object_id, &app.app_id),
                    tid: &tenant.id,
                    unique_name: &u.upn,
                    upn: &u.upn,
                    ver: "1.0",
                },
                None,
            ),
        };
        Some(token.map_err(sign_err)?)
    } else {
        None
    };

    let mut body = match version {
        EndpointVersion::V2 => serde_json::json!({
            "token_type": "Bearer",
            "scope": granted.v2_scope(),
            "expires_in": expires_in,
            "ext_expires_in": expires_in,
            "access_token": access_token,
        }),
        EndpointVersion::V1 => serde_json::json!({
            "token_type": "Bearer",
            "scope": scp,
            "expires_in": expires_in.to_string(),
            "ext_expires_in": expires_in.to_string(),
            "expires_on": exp.to_string(),
            "not_before": iat.to_string(),
            "resource": granted.audience,
            "access_token": access_token,
        }),
    };
    if let Some(obj) = body.as_object_mut() {
        if let Some(r) = refresh {
            obj.insert("refresh_token".into(), r.into());
        }
        if let Some(t) = id_token {
            obj.insert("id_token".into(), t.into());
        }
        if client_info {
            let info = serde_json::json!({ "uid": u.object_id, "utid": tenant.id }).to_string();
            obj.insert("client_info".into(), b64url(info.as_bytes()).into());
        }
    }
    Ok(Issued {
        body,
        access_token,
        tenant_id: tenant.id.clone(),
        app_id: app.app_id.clone(),
        audience: granted.audience.clone(),
        roles: Vec::new(),
        appidacr,
        expires: OffsetDateTime::from_unix_timestamp(exp).unwrap_or(ctx.now),
        credential,
        user: Some(u.upn.clone()),
        scopes: granted.scp.clone(),
    })
}

/// `client_info` for a redirect: base64url of `{"uid":oid,"utid":tid}`.
pub fn client_info(oid: &str, tenant_id: &str) -> String {
    b64url(
        serde_json::json!({ "uid": oid, "utid": tenant_id })
            .to_string()
            .as_bytes(),
    )
}
