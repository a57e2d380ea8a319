//! Exchange Online's SMTP submission wording (`smtp.office365.com:587`), per era
//! (`shared/reference/exchange-online-wire.md` §3.2, catalogue §4). Exact strings live here
//! and nowhere else; each says where it was seen. Texts no capture backs are marked
//! UNCONFIRMED: they follow Exchange Server's wording as far as it is known.

use time::OffsetDateTime;

/// Which Exchange Online the SMTP server imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Personality {
    /// Since October 2024: the banner ends with a 16-hex id (email-oauth2-proxy #297) and
    /// error brackets carry host, ISO time and id (MailKit #1770, email-oauth2-proxy #251).
    #[default]
    Exo2025,
    /// Until 2023: no id in the banner (email-oauth2-proxy #95, 2022-11) and brackets with
    /// the host only (`[SN2PR00CA0018.namprd00.prod.outlook.com]`, [MS-OAUTH]).
    Exo2018,
}

impl Personality {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            // exo-2026 is an IMAP front end's era (its greeting); SMTP and POP3 are 2025's.
            "exo-2025" | "current" | "exo-2026" => Some(Self::Exo2025),
            "exo-2018" | "classic" => Some(Self::Exo2018),
            // The IMAP eras before 2024 (`--personality`, a recording's `@personality`):
            // every SMTP capture before 2024-07 has the banner without an id and the same
            // EHLO lists (PHPMailer #797, 2016-08; SMTPClient.jl #44, 2020-12;
            // email-oauth2-proxy #95, 2022-11; MailKit #1603, 2023-07; email-oauth2-proxy
            // #258, 2024-06), so they are this era on SMTP.
            "exo-2016" | "exo-2019" => Some(Self::Exo2018),
            _ => None,
        }
    }
}

/// The front end's short name: the banner says `<name>.outlook.office365.com`, brackets
/// say `<name>.namprd01.prod.outlook.com` (both shapes in email-oauth2-proxy #251).
pub const DEFAULT_SERVER_NAME: &str = "MOCK01CA0001";
/// The region part of the bracketed FQDN.
pub const DEFAULT_REGION: &str = "namprd01";

/// Ticks of .NET's `DateTime` (100 ns since 0001-01-01) at the Unix epoch.
const UNIX_EPOCH_TICKS: i128 = 621_355_968_000_000_000;

