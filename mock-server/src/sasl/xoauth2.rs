//! XOAUTH2 (Google's definition, reused unchanged by Microsoft):
//! `base64("user=" {User} "^Aauth=Bearer " {Access Token} "^A^A")`, `^A` = 0x01.
//!
//! Pure: no I/O. Every error names the defect, so the journal can say *why* a client's
//! blob was refused (on the wire Exchange only says `NO AUTHENTICATE failed.`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::fmt;

/// A parsed XOAUTH2 initial response.
#[derive(Clone, PartialEq, Eq)]
pub struct Xoauth2 {
    /// The mailbox to open (`user=`).
    pub user: String,
    /// The bearer token. Never printed by `Debug`.
    pub token: String,
}

impl fmt::Debug for Xoauth2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Xoauth2")
            .field("user", &self.user)
            .field("token", &format_args!("<{} bytes>", self.token.len()))
            .finish()
    }
}

/// How forgiving the parser is. Strict follows what Exchange is known to accept;
/// lenient also takes what sloppy clients send (missing final ^A, extra spaces).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Strict,
    Lenient,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Xoauth2Error {
    #[error("the SASL response is empty")]
    Empty,
    #[error("the SASL response is not valid base64")]
    NotBase64,
    #[error("the decoded XOAUTH2 message is not UTF-8")]
    NotUtf8,
    #[error("no user= field (the message must start with \"user=\")")]
    NoUser,
    #[error("user= is empty")]
    EmptyUser,
    #[error("no ^A (0x01) after user=; was the separator sent as text (\"^A\" or \"\\\\x01\")?")]
    NoSeparator,
    #[error("no auth= field after user=")]
    NoAuth,
    #[error("auth= does not start with \"Bearer \"")]
    NotBearer,
    #[error("the bearer token is empty")]
    EmptyToken,
    #[error("the message does not end with ^A^A (0x01 0x01)")]
    MissingTerminator,
    #[error("unexpected field {0:?}")]
    UnexpectedField(String),
    #[error("whitespace around the token")]
    Whitespace,
    #[error("the bearer token has characters RFC 6750 does not allow in a token (b64token)")]
    NotB64Token,
    #[error(
        "the bearer token is base64-encoded a second time (it decodes to a JWT); encode only the whole XOAUTH2 message"
    )]
    DoubleEncodedToken,
    #[error("the whole XOAUTH2 message is base64-encoded twice")]
    DoubleEncodedMessage,
    #[error("the XOAUTH2 message was sent without base64 encoding")]
    NotEncoded,
}

/// Encode an XOAUTH2 initial response (the client side), base64 included.
pub fn encode(user: &str, token: &str) -> String {
    STANDARD.encode(format!("user={user}\x01auth=Bearer {token}\x01\x01"))
}

/// Does `s` look like a compact JWT (`eyJ…`, three dot-separated parts)?
fn looks_like_jwt(s: &str) -> bool {
    s.starts_with("eyJ") && s.split('.').count() == 3
}

/// Decode the base64 SASL response and parse it.
pub fn decode(response: &[u8], mode: Mode) -> Result<Xoauth2, Xoauth2Error> {
    let trimmed = response.trim_ascii();
    if trimmed.is_empty() {
        return Err(Xoauth2Error::Empty);
    }
    if trimmed.starts_with(b"user=") {
        return Err(Xoauth2Error::NotEncoded);
    }
    let raw = STANDARD.decode(trimmed).map_err(|_| Xoauth2Error::NotBase64)?;
    parse_message(&raw, mode)
}

/// Parse a message that was base64-decoded once (e.g. a SASL-IR the IMAP codec decoded),
/// recognising a message that was encoded twice.
pub fn parse_message(raw: &[u8], mode: Mode) -> Result<Xoauth2, Xoauth2Error> {
    if !raw.starts_with(b"user=") {
        if let Ok(twice) = STANDARD.decode(raw.trim_ascii()) {
            if twice.starts_with(b"user=") {
                return Err(Xoauth2Error::DoubleEncodedMessage);
            }
        }
    }
    parse(raw, mode)
}

