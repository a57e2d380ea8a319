//! The embedded demo tenant's ids, secrets and users, as constants.
//!
//! The values are those of `fixtures/demo-tenant.json` (the file the binary embeds); the
//! tests in this module read that file back, so a change to one without the other fails
//! `cargo test`. Tests, examples and the load tool name apps by these constants instead
//! of copying GUIDs: `demo::POLLER.client_id` rather than `"…a001"`.
//!
//! Each app reproduces exactly one administrator's mistake; see `docs/identity.md` for
//! what a client sees with each.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

/// Contoso, the tenant with every app and mailbox.
pub const CONTOSO: &str = "c0ffee00-1111-4222-8333-444455556666";
/// Contoso's initial domain; `contoso.com` is its alias.
pub const CONTOSO_DOMAIN: &str = "contoso.onmicrosoft.com";
/// Contoso's custom domain (the one mailboxes use).
pub const CONTOSO_ALIAS: &str = "contoso.com";
/// Fabrikam, a second tenant: Contoso's apps are unknown there (AADSTS700016).
pub const FABRIKAM: &str = "fab00000-1111-4222-8333-444455556666";
pub const FABRIKAM_DOMAIN: &str = "fabrikam.onmicrosoft.com";

/// The Exchange Online resource, as an app asks for it with client credentials.
pub const EXO_SCOPE: &str = "https://outlook.office365.com/.default";
/// The delegated IMAP scope (password, device code, authorization code grants).
pub const IMAP_DELEGATED_SCOPE: &str = "https://outlook.office.com/IMAP.AccessAsUser.All";

/// The user every app reads: four INBOX messages.
pub const TEST_USER: &str = "test.user@contoso.com";
/// Object id of [`TEST_USER`].
pub const TEST_USER_OID: &str = "00000000-0000-4000-8000-00000000e001";
/// A shared mailbox (cannot sign in): two INBOX messages, FullAccess for app 01 and
/// [`TEST_USER`].
pub const SHARED_INBOX: &str = "shared.inbox@contoso.com";
/// A user whose mailbox has IMAP and POP turned off (`Set-CASMailbox -ImapEnabled $false`).
pub const IMAP_DISABLED: &str = "imap.disabled@contoso.com";
/// Password of [`TEST_USER`] and [`IMAP_DISABLED`] (password grant only).
pub const PASSWORD: &str = "Passw0rd!";

/// The subjects of [`TEST_USER`]'s INBOX, oldest first.
pub const TEST_USER_SUBJECTS: [&str; 4] = ["Test Mail", "Test 2 Process", "How are you?", "My Mail"];

/// One app registration of the demo tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct App {
    /// Its number in the spec's table (`01`…`08`); 0 for Fabrikam's app.
    pub nn: u32,
    pub display_name: &'static str,
    /// The tenant it is registered in (an id).
    pub tenant: &'static str,
    /// Application (client) id: `…a0NN`.
    pub client_id: &'static str,
    /// Application object id (App registrations page): `…b0NN`.
    pub object_id: &'static str,
    /// Enterprise application (service principal) object id: `…c0NN`, the one Exchange wants.
    pub service_principal_id: &'static str,
    /// Secret value; `None` for the public client.
    pub secret: Option<&'static str>,
    /// Secret id (`…d0NN`): sending it instead of the value gives AADSTS7000215.
    pub secret_id: Option<&'static str>,
}

/// `00000000-0000-4000-8000-00000000XXXX` for the pattern's four last digits.
macro_rules! id {
    ($tail:expr) => {
        concat!("00000000-0000-4000-8000-0000000", $tail)
    };
}

/// Contoso app `nn` with a secret, following the spec's id pattern.
macro_rules! contoso_app {
    ($nn:literal, $name:literal, $secret:literal) => {
        App {
            nn: $nn,
            display_name: $name,
            tenant: CONTOSO,
            client_id: id!(concat!("0a00", $nn)),
            object_id: id!(concat!("0b00", $nn)),
            service_principal_id: id!(concat!("0c00", $nn)),
            secret: Some($secret),
            secret_id: Some(id!(concat!("0d00", $nn))),
        }
    };
}

