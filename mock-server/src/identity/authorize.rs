//! `/{tenant}/oauth2/v2.0/authorize`: the sign-in page of the authorization code flow,
//! and the redirect (query, fragment or form post) carrying the code or the error back
//! to the client.

use super::errors::AadError;
use super::grant::authorization_code::{self, AuthorizeError};
use super::grant::Ctx;
use super::pages;
use super::reply::{html, page_text, read_form, record, Body};
use super::request::TokenRequest;
use super::sign_in::SignedIn;
use super::IdentityState;
use crate::journal::Outcome;
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use std::net::SocketAddr;

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
pub(super) async fn authorize(
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
    let ar = match authorization_code::check_authorize(&ctx, segment, hint, &get) {
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
    let success = |user: SignedIn, how: &str| -> Response<Body> {
        let upn = user.upn.clone();
        let info = super::mint::client_info(&user.oid, &user.tenant_id);
        match authorization_code::issue_code(&ctx, &ar, user) {
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
        return match authorization_code::sign_in_for(&ctx, &ar, &login, Some(&password)) {
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
        if authorization_code::user_needs_mfa(&ctx, &ar.tenant_id, &hint) {
            return fail(
                AadError::mfa_required(&hint, "00000002-0000-0ff1-ce00-000000000000"),
                "interaction_required",
            );
        }
        return match authorization_code::sign_in_for(&ctx, &ar, &hint, None) {
            Ok(user) => success(user, "prompt=none with login_hint"),
            Err(e) => fail(e, "login_required"),
        };
    }
    page(None, login_hint.as_deref())
}
