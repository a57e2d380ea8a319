//! The recording formats.
//!
//! **IMAP, SMTP and POP3 recordings** (`fixtures/recordings/{imap,smtp,pop3}/*.txt`) use
//! the protocol's own
//! notation: `C:` lines the client sends, `S:` lines the server answers, `#` comments,
//! and `@key: value` directives. Placeholders are filled at replay time; `{*}` in an `S:`
//! line matches any run of characters (volatile parts). See `fixtures/README.md`.
//!
//! **Token-endpoint recordings** (`fixtures/recordings/token/*.json`) hold the request
//! form and the expected status, body (key order optional) and headers, with the volatile
//! fields named; `token_steps` fills `{device_code}` and `{refresh_token}`. GET
//! recordings (`discovery/*.json`) are the `http_get` module's.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    Tls,
    StartTls,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// The client sends this (placeholders still in it).
    C(String),
    /// The server must answer this (wildcards still in it). `<closed>` expects EOF.
    S(String),
    /// Move the server clock forward (in-process only).
    Advance(i64),
    /// Wait this many milliseconds before the next line (`@pause-ms:`), as a slow server does.
    Pause(u64),
    /// From here on, write the server's bytes one at a time with this many milliseconds
    /// between them (`@trickle-ms:`; 0 stops trickling).
    Trickle(u64),
}

/// Facts every recording states for the catalogue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    pub name: String,
    pub title: String,
    pub provenance: String,
    /// The failure cause (catalogue row), or empty for a success exchange.
    pub cause: String,
    /// What the token endpoint says.
    pub token_endpoint: String,
    /// How to fix it.
    pub fix: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapRecording {
    pub meta: Meta,
    pub transport: Transport,
    pub personality: String,
    /// Demo app whose token the placeholders use: `01`…`06`, `fabrikam`, or `08` with
    /// `signin` (a delegated token from the password grant).
    pub app: String,
    /// The demo user who signs in for a delegated token (`@signin:`).
    pub signin: Option<String>,
    pub scope: String,
    pub user: String,
    pub lines: Vec<Line>,
    /// Also replay against the client library, expecting this outcome (`exit=1 step=authenticate`).
    pub client_outcome: Option<(u8, Option<String>)>,
    /// Byte-exact encodings this recording vouches for: (user, token, base64).
    pub golden: Vec<(String, String, String)>,
    /// The protocol spoken (`@protocol:`): `imap` (default), `smtp`, `pop3` or `http`.
    /// Only IMAP recordings are replayed against servers by `run`; all can be played to clients.
    pub protocol: String,
    /// `@wire: escaped`: `S:` (and `C:`) lines are exact bytes written with the escapes of
    /// [`escape`] (`\r`, `\n`, `\xNN`, `\\`) and no CRLF is added. Fuzz findings use it,
    /// because their lines hold NULs, bare LFs, non-UTF-8 and unterminated lines.
    pub escaped: bool,
    /// Changes to the server's directory before the replay (`@setup:`), in-process only:
    /// `smtp-auth-disabled-for-tenant` (Set-TransportConfig -SmtpClientAuthenticationDisabled $true).
    pub setup: Vec<String>,
}

/// The `@setup:` values the in-process replay knows.
pub const SETUPS: &[&str] = &["smtp-auth-disabled-for-tenant"];

#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct FormatError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

