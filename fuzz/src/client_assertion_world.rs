//! The `client_assertion` fuzz target's logic, kept apart from libFuzzer so that the stable
//! smoke test (`mock-server/tests/fuzz_smoke.rs`) runs it too: any string as a client
//! assertion (the `client_assertion` form value), and as a bearer token for the mail
//! side's check. Neither may panic.

use std::sync::OnceLock;

static DEMO: OnceLock<(mock_server::Directory, mock_server::token::Authority)> = OnceLock::new();

/// One run: the bytes (lossily UTF-8) as an assertion and as an access token.
pub fn run(data: &[u8]) {
    let (d, authority) = DEMO.get_or_init(|| {
        let d = mock_server::directory::fixture::demo_tenant().expect("demo tenant");
        let a = mock_server::token::Authority::new(&d.signing_keys).expect("authority");
        (d, a)
    });
    let Some(tenant) = d.tenant("contoso.com") else { return };
    let Some(app) = tenant.application("00000000-0000-4000-8000-00000000a001") else {
        return;
    };
    let text = String::from_utf8_lossy(data);
    let now = time::OffsetDateTime::now_utc();
    let _ = mock_server::identity::assertion::check(&text, &app.app_id, app, tenant, now);
    let _ = mock_server::token::verifier::verify(&text, authority, d, now);
}
