//! The one test harness of the workspace: everything a test needs to drive mock-server
//! from outside, as a client does.
//!
//! - [`demo`]: the demo tenant's ids, secrets and users (re-exported from `mock_server`),
//!   plus the short forms the end-to-end tests use ([`app`], [`CONTOSO`], [`EXO_SCOPE`]).
//! - [`http`] (re-exported at the root): an HTTPS client trusting the server's CA, form
//!   posts, Entra error checks, client-credentials tokens.
//! - [`jwt`] (re-exported at the root): reading claims, the demo certificate, signed
//!   client assertions.
//! - [`imap`]: a raw IMAP client over TLS or STARTTLS with every wait bounded, XOAUTH2.
//! - [`tls`]: a rustls connector trusting one CA.
//! - [`process`]: the `mock-server` binary started on port 0, ready when its ready file
//!   appears.
//!
//! Used by `tests/tests` (end-to-end), the `client` and `conformance` tests,
//! `mock-server`'s own CLI tests and bench (a dev-dependency cycle Cargo allows), `load`
//! and the `examples` package. `docs/testing.md` describes it.

pub mod http;
pub mod imap;
pub mod jwt;
pub mod process;
pub mod smtp;
pub mod tls;

pub use http::*;
pub use jwt::*;
pub use mock_server::demo;

use std::path::PathBuf;

/// Contoso's tenant id.
pub const CONTOSO: &str = demo::CONTOSO;
/// Fabrikam's tenant id.
pub const FABRIKAM: &str = demo::FABRIKAM;
/// Exchange Online for client credentials.
pub const EXO_SCOPE: &str = demo::EXO_SCOPE;

/// The client id of Contoso app `nn` (`…a0NN`), the spec's way of naming apps. Also for
/// numbers the tenant does not have (9, 99), which tests use as unknown apps.
pub fn app(nn: u32) -> String {
    format!("00000000-0000-4000-8000-00000000a{nn:03}")
}

/// The workspace's `fixtures/` folder.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}
