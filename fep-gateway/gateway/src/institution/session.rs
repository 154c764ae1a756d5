//! Session state: 업무개시 (sign-on) once the institution's answer can reach us and at each
//! date change, retried with jittered exponential backoff; 업무종료 (sign-off) on shutdown; and
//! the idle heartbeat (poll) of each link.
//!
//! I/O-free: the actor (or the link task, for polls) tells it what happened, with the time,
//! and asks what to do.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::domain::RejectReason;
use crate::settings::SignOnPolicy;

/// An institution's session as shown in status (`session` in `/v1/status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// No send link is up.
    Disconnected,
    /// A send link is up, but no link that can carry the institution's answers (a `recv` or
    /// `both` link): nothing is sent, the sign-on included, since its answer could not arrive.
    WaitingForRecv,
    /// The sign-on is sent (or about to be) and its answer awaited; requests are refused, or
    /// wait for it at a date change.
    SigningOn,
    /// The last sign-on failed (refused, unanswered or not sent); the next one is due after a
    /// jittered backoff.
    BackingOff,
    /// Signed on (or no sign-on needed) with a send and a recv path up: requests go out.
    Ready,
    /// The institution opens the business day itself (its sign-on command) and has not yet,
    /// or has closed it.
    WaitingForOpen,
    /// The institution announced the end of the day (종료예고): only requests that move no
    /// money go out.
    Closing,
    /// Shutting down: 업무종료 sent, its answer awaited.
    SigningOff,
    /// Shut down: signed off (or nothing to sign off).
    SignedOff,
}

/// Whether a request may go out now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Send it.
    Open,
    /// The new business date's sign-on is under way: hold it (until its own deadline).
    Wait,
    /// Refuse it, for this reason.
    Refuse(RejectReason),
}

/// How a shutdown's sign-off stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closing {
    Open,
    SigningOff,
    Closed,
}

/// Sign-on state of one institution.
#[derive(Debug)]
pub(crate) struct Session {
    /// The family requires the gateway's 업무개시 before requests.
    required: bool,
    /// The institution opens (and closes) the business day with its own commands.
    peer_opens: bool,
    /// The institution announced the end of the day: no new money-moving requests.
    stop_new: bool,
    /// Sign on again when the business date changes.
    at_date_change: bool,
    policy: SignOnPolicy,
    send_up: bool,
    recv_up: bool,
    signed_on: bool,
    /// The sign-on in flight, by attempt number (answers to other attempts are stale).
    in_flight: Option<u64>,
    attempts: u64,
    /// Failed attempts since the last success: the backoff grows with them.
    failures: u32,
    retry_at: Option<Instant>,
    /// Signed on for the previous business date and signing on for the new one: requests wait
    /// for it instead of being refused.
    changeover: bool,
    closing: Closing,
    rng: fastrand::Rng,
}

impl Session {
    /// Not signed on, no link up. `required`: the institution needs 업무개시 before requests;
    /// `at_date_change`: and again at each new business date.
    pub fn new(required: bool, at_date_change: bool, policy: SignOnPolicy) -> Session {
        Session::with_rng(required, at_date_change, policy, fastrand::Rng::new())
    }

    /// [`Session::new`] with the jitter's random source given (tests seed it).
    pub fn with_rng(
        required: bool,
        at_date_change: bool,
        policy: SignOnPolicy,
        rng: fastrand::Rng,
    ) -> Session {
        Session {
            required,
            peer_opens: false,
            stop_new: false,
            at_date_change,
            policy,
            send_up: false,
            recv_up: false,
            signed_on: false,
            in_flight: None,
            attempts: 0,
            failures: 0,
            retry_at: None,
            changeover: false,
            closing: Closing::Open,
            rng,
        }
    }

    /// The institution opens the business day itself: requests wait for its sign-on command
    /// ([`Session::on_opened`]), and losing a line does not close its day.
    pub fn opened_by_institution(mut self) -> Session {
        self.peer_opens = true;
        self.required = false;
        self
    }

    /// The institution's sign-on command was answered: the day is open.
    pub fn on_opened(&mut self) {
        self.signed_on = true;
        self.stop_new = false;
        self.changeover = false;
    }

    /// The institution announced the end of the day (종료예고).
    pub fn on_stop_new(&mut self) {
        self.stop_new = true;
    }

    /// The institution closed the day (종료): nothing goes out until it opens again.
    pub fn on_closed(&mut self) {
        self.signed_on = false;
        self.stop_new = false;
    }

