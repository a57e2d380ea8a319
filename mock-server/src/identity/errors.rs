//! AADSTS errors in Entra ID's exact shape.
//!
//! Each error carries Microsoft's text (from `shared/reference/identity-platform.md` §2.2)
//! and, for our journal only, the reason in plain words and the fix: what Entra never
//! tells the caller.

use serde::Serialize;
use time::format_description::FormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

/// An error answer of the token endpoint, before the per-request trace fields are added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AadError {
    pub code: u32,
    /// OAuth `error` value.
    pub error: &'static str,
    pub status: u16,
    /// The text after `AADSTSnnnn: `.
    pub message: String,
    pub suberror: Option<&'static str>,
    /// Why, in plain words (journal only; never sent).
    pub reason: String,
    /// What to change (journal only).
    pub fix: Option<String>,
}

/// How `error_description` separates the message from the trace lines. Microsoft's
/// documentation shows `\r\n`; captures from the live service in December 2023 show
/// single spaces. Clients must not depend on either, so both are offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DescriptionLayout {
    #[default]
    Crlf,
    Space,
}

pub const TIMESTAMP_FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z");

/// The JSON body Entra sends.
#[derive(Serialize)]
pub struct ErrorBody<'a> {
    pub error: &'a str,
    pub error_description: String,
    pub error_codes: [u32; 1],
    pub timestamp: String,
    pub trace_id: &'a str,
    pub correlation_id: &'a str,
    pub error_uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suberror: Option<&'a str>,
}

