//! Delegated sign-in: the password grant (ROPC), the device code flow, the authorization
//! code flow with PKCE, refresh tokens, and the user tokens they yield (reference §1.3,
//! §1.5, §4.3, §4.5).
//!
//! The decisions are here; `routes` and `pages` only carry them over HTTP. The state that
//! a real Entra keeps between requests (pending device codes, authorization codes, refresh
//! tokens, failed sign-ins, revocations) lives in [`DelegatedState`]; time always comes in
//! as an argument, from the server's injected clock.

use super::errors::AadError;
use super::issue::{self, Issued, BACKDATE};
use super::request::{EndpointVersion, TokenRequest};
use super::IdentityConfig;
use crate::directory::resources::{self, Resource, MICROSOFT_GRAPH};
use crate::directory::{Application, Directory, PermissionKind, Tenant, TenantSegment, User};
use crate::token::jws::b64url;
use crate::token::Authority;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use time::{Duration, OffsetDateTime};

pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Failed password sign-ins before smart lockout answers AADSTS50053. Entra's default
/// lockout threshold is 10 failed attempts.
pub const LOCKOUT_THRESHOLD: u32 = 10;
/// How long a lockout lasts; Entra's default lockout duration is 60 seconds.
pub const LOCKOUT_DURATION: Duration = Duration::seconds(60);
/// Device codes live 15 minutes and are polled every 5 seconds (reference §1.3, §4.4).
pub const DEVICE_CODE_LIFETIME: Duration = Duration::seconds(900);
pub const DEVICE_CODE_INTERVAL: i64 = 5;
/// Authorization codes are short-lived; Entra documents "about 10 minutes".
pub const AUTH_CODE_LIFETIME: Duration = Duration::minutes(10);
/// Refresh tokens expire after this long unused (AADSTS700082 says "90.00:00:00").
pub const DEFAULT_REFRESH_INACTIVITY: Duration = Duration::days(90);
/// Pending device codes and authorization codes kept at once; expired ones are dropped
/// first, so this only bounds memory under a flood of unused codes.
pub const MAX_PENDING_CODES: usize = 100_000;
/// Refresh tokens kept at once (oldest activity dropped first beyond this).
pub const MAX_REFRESH_TOKENS: usize = 1_000_000;
/// Polls sooner than the interval by less than this are network jitter, not haste.
const POLL_JITTER: Duration = Duration::milliseconds(500);
/// User codes: capitals and digits, without look-alikes (0/O, 1/I), 9 long like Entra's.
const USER_CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const USER_CODE_LEN: usize = 9;

/// OpenID Connect scopes: they name no resource.
const OIDC_SCOPES: &[&str] = &["openid", "profile", "offline_access", "email"];

/// A user who proved who they are, and how (the token's `amr`).
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub tenant_id: String,
    pub oid: String,
    pub upn: String,
    /// When the user entered their password: refresh tokens carry it, so revocation
    /// (`TokensValidFrom`) reaches every token of that sign-in.
    pub auth_time: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStatus {
    Pending,
    Approved,
    Declined,
}

#[derive(Debug, Clone)]
struct DeviceFlow {
    user_code: String,
    client_id: String,
    tenant_id: String,
    version: EndpointVersion,
    /// `scope` (v2) or `resource` (v1) as the client asked.
    requested: String,
    expires: OffsetDateTime,
    last_poll: Option<OffsetDateTime>,
    status: DeviceStatus,
    user: Option<SignedIn>,
}

#[derive(Debug, Clone)]
struct AuthCode {
    client_id: String,
    redirect_uri: String,
    scope: String,
    challenge: Option<(String, String)>,
    nonce: Option<String>,
    user: SignedIn,
    expires: OffsetDateTime,
    redeemed: bool,
}

#[derive(Debug, Clone)]
struct RefreshGrant {
    client_id: String,
    user: SignedIn,
    /// When this token was issued (the 700082 text names it).
    issued: OffsetDateTime,
    last_used: OffsetDateTime,
}

#[derive(Debug, Default)]
struct Lockout {
    failures: u32,
    locked_until: Option<OffsetDateTime>,
}

#[derive(Debug, Default)]
struct Inner {
    lockouts: HashMap<String, Lockout>,
    /// By device code.
    devices: HashMap<String, DeviceFlow>,
    auth_codes: HashMap<String, AuthCode>,
    refresh: HashMap<String, RefreshGrant>,
    /// `TokensValidFrom` per user (`tenant/oid`): set by revocation.
    valid_from: HashMap<String, OffsetDateTime>,
}

/// What Entra remembers between delegated requests.
#[derive(Debug, Default)]
pub struct DelegatedState {
    inner: Mutex<Inner>,
}

fn user_key(tenant_id: &str, oid: &str) -> String {
    format!("{tenant_id}/{oid}")
}

fn random_token(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    // The system RNG failing is not input-dependent; see issue::random_bytes.
    let _ = aws_lc_rs::rand::fill(&mut b);
    b64url(&b)
}

fn random_user_code() -> String {
    let mut b = [0u8; USER_CODE_LEN];
    let _ = aws_lc_rs::rand::fill(&mut b);
    b.iter()
        .map(|x| USER_CODE_ALPHABET[usize::from(*x) % USER_CODE_ALPHABET.len()] as char)
        .collect()
}

impl DelegatedState {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Plain maps of plain values: a panic elsewhere cannot leave them half-written.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forget every code, refresh token, lockout and revocation (reset to the fixture).
    pub fn clear(&self) {
        *self.lock() = Inner::default();
    }

    /// Revoke every refresh token the user holds (`Revoke-MgUserSignInSession`): tokens
    /// of sign-ins before `now` answer AADSTS50173.
    pub fn revoke_user(&self, tenant_id: &str, oid: &str, now: OffsetDateTime) {
        self.lock().valid_from.insert(user_key(tenant_id, oid), now);
    }

