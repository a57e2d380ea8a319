//! The Microsoft resources (APIs) a token can be requested for.
//!
//! Tokens are issued for Microsoft Graph too, so the classic "Graph audience" mistake
//! (a Graph token presented to Exchange) can be reproduced downstream.

/// A resource application known to every tenant, as in Entra ID.
#[derive(Debug, PartialEq, Eq)]
pub struct Resource {
    pub display_name: &'static str,
    /// The resource's application id.
    pub app_id: &'static str,
    /// Identifiers a client may use in `scope=<id>/.default` or `resource=<id>`,
    /// compared case-insensitively and without a trailing `/`.
    pub identifiers: &'static [&'static str],
    pub application_permissions: &'static [&'static str],
    pub delegated_permissions: &'static [&'static str],
}

pub const EXCHANGE_ONLINE: Resource = Resource {
    display_name: "Office 365 Exchange Online",
    app_id: "00000002-0000-0ff1-ce00-000000000000",
    identifiers: &[
        "https://outlook.office365.com",
        "https://outlook.office.com",
        "https://ps.outlook.com",
        "00000002-0000-0ff1-ce00-000000000000",
    ],
    application_permissions: &[
        "IMAP.AccessAsApp",
        "POP.AccessAsApp",
        "SMTP.SendAsApp",
        "full_access_as_app",
        "Mail.Read",
    ],
    delegated_permissions: &[
        "IMAP.AccessAsUser.All",
        "POP.AccessAsUser.All",
        "SMTP.Send",
        "EWS.AccessAsUser.All",
    ],
};

pub const MICROSOFT_GRAPH: Resource = Resource {
    display_name: "Microsoft Graph",
    app_id: "00000003-0000-0000-c000-000000000000",
    identifiers: &["https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000"],
    application_permissions: &["Mail.Read", "Mail.ReadWrite", "Mail.Send", "User.Read.All"],
    delegated_permissions: &[
        "openid",
        "profile",
        "email",
        "offline_access",
        "User.Read",
        "Mail.Read",
        "Mail.Send",
        "IMAP.AccessAsUser.All",
        "POP.AccessAsUser.All",
        "SMTP.Send",
    ],
};

pub const RESOURCES: &[&Resource] = &[&EXCHANGE_ONLINE, &MICROSOFT_GRAPH];

/// Normalise a resource identifier for comparison: lower case, no trailing `/`.
pub fn normalise(identifier: &str) -> String {
    identifier.trim_end_matches('/').to_ascii_lowercase()
}

/// The resource a client named, by any of its identifiers.
pub fn find(identifier: &str) -> Option<&'static Resource> {
    let wanted = normalise(identifier);
    RESOURCES
        .iter()
        .copied()
        .find(|r| r.identifiers.iter().any(|i| normalise(i) == wanted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_by_any_identifier_case_insensitively() {
        assert_eq!(find("https://OUTLOOK.office365.com/"), Some(&EXCHANGE_ONLINE));
        assert_eq!(find("00000002-0000-0ff1-ce00-000000000000"), Some(&EXCHANGE_ONLINE));
        assert_eq!(find("https://graph.microsoft.com"), Some(&MICROSOFT_GRAPH));
        assert_eq!(find("https://example.com"), None);
    }
}
