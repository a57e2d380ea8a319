//! The SMTP submission session after the socket: a sans-I/O session (plain, or after
//! STARTTLS, EHLO and AUTH XOAUTH2 one-line or two-step, by the first byte) fed any bytes
//! cut as a connection cuts them. Never panics, answers every complete line (and the end
//! of DATA, and every whole BDAT chunk) with well-formed replies until it closes, holds
//! at most a line plus the message limit, and delivers a message only whole, at `.` or
//! at the end of `BDAT LAST`.
//!
//! The logic is `src/smtp_world.rs`, also run on stable by a proptest in
//! `mock-server/tests/properties.rs`.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../src/smtp_world.rs"]
mod smtp_world;

fuzz_target!(|data: &[u8]| {
    smtp_world::run(data);
});
