//! Discovery documents, JWKS, instance discovery and user realm over HTTPS.

use e2e_tests::*;
use mock_server::MockServer;

#[tokio::test]
async fn v2_and_v1_documents_point_back_at_us_under_the_tenant_guid() {
    let server = MockServer::start().await;
    let c = client(&server);
    let base = server.https_url();
    for alias in [CONTOSO, "contoso.onmicrosoft.com", "Contoso.COM"] {
        let r = get(&c, &format!("{base}/{alias}/v2.0/.well-known/openid-configuration")).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json["token_endpoint"], format!("{base}/{CONTOSO}/oauth2/v2.0/token"));
        assert_eq!(r.json["issuer"], format!("{base}/{CONTOSO}/v2.0"));
        assert_eq!(r.json["jwks_uri"], format!("{base}/{CONTOSO}/discovery/v2.0/keys"));
        assert_eq!(
            r.json["device_authorization_endpoint"],
            format!("{base}/{CONTOSO}/oauth2/v2.0/devicecode")
        );
        assert_eq!(r.headers["cache-control"], "max-age=86400, private");
    }
    let r = get(&c, &format!("{base}/contoso.com/.well-known/openid-configuration")).await;
    assert_eq!(r.json["issuer"], format!("https://sts.windows.net/{CONTOSO}/"));
    assert_eq!(r.json["token_endpoint"], format!("{base}/{CONTOSO}/oauth2/token"));
    assert_eq!(r.json["microsoft_multi_refresh_token"], true);
    // Path matching is case-insensitive.
    let r = get(&c, &format!("{base}/CONTOSO.COM/V2.0/.WELL-KNOWN/OPENID-CONFIGURATION")).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn common_and_organizations_documents_carry_the_placeholder() {
    let server = MockServer::start().await;
    let c = client(&server);
    let base = server.https_url();
    for t in ["common", "organizations"] {
        let r = get(&c, &format!("{base}/{t}/v2.0/.well-known/openid-configuration")).await;
        assert_eq!(r.json["issuer"], format!("{base}/{{tenantid}}/v2.0"));
        assert_eq!(r.json["token_endpoint"], format!("{base}/{t}/oauth2/v2.0/token"));
        let r = get(&c, &format!("{base}/{t}/.well-known/openid-configuration")).await;
        assert_eq!(r.json["issuer"], "https://sts.windows.net/{tenantid}/");
    }
    // /consumers names the personal-accounts tenant, its endpoints stay under /consumers.
    let r = get(&c, &format!("{base}/consumers/v2.0/.well-known/openid-configuration")).await;
    assert_eq!(
        r.json["issuer"],
        format!("{base}/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0")
    );
    assert_eq!(r.json["token_endpoint"], format!("{base}/consumers/oauth2/v2.0/token"));
    assert_eq!(r.json["tenant_region_scope"], serde_json::Value::Null);
}

#[tokio::test]
async fn unknown_tenant_discovery_is_aadsts90002() {
    let server = MockServer::start().await;
    let c = client(&server);
    let r = get(
        &c,
        &format!(
            "{}/nowhere.example.org/v2.0/.well-known/openid-configuration",
            server.https_url()
        ),
    )
    .await;
    let d = assert_aad_error(&r, 400, "invalid_tenant", 90002);
    assert!(d.contains("Tenant 'nowhere.example.org' not found."), "{d}");
    let r = get(
        &c,
        &format!(
            "{}/bad_tenant!/v2.0/.well-known/openid-configuration",
            server.https_url()
        ),
    )
    .await;
    assert_aad_error(&r, 400, "invalid_request", 900023);
}

#[tokio::test]
async fn jwks_publish_the_signing_key_on_all_three_paths() {
    let server = MockServer::start().await;
    let c = client(&server);
    let base = server.https_url();
    let v2 = get(&c, &format!("{base}/contoso.onmicrosoft.com/discovery/v2.0/keys")).await;
    let k = &v2.json["keys"][0];
    for f in ["kty", "use", "kid", "x5t", "n", "e", "x5c"] {
        assert!(!k[f].is_null(), "{f}");
    }
    assert_eq!(k["kty"], "RSA");
    assert_eq!(k["e"], "AQAB");
    assert_eq!(k["kid"], k["x5t"]);
    assert_eq!(k["issuer"], format!("https://login.microsoftonline.com/{CONTOSO}/v2.0"));
    // x5t is the SHA-1 thumbprint of the x5c certificate.
    let der = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        k["x5c"][0].as_str().expect("x5c"),
    )
    .expect("der");
    assert_eq!(
        k["x5t"],
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, sha1(&der))
    );
    let v1 = get(&c, &format!("{base}/{CONTOSO}/discovery/keys")).await;
    assert_eq!(v1.json["keys"][0]["kid"], k["kid"]);
    assert!(v1.json["keys"][0].get("issuer").is_none());
    let common = get(&c, &format!("{base}/common/discovery/keys")).await;
    assert_eq!(common.json["keys"][0]["kid"], k["kid"]);
}

#[tokio::test]
async fn instance_discovery_vouches_for_us_and_for_microsoft_only() {
    let server = MockServer::start().await;
    let c = client(&server);
    let base = server.https_url();
    let host = base.trim_start_matches("https://");
    let url = format!(
        "{base}/common/discovery/instance?api-version=1.1&authorization_endpoint={base}/{CONTOSO}/oauth2/v2.0/authorize"
    );
    let r = get(&c, &url).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(
        r.json["tenant_discovery_endpoint"],
        format!("{base}/{CONTOSO}/v2.0/.well-known/openid-configuration")
    );
    // Entra's public cloud first, exactly as recorded; the mock's own host as a cloud of its own.
    assert_eq!(
        r.json["metadata"][0],
        serde_json::json!({"preferred_network": "login.microsoftonline.com", "preferred_cache": "login.windows.net",
            "aliases": ["login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"]})
    );
    let metadata = r.json["metadata"].as_array().expect("metadata");
    assert!(
        metadata
            .iter()
            .any(|m| m["aliases"] == serde_json::json!([host]) && m["preferred_cache"] == host),
        "{}",
        r.json
    );
    // MSAL Python's hidden alias lookup names Microsoft's host.
    let r = get(&c, &format!("{base}/common/discovery/instance?api-version=1.1&authorization_endpoint=https://login.microsoftonline.com/common/oauth2/authorize")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["metadata"][0]["preferred_network"], "login.microsoftonline.com");
    assert_eq!(r.json["metadata"][0]["preferred_cache"], "login.windows.net");
    let r = get(&c, &format!("{base}/common/discovery/instance?api-version=1.1&authorization_endpoint=https://evil.example.com/t/oauth2/authorize")).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json["error"], "invalid_instance");
    assert_eq!(r.json["error_codes"], serde_json::json!([50049]));
}

#[tokio::test]
async fn user_realm_is_managed_for_our_domains() {
    let server = MockServer::start().await;
    let c = client(&server);
    let r = get(
        &c,
        &format!(
            "{}/common/userrealm/test.user@contoso.com?api-version=1.0",
            server.https_url()
        ),
    )
    .await;
    assert_eq!(r.json["account_type"], "Managed");
    assert_eq!(r.json["domain_name"], "contoso.com");
    assert_eq!(r.json["cloud_audience_urn"], "urn:federation:MicrosoftOnline");
    let r = get(
        &c,
        &format!("{}/common/UserRealm/someone@example.org", server.https_url()),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["account_type"], "Unknown");
}