    /// Whether new money-moving requests are refused (after 종료예고).
    pub fn stopping_new(&self) -> bool {
        self.stop_new
    }

    /// Whether the session is signed on (for a sign-on-less institution: a send link is up).
    pub fn signed_on(&self) -> bool {
        self.signed_on
    }

    /// How long a sign-on or sign-off answer is awaited.
    pub fn answer_timeout(&self) -> Duration {
        self.policy.answer_timeout
    }

    /// Failed sign-on attempts since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Which paths are up: `send`, a link that can send; `recv`, a link the institution's
    /// answers arrive on. Losing either abandons a sign-on in flight (its answer may never
    /// come); losing every send link ends the session; a recv line coming (back) up makes a
    /// pending retry due at once, since the missing line was why the last one failed.
    pub fn set_links(&mut self, send: bool, recv: bool) {
        let recv_back = recv && !self.recv_up;
        self.send_up = send;
        self.recv_up = recv;
        if !(send && recv) {
            self.in_flight = None;
        }
        if !send {
            // An institution-opened day outlives a line: only its close command ends it.
            if !self.peer_opens {
                self.signed_on = false;
            }
            self.changeover = false;
        }
        if !self.required && !self.peer_opens {
            self.signed_on = send;
        }
        if recv_back {
            self.retry_at = None;
        }
    }

    /// The sign-on attempt to send now, if one is due: required, not signed on, none in
    /// flight, no backoff pending, both a send and a recv path up, and a 전문번호 to give it
    /// (`numbered`). The attempt counts as in flight until [`Session::on_answer`] or
    /// [`Session::on_failed`]. A backoff that has run out is cleared even when the links or
    /// the numbers hold the sign-on back: their arrival asks again.
    pub fn wants_sign_on(&mut self, now: Instant, numbered: bool) -> Option<u64> {
        if !self.required
            || self.signed_on
            || self.in_flight.is_some()
            || self.closing != Closing::Open
        {
            return None;
        }
        if let Some(at) = self.retry_at {
            if at > now {
                return None;
            }
            // Due: from now on only the links hold it back (their coming up asks again).
            self.retry_at = None;
        }
        if !(self.send_up && self.recv_up && numbered) {
            return None;
        }
        self.attempts += 1;
        self.in_flight = Some(self.attempts);
        Some(self.attempts)
    }

    /// The institution answered sign-on `attempt`. Returns the backoff before the next
    /// attempt when it refused, `None` when it accepted or the answer is stale (an attempt
    /// abandoned since: a lost link, a date change).
    pub fn on_answer(&mut self, attempt: u64, accepted: bool, now: Instant) -> Option<Duration> {
        if self.in_flight != Some(attempt) {
            return None;
        }
        if accepted {
            self.in_flight = None;
            self.signed_on = true;
            // A new sign-on opens a new day's business: an old 종료예고 is over.
            self.stop_new = false;
            self.changeover = false;
            self.failures = 0;
            self.retry_at = None;
            return None;
        }
        self.on_failed(attempt, now)
    }

    /// Sign-on `attempt` went unanswered or never reached a link: the next one waits a
    /// jittered backoff, which is returned (`None` for a stale attempt).
    pub fn on_failed(&mut self, attempt: u64, now: Instant) -> Option<Duration> {
        if self.in_flight != Some(attempt) {
            return None;
        }
        self.in_flight = None;
        self.failures = self.failures.saturating_add(1);
        let wait = self.backoff();
        self.retry_at = Some(now + wait);
        Some(wait)
    }

    /// The business date changed: true when a new sign-on is needed before requests go out
    /// (requests that arrive meanwhile wait for it, when the session was signed on).
    pub fn on_day_change(&mut self) -> bool {
        // 종료예고 announced the end of the old date, not of the new one.
        self.stop_new = false;
        if !(self.required && self.at_date_change) {
            return false;
        }
        self.changeover = self.signed_on || self.changeover;
        self.signed_on = false;
        // An attempt of the old day would sign on for the wrong date; its answer is stale.
        self.in_flight = None;
        self.retry_at = None;
        self.failures = 0;
        true
    }

    /// After a panic the in-flight sign-on (if any) and its retry timer are gone.
    pub fn forget_attempt(&mut self) {
        self.in_flight = None;
        self.retry_at = None;
    }

    /// When a retry is due.
    pub fn next_retry(&self) -> Option<Instant> {
        self.retry_at
    }