/// 01: everything set up right; reads [`TEST_USER`] and [`SHARED_INBOX`].
pub const POLLER: App = contoso_app!(1, "Mail Poller", "poller-secret-value");
/// 02: service principal registered with the *application* object id (`…b002`).
pub const WRONG_OBJECT_ID: App = contoso_app!(2, "Wrong Object Id", "wrong-oid-secret");
/// 03: no `New-ServicePrincipal` at all.
pub const NOT_REGISTERED: App = contoso_app!(3, "Not Registered", "not-registered-secret");
/// 04: registered, but no `Add-MailboxPermission`.
pub const NO_MAILBOX_PERMISSION: App = contoso_app!(4, "No Mailbox Permission", "no-permission-secret");
/// 05: only the delegated IMAP permission; app tokens carry no `roles`.
pub const DELEGATED_ONLY: App = contoso_app!(5, "Delegated Only", "delegated-only-secret");
/// 06: `IMAP.AccessAsApp` added, admin consent not granted.
pub const NO_ADMIN_CONSENT: App = contoso_app!(6, "No Admin Consent", "no-consent-secret");
/// 07: its only secret expired on 2024-01-31 (AADSTS7000222).
pub const EXPIRED_SECRET: App = contoso_app!(7, "Expired Secret", "expired-secret");
/// 08: a public client for the delegated grants; no secret.
pub const DESKTOP: App = App {
    secret: None,
    secret_id: None,
    ..contoso_app!(8, "Desktop Mail Client", "")
};
/// Fabrikam's working app: a token from it is another tenant's token for Contoso mailboxes.
pub const FABRIKAM_POLLER: App = App {
    nn: 0,
    display_name: "Fabrikam Mail Poller",
    tenant: FABRIKAM,
    client_id: id!("fa001"),
    object_id: id!("fb001"),
    service_principal_id: id!("fc001"),
    secret: Some("fabrikam-poller-secret"),
    secret_id: Some(id!("fd001")),
};

/// Every app of the demo tenant, Contoso's 01…08 then Fabrikam's.
pub const APPS: [App; 9] = [
    POLLER,
    WRONG_OBJECT_ID,
    NOT_REGISTERED,
    NO_MAILBOX_PERMISSION,
    DELEGATED_ONLY,
    NO_ADMIN_CONSENT,
    EXPIRED_SECRET,
    DESKTOP,
    FABRIKAM_POLLER,
];

/// Contoso app `nn` (1…8), as the spec numbers them.
pub fn app(nn: u32) -> Option<App> {
    APPS.iter().copied().find(|a| a.nn == nn)
}

/// A client-credentials token for `app` and the Exchange resource, asked of the server at
/// `https_addr` over HTTPS as a client would (see [`crate::MockServer::app_token`] for why a
/// request rather than minting in-process). `Err` carries the server's answer.
pub(crate) async fn request_app_token(https_addr: SocketAddr, ca_pem: &str, app: App) -> Result<String, AppTokenError> {
    let secret = app.secret.ok_or(AppTokenError::PublicClient(app.display_name))?;
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", app.client_id)
        .append_pair("client_secret", secret)
        .append_pair("scope", EXO_SCOPE)
        .finish();
    let request = http::Request::post(format!("/{}/oauth2/v2.0/token", app.tenant))
        .header(http::header::HOST, https_addr.to_string())
        .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .map_err(|e| AppTokenError::Transport(format!("token request: {e}")))?;
    // One bounded wait for the whole exchange: a test must not hang on a stuck server.
    let (status, body) = tokio::time::timeout(TOKEN_REQUEST_TIMEOUT, send(https_addr, ca_pem, request))
        .await
        .map_err(|_| AppTokenError::Transport(format!("no token from {https_addr} within {TOKEN_REQUEST_TIMEOUT:?}")))?
        .map_err(AppTokenError::Transport)?;
    let json: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        AppTokenError::Refused(format!(
            "HTTP {status}, not JSON ({e}): {}",
            String::from_utf8_lossy(&body)
        ))
    })?;
    match json["access_token"].as_str() {
        Some(token) => Ok(token.to_string()),
        None => Err(AppTokenError::Refused(format!("HTTP {status}: {json}"))),
    }
}

/// An app's Exchange Online token issued straight from a [`crate::state::Core`] (no server,
/// no HTTP) at the core's clock: what `/{tenant}/oauth2/v2.0/token` answers to the app's
/// client-credentials request. For sans-I/O sessions built from a `Core` (the fuzz targets'
/// worlds, session tests); a test with a running server asks it over HTTPS instead
/// ([`crate::MockServer::app_token`]). `Err` carries Entra's error text.
pub fn issue_app_token(core: &crate::state::Core, app: App) -> Result<String, AppTokenError> {
    use crate::identity::{issue, EndpointVersion, IdentityConfig, TokenRequest};
    let secret = app.secret.ok_or(AppTokenError::PublicClient(app.display_name))?;
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", app.client_id)
        .append_pair("client_secret", secret)
        .append_pair("scope", EXO_SCOPE)
        .finish();
    issue::issue(
        &core.directory(),
        &core.authority(),
        EndpointVersion::V2,
        app.tenant,
        &TokenRequest::parse(form.as_bytes(), None),
        core.clock.now(),
        &IdentityConfig::default(),
    )
    .map(|issued| issued.access_token)
    .map_err(|e| {
        AppTokenError::Refused(format!(
            "HTTP {} {}: AADSTS{}: {}",
            e.status, e.error, e.code, e.message
        ))
    })
}

