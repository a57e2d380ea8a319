//! SASL mechanisms as pure parsers: bytes in, a credential or a named defect out.

pub mod xoauth2;
