//! `mock-server`: an offline stand-in for the Microsoft identity platform (Entra ID token
//! endpoint) and, in later issues, Exchange Online's mail servers.
//!
//! ```no_run
//! # async fn demo() {
//! let server = mock_server::MockServer::start().await; // demo tenant, port 0
//! let authority = server.authority("contoso.onmicrosoft.com");
//! # let _ = authority;
//! # }
//! ```

pub mod admin;
pub mod clock;
pub mod demo;
pub mod directory;
pub mod faults;
pub mod https;
pub mod identity;
pub mod imap;
pub mod journal;
pub mod mailstore;
pub mod net;
pub mod pop3;
pub mod sasl;
pub mod secret;
pub mod server;
pub mod smtp;
pub mod state;
pub mod tls;
pub mod token;

pub use clock::Clock;
pub use directory::Directory;
pub use faults::{Fault, FaultError, UnmetExpectations};
pub use identity::{DescriptionLayout, IdentityConfig, TokenLifetime};
pub use journal::{JournalEntry, Outcome, Protocol};
pub use server::{FaultGuard, MockServer, MockServerBuilder, StartError};
