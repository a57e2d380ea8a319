//! Exchange Online's IMAP wording, per era (`shared/reference/exchange-online-wire.md`
//! §0–§1). Exact strings live here and nowhere else.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// Which Exchange Online the server imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Personality {
    /// 2025–2026, basic authentication retired: `AUTH=XOAUTH2 LOGINDISABLED`; LOGIN is
    /// answered `NO Basic authentication is disabled.` and a BYE. The default, because it
    /// is what clients meet today.
    #[default]
    Exo2025,
    /// 2018–2024: `AUTH=PLAIN AUTH=XOAUTH2`, no MOVE before authentication; LOGIN is
    /// answered `NO LOGIN failed.`.
    Exo2018,
}

impl Personality {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "exo-2025" | "current" => Some(Self::Exo2025),
            "exo-2018" | "classic" => Some(Self::Exo2018),
            _ => None,
        }
    }

    /// CAPABILITY before authentication, on a TLS connection.
    pub fn capability_pre_auth(self) -> &'static str {
        match self {
            Self::Exo2025 => "IMAP4 IMAP4rev1 AUTH=XOAUTH2 LOGINDISABLED SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+",
            Self::Exo2018 => "IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+",
        }
    }

    /// CAPABILITY after authentication. The 2025 line is not confirmed by a capture; it is
    /// the pre-auth line with Microsoft's private capabilities added as in every other era.
    pub fn capability_post_auth(self) -> &'static str {
        match self {
            Self::Exo2025 => "IMAP4 IMAP4rev1 AUTH=XOAUTH2 LOGINDISABLED SASL-IR UIDPLUS MOVE ID UNSELECT CLIENTACCESSRULES CLIENTNETWORKPRESENCELOCATION BACKENDAUTHENTICATE CHILDREN IDLE NAMESPACE LITERAL+",
            Self::Exo2018 => "IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT CLIENTACCESSRULES CLIENTNETWORKPRESENCELOCATION BACKENDAUTHENTICATE CHILDREN IDLE NAMESPACE LITERAL+",
        }
    }

    /// CAPABILITY on the plain port before STARTTLS (node-imap #685).
    pub fn capability_plain(self) -> &'static str {
        "IMAP4 IMAP4rev1 LOGINDISABLED STARTTLS UIDPLUS MOVE ID CHILDREN IDLE NAMESPACE LITERAL+"
    }

    pub fn advertises_plain(self) -> bool {
        matches!(self, Self::Exo2018)
    }
}

/// The greeting: the front-end server's FQDN as base64 of UTF-16LE, in brackets.
pub fn greeting(fqdn: &str) -> String {
    let utf16: Vec<u8> = fqdn.encode_utf16().flat_map(u16::to_le_bytes).collect();
    format!(
        "* OK The Microsoft Exchange IMAP4 service is ready. [{}]\r\n",
        STANDARD.encode(utf16)
    )
}

/// The default front-end host name in the greeting (shaped like Exchange Online's).
pub const DEFAULT_FQDN: &str = "MOCK01CA0001.NAMPRD01.PROD.OUTLOOK.COM";

pub const LOGOUT_BYE: &str = "* BYE Microsoft Exchange Server IMAP4 server signing off.\r\n";
pub const AUTH_FAILED: &str = "NO AUTHENTICATE failed.";
pub const AUTH_COMPLETED: &str = "OK AUTHENTICATE completed.";
pub const AUTH_CANCELLED: &str = "NO The AUTH protocol exchange was canceled by the client.";
pub const NOT_CONNECTED: &str = "BAD User is authenticated but not connected.";
/// Sent with the second "not connected" answer (note: "closed", not "is closed").
pub const NOT_CONNECTED_BYE: &str = "* BYE Connection closed. 14\r\n";
/// Sent after the last allowed failed AUTHENTICATE.
pub const TOO_MANY_FAILURES_BYE: &str = "* BYE Connection is closed. 14\r\n";
pub const IDLE_TIMEOUT_BYE: &str = "* BYE Connection is closed. 13\r\n";
pub const TOKEN_EXPIRED_BYE: &str = "* BYE Session invalidated - AccessTokenExpired\r\n";
pub const INVALID_STATE: &str = "BAD Command received in Invalid state.";
pub const UNKNOWN_COMMAND: &str = "BAD Command Error. 12";
pub const ARGUMENT_ERROR: &str = "BAD Command Argument Error. 11";
pub const ARGUMENT_ERROR_12: &str = "BAD Command Argument Error. 12";
/// SEARCH with a charset other than US-ASCII (outlook.office365.com,
/// https://github.com/home-assistant/core/issues/48294: UTF-8 refused, US-ASCII the only one
/// named; the same in MailKit #808 and node-imap #664).
pub const SEARCH_BAD_CHARSET: &str = "NO [BADCHARSET (US-ASCII)] The specified charset is not supported.";
pub const COMMAND_TOO_LONG: &str = "BAD Command Error. 10";
/// The go-ahead for a synchronizing literal (Exchange 2013's wording, as clients log it; on
/// Outlook's Exchange in https://github.com/mscdex/node-imap/issues/664, 2017).
pub const GO_AHEAD: &str = "+ Ready for additional command text.\r\n";
pub const BASIC_AUTH_DISABLED: &str = "NO Basic authentication is disabled.";
pub const LOGIN_FAILED: &str = "NO LOGIN failed.";
pub const ID_RESPONSE: &str = "* ID (\"name\" \"Microsoft.Exchange.Imap4.Imap4Server\" \"version\" \"15.20\")\r\n";
pub const NAMESPACE_RESPONSE: &str = "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greeting_blob_is_utf16le_base64_of_the_fqdn() {
        // MailKit #1494's greeting.
        assert_eq!(
            greeting("FR3P281CA0157.DEUP281.PROD.OUTLOOK.COM"),
            "* OK The Microsoft Exchange IMAP4 service is ready. [RgBSADMAUAAyADgAMQBDAEEAMAAxADUANwAuAEQARQBVAFAAMgA4ADEALgBQAFIATwBEAC4ATwBVAFQATABPAE8ASwAuAEMATwBNAA==]\r\n"
        );
    }
}
