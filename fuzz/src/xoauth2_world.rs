//! The `xoauth2` fuzz target's logic, kept apart from libFuzzer so that the stable smoke
//! test (`mock-server/tests/fuzz_smoke.rs`) runs it too: the XOAUTH2 parser, strict and
//! lenient, on any bytes never panics, and whatever it accepts re-encodes to something it
//! accepts again.

use mock_server::sasl::xoauth2::{decode, encode, parse, Mode};

/// One run: any bytes as an XOAUTH2 initial response (base64 or not).
pub fn run(data: &[u8]) {
    for mode in [Mode::Strict, Mode::Lenient] {
        let _ = parse(data, mode);
        if let Ok(x) = decode(data, mode) {
            let again = decode(encode(&x.user, &x.token).as_bytes(), Mode::Lenient);
            assert!(again.is_ok(), "re-encoded XOAUTH2 no longer parses");
        }
    }
}
