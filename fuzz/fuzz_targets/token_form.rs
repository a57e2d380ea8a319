//! The token endpoint's request handling after HTTP: any form body and Authorization
//! header, through the whole issue policy (client credentials, delegated grants).
//!
//! The logic is `src/token_form_world.rs`, also run on stable by `mock-server/tests/fuzz_smoke.rs`.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../src/token_form_world.rs"]
mod token_form_world;

fuzz_target!(|data: &[u8]| {
    token_form_world::run(data);
});
