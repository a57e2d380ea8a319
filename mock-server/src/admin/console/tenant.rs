//! The tenant page: what the Entra admin center and Exchange Online PowerShell would show
//! of each tenant (app registrations with their credentials, permissions and consent;
//! enterprise apps; the Exchange service principals and which object id each was
//! registered with; mailboxes with their permissions and protocol settings), with
//! buttons for the common verbs, each beside the cmdlet it stands for.

use super::html::{esc, layout, verb_button, verb_form_open, when, yes_no};
use super::{Admin, Query};
use crate::directory::{resources, Application, PermissionKind, Tenant};
use std::fmt::Write;

const BACK: &str = "/_mock/console/tenant";

/// A trustee id as a person reads it: the user, or the app whose enterprise app (or
/// app registration) has that object id.
fn trustee_name(t: &Tenant, id: &str) -> String {
    if let Some(u) = t.users.iter().find(|u| u.object_id.eq_ignore_ascii_case(id)) {
        return u.upn.clone();
    }
    if let Some(a) = t
        .applications
        .iter()
        .find(|a| a.service_principal_id.eq_ignore_ascii_case(id))
    {
        return format!("{} (enterprise app)", a.display_name);
    }
    if let Some(a) = t.applications.iter().find(|a| a.object_id.eq_ignore_ascii_case(id)) {
        return format!("{} (app registration object id!)", a.display_name);
    }
    if let Some(s) = t
        .exchange
        .service_principals
        .iter()
        .find(|s| s.object_id.eq_ignore_ascii_case(id))
    {
        return format!("service principal of {}", s.app_id);
    }
    String::new()
}

