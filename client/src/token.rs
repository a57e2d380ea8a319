//! The identity-platform side: discover the tenant's token endpoint, then client
//! credentials with a secret or a certificate assertion. HTTP traces are redacted.

use crate::assertion::{Alg, CertificateCredential};
use serde_json::Value;

/// An error answer of the identity platform.
#[derive(Debug, Clone)]
pub struct AadError {
    pub status: u16,
    pub error: String,
    pub codes: Vec<u64>,
    pub description: String,
}

impl AadError {
    pub fn code(&self) -> Option<u64> {
        self.codes.first().copied()
    }

    fn from_body(status: u16, body: &Value) -> Option<Self> {
        Some(Self {
            status,
            error: body.get("error")?.as_str()?.to_string(),
            codes: body
                .get("error_codes")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_u64).collect())
                .unwrap_or_default(),
            description: body
                .get("error_description")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        })
    }

    /// The first line of the description (`AADSTSnnnn: …`), without the trace ids.
    pub fn summary(&self) -> String {
        let d = self.description.split("\r\n").next().unwrap_or("");
        d.split(" Trace ID:").next().unwrap_or(d).to_string()
    }
}

#[derive(Debug)]
pub enum TokenOutcome {
    Token {
        access_token: String,
        token_endpoint: String,
    },
    Refused(AadError),
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("HTTPS request to {url} failed: {detail}")]
    Http { url: String, detail: String },
    #[error("{url} answered HTTP {status} with a body that is not an identity-platform answer: {body}")]
    Unexpected { url: String, status: u16, body: String },
    #[error("certificate credential: {0}")]
    Certificate(#[from] crate::assertion::AssertionError),
}

/// How the app proves itself.
pub enum Secretish<'a> {
    Secret(&'a str),
    Certificate(&'a CertificateCredential, Alg),
}

fn redact_json(v: &Value) -> String {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        for k in ["access_token", "refresh_token", "id_token"] {
            if let Some(t) = o.get_mut(k) {
                let n = t.as_str().map(str::len).unwrap_or(0);
                *t = Value::String(format!("<redacted, {n} chars>"));
            }
        }
    }
    v.to_string()
}

async fn get_json(http: &reqwest::Client, url: &str, trace: &mut Vec<String>) -> Result<(u16, Value), TokenError> {
    trace.push(format!("HTTP > GET {url}"));
    let r = http.get(url).send().await.map_err(|e| TokenError::Http {
        url: url.to_string(),
        detail: format!("{e:#}"),
    })?;
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    trace.push(format!("HTTP < {status} ({} bytes)", text.len()));
    let body = serde_json::from_str(&text).map_err(|_| TokenError::Unexpected {
        url: url.to_string(),
        status,
        body: text.chars().take(200).collect(),
    })?;
    Ok((status, body))
}

/// How a user signs in (delegated modes).
pub enum Delegated<'a> {
    /// Resource owner password credentials (ROPC).
    Password {
        username: &'a str,
        password: &'a str,
    },
    /// The device code flow; `prompt` receives Microsoft's sign-in message at once.
    DeviceCode {
        prompt: &'a (dyn Fn(&str) + Send + Sync),
    },
    RefreshToken(&'a str),
}

/// The longest a device-code sign-in is waited for, whatever the server says (15 minutes
/// is Entra's `expires_in`).
pub const DEVICE_CODE_MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(15 * 60);

async fn discover(
    http: &reqwest::Client,
    authority: &str,
    tenant: &str,
    trace: &mut Vec<String>,
) -> Result<Result<Value, AadError>, TokenError> {
    let base = authority.trim_end_matches('/');
    let discovery = format!("{base}/{tenant}/v2.0/.well-known/openid-configuration");
    let (status, doc) = get_json(http, &discovery, trace).await?;
    if status == 200 {
        return Ok(Ok(doc));
    }
    match AadError::from_body(status, &doc) {
        Some(e) => Ok(Err(e)),
        None => Err(TokenError::Unexpected {
            url: discovery,
            status,
            body: doc.to_string(),
        }),
    }
}

async fn post_form(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, String)],
    shown: &str,
    trace: &mut Vec<String>,
) -> Result<(u16, Value), TokenError> {
    trace.push(format!("HTTP > POST {url} {shown}"));
    let r = http.post(url).form(form).send().await.map_err(|e| TokenError::Http {
        url: url.to_string(),
        detail: format!("{e:#}"),
    })?;
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text).map_err(|_| TokenError::Unexpected {
        url: url.to_string(),
        status,
        body: text.chars().take(200).collect(),
    })?;
    trace.push(format!("HTTP < {status} {}", redact_json(&body)));
    Ok((status, body))
}

fn outcome(status: u16, body: Value, url: &str, token_endpoint: String) -> Result<TokenOutcome, TokenError> {
    if let Some(t) = body.get("access_token").and_then(Value::as_str) {
        return Ok(TokenOutcome::Token {
            access_token: t.to_string(),
            token_endpoint,
        });
    }
    match AadError::from_body(status, &body) {
        Some(e) => Ok(TokenOutcome::Refused(e)),
        None => Err(TokenError::Unexpected {
            url: url.to_string(),
            status,
            body: body.to_string(),
        }),
    }
}