/// The 16-hex-digit id of banners and brackets. Captured ids are .NET ticks of a moment
/// hours to days before the reply (`08DCA18218166FB4` is 2024-07-11 08:18 UTC, seen in an
/// 11:46 reply), i.e. of the front end's start: the mock uses its own start time.
pub fn server_id(start: OffsetDateTime) -> String {
    let ticks = UNIX_EPOCH_TICKS + start.unix_timestamp_nanos() / 100;
    format!("{:016X}", u64::try_from(ticks).unwrap_or(0))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// RFC 2822 date as the banner writes it: `Wed, 9 Nov 2022 10:09:41 +0000` (day not
/// padded; email-oauth2-proxy #95).
pub fn banner_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{}, {} {} {} {:02}:{:02}:{:02} +0000",
        DAYS[t.weekday().number_days_from_monday() as usize],
        t.day(),
        MONTHS[usize::from(u8::from(t.month())) - 1],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Names and era of one server: what banners and brackets are made of.
#[derive(Debug, Clone)]
pub struct Texts {
    pub personality: Personality,
    /// `MOCK01CA0001.outlook.office365.com`.
    pub host: String,
    /// `MOCK01CA0001.namprd01.prod.outlook.com`.
    pub fqdn: String,
    /// [`server_id`] of the server's start.
    pub id: String,
}

impl Texts {
    /// `220 <host> Microsoft ESMTP MAIL Service ready at <date> [<id>]` (WIRE,
    /// email-oauth2-proxy #297; without the id before October 2024, #95 and #258).
    pub fn banner(&self, now: OffsetDateTime) -> String {
        match self.personality {
            Personality::Exo2025 => format!(
                "220 {} Microsoft ESMTP MAIL Service ready at {} [{}]\r\n",
                self.host,
                banner_date(now),
                self.id
            ),
            Personality::Exo2018 => format!(
                "220 {} Microsoft ESMTP MAIL Service ready at {}\r\n",
                self.host,
                banner_date(now)
            ),
        }
    }

    /// The bracket that ends Exchange's error lines:
    /// `[AM0PR02CA0134.eurprd02.prod.outlook.com 2024-07-11T11:46:49.042Z 08DCA18218166FB4]`
    /// (MailKit #1770), or `[SN2PR00CA0018.namprd00.prod.outlook.com]` in the older era.
    pub fn bracket(&self, now: OffsetDateTime) -> String {
        match self.personality {
            Personality::Exo2025 => {
                let t = now.to_offset(time::UtcOffset::UTC);
                format!(
                    "[{} {:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z {}]",
                    self.fqdn,
                    t.year(),
                    u8::from(t.month()),
                    t.day(),
                    t.hour(),
                    t.minute(),
                    t.second(),
                    t.millisecond(),
                    self.id
                )
            }
            Personality::Exo2018 => format!("[{}]", self.fqdn),
        }
    }

    /// The EHLO answer. Before TLS it offers STARTTLS; after TLS `AUTH LOGIN XOAUTH2` takes
    /// its place (WIRE: email-oauth2-proxy #95, #297; [GIT-SENDMAIL]).
    pub fn ehlo(&self, peer_ip: &str, tls: bool) -> String {
        let middle = if tls { "AUTH LOGIN XOAUTH2" } else { "STARTTLS" };
        format!(
            "250-{} Hello [{peer_ip}]\r\n250-SIZE {ADVERTISED_SIZE}\r\n250-PIPELINING\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n250-{middle}\r\n250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n",
            self.host
        )
    }

    /// HELO: the first line of the EHLO answer alone. UNCONFIRMED (RFC 5321 shape).
    pub fn helo(&self, peer_ip: &str) -> String {
        format!("250 {} Hello [{peer_ip}]\r\n", self.host)
    }

    /// `535 5.7.3 Authentication unsuccessful [...]`: bad token, missing role or scope,
    /// unregistered service principal, `user=` without rights (DOC [MS-OAUTH]; WIRE
    /// MailKit #1712, #1770).
    pub fn auth_failed(&self, now: OffsetDateTime) -> String {
        format!("535 5.7.3 Authentication unsuccessful {}\r\n", self.bracket(now))
    }

    /// `535 5.7.139 ... disabled for the Tenant ...` (WIRE email-oauth2-proxy #193).
    pub fn smtp_auth_disabled_tenant(&self, now: OffsetDateTime) -> String {
        format!(
            "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. {}\r\n",
            self.bracket(now)
        )
    }

    /// `535 5.7.139 ... disabled for the Mailbox ...` (WIRE, second-hand: .NET
    /// `SmtpException` texts in two reports).
    pub fn smtp_auth_disabled_mailbox(&self, now: OffsetDateTime) -> String {
        format!(
            "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information. {}\r\n",
            self.bracket(now)
        )
    }

    /// `535 5.7.139 Authentication unsuccessful, basic authentication is disabled. [...]`
    /// (WIRE mailR #107, nodemailer #1714).
    pub fn basic_auth_disabled(&self, now: OffsetDateTime) -> String {
        format!(
            "535 5.7.139 Authentication unsuccessful, basic authentication is disabled. {}\r\n",
            self.bracket(now)
        )
    }

    /// Conditional Access or security defaults (WIRE MailKit #1733; no bracket there).
    pub fn criteria_not_met(&self) -> String {
        "535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully. Contact your administrator.\r\n".into()
    }

    /// `504 5.7.4 Unrecognized authentication type [...]` (WIRE mikel/mail #1357; the
    /// 2025 bracket in QuantumNous/new-api #1989).
    pub fn unrecognized_auth(&self, now: OffsetDateTime) -> String {
        format!("504 5.7.4 Unrecognized authentication type {}\r\n", self.bracket(now))
    }

    /// `501 5.5.124 Invalid XOAUTH2 auth data - User address provided is not valid. Please
    /// ensure the auth d…`: both captures are truncated there (tarickb/sasl-xoauth2 #110);
    /// the end of the sentence is UNCONFIRMED.
    pub fn invalid_user_address(&self, now: OffsetDateTime) -> String {
        format!(
            "501 5.5.124 Invalid XOAUTH2 auth data - User address provided is not valid. Please ensure the auth data is in the correct format. {}\r\n",
            self.bracket(now)
        )
    }

    /// `501 5.5.4 Invalid domain name [...]` for a bad EHLO argument (WIRE [GIT-SENDMAIL]).
    pub fn invalid_domain(&self, now: OffsetDateTime) -> String {
        format!("501 5.5.4 Invalid domain name {}\r\n", self.bracket(now))
    }

    /// `500 5.3.3 Unrecognized command '<line>' [...]`: the whole line is quoted
    /// (`'Length: 3'`, email-oauth2-proxy #251); a line with control bytes is quoted as
    /// `'unknown'` (#234).
    pub fn unrecognized(&self, line: &str, now: OffsetDateTime) -> String {
        let shown = if line.is_empty() || line.chars().any(|c| c.is_control()) {
            "unknown"
        } else {
            line
        };
        format!("500 5.3.3 Unrecognized command '{shown}' {}\r\n", self.bracket(now))
    }

    /// `530 5.7.57 Client not authenticated to send mail. [...]` (WIRE email-oauth2-proxy
    /// #258).
    pub fn not_authenticated(&self, now: OffsetDateTime) -> String {
        format!(
            "530 5.7.57 Client not authenticated to send mail. {}\r\n",
            self.bracket(now)
        )
    }

    /// `554 5.2.252 SendAsDenied; <user> not allowed to send as <from>; ...` (WIRE, a
    /// CodeIgniter debug log). The part after the second `;` is UNCONFIRMED (Exchange's
    /// store-driver wording).
    pub fn send_as_denied(&self, user: &str, from: &str, now: OffsetDateTime) -> String {
        format!(
            "554 5.2.252 SendAsDenied; {user} not allowed to send as {from}; STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message due to a permanent exception with message Cannot submit message. {}\r\n",
            self.bracket(now)
        )
    }

    /// `430 4.2.0 STOREDRV; mailbox logon failure; ... MapiExceptionLogonFailed ...` at
    /// DATA (WIRE email-oauth2-proxy #271; the elided parts are UNCONFIRMED).
    pub fn storedrv_logon_failure(&self, mailbox: &str, now: OffsetDateTime) -> String {
        format!(
            "430 4.2.0 STOREDRV; mailbox logon failure; Cannot open mailbox {mailbox}. MapiExceptionLogonFailed {}\r\n",
            self.bracket(now)
        )
    }

    /// End of DATA. UNCONFIRMED for 587 (no public capture, reference §3.2): Exchange
    /// Server's `Queued mail for delivery` shape.
    pub fn queued(&self, message_id: &str, internal_id: u64) -> String {
        format!(
            "250 2.6.0 {message_id} [InternalId={internal_id}, Hostname={}] Queued mail for delivery\r\n",
            self.fqdn
        )
    }

    /// An inactivity or pre-authentication timeout. UNCONFIRMED for Exchange Online
    /// (Exchange Server's wording).
    pub fn timeout(&self) -> String {
        "451 4.7.0 Timeout waiting for client input\r\n".into()
    }
}

/// The SIZE Exchange Online advertises: 150 MB (WIRE email-oauth2-proxy #95, PHPMailer
/// #1254). Messages are held to the smaller [`super::MAX_MESSAGE_SIZE`] at end of data.
pub const ADVERTISED_SIZE: u64 = 157_286_400;

pub const STARTTLS_READY: &str = "220 2.0.0 SMTP server ready\r\n";
pub const AUTH_SUCCESS: &str = "235 2.7.0 Authentication successful\r\n";
/// The continuation of AUTH XOAUTH2 without an initial response: `334` ([MS-OAUTH]
/// prints it bare; whether a space follows is UNCONFIRMED, so it is an option; the
/// default is the space, see [`super::SmtpConfig::continuation_space`]).
pub const CONTINUE_BARE: &str = "334\r\n";
pub const CONTINUE_SPACE: &str = "334 \r\n";
/// AUTH LOGIN's prompts, base64 `Username:` and `Password:` (RFC 4954 practice).
pub const LOGIN_USERNAME: &str = "334 VXNlcm5hbWU6\r\n";
pub const LOGIN_PASSWORD: &str = "334 UGFzc3dvcmQ6\r\n";
/// MAIL and RCPT (WIRE on Exchange Online Protection's port 25, ietf-tools/datatracker
/// PR #5888; same software family, used for 587 until a capture says otherwise).
pub const SENDER_OK: &str = "250 2.1.0 Sender OK\r\n";
pub const RECIPIENT_OK: &str = "250 2.1.5 Recipient OK\r\n";
// The rest: Exchange Server's wording, UNCONFIRMED for Exchange Online's 587.
pub const START_MAIL_INPUT: &str = "354 Start mail input; end with <CRLF>.<CRLF>\r\n";
pub const QUIT: &str = "221 2.0.0 Service closing transmission channel\r\n";
pub const RESET: &str = "250 2.0.0 Resetting\r\n";
pub const NOOP: &str = "250 2.0.0 OK\r\n";
pub const VRFY: &str = "252 2.1.5 Cannot VRFY user, but will take message for this user\r\n";
pub const SEND_HELLO_FIRST: &str = "503 5.5.2 Send hello first\r\n";
pub const NEED_MAIL: &str = "503 5.5.2 Need mail command\r\n";
pub const NEED_RCPT: &str = "503 5.5.2 Need rcpt command\r\n";
pub const SENDER_ALREADY: &str = "503 5.5.2 Sender already specified\r\n";
pub const ALREADY_AUTHENTICATED: &str = "503 5.5.2 Already authenticated\r\n";
pub const ALREADY_TLS: &str = "503 5.5.2 Already in TLS mode\r\n";
pub const INVALID_ARGUMENTS: &str = "501 5.5.4 Invalid arguments\r\n";
pub const INVALID_SENDER: &str = "501 5.1.7 Invalid address\r\n";
pub const INVALID_RECIPIENT: &str = "501 5.1.3 Invalid address\r\n";
pub const TOO_MANY_RECIPIENTS: &str = "452 4.5.3 Too many recipients\r\n";
pub const TOO_LARGE: &str = "552 5.3.4 Message size exceeds fixed maximum message size\r\n";
pub const BDAT_MIXED: &str = "503 5.5.1 Bad sequence of commands\r\n";
pub const SHUTTING_DOWN: &str = "421 4.3.2 Service not available, closing transmission channel\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_is_dotnet_ticks_in_hex() {
        // MailKit #1770's id is 2024-07-11T08:18:50.1711796Z in .NET ticks.
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_720_685_930_171_179_600).expect("time");
        assert_eq!(server_id(t), "08DCA18218166FB4");
    }

    #[test]
    fn banner_date_has_no_padded_day() {
        let t = OffsetDateTime::from_unix_timestamp(1_667_988_581).expect("time");
        assert_eq!(banner_date(t), "Wed, 9 Nov 2022 10:09:41 +0000");
    }
}
