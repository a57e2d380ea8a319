//! Running the client under test and deciding whether it crashed: killed by a signal, an
//! exit code the user calls a crash, a stack trace in its output, or still running at the
//! timeout. Output is kept up to a limit; the rest is read and dropped so the child never
//! blocks on a full pipe.

use regex_automata::meta::Regex;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Output kept per case for the stack-trace search and the report (stdout and stderr each).
pub const MAX_OUTPUT: usize = 64 * 1024;

/// How long to wait for a killed child's pipes to close (a grandchild may hold them).
pub const PIPE_GRACE: Duration = Duration::from_secs(2);

/// Python tracebacks, Java exceptions and their `at` frames, Rust and Go panics, Node
/// stack frames and uncaught errors, .NET unhandled exceptions, sanitizers, segfaults.
pub const DEFAULT_CRASH_PATTERN: &str = concat!(
    r"(?m)Traceback \(most recent call last\)",
    r#"|^Exception in thread ""#,
    r"|^\s+at [\w$.<>/]+\([\w$.]+\.(java|kt|scala):\d+\)",
    r"|^\s+at [\w$.<>]+\((Native Method|Unknown Source)\)",
    r"|panicked at ",
    r"|^panic: ",
    r"|^goroutine \d+ \[",
    r"|^\s+at .*\((node:[\w/]+|[^()]*\.[cm]?[jt]s):\d+:\d+\)",
    r"|^Uncaught \w+",
    r"|^Unhandled exception\. ",
    r"|AddressSanitizer|Segmentation fault"
);

/// Compile a crash pattern; matching is on bytes, so non-UTF-8 output is searched too.
pub fn crash_regex(pattern: &str) -> Result<Regex, String> {
    Regex::builder()
        .syntax(regex_automata::util::syntax::Config::new().utf8(false))
        .build(pattern)
        .map_err(|e| format!("--crash-pattern {pattern:?}: {e}"))
}

/// Which exit codes count as crashes.
#[derive(Debug, Clone)]
pub enum CrashCodes {
    /// Anything but these (the default: anything but 0 and 1).
    AllBut(Vec<i32>),
    /// Exactly these ranges.
    Only(Vec<(i32, i32)>),
}

impl Default for CrashCodes {
    fn default() -> Self {
        CrashCodes::AllBut(vec![0, 1])
    }
}

impl CrashCodes {
    /// `2,70-255` style lists.
    pub fn parse(s: &str) -> Result<CrashCodes, String> {
        let mut v = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let num = |x: &str| {
                x.trim()
                    .parse::<i32>()
                    .map_err(|_| format!("--crash-exit-codes: {x:?} is not a number"))
            };
            v.push(match part.split_once('-') {
                Some((a, b)) => (num(a)?, num(b)?),
                None => (num(part)?, num(part)?),
            });
        }
        Ok(CrashCodes::Only(v))
    }

    pub fn is_crash(&self, code: i32) -> bool {
        match self {
            CrashCodes::AllBut(ok) => !ok.contains(&code),
            CrashCodes::Only(r) => r.iter().any(|(a, b)| (*a..=*b).contains(&code)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Signal(i32),
    ExitCode(i32),
    /// The first output line matching the crash pattern.
    StackTrace(String),
    Timeout,
}

impl Failure {
    /// Failures of one kind are "the same" while shrinking.
    pub fn same_kind(&self, other: &Failure) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Signal(s) => write!(f, "killed by signal {s}"),
            Failure::ExitCode(c) => write!(f, "exit code {c}"),
            Failure::StackTrace(l) => write!(f, "stack trace: {l}"),
            Failure::Timeout => write!(f, "still running at the timeout"),
        }
    }
}

#[derive(Debug)]
pub struct Outcome {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    /// stdout then stderr, each cut at [`MAX_OUTPUT`].
    pub output: Vec<u8>,
}

