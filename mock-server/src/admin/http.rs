//! The admin HTTP API: `POST /_mock/admin/<verb>` with a JSON object of the verb's
//! parameters (or `GET /_mock/admin/<verb>?name=value` for the read-only `get-*` verbs).
//! Parameter names match case-insensitively and ignore `-` and `_`, so `access_rights`,
//! `access-rights` and PowerShell's `AccessRights` are the same parameter.
//!
//! Only loopback peers are answered, and when the server has an admin token, only
//! requests with `Authorization: Bearer <token>` (compared in constant time).

use super::{Admin, AdminAccess, AdminError, CasMailbox};
use crate::faults::Fault;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
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

/// Every verb, for the error on an unknown one and for `mock-server admin --help`.
pub const VERBS: &[(&str, &str)] = &[
    ("new-service-principal", "--app-id GUID --object-id GUID [--tenant T]"),
    ("remove-service-principal", "--identity OBJECT-ID|APP-ID"),
    (
        "add-mailbox-permission",
        "--identity MAILBOX --user TRUSTEE [--access-rights FullAccess]",
    ),
    (
        "remove-mailbox-permission",
        "--identity MAILBOX --user TRUSTEE [--access-rights FullAccess]",
    ),
    (
        "add-recipient-permission",
        "--identity MAILBOX --trustee TRUSTEE [--access-rights SendAs]",
    ),
    (
        "remove-recipient-permission",
        "--identity MAILBOX --trustee TRUSTEE [--access-rights SendAs]",
    ),
    (
        "set-cas-mailbox",
        "--identity MAILBOX [--imap-enabled B] [--pop-enabled B] [--smtp-client-authentication-disabled B|null]",
    ),
    ("set-transport-config", "--smtp-client-authentication-disabled B [--tenant T]"),
    ("new-application", "--tenant T --display-name NAME [--public-client B]"),
    ("add-app-secret", "--app-id APP [--value SECRET] [--end RFC3339 | --days N]"),
    ("remove-app-secret", "--app-id APP --key-id GUID"),
    ("add-app-certificate", "--app-id APP --pem PEM | --pem-file FILE [--end RFC3339]"),
    ("remove-app-certificate", "--app-id APP --key-id GUID|THUMBPRINT"),
    (
        "add-app-permission",
        "--app-id APP --value IMAP.AccessAsApp [--resource 'Office 365 Exchange Online'] [--type application|delegated]",
    ),
    ("remove-app-permission", "--app-id APP --value PERMISSION"),
    ("grant-admin-consent", "--app-id APP"),
    ("revoke-admin-consent", "--app-id APP"),
    ("new-user", "--upn UPN [--display-name NAME] [--password P]"),
    ("new-mailbox", "--address ADDRESS [--password P] [--shared B]"),
    ("deliver", "--mailbox ADDRESS [--folder INBOX] --eml TEXT | --eml-file FILE"),
    ("get-messages", "--mailbox ADDRESS [--folder INBOX]"),
    ("get-message", "--mailbox ADDRESS [--folder INBOX] --uid N"),
    ("revoke-sign-in-sessions", "--user UPN"),
    ("rotate-signing-key", ""),
    ("remove-signing-key", "--kid KID"),
    ("get-signing-keys", ""),
    ("get-clock", ""),
    ("freeze-clock", ""),
    ("resume-clock", "[--offset SECONDS]"),
    ("advance-clock", "--seconds N"),
    ("set-clock-offset", "--seconds N"),
    ("add-fault", "--hook H --kind K [kind parameters] [matchers] [--times N] [--expect N]"),
    ("get-faults", ""),
    ("remove-fault", "--id N"),
    ("clear-faults", ""),
    ("get-journal", "[--after SEQ]"),
    ("clear-journal", ""),
    ("reset", ""),
    ("sent-mail", "[--after SEQ]"),
];

/// The parameters of one call, consumed as the verb reads them; leftovers are errors.
struct Params {
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

    fn take(&mut self, name: &str) -> Option<Value> {
        self.map.remove(&norm(name)).filter(|v| !v.is_null())
    }

