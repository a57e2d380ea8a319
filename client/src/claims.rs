//! What the access token says, decoded without verification (the client cannot verify
//! Microsoft's tokens, and need not: it only predicts what Exchange will say).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

/// Exchange Online's resource identifiers (token audiences it accepts).
pub const EXCHANGE_AUDIENCES: &[&str] = &[
    "https://outlook.office365.com",
    "https://outlook.office.com",
    "https://ps.outlook.com",
    "00000002-0000-0ff1-ce00-000000000000",
];
pub const GRAPH_AUDIENCES: &[&str] = &["https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000"];

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Claims {
    pub aud: String,
    pub tid: String,
    pub appid: String,
    pub oid: String,
    pub roles: Vec<String>,
    pub scp: Vec<String>,
    pub upn: Option<String>,
    pub exp: i64,
    pub app_displayname: Option<String>,
    /// Everything, for `--print-token`.
    #[serde(skip)]
    pub raw: Value,
}

impl Claims {
    pub fn decode(token: &str) -> Option<Self> {
        let payload = token.split('.').nth(1)?;
        let raw: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?).ok()?;
        let s = |k: &str| raw.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let list = |k: &str| -> Vec<String> {
            match raw.get(k) {
                Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
                Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
                _ => Vec::new(),
            }
        };
        Some(Self {
            aud: s("aud"),
            tid: s("tid"),
            appid: s("appid"),
            oid: s("oid"),
            roles: list("roles"),
            scp: list("scp"),
            upn: ["upn", "unique_name", "preferred_username"]
                .iter()
                .find_map(|k| raw.get(*k).and_then(Value::as_str).map(str::to_string)),
            exp: raw.get("exp").and_then(Value::as_f64).unwrap_or(0.0) as i64,
            app_displayname: raw.get("app_displayname").and_then(Value::as_str).map(str::to_string),
            raw,
        })
    }

    pub fn is_delegated(&self) -> bool {
        !self.scp.is_empty() || self.raw.get("scp").is_some()
    }

    fn aud_in(&self, list: &[&str]) -> bool {
        let a = self.aud.trim_end_matches('/');
        list.iter().any(|x| x.eq_ignore_ascii_case(a))
    }

    pub fn audience_is_exchange(&self) -> bool {
        self.aud_in(EXCHANGE_AUDIENCES)
    }

    pub fn audience_is_graph(&self) -> bool {
        self.aud_in(GRAPH_AUDIENCES)
    }
}
