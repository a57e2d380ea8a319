//! Exchange Online's POP3 wording, per era (`shared/reference/exchange-online-wire.md`
//! §0, §3.1 and the catalogue §4). Exact strings live here and nowhere else.
//!
//! Every text names its source. WIRE = seen verbatim from Exchange Online; DOC = in
//! Microsoft's documentation; SRC-2013 = in decompiled Exchange Server 2013 code (the
//! ancestor of Exchange Online's POP3 service); UNCONFIRMED = no capture backs it, the
//! closest documented analogue is used.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// Which Exchange Online the POP3 server imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Personality {
    /// 2025–2026: the "tcpproxy" front end's greeting (WIRE, MailKit #1948, 2025-09) and
    /// PASS answered `-ERR Basic authentication is disabled` (a 2025–2026 third-party
    /// probe; punctuation UNCONFIRMED). The default: what clients meet today.
    #[default]
    Exo2025,
    /// 2018–2024: `+OK The Microsoft Exchange POP3 service is ready. [...]` (WIRE, vmime
    /// #267, email-oauth2-proxy #162); PASS answered with the ordinary authentication
    /// failure.
    Exo2018,
}

impl Personality {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            // exo-2026 is an IMAP front end's era (its greeting); SMTP and POP3 are 2025's.
            "exo-2025" | "current" | "exo-2026" => Some(Self::Exo2025),
            "exo-2018" | "classic" => Some(Self::Exo2018),
            // The IMAP eras before 2025 (`--personality`, a recording's `@personality`):
            // every POP3 capture before 2025 has the classic greeting and the same CAPA
            // (vmime #267, 2021-09; MailKit #1496, 2023-01), so they are this era on POP3.
            "exo-2016" | "exo-2019" => Some(Self::Exo2018),
            _ => None,
        }
    }

    /// The answer to PASS: basic authentication is off in Exchange Online.
    pub fn basic_auth_refused(self) -> &'static str {
        match self {
            Self::Exo2025 => BASIC_AUTH_DISABLED,
            Self::Exo2018 => AUTH_FAILED,
        }
    }
}

/// The greeting: the front-end server's FQDN as base64 of UTF-16LE, in brackets.
pub fn greeting(personality: Personality, fqdn: &str) -> String {
    let utf16: Vec<u8> = fqdn.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let blob = STANDARD.encode(utf16);
    match personality {
        // WIRE: MailKit #1948 (2025-09-15).
        Personality::Exo2025 => format!("+OK Microsoft Exchange POP3 server ready ({TCPPROXY_VERSION}). [{blob}]\r\n"),
        // WIRE: vmime #267, email-oauth2-proxy #162; SRC-2013 writes it as `+OK {0}`.
        Personality::Exo2018 => format!("+OK The Microsoft Exchange POP3 service is ready. [{blob}]\r\n"),
    }
}

/// The front-end version in the 2025 greeting, as captured (MailKit #1948).
pub const TCPPROXY_VERSION: &str = "tcpproxy/15.20.9137.005";

/// The default front-end host name in the greeting (shaped like Exchange Online's).
pub const DEFAULT_FQDN: &str = "MOCK01CA0001.NAMPRD01.PROD.OUTLOOK.COM";

/// CAPA on a TLS connection. WIRE: vmime #267, email-oauth2-proxy #162 (before
/// authentication). After authentication the same list is sent (UNCONFIRMED: no capture).
pub const CAPA_TLS: &str = "+OK\r\nTOP\r\nUIDL\r\nSASL PLAIN XOAUTH2\r\nUSER\r\n.\r\n";
/// CAPA on port 110 before STLS. WIRE: IndySockets/Indy #192.
pub const CAPA_PLAIN: &str = "+OK\r\nTOP\r\nUIDL\r\nSTLS\r\n.\r\n";
/// `AUTH` without a mechanism lists the mechanisms. SRC-2013 Pop3RequestAuth sends
/// `+OK\r\nPLAIN\r\n.`; XOAUTH2 added as Exchange Online advertises it (UNCONFIRMED).
pub const AUTH_LIST: &str = "+OK\r\nPLAIN\r\nXOAUTH2\r\n.\r\n";

