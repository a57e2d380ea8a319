//! Running the `mock-server` binary as a user does, for the CLI tests: the shared harness
//! (`e2e_tests::process`, a dev-dependency Cargo allows although it depends on this
//! package) with this package's own build of the binary.
#![allow(dead_code)]

use std::path::Path;
use std::process::Stdio;

pub use e2e_tests::process::{tempdir, Running, EPHEMERAL_PORTS};

/// Only this package's tests get the binary's path from Cargo.
pub const BIN: &str = env!("CARGO_BIN_EXE_mock-server");

/// Start the binary with `extra` arguments and wait for its ready file.
pub fn start(dir: &Path, extra: &[&str], stdout: Stdio) -> Running {
    e2e_tests::process::start(Path::new(BIN), dir, extra, stdout)
}
