//! Loading a directory from fixture JSON (format: `fixtures/README.md`).
//!
//! Errors name the file and the JSON path of the offending value, e.g.
//! `fixtures/my.json: tenants[0].applications[2].secrets[0].end: invalid RFC 3339 date`.
//! Files a fixture refers to (keys, certificates, `.eml` mail) are resolved relative to
//! the fixture JSON's folder; the embedded demo tenant resolves them from the binary.

use super::*;
use crate::directory::resources;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use time::format_description::well_known::Rfc3339;

/// A fixture problem, located by file and JSON path.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {path}: {message}")]
pub struct FixtureError {
    pub file: String,
    /// JSON path (`tenants[0].domains[1]`), or `-` for the file as a whole.
    pub path: String,
    pub message: String,
}

/// Where a fixture's files come from.
enum Files {
    Embedded,
    Disk(PathBuf),
}

/// The demo tenant, compiled into the binary so that `mock-server` runs from any folder.
const EMBEDDED_ROOT: &str = "demo-tenant.json";
const EMBEDDED: &[(&str, &[u8])] = &[
    ("demo-tenant.json", include_bytes!("../../../fixtures/demo-tenant.json")),
    (
        "keys/token-signing.key",
        include_bytes!("../../../fixtures/keys/token-signing.key"),
    ),
    (
        "keys/token-signing.crt",
        include_bytes!("../../../fixtures/keys/token-signing.crt"),
    ),
    (
        "certs/mail-poller.crt",
        include_bytes!("../../../fixtures/certs/mail-poller.crt"),
    ),
    (
        "mail/test.user/1-test-mail.eml",
        include_bytes!("../../../fixtures/mail/test.user/1-test-mail.eml"),
    ),
    (
        "mail/test.user/2-test-2-process.eml",
        include_bytes!("../../../fixtures/mail/test.user/2-test-2-process.eml"),
    ),
    (
        "mail/test.user/3-how-are-you.eml",
        include_bytes!("../../../fixtures/mail/test.user/3-how-are-you.eml"),
    ),
    (
        "mail/test.user/4-my-mail.eml",
        include_bytes!("../../../fixtures/mail/test.user/4-my-mail.eml"),
    ),
    (
        "mail/shared.inbox/1-invoice.eml",
        include_bytes!("../../../fixtures/mail/shared.inbox/1-invoice.eml"),
    ),
    (
        "mail/shared.inbox/2-support.eml",
        include_bytes!("../../../fixtures/mail/shared.inbox/2-support.eml"),
    ),
    (
        "mail/imap.disabled/1-welcome.eml",
        include_bytes!("../../../fixtures/mail/imap.disabled/1-welcome.eml"),
    ),
];

impl Files {
    fn read(&self, fixture_name: &str, json_path: &str, relative: &str) -> Result<Vec<u8>, FixtureError> {
        let err = |message: String| FixtureError {
            file: fixture_name.to_string(),
            path: json_path.to_string(),
            message,
        };
        match self {
            Files::Embedded => EMBEDDED
                .iter()
                .find(|(name, _)| *name == relative)
                .map(|(_, bytes)| bytes.to_vec())
                .ok_or_else(|| err(format!("no embedded file {relative:?}"))),
            Files::Disk(base) => {
                let full = base.join(relative);
                std::fs::read(&full).map_err(|e| err(format!("cannot read {}: {e}", full.display())))
            }
        }
    }
}

/// The embedded demo tenant of `shared/spec/demo-tenant.md`.
pub fn demo_tenant() -> Result<Directory, FixtureError> {
    let json = EMBEDDED
        .iter()
        .find(|(n, _)| *n == EMBEDDED_ROOT)
        .map(|(_, b)| *b)
        .unwrap_or_default();
    parse(&format!("<embedded>/{EMBEDDED_ROOT}"), json, &Files::Embedded)
}

