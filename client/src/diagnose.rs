//! What an administrator should do, for each way the sign-in can fail. Commands are
//! filled in from the token's claims and the mailbox address.

use crate::claims::Claims;
use crate::token::AadError;

/// The mail protocol checked; each has its own permission names and its own answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    #[default]
    Imap,
    Smtp,
    Pop3,
}

impl Protocol {
    /// The application permission (client credentials) Exchange wants.
    pub fn app_role(self) -> &'static str {
        match self {
            Protocol::Imap => "IMAP.AccessAsApp",
            Protocol::Smtp => "SMTP.SendAsApp",
            Protocol::Pop3 => "POP.AccessAsApp",
        }
    }

    /// The delegated permission Exchange wants.
    pub fn delegated_scope(self) -> &'static str {
        match self {
            Protocol::Imap => "IMAP.AccessAsUser.All",
            Protocol::Smtp => "SMTP.Send",
            Protocol::Pop3 => "POP.AccessAsUser.All",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Imap => "IMAP",
            Protocol::Smtp => "SMTP",
            Protocol::Pop3 => "POP3",
        }
    }
}

/// An identity-platform refusal, explained.
pub fn aad(e: &AadError, client_id: &str, tenant: &str) -> Vec<String> {
    let code = e.code().unwrap_or(0);
    let mut d = Vec::new();
    match code {
        7000215 => {
            d.push("The client secret is wrong. In the app registration under Certificates & secrets, a secret has a Value (shown once, when created) and a Secret ID (a GUID): send the Value, not the Secret ID.".into());
            d.push("If the value was lost or mangled (copied with a trailing space, shell-quoted), create a new secret.".into());
        }
        7000222 => d.push(format!("The client secret of app {client_id} has expired. Create a new secret under Certificates & secrets (https://aka.ms/NewClientSecret) and update the application; consider a certificate credential.")),
        7000216 | 7000218 => d.push("No credential was sent: pass --client-secret (or the environment variable) or --certificate with --private-key.".into()),
        700016 => {
            d.push(format!("App {client_id} is not registered in tenant {tenant}. Check the tenant id or domain: the app must be registered (or consented) in the tenant that owns the mailbox."));
            d.push("Check the client id: it is the Application (client) ID from the app registration's Overview, not an object id.".into());
        }
        90002 | 900023 => d.push(format!("Tenant '{tenant}' was not found: use the Directory (tenant) ID or a verified domain such as contoso.onmicrosoft.com.")),
        1002012 | 70011 => d.push("For client credentials the scope must be 'https://outlook.office365.com/.default' (one resource, ending in /.default); delegated scopes such as IMAP.AccessAsUser.All are for sign-in flows.".into()),
        500011 => d.push("The resource in the scope does not exist in this tenant: for IMAP, POP and SMTP use https://outlook.office365.com/.default.".into()),
        700027 => d.push("The certificate is not the one registered for the app (or it expired): upload the certificate's public part (.cer/.pem) under Certificates & secrets, and sign with the matching private key.".into()),
        700024 => d.push("The client assertion is outside its time window: check this machine's clock.".into()),
        700023 => d.push("The client assertion's audience must be the tenant-specific token endpoint, not /common.".into()),
        5002723 | 5002738 | 50027 | 90014 | 700021 => d.push("The client assertion is malformed; sign it RS256 or PS256 with x5t or x5t#S256 and iss = sub = the client id.".into()),
        _ => d.push(format!("The identity platform refused the request: {}", e.summary())),
    }
    d
}

/// `NO AUTHENTICATE failed.`: the checks, most likely first, for this token.
pub fn authenticate_failed(c: Option<&Claims>, email: &str, now: i64) -> Vec<String> {
    authenticate_failed_for(Protocol::Imap, c, email, now)
}

