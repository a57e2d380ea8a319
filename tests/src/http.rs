//! HTTPS as a client sees it: a client trusting the server's CA, form posts, replies as
//! JSON, Entra error bodies checked field by field, client-credentials tokens.

use crate::demo;
use mock_server::MockServer;
use serde_json::Value;

/// A reqwest client that trusts only `ca_pem` and ignores proxy settings (the tests talk
/// to 127.0.0.1; a CI proxy must not see them).
pub fn https_client(ca_pem: &[u8]) -> Result<reqwest::Client, reqwest::Error> {
    let ca = reqwest::Certificate::from_pem(ca_pem)?;
    reqwest::Client::builder().tls_certs_only([ca]).no_proxy().build()
}

/// [`https_client`] for a server in this process.
pub fn client(server: &MockServer) -> reqwest::Client {
    https_client(server.ca_pem().as_bytes()).expect("HTTPS client trusting the mock's CA")
}

/// Status, headers and body (JSON, or the text as a JSON string).
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
}

pub async fn post_form(client: &reqwest::Client, url: &str, form: &[(&str, &str)]) -> Reply {
    let r = client.post(url).form(form).send().await.expect("POST");
    reply(r).await
}

pub async fn get(client: &reqwest::Client, url: &str) -> Reply {
    reply(client.get(url).send().await.expect("GET")).await
}

async fn reply(r: reqwest::Response) -> Reply {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply { status, headers, json }
}

/// Client-credentials form for a demo app with its secret.
pub fn secret_form<'a>(client_id: &'a str, secret: &'a str, scope: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", secret),
        ("scope", scope),
    ]
}

/// A client-credentials token for a demo app from the identity platform at `https_url`
/// (`https://host:port`, no tenant). `Err` carries the answer, for tools that report
/// rather than panic (`mock-load`).
pub async fn request_app_token(
    client: &reqwest::Client,
    https_url: &str,
    app: demo::App,
    scope: &str,
) -> Result<String, String> {
    let secret = app
        .secret
        .ok_or_else(|| format!("{} has no secret", app.display_name))?;
    let url = format!("{https_url}/{}/oauth2/v2.0/token", app.tenant);
    let r = client
        .post(&url)
        .form(&secret_form(app.client_id, secret, scope))
        .send()
        .await
        .map_err(|e| format!("POST {url}: {e}"))?;
    let status = r.status();
    let json: Value = r.json().await.map_err(|e| format!("HTTP {status}, not JSON: {e}"))?;
    match json["access_token"].as_str() {
        Some(t) => Ok(t.to_string()),
        None => Err(format!("HTTP {status}: {json}")),
    }
}

/// Check an Entra error body; returns its `error_description`.
pub fn assert_aad_error(r: &Reply, status: u16, error: &str, code: u64) -> String {
    assert_eq!(r.status, status, "status of {}", r.json);
    assert_eq!(r.json["error"], error, "{}", r.json);
    assert_eq!(r.json["error_codes"], serde_json::json!([code]), "{}", r.json);
    let d = r.json["error_description"].as_str().expect("description").to_string();
    assert!(d.starts_with(&format!("AADSTS{code}: ")), "{d}");
    assert!(
        d.contains("\r\nTrace ID: ") && d.contains("\r\nCorrelation ID: ") && d.contains("\r\nTimestamp: "),
        "{d}"
    );
    let ts = r.json["timestamp"].as_str().expect("timestamp");
    assert_eq!(ts.len(), "2016-01-09 02:02:12Z".len(), "{ts}");
    assert!(ts.ends_with('Z') && ts.as_bytes()[10] == b' ', "{ts}");
    assert_eq!(
        r.json["error_uri"],
        format!("https://login.microsoftonline.com/error?code={code}")
    );
    assert!(r.json["trace_id"].as_str().is_some_and(|t| t.len() == 36));
    d
}
