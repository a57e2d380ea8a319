//! What every grant answers with ([`Issued`]) and the lifetimes all tokens share.
//!
//! [`issue`] is the client-credentials entry point (kept under this name for the fuzz
//! targets and property tests); the token endpoint dispatches every grant through
//! [`crate::identity::grant::token`].

use time::{Duration, OffsetDateTime};

pub use super::grant::client_credentials::issue;

/// Access tokens' `iat`/`nbf` are back-dated by this much: every captured v1 response
/// has `expires_on - not_before = 3900` with `expires_in = 3599` (reference §4.4).
pub const BACKDATE: Duration = Duration::minutes(5);

/// Default `expires_in` of an access token (Entra's documented sample).
pub const DEFAULT_EXPIRES_IN: i64 = 3599;

/// A successful grant.
#[derive(Debug, Clone)]
pub struct Issued {
    pub body: serde_json::Value,
    pub access_token: String,
    pub tenant_id: String,
    pub app_id: String,
    pub audience: String,
    pub roles: Vec<String>,
    /// `1` secret, `2` certificate.
    pub appidacr: &'static str,
    pub expires: OffsetDateTime,
    /// How the client (and, for delegated grants, the user) proved itself, in words,
    /// for the journal.
    pub credential: String,
    /// The signed-in user of a delegated token.
    pub user: Option<String>,
    /// Delegated permissions (`scp`) of a delegated token.
    pub scopes: Vec<String>,
}