/// A delegated token for a signed-in user: password, device code or refresh token.
#[allow(clippy::too_many_arguments)]
pub async fn delegated(
    http: &reqwest::Client,
    authority: &str,
    tenant: &str,
    client_id: &str,
    client_secret: Option<&str>,
    how: Delegated<'_>,
    scope: &str,
    trace: &mut Vec<String>,
) -> Result<TokenOutcome, TokenError> {
    let doc = match discover(http, authority, tenant, trace).await? {
        Ok(doc) => doc,
        Err(e) => return Ok(TokenOutcome::Refused(e)),
    };
    let base = authority.trim_end_matches('/');
    let token_endpoint = doc
        .get("token_endpoint")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("{base}/{tenant}/oauth2/v2.0/token"));
    let mut form: Vec<(&str, String)> = vec![("client_id", client_id.to_string()), ("scope", scope.to_string())];
    let mut shown = format!("client_id={client_id} scope={scope}");
    if let Some(s) = client_secret {
        form.push(("client_secret", s.to_string()));
        shown.push_str(&format!(" client_secret=<redacted, {} chars>", s.chars().count()));
    }
    match how {
        Delegated::Password { username, password } => {
            form.push(("grant_type", "password".into()));
            form.push(("username", username.into()));
            form.push(("password", password.into()));
            shown.push_str(&format!(" grant_type=password username={username} password=<redacted>"));
        }
        Delegated::RefreshToken(rt) => {
            form.push(("grant_type", "refresh_token".into()));
            form.push(("refresh_token", rt.into()));
            shown.push_str(" grant_type=refresh_token refresh_token=<redacted>");
        }
        Delegated::DeviceCode { prompt } => {
            let device_endpoint = doc
                .get("device_authorization_endpoint")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| token_endpoint.replace("/token", "/devicecode"));
            let start: Vec<(&str, String)> = form.clone();
            let (status, body) = post_form(http, &device_endpoint, &start, &shown, trace).await?;
            let Some(device_code) = body.get("device_code").and_then(Value::as_str).map(str::to_string) else {
                return outcome(status, body, &device_endpoint, token_endpoint);
            };
            if let Some(m) = body.get("message").and_then(Value::as_str) {
                prompt(m);
            }
            let mut interval = body.get("interval").and_then(Value::as_u64).unwrap_or(5);
            let expires = body.get("expires_in").and_then(Value::as_u64).unwrap_or(900);
            let deadline =
                std::time::Instant::now() + std::time::Duration::from_secs(expires).min(DEVICE_CODE_MAX_WAIT);
            form.push(("grant_type", "urn:ietf:params:oauth:grant-type:device_code".into()));
            form.push(("device_code", device_code));
            let shown = format!("{shown} grant_type=device_code device_code=<redacted>");
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(interval)).await;
                let (status, body) = post_form(http, &token_endpoint, &form, &shown, trace).await?;
                match body.get("error").and_then(Value::as_str) {
                    Some("authorization_pending") if std::time::Instant::now() < deadline => continue,
                    // RFC 8628 §3.5: add 5 seconds to the polling interval.
                    Some("slow_down") if std::time::Instant::now() < deadline => {
                        interval += 5;
                        continue;
                    }
                    _ => return outcome(status, body, &token_endpoint, token_endpoint.clone()),
                }
            }
        }
    }
    let (status, body) = post_form(http, &token_endpoint, &form, &shown, trace).await?;
    outcome(status, body, &token_endpoint, token_endpoint.clone())
}

/// Discover the token endpoint (like MSAL) and request a client-credentials token.
pub async fn client_credentials(
    http: &reqwest::Client,
    authority: &str,
    tenant: &str,
    client_id: &str,
    credential: Secretish<'_>,
    scope: &str,
    trace: &mut Vec<String>,
) -> Result<TokenOutcome, TokenError> {
    let doc = match discover(http, authority, tenant, trace).await? {
        Ok(doc) => doc,
        Err(e) => return Ok(TokenOutcome::Refused(e)),
    };
    let token_endpoint = doc
        .get("token_endpoint")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("{}/{tenant}/oauth2/v2.0/token", authority.trim_end_matches('/')));
    let mut form: Vec<(&str, String)> = vec![
        ("client_id", client_id.to_string()),
        ("scope", scope.to_string()),
        ("grant_type", "client_credentials".to_string()),
    ];
    let shown = match credential {
        Secretish::Secret(s) => {
            form.push(("client_secret", s.to_string()));
            format!("client_secret=<redacted, {} chars>", s.chars().count())
        }
        Secretish::Certificate(cert, alg) => {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let a = cert.assertion(client_id, &token_endpoint, alg, now)?;
            form.push((
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ));
            form.push(("client_assertion", a));
            format!("client_assertion=<{alg:?} JWT for certificate {}>", cert.thumbprint())
        }
    };
    let shown = format!("client_id={client_id} scope={scope} grant_type=client_credentials {shown}");
    let (status, body) = post_form(http, &token_endpoint, &form, &shown, trace).await?;
    outcome(status, body, &token_endpoint, token_endpoint.clone())
}
