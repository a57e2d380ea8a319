//! HTTP GET recordings (`fixtures/recordings/discovery/*.json`): the identity platform's
//! answers to plain GETs (OpenID discovery documents, instance discovery, user realm),
//! and the header check the token-endpoint replay shares with them.
//!
//! ```json
//! { "title": "…", "provenance": "…", "cause": "…", "fix": "…",
//!   "request": { "method": "GET", "path": "/common/v2.0/.well-known/openid-configuration",
//!                "query": { "api-version": "1.1" }, "headers": { "x-ms-client-request-id": "…" } },
//!   "expect": { "status": 200, "ordered": true,
//!               "headers": { "content-type": "application/json; charset=utf-8" },
//!               "body": { "issuer": "{base}/{tenantid}/v2.0", … },
//!               "volatile": ["timestamp", "trace_id"] } }
//! ```
//!
//! In expected strings, header values, query values and the path, `{base}` stands for the
//! identity platform's `https://host[:port]` (the captures' `https://login.microsoftonline.com`),
//! and `{*}` matches any run of characters. The body must match whole: every expected
//! field, the `volatile` top-level fields with any value, nothing else; nested objects and
//! arrays are compared whole too. `ordered` also compares the order of the keys, as the
//! captures keep it (serde_json preserves it).

