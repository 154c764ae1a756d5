//! Session state: 업무개시 (sign-on) after connecting and at a date change, 업무종료 (sign-off)
//! on shutdown, and the idle heartbeat (poll) of each link.
//!
//! I/O-free: the actor (or the link task, for polls) asks what to do and does it.

use std::time::{Duration, Instant};

use crate::domain::RejectReason;

/// How long a sign-on may go unanswered.
pub(crate) const SIGN_ON_TIMEOUT: Duration = Duration::from_secs(10);
/// Retry after a sign-on that could not be sent.
const RETRY_NOT_SENT: Duration = Duration::from_secs(1);
/// Retry after a refused sign-on.
const RETRY_REFUSED: Duration = Duration::from_secs(5);

/// Sign-on state of one institution.
#[derive(Debug)]
pub(crate) struct Session {
    /// The family requires 업무개시 before requests.
    required: bool,
    /// Sign on again when the business date changes.
    at_date_change: bool,
    signed_on: bool,
    /// A sign-on is in flight.
    signing_on: bool,
    retry_at: Option<Instant>,
}

impl Session {
    /// Not signed on. `required`: the institution needs 업무개시 before requests;
    /// `at_date_change`: and again at each new business date.
    pub fn new(required: bool, at_date_change: bool) -> Session {
        Session {
            required,
            at_date_change,
            signed_on: false,
            signing_on: false,
            retry_at: None,
        }
    }

    /// Whether requests may be sent.
    pub fn signed_on(&self) -> bool {
        self.signed_on
    }

    /// Whether a sign-on should be sent now (`can_send`: a send link is up). When true, the
    /// sign-on counts as in flight until it is answered, times out or is not sent. Without a
    /// sign-on requirement, an up send link is enough.
    pub fn wants_sign_on(&mut self, can_send: bool) -> bool {
        if !self.required {
            if can_send {
                self.signed_on = true;
            }
            return false;
        }
        if self.signed_on || self.signing_on || !can_send {
            return false;
        }
        self.signing_on = true;
        true
    }

    /// The institution answered the sign-on.
    pub fn on_answer(&mut self, accepted: bool, now: Instant) {
        self.signing_on = false;
        if accepted {
            self.signed_on = true;
        } else {
            self.retry_after(now, RETRY_REFUSED);
        }
    }

    /// The sign-on never reached a link.
    pub fn on_not_sent(&mut self, now: Instant) {
        self.signing_on = false;
        self.retry_after(now, RETRY_NOT_SENT);
    }

    /// The sign-on went unanswered: the caller asks [`Session::wants_sign_on`] again at once.
    pub fn on_timeout(&mut self) {
        self.signing_on = false;
    }

    /// No link can send any more: sign on again once one is back.
    pub fn on_links_lost(&mut self) {
        self.signed_on = false;
    }

    /// The business date changed.
    pub fn on_day_change(&mut self) {
        if self.at_date_change {
            self.signed_on = false;
        }
    }

    /// After a panic the in-flight sign-on (if any) and its retry timer are gone.
    pub fn forget_attempt(&mut self) {
        self.signing_on = false;
        self.retry_at = None;
    }

    /// When a retry is due.
    pub fn next_retry(&self) -> Option<Instant> {
        self.retry_at
    }

    /// True (once) when the retry is due at `now`.
    pub fn retry_due(&mut self, now: Instant) -> bool {
        match self.retry_at {
            Some(at) if at <= now => {
                self.retry_at = None;
                true
            }
            _ => false,
        }
    }

    /// Whether a request may go out now; if not, why (`can_send`: a send link is up).
    pub fn readiness(&self, can_send: bool) -> Result<(), RejectReason> {
        match (self.signed_on, can_send) {
            (true, _) => Ok(()),
            (false, true) => Err(RejectReason::NotReady),
            (false, false) => Err(RejectReason::Down),
        }
    }

