//! The conformance suite: recordings of the documented success and failure exchanges,
//! replayed against any server and against clients. The recording format and runner
//! arrive with the conformance issue; this crate holds the place in the workspace.
