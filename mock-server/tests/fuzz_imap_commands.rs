//! The `imap_commands` fuzz target's logic on stable Rust: run over the seed corpus (the
//! `C:` lines of the IMAP recordings, as `fuzz/seed.sh` makes them, and hostile inputs),
//! and, ignored by default, a loop that measures executions per second:
//!
//! ```sh
//! cargo test --release -p mock-server --test fuzz_imap_commands -- --ignored --nocapture
//! ```

#[path = "../../fuzz/src/imap_world.rs"]
mod imap_world;

use std::path::Path;

/// The seed corpus: every client line of the IMAP recordings, and a few hostile inputs.
fn seeds() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/recordings/imap");
    let mut seeds = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("recordings")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("recording");
        for line in text.lines().filter_map(|l| l.strip_prefix("C: ")) {
            seeds.push(format!("{line}\r\n").into_bytes());
        }
    }
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/imap_commands");
    if let Ok(entries) = std::fs::read_dir(corpus) {
        for e in entries.filter_map(Result::ok) {
            if let Ok(bytes) = std::fs::read(e.path()) {
                seeds.push(bytes);
            }
        }
    }
    for hostile in [
        &b"\x05T1 APPEND Drafts {36700160+}\r\nxxxx"[..],
        b"\x03T1 NOOP xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        b"\x1b[31m\x00 NOOP\r\nT2 IDLE\r\nDONE\r\nT3 SELECT INBOX\r\nT4 UID FETCH 1:* (FLAGS BODY.PEEK[])\r\n",
        b"T1 APPEND Drafts {17}\r\nFrom: a@b\r\n\r\nhi\r\nT2 SELECT Drafts\r\nT3 STORE 1 +FLAGS (\\Deleted)\r\nT4 EXPUNGE\r\n",
        b"T1 SELECT INBOX\r\nT2 UID MOVE 1:* Drafts\r\nT3 UID COPY 1:* INBOX\r\nT4 LOGOUT\r\nT5 NOOP\r\n",
    ] {
        seeds.push(hostile.to_vec());
    }
    seeds
}

#[test]
fn the_fuzz_target_holds_over_the_seed_corpus() {
    let seeds = seeds();
    assert!(seeds.len() > 20, "only {} seeds", seeds.len());
    for seed in &seeds {
        imap_world::run(seed);
    }
}

#[test]
#[ignore = "a measurement: run with --release -- --ignored --nocapture"]
fn the_fuzz_target_executions_per_second() {
    let seeds = seeds();
    imap_world::run(&seeds[0]);
    let runs = 20_000;
    let start = std::time::Instant::now();
    for i in 0..runs {
        imap_world::run(&seeds[i % seeds.len()]);
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "imap_commands: {runs} runs over {} seeds in {secs:.2} s: {:.0} exec/s",
        seeds.len(),
        runs as f64 / secs
    );
}
