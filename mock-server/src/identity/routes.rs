//! HTTP routing of the identity platform: the only module here that knows hyper.

use super::discovery;
use super::errors::AadError;
use super::issue;
use super::request::{EndpointVersion, TokenRequest};
use crate::journal::{JournalEntry, Outcome};
use crate::server::Shared;
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

/// Largest token-request body accepted. A client assertion with a three-certificate
/// `x5c` chain is under 8 KiB; Entra's own limit is not published.
pub const MAX_TOKEN_REQUEST_BODY: usize = 64 * 1024;

type Body = Full<Bytes>;

fn json_response(status: StatusCode, value: &impl serde::Serialize, trace_id: &str) -> Response<Body> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(trace_id) {
        h.insert("x-ms-request-id", v);
    }
    h.insert("x-ms-ests-server", HeaderValue::from_static("2.1.mock-server"));
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000; includeSubDomains"),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r
}

/// Entra's token responses are never cached.
fn no_store(mut r: Response<Body>) -> Response<Body> {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-cache"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(header::EXPIRES, HeaderValue::from_static("-1"));
    h.insert("x-ms-clitelem", HeaderValue::from_static("1,0,0,,"));
    r
}

/// Discovery documents are cacheable for a day, as Entra's are.
fn cacheable(mut r: Response<Body>) -> Response<Body> {
    let h = r.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=86400, private"),
    );
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, OPTIONS"),
    );
    r
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// `https://host:port` as the client addressed us (Host or :authority), so documents
/// point back at the name the client used; our own address otherwise.
fn base_url<B>(req: &Request<B>, fallback: &str) -> String {
    let host = req.uri().authority().map(|a| a.as_str().to_string()).or_else(|| {
        req.headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
    });
    match host {
        Some(h) if !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)) => {
            format!("https://{}", h.to_ascii_lowercase())
        }
        _ => fallback.to_string(),
    }
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub async fn handle(
    req: Request<hyper::body::Incoming>,
    shared: Arc<Shared>,
    peer: SocketAddr,
) -> Result<Response<Body>, Infallible> {
    Ok(route(req, &shared, peer).await)
}

async fn route(req: Request<hyper::body::Incoming>, shared: &Shared, peer: SocketAddr) -> Response<Body> {
    let path = req.uri().path().to_string();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    let method = req.method().clone();
    let base = base_url(&req, &shared.https_url);

    match (lower.as_slice(), &method) {
        ([_, "oauth2", "v2.0", "token"], &Method::POST) => {
            token(req, shared, peer, EndpointVersion::V2, segments[0]).await
        }
        ([_, "oauth2", "token"], &Method::POST) => token(req, shared, peer, EndpointVersion::V1, segments[0]).await,
        ([_, "oauth2", "v2.0", "token"] | [_, "oauth2", "token"], m) if m != Method::OPTIONS => {
            let e = AadError::get_on_post_endpoint(m.as_str());
            error_response(shared, &e, &req, peer, &path, String::new(), None, None)
        }
        ([_, "v2.0", ".well-known", "openid-configuration"], &Method::GET) => {
            discovery_doc(shared, segments[0], &base, true)
        }
        ([_, ".well-known", "openid-configuration"], &Method::GET) => discovery_doc(shared, segments[0], &base, false),
        ([_, "discovery", "v2.0", "keys"], &Method::GET) => jwks(shared, segments[0], true),
        ([_, "discovery", "keys"], &Method::GET) => jwks(shared, segments[0], false),
        (["common", "discovery", "instance"], &Method::GET) => {
            let endpoint = query_param(req.uri().query(), "authorization_endpoint");
            let trace = uuid::Uuid::new_v4().to_string();
            match discovery::instance_discovery(&base, &shared.authorities, endpoint.as_deref()) {
                Some(doc) => cacheable(json_response(StatusCode::OK, &doc, &trace)),
                None => {
                    let body = serde_json::json!({
                        "error": "invalid_instance",
                        "error_description": format!("AADSTS50049: Unknown or invalid instance.\r\nTrace ID: {trace}\r\nCorrelation ID: {trace}\r\nTimestamp: {}", shared.clock.now().format(super::errors::TIMESTAMP_FORMAT).unwrap_or_default()),
                        "error_codes": [50049],
                        "error_uri": "https://login.microsoftonline.com/error?code=50049",
                    });
                    json_response(StatusCode::BAD_REQUEST, &body, &trace)
                }
            }
        }
        (["common", "userrealm", _], &Method::GET) => {
            let upn = segments[2];
            let directory = shared.directory();
            let domain = upn.rsplit_once('@').map(|(_, d)| d).unwrap_or(upn);
            let doc = discovery::user_realm(upn, directory.tenant(domain));
            json_response(StatusCode::OK, &doc, &uuid::Uuid::new_v4().to_string())
        }
        _ => plain(StatusCode::NOT_FOUND, "Not Found"),
    }
}

