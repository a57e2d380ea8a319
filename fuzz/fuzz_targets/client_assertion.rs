//! Client-assertion checking on any string (the `client_assertion` form value), and the
//! same string as a bearer token for the mail side's check.
//!
//! The logic is `src/client_assertion_world.rs`, also run on stable by `mock-server/tests/fuzz_smoke.rs`.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../src/client_assertion_world.rs"]
mod client_assertion_world;

fuzz_target!(|data: &[u8]| {
    client_assertion_world::run(data);
});
