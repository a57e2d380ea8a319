//! What Entra remembers between delegated requests: pending device codes, authorization
//! codes, refresh tokens, failed sign-ins (smart lockout) and revocations.
//!
//! Time always comes in as an argument, from the server's injected clock. Every map is
//! bounded (the `MAX_*` constants); the lock is never held across an await.

use super::errors::AadError;
use super::request::EndpointVersion;
use super::sign_in::SignedIn;
use crate::token::jws::b64url;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use time::{Duration, OffsetDateTime};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStatus {
    Pending,
    Approved,
    Declined,
}

/// Why a device code cannot be approved or declined (the verification page and
/// `MockServer::approve_device_code` say it in these words).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceCodeError {
    #[error("no pending device flow has this user code")]
    UnknownCode,
    #[error("the code has expired")]
    Expired,
    #[error("the code was already used")]
    AlreadyUsed,
    #[error("the user belongs to another tenant than the device flow")]
    OtherTenant,
    #[error("no user {0} in the directory")]
    UnknownUser(String),
    #[error("{0} is disabled and cannot sign in")]
    Disabled(String),
}

/// What the verification page needs to know about a pending user code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDevice {
    pub client_id: String,
    /// `None`: started on `/organizations` or `/common`; the user's domain decides.
    pub tenant_id: Option<String>,
    /// Where the app is registered.
    pub app_tenant_id: String,
}

/// A device authorization waiting for (or holding) the person's decision.
#[derive(Debug, Clone)]
pub(crate) struct DeviceFlow {
    pub user_code: String,
    pub client_id: String,
    /// The tenant the flow runs in; `None` for a flow started on `/organizations` or
    /// `/common`, whose tenant is the one of the user who signs in.
    pub tenant_id: Option<String>,
    /// Where the app is registered (for the verification page's app name).
    pub app_tenant_id: String,
    pub version: EndpointVersion,
    /// `scope` (v2) or `resource` (v1) as the client asked.
    pub requested: String,
    pub expires: OffsetDateTime,
    pub last_poll: Option<OffsetDateTime>,
    pub status: DeviceStatus,
    pub user: Option<SignedIn>,
}

/// An issued, not yet redeemed, authorization code.
#[derive(Debug, Clone)]
pub(crate) struct AuthCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub challenge: Option<(String, String)>,
    pub nonce: Option<String>,
    pub user: SignedIn,
    pub expires: OffsetDateTime,
    pub redeemed: bool,
}

/// What a refresh token stands for.
#[derive(Debug, Clone)]
pub(crate) struct RefreshGrant {
    pub client_id: String,
    pub user: SignedIn,
    /// What was granted, as a v2 `scope` (resource-prefixed permissions and OpenID
    /// scopes): a refresh request without `scope` gets exactly this again.
    pub scope: String,
    /// The resource (`aud`) granted: a v1 refresh request without `resource` gets it.
    pub audience: String,
    /// When this token was issued (the 700082 text names it).
    pub issued: OffsetDateTime,
    pub last_used: OffsetDateTime,
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

pub(crate) fn user_key(tenant_id: &str, oid: &str) -> String {
    format!("{tenant_id}/{oid}")
}

/// `bytes` random bytes, base64url: device codes, authorization codes, refresh tokens and
/// the random claims (`aio`, `uti`, `rh`).
pub(crate) fn random_token(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    // The system RNG failing is not input-dependent and not recoverable; zeros would
    // still make a well-formed (if less unique) value.
    let _ = aws_lc_rs::rand::fill(&mut b);
    b64url(&b)
}

/// 90033, Entra's "try again" answer, for a store that is full of live codes.
fn store_full(what: String) -> AadError {
    AadError::invalid_request(90033, "A transient error has occurred. Please try again.", what)
}

impl DelegatedState {
    fn lock(&self) -> MutexGuard<'_, Inner> {
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