use crate::format::{escape, glob, Meta};
use crate::replay::{Endpoints, Verdict, STEP_TIMEOUT};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The folder, under the recordings folder, that holds GET recordings.
pub const FOLDER: &str = "discovery";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpGetRecording {
    #[serde(skip)]
    pub name: String,
    pub title: String,
    pub provenance: String,
    #[serde(default)]
    pub cause: String,
    #[serde(default)]
    pub fix: String,
    /// Free text on how the capture was adapted (tenant ids, host), for the reader.
    #[serde(default)]
    pub comment: String,
    pub request: GetRequest,
    pub expect: GetExpect,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetRequest {
    /// Only `GET`: the token endpoint's POSTs are `token/*.json` recordings.
    #[serde(default = "get")]
    pub method: String,
    pub path: String,
    /// Query fields, sent in this order (values may use `{base}`).
    #[serde(default)]
    pub query: serde_json::Map<String, Value>,
    /// Request headers (e.g. `x-ms-client-request-id`, which Entra echoes as `correlation_id`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

fn get() -> String {
    "GET".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetExpect {
    pub status: u16,
    pub body: serde_json::Map<String, Value>,
    /// Top-level fields that must be present with any value.
    #[serde(default)]
    pub volatile: Vec<String>,
    /// Compare the order of object keys too.
    #[serde(default)]
    pub ordered: bool,
    /// Response headers that must be present with these values (names case-insensitive,
    /// values with `{*}`); other headers are not checked.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

impl HttpGetRecording {
    pub fn meta(&self) -> Meta {
        let code = self.expect.body.get("error_codes").and_then(|c| c.get(0));
        Meta {
            name: self.name.clone(),
            title: self.title.clone(),
            provenance: self.provenance.clone(),
            cause: self.cause.clone(),
            token_endpoint: match code {
                Some(code) => format!(
                    "{} `{}` AADSTS{} (GET {})",
                    self.expect.status,
                    self.expect.body.get("error").and_then(Value::as_str).unwrap_or(""),
                    code,
                    self.request.path
                ),
                None => format!("{} (GET {})", self.expect.status, self.request.path),
            },
            fix: self.fix.clone(),
        }
    }
}

/// Every `discovery/*.json` of `dir`, sorted by name; none when the folder is absent.
pub fn load(dir: &Path) -> Result<Vec<HttpGetRecording>, String> {
    let folder = dir.join(FOLDER);
    if !folder.is_dir() {
        return Ok(Vec::new());
    }
    let mut paths: Vec<_> = std::fs::read_dir(&folder)
        .map_err(|e| format!("{}: {e}", folder.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        let mut r: HttpGetRecording = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?;
        if r.request.method != "GET" {
            return Err(format!("{}: request.method must be GET", p.display()));
        }
        if !r.request.path.starts_with('/') {
            return Err(format!("{}: request.path must start with /", p.display()));
        }
        r.name = format!(
            "{FOLDER}/{}",
            p.file_stem().map(|s| s.to_string_lossy()).unwrap_or_default()
        );
        out.push(r);
    }
    Ok(out)
}

/// Replay a GET recording against the identity platform of `ep`.
pub async fn against_server(rec: &HttpGetRecording, ep: &Endpoints) -> Verdict {
    let Some(base) = &ep.https_url else {
        return Verdict::Skip("no identity platform given".into());
    };
    against_base(rec, base.trim_end_matches('/'), &ep.ca_pem).await
}

/// Replay against `https://host[:port]` whose certificate `ca_pem` vouches for.
pub async fn against_base(rec: &HttpGetRecording, base: &str, ca_pem: &[u8]) -> Verdict {
    let http = match client(ca_pem) {
        Ok(h) => h,
        Err(e) => return Verdict::Fail(e),
    };
    let fill = |s: &str| s.replace("{base}", base);
    let mut url = format!("{base}{}", fill(&rec.request.path));
    // Sent in the recording's order, percent-encoded as the MSAL libraries do.
    for (i, (k, v)) in rec.request.query.iter().enumerate() {
        let v = match v {
            Value::String(s) => fill(s),
            other => other.to_string(),
        };
        url.push(if i == 0 { '?' } else { '&' });
        url.push_str(&percent_encode(k));
        url.push('=');
        url.push_str(&percent_encode(&v));
    }
    let mut req = http.get(&url);
    for (k, v) in &rec.request.headers {
        req = req.header(k, fill(v));
    }
    let r = match req.send().await {
        Ok(r) => r,
        Err(e) => return Verdict::Fail(format!("GET {url}: {e}")),
    };
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = match r.text().await {
        Ok(t) => t,
        Err(e) => return Verdict::Fail(format!("GET {url}: body: {e}")),
    };
    let body: Value = match serde_json::from_str(&text) {
        Ok(b) => b,
        Err(e) => return Verdict::Fail(format!("body is not JSON ({e}): {}", escape(&text))),
    };
    if status != rec.expect.status {
        return Verdict::Fail(format!(
            "status: expected {}, received {status}: {body}",
            rec.expect.status
        ));
    }
    if let Err(e) = check_headers(&headers, &rec.expect.headers, base) {
        return Verdict::Fail(e);
    }
    let Some(obj) = body.as_object() else {
        return Verdict::Fail(format!("body is not an object: {body}"));
    };
    match check_object(
        obj,
        &rec.expect.body,
        &rec.expect.volatile,
        rec.expect.ordered,
        base,
        "",
    ) {
        Ok(()) => Verdict::Pass,
        Err(e) => Verdict::Fail(e),
    }
}

/// Everything but RFC 3986's unreserved characters, percent-encoded.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn client(ca_pem: &[u8]) -> Result<reqwest::Client, String> {
    let certs = reqwest::Certificate::from_pem_bundle(ca_pem).map_err(|e| e.to_string())?;
    reqwest::Client::builder()
        .tls_certs_only(certs)
        .no_proxy()
        .timeout(STEP_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())
}

/// Every expected header is present with a matching value (`{base}`, `{*}`).
pub fn check_headers(
    got: &reqwest::header::HeaderMap,
    want: &BTreeMap<String, String>,
    base: &str,
) -> Result<(), String> {
    for (name, value) in want {
        let pattern = value.replace("{base}", base);
        let values: Vec<&str> = got
            .get_all(name.as_str())
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if values.is_empty() {
            return Err(format!("header {name}: missing (expected {pattern:?})"));
        }
        if !values.iter().any(|v| glob(&pattern, v)) {
            return Err(format!("header {name}: expected {pattern:?}, received {values:?}"));
        }
    }
    Ok(())
}

/// `got` matches `want` whole: the same keys (plus `volatile` ones), in the same order when
/// `ordered`, each value matching.
pub fn check_object(
    got: &serde_json::Map<String, Value>,
    want: &serde_json::Map<String, Value>,
    volatile: &[String],
    ordered: bool,
    base: &str,
    at: &str,
) -> Result<(), String> {
    for (k, w) in want {
        let path = format!("{at}{k}");
        let g = got.get(k).ok_or_else(|| format!("field {path}: missing"))?;
        check_value(g, w, ordered, base, &path)?;
    }
    for k in volatile {
        if !got.contains_key(k) {
            return Err(format!("volatile field {at}{k} missing"));
        }
    }
    if let Some(extra) = got.keys().find(|k| !want.contains_key(*k) && !volatile.contains(k)) {
        return Err(format!("unexpected field {at}{extra}"));
    }
    if ordered {
        let got_order: Vec<&String> = got.keys().filter(|k| want.contains_key(*k)).collect();
        let want_order: Vec<&String> = want.keys().filter(|k| got.contains_key(*k)).collect();
        if got_order != want_order {
            return Err(format!(
                "field order{}:\n  expected {want_order:?}\n  received {got_order:?}",
                if at.is_empty() {
                    String::new()
                } else {
                    format!(" of {}", at.trim_end_matches('.'))
                }
            ));
        }
    }
    Ok(())
}

fn check_value(got: &Value, want: &Value, ordered: bool, base: &str, path: &str) -> Result<(), String> {
    let mismatch = || {
        Err(format!(
            "field {path}:\n  expected {}\n  received {}",
            escape(&want.to_string().replace("{base}", base)),
            escape(&got.to_string())
        ))
    };
    match (want, got) {
        (Value::String(w), Value::String(g)) => {
            if glob(&w.replace("{base}", base), g) {
                Ok(())
            } else {
                mismatch()
            }
        }
        (Value::Object(w), Value::Object(g)) => check_object(g, w, &[], ordered, base, &format!("{path}.")),
        (Value::Array(w), Value::Array(g)) => {
            if w.len() != g.len() {
                return mismatch();
            }
            for (i, (wi, gi)) in w.iter().zip(g).enumerate() {
                check_value(gi, wi, ordered, base, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        (w, g) if w == g => Ok(()),
        _ => mismatch(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> serde_json::Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        }
    }

    #[test]
    fn whole_bodies_with_base_wildcards_and_order() {
        let want = obj(json!({"a": "{base}/x", "b": [1, {"c": null}], "d": "T{*}Z"}));
        let got = obj(json!({"a": "https://h:1/x", "b": [1, {"c": null}], "d": "T 12 Z", "t": 5}));
        assert!(check_object(&got, &want, &["t".into()], true, "https://h:1", "").is_ok());
        assert!(
            check_object(&got, &want, &[], true, "https://h:1", "").is_err(),
            "t is extra"
        );
        let swapped = obj(json!({"b": [1, {"c": null}], "a": "https://h:1/x", "d": "TZ"}));
        assert!(check_object(&swapped, &want, &[], false, "https://h:1", "").is_ok());
        let e = check_object(&swapped, &want, &[], true, "https://h:1", "").expect_err("order");
        assert!(e.contains("field order"), "{e}");
        let nested = obj(json!({"a": "https://h:1/x", "b": [1, {"c": "WW"}], "d": "TZ"}));
        let e = check_object(&nested, &want, &[], false, "https://h:1", "").expect_err("null");
        assert!(e.contains("b[1].c"), "{e}");
    }

    #[test]
    fn recordings_parse() {
        let recs = load(&crate::default_dir()).expect("discovery recordings parse");
        assert!(recs.iter().all(|r| r.name.starts_with("discovery/")));
    }
}