impl AadError {
    fn new(code: u32, error: &'static str, status: u16, message: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            code,
            error,
            status,
            message: message.into(),
            suberror: None,
            reason: reason.into(),
            fix: None,
        }
    }

    pub fn with_fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    pub fn body<'a>(
        &'a self,
        trace_id: &'a str,
        correlation_id: &'a str,
        now: OffsetDateTime,
        layout: DescriptionLayout,
    ) -> ErrorBody<'a> {
        let timestamp = now.format(TIMESTAMP_FORMAT).unwrap_or_default();
        let sep = match layout {
            DescriptionLayout::Crlf => "\r\n",
            DescriptionLayout::Space => " ",
        };
        ErrorBody {
            error: self.error,
            error_description: format!(
                "AADSTS{}: {}{sep}Trace ID: {trace_id}{sep}Correlation ID: {correlation_id}{sep}Timestamp: {timestamp}",
                self.code, self.message
            ),
            error_codes: [self.code],
            timestamp,
            trace_id,
            correlation_id,
            error_uri: format!("https://login.microsoftonline.com/error?code={}", self.code),
            suberror: self.suberror,
        }
    }

    // ---- the catalogue ----

    pub fn missing_parameter(name: &str) -> Self {
        Self::new(
            900144,
            "invalid_request",
            400,
            format!("The request body must contain the following parameter: '{name}'."),
            format!("the form has no '{name}' field"),
        )
    }

    pub fn unsupported_grant(grant: &str) -> Self {
        Self::new(
            70003,
            "unsupported_grant_type",
            400,
            format!("The access grant '{grant}' is not supported."),
            format!("grant_type={grant:?} is not one this endpoint supports"),
        )
        .with_fix("use grant_type=client_credentials for an app (daemon) token")
    }

    pub fn tenant_not_found(tenant: &str) -> Self {
        Self::new(
            90002,
            "invalid_request",
            400,
            format!("Tenant '{tenant}' not found. This may happen if there are no active subscriptions for the tenant. Check to make sure you have the correct tenant ID. Check with your subscription administrator."),
            format!("no tenant of the directory has the id or domain {tenant:?}"),
        )
        .with_fix("use the tenant id (GUID) or a verified domain of the tenant in the authority URL")
    }

    /// Discovery of an unknown tenant: same AADSTS code, `error` `invalid_tenant`.
    pub fn discovery_tenant_not_found(tenant: &str) -> Self {
        let mut e = Self::tenant_not_found(tenant);
        e.error = "invalid_tenant";
        e
    }

    pub fn invalid_tenant_identifier(tenant: &str) -> Self {
        Self::new(
            900023,
            "invalid_request",
            400,
            format!("Specified tenant identifier '{tenant}' is neither a valid DNS name, nor a valid external domain."),
            format!("{tenant:?} is neither a GUID nor a domain name"),
        )
        .with_fix("put the tenant id (GUID) or a domain such as contoso.onmicrosoft.com in the authority URL")
    }

    pub fn grant_needs_tenant(code: u32, segment: &str, grant: &str) -> Self {
        Self::new(
            code,
            "invalid_request",
            400,
            "The grant type is not supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.",
            format!("grant_type={grant} needs a concrete tenant, the request used /{segment}"),
        )
        .with_fix("use the tenant-specific authority https://…/{tenant id}")
    }

    pub fn app_not_found(app_id: &str, tenant_label: &str, reason: String) -> Self {
        Self::new(
            700016,
            "unauthorized_client",
            400,
            format!("Application with identifier '{app_id}' was not found in the directory '{tenant_label}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."),
            reason,
        )
        .with_fix("check the client id and that the authority names the tenant where the app is registered")
    }

    pub fn invalid_secret(app_id: &str, reason: String, fix: &str) -> Self {
        Self::new(
            7000215,
            "invalid_client",
            401,
            format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{app_id}'."),
            reason,
        )
        .with_fix(fix)
    }

    pub fn expired_secret(app_id: &str, reason: String) -> Self {
        Self::new(
            7000222,
            "invalid_client",
            401,
            format!("The provided client secret keys for app '{app_id}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds."),
            reason,
        )
        .with_fix("create a new client secret under Certificates & secrets and use its value")
    }

    pub fn no_credential(grant: &str) -> Self {
        Self::new(
            7000216,
            "invalid_client",
            401,
            format!("'client_assertion', 'client_secret' or 'request' is required for the '{grant}' grant type."),
            "a confidential-client grant came without client_secret, Basic authentication or client_assertion",
        )
        .with_fix("send client_secret (the secret value) or a certificate client_assertion")
    }

    pub fn no_credential_for_confidential() -> Self {
        Self::new(
            7000218,
            "invalid_client",
            401,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            "the app is a confidential client but the request carried no credential",
        )
        .with_fix("send the app's credential, or enable 'Allow public client flows' for the app")
    }

    pub fn public_client_with_credential() -> Self {
        Self::new(
            700025,
            "invalid_client",
            401,
            "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
            "the app is a public client (no credentials) but the request carried one",
        )
    }

    pub fn scope_needs_default(scope: &str) -> Self {
        Self::new(
            1002012,
            "invalid_scope",
            400,
            format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."),
            format!("client credentials carry only application permissions, so the scope must be '<resource>/.default'; got {scope:?}"),
        )
        .with_fix("use scope=https://outlook.office365.com/.default")
    }

    pub fn invalid_scope(scope: &str, reason: String) -> Self {
        Self::new(
            70011,
            "invalid_scope",
            400,
            format!("The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."),
            reason,
        )
        .with_fix("ask for one resource: scope=https://outlook.office365.com/.default")
    }

    pub fn resource_not_found(resource: &str, tenant_name: &str) -> Self {
        Self::new(
            500011,
            "invalid_resource",
            400,
            format!("The resource principal named {resource} was not found in the tenant named {tenant_name}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."),
            format!("{resource:?} is not a resource this directory knows (Exchange Online, Microsoft Graph)"),
        )
        .with_fix("for IMAP/POP/SMTP use https://outlook.office365.com/.default")
    }

    pub fn get_on_post_endpoint(method: &str) -> Self {
        Self::new(
            900561,
            "invalid_request",
            400,
            format!("The endpoint only accepts POST, OPTIONS requests. Received a {method} request."),
            format!("the token endpoint was called with {method}"),
        )
    }

    // ---- client assertion (certificate credential) ----

    pub fn malformed_assertion(reason: impl Into<String>) -> Self {
        Self::new(
            50027,
            "invalid_request",
            400,
            "JWT token is invalid or malformed.",
            reason,
        )
        .with_fix("send a compact JWS (header.payload.signature, base64url) as client_assertion")
    }

    pub fn unsupported_assertion_alg(alg: &str) -> Self {
        Self::new(
            5002738,
            "invalid_client",
            401,
            format!("Invalid JWT token. '{alg}' is not a supported signature algorithm. Supported signing algorithms are: 'RS256,RS384,RS512'"),
            format!("the assertion is signed with {alg:?}; the identity platform takes RSA (RS256/384/512, PS256/384/512)"),
        )
        .with_fix("sign the client assertion with RS256 or PS256 and the certificate's private key")
    }

    pub fn assertion_without_key_id() -> Self {
        Self::new(
            5002723,
            "invalid_client",
            401,
            "Invalid JWT token. No certificate SHA-1 thumbprint, certificate SHA-256 thumbprint, nor keyId specified in token header.",
            "the assertion header has none of x5t, x5t#S256 or kid",
        )
        .with_fix("put the certificate thumbprint in the header as x5t#S256 (or x5t)")
    }

    pub fn assertion_missing_field(field: &str) -> Self {
        Self::new(
            90014,
            "invalid_request",
            400,
            format!("The required field '{field}' is missing from the credential. Ensure that you have all the necessary parameters for the login request."),
            format!("the client assertion has no '{field}' claim"),
        )
    }

    pub fn assertion_app_mismatch(reason: String) -> Self {
        Self::new(
            700021,
            "invalid_client",
            401,
            "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .",
            reason,
        )
        .with_fix("set iss and sub of the assertion to the client id")
    }

    pub fn assertion_subject_mismatch(sub: &str, iss: &str) -> Self {
        Self::new(
            50048,
            "invalid_client",
            401,
            "Subject mismatches Issuer claim in the client assertion.",
            format!("assertion sub {sub:?} differs from iss {iss:?}"),
        )
        .with_fix("set both iss and sub to the client id")
    }

    pub fn assertion_audience(aud: &str) -> Self {
        Self::new(
            700023,
            "invalid_client",
            401,
            "Client assertion audience claim does not match Realm issuer.",
            format!("assertion aud {aud:?} is not this tenant's token endpoint"),
        )
        .with_fix("set aud to https://login.microsoftonline.com/{tenant id}/oauth2/v2.0/token (the tenant-specific token endpoint)")
    }

    pub fn assertion_key(
        reason_text: &str,
        thumbprint: &str,
        app_id: &str,
        found: Option<String>,
        why: String,
    ) -> Self {
        let tail = match found {
            Some(found) => found,
            None => format!("Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{app_id}'. Review the documentation at https://docs.microsoft.com/en-us/graph/api/application-get?view=graph-rest-1.0&tabs=http to learn how to retrieve the list of configured keys."),
        };
        Self::new(
            700027,
            "invalid_client",
            401,
            format!("Client assertion contains an invalid signature. [Reason - {reason_text}, Thumbprint of key used by client: '{thumbprint}', {tail}]"),
            why,
        )
    }

    pub fn assertion_time(current: &str, from: &str, until: &str, why: String) -> Self {
        Self::new(
            700024,
            "invalid_client",
            401,
            format!("Client assertion is not within its valid time range. Current time: {current}, assertion valid from {from}, expiry time of assertion {until}. Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials ."),
            why,
        )
        .with_fix("create a fresh assertion for each request and check the client machine's clock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn description_has_microsofts_layout() {
        let e = AadError::invalid_scope("x", "r".into());
        let b = e.body(
            "t-1",
            "c-1",
            datetime!(2016-01-09 02:02:12 UTC),
            DescriptionLayout::Crlf,
        );
        assert_eq!(
            b.error_description,
            "AADSTS70011: The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope x is not valid.\r\nTrace ID: t-1\r\nCorrelation ID: c-1\r\nTimestamp: 2016-01-09 02:02:12Z"
        );
        assert_eq!(b.timestamp, "2016-01-09 02:02:12Z");
        assert_eq!(b.error_uri, "https://login.microsoftonline.com/error?code=70011");
        let s = e.body("t", "c", datetime!(2016-01-09 02:02:12 UTC), DescriptionLayout::Space);
        assert!(s
            .error_description
            .contains("valid. Trace ID: t Correlation ID: c Timestamp: "));
    }
}
