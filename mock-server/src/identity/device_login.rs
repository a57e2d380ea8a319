//! The device code flow's HTTP side: `POST /{tenant}/oauth2[/v2.0]/devicecode` starts a
//! flow; `/devicelogin` is the verification page where the person enters the user code,
//! signs in, and approves or cancels.

use super::errors::AadError;
use super::grant::device_code;
use super::lookup::find_app;
use super::pages;
use super::reply::{error_response, html, json_response, no_store, page_text, read_form, record, with_ctx, Body};
use super::request::EndpointVersion;
use super::sign_in::{check_password, SignedIn};
use super::store::PendingDevice;
use super::IdentityState;
use crate::directory::{Directory, Tenant};
use crate::journal::Outcome;
use http::{Request, Response, StatusCode};
use std::net::SocketAddr;

/// `GET /devicelogin`: the page asking for the code.
pub(super) fn enter_code_page() -> Response<Body> {
    html(StatusCode::OK, pages::enter_code(None))
}

pub(super) async fn device_code(
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
        device_code::start(ctx, version, segment, &form)
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
pub(super) async fn device_login(
    req: Request<hyper::body::Incoming>,
    shared: &IdentityState,
    peer: SocketAddr,
) -> Response<Body> {
    let (_, form) = match read_form(req, shared).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let now = shared.core.clock.now();
    let otc = form.get("otc").unwrap_or("").trim().to_string();
    let Some(pending) = shared.delegated.device_code_info(&otc, now) else {
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
    let client_id = pending.client_id.clone();
    let (app_name, permissions) = {
        let directory = shared.core.directory();
        let app = directory
            .tenant_by_id(&pending.app_tenant_id)
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
            pending.tenant_id.clone(),
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
        sign_in_tenant(&directory, &pending, login).and_then(|tenant| {
            check_password(&shared.delegated, tenant, login, form.get("passwd").unwrap_or(""), now)
                .map(|u| SignedIn::new(tenant, u, now))
        })
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
                    let why = why.to_string();
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

/// The tenant the person signs in to: the flow's, or for a flow started on
/// `/organizations` or `/common` the tenant of the user name's domain, where the app must
/// be registered too (else Entra's AADSTS700016, shown on the page).
fn sign_in_tenant<'d>(directory: &'d Directory, pending: &PendingDevice, login: &str) -> Result<&'d Tenant, AadError> {
    if let Some(id) = &pending.tenant_id {
        return directory.tenant_by_id(id).ok_or_else(|| AadError::tenant_not_found(id));
    }
    let domain = login.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
    let tenant = directory
        .tenant(domain)
        .ok_or_else(|| AadError::unknown_user(login, if domain.is_empty() { "organizations" } else { domain }))?;
    find_app(directory, tenant, &pending.client_id)?;
    Ok(tenant)
}
