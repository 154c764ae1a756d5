//! Wall-clock time in Korea (KST, UTC+9, no daylight saving), injectable for tests.
//!
//! 전송일자 and the daily 전문번호 range follow the Korean business date, so the gateway reads
//! time only through a [`Clock`]; tests start a clock just before midnight to exercise the
//! date change (re-sign-on, new number range) without waiting for one.

use std::sync::Arc;
use std::time::Instant;

use chrono::{Datelike, Duration, NaiveDateTime, Timelike, Utc};

/// A source of KST wall-clock time.
pub trait Clock: Send + Sync {
    /// The current KST date and time.
    fn now(&self) -> NaiveDateTime;
}

/// Shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// The system clock, shifted to KST.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> NaiveDateTime {
        Utc::now().naive_utc() + Duration::hours(9)
    }
}

/// A clock that starts at a given KST time and advances in real time.
#[derive(Debug, Clone, Copy)]
pub struct StartedClock {
    start: NaiveDateTime,
    at: Instant,
}

impl StartedClock {
    /// Starts counting from `start` now.
    pub fn new(start: NaiveDateTime) -> StartedClock {
        StartedClock {
            start,
            at: Instant::now(),
        }
    }
}

impl Clock for StartedClock {
    fn now(&self) -> NaiveDateTime {
        let elapsed = Duration::from_std(self.at.elapsed()).unwrap_or_else(|_| Duration::zero());
        self.start + elapsed
    }
}

/// YYYYMMDD of a time.
pub fn day_of(t: &NaiveDateTime) -> u32 {
    t.year() as u32 * 10_000 + t.month() * 100 + t.day()
}

/// hhmmss of a time.
pub fn hms_of(t: &NaiveDateTime) -> u32 {
    t.hour() * 10_000 + t.minute() * 100 + t.second()
}

/// mmddhhmmss of a time (the poll stamp).
pub fn poll_stamp(t: &NaiveDateTime) -> String {
    format!(
        "{:02}{:02}{:02}{:02}{:02}",
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let t = NaiveDateTime::parse_from_str("2026-11-22 09:30:15", "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(day_of(&t), 20261122);
        assert_eq!(hms_of(&t), 93015);
        assert_eq!(poll_stamp(&t), "1122093015");
        let c = StartedClock::new(t);
        assert!(c.now() >= t);
    }
}
