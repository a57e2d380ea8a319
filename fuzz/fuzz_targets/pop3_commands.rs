//! The POP3 session: an authenticated (or not, by the first byte) sans-I/O session on the
//! demo mailbox fed any bytes cut into lines at CRLF exactly as the connection cuts them
//! (over-long lines go to `too_long`). Never panics, and answers every line with `+` or
//! `-` until it closes.
//!
//! The logic is `src/pop3_world.rs`, also run on stable by `mock-server/tests/fuzz_smoke.rs`.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../src/pop3_world.rs"]
mod pop3_world;

fuzz_target!(|data: &[u8]| {
    pop3_world::run(data);
});
