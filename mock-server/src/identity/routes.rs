//! HTTP routing of the identity platform: the only module here that knows hyper.

use super::delegated::{self, AuthorizeError, Ctx};
use super::discovery;
use super::errors::AadError;
use super::pages;
use super::request::{EndpointVersion, TokenRequest};
use super::IdentityState;
use crate::journal::{JournalEntry, Outcome, Protocol};
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use std::net::SocketAddr;

/// Largest token-request body accepted. A client assertion with a three-certificate
/// `x5c` chain is under 8 KiB; Entra's own limit is not published.
pub const MAX_TOKEN_REQUEST_BODY: usize = 64 * 1024;

pub type Body = Full<Bytes>;

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
            token(req, shared, peer, EndpointVersion::V2, segments[0]).await
        }
        ([_, "oauth2", "token"], &Method::POST) => token(req, shared, peer, EndpointVersion::V1, segments[0]).await,
        ([_, "oauth2", "v2.0", "devicecode"], &Method::POST) => {
            device_code(req, shared, peer, EndpointVersion::V2, segments[0], &base).await
        }
        ([_, "oauth2", "devicecode"], &Method::POST) => {
            device_code(req, shared, peer, EndpointVersion::V1, segments[0], &base).await
        }
        ([_, "oauth2", "v2.0", "authorize"], &Method::GET | &Method::POST) => {
            authorize(req, shared, peer, segments[0], &base).await
        }
        (["devicelogin"], &Method::GET) => html(StatusCode::OK, pages::enter_code(None)),
        (["devicelogin"], &Method::POST) => device_login(req, shared, peer).await,
        (["_mock", "clock", "advance"], &Method::POST) if shared.config.test_controls && peer.ip().is_loopback() => {
            advance_clock(req, shared).await
        }
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
                        "error_description": format!("AADSTS50049: Unknown or invalid instance.\r\nTrace ID: {trace}\r\nCorrelation ID: {trace}\r\nTimestamp: {}", shared.core.clock.now().format(super::errors::TIMESTAMP_FORMAT).unwrap_or_default()),
                        "error_codes": [50049],
                        "error_uri": "https://login.microsoftonline.com/error?code=50049",
                    });
                    json_response(StatusCode::BAD_REQUEST, &body, &trace)
                }
            }
        }
        (["common", "userrealm", _], &Method::GET) => {
            let upn = segments[2];
            let directory = shared.core.directory();
            let domain = upn.rsplit_once('@').map(|(_, d)| d).unwrap_or(upn);
            let doc = discovery::user_realm(upn, directory.tenant(domain));
            json_response(StatusCode::OK, &doc, &uuid::Uuid::new_v4().to_string())
        }
        _ => plain(StatusCode::NOT_FOUND, "Not Found"),
    }
}

