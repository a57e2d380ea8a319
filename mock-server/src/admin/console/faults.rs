//! The faults and clock page: armed faults with how often each fired (disarm one, or
//! all), a form that arms one (`add-fault`), and the server clock with freeze, resume
//! and advance.

use super::html::{esc, layout, verb_button, verb_form_open, when, yes_no};
use super::{Admin, Query};
use std::fmt::Write;

const BACK: &str = "/_mock/console/faults";

const HOOKS: &[&str] = &[
    "token",
    "imap_greeting",
    "imap_tls",
    "imap_command",
    "pop3_command",
    "smtp_command",
];
const KINDS: &[&str] = &[
    "aad_error",
    "throttled",
    "server_error",
    "delay",
    "drop",
    "tls_failure",
    "reply",
    "token_expired",
    "trickle",
    "idle_timeout",
];

/// Optional fields of the arming form: (name, label, input type, hint).
const FIELDS: &[(&str, &str, &str, &str)] = &[
    ("code", "AADSTS code", "number", "aad_error, e.g. 7000215"),
    ("retry_after", "Retry-After seconds", "number", "throttled"),
    ("status", "HTTP status", "number", "server_error: 500 or 503"),
    ("millis", "Delay ms", "number", "delay"),
    ("reply", "Reply", "text", "reply: NO, BAD or BYE"),
    ("text", "Reply text", "text", "reply"),
    ("bytes", "Bytes per write", "number", "trickle"),
    ("command", "IMAP command", "text", "imap_command, e.g. SELECT"),
    ("client_id", "Client id", "text", "matcher"),
    ("user", "User", "text", "matcher"),
    ("grant_type", "Grant type", "text", "matcher (token)"),
    ("times", "Times", "number", "fire at most"),
    ("expect", "Expect", "number", "must fire exactly"),
];

fn options(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!(r#"<option value="{v}">{v}</option>"#))
        .collect()
}

pub fn page(admin: &Admin, q: &Query) -> String {
    let mut body = String::new();
    let armed = admin.core().faults.list();
    let rows: String = armed
        .iter()
        .map(|a| {
            format!(
                "<tr><td>#{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                a.id,
                esc(&a.fault.describe()),
                a.fired,
                a.fault
                    .times
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "every time".into()),
                a.fault.expect.map(|t| t.to_string()).unwrap_or_else(|| "-".into()),
                verb_button(
                    "remove-fault",
                    &[("id", &a.id.to_string())],
                    &format!("Disarm #{}", a.id),
                    "",
                    BACK
                )
            )
        })
        .collect();
    let rows = if rows.is_empty() {
        r#"<tr><td colspan="6">No fault is armed.</td></tr>"#.to_string()
    } else {
        rows
    };
    let fields: String = FIELDS
        .iter()
        .map(|(name, label, kind, hint)| {
            format!(r#"<label>{label} <input type="{kind}" name="{name}" placeholder="{hint}"></label> "#)
        })
        .collect();
    let _ = write!(
        body,
        r#"<h2>Armed faults</h2><div class="scroll"><table><thead><tr><th scope="col">Id</th><th scope="col">Fault</th><th scope="col">Fired</th><th scope="col">Times</th><th scope="col">Expect</th><th scope="col"><span class="sr">Action</span></th></tr></thead><tbody>{rows}</tbody></table></div>
<p>{clear}</p>
<h2>Arm a fault</h2>{form}<label>Hook <select name="hook">{hooks}</select></label> <label>Kind <select name="kind">{kinds}</select></label> {fields}<button type="submit">Arm</button> <code class="cmdlet">mock-server admin add-fault --hook H --kind K …</code></form>"#,
        clear = verb_button("clear-faults", &[], "Disarm all", "", BACK),
        form = verb_form_open("add-fault", BACK, false),
        hooks = options(HOOKS),
        kinds = options(KINDS),
    );
    let c = admin.clock();
    let _ = write!(
        body,
        r#"<h2>Clock</h2><dl class="ids card"><dt>Server time</dt><dd id="clock-now">{now}</dd><dt>Frozen</dt><dd>{frozen}</dd></dl>
<p class="actions">{freeze} {resume}</p>
{form}<label>Seconds (negative: back) <input type="number" name="seconds" value="3600" required></label> <button type="submit">Advance the clock</button></form>"#,
        now = esc(&when(c.now)),
        frozen = yes_no(c.frozen),
        freeze = verb_button("freeze-clock", &[], "Freeze", "", BACK),
        resume = verb_button("resume-clock", &[], "Resume at system time", "", BACK),
        form = verb_form_open("advance-clock", BACK, false),
    );
    layout("Faults and clock", "faults", q, &body)
}