pub fn parse_imap(name: &str, text: &str) -> Result<ImapRecording, FormatError> {
    let err = |line: usize, message: String| FormatError {
        file: name.to_string(),
        line,
        message,
    };
    let mut r = ImapRecording {
        meta: Meta {
            name: name.to_string(),
            ..Meta::default()
        },
        transport: Transport::Tls,
        personality: "exo-2025".into(),
        app: "01".into(),
        signin: None,
        scope: "https://outlook.office365.com/.default".into(),
        user: "test.user@contoso.com".into(),
        lines: Vec::new(),
        client_outcome: None,
        golden: Vec::new(),
        protocol: "imap".into(),
        escaped: false,
        setup: Vec::new(),
    };
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("C: ") {
            r.lines.push(Line::C(rest.to_string()));
        } else if line == "C:" {
            // An empty line the client sends (the blank line of a message, an empty SASL
            // response): trailing spaces are trimmed above.
            r.lines.push(Line::C(String::new()));
        } else if line == "S:" {
            // An empty line the server sends (the blank line inside a message literal).
            r.lines.push(Line::S(String::new()));
        } else if let Some(rest) = line.strip_prefix("S: ") {
            // `{SP}` is one space: lines are trimmed above, so a trailing space the server
            // sends (Exchange's `* STATUS INBOX (…) `) is written `{SP}`.
            r.lines.push(Line::S(rest.replace("{SP}", " ")));
        } else if let Some(rest) = line.strip_prefix('@') {
            let (key, value) = rest
                .split_once(':')
                .ok_or_else(|| err(n, format!("directive without ':': {line}")))?;
            let value = value.trim().to_string();
            match key.trim() {
                "title" => r.meta.title = value,
                "provenance" => r.meta.provenance = value,
                "cause" => r.meta.cause = value,
                "token-endpoint" => r.meta.token_endpoint = value,
                "fix" => r.meta.fix = value,
                "transport" => {
                    r.transport = match value.as_str() {
                        "tls" => Transport::Tls,
                        "starttls" => Transport::StartTls,
                        v => return Err(err(n, format!("transport {v:?}: expected tls or starttls"))),
                    }
                }
                "personality" => r.personality = value,
                "protocol" => match value.as_str() {
                    "imap" | "smtp" | "pop3" | "http" => r.protocol = value,
                    v => return Err(err(n, format!("protocol {v:?}: expected imap, smtp, pop3 or http"))),
                },
                "wire" => match value.as_str() {
                    "escaped" => r.escaped = true,
                    "lines" => r.escaped = false,
                    v => return Err(err(n, format!("wire {v:?}: expected escaped or lines"))),
                },
                "pause-ms" => r.lines.push(Line::Pause(
                    value
                        .parse()
                        .map_err(|_| err(n, format!("pause-ms {value:?}: expected milliseconds")))?,
                )),
                "trickle-ms" => r.lines.push(Line::Trickle(
                    value
                        .parse()
                        .map_err(|_| err(n, format!("trickle-ms {value:?}: expected milliseconds")))?,
                )),
                "setup" if SETUPS.contains(&value.as_str()) => r.setup.push(value),
                "setup" => return Err(err(n, format!("setup {value:?}: expected one of {SETUPS:?}"))),
                "app" => r.app = value,
                "signin" => r.signin = Some(value),
                "scope" => r.scope = value,
                "user" => r.user = value,
                "advance" => r.lines.push(Line::Advance(
                    value
                        .parse()
                        .map_err(|_| err(n, format!("advance {value:?}: expected seconds")))?,
                )),
                "client-outcome" => {
                    let mut exit = None;
                    let mut step = None;
                    for part in value.split_whitespace() {
                        match part.split_once('=') {
                            Some(("exit", v)) => exit = v.parse().ok(),
                            Some(("step", v)) => step = Some(v.to_string()),
                            _ => return Err(err(n, format!("client-outcome {part:?}: expected exit=N step=ID"))),
                        }
                    }
                    r.client_outcome = Some((exit.ok_or_else(|| err(n, "client-outcome needs exit=N".into()))?, step));
                }
                "golden-xoauth2" => {
                    let parts: Vec<&str> = value.split_whitespace().collect();
                    if parts.len() != 3 {
                        return Err(err(n, "golden-xoauth2 needs USER TOKEN BASE64".into()));
                    }
                    r.golden.push((parts[0].into(), parts[1].into(), parts[2].into()));
                }
                other => return Err(err(n, format!("unknown directive @{other}"))),
            }
        } else {
            return Err(err(n, format!("expected C:, S:, # or @: {line}")));
        }
    }
    if r.meta.title.is_empty() || r.meta.provenance.is_empty() {
        return Err(err(0, "every recording needs @title and @provenance".into()));
    }
    Ok(r)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRecording {
    #[serde(skip)]
    pub name: String,
    pub title: String,
    pub provenance: String,
    #[serde(default)]
    pub cause: String,
    #[serde(default)]
    pub fix: String,
    pub request: TokenRequest,
    pub expect: TokenExpect,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub tenant: String,
    /// `v2` (default) or `v1`.
    #[serde(default = "v2")]
    pub endpoint: String,
    pub form: BTreeMap<String, String>,
}

