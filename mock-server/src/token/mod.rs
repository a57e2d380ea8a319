//! Tokens: the authority that signs them and publishes its keys, and the shared JWS and
//! X.509 helpers. The mail side's verifier arrives with the IMAP server.

pub mod authority;
pub mod jws;
pub mod verifier;
pub mod x509;

pub use authority::{Authority, AuthorityError, SigningKey};
