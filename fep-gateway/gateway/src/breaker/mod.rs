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

mod config;
mod window;

pub use config::{
    BreakerConfig, BreakerConfigError, ValidBreakerConfig, WindowType, MAX_WAIT, MAX_WINDOW_SIZE,
};
use window::{Counts, Window};

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
    /// A CLOSED breaker; `now` starts the time window's clock. Refuses a config out of range
    /// (the first problem); [`from_valid`](Self::from_valid) takes one already checked.
    pub fn new(config: BreakerConfig, now: Instant) -> Result<CircuitBreaker, BreakerConfigError> {
        config.validate()?;
        Ok(CircuitBreaker::from_valid(ValidBreakerConfig(config), now))
    }

    /// A CLOSED breaker from a checked config: cannot fail, so a gateway never has to choose
    /// between refusing to start and running without its breaker.
    pub fn from_valid(config: ValidBreakerConfig, now: Instant) -> CircuitBreaker {
        let config = config.into_inner();
        let window = Window::new(&config, now);
        CircuitBreaker {
            config,
            inner: Inner::Closed { window },
            generation: 0,
            not_permitted: 0,
            stale: 0,
        }
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
mod tests;