    /// Approve (or decline) a pending device code by its user code, as the person on the
    /// verification page does. `Err` says why not, in words.
    pub fn decide_device_code(
        &self,
        user_code: &str,
        user: Option<SignedIn>,
        now: OffsetDateTime,
    ) -> Result<(), String> {
        let mut inner = self.lock();
        let flow = inner
            .devices
            .values_mut()
            .find(|f| f.user_code.eq_ignore_ascii_case(user_code.trim()))
            .ok_or_else(|| format!("no device flow has the user code {user_code:?}"))?;
        if now >= flow.expires {
            return Err("the code has expired".into());
        }
        if flow.status != DeviceStatus::Pending {
            return Err("the code was already used".into());
        }
        if let Some(u) = &user {
            if u.tenant_id != flow.tenant_id {
                return Err("the user belongs to another tenant than the device flow".into());
            }
        }
        flow.status = if user.is_some() {
            DeviceStatus::Approved
        } else {
            DeviceStatus::Declined
        };
        flow.user = user;
        Ok(())
    }

    /// The client and tenant of a pending user code (for the verification page).
    pub fn device_code_info(&self, user_code: &str, now: OffsetDateTime) -> Option<(String, String)> {
        let inner = self.lock();
        inner
            .devices
            .values()
            .find(|f| {
                f.user_code.eq_ignore_ascii_case(user_code.trim())
                    && f.status == DeviceStatus::Pending
                    && now < f.expires
            })
            .map(|f| (f.client_id.clone(), f.tenant_id.clone()))
    }

    fn record_failure(&self, key: &str, now: OffsetDateTime) -> bool {
        let mut inner = self.lock();
        let l = inner.lockouts.entry(key.to_string()).or_default();
        l.failures += 1;
        if l.failures >= LOCKOUT_THRESHOLD {
            l.failures = 0;
            l.locked_until = Some(now + LOCKOUT_DURATION);
            return true;
        }
        false
    }

    fn locked(&self, key: &str, now: OffsetDateTime) -> bool {
        self.lock()
            .lockouts
            .get(key)
            .and_then(|l| l.locked_until)
            .is_some_and(|until| now < until)
    }

    fn clear_failures(&self, key: &str) {
        self.lock().lockouts.remove(key);
    }

    fn store_refresh(&self, grant: RefreshGrant, inactivity: Duration) -> String {
        let token = format!("1.A{}", random_token(96));
        let mut inner = self.lock();
        if inner.refresh.len() >= MAX_REFRESH_TOKENS {
            let now = grant.issued;
            inner.refresh.retain(|_, g| now - g.last_used <= inactivity);
            if inner.refresh.len() >= MAX_REFRESH_TOKENS {
                if let Some(oldest) = inner
                    .refresh
                    .iter()
                    .min_by_key(|(_, g)| g.last_used)
                    .map(|(k, _)| k.clone())
                {
                    inner.refresh.remove(&oldest);
                }
            }
        }
        inner.refresh.insert(token.clone(), grant);
        token
    }
}

/// Sign-in checks shared by the password grant and the interactive pages: user exists,
/// enabled, not locked out, right password. MFA and consent are the caller's.
pub fn check_password<'t>(
    state: &DelegatedState,
    tenant: &'t Tenant,
    upn: &str,
    password: &str,
    now: OffsetDateTime,
) -> Result<&'t User, AadError> {
    let user = tenant
        .user(upn)
        .ok_or_else(|| AadError::unknown_user(upn, tenant.primary_domain()))?;
    if !user.account_enabled {
        return Err(AadError::account_disabled(&user.upn));
    }
    let key = user_key(&tenant.id, &user.object_id);
    if state.locked(&key, now) {
        return Err(AadError::locked_out(&user.upn, LOCKOUT_THRESHOLD));
    }
    let right = user.password.as_ref().is_some_and(|p| p.expose() == password);
    if !right {
        if user.password.is_none() {
            return Err(AadError::wrong_password(&user.upn)
                .with_fix("this user has no password in the fixture and cannot sign in; use a user with a password"));
        }
        if state.record_failure(&key, now) {
            return Err(AadError::locked_out(&user.upn, LOCKOUT_THRESHOLD));
        }
        return Err(AadError::wrong_password(&user.upn));
    }
    state.clear_failures(&key);
    Ok(user)
}

/// The tenant a delegated request runs in: a concrete one, or for `organizations` (and
/// `common` on interactive flows) the tenant of the user's domain.
pub fn resolve_tenant<'d>(
    directory: &'d Directory,
    segment: &str,
    upn: Option<&str>,
    allow_common: bool,
    grant: &str,
    config: &IdentityConfig,
) -> Result<&'d Tenant, AadError> {
    match directory.resolve_segment(segment) {
        TenantSegment::MultiTenant(m)
            if m == crate::directory::MultiTenant::Organizations
                || (allow_common && m == crate::directory::MultiTenant::Common) =>
        {
            let domain = upn.and_then(|u| u.rsplit_once('@')).map(|(_, d)| d).unwrap_or("");
            directory
                .tenant(domain)
                .ok_or_else(|| AadError::unknown_user(upn.unwrap_or(""), m.as_str()))
        }
        _ => issue::resolve_tenant(directory, segment, Some(grant), config),
    }
}

/// What a delegated token is for, after the consent check.
#[derive(Debug, Clone)]
pub struct Granted {
    pub resource: &'static Resource,
    /// `aud`: the resource identifier the client used, without a trailing `/`.
    pub audience: String,
    /// Every consented delegated permission on the resource (Entra's static consent
    /// returns all of them, whatever subset was asked for): the token's `scp`.
    pub scp: Vec<String>,
    /// OpenID scopes as requested, lower case.
    pub oidc: Vec<String>,
}

impl Granted {
    pub fn offline(&self) -> bool {
        self.oidc.iter().any(|s| s == "offline_access")
    }

    pub fn openid(&self) -> bool {
        self.oidc.iter().any(|s| s == "openid")
    }

    /// The v2 `scope` field: the resource prefix kept, then the OpenID scopes.
    fn v2_scope(&self) -> String {
        let mut out: Vec<String> =
            if self.resource == &MICROSOFT_GRAPH && self.audience == "https://graph.microsoft.com" {
                self.scp.clone()
            } else {
                self.scp.iter().map(|p| format!("{}/{p}", self.audience)).collect()
            };
        out.extend(self.oidc.iter().cloned());
        out.join(" ")
    }
}