    fn opt_str(&mut self, name: &str) -> Result<Option<String>, AdminError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(_) => Err(AdminError::invalid(format!("--{name}: expected a string"))),
        }
    }

    fn str(&mut self, name: &str) -> Result<String, AdminError> {
        self.opt_str(name)?
            .ok_or_else(|| AdminError::invalid(format!("{}: --{name} is required", self.verb)))
    }

    fn opt_bool(&mut self, name: &str) -> Result<Option<bool>, AdminError> {
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

    fn opt_i64(&mut self, name: &str) -> Result<Option<i64>, AdminError> {
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

    fn i64(&mut self, name: &str) -> Result<i64, AdminError> {
        self.opt_i64(name)?
            .ok_or_else(|| AdminError::invalid(format!("{}: --{name} is required", self.verb)))
    }

    fn opt_time(&mut self, name: &str) -> Result<Option<time::OffsetDateTime>, AdminError> {
        self.opt_str(name)?
            .map(|s| {
                time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| AdminError::invalid(format!("--{name} {s}: expected an RFC 3339 time")))
            })
            .transpose()
    }

    /// No parameter left unread: a misspelt one is an error, not silently ignored.
    fn finish(self) -> Result<(), AdminError> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(k) => Err(AdminError::invalid(format!(
                "{}: unknown parameter {k:?}; usage: {} {}",
                self.verb,
                self.verb,
                VERBS
                    .iter()
                    .find(|(v, _)| *v == self.verb)
                    .map(|(_, u)| *u)
                    .unwrap_or("")
            ))),
        }
    }
}

