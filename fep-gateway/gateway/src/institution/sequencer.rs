//! 전문번호 numbering: numbers are handed out from blocks reserved durably in the journal, one
//! range per business day. A crash loses at most the rest of a block (gaps, never reuse).
//!
//! I/O-free: the actor asks [`Sequencer::wants_block`] whether to reserve, does the journal
//! write itself and reports the result to [`Sequencer::on_reserved`].

use std::ops::Range;

/// 전문번호 reserved per journal write; a crash loses at most this many numbers.
pub(crate) const SEQ_BLOCK: u32 = 1000;

/// A block the actor should reserve in the journal now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reserve {
    /// Business day of the range.
    pub day: u32,
    /// Numbers wanted.
    pub block: u32,
    /// Last number of the day's range.
    pub max: u32,
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
}

impl Sequencer {
    /// No numbers yet for `day`; blocks of [`SEQ_BLOCK`], the day's range ends at `max`.
    pub fn new(day: u32, max: u32) -> Sequencer {
        Sequencer::with_block(day, SEQ_BLOCK, max)
    }

    /// Like [`Sequencer::new`] with another block size.
    pub fn with_block(day: u32, block: u32, max: u32) -> Sequencer {
        Sequencer {
            day,
            current: 0..0,
            spare: None,
            reserving: false,
            block: block.max(1),
            max,
        }
    }

    /// Business date (YYYYMMDD) of the numbers handed out.
    pub fn day(&self) -> u32 {
        self.day
    }

    /// The reservation to make now: when the current block is below a fifth and neither a
    /// spare nor a reservation is on its way. Marks it as on its way.
    pub fn wants_block(&mut self) -> Option<Reserve> {
        let low = self.current.len() < (self.block / 5) as usize;
        if self.reserving || self.spare.is_some() || !low {
            return None;
        }
        self.reserving = true;
        Some(Reserve {
            day: self.day,
            block: self.block,
            max: self.max,
        })
    }

    /// The journal's answer to a [`Reserve`] of `day`.
    pub fn on_reserved<E>(&mut self, day: u32, result: Result<Range<u32>, E>) -> Reserved {
        if day != self.day {
            // The reservation of the current day (if any) is still on its way.
            return Reserved::Stale;
        }
        self.reserving = false;
        match result {
            Ok(block) if self.current.is_empty() => self.current = block,
            Ok(block) => self.spare = Some(block),
            Err(_) => return Reserved::Failed,
        }
        Reserved::Accepted
    }

    /// The next 전문번호, if any is reserved.
    pub fn next(&mut self) -> Option<u32> {
        if self.current.is_empty() {
            if let Some(spare) = self.spare.take() {
                self.current = spare;
            }
        }
        self.current.next()
    }

    /// True when no number can be handed out until a reservation arrives.
    pub fn is_dry(&self) -> bool {
        self.current.is_empty() && self.spare.is_none()
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
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u32 = 20261122;

    #[test]
    fn numbers_come_in_order_from_reserved_blocks_with_a_spare_ahead() {
        let mut s = Sequencer::with_block(DAY, 10, 950_000);
        assert_eq!(s.next(), None, "nothing before the first block");
        let first = s.wants_block().expect("a block is wanted at once");
        assert_eq!(
            first,
            Reserve {
                day: DAY,
                block: 10,
                max: 950_000
            }
        );
        assert_eq!(s.wants_block(), None, "one reservation at a time");
        assert_eq!(s.on_reserved::<()>(DAY, Ok(1..11)), Reserved::Accepted);
        assert_eq!(s.wants_block(), None, "a full block needs no spare yet");
        let taken: Vec<u32> = (0..9).filter_map(|_| s.next()).collect();
        assert_eq!(taken, (1..10).collect::<Vec<_>>());
        // One left (< a fifth of 10): the spare is wanted now.
        assert!(s.wants_block().is_some());
        assert_eq!(s.on_reserved::<()>(DAY, Ok(11..21)), Reserved::Accepted);
        assert_eq!(s.wants_block(), None, "the spare is there");
        assert_eq!(
            (s.next(), s.next()),
            (Some(10), Some(11)),
            "current, then spare"
        );
        assert!(!s.is_dry());
    }

    #[test]
    fn a_day_change_drops_the_old_numbers_and_ignores_late_old_blocks() {
        let mut s = Sequencer::with_block(DAY, 10, 950_000);
        assert!(s.wants_block().is_some());
        assert_eq!(s.on_reserved::<()>(DAY, Ok(1..11)), Reserved::Accepted);
        assert!(s.wants_block().is_none());
        assert!(!s.change_day(DAY), "same day: nothing changes");
        assert!(s.change_day(DAY + 1));
        assert_eq!(s.day(), DAY + 1);
        assert!(s.is_dry(), "yesterday's numbers are not used today");
        let new = s.wants_block().expect("a block for the new day");
        assert_eq!(new.day, DAY + 1);
        // A block of the old day arriving now is a gap, and does not clear the pending one.
        assert_eq!(s.on_reserved::<()>(DAY, Ok(11..21)), Reserved::Stale);
        assert!(s.is_dry());
        assert_eq!(
            s.wants_block(),
            None,
            "the new day's reservation is still on its way"
        );
        assert_eq!(s.on_reserved::<()>(DAY + 1, Ok(1..11)), Reserved::Accepted);
        assert_eq!(s.next(), Some(1));
    }

    #[test]
    fn a_failed_reservation_can_be_retried() {
        let mut s = Sequencer::with_block(DAY, 10, 15);
        assert!(s.wants_block().is_some());
        assert_eq!(s.on_reserved(DAY, Err("exhausted")), Reserved::Failed);
        assert!(s.is_dry());
        assert_eq!(s.next(), None);
        assert!(s.wants_block().is_some(), "asked again on the next need");
    }
}
