//! Running the `mock-server` binary as a user does, for the CLI tests: every port
//! ephemeral, readiness taken from the ready file.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_mock-server");

/// Port 0 for every listener, so tests never collide with each other or a dev server.
pub const EPHEMERAL_PORTS: [&str; 8] = [
    "--https-port",
    "0",
    "--imaps-port",
    "0",
    "--imap-port",
    "0",
    "--smtp-port",
    "0",
];

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

/// Start the binary with `extra` arguments and wait (up to 20 s) for its ready file.
pub fn start(dir: &Path, extra: &[&str], stdout: Stdio) -> Running {
    let ready_file = dir.join("ready.json");
    let _ = std::fs::remove_file(&ready_file);
    let mut child = Command::new(BIN)
        .args(EPHEMERAL_PORTS)
        .arg("--ready-file")
        .arg(&ready_file)
        .args(extra)
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready_file.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("mock-server exited early: {status}");
        }
        assert!(Instant::now() < deadline, "no ready file within 20 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    let ready = serde_json::from_slice(&std::fs::read(&ready_file).expect("read")).expect("ready JSON");
    Running {
        child,
        ready_file,
        ready,
    }
}
