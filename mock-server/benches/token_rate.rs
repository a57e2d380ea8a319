//! Benchmark: client-credentials tokens per second over HTTPS keep-alive, set beside the
//! machine's RSA-2048 signing rate, and the binary's start-to-ready time.
//!
//! `cargo bench -p mock-server --bench token_rate [-- SECONDS CONCURRENCY]`
//! Prints one JSON report on stdout. Loopback only; stops by itself.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const EXO_SCOPE: &str = "https://outlook.office365.com/.default";

fn openssl_rsa2048_signs_per_second(multi: usize) -> Option<f64> {
    let mut cmd = Command::new("openssl");
    cmd.args(["speed", "-seconds", "3"]);
    if multi > 1 {
        cmd.args(["-multi", &multi.to_string()]);
    }
    let out = cmd.arg("rsa2048").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "rsa 2048 bits 0.000601s 0.000018s   1663.9  55555.6" (sign/s is the 3rd number).
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("rsa 2048 bits") || l.starts_with("rsa2048"))?;
    let nums: Vec<f64> = line
        .split_whitespace()
        .filter_map(|w| w.trim_end_matches('s').parse().ok())
        .collect();
    if line.starts_with("rsa 2048") {
        nums.get(3).copied()
    } else {
        // -multi format: "rsa2048:0.000301:0.000009:3322.0:111111.0"? take sign/s.
        line.split(':').nth(3).and_then(|v| v.parse().ok())
    }
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

fn ca_der(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).expect("CA PEM")
}

/// Read one HTTP/1.1 response; returns its status, or None when the connection ended.
async fn read_response<S: tokio::io::AsyncRead + Unpin>(s: &mut S, buf: &mut Vec<u8>) -> Option<u16> {
    buf.clear();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end]).ok()?;
    let status: u16 = head.get(9..12)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_string())
        })?
        .parse()
        .ok()?;
    while buf.len() < head_end + length {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(status)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let seconds: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(10);
    let concurrency: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(16);

    let startup = start_to_ready_ms(env!("CARGO_BIN_EXE_mock-server"), 15);

    // Server and load share this process's runtime, as they share the machine.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (tokens, errors, elapsed) = rt.block_on(async move {
        let server = mock_server::MockServer::start().await;
        // A lean HTTP/1.1 keep-alive client (like wrk): the request bytes are built
        // once, and a response is read by its Content-Length. What it saves in CPU is
        // left to the server, which shares the machine with it.
        let mut roots = rustls::RootCertStore::empty();
        let ca_der = ca_der(server.ca_pem());
        roots.add(rustls::pki_types::CertificateDer::from(ca_der)).expect("root");
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let body = format!(
            "grant_type=client_credentials&client_id=00000000-0000-4000-8000-00000000a001&client_secret=poller-secret-value&scope={}",
            EXO_SCOPE.replace(':', "%3A").replace('/', "%2F")
        );
        let request: Arc<[u8]> = format!(
            "POST /c0ffee00-1111-4222-8333-444455556666/oauth2/v2.0/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
        .into();
        let addr = server.https_addr();
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let connector = connector.clone();
            let request = request.clone();
            tasks.push(tokio::spawn(async move {
                let (mut ok, mut err) = (0u64, 0u64);
                let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
                tcp.set_nodelay(true).expect("nodelay");
                let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
                let mut tls = connector.connect(name, tcp).await.expect("tls");
                let mut buf = Vec::with_capacity(4096);
                while Instant::now() < deadline {
                    if tls.write_all(&request).await.is_err() {
                        err += 1;
                        break;
                    }
                    match read_response(&mut tls, &mut buf).await {
                        Some(200) => ok += 1,
                        Some(_) => err += 1,
                        None => {
                            err += 1;
                            break;
                        }
                    }
                }
                (ok, err)
            }));
        }
        let (mut ok, mut err) = (0, 0);
        for t in tasks {
            if let Ok((o, e)) = t.await {
                ok += o;
                err += e;
            }
        }
        (ok, err, t0.elapsed())
    });
    let rate = tokens as f64 / elapsed.as_secs_f64();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let single = openssl_rsa2048_signs_per_second(1);
    let multi = openssl_rsa2048_signs_per_second(cores);
    let report = serde_json::json!({
        "benchmark": "client_credentials tokens over HTTPS keep-alive (HTTP/1.1), lean in-process load on the same cores",
        "seconds": elapsed.as_secs_f64(),
        "concurrency": concurrency,
        "tokens": tokens,
        "errors": errors,
        "tokens_per_second": rate,
        "cores": cores,
        "openssl_rsa2048_signs_per_second_1_process": single,
        "openssl_rsa2048_signs_per_second_all_cores": multi,
        "ratio_to_openssl_all_cores": multi.map(|m| rate / m),
        "start_to_ready_ms": {
            "runs": startup.len(),
            "min": startup.first(),
            "median": startup.get(startup.len() / 2),
            "max": startup.last(),
        },
    });
    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
}
