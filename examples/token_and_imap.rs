//! What an app does against Office 365, against the mock on free ports: a
//! client-credentials token over real HTTPS (reqwest), then AUTHENTICATE XOAUTH2, SELECT
//! and FETCH over real TLS IMAP (tokio-rustls), trusting only the mock's CA. Exits
//! non-zero when any step does not answer as Exchange Online would.
//!
//! `cargo run -p examples --example token_and_imap`

use mock_server::{demo, MockServer};
use rustls::pki_types::pem::PemObject;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

type Error = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let server = MockServer::start().await;

    // 1. The token, as any OAuth library asks for it (only the host differs from Microsoft's).
    let http = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(server.ca_pem().as_bytes())?])
        .no_proxy()
        .build()?;
    let reply: serde_json::Value = http
        .post(server.token_endpoint(demo::CONTOSO_DOMAIN))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", demo::POLLER.client_id),
            ("client_secret", demo::POLLER.secret.unwrap_or_default()),
            ("scope", demo::EXO_SCOPE),
        ])
        .send()
        .await?
        .json()
        .await?;
    let token = reply["access_token"].as_str().ok_or(format!("no token: {reply}"))?;
    println!(
        "token: {} characters, expires in {} s",
        token.len(),
        reply["expires_in"]
    );

    // 2. IMAP over implicit TLS, as against outlook.office365.com:993.
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(server.ca_pem().as_bytes()) {
        roots.add(cert?)?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(server.imaps_addr()).await?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect("localhost".try_into()?, tcp)
        .await?;
    let mut imap = BufReader::new(stream);
    print!("S: {}", line(&mut imap).await?);

    let sasl = mock_server::sasl::xoauth2::encode(demo::TEST_USER, token);
    let auth = command(&mut imap, "a1", &format!("AUTHENTICATE XOAUTH2 {sasl}")).await?;
    expect(&auth, "a1 OK AUTHENTICATE completed.")?;
    let select = command(&mut imap, "a2", "SELECT INBOX").await?;
    expect(&select, "* 4 EXISTS")?;
    let fetch = command(&mut imap, "a3", "FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])").await?;
    for subject in demo::TEST_USER_SUBJECTS {
        expect(&fetch, &format!("Subject: {subject}"))?;
    }
    command(&mut imap, "a4", "LOGOUT").await?;
    println!(
        "read the {} messages of {}",
        demo::TEST_USER_SUBJECTS.len(),
        demo::TEST_USER
    );
    Ok(())
}

/// One line, waiting at most 10 s: an example must not hang either.
async fn line<S: tokio::io::AsyncRead + Unpin>(s: &mut BufReader<S>) -> Result<String, Error> {
    let mut l = String::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_line(&mut l)).await??;
    Ok(l)
}

/// Send a tagged command and read up to its tagged answer (literals arrive as lines here,
/// which is enough for the short headers this example fetches).
async fn command<S>(s: &mut BufReader<S>, tag: &str, cmd: &str) -> Result<String, Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    s.get_mut().write_all(format!("{tag} {cmd}\r\n").as_bytes()).await?;
    let mut all = String::new();
    loop {
        let l = line(s).await?;
        if l.is_empty() {
            return Err(format!("connection closed before {tag} was answered").into());
        }
        print!("S: {l}");
        all.push_str(&l);
        if l.starts_with(&format!("{tag} ")) {
            return Ok(all);
        }
    }
}

fn expect(answer: &str, wanted: &str) -> Result<(), Error> {
    if answer.contains(wanted) {
        Ok(())
    } else {
        Err(format!("expected {wanted:?} in:\n{answer}").into())
    }
}
