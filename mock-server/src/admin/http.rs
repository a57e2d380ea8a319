//! The admin HTTP API: `POST /_mock/admin/<verb>` with a JSON object of the verb's
//! parameters (or `GET /_mock/admin/<verb>?name=value` for the read-only `get-*` verbs).
//! Parameter names match case-insensitively and ignore `-` and `_`, so `access_rights`,
//! `access-rights` and PowerShell's `AccessRights` are the same parameter.
//!
//! Only loopback peers are answered, and when the server has an admin token, only
//! requests with `Authorization: Bearer <token>` (compared in constant time).

use super::{Admin, AdminAccess, AdminError};
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use serde_json::{json, Map, Value};
use std::net::SocketAddr;

/// The reserved path prefix. Entra has no path starting with `_`, so it cannot collide.
pub const PREFIX: &str = "/_mock/admin/";
/// Largest admin request: an .eml of Exchange Online's 35 MB maximum message size
/// (`crate::imap::MAX_LITERAL`), base64-encoded (× 4/3) in JSON, with room to spare.
pub const MAX_ADMIN_BODY: usize = 48 * 1024 * 1024;
/// Journal entries returned by one `get-journal` call; a follower pages with `after`.
pub const MAX_JOURNAL_PAGE: usize = 1000;

type Body = Full<Bytes>;

/// The areas' verbs and how to run them, in the order `mock-server admin --help` lists them.
const AREAS: &[(&[(&str, &str)], AreaCall)] = &[
    (super::exchange::VERBS, super::exchange::call),
    (super::entra::VERBS, super::entra::call),
    (super::mail::VERBS, super::mail::call),
    (super::keys::VERBS, super::keys::call),
    (super::clock::VERBS, super::clock::call),
    (super::faults::VERBS, super::faults::call),
    (super::journal::VERBS, super::journal::call),
    (super::transport::VERBS, super::transport::call),
];

/// One area's runner: `Ok(None)` when the verb is not that area's.
type AreaCall = fn(&Admin, &str, &mut Params) -> Result<Option<Value>, AdminError>;

/// Every verb with its usage line, for the error on an unknown one and for
/// `mock-server admin --help`.
pub fn verbs() -> impl Iterator<Item = (&'static str, &'static str)> {
    AREAS.iter().flat_map(|(verbs, _)| verbs.iter().copied())
}

/// The parameters of one call, consumed as the verb reads them; leftovers are errors.
pub(super) struct Params {
    verb: String,
    map: Map<String, Value>,
}

fn norm(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

impl Params {
    fn new(verb: &str, value: Value) -> Result<Self, AdminError> {
        let Value::Object(obj) = value else {
            return Err(AdminError::invalid("the body must be a JSON object of parameters"));
        };
        let map = obj.into_iter().map(|(k, v)| (norm(&k), v)).collect();
        Ok(Self {
            verb: verb.to_string(),
            map,
        })
    }

    pub(super) fn take(&mut self, name: &str) -> Option<Value> {
        self.map.remove(&norm(name)).filter(|v| !v.is_null())
    }

    pub(super) fn opt_str(&mut self, name: &str) -> Result<Option<String>, AdminError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(_) => Err(AdminError::invalid(format!("--{name}: expected a string"))),
        }
    }

    pub(super) fn str(&mut self, name: &str) -> Result<String, AdminError> {
        self.opt_str(name)?
            .ok_or_else(|| AdminError::invalid(format!("{}: --{name} is required", self.verb)))
    }

    pub(super) fn opt_bool(&mut self, name: &str) -> Result<Option<bool>, AdminError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(Value::String(s)) => match s.to_ascii_lowercase().trim_start_matches('$') {
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                _ => Err(AdminError::invalid(format!("--{name} {s}: expected true or false"))),
            },
            Some(_) => Err(AdminError::invalid(format!("--{name}: expected true or false"))),
        }
    }

    pub(super) fn opt_i64(&mut self, name: &str) -> Result<Option<i64>, AdminError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| AdminError::invalid(format!("--{name}: expected an integer"))),
            Some(Value::String(s)) => s
                .parse()
                .map(Some)
                .map_err(|_| AdminError::invalid(format!("--{name} {s}: expected an integer"))),
            Some(_) => Err(AdminError::invalid(format!("--{name}: expected an integer"))),
        }
    }

    pub(super) fn i64(&mut self, name: &str) -> Result<i64, AdminError> {
        self.opt_i64(name)?
            .ok_or_else(|| AdminError::invalid(format!("{}: --{name} is required", self.verb)))
    }

    pub(super) fn opt_time(&mut self, name: &str) -> Result<Option<time::OffsetDateTime>, AdminError> {
        self.opt_str(name)?
            .map(|s| {
                time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| AdminError::invalid(format!("--{name} {s}: expected an RFC 3339 time")))
            })
            .transpose()
    }

    /// A parameter as given, `null` included (for settings where `$null` is a value).
    pub(super) fn take_raw(&mut self, name: &str) -> Option<Value> {
        self.map.remove(&norm(name))
    }

    /// Return a parameter taken with [`Params::take_raw`], to be read as a typed value.
    pub(super) fn put_back(&mut self, name: &str, value: Value) {
        self.map.insert(norm(name), value);
    }

    /// Every parameter left, by normalised name (for verbs that pass them on whole).
    pub(super) fn take_all(&mut self) -> Map<String, Value> {
        std::mem::take(&mut self.map)
    }

    /// No parameter left unread: a misspelt one is an error, not silently ignored.
    /// Called before a verb acts, so a misspelt parameter changes nothing.
    pub(super) fn finish(&mut self) -> Result<(), AdminError> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(k) => Err(AdminError::invalid(format!(
                "{}: unknown parameter {k:?}; usage: {} {}",
                self.verb,
                self.verb,
                verbs().find(|(v, _)| *v == self.verb).map(|(_, u)| u).unwrap_or("")
            ))),
        }
    }
}