fn discovery_doc(shared: &IdentityState, segment: &str, base: &str, v2: bool) -> Response<Body> {
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

fn jwks(shared: &IdentityState, segment: &str, v2: bool) -> Response<Body> {
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

async fn token(
    req: Request<hyper::body::Incoming>,
    shared: &IdentityState,
    peer: SocketAddr,
    version: EndpointVersion,
    segment: &str,
) -> Response<Body> {
    let segment = segment.to_string();
    let path = req.uri().path().to_string();
    let base = base_url(&req, &shared.https_url);
    let (head, request) = match read_form(req, shared).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Some(r) = token_fault(shared, &request, &head, peer, &path, &segment).await {
        return r;
    }
    let now = shared.core.clock.now();
    let outcome = with_ctx(shared, now, &base, |ctx| {
        delegated::token(ctx, version, &segment, &request)
    });
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

#[allow(clippy::too_many_arguments)]
fn error_response<B>(
    shared: &IdentityState,
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
    let now = shared.core.clock.now();
    tracing::info!(code = e.code, error = e.error, reason = %e.reason, "token refused");
    record(
        shared,
        peer,
        format!("{} {path}", req.method()),
        summary,
        Outcome::Refused,
        e.status,
        tenant,
        client_id,
        Some(e),
        String::new(),
        serde_json::Value::Null,
    );
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    no_store(json_response(
        status,
        &e.body(&trace, &correlation, now, shared.config.layout),
        &trace,
    ))
}

fn html(status: StatusCode, page: String) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(page)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-cache"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Sign-in pages must not be framed (clickjacking), as Entra's are not.
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

/// The delegated-grant context over the directory and signing key as they are now. The
/// locks are held only for `f`, which never awaits.
fn with_ctx<R>(shared: &IdentityState, now: time::OffsetDateTime, base: &str, f: impl FnOnce(&Ctx<'_>) -> R) -> R {
    let directory = shared.core.directory();
    let authority = shared.core.authority();
    f(&Ctx {
        directory: &directory,
        authority: &authority,
        config: &shared.config,
        state: &shared.delegated,
        now,
        base,
    })
}

/// Read a form POST (token endpoint, device code, sign-in pages), bounded by the configured
/// request-body limit; `Err` is the response to send instead.
async fn read_form(
    req: Request<hyper::body::Incoming>,
    shared: &IdentityState,
) -> Result<(Request<()>, TokenRequest), Response<Body>> {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (parts, body) = req.into_parts();
    let bytes = match Limited::new(body, shared.config.max_request_body).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return Err(if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                plain(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large")
            } else {
                plain(StatusCode::BAD_REQUEST, "Bad Request")
            });
        }
    };
    Ok((
        Request::from_parts(parts, ()),
        TokenRequest::parse(&bytes, authorization.as_deref()),
    ))
}

/// A journal line for the token endpoint, the pages and the device code endpoint; an
/// `error` supplies the code, reason and fix.
#[allow(clippy::too_many_arguments)]
fn record(
    shared: &IdentityState,
    peer: SocketAddr,
    request: String,
    summary: String,
    outcome: Outcome,
    status: u16,
    tenant: Option<String>,
    client_id: Option<String>,
    error: Option<&AadError>,
    reason: String,
    details: serde_json::Value,
) {
    shared.core.journal.record(JournalEntry {
        peer: Some(peer.to_string()),
        summary,
        status,
        tenant,
        client_id,
        error_code: error.map(|e| e.code),
        error: error.map(|e| e.error.to_string()),
        reason: Some(error.map(|e| e.reason.clone()).unwrap_or(reason)),
        fix: error.and_then(|e| e.fix.clone()),
        details,
        ..JournalEntry::new(Protocol::Https, shared.core.clock.now(), request, outcome)
    });
}

async fn device_code(
    req: Request<hyper::body::Incoming>,
    shared: &IdentityState,
    peer: SocketAddr,
    version: EndpointVersion,
    segment: &str,
    base: &str,
) -> Response<Body> {
    let path = req.uri().path().to_string();
    let (head, form) = match read_form(req, shared).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let now = shared.core.clock.now();
    let outcome = with_ctx(shared, now, base, |ctx| {
        delegated::start_device_flow(ctx, version, segment, &form)
    });
    let client_id = form.get("client_id").map(str::to_string);
    match outcome {
        Ok(body) => {
            let trace = uuid::Uuid::new_v4().to_string();
            let tenant = shared.core.directory().tenant(segment).map(|t| t.id.clone());
            record(
                shared,
                peer,
                format!("POST {path}"),
                form.summary(),
                Outcome::Issued,
                200,
                tenant,
                client_id,
                None,
                "device code issued; waiting for the user on /devicelogin".into(),
                serde_json::json!({ "verification_uri": body.get("verification_uri").or(body.get("verification_url")) }),
            );
            no_store(json_response(StatusCode::OK, &body, &trace))
        }
        Err(e) => {
            let tenant = shared.core.directory().tenant(segment).map(|t| t.id.clone());
            error_response(shared, &e, &head, peer, &path, form.summary(), tenant, client_id)
        }
    }
}

/// The device code verification page: code first, then user name, password, consent.
async fn device_login(req: Request<hyper::body::Incoming>, shared: &IdentityState, peer: SocketAddr) -> Response<Body> {
    let (_, form) = match read_form(req, shared).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let now = shared.core.clock.now();
    let otc = form.get("otc").unwrap_or("").trim().to_string();
    let Some((client_id, tenant_id)) = shared.delegated.device_code_info(&otc, now) else {
        record(
            shared,
            peer,
            "POST /devicelogin".into(),
            form.summary(),
            Outcome::Refused,
            200,
            None,
            None,
            None,
            "the code typed on /devicelogin matches no pending, unexpired device flow".into(),
            serde_json::Value::Null,
        );
        return html(
            StatusCode::OK,
            pages::enter_code(Some("That code didn't work. Check the code and try again.")),
        );
    };
    let (app_name, permissions) = {
        let directory = shared.core.directory();
        let app = directory
            .tenant_by_id(&tenant_id)
            .and_then(|t| t.application(&client_id));
        (
            app.map(|a| a.display_name.clone()).unwrap_or_default(),
            app.map(|a| {
                a.permissions
                    .iter()
                    .filter(|p| p.kind == crate::directory::PermissionKind::Delegated)
                    .map(|p| p.value.clone())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default(),
        )
    };
    let fields = vec![("otc".to_string(), otc.clone())];
    let Some(login) = form.get("login") else {
        return html(
            StatusCode::OK,
            pages::sign_in("/devicelogin", &fields, &app_name, &permissions, None, None),
        );
    };
    let journal = |outcome, err: Option<&AadError>, reason: String| {
        record(
            shared,
            peer,
            "POST /devicelogin".into(),
            form.summary(),
            outcome,
            200,
            Some(tenant_id.clone()),
            Some(client_id.clone()),
            err,
            reason,
            serde_json::Value::Null,
        )
    };
    if form.get("action") == Some("cancel") {
        let _ = shared.delegated.decide_device_code(&otc, None, now);
        journal(Outcome::Refused, None, format!("{login} declined the device sign-in"));
        return html(StatusCode::OK, pages::device_declined(&app_name));
    }
    let signed_in = {
        let directory = shared.core.directory();
        match directory.tenant_by_id(&tenant_id) {
            Some(tenant) => {
                delegated::check_password(&shared.delegated, tenant, login, form.get("passwd").unwrap_or(""), now).map(
                    |u| delegated::SignedIn {
                        tenant_id: tenant.id.clone(),
                        oid: u.object_id.clone(),
                        upn: u.upn.clone(),
                        auth_time: now,
                    },
                )
            }
            None => Err(AadError::tenant_not_found(&tenant_id)),
        }
    };
    match signed_in {
        Ok(user) => {
            let upn = user.upn.clone();
            match shared.delegated.decide_device_code(&otc, Some(user), now) {
                Ok(()) => {
                    journal(Outcome::Issued, None, format!("{upn} approved the device sign-in"));
                    html(StatusCode::OK, pages::device_signed_in(&app_name))
                }
                Err(why) => {
                    journal(Outcome::Refused, None, why.clone());
                    html(StatusCode::OK, pages::enter_code(Some(&why)))
                }
            }
        }
        Err(e) => {
            journal(Outcome::Refused, Some(&e), String::new());
            html(
                StatusCode::OK,
                pages::sign_in(
                    "/devicelogin",
                    &fields,
                    &app_name,
                    &permissions,
                    Some(login),
                    Some(&page_text(&e)),
                ),
            )
        }
    }
}

/// What the sign-in page says for a refusal: Microsoft's own words for the common cases.
fn page_text(e: &AadError) -> String {
    match e.code {
        50126 => "Your account or password is incorrect. If you don't remember your password, reset it now.".into(),
        50034 => "This username may be incorrect. Make sure you typed it correctly. Otherwise, contact your admin.".into(),
        50053 => "Your account is temporarily locked to prevent unauthorized use. Try again later, and if you still have trouble, contact your admin.".into(),
        _ => format!("AADSTS{}: {}", e.code, e.message),
    }
}

fn with_params(uri: &str, sep: char, params: &[(String, String)]) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        ser.append_pair(k, v);
    }
    let query = ser.finish();
    let joiner = if sep == '?' && uri.contains('?') { '&' } else { sep };
    format!("{uri}{joiner}{query}")
}

/// Send the authorization answer (code or error) to the client's redirect URI.
fn redirect_answer(ar_mode: &str, redirect_uri: &str, params: Vec<(String, String)>) -> Response<Body> {
    if ar_mode == "form_post" {
        return html(StatusCode::OK, pages::form_post(redirect_uri, &params));
    }
    let sep = if ar_mode == "fragment" { '#' } else { '?' };
    let location = with_params(redirect_uri, sep, &params);
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::FOUND;
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-cache"));
    r
}

fn error_params(shared: &IdentityState, e: &AadError, state: Option<&str>, error: &str) -> Vec<(String, String)> {
    let trace = uuid::Uuid::new_v4().to_string();
    let body = e.body(&trace, &trace, shared.core.clock.now(), shared.config.layout);
    let mut p = vec![
        ("error".to_string(), error.to_string()),
        ("error_description".to_string(), body.error_description),
        ("error_uri".to_string(), body.error_uri),
    ];
    if let Some(s) = state {
        p.push(("state".into(), s.to_string()));
    }
    p
}

/// `/{t}/oauth2/v2.0/authorize`: GET shows the sign-in page (or signs in unattended with
/// `prompt=none` and `login_hint`); POST is the page's form coming back.
async fn authorize(
    req: Request<hyper::body::Incoming>,
    shared: &IdentityState,
    peer: SocketAddr,
    segment: &str,
    base: &str,
) -> Response<Body> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let is_post = req.method() == Method::POST;
    let (_, posted) = match read_form(req, shared).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    // GET carries the request in the query; the page's POST carries it in the form.
    let params = if is_post {
        posted
    } else {
        TokenRequest::parse(query.as_bytes(), None)
    };
    let get = |k: &str| params.get(k).map(str::to_string);
    let now = shared.core.clock.now();
    let method = if is_post { "POST" } else { "GET" };
    let client_id = params.get("client_id").map(str::to_string);
    let directory = shared.core.directory();
    let authority = shared.core.authority();
    let ctx = Ctx {
        directory: &directory,
        authority: &authority,
        config: &shared.config,
        state: &shared.delegated,
        now,
        base,
    };
    let journal = |outcome, status, tenant: Option<String>, err: Option<&AadError>, reason: String| {
        record(
            shared,
            peer,
            format!("{method} {path}"),
            params.summary(),
            outcome,
            status,
            tenant,
            client_id.clone(),
            err,
            reason,
            serde_json::Value::Null,
        )
    };
    let hint = params.get("login").or(params.get("login_hint"));
    let ar = match delegated::check_authorize(&ctx, segment, hint, &get) {
        Ok(ar) => ar,
        Err(AuthorizeError::Page(e)) => {
            journal(Outcome::Refused, 400, None, Some(&e), String::new());
            let trace = uuid::Uuid::new_v4().to_string();
            let ts = now.format(super::errors::TIMESTAMP_FORMAT).unwrap_or_default();
            return html(
                StatusCode::BAD_REQUEST,
                pages::error(e.code, &e.message, &trace, &trace, &ts),
            );
        }
        Err(AuthorizeError::Redirect(e, redirect_uri)) => {
            journal(Outcome::Refused, 302, None, Some(&e), String::new());
            let mode = get("response_mode").unwrap_or_else(|| "query".into());
            let error = if e.code == 65001 { "consent_required" } else { e.error };
            return redirect_answer(
                &mode,
                &redirect_uri,
                error_params(shared, &e, get("state").as_deref(), error),
            );
        }
    };
    let tenant = Some(ar.tenant_id.clone());
    let fail = |e: AadError, error: &str| {
        journal(Outcome::Refused, 302, tenant.clone(), Some(&e), String::new());
        redirect_answer(
            &ar.response_mode,
            &ar.redirect_uri,
            error_params(shared, &e, ar.state.as_deref(), error),
        )
    };
    let success = |user: delegated::SignedIn, how: &str| -> Response<Body> {
        let upn = user.upn.clone();
        let info = delegated::client_info(&user.oid, &user.tenant_id);
        match delegated::issue_code(&ctx, &ar, user) {
            Ok(code) => {
                journal(
                    Outcome::Issued,
                    302,
                    tenant.clone(),
                    None,
                    format!("authorization code issued to {upn} ({how})"),
                );
                let mut p = vec![("code".to_string(), code)];
                if let Some(s) = &ar.state {
                    p.push(("state".into(), s.clone()));
                }
                p.push(("session_state".into(), uuid::Uuid::new_v4().to_string()));
                if ar.client_info {
                    p.push(("client_info".into(), info));
                }
                redirect_answer(&ar.response_mode, &ar.redirect_uri, p)
            }
            Err(e) => fail(e, "temporarily_unavailable"),
        }
    };
    let page = |error: Option<&str>, hint: Option<&str>| -> Response<Body> {
        let fields: Vec<(String, String)> = [
            "client_id",
            "response_type",
            "redirect_uri",
            "scope",
            "state",
            "nonce",
            "code_challenge",
            "code_challenge_method",
            "response_mode",
            "client_info",
            "login_hint",
        ]
        .iter()
        .filter_map(|k| get(k).map(|v| (k.to_string(), v)))
        .collect();
        let permissions: Vec<String> = ar
            .scope
            .split_whitespace()
            .map(|s| s.rsplit('/').next().unwrap_or(s).to_string())
            .collect();
        html(
            StatusCode::OK,
            pages::sign_in(&path, &fields, &ar.app_name, &permissions, hint, error),
        )
    };

    if is_post {
        if get("action").as_deref() == Some("cancel") {
            return fail(AadError::authorization_declined(), "access_denied");
        }
        let login = get("login").unwrap_or_default();
        let password = get("passwd").unwrap_or_default();
        return match delegated::sign_in_for(&ctx, &ar, &login, Some(&password)) {
            Ok(user) => success(user, "signed in on the page"),
            Err(e) => {
                journal(Outcome::Refused, 200, tenant.clone(), Some(&e), String::new());
                page(Some(&page_text(&e)), Some(&login))
            }
        };
    }
    let login_hint = get("login_hint");
    if get("prompt").as_deref() == Some("none") {
        let Some(hint) = login_hint else {
            return fail(
                AadError::invalid_request(
                    50058,
                    "A silent sign-in request was sent but no user is signed in.",
                    "prompt=none without login_hint: the mock has no browser session to reuse",
                )
                .with_fix("send login_hint=<upn> with prompt=none, or drop prompt=none to get the sign-in page"),
                "login_required",
            );
        };
        if delegated::user_needs_mfa(&ctx, &ar.tenant_id, &hint) {
            return fail(
                AadError::mfa_required(&hint, "00000002-0000-0ff1-ce00-000000000000"),
                "interaction_required",
            );
        }
        return match delegated::sign_in_for(&ctx, &ar, &hint, None) {
            Ok(user) => success(user, "prompt=none with login_hint"),
            Err(e) => fail(e, "login_required"),
        };
    }
    page(None, login_hint.as_deref())
}

/// Test-only: move the server's clock (`--test-controls`, loopback peers only).
async fn advance_clock(req: Request<hyper::body::Incoming>, shared: &IdentityState) -> Response<Body> {
    let (_, form) = match read_form(req, shared).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(seconds) = form.get("seconds").and_then(|s| s.parse::<i64>().ok()) else {
        return plain(StatusCode::BAD_REQUEST, "form field seconds=<integer> required");
    };
    // Ten years either way is plenty for any test and keeps the arithmetic in range.
    if seconds.abs() > 10 * 366 * 86_400 {
        return plain(StatusCode::BAD_REQUEST, "seconds out of range");
    }
    shared.core.clock.advance(time::Duration::seconds(seconds));
    let now = shared
        .core
        .clock
        .now()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    tracing::info!(seconds, %now, "clock advanced through the test controls");
    json_response(
        StatusCode::OK,
        &serde_json::json!({ "now": now }),
        &uuid::Uuid::new_v4().to_string(),
    )
}