/// Parse a decoded XOAUTH2 message.
pub fn parse(raw: &[u8], mode: Mode) -> Result<Xoauth2, Xoauth2Error> {
    let text = std::str::from_utf8(raw).map_err(|_| Xoauth2Error::NotUtf8)?;
    let rest = text.strip_prefix("user=").ok_or(Xoauth2Error::NoUser)?;
    let (user, rest) = rest.split_once('\x01').ok_or(Xoauth2Error::NoSeparator)?;
    if user.is_empty() {
        return Err(Xoauth2Error::EmptyUser);
    }
    let body = match rest.strip_suffix("\x01\x01") {
        Some(b) => b,
        None => match (mode, rest.strip_suffix('\x01')) {
            (Mode::Lenient, Some(b)) => b,
            (Mode::Lenient, None) => rest,
            (Mode::Strict, _) => {
                return Err(if rest.starts_with("auth=") {
                    Xoauth2Error::MissingTerminator
                } else {
                    Xoauth2Error::NoAuth
                })
            }
        },
    };
    // Fields between user= and the terminator; only auth= is defined.
    let mut auth = None;
    for field in body.split('\x01') {
        match field.split_once('=') {
            Some(("auth", v)) => auth = Some(v),
            _ if field.is_empty() && mode == Mode::Lenient => {}
            _ => return Err(Xoauth2Error::UnexpectedField(field.chars().take(40).collect())),
        }
    }
    let auth = auth.ok_or(Xoauth2Error::NoAuth)?;
    let (scheme, token) = auth.split_once(' ').ok_or(Xoauth2Error::NotBearer)?;
    // RFC 6750: the scheme is case-insensitive; Exchange's exact behaviour is unknown.
    if !scheme.eq_ignore_ascii_case("Bearer") {
        return Err(Xoauth2Error::NotBearer);
    }
    let token = match mode {
        Mode::Strict if token.starts_with(char::is_whitespace) || token.ends_with(char::is_whitespace) => {
            return Err(Xoauth2Error::Whitespace)
        }
        Mode::Strict => token,
        Mode::Lenient => token.trim(),
    };
    if token.is_empty() {
        return Err(Xoauth2Error::EmptyToken);
    }
    // RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    let b64token = token.trim_end_matches('=');
    if mode == Mode::Strict
        && (b64token.is_empty()
            || !b64token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)))
    {
        return Err(Xoauth2Error::NotB64Token);
    }
    if !looks_like_jwt(token) {
        if let Ok(inner) = STANDARD.decode(token) {
            if std::str::from_utf8(&inner).is_ok_and(looks_like_jwt) {
                return Err(Xoauth2Error::DoubleEncodedToken);
            }
        }
    }
    Ok(Xoauth2 {
        user: user.to_string(),
        token: token.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Microsoft's worked example (how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth).
    const MS_BLOB: &str = "dXNlcj10ZXN0QGNvbnRvc28ub25taWNyb3NvZnQuY29tAWF1dGg9QmVhcmVyIEV3QkFBbDNCQUFVRkZwVUFvN0ozVmUwYmpMQldaV0NjbFJDM0VvQUEBAQ==";

    #[test]
    fn microsofts_sample_is_a_golden_vector() {
        assert_eq!(
            encode(
                "test@contoso.onmicrosoft.com",
                "EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA"
            ),
            MS_BLOB
        );
        let x = decode(MS_BLOB.as_bytes(), Mode::Strict).expect("parses");
        assert_eq!(x.user, "test@contoso.onmicrosoft.com");
        assert_eq!(x.token, "EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA");
    }

    #[test]
    fn googles_example() {
        let blob = "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==";
        let x = decode(blob.as_bytes(), Mode::Strict).expect("parses");
        assert_eq!(x.user, "someuser@example.com");
        assert_eq!(x.token, "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg");
    }

    #[test]
    fn each_defect_is_named() {
        let b = |s: &str| STANDARD.encode(s);
        let jwt = "eyJ0eXAiOiJKV1QifQ.eyJhIjoxfQ.c2ln";
        let cases: Vec<(String, Xoauth2Error)> = vec![
            (String::new(), Xoauth2Error::Empty),
            ("!!!".into(), Xoauth2Error::NotBase64),
            ("user=a@b\x01auth=Bearer t\x01\x01".into(), Xoauth2Error::NotEncoded),
            (STANDARD.encode([0xff, 0xfe]), Xoauth2Error::NotUtf8),
            (b("auth=Bearer t\x01\x01"), Xoauth2Error::NoUser),
            (b("user=\x01auth=Bearer t\x01\x01"), Xoauth2Error::EmptyUser),
            (b("user=a@b^Aauth=Bearer t^A^A"), Xoauth2Error::NoSeparator),
            (b("user=a@b\x01\x01"), Xoauth2Error::NoAuth),
            (
                b("user=a@b\x01Aauth=Bearer t\x01\x01"),
                Xoauth2Error::UnexpectedField("Aauth=Bearer t".into()),
            ),
            (
                b("user=a@b\x01auth=Basic dXNlcjpwdw==\x01\x01"),
                Xoauth2Error::NotBearer,
            ),
            (b("user=a@b\x01auth=Bearer \x01\x01"), Xoauth2Error::EmptyToken),
            (b("user=a@b\x01auth=Bearer t\x01"), Xoauth2Error::MissingTerminator),
            (b("user=a@b\x01auth=Bearer  t\x01\x01"), Xoauth2Error::Whitespace),
            // Found by cargo fuzz: a tab was taken for a token.
            (b("user=/m\x01auth=Bearer \t\x01\x01"), Xoauth2Error::Whitespace),
            (b("user=a@b\x01auth=Bearer to ken\x01\x01"), Xoauth2Error::NotB64Token),
            (b("user=a@b\x01auth=Bearer t\u{e9}\x01\x01"), Xoauth2Error::NotB64Token),
            (
                b(&format!("user=a@b\x01auth=Bearer {}\x01\x01", STANDARD.encode(jwt))),
                Xoauth2Error::DoubleEncodedToken,
            ),
            (
                b(&b(&format!("user=a@b\x01auth=Bearer {jwt}\x01\x01"))),
                Xoauth2Error::DoubleEncodedMessage,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(decode(input.as_bytes(), Mode::Strict), Err(want.clone()), "{input:?}");
        }
    }

    #[test]
    fn lenient_mode_forgives_sloppy_clients() {
        let b = |s: &str| STANDARD.encode(s);
        for s in [
            "user=a@b\x01auth=Bearer t\x01",
            "user=a@b\x01auth=Bearer  t \x01\x01",
            "user=a@b\x01auth=bearer t",
        ] {
            let x = decode(b(s).as_bytes(), Mode::Lenient).expect(s);
            assert_eq!((x.user.as_str(), x.token.as_str()), ("a@b", "t"));
        }
        // Lower-case scheme is fine in strict mode too (RFC 6750).
        assert!(decode(b("user=a@b\x01auth=bearer t\x01\x01").as_bytes(), Mode::Strict).is_ok());
    }

    #[test]
    fn debug_hides_the_token() {
        let x = Xoauth2 {
            user: "u".into(),
            token: "secret-token".into(),
        };
        assert!(!format!("{x:?}").contains("secret-token"));
    }

    proptest! {
        #[test]
        fn never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = decode(&bytes, Mode::Strict);
            let _ = decode(&bytes, Mode::Lenient);
            let _ = parse(&bytes, Mode::Strict);
            let _ = parse(&bytes, Mode::Lenient);
        }

        #[test]
        fn round_trips(user in "[a-z0-9._-]{1,20}@[a-z0-9.-]{1,20}", token in "[A-Za-z0-9._~+/-]{1,300}") {
            let x = decode(encode(&user, &token).as_bytes(), Mode::Strict);
            // A token that happens to be base64 of a JWT is refused by design; others round-trip.
            if let Ok(x) = x {
                prop_assert_eq!(x.user, user);
                prop_assert_eq!(x.token, token);
            }
        }

        #[test]
        fn the_same_answer_for_any_split(user in "[a-z]{1,10}@[a-z]{1,10}\\.com", token in "[A-Za-z0-9.]{1,80}", cut in 0usize..400) {
            // The line arrives in two reads; the parser sees the reassembled line.
            let blob = encode(&user, &token).into_bytes();
            let cut = cut.min(blob.len());
            let mut joined = blob[..cut].to_vec();
            joined.extend_from_slice(&blob[cut..]);
            prop_assert_eq!(decode(&joined, Mode::Strict), decode(&blob, Mode::Strict));
        }
    }
}
