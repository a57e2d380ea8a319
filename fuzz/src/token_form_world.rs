//! The `token_form` fuzz target's logic, kept apart from libFuzzer so that the stable smoke
//! test (`mock-server/tests/fuzz_smoke.rs`) runs it too: the token endpoint's request
//! handling after HTTP, any form body and Authorization header through the whole issue
//! policy (client credentials, delegated grants), for both endpoint versions.

use mock_server::identity::request::{EndpointVersion, TokenRequest};
use mock_server::identity::{issue, IdentityConfig};
use std::sync::OnceLock;

static DEMO: OnceLock<(mock_server::Directory, mock_server::token::Authority)> = OnceLock::new();

/// One run: the first line is an Authorization header, the rest the form body (no line
/// break: a body without the header).
pub fn run(data: &[u8]) {
    let (d, a) = DEMO.get_or_init(|| {
        let d = mock_server::directory::fixture::demo_tenant().expect("demo tenant");
        let a = mock_server::token::Authority::new(&d.signing_keys).expect("authority");
        (d, a)
    });
    let (auth, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (Some(String::from_utf8_lossy(&data[..i]).into_owned()), &data[i + 1..]),
        None => (None, data),
    };
    let req = TokenRequest::parse(body, auth.as_deref());
    let _ = req.summary();
    for v in [EndpointVersion::V1, EndpointVersion::V2] {
        let _ = issue::issue(
            d,
            a,
            v,
            "contoso.com",
            &req,
            time::OffsetDateTime::now_utc(),
            &IdentityConfig::default(),
        );
    }
}
