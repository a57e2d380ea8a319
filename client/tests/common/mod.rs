//! What the client's tests share: a `Config` aimed at an in-process mock-server. The
//! demo tenant's values and the rest come from the workspace harness (`e2e_tests`).
#![allow(dead_code)]

use mock_server::MockServer;
use oauth_mail_check::{Config, Credential};

/// A check of `email` by `client_id` against `server`: its authority, its implicit-TLS
/// IMAP port, trusting its CA.
pub fn config(server: &MockServer, tenant: &str, client_id: &str, credential: Credential, email: &str) -> Config {
    let mut c = Config::new(tenant, client_id, credential, email);
    c.authority = server.https_url().to_string();
    c.imap_host = "127.0.0.1".into();
    c.imap_port = server.imaps_addr().port();
    c.ca_file = Some(server.ca_file().to_path_buf());
    c
}
