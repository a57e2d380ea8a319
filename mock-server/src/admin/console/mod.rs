//! The web console: the journal live, the tenant, the mail, the faults and the clock, in
//! a browser, at `/_mock/console/` on the identity platform's HTTPS port.
//!
//! It is the admin API with pages: the same gate (on unless `--no-admin`, loopback peers
//! only, the admin token when one is set) and every change goes through the same verbs
//! as the CLI ([`super::http::call`]), so the console can do nothing the API cannot.
//! Pages are rendered on the server and escaped there; the one script (live journal)
//! only inserts rows the server rendered. Assets are compiled into the binary.
//!
//! A browser cannot send `Authorization: Bearer`, so the token is accepted once (login
//! form, or `?token=` in a link) and kept in an HttpOnly, `SameSite=Strict` cookie that
//! holds a digest of the token, not the token.

mod events;
mod faults;
mod html;
mod journal;
mod mail;
mod multipart;
mod tenant;

use super::http::{authorized, call, MAX_ADMIN_BODY};
use super::{Admin, AdminAccess};
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;

pub use events::Streams;

/// Where the console lives; under `/_mock/` so it can never collide with an Entra path.
pub const PREFIX: &str = "/_mock/console/";
/// The cookie that carries the digest of the admin token.
pub const COOKIE: &str = "mock_console";
/// Largest form: a delivered message (Exchange Online's 35 MB maximum) in a
/// multipart upload; the same bound as the admin API's JSON body.
pub const MAX_FORM_BODY: usize = MAX_ADMIN_BODY;

/// A console response body: whole pages, or the journal's event stream.
pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>;

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

/// Is `path` the console's (so the HTTPS front sends it here)?
pub fn serves(path: &str) -> bool {
    path.starts_with(PREFIX) || path == PREFIX.trim_end_matches('/')
}

/// The query string (or form) as name → value; the last value of a repeated name wins.
pub(crate) type Query = HashMap<String, String>;

fn parse_query(bytes: &[u8]) -> Query {
    form_urlencoded::parse(bytes).into_owned().collect()
}

fn whole(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).boxed_unsync()
}

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(whole(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Everything the pages load is their own; nothing may frame them.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    r
}

fn page(status: StatusCode, html: String) -> Response<Body> {
    respond(status, "text/html; charset=utf-8", html)
}

fn redirect(to: &str) -> Response<Body> {
    let mut r = respond(StatusCode::SEE_OTHER, "text/plain; charset=utf-8", "See Other");
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// `back` as given by a form, if it is a console page (never an open redirect).
fn console_path(back: Option<&String>) -> String {
    match back {
        Some(b) if b.starts_with(PREFIX) && !b.contains("//") && !b.contains('\\') => b.clone(),
        _ => PREFIX.to_string(),
    }
}

/// `path?query` with `name=value` appended (the flash line after a change).
fn with_param(path: &str, name: &str, value: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    let v: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
    format!("{path}{sep}{name}={v}")
}

/// The cookie value for a token: a SHA-256 digest, so the cookie is not the token.
fn cookie_value(token: &str) -> String {
    let d = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("mock-server console\0{token}").as_bytes(),
    );
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn token_matches(access: &AdminAccess, given: &str) -> bool {
    access.token.as_ref().is_some_and(|t| {
        aws_lc_rs::constant_time::verify_slices_are_equal(given.as_bytes(), t.expose().as_bytes()).is_ok()
    })
}

fn cookie_ok(access: &AdminAccess, req: &Request<hyper::body::Incoming>) -> bool {
    let Some(token) = &access.token else {
        return true;
    };
    let want = cookie_value(token.expose());
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix(COOKIE).and_then(|c| c.strip_prefix('=')))
        .any(|given| aws_lc_rs::constant_time::verify_slices_are_equal(given.as_bytes(), want.as_bytes()).is_ok())
}

fn set_cookie(r: &mut Response<Body>, token: &str) {
    let cookie = format!(
        "{COOKIE}={}; Path={PREFIX}; HttpOnly; Secure; SameSite=Strict",
        cookie_value(token)
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
}

/// A change must come from the console's own pages: browsers send `Origin` (and
/// `Sec-Fetch-Site`) with a form POST, so another site's page cannot drive the console
/// of a server that has no admin token. Clients that send neither are not browsers.
fn same_origin(req: &Request<hyper::body::Incoming>) -> bool {
    let h = req.headers();
    // Browsers that send Sec-Fetch-Site say it outright; `Origin` can be `null` for
    // reasons of privacy, so it is only the fallback.
    if let Some(site) = h.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return site == "same-origin" || site == "none";
    }
    match h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(origin) => {
            let host = h
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .or_else(|| req.uri().authority().map(|a| a.as_str()))
                .unwrap_or("");
            origin == format!("https://{host}")
        }
    }
}

