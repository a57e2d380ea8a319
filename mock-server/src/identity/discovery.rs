//! OpenID discovery documents, instance discovery and user realm answers.
//!
//! `base` is `https://host:port` as the client reached us, so every URL in a document
//! points back at the address the client used (MSAL keeps the port).

use crate::directory::Tenant;
use serde_json::{json, Value};

/// Hosts of Microsoft's public cloud that instance discovery vouches for.
const MICROSOFT_HOSTS: &[&str] = &[
    "login.microsoftonline.com",
    "login.windows.net",
    "login.microsoft.com",
    "sts.windows.net",
];

/// The region a document names: a tenant's own (the demo tenant is `WW`, as in the
/// reference's tenant capture; another capture's tenant said `NA`), and `null` for the
/// multi-tenant authorities, which have no region: /common and /organizations answer
/// `"tenant_region_scope":null` (panva/wellknown entra-common and entra-organizations,
/// azure-sdk-for-js recordings, v1 /common in the MSIdentityTools tests). /consumers:
/// no capture, `null` by analogy (UNCONFIRMED).
fn region(tenant: &str) -> Value {
    if crate::directory::is_guid(tenant) {
        Value::from("WW")
    } else {
        Value::Null
    }
}

/// The tenant of personal Microsoft accounts, which /consumers stands for.
pub const CONSUMERS_TENANT_ID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// The tenant an issuer names: the tenant itself; the literal `{tenantid}` placeholder for
/// /common and /organizations (captured); the consumer tenant for /consumers, whose
/// endpoints stay under /consumers (a partial copy of that document in a project's test
/// mocks: issuer `https://login.microsoftonline.com/9188040d-…/v2.0`, endpoints
/// `…/consumers/oauth2/v2.0/…`; the v1 issuer's tenant by analogy, UNCONFIRMED).
fn issuer_tenant(tenant: &str) -> &str {
    if crate::directory::is_guid(tenant) {
        tenant
    } else if tenant.eq_ignore_ascii_case("consumers") {
        CONSUMERS_TENANT_ID
    } else {
        "{tenantid}"
    }
}

