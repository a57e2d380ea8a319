//! `Secret<T>`: a value that must never reach a log, a journal or an error message.
//!
//! Its `Debug` and `Display` print only a placeholder, so a secret that ends up in a
//! `tracing` field or an `{:?}` by mistake stays redacted.

use std::fmt;

#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret itself; call sites are the only places that see it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How a secret string is shown in the journal: its length only.
pub fn mask(value: &str) -> String {
    format!("<redacted, {} chars>", value.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("poller-secret-value".to_string());
        assert!(!format!("{s:?}").contains("poller"));
        assert!(!format!("{s}").contains("poller"));
        assert_eq!(s.expose(), "poller-secret-value");
        assert_eq!(mask("abc"), "<redacted, 3 chars>");
    }
}