/// Answer a request under [`PREFIX`]; `None` when the admin API (and so the console) is off.
pub async fn handle(
    req: Request<hyper::body::Incoming>,
    admin: &Admin,
    access: &AdminAccess,
    peer: SocketAddr,
) -> Option<Response<Body>> {
    if !access.enabled {
        return None;
    }
    if !peer.ip().is_loopback() {
        return Some(page(
            StatusCode::FORBIDDEN,
            html::message_page("Forbidden", "The console answers loopback clients only."),
        ));
    }
    let path = req.uri().path().to_string();
    let query = parse_query(req.uri().query().unwrap_or("").as_bytes());
    let sub = path.strip_prefix(PREFIX).unwrap_or("");
    if path == PREFIX.trim_end_matches('/') {
        return Some(redirect(PREFIX));
    }
    match (req.method(), sub) {
        (&Method::GET, "assets/console.css") => return Some(respond(StatusCode::OK, "text/css; charset=utf-8", CSS)),
        (&Method::GET, "assets/console.js") => {
            return Some(respond(StatusCode::OK, "text/javascript; charset=utf-8", JS))
        }
        (_, "login") => return Some(login(req, access, query).await),
        _ => {}
    }
    // A link with ?token=… signs the browser in once; the token leaves the address bar.
    if let Some(given) = query.get("token") {
        if token_matches(access, given) {
            let mut rest = query.clone();
            rest.remove("token");
            let mut to = path.clone();
            if !rest.is_empty() {
                let q: String = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(rest.iter())
                    .finish();
                to = format!("{to}?{q}");
            }
            let mut r = redirect(&to);
            set_cookie(&mut r, given);
            return Some(r);
        }
    }
    if !(authorized(access, &req) || cookie_ok(access, &req)) {
        if req.method() == Method::GET {
            let next = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or(PREFIX);
            return Some(redirect(&with_param(&format!("{PREFIX}login"), "next", next)));
        }
        return Some(page(
            StatusCode::UNAUTHORIZED,
            html::message_page("Sign in", "The console needs the server's admin token."),
        ));
    }
    Some(match (req.method().clone(), sub) {
        (Method::GET, "") => page(StatusCode::OK, journal::page(admin, &query)),
        (Method::GET, "events") => events::stream(admin, &req, &query),
        (Method::GET, "tenant") => page(StatusCode::OK, tenant::page(admin, &query)),
        (Method::GET, "mail") => mail::page(admin, &query),
        (Method::GET, "faults") => page(StatusCode::OK, faults::page(admin, &query)),
        (Method::POST, "do") => act(req, admin).await,
        (Method::GET | Method::POST, _) => page(
            StatusCode::NOT_FOUND,
            html::message_page("Not found", "The console has no such page."),
        ),
        _ => page(
            StatusCode::METHOD_NOT_ALLOWED,
            html::message_page("Method not allowed", "Pages are read with GET and changed with POST."),
        ),
    })
}

/// The sign-in form (GET) and its answer (POST): a right token sets the cookie.
async fn login(req: Request<hyper::body::Incoming>, access: &AdminAccess, query: Query) -> Response<Body> {
    let next = console_path(query.get("next"));
    if access.token.is_none() {
        return redirect(&next);
    }
    if req.method() != Method::POST {
        return page(StatusCode::OK, html::login_page(&next, None));
    }
    if !same_origin(&req) {
        return page(
            StatusCode::FORBIDDEN,
            html::message_page("Forbidden", "The form must come from the console itself."),
        );
    }
    let form = match Limited::new(req.into_body(), 64 * 1024).collect().await {
        Ok(b) => parse_query(&b.to_bytes()),
        Err(_) => Query::new(),
    };
    let next = console_path(form.get("next").or(Some(&next)));
    match form.get("token") {
        Some(t) if token_matches(access, t) => {
            let mut r = redirect(&next);
            set_cookie(&mut r, t);
            r
        }
        _ => page(
            StatusCode::UNAUTHORIZED,
            html::login_page(&next, Some("That is not the server's admin token.")),
        ),
    }
}

