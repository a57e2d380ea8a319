//! The unmutated answers of `fuzz-client`'s scripted servers: a small reactive server per
//! protocol that answers whatever a client sends the way the recordings and the wire
//! reference say Exchange Online does (greeting, CAPABILITY/EHLO/CAPA, XOAUTH2 with or
//! without an initial response, a mailbox with one message, LOGOUT/QUIT). Sans-I/O: lines
//! in, writes out; [`super::client`] owns the sockets and the mutations.

use super::Protocol;

/// The message every mailbox holds (its literal gives literal mutations something to aim at).
const MESSAGE: &str = "From: a@contoso.com\r\nSubject: hi\r\n\r\nhello\r\n";

/// One client line's answer: the writes (each one line, or one part of an HTTP response)
/// and whether the server then closes.
#[derive(Debug, Default)]
pub struct Reply {
    pub writes: Vec<String>,
    pub close: bool,
}

impl Reply {
    fn lines(lines: &[String]) -> Reply {
        Reply {
            writes: lines.iter().map(|l| format!("{l}\r\n")).collect(),
            close: false,
        }
    }
}

#[derive(Debug)]
pub struct Responder {
    p: Protocol,
    /// The tag (IMAP) or nothing, of a SASL exchange waiting for the client's response line.
    sasl_pending: Option<String>,
    /// SMTP: inside DATA until the lone dot.
    in_data: bool,
}

impl Responder {
    pub fn new(p: Protocol) -> Self {
        Responder {
            p,
            sasl_pending: None,
            in_data: false,
        }
    }

    pub fn greeting(&self) -> Vec<String> {
        let blob = crate::replay::greeting_blob();
        match self.p {
            Protocol::Imap => vec![format!("* OK The Microsoft Exchange IMAP4 service is ready. [{blob}]\r\n")],
            Protocol::Pop3 => vec![format!("+OK The Microsoft Exchange POP3 service is ready. [{blob}]\r\n")],
            Protocol::Smtp => vec![
                "220 AM3PR05CA0094.outlook.office365.com Microsoft ESMTP MAIL Service ready at Wed, 9 Nov 2022 10:09:41 +0000 [08DCE8B62813AB2B]\r\n".into(),
            ],
            Protocol::Http => Vec::new(),
        }
    }

    /// The answer to one client line (without its line end).
    pub fn on_line(&mut self, line: &str) -> Reply {
        match self.p {
            Protocol::Imap => self.imap(line),
            Protocol::Smtp => self.smtp(line),
            Protocol::Pop3 => self.pop3(line),
            Protocol::Http => Reply::default(),
        }
    }