    fn retry_after(&mut self, now: Instant, after: Duration) {
        let at = now + after;
        self.retry_at = Some(self.retry_at.map_or(at, |t| t.min(at)));
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
mod tests {
    use super::*;

    #[test]
    fn signs_on_once_per_attempt_and_only_with_a_send_link() {
        let t0 = Instant::now();
        let mut s = Session::new(true, true);
        assert!(
            !s.wants_sign_on(false),
            "no send link: nothing to sign on with"
        );
        assert_eq!(s.readiness(false), Err(RejectReason::Down));
        assert!(s.wants_sign_on(true));
        assert!(!s.wants_sign_on(true), "one sign-on in flight at a time");
        assert_eq!(s.readiness(true), Err(RejectReason::NotReady));
        s.on_answer(true, t0);
        assert!(s.signed_on());
        assert_eq!(s.readiness(true), Ok(()));
        assert!(!s.wants_sign_on(true), "already signed on");
    }

    #[test]
    fn a_refused_or_unsent_sign_on_is_retried_later() {
        let t0 = Instant::now();
        let mut s = Session::new(true, true);
        assert!(s.wants_sign_on(true));
        s.on_answer(false, t0);
        assert!(!s.signed_on());
        assert_eq!(s.next_retry(), Some(t0 + Duration::from_secs(5)));
        assert!(!s.retry_due(t0 + Duration::from_secs(4)));
        assert!(s.wants_sign_on(true));
        s.on_not_sent(t0);
        assert_eq!(
            s.next_retry(),
            Some(t0 + Duration::from_secs(1)),
            "the earlier retry wins"
        );
        assert!(s.retry_due(t0 + Duration::from_secs(1)));
        assert!(!s.retry_due(t0 + Duration::from_secs(1)), "once");
        assert!(s.wants_sign_on(true));
        s.on_timeout();
        assert!(
            s.wants_sign_on(true),
            "an unanswered sign-on is sent again at once"
        );
    }

    #[test]
    fn date_change_and_lost_links_require_a_new_sign_on() {
        let t0 = Instant::now();
        let mut s = Session::new(true, true);
        assert!(s.wants_sign_on(true));
        s.on_answer(true, t0);
        s.on_day_change();
        assert!(!s.signed_on());
        assert!(s.wants_sign_on(true));
        s.on_answer(true, t0);
        s.on_links_lost();
        assert_eq!(s.readiness(false), Err(RejectReason::Down));

        let mut keep = Session::new(true, false);
        assert!(keep.wants_sign_on(true));
        keep.on_answer(true, t0);
        keep.on_day_change();
        assert!(keep.signed_on(), "sign_on_at_date_change = false");
    }

    #[test]
    fn without_sign_on_an_up_send_link_is_enough() {
        let mut s = Session::new(false, true);
        assert!(!s.wants_sign_on(false));
        assert!(!s.signed_on());
        assert!(!s.wants_sign_on(true), "nothing to send");
        assert!(s.signed_on());
    }

    #[test]
    fn polls_when_idle_and_gives_up_on_a_silent_peer() {
        let t0 = Instant::now();
        let every = Duration::from_secs(30);
        let mut h = Heartbeat::new(every, t0);
        assert_eq!(h.tick_period(), Duration::from_secs(1));
        assert_eq!(h.on_tick(t0 + Duration::from_secs(29)), Beat::Quiet);
        assert_eq!(h.on_tick(t0 + every), Beat::Poll);
        h.sent(t0 + every);
        h.received(t0 + every);
        assert_eq!(
            h.on_tick(t0 + every + Duration::from_secs(10)),
            Beat::Quiet,
            "traffic resets the idle time"
        );
        // Sending keeps us from polling, but the peer must still say something.
        h.sent(t0 + Duration::from_secs(120));
        assert_eq!(h.on_tick(t0 + every + every * 3), Beat::Quiet);
        assert_eq!(
            h.on_tick(t0 + every + every * 3 + Duration::from_millis(1)),
            Beat::PeerSilent
        );
        assert_eq!(
            Heartbeat::new(Duration::from_millis(10), t0).tick_period(),
            Duration::from_millis(100)
        );
    }
}
