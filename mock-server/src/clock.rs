//! One injected clock, used by everything that issues or checks a token.
//!
//! Tests make tokens expire by advancing this clock, never by sleeping. The clock is
//! either the system clock plus an offset, or frozen at an instant that only moves when
//! told to.

use std::sync::{Arc, Mutex, PoisonError};
use time::{Duration, OffsetDateTime};

#[derive(Clone, Debug)]
pub struct Clock {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// System time plus an offset (zero by default).
    System { offset: Duration },
    /// Frozen at an instant.
    Frozen { at: OffsetDateTime },
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self {
            state: Arc::new(Mutex::new(State::System { offset: Duration::ZERO })),
        }
    }

    /// A clock frozen at `at`; it moves only through [`Clock::advance`] or [`Clock::set`].
    pub fn frozen(at: OffsetDateTime) -> Self {
        Self {
            state: Arc::new(Mutex::new(State::Frozen { at })),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        // A poisoned lock only means another thread panicked while holding it; the
        // state (a plain Copy value) is still valid.
        let mut guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    }

    pub fn now(&self) -> OffsetDateTime {
        self.with(|s| match *s {
            State::System { offset } => OffsetDateTime::now_utc() + offset,
            State::Frozen { at } => at,
        })
    }

    /// Seconds since the Unix epoch, as used in JWT NumericDate claims.
    pub fn unix(&self) -> i64 {
        self.now().unix_timestamp()
    }

    /// Move the clock forward (or backward with a negative duration).
    pub fn advance(&self, by: Duration) {
        self.with(|s| match s {
            State::System { offset } => *offset += by,
            State::Frozen { at } => *at += by,
        })
    }

    /// Freeze the clock at its current reading.
    pub fn freeze(&self) {
        let now = self.now();
        self.with(|s| *s = State::Frozen { at: now })
    }

    /// Jump to an instant; a frozen clock stays frozen, a running clock keeps running.
    pub fn set(&self, to: OffsetDateTime) {
        self.with(|s| match s {
            State::System { offset } => *offset = to - OffsetDateTime::now_utc(),
            State::Frozen { at } => *at = to,
        })
    }

    /// Is the clock frozen (moving only when told)?
    pub fn is_frozen(&self) -> bool {
        self.with(|s| matches!(s, State::Frozen { .. }))
    }

    /// Let the clock run again with the system clock plus `offset`.
    pub fn resume(&self, offset: Duration) {
        self.with(|s| *s = State::System { offset })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn frozen_clock_moves_only_when_told() {
        let c = Clock::frozen(datetime!(2026-01-01 0:00 UTC));
        assert_eq!(c.now(), datetime!(2026-01-01 0:00 UTC));
        c.advance(Duration::hours(2));
        assert_eq!(c.now(), datetime!(2026-01-01 2:00 UTC));
        c.set(datetime!(2030-05-05 0:00 UTC));
        assert_eq!(c.unix(), datetime!(2030-05-05 0:00 UTC).unix_timestamp());
    }

    #[test]
    fn system_clock_offset_applies() {
        let c = Clock::system();
        c.advance(Duration::days(365));
        let diff = c.now() - OffsetDateTime::now_utc();
        assert!(diff > Duration::days(364) && diff < Duration::days(366));
    }
}
