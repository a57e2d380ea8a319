//! Tokens and keys: revoking sign-in sessions, rotating and removing signing keys.

use super::http::{done, to_value, Params};
use super::{Admin, AdminError, Result};
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Serialize)]
pub struct SigningKeys {
    /// The key that signs new tokens.
    pub active: String,
    /// Every published key, the active one first.
    pub published: Vec<String>,
}

impl Admin {
    /// `Revoke-MgUserSignInSession`: the user's refresh tokens answer AADSTS50173.
    pub fn revoke_sign_in_sessions(&self, upn: &str) -> Result<()> {
        let now = self.core.clock.now();
        {
            let d = self.core.directory();
            let (t, u) = d
                .tenants
                .iter()
                .find_map(|t| t.user(upn).map(|u| (t, u)))
                .ok_or_else(|| AdminError::not_found(format!("no user {upn} in any tenant")))?;
            self.identity.delegated.revoke_user(&t.id, &u.object_id, now);
        }
        self.note(
            format!("Revoke-MgUserSignInSession -UserId {upn}"),
            "refresh tokens revoked",
        );
        Ok(())
    }

    /// Publish a new signing key and sign with it from now on; the old keys stay published
    /// (tokens they signed stay valid) until [`Admin::remove_signing_key`].
    pub fn rotate_signing_key(&self) -> Result<SigningKeys> {
        let material = crate::token::authority::generate_signing_key(self.core.clock.now())
            .map_err(|e| AdminError::invalid(e.to_string()))?;
        self.edit(|d| {
            d.signing_keys.insert(0, material);
            let authority =
                crate::token::Authority::new(&d.signing_keys).map_err(|e| AdminError::invalid(e.to_string()))?;
            self.core.set_authority(authority);
            Ok(())
        })?;
        let keys = self.signing_keys();
        self.note("rotate the signing key".into(), &format!("new kid {}", keys.active));
        Ok(keys)
    }

    /// Stop publishing a key: tokens it signed no longer verify.
    pub fn remove_signing_key(&self, kid: &str) -> Result<SigningKeys> {
        self.edit(|d| {
            let authority = self.core.authority();
            let kids = authority.kids();
            let i = kids.iter().position(|k| k == kid).ok_or_else(|| {
                AdminError::not_found(format!("no signing key {kid}; published: {}", kids.join(", ")))
            })?;
            if kids.len() == 1 {
                return Err(AdminError::invalid("cannot remove the only signing key"));
            }
            if i >= d.signing_keys.len() {
                return Err(AdminError::not_found(format!("no signing key {kid}")));
            }
            d.signing_keys.remove(i);
            let authority =
                crate::token::Authority::new(&d.signing_keys).map_err(|e| AdminError::invalid(e.to_string()))?;
            self.core.set_authority(authority);
            Ok(())
        })?;
        self.note(format!("remove signing key {kid}"), "no longer published");
        Ok(self.signing_keys())
    }

    pub fn signing_keys(&self) -> SigningKeys {
        let kids = self.core.authority().kids();
        SigningKeys {
            active: kids.first().cloned().unwrap_or_default(),
            published: kids,
        }
    }
}

// ---- the admin API (and CLI) binding: verb names and named parameters ----

/// This area's verbs and their parameters, for usage lines and `mock-server admin --help`.
pub const VERBS: &[(&str, &str)] = &[
    ("revoke-sign-in-sessions", "--user UPN"),
    ("rotate-signing-key", ""),
    ("remove-signing-key", "--kid KID"),
    ("get-signing-keys", ""),
];

/// Run one of this area's verbs; `Ok(None)` when `verb` is not one of them.
pub(super) fn call(admin: &Admin, verb: &str, p: &mut Params) -> Result<Option<Value>> {
    let out = match verb {
        "revoke-sign-in-sessions" => {
            let user = p.str("user")?;
            p.finish()?;
            admin.revoke_sign_in_sessions(&user)?;
            done()
        }
        "rotate-signing-key" => {
            p.finish()?;
            to_value(admin.rotate_signing_key()?)
        }
        "remove-signing-key" => {
            let kid = p.str("kid")?;
            p.finish()?;
            to_value(admin.remove_signing_key(&kid)?)
        }
        "get-signing-keys" => {
            p.finish()?;
            to_value(admin.signing_keys())
        }
        _ => return Ok(None),
    };
    Ok(Some(out))
}
