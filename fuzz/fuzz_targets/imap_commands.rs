//! The IMAP command path after the codec: an authenticated sans-I/O session on the demo
//! mailbox fed any bytes, cut into messages by imap-codec. Never panics, always answers,
//! and the mailbox keeps its invariants.
#![no_main]
use imap_codec::decode::{CommandDecodeError, Decoder};
use imap_codec::CommandCodec;
use libfuzzer_sys::fuzz_target;
use mock_server::MockServer;
use std::sync::OnceLock;

struct World {
    _rt: tokio::runtime::Runtime,
    server: MockServer,
    auth: Vec<u8>,
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
        let blob = mock_server::sasl::xoauth2::encode("test.user@contoso.com", &token);
        World {
            _rt: rt,
            server,
            auth: format!("A0 AUTHENTICATE XOAUTH2 {blob}\r\n").into_bytes(),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let w = world();
    let mut s = w.server.imap_session(true);
    if let Ok((_, cmd)) = CommandCodec::default().decode(&w.auth) {
        s.command(cmd);
    }
    let mut input = data;
    for _ in 0..64 {
        if input.is_empty() {
            break;
        }
        match CommandCodec::default().decode(input) {
            Ok((rest, cmd)) => {
                let reply = s.command(cmd);
                assert!(!reply.out.is_empty(), "a command got no answer");
                input = rest;
            }
            Err(CommandDecodeError::Incomplete) | Err(CommandDecodeError::LiteralFound { .. }) => break,
            Err(_) => {
                // Skip the bad line, as the connection does, and answer it.
                let _ = s.bad_line(None, false, false);
                match input.iter().position(|&b| b == b'\n') {
                    Some(i) => input = &input[i + 1..],
                    None => break,
                }
            }
        }
    }
    let mbx = w.server.store().mailbox("test.user@contoso.com").expect("mailbox");
    for folder in ["INBOX", "Drafts", "Deleted Items"] {
        let snap = mbx.snapshot(folder).expect("folder");
        assert!(snap.entries.windows(2).all(|p| p[0].0 < p[1].0), "UIDs not ascending");
        assert!(
            snap.entries.iter().all(|(u, _)| *u < snap.uid_next),
            "UID at or above UIDNEXT"
        );
    }
});
