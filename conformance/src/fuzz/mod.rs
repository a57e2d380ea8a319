//! Fuzzing mail clients and servers with structure-aware mutations of the recorded
//! exchanges: `conformance fuzz-client` plays mutated server answers to any client command
//! and watches it for crashes; `conformance fuzz-server` sends hostile client input to a
//! loopback server and checks that it keeps answering. Both are reproducible from a seed,
//! shrink every failure to the fewest mutations that still fail, and write it as a
//! recording (`@wire: escaped`) that `conformance client` or `conformance run` replays.

pub mod client;
pub mod command;
pub mod finding;
pub mod mutate;
pub mod responder;
pub mod rng;
pub mod server;
pub mod shrink;

/// The protocols both fuzzers speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Imap,
    Smtp,
    Pop3,
    /// The token endpoint (fuzz-client only).
    Http,
}

impl Protocol {
    pub fn parse(s: &str) -> Option<Protocol> {
        Some(match s {
            "imap" => Protocol::Imap,
            "smtp" => Protocol::Smtp,
            "pop3" => Protocol::Pop3,
            "http" => Protocol::Http,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Imap => "imap",
            Protocol::Smtp => "smtp",
            Protocol::Pop3 => "pop3",
            Protocol::Http => "http",
        }
    }
}

/// A token-shaped string for `{token}` (the scripted servers never check it).
pub const FAKE_TOKEN: &str =
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL291dGxvb2sub2ZmaWNlMzY1LmNvbSJ9.c2lnbmF0dXJl";

/// The mailbox the fuzzers name in `user=`.
pub const FUZZ_USER: &str = "test.user@contoso.com";

/// The most mutations one case carries (a case draws 1 to this many).
pub const MAX_MUTATIONS_PER_CASE: u64 = 4;

/// The most test runs spent shrinking one failure.
pub const MAX_SHRINK_RUNS: usize = 24;

/// The most cases one run may ask for, so a typo cannot start a day-long run.
pub const MAX_CASES: u64 = 100_000;

/// One case's seed, derived from the run's seed so a single case can be rerun alone.
pub fn case_seed(seed: u64, case: u64) -> u64 {
    rng::SplitMix64::new(seed ^ case.wrapping_mul(0x9e37_79b9_7f4a_7c15)).next_u64()
}

/// Where findings go, as a recordings folder `conformance --recordings DIR` loads.
pub fn prepare_out_dir(dir: &std::path::Path) -> Result<std::path::PathBuf, String> {
    let imap = dir.join("imap");
    for d in [imap.clone(), dir.join("token")] {
        std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    Ok(imap)
}