fn to_value(v: impl serde::Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Run one verb.
pub fn call(admin: &Admin, verb: &str, params: Value) -> Result<Value, AdminError> {
    let mut p = Params::new(verb, params)?;
    let done = json!({ "ok": true });
    let out = match verb {
        "new-service-principal" => {
            let app_id = p.str("app_id")?;
            let object_id = match p.opt_str("object_id")? {
                Some(o) => o,
                None => p.str("service_id")?,
            };
            let tenant = p.opt_str("tenant")?;
            p.finish()?;
            admin.new_service_principal_in(tenant.as_deref(), &app_id, &object_id)?;
            done
        }
        "remove-service-principal" => {
            let identity = p.str("identity")?;
            p.finish()?;
            admin.remove_service_principal(&identity)?;
            done
        }
        "add-mailbox-permission" | "remove-mailbox-permission" => {
            let identity = p.str("identity")?;
            let user = p.str("user")?;
            let rights = p.opt_str("access_rights")?.unwrap_or_else(|| "FullAccess".into());
            p.finish()?;
            if verb.starts_with("add") {
                admin.add_mailbox_permission(&identity, &user, &rights)?;
            } else {
                admin.remove_mailbox_permission(&identity, &user, &rights)?;
            }
            done
        }
        "add-recipient-permission" | "remove-recipient-permission" => {
            let identity = p.str("identity")?;
            let trustee = p.str("trustee")?;
            let rights = p.opt_str("access_rights")?.unwrap_or_else(|| "SendAs".into());
            p.finish()?;
            if verb.starts_with("add") {
                admin.add_recipient_permission(&identity, &trustee, &rights)?;
            } else {
                admin.remove_recipient_permission(&identity, &trustee, &rights)?;
            }
            done
        }
        "set-cas-mailbox" => {
            let identity = p.str("identity")?;
            let smtp_key = norm("smtp_client_authentication_disabled");
            let smtp = match p.map.remove(&smtp_key) {
                None => None,
                Some(Value::Null) => Some(None),
                Some(Value::String(s)) if s.eq_ignore_ascii_case("null") || s.eq_ignore_ascii_case("$null") => {
                    Some(None)
                }
                Some(v) => {
                    p.map.insert(smtp_key, v);
                    Some(p.opt_bool("smtp_client_authentication_disabled")?)
                }
            };
            let settings = CasMailbox {
                imap_enabled: p.opt_bool("imap_enabled")?,
                pop_enabled: p.opt_bool("pop_enabled")?,
                smtp_client_authentication_disabled: smtp,
            };
            p.finish()?;
            admin.set_cas_mailbox(&identity, &settings)?;
            done
        }
        "set-transport-config" => {
            let disabled = p
                .opt_bool("smtp_client_authentication_disabled")?
                .ok_or_else(|| AdminError::invalid("--smtp-client-authentication-disabled is required"))?;
            let tenant = p.opt_str("tenant")?;
            p.finish()?;
            admin.set_transport_config(tenant.as_deref(), disabled)?;
            done
        }
        "new-application" => {
            let tenant = p.str("tenant")?;
            let name = p.str("display_name")?;
            let public = p.opt_bool("public_client")?.unwrap_or(false);
            p.finish()?;
            to_value(admin.new_application(&tenant, &name, public)?)
        }
        "add-app-secret" => {
            let app = p.str("app_id")?;
            let value = p.opt_str("value")?;
            let mut end = p.opt_time("end")?;
            if let Some(days) = p.opt_i64("days")? {
                if !(-3660..=3660).contains(&days) {
                    return Err(AdminError::invalid("--days: at most ten years either way"));
                }
                end = Some(admin.core().clock.now() + time::Duration::days(days));
            }
            p.finish()?;
            to_value(admin.add_app_secret(&app, value.as_deref(), end)?)
        }
        "remove-app-secret" => {
            let app = p.str("app_id")?;
            let key_id = p.str("key_id")?;
            p.finish()?;
            admin.remove_app_secret(&app, &key_id)?;
            done
        }
        "add-app-certificate" => {
            let app = p.str("app_id")?;
            let pem = p.str("pem")?;
            let end = p.opt_time("end")?;
            p.finish()?;
            to_value(admin.add_app_certificate(&app, &pem, end)?)
        }
        "remove-app-certificate" => {
            let app = p.str("app_id")?;
            let key = match p.opt_str("key_id")? {
                Some(k) => k,
                None => p.str("thumbprint")?,
            };
            p.finish()?;
            admin.remove_app_certificate(&app, &key)?;
            done
        }
        "add-app-permission" => {
            let app = p.str("app_id")?;
            let value = p.str("value")?;
            let resource = p
                .opt_str("resource")?
                .unwrap_or_else(|| "Office 365 Exchange Online".into());
            let kind = p.opt_str("type")?.unwrap_or_else(|| "application".into());
            p.finish()?;
            admin.add_app_permission(&app, &resource, &kind, &value)?;
            done
        }
        "remove-app-permission" => {
            let app = p.str("app_id")?;
            let value = p.str("value")?;
            p.finish()?;
            admin.remove_app_permission(&app, &value)?;
            done
        }
        "grant-admin-consent" | "revoke-admin-consent" => {
            let app = p.str("app_id")?;
            p.finish()?;
            if verb.starts_with("grant") {
                admin.grant_admin_consent(&app)?;
            } else {
                admin.revoke_admin_consent(&app)?;
            }
            done
        }
        "new-user" => {
            let upn = p.str("upn")?;
            let name = p.opt_str("display_name")?;
            let password = p.opt_str("password")?;
            p.finish()?;
            json!({ "object_id": admin.new_user(&upn, name.as_deref(), password.as_deref())? })
        }
        "new-mailbox" => {
            let address = p.str("address")?;
            let password = p.opt_str("password")?;
            let shared_mbx = p.opt_bool("shared")?.unwrap_or(false);
            p.finish()?;
            admin.new_mailbox(&address, password.as_deref(), shared_mbx)?;
            done
        }
        "deliver" => {
            let mailbox = p.str("mailbox")?;
            let folder = p.opt_str("folder")?.unwrap_or_else(|| "INBOX".into());
            let raw = match (p.opt_str("eml")?, p.opt_str("eml_base64")?) {
                (Some(text), None) => text.into_bytes(),
                (None, Some(b64)) => STANDARD
                    .decode(b64.trim())
                    .map_err(|_| AdminError::invalid("--eml-base64: not base64"))?,
                _ => {
                    return Err(AdminError::invalid(
                        "deliver: give exactly one of --eml or --eml-base64",
                    ))
                }
            };
            p.finish()?;
            json!({ "uid": admin.deliver(&mailbox, &folder, &raw)? })
        }
        "get-messages" => {
            let mailbox = p.str("mailbox")?;
            let folder = p.opt_str("folder")?.unwrap_or_else(|| "INBOX".into());
            p.finish()?;
            json!({ "messages": admin.messages(&mailbox, &folder)? })
        }
        "get-message" => {
            let mailbox = p.str("mailbox")?;
            let folder = p.opt_str("folder")?.unwrap_or_else(|| "INBOX".into());
            let uid = u32::try_from(p.i64("uid")?).map_err(|_| AdminError::invalid("--uid: out of range"))?;
            p.finish()?;
            let raw = admin.message(&mailbox, &folder, uid)?;
            json!({
                "uid": uid,
                "eml": String::from_utf8_lossy(&raw),
                "eml_base64": STANDARD.encode(&raw),
            })
        }
        "revoke-sign-in-sessions" => {
            let user = p.str("user")?;
            p.finish()?;
            admin.revoke_sign_in_sessions(&user)?;
            done
        }
        "rotate-signing-key" => {
            p.finish()?;
            to_value(admin.rotate_signing_key()?)
        }
        "remove-signing-key" => {
            let kid = p.str("kid")?;
            p.finish()?;
            to_value(admin.remove_signing_key(&kid)?)
        }
        "get-signing-keys" => {
            p.finish()?;
            to_value(admin.signing_keys())
        }
        "get-clock" => {
            p.finish()?;
            to_value(admin.clock())
        }
        "freeze-clock" => {
            p.finish()?;
            to_value(admin.freeze_clock())
        }
        "resume-clock" => {
            let offset = p.opt_i64("offset")?.unwrap_or(0);
            p.finish()?;
            to_value(admin.resume_clock(offset)?)
        }
        "advance-clock" => {
            let seconds = p.i64("seconds")?;
            p.finish()?;
            to_value(admin.advance_clock(seconds)?)
        }
        "set-clock-offset" => {
            let seconds = p.i64("seconds")?;
            p.finish()?;
            to_value(admin.set_clock_offset(seconds)?)
        }
        "add-fault" => {
            // The fault's own fields, with the same name normalisation as other verbs.
            let fields: Map<String, Value> = std::mem::take(&mut p.map)
                .into_iter()
                .map(|(k, v)| (fault_field(&k), v))
                .collect();
            let fault: Fault = serde_json::from_value(Value::Object(fields))
                .map_err(|e| AdminError::invalid(format!("fault: {e}")))?;
            let id = admin.core().faults.arm(fault).map_err(AdminError::invalid)?;
            json!({ "id": id })
        }
        "get-faults" => {
            p.finish()?;
            json!({ "faults": admin.core().faults.list() })
        }
        "remove-fault" => {
            let id = u64::try_from(p.i64("id")?).map_err(|_| AdminError::invalid("--id: out of range"))?;
            p.finish()?;
            let armed = admin
                .core()
                .faults
                .disarm(id)
                .ok_or_else(|| AdminError::not_found(format!("no fault #{id}")))?;
            to_value(armed)
        }
        "clear-faults" => {
            p.finish()?;
            json!({ "removed": admin.core().faults.clear() })
        }
        "get-journal" => {
            let after = u64::try_from(p.opt_i64("after")?.unwrap_or(0)).unwrap_or(0);
            p.finish()?;
            let mut entries = admin.journal(after);
            entries.truncate(MAX_JOURNAL_PAGE);
            json!({ "entries": entries, "last_seq": admin.core().journal.last_seq() })
        }
        "clear-journal" => {
            p.finish()?;
            admin.clear_journal();
            done
        }
        "reset" => {
            p.finish()?;
            admin.reset()?;
            done
        }
        "sent-mail" => {
            let after = u64::try_from(p.opt_i64("after")?.unwrap_or(0)).unwrap_or(0);
            p.finish()?;
            admin.sent_mail(after)
        }
        other => {
            return Err(AdminError::not_found(format!(
                "unknown verb {other:?}; verbs: {}",
                VERBS.iter().map(|(v, _)| *v).collect::<Vec<_>>().join(", ")
            )))
        }
    };
    Ok(out)
}

/// Map a normalised key back to the fault's field name.
fn fault_field(normalised: &str) -> String {
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

fn authorized(access: &AdminAccess, req: &Request<hyper::body::Incoming>) -> bool {
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
