//! The Microsoft identity platform (Entra ID) side: token endpoint, device code and
//! authorization pages, discovery, JWKS.
//!
//! `routes` matches method and path to a handler (`token_endpoint`, `device_login`,
//! `authorize`, `discovery_endpoints`, `test_controls`); handlers carry `grant`'s
//! decisions over HTTP through `reply`. `grant` has one file per grant; they share
//! `lookup` (tenant and app), `consent` (scopes), `sign_in` (password, lockout), `store`
//! (codes, refresh tokens) and `mint` (claims); `errors` phrases every refusal.

pub mod assertion;
mod authorize;
pub mod consent;
pub mod delegated;
mod device_login;
pub mod discovery;
mod discovery_endpoints;
pub mod errors;
pub mod grant;
pub mod issue;
pub mod lookup;
pub mod mint;
pub mod pages;
mod reply;
pub mod request;
pub mod routes;
pub mod sign_in;
pub mod store;
mod test_controls;
mod token_endpoint;

pub use errors::{AadError, DescriptionLayout};
pub use issue::Issued;
pub use request::{EndpointVersion, TokenRequest};

/// How long access tokens live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenLifetime {
    /// A fixed `expires_in`, in seconds (default 3599, Entra's documented sample).
    Fixed(i64),
    /// Entra's documented behaviour: "a random value ranging between 60-90 minutes".
    Random60To90Minutes,
}

impl Default for TokenLifetime {
    fn default() -> Self {
        TokenLifetime::Fixed(issue::DEFAULT_EXPIRES_IN)
    }
}

impl TokenLifetime {
    pub fn pick(self) -> i64 {
        match self {
            TokenLifetime::Fixed(s) => s,
            TokenLifetime::Random60To90Minutes => {
                let mut b = [0u8; 2];
                let _ = aws_lc_rs::rand::fill(&mut b);
                3600 + i64::from(u16::from_le_bytes(b)) % 1801
            }
        }
    }
}

/// Identity-platform behaviour that sources disagree on, or that tests want to change.
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    pub lifetime: TokenLifetime,
    /// Add a Microsoft-style `nonce` to the token header (off by default, as real
    /// Exchange tokens carry one but standard JWT libraries then cannot verify them).
    pub nonce_header: bool,
    pub layout: DescriptionLayout,
    /// The AADSTS number for "grant type not supported over /common": the service's own
    /// answers say 9001023 (the inner MsalServiceException in Microsoft365DSC
    /// MSCloudLoginAssistant #100 and Microsoft365DSC #1067, 2021; msal4j #382, 2021), as
    /// Microsoft's error reference lists it; 90010 is the number MSAL.NET's own wrapping
    /// message (and its MockHelpers) use, kept as an option.
    pub multi_tenant_grant_error_code: u32,
    /// A refresh token unused for longer than this answers AADSTS700082 (Entra: 90 days).
    pub refresh_inactivity: time::Duration,
    /// Serve `POST /_mock/clock/advance` (loopback peers only). Off by default.
    pub test_controls: bool,
    /// Largest token-request body ([`routes::MAX_TOKEN_REQUEST_BODY`]).
    pub max_request_body: usize,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            lifetime: TokenLifetime::default(),
            nonce_header: false,
            layout: DescriptionLayout::Crlf,
            multi_tenant_grant_error_code: 9001023,
            refresh_inactivity: store::DEFAULT_REFRESH_INACTIVITY,
            test_controls: false,
            max_request_body: routes::MAX_TOKEN_REQUEST_BODY,
        }
    }
}

/// The identity platform's state: the shared core plus what only it keeps.
#[derive(Debug)]
pub struct IdentityState {
    pub core: std::sync::Arc<crate::state::Core>,
    pub config: IdentityConfig,
    /// `https://127.0.0.1:PORT`.
    pub https_url: String,
    /// `host:port` forms under which clients may reach us (for instance discovery).
    pub authorities: Vec<String>,
    /// Device codes, authorization codes, refresh tokens, lockouts, revocations.
    pub delegated: store::DelegatedState,
}