/// The refused sign-in of `protocol` (IMAP `NO AUTHENTICATE failed.`, SMTP `535 5.7.3`,
/// POP3 `-ERR Authentication failure…`): the checks, most likely first, for this token.
pub fn authenticate_failed_for(protocol: Protocol, c: Option<&Claims>, email: &str, now: i64) -> Vec<String> {
    let (role, scope) = (protocol.app_role(), protocol.delegated_scope());
    let mut d = Vec::new();
    let Some(c) = c else {
        d.push("The token could not be decoded; send the access_token exactly as the token endpoint returned it, base64-encoded once inside the XOAUTH2 string.".into());
        return d;
    };
    if c.audience_is_graph() {
        d.push(format!("The token is for Microsoft Graph ({}), which Exchange refuses. Request scope https://outlook.office365.com/.default (app) or https://outlook.office.com/{scope} (delegated).", c.aud));
    } else if !c.audience_is_exchange() {
        d.push(format!(
            "The token's audience {:?} is not Exchange Online; request https://outlook.office365.com/.default.",
            c.aud
        ));
    }
    if c.exp <= now {
        d.push("The token has expired; request a new one.".into());
    }
    if c.is_delegated() {
        if !c.scp.iter().any(|s| s == scope) {
            d.push(format!("The delegated token lacks {scope}: add that permission of Office 365 Exchange Online and sign in again."));
        }
        let upn = c.upn.as_deref().unwrap_or("?");
        if protocol == Protocol::Smtp {
            d.push(format!(
                "user= must be the signed-in user ({upn}) or a mailbox that user has FullAccess or SendAs on: Add-MailboxPermission -Identity {email} -User {upn} -AccessRights FullAccess, or Add-RecipientPermission -Identity {email} -Trustee {upn} -AccessRights SendAs."
            ));
        } else {
            d.push(format!(
                "user= must be the signed-in user ({upn}) or a mailbox that user has FullAccess to."
            ));
        }
        return d;
    }
    if !c.roles.iter().any(|r| r == role) {
        d.push(format!("The token has no {role} role: in the app registration add the APPLICATION permission {role} of 'Office 365 Exchange Online' (APIs my organization uses), then 'Grant admin consent'. A delegated permission does not put roles in a client-credentials token."));
    }
    d.push(format!(
        "Register the app's service principal in Exchange with the object id of the ENTERPRISE APPLICATION (Enterprise applications > {}), not the Object ID on the App registrations page: Remove-ServicePrincipal for any wrong entry (see Get-ServicePrincipal | fl), then New-ServicePrincipal -AppId {} -ObjectId {}",
        c.app_displayname.as_deref().unwrap_or("the app"),
        c.appid,
        c.oid
    ));
    d.push(format!(
        "Check that {email} is a mailbox of tenant {} (user= names the mailbox to open).",
        c.tid
    ));
    d
}

/// `BAD User is authenticated but not connected.`: the token is fine, the mailbox is not.
pub fn not_connected(c: Option<&Claims>, email: &str) -> Vec<String> {
    not_connected_for(Protocol::Imap, c, email)
}

/// IMAP's `BAD`/POP3's `-ERR User is authenticated but not connected.`: the token is
/// fine, the mailbox is not.
pub fn not_connected_for(protocol: Protocol, c: Option<&Claims>, email: &str) -> Vec<String> {
    let mut d = Vec::new();
    match c {
        Some(c) if c.is_delegated() => {
            let upn = c.upn.as_deref().unwrap_or("?");
            if !upn.eq_ignore_ascii_case(email) {
                d.push(format!("user={email} but the token belongs to {upn}: sign in as {email}, or grant {upn} FullAccess: Add-MailboxPermission -Identity {email} -User {upn} -AccessRights FullAccess"));
            }
        }
        Some(c) => d.push(format!(
            "Give the app's service principal access to the mailbox: Add-MailboxPermission -Identity {email} -User {} -AccessRights FullAccess",
            c.oid
        )),
        None => {}
    }
    let (name, switch) = match protocol {
        Protocol::Pop3 => ("POP", "-PopEnabled"),
        _ => ("IMAP", "-ImapEnabled"),
    };
    d.push(format!("Enable {name} for the mailbox: Set-CASMailbox -Identity {email} {switch} $true (changes can take a while to apply)."));
    d
}

