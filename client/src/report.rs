//! The result of a check: steps, a diagnosis, and what was found. Printed for a person
//! or as one JSON document for CI.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Stable identifier, e.g. `token`, `authenticate`.
    pub id: &'static str,
    pub status: Status,
    /// What was checked and what came out, for a person.
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageLine {
    pub seq: u32,
    pub date: String,
    pub from: String,
    pub subject: String,
}

/// Documented exit codes.
pub const EXIT_REACHABLE: u8 = 0;
pub const EXIT_REFUSED: u8 = 1;
pub const EXIT_ERROR: u8 = 2;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub reachable: bool,
    pub exit_code: u8,
    pub steps: Vec<Step>,
    /// What to do, most likely cause first.
    pub diagnosis: Vec<String>,
    /// The token's claims that matter (never the token itself).
    pub token: Option<crate::claims::Claims>,
    pub message_count: Option<u32>,
    pub messages: Vec<MessageLine>,
    /// SMTP: the Message-ID of the test message sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_message_id: Option<String>,
    /// The redacted HTTP and IMAP trace (`-v`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trace: Vec<String>,
}

impl Report {
    pub fn new() -> Self {
        Self {
            reachable: false,
            exit_code: EXIT_ERROR,
            steps: Vec::new(),
            diagnosis: Vec::new(),
            token: None,
            message_count: None,
            messages: Vec::new(),
            sent_message_id: None,
            trace: Vec::new(),
        }
    }

    pub fn step(&mut self, id: &'static str, status: Status, detail: impl Into<String>) {
        self.steps.push(Step {
            id,
            status,
            detail: detail.into(),
        });
    }

    /// The first failed step, if any.
    pub fn failed(&self) -> Option<&Step> {
        self.steps.iter().find(|s| s.status == Status::Fail)
    }

    /// The human form.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for s in &self.steps {
            let mark = match s.status {
                Status::Ok => "[OK]  ",
                Status::Warn => "[WARN]",
                Status::Fail => "[FAIL]",
            };
            out.push_str(&format!("{mark} {}\n", s.detail));
        }
        if !self.messages.is_empty() {
            out.push_str("------------ Messages ------------\n");
            for m in &self.messages {
                out.push_str(&format!("  {:>4}  {}  {}  {}\n", m.seq, m.date, m.from, m.subject));
            }
        }
        if !self.diagnosis.is_empty() {
            out.push_str("\nWhat to check, most likely first:\n");
            for (i, d) in self.diagnosis.iter().enumerate() {
                out.push_str(&format!("  {}. {d}\n", i + 1));
            }
        }
        out
    }
}

impl Default for Report {
    fn default() -> Self {
        Self::new()
    }
}
