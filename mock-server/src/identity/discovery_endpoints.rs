//! The discovery endpoints' HTTP side: OpenID configuration (v1 and v2), JWKS, instance
//! discovery and user realm. The documents themselves are built in `discovery`.

use super::discovery;
use super::errors::AadError;
use super::reply::{cacheable, json_response, query_param, Body};
use super::IdentityState;
use http::{header, HeaderValue, Request, Response, StatusCode};

/// The request's own correlation id, which Entra echoes as `correlation_id`: the
/// `x-ms-client-request-id` header the Azure SDKs send (captured: discovery/tenant-not-found),
/// or msal's `client-request-id` header or query field; a new GUID otherwise.
fn correlation_id<B>(req: &Request<B>) -> String {
    ["x-ms-client-request-id", "client-request-id"]
        .iter()
        .find_map(|h| req.headers().get(*h).and_then(|v| v.to_str().ok()).map(str::to_string))
        .or_else(|| query_param(req.uri().query(), "client-request-id"))
        .filter(|c| crate::directory::is_guid(c))
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// A discovery error: the AADSTS body with Entra's headers for it, `Cache-Control: private`
/// (not the documents' day of caching) and the CORS pair (captured 2023-08-03).
fn discovery_error<B>(shared: &IdentityState, req: &Request<B>, e: &AadError) -> Response<Body> {
    let trace = uuid::Uuid::new_v4().to_string();
    let correlation = correlation_id(req);
    let body = e.body(&trace, &correlation, shared.core.clock.now(), shared.config.layout);
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = json_response(status, &body, &trace);
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, OPTIONS"),
    );
    r
}

pub(super) fn discovery_doc<B>(
    shared: &IdentityState,
    req: &Request<B>,
    segment: &str,
    base: &str,
    v2: bool,
) -> Response<Body> {
    let trace = uuid::Uuid::new_v4().to_string();
    let directory = shared.core.directory();
    let tenant_path = match directory.resolve_segment(segment) {
        crate::directory::TenantSegment::Tenant(t) => t.id.clone(),
        crate::directory::TenantSegment::MultiTenant(m) => m.as_str().to_string(),
        crate::directory::TenantSegment::Unknown => {
            return discovery_error(shared, req, &AadError::discovery_tenant_not_found(segment));
        }
        // Discovery looks a single DNS label up as a name: `/tenant/v2.0/…` answered
        // AADSTS90002 invalid_tenant (captured 2023-08-03), where the token endpoint
        // refuses `undefined` as malformed (AADSTS900023, captured 2022-08-17).
        crate::directory::TenantSegment::Invalid if crate::directory::is_dns_name(&format!("{segment}.x")) => {
            return discovery_error(shared, req, &AadError::discovery_tenant_not_found(segment));
        }
        crate::directory::TenantSegment::Invalid => {
            return discovery_error(shared, req, &AadError::invalid_tenant_identifier(segment));
        }
    };
    let doc = if v2 {
        discovery::openid_configuration_v2(base, &tenant_path)
    } else {
        discovery::openid_configuration_v1(base, &tenant_path)
    };
    cacheable(json_response(StatusCode::OK, &doc, &trace))
}

pub(super) fn jwks(shared: &IdentityState, segment: &str, v2: bool) -> Response<Body> {
    let trace = uuid::Uuid::new_v4().to_string();
    let directory = shared.core.directory();
    let issuer = match directory.resolve_segment(segment) {
        crate::directory::TenantSegment::Tenant(t) => format!("https://login.microsoftonline.com/{}/v2.0", t.id),
        crate::directory::TenantSegment::MultiTenant(_) => "https://login.microsoftonline.com/{tenantid}/v2.0".into(),
        _ => {
            let e = AadError::discovery_tenant_not_found(segment);
            return json_response(
                StatusCode::BAD_REQUEST,
                &e.body(&trace, &trace, shared.core.clock.now(), shared.config.layout),
                &trace,
            );
        }
    };
    let doc = shared.core.authority().jwks(v2.then_some(issuer.as_str()));
    cacheable(json_response(StatusCode::OK, &doc, &trace))
}

/// `GET /common/discovery/instance?authorization_endpoint=…` (MSAL's instance discovery).
pub(super) fn instance<B>(req: &Request<B>, shared: &IdentityState, base: &str) -> Response<Body> {
    let endpoint = query_param(req.uri().query(), "authorization_endpoint");
    let trace = uuid::Uuid::new_v4().to_string();
    match discovery::instance_discovery(base, &shared.authorities, endpoint.as_deref()) {
        Some(doc) => cacheable(json_response(StatusCode::OK, &doc, &trace)),
        None => {
            let host = endpoint.as_deref().unwrap_or_default();
            let e = AadError::unknown_instance(host);
            let correlation = correlation_id(req);
            let body = e.body(&trace, &correlation, shared.core.clock.now(), shared.config.layout);
            json_response(StatusCode::BAD_REQUEST, &body, &trace)
        }
    }
}

/// `GET /common/userrealm/{upn}`: managed or unknown, by the user's domain.
pub(super) fn user_realm(shared: &IdentityState, upn: &str) -> Response<Body> {
    let directory = shared.core.directory();
    let domain = upn.rsplit_once('@').map(|(_, d)| d).unwrap_or(upn);
    let doc = discovery::user_realm(upn, directory.tenant(domain));
    json_response(StatusCode::OK, &doc, &uuid::Uuid::new_v4().to_string())
}
