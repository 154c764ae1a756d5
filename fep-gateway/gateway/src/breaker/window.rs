//! The closed-state sliding windows: the last N outcomes, or per-second buckets over the last N
//! seconds, both keeping running totals so a rate costs O(1).

use std::time::Instant;

use super::config::{BreakerConfig, WindowType};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Counts {
    pub(super) calls: u32,
    pub(super) failed: u32,
    pub(super) slow: u32,
}

impl Counts {
    pub(super) fn add(&mut self, other: Counts) {
        self.calls += other.calls;
        self.failed += other.failed;
        self.slow += other.slow;
    }

    pub(super) fn sub(&mut self, other: Counts) {
        self.calls = self.calls.saturating_sub(other.calls);
        self.failed = self.failed.saturating_sub(other.failed);
        self.slow = self.slow.saturating_sub(other.slow);
    }

    pub(super) fn one(failed: bool, slow: bool) -> Counts {
        Counts {
            calls: 1,
            failed: u32::from(failed),
            slow: u32::from(slow),
        }
    }

    pub(super) fn failure_rate(&self) -> f64 {
        rate(self.failed, self.calls)
    }

    pub(super) fn slow_rate(&self) -> f64 {
        rate(self.slow, self.calls)
    }
}

fn rate(part: u32, whole: u32) -> f64 {
    if whole == 0 {
        0.0
    } else {
        f64::from(part) * 100.0 / f64::from(whole)
    }
}

/// The last N outcomes, with running totals (subtract on evict).
#[derive(Debug)]
pub(super) struct CountWindow {
    size: usize,
    ring: Vec<Counts>,
    next: usize,
    pub(super) total: Counts,
}

impl CountWindow {
    pub(super) fn new(size: u32) -> CountWindow {
        CountWindow {
            size: size as usize,
            ring: Vec::with_capacity(size as usize),
            next: 0,
            total: Counts::default(),
        }
    }

    pub(super) fn record(&mut self, c: Counts) {
        if self.ring.len() < self.size {
            self.ring.push(c);
        } else if let Some(slot) = self.ring.get_mut(self.next) {
            self.total.sub(*slot);
            *slot = c;
        }
        self.next = (self.next + 1) % self.size.max(1);
        self.total.add(c);
    }
}

/// Per-second buckets over the last N seconds, with running totals (subtract on evict).
#[derive(Debug)]
pub(super) struct TimeWindow {
    epoch: Instant,
    buckets: Vec<Counts>,
    /// The second (since `epoch`) the newest bucket belongs to.
    head: u64,
    pub(super) total: Counts,
}

impl TimeWindow {
    pub(super) fn new(size: u32, epoch: Instant) -> TimeWindow {
        TimeWindow {
            epoch,
            buckets: vec![Counts::default(); size as usize],
            head: 0,
            total: Counts::default(),
        }
    }

    fn second(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_secs()
    }

    fn index(&self, sec: u64) -> usize {
        (sec % self.buckets.len() as u64) as usize
    }

    /// Seconds after `head` up to `sec` whose buckets expire, at most one full turn.
    fn expiring(&self, sec: u64) -> std::ops::RangeInclusive<u64> {
        let last = sec.min(self.head + self.buckets.len() as u64);
        self.head + 1..=last
    }

    fn advance(&mut self, now: Instant) {
        let sec = self.second(now);
        if sec <= self.head {
            return;
        }
        for s in self.expiring(sec) {
            let i = self.index(s);
            self.total.sub(self.buckets[i]);
            self.buckets[i] = Counts::default();
        }
        self.head = sec;
    }

    pub(super) fn record(&mut self, c: Counts, now: Instant) {
        self.advance(now);
        // A `now` earlier than `head` (caller's clock went back) lands in the newest bucket.
        let i = self.index(self.head);
        self.buckets[i].add(c);
        self.total.add(c);
    }

    /// Totals as they would be at `now`, without mutating.
    pub(super) fn totals_at(&self, now: Instant) -> Counts {
        let sec = self.second(now);
        let mut total = self.total;
        if sec > self.head {
            for s in self.expiring(sec) {
                total.sub(self.buckets[self.index(s)]);
            }
        }
        total
    }
}

#[derive(Debug)]
pub(super) enum Window {
    Count(CountWindow),
    Time(TimeWindow),
}

impl Window {
    pub(super) fn new(config: &BreakerConfig, now: Instant) -> Window {
        match config.sliding_window_type {
            WindowType::CountBased => Window::Count(CountWindow::new(config.sliding_window_size)),
            WindowType::TimeBased => Window::Time(TimeWindow::new(config.sliding_window_size, now)),
        }
    }

    pub(super) fn record(&mut self, c: Counts, now: Instant) -> Counts {
        match self {
            Window::Count(w) => {
                w.record(c);
                w.total
            }
            Window::Time(w) => {
                w.record(c, now);
                w.total
            }
        }
    }

    pub(super) fn totals_at(&self, now: Instant) -> Counts {
        match self {
            Window::Count(w) => w.total,
            Window::Time(w) => w.totals_at(now),
        }
    }
}