/// A directory from a fixture JSON file on disk.
pub fn load_file(path: &Path) -> Result<Directory, FixtureError> {
    let name = path.display().to_string();
    let json = std::fs::read(path).map_err(|e| FixtureError {
        file: name.clone(),
        path: "-".into(),
        message: format!("cannot read: {e}"),
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    parse(&name, &json, &Files::Disk(base))
}

// ---- raw JSON shapes (unknown fields are errors, so typos are caught) ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDirectory {
    #[serde(rename = "$comment", default)]
    _comment: Option<String>,
    signing_keys: Vec<RawSigningKey>,
    tenants: Vec<RawTenant>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSigningKey {
    private_key: String,
    certificate: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    id: String,
    display_name: String,
    domains: Vec<String>,
    #[serde(default)]
    applications: Vec<RawApplication>,
    #[serde(default)]
    users: Vec<RawUser>,
    #[serde(default)]
    exchange: RawExchange,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApplication {
    display_name: String,
    app_id: String,
    object_id: String,
    service_principal_id: String,
    #[serde(default)]
    public_client: bool,
    #[serde(default)]
    secrets: Vec<RawSecret>,
    #[serde(default)]
    certificates: Vec<RawCertificate>,
    #[serde(default)]
    permissions: Vec<RawPermission>,
    #[serde(default)]
    redirect_uris: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    id: String,
    value: String,
    #[serde(default)]
    start: Option<String>,
    end: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCertificate {
    key_id: String,
    certificate: String,
    /// Overrides the certificate's own notBefore/notAfter, as Entra's keyCredential
    /// startDateTime/endDateTime do.
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    end: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPermission {
    resource: String,
    #[serde(rename = "type")]
    kind: String,
    value: String,
    #[serde(default)]
    admin_consent: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    upn: String,
    object_id: String,
    display_name: String,
    #[serde(default)]
    password: Option<String>,
    #[serde(default = "yes")]
    account_enabled: bool,
    #[serde(default)]
    mfa_required: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawExchange {
    #[serde(default)]
    smtp_client_authentication_disabled: bool,
    #[serde(default)]
    service_principals: Vec<RawExoSp>,
    #[serde(default)]
    mailboxes: Vec<RawMailbox>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExoSp {
    app_id: String,
    object_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMailbox {
    address: String,
    #[serde(default = "user_kind")]
    kind: String,
    #[serde(default = "yes")]
    imap_enabled: bool,
    #[serde(default = "yes")]
    pop_enabled: bool,
    #[serde(default)]
    smtp_client_authentication_disabled: Option<bool>,
    #[serde(default)]
    full_access: Vec<String>,
    #[serde(default)]
    send_as: Vec<String>,
    #[serde(default)]
    folders: BTreeMap<String, Vec<String>>,
}

fn user_kind() -> String {
    "user".into()
}

// ---- validation ----

struct Ctx<'a> {
    file: &'a str,
    files: &'a Files,
}

impl Ctx<'_> {
    fn err(&self, path: impl Into<String>, message: impl Into<String>) -> FixtureError {
        FixtureError {
            file: self.file.to_string(),
            path: path.into(),
            message: message.into(),
        }
    }

    fn guid(&self, path: String, value: &str) -> Result<String, FixtureError> {
        if is_guid(value) {
            Ok(value.to_ascii_lowercase())
        } else {
            Err(self.err(path, format!("{value:?} is not a GUID (8-4-4-4-12 hexadecimal digits)")))
        }
    }

    fn date(&self, path: String, value: &str) -> Result<OffsetDateTime, FixtureError> {
        OffsetDateTime::parse(value, &Rfc3339)
            .map_err(|e| self.err(path, format!("{value:?} is not an RFC 3339 date-time: {e}")))
    }

    fn pem(&self, path: &str, file: &str, label: &str) -> Result<Vec<u8>, FixtureError> {
        let bytes = self.files.read(self.file, path, file)?;
        let text = String::from_utf8_lossy(&bytes);
        pem_body(&text, label).ok_or_else(|| self.err(path, format!("{file}: no PEM block labelled {label}")))
    }
}

/// The DER inside the first `-----BEGIN {label}-----` block.
pub(crate) fn pem_body(text: &str, label: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text[start..].find(&end)?;
    let b64: String = text[start..stop].chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

fn parse(file: &str, json: &[u8], files: &Files) -> Result<Directory, FixtureError> {
    let de = &mut serde_json::Deserializer::from_slice(json);
    let raw: RawDirectory = serde_path_to_error::deserialize(de).map_err(|e| FixtureError {
        file: file.to_string(),
        path: e.path().to_string(),
        message: e.inner().to_string(),
    })?;
    let ctx = Ctx { file, files };

    if raw.signing_keys.is_empty() {
        return Err(ctx.err("signing_keys", "at least one token-signing key is needed"));
    }
    let mut signing_keys = Vec::new();
    for (i, k) in raw.signing_keys.iter().enumerate() {
        let p = format!("signing_keys[{i}]");
        let key = ctx.pem(&format!("{p}.private_key"), &k.private_key, "PRIVATE KEY")?;
        if aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&key).is_err() {
            return Err(ctx.err(format!("{p}.private_key"), "not an RSA private key in PKCS#8 PEM"));
        }
        let cert = ctx.pem(&format!("{p}.certificate"), &k.certificate, "CERTIFICATE")?;
        signing_keys.push(SigningKeyMaterial {
            private_key_pkcs8: Secret::new(key),
            certificate_der: cert,
        });
    }

    let mut tenants = Vec::new();
    for (ti, t) in raw.tenants.iter().enumerate() {
        tenants.push(tenant(&ctx, &format!("tenants[{ti}]"), t)?);
    }
    // Aliases must be unambiguous across tenants.
    for (i, a) in tenants.iter().enumerate() {
        for b in tenants.iter().skip(i + 1) {
            if a.id == b.id {
                return Err(ctx.err(format!("tenants[{i}].id"), format!("tenant id {} appears twice", a.id)));
            }
            if let Some(d) = a.domains.iter().find(|d| b.domains.contains(d)) {
                return Err(ctx.err(
                    format!("tenants[{i}].domains"),
                    format!("domain {d} belongs to two tenants"),
                ));
            }
        }
    }
    Ok(Directory { tenants, signing_keys })
}

fn tenant(ctx: &Ctx<'_>, p: &str, t: &RawTenant) -> Result<Tenant, FixtureError> {
    let id = ctx.guid(format!("{p}.id"), &t.id)?;
    let mut domains = Vec::new();
    for (i, d) in t.domains.iter().enumerate() {
        if !is_dns_name(d) {
            return Err(ctx.err(format!("{p}.domains[{i}]"), format!("{d:?} is not a DNS name")));
        }
        domains.push(d.to_ascii_lowercase());
    }
    let mut applications = Vec::new();
    for (i, a) in t.applications.iter().enumerate() {
        let app = application(ctx, &format!("{p}.applications[{i}]"), a)?;
        if applications.iter().any(|x: &Application| x.app_id == app.app_id) {
            return Err(ctx.err(format!("{p}.applications[{i}].app_id"), "app id appears twice"));
        }
        applications.push(app);
    }
    let mut users = Vec::new();
    for (i, u) in t.users.iter().enumerate() {
        let up = format!("{p}.users[{i}]");
        if !u.upn.contains('@') {
            return Err(ctx.err(format!("{up}.upn"), format!("{:?} is not a user principal name", u.upn)));
        }
        users.push(User {
            upn: u.upn.to_ascii_lowercase(),
            object_id: ctx.guid(format!("{up}.object_id"), &u.object_id)?,
            display_name: u.display_name.clone(),
            password: u.password.clone().map(Secret::new),
            account_enabled: u.account_enabled,
            mfa_required: u.mfa_required,
        });
    }
    let mut service_principals = Vec::new();
    for (i, s) in t.exchange.service_principals.iter().enumerate() {
        let sp = format!("{p}.exchange.service_principals[{i}]");
        service_principals.push(ExchangeServicePrincipal {
            app_id: ctx.guid(format!("{sp}.app_id"), &s.app_id)?,
            object_id: ctx.guid(format!("{sp}.object_id"), &s.object_id)?,
        });
    }
    let mut mailboxes = Vec::new();
    for (i, m) in t.exchange.mailboxes.iter().enumerate() {
        mailboxes.push(mailbox(ctx, &format!("{p}.exchange.mailboxes[{i}]"), m)?);
    }
    Ok(Tenant {
        id,
        display_name: t.display_name.clone(),
        domains,
        applications,
        users,
        exchange: ExchangeOrganization {
            smtp_client_authentication_disabled: t.exchange.smtp_client_authentication_disabled,
            service_principals,
            mailboxes,
        },
    })
}

fn application(ctx: &Ctx<'_>, p: &str, a: &RawApplication) -> Result<Application, FixtureError> {
    let mut secrets = Vec::new();
    for (i, s) in a.secrets.iter().enumerate() {
        let sp = format!("{p}.secrets[{i}]");
        secrets.push(ClientSecret {
            id: ctx.guid(format!("{sp}.id"), &s.id)?,
            value: Secret::new(s.value.clone()),
            start: s
                .start
                .as_deref()
                .map(|v| ctx.date(format!("{sp}.start"), v))
                .transpose()?,
            end: ctx.date(format!("{sp}.end"), &s.end)?,
        });
    }
    let mut certificates = Vec::new();
    for (i, c) in a.certificates.iter().enumerate() {
        let cp = format!("{p}.certificates[{i}]");
        let der = ctx.pem(&format!("{cp}.certificate"), &c.certificate, "CERTIFICATE")?;
        let parsed = crate::token::x509::RsaCertificate::parse(&der)
            .map_err(|e| ctx.err(format!("{cp}.certificate"), format!("{}: {e}", c.certificate)))?;
        let start = match &c.start {
            Some(v) => ctx.date(format!("{cp}.start"), v)?,
            None => parsed.not_before,
        };
        let end = match &c.end {
            Some(v) => ctx.date(format!("{cp}.end"), v)?,
            None => parsed.not_after,
        };
        certificates.push(KeyCredential {
            key_id: ctx.guid(format!("{cp}.key_id"), &c.key_id)?,
            sha1: parsed.sha1,
            sha256: parsed.sha256,
            modulus: parsed.modulus,
            exponent: parsed.exponent,
            certificate_der: der.into(),
            start,
            end,
        });
    }
    let mut permissions = Vec::new();
    for (i, perm) in a.permissions.iter().enumerate() {
        let pp = format!("{p}.permissions[{i}]");
        let resource = resources::find(&perm.resource).ok_or_else(|| {
            ctx.err(
                format!("{pp}.resource"),
                format!(
                    "unknown resource {:?}; known: Exchange Online, Microsoft Graph",
                    perm.resource
                ),
            )
        })?;
        let kind = match perm.kind.as_str() {
            "application" => PermissionKind::Application,
            "delegated" => PermissionKind::Delegated,
            other => {
                return Err(ctx.err(
                    format!("{pp}.type"),
                    format!("{other:?}: expected \"application\" or \"delegated\""),
                ))
            }
        };
        let known = match kind {
            PermissionKind::Application => resource.application_permissions,
            PermissionKind::Delegated => resource.delegated_permissions,
        };
        if !known.iter().any(|k| k.eq_ignore_ascii_case(&perm.value)) {
            return Err(ctx.err(
                format!("{pp}.value"),
                format!(
                    "{} has no {} permission {:?}",
                    resource.display_name, perm.kind, perm.value
                ),
            ));
        }
        permissions.push(Permission {
            resource_app_id: resource.app_id,
            kind,
            value: perm.value.clone(),
            admin_consent: perm.admin_consent,
        });
    }
    if a.public_client && (!a.secrets.is_empty() || !a.certificates.is_empty()) {
        return Err(ctx.err(
            format!("{p}.public_client"),
            "a public client has no secrets or certificates",
        ));
    }
    Ok(Application {
        display_name: a.display_name.clone(),
        app_id: ctx.guid(format!("{p}.app_id"), &a.app_id)?,
        object_id: ctx.guid(format!("{p}.object_id"), &a.object_id)?,
        service_principal_id: ctx.guid(format!("{p}.service_principal_id"), &a.service_principal_id)?,
        public_client: a.public_client,
        secrets,
        certificates,
        permissions,
        redirect_uris: a.redirect_uris.clone(),
    })
}

fn mailbox(ctx: &Ctx<'_>, p: &str, m: &RawMailbox) -> Result<MailboxConfig, FixtureError> {
    if !m.address.contains('@') {
        return Err(ctx.err(
            format!("{p}.address"),
            format!("{:?} is not an e-mail address", m.address),
        ));
    }
    let kind = match m.kind.as_str() {
        "user" => MailboxKind::User,
        "shared" => MailboxKind::Shared,
        other => {
            return Err(ctx.err(
                format!("{p}.kind"),
                format!("{other:?}: expected \"user\" or \"shared\""),
            ))
        }
    };
    let trustees = |field: &str, list: &[String]| -> Result<Vec<String>, FixtureError> {
        list.iter()
            .enumerate()
            .map(|(i, t)| {
                if is_guid(t) || t.contains('@') {
                    Ok(t.to_ascii_lowercase())
                } else {
                    Err(ctx.err(
                        format!("{p}.{field}[{i}]"),
                        format!("{t:?}: expected an object id or a UPN"),
                    ))
                }
            })
            .collect()
    };
    let mut folders = Vec::new();
    for (name, files) in &m.folders {
        let mut messages = Vec::new();
        for (i, f) in files.iter().enumerate() {
            let fp = format!("{p}.folders.{name:?}[{i}]");
            let bytes = ctx.files.read(ctx.file, &fp, f)?;
            messages.push(MessageSource {
                origin: f.clone(),
                bytes: bytes.into(),
            });
        }
        folders.push(FolderConfig {
            name: name.clone(),
            messages,
        });
    }
    // INBOX first, then the others in the order Exchange lists them (alphabetical).
    folders.sort_by_key(|f| (!f.name.eq_ignore_ascii_case("INBOX"), f.name.to_ascii_lowercase()));
    Ok(MailboxConfig {
        address: m.address.to_ascii_lowercase(),
        kind,
        imap_enabled: m.imap_enabled,
        pop_enabled: m.pop_enabled,
        smtp_client_authentication_disabled: m.smtp_client_authentication_disabled,
        full_access: trustees("full_access", &m.full_access)?,
        send_as: trustees("send_as", &m.send_as)?,
        folders,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_tenant_loads_with_the_spec_values() {
        let d = demo_tenant().expect("demo tenant");
        let contoso = d.tenant("CONTOSO.com").expect("contoso by domain");
        assert_eq!(contoso.id, "c0ffee00-1111-4222-8333-444455556666");
        assert_eq!(contoso.applications.len(), 8);
        let poller = contoso
            .application("00000000-0000-4000-8000-00000000a001")
            .expect("app 01");
        assert_eq!(poller.secrets[0].value.expose(), "poller-secret-value");
        assert_eq!(poller.certificates.len(), 1);
        assert_eq!(
            poller.consented_roles(&resources::EXCHANGE_ONLINE),
            ["IMAP.AccessAsApp", "POP.AccessAsApp", "SMTP.SendAsApp"]
        );
        let no_consent = contoso
            .application("00000000-0000-4000-8000-00000000a006")
            .expect("app 06");
        assert!(no_consent.consented_roles(&resources::EXCHANGE_ONLINE).is_empty());
        let mbx = &contoso.exchange.mailboxes[0];
        assert_eq!(mbx.folders[0].name, "INBOX");
        assert_eq!(mbx.folders[0].messages.len(), 4);
        assert!(d.tenant("fabrikam.onmicrosoft.com").is_some());
    }

    #[test]
    fn errors_name_file_and_json_path() {
        let json = br#"{"signing_keys":[],"tenants":[{"id":"x","display_name":"X","domains":[]}]}"#;
        let e = parse("t.json", json, &Files::Embedded).expect_err("no keys");
        assert_eq!(e.path, "signing_keys");
        let json = br#"{"signing_keys":[{"private_key":"keys/token-signing.key","certificate":"keys/token-signing.crt"}],
            "tenants":[{"id":"c0ffee00-1111-4222-8333-444455556666","display_name":"X","domains":["x.com"],
            "applications":[{"display_name":"A","app_id":"00000000-0000-4000-8000-00000000a001","object_id":"00000000-0000-4000-8000-00000000b001",
            "service_principal_id":"00000000-0000-4000-8000-00000000c001","secrets":[{"id":"00000000-0000-4000-8000-00000000d001","value":"v","end":"tomorrow"}]}]}]}"#;
        let e = parse("t.json", json, &Files::Embedded).expect_err("bad date");
        assert_eq!(e.file, "t.json");
        assert_eq!(e.path, "tenants[0].applications[0].secrets[0].end");
        let json = br#"{"signing_keys":[],"tenants":[{"id":"x","display_name":"X","domains":[],"colour":1}]}"#;
        let e = parse("t.json", json, &Files::Embedded).expect_err("unknown field");
        assert!(e.path.starts_with("tenants[0]"), "{e}");
        assert!(e.to_string().contains("colour"), "{e}");
    }
}