    /// Approve (`Some(user)`) or decline (`None`) a pending device code by its user code,
    /// as the person on the verification page does.
    pub fn decide_device_code(
        &self,
        user_code: &str,
        user: Option<SignedIn>,
        now: OffsetDateTime,
    ) -> Result<(), DeviceCodeError> {
        let mut inner = self.lock();
        let flow = inner
            .devices
            .values_mut()
            .find(|f| f.user_code.eq_ignore_ascii_case(user_code.trim()))
            .ok_or(DeviceCodeError::UnknownCode)?;
        if now >= flow.expires {
            return Err(DeviceCodeError::Expired);
        }
        if flow.status != DeviceStatus::Pending {
            return Err(DeviceCodeError::AlreadyUsed);
        }
        if let (Some(u), Some(tenant_id)) = (&user, &flow.tenant_id) {
            if &u.tenant_id != tenant_id {
                return Err(DeviceCodeError::OtherTenant);
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
    pub fn device_code_info(&self, user_code: &str, now: OffsetDateTime) -> Option<PendingDevice> {
        let inner = self.lock();
        inner
            .devices
            .values()
            .find(|f| {
                f.user_code.eq_ignore_ascii_case(user_code.trim())
                    && f.status == DeviceStatus::Pending
                    && now < f.expires
            })
            .map(|f| PendingDevice {
                client_id: f.client_id.clone(),
                tenant_id: f.tenant_id.clone(),
                app_tenant_id: f.app_tenant_id.clone(),
            })
    }

    /// Keep a new device flow under `device_code`.
    pub(crate) fn insert_device_flow(
        &self,
        device_code: String,
        flow: DeviceFlow,
        now: OffsetDateTime,
    ) -> Result<(), AadError> {
        let mut inner = self.lock();
        if inner.devices.len() >= MAX_PENDING_CODES {
            inner.devices.retain(|_, f| now < f.expires);
        }
        if inner.devices.len() >= MAX_PENDING_CODES {
            return Err(store_full(format!("{MAX_PENDING_CODES} device flows are pending")));
        }
        inner.devices.insert(device_code, flow);
        Ok(())
    }

    /// A poll of the token endpoint for `device_code`: `check` refuses a flow of another
    /// client or tenant; then the answer is pending, slow down, declined, expired, or the
    /// approved flow (removed: a device code is redeemed once) with its user.
    pub(crate) fn poll_device(
        &self,
        device_code: &str,
        now: OffsetDateTime,
        check: impl FnOnce(&DeviceFlow) -> Result<(), AadError>,
    ) -> Result<(DeviceFlow, SignedIn), AadError> {
        let mut inner = self.lock();
        let flow = inner
            .devices
            .get_mut(device_code)
            .ok_or_else(|| AadError::bad_verification_code("no pending device flow has this device_code"))?;
        check(flow)?;
        if now >= flow.expires {
            return Err(AadError::device_code_expired(flow.expires));
        }
        let previous = flow.last_poll.replace(now);
        match flow.status {
            DeviceStatus::Declined => return Err(AadError::authorization_declined()),
            DeviceStatus::Pending => {
                if let Some(prev) = previous {
                    if now - prev + POLL_JITTER < Duration::seconds(DEVICE_CODE_INTERVAL) {
                        return Err(AadError::slow_down(DEVICE_CODE_INTERVAL));
                    }
                }
                return Err(AadError::authorization_pending());
            }
            DeviceStatus::Approved => {}
        }
        let flow = inner
            .devices
            .remove(device_code)
            .ok_or_else(|| AadError::bad_verification_code("the device flow vanished"))?;
        let user = flow
            .user
            .clone()
            .ok_or_else(|| AadError::bad_verification_code("approved without a user"))?;
        Ok((flow, user))
    }

    /// Keep a new authorization code under `code`.
    pub(crate) fn insert_auth_code(&self, code: String, auth: AuthCode, now: OffsetDateTime) -> Result<(), AadError> {
        let mut inner = self.lock();
        if inner.auth_codes.len() >= MAX_PENDING_CODES {
            inner.auth_codes.retain(|_, c| now < c.expires);
        }
        if inner.auth_codes.len() >= MAX_PENDING_CODES {
            return Err(store_full(format!(
                "{MAX_PENDING_CODES} authorization codes are unredeemed"
            )));
        }
        inner.auth_codes.insert(code, auth);
        Ok(())
    }

    /// Redeem an authorization code: once, before it expires.
    pub(crate) fn redeem_auth_code(&self, code: &str, now: OffsetDateTime) -> Result<AuthCode, AadError> {
        let mut inner = self.lock();
        let auth = inner
            .auth_codes
            .get_mut(code)
            .ok_or_else(|| AadError::invalid_code("no authorization code with this value was issued"))?;
        if auth.redeemed {
            return Err(AadError::code_redeemed());
        }
        if now >= auth.expires {
            return Err(AadError::grant_expired(format!(
                "the authorization code expired at {} (codes live {} minutes)",
                auth.expires,
                AUTH_CODE_LIFETIME.whole_minutes()
            )));
        }
        auth.redeemed = true;
        Ok(auth.clone())
    }

    /// Keep a new refresh token; returns its value.
    pub(crate) fn store_refresh(&self, grant: RefreshGrant, inactivity: Duration) -> String {
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

    /// Use a refresh token: unknown (9002313), revoked (50173) and inactive (700082)
    /// tokens are refused; using one is activity and keeps it working (Entra does not
    /// invalidate a refresh token when it hands out the next one).
    pub(crate) fn use_refresh(
        &self,
        value: &str,
        now: OffsetDateTime,
        inactivity: Duration,
    ) -> Result<RefreshGrant, AadError> {
        let mut inner = self.lock();
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
        if now - grant.last_used > inactivity {
            inner.refresh.remove(value);
            return Err(AadError::refresh_token_inactive(grant.issued, inactivity));
        }
        if let Some(g) = inner.refresh.get_mut(value) {
            g.last_used = now;
        }
        Ok(grant)
    }

    /// Count a failed password for `key` (`tenant/oid`); true when this one locks the
    /// account.
    pub(crate) fn record_failure(&self, key: &str, now: OffsetDateTime) -> bool {
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

    pub(crate) fn locked(&self, key: &str, now: OffsetDateTime) -> bool {
        self.lock()
            .lockouts
            .get(key)
            .and_then(|l| l.locked_until)
            .is_some_and(|until| now < until)
    }

    pub(crate) fn clear_failures(&self, key: &str) {
        self.lock().lockouts.remove(key);
    }
}
