//! A circuit breaker with Resilience4j semantics, owned by one institution actor.
//!
//! Written by hand rather than taken from crates.io: `failsafe` (1.3) only offers
//! consecutive-failure and success-rate-over-time policies (no slow-call rate, no bounded set of
//! half-open trial calls), and `tower-resilience-circuitbreaker` / `tower-circuitbreaker` are
//! Tower middleware that wrap a `Service` future behind shared state and the real clock. Our
//! call's outcome arrives later as a separate actor event (a matched response, a timeout, a link
//! death), and the tests need an injected clock, so a plain `&mut self` state machine fits better
//! than any of them.
//!
//! # Model
//!
//! - **CLOSED**: every call is permitted; outcomes go into a sliding window, either the last
//!   `sliding_window_size` calls ([`WindowType::CountBased`]) or the last
//!   `sliding_window_size` seconds bucketed per second ([`WindowType::TimeBased`]). Once the
//!   window holds at least `minimum_number_of_calls` calls (for a count window, at most its
//!   size), the breaker opens when the failure rate **or** the slow-call rate is greater than or
//!   equal to its threshold.
//! - **OPEN**: every call is rejected with the time left until `wait_duration_in_open_state` has
//!   passed; the first [`CircuitBreaker::try_acquire`] (or [`CircuitBreaker::poll`]) after that
//!   moves to HALF_OPEN.
//! - **HALF_OPEN**: exactly `permitted_calls_in_half_open` trial calls are admitted; further
//!   calls are rejected until the trials are recorded. When all trials are in, the breaker closes
//!   (fresh window) if both rates are below their thresholds, else it opens again. With
//!   `max_wait_in_half_open` set, a half-open state that lasts that long (trials stuck) opens.
//!
//! # Recording outcomes
//!
//! Every [`Permit`] must be given back exactly once:
//! - [`CircuitBreaker::on_failure`]: the institution or the path to it is unhealthy — transport
//!   errors, a write that failed, a response timeout, the link dying with the call in flight, and
//!   responses carrying a *system* error code (institution down, system busy, format error).
//! - [`CircuitBreaker::on_success`]: the institution answered in a well-formed way, **including
//!   business declines** (insufficient funds, invalid account, …): a decline proves the
//!   institution works, and its latency still counts toward the slow-call rate.
//! - [`CircuitBreaker::on_ignored`]: the call says nothing about the institution — it was never
//!   sent (rejected locally after admission, cancelled, shut down). In HALF_OPEN this frees the
//!   trial slot.
//!
//! One deviation from Resilience4j: a permit carries the state generation it was issued in, and
//! an outcome recorded after a state change (e.g. a CLOSED-era call finishing while HALF_OPEN) is
//! dropped instead of being counted against the new state, so half-open decisions are made on the
//! trial calls only.

use std::fmt;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer};

use crate::config::duration_serde;

/// Largest accepted `sliding_window_size`, bounding the window's memory.
pub const MAX_WINDOW_SIZE: u32 = 100_000;

/// Longest accepted open-state or half-open wait.
pub const MAX_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// How the closed-state window forgets old calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowType {
    /// The last `sliding_window_size` calls.
    #[serde(alias = "COUNT_BASED")]
    CountBased,
    /// The calls of the last `sliding_window_size` seconds, bucketed per second.
    #[serde(alias = "TIME_BASED")]
    TimeBased,
}

/// Circuit breaker settings (Resilience4j names, snake_case; durations as `"5s"`, `"300ms"`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// Count- or time-based window.
    pub sliding_window_type: WindowType,
    /// Calls (count-based) or seconds (time-based) kept in the window.
    pub sliding_window_size: u32,
    /// Failure rate in percent (0 < x ≤ 100) at or above which the breaker opens.
    pub failure_rate_threshold: f64,
    /// Slow-call rate in percent (0 < x ≤ 100) at or above which the breaker opens.
    pub slow_call_rate_threshold: f64,
    /// A call taking longer than this is slow.
    #[serde(with = "duration_serde")]
    pub slow_call_duration: Duration,
    /// Calls the window must hold before any rate is evaluated.
    pub minimum_number_of_calls: u32,
    /// Time spent OPEN before trial calls are admitted.
    #[serde(with = "duration_serde")]
    pub wait_duration_in_open_state: Duration,
    /// Trial calls admitted in HALF_OPEN.
    pub permitted_calls_in_half_open: u32,
    /// If set, HALF_OPEN lasting this long (trials never finished) opens the breaker again.
    #[serde(deserialize_with = "optional_duration")]
    pub max_wait_in_half_open: Option<Duration>,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            sliding_window_type: WindowType::CountBased,
            sliding_window_size: 100,
            failure_rate_threshold: 50.0,
            slow_call_rate_threshold: 100.0,
            slow_call_duration: Duration::from_secs(5),
            minimum_number_of_calls: 20,
            wait_duration_in_open_state: Duration::from_secs(10),
            permitted_calls_in_half_open: 5,
            max_wait_in_half_open: None,
        }
    }
}

fn optional_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapped(#[serde(with = "duration_serde")] Duration);
    Option::<Wrapped>::deserialize(d).map(|w| w.map(|Wrapped(d)| d))
}

