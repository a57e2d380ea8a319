//! The server clock: read, freeze, resume, advance, offset.

use super::http::{to_value, Params};
use super::{rfc3339, Admin, AdminError, Result};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

/// Largest clock move in one call: ten years either way, as `/_mock/clock/advance`,
/// keeps the date arithmetic in range.
pub const MAX_CLOCK_MOVE_SECS: i64 = 10 * 366 * 86_400;

#[derive(Debug, Clone, Serialize)]
pub struct ClockInfo {
    #[serde(with = "time::serde::rfc3339")]
    pub now: OffsetDateTime,
    pub frozen: bool,
}

impl Admin {
    pub fn clock(&self) -> ClockInfo {
        ClockInfo {
            now: self.core.clock.now(),
            frozen: self.core.clock.is_frozen(),
        }
    }

    /// Freeze the clock at its current reading.
    pub fn freeze_clock(&self) -> ClockInfo {
        self.core.clock.freeze();
        let c = self.clock();
        self.note("freeze the clock".into(), &rfc3339(c.now));
        c
    }

    /// Let the clock run again, `offset_secs` from the system clock.
    pub fn resume_clock(&self, offset_secs: i64) -> Result<ClockInfo> {
        check_clock_move(offset_secs)?;
        self.core.clock.resume(time::Duration::seconds(offset_secs));
        let c = self.clock();
        self.note(format!("resume the clock with offset {offset_secs} s"), &rfc3339(c.now));
        Ok(c)
    }

    /// Move the clock by `seconds` (negative: back).
    pub fn advance_clock(&self, seconds: i64) -> Result<ClockInfo> {
        check_clock_move(seconds)?;
        self.core.clock.advance(time::Duration::seconds(seconds));
        let c = self.clock();
        self.note(format!("advance the clock by {seconds} s"), &rfc3339(c.now));
        Ok(c)
    }

    /// Run (or stay frozen) at system time plus `seconds`.
    pub fn set_clock_offset(&self, seconds: i64) -> Result<ClockInfo> {
        check_clock_move(seconds)?;
        let to = OffsetDateTime::now_utc() + time::Duration::seconds(seconds);
        self.core.clock.set(to);
        let c = self.clock();
        self.note(format!("set the clock offset to {seconds} s"), &rfc3339(c.now));
        Ok(c)
    }
}

fn check_clock_move(seconds: i64) -> Result<()> {
    if seconds.abs() > MAX_CLOCK_MOVE_SECS {
        return Err(AdminError::invalid(format!(
            "{seconds} s: at most {MAX_CLOCK_MOVE_SECS} s either way"
        )));
    }
    Ok(())
}

// ---- the admin API (and CLI) binding: verb names and named parameters ----

/// This area's verbs and their parameters, for usage lines and `mock-server admin --help`.
pub const VERBS: &[(&str, &str)] = &[
    ("get-clock", ""),
    ("freeze-clock", ""),
    ("resume-clock", "[--offset SECONDS]"),
    ("advance-clock", "--seconds N"),
    ("set-clock-offset", "--seconds N"),
];

/// Run one of this area's verbs; `Ok(None)` when `verb` is not one of them.
pub(super) fn call(admin: &Admin, verb: &str, p: &mut Params) -> Result<Option<Value>> {
    let out = match verb {
        "get-clock" => {
            p.finish()?;
            to_value(admin.clock())
        }
        "freeze-clock" => {
            p.finish()?;
            to_value(admin.freeze_clock())
        }
        "resume-clock" => {
            let offset = p.opt_i64("offset")?.unwrap_or(0);
            p.finish()?;
            to_value(admin.resume_clock(offset)?)
        }
        "advance-clock" => {
            let seconds = p.i64("seconds")?;
            p.finish()?;
            to_value(admin.advance_clock(seconds)?)
        }
        "set-clock-offset" => {
            let seconds = p.i64("seconds")?;
            p.finish()?;
            to_value(admin.set_clock_offset(seconds)?)
        }
        _ => return Ok(None),
    };
    Ok(Some(out))
}