/// The demo tenant's [`crate::state::Core`] and the XOAUTH2 string (base64) with which the
/// Mail Poller's token opens `user`'s mailbox: where the sans-I/O fuzz worlds and session
/// tests start. `frozen` stops the core's clock, so that the token never expires however
/// long a fuzz run lasts.
pub fn poller_login(
    user: &str,
    frozen: bool,
) -> Result<(Arc<crate::state::Core>, String), Box<dyn std::error::Error + Send + Sync>> {
    let directory = crate::directory::fixture::demo_tenant()?;
    let core = Arc::new(crate::state::Core::new(directory, crate::Clock::system())?);
    if frozen {
        core.clock.freeze();
    }
    let token = issue_app_token(&core, POLLER)?;
    Ok((core, crate::sasl::xoauth2::encode(user, &token)))
}

/// Why [`crate::MockServer::try_app_token`] got no token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppTokenError {
    #[error("{0} is a public client: it has no client-credentials token")]
    PublicClient(&'static str),
    /// TLS, connection, or no answer in time.
    #[error("{0}")]
    Transport(String),
    /// The token endpoint answered without a token (its status and body).
    #[error("{0}")]
    Refused(String),
}

/// How long [`request_app_token`] waits for the whole exchange.
const TOKEN_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One HTTP/1.1 request over TLS trusting only `ca_pem`; the status and body.
async fn send(
    addr: SocketAddr,
    ca_pem: &str,
    request: http::Request<http_body_util::Full<bytes::Bytes>>,
) -> Result<(http::StatusCode, bytes::Bytes), String> {
    use http_body_util::BodyExt;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(cert.map_err(|e| format!("CA PEM: {e}"))?)
            .map_err(|e| format!("CA certificate: {e}"))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake with {addr}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    // The connection task ends when `sender` drops at the end of this function.
    tokio::spawn(conn);
    let response = sender.send_request(request).await.map_err(|e| format!("HTTP: {e}"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("HTTP body: {e}"))?
        .to_bytes();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::fixture::demo_tenant;

    #[test]
    fn issue_app_token_from_a_core_gives_entras_answers() {
        let core = crate::state::Core::new(demo_tenant().expect("demo tenant"), crate::Clock::system()).expect("core");
        let token = issue_app_token(&core, POLLER).expect("app 01 gets a token");
        assert_eq!(token.split('.').count(), 3, "a JWT");
        assert_eq!(
            issue_app_token(&core, DESKTOP),
            Err(AppTokenError::PublicClient(DESKTOP.display_name))
        );
        let refused = issue_app_token(&core, EXPIRED_SECRET).expect_err("app 07's secret expired");
        assert!(refused.to_string().contains("AADSTS7000222"), "{refused}");
    }

    #[test]
    fn constants_match_the_embedded_fixture() {
        let d = demo_tenant().expect("demo tenant");
        for a in APPS {
            let tenant = d.tenant(a.tenant).expect("tenant");
            let app = tenant
                .application(a.client_id)
                .unwrap_or_else(|| panic!("{} is not in {}", a.client_id, a.tenant));
            assert_eq!(app.display_name, a.display_name);
            assert_eq!(app.object_id, a.object_id);
            assert_eq!(app.service_principal_id, a.service_principal_id);
            let secret = app.secrets.first();
            assert_eq!(secret.map(|s| s.id.as_str()), a.secret_id, "{}", a.display_name);
            assert_eq!(
                secret.map(|s| s.value.expose().as_str()),
                a.secret,
                "{}",
                a.display_name
            );
        }
        let contoso = d.tenant(CONTOSO_ALIAS).expect("alias");
        assert_eq!(contoso.id, CONTOSO);
        assert!(contoso.domains.iter().any(|x| x == CONTOSO_DOMAIN));
        assert_eq!(d.tenant(FABRIKAM_DOMAIN).map(|t| t.id.as_str()), Some(FABRIKAM));
        let user = contoso.user(TEST_USER).expect("test user");
        assert_eq!(user.object_id, TEST_USER_OID);
        assert!(contoso.user(SHARED_INBOX).is_some() && contoso.user(IMAP_DISABLED).is_some());
        assert_eq!(app(1), Some(POLLER));
        assert_eq!(DESKTOP.client_id, "00000000-0000-4000-8000-00000000a008");
    }

    #[tokio::test]
    async fn app_token_comes_from_the_token_endpoint() {
        let server = crate::MockServer::start().await;
        let token = server.app_token(POLLER).await;
        let payload = token.split('.').nth(1).expect("a JWT");
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).expect("base64url"),
        )
        .expect("JSON");
        assert_eq!(claims["appid"], POLLER.client_id);
        assert_eq!(claims["oid"], POLLER.service_principal_id);
        assert_eq!(claims["tid"], CONTOSO);
        // Journaled as any client's request.
        let last = server.token_requests().pop().expect("journaled");
        assert_eq!(last.client_id.as_deref(), Some(POLLER.client_id));
        // Refusals come back as the server's answer.
        let e = server.try_app_token(EXPIRED_SECRET).await.expect_err("expired");
        assert!(e.to_string().contains("AADSTS7000222"), "{e}");
        let e = server.try_app_token(DESKTOP).await.expect_err("public client");
        assert!(e.to_string().contains("public client"), "{e}");
        let fabrikam = server.app_token(FABRIKAM_POLLER).await;
        assert_ne!(fabrikam, token);
    }
}
