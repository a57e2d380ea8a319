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

/// The JSON body Entra sends, fields in its order (every whole answer in
/// fixtures/recordings/token/ has them so). `suberror` comes last, as in the 2019 answer
/// quoted whole in MicrosoftDocs/azure-docs #39189, which predates `error_uri`; that it
/// also follows `error_uri` is UNCONFIRMED.
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
        .with_fix("use client_credentials (app token), password, authorization_code, refresh_token or urn:ietf:params:oauth:grant-type:device_code")
    }

    /// The wording of the newest capture (discovery, azure-sdk-for-js recording of
    /// 2023-08-03, fixtures/recordings/discovery/tenant-not-found.json); the 2021 captures
    /// said "This may happen if there are no active subscriptions for the tenant. Check to
    /// make sure you have the correct tenant ID. Check with your subscription
    /// administrator." The token endpoint says the same since: a v1 token answer of
    /// 2024-10-21 quoted whole in a troubleshooting document (`invalid_request`,
    /// fixtures/recordings/token/unknown-tenant-v1.json).
    pub fn tenant_not_found(tenant: &str) -> Self {
        Self::new(
            90002,
            "invalid_request",
            400,
            format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."),
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

    /// Instance discovery for a host Entra does not know. Body as MSAL.NET's capture of
    /// 2021-04-14 (TestConstants.DiscoveryFailedResponse): every trace field present.
    pub fn unknown_instance(host: &str) -> Self {
        Self::new(
            50049,
            "invalid_instance",
            400,
            "Unknown or invalid instance.",
            format!("instance discovery was asked about {host:?}, which is neither this server nor a Microsoft host"),
        )
        .with_fix("use this server's own https://host:port as the authority, or turn instance discovery off")
    }

    /// Text as MSAL.NET's live capture of 2023-12-11 (TestConstants.InvalidTenantError900023);
    /// `invalid_request` from a whole answer of 2022-08-17 for the tenant `undefined`
    /// (fixtures/recordings/token/undefined-tenant.json); status 400 UNCONFIRMED.
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

    /// `/consumers` (personal Microsoft accounts) with an app registered for work and
    /// school accounts only. Text from live answers quoted by several projects (the error
    /// reference's template says "Microsoft Entra users only"); `invalid_request` and 400
    /// as for the other "wrong endpoint for this app" errors (UNCONFIRMED).
    pub fn work_accounts_only(app_id: &str, app_name: &str) -> Self {
        Self::new(
            9002332,
            "invalid_request",
            400,
            format!("Application '{app_id}' ({app_name}) is configured for use by Azure Active Directory users only. Please do not use the /consumers endpoint to serve this request."),
            format!("app '{app_name}' signs in work and school accounts only; /consumers is the personal Microsoft account endpoint"),
        )
        .with_fix("use the tenant (e.g. /contoso.onmicrosoft.com/) or /organizations in the authority")
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

    /// Scopes of two resources, not both `.default`. Text as in live answers quoted whole,
    /// the scope parameter echoed with the OpenID scopes (Earlybyte/aad_oauth #328, 2024;
    /// AzureAD/microsoft-authentication-library-for-js #1487, 2020, HTTP 400 from /token;
    /// microsoft/Partner-Center-PowerShell #167, 2019). `error` invalid_scope UNCONFIRMED
    /// (no capture shows the JSON body).
    pub fn multiple_resources(scope: &str, reason: String) -> Self {
        Self::new(
            28000,
            "invalid_scope",
            400,
            format!("Provided value for the input parameter scope is not valid because it contains more than one resource. Scope {scope} is not valid."),
            reason,
        )
        .with_fix("ask for one resource per request, e.g. only https://outlook.office.com/… scopes")
    }

    /// Delegated `.default` scopes of two resources: AADSTS70011 with Entra's "static scope
    /// limit exceeded" suffix, as quoted from a live answer to `<scopes> openid profile
    /// offline_access` (a code comment in an Azure bootstrapper project; also named in
    /// several others). Client credentials get the plain 70011 (captured, see
    /// grant::client_credentials).
    pub fn static_scope_limit(scope: &str, reason: String) -> Self {
        let mut e = Self::invalid_scope(scope, reason);
        e.message.push_str(" static scope limit exceeded.");
        e
    }

    /// Text as MSAL.NET's live capture of 2023-12-08 (TestConstants.InvalidResourceError,
    /// fixtures/recordings/token/resource-not-found.json); `invalid_resource` and 400 as
    /// in a whole answer of 2023 quoted in a Go program's log ("oauth2: cannot fetch token:
    /// 400 Bad Request Response: {"error":"invalid_resource",…}") and Microsoft's Outlook
    /// troubleshooting article.
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

    // ---- delegated sign-in (ROPC, device code, authorization code, refresh) ----

    fn invalid_grant(code: u32, message: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(code, "invalid_grant", 400, message, reason)
    }

    pub fn wrong_password(upn: &str) -> Self {
        Self::invalid_grant(
            50126,
            "Error validating credentials due to invalid username or password.",
            format!("the password sent for {upn} is not the user's password"),
        )
        .with_fix("check the password against the user's password in the fixture")
    }

    /// `{EmailHidden}` is literal: Entra hides the address it was sent.
    pub fn unknown_user(upn: &str, tenant_domain: &str) -> Self {
        Self::invalid_grant(
            50034,
            format!("The user account {{EmailHidden}} does not exist in the {tenant_domain} directory. To sign into this application, the account must be added to the directory."),
            format!("no user {upn:?} in tenant {tenant_domain}"),
        )
        .with_fix("check the user name, or add the user to the fixture's users")
    }

    pub fn locked_out(upn: &str, failures: u32) -> Self {
        Self::invalid_grant(
            50053,
            "You've tried to sign in too many times with an incorrect user ID or password.",
            format!("{upn} is locked after {failures} failed sign-ins (smart lockout)"),
        )
        .with_fix("wait for the lockout to end (advance the clock) or stop retrying a wrong password")
    }

    pub fn account_disabled(upn: &str) -> Self {
        Self::invalid_grant(
            50057,
            "The user account is disabled.",
            format!("{upn} has account_enabled=false (shared mailboxes cannot sign in)"),
        )
        .with_fix("sign in as a user who has FullAccess on the shared mailbox and open it with user=<shared address>")
    }

    pub fn mfa_required(upn: &str, resource_app_id: &str) -> Self {
        let mut e = Self::invalid_grant(
            50076,
            format!("Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '{resource_app_id}'."),
            format!("{upn} is flagged mfa_required; the password grant cannot satisfy MFA"),
        )
        .with_fix("use an interactive flow (device code or authorization code) instead of the password grant");
        e.suberror = Some("basic_action");
        e
    }

    pub fn consent_required(app_id: &str, app_name: &str, missing: &str) -> Self {
        let mut e = Self::invalid_grant(
            65001,
            format!("The user or administrator has not consented to use the application with ID '{app_id}' named '{app_name}'. Send an interactive authorization request for this user and resource."),
            format!("app '{app_name}' has no consented delegated permission {missing}"),
        )
        .with_fix("request only the app's consented delegated permissions (app 08: IMAP.AccessAsUser.All, POP.AccessAsUser.All, SMTP.Send) or grant admin consent in the fixture");
        e.suberror = Some("consent_required");
        e
    }

    pub fn authorization_pending() -> Self {
        Self::new(
            70016,
            "authorization_pending",
            400,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
            "the user has not finished signing in on the verification page yet",
        )
    }

    pub fn slow_down(interval: i64) -> Self {
        Self::new(
            70016,
            "slow_down",
            400,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
            format!("polled again sooner than the interval of {interval} s"),
        )
        .with_fix("wait `interval` seconds between polls, and add 5 s after each slow_down (RFC 8628 §3.5)")
    }

    /// The AADSTS number of `authorization_declined` is not documented; 65004
    /// ("UserDeclinedConsent") is the code Entra's reference gives for a user who declines.
    pub fn authorization_declined() -> Self {
        Self::new(
            65004,
            "authorization_declined",
            400,
            "User declined to consent to access the app.",
            "the user chose Decline on the verification page",
        )
    }

    /// Mapping of `expired_token` to 70019 (CodeExpired) follows Entra's reference names.
    pub fn device_code_expired(expired_at: OffsetDateTime) -> Self {
        Self::new(
            70019,
            "expired_token",
            400,
            "Verification code expired.",
            format!("the device code expired at {expired_at}"),
        )
        .with_fix("start a new device flow; a device code lives expires_in (900) seconds")
    }

    /// Mapping of `bad_verification_code` to 70018 (BadVerificationCode) follows the reference names.
    pub fn bad_verification_code(reason: impl Into<String>) -> Self {
        Self::new(
            70018,
            "bad_verification_code",
            400,
            "Invalid verification code due to User typing in wrong user code for device code flow.",
            reason,
        )
    }

    pub fn code_redeemed() -> Self {
        Self::invalid_grant(
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
            "the authorization code was already exchanged for tokens; codes are single-use",
        )
        .with_fix("use the refresh token from the first redemption, or sign in again")
    }

    pub fn grant_expired(reason: impl Into<String>) -> Self {
        Self::invalid_grant(
            70008,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
            reason,
        )
        .with_fix("redeem authorization codes at once (they live 10 minutes)")
    }

    pub fn invalid_code(reason: impl Into<String>) -> Self {
        Self::invalid_grant(
            70000,
            "The provided value for the 'code' parameter is not valid.",
            reason,
        )
    }

    pub fn verifier_mismatch(reason: impl Into<String>) -> Self {
        Self::invalid_grant(
            501481,
            "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
            reason,
        )
        .with_fix("send the code_verifier whose S256 hash (or plain value) was the code_challenge")
    }

    pub fn reply_address_mismatch(sent: &str, original: &str) -> Self {
        Self::invalid_grant(
            500112,
            format!("The reply address '{sent}' does not match the reply address '{original}' provided when requesting Authorization code."),
            "redirect_uri of the token request differs from the authorization request's",
        )
    }

    pub fn redirect_uri_mismatch(uri: &str, app_id: &str) -> Self {
        Self::new(
            50011,
            "invalid_request",
            400,
            format!("The redirect URI '{uri}' specified in the request does not match the redirect URIs configured for the application '{app_id}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this."),
            format!("{uri:?} is not among the app's redirect_uris"),
        )
        .with_fix("add the redirect URI to the app's redirect_uris (http://localhost matches any port)")
    }

    pub fn refresh_token_inactive(issued: OffsetDateTime, inactive: time::Duration) -> Self {
        let secs = inactive.whole_seconds();
        let span = format!(
            "{}.{:02}:{:02}:{:02}",
            secs / 86_400,
            (secs % 86_400) / 3600,
            (secs % 3600) / 60,
            secs % 60
        );
        Self::invalid_grant(
            700082,
            format!(
                "The refresh token has expired due to inactivity. The token was issued on {} and was inactive for {span}.",
                issued.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
            ),
            format!("the refresh token was not used for longer than {span}"),
        )
        .with_fix("sign in again; use refresh tokens at least once per inactivity period")
    }

    pub fn refresh_token_revoked(issued: OffsetDateTime, valid_from: OffsetDateTime) -> Self {
        let f = |t: OffsetDateTime| t.format(TIMESTAMP_FORMAT).unwrap_or_default();
        Self::invalid_grant(
            50173,
            format!("The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password. The grant was issued on '{}' and the TokensValidFrom date (before which tokens are not valid) for this user is '{}'.", f(issued), f(valid_from)),
            "the user's sign-in sessions were revoked after this refresh token was issued",
        )
        .with_fix("sign in again")
    }

    /// A scripted fault's AADSTS error: Microsoft's text for the codes this server knows,
    /// a generic text otherwise. The journal says it was injected.
    pub fn injected(code: u32, client_id: &str, fault_id: u64) -> Self {
        let reason = format!("scripted fault #{fault_id}: AADSTS{code} injected");
        let mut e = match code {
            7000215 => Self::invalid_secret(client_id, reason.clone(), ""),
            7000222 => Self::expired_secret(client_id, reason.clone()),
            700016 => Self::app_not_found(client_id, "the tenant", reason.clone()),
            50126 => Self::wrong_password("the user"),
            50053 => Self::locked_out("the user", 0),
            50057 => Self::account_disabled("the user"),
            50076 => Self::mfa_required("the user", "00000002-0000-0ff1-ce00-000000000000"),
            9002313 => Self::invalid_refresh_token(reason.clone()),
            _ => Self::new(
                code,
                "invalid_request",
                400,
                "The request was refused by a scripted fault of mock-server.",
                reason.clone(),
            ),
        };
        e.reason = reason;
        e.fix = Some(format!("disarm fault #{fault_id} (remove-fault --id {fault_id})"));
        e
    }

    pub fn invalid_refresh_token(reason: impl Into<String>) -> Self {
        Self::invalid_grant(9002313, "Invalid request. Request is malformed or invalid.", reason)
            .with_fix("send the refresh_token exactly as the token endpoint returned it")
    }

    pub fn grant_client_mismatch(reason: impl Into<String>) -> Self {
        let mut e = Self::invalid_grant(70000, "Provided grant is invalid or malformed.", reason);
        e.suberror = Some("client_mismatch");
        e
    }

    pub fn invalid_request(code: u32, message: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(code, "invalid_request", 400, message, reason)
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