    /// Shutdown: whether to send 업무종료 now (signed on, a send and a recv path up, as for
    /// any telegram whose answer is awaited). When true the session is signing off until
    /// [`Session::on_signed_off`]; else it is closed at once.
    pub fn begin_sign_off(&mut self) -> bool {
        let send = self.required && self.signed_on && self.send_up && self.recv_up;
        self.closing = if send {
            Closing::SigningOff
        } else {
            Closing::Closed
        };
        send
    }

    /// The sign-off was answered, went unanswered or could not be sent: the session is over.
    pub fn on_signed_off(&mut self) {
        self.closing = Closing::Closed;
        self.signed_on = false;
    }

    /// Whether the sign-off is still awaited.
    pub fn signing_off(&self) -> bool {
        self.closing == Closing::SigningOff
    }

    /// Whether a request may go out now; if not, whether it should wait or why it is refused.
    pub fn gate(&self) -> Gate {
        if !self.send_up {
            Gate::Refuse(RejectReason::Down)
        } else if self.signed_on && self.recv_up {
            Gate::Open
        } else if self.changeover {
            Gate::Wait
        } else if !self.recv_up {
            Gate::Refuse(RejectReason::NoRecvLink)
        } else if self.peer_opens {
            Gate::Refuse(RejectReason::NotOpened)
        } else {
            Gate::Refuse(RejectReason::NotReady)
        }
    }

    /// The state shown in status.
    pub fn state(&self) -> SessionState {
        match self.closing {
            Closing::SigningOff => return SessionState::SigningOff,
            Closing::Closed => return SessionState::SignedOff,
            Closing::Open => {}
        }
        if !self.send_up {
            SessionState::Disconnected
        } else if !self.recv_up {
            SessionState::WaitingForRecv
        } else if self.signed_on && self.stop_new {
            SessionState::Closing
        } else if self.signed_on {
            SessionState::Ready
        } else if self.peer_opens {
            SessionState::WaitingForOpen
        } else if self.in_flight.is_none() && self.retry_at.is_some() {
            SessionState::BackingOff
        } else {
            SessionState::SigningOn
        }
    }

    /// `retry_min` doubled per failure after the first, capped at `retry_max`, plus up to half
    /// again of jitter, never beyond `retry_max`.
    fn backoff(&mut self) -> Duration {
        let SignOnPolicy {
            retry_min,
            retry_max,
            ..
        } = self.policy;
        let factor = 1u32
            .checked_shl(self.failures.saturating_sub(1))
            .unwrap_or(u32::MAX);
        let base = retry_min
            .checked_mul(factor)
            .unwrap_or(retry_max)
            .min(retry_max);
        base.saturating_add(base.mul_f64(self.rng.f64() / 2.0))
            .min(retry_max)
            .max(retry_min.min(retry_max))
    }
}

/// What a link's heartbeat says at a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Beat {
    /// Nothing to do.
    Quiet,
    /// Idle for a poll interval: send a poll.
    Poll,
    /// Nothing received for three poll intervals: the peer is gone, close the link.
    PeerSilent,
}

/// The idle heartbeat of one link: poll after `every` without sending, give up after three
/// without receiving.
#[derive(Debug, Clone)]
pub(crate) struct Heartbeat {
    every: Duration,
    last_rx: Instant,
    last_tx: Instant,
}

impl Heartbeat {
    /// A link that connected at `now`.
    pub fn new(every: Duration, now: Instant) -> Heartbeat {
        Heartbeat {
            every,
            last_rx: now,
            last_tx: now,
        }
    }

    /// How often to look: often enough to poll on time, not more than every 100 ms.
    pub fn tick_period(&self) -> Duration {
        self.every
            .min(Duration::from_secs(1))
            .max(Duration::from_millis(100))
    }

    /// A frame arrived.
    pub fn received(&mut self, now: Instant) {
        self.last_rx = now;
    }

    /// A frame was written.
    pub fn sent(&mut self, now: Instant) {
        self.last_tx = now;
    }

    /// What to do at `now`.
    pub fn on_tick(&self, now: Instant) -> Beat {
        if now.saturating_duration_since(self.last_rx) > self.every * 3 {
            Beat::PeerSilent
        } else if now.saturating_duration_since(self.last_tx) >= self.every {
            Beat::Poll
        } else {
            Beat::Quiet
        }
    }
}

#[cfg(test)]
mod tests;
