//! A user proving who they are: the password check shared by the password grant, the
//! device-code verification page and the authorization page, with smart lockout.
//! MFA and consent are the caller's.

use super::errors::AadError;
use super::store::{user_key, DelegatedState, LOCKOUT_THRESHOLD};
use crate::directory::{Tenant, User};
use time::OffsetDateTime;

/// A user who proved who they are (the token's `amr` is `pwd`).
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub tenant_id: String,
    pub oid: String,
    pub upn: String,
    /// When the user entered their password: refresh tokens carry it, so revocation
    /// (`TokensValidFrom`) reaches every token of that sign-in.
    pub auth_time: OffsetDateTime,
}

impl SignedIn {
    /// `user` of `tenant`, signed in at `now`.
    pub fn new(tenant: &Tenant, user: &User, now: OffsetDateTime) -> Self {
        Self {
            tenant_id: tenant.id.clone(),
            oid: user.object_id.clone(),
            upn: user.upn.clone(),
            auth_time: now,
        }
    }
}

/// User exists, is enabled, is not locked out, and typed the right password.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::fixture::demo_tenant;
    use crate::identity::store::LOCKOUT_DURATION;
    use time::Duration;

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
}