fn v2() -> String {
    "v2".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenExpect {
    pub status: u16,
    /// Expected fields; strings may hold `{*}` wildcards.
    pub body: serde_json::Map<String, serde_json::Value>,
    /// Fields that must be present with any value.
    #[serde(default)]
    pub volatile: Vec<String>,
    /// Expected claims of the issued access token.
    #[serde(default)]
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// Response headers that must be present with these values (`{*}` allowed); others
    /// are not checked. See `http_get::check_headers`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Also compare the order of the body's keys (as the capture has them).
    #[serde(default)]
    pub ordered: bool,
}

impl TokenRecording {
    pub fn meta(&self) -> Meta {
        Meta {
            name: self.name.clone(),
            title: self.title.clone(),
            provenance: self.provenance.clone(),
            cause: self.cause.clone(),
            token_endpoint: match self.expect.body.get("error_codes").and_then(|c| c.get(0)) {
                Some(code) => format!(
                    "{} `{}` AADSTS{}",
                    self.expect.status,
                    self.expect.body.get("error").and_then(|e| e.as_str()).unwrap_or(""),
                    code
                ),
                None => format!("{}, token issued", self.expect.status),
            },
            fix: self.fix.clone(),
        }
    }
}

/// Every recording shipped in `dir` (`imap/*.txt`, `smtp/*.txt`, `pop3/*.txt`,
/// `token/*.json`), sorted by name within each folder.
pub fn load_all(dir: &Path) -> Result<(Vec<ImapRecording>, Vec<TokenRecording>), String> {
    let mut imap = Vec::new();
    let mut token = Vec::new();
    let list = |sub: &str, ext: &str| -> Result<Vec<std::path::PathBuf>, String> {
        let mut v: Vec<_> = std::fs::read_dir(dir.join(sub))
            .map_err(|e| format!("{}: {e}", dir.join(sub).display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == ext))
            .collect();
        v.sort();
        Ok(v)
    };
    for sub in ["imap", "smtp", "pop3"] {
        // smtp/ and pop3/ are optional (a recordings folder of IMAP alone is valid).
        if sub != "imap" && !dir.join(sub).is_dir() {
            continue;
        }
        for p in list(sub, "txt")? {
            let name = format!(
                "{sub}/{}",
                p.file_stem().map(|s| s.to_string_lossy()).unwrap_or_default()
            );
            let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            let mut r = parse_imap(&name, &text).map_err(|e| e.to_string())?;
            // The folder names the protocol of smtp/ and pop3/ recordings.
            if sub != "imap" {
                r.protocol = sub.to_string();
            }
            imap.push(r);
        }
    }
    for p in list("token", "json")? {
        let name = format!(
            "token/{}",
            p.file_stem().map(|s| s.to_string_lossy()).unwrap_or_default()
        );
        let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        let mut t: TokenRecording = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?;
        t.name = name;
        token.push(t);
    }
    Ok((imap, token))
}

/// Does `actual` match `pattern`, where `{*}` matches any run of characters?
pub fn glob(pattern: &str, actual: &str) -> bool {
    let parts: Vec<&str> = pattern.split("{*}").collect();
    if parts.len() == 1 {
        return pattern == actual;
    }
    let Some(rest) = actual.strip_prefix(parts[0]) else {
        return false;
    };
    let last = parts[parts.len() - 1];
    if rest.len() < last.len() || !rest.ends_with(last) {
        return false;
    }
    let mut middle = &rest[..rest.len() - last.len()];
    for p in &parts[1..parts.len() - 1] {
        match middle.find(p) {
            Some(i) => middle = &middle[i + p.len()..],
            None => return false,
        }
    }
    true
}

/// Bytes shown with CR, LF, control bytes and non-ASCII escaped.
pub fn escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'\r' => "\\r".to_string(),
            b'\n' => "\\n".to_string(),
            b'\\' => "\\\\".to_string(),
            0x20..=0x7e => (b as char).to_string(),
            _ => format!("\\x{b:02x}"),
        })
        .collect()
}

