//! A token request as the endpoint received it: form fields and HTTP Basic credentials.

use crate::secret::{mask, Secret};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// Which token endpoint was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointVersion {
    /// `/oauth2/token`: `resource=`, numbers as strings.
    V1,
    /// `/oauth2/v2.0/token`: `scope=`, numbers as integers.
    V2,
}

/// Form fields whose values are credentials: never logged, never journaled.
const SECRET_FIELDS: &[&str] = &[
    "client_secret",
    "client_assertion",
    "password",
    "refresh_token",
    "code",
    "code_verifier",
    "device_code",
    "assertion",
    // The sign-in pages' fields: the password and the device flow's user code.
    "passwd",
    "otc",
    "user_code",
];

#[derive(Debug, Default)]
pub struct TokenRequest {
    fields: Vec<(String, String)>,
    /// `Authorization: Basic` credentials (client id, secret), already form-url-decoded.
    pub basic: Option<(String, Secret<String>)>,
}

impl TokenRequest {
    /// Parse an `application/x-www-form-urlencoded` body and the Authorization header.
    pub fn parse(body: &[u8], authorization: Option<&str>) -> Self {
        let fields = form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Self {
            fields,
            basic: authorization.and_then(parse_basic),
        }
    }

    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self {
            fields: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            basic: None,
        }
    }

    /// The first value of a field; empty values count as absent, as in Entra.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The request with credentials masked, for the journal and the log.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = self
            .fields
            .iter()
            .map(|(k, v)| {
                if SECRET_FIELDS.contains(&k.as_str()) {
                    format!("{k}={}", mask(v))
                } else {
                    format!("{k}={v}")
                }
            })
            .collect();
        if let Some((id, secret)) = &self.basic {
            parts.push(format!("Authorization=Basic {id}:{}", mask(secret.expose())));
        }
        parts.join(" ")
    }
}

/// RFC 6749 §2.3.1: base64(urlencode(id) ":" urlencode(secret)).
fn parse_basic(header: &str) -> Option<(String, Secret<String>)> {
    let (scheme, value) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(value.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let decode = |s: &str| -> String {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((decode(id), Secret::new(decode(secret))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        // id "a b", secret "p+w:d%" form-encoded then base64.
        let raw = STANDARD.encode("a+b:p%2Bw%3Ad%25");
        let r = TokenRequest::parse(b"grant_type=client_credentials", Some(&format!("Basic {raw}")));
        let (id, secret) = r.basic.expect("basic");
        assert_eq!(id, "a b");
        assert_eq!(secret.expose(), "p+w:d%");
    }

    #[test]
    fn summary_masks_credentials() {
        let r = TokenRequest::parse(b"client_id=abc&client_secret=hunter2&scope=x%2F.default", None);
        let s = r.summary();
        assert!(s.contains("client_id=abc"));
        assert!(s.contains("scope=x/.default"));
        assert!(!s.contains("hunter2"), "{s}");
        assert_eq!(r.get("client_secret"), Some("hunter2"));
    }

    #[test]
    fn empty_values_are_absent() {
        let r = TokenRequest::parse(b"scope=&client_id=x", None);
        assert_eq!(r.get("scope"), None);
        assert_eq!(r.get("client_id"), Some("x"));
    }
}
