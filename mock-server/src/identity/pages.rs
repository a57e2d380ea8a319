//! The HTML pages a person sees: the sign-in page of `/authorize`, the device code
//! verification page `/devicelogin`, and error pages. Plain HTML forms without scripts
//! (except the auto-submit of `response_mode=form_post`), so any browser or an HTTP
//! client in a test can drive them. Field names follow Microsoft's pages: `login`,
//! `passwd`, `otc`.

/// Escape text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn layout(title: &str, body: &str) -> String {
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{{font-family:"Segoe UI",Helvetica,Arial,sans-serif;background:#f2f2f2;margin:0}}
main{{background:#fff;max-width:440px;margin:60px auto;padding:44px;box-shadow:0 2px 6px rgba(0,0,0,.2)}}
h1{{font-size:24px;font-weight:600;margin:0 0 16px}}
.brand{{color:#737373;font-size:15px;margin-bottom:20px}}
input[type=text],input[type=email],input[type=password]{{width:100%;box-sizing:border-box;border:0;border-bottom:1px solid #666;padding:6px 0;margin:8px 0 16px;font-size:15px}}
button{{background:#0067b8;color:#fff;border:0;padding:6px 20px;font-size:15px;margin-right:8px;cursor:pointer}}
button.secondary{{background:#ccc;color:#000}}
.error{{color:#e81123;margin:8px 0}}
ul{{padding-left:20px}} .small{{font-size:13px;color:#555}}
</style></head>
<body><main><div class="brand">Microsoft (mock-server)</div>
{body}
</main></body></html>
"#,
        title = escape(title)
    )
}

fn hidden(fields: &[(String, String)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!(r#"<input type="hidden" name="{}" value="{}">"#, escape(k), escape(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn error_line(error: Option<&str>) -> String {
    error
        .map(|e| format!(r#"<div class="error" id="error" role="alert">{}</div>"#, escape(e)))
        .unwrap_or_default()
}

/// The sign-in page: user name, password, the permissions the app asks for, and the
/// Accept / Cancel choice (consent).
pub fn sign_in(
    action: &str,
    fields: &[(String, String)],
    app_name: &str,
    permissions: &[String],
    login_hint: Option<&str>,
    error: Option<&str>,
) -> String {
    let perms: String = permissions.iter().map(|p| format!("<li>{}</li>", escape(p))).collect();
    layout(
        "Sign in to your account",
        &format!(
            r#"<h1>Sign in</h1>
<p>to continue to <b id="app">{app}</b></p>
{error}
<form method="post" action="{action}" id="signin">
{hidden}
<label for="login">Email, phone, or Skype</label>
<input type="email" name="login" id="login" value="{hint}" autocomplete="username" required>
<label for="passwd">Password</label>
<input type="password" name="passwd" id="passwd" autocomplete="current-password">
<p><b>Permissions requested</b><br><span class="small">{app} needs permission to:</span></p>
<ul id="permissions">{perms}</ul>
<p class="small">Accepting these permissions means that you allow this app to use your data as specified.</p>
<button type="submit" name="action" value="accept" id="accept">Accept</button>
<button type="submit" name="action" value="cancel" id="cancel" class="secondary" formnovalidate>Cancel</button>
</form>"#,
            app = escape(app_name),
            error = error_line(error),
            action = escape(action),
            hidden = hidden(fields),
            hint = escape(login_hint.unwrap_or("")),
        ),
    )
}

/// `/devicelogin`, first step: enter the code shown on the device.
pub fn enter_code(error: Option<&str>) -> String {
    layout(
        "Enter code",
        &format!(
            r#"<h1>Enter code</h1>
<p>Enter the code displayed on your app or device.</p>
{error}
<form method="post" action="/devicelogin" id="code">
<input type="text" name="otc" id="otc" placeholder="Code" autocomplete="off" required>
<button type="submit" id="next">Next</button>
</form>"#,
            error = error_line(error)
        ),
    )
}

/// `/devicelogin`, last step.
pub fn device_signed_in(app_name: &str) -> String {
    layout(
        "Desktop sign-in",
        &format!(
            r#"<h1 id="done">{app}</h1>
<p>You have signed in to the {app} application on your device. You may now close this window.</p>"#,
            app = escape(app_name)
        ),
    )
}

pub fn device_declined(app_name: &str) -> String {
    layout(
        "Desktop sign-in",
        &format!(
            r#"<h1 id="declined">{app}</h1>
<p>You have declined to sign in to the application on your device. You may now close this window.</p>"#,
            app = escape(app_name)
        ),
    )
}

/// Microsoft's error page: shown instead of a redirect when the redirect URI cannot be
/// trusted (AADSTS50011) or the request names no valid app.
pub fn error(code: u32, message: &str, trace_id: &str, correlation_id: &str, timestamp: &str) -> String {
    layout(
        "Sign in to your account",
        &format!(
            r#"<h1>Sorry, but we're having trouble signing you in.</h1>
<p id="aadsts">AADSTS{code}: {message}</p>
<p class="small">Request Id: {trace}<br>Correlation Id: {corr}<br>Timestamp: {ts}</p>"#,
            message = escape(message),
            trace = escape(trace_id),
            corr = escape(correlation_id),
            ts = escape(timestamp)
        ),
    )
}

/// `response_mode=form_post`: the browser posts the answer to the redirect URI.
pub fn form_post(redirect_uri: &str, fields: &[(String, String)]) -> String {
    format!(
        r#"<!DOCTYPE html><html><head><title>Working...</title></head>
<body onload="document.forms[0].submit()"><form method="POST" name="hiddenform" action="{action}">
{hidden}
<noscript><p>Script is disabled. Click Submit to continue.</p><input type="submit" value="Submit"></noscript>
</form></body></html>"#,
        action = escape(redirect_uri),
        hidden = hidden(fields)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        let p = sign_in(
            "/t/oauth2/v2.0/authorize",
            &[("state".into(), "\"><script>x</script>".into())],
            "App <b>",
            &["IMAP.AccessAsUser.All".into()],
            Some("a\"b"),
            Some("<bad>"),
        );
        assert!(!p.contains("<script>x"), "{p}");
        assert!(p.contains("&quot;&gt;&lt;script&gt;"));
        assert!(p.contains("App &lt;b&gt;"));
        assert!(p.contains("value=\"a&quot;b\""));
        assert!(p.contains("&lt;bad&gt;"));
    }
}