async fn keep<R: AsyncRead + Unpin>(mut r: R) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match r.read(&mut chunk).await {
            Ok(0) | Err(_) => return kept,
            Ok(n) => {
                let room = MAX_OUTPUT.saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..n.min(room)]);
            }
        }
    }
}

/// Run `argv` with a timeout; the child is killed at the timeout.
pub async fn run(argv: &[String], timeout: Duration) -> Result<Outcome, String> {
    let (prog, args) = argv.split_first().ok_or("no command given")?;
    let mut child = tokio::process::Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{prog}: {e}"))?;
    let out = child.stdout.take().map(|o| tokio::spawn(keep(o)));
    let err = child.stderr.take().map(|e| tokio::spawn(keep(e)));
    let (status, timed_out) = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(s) => (s.ok(), false),
        Err(_) => {
            let _ = child.kill().await;
            (None, true)
        }
    };
    let mut output = Vec::new();
    for h in [out, err].into_iter().flatten() {
        let abort = h.abort_handle();
        match tokio::time::timeout(PIPE_GRACE, h).await {
            Ok(Ok(b)) => output.extend(b),
            _ => abort.abort(),
        }
    }
    #[cfg(unix)]
    let signal = status.and_then(|s| std::os::unix::process::ExitStatusExt::signal(&s));
    #[cfg(not(unix))]
    let signal = None;
    Ok(Outcome {
        code: status.and_then(|s| s.code()),
        signal,
        timed_out,
        output,
    })
}

/// The crash, if any.
pub fn judge(o: &Outcome, codes: &CrashCodes, pattern: &Regex) -> Option<Failure> {
    if o.timed_out {
        return Some(Failure::Timeout);
    }
    if let Some(s) = o.signal {
        return Some(Failure::Signal(s));
    }
    if let Some(m) = pattern.find(&o.output) {
        let start = o.output[..m.start()]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let end = o.output[m.end()..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(o.output.len(), |i| m.end() + i);
        let first = String::from_utf8_lossy(&o.output[start..end]).trim().to_string();
        // The last line usually names the exception (Python, Node); show both.
        let text = String::from_utf8_lossy(&o.output);
        let last = text.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
        return Some(Failure::StackTrace(if last.is_empty() || last == first {
            first
        } else {
            format!("{first} ... {last}")
        }));
    }
    match o.code {
        Some(c) if codes.is_crash(c) => Some(Failure::ExitCode(c)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_pattern_knows_the_usual_stack_traces_and_spares_error_messages() {
        let re = crash_regex(DEFAULT_CRASH_PATTERN).expect("compiles");
        for crash in [
            "Traceback (most recent call last):\n  File \"x.py\", line 3",
            "Exception in thread \"main\" java.lang.NullPointerException",
            "\tat com.sun.mail.imap.protocol.IMAPResponse.<init>(IMAPResponse.java:55)",
            "thread 'main' panicked at src/main.rs:3:5:",
            "panic: runtime error: index out of range [3] with length 2\n\ngoroutine 1 [running]:",
            "    at Parser.parse (/app/node_modules/imapflow/lib/parser.js:12:7)",
            "    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)",
            "Unhandled exception. System.FormatException: bad",
        ] {
            assert!(re.is_match(crash.as_bytes()), "{crash}");
        }
        for calm in [
            "[FAIL] authenticate: NO AUTHENTICATE failed.",
            "imaplib.IMAP4.error: AUTHENTICATE failed",
            "error: connection reset at 127.0.0.1:993",
        ] {
            assert!(!re.is_match(calm.as_bytes()), "{calm}");
        }
    }

    #[test]
    fn exit_codes() {
        let d = CrashCodes::default();
        assert!(!d.is_crash(0) && !d.is_crash(1) && d.is_crash(2) && d.is_crash(101));
        let c = CrashCodes::parse("70-79, 101").expect("parses");
        assert!(c.is_crash(101) && c.is_crash(75) && !c.is_crash(2));
        assert!(CrashCodes::parse("x").is_err());
    }
}
