//! Raw RSA-2048 PKCS#1 v1.5 SHA-256 signatures per second with aws-lc-rs, per thread:
//! the ceiling of token issuance. `cargo run --release -p mock-server --example sign_rate`
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use std::time::{Duration, Instant};

fn main() {
    let pem = include_str!("../../fixtures/keys/token-signing.key");
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).expect("pem");
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let der = der.clone();
            std::thread::spawn(move || {
                let pair = RsaKeyPair::from_pkcs8(&der).expect("key");
                let rng = SystemRandom::new();
                let mut sig = vec![0u8; pair.public_modulus_len()];
                let t0 = Instant::now();
                let mut n = 0u64;
                while t0.elapsed() < Duration::from_secs(3) {
                    pair.sign(&RSA_PKCS1_SHA256, &rng, b"header.payload", &mut sig)
                        .expect("sign");
                    n += 1;
                }
                n as f64 / t0.elapsed().as_secs_f64()
            })
        })
        .collect();
    let rates: Vec<f64> = handles.into_iter().map(|h| h.join().expect("thread")).collect();
    println!(
        "{}",
        serde_json::json!({"aws_lc_rs_rsa2048_signs_per_second_per_thread": rates, "total": rates.iter().sum::<f64>()})
    );
}