fn consented_delegated<'a>(app: &'a Application, resource: &Resource) -> Vec<&'a str> {
    app.permissions
        .iter()
        .filter(|p| p.kind == PermissionKind::Delegated && p.admin_consent && p.resource_app_id == resource.app_id)
        .map(|p| p.value.as_str())
        .collect()
}

/// Check a v2 `scope` (or v1 `resource` plus optional `scope`) against the app's consent.
pub fn grant_scopes(
    app: &Application,
    tenant: &Tenant,
    version: EndpointVersion,
    req_scope: Option<&str>,
    req_resource: Option<&str>,
) -> Result<Granted, AadError> {
    let mut oidc: Vec<String> = Vec::new();
    let mut resource: Option<(&'static Resource, String)> = None;
    let mut asked: Vec<String> = Vec::new();
    for s in req_scope.unwrap_or("").split_whitespace() {
        let lower = s.to_ascii_lowercase();
        if OIDC_SCOPES.contains(&lower.as_str()) {
            if !oidc.contains(&lower) {
                oidc.push(lower);
            }
            continue;
        }
        if version == EndpointVersion::V1 {
            // v1 takes the resource from `resource=`; other scopes are ignored there.
            continue;
        }
        let (id, perm) = match s.rsplit_once('/') {
            Some((id, perm)) if id.contains('/') || crate::directory::is_guid(id) => (id, perm),
            // A bare permission such as `User.Read` is Microsoft Graph's.
            _ => ("https://graph.microsoft.com", s),
        };
        let r = resources::find(id).ok_or_else(|| AadError::resource_not_found(id, &tenant.display_name))?;
        let audience = id.trim_end_matches('/').to_string();
        match &resource {
            Some((prev, _)) if *prev != r => {
                return Err(AadError::invalid_scope(
                    req_scope.unwrap_or(""),
                    format!(
                        "the scopes name two resources ({} and {}); one token is for one resource",
                        prev.display_name, r.display_name
                    ),
                )
                .with_fix("ask for one resource per request, e.g. only https://outlook.office.com/… scopes"))
            }
            Some(_) => {}
            None => resource = Some((r, audience)),
        }
        if perm != ".default" {
            if !r.delegated_permissions.iter().any(|k| k.eq_ignore_ascii_case(perm)) {
                return Err(AadError::invalid_scope(
                    req_scope.unwrap_or(""),
                    format!("{} has no delegated permission {perm:?}", r.display_name),
                ));
            }
            asked.push(perm.to_string());
        }
    }
    if version == EndpointVersion::V1 {
        let id = req_resource.ok_or_else(|| AadError::missing_parameter("resource"))?;
        let r = resources::find(id).ok_or_else(|| AadError::resource_not_found(id, &tenant.display_name))?;
        resource = Some((r, id.trim_end_matches('/').to_string()));
        // v1 has no offline_access: delegated v1 responses always carry a refresh token.
        if !oidc.iter().any(|s| s == "offline_access") {
            oidc.push("offline_access".into());
        }
    }
    let (resource, audience) = resource.unwrap_or((&MICROSOFT_GRAPH, "https://graph.microsoft.com".to_string()));
    let consented = consented_delegated(app, resource);
    if let Some(missing) = asked
        .iter()
        .find(|p| !consented.iter().any(|c| c.eq_ignore_ascii_case(p)))
    {
        return Err(AadError::consent_required(
            &app.app_id,
            &app.display_name,
            &format!("{missing} on {}", resource.display_name),
        ));
    }
    let mut scp: Vec<String> = consented
        .iter()
        .filter(|c| !OIDC_SCOPES.contains(&c.to_ascii_lowercase().as_str()) || *resource == MICROSOFT_GRAPH)
        .filter(|c| !c.eq_ignore_ascii_case("offline_access"))
        .map(|c| c.to_string())
        .collect();
    if scp.is_empty() {
        return Err(AadError::consent_required(
            &app.app_id,
            &app.display_name,
            &format!("(any) on {}", resource.display_name),
        ));
    }
    scp.dedup();
    Ok(Granted {
        resource,
        audience,
        scp,
        oidc,
    })
}

/// Everything an issue needs besides the request.
pub struct Ctx<'a> {
    pub directory: &'a Directory,
    pub authority: &'a Authority,
    pub config: &'a IdentityConfig,
    pub state: &'a DelegatedState,
    pub now: OffsetDateTime,
    /// `https://host:port` as the client reached us: the v2 id_token issuer is
    /// `{base}/{tid}/v2.0`, the same string the discovery document publishes.
    pub base: &'a str,
}

/// The token endpoint: every grant.
pub fn token(ctx: &Ctx<'_>, version: EndpointVersion, segment: &str, req: &TokenRequest) -> Result<Issued, AadError> {
    match req.get("grant_type") {
        Some("password") => password(ctx, version, segment, req),
        Some(DEVICE_CODE_GRANT) => device_code_grant(ctx, version, segment, req),
        Some("authorization_code") => authorization_code(ctx, version, segment, req),
        Some("refresh_token") => refresh_token(ctx, version, segment, req),
        _ => issue::issue(ctx.directory, ctx.authority, version, segment, req, ctx.now, ctx.config),
    }
}

fn client_id(req: &TokenRequest) -> Result<&str, AadError> {
    req.get("client_id")
        .or(req.basic.as_ref().map(|(id, _)| id.as_str()))
        .ok_or_else(|| AadError::missing_parameter("client_id"))
}

/// Delegated grants from a client: a public client sends no credential; a confidential
/// one must send its own. Returns `appidacr` and how it proved itself.
fn client_auth(app: &Application, req: &TokenRequest) -> Result<(&'static str, String), AadError> {
    let has_credential = req.get("client_secret").is_some()
        || req.get("client_assertion").is_some()
        || req.basic.as_ref().is_some_and(|(_, s)| !s.expose().is_empty());
    if app.public_client {
        if has_credential {
            return Err(AadError::public_client_with_credential());
        }
        return Ok(("0", format!("public client '{}'", app.display_name)));
    }
    if !has_credential {
        return Err(AadError::no_credential_for_confidential());
    }
    let secret = req
        .get("client_secret")
        .or(req.basic.as_ref().map(|(_, s)| s.expose().as_str()));
    if let Some(secret) = secret {
        if app.secrets.iter().any(|s| s.value.expose() == secret) {
            return Ok(("1", format!("confidential client '{}' (secret)", app.display_name)));
        }
        return Err(AadError::invalid_secret(
            &app.app_id,
            "the secret matches none of the app's secrets".into(),
            "send the secret value",
        ));
    }
    Err(AadError::no_credential_for_confidential()
        .with_fix("certificate credentials are supported for client_credentials only in this mock; send client_secret"))
}

