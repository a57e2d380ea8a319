//! The `http_request` fuzz target's logic, kept apart from libFuzzer so that the stable
//! smoke test (`mock-server/tests/fuzz_smoke.rs`) runs it too.
//!
//! What it feeds: any bytes, as a client's side of one HTTPS connection after TLS, to
//! `mock_server::https::serve_connection`, the very function the listener calls: hyper's
//! HTTP/1 (and HTTP/2 with prior knowledge, when the bytes start with its preface) with the
//! listener's limits, then the dispatch to the admin API (refused: disabled, and the peer
//! is not loopback), the console, and the identity platform's routes, token endpoint
//! included. No socket and no TLS: an in-memory duplex stream.
//!
//! The first byte says how the rest is written: in one piece, or in pieces of 1 to 64
//! bytes with the server given its turn in between (a request head arriving in parts is
//! where HTTP parsers go wrong). Then the client half-closes and reads all.
//!
//! The oracle: no panic; the connection ends within 10 s of the client's end of input (a
//! server waiting on a client that has said all it will is a hang); an HTTP/1 answer is a
//! sequence of well-formed status lines `HTTP/1.1 ddd` and never a 5xx (nothing a client
//! sends is the server's fault; only a scripted fault may answer 5xx, and none is armed).

use mock_server::admin::{Admin, AdminAccess};
use mock_server::https::{serve_connection, HttpConfig, Routes};
use mock_server::identity::store::DelegatedState;
use mock_server::identity::{IdentityConfig, IdentityState};
use mock_server::state::Core;
use mock_server::Clock;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// The HTTP/2 client preface: input starting with it is HTTP/2, whose answer is frames.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How long the connection may stay open after the client's last byte and half-close.
const END_WITHIN: Duration = Duration::from_secs(10);

struct World {
    runtime: tokio::runtime::Runtime,
    core: Arc<Core>,
    config: HttpConfig,
    /// Kept so the connection's shutdown signal never fires (a dropped sender would).
    shutdown: (watch::Sender<bool>, watch::Receiver<bool>),
}

static WORLD: OnceLock<World> = OnceLock::new();

fn world() -> &'static World {
    WORLD.get_or_init(|| {
        let directory = mock_server::directory::fixture::demo_tenant().expect("demo tenant");
        let core = Arc::new(Core::new(directory, Clock::system()).expect("core"));
        // The smallest head limit hyper accepts (8 KiB), instead of the listener's 64 KiB,
        // so that inputs of a fuzzer's usual length reach the limit.
        let config = HttpConfig {
            max_header_bytes: 8192,
            ..HttpConfig::default()
        };
        World {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime"),
            core,
            config,
            shutdown: watch::channel(false),
        }
    })
}

/// A documentation address (RFC 5737): not loopback, so the admin API and the test
/// controls refuse it, as they refuse any remote client.
fn peer() -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 7], 50000))
}

/// One run: any bytes as a client's whole side of a connection.
pub fn run(data: &[u8]) {
    let w = world();
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    w.core.journal.clear();
    // Per run: fresh delegated state (device codes, refresh tokens, lockouts), so one input
    // cannot change what the next sees through it, and memory stays flat.
    let identity = Arc::new(IdentityState {
        core: w.core.clone(),
        config: IdentityConfig::default(),
        https_url: "https://login.microsoftonline.com".into(),
        authorities: vec!["login.microsoftonline.com".into(), "127.0.0.1:443".into()],
        delegated: DelegatedState::default(),
    });
    let routes = Arc::new(Routes {
        admin: Admin::new(w.core.clone(), identity.clone()),
        identity,
        access: AdminAccess {
            enabled: false,
            token: None,
        },
    });
    let piece = if mode & 0x80 == 0 {
        input.len().max(1)
    } else {
        usize::from(mode & 0x3f) + 1
    };
    let input = input.to_vec();
    let out = w.runtime.block_on(async move {
        let (client, server) = tokio::io::duplex(16 * 1024);
        let config = w.config.clone();
        let shutdown = w.shutdown.1.clone();
        let conn = tokio::spawn(async move { serve_connection(server, routes, &config, peer(), shutdown).await });
        let (mut rd, mut wr) = tokio::io::split(client);
        // Read concurrently: a server blocked writing an answer nobody reads would stop
        // reading too, and the writer below would wait for ever.
        let reader = tokio::spawn(async move {
            let mut out = Vec::new();
            let _ = rd.read_to_end(&mut out).await;
            out
        });
        for chunk in input.chunks(piece) {
            if wr.write_all(chunk).await.is_err() {
                break; // the server closed; the rest is not heard
            }
            if piece < input.len() {
                tokio::task::yield_now().await;
            }
        }
        let _ = wr.shutdown().await;
        let ended = tokio::time::timeout(END_WITHIN, conn).await;
        assert!(
            ended.is_ok(),
            "the connection is still open 10 s after the client's end of input"
        );
        // The server's half is dropped with its task, so the reader sees the end.
        drop(wr);
        reader.await.unwrap_or_default()
    });
    if !data[1..].starts_with(H2_PREFACE) {
        check_http1(&out);
    }
}

/// Every status line in an HTTP/1 answer is well-formed and not a 5xx.
fn check_http1(out: &[u8]) {
    let mut rest = out;
    while !rest.is_empty() {
        assert!(
            rest.starts_with(b"HTTP/1.1 ") || rest.starts_with(b"HTTP/1.0 "),
            "answer does not start with a status line: {:?}",
            String::from_utf8_lossy(&rest[..rest.len().min(200)])
        );
        let status = rest.get(9..12).unwrap_or_default();
        assert!(
            status.len() == 3 && status.iter().all(u8::is_ascii_digit),
            "status is not three digits"
        );
        assert!(
            status[0] != b'5',
            "a client's bytes got a 5xx: {}",
            String::from_utf8_lossy(status)
        );
        // Skip this response: its head, then its body (Content-Length or chunked).
        let Some(head_end) = rest.windows(4).position(|w| w == b"\r\n\r\n") else {
            panic!("response head without its blank line");
        };
        let head = String::from_utf8_lossy(&rest[..head_end]).to_ascii_lowercase();
        rest = &rest[head_end + 4..];
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok());
        if let Some(n) = length {
            rest = rest.get(n..).unwrap_or_default();
        } else if head
            .lines()
            .any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked"))
        {
            rest = skip_chunked(rest);
        } else {
            // No length: the body runs to the close (or there is none, as for a 204).
            break;
        }
    }
}

/// The bytes after a chunked body (to the end when it is cut short).
fn skip_chunked(mut rest: &[u8]) -> &[u8] {
    loop {
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            return &[];
        };
        let size = std::str::from_utf8(&rest[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok());
        let Some(size) = size else { return &[] };
        rest = &rest[eol + 2..];
        if size == 0 {
            // No trailers from this server: the last chunk is followed by the blank line.
            return rest.get(2..).unwrap_or_default();
        }
        rest = rest.get(size + 2..).unwrap_or_default();
    }
}
