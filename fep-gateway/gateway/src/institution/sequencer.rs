//! 전문번호 numbering: numbers are handed out from blocks reserved durably in the journal, one
//! range per business day. A crash loses at most the rest of a block (gaps, never reuse).
//!
//! The range is a resource. Its last `reserve` numbers are kept for the gateway's own
//! telegrams — result inquiries and session telegrams (sign-on, sign-off) — so that when
//! callers' requests have used up their share, every unknown can still be resolved and the
//! session still be opened and closed. Callers' requests take numbers up to `max - reserve`
//! only ([`Class::Request`]); the gateway's own telegrams take any ([`Class::Own`]). Once the
//! requests' share is gone, reserve numbers are reserved a few at a time, as they are needed
//! (one is kept at hand for a sign-off), so a crash loses at most those: a restart on the same
//! day still finds the rest of the reserve.
//!
//! I/O-free: the actor asks [`Sequencer::wants_block`] whether to reserve, does the journal
//! write itself and reports the result to [`Sequencer::on_reserved`].

use std::ops::Range;

/// 전문번호 reserved per journal write; a crash loses at most this many numbers.
pub(crate) const SEQ_BLOCK: u32 = 1000;
/// Most reserve numbers taken in one journal write (for the gateway's own telegrams waiting).
const RESERVE_BLOCK: u32 = 16;

/// Who wants a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// A caller's request: up to `max - reserve`.
    Request,
    /// The gateway's own telegram (result inquiry, sign-on, sign-off): any number.
    Own,
}

/// Which part of the range a reservation draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pool {
    /// Numbers for everyone, up to `max - reserve`.
    Shared,
    /// The reserve, after the shared numbers are gone.
    Reserve,
}

/// A block the actor should reserve in the journal now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reserve {
    /// Business day of the range.
    pub day: u32,
    /// Numbers wanted.
    pub block: u32,
    /// Last number the block may reach.
    pub max: u32,
    /// What it is for.
    pub pool: Pool,
}

/// Why a reservation brought no numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shortage {
    /// The journal has handed out everything up to the reservation's `max`; `next` is the
    /// first number it never handed out.
    Exhausted {
        /// The journal's next number (everything below it is used).
        next: u32,
    },
    /// The journal could not reserve (I/O, busy): asked again at the next need.
    Failed,
}

/// What a reservation's result did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reserved {
    /// The block is in use or kept as the spare.
    Accepted,
    /// Reserved for a day that has since ended: its numbers are just gaps.
    Stale,
    /// The journal could not reserve: nothing to hand out until a later reservation succeeds.
    Failed,
    /// The pool asked for is used up for the day (see [`Sequencer::exhaustion`]).
    Exhausted,
}

/// Whether a number can be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Availability {
    /// At once.
    Now,
    /// Once a reservation comes back (the actor makes sure one is on its way).
    Soon,
    /// Not today.
    Exhausted,
}

/// How much of the day's range is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Exhaustion {
    /// Numbers remain for everyone.
    None,
    /// Callers' requests have used up their share; the reserve remains.
    Requests,
    /// The reserve is used up too.
    All,
}

/// The day's usage of the range, for status and metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Usage {
    /// Business date (YYYYMMDD).
    pub day: u32,
    /// Highest number known to be gone: handed out, or lost to a crash.
    pub used: u32,
    /// Last number of the range.
    pub max: u32,
    /// Numbers at the end of the range kept for the gateway's own telegrams.
    pub reserve: u32,
    /// How much is gone.
    pub exhaustion: Exhaustion,
}

impl Usage {
    /// `used / max`.
    pub fn ratio(&self) -> f64 {
        if self.max == 0 {
            return 1.0;
        }
        f64::from(self.used) / f64::from(self.max)
    }
}

/// The numbers of one institution.
#[derive(Debug)]
pub(crate) struct Sequencer {
    day: u32,
    current: Range<u32>,
    /// The next block, reserved before `current` runs out so requests never wait for it.
    spare: Option<Range<u32>>,
    reserving: bool,
    block: u32,
    max: u32,
    /// Numbers at the end of the range kept for the gateway's own telegrams.
    reserve: u32,
    /// Highest number known to be gone today.
    used: u32,
    exhaustion: Exhaustion,
    /// `used` at which the warning is due (0 = never), and whether it was given today.
    warn_at: u32,
    warned: bool,
}

impl Sequencer {
    /// No numbers yet for `day`; blocks of [`SEQ_BLOCK`], the day's range ends at `max`, of
    /// which the last `reserve` are for the gateway's own telegrams.
    pub fn new(day: u32, max: u32, reserve: u32) -> Sequencer {
        Sequencer::with_block(day, SEQ_BLOCK, max, reserve)
    }

