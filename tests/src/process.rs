//! The `mock-server` binary run as a user runs it: every port ephemeral, readiness taken
//! from the ready file it writes atomically once every listener is bound.
//!
//! The binary's path is an argument: only a test of the `mock-server` package itself gets
//! it from Cargo (`env!("CARGO_BIN_EXE_mock-server")`); other callers take it from
//! `MOCK_SERVER_BIN` or their own option ([`binary_from_env`]).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Port 0 for every listener, so tests never collide with each other or a dev server.
pub const EPHEMERAL_PORTS: [&str; 12] = [
    "--https-port",
    "0",
    "--imaps-port",
    "0",
    "--imap-port",
    "0",
    "--pop3s-port",
    "0",
    "--pop3-port",
    "0",
    "--smtp-port",
    "0",
];

/// How long a start may take before the caller gives up: a debug build on a loaded CI
/// machine starts in well under a second (`docs/benchmarks.md`), so 20 s means broken.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How often the ready file is looked for: fine enough for the start-to-ready benchmark.
const READY_POLL: Duration = Duration::from_micros(500);

/// `MOCK_SERVER_BIN`, else `target/debug/mock-server` of this workspace.
pub fn binary_from_env() -> PathBuf {
    std::env::var_os("MOCK_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/mock-server"))
}

/// The command line of a server on ephemeral ports that writes `ready_file`; add
/// arguments, pick stdout and stderr, then spawn it.
///
/// Its CA folder is `ca/` beside the ready file (through `MOCK_SERVER_CA_DIR`; an explicit
/// `--ca-dir` still wins): the binary's default, the user's own folder, is shared state
/// no test may touch.
pub fn command(bin: &Path, ready_file: &Path) -> Command {
    let mut cmd = Command::new(bin);
    let ca_dir = ready_file.parent().unwrap_or(Path::new(".")).join("ca");
    cmd.args(EPHEMERAL_PORTS)
        .arg("--ready-file")
        .arg(ready_file)
        .env("MOCK_SERVER_CA_DIR", ca_dir);
    cmd
}

/// Wait for `child` to write `ready_file`; its content (`https_url`, `ca_file`,
/// `imaps_addr`, `imap_addr`, `tenants`). `Err` when the process exits first or the
/// timeout passes.
pub fn wait_for_ready(child: &mut Child, ready_file: &Path, timeout: Duration) -> Result<serde_json::Value, String> {
    let deadline = Instant::now() + timeout;
    while !ready_file.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("mock-server exited early: {status}"));
        }
        if Instant::now() >= deadline {
            return Err(format!("no ready file within {} s", timeout.as_secs()));
        }
        std::thread::sleep(READY_POLL);
    }
    let bytes = std::fs::read(ready_file).map_err(|e| format!("reading {}: {e}", ready_file.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("ready file is not JSON: {e}"))
}

/// A started server; killed when dropped.
pub struct Running {
    pub child: Child,
    pub ready_file: PathBuf,
    pub ready: serde_json::Value,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh, empty directory per test and process.
pub fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mock-server-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Start `bin` with `extra` arguments, its ready file in `dir`, and wait for it
/// ([`READY_TIMEOUT`]). Stderr is dropped: tests read the ready file and the journal.
///
/// # Panics
/// When the server does not start: a test cannot go on without it.
pub fn start(bin: &Path, dir: &Path, extra: &[&str], stdout: Stdio) -> Running {
    let ready_file = dir.join("ready.json");
    let _ = std::fs::remove_file(&ready_file);
    let mut child = command(bin, &ready_file)
        .args(extra)
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
    let ready = match wait_for_ready(&mut child, &ready_file, READY_TIMEOUT) {
        Ok(ready) => ready,
        Err(e) => {
            let _ = child.kill();
            panic!("{e}")
        }
    };
    Running {
        child,
        ready_file,
        ready,
    }
}
