//! `oauth-mail-check` as a library: every step a mail app takes to read (IMAP, POP3) or
//! send (SMTP) Office 365 mail with OAuth 2.0 (discover, get a token, check it, connect, AUTHENTICATE XOAUTH2, open a
//! folder, list mail, log out), each reported as a step, and a diagnosis an administrator
//! can act on when a step fails.
//!
//! It speaks HTTPS and IMAP like any app and knows nothing of mock-server: its defaults
//! are Microsoft's endpoints; tests point it at the mock by overriding hosts and trusting
//! the mock's CA.

pub mod assertion;
pub mod check;
pub mod claims;
pub mod diagnose;
pub mod imap;
pub mod lines;
pub mod pop3;
pub mod report;
pub mod smtp;
pub mod tls;
pub mod token;

pub use check::{run, Config, Credential};
pub use diagnose::Protocol;
pub use report::{Report, Status, Step};