fn password(ctx: &Ctx<'_>, version: EndpointVersion, segment: &str, req: &TokenRequest) -> Result<Issued, AadError> {
    let username = req.get("username");
    let tenant = resolve_tenant(ctx.directory, segment, username, false, "password", ctx.config)?;
    let client_id = client_id(req)?;
    let username = username.ok_or_else(|| AadError::missing_parameter("username"))?;
    let password = req
        .get("password")
        .ok_or_else(|| AadError::missing_parameter("password"))?;
    let app = issue::find_app(ctx.directory, tenant, client_id)?;
    let (appidacr, how) = client_auth(app, req)?;
    let granted = grant_scopes(app, tenant, version, req.get("scope"), req.get("resource"))?;
    let user = check_password(ctx.state, tenant, username, password, ctx.now)?;
    if user.mfa_required {
        return Err(AadError::mfa_required(&user.upn, granted.resource.app_id));
    }
    let signed_in = SignedIn {
        tenant_id: tenant.id.clone(),
        oid: user.object_id.clone(),
        upn: user.upn.clone(),
        auth_time: ctx.now,
    };
    mint(
        ctx,
        version,
        tenant,
        app,
        &signed_in,
        &granted,
        None,
        req.get("client_info") == Some("1"),
        appidacr,
        format!("password grant (ROPC) for {} on {how}", user.upn),
    )
}

/// `POST /{t}/oauth2[/v2.0]/devicecode`: the device authorization response.
pub fn start_device_flow(
    ctx: &Ctx<'_>,
    version: EndpointVersion,
    segment: &str,
    req: &TokenRequest,
) -> Result<serde_json::Value, AadError> {
    let tenant = issue::resolve_tenant(ctx.directory, segment, Some(DEVICE_CODE_GRANT), ctx.config)?;
    let client_id = client_id(req)?;
    let app = issue::find_app(ctx.directory, tenant, client_id)?;
    if !app.public_client {
        return Err(AadError::no_credential_for_confidential()
            .with_fix("the device code flow needs 'Allow public client flows' on the app registration"));
    }
    let (requested, param) = match version {
        EndpointVersion::V2 => (req.get("scope"), "scope"),
        EndpointVersion::V1 => (req.get("resource"), "resource"),
    };
    let requested = requested.ok_or_else(|| AadError::missing_parameter(param))?;
    // Scope problems show up now, not after the person signed in.
    match version {
        EndpointVersion::V2 => grant_scopes(app, tenant, version, Some(requested), None)?,
        EndpointVersion::V1 => grant_scopes(app, tenant, version, req.get("scope"), Some(requested))?,
    };
    let device_code = random_token(48);
    let user_code = random_user_code();
    let verification_uri = format!("{}/devicelogin", ctx.base);
    {
        let mut inner = ctx.state.lock();
        if inner.devices.len() >= MAX_PENDING_CODES {
            let now = ctx.now;
            inner.devices.retain(|_, f| now < f.expires);
        }
        if inner.devices.len() >= MAX_PENDING_CODES {
            return Err(AadError::invalid_request(
                90033,
                "A transient error has occurred. Please try again.",
                format!("{MAX_PENDING_CODES} device flows are pending"),
            ));
        }
        inner.devices.insert(
            device_code.clone(),
            DeviceFlow {
                user_code: user_code.clone(),
                client_id: app.app_id.clone(),
                tenant_id: tenant.id.clone(),
                version,
                requested: requested.to_string(),
                expires: ctx.now + DEVICE_CODE_LIFETIME,
                last_poll: None,
                status: DeviceStatus::Pending,
                user: None,
            },
        );
    }
    let message = format!(
        "To sign in, use a web browser to open the page {verification_uri} and enter the code {user_code} to authenticate."
    );
    let expires_in = DEVICE_CODE_LIFETIME.whole_seconds();
    Ok(match version {
        EndpointVersion::V2 => serde_json::json!({
            "user_code": user_code,
            "device_code": device_code,
            "verification_uri": verification_uri,
            "expires_in": expires_in,
            "interval": DEVICE_CODE_INTERVAL,
            "message": message,
        }),
        // The v1 endpoint names the page `verification_url` and sends numbers as strings.
        EndpointVersion::V1 => serde_json::json!({
            "user_code": user_code,
            "device_code": device_code,
            "verification_url": verification_uri,
            "expires_in": expires_in.to_string(),
            "interval": DEVICE_CODE_INTERVAL.to_string(),
            "message": message,
        }),
    })
}