/// An SMTP refusal (`code` and the reply's text, enhanced status first), explained.
/// `from` is the MAIL FROM address, `email` the XOAUTH2 `user=`.
pub fn smtp(code: u16, text: &str, c: Option<&Claims>, email: &str, from: &str, now: i64) -> Vec<String> {
    let mut d = Vec::new();
    let who = c
        .map(|c| {
            if c.is_delegated() {
                c.upn.clone().unwrap_or_else(|| c.oid.clone())
            } else {
                c.oid.clone()
            }
        })
        .unwrap_or_else(|| "<user or service principal>".into());
    if text.starts_with("5.7.139") && text.contains("disabled for the Tenant") {
        d.push("SMTP AUTH (authenticated client submission) is turned off for the whole organization. Turn it on: Set-TransportConfig -SmtpClientAuthenticationDisabled $false (Exchange admin center > Settings > Mail flow), or only for this mailbox: Set-CASMailbox -Identity EMAIL -SmtpClientAuthenticationDisabled $false (https://aka.ms/smtp_auth_disabled).".replace("EMAIL", email));
    } else if text.starts_with("5.7.139") && text.contains("disabled for the Mailbox") {
        d.push(format!("SMTP AUTH is turned off for {email} (its own setting wins over the organization's): Set-CASMailbox -Identity {email} -SmtpClientAuthenticationDisabled $false, or $null to follow Set-TransportConfig (Microsoft 365 admin center > Users > Mail > Manage email apps > Authenticated SMTP)."));
    } else if text.starts_with("5.7.139") {
        d.push("Basic authentication (AUTH LOGIN/PLAIN with a password) is disabled in Exchange Online: authenticate with AUTH XOAUTH2 and an access token.".into());
    } else if code == 535 {
        d = authenticate_failed_for(Protocol::Smtp, c, email, now);
    } else if text.starts_with("5.7.4") {
        d.push("Exchange accepts only AUTH XOAUTH2 (and LOGIN, for basic authentication that is off), and only after STARTTLS: send EHLO, STARTTLS, EHLO again, then AUTH XOAUTH2.".into());
    } else if text.starts_with("5.5.124") {
        d.push(format!("The XOAUTH2 string's user= must be the mailbox's e-mail address ({email:?} is not one): user=<address>^Aauth=Bearer <token>^A^A, base64-encoded once."));
    } else if text.starts_with("5.7.57") {
        d.push("The message was sent before authenticating: STARTTLS, EHLO, AUTH XOAUTH2 must come before MAIL FROM (check that the client is configured to authenticate on port 587).".into());
    } else if text.starts_with("4.2.0") && text.contains("STOREDRV") {
        // AUTH said 235 for an app token; the mailbox logon happens at DATA.
        d.push(format!("The token was accepted, but the app's service principal cannot open {email}: Add-MailboxPermission -Identity {email} -User {who} -AccessRights FullAccess (the service principal's object id is the enterprise application's)."));
    } else if text.starts_with("5.2.252") || text.contains("SendAsDenied") {
        d.push(format!("{email} may not send as {from}: send from {email} itself, or grant SendAs: Add-RecipientPermission -Identity {from} -Trustee {who} -AccessRights SendAs (or Send on behalf in the mailbox's delegation settings, which Exchange treats differently)."));
    } else if text.starts_with("5.3.4") {
        d.push("The message is larger than the mailbox's maximum send size: Set-Mailbox -Identity EMAIL -MaxSendSize 35MB (the organization's limit is 150 MB), or send a smaller message.".replace("EMAIL", email));
    } else if code == 421 {
        d.push(
            "The server closed the connection after too many errors: fix the first refusal above, then reconnect."
                .into(),
        );
    } else if code == 451 {
        d.push(
            "The server timed out waiting for this client: it must authenticate within a minute of connecting.".into(),
        );
    } else {
        d.push(format!("Exchange refused with {code} {text}."));
    }
    d
}