fn discovery_doc(shared: &Shared, segment: &str, base: &str, v2: bool) -> Response<Body> {
    let trace = uuid::Uuid::new_v4().to_string();
    let directory = shared.directory();
    let tenant_path = match directory.resolve_segment(segment) {
        crate::directory::TenantSegment::Tenant(t) => t.id.clone(),
        crate::directory::TenantSegment::MultiTenant(m) => m.as_str().to_string(),
        crate::directory::TenantSegment::Unknown => {
            let e = AadError::discovery_tenant_not_found(segment);
            return json_response(
                StatusCode::BAD_REQUEST,
                &e.body(&trace, &trace, shared.clock.now(), shared.identity.layout),
                &trace,
            );
        }
        crate::directory::TenantSegment::Invalid => {
            let e = AadError::invalid_tenant_identifier(segment);
            return json_response(
                StatusCode::BAD_REQUEST,
                &e.body(&trace, &trace, shared.clock.now(), shared.identity.layout),
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

fn jwks(shared: &Shared, segment: &str, v2: bool) -> Response<Body> {
    let trace = uuid::Uuid::new_v4().to_string();
    let directory = shared.directory();
    let issuer = match directory.resolve_segment(segment) {
        crate::directory::TenantSegment::Tenant(t) => format!("https://login.microsoftonline.com/{}/v2.0", t.id),
        crate::directory::TenantSegment::MultiTenant(_) => "https://login.microsoftonline.com/{tenantid}/v2.0".into(),
        _ => {
            let e = AadError::discovery_tenant_not_found(segment);
            return json_response(
                StatusCode::BAD_REQUEST,
                &e.body(&trace, &trace, shared.clock.now(), shared.identity.layout),
                &trace,
            );
        }
    };
    let doc = shared.authority.jwks(v2.then_some(issuer.as_str()));
    cacheable(json_response(StatusCode::OK, &doc, &trace))
}

async fn token(
    req: Request<hyper::body::Incoming>,
    shared: &Shared,
    peer: SocketAddr,
    version: EndpointVersion,
    segment: &str,
) -> Response<Body> {
    let segment = segment.to_string();
    let path = req.uri().path().to_string();
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (parts, body) = req.into_parts();
    let bytes = match Limited::new(body, MAX_TOKEN_REQUEST_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                plain(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large")
            } else {
                plain(StatusCode::BAD_REQUEST, "Bad Request")
            };
        }
    };
    let request = TokenRequest::parse(&bytes, authorization.as_deref());
    let head = Request::from_parts(parts, ());
    let now = shared.clock.now();
    let outcome = {
        let directory = shared.directory();
        issue::issue(
            &directory,
            &shared.authority,
            version,
            &segment,
            &request,
            now,
            &shared.identity,
        )
    };
    let client_id = request
        .get("client_id")
        .map(str::to_string)
        .or_else(|| request.basic.as_ref().map(|(id, _)| id.clone()));
    match outcome {
        Ok(issued) => {
            let trace = uuid::Uuid::new_v4().to_string();
            tracing::info!(
                tenant = %issued.tenant_id, app = %issued.app_id, aud = %issued.audience,
                roles = ?issued.roles, "token issued"
            );
            shared.journal.record(JournalEntry {
                seq: 0,
                at: now,
                protocol: "https",
                peer: Some(peer.to_string()),
                request: format!("POST {path}"),
                summary: request.summary(),
                outcome: Outcome::Issued,
                status: 200,
                tenant: Some(issued.tenant_id.clone()),
                client_id,
                error_code: None,
                error: None,
                reason: Some(format!("authenticated with {}", issued.credential)),
                fix: None,
                details: serde_json::json!({
                    "aud": issued.audience,
                    "roles": issued.roles,
                    "appidacr": issued.appidacr,
                    "exp": issued.expires.unix_timestamp(),
                }),
            });
            no_store(json_response(StatusCode::OK, &issued.body, &trace))
        }
        Err(e) => {
            let tenant = shared.directory().tenant(&segment).map(|t| t.id.clone());
            error_response(shared, &e, &head, peer, &path, request.summary(), tenant, client_id)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn error_response<B>(
    shared: &Shared,
    e: &AadError,
    req: &Request<B>,
    peer: SocketAddr,
    path: &str,
    summary: String,
    tenant: Option<String>,
    client_id: Option<String>,
) -> Response<Body> {
    let trace = uuid::Uuid::new_v4().to_string();
    // msal sends client-request-id as a header (and msal-node also as a query field);
    // Entra answers with it as correlation_id.
    let correlation = req
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| query_param(req.uri().query(), "client-request-id"))
        .filter(|c| crate::directory::is_guid(c))
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let now = shared.clock.now();
    tracing::info!(code = e.code, error = e.error, reason = %e.reason, "token refused");
    shared.journal.record(JournalEntry {
        seq: 0,
        at: now,
        protocol: "https",
        peer: Some(peer.to_string()),
        request: format!("{} {path}", req.method()),
        summary,
        outcome: Outcome::Refused,
        status: e.status,
        tenant,
        client_id,
        error_code: Some(e.code),
        error: Some(e.error.to_string()),
        reason: Some(e.reason.clone()),
        fix: e.fix.clone(),
        details: serde_json::Value::Null,
    });
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    no_store(json_response(
        status,
        &e.body(&trace, &correlation, now, shared.identity.layout),
        &trace,
    ))
}