fn device_code_grant(
    ctx: &Ctx<'_>,
    version: EndpointVersion,
    segment: &str,
    req: &TokenRequest,
) -> Result<Issued, AadError> {
    let tenant = issue::resolve_tenant(ctx.directory, segment, Some(DEVICE_CODE_GRANT), ctx.config)?;
    let client_id = client_id(req)?;
    // MSAL for Python sends the device code as both `device_code` and `code`.
    let code = req
        .get("device_code")
        .or(req.get("code"))
        .ok_or_else(|| AadError::missing_parameter("device_code"))?;
    let app = issue::find_app(ctx.directory, tenant, client_id)?;
    let (appidacr, how) = client_auth(app, req)?;
    let (flow, user) = {
        let mut inner = ctx.state.lock();
        let flow = inner
            .devices
            .get_mut(code)
            .ok_or_else(|| AadError::bad_verification_code("no pending device flow has this device_code"))?;
        if !flow.client_id.eq_ignore_ascii_case(client_id) || flow.tenant_id != tenant.id {
            return Err(AadError::bad_verification_code(
                "the device_code was issued to another client or tenant",
            ));
        }
        if ctx.now >= flow.expires {
            return Err(AadError::device_code_expired(flow.expires));
        }
        let previous = flow.last_poll.replace(ctx.now);
        match flow.status {
            DeviceStatus::Declined => return Err(AadError::authorization_declined()),
            DeviceStatus::Pending => {
                if let Some(prev) = previous {
                    if ctx.now - prev + POLL_JITTER < Duration::seconds(DEVICE_CODE_INTERVAL) {
                        return Err(AadError::slow_down(DEVICE_CODE_INTERVAL));
                    }
                }
                return Err(AadError::authorization_pending());
            }
            DeviceStatus::Approved => {}
        }
        let flow = inner
            .devices
            .remove(code)
            .ok_or_else(|| AadError::bad_verification_code("the device flow vanished"))?;
        let user = flow
            .user
            .clone()
            .ok_or_else(|| AadError::bad_verification_code("approved without a user"))?;
        (flow, user)
    };
    let granted = match flow.version {
        EndpointVersion::V2 => grant_scopes(app, tenant, version, Some(&flow.requested), None)?,
        EndpointVersion::V1 => grant_scopes(app, tenant, version, req.get("scope"), Some(&flow.requested))?,
    };
    let who = user.upn.clone();
    mint(
        ctx,
        version,
        tenant,
        app,
        &user,
        &granted,
        None,
        req.get("client_info") == Some("1"),
        appidacr,
        format!("device code approved by {who} on {how}"),
    )
}

/// A validated authorization request (the query of `/authorize`).
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    pub tenant_id: String,
    pub client_id: String,
    pub app_name: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub challenge: Option<(String, String)>,
    pub response_mode: String,
    pub client_info: bool,
}

/// Why an authorization request fails: before the redirect URI is trusted, an error
/// page; after, an error sent back to the client by redirect.
#[derive(Debug)]
pub enum AuthorizeError {
    Page(Box<AadError>),
    /// The error and the (validated) redirect URI to send it to.
    Redirect(Box<AadError>, String),
}