    fn imap(&mut self, line: &str) -> Reply {
        if let Some(tag) = self.sasl_pending.take() {
            return Reply::lines(&[if line == "*" {
                format!("{tag} NO The AUTH protocol exchange was canceled by the client.")
            } else {
                format!("{tag} OK AUTHENTICATE completed.")
            }]);
        }
        let mut words = line.split(' ');
        let tag = words.next().unwrap_or("*").to_string();
        let cmd = words.next().unwrap_or("").to_ascii_uppercase();
        let args: Vec<&str> = words.collect();
        let ok = |text: &str| format!("{tag} OK {text}");
        let lines: Vec<String> = match cmd.as_str() {
            "CAPABILITY" => vec![
                "* CAPABILITY IMAP4 IMAP4rev1 AUTH=XOAUTH2 LOGINDISABLED SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+".into(),
                ok("CAPABILITY completed."),
            ],
            "AUTHENTICATE" if args.len() == 1 => {
                self.sasl_pending = Some(tag.clone());
                vec!["+".into()]
            }
            "AUTHENTICATE" => vec![ok("AUTHENTICATE completed.")],
            "LOGIN" => vec![format!("{tag} NO LOGIN failed.")],
            "SELECT" | "EXAMINE" => vec![
                "* 1 EXISTS".into(),
                "* 0 RECENT".into(),
                "* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $MDNSent)".into(),
                "* OK [PERMANENTFLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $MDNSent)] Permanent flags".into(),
                "* OK [UIDVALIDITY 14] UIDVALIDITY value".into(),
                "* OK [UIDNEXT 2] The next unique identifier value".into(),
                ok(&format!("[READ-WRITE] {cmd} completed.")),
            ],
            "STATUS" => vec!["* STATUS INBOX (MESSAGES 1 UIDNEXT 2)".into(), ok("STATUS completed.")],
            "LIST" | "LSUB" => vec![format!("* {cmd} (\\HasNoChildren) \"/\" INBOX"), ok(&format!("{cmd} completed."))],
            "NAMESPACE" => vec!["* NAMESPACE ((\"\" \"/\")) NIL NIL".into(), ok("NAMESPACE completed.")],
            "ID" => vec!["* ID NIL".into(), ok("ID completed.")],
            "FETCH" | "UID" => vec![
                format!("* 1 FETCH (UID 1 FLAGS (\\Seen) BODY[] {{{}}}\r\n{MESSAGE})", MESSAGE.len()),
                ok(&format!("{cmd} completed.")),
            ],
            "SEARCH" => vec!["* SEARCH 1".into(), ok("SEARCH completed.")],
            "NOOP" | "CHECK" | "CLOSE" | "UNSELECT" | "EXPUNGE" | "STORE" | "ENABLE" => {
                vec![ok(&format!("{cmd} completed."))]
            }
            "LOGOUT" => {
                let mut r = Reply::lines(&[
                    "* BYE Microsoft Exchange Server IMAP4 server signing off.".into(),
                    ok("LOGOUT completed."),
                ]);
                r.close = true;
                return r;
            }
            _ => vec![format!("{tag} BAD Command Error. 12")],
        };
        Reply::lines(&lines)
    }