/// A [`BreakerConfig`] value out of range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BreakerConfigError {
    /// A percentage threshold outside (0, 100].
    #[error("{field} must be in (0, 100], got {value}")]
    Threshold {
        /// The offending field.
        field: &'static str,
        /// Its value.
        value: f64,
    },
    /// A wait longer than [`MAX_WAIT`].
    #[error("{field} must be at most {max:?}, got {value:?}")]
    Wait {
        /// The offending field.
        field: &'static str,
        /// Its value.
        value: Duration,
        /// The longest accepted value.
        max: Duration,
    },
    /// A count that must be at least 1 (and at most its limit).
    #[error("{field} must be between 1 and {max}, got {value}")]
    Count {
        /// The offending field.
        field: &'static str,
        /// Its value.
        value: u32,
        /// The largest accepted value.
        max: u32,
    },
}

impl BreakerConfig {
    /// Checks every value's range.
    pub fn validate(&self) -> Result<(), BreakerConfigError> {
        for (field, value) in [
            ("failure_rate_threshold", self.failure_rate_threshold),
            ("slow_call_rate_threshold", self.slow_call_rate_threshold),
        ] {
            // `!(x > 0)` also refuses NaN.
            if !(value > 0.0 && value <= 100.0) {
                return Err(BreakerConfigError::Threshold { field, value });
            }
        }
        for (field, value) in [
            ("sliding_window_size", self.sliding_window_size),
            ("minimum_number_of_calls", self.minimum_number_of_calls),
            (
                "permitted_calls_in_half_open",
                self.permitted_calls_in_half_open,
            ),
        ] {
            if value == 0 || value > MAX_WINDOW_SIZE {
                return Err(BreakerConfigError::Count {
                    field,
                    value,
                    max: MAX_WINDOW_SIZE,
                });
            }
        }
        let waits = [
            (
                "wait_duration_in_open_state",
                Some(self.wait_duration_in_open_state),
            ),
            ("max_wait_in_half_open", self.max_wait_in_half_open),
        ];
        for (field, value) in waits {
            if let Some(value) = value.filter(|v| *v > MAX_WAIT) {
                return Err(BreakerConfigError::Wait {
                    field,
                    value,
                    max: MAX_WAIT,
                });
            }
        }
        Ok(())
    }
}

/// Breaker state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Calls flow; outcomes are measured.
    Closed,
    /// Calls are rejected until the wait is over.
    Open,
    /// A fixed number of trial calls decide between CLOSED and OPEN.
    HalfOpen,
}

impl State {
    /// Upper-case name as Resilience4j prints it (for logs and metric labels).
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "CLOSED",
            State::Open => "OPEN",
            State::HalfOpen => "HALF_OPEN",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a transition happened.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reason {
    /// The failure rate (percent) reached the threshold.
    FailureRate(f64),
    /// The slow-call rate (percent) reached the threshold.
    SlowCallRate(f64),
    /// The open-state wait is over.
    WaitElapsed,
    /// All trial calls were recorded and both rates were below the thresholds.
    TrialsPassed,
    /// `max_wait_in_half_open` passed before the trials were recorded.
    HalfOpenTimedOut,
    /// [`CircuitBreaker::reset`] was called.
    Reset,
}

/// A state change, returned so the caller can log it and update metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transition {
    /// State before.
    pub from: State,
    /// State after.
    pub to: State,
    /// Why.
    pub reason: Reason,
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {} (", self.from, self.to)?;
        match self.reason {
            Reason::FailureRate(r) => write!(f, "failure rate {r:.1}%")?,
            Reason::SlowCallRate(r) => write!(f, "slow-call rate {r:.1}%")?,
            Reason::WaitElapsed => f.write_str("open wait elapsed")?,
            Reason::TrialsPassed => f.write_str("trial calls passed")?,
            Reason::HalfOpenTimedOut => f.write_str("half-open wait exceeded")?,
            Reason::Reset => f.write_str("reset")?,
        }
        f.write_str(")")
    }
}

/// Permission for one call; give it back through exactly one of the record methods.
#[derive(Debug)]
#[must_use = "a permit must be recorded with on_success, on_failure or on_ignored"]
pub struct Permit {
    generation: u64,
    acquired_at: Instant,
    transition: Option<Transition>,
}

impl Permit {
    /// The transition (OPEN → HALF_OPEN) that this acquisition caused, if any.
    pub fn transition(&self) -> Option<Transition> {
        self.transition
    }

    /// When the permit was issued.
    pub fn acquired_at(&self) -> Instant {
        self.acquired_at
    }
}

/// A call that was not permitted.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("circuit breaker {state}: call not permitted")]
pub struct Rejected {
    /// State that refused the call (OPEN, or HALF_OPEN with all trials taken).
    pub state: State,
    /// When OPEN, the time left until trial calls are admitted; `None` in HALF_OPEN (it depends
    /// on when the trials finish).
    pub retry_after: Option<Duration>,
    /// A transition made while deciding (HALF_OPEN → OPEN on `max_wait_in_half_open`).
    pub transition: Option<Transition>,
}

