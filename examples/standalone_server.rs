//! A standalone server on the embedded demo tenant, on free ports: prints where
//! everything is and the demo app's credentials, then serves until Ctrl-C.
//!
//! `cargo run -p examples --example standalone_server` (add `-- --once` to print and exit).

use mock_server::{demo, MockServer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Port 0 everywhere (the builder's default), so it never collides with anything.
    let server = MockServer::builder().start().await?;
    println!("authority        {}", server.authority(demo::CONTOSO_DOMAIN));
    println!("token endpoint   {}", server.token_endpoint(demo::CONTOSO_DOMAIN));
    println!("IMAP, TLS        {}", server.imaps_addr());
    println!("IMAP, STARTTLS   {}", server.imap_addr());
    println!("CA to trust      {}", server.ca_file().display());
    println!(
        "demo app         client id {}, secret {}",
        demo::POLLER.client_id,
        demo::POLLER.secret.unwrap_or_default()
    );
    println!("mailbox          {}", demo::TEST_USER);
    if std::env::args().any(|a| a == "--once") {
        return Ok(());
    }
    println!("serving; Ctrl-C stops");
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}
