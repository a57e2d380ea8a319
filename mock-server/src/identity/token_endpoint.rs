//! `POST /{tenant}/oauth2[/v2.0]/token`: read the form, let a scripted fault answer
//! first, then the grant's decision, journaled with its reason.

use super::errors::AadError;
use super::grant;
use super::reply::{error_response, json_response, no_store, plain, read_form, record, with_ctx, Body};
use super::request::{EndpointVersion, TokenRequest};
use super::IdentityState;
use crate::journal::Outcome;
use http::{header, HeaderValue, Request, Response, StatusCode};
use std::net::SocketAddr;

/// A connection-drop fault: returned as the service's error, hyper closes the
/// connection without answering.
#[derive(Debug, Clone, Copy)]
pub struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by a scripted fault")
    }
}

impl std::error::Error for DropConnection {}

pub(super) async fn token(
    req: Request<hyper::body::Incoming>,
    shared: &IdentityState,
    peer: SocketAddr,
    version: EndpointVersion,
    segment: &str,
) -> Response<Body> {
    let segment = segment.to_string();
    let path = req.uri().path().to_string();
    let base = super::reply::base_url(&req, &shared.https_url);
    let (head, request) = match read_form(req, shared).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Some(r) = token_fault(shared, &request, &head, peer, &path, &segment).await {
        return r;
    }
    let now = shared.core.clock.now();
    let outcome = with_ctx(shared, now, &base, |ctx| grant::token(ctx, version, &segment, &request));
    let client_id = request
        .get("client_id")
        .map(str::to_string)
        .or_else(|| request.basic.as_ref().map(|(id, _)| id.clone()));
    match outcome {
        Ok(issued) => {
            let trace = uuid::Uuid::new_v4().to_string();
            tracing::debug!(
                tenant = %issued.tenant_id, app = %issued.app_id, aud = %issued.audience,
                roles = ?issued.roles, "token issued"
            );
            let reason = match &issued.user {
                Some(_) => issued.credential.clone(),
                None => format!("authenticated with {}", issued.credential),
            };
            let details = match &issued.user {
                Some(upn) => serde_json::json!({
                    "aud": issued.audience,
                    "upn": upn,
                    "scp": issued.scopes,
                    "appidacr": issued.appidacr,
                    "exp": issued.expires.unix_timestamp(),
                    "refresh_token": issued.body.get("refresh_token").is_some(),
                    "id_token": issued.body.get("id_token").is_some(),
                }),
                None => serde_json::json!({
                    "aud": issued.audience,
                    "roles": issued.roles,
                    "appidacr": issued.appidacr,
                    "exp": issued.expires.unix_timestamp(),
                }),
            };
            record(
                shared,
                peer,
                format!("POST {path}"),
                request.summary(),
                Outcome::Issued,
                200,
                Some(issued.tenant_id.clone()),
                client_id,
                None,
                reason,
                details,
            );
            no_store(json_response(StatusCode::OK, &issued.body, &trace))
        }
        Err(e) => {
            let tenant = shared.core.directory().tenant(&segment).map(|t| t.id.clone());
            error_response(shared, &e, &head, peer, &path, request.summary(), tenant, client_id)
        }
    }
}

/// Ask for a token-endpoint fault; `Some` is the answer to send instead (after a delay
/// fault, `None`: answer normally).
async fn token_fault(
    shared: &IdentityState,
    request: &TokenRequest,
    head: &Request<()>,
    peer: SocketAddr,
    path: &str,
    segment: &str,
) -> Option<Response<Body>> {
    use crate::faults::{Hook, Kind, Probe};
    let client_id = request
        .get("client_id")
        .map(str::to_string)
        .or_else(|| request.basic.as_ref().map(|(id, _)| id.clone()));
    let probe = Probe {
        client_id: client_id.as_deref(),
        grant_type: request.get("grant_type"),
        scope: request.get("scope"),
        user: request.get("username"),
        ..Probe::new(Hook::Token)
    };
    let fired = shared.core.fire(&probe, Some(peer.to_string()))?;
    let f = &fired.fault;
    let trace = uuid::Uuid::new_v4().to_string();
    match f.kind {
        Kind::AadError => {
            let e = AadError::injected(f.code.unwrap_or(0), client_id.as_deref().unwrap_or(""), fired.id);
            let tenant = shared.core.directory().tenant(segment).map(|t| t.id.clone());
            Some(error_response(
                shared,
                &e,
                head,
                peer,
                path,
                request.summary(),
                tenant,
                client_id,
            ))
        }
        Kind::Throttled => {
            let retry = f.retry_after.unwrap_or(crate::faults::DEFAULT_RETRY_AFTER);
            let mut r = if f.plain {
                // The body Entra's front door sends when it throttles before the STS sees the request.
                plain(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests")
            } else {
                // Not from a capture: Entra's JSON 429 body is undocumented, so this uses the
                // OAuth error for "try later" and names the fault; clients must rely on the
                // status and Retry-After, not on this text.
                let body = serde_json::json!({
                    "error": "temporarily_unavailable",
                    "error_description": format!("The request was throttled; retry after {retry} seconds (scripted fault #{}).\r\nTrace ID: {trace}", fired.id),
                    "error_codes": [],
                    "trace_id": trace,
                });
                json_response(StatusCode::TOO_MANY_REQUESTS, &body, &trace)
            };
            if let Ok(v) = HeaderValue::from_str(&retry.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Some(no_store(r))
        }
        Kind::ServerError => {
            let status = StatusCode::from_u16(f.status.unwrap_or(503)).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let body = serde_json::json!({
                "error": if status == StatusCode::SERVICE_UNAVAILABLE { "temporarily_unavailable" } else { "server_error" },
                "error_description": format!("The service is unavailable (HTTP {}, scripted fault #{}).\r\nTrace ID: {trace}", status.as_u16(), fired.id),
                "error_codes": [],
                "trace_id": trace,
            });
            Some(no_store(json_response(status, &body, &trace)))
        }
        Kind::Delay => {
            tokio::time::sleep(std::time::Duration::from_millis(f.millis.unwrap_or(0))).await;
            None
        }
        Kind::Drop => {
            let mut r = plain(StatusCode::INTERNAL_SERVER_ERROR, "");
            r.extensions_mut().insert(DropConnection);
            Some(r)
        }
        _ => None,
    }
}
