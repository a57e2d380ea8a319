//! The POP3 session: an authenticated (or not, by the first byte) sans-I/O session on the
//! demo mailbox fed any bytes cut into lines at CRLF exactly as the connection cuts them
//! (over-long lines go to `too_long`). Never panics, and answers every line with `+` or
//! `-` until it closes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mock_server::pop3::session::Action;
use mock_server::MockServer;
use std::sync::OnceLock;

struct World {
    _rt: tokio::runtime::Runtime,
    server: MockServer,
    blob: Vec<u8>,
}

static WORLD: OnceLock<World> = OnceLock::new();

fn world() -> &'static World {
    WORLD.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let (server, token) = rt.block_on(async {
            let server = MockServer::start().await;
            let ca = reqwest::Certificate::from_pem(server.ca_pem().as_bytes()).expect("ca");
            let http = reqwest::Client::builder()
                .tls_certs_only([ca])
                .no_proxy()
                .build()
                .expect("http");
            let r: serde_json::Value = http
                .post(server.token_endpoint("contoso.com"))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", "00000000-0000-4000-8000-00000000a001"),
                    ("client_secret", "poller-secret-value"),
                    ("scope", "https://outlook.office365.com/.default"),
                ])
                .send()
                .await
                .expect("token")
                .json()
                .await
                .expect("json");
            (server, r["access_token"].as_str().expect("access_token").to_string())
        });
        let blob = mock_server::sasl::xoauth2::encode("test.user@contoso.com", &token).into_bytes();
        World { _rt: rt, server, blob }
    })
}

fuzz_target!(|data: &[u8]| {
    let w = world();
    let Some((&mode, mut input)) = data.split_first() else { return };
    let mut s = w.server.pop3_session(mode & 1 == 1);
    if mode & 2 == 2 {
        s.line(b"AUTH XOAUTH2");
        s.line(&w.blob);
    }
    while let Some(end) = input.windows(2).position(|p| p == b"\r\n") {
        let line = &input[..end];
        input = &input[end + 2..];
        let reply = if line.len() > s.line_limit() { s.too_long(line) } else { s.line(line) };
        if reply.action == Action::Close && reply.out.is_empty() {
            break;
        }
        assert!(matches!(reply.out.first(), Some(b'+') | Some(b'-')), "unanswered line");
        if reply.action == Action::Close {
            break;
        }
    }
});