/// Does `uri` match a registered redirect URI? `http://localhost` and `http://127.0.0.1`
/// match on any port, as Entra does for loopback addresses (RFC 8252 §7.3).
pub fn redirect_registered(app: &Application, uri: &str) -> bool {
    let strip_port = |u: &str| -> Option<String> {
        let rest = u.strip_prefix("http://")?;
        let (hostport, path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
        let host = hostport.rsplit_once(':').map_or(hostport, |(h, _)| h);
        matches!(host, "localhost" | "127.0.0.1" | "[::1]").then(|| format!("http://{host}/{path}"))
    };
    app.redirect_uris.iter().any(|r| {
        r == uri || r.trim_end_matches('/') == uri.trim_end_matches('/') || {
            match (strip_port(r), strip_port(uri)) {
                (Some(a), Some(b)) => a.trim_end_matches('/') == b.trim_end_matches('/'),
                _ => false,
            }
        }
    })
}

/// Validate an authorization request; `get` reads its parameters.
pub fn check_authorize(
    ctx: &Ctx<'_>,
    segment: &str,
    login_hint: Option<&str>,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<AuthorizeRequest, AuthorizeError> {
    let page = |e: AadError| AuthorizeError::Page(Box::new(e));
    let tenant = resolve_tenant(
        ctx.directory,
        segment,
        login_hint,
        true,
        "authorization_code",
        ctx.config,
    )
    .or_else(|e| match ctx.directory.resolve_segment(segment) {
        // Without a hint, /common and /organizations sign-ins pick the tenant from the
        // user name typed on the page; the demo's first tenant stands in until then.
        TenantSegment::MultiTenant(_) => ctx.directory.tenants.first().ok_or(e),
        _ => Err(e),
    })
    .map_err(page)?;
    let client_id = get("client_id").ok_or_else(|| page(AadError::missing_parameter("client_id")))?;
    let app = issue::find_app(ctx.directory, tenant, &client_id).map_err(page)?;
    let redirect_uri = get("redirect_uri")
        .or_else(|| app.redirect_uris.first().cloned())
        .ok_or_else(|| page(AadError::missing_parameter("redirect_uri")))?;
    if !redirect_registered(app, &redirect_uri) {
        return Err(page(AadError::redirect_uri_mismatch(&redirect_uri, &app.app_id)));
    }
    let redirect = |e: AadError| AuthorizeError::Redirect(Box::new(e), redirect_uri.clone());
    match get("response_type").as_deref() {
        Some("code") => {}
        other => {
            return Err(redirect(AadError::invalid_request(
                900144,
                "The request body must contain the following parameter: 'response_type'.",
                format!("response_type={other:?}; only 'code' is supported here"),
            )))
        }
    }
    let scope = get("scope").unwrap_or_else(|| "openid".into());
    grant_scopes(app, tenant, EndpointVersion::V2, Some(&scope), None).map_err(redirect)?;
    let challenge = match get("code_challenge") {
        None => None,
        Some(c) => {
            let method = get("code_challenge_method").unwrap_or_else(|| "plain".into());
            if method != "S256" && method != "plain" {
                return Err(redirect(AadError::invalid_request(
                    50149,
                    "Invalid Code_Challenge_method parameter.",
                    format!("code_challenge_method={method:?}; S256 or plain"),
                )));
            }
            Some((c, method))
        }
    };
    Ok(AuthorizeRequest {
        tenant_id: tenant.id.clone(),
        client_id: app.app_id.clone(),
        app_name: app.display_name.clone(),
        redirect_uri,
        scope,
        state: get("state"),
        nonce: get("nonce"),
        challenge,
        response_mode: get("response_mode").unwrap_or_else(|| "query".into()),
        client_info: get("client_info").as_deref() == Some("1"),
    })
}

/// The user signed in on the page (or by `prompt=none`): create the code.
pub fn issue_code(ctx: &Ctx<'_>, ar: &AuthorizeRequest, user: SignedIn) -> Result<String, AadError> {
    let code = format!("1.A{}", random_token(96));
    let mut inner = ctx.state.lock();
    if inner.auth_codes.len() >= MAX_PENDING_CODES {
        let now = ctx.now;
        inner.auth_codes.retain(|_, c| now < c.expires);
    }
    if inner.auth_codes.len() >= MAX_PENDING_CODES {
        return Err(AadError::invalid_request(
            90033,
            "A transient error has occurred. Please try again.",
            format!("{MAX_PENDING_CODES} authorization codes are unredeemed"),
        ));
    }
    inner.auth_codes.insert(
        code.clone(),
        AuthCode {
            client_id: ar.client_id.clone(),
            redirect_uri: ar.redirect_uri.clone(),
            scope: ar.scope.clone(),
            challenge: ar.challenge.clone(),
            nonce: ar.nonce.clone(),
            user,
            expires: ctx.now + AUTH_CODE_LIFETIME,
            redeemed: false,
        },
    );
    Ok(code)
}

/// Sign a user in for an authorization request: password, MFA flag, consent.
pub fn sign_in_for(
    ctx: &Ctx<'_>,
    ar: &AuthorizeRequest,
    upn: &str,
    password: Option<&str>,
) -> Result<SignedIn, AadError> {
    let tenant = ctx
        .directory
        .tenant_by_id(&ar.tenant_id)
        .ok_or_else(|| AadError::tenant_not_found(&ar.tenant_id))?;
    let user = match password {
        Some(p) => check_password(ctx.state, tenant, upn, p, ctx.now)?,
        None => {
            let user = tenant
                .user(upn)
                .ok_or_else(|| AadError::unknown_user(upn, tenant.primary_domain()))?;
            if !user.account_enabled {
                return Err(AadError::account_disabled(&user.upn));
            }
            if user.password.is_none() {
                return Err(AadError::wrong_password(&user.upn));
            }
            user
        }
    };
    Ok(SignedIn {
        tenant_id: tenant.id.clone(),
        oid: user.object_id.clone(),
        upn: user.upn.clone(),
        auth_time: ctx.now,
    })
}

/// Is this user flagged as needing MFA (for `prompt=none`: `interaction_required`)?
pub fn user_needs_mfa(ctx: &Ctx<'_>, tenant_id: &str, upn: &str) -> bool {
    ctx.directory
        .tenant_by_id(tenant_id)
        .and_then(|t| t.user(upn))
        .is_some_and(|u| u.mfa_required)
}

fn s256(verifier: &str) -> String {
    b64url(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref())
}

fn authorization_code(
    ctx: &Ctx<'_>,
    version: EndpointVersion,
    segment: &str,
    req: &TokenRequest,
) -> Result<Issued, AadError> {
    let tenant = resolve_tenant(ctx.directory, segment, None, false, "authorization_code", ctx.config);
    let client_id = client_id(req)?;
    let code_value = req.get("code").ok_or_else(|| AadError::missing_parameter("code"))?;
    let code = {
        let mut inner = ctx.state.lock();
        let code = inner
            .auth_codes
            .get_mut(code_value)
            .ok_or_else(|| AadError::invalid_code("no authorization code with this value was issued"))?;
        if code.redeemed {
            return Err(AadError::code_redeemed());
        }
        if ctx.now >= code.expires {
            return Err(AadError::grant_expired(format!(
                "the authorization code expired at {} (codes live {} minutes)",
                code.expires,
                AUTH_CODE_LIFETIME.whole_minutes()
            )));
        }
        code.redeemed = true;
        code.clone()
    };
    // The code was issued in the user's tenant; /common and /organizations redeem there.
    let tenant = match tenant {
        Ok(t) => t,
        Err(e) => match ctx.directory.resolve_segment(segment) {
            TenantSegment::MultiTenant(_) => ctx
                .directory
                .tenant_by_id(&code.user.tenant_id)
                .ok_or_else(|| AadError::tenant_not_found(segment))?,
            _ => return Err(e),
        },
    };
    if tenant.id != code.user.tenant_id || !code.client_id.eq_ignore_ascii_case(client_id) {
        return Err(AadError::grant_client_mismatch(
            "the authorization code was issued to another client or tenant",
        ));
    }
    let app = issue::find_app(ctx.directory, tenant, client_id)?;
    let (appidacr, how) = client_auth(app, req)?;
    let sent_redirect = req.get("redirect_uri").unwrap_or("");
    if sent_redirect != code.redirect_uri {
        return Err(AadError::reply_address_mismatch(sent_redirect, &code.redirect_uri));
    }
    if let Some((challenge, method)) = &code.challenge {
        let verifier = req.get("code_verifier").ok_or_else(|| {
            AadError::verifier_mismatch(
                "the authorization request had a code_challenge but the token request has no code_verifier",
            )
        })?;
        let computed = if method == "S256" {
            s256(verifier)
        } else {
            verifier.to_string()
        };
        if &computed != challenge {
            return Err(AadError::verifier_mismatch(format!(
                "the code_verifier does not produce the code_challenge ({method})"
            )));
        }
    }
    let scope = req.get("scope").unwrap_or(&code.scope);
    let granted = grant_scopes(app, tenant, version, Some(scope), req.get("resource"))?;
    let who = code.user.upn.clone();
    mint(
        ctx,
        version,
        tenant,
        app,
        &code.user,
        &granted,
        code.nonce.as_deref(),
        req.get("client_info") == Some("1"),
        appidacr,
        format!(
            "authorization code of {who} redeemed by {how}{}",
            if code.challenge.is_some() { " with PKCE" } else { "" }
        ),
    )
}

fn refresh_token(
    ctx: &Ctx<'_>,
    version: EndpointVersion,
    segment: &str,
    req: &TokenRequest,
) -> Result<Issued, AadError> {
    let client_id = client_id(req)?;
    let value = req
        .get("refresh_token")
        .ok_or_else(|| AadError::missing_parameter("refresh_token"))?;
    let inactivity = ctx.config.refresh_inactivity;
    let grant = {
        let mut inner = ctx.state.lock();
        let grant = inner
            .refresh
            .get(value)
            .cloned()
            .ok_or_else(|| AadError::invalid_refresh_token("no refresh token with this value was issued"))?;
        if let Some(valid_from) = inner.valid_from.get(&user_key(&grant.user.tenant_id, &grant.user.oid)) {
            if grant.user.auth_time < *valid_from {
                return Err(AadError::refresh_token_revoked(grant.user.auth_time, *valid_from));
            }
        }
        if ctx.now - grant.last_used > inactivity {
            inner.refresh.remove(value);
            return Err(AadError::refresh_token_inactive(grant.issued, inactivity));
        }
        // Using a refresh token is activity: it keeps working (Entra does not invalidate
        // a refresh token when it hands out the next one).
        if let Some(g) = inner.refresh.get_mut(value) {
            g.last_used = ctx.now;
        }
        grant
    };
    let tenant = resolve_tenant(
        ctx.directory,
        segment,
        Some(&grant.user.upn),
        true,
        "refresh_token",
        ctx.config,
    )?;
    if tenant.id != grant.user.tenant_id || !grant.client_id.eq_ignore_ascii_case(client_id) {
        return Err(AadError::grant_client_mismatch(
            "the refresh token was issued to another client or in another tenant",
        ));
    }
    let app = issue::find_app(ctx.directory, tenant, client_id)?;
    let (appidacr, how) = client_auth(app, req)?;
    let user = tenant
        .user(&grant.user.upn)
        .ok_or_else(|| AadError::unknown_user(&grant.user.upn, tenant.primary_domain()))?;
    if !user.account_enabled {
        return Err(AadError::account_disabled(&user.upn));
    }
    let granted = grant_scopes(app, tenant, version, req.get("scope"), req.get("resource"))?;
    mint(
        ctx,
        version,
        tenant,
        app,
        &grant.user,
        &granted,
        None,
        req.get("client_info") == Some("1"),
        appidacr,
        format!("refresh token of {} redeemed by {how}", grant.user.upn),
    )
}

/// A delegated v1 access token for Exchange Online (reference §4.3).
#[derive(Serialize)]
struct UserClaims<'a> {
    aud: &'a str,
    iss: &'a str,
    iat: i64,
    nbf: i64,
    exp: i64,
    acct: u8,
    acr: &'static str,
    aio: String,
    amr: [&'static str; 1],
    app_displayname: &'a str,
    appid: &'a str,
    appidacr: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    family_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    given_name: Option<&'a str>,
    idtyp: &'static str,
    name: &'a str,
    oid: &'a str,
    rh: String,
    scp: String,
    sid: String,
    sub: String,
    tid: &'a str,
    unique_name: &'a str,
    upn: &'a str,
    uti: String,
    ver: &'static str,
}

/// A v2 id_token (reference §4.5).
#[derive(Serialize)]
struct IdClaimsV2<'a> {
    aud: &'a str,
    iss: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    name: &'a str,
    oid: &'a str,
    preferred_username: &'a str,
    rh: String,
    sid: String,
    sub: String,
    tid: &'a str,
    uti: String,
    ver: &'static str,
}

/// A v1 id_token.
#[derive(Serialize)]
struct IdClaimsV1<'a> {
    aud: &'a str,
    iss: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    amr: [&'static str; 1],
    name: &'a str,
    oid: &'a str,
    sub: String,
    tid: &'a str,
    unique_name: &'a str,
    upn: &'a str,
    ver: &'static str,
}

/// Pairwise `sub`: stable per user and app, different across apps, as Entra's is.
fn pairwise_sub(oid: &str, app_id: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, format!("{oid}|{app_id}").as_bytes());
    b64url(&d.as_ref()[..32])
}