/// v2 document. `tenant` is the tenant GUID, or `common`/`organizations`/`consumers`.
///
/// The field order is the captures' (checked by fixtures/recordings/discovery/*-v2.json).
pub fn openid_configuration_v2(base: &str, tenant: &str) -> Value {
    let issuer_tenant = issuer_tenant(tenant);
    json!({
        "token_endpoint": format!("{base}/{tenant}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/{tenant}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("{base}/{issuer_tenant}/v2.0"),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{base}/{tenant}/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": format!("{base}/{tenant}/kerberos"),
        "tenant_region_scope": region(tenant),
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net"
    })
}

/// v1 document (`/{tenant}/.well-known/openid-configuration`), in the order of the v1
/// /common capture (fixtures/recordings/discovery/common-v1.json); a tenant's v1 document
/// has no capture: the same shape under the tenant GUID (UNCONFIRMED).
pub fn openid_configuration_v1(base: &str, tenant: &str) -> Value {
    let issuer_tenant = issuer_tenant(tenant);
    json!({
        "token_endpoint": format!("{base}/{tenant}/oauth2/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/{tenant}/discovery/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
        "scopes_supported": ["openid"],
        "issuer": format!("https://sts.windows.net/{issuer_tenant}/"),
        "microsoft_multi_refresh_token": true,
        "authorization_endpoint": format!("{base}/{tenant}/oauth2/authorize"),
        "device_authorization_endpoint": format!("{base}/{tenant}/oauth2/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{base}/{tenant}/oauth2/logout"),
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "amr", "nonce", "email", "given_name", "family_name", "nickname"],
        "check_session_iframe": format!("{base}/{tenant}/oauth2/checksession"),
        "userinfo_endpoint": format!("{base}/{tenant}/openid/userinfo"),
        "kerberos_endpoint": format!("{base}/{tenant}/kerberos"),
        "tenant_region_scope": region(tenant),
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net"
    })
}

/// The host (and port) of `https://host[:port]/…`, lower case.
fn url_authority(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(rest[..end].to_ascii_lowercase())
}

/// Instance discovery: vouch for ourselves (under any name the client used) and for
/// Microsoft's own hosts, so MSAL libraries that always call it work offline.
/// `None` means "unknown instance" (AADSTS50049).
pub fn instance_discovery(
    base: &str,
    our_authorities: &[String],
    authorization_endpoint: Option<&str>,
) -> Option<Value> {
    let ours_by_base = url_authority(base).unwrap_or_default();
    let Some(endpoint) = authorization_endpoint else {
        // No endpoint named: describe ourselves.
        return Some(instance_document(base, &ours_by_base, "common"));
    };
    let host = url_authority(endpoint)?;
    let tenant = endpoint
        .split_once("://")
        .and_then(|(_, r)| r.split('/').nth(1))
        .filter(|t| !t.is_empty())
        .unwrap_or("common");
    let bare_host = host.split(':').next().unwrap_or_default();
    let ours = our_authorities.iter().any(|a| a.eq_ignore_ascii_case(&host));
    if ours {
        Some(instance_document(&format!("https://{host}"), &host, tenant))
    } else if MICROSOFT_HOSTS.contains(&bare_host) {
        // Asked about Microsoft's own host, answer as Entra does, byte for byte: the
        // `tenant_discovery_endpoint` on the host that was named and Entra's five clouds,
        // without the mock's own entry (fixtures/recordings/discovery/instance-discovery.json).
        // A client whose authority is the mock asks about the mock's host (above).
        Some(instance_document(&format!("https://{host}"), "", tenant))
    } else {
        None
    }
}

/// Entra's metadata, verbatim and in its order (recorded from login.microsoftonline.com on
/// 2021-09-24 in the Azure SDK for JS test recordings, and in MSAL.js's own test data,
/// https://github.com/AzureAD/microsoft-authentication-library-for-js/blob/dev/lib/msal-common/test/test_kit/StringConstants.ts):
/// the public cloud is cached under `login.windows.net`, which MSAL uses as the token
/// cache's `environment`, whichever alias the authority names.
fn entra_metadata() -> Vec<Value> {
    vec![
        json!({"preferred_network": "login.microsoftonline.com", "preferred_cache": "login.windows.net", "aliases": MICROSOFT_HOSTS}),
        json!({"preferred_network": "login.partner.microsoftonline.cn", "preferred_cache": "login.partner.microsoftonline.cn", "aliases": ["login.partner.microsoftonline.cn", "login.chinacloudapi.cn"]}),
        json!({"preferred_network": "login.microsoftonline.de", "preferred_cache": "login.microsoftonline.de", "aliases": ["login.microsoftonline.de"]}),
        json!({"preferred_network": "login.microsoftonline.us", "preferred_cache": "login.microsoftonline.us", "aliases": ["login.microsoftonline.us", "login.usgovcloudapi.net"]}),
        json!({"preferred_network": "login-us.microsoftonline.com", "preferred_cache": "login-us.microsoftonline.com", "aliases": ["login-us.microsoftonline.com"]}),
    ]
}

/// Entra's clouds, then the mock's own `host[:port]` as a cloud of its own: MSAL looks up
/// the entry whose `aliases` hold its authority's host, so a mock authority is accepted
/// and cached under itself (an unconfirmed extension: Entra knows no such host).
fn instance_document(base: &str, our_host: &str, tenant: &str) -> Value {
    let mut metadata = entra_metadata();
    let bare = our_host.split(':').next().unwrap_or_default();
    if !our_host.is_empty() && !MICROSOFT_HOSTS.contains(&bare) {
        metadata.push(json!({
            "preferred_network": our_host,
            "preferred_cache": our_host,
            "aliases": [our_host],
        }));
    }
    json!({
        "tenant_discovery_endpoint": format!("{base}/{tenant}/v2.0/.well-known/openid-configuration"),
        "api-version": "1.1",
        "metadata": metadata,
    })
}

/// `GET /common/userrealm/{upn}`: managed for our domains, unknown otherwise (200 both).
/// The managed answer is the captured one, keys in its order (the AAD CloudAP log in
/// Microsoft's Windows Hello troubleshooting write-up; fixtures/recordings/discovery/
/// userrealm-managed.json); the `Unknown` answer for other domains has no capture
/// (UNCONFIRMED).
pub fn user_realm(upn: &str, tenant: Option<&Tenant>) -> Value {
    match tenant {
        Some(t) => json!({
            "ver": "1.0",
            "account_type": "Managed",
            "domain_name": upn.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_else(|| t.primary_domain().to_string()),
            "cloud_instance_name": "microsoftonline.com",
            "cloud_audience_urn": "urn:federation:MicrosoftOnline",
        }),
        None => json!({
            "ver": "1.0",
            "account_type": "Unknown",
            "cloud_instance_name": "microsoftonline.com",
        }),
    }
}
