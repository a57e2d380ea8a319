//! Transport verbs: what SMTP submission accepted (the outbox), as an administrator's
//! message trace would show it. Tenant and mailbox SMTP settings (`Set-TransportConfig`,
//! `Set-CASMailbox -SmtpClientAuthenticationDisabled`, `Add-RecipientPermission`) are
//! with the other Exchange verbs.

use super::http::Params;
use super::{Admin, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

/// Messages returned by one `sent-mail` call; a follower pages with `after`.
pub const MAX_SENT_MAIL_PAGE: usize = 100;

impl Admin {
    /// The messages SMTP accepted with `seq > after`, oldest first (at most
    /// [`MAX_SENT_MAIL_PAGE`]), each with its envelope, where it was delivered and its
    /// bytes (`eml` as text, `eml_base64` exactly).
    pub fn sent_mail(&self, after: u64) -> Value {
        let mut mails = self.core().store.outbox.list(after);
        mails.truncate(MAX_SENT_MAIL_PAGE);
        let list: Vec<Value> = mails
            .iter()
            .map(|m| {
                let mut v = serde_json::to_value(m).unwrap_or(Value::Null);
                if let Value::Object(o) = &mut v {
                    o.insert(
                        "eml".into(),
                        Value::String(String::from_utf8_lossy(&m.raw).into_owned()),
                    );
                    o.insert("eml_base64".into(), Value::String(STANDARD.encode(&m.raw)));
                }
                v
            })
            .collect();
        json!({ "messages": list })
    }
}

/// This area's verbs, for `mock-server admin --help` and the unknown-verb error.
pub const VERBS: &[(&str, &str)] = &[("sent-mail", "[--after SEQ]")];

/// Run a verb of this area; `None` when the verb is another area's.
pub(super) fn call(admin: &Admin, verb: &str, p: &mut Params) -> Result<Option<Value>> {
    let out = match verb {
        "sent-mail" => {
            let after = u64::try_from(p.opt_i64("after")?.unwrap_or(0)).unwrap_or(0);
            p.finish()?;
            admin.sent_mail(after)
        }
        _ => return Ok(None),
    };
    Ok(Some(out))
}