    /// Like [`Sequencer::new`] with another block size.
    pub fn with_block(day: u32, block: u32, max: u32, reserve: u32) -> Sequencer {
        Sequencer {
            day,
            current: 0..0,
            spare: None,
            reserving: false,
            block: block.max(1),
            max,
            reserve: reserve.min(max),
            used: 0,
            exhaustion: Exhaustion::None,
            warn_at: 0,
            warned: false,
        }
    }

    /// Warns (once a day, see [`Sequencer::take_warning`]) when `percent` of the range is used.
    pub fn warn_at_percent(mut self, percent: u32) -> Sequencer {
        self.warn_at = (u64::from(self.max) * u64::from(percent)).div_ceil(100) as u32;
        self
    }

    /// Business date (YYYYMMDD) of the numbers handed out.
    pub fn day(&self) -> u32 {
        self.day
    }

    /// The last number callers' requests may have.
    fn requests_max(&self) -> u32 {
        self.max - self.reserve
    }

    /// The reservation to make now, `own_waiting` being the gateway's own telegrams waiting
    /// for a number. Shared numbers: when the current block is below a fifth and neither a
    /// spare nor a reservation is on its way. Once those are gone, reserve numbers: as many as
    /// are waiting (a few at most), and one at hand. Marks it as on its way.
    pub fn wants_block(&mut self, own_waiting: usize) -> Option<Reserve> {
        if self.reserving || self.spare.is_some() {
            return None;
        }
        let r = match self.exhaustion {
            Exhaustion::None if self.current.len() < (self.block / 5) as usize => Reserve {
                day: self.day,
                block: self.block,
                max: self.requests_max(),
                pool: Pool::Shared,
            },
            Exhaustion::Requests if self.current.len() < own_waiting.max(1) => Reserve {
                day: self.day,
                block: (own_waiting as u32).clamp(1, RESERVE_BLOCK),
                max: self.max,
                pool: Pool::Reserve,
            },
            _ => return None,
        };
        self.reserving = true;
        Some(r)
    }

    /// The journal's answer to a [`Reserve`].
    pub fn on_reserved(&mut self, r: Reserve, result: Result<Range<u32>, Shortage>) -> Reserved {
        if r.day != self.day {
            // The reservation of the current day (if any) is still on its way.
            return Reserved::Stale;
        }
        self.reserving = false;
        match result {
            Ok(block) => {
                self.used = self.used.max(block.start.saturating_sub(1));
                if self.current.is_empty() {
                    self.current = block;
                } else {
                    self.spare = Some(block);
                }
                Reserved::Accepted
            }
            Err(Shortage::Exhausted { next }) => {
                self.used = self.used.max(next.saturating_sub(1).min(self.max));
                self.exhaustion = self.exhaustion.max(match r.pool {
                    Pool::Shared => Exhaustion::Requests,
                    Pool::Reserve => Exhaustion::All,
                });
                if self.reserve == 0 {
                    self.exhaustion = Exhaustion::All;
                }
                Reserved::Exhausted
            }
            Err(Shortage::Failed) => Reserved::Failed,
        }
    }

    /// Whether `class` can have a number.
    pub fn availability(&self, class: Class) -> Availability {
        let at_hand = match (&self.current, &self.spare) {
            (c, _) if !c.is_empty() => Some(c.start),
            (_, Some(spare)) => Some(spare.start),
            _ => None,
        };
        let exhausted = match class {
            Class::Request => self.exhaustion >= Exhaustion::Requests,
            Class::Own => self.exhaustion == Exhaustion::All,
        };
        match at_hand {
            Some(n) if class == Class::Own || n <= self.requests_max() => Availability::Now,
            _ if exhausted => Availability::Exhausted,
            _ => Availability::Soon,
        }
    }

    /// The next 전문번호 for `class`, if one is reserved.
    pub fn next(&mut self, class: Class) -> Option<u32> {
        if self.availability(class) != Availability::Now {
            return None;
        }
        if self.current.is_empty() {
            self.current = self.spare.take()?;
        }
        let n = self.current.next()?;
        self.used = self.used.max(n);
        Some(n)
    }

    /// How much of today's range is gone.
    pub fn usage(&self) -> Usage {
        Usage {
            day: self.day,
            used: self.used,
            max: self.max,
            reserve: self.reserve,
            exhaustion: self.exhaustion,
        }
    }

    /// True once a day, when the usage has reached the warning threshold.
    pub fn take_warning(&mut self) -> bool {
        if self.warned || self.warn_at == 0 || self.used < self.warn_at {
            return false;
        }
        self.warned = true;
        true
    }

