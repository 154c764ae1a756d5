//! Admission: what a request must pass before it gets a 전문번호 — room in flight, its own
//! deadline not spent in the queue, the contracted rate, and the circuit breaker.
//!
//! I/O-free: time is passed in.

use std::time::{Duration, Instant};

use crate::breaker::{CircuitBreaker, Permit, State, Transition};
use crate::domain::RejectReason;

/// A request's deadline as it waits in the queue.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    /// When the caller submitted it.
    pub queued_at: Instant,
    /// How long the caller waits in all.
    pub timeout: Duration,
}

impl Ticket {
    /// What is left of the caller's deadline at `now` (at least 1 ms: it is being sent).
    pub fn remaining(&self, now: Instant) -> Duration {
        self.timeout
            .saturating_sub(now.saturating_duration_since(self.queued_at))
            .max(Duration::from_millis(1))
    }

    /// When the caller stops waiting.
    pub fn deadline(&self) -> Instant {
        self.queued_at + self.timeout
    }

    fn expired(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.queued_at) >= self.timeout
    }
}

/// How a call that held a breaker permit ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call {
    /// Timed out, link died after sending, or an unknown-outcome code.
    Failed,
    /// Answered (business declines included).
    Answered,
    /// Never sent: says nothing about the institution.
    NotSent,
}

/// The contracted rate: governor's GCRA limiter, `tps` calls at once, then one every 1/`tps`
/// second. Its clock is [`PassedClock`], so the decision uses the `now` the actor passes in
/// (paused-time tests and the actor agree on one clock) instead of reading the system clock.
struct RateLimit {
    tps: std::num::NonZeroU32,
    /// Built at the first check, whose `now` becomes the clock's origin.
    limiter: Option<(PassedClock, Limiter)>,
}

/// governor's in-memory direct limiter on the passed-in clock.
type Limiter = governor::RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    PassedClock,
    governor::middleware::NoOpMiddleware<std::time::Instant>,
>;

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("tps", &self.tps)
            .finish_non_exhaustive()
    }
}

impl RateLimit {
    fn new(tps: std::num::NonZeroU32) -> RateLimit {
        RateLimit { tps, limiter: None }
    }

    fn check(&mut self, now: Instant) -> bool {
        let tps = self.tps;
        let (clock, limiter) = self.limiter.get_or_insert_with(|| {
            let clock = PassedClock::new(now);
            let quota = governor::Quota::per_second(tps);
            let limiter = governor::RateLimiter::direct_with_clock(quota, clock.clone());
            (clock, limiter)
        });
        clock.set(now);
        limiter.check().is_ok()
    }
}

/// A governor clock that reads the time it was last given; clones share it.
#[derive(Debug, Clone)]
struct PassedClock {
    origin: Instant,
    /// Nanoseconds after `origin` of the last `set`.
    offset: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl PassedClock {
    fn new(origin: Instant) -> PassedClock {
        PassedClock {
            origin,
            offset: Default::default(),
        }
    }

    fn set(&self, now: Instant) {
        let nanos = u64::try_from(now.saturating_duration_since(self.origin).as_nanos())
            .unwrap_or(u64::MAX);
        self.offset
            .fetch_max(nanos, std::sync::atomic::Ordering::Relaxed);
    }
}

impl governor::clock::Clock for PassedClock {
    type Instant = std::time::Instant;

    fn now(&self) -> std::time::Instant {
        let nanos = self.offset.load(std::sync::atomic::Ordering::Relaxed);
        self.origin + Duration::from_nanos(nanos)
    }
}

/// The admission state of one institution.
#[derive(Debug)]
pub(crate) struct Admission {
    max_inflight: usize,
    rate: Option<RateLimit>,
    breaker: Option<CircuitBreaker>,
}

impl Admission {
    /// At most `max_inflight` requests in flight or waiting for a number; `rate_tps` calls per
    /// second (None or 0 = unlimited); an optional breaker.
    pub fn new(
        max_inflight: usize,
        rate_tps: Option<u32>,
        breaker: Option<CircuitBreaker>,
    ) -> Admission {
        Admission {
            max_inflight,
            rate: rate_tps
                .and_then(std::num::NonZeroU32::new)
                .map(RateLimit::new),
            breaker,
        }
    }

    /// Whether another request may be taken off the queue (`in_use`: in flight or waiting).
    pub fn has_room(&self, in_use: usize) -> bool {
        in_use < self.max_inflight
    }

    /// A request leaving the queue: refused if its deadline passed while it waited, or if it
    /// is over the contracted rate.
    pub fn check(&mut self, ticket: &Ticket, now: Instant) -> Result<(), RejectReason> {
        if ticket.expired(now) {
            return Err(RejectReason::QueueDeadline);
        }
        if self.rate.as_mut().is_some_and(|r| !r.check(now)) {
            return Err(RejectReason::RateLimit);
        }
        Ok(())
    }

