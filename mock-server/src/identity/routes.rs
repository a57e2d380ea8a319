//! HTTP routing of the identity platform: method and path to handler, nothing else.
//! Paths are matched case-insensitively (MSAL lower-cases the authority) and the query
//! is ignored (msal-node appends `?client-request-id=…`).

use super::errors::AadError;
use super::reply::{base_url, error_response, plain};
use super::request::EndpointVersion;
use super::{authorize, device_login, discovery_endpoints, test_controls, token_endpoint, IdentityState};
use http::{Method, Request, Response, StatusCode};
use std::net::SocketAddr;

pub use super::reply::Body;
pub use super::token_endpoint::DropConnection;

/// Largest token-request body accepted. A client assertion with a three-certificate
/// `x5c` chain is under 8 KiB; Entra's own limit is not published.
pub const MAX_TOKEN_REQUEST_BODY: usize = 64 * 1024;

/// Answer a request to the identity platform. A drop fault marks the response with
/// [`DropConnection`]; the HTTPS front then closes the connection instead.
pub async fn handle(req: Request<hyper::body::Incoming>, shared: &IdentityState, peer: SocketAddr) -> Response<Body> {
    route(req, shared, peer).await
}

/// `404 Not Found`, as Entra answers an unknown path.
pub fn not_found() -> Response<Body> {
    plain(StatusCode::NOT_FOUND, "Not Found")
}

async fn route(req: Request<hyper::body::Incoming>, shared: &IdentityState, peer: SocketAddr) -> Response<Body> {
    let path = req.uri().path().to_string();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    let method = req.method().clone();
    let base = base_url(&req, &shared.https_url);

    match (lower.as_slice(), &method) {
        ([_, "oauth2", "v2.0", "token"], &Method::POST) => {
            token_endpoint::token(req, shared, peer, EndpointVersion::V2, segments[0]).await
        }
        ([_, "oauth2", "token"], &Method::POST) => {
            token_endpoint::token(req, shared, peer, EndpointVersion::V1, segments[0]).await
        }
        ([_, "oauth2", "v2.0", "devicecode"], &Method::POST) => {
            device_login::device_code(req, shared, peer, EndpointVersion::V2, segments[0], &base).await
        }
        ([_, "oauth2", "devicecode"], &Method::POST) => {
            device_login::device_code(req, shared, peer, EndpointVersion::V1, segments[0], &base).await
        }
        ([_, "oauth2", "v2.0", "authorize"], &Method::GET | &Method::POST) => {
            authorize::authorize(req, shared, peer, segments[0], &base).await
        }
        (["devicelogin"], &Method::GET) => device_login::enter_code_page(),
        (["devicelogin"], &Method::POST) => device_login::device_login(req, shared, peer).await,
        (["_mock", "clock", "advance"], &Method::POST) if shared.config.test_controls && peer.ip().is_loopback() => {
            test_controls::advance_clock(req, shared).await
        }
        ([_, "oauth2", "v2.0", "token"] | [_, "oauth2", "token"], m) if m != Method::OPTIONS => {
            let e = AadError::get_on_post_endpoint(m.as_str());
            error_response(shared, &e, &req, peer, &path, String::new(), None, None)
        }
        ([_, "v2.0", ".well-known", "openid-configuration"], &Method::GET) => {
            discovery_endpoints::discovery_doc(shared, &req, segments[0], &base, true)
        }
        ([_, ".well-known", "openid-configuration"], &Method::GET) => {
            discovery_endpoints::discovery_doc(shared, &req, segments[0], &base, false)
        }
        ([_, "discovery", "v2.0", "keys"], &Method::GET) => discovery_endpoints::jwks(shared, segments[0], true),
        ([_, "discovery", "keys"], &Method::GET) => discovery_endpoints::jwks(shared, segments[0], false),
        (["common", "discovery", "instance"], &Method::GET) => discovery_endpoints::instance(&req, shared, &base),
        (["common", "userrealm", _], &Method::GET) => discovery_endpoints::user_realm(shared, segments[2]),
        _ => plain(StatusCode::NOT_FOUND, "Not Found"),
    }
}
