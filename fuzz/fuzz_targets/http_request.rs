//! The HTTPS front after TLS: any bytes as a client's side of one connection, through
//! `mock_server::https::serve_connection` (hyper's HTTP/1 and HTTP/2 with the listener's
//! limits, then the routing to the admin API, the console and the identity platform).
//! Never panics, ends the connection once the client has, and answers HTTP/1 with
//! well-formed status lines, never a 5xx.
//!
//! The logic is `src/http_world.rs`, also run on stable by `mock-server/tests/fuzz_smoke.rs`.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../src/http_world.rs"]
mod http_world;

fuzz_target!(|data: &[u8]| {
    http_world::run(data);
});