    /// The breaker's permission for a request about to be sent (`None` without a breaker),
    /// with the transition deciding it caused (to log).
    pub fn permit(
        &mut self,
        now: Instant,
    ) -> (Result<Option<Permit>, RejectReason>, Option<Transition>) {
        let Some(b) = self.breaker.as_mut() else {
            return (Ok(None), None);
        };
        match b.try_acquire(now) {
            Ok(permit) => {
                let t = permit.transition();
                (Ok(Some(permit)), t)
            }
            Err(rejected) => (
                Err(RejectReason::CircuitOpen {
                    state: rejected.state.as_str(),
                    retry_after: rejected.retry_after,
                }),
                rejected.transition,
            ),
        }
    }

    /// Settles a permit with how its call ended (`sent_at`: when it was written).
    pub fn settle(
        &mut self,
        permit: Option<Permit>,
        call: Call,
        sent_at: Instant,
        now: Instant,
    ) -> Option<Transition> {
        let (b, p) = (self.breaker.as_mut()?, permit?);
        match call {
            Call::Failed => b.on_failure(p, now),
            Call::Answered => b.on_success(p, now.saturating_duration_since(sent_at), now),
            Call::NotSent => {
                b.on_ignored(p);
                None
            }
        }
    }

    /// The breaker's state (None when there is no breaker).
    pub fn breaker_state(&self) -> Option<State> {
        self.breaker.as_ref().map(CircuitBreaker::state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breaker::BreakerConfig;

    fn ticket(queued_at: Instant, ms: u64) -> Ticket {
        Ticket {
            queued_at,
            timeout: Duration::from_millis(ms),
        }
    }

    #[test]
    fn a_request_that_waited_past_its_deadline_is_refused() {
        let t0 = Instant::now();
        let mut a = Admission::new(10, None, None);
        let t = ticket(t0, 100);
        assert_eq!(a.check(&t, t0 + Duration::from_millis(99)), Ok(()));
        assert_eq!(
            t.remaining(t0 + Duration::from_millis(40)),
            Duration::from_millis(60)
        );
        assert_eq!(
            a.check(&t, t0 + Duration::from_millis(100)),
            Err(RejectReason::QueueDeadline)
        );
        assert_eq!(
            t.remaining(t0 + Duration::from_secs(1)),
            Duration::from_millis(1)
        );
    }

    #[test]
    fn the_contracted_rate_allows_a_burst_then_one_per_period() {
        let t0 = Instant::now();
        let mut a = Admission::new(10, Some(4), None);
        let t = ticket(t0, 60_000);
        for _ in 0..4 {
            assert_eq!(a.check(&t, t0), Ok(()));
        }
        assert_eq!(a.check(&t, t0), Err(RejectReason::RateLimit));
        assert_eq!(
            a.check(&t, t0 + Duration::from_millis(249)),
            Err(RejectReason::RateLimit)
        );
        assert_eq!(a.check(&t, t0 + Duration::from_millis(250)), Ok(()));
        assert_eq!(
            a.check(&t, t0 + Duration::from_millis(250)),
            Err(RejectReason::RateLimit),
            "one call per quarter second after the burst"
        );
        // Idle for a second: the whole burst is back.
        let later = t0 + Duration::from_secs(2);
        for _ in 0..4 {
            assert_eq!(a.check(&t, later), Ok(()));
        }
        let mut unlimited = Admission::new(10, Some(0), None);
        for _ in 0..1000 {
            assert_eq!(unlimited.check(&t, t0), Ok(()));
        }
    }

    #[test]
    fn in_flight_room_is_bounded() {
        let a = Admission::new(2, None, None);
        assert!(a.has_room(1));
        assert!(!a.has_room(2));
    }

    #[test]
    fn an_open_breaker_refuses_with_the_time_to_wait() {
        let t0 = Instant::now();
        let config = BreakerConfig {
            minimum_number_of_calls: 2,
            sliding_window_size: 2,
            wait_duration_in_open_state: Duration::from_secs(5),
            ..BreakerConfig::default()
        };
        let breaker = CircuitBreaker::new(config, t0).unwrap();
        let mut a = Admission::new(10, None, Some(breaker));
        for _ in 0..2 {
            let (permit, _) = a.permit(t0);
            let permit = permit.unwrap();
            assert!(permit.is_some());
            a.settle(permit, Call::Failed, t0, t0);
        }
        assert_eq!(a.breaker_state(), Some(State::Open));
        let (refused, _) = a.permit(t0 + Duration::from_secs(1));
        assert_eq!(
            refused.unwrap_err(),
            RejectReason::CircuitOpen {
                state: "OPEN",
                retry_after: Some(Duration::from_secs(4)),
            }
        );
        // A permit given back unsent does not count against the institution.
        let (trial, t) = a.permit(t0 + Duration::from_secs(5));
        assert_eq!(t.map(|t| t.to), Some(State::HalfOpen));
        a.settle(
            trial.unwrap(),
            Call::NotSent,
            t0,
            t0 + Duration::from_secs(5),
        );
        assert_eq!(a.breaker_state(), Some(State::HalfOpen));
        assert!(Admission::new(1, None, None)
            .permit(t0)
            .0
            .unwrap()
            .is_none());
    }
}
