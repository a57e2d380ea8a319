//! The XOAUTH2 parser, strict and lenient, on any bytes: never panics, and whatever it
//! accepts re-encodes to something it accepts again.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mock_server::sasl::xoauth2::{decode, encode, parse, Mode};

fuzz_target!(|data: &[u8]| {
    for mode in [Mode::Strict, Mode::Lenient] {
        let _ = parse(data, mode);
        if let Ok(x) = decode(data, mode) {
            let again = decode(encode(&x.user, &x.token).as_bytes(), Mode::Lenient);
            assert!(again.is_ok(), "re-encoded XOAUTH2 no longer parses");
        }
    }
});
