//! The mail page: every mailbox, its folders, a folder's messages (the `get-messages`
//! verb), one message's headers, text and raw source (`get-message`), and a form that
//! delivers an uploaded .eml (`deliver`).

use super::html::{esc, layout, verb_form_open, when};
use super::{page as html_page, Admin, Body, Query, PREFIX};
use http::{Response, StatusCode};
use std::fmt::Write;

/// Raw source shown on the page; a larger message is cut (its size is shown).
pub const MAX_SHOWN_SOURCE: usize = 256 * 1024;

fn link(mailbox: &str, folder: Option<&str>, uid: Option<u32>) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    s.append_pair("mailbox", mailbox);
    if let Some(f) = folder {
        s.append_pair("folder", f);
    }
    if let Some(u) = uid {
        s.append_pair("uid", &u.to_string());
    }
    format!("{PREFIX}mail?{}", s.finish())
}

fn message_view(admin: &Admin, mailbox: &str, folder: &str, uid: u32) -> String {
    let raw = match admin.message(mailbox, folder, uid) {
        Ok(r) => r,
        Err(e) => return format!(r#"<p class="flash err" role="alert">{}</p>"#, esc(&e.message)),
    };
    let parsed = mail_parser::MessageParser::default().parse(&raw[..]);
    let headers: String = parsed
        .as_ref()
        .map(|m| {
            m.headers_raw()
                .map(|(name, value)| format!("<dt>{}</dt><dd>{}</dd>", esc(name), esc(value.trim())))
                .collect()
        })
        .unwrap_or_default();
    let text = parsed
        .as_ref()
        .and_then(|m| m.body_text(0).map(|t| t.into_owned()))
        .unwrap_or_else(|| "(no text part)".into());
    let shown = &raw[..raw.len().min(MAX_SHOWN_SOURCE)];
    let cut = if raw.len() > MAX_SHOWN_SOURCE {
        format!(" (first {MAX_SHOWN_SOURCE} of {} bytes)", raw.len())
    } else {
        String::new()
    };
    format!(
        r#"<section class="card message" aria-labelledby="msg-h"><h2 id="msg-h">Message UID {uid}</h2>
<h3>Headers</h3><dl class="headers">{headers}</dl>
<h3>Text</h3><pre class="text">{text}</pre>
<details><summary>Raw source{cut}</summary><pre class="raw">{raw}</pre></details></section>"#,
        text = esc(&text),
        raw = esc(&String::from_utf8_lossy(shown)),
    )
}

pub fn page(admin: &Admin, q: &Query) -> Response<Body> {
    let mut body = String::new();
    let addresses = admin.core().store.addresses();
    let mailbox = q
        .get("mailbox")
        .cloned()
        .or_else(|| addresses.first().cloned())
        .unwrap_or_default();
    let folder = q.get("folder").cloned().unwrap_or_else(|| "INBOX".into());
    let here = link(&mailbox, Some(&folder), None);
    let list: String = addresses
        .iter()
        .map(|a| {
            let current = if a.eq_ignore_ascii_case(&mailbox) {
                r#" aria-current="true""#
            } else {
                ""
            };
            format!(
                r#"<li><a href="{}"{current}>{}</a></li>"#,
                esc(&link(a, None, None)),
                esc(a)
            )
        })
        .collect();
    let _ = write!(
        body,
        r#"<nav aria-label="Mailboxes"><h2>Mailboxes</h2><ul class="tabs">{list}</ul></nav>"#
    );
    if let Some(m) = admin.core().store.mailbox(&mailbox) {
        let folders: String = m
            .list()
            .iter()
            .map(|f| {
                let current = if f.name == folder {
                    r#" aria-current="true""#
                } else {
                    ""
                };
                format!(
                    r#"<li><a href="{}"{current}>{}</a></li>"#,
                    esc(&link(&mailbox, Some(&f.name), None)),
                    esc(&f.name)
                )
            })
            .collect();
        let _ = write!(
            body,
            r#"<nav aria-label="Folders of {mb}"><h2>Folders of {mb}</h2><ul class="tabs">{folders}</ul></nav>"#,
            mb = esc(&mailbox)
        );
        match admin.messages(&mailbox, &folder) {
            Ok(messages) => {
                let rows: String = messages
                    .iter()
                    .map(|m| {
                        format!(
                            r#"<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                            esc(&link(&mailbox, Some(&folder), Some(m.uid))),
                            m.uid,
                            esc(m.from.as_deref().unwrap_or("")),
                            esc(m.subject.as_deref().unwrap_or("(no subject)")),
                            esc(&when(m.internal_date)),
                            esc(&m.flags.join(" ")),
                            m.size
                        )
                    })
                    .collect();
                let rows = if rows.is_empty() {
                    r#"<tr><td colspan="6">No messages.</td></tr>"#.to_string()
                } else {
                    rows
                };
                let _ = write!(
                    body,
                    r#"<h2>{} <small>{}</small></h2><div class="scroll"><table><thead><tr><th scope="col">UID</th><th scope="col">From</th><th scope="col">Subject</th><th scope="col">Received</th><th scope="col">Flags</th><th scope="col">Size</th></tr></thead><tbody>{rows}</tbody></table></div>"#,
                    esc(&folder),
                    esc(&mailbox)
                );
            }
            Err(e) => {
                let _ = write!(body, r#"<p class="flash err" role="alert">{}</p>"#, esc(&e.message));
            }
        }
        if let Some(uid) = q.get("uid").and_then(|u| u.parse().ok()) {
            body.push_str(&message_view(admin, &mailbox, &folder, uid));
        }
        let _ = write!(
            body,
            r#"<h2>Deliver a message</h2>{form}<input type="hidden" name="mailbox" value="{mb}"><label>Folder <input type="text" name="folder" value="{folder}"></label> <label>Message (.eml) <input type="file" name="eml_file" accept=".eml,message/rfc822" required></label> <button type="submit">Deliver</button> <code class="cmdlet">mock-server admin deliver --mailbox {mb} --folder {folder} --eml-file FILE</code></form>"#,
            form = verb_form_open("deliver", &here, true),
            mb = esc(&mailbox),
            folder = esc(&folder),
        );
    } else if !mailbox.is_empty() {
        let _ = write!(
            body,
            r#"<p class="flash err" role="alert">No mailbox {}.</p>"#,
            esc(&mailbox)
        );
    }
    html_page(StatusCode::OK, layout("Mail", "mail", q, &body))
}
