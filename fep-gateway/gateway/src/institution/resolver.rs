//! Unknown outcomes being resolved by the spec's result inquiry (결과조회): first
//! `inquiry_delay` after the outcome became unknown, then every `inquiry_interval` while the
//! answer is "still in progress", at most `inquiry_max_attempts` times. A late response to
//! the original request also settles it.
//!
//! I/O-free: the actor sends the inquiries [`Resolver::pop_due`] hands out and reports what
//! came back.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::domain::{MsgRef, Resolution};
use crate::profile::{CorrKey, Verdict};

/// When inquiries are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    /// First inquiry this long after the outcome became unknown.
    pub delay: Duration,
    /// Between inquiries while unanswered or in progress.
    pub interval: Duration,
    /// Inquiries before giving up.
    pub max_attempts: u32,
}

/// A transaction being resolved.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    /// Its transaction id.
    pub tx_id: u64,
    /// The original telegram's day, 전문번호 and key.
    pub at: MsgRef,
    /// The original telegram (the inquiry copies fields from it).
    pub original: Bytes,
    attempts: u32,
    due: Option<Instant>,
}

/// An inquiry to send now about the transaction of `key`.
#[derive(Debug, Clone)]
pub(crate) struct Due {
    /// Correlation key of the original request.
    pub key: CorrKey,
    /// The original telegram (the inquiry copies its fields).
    pub original: Bytes,
}

/// A transaction whose outcome is now known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settled {
    /// Its transaction id.
    pub tx_id: u64,
    /// The original telegram's day, 전문번호 and key.
    pub at: MsgRef,
    /// What the institution had done.
    pub resolution: Resolution,
    /// The institution's code (declines), else empty.
    pub detail: String,
}

/// What an inquiry's answer (or its absence) led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Resolved.
    Settled(Settled),
    /// Still pending; asked again after the interval.
    Again,
    /// Inquiries exhausted: the transaction stays unknown, flagged `unresolved`.
    Exhausted(Settled),
    /// Not (or no longer) being resolved.
    Unknown,
}

/// Every transaction being resolved, with the time its next inquiry is due.
#[derive(Debug)]
pub(crate) struct Resolver {
    policy: Policy,
    pending: HashMap<CorrKey, Pending>,
    due: BTreeSet<(Instant, CorrKey)>,
}

impl Resolver {
    /// Nothing pending.
    pub fn new(policy: Policy) -> Resolver {
        Resolver {
            policy,
            pending: HashMap::new(),
            due: BTreeSet::new(),
        }
    }

    /// Starts resolving transaction `tx_id` (request `key`, sent as `original`): the first
    /// inquiry is due `delay` after `now`.
    pub fn start(&mut self, key: CorrKey, tx_id: u64, at: MsgRef, original: Bytes, now: Instant) {
        self.unschedule(key);
        self.pending.insert(
            key,
            Pending {
                tx_id,
                at,
                original,
                attempts: 0,
                due: None,
            },
        );
        self.schedule(key, now + self.policy.delay);
    }