    /// Switches to `today` if the business date changed: the old day's numbers are dropped
    /// (gaps) and a reservation for the new day is due. True when it changed.
    pub fn change_day(&mut self, today: u32) -> bool {
        if today == self.day {
            return false;
        }
        self.day = today;
        self.current = 0..0;
        self.spare = None;
        self.reserving = false;
        self.used = 0;
        self.exhaustion = Exhaustion::None;
        self.warned = false;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u32 = 20261122;

    /// The journal's answer: `numbers` for the reservation `r` now wanted.
    fn grant(s: &mut Sequencer, numbers: Range<u32>) -> Reserved {
        let r = s.wants_block(0).expect("a reservation is due");
        s.on_reserved(r, Ok(numbers))
    }

    fn take(s: &mut Sequencer, class: Class, n: usize) -> Vec<u32> {
        (0..n).filter_map(|_| s.next(class)).collect()
    }

    #[test]
    fn numbers_come_in_order_from_reserved_blocks_with_a_spare_ahead() {
        let mut s = Sequencer::with_block(DAY, 10, 950_000, 0);
        assert_eq!(
            s.next(Class::Request),
            None,
            "nothing before the first block"
        );
        let first = s.wants_block(0).expect("a block is wanted at once");
        assert_eq!(
            first,
            Reserve {
                day: DAY,
                block: 10,
                max: 950_000,
                pool: Pool::Shared,
            }
        );
        assert_eq!(s.wants_block(0), None, "one reservation at a time");
        assert_eq!(s.on_reserved(first, Ok(1..11)), Reserved::Accepted);
        assert_eq!(s.wants_block(0), None, "a full block needs no spare yet");
        assert_eq!(take(&mut s, Class::Request, 9), (1..10).collect::<Vec<_>>());
        // One left (< a fifth of 10): the spare is wanted now.
        assert_eq!(grant(&mut s, 11..21), Reserved::Accepted);
        assert_eq!(s.wants_block(0), None, "the spare is there");
        assert_eq!(
            (s.next(Class::Request), s.next(Class::Own)),
            (Some(10), Some(11)),
            "current, then spare"
        );
        assert_eq!(s.availability(Class::Request), Availability::Now);
    }

    #[test]
    fn a_day_change_drops_the_old_numbers_and_ignores_late_old_blocks() {
        let mut s = Sequencer::with_block(DAY, 10, 950_000, 0);
        let old = s.wants_block(0).expect("a block");
        assert_eq!(s.on_reserved(old, Ok(1..11)), Reserved::Accepted);
        assert!(s.wants_block(0).is_none());
        assert!(!s.change_day(DAY), "same day: nothing changes");
        assert!(s.change_day(DAY + 1));
        assert_eq!(s.day(), DAY + 1);
        assert_eq!(
            s.availability(Class::Request),
            Availability::Soon,
            "yesterday's numbers are not used today"
        );
        let new = s.wants_block(0).expect("a block for the new day");
        assert_eq!(new.day, DAY + 1);
        // A block of the old day arriving now is a gap, and does not clear the pending one.
        assert_eq!(s.on_reserved(old, Ok(11..21)), Reserved::Stale);
        assert_eq!(s.next(Class::Request), None);
        assert_eq!(
            s.wants_block(0),
            None,
            "the new day's reservation is still on its way"
        );
        assert_eq!(s.on_reserved(new, Ok(1..11)), Reserved::Accepted);
        assert_eq!(s.next(Class::Request), Some(1));
    }

    #[test]
    fn a_failed_reservation_can_be_retried() {
        let mut s = Sequencer::with_block(DAY, 10, 15, 0);
        let r = s.wants_block(0).expect("a block");
        assert_eq!(s.on_reserved(r, Err(Shortage::Failed)), Reserved::Failed);
        assert_eq!(s.availability(Class::Request), Availability::Soon);
        assert_eq!(s.next(Class::Request), None);
        assert!(s.wants_block(0).is_some(), "asked again on the next need");
    }

    /// Range 1..=30 with 5 kept: requests stop at 25; the gateway's own telegrams get the
    /// rest of the shared numbers, then reserve numbers one need at a time (one at hand), and
    /// only when those are gone too is nothing left.
    #[test]
    fn requests_stop_at_the_reserve_which_the_gateways_own_telegrams_still_use() {
        let mut s = Sequencer::with_block(DAY, 1000, 30, 5);
        let r = s.wants_block(0).expect("a block");
        assert_eq!(
            (r.max, r.pool),
            (25, Pool::Shared),
            "never past the reserve"
        );
        assert_eq!(s.on_reserved(r, Ok(1..26)), Reserved::Accepted);
        // Below a fifth of the block at once: the journal says the shared numbers are gone.
        let r = s.wants_block(0).expect("a spare");
        assert_eq!(
            s.on_reserved(r, Err(Shortage::Exhausted { next: 26 })),
            Reserved::Exhausted
        );
        assert_eq!(s.usage().exhaustion, Exhaustion::Requests);
        assert_eq!(s.wants_block(0), None, "shared numbers still at hand");
        assert_eq!(
            take(&mut s, Class::Request, 23),
            (1..24).collect::<Vec<_>>()
        );
        assert_eq!(s.next(Class::Own), Some(24), "own telegrams share them");
        assert_eq!(s.next(Class::Request), Some(25));
        assert_eq!(s.availability(Class::Request), Availability::Exhausted);
        assert_eq!(s.next(Class::Request), None);
        assert_eq!(s.availability(Class::Own), Availability::Soon);

        // One reserve number at hand; more when more own telegrams wait (a few at a time).
        let r = s.wants_block(0).expect("one at hand");
        assert_eq!((r.block, r.max, r.pool), (1, 30, Pool::Reserve));
        assert_eq!(s.on_reserved(r, Ok(26..27)), Reserved::Accepted);
        assert_eq!(s.availability(Class::Own), Availability::Now);
        assert_eq!(
            s.availability(Class::Request),
            Availability::Exhausted,
            "a reserve number is never a request's"
        );
        assert_eq!(s.wants_block(0), None, "one at hand is enough");
        let r = s.wants_block(3).expect("three own telegrams wait");
        assert_eq!(r.block, 3);
        assert_eq!(s.on_reserved(r, Ok(27..30)), Reserved::Accepted);
        assert_eq!(take(&mut s, Class::Own, 5), [26, 27, 28, 29]);
        let r = s.wants_block(0).expect("one at hand");
        assert_eq!(s.on_reserved(r, Ok(30..31)), Reserved::Accepted);
        assert_eq!(s.next(Class::Own), Some(30));
        let r = s.wants_block(0).expect("one at hand");
        assert_eq!(
            s.on_reserved(r, Err(Shortage::Exhausted { next: 31 })),
            Reserved::Exhausted
        );
        assert_eq!(s.availability(Class::Own), Availability::Exhausted);
        assert_eq!(s.wants_block(5), None, "nothing left to ask for today");
        let u = s.usage();
        assert_eq!(
            (u.used, u.max, u.reserve, u.exhaustion),
            (30, 30, 5, Exhaustion::All)
        );
        assert_eq!(u.ratio(), 1.0);

        // A new day starts over.
        assert!(s.change_day(DAY + 1));
        assert_eq!(s.usage().exhaustion, Exhaustion::None);
        assert_eq!(s.wants_block(0).map(|r| r.pool), Some(Pool::Shared));
    }

    /// After a restart the same day the journal's first answer is "shared numbers gone": the
    /// usage says how far the previous run got, and the reserve is still there.
    #[test]
    fn a_restart_after_the_requests_share_is_gone_finds_the_reserve() {
        let mut s = Sequencer::with_block(DAY, 1000, 30, 5);
        let r = s.wants_block(0).expect("a block");
        assert_eq!(
            s.on_reserved(r, Err(Shortage::Exhausted { next: 28 })),
            Reserved::Exhausted
        );
        assert_eq!(
            s.usage().used,
            27,
            "what the previous run used, lost numbers included"
        );
        assert_eq!(s.availability(Class::Request), Availability::Exhausted);
        assert_eq!(s.availability(Class::Own), Availability::Soon);
        let r = s.wants_block(1).expect("the sign-on's number");
        assert_eq!(s.on_reserved(r, Ok(28..29)), Reserved::Accepted);
        assert_eq!(s.next(Class::Own), Some(28));

        // Without a reserve nothing is left once the shared numbers are.
        let mut bare = Sequencer::with_block(DAY, 1000, 30, 0);
        let r = bare.wants_block(0).expect("a block");
        bare.on_reserved(r, Err(Shortage::Exhausted { next: 31 }));
        assert_eq!(bare.availability(Class::Own), Availability::Exhausted);
    }

    #[test]
    fn the_usage_warning_is_given_once_a_day_at_the_threshold() {
        let mut s = Sequencer::with_block(DAY, 10, 10, 2).warn_at_percent(80);
        assert_eq!(grant(&mut s, 1..9), Reserved::Accepted);
        take(&mut s, Class::Request, 7);
        assert!(!s.take_warning(), "7 of 10");
        assert_eq!(s.next(Class::Request), Some(8));
        assert!(s.take_warning(), "8 of 10 = 80 %");
        assert!(!s.take_warning(), "once");
        assert!((s.usage().ratio() - 0.8).abs() < 1e-9);
        s.change_day(DAY + 1);
        assert_eq!(s.usage().used, 0);
        assert_eq!(grant(&mut s, 1..9), Reserved::Accepted);
        take(&mut s, Class::Request, 8);
        assert!(s.take_warning(), "again the next day");
    }
}