    fn smtp(&mut self, line: &str) -> Reply {
        if self.in_data {
            if line == "." {
                self.in_data = false;
                return Reply::lines(&["250 2.6.0 <fuzz@contoso.com> Queued mail for delivery".into()]);
            }
            return Reply::default();
        }
        if self.sasl_pending.take().is_some() {
            return Reply::lines(&[if line == "*" {
                "501 5.0.0 Authentication canceled".into()
            } else {
                "235 2.7.0 Authentication successful".into()
            }]);
        }
        let upper = line.to_ascii_uppercase();
        let verb = upper.split(' ').next().unwrap_or("");
        let lines: Vec<String> = match verb {
            "EHLO" => [
                "250-AM3PR05CA0094.outlook.office365.com Hello [127.0.0.1]",
                "250-SIZE 157286400",
                "250-PIPELINING",
                "250-DSN",
                "250-ENHANCEDSTATUSCODES",
                "250-AUTH LOGIN XOAUTH2",
                "250-8BITMIME",
                "250-BINARYMIME",
                "250-CHUNKING",
                "250 SMTPUTF8",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            "HELO" => vec!["250 AM3PR05CA0094.outlook.office365.com Hello [127.0.0.1]".into()],
            "AUTH" if upper.split(' ').count() == 2 => {
                self.sasl_pending = Some(String::new());
                vec!["334 ".into()]
            }
            "AUTH" => vec!["235 2.7.0 Authentication successful".into()],
            "MAIL" => vec!["250 2.1.0 Sender OK".into()],
            "RCPT" => vec!["250 2.1.5 Recipient OK".into()],
            "DATA" => {
                self.in_data = true;
                vec!["354 Start mail input; end with <CRLF>.<CRLF>".into()]
            }
            "RSET" => vec!["250 2.0.0 Resetting".into()],
            "NOOP" => vec!["250 2.0.0 OK".into()],
            "QUIT" => {
                let mut r = Reply::lines(&["221 2.0.0 Service closing transmission channel".into()]);
                r.close = true;
                return r;
            }
            _ => vec!["500 5.3.3 Unrecognized command 'unknown'".into()],
        };
        Reply::lines(&lines)
    }

    fn pop3(&mut self, line: &str) -> Reply {
        if self.sasl_pending.take().is_some() {
            return Reply::lines(&[if line == "*" {
                "-ERR The AUTH protocol exchange was canceled by the client.".into()
            } else {
                "+OK User successfully authenticated.".into()
            }]);
        }
        let upper = line.to_ascii_uppercase();
        let verb = upper.split(' ').next().unwrap_or("");
        let msg_lines = || MESSAGE.trim_end().split("\r\n").map(str::to_string).collect::<Vec<_>>();
        let lines: Vec<String> = match verb {
            "CAPA" => ["+OK", "TOP", "UIDL", "SASL PLAIN XOAUTH2", "USER", "."]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            "AUTH" if upper.split(' ').count() == 2 => {
                self.sasl_pending = Some(String::new());
                vec!["+ ".into()]
            }
            "AUTH" => {
                let mut r = Reply::lines(&["-ERR Protocol error. Connection is closed. 10".into()]);
                r.close = true;
                return r;
            }
            "STAT" => vec![format!("+OK 1 {}", MESSAGE.len())],
            "LIST" => vec!["+OK 1 messages".into(), format!("1 {}", MESSAGE.len()), ".".into()],
            "UIDL" => vec!["+OK".into(), "1 AAMkAGI2".into(), ".".into()],
            "RETR" | "TOP" => [vec!["+OK".to_string()], msg_lines(), vec![".".to_string()]].concat(),
            "NOOP" | "DELE" | "RSET" => vec!["+OK".into()],
            "QUIT" => {
                let mut r = Reply::lines(&["+OK Microsoft Exchange Server POP3 server signing off.".into()]);
                r.close = true;
                return r;
            }
            _ => vec!["-ERR Command is not valid in this state.".into()],
        };
        Reply::lines(&lines)
    }

    /// The token endpoint's answer to any request, one write per part, so mutations can
    /// aim at the status line, a header, the blank line or the body.
    pub fn http_response() -> Vec<String> {
        let body = format!(
            "{{\"token_type\":\"Bearer\",\"expires_in\":3599,\"ext_expires_in\":3599,\"access_token\":\"{}\"}}",
            super::FAKE_TOKEN
        );
        vec![
            "HTTP/1.1 200 OK\r\n".into(),
            "Content-Type: application/json; charset=utf-8\r\n".into(),
            "Cache-Control: no-store, no-cache\r\n".into(),
            format!("Content-Length: {}\r\n", body.len()),
            "Connection: close\r\n".into(),
            "\r\n".into(),
            body,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imap_answers_both_sasl_paths_and_logout_closes() {
        let mut r = Responder::new(Protocol::Imap);
        assert_eq!(r.on_line("a1 AUTHENTICATE XOAUTH2").writes, ["+\r\n"]);
        assert_eq!(r.on_line("dXNlcj0=").writes, ["a1 OK AUTHENTICATE completed.\r\n"]);
        assert_eq!(
            r.on_line("a2 AUTHENTICATE XOAUTH2 dXNlcj0=").writes,
            ["a2 OK AUTHENTICATE completed.\r\n"]
        );
        assert!(r.on_line("a3 LOGOUT").close);
    }

    #[test]
    fn smtp_and_pop3_follow_the_reference() {
        let mut s = Responder::new(Protocol::Smtp);
        assert_eq!(s.on_line("EHLO x").writes.len(), 10);
        assert_eq!(s.on_line("AUTH XOAUTH2").writes, ["334 \r\n"]);
        assert_eq!(s.on_line("blob").writes, ["235 2.7.0 Authentication successful\r\n"]);
        let mut p = Responder::new(Protocol::Pop3);
        assert!(
            p.on_line("AUTH XOAUTH2 blob").close,
            "single-line AUTH closes, as on Exchange"
        );
    }
}