    /// Transactions being resolved.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// When the next inquiry is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.due.first().map(|(at, _)| *at)
    }

    /// One inquiry due at or before `now` (counted as an attempt); the actor sends it and
    /// reports its answer to [`Resolver::on_answer`] or its failure to [`Resolver::retry`].
    pub fn pop_due(&mut self, now: Instant) -> Option<Due> {
        let &(at, key) = self.due.first()?;
        if at > now {
            return None;
        }
        self.due.remove(&(at, key));
        let p = self.pending.get_mut(&key)?;
        p.due = None;
        p.attempts += 1;
        Some(Due {
            key,
            original: p.original.clone(),
        })
    }

    /// The inquiry about `key` got no usable answer (not sent, timed out, refused): asks
    /// again after the interval, or gives up after the last attempt.
    pub fn retry(&mut self, key: CorrKey, now: Instant) -> Step {
        let Some(p) = self.pending.get(&key) else {
            return Step::Unknown;
        };
        if p.attempts >= self.policy.max_attempts {
            return match self.pending.remove(&key) {
                Some(p) => {
                    self.unschedule_at(p.due, key);
                    Step::Exhausted(Settled {
                        tx_id: p.tx_id,
                        at: p.at,
                        resolution: Resolution::Unresolved,
                        detail: "inquiries exhausted".into(),
                    })
                }
                None => Step::Unknown,
            };
        }
        self.schedule(key, now + self.policy.interval);
        Step::Again
    }

    /// What an inquiry's answer says about the original (`None`: nothing usable, e.g. the
    /// inquiry itself was refused). Only `Ok` and `Declined` settle it: an `Unknown` verdict
    /// (the institution is itself still processing, 처리중) keeps it pending, asked again.
    pub fn on_answer(&mut self, key: CorrKey, verdict: Option<&Verdict>, now: Instant) -> Step {
        match verdict.and_then(|v| self.settle(key, v)) {
            Some(settled) => Step::Settled(settled),
            None => self.retry(key, now),
        }
    }

    /// A late response to the original request: settles it unless it says "unknown" too
    /// (then the inquiries go on as scheduled).
    pub fn on_late_response(&mut self, key: CorrKey, verdict: &Verdict) -> Option<Settled> {
        self.settle(key, verdict)
    }

    /// After a panic the timers are gone: every pending transaction is asked about again
    /// `delay` after `now`.
    pub fn rearm_all(&mut self, now: Instant) {
        let keys: Vec<CorrKey> = self.pending.keys().copied().collect();
        for key in keys {
            self.unschedule(key);
            self.schedule(key, now + self.policy.delay);
        }
    }

    fn settle(&mut self, key: CorrKey, verdict: &Verdict) -> Option<Settled> {
        let (resolution, detail) = match verdict {
            Verdict::Ok => (Resolution::Ok, String::new()),
            Verdict::Declined(code) => (Resolution::Declined, code.clone()),
            Verdict::Unknown(_) => return None,
        };
        let p = self.pending.remove(&key)?;
        self.unschedule_at(p.due, key);
        Some(Settled {
            tx_id: p.tx_id,
            at: p.at,
            resolution,
            detail,
        })
    }

    fn schedule(&mut self, key: CorrKey, at: Instant) {
        if let Some(p) = self.pending.get_mut(&key) {
            if let Some(old) = p.due.replace(at) {
                self.due.remove(&(old, key));
            }
            self.due.insert((at, key));
        }
    }

    fn unschedule(&mut self, key: CorrKey) {
        let due = self.pending.get_mut(&key).and_then(|p| p.due.take());
        self.unschedule_at(due, key);
    }

    fn unschedule_at(&mut self, due: Option<Instant>, key: CorrKey) {
        if let Some(at) = due {
            self.due.remove(&(at, key));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::MsgKey;

    fn key() -> CorrKey {
        crate::profile::test_key(20_261_122_000_007)
    }

    fn resolver(max_attempts: u32) -> Resolver {
        Resolver::new(Policy {
            delay: Duration::from_secs(300),
            interval: Duration::from_secs(60),
            max_attempts,
        })
    }

    fn at() -> MsgRef {
        MsgRef {
            day: 20261122,
            msg_no: 7,
            key: MsgKey::from(("2000", "100")),
        }
    }

    #[test]
    fn the_first_inquiry_waits_the_delay_then_the_interval() {
        let t0 = Instant::now();
        let mut r = resolver(10);
        r.start(key(), 1, at(), Bytes::from_static(b"orig"), t0);
        assert_eq!(r.next_due(), Some(t0 + Duration::from_secs(300)));
        assert!(r.pop_due(t0 + Duration::from_secs(299)).is_none());
        let due = r
            .pop_due(t0 + Duration::from_secs(300))
            .expect("due after the delay");
        assert_eq!((due.key, &due.original[..]), (key(), &b"orig"[..]));
        assert_eq!(
            r.next_due(),
            None,
            "not asked twice while the inquiry is out"
        );
        let t1 = t0 + Duration::from_secs(310);
        assert_eq!(r.retry(key(), t1), Step::Again);
        assert_eq!(r.next_due(), Some(t1 + Duration::from_secs(60)));
    }

    /// The inquiry's answer is itself "in progress" (처리중, U726): nothing is settled, it is
    /// asked again, and only a final answer settles it.
    #[test]
    fn an_unknown_answer_keeps_the_transaction_pending() {
        let t0 = Instant::now();
        let mut r = resolver(10);
        r.start(key(), 1, at(), Bytes::new(), t0);
        let t1 = t0 + Duration::from_secs(300);
        assert!(r.pop_due(t1).is_some());
        let step = r.on_answer(key(), Some(&Verdict::Unknown("U726".into())), t1);
        assert_eq!(step, Step::Again);
        assert_eq!(r.len(), 1, "still pending");
        assert_eq!(r.next_due(), Some(t1 + Duration::from_secs(60)));
        assert_eq!(
            r.on_answer(key(), None, t1),
            Step::Again,
            "no usable answer either"
        );
        let t2 = t1 + Duration::from_secs(60);
        assert!(r.pop_due(t2).is_some());
        let step = r.on_answer(key(), Some(&Verdict::Declined("NREC".into())), t2);
        assert_eq!(
            step,
            Step::Settled(Settled {
                tx_id: 1,
                at: at(),
                resolution: Resolution::Declined,
                detail: "NREC".into(),
            })
        );
        assert_eq!((r.len(), r.next_due()), (0, None));
    }

    #[test]
    fn inquiries_give_up_after_the_last_attempt() {
        let t0 = Instant::now();
        let mut r = resolver(2);
        r.start(key(), 1, at(), Bytes::new(), t0);
        let mut now = t0 + Duration::from_secs(300);
        assert!(r.pop_due(now).is_some());
        assert_eq!(r.retry(key(), now), Step::Again);
        now += Duration::from_secs(60);
        assert!(r.pop_due(now).is_some());
        match r.retry(key(), now) {
            Step::Exhausted(s) => {
                assert_eq!((s.tx_id, s.resolution), (1, Resolution::Unresolved))
            }
            other => panic!("expected exhaustion, got {other:?}"),
        }
        assert_eq!((r.len(), r.next_due()), (0, None));
        assert_eq!(r.retry(key(), now), Step::Unknown, "gone");
    }

    #[test]
    fn a_late_response_settles_unless_it_is_unknown_too() {
        let t0 = Instant::now();
        let mut r = resolver(10);
        r.start(key(), 1, at(), Bytes::new(), t0);
        assert_eq!(
            r.on_late_response(key(), &Verdict::Unknown("VTIM".into())),
            None
        );
        assert_eq!(
            r.next_due(),
            Some(t0 + Duration::from_secs(300)),
            "the schedule is unchanged"
        );
        let s = r.on_late_response(key(), &Verdict::Ok).expect("settled");
        assert_eq!((s.resolution, s.detail.as_str()), (Resolution::Ok, ""));
        assert_eq!((r.len(), r.next_due()), (0, None));
        assert_eq!(
            r.on_late_response(key(), &Verdict::Ok),
            None,
            "settled once"
        );
    }

    #[test]
    fn after_a_panic_every_pending_transaction_is_asked_again() {
        let t0 = Instant::now();
        let mut r = resolver(10);
        r.start(key(), 1, at(), Bytes::new(), t0);
        r.start(
            crate::profile::test_key(20_261_122_000_008),
            2,
            at(),
            Bytes::new(),
            t0,
        );
        assert!(r.pop_due(t0 + Duration::from_secs(300)).is_some());
        let t1 = t0 + Duration::from_secs(301);
        r.rearm_all(t1);
        let due: Vec<CorrKey> =
            std::iter::from_fn(|| r.pop_due(t1 + Duration::from_secs(300)).map(|d| d.key))
                .collect();
        assert_eq!(due.len(), 2, "both, the one whose inquiry was out included");
    }
}
