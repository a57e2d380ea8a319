//! The fuzz targets' logic on the stable toolchain, without cargo-fuzz (as imap-codec's CI
//! does): every target's `run` (the very function its `fuzz_target!` calls, in
//! `fuzz/src/*_world.rs`) over the committed corpus (`fuzz/corpus/<target>/`) and a few
//! thousand deterministic mutations of it: bit flips, byte and token insertions,
//! deletions, duplications, truncations and splices, drawn from SplitMix64 with a fixed
//! seed, so every machine runs the same inputs and a failure repeats.
//!
//! Ignored in `cargo test`: `scripts/test-all` runs it as its own step.
//!
//! ```sh
//! cargo test -p mock-server --test fuzz_smoke -- --ignored            # 3000 mutations per target
//! FUZZ_SMOKE_RUNS=20000 cargo test --release -p mock-server --test fuzz_smoke -- --ignored
//! ```
//!
//! A failing input is printed (escaped) and written to
//! `target/fuzz-smoke-failures/<target>`, ready for `cargo fuzz run <target> <file>`.

#[path = "../../fuzz/src/client_assertion_world.rs"]
mod client_assertion_world;
#[path = "../../fuzz/src/http_world.rs"]
mod http_world;
#[path = "../../fuzz/src/imap_world.rs"]
mod imap_world;
#[path = "../../fuzz/src/pop3_world.rs"]
mod pop3_world;
#[path = "../../fuzz/src/smtp_world.rs"]
mod smtp_world;
#[path = "../../fuzz/src/token_form_world.rs"]
mod token_form_world;
#[path = "../../fuzz/src/xoauth2_world.rs"]
mod xoauth2_world;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Mutations per target unless `FUZZ_SMOKE_RUNS` says otherwise.
const DEFAULT_RUNS: usize = 3000;

/// Words the targets' grammars care about, inserted whole (a byte flip rarely makes them).
const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\0",
    b"\x01",
    b"\x01\x01",
    b" ",
    b"{4294967295}\r\n",
    b"{5+}\r\n",
    b"~{3}\r\n",
    b"*",
    b".\r\n",
    b"BDAT 5 LAST\r\n",
    b"DATA\r\n",
    b"AUTH XOAUTH2\r\n",
    b"auth=Bearer ",
    b"user=",
    b"=",
    b"&",
    b"%",
    b"%00",
    b"%ZZ",
    b"+",
    b"grant_type=",
    b"client_assertion=",
    b"eyJ",
    b".",
    b"Content-Length: 4\r\n",
    b"Content-Length: 99999999999999999999\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"\r\n\r\n",
    b"0\r\n\r\n",
    b"ffffffffffffffff\r\n",
    b"Host: \r\n",
    b"Expect: 100-continue\r\n",
    b"Connection: close\r\n",
    b"POST /contoso.com/oauth2/v2.0/token HTTP/1.1\r\n",
    b"GET /_mock/ HTTP/1.1\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"\xff\xfe",
    b"\xc3\x28",
];

