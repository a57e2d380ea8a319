//! What a token-endpoint recording needs before its own request: a device code or a
//! refresh token that only the server under test can hand out. A form value
//! `{device_code}` is first asked of the tenant's device code endpoint (same `client_id`
//! and `scope`); `{refresh_token}` comes from a password grant of app 08 for
//! test.user@contoso.com with `offline_access` (the demo tenant's public client). The
//! recording's `endpoint` may also be `v2-devicecode` / `v1-devicecode` to replay the device
//! authorization answer itself.

use crate::format::TokenRecording;
use std::collections::BTreeMap;

/// The path under `/{tenant}/` that `endpoint` names.
pub fn endpoint_path(endpoint: &str) -> Result<&'static str, String> {
    Ok(match endpoint {
        "v2" => "oauth2/v2.0/token",
        "v1" => "oauth2/token",
        "v2-devicecode" => "oauth2/v2.0/devicecode",
        "v1-devicecode" => "oauth2/devicecode",
        other => {
            return Err(format!(
                "endpoint {other:?}: expected v2, v1, v2-devicecode or v1-devicecode"
            ))
        }
    })
}

/// The form to send, with `{device_code}` and `{refresh_token}` obtained from `base`.
pub async fn prepare_form(
    rec: &TokenRecording,
    base: &str,
    http: &reqwest::Client,
) -> Result<BTreeMap<String, String>, String> {
    let mut form = rec.request.form.clone();
    let field = |form: &BTreeMap<String, String>, k: &str| form.get(k).cloned().unwrap_or_default();
    if form.values().any(|v| v == "{device_code}") {
        let devicecode = if rec.request.endpoint == "v1" {
            "oauth2/devicecode"
        } else {
            "oauth2/v2.0/devicecode"
        };
        let scope_key = if rec.request.endpoint == "v1" {
            "resource"
        } else {
            "scope"
        };
        let asked = [
            ("client_id", field(&form, "client_id")),
            (scope_key, field(&form, scope_key)),
        ];
        let answer = post_json(http, &format!("{base}/{}/{devicecode}", rec.request.tenant), &asked).await?;
        let code = answer["device_code"]
            .as_str()
            .ok_or_else(|| format!("no device_code from the device code endpoint: {answer}"))?
            .to_string();
        fill(&mut form, "{device_code}", &code);
    }
    if form.values().any(|v| v == "{refresh_token}") {
        let asked = [
            ("grant_type", "password".to_string()),
            ("client_id", "00000000-0000-4000-8000-00000000a008".to_string()),
            ("username", "test.user@contoso.com".to_string()),
            ("password", "Passw0rd!".to_string()),
            (
                "scope",
                "https://outlook.office.com/IMAP.AccessAsUser.All offline_access openid profile".to_string(),
            ),
        ];
        let answer = post_json(
            http,
            &format!("{base}/contoso.onmicrosoft.com/oauth2/v2.0/token"),
            &asked,
        )
        .await?;
        let token = answer["refresh_token"]
            .as_str()
            .ok_or_else(|| format!("no refresh_token from the password grant: {answer}"))?
            .to_string();
        fill(&mut form, "{refresh_token}", &token);
    }
    Ok(form)
}

fn fill(form: &mut BTreeMap<String, String>, placeholder: &str, value: &str) {
    for v in form.values_mut() {
        if v == placeholder {
            *v = value.to_string();
        }
    }
}

async fn post_json(http: &reqwest::Client, url: &str, form: &[(&str, String)]) -> Result<serde_json::Value, String> {
    http.post(url)
        .form(form)
        .send()
        .await
        .map_err(|e| format!("POST {url}: {e}"))?
        .json()
        .await
        .map_err(|e| format!("POST {url}: the answer is not JSON: {e}"))
}
