//! The console's HTML pieces: escaping, the page frame, and the small form that runs one
//! admin verb and shows the cmdlet it stands for. Everything that comes from the
//! directory, the journal or a request goes through [`esc`].

use super::{Query, PREFIX};
use serde_json::Value;

/// Escape text for element content and attribute values.
pub fn esc(s: &str) -> String {
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

/// At most `max` characters, with an ellipsis when cut.
pub fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// `time` as `2026-01-31 12:00:00Z`.
pub fn when(t: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z");
    t.to_offset(time::UtcOffset::UTC).format(&f).unwrap_or_default()
}

const NAV: &[(&str, &str)] = &[
    ("", "Journal"),
    ("tenant", "Tenant"),
    ("mail", "Mail"),
    ("faults", "Faults and clock"),
];

/// The page frame: navigation, the flash line of the last change, the body.
pub fn layout(title: &str, active: &str, query: &Query, body: &str) -> String {
    let nav: String = NAV
        .iter()
        .map(|(path, label)| {
            let current = if *path == active { r#" aria-current="page""# } else { "" };
            format!(r#"<li><a href="{PREFIX}{path}"{current}>{label}</a></li>"#)
        })
        .collect();
    let mut flash = String::new();
    if let Some(m) = query.get("flash") {
        flash.push_str(&format!(r#"<p class="flash ok" role="status">{}</p>"#, esc(m)));
    }
    if let Some(m) = query.get("error") {
        flash.push_str(&format!(r#"<p class="flash err" role="alert">{}</p>"#, esc(m)));
    }
    format!(
        r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · mock-server console</title>
<link rel="stylesheet" href="{PREFIX}assets/console.css">
<script src="{PREFIX}assets/console.js" defer></script>
</head><body>
<a class="skip" href="#main">Skip to content</a>
<header><p class="brand">mock-server console <span>Microsoft 365 mail authentication, offline</span></p>
<nav aria-label="Console"><ul>{nav}</ul></nav></header>
<main id="main"><h1>{title}</h1>
{flash}{body}</main></body></html>
"##,
        title = esc(title)
    )
}

/// A page with one sentence (errors, refusals).
pub fn message_page(title: &str, text: &str) -> String {
    layout(title, "-", &Query::new(), &format!("<p>{}</p>", esc(text)))
}

pub fn login_page(next: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!(r#"<p class="flash err" role="alert">{}</p>"#, esc(e)))
        .unwrap_or_default();
    let body = format!(
        r#"{error}<p>This server was started with an admin token. Give it once; the browser keeps a cookie for this console only.</p>
<form method="post" action="{PREFIX}login" class="card">
<input type="hidden" name="next" value="{next}">
<label>Admin token <input type="password" name="token" autocomplete="current-password" required autofocus></label>
<button type="submit">Sign in</button></form>"#,
        next = esc(next)
    );
    layout("Sign in", "-", &Query::new(), &body)
}

/// The answer to add-app-secret: the value, once, as the admin center shows it.
pub fn secret_page(v: &Value, back: &str) -> String {
    let s = |k: &str| esc(v.get(k).and_then(Value::as_str).unwrap_or(""));
    let body = format!(
        r#"<p class="flash ok" role="status">Secret added. Copy its value now: it is not shown again.</p>
<dl class="card"><dt>Value</dt><dd><code id="secret-value">{}</code></dd><dt>Secret id</dt><dd><code>{}</code></dd><dt>Expires</dt><dd>{}</dd></dl>
<p><a href="{}">Back</a></p>"#,
        s("value"),
        s("key_id"),
        s("end"),
        esc(back)
    );
    layout("New client secret", "tenant", &Query::new(), &body)
}

/// A form that runs `verb` with hidden `params` from a button labelled `label`, with the
/// cmdlet it stands for beside it (`cmdlet` empty: none).
pub fn verb_button(verb: &str, params: &[(&str, &str)], label: &str, cmdlet: &str, back: &str) -> String {
    let hidden: String = params
        .iter()
        .map(|(k, v)| format!(r#"<input type="hidden" name="{}" value="{}">"#, esc(k), esc(v)))
        .collect();
    let cmd = if cmdlet.is_empty() {
        String::new()
    } else {
        format!(r#" <code class="cmdlet">{}</code>"#, esc(cmdlet))
    };
    format!(
        r#"<form method="post" action="{PREFIX}do" class="verb"><input type="hidden" name="verb" value="{}"><input type="hidden" name="back" value="{}">{hidden}<button type="submit">{}</button>{cmd}</form>"#,
        esc(verb),
        esc(back),
        esc(label)
    )
}

/// The opening of a form that runs `verb` with visible fields (closed by the caller).
pub fn verb_form_open(verb: &str, back: &str, multipart: bool) -> String {
    let enctype = if multipart {
        r#" enctype="multipart/form-data""#
    } else {
        ""
    };
    format!(
        r#"<form method="post" action="{PREFIX}do" class="verb card"{enctype}><input type="hidden" name="verb" value="{}"><input type="hidden" name="back" value="{}">"#,
        esc(verb),
        esc(back)
    )
}

/// `yes`/`no` for a setting.
pub fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_is_escaped() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let b = verb_button("reset", &[("x", "\"><script>")], "<b>", "Set-X <y>", "/_mock/console/");
        assert!(
            !b.contains("<script>") && !b.contains("<b>") && !b.contains("<y>"),
            "{b}"
        );
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate("ééé", 2), "éé…");
        assert_eq!(truncate("ab", 2), "ab");
    }
}