/// How the app stands with Exchange: registered with the right object id, the wrong
/// one, or not at all; with the buttons that change it.
fn exchange_registration(t: &Tenant, a: &Application) -> String {
    let mut out = String::new();
    let regs: Vec<_> = t
        .exchange
        .service_principals
        .iter()
        .filter(|s| s.app_id.eq_ignore_ascii_case(&a.app_id))
        .collect();
    let new_sp = format!(
        "New-ServicePrincipal -AppId {} -ObjectId {}",
        a.app_id, a.service_principal_id
    );
    let right = regs
        .iter()
        .any(|s| s.object_id.eq_ignore_ascii_case(&a.service_principal_id));
    for s in &regs {
        let ok = s.object_id.eq_ignore_ascii_case(&a.service_principal_id);
        let note = if ok {
            r#"<span class="good">the enterprise application's object id: right</span>"#.to_string()
        } else if s.object_id.eq_ignore_ascii_case(&a.object_id) {
            format!(
                r#"<span class="bad">the app registration's object id: wrong; Exchange needs the enterprise application's <code>{}</code></span>"#,
                esc(&a.service_principal_id)
            )
        } else {
            format!(
                r#"<span class="bad">not this app's enterprise application object id <code>{}</code></span>"#,
                esc(&a.service_principal_id)
            )
        };
        let _ = write!(
            out,
            r#"<li>Registered with <code>{}</code>: {note} {}</li>"#,
            esc(&s.object_id),
            verb_button(
                "remove-service-principal",
                &[("identity", &s.object_id)],
                "Remove",
                &format!("Remove-ServicePrincipal -Identity {}", s.object_id),
                BACK
            )
        );
    }
    if regs.is_empty() {
        out.push_str(r#"<li><span class="bad">Not registered in Exchange Online.</span></li>"#);
    }
    if !right && !a.public_client {
        let _ = write!(
            out,
            "<li>{}</li>",
            verb_button(
                "new-service-principal",
                &[
                    ("app_id", &a.app_id),
                    ("object_id", &a.service_principal_id),
                    ("tenant", &t.id)
                ],
                "Register with the enterprise app's object id",
                &new_sp,
                BACK
            )
        );
    }
    format!("<ul class=\"plain\">{out}</ul>")
}

fn app_card(t: &Tenant, a: &Application, now: time::OffsetDateTime) -> String {
    let mut secrets = String::new();
    for s in &a.secrets {
        let expired = s.end <= now;
        let _ = write!(
            secrets,
            r#"<tr><td><code>{}</code></td><td class="{}">{}{}</td><td>{}</td></tr>"#,
            esc(&s.id),
            if expired { "bad" } else { "" },
            esc(&when(s.end)),
            if expired { " (expired)" } else { "" },
            verb_button(
                "remove-app-secret",
                &[("app_id", &a.app_id), ("key_id", &s.id)],
                "Remove",
                "",
                BACK
            )
        );
    }
    for c in &a.certificates {
        let expired = c.end <= now;
        let _ = write!(
            secrets,
            r#"<tr><td>certificate <code>{}</code></td><td class="{}">{}{}</td><td>{}</td></tr>"#,
            esc(&c.key_id),
            if expired { "bad" } else { "" },
            esc(&when(c.end)),
            if expired { " (expired)" } else { "" },
            verb_button(
                "remove-app-certificate",
                &[("app_id", &a.app_id), ("key_id", &c.key_id)],
                "Remove",
                "",
                BACK
            )
        );
    }
    if secrets.is_empty() {
        secrets = r#"<tr><td colspan="3">No credentials.</td></tr>"#.into();
    }
    let mut perms = String::new();
    for p in &a.permissions {
        let resource = resources::RESOURCES
            .iter()
            .find(|r| r.app_id == p.resource_app_id)
            .map(|r| r.display_name)
            .unwrap_or(p.resource_app_id);
        let kind = match p.kind {
            PermissionKind::Application => "application",
            PermissionKind::Delegated => "delegated",
        };
        let _ = write!(
            perms,
            r#"<tr><td>{}</td><td>{kind}</td><td><code>{}</code></td><td class="{}">{}</td></tr>"#,
            esc(resource),
            esc(&p.value),
            if p.admin_consent { "good" } else { "bad" },
            if p.admin_consent { "granted" } else { "not granted" }
        );
    }
    if perms.is_empty() {
        perms = r#"<tr><td colspan="4">No API permissions.</td></tr>"#.into();
    }
    let consent = format!(
        "{} {}",
        verb_button(
            "grant-admin-consent",
            &[("app_id", &a.app_id)],
            "Grant admin consent",
            "",
            BACK
        ),
        verb_button(
            "revoke-admin-consent",
            &[("app_id", &a.app_id)],
            "Revoke admin consent",
            "",
            BACK
        )
    );
    let add_secret = format!(
        r#"{}<input type="hidden" name="app_id" value="{}"><label>Valid for days (negative: already expired) <input type="number" name="days" value="180" min="-3660" max="3660"></label> <button type="submit">Add a client secret</button></form>"#,
        verb_form_open("add-app-secret", BACK, false),
        esc(&a.app_id)
    );
    format!(
        r#"<article class="card app" id="app-{id}"><h4>{name}</h4>
<dl class="ids"><dt>Application (client) id</dt><dd><code>{id}</code></dd><dt>Object id (app registration)</dt><dd><code>{oid}</code></dd><dt>Enterprise application (service principal) object id</dt><dd><code>{spid}</code></dd><dt>Public client flows</dt><dd>{public}</dd></dl>
<h5>Exchange Online service principal</h5>{exo}
<h5>Certificates and secrets</h5><div class="scroll"><table><thead><tr><th scope="col">Secret id</th><th scope="col">Expires</th><th scope="col"><span class="sr">Action</span></th></tr></thead><tbody>{secrets}</tbody></table></div>{add_secret}
<h5>API permissions</h5><div class="scroll"><table><thead><tr><th scope="col">API</th><th scope="col">Type</th><th scope="col">Permission</th><th scope="col">Admin consent</th></tr></thead><tbody>{perms}</tbody></table></div><p class="actions">{consent}</p></article>"#,
        id = esc(&a.app_id),
        name = esc(&a.display_name),
        oid = esc(&a.object_id),
        spid = esc(&a.service_principal_id),
        public = yes_no(a.public_client),
        exo = exchange_registration(t, a),
    )
}

fn mailboxes(t: &Tenant) -> String {
    let mut out = String::new();
    // Who can be granted: users, and the registered Exchange service principals.
    let mut trustees = String::new();
    for s in &t.exchange.service_principals {
        let name = trustee_name(t, &s.object_id);
        let _ = write!(
            trustees,
            r#"<option value="{}">{} {}</option>"#,
            esc(&s.object_id),
            esc(&s.object_id),
            esc(&name)
        );
    }
    for u in &t.users {
        let _ = write!(trustees, r#"<option value="{0}">{0}</option>"#, esc(&u.upn));
    }
    for m in &t.exchange.mailboxes {
        let mut perms = String::new();
        for (rights, list, verb, cmd, param) in [
            (
                "FullAccess",
                &m.full_access,
                "remove-mailbox-permission",
                "Remove-MailboxPermission",
                "user",
            ),
            (
                "SendAs",
                &m.send_as,
                "remove-recipient-permission",
                "Remove-RecipientPermission",
                "trustee",
            ),
        ] {
            for who in list {
                let name = trustee_name(t, who);
                let flag = if cmd == "Remove-MailboxPermission" {
                    "-User"
                } else {
                    "-Trustee"
                };
                let _ = write!(
                    perms,
                    r#"<li>{rights}: <code>{}</code> {} {}</li>"#,
                    esc(who),
                    esc(&name),
                    verb_button(
                        verb,
                        &[("identity", &m.address), (param, who), ("access_rights", rights)],
                        &format!("Remove {rights}"),
                        &format!("{cmd} -Identity {} {flag} {who} -AccessRights {rights}", m.address),
                        BACK
                    )
                );
            }
        }
        if perms.is_empty() {
            perms = "<li>No permissions.</li>".into();
        }
        let toggle = |label: &str, param: &str, cmd: &str, on: bool| {
            verb_button(
                "set-cas-mailbox",
                &[("identity", &m.address), (param, if on { "false" } else { "true" })],
                &format!("{} {label}", if on { "Disable" } else { "Enable" }),
                &format!(
                    "Set-CASMailbox -Identity {} -{cmd} ${}",
                    m.address,
                    if on { "false" } else { "true" }
                ),
                BACK,
            )
        };
        let smtp = match m.smtp_client_authentication_disabled {
            None => "as the tenant",
            Some(true) => "disabled",
            Some(false) => "enabled",
        };
        let _ = write!(
            out,
            r#"<article class="card mailbox" id="mbx-{addr}"><h4>{addr} <small>{kind}</small></h4>
<dl class="ids"><dt>IMAP</dt><dd>{imap} {imap_btn}</dd><dt>POP</dt><dd>{pop} {pop_btn}</dd><dt>SMTP AUTH</dt><dd>{smtp}</dd></dl>
<h5>Permissions</h5><ul class="plain">{perms}</ul>
{form}<input type="hidden" name="identity" value="{addr}"><label>Trustee <select name="user">{trustees}</select></label> <input type="hidden" name="access_rights" value="FullAccess"><button type="submit">Add FullAccess</button> <code class="cmdlet">Add-MailboxPermission -Identity {addr} -User … -AccessRights FullAccess</code></form></article>"#,
            addr = esc(&m.address),
            kind = esc(&format!("{:?}", m.kind).to_lowercase()),
            imap = if m.imap_enabled { "enabled" } else { "disabled" },
            imap_btn = toggle("IMAP", "imap_enabled", "ImapEnabled", m.imap_enabled),
            pop = if m.pop_enabled { "enabled" } else { "disabled" },
            pop_btn = toggle("POP", "pop_enabled", "PopEnabled", m.pop_enabled),
            form = verb_form_open("add-mailbox-permission", BACK, false),
        );
    }
    out
}

/// Exchange service principals whose app is not registered in this tenant (multi-tenant
/// apps): shown so nothing Exchange holds is hidden.
fn foreign_service_principals(t: &Tenant) -> String {
    let rows: String = t
        .exchange
        .service_principals
        .iter()
        .filter(|s| t.application(&s.app_id).is_none())
        .map(|s| {
            format!(
                "<li>App <code>{}</code> registered with <code>{}</code> {}</li>",
                esc(&s.app_id),
                esc(&s.object_id),
                verb_button(
                    "remove-service-principal",
                    &[("identity", &s.object_id)],
                    "Remove",
                    &format!("Remove-ServicePrincipal -Identity {}", s.object_id),
                    BACK
                )
            )
        })
        .collect();
    if rows.is_empty() {
        String::new()
    } else {
        format!("<h3>Other Exchange service principals</h3><ul class=\"plain\">{rows}</ul>")
    }
}

pub fn page(admin: &Admin, q: &Query) -> String {
    let now = admin.core().clock.now();
    let d = admin.core().directory();
    let mut body = String::new();
    let _ = write!(
        body,
        r#"<p>Jump to: {}</p>"#,
        d.tenants
            .iter()
            .map(|t| format!(r##"<a href="#tenant-{0}">{1}</a>"##, esc(&t.id), esc(&t.display_name)))
            .collect::<Vec<_>>()
            .join(" · ")
    );
    for t in &d.tenants {
        let smtp_on = !t.exchange.smtp_client_authentication_disabled;
        let transport = verb_button(
            "set-transport-config",
            &[
                ("tenant", &t.id),
                (
                    "smtp_client_authentication_disabled",
                    if smtp_on { "true" } else { "false" },
                ),
            ],
            if smtp_on {
                "Disable SMTP AUTH"
            } else {
                "Enable SMTP AUTH"
            },
            &format!("Set-TransportConfig -SmtpClientAuthenticationDisabled ${smtp_on}"),
            BACK,
        );
        let apps: String = t.applications.iter().map(|a| app_card(t, a, now)).collect();
        let _ = write!(
            body,
            r#"<section class="tenant" id="tenant-{id}" aria-labelledby="tenant-{id}-h"><h2 id="tenant-{id}-h">{name} <small><code>{id}</code></small></h2>
<p>Domains: {domains}. SMTP AUTH for the organisation: {smtp}. {transport}</p>
<h3>App registrations and enterprise apps</h3>{apps}
{foreign}
<h3>Mailboxes</h3>{mailboxes}</section>"#,
            id = esc(&t.id),
            name = esc(&t.display_name),
            domains = esc(&t.domains.join(", ")),
            smtp = if smtp_on { "enabled" } else { "disabled" },
            foreign = foreign_service_principals(t),
            mailboxes = mailboxes(t),
        );
    }
    layout("Tenant", "tenant", q, &body)
}