#[allow(clippy::too_many_arguments)]
fn mint(
    ctx: &Ctx<'_>,
    version: EndpointVersion,
    tenant: &Tenant,
    app: &Application,
    user: &SignedIn,
    granted: &Granted,
    nonce: Option<&str>,
    client_info: bool,
    appidacr: &'static str,
    credential: String,
) -> Result<Issued, AadError> {
    let u = tenant
        .user(&user.upn)
        .ok_or_else(|| AadError::unknown_user(&user.upn, tenant.primary_domain()))?;
    let expires_in = ctx.config.lifetime.pick();
    let issued_at = ctx.now.unix_timestamp();
    let iat = issued_at - BACKDATE.whole_seconds();
    let exp = issued_at + expires_in + 1;
    let issuer = format!("https://sts.windows.net/{}/", tenant.id);
    let (given, family) = match u.display_name.split_once(' ') {
        Some((g, f)) => (Some(g), Some(f)),
        None => (None, None),
    };
    let rh = format!("0.{}.", random_token(24));
    let sid = uuid::Uuid::new_v4().to_string();
    let scp = granted.scp.join(" ");
    let claims = UserClaims {
        aud: &granted.audience,
        iss: &issuer,
        iat,
        nbf: iat,
        exp,
        acct: 0,
        acr: "1",
        aio: format!("AT{}", random_token(48)),
        amr: ["pwd"],
        app_displayname: &app.display_name,
        appid: &app.app_id,
        appidacr,
        family_name: family,
        given_name: given,
        idtyp: "user",
        name: &u.display_name,
        oid: &u.object_id,
        rh: rh.clone(),
        scp: scp.clone(),
        sid: sid.clone(),
        sub: pairwise_sub(&u.object_id, &app.app_id),
        tid: &tenant.id,
        unique_name: &u.upn,
        upn: &u.upn,
        uti: random_token(16),
        ver: "1.0",
    };
    let sign_err =
        |e: crate::token::AuthorityError| AadError::malformed_assertion(format!("internal signing failure: {e}"));
    let header_nonce = ctx.config.nonce_header.then(|| random_token(32));
    let access_token = ctx.authority.sign(&claims, header_nonce.as_deref()).map_err(sign_err)?;

    let refresh = granted.offline().then(|| {
        ctx.state.store_refresh(
            RefreshGrant {
                client_id: app.app_id.clone(),
                user: user.clone(),
                issued: ctx.now,
                last_used: ctx.now,
            },
            ctx.config.refresh_inactivity,
        )
    });
    // id_tokens are not back-dated and live an hour, as Entra's do.
    let id_token = if granted.openid() {
        let token = match version {
            EndpointVersion::V2 => ctx.authority.sign(
                &IdClaimsV2 {
                    aud: &app.app_id,
                    iss: format!("{}/{}/v2.0", ctx.base, tenant.id),
                    iat: issued_at,
                    nbf: issued_at,
                    exp: issued_at + 3600,
                    nonce,
                    name: &u.display_name,
                    oid: &u.object_id,
                    preferred_username: &u.upn,
                    rh,
                    sid,
                    sub: pairwise_sub(&u.object_id, &app.app_id),
                    tid: &tenant.id,
                    uti: random_token(16),
                    ver: "2.0",
                },
                None,
            ),
            EndpointVersion::V1 => ctx.authority.sign(
                &IdClaimsV1 {
                    aud: &app.app_id,
                    iss: issuer.clone(),
                    iat: issued_at,
                    nbf: issued_at,
                    exp: issued_at + 3600,
                    amr: ["pwd"],
                    name: &u.display_name,
                    oid: &u.object_id,
                    sub: pairwise_sub(&u.object_id, &app.app_id),
                    tid: &tenant.id,
                    unique_name: &u.upn,
                    upn: &u.upn,
                    ver: "1.0",
                },
                None,
            ),
        };
        Some(token.map_err(sign_err)?)
    } else {
        None
    };

    let mut body = match version {
        EndpointVersion::V2 => serde_json::json!({
            "token_type": "Bearer",
            "scope": granted.v2_scope(),
            "expires_in": expires_in,
            "ext_expires_in": expires_in,
            "access_token": access_token,
        }),
        EndpointVersion::V1 => serde_json::json!({
            "token_type": "Bearer",
            "scope": scp,
            "expires_in": expires_in.to_string(),
            "ext_expires_in": expires_in.to_string(),
            "expires_on": exp.to_string(),
            "not_before": iat.to_string(),
            "resource": granted.audience,
            "access_token": access_token,
        }),
    };
    if let Some(obj) = body.as_object_mut() {
        if let Some(r) = refresh {
            obj.insert("refresh_token".into(), r.into());
        }
        if let Some(t) = id_token {
            obj.insert("id_token".into(), t.into());
        }
        if client_info {
            let info = serde_json::json!({ "uid": u.object_id, "utid": tenant.id }).to_string();
            obj.insert("client_info".into(), b64url(info.as_bytes()).into());
        }
    }
    Ok(Issued {
        body,
        access_token,
        tenant_id: tenant.id.clone(),
        app_id: app.app_id.clone(),
        audience: granted.audience.clone(),
        roles: Vec::new(),
        appidacr,
        expires: OffsetDateTime::from_unix_timestamp(exp).unwrap_or(ctx.now),
        credential,
        user: Some(u.upn.clone()),
        scopes: granted.scp.clone(),
    })
}

