//! Exchange Online's IMAP wording, per era (`shared/reference/exchange-online-wire.md`
//! §0–§1). Exact strings live here and nowhere else.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// Which Exchange Online the server imitates. The eras are named after the year of their
/// earliest capture; the capability lines of neighbouring eras overlap in time (Exchange
/// Online's front ends were not all updated at once), so an era is "what this client log
/// shows", not a date range the service switched on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Personality {
    /// 2025–2026, basic authentication retired: `AUTH=XOAUTH2 LOGINDISABLED`; LOGIN is
    /// answered `NO Basic authentication is disabled.` and a BYE. The default, because it
    /// is what clients meet today.
    #[default]
    Exo2025,
    /// 2018–2024: `AUTH=PLAIN AUTH=XOAUTH2`, no MOVE before authentication; LOGIN is
    /// answered `NO LOGIN failed.` (MailKit #690, 2018-03, to MailKit #1496, 2023-01;
    /// Mailspring #885, 2018-05, and #2245, 2020-12).
    Exo2018,
    /// 2015–2017: `AUTH=PLAIN AUTH=XOAUTH2` with MOVE before authentication; after it no
    /// `BACKENDAUTHENTICATE` (MailKit #178, 2015-04; node-imap #523, 2016-02; MailKit #290,
    /// 2016-01). Basic authentication still worked then; the mock has no passwords for
    /// IMAP, so LOGIN is answered as a wrong password was (`NO LOGIN failed.`).
    Exo2016,
    /// 2018–2021, the other front end of the 2018 era's years: `AUTH=PLAIN AUTH=XOAUTH2`
    /// **with** MOVE before authentication (Mailspring #748, 2018-08; #1208, 2018-10;
    /// #1912, 2020-04; imapfilter #224, 2021-04), the 2018 line after it
    /// (BACKENDAUTHENTICATE); LOGIN refused with `NO LOGIN failed.` (Mailspring #1208).
    Exo2019,
    /// 2026, the "tcpproxy" front end: its own greeting
    /// (`* OK Microsoft Exchange IMAP4 service ready. <id> (tcpproxy/… BACKENDAUTHENTICATE) [<blob>]`,
    /// MailKit #2016, 2026-09-09; uxc #445, 2026-09), otherwise the 2025 lines; LOGIN
    /// answered `NO Basic authentication is disabled.` and the BYE, as uxc #445 shows behind
    /// this greeting. Clients that recognise Exchange by the classic greeting (MailKit's
    /// quirks mode) do not recognise this one: the reason it is an era of its own.
    Exo2026,
}

/// Every era a recording's `@personality` or `--imap-personality` can name.
pub const ERAS: &[&str] = &["exo-2025", "exo-2018", "exo-2016", "exo-2019", "exo-2026"];

/// The pre-authentication line of 2015–2021 that still had MOVE (MailKit #178, node-imap
/// #523, Mailspring #1208, imapfilter #224, all verbatim).
const PRE_AUTH_PLAIN_WITH_MOVE: &str =
    "IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+";
/// The post-authentication line since 2018 (Mailspring #725, 2018-02; MailKit #1494/#1496, email-oauth2-proxy
/// #74, imapfilter #224, imapsync #239, verbatim). MailKit #2016 (2026-09) shows the same
/// line, with `ENABLE IMAP4rev2` and `BACKENDAUTHENTICATE-IR` inserted for one tenant.
const POST_AUTH_2018: &str = "IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT CLIENTACCESSRULES CLIENTNETWORKPRESENCELOCATION BACKENDAUTHENTICATE CHILDREN IDLE NAMESPACE LITERAL+";

