//! The web console (`/_mock/console/`) over real HTTPS: its pages, its live journal
//! (server-sent events), its forms running the admin verbs, and its gate.

use e2e_tests::imap::{app_token, xoauth2, Imap};
use e2e_tests::*;
use mock_server::MockServer;

const TEST_USER: &str = "test.user@contoso.com";

fn sp(nn: u32) -> String {
    format!("00000000-0000-4000-8000-00000000c{nn:03}")
}

/// A client that shows redirects instead of following them.
fn browser(server: &MockServer) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(server.ca_pem().as_bytes()).expect("CA PEM");
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn console(server: &MockServer, path: &str) -> String {
    format!("{}/_mock/console/{path}", server.https_url())
}

async fn text(c: &reqwest::Client, url: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let r = c.get(url).send().await.expect("GET");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.expect("body"))
}

async fn imap_auth(server: &MockServer, nn: u32, secret: &str) -> (String, String) {
    let token = app_token(server, nn, secret, EXO_SCOPE).await;
    let (mut imap, _) = Imap::tls(server).await;
    let auth = imap
        .cmd("A1", &format!("AUTHENTICATE XOAUTH2 {}", xoauth2(TEST_USER, &token)))
        .await
        .concat();
    if !auth.starts_with("A1 OK") {
        return (auth, String::new());
    }
    let select = imap.cmd("A2", "SELECT INBOX").await;
    (auth, select.last().cloned().unwrap_or_default())
}

