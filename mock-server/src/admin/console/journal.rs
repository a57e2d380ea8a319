//! The journal page: one row per entry, newest first, each opening to its reason, its fix
//! and the masked request; filters by protocol, outcome, app and mailbox. New rows come
//! from the event stream (`events`) and are rendered by [`row`] here, so a row looks the
//! same whether the page or the stream drew it.

use super::html::{esc, layout, when};
use super::{Admin, Query, PREFIX};
use crate::directory::Directory;
use crate::journal::{JournalEntry, Outcome};
use std::collections::HashMap;

/// Rows a page shows; older entries stay in the journal (`get-journal` pages through all).
pub const MAX_PAGE_ROWS: usize = 200;

const PROTOCOLS: &[&str] = &["https", "imap", "smtp", "pop3", "admin"];
const OUTCOMES: &[&str] = &[
    "issued",
    "refused",
    "authenticated",
    "not_connected",
    "ended",
    "fault",
    "admin",
];

/// The page's (and the stream's) filters; empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub protocol: String,
    pub outcome: String,
    /// Client id or app display name, a part of either.
    pub app: String,
    /// A mailbox address, or a part of one, in the request.
    pub mailbox: String,
}

fn field(q: &Query, name: &str) -> String {
    q.get(name).map(|s| s.trim().to_ascii_lowercase()).unwrap_or_default()
}