pub(super) fn to_value(v: impl serde::Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The answer of a verb that has nothing to return.
pub(super) fn done() -> Value {
    json!({ "ok": true })
}

/// Run one verb.
pub fn call(admin: &Admin, verb: &str, params: Value) -> Result<Value, AdminError> {
    let mut p = Params::new(verb, params)?;
    for (_, area) in AREAS {
        if let Some(out) = area(admin, verb, &mut p)? {
            return Ok(out);
        }
    }
    Err(AdminError::not_found(format!(
        "unknown verb {verb:?}; verbs: {}",
        verbs().map(|(v, _)| v).collect::<Vec<_>>().join(", ")
    )))
}

/// Map a normalised key back to the fault's field name.
pub(super) fn fault_field(normalised: &str) -> String {
    const FIELDS: &[&str] = &[
        "hook",
        "kind",
        "code",
        "retry_after",
        "plain",
        "status",
        "millis",
        "reply",
        "text",
        "bytes",
        "client_id",
        "grant_type",
        "scope",
        "user",
        "command",
        "times",
        "expect",
    ];
    FIELDS
        .iter()
        .find(|f| norm(f) == normalised)
        .map(|f| f.to_string())
        .unwrap_or_else(|| normalised.to_string())
}

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    let body = serde_json::to_vec_pretty(value).unwrap_or_default();
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn error(e: &AdminError) -> Response<Body> {
    let code = match e.status {
        404 => "not_found",
        409 => "conflict",
        401 => "unauthorized",
        403 => "forbidden",
        _ => "invalid_request",
    };
    json_response(
        StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
        &json!({ "error": code, "message": e.message }),
    )
}

pub(super) fn authorized(access: &AdminAccess, req: &Request<hyper::body::Incoming>) -> bool {
    let Some(token) = &access.token else {
        return true;
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    aws_lc_rs::constant_time::verify_slices_are_equal(given.as_bytes(), token.expose().as_bytes()).is_ok()
}

/// Answer a request under [`PREFIX`]; `None` when the admin API is off (the caller then
/// answers as for any unknown path).
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
        return Some(error(&AdminError {
            status: 403,
            message: "the admin API answers loopback clients only".into(),
        }));
    }
    if !authorized(access, &req) {
        return Some(error(&AdminError {
            status: 401,
            message: "the admin API needs Authorization: Bearer <the server's --admin-token>".into(),
        }));
    }
    let verb = req
        .uri()
        .path()
        .strip_prefix(PREFIX)
        .unwrap_or("")
        .trim_end_matches('/')
        .to_ascii_lowercase();
    let params = match *req.method() {
        Method::GET if verb.starts_with("get-") || verb == "sent-mail" => {
            let map: Map<String, Value> = form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect();
            Value::Object(map)
        }
        Method::POST => {
            let bytes = match Limited::new(req.into_body(), MAX_ADMIN_BODY).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => {
                    return Some(error(&AdminError::invalid(format!(
                        "the request body is unreadable or larger than {MAX_ADMIN_BODY} bytes"
                    ))))
                }
            };
            if bytes.iter().all(u8::is_ascii_whitespace) {
                Value::Object(Map::new())
            } else {
                match serde_json::from_slice(&bytes) {
                    Ok(v) => v,
                    Err(e) => return Some(error(&AdminError::invalid(format!("the body is not JSON: {e}")))),
                }
            }
        }
        _ => {
            return Some(error(&AdminError {
                status: 405,
                message: "use POST with a JSON body (GET only for get-* verbs)".into(),
            }))
        }
    };
    Some(match call(admin, &verb, params) {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => {
            tracing::info!(%verb, error = %e, "admin verb refused");
            error(&e)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_names_ignore_case_dashes_and_underscores() {
        assert_eq!(norm("access-rights"), norm("AccessRights"));
        assert_eq!(norm("access_rights"), "accessrights");
        assert_eq!(fault_field("clientid"), "client_id");
    }

    #[test]
    fn leftover_parameters_are_refused_by_name() {
        let mut p = Params::new("reset", json!({"bogus": 1})).expect("object");
        assert!(p.opt_str("other").expect("absent").is_none());
        let e = p.finish().expect_err("bogus is unknown");
        assert!(e.message.contains("\"bogus\""), "{}", e.message);
    }
}