/// The inverse of [`escape`]: `\\r`, `\\n`, `\\xNN` and `\\\\` become bytes; anything
/// else is taken as it is (so a stray backslash survives).
pub fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b'r' => {
                    out.push(b'\r');
                    i += 2;
                    continue;
                }
                b'n' => {
                    out.push(b'\n');
                    i += 2;
                    continue;
                }
                b'\\' => {
                    out.push(b'\\');
                    i += 2;
                    continue;
                }
                b'x' if i + 4 <= b.len() => {
                    let hex = |c: u8| (c as char).to_digit(16);
                    if let (Some(h), Some(l)) = (hex(b[i + 2]), hex(b[i + 3])) {
                        out.push((h * 16 + l) as u8);
                        i += 4;
                        continue;
                    }
                }
                _ => {}
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// [`escape`] for bytes that need not be UTF-8.
pub fn escape_bytes(b: &[u8]) -> String {
    b.iter()
        .map(|&c| match c {
            b'\r' => "\\r".to_string(),
            b'\n' => "\\n".to_string(),
            b'\\' => "\\\\".to_string(),
            0x20..=0x7e => (c as char).to_string(),
            _ => format!("\\x{c:02x}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globbing() {
        assert!(glob("a{*}c", "abbbc"));
        assert!(glob(
            "* CAPABILITY {*}AUTH=XOAUTH2{*}",
            "* CAPABILITY IMAP4 AUTH=XOAUTH2 SASL-IR"
        ));
        assert!(!glob("a{*}c", "abbb"));
        assert!(glob("x", "x") && !glob("x", "y"));
        assert!(glob("{*}", ""));
    }

    #[test]
    fn escaping_round_trips_every_byte() {
        let all: Vec<u8> = (0..=255u8).chain(*b"\\x4g\\").collect();
        assert_eq!(unescape(&escape_bytes(&all)), all);
        assert_eq!(unescape("a\\x00b\\r\\n"), b"a\x00b\r\n");
        assert_eq!(unescape("trailing\\"), b"trailing\\");
    }

    #[test]
    fn fuzz_directives_parse() {
        let r = parse_imap(
            "t",
            "@title: x\n@provenance: y\n@protocol: smtp\n@wire: escaped\n@pause-ms: 20\n@trickle-ms: 5\nS: 220 \\x00\\n\n",
        )
        .expect("parses");
        assert_eq!(r.protocol, "smtp");
        assert!(r.escaped);
        assert_eq!(r.lines[..2], [Line::Pause(20), Line::Trickle(5)]);
        assert!(parse_imap("t", "@title: x\n@provenance: y\n@protocol: gopher\n").is_err());
    }

    #[test]
    fn sp_keeps_a_trailing_space_the_trim_would_drop() {
        let r = parse_imap(
            "t",
            "@title: x\n@provenance: y\nS: * STATUS INBOX (MESSAGES 1){SP}   \n",
        )
        .expect("parses");
        assert_eq!(r.lines, [Line::S("* STATUS INBOX (MESSAGES 1) ".into())]);
        let r = parse_imap("t", "@title: x\n@provenance: y\nS: a\nS:\nS: b\n").expect("parses");
        assert_eq!(
            r.lines[1],
            Line::S(String::new()),
            "an empty server line inside a literal"
        );
    }

    #[test]
    fn parse_errors_name_the_line() {
        let e = parse_imap("t", "@title: x\n@provenance: y\nZ: nope\n").expect_err("bad line");
        assert_eq!(e.line, 3);
        assert!(parse_imap("t", "C: A1 NOOP\n").is_err(), "needs title and provenance");
    }
}