/// Point-in-time measurements of the breaker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metrics {
    /// Current state.
    pub state: State,
    /// Failure rate in percent of the current window; `None` below the minimum number of calls.
    /// In OPEN the figures are those of the window (or trials) that tripped the breaker.
    pub failure_rate: Option<f64>,
    /// Slow-call rate in percent of the current window; `None` below the minimum.
    pub slow_call_rate: Option<f64>,
    /// Calls in the current window (the trial calls recorded so far, in HALF_OPEN).
    pub buffered_calls: u32,
    /// Failed calls in the window.
    pub failed_calls: u32,
    /// Slow calls in the window (failed or not).
    pub slow_calls: u32,
    /// Calls rejected since the breaker was created.
    pub not_permitted_calls: u64,
    /// Outcomes dropped because they belonged to an earlier state.
    pub stale_outcomes: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    calls: u32,
    failed: u32,
    slow: u32,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.calls += other.calls;
        self.failed += other.failed;
        self.slow += other.slow;
    }

    fn sub(&mut self, other: Counts) {
        self.calls = self.calls.saturating_sub(other.calls);
        self.failed = self.failed.saturating_sub(other.failed);
        self.slow = self.slow.saturating_sub(other.slow);
    }

    fn one(failed: bool, slow: bool) -> Counts {
        Counts {
            calls: 1,
            failed: u32::from(failed),
            slow: u32::from(slow),
        }
    }

    fn failure_rate(&self) -> f64 {
        rate(self.failed, self.calls)
    }

    fn slow_rate(&self) -> f64 {
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
struct CountWindow {
    size: usize,
    ring: Vec<Counts>,
    next: usize,
    total: Counts,
}

impl CountWindow {
    fn new(size: u32) -> CountWindow {
        CountWindow {
            size: size as usize,
            ring: Vec::with_capacity(size as usize),
            next: 0,
            total: Counts::default(),
        }
    }

    fn record(&mut self, c: Counts) {
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
struct TimeWindow {
    epoch: Instant,
    buckets: Vec<Counts>,
    /// The second (since `epoch`) the newest bucket belongs to.
    head: u64,
    total: Counts,
}

impl TimeWindow {
    fn new(size: u32, epoch: Instant) -> TimeWindow {
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

    fn record(&mut self, c: Counts, now: Instant) {
        self.advance(now);
        // A `now` earlier than `head` (caller's clock went back) lands in the newest bucket.
        let i = self.index(self.head);
        self.buckets[i].add(c);
        self.total.add(c);
    }

    /// Totals as they would be at `now`, without mutating.
    fn totals_at(&self, now: Instant) -> Counts {
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
enum Window {
    Count(CountWindow),
    Time(TimeWindow),
}

impl Window {
    fn new(config: &BreakerConfig, now: Instant) -> Window {
        match config.sliding_window_type {
            WindowType::CountBased => Window::Count(CountWindow::new(config.sliding_window_size)),
            WindowType::TimeBased => Window::Time(TimeWindow::new(config.sliding_window_size, now)),
        }
    }

    fn record(&mut self, c: Counts, now: Instant) -> Counts {
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

    fn totals_at(&self, now: Instant) -> Counts {
        match self {
            Window::Count(w) => w.total,
            Window::Time(w) => w.totals_at(now),
        }
    }
}

#[derive(Debug)]
enum Inner {
    Closed {
        window: Window,
    },
    Open {
        until: Instant,
        /// The window (or trials) that tripped the breaker, kept for metrics.
        tripped: Counts,
    },
    HalfOpen {
        since: Instant,
        admitted: u32,
        trials: Counts,
    },
}

/// A Resilience4j-model circuit breaker; see the [module docs](self).
#[derive(Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    inner: Inner,
    generation: u64,
    not_permitted: u64,
    stale: u64,
}

impl CircuitBreaker {
    /// A CLOSED breaker; `now` starts the time window's clock.
    pub fn new(config: BreakerConfig, now: Instant) -> Result<CircuitBreaker, BreakerConfigError> {
        config.validate()?;
        let window = Window::new(&config, now);
        Ok(CircuitBreaker {
            config,
            inner: Inner::Closed { window },
            generation: 0,
            not_permitted: 0,
            stale: 0,
        })
    }

    /// The settings in use.
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// The state as of the last call into the breaker (time-driven changes happen in
    /// [`try_acquire`](Self::try_acquire) and [`poll`](Self::poll)).
    pub fn state(&self) -> State {
        match self.inner {
            Inner::Closed { .. } => State::Closed,
            Inner::Open { .. } => State::Open,
            Inner::HalfOpen { .. } => State::HalfOpen,
        }
    }

    /// Applies time-driven transitions: OPEN → HALF_OPEN after the wait, HALF_OPEN → OPEN after
    /// `max_wait_in_half_open`. Call it from a timer to show HALF_OPEN without traffic.
    pub fn poll(&mut self, now: Instant) -> Option<Transition> {
        match self.inner {
            Inner::Open { until, .. } if now >= until => Some(self.enter_half_open(now)),
            Inner::HalfOpen { since, .. } => {
                let limit = self.config.max_wait_in_half_open?;
                if now.saturating_duration_since(since) >= limit {
                    let trials = match self.inner {
                        Inner::HalfOpen { trials, .. } => trials,
                        _ => Counts::default(),
                    };
                    Some(self.enter_open(State::HalfOpen, Reason::HalfOpenTimedOut, trials, now))
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// Asks to make one call at `now`.
    pub fn try_acquire(&mut self, now: Instant) -> Result<Permit, Rejected> {
        let transition = self.poll(now);
        let generation = self.generation;
        let permit = Permit {
            generation,
            acquired_at: now,
            transition,
        };
        match &mut self.inner {
            Inner::Closed { .. } => Ok(permit),
            Inner::HalfOpen { admitted, .. }
                if *admitted < self.config.permitted_calls_in_half_open =>
            {
                *admitted += 1;
                Ok(permit)
            }
            Inner::HalfOpen { .. } => {
                self.not_permitted += 1;
                Err(Rejected {
                    state: State::HalfOpen,
                    retry_after: None,
                    transition,
                })
            }
            Inner::Open { until, .. } => {
                self.not_permitted += 1;
                Err(Rejected {
                    state: State::Open,
                    retry_after: Some(until.saturating_duration_since(now)),
                    transition,
                })
            }
        }
    }

    /// Records a healthy answer (including a business decline) that took `duration`.
    pub fn on_success(
        &mut self,
        permit: Permit,
        duration: Duration,
        now: Instant,
    ) -> Option<Transition> {
        let slow = duration > self.config.slow_call_duration;
        self.record(permit, Counts::one(false, slow), now)
    }

    /// Records a failure (transport error, timeout, link death, system-error code). It also
    /// counts as slow when more than `slow_call_duration` passed since the permit was issued.
    pub fn on_failure(&mut self, permit: Permit, now: Instant) -> Option<Transition> {
        let slow =
            now.saturating_duration_since(permit.acquired_at) > self.config.slow_call_duration;
        self.record(permit, Counts::one(true, slow), now)
    }

    /// Gives a permit back without an outcome (the call was never sent). In HALF_OPEN the trial
    /// slot is freed for another call.
    pub fn on_ignored(&mut self, permit: Permit) {
        if permit.generation != self.generation {
            return;
        }
        if let Inner::HalfOpen { admitted, .. } = &mut self.inner {
            *admitted = admitted.saturating_sub(1);
        }
    }

    /// Forces CLOSED with an empty window (operator action).
    pub fn reset(&mut self, now: Instant) -> Option<Transition> {
        let from = self.state();
        self.generation += 1;
        self.inner = Inner::Closed {
            window: Window::new(&self.config, now),
        };
        (from != State::Closed).then_some(Transition {
            from,
            to: State::Closed,
            reason: Reason::Reset,
        })
    }

    /// Measurements as of `now` (old seconds of a time window are left out).
    pub fn metrics(&self, now: Instant) -> Metrics {
        let (counts, minimum) = match &self.inner {
            Inner::Closed { window } => (window.totals_at(now), self.closed_minimum()),
            Inner::HalfOpen { trials, .. } => (*trials, self.config.permitted_calls_in_half_open),
            Inner::Open { tripped, .. } => (*tripped, 1),
        };
        let evaluated = counts.calls >= minimum;
        Metrics {
            state: self.state(),
            failure_rate: evaluated.then(|| counts.failure_rate()),
            slow_call_rate: evaluated.then(|| counts.slow_rate()),
            buffered_calls: counts.calls,
            failed_calls: counts.failed,
            slow_calls: counts.slow,
            not_permitted_calls: self.not_permitted,
            stale_outcomes: self.stale,
        }
    }

    /// A count window can never hold more calls than its size, so the minimum is capped there.
    fn closed_minimum(&self) -> u32 {
        match self.config.sliding_window_type {
            WindowType::CountBased => self
                .config
                .minimum_number_of_calls
                .min(self.config.sliding_window_size),
            WindowType::TimeBased => self.config.minimum_number_of_calls,
        }
    }

    /// The reason to open, if the rates of `counts` reach a threshold.
    fn exceeded(&self, counts: Counts) -> Option<Reason> {
        // Compared as products so a rate exactly at the threshold is not lost to rounding.
        let calls = f64::from(counts.calls);
        if f64::from(counts.failed) * 100.0 >= self.config.failure_rate_threshold * calls {
            Some(Reason::FailureRate(counts.failure_rate()))
        } else if f64::from(counts.slow) * 100.0 >= self.config.slow_call_rate_threshold * calls {
            Some(Reason::SlowCallRate(counts.slow_rate()))
        } else {
            None
        }
    }

    fn record(&mut self, permit: Permit, outcome: Counts, now: Instant) -> Option<Transition> {
        // A late outcome may belong to a state that `max_wait_in_half_open` already ended.
        let timed = self.poll(now);
        if permit.generation != self.generation {
            self.stale += 1;
            return timed;
        }
        match &mut self.inner {
            Inner::Closed { window } => {
                let totals = window.record(outcome, now);
                if totals.calls < self.closed_minimum() {
                    return None;
                }
                let reason = self.exceeded(totals)?;
                Some(self.enter_open(State::Closed, reason, totals, now))
            }
            Inner::HalfOpen { trials, .. } => {
                trials.add(outcome);
                let trials = *trials;
                if trials.calls < self.config.permitted_calls_in_half_open {
                    return None;
                }
                Some(match self.exceeded(trials) {
                    Some(reason) => self.enter_open(State::HalfOpen, reason, trials, now),
                    None => self.enter_closed(now),
                })
            }
            // Unreachable in practice: OPEN issues no permits, so its generation has none.
            Inner::Open { .. } => None,
        }
    }

    fn enter_open(
        &mut self,
        from: State,
        reason: Reason,
        tripped: Counts,
        now: Instant,
    ) -> Transition {
        self.generation += 1;
        // `validate` bounds the wait, so the addition cannot overflow; `now` is a safe fallback.
        let until = now
            .checked_add(self.config.wait_duration_in_open_state)
            .unwrap_or(now);
        self.inner = Inner::Open { until, tripped };
        Transition {
            from,
            to: State::Open,
            reason,
        }
    }

    fn enter_half_open(&mut self, now: Instant) -> Transition {
        self.generation += 1;
        self.inner = Inner::HalfOpen {
            since: now,
            admitted: 0,
            trials: Counts::default(),
        };
        Transition {
            from: State::Open,
            to: State::HalfOpen,
            reason: Reason::WaitElapsed,
        }
    }

    fn enter_closed(&mut self, now: Instant) -> Transition {
        self.generation += 1;
        self.inner = Inner::Closed {
            window: Window::new(&self.config, now),
        };
        Transition {
            from: State::HalfOpen,
            to: State::Closed,
            reason: Reason::TrialsPassed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const SEC: Duration = Duration::from_secs(1);

    fn count_config(size: u32, min: u32) -> BreakerConfig {
        BreakerConfig {
            sliding_window_type: WindowType::CountBased,
            sliding_window_size: size,
            failure_rate_threshold: 50.0,
            slow_call_rate_threshold: 100.0,
            slow_call_duration: SEC,
            minimum_number_of_calls: min,
            wait_duration_in_open_state: Duration::from_secs(10),
            permitted_calls_in_half_open: 3,
            max_wait_in_half_open: None,
        }
    }

    fn time_config(secs: u32, min: u32) -> BreakerConfig {
        BreakerConfig {
            sliding_window_type: WindowType::TimeBased,
            ..count_config(secs, min)
        }
    }

    fn breaker(config: BreakerConfig, t0: Instant) -> CircuitBreaker {
        match CircuitBreaker::new(config, t0) {
            Ok(b) => b,
            Err(e) => panic!("config: {e}"),
        }
    }

    fn acquire(b: &mut CircuitBreaker, now: Instant) -> Permit {
        match b.try_acquire(now) {
            Ok(p) => p,
            Err(e) => panic!("rejected: {e:?}"),
        }
    }

    fn succeed(b: &mut CircuitBreaker, now: Instant) -> Option<Transition> {
        let p = acquire(b, now);
        b.on_success(p, MS, now)
    }

    fn fail(b: &mut CircuitBreaker, now: Instant) -> Option<Transition> {
        let p = acquire(b, now);
        b.on_failure(p, now)
    }

    fn slow(b: &mut CircuitBreaker, now: Instant) -> Option<Transition> {
        let p = acquire(b, now);
        b.on_success(p, 2 * SEC, now)
    }

    /// Drives a count breaker (size 10, min 10) to OPEN at `t`.
    fn opened(t: Instant) -> CircuitBreaker {
        let mut b = breaker(count_config(10, 10), t);
        for _ in 0..5 {
            assert_eq!(succeed(&mut b, t), None);
        }
        for _ in 0..4 {
            assert_eq!(fail(&mut b, t), None);
        }
        assert!(fail(&mut b, t).is_some());
        assert_eq!(b.state(), State::Open);
        b
    }

    #[test]
    fn defaults_are_valid_and_documented_values() {
        let c = BreakerConfig::default();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.sliding_window_size, 100);
        assert_eq!(c.minimum_number_of_calls, 20);
        assert_eq!(c.permitted_calls_in_half_open, 5);
        assert_eq!(c.wait_duration_in_open_state, Duration::from_secs(10));
        assert_eq!(c.slow_call_duration, Duration::from_secs(5));
    }

    #[test]
    fn config_deserialises_with_defaults_and_durations() {
        let c: BreakerConfig = toml::from_str(
            r#"
            sliding_window_type = "TIME_BASED"
            sliding_window_size = 30
            slow_call_duration = "800ms"
            max_wait_in_half_open = "1m"
            "#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.sliding_window_type, WindowType::TimeBased);
        assert_eq!(c.sliding_window_size, 30);
        assert_eq!(c.slow_call_duration, Duration::from_millis(800));
        assert_eq!(c.max_wait_in_half_open, Some(Duration::from_secs(60)));
        assert_eq!(c.failure_rate_threshold, 50.0);
        let c: BreakerConfig = toml::from_str("sliding_window_type = \"count_based\"")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c, BreakerConfig::default());
        assert!(toml::from_str::<BreakerConfig>("wait_duration_in_open_state = 5").is_err());
        assert!(toml::from_str::<BreakerConfig>("no_such_field = 1").is_err());
    }

    #[test]
    fn invalid_configs_are_refused() {
        for bad in [
            BreakerConfig {
                failure_rate_threshold: 0.0,
                ..Default::default()
            },
            BreakerConfig {
                slow_call_rate_threshold: 100.5,
                ..Default::default()
            },
            BreakerConfig {
                failure_rate_threshold: f64::NAN,
                ..Default::default()
            },
            BreakerConfig {
                sliding_window_size: 0,
                ..Default::default()
            },
            BreakerConfig {
                minimum_number_of_calls: 0,
                ..Default::default()
            },
            BreakerConfig {
                permitted_calls_in_half_open: 0,
                ..Default::default()
            },
            BreakerConfig {
                sliding_window_size: MAX_WINDOW_SIZE + 1,
                ..Default::default()
            },
            BreakerConfig {
                wait_duration_in_open_state: MAX_WAIT + SEC,
                ..Default::default()
            },
            BreakerConfig {
                max_wait_in_half_open: Some(MAX_WAIT + SEC),
                ..Default::default()
            },
        ] {
            assert!(
                CircuitBreaker::new(bad.clone(), Instant::now()).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn closed_stays_closed_below_minimum_calls_even_if_all_fail() {
        let t = Instant::now();
        let mut b = breaker(count_config(100, 10), t);
        for _ in 0..9 {
            assert_eq!(fail(&mut b, t), None);
        }
        assert_eq!(b.state(), State::Closed);
        let m = b.metrics(t);
        assert_eq!(m.failure_rate, None);
        assert_eq!(m.buffered_calls, 9);
        assert_eq!(m.failed_calls, 9);
        let tr = fail(&mut b, t);
        assert_eq!(
            tr,
            Some(Transition {
                from: State::Closed,
                to: State::Open,
                reason: Reason::FailureRate(100.0)
            })
        );
    }

    #[test]
    fn failure_rate_exactly_at_threshold_opens() {
        let t = Instant::now();
        // opened() records 5 successes and 5 failures: exactly 50 %.
        let b = opened(t);
        assert_eq!(b.state(), State::Open);
    }

    #[test]
    fn failure_rate_just_below_threshold_stays_closed() {
        let t = Instant::now();
        let mut b = breaker(count_config(10, 10), t);
        for _ in 0..6 {
            succeed(&mut b, t);
        }
        for _ in 0..4 {
            assert_eq!(fail(&mut b, t), None);
        }
        assert_eq!(b.state(), State::Closed);
        assert_eq!(b.metrics(t).failure_rate, Some(40.0));
    }

    #[test]
    fn minimum_is_capped_by_count_window_size() {
        let t = Instant::now();
        // min 20 > size 4: the window can never hold 20, so 4 calls are enough.
        let mut b = breaker(count_config(4, 20), t);
        for _ in 0..3 {
            assert_eq!(fail(&mut b, t), None);
        }
        assert!(fail(&mut b, t).is_some());
    }

    #[test]
    fn slow_calls_open_at_threshold() {
        let t = Instant::now();
        let mut c = count_config(4, 4);
        c.slow_call_rate_threshold = 75.0;
        let mut b = breaker(c, t);
        assert_eq!(succeed(&mut b, t), None);
        assert_eq!(slow(&mut b, t), None);
        assert_eq!(slow(&mut b, t), None);
        let tr = slow(&mut b, t);
        assert_eq!(tr.map(|t| t.reason), Some(Reason::SlowCallRate(75.0)));
        assert_eq!(b.state(), State::Open);
    }

    #[test]
    fn call_of_exactly_slow_duration_is_not_slow() {
        let t = Instant::now();
        let mut c = count_config(2, 2);
        c.slow_call_rate_threshold = 50.0;
        let mut b = breaker(c, t);
        for _ in 0..2 {
            let p = acquire(&mut b, t);
            assert_eq!(b.on_success(p, SEC, t), None);
        }
        assert_eq!(b.metrics(t).slow_calls, 0);
        assert_eq!(b.state(), State::Closed);
    }

    #[test]
    fn slow_failure_counts_as_failed_and_slow() {
        let t = Instant::now();
        let mut b = breaker(count_config(10, 10), t);
        let p = acquire(&mut b, t);
        b.on_failure(p, t + 2 * SEC);
        let m = b.metrics(t);
        assert_eq!((m.failed_calls, m.slow_calls), (1, 1));
    }

    #[test]
    fn count_window_slides_old_calls_out() {
        let t = Instant::now();
        let mut b = breaker(count_config(4, 4), t);
        // F S S S → 25 %; then four successes push the failure out.
        fail(&mut b, t);
        for _ in 0..3 {
            succeed(&mut b, t);
        }
        assert_eq!(b.metrics(t).failure_rate, Some(25.0));
        succeed(&mut b, t);
        assert_eq!(b.metrics(t).failed_calls, 0);
        assert_eq!(b.metrics(t).buffered_calls, 4);
        // Now S S S F F: window = S S F F → 50 % opens on the second failure only.
        assert_eq!(fail(&mut b, t), None);
        assert!(fail(&mut b, t).is_some());
    }

    #[test]
    fn open_rejects_with_retry_after_then_half_opens() {
        let t = Instant::now();
        let mut b = opened(t);
        let r = b.try_acquire(t + 3 * SEC).map(|_| ());
        assert_eq!(
            r,
            Err(Rejected {
                state: State::Open,
                retry_after: Some(7 * SEC),
                transition: None
            })
        );
        let m = b.metrics(t);
        assert_eq!(m.not_permitted_calls, 1);
        // OPEN reports the window that tripped it.
        assert_eq!(m.failure_rate, Some(50.0));
        assert_eq!(m.buffered_calls, 10);
        assert_eq!(b.poll(t + 9 * SEC), None);
        let p = acquire(&mut b, t + 10 * SEC);
        assert_eq!(
            p.transition(),
            Some(Transition {
                from: State::Open,
                to: State::HalfOpen,
                reason: Reason::WaitElapsed
            })
        );
        assert_eq!(b.state(), State::HalfOpen);
        b.on_ignored(p);
    }

    #[test]
    fn poll_moves_open_to_half_open_without_traffic() {
        let t = Instant::now();
        let mut b = opened(t);
        let tr = b.poll(t + 10 * SEC);
        assert_eq!(tr.map(|t| t.to), Some(State::HalfOpen));
        assert_eq!(b.poll(t + 11 * SEC), None);
    }

    #[test]
    fn half_open_admits_exactly_the_trial_calls() {
        let t = Instant::now();
        let mut b = opened(t);
        let h = t + 10 * SEC;
        let permits: Vec<Permit> = (0..3).map(|_| acquire(&mut b, h)).collect();
        let r = b.try_acquire(h).map(|_| ());
        assert_eq!(
            r,
            Err(Rejected {
                state: State::HalfOpen,
                retry_after: None,
                transition: None
            })
        );
        // Recording two trials does not free slots: still rejected until all are in.
        let mut it = permits.into_iter();
        for p in it.by_ref().take(2) {
            assert_eq!(b.on_success(p, MS, h), None);
        }
        assert!(b.try_acquire(h).is_err());
        let last = it.next();
        let tr = last.and_then(|p| b.on_success(p, MS, h));
        assert_eq!(
            tr,
            Some(Transition {
                from: State::HalfOpen,
                to: State::Closed,
                reason: Reason::TrialsPassed
            })
        );
        assert_eq!(b.metrics(h).buffered_calls, 0);
    }

    #[test]
    fn ignored_trial_frees_its_slot() {
        let t = Instant::now();
        let mut b = opened(t);
        let h = t + 10 * SEC;
        let a = acquire(&mut b, h);
        let _b1 = acquire(&mut b, h);
        let _b2 = acquire(&mut b, h);
        assert!(b.try_acquire(h).is_err());
        b.on_ignored(a);
        let again = b.try_acquire(h);
        assert!(again.is_ok());
        assert!(b.try_acquire(h).is_err());
    }

    #[test]
    fn half_open_failing_trials_reopen() {
        let t = Instant::now();
        let mut b = opened(t);
        let h = t + 10 * SEC;
        let ps: Vec<Permit> = (0..3).map(|_| acquire(&mut b, h)).collect();
        let mut last = None;
        for (i, p) in ps.into_iter().enumerate() {
            last = if i == 0 {
                b.on_success(p, MS, h)
            } else {
                b.on_failure(p, h)
            };
        }
        let tr = last.map(|t| (t.from, t.to));
        assert_eq!(tr, Some((State::HalfOpen, State::Open)));
        // The new open period starts at the reopening.
        let r = b.try_acquire(h + SEC).map(|_| ());
        assert_eq!(r.map_err(|e| e.retry_after), Err(Some(9 * SEC)));
    }

    #[test]
    fn half_open_slow_trials_reopen() {
        let t = Instant::now();
        let mut b = opened(t);
        let h = t + 10 * SEC;
        let ps: Vec<Permit> = (0..3).map(|_| acquire(&mut b, h)).collect();
        let mut last = None;
        for p in ps {
            last = b.on_success(p, 2 * SEC, h);
        }
        assert_eq!(last.map(|t| t.reason), Some(Reason::SlowCallRate(100.0)));
        assert_eq!(b.state(), State::Open);
    }

    #[test]
    fn half_open_trial_rate_exactly_at_threshold_reopens() {
        let t = Instant::now();
        let mut c = count_config(10, 10);
        c.permitted_calls_in_half_open = 4;
        let mut b = breaker(c, t);
        for _ in 0..10 {
            fail(&mut b, t);
        }
        let h = t + 10 * SEC;
        let ps: Vec<Permit> = (0..4).map(|_| acquire(&mut b, h)).collect();
        let mut last = None;
        for (i, p) in ps.into_iter().enumerate() {
            last = if i % 2 == 0 {
                b.on_success(p, MS, h)
            } else {
                b.on_failure(p, h)
            };
        }
        assert_eq!(last.map(|t| t.reason), Some(Reason::FailureRate(50.0)));
    }

    #[test]
    fn max_wait_in_half_open_reopens_stuck_trials() {
        let t = Instant::now();
        let mut c = count_config(10, 10);
        c.max_wait_in_half_open = Some(Duration::from_secs(5));
        let mut b = breaker(c, t);
        for _ in 0..10 {
            fail(&mut b, t);
        }
        let h = t + 10 * SEC;
        let stuck: Vec<Permit> = (0..3).map(|_| acquire(&mut b, h)).collect();
        assert_eq!(b.poll(h + 4 * SEC), None);
        let r = b.try_acquire(h + 5 * SEC).map(|_| ());
        let tr = Transition {
            from: State::HalfOpen,
            to: State::Open,
            reason: Reason::HalfOpenTimedOut,
        };
        assert_eq!(
            r,
            Err(Rejected {
                state: State::Open,
                retry_after: Some(10 * SEC),
                transition: Some(tr)
            })
        );
        // Late trial outcomes are stale and change nothing.
        for p in stuck {
            assert_eq!(b.on_success(p, MS, h + 6 * SEC), None);
        }
        assert_eq!(b.state(), State::Open);
        assert_eq!(b.metrics(h).stale_outcomes, 3);
    }

    #[test]
    fn closed_era_outcome_is_not_counted_as_a_trial() {
        let t = Instant::now();
        let mut b = breaker(count_config(10, 10), t);
        let old = acquire(&mut b, t);
        for _ in 0..10 {
            fail(&mut b, t);
        }
        let h = t + 10 * SEC;
        let trial = acquire(&mut b, h);
        assert_eq!(b.on_failure(old, h), None);
        assert_eq!(b.metrics(h).buffered_calls, 0);
        assert_eq!(b.metrics(h).stale_outcomes, 1);
        b.on_ignored(trial);
    }

    #[test]
    fn time_window_needs_minimum_calls_within_the_window() {
        let t = Instant::now();
        let mut b = breaker(time_config(10, 4), t);
        // Three failures at second 0, a fourth at second 10: the first three have left.
        for _ in 0..3 {
            assert_eq!(fail(&mut b, t), None);
        }
        assert_eq!(fail(&mut b, t + 10 * SEC), None);
        assert_eq!(b.metrics(t + 10 * SEC).buffered_calls, 1);
        // Three more within the window: four calls, all failed → open.
        assert_eq!(fail(&mut b, t + 11 * SEC), None);
        assert_eq!(fail(&mut b, t + 12 * SEC), None);
        let tr = fail(&mut b, t + 19 * SEC + 999 * MS);
        assert_eq!(tr.map(|t| t.to), Some(State::Open));
    }

    #[test]
    fn time_window_buckets_expire_per_second() {
        let t = Instant::now();
        let mut b = breaker(time_config(3, 100), t);
        fail(&mut b, t);
        succeed(&mut b, t + SEC);
        succeed(&mut b, t + 2 * SEC + 500 * MS);
        let m = b.metrics(t + 2 * SEC + 900 * MS);
        assert_eq!((m.buffered_calls, m.failed_calls), (3, 1));
        // Second 3: second 0's bucket has left.
        let m = b.metrics(t + 3 * SEC);
        assert_eq!((m.buffered_calls, m.failed_calls), (2, 0));
        // metrics() does not mutate: recording later still evicts correctly.
        succeed(&mut b, t + 4 * SEC);
        let m = b.metrics(t + 4 * SEC);
        assert_eq!((m.buffered_calls, m.failed_calls), (2, 0));
        // A long silence clears everything.
        let m = b.metrics(t + 100 * SEC);
        assert_eq!(m.buffered_calls, 0);
        fail(&mut b, t + 100 * SEC);
        assert_eq!(b.metrics(t + 100 * SEC).buffered_calls, 1);
    }

    #[test]
    fn time_window_opens_at_threshold_and_closes_after_trials() {
        let t = Instant::now();
        let mut b = breaker(time_config(5, 4), t);
        succeed(&mut b, t);
        succeed(&mut b, t + SEC);
        fail(&mut b, t + 2 * SEC);
        let tr = fail(&mut b, t + 3 * SEC);
        assert_eq!(tr.map(|t| t.reason), Some(Reason::FailureRate(50.0)));
        let h = t + 13 * SEC;
        let ps: Vec<Permit> = (0..3).map(|_| acquire(&mut b, h)).collect();
        let mut last = None;
        for p in ps {
            last = b.on_success(p, MS, h);
        }
        assert_eq!(last.map(|t| t.to), Some(State::Closed));
        // The closed window starts empty again.
        assert_eq!(b.metrics(h).buffered_calls, 0);
    }

    #[test]
    fn reset_forces_closed() {
        let t = Instant::now();
        let mut b = opened(t);
        let tr = b.reset(t);
        assert_eq!(
            tr.map(|t| (t.from, t.to)),
            Some((State::Open, State::Closed))
        );
        assert!(b.try_acquire(t).is_ok_and(|p| {
            b.on_ignored(p);
            true
        }));
        assert_eq!(b.reset(t), None);
    }

    #[test]
    fn transition_displays_for_logs() {
        let tr = Transition {
            from: State::Closed,
            to: State::Open,
            reason: Reason::FailureRate(62.5),
        };
        assert_eq!(tr.to_string(), "CLOSED -> OPEN (failure rate 62.5%)");
    }

    mod windows {
        use super::*;
        use proptest::prelude::*;

        fn sum<'a>(items: impl Iterator<Item = &'a (bool, bool)>) -> Counts {
            let mut c = Counts::default();
            for &(f, s) in items {
                c.add(Counts::one(f, s));
            }
            c
        }

        proptest! {
            #[test]
            fn count_window_totals_are_the_last_n_outcomes(
                size in 1u32..20,
                outcomes in prop::collection::vec((any::<bool>(), any::<bool>()), 0..120),
            ) {
                let mut w = CountWindow::new(size);
                for (i, &(f, s)) in outcomes.iter().enumerate() {
                    w.record(Counts::one(f, s));
                    let start = (i + 1).saturating_sub(size as usize);
                    prop_assert_eq!(w.total, sum(outcomes[start..=i].iter()));
                }
            }

            #[test]
            fn time_window_totals_are_the_last_n_seconds(
                size in 1u32..8,
                events in prop::collection::vec((0u64..2500, any::<bool>(), any::<bool>()), 0..120),
                look_ahead in 0u64..12,
            ) {
                let t0 = Instant::now();
                let mut w = TimeWindow::new(size, t0);
                let mut at = Duration::ZERO;
                let mut log: Vec<(u64, (bool, bool))> = Vec::new();
                let within = |log: &[(u64, (bool, bool))], sec: u64| {
                    let kept: Vec<(bool, bool)> = log
                        .iter()
                        .filter(|(x, _)| x + u64::from(size) > sec)
                        .map(|(_, o)| *o)
                        .collect();
                    sum(kept.iter())
                };
                for (step, f, s) in events {
                    at += Duration::from_millis(step);
                    w.record(Counts::one(f, s), t0 + at);
                    let sec = at.as_secs();
                    log.push((sec, (f, s)));
                    prop_assert_eq!(w.total, within(&log, sec));
                    let later = sec + look_ahead;
                    prop_assert_eq!(
                        w.totals_at(t0 + Duration::from_secs(later)),
                        within(&log, later)
                    );
                }
            }
        }
    }
}