/// The SASL continuation, with its trailing space. WIRE: raw bytes `b'+ \r\n'` in
/// email-oauth2-proxy #244; SRC-2013 `FirstAuthenticateResponse = "+ "`.
pub const CONTINUATION: &str = "+ \r\n";
/// DOC [MS-OAUTH]; SRC-2013.
pub const AUTH_OK: &str = "+OK User successfully authenticated.\r\n";
/// DOC [MS-OAUTH]; WIRE email-oauth2-proxy #238/#244.
pub const AUTH_FAILED: &str = "-ERR Authentication failure: unknown user name or bad password.\r\n";
/// After the last allowed failure: the second line has no `-ERR` (SRC-2013).
pub const TOO_MANY_FAILURES: &str = "Connection is closed. 21\r\n";
/// SRC-2013 (UNCONFIRMED on Exchange Online).
pub const AUTH_CANCELLED: &str = "-ERR The AUTH protocol exchange was canceled by the client.\r\n";
/// An over-long line, including the single-line `AUTH XOAUTH2 <base64>`: Exchange's
/// CommandTooLong, then the connection closes. WIRE: getmail6 #256, mpop #11, Mew PR #224;
/// SRC-2013 Pop3Session.
pub const PROTOCOL_ERROR_CLOSED: &str = "-ERR Protocol error. Connection is closed. 10\r\n";
/// An unknown SASL mechanism (SRC-2013). Also used for unknown commands and bad
/// arguments, where no text is known (UNCONFIRMED).
pub const PROTOCOL_ERROR: &str = "-ERR Protocol error. 14\r\n";
/// The third unknown command, then disconnect (SRC-2013 Pop3RequestInvalid).
pub const PROTOCOL_ERROR_CLOSE: &str = "-ERR Protocol error. 20\r\n";
/// A command in the wrong state, e.g. STLS on a TLS connection (WIRE,
/// email-oauth2-proxy #162; SRC-2013).
pub const INVALID_STATE: &str = "-ERR Command is not valid in this state.\r\n";
/// SRC-2013 Pop3ResponseFactory.ProcessInvalidState (UNCONFIRMED on Exchange Online).
pub const NOT_CONNECTED: &str = "-ERR User is authenticated but not connected.\r\n";
/// Appended to the third "not connected" answer, then disconnect (SRC-2013; no `-ERR`).
pub const NOT_CONNECTED_CLOSE: &str = "Connection is closed. 21\r\n";
/// Idle or pre-authentication timeout (SRC-2013 Pop3ResponseFactory).
pub const TIMEOUT: &str = "-ERR Connection is closed. 12\r\n";
/// STLS accepted. WIRE: IndySockets/Indy #192 (2022-08-23).
pub const BEGIN_TLS: &str = "+OK Begin TLS negotiation.\r\n";
/// QUIT. UNCONFIRMED: SRC-2013 says `+OK Microsoft Exchange Server 2013 POP3 server
/// signing off.`; without the version, as Exchange Online's IMAP LOGOUT BYE drops it.
pub const SIGNING_OFF: &str = "+OK Microsoft Exchange Server POP3 server signing off.\r\n";
/// PASS in the 2025 era (a 2025–2026 third-party probe; punctuation UNCONFIRMED).
pub const BASIC_AUTH_DISABLED: &str = "-ERR Basic authentication is disabled\r\n";
/// The access token expired during the session. UNCONFIRMED for POP3: IMAP's WIRE
/// `* BYE Session invalidated - AccessTokenExpired` in POP3's `-ERR` form.
pub const TOKEN_EXPIRED: &str = "-ERR Session invalidated - AccessTokenExpired\r\n";
/// A bare `+OK`: USER, DELE, RSET, NOOP, and the first line of RETR and TOP (UNCONFIRMED:
/// no public capture of Exchange Online's transaction answers, §3.1).
pub const OK: &str = "+OK\r\n";
/// A message number that does not exist (UNCONFIRMED).
pub const NO_SUCH_MESSAGE: &str = "-ERR The specified message is out of range.\r\n";
/// A message marked deleted in this session (UNCONFIRMED).
pub const MESSAGE_DELETED: &str = "-ERR The specified message has been deleted.\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greetings_carry_the_utf16le_base64_fqdn() {
        // vmime #267's blob decodes to CH2PR14CA0008.namprd14.prod.outlook.com.
        assert_eq!(
            greeting(Personality::Exo2018, "CH2PR14CA0008.namprd14.prod.outlook.com"),
            "+OK The Microsoft Exchange POP3 service is ready. [QwBIADIAUABSADEANABDAEEAMAAwADAAOAAuAG4AYQBtAHAAcgBkADEANAAuAHAAcgBvAGQALgBvAHUAdABsAG8AbwBrAC4AYwBvAG0A]\r\n"
        );
        assert!(greeting(Personality::Exo2025, "X")
            .starts_with("+OK Microsoft Exchange POP3 server ready (tcpproxy/15.20.9137.005). ["));
    }
}
