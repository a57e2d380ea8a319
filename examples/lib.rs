//! The examples package: runnable programs (see `README.md` beside this file) and, here,
//! the Rust snippets of the documentation, compiled and run by `cargo test` so they
//! cannot rot.

#[doc = include_str!("../docs/testing.md")]
pub mod testing_md {}

#[doc = include_str!("../docs/runtime-control.md")]
pub mod runtime_control_md {}