#[tokio::test]
async fn the_tenant_page_shows_the_wrong_object_id_beside_the_right_one() {
    let server = MockServer::start().await;
    let (status, headers, html) = text(&browser(&server), &console(&server, "tenant")).await;
    assert_eq!(status, 200);
    assert!(headers[reqwest::header::CONTENT_TYPE]
        .to_str()
        .unwrap_or("")
        .starts_with("text/html"));
    assert!(headers.contains_key(reqwest::header::CONTENT_SECURITY_POLICY));
    // App 02 is registered with its app registration's object id …b002; the page says so
    // and offers New-ServicePrincipal with the enterprise application's …c002.
    let card = html
        .split(r#"id="app-00000000-0000-4000-8000-00000000a002""#)
        .nth(1)
        .expect("app 02");
    let card = card.split("</article>").next().unwrap_or("");
    assert!(card.contains("the app registration's object id: wrong"), "{card}");
    assert!(
        card.contains(&format!("New-ServicePrincipal -AppId {} -ObjectId {}", app(2), sp(2))),
        "{card}"
    );
    assert!(html.contains("Remove-MailboxPermission -Identity test.user@contoso.com"));
}

#[tokio::test]
async fn a_refused_imap_authentication_arrives_on_the_event_stream() {
    let server = MockServer::start().await;
    let c = browser(&server);
    let mut events = c
        .get(console(&server, "events?protocol=imap"))
        .send()
        .await
        .expect("events");
    assert_eq!(events.status().as_u16(), 200);
    assert_eq!(
        events.headers()[reqwest::header::CONTENT_TYPE].to_str().unwrap_or(""),
        "text/event-stream"
    );
    let first = events.chunk().await.expect("read").expect("a first chunk");
    assert!(String::from_utf8_lossy(&first).starts_with("retry: "));

    let (auth, _) = imap_auth(&server, 2, "wrong-oid-secret").await;
    assert_eq!(auth, "A1 NO AUTHENTICATE failed.\r\n");
    // The token request is journaled too, but the stream filters on IMAP: the next
    // event is the refusal, with its reason and the fix.
    let mut got = String::new();
    while !got.contains("\n\n") || !got.contains("event: entry") {
        let chunk = events.chunk().await.expect("read").expect("the stream stays open");
        got.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(got.contains("o-refused"), "{got}");
    assert!(!got.contains(">https<"), "filtered to IMAP: {got}");
    assert!(
        got.contains(&format!("New-ServicePrincipal -AppId {} -ObjectId {}", app(2), sp(2))),
        "{got}"
    );
    assert_eq!(got.matches("\ndata: ").count(), 1, "one line of data per event: {got}");
}

#[tokio::test]
async fn a_form_on_the_tenant_page_changes_the_next_imap_outcome() {
    let server = MockServer::start().await;
    assert_eq!(
        imap_auth(&server, 1, "poller-secret-value").await.1,
        "A2 OK [READ-WRITE] SELECT completed.\r\n"
    );
    let c = browser(&server);
    let r = c
        .post(console(&server, "do"))
        .form(&[
            ("verb", "remove-mailbox-permission"),
            ("back", "/_mock/console/tenant"),
            ("identity", TEST_USER),
            ("user", &sp(1)),
            ("access_rights", "FullAccess"),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 303);
    let to = r.headers()[reqwest::header::LOCATION]
        .to_str()
        .unwrap_or("")
        .to_string();
    assert!(to.starts_with("/_mock/console/tenant?flash="), "{to}");
    assert_eq!(
        imap_auth(&server, 1, "poller-secret-value").await.1,
        "A2 BAD User is authenticated but not connected.\r\n"
    );
    // The change is an admin row of the journal page, as the cmdlet.
    let (_, _, html) = text(&c, &console(&server, "?protocol=admin")).await;
    assert!(html.contains("Remove-MailboxPermission"), "{html}");

    // A refused verb comes back as the error line, and changes nothing.
    let r = c
        .post(console(&server, "do"))
        .form(&[
            ("verb", "remove-mailbox-permission"),
            ("identity", "nobody@contoso.com"),
            ("user", "x"),
        ])
        .send()
        .await
        .expect("POST");
    let to = r.headers()[reqwest::header::LOCATION]
        .to_str()
        .unwrap_or("")
        .to_string();
    assert!(to.starts_with("/_mock/console/?error="), "{to}");
}

#[tokio::test]
async fn an_uploaded_message_is_delivered_and_shown() {
    let server = MockServer::start().await;
    let c = browser(&server);
    let eml = "From: <a@fabrikam.com>\r\nSubject: Uploaded <here>\r\n\r\nHello from the console.\r\n";
    let body = format!(
        "--B0UND\r\nContent-Disposition: form-data; name=\"verb\"\r\n\r\ndeliver\r\n\
         --B0UND\r\nContent-Disposition: form-data; name=\"mailbox\"\r\n\r\n{TEST_USER}\r\n\
         --B0UND\r\nContent-Disposition: form-data; name=\"eml_file\"; filename=\"m.eml\"\r\nContent-Type: message/rfc822\r\n\r\n{eml}\r\n--B0UND--\r\n"
    );
    let r = c
        .post(console(&server, "do"))
        .header(reqwest::header::CONTENT_TYPE, "multipart/form-data; boundary=B0UND")
        .body(body)
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 303);
    let to = r.headers()[reqwest::header::LOCATION]
        .to_str()
        .unwrap_or("")
        .to_string();
    assert!(to.contains("flash=deliver"), "{to}");
    let (_, _, html) = text(&c, &console(&server, "mail?mailbox=test.user%40contoso.com&uid=5")).await;
    assert!(
        html.contains("Uploaded &lt;here&gt;"),
        "escaped subject in the list: {html}"
    );
    assert!(html.contains("Hello from the console."), "the text: {html}");
    assert!(!html.contains("<here>"));
}

#[tokio::test]
async fn the_console_keeps_the_admin_api_gate() {
    let server = MockServer::builder().admin_token("t0ken").start().await.expect("start");
    let c = browser(&server);
    let (status, headers, _) = text(&c, &console(&server, "tenant")).await;
    assert_eq!(status, 303);
    assert!(headers[reqwest::header::LOCATION]
        .to_str()
        .unwrap_or("")
        .starts_with("/_mock/console/login?next="));
    let r = c
        .post(console(&server, "login"))
        .form(&[("token", "wrong"), ("next", "/_mock/console/tenant")])
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.headers().get(reqwest::header::SET_COOKIE).is_none());
    let r = c
        .post(console(&server, "login"))
        .form(&[("token", "t0ken"), ("next", "/_mock/console/tenant")])
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 303);
    let cookie = r.headers()[reqwest::header::SET_COOKIE]
        .to_str()
        .unwrap_or("")
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("t0ken"), "the cookie is not the token: {cookie}");
    let pair = cookie.split(';').next().unwrap_or("").to_string();
    let r = c
        .get(console(&server, "tenant"))
        .header(reqwest::header::COOKIE, &pair)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status().as_u16(), 200);
    let r = c
        .get(console(&server, "tenant"))
        .bearer_auth("t0ken")
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status().as_u16(), 200);
    // A form posted from another site's page is refused even with the cookie.
    let r = c
        .post(console(&server, "do"))
        .header(reqwest::header::COOKIE, &pair)
        .header(reqwest::header::ORIGIN, "https://evil.example")
        .form(&[("verb", "clear-journal")])
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 403);

    let off = MockServer::builder().admin_api(false).start().await.expect("start");
    let (status, _, _) = text(&browser(&off), &console(&off, "")).await;
    assert_eq!(status, 404);
}
