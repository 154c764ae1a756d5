//! Time: the gateway reads UTC instants through a [`Clock`], and each institution converts them
//! to its own business time zone (an IANA name, `Asia/Seoul` by default) for 전송일자/전송시간,
//! the business date and the date-change sign-on. The host's time zone plays no part.
//!
//! A telegram's date and time come from one reading ([`BusinessTime`]), so a telegram can never
//! carry yesterday's date with today's time. Tests start a [`StartedClock`] just before midnight
//! to exercise the date change without waiting for one.

use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc};
pub use chrono_tz::Tz;

/// Korea Standard Time (`Asia/Seoul`): the default business time zone, and the zone of a
/// `--clock-start` value written without an offset.
pub const KST: Tz = chrono_tz::Asia::Seoul;

/// A source of wall-clock time.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// Shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that starts at a given instant and advances with tokio's clock (real time, or a
/// test's paused time).
#[derive(Debug, Clone, Copy)]
pub struct StartedClock {
    start: DateTime<Utc>,
    at: tokio::time::Instant,
}

/// A `--clock-start` value that is neither an RFC 3339 instant nor a local date and time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a start time: write 2026-11-22T23:59:55 (Korea time) \
     or an instant with its offset, 2026-11-22T14:59:55Z"
)]
pub struct ClockStartError(String);

impl StartedClock {
    /// Starts counting from `start` now.
    pub fn new(start: DateTime<Utc>) -> StartedClock {
        StartedClock {
            start,
            at: tokio::time::Instant::now(),
        }
    }

    /// Starts counting from `start`, a date and time in Korea (KST).
    pub fn at_kst(start: NaiveDateTime) -> StartedClock {
        StartedClock::new(in_zone(start, KST))
    }

    /// Reads a start time: an RFC 3339 instant with its offset (`2026-11-22T14:59:55Z`,
    /// `2026-11-22T23:59:55+09:00`) or a date and time without one, which is Korea time
    /// (`2026-11-22T23:59:55`, optionally with fractional seconds) whatever the institutions'
    /// zones.
    pub fn parse(text: &str) -> Result<StartedClock, ClockStartError> {
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return Ok(StartedClock::new(t.with_timezone(&Utc)));
        }
        NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
            .map(StartedClock::at_kst)
            .map_err(|_| ClockStartError(text.to_owned()))
    }
}

impl Clock for StartedClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = chrono::Duration::from_std(self.at.elapsed())
            .unwrap_or_else(|_| chrono::Duration::zero());
        self.start + elapsed
    }
}

/// The instant a local date and time of `zone` stands for: the earlier one when it occurs
/// twice (clocks set back), the first valid instant after it when it does not occur (clocks
/// set forward).
pub fn in_zone(local: NaiveDateTime, zone: Tz) -> DateTime<Utc> {
    // A gap is at most a few hours (most are one): look minute by minute for its end.
    (0..=24 * 60)
        .find_map(|m| {
            zone.from_local_datetime(&(local + chrono::Duration::minutes(m)))
                .earliest()
        })
        .map_or_else(|| local.and_utc(), |t| t.with_timezone(&Utc))
}

/// One reading of the clock in a business time zone: the 전송일자 and 전송시간 of one telegram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusinessTime {
    /// The business date, `YYYYMMDD`.
    pub day: u32,
    /// The time of day, `hhmmss`.
    pub hms: u32,
}

impl BusinessTime {
    /// `utc` as a date and time in `zone`.
    pub fn at(utc: DateTime<Utc>, zone: Tz) -> BusinessTime {
        let local = utc.with_timezone(&zone);
        BusinessTime {
            day: day_of(&local),
            hms: hms_of(&local),
        }
    }
}

/// When the business day after the one `utc` falls on begins in `zone` (its local midnight, or
/// the first instant of that date when midnight does not occur).
pub fn next_day_start(utc: DateTime<Utc>, zone: Tz) -> DateTime<Utc> {
    let today = utc.with_timezone(&zone).date_naive();
    let tomorrow = today.succ_opt().unwrap_or(today);
    in_zone(tomorrow.and_time(NaiveTime::MIN), zone)
}

/// YYYYMMDD of a date.
pub fn day_of(t: &impl Datelike) -> u32 {
    t.year().unsigned_abs() * 10_000 + t.month() * 100 + t.day()
}

/// hhmmss of a time.
pub fn hms_of(t: &impl Timelike) -> u32 {
    t.hour() * 10_000 + t.minute() * 100 + t.second()
}

/// mmddhhmmss of a time (the poll stamp).
pub fn poll_stamp<T: Datelike + Timelike>(t: &T) -> String {
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

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn formats() {
        let t = NaiveDateTime::parse_from_str("2026-11-22 09:30:15", "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(day_of(&t), 20261122);
        assert_eq!(hms_of(&t), 93015);
        assert_eq!(poll_stamp(&t), "1122093015");
    }

    /// The business date and time are the institution zone's, whatever the host's: 14:59:59.9
    /// UTC is 23:59:59 in Seoul and 09:59:59 in New York; 15:00 UTC is the next day in Seoul.
    #[test]
    fn one_reading_gives_the_date_and_time_of_the_institutions_zone() {
        let before = utc("2026-11-30T14:59:59.9Z");
        assert_eq!(
            BusinessTime::at(before, KST),
            BusinessTime {
                day: 20261130,
                hms: 235959
            }
        );
        assert_eq!(
            BusinessTime::at(before, chrono_tz::America::New_York),
            BusinessTime {
                day: 20261130,
                hms: 95959
            }
        );
        assert_eq!(
            BusinessTime::at(utc("2026-11-30T15:00:00Z"), KST),
            BusinessTime {
                day: 20261201,
                hms: 0
            }
        );
        assert_eq!(
            next_day_start(before, KST),
            utc("2026-11-30T15:00:00Z"),
            "100 ms later"
        );
        assert_eq!(
            next_day_start(before, chrono_tz::America::New_York),
            utc("2026-12-01T05:00:00Z")
        );
    }

    /// A zone whose clocks jump at midnight: the day begins at the first instant that exists.
    #[test]
    fn a_day_without_midnight_begins_when_its_clocks_start() {
        // Santiago moved from -04 to -03 at 2022-09-11 00:00 local: 00:00–00:59 did not occur.
        let zone = chrono_tz::America::Santiago;
        let start = next_day_start(utc("2022-09-10T12:00:00Z"), zone);
        assert_eq!(start, utc("2022-09-11T04:00:00Z"));
        assert_eq!(
            BusinessTime::at(start, zone),
            BusinessTime {
                day: 20220911,
                hms: 10000
            }
        );
    }

    #[test]
    fn a_start_time_is_korea_time_unless_it_says_otherwise() {
        let kst = StartedClock::parse("2026-11-22T23:59:55").unwrap();
        assert!(kst.now() >= utc("2026-11-22T14:59:55Z"));
        assert!(kst.now() < utc("2026-11-22T15:00:55Z"));
        let z = StartedClock::parse("2026-11-22T23:59:55Z").unwrap();
        assert!(z.now() >= utc("2026-11-22T23:59:55Z"));
        let offset = StartedClock::parse("2026-11-22T23:59:55-05:00").unwrap();
        assert!(offset.now() >= utc("2026-11-23T04:59:55Z"));
        assert_eq!(
            StartedClock::parse("23:59").err(),
            Some(ClockStartError("23:59".into()))
        );
    }
}