impl Personality {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "exo-2025" | "current" => Some(Self::Exo2025),
            "exo-2018" | "classic" => Some(Self::Exo2018),
            "exo-2016" => Some(Self::Exo2016),
            "exo-2019" => Some(Self::Exo2019),
            "exo-2026" => Some(Self::Exo2026),
            _ => None,
        }
    }

    /// The name `parse` reads back (`--imap-personality`, `@personality`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Exo2025 => "exo-2025",
            Self::Exo2018 => "exo-2018",
            Self::Exo2016 => "exo-2016",
            Self::Exo2019 => "exo-2019",
            Self::Exo2026 => "exo-2026",
        }
    }

    /// CAPABILITY before authentication, on a TLS connection.
    pub fn capability_pre_auth(self) -> &'static str {
        match self {
            // Probes 2025–2026 and MailKit #2016 (2026-09-09), verbatim.
            Self::Exo2025 | Self::Exo2026 => "IMAP4 IMAP4rev1 AUTH=XOAUTH2 LOGINDISABLED SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+",
            Self::Exo2018 => "IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+",
            Self::Exo2016 | Self::Exo2019 => PRE_AUTH_PLAIN_WITH_MOVE,
        }
    }

    /// CAPABILITY after authentication.
    pub fn capability_post_auth(self) -> &'static str {
        match self {
            // MailKit #2016 (2026-09-09) is the one capture of this era after AUTHENTICATE:
            // it keeps AUTH=PLAIN and drops LOGINDISABLED (the post-authentication line is
            // the mailbox server's, not the front end's). Its `ENABLE IMAP4rev2` and
            // `BACKENDAUTHENTICATE-IR` were, per the reporter, a rollout to one tenant and
            // are left out; whether other tenants see BACKENDAUTHENTICATE-IR is unconfirmed.
            Self::Exo2025 | Self::Exo2026 | Self::Exo2018 | Self::Exo2019 => POST_AUTH_2018,
            // node-imap #523 (2016-02-12) and MailKit #290 (2016-01-20), verbatim.
            Self::Exo2016 => "IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT CLIENTACCESSRULES CLIENTNETWORKPRESENCELOCATION CHILDREN IDLE NAMESPACE LITERAL+",
        }
    }

    /// CAPABILITY on the plain port before STARTTLS (node-imap #685, 2018; the same line in
    /// MailKit #269, 2015, from a hosted Exchange). Unconfirmed per era: no capture of
    /// Exchange Online's own port 143 names its year.
    pub fn capability_plain(self) -> &'static str {
        "IMAP4 IMAP4rev1 LOGINDISABLED STARTTLS UIDPLUS MOVE ID CHILDREN IDLE NAMESPACE LITERAL+"
    }

    pub fn advertises_plain(self) -> bool {
        !matches!(self, Self::Exo2025 | Self::Exo2026)
    }

    /// The tagged answer to LOGIN over TLS.
    pub fn login_refused(self) -> &'static str {
        match self {
            // holon-run/uxc #445 (2026-09), behind the tcpproxy greeting; exo-2025 (classic
            // greeting) has it from there too, unconfirmed for that front end: a 2025-05
            // report (cry-inc/dmarc-report-viewer #31) quotes "LOGIN failed." instead.
            Self::Exo2025 | Self::Exo2026 => BASIC_AUTH_DISABLED,
            // imapsync #317/#368 (2022), Mailspring #885 (2018) and #1208 (2018, the 2019
            // era's line), imapfilter #258 (2022).
            Self::Exo2018 | Self::Exo2019 => LOGIN_FAILED,
            // Unconfirmed for the era: LOGIN then succeeded with a password (node-imap
            // #523's `OK LOGIN completed.`); a wrong one got this text.
            Self::Exo2016 => LOGIN_FAILED,
        }
    }

    /// Whether the LOGIN refusal also ends the connection with the LOGOUT BYE (uxc #445).
    pub fn login_refusal_closes(self) -> bool {
        matches!(self, Self::Exo2025 | Self::Exo2026)
    }

    /// The greeting of this era's front end (a new `<id>` for each connection in 2026).
    pub fn greeting_line(self, fqdn: &str) -> String {
        match self {
            Self::Exo2026 => greeting_tcpproxy(fqdn, &uuid::Uuid::new_v4().to_string()),
            _ => greeting(fqdn),
        }
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

/// The 2026 front end's version, as MailKit #2016 (2026-09-09) shows it in the greeting.
pub const TCPPROXY_IMAP_VERSION: &str = "tcpproxy/15.21.0406.000";

/// The "tcpproxy" greeting: `* OK Microsoft Exchange IMAP4 service ready. <id> (tcpproxy/<version>
/// BACKENDAUTHENTICATE) [<blob>]` (MailKit #2016, 2026-09-09; uxc #445 quotes its start). The
/// capture masks the id as `********-****-****-****-************` (a GUID's shape) and the
/// blob; that the id changes per connection, its letter case, and that the blob is the host
/// name as in the classic greeting (as the POP3 tcpproxy greeting's is, MailKit #1948) are
/// unconfirmed.
pub fn greeting_tcpproxy(fqdn: &str, id: &str) -> String {
    let utf16: Vec<u8> = fqdn.encode_utf16().flat_map(u16::to_le_bytes).collect();
    format!(
        "* OK Microsoft Exchange IMAP4 service ready. {id} ({TCPPROXY_IMAP_VERSION} BACKENDAUTHENTICATE) [{}]\r\n",
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
/// <https://github.com/home-assistant/core/issues/48294>: UTF-8 refused, US-ASCII the only one
/// named; the same in MailKit #808 and node-imap #664).
pub const SEARCH_BAD_CHARSET: &str = "NO [BADCHARSET (US-ASCII)] The specified charset is not supported.";
pub const COMMAND_TOO_LONG: &str = "BAD Command Error. 10";
/// The go-ahead for a synchronizing literal (Exchange 2013's wording, as clients log it; on
/// Outlook's Exchange in <https://github.com/mscdex/node-imap/issues/664>, 2017).
pub const GO_AHEAD: &str = "+ Ready for additional command text.\r\n";
pub const BASIC_AUTH_DISABLED: &str = "NO Basic authentication is disabled.";
pub const LOGIN_FAILED: &str = "NO LOGIN failed.";
pub const ID_RESPONSE: &str = "* ID (\"name\" \"Microsoft.Exchange.Imap4.Imap4Server\" \"version\" \"15.20\")\r\n";
pub const NAMESPACE_RESPONSE: &str = "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_era_parses_back_from_its_name() {
        for name in ERAS {
            let p = Personality::parse(name).expect("known era");
            assert_eq!(p.name(), *name);
        }
        assert_eq!(Personality::parse("exo-2020"), None);
    }

    #[test]
    fn capability_lines_per_era() {
        use Personality::*;
        // MOVE before authentication: 2016 and 2019 have it, 2018 not, 2025 again.
        assert!(Exo2016.capability_pre_auth().contains(" UIDPLUS MOVE ID "));
        assert!(Exo2019.capability_pre_auth().contains(" UIDPLUS MOVE ID "));
        assert!(Exo2018.capability_pre_auth().contains(" UIDPLUS ID "));
        assert!(Exo2025.capability_pre_auth().contains(" UIDPLUS MOVE ID "));
        // AUTH=PLAIN before authentication until basic auth was retired.
        for p in [Exo2016, Exo2018, Exo2019] {
            assert!(p.capability_pre_auth().contains("AUTH=PLAIN AUTH=XOAUTH2 SASL-IR"));
            assert!(p.advertises_plain());
        }
        assert!(Exo2025
            .capability_pre_auth()
            .contains("AUTH=XOAUTH2 LOGINDISABLED SASL-IR"));
        assert!(!Exo2025.advertises_plain());
        assert_eq!(Exo2026.capability_pre_auth(), Exo2025.capability_pre_auth());
        // BACKENDAUTHENTICATE after authentication from 2018 on; 2016 has none.
        assert!(!Exo2016.capability_post_auth().contains("BACKENDAUTHENTICATE"));
        for p in [Exo2018, Exo2019, Exo2025, Exo2026] {
            assert!(p
                .capability_post_auth()
                .contains("CLIENTNETWORKPRESENCELOCATION BACKENDAUTHENTICATE CHILDREN"));
            // No era keeps LOGINDISABLED after authentication (MailKit #2016).
            assert!(!p.capability_post_auth().contains("LOGINDISABLED"));
        }
        // Never advertised in any era (reference §1.3).
        for p in [Exo2016, Exo2018, Exo2019, Exo2025, Exo2026] {
            for line in [p.capability_pre_auth(), p.capability_post_auth(), p.capability_plain()] {
                for absent in ["OAUTHBEARER", "CONDSTORE", "SPECIAL-USE", "IMAP4rev2", "ENABLE"] {
                    assert!(!line.contains(absent), "{p:?}: {absent} in {line}");
                }
            }
        }
    }

    #[test]
    fn login_answer_per_era() {
        use Personality::*;
        for p in [Exo2025, Exo2026] {
            assert_eq!(p.login_refused(), "NO Basic authentication is disabled.");
            assert!(p.login_refusal_closes());
        }
        for p in [Exo2016, Exo2018, Exo2019] {
            assert_eq!(p.login_refused(), "NO LOGIN failed.");
            assert!(!p.login_refusal_closes());
        }
    }

    #[test]
    fn greeting_per_era() {
        let fqdn = "FR3P281CA0157.DEUP281.PROD.OUTLOOK.COM";
        for p in [
            Personality::Exo2016,
            Personality::Exo2018,
            Personality::Exo2019,
            Personality::Exo2025,
        ] {
            assert_eq!(p.greeting_line(fqdn), greeting(fqdn));
        }
        let g = Personality::Exo2026.greeting_line(fqdn);
        assert!(g.starts_with("* OK Microsoft Exchange IMAP4 service ready. "), "{g}");
        assert!(
            g.ends_with(" (tcpproxy/15.21.0406.000 BACKENDAUTHENTICATE) [RgBSADMAUAAyADgAMQBDAEEAMAAxADUANwAuAEQARQBVAFAAMgA4ADEALgBQAFIATwBEAC4ATwBVAFQATABPAE8ASwAuAEMATwBNAA==]\r\n"),
            "{g}"
        );
        // The id has the shape of the capture's mask, ********-****-****-****-************.
        let id = g["* OK Microsoft Exchange IMAP4 service ready. ".len()..]
            .split(' ')
            .next()
            .unwrap_or("");
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
    }

    #[test]
    fn greeting_blob_is_utf16le_base64_of_the_fqdn() {
        // MailKit #1494's greeting.
        assert_eq!(
            greeting("FR3P281CA0157.DEUP281.PROD.OUTLOOK.COM"),
            "* OK The Microsoft Exchange IMAP4 service is ready. [RgBSADMAUAAyADgAMQBDAEEAMAAxADUANwAuAEQARQBVAFAAMgA4ADEALgBQAFIATwBEAC4ATwBVAFQATABPAE8ASwAuAEMATwBNAA==]\r\n"
        );
    }
}