pub fn outcome_name(o: Outcome) -> String {
    serde_json::to_value(o)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Client id → app display name, for rows and the app filter.
pub struct AppNames(HashMap<String, String>);

impl AppNames {
    pub fn new(d: &Directory) -> Self {
        Self(
            d.tenants
                .iter()
                .flat_map(|t| &t.applications)
                .map(|a| (a.app_id.to_ascii_lowercase(), a.display_name.clone()))
                .collect(),
        )
    }

    fn name(&self, client_id: &str) -> Option<&str> {
        self.0.get(&client_id.to_ascii_lowercase()).map(String::as_str)
    }
}

impl Filter {
    pub fn from_query(q: &Query) -> Self {
        Self {
            protocol: field(q, "protocol"),
            outcome: field(q, "outcome"),
            app: field(q, "app"),
            mailbox: field(q, "mailbox"),
        }
    }

    pub fn matches(&self, e: &JournalEntry, names: &AppNames) -> bool {
        let contains = |hay: &str, needle: &str| hay.to_ascii_lowercase().contains(needle);
        (self.protocol.is_empty() || e.protocol.as_str() == self.protocol)
            && (self.outcome.is_empty() || outcome_name(e.outcome) == self.outcome)
            && (self.app.is_empty()
                || e.client_id
                    .as_deref()
                    .is_some_and(|c| contains(c, &self.app) || names.name(c).is_some_and(|n| contains(n, &self.app))))
            && (self.mailbox.is_empty() || contains(&e.request, &self.mailbox) || contains(&e.summary, &self.mailbox))
    }

    /// The filters as a query string (for the event stream's address).
    pub fn to_query(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("protocol", &self.protocol)
            .append_pair("outcome", &self.outcome)
            .append_pair("app", &self.app)
            .append_pair("mailbox", &self.mailbox)
            .finish()
    }
}

/// Did this entry refuse something (so it deserves attention)?
fn is_refusal(o: Outcome) -> bool {
    matches!(
        o,
        Outcome::Refused | Outcome::NotConnected | Outcome::Fault | Outcome::Ended
    )
}

/// Who: the app (and its name) and, for mail, the mailbox the client named.
fn who(e: &JournalEntry, names: &AppNames) -> String {
    let mut parts = Vec::new();
    if let Some(c) = &e.client_id {
        parts.push(match names.name(c) {
            Some(n) => format!("{n} ({c})"),
            None => c.clone(),
        });
    }
    if let Some(user) = e.request.split_whitespace().find_map(|w| w.strip_prefix("user=")) {
        parts.push(user.to_string());
    }
    if parts.is_empty() {
        parts.push(if e.protocol == "admin" {
            "administrator".into()
        } else {
            "-".into()
        });
    }
    parts.join(" · ")
}

/// One entry as an `<li>`: a `<details>` whose summary is the row. One line of HTML, so
/// the event stream can carry it in a single `data:` field.
pub fn row(e: &JournalEntry, names: &AppNames) -> String {
    let outcome = outcome_name(e.outcome);
    let mut body = String::new();
    let mut item = |label: &str, value: &str, class: &str| {
        body.push_str(&format!(r#"<dt>{label}</dt><dd class="{class}">{}</dd>"#, esc(value)));
    };
    if let Some(r) = &e.reason {
        item("Reason", r, "reason");
    }
    if let Some(f) = &e.fix {
        item("Fix", f, "fix");
    }
    if let Some(err) = &e.error {
        let code = e.error_code.map(|c| format!(" (AADSTS{c})")).unwrap_or_default();
        item("Answer", &format!("{err}{code}"), "");
    }
    item("Request", &e.request, "mono");
    if !e.summary.is_empty() {
        item("Request fields (credentials masked)", &e.summary, "mono");
    }
    if e.status != 0 {
        item("HTTP status", &e.status.to_string(), "");
    }
    if let Some(t) = &e.tenant {
        item("Tenant", t, "mono");
    }
    if let Some(p) = &e.peer {
        item("Peer", p, "mono");
    }
    if !e.details.is_null() {
        item("Details", &e.details.to_string(), "mono");
    }
    let flag = if is_refusal(e.outcome) { " refusal" } else { "" };
    let line = format!(
        r#"<li class="entry{flag}" data-seq="{seq}"><details><summary><span class="time">{time}</span> <span class="proto">{proto}</span> <span class="outcome o-{outcome}">{outcome_text}</span> <span class="who">{who}</span> <span class="req">{req}</span></summary><dl>{body}</dl></details></li>"#,
        seq = e.seq,
        time = esc(&when(e.at)),
        proto = esc(e.protocol.as_str()),
        outcome_text = esc(&outcome.replace('_', " ")),
        who = esc(&who(e, names)),
        req = esc(&e.request),
    );
    // Text never holds a raw newline after escaping except from the data; keep one line.
    line.replace('\n', "&#10;").replace('\r', "&#13;")
}

fn select(name: &str, label: &str, options: &[&str], current: &str) -> String {
    let opts: String = std::iter::once("")
        .chain(options.iter().copied())
        .map(|o| {
            let sel = if o == current { " selected" } else { "" };
            let text = if o.is_empty() {
                "any".to_string()
            } else {
                o.replace('_', " ")
            };
            format!(r#"<option value="{o}"{sel}>{}</option>"#, esc(&text))
        })
        .collect();
    format!(r#"<label>{label} <select name="{name}">{opts}</select></label>"#)
}

pub fn page(admin: &Admin, q: &Query) -> String {
    let filter = Filter::from_query(q);
    let names = AppNames::new(&admin.core().directory());
    let last = admin.core().journal.last_seq();
    let entries = admin.journal(0);
    let rows: String = entries
        .iter()
        .rev()
        .filter(|e| filter.matches(e, &names))
        .take(MAX_PAGE_ROWS)
        .map(|e| row(e, &names))
        .collect::<Vec<_>>()
        .join("\n");
    let empty = if rows.is_empty() {
        r#"<p class="empty" id="journal-empty">Nothing yet. Request a token or authenticate over IMAP and it appears here.</p>"#
    } else {
        ""
    };
    let body = format!(
        r#"<form method="get" action="{PREFIX}" class="filters card" aria-label="Filter the journal">
{protocol} {outcome}
<label>App <input type="text" name="app" value="{app}" placeholder="client id or name"></label>
<label>Mailbox <input type="text" name="mailbox" value="{mailbox}" placeholder="address"></label>
<button type="submit">Filter</button> <a href="{PREFIX}">Clear</a></form>
<p id="live" class="live" role="status" aria-live="polite">Newest first. The {MAX_PAGE_ROWS} latest matching entries; new ones appear as they happen while scripts run.</p>
{empty}<ol id="journal" class="journal" data-events="{PREFIX}events?{events}" data-after="{last}" reversed>
{rows}
</ol>"#,
        protocol = select("protocol", "Protocol", PROTOCOLS, &filter.protocol),
        outcome = select("outcome", "Outcome", OUTCOMES, &filter.outcome),
        app = esc(&filter.app),
        mailbox = esc(&filter.mailbox),
        events = esc(&filter.to_query()),
    );
    layout("Journal", "", q, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Protocol;

    fn refusal() -> JournalEntry {
        JournalEntry {
            client_id: Some("00000000-0000-4000-8000-00000000a002".into()),
            reason: Some("registered with <the wrong> object id".into()),
            fix: Some("New-ServicePrincipal -AppId a -ObjectId c".into()),
            ..JournalEntry::new(
                Protocol::Imap,
                time::OffsetDateTime::UNIX_EPOCH,
                "AUTHENTICATE XOAUTH2 user=test.user@contoso.com",
                Outcome::Refused,
            )
        }
    }

    #[test]
    fn a_row_is_one_escaped_line_with_reason_and_fix() {
        let names = AppNames(HashMap::from([(
            "00000000-0000-4000-8000-00000000a002".to_string(),
            "Wrong Object Id".to_string(),
        )]));
        let r = row(&refusal(), &names);
        assert!(!r.contains('\n'));
        assert!(r.contains("&lt;the wrong&gt;"), "{r}");
        assert!(r.contains("New-ServicePrincipal"), "{r}");
        assert!(r.contains("Wrong Object Id"), "{r}");
        assert!(r.contains("test.user@contoso.com"), "{r}");
    }

    #[test]
    fn filters_match_by_protocol_outcome_app_and_mailbox() {
        let names = AppNames(HashMap::from([(
            "00000000-0000-4000-8000-00000000a002".into(),
            "Wrong Object Id".into(),
        )]));
        let q =
            |pairs: &[(&str, &str)]| -> Query { pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() };
        let e = refusal();
        assert!(Filter::from_query(&q(&[("protocol", "imap"), ("outcome", "refused")])).matches(&e, &names));
        assert!(!Filter::from_query(&q(&[("protocol", "https")])).matches(&e, &names));
        assert!(Filter::from_query(&q(&[("app", "wrong object")])).matches(&e, &names));
        assert!(!Filter::from_query(&q(&[("app", "poller")])).matches(&e, &names));
        assert!(Filter::from_query(&q(&[("mailbox", "TEST.user")])).matches(&e, &names));
        assert!(!Filter::from_query(&q(&[("mailbox", "shared.inbox")])).matches(&e, &names));
    }
}
