//! `oauth-mail-check`: the client under test (gets a token, signs in over IMAP with
//! XOAUTH2, explains every failure). It speaks only HTTPS and IMAP and knows nothing of
//! `mock-server`'s internals. Its steps arrive with the client issue; this crate holds
//! the place in the workspace so the layout is stable.
