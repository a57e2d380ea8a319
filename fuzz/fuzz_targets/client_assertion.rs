//! Client-assertion checking on any string (the `client_assertion` form value).
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static DEMO: OnceLock<mock_server::Directory> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let d = DEMO.get_or_init(|| mock_server::directory::fixture::demo_tenant().expect("demo tenant"));
    let Some(tenant) = d.tenant("contoso.com") else { return };
    let Some(app) = tenant.application("00000000-0000-4000-8000-00000000a001") else {
        return;
    };
    let text = String::from_utf8_lossy(data);
    let _ = mock_server::identity::assertion::check(&text, &app.app_id, app, tenant, time::OffsetDateTime::now_utc());
    let _ = mock_server::token::verifier::verify(
        &text,
        &mock_server::token::Authority::new(&d.signing_keys).expect("authority"),
        d,
        time::OffsetDateTime::now_utc(),
    );
});