/// A POP3 `-ERR` answer at `step`, explained.
pub fn pop3(text: &str, c: Option<&Claims>, email: &str, now: i64) -> Vec<String> {
    let mut d = Vec::new();
    if text.starts_with("Authentication failure") {
        d = authenticate_failed_for(Protocol::Pop3, c, email, now);
    } else if text.contains("authenticated but not connected") {
        d = not_connected_for(Protocol::Pop3, c, email);
    } else if text.starts_with("Protocol error. Connection is closed. 10") {
        d.push("Exchange's POP3 wants AUTH XOAUTH2 in two lines: send `AUTH XOAUTH2`, wait for `+ `, then the base64 string. A single-line AUTH with the initial response (e.g. Jakarta Mail's default) is refused: for Jakarta Mail set mail.pop3.auth.xoauth2.two.line.authentication.format=true.".into());
        d.push(
            "A SASL line over 4096 bytes is refused the same way: request a smaller token (fewer groups/claims)."
                .into(),
        );
    } else if text.contains("AccessTokenExpired") {
        d.push("The access token expired during the session: get a new token and reconnect.".into());
    } else if text.starts_with("Command is not valid in this state") {
        d.push(
            "On port 110 send STLS (and start TLS) before authenticating; or use port 995 with TLS from the start."
                .into(),
        );
    } else if text.starts_with("Basic authentication is disabled") {
        d.push("USER/PASS (basic authentication) is disabled in Exchange Online: authenticate with AUTH XOAUTH2 and an access token.".into());
    } else {
        d.push(format!("Exchange refused with -ERR {text}."));
    }
    d
}

/// A delegated sign-in refused, explained (password, device code, refresh token).
pub fn delegated(e: &AadError, user: &str) -> Vec<String> {
    let mut d = Vec::new();
    match e.code().unwrap_or(0) {
        50126 => d.push(format!("The password of {user} is wrong (or the user name is).")),
        50034 => d.push(format!("{user} does not exist in this tenant: check the user principal name and the tenant.")),
        50053 => d.push(format!("{user} is locked after too many wrong passwords; wait and try again with the right one.")),
        50057 => d.push(format!("{user} cannot sign in (account disabled, e.g. a shared mailbox): sign in as a user with FullAccess and put the shared mailbox in --email.")),
        50076 => d.push("The user must use multi-factor authentication, which the password grant cannot do: use --device-code.".into()),
        65001 => d.push("Consent is missing for the requested permission: have an administrator grant consent for the app (IMAP.AccessAsUser.All of Office 365 Exchange Online).".into()),
        7000218 => d.push("The app is a confidential client: send its secret too, or enable 'Allow public client flows' in the app registration.".into()),
        // The secret may come from the environment without the user seeing it on the command line.
        700025 => d.push("The app is a public client: do not send a client secret (drop --client-secret, and unset OAUTH_MAIL_CHECK_CLIENT_SECRET if it is set).".into()),
        65004 => d.push("The user declined the sign-in on the device login page.".into()),
        70019 => d.push("The device code expired before the user signed in: run again and sign in within 15 minutes.".into()),
        70018 => d.push("The device code is not valid (already used?): run again.".into()),
        700082 | 70008 | 50173 | 9002313 => d.push("The refresh token is expired, revoked or unknown: sign in again (--device-code or --username).".into()),
        _ => d.push(format!("The identity platform refused the sign-in: {}", e.summary())),
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(code: u64) -> AadError {
        AadError {
            status: 401,
            error: "invalid_client".into(),
            codes: vec![code],
            description: format!("AADSTS{code}: ..."),
        }
    }

    #[test]
    fn a_secret_sent_to_a_public_client_names_the_environment_variable_too() {
        let d = delegated(&refused(700025), "test.user@contoso.com");
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0].contains("--client-secret") && d[0].contains("OAUTH_MAIL_CHECK_CLIENT_SECRET"),
            "{d:?}"
        );
    }
}