/// `client_info` for a redirect: base64url of `{"uid":oid,"utid":tid}`.
pub fn client_info(oid: &str, tenant_id: &str) -> String {
    b64url(
        serde_json::json!({ "uid": oid, "utid": tenant_id })
            .to_string()
            .as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::fixture::demo_tenant;

    const APP08: &str = "00000000-0000-4000-8000-00000000a008";

    #[test]
    fn consent_covers_every_exchange_permission_and_refuses_others() {
        let d = demo_tenant().expect("demo");
        let t = d.tenant("contoso.com").expect("contoso");
        let app = t.application(APP08).expect("app 08");
        let g = grant_scopes(
            app,
            t,
            EndpointVersion::V2,
            Some("https://outlook.office.com/IMAP.AccessAsUser.All offline_access openid profile"),
            None,
        )
        .expect("granted");
        assert_eq!(g.audience, "https://outlook.office.com");
        assert_eq!(g.scp, ["IMAP.AccessAsUser.All", "POP.AccessAsUser.All", "SMTP.Send"]);
        assert!(g.offline() && g.openid());
        assert_eq!(
            g.v2_scope(),
            "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/POP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access openid profile"
        );
        let e = grant_scopes(
            app,
            t,
            EndpointVersion::V2,
            Some("https://outlook.office.com/EWS.AccessAsUser.All"),
            None,
        )
        .expect_err("EWS not consented");
        assert_eq!((e.code, e.suberror), (65001, Some("consent_required")));
        let e = grant_scopes(
            app,
            t,
            EndpointVersion::V2,
            Some("https://outlook.office.com/IMAP.AccessAsUser.All User.Read"),
            None,
        )
        .expect_err("two resources");
        assert_eq!(e.code, 70011);
    }

    #[test]
    fn lockout_after_threshold_and_ends_after_duration() {
        let d = demo_tenant().expect("demo");
        let t = d.tenant("contoso.com").expect("contoso");
        let s = DelegatedState::default();
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        for _ in 0..LOCKOUT_THRESHOLD - 1 {
            let e = check_password(&s, t, "test.user@contoso.com", "nope", now).expect_err("wrong");
            assert_eq!(e.code, 50126);
        }
        let e = check_password(&s, t, "test.user@contoso.com", "nope", now).expect_err("locks");
        assert_eq!(e.code, 50053);
        let e = check_password(&s, t, "test.user@contoso.com", "Passw0rd!", now).expect_err("locked");
        assert_eq!(e.code, 50053);
        check_password(&s, t, "test.user@contoso.com", "Passw0rd!", now + LOCKOUT_DURATION).expect("unlocked");
    }

    #[test]
    fn loopback_redirect_uris_match_any_port() {
        let d = demo_tenant().expect("demo");
        let app = d
            .tenant("contoso.com")
            .and_then(|t| t.application(APP08))
            .expect("app 08");
        assert!(redirect_registered(app, "http://localhost:53211"));
        assert!(redirect_registered(app, "http://localhost:53211/"));
        assert!(redirect_registered(
            app,
            "https://login.microsoftonline.com/common/oauth2/nativeclient"
        ));
        assert!(!redirect_registered(app, "http://localhost:1/callback"));
        assert!(!redirect_registered(app, "https://evil.example/"));
        assert!(!redirect_registered(app, "http://localhost.evil.example:80"));
    }

    #[test]
    fn pkce_s256_matches_an_independent_computation() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K9uhyUKQo3MaF8fKoIe3hYEg8aZ"),
            // base64url(SHA-256(verifier)), computed with Python hashlib.
            "C9Yq-mUXgd4CodBYiiDGPcgFHEifWhHtbOkiXQc__HY"
        );
    }
}
