//! The IMAP protocol after the socket: an authenticated sans-I/O session on the demo
//! mailbox fed any bytes (in two chunks cut where the first byte says), framed and decoded
//! by the session itself. Never panics, answers with bytes or a close, and the mailbox
//! keeps its invariants.
//!
//! No server and no socket: the core (directory, signing keys, mail store) is built once
//! per process, and every run starts from a copy of the pristine store.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../src/imap_world.rs"]
mod imap_world;

fuzz_target!(|data: &[u8]| {
    imap_world::run(data);
});
