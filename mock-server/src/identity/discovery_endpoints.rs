//! The discovery endpoints' HTTP side: OpenID configuration (v1 and v2), JWKS, instance
//! discovery and user realm. The documents themselves are built in `discovery`.

use super::discovery;
use super::errors::AadError;
use super::reply::{cacheable, json_response, query_param, Body};
use super::IdentityState;
use http::{Request, Response, StatusCode};

pub(super) fn discovery_doc(shared: &IdentityState, segment: &str, base: &str, v2: bool) -> Response<Body> {
    let trace = uuid::Uuid::new_v4().to_string();
    let directory = shared.core.directory();
    let tenant_path = match directory.resolve_segment(segment) {
        crate::directory::TenantSegment::Tenant(t) => t.id.clone(),
        crate::directory::TenantSegment::MultiTenant(m) => m.as_str().to_string(),
        crate::directory::TenantSegment::Unknown => {
            let e = AadError::discovery_tenant_not_found(segment);
            return json_response(
                StatusCode::BAD_REQUEST,
                &e.body(&trace, &trace, shared.core.clock.now(), shared.config.layout),
                &trace,
            );
        }
        crate::directory::TenantSegment::Invalid => {
            let e = AadError::invalid_tenant_identifier(segment);
            return json_response(
                StatusCode::BAD_REQUEST,
                &e.body(&trace, &trace, shared.core.clock.now(), shared.config.layout),
                &trace,
            );
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
            let body = serde_json::json!({
                "error": "invalid_instance",
                "error_description": format!("AADSTS50049: Unknown or invalid instance.\r\nTrace ID: {trace}\r\nCorrelation ID: {trace}\r\nTimestamp: {}", shared.core.clock.now().format(super::errors::TIMESTAMP_FORMAT).unwrap_or_default()),
                "error_codes": [50049],
                "error_uri": "https://login.microsoftonline.com/error?code=50049",
            });
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
