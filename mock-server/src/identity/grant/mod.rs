//! The token endpoint's decisions, one file per grant: a parsed request in, a signed
//! answer or an AADSTS error out. No I/O: time, directory and keys come in through
//! [`Ctx`]. `token_endpoint` carries the answer over HTTP.

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
pub mod password;
pub mod refresh_token;

use super::errors::AadError;
use super::issue::Issued;
use super::request::{EndpointVersion, TokenRequest};
use super::store::DelegatedState;
use super::IdentityConfig;
use crate::directory::{Application, Directory};
use crate::token::Authority;
use time::OffsetDateTime;

pub use device_code::{DEVICE_CODE_GRANT, DEVICE_CODE_GRANT_SHORT};

/// Everything a grant needs besides the request.
pub struct Ctx<'a> {
    pub directory: &'a Directory,
    pub authority: &'a Authority,
    pub config: &'a IdentityConfig,
    pub state: &'a DelegatedState,
    pub now: OffsetDateTime,
    /// `https://host:port` as the client reached us: the v2 id_token issuer is
    /// `{base}/{tid}/v2.0`, the same string the discovery document publishes.
    pub base: &'a str,
}

/// The token endpoint: dispatch on `grant_type`. Anything that is not a delegated grant
/// goes to client credentials, which answers a missing or unknown `grant_type`.
pub fn token(ctx: &Ctx<'_>, version: EndpointVersion, segment: &str, req: &TokenRequest) -> Result<Issued, AadError> {
    match req.get("grant_type") {
        Some("password") => password::grant(ctx, version, segment, req),
        Some(DEVICE_CODE_GRANT | DEVICE_CODE_GRANT_SHORT) => device_code::grant(ctx, version, segment, req),
        Some("authorization_code") => authorization_code::grant(ctx, version, segment, req),
        Some("refresh_token") => refresh_token::grant(ctx, version, segment, req),
        _ => client_credentials::issue(ctx.directory, ctx.authority, version, segment, req, ctx.now, ctx.config),
    }
}

/// `client_id` from the form, else from HTTP Basic.
pub(crate) fn client_id(req: &TokenRequest) -> Result<&str, AadError> {
    req.get("client_id")
        .or(req.basic.as_ref().map(|(id, _)| id.as_str()))
        .ok_or_else(|| AadError::missing_parameter("client_id"))
}

/// Delegated grants from a client: a public client sends no credential; a confidential
/// one must send its own. Returns `appidacr` and how it proved itself.
pub(crate) fn client_auth(app: &Application, req: &TokenRequest) -> Result<(&'static str, String), AadError> {
    let has_credential = req.get("client_secret").is_some()
        || req.get("client_assertion").is_some()
        || req.basic.as_ref().is_some_and(|(_, s)| !s.expose().is_empty());
    if app.public_client {
        if has_credential {
            return Err(AadError::public_client_with_credential());
        }
        return Ok(("0", format!("public client '{}'", app.display_name)));
    }
    if !has_credential {
        return Err(AadError::no_credential_for_confidential());
    }
    let secret = req
        .get("client_secret")
        .or(req.basic.as_ref().map(|(_, s)| s.expose().as_str()));
    if let Some(secret) = secret {
        if app.secrets.iter().any(|s| s.value.expose() == secret) {
            return Ok(("1", format!("confidential client '{}' (secret)", app.display_name)));
        }
        return Err(AadError::invalid_secret(
            &app.app_id,
            "the secret matches none of the app's secrets".into(),
            "send the secret value",
        ));
    }
    Err(AadError::no_credential_for_confidential()
        .with_fix("certificate credentials are supported for client_credentials only in this mock; send client_secret"))
}