/// The fault fields that are numbers in a fault's JSON form.
const FAULT_NUMBERS: &[&str] = &["code", "retry_after", "status", "millis", "bytes", "times", "expect"];

/// Fields a form carries for the console itself, not for the verb.
const FORM_FIELDS: &[&str] = &["verb", "back"];

/// `POST /_mock/console/do`: run the form's verb through the admin API's dispatcher, then
/// back to the page with a line saying what happened.
async fn act(req: Request<hyper::body::Incoming>, admin: &Admin) -> Response<Body> {
    if !same_origin(&req) {
        return page(
            StatusCode::FORBIDDEN,
            html::message_page("Forbidden", "The form must come from the console itself."),
        );
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = match Limited::new(req.into_body(), MAX_FORM_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return page(
                StatusCode::PAYLOAD_TOO_LARGE,
                html::message_page(
                    "Too large",
                    &format!("The form is unreadable or larger than {MAX_FORM_BODY} bytes."),
                ),
            )
        }
    };
    let fields: Vec<(String, Vec<u8>)> = match multipart::boundary(&content_type) {
        Some(boundary) => match multipart::parse(&bytes, &boundary) {
            Ok(f) => f,
            Err(e) => return page(StatusCode::BAD_REQUEST, html::message_page("Bad form", &e)),
        },
        None => form_urlencoded::parse(&bytes)
            .map(|(k, v)| (k.into_owned(), v.into_owned().into_bytes()))
            .collect(),
    };
    let verb = fields
        .iter()
        .find(|(n, _)| n == "verb")
        .map(|(_, v)| String::from_utf8_lossy(v).trim().to_string())
        .unwrap_or_default();
    let mut back = None;
    let mut params = Map::new();
    for (name, value) in fields {
        match name.as_str() {
            "verb" => {}
            "back" => back = Some(String::from_utf8_lossy(&value).into_owned()),
            // An uploaded message travels as base64 so any bytes survive the JSON.
            "eml_file" if !value.is_empty() => {
                use base64::Engine;
                params.insert(
                    "eml_base64".into(),
                    Value::String(base64::engine::general_purpose::STANDARD.encode(&value)),
                );
            }
            "eml_file" => {}
            // Blank optional fields are left out, as on the command line.
            _ if value.iter().all(u8::is_ascii_whitespace) => {}
            _ if FORM_FIELDS.contains(&name.as_str()) => {}
            _ => {
                let text = String::from_utf8_lossy(&value).trim().to_string();
                // A fault's counts and codes are JSON numbers (the verb passes the fields
                // on whole); every other verb reads numbers from strings.
                let number = (verb == "add-fault" && FAULT_NUMBERS.contains(&name.as_str()))
                    .then(|| text.parse::<u64>().ok())
                    .flatten();
                params.insert(name, number.map(Value::from).unwrap_or(Value::String(text)));
            }
        }
    }
    let back = console_path(back.as_ref());
    match call(admin, &verb, Value::Object(params)) {
        // A new secret's value is shown once, as the admin center does, never in a URL.
        Ok(v) if verb == "add-app-secret" => page(StatusCode::OK, html::secret_page(&v, &back)),
        Ok(v) => {
            let mut said = format!("{verb}: done");
            if v.get("ok").is_none() {
                let json = serde_json::to_string(&v).unwrap_or_default();
                said = format!("{said}: {}", html::truncate(&json, 300));
            }
            redirect(&with_param(&back, "flash", &said))
        }
        Err(e) => redirect(&with_param(&back, "error", &format!("{verb}: {}", e.message))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_never_leaves_the_console() {
        assert_eq!(console_path(Some(&"https://evil.example/".into())), PREFIX);
        assert_eq!(console_path(Some(&"/_mock/console//evil.example".into())), PREFIX);
        assert_eq!(
            console_path(Some(&"/_mock/console/tenant".into())),
            "/_mock/console/tenant"
        );
    }

    #[test]
    fn the_cookie_is_a_digest_not_the_token() {
        let v = cookie_value("s3cret");
        assert_eq!(v.len(), 64);
        assert!(!v.contains("s3cret"));
        assert_ne!(v, cookie_value("other"));
    }
}
