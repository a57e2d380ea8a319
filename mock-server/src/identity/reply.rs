//! The identity platform's HTTP answers: Entra's headers on JSON and HTML, the error
//! body, reading a bounded form, and the journal line every endpoint writes.

use super::errors::AadError;
use super::grant::Ctx;
use super::request::TokenRequest;
use super::IdentityState;
use crate::journal::{JournalEntry, Outcome, Protocol};
use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use std::net::SocketAddr;

/// The body of every identity-platform response.
pub type Body = Full<Bytes>;

pub(super) fn json_response(status: StatusCode, value: &impl serde::Serialize, trace_id: &str) -> Response<Body> {
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
    // On every JSON answer of login.microsoftonline.com in the captures: P3P since 2021,
    // X-XSS-Protection 0 in the 2023 ones (azure-sdk-for-js recordings).
    h.insert("p3p", HeaderValue::from_static("CP=\"DSP CUR OTPi IND OTRi ONL FIN\""));
    h.insert("x-xss-protection", HeaderValue::from_static("0"));
    r
}

/// Entra's token responses are never cached.
pub(super) fn no_store(mut r: Response<Body>) -> Response<Body> {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-cache"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(header::EXPIRES, HeaderValue::from_static("-1"));
    h.insert("x-ms-clitelem", HeaderValue::from_static("1,0,0,,"));
    r
}

/// Discovery documents are cacheable for a day, as Entra's are.
pub(super) fn cacheable(mut r: Response<Body>) -> Response<Body> {
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

pub(super) fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

pub(super) fn html(status: StatusCode, page: String) -> Response<Body> {
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

/// `https://host:port` as the client addressed us (Host or :authority), so documents
/// point back at the name the client used; our own address otherwise.
pub(super) fn base_url<B>(req: &Request<B>, fallback: &str) -> String {
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

pub(super) fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[allow(clippy::too_many_arguments)]
pub(super) fn error_response<B>(
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
    // msal sends client-request-id as a header (and msal-node also as a query field), the
    // Azure SDKs x-ms-client-request-id; Entra answers with it as correlation_id (captured
    // for x-ms-client-request-id on discovery: fixtures/recordings/discovery/tenant-not-found).
    let correlation = ["client-request-id", "x-ms-client-request-id"]
        .iter()
        .find_map(|h| req.headers().get(*h).and_then(|v| v.to_str().ok()))
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

/// The delegated-grant context over the directory and signing key as they are now. The
/// locks are held only for `f`, which never awaits.
pub(super) fn with_ctx<R>(
    shared: &IdentityState,
    now: time::OffsetDateTime,
    base: &str,
    f: impl FnOnce(&Ctx<'_>) -> R,
) -> R {
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
pub(super) async fn read_form(
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
pub(super) fn record(
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

/// What the sign-in page says for a refusal: Microsoft's own words for the common cases.
pub(super) fn page_text(e: &AadError) -> String {
    match e.code {
        50126 => "Your account or password is incorrect. If you don't remember your password, reset it now.".into(),
        50034 => "This username may be incorrect. Make sure you typed it correctly. Otherwise, contact your admin.".into(),
        50053 => "Your account is temporarily locked to prevent unauthorized use. Try again later, and if you still have trouble, contact your admin.".into(),
        _ => format!("AADSTS{}: {}", e.code, e.message),
    }
}
