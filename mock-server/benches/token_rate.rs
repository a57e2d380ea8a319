//! Benchmark: the binary's start-to-ready time and the machine's RSA-2048 signing rate,
//! the ceiling of token issuance (`openssl speed` and aws-lc-rs, one process per core).
//! The token rate itself: `mock-load tokens` (see the README), with the server in its
//! own process.
//!
//! `cargo bench -p mock-server --bench token_rate` prints one JSON report.

use std::process::Command;
use std::time::{Duration, Instant};

fn openssl_rsa2048_signs_per_second(multi: usize) -> Option<f64> {
    let mut cmd = Command::new("openssl");
    cmd.args(["speed", "-seconds", "3"]);
    if multi > 1 {
        cmd.args(["-multi", &multi.to_string()]);
    }
    let out = cmd.arg("rsa2048").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "rsa 2048 bits 0.000601s 0.000018s   1663.9  55555.6": sign/s is the 3rd number.
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("rsa 2048 bits"))?;
    let nums: Vec<f64> = line
        .split_whitespace()
        .filter_map(|w| w.trim_end_matches('s').parse().ok())
        .collect();
    nums.get(3).copied()
}

fn aws_lc_signs_per_second(threads: usize) -> f64 {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
    let pem = include_str!("../../fixtures/keys/token-signing.key");
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let Ok(der) = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64) else {
        return 0.0;
    };
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let der = der.clone();
            std::thread::spawn(move || {
                let Ok(pair) = RsaKeyPair::from_pkcs8(&der) else {
                    return 0.0;
                };
                let rng = SystemRandom::new();
                let mut sig = vec![0u8; pair.public_modulus_len()];
                let t0 = Instant::now();
                let mut n = 0u64;
                while t0.elapsed() < Duration::from_secs(3) {
                    if pair.sign(&RSA_PKCS1_SHA256, &rng, b"header.payload", &mut sig).is_ok() {
                        n += 1;
                    }
                }
                n as f64 / t0.elapsed().as_secs_f64()
            })
        })
        .collect();
    handles.into_iter().filter_map(|h| h.join().ok()).sum()
}

fn start_to_ready_ms(binary: &str, runs: usize) -> Vec<f64> {
    let dir = std::env::temp_dir().join(format!("mock-server-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let mut times = Vec::new();
    for i in 0..runs {
        let ready = dir.join(format!("ready-{i}.json"));
        let t0 = Instant::now();
        let Ok(mut child) = Command::new(binary)
            .args([
                "--https-port",
                "0",
                "--imaps-port",
                "0",
                "--imap-port",
                "0",
                "--smtp-port",
                "0",
                "--log",
                "warn",
                "--ready-file",
            ])
            .arg(&ready)
            .stdout(std::process::Stdio::null())
            .spawn()
        else {
            break;
        };
        while !ready.exists() && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_micros(200));
        }
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = std::fs::remove_dir_all(&dir);
    times.sort_by(f64::total_cmp);
    times
}

fn main() {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let startup = start_to_ready_ms(env!("CARGO_BIN_EXE_mock-server"), 15);
    let report = serde_json::json!({
        "benchmark": "start-to-ready and the RSA-2048 signing ceiling",
        "cores": cores,
        "start_to_ready_ms": {
            "runs": startup.len(),
            "min": startup.first(),
            "median": startup.get(startup.len() / 2),
            "max": startup.last(),
        },
        "openssl_rsa2048_signs_per_second_1_process": openssl_rsa2048_signs_per_second(1),
        "openssl_rsa2048_signs_per_second_all_cores": openssl_rsa2048_signs_per_second(cores),
        "aws_lc_rs_rsa2048_signs_per_second_all_cores": aws_lc_signs_per_second(cores),
        "token_rate": "run: cargo build --release -p mock-server -p load && target/release/mock-load tokens",
    });
    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
}