/// SplitMix64: tiny, and the same sequence on every machine and version.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (0 when `n` is 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// One to four changes to `input`, `other` being another corpus entry for splices.
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(9) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 => v.insert(at, rng.next() as u8),
            2 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                v.splice(at..at, t.iter().copied());
            }
            3 if !v.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(v.len());
                v.drain(at.min(end)..end);
            }
            4 => v.truncate(at),
            5 if at < v.len() => {
                let end = (at + 1 + rng.below(64)).min(v.len());
                let piece = v[at..end].to_vec();
                v.splice(at..at, piece);
            }
            6 => {
                let from = rng.below(other.len() + 1);
                v.truncate(at);
                v.extend_from_slice(&other[from..]);
            }
            7 if !v.is_empty() => {
                // The first byte steers most targets (TLS, authenticated, where to cut).
                v[0] = rng.next() as u8;
            }
            _ => {
                let n = rng.below(300);
                v.splice(at..at, std::iter::repeat_n(b'A', n));
            }
        }
    }
    v
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The committed corpus of a target, sorted by name, with `fallback` added (so the test
/// means something even where the corpus folder is missing).
fn corpus(target: &str, fallback: &[&[u8]]) -> Vec<Vec<u8>> {
    let dir = repo().join("fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    let mut inputs: Vec<Vec<u8>> = files.iter().filter_map(|f| std::fs::read(f).ok()).collect();
    inputs.extend(fallback.iter().map(|f| f.to_vec()));
    inputs
}

fn escaped(bytes: &[u8]) -> String {
    bytes
        .iter()
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect()
}

fn runs() -> usize {
    std::env::var("FUZZ_SMOKE_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_RUNS)
}

/// Every corpus entry, then `runs()` mutations of them, through `run`.
fn smoke(target: &str, fallback: &[&[u8]], seed: u64, run: fn(&[u8])) {
    let inputs = corpus(target, fallback);
    let mut rng = Rng(seed);
    let started = Instant::now();
    let mut count = 0;
    let mut check = |input: &[u8]| {
        count += 1;
        if catch_unwind(AssertUnwindSafe(|| run(input))).is_err() {
            let dir = repo().join("target/fuzz-smoke-failures");
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(dir.join(target), input);
            panic!(
                "{target}: input {count} fails (written to target/fuzz-smoke-failures/{target}): \"{}\"",
                escaped(input)
            );
        }
    };
    for input in &inputs {
        check(input);
    }
    for _ in 0..runs() {
        let a = &inputs[rng.below(inputs.len())];
        let b = &inputs[rng.below(inputs.len())];
        let m = mutate(&mut rng, a, b);
        check(&m);
    }
    eprintln!(
        "{target}: {} corpus inputs and {} mutations in {:.1?}",
        inputs.len(),
        runs(),
        started.elapsed()
    );
}

#[test]
#[ignore = "run by scripts/test-all as its own step"]
fn xoauth2() {
    smoke(
        "xoauth2",
        &[
            b"dXNlcj1hQGIBYXV0aD1CZWFyZXIgeAEB",
            b"user=a@b\x01auth=Bearer x\x01\x01",
        ],
        1,
        xoauth2_world::run,
    );
}

#[test]
#[ignore = "run by scripts/test-all as its own step"]
fn token_form() {
    smoke(
        "token_form",
        &[b"\ngrant_type=client_credentials&client_id=00000000-0000-4000-8000-00000000a001&client_secret=poller-secret-value&scope=https%3A%2F%2Foutlook.office365.com%2F.default"],
        2,
        token_form_world::run,
    );
}

#[test]
#[ignore = "run by scripts/test-all as its own step"]
fn client_assertion() {
    smoke(
        "client_assertion",
        &[b"eyJhbGciOiJSUzI1NiIsIng1dCI6ImFiYyJ9.eyJpc3MiOiJ4IiwiYXVkIjoieSJ9.c2ln"],
        3,
        client_assertion_world::run,
    );
}

#[test]
#[ignore = "run by scripts/test-all as its own step"]
fn imap_commands() {
    smoke(
        "imap_commands",
        &[b"\x05T1 SELECT INBOX\r\nT2 UID FETCH 1:* (FLAGS BODY.PEEK[])\r\nT3 LOGOUT\r\n"],
        4,
        imap_world::run,
    );
}

#[test]
#[ignore = "run by scripts/test-all as its own step"]
fn pop3_commands() {
    smoke(
        "pop3_commands",
        &[b"\x03CAPA\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nTOP 2 3\r\nDELE 1\r\nRSET\r\nNOOP\r\n"],
        5,
        pop3_world::run,
    );
}

#[test]
#[ignore = "run by scripts/test-all as its own step"]
fn smtp_commands() {
    smoke(
        "smtp_commands",
        &[b"\x0bDATA\r\nFrom: test.user@contoso.com\r\nSubject: s\r\n\r\nhi\r\n..dot\r\n.\r\nQUIT\r\n"],
        6,
        |d| {
            smtp_world::run(d);
        },
    );
}

#[test]
#[ignore = "run by scripts/test-all as its own step"]
fn http_request() {
    smoke(
        "http_request",
        &[
            b"\x00GET /contoso.com/v2.0/.well-known/openid-configuration HTTP/1.1\r\nHost: login.microsoftonline.com\r\n\r\n",
            b"\x85POST /contoso.com/oauth2/v2.0/token HTTP/1.1\r\nHost: login.microsoftonline.com\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 10\r\n\r\ngrant_type",
        ],
        7,
        http_world::run,
    );
}
