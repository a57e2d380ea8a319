//! The XOAUTH2 parser, strict and lenient, on any bytes: never panics, and whatever it
//! accepts re-encodes to something it accepts again.
//!
//! The logic is `src/xoauth2_world.rs`, also run on stable by `mock-server/tests/fuzz_smoke.rs`.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../src/xoauth2_world.rs"]
mod xoauth2_world;

fuzz_target!(|data: &[u8]| {
    xoauth2_world::run(data);
});
