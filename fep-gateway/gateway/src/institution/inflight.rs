//! The match table: telegrams sent (or being journaled before sending), by correlation key,
//! with their deadlines; and the late table, which remembers requests answered `unknown` so a
//! response arriving after its deadline still resolves them.
//!
//! I/O-free: time is passed in, expiry is polled ([`InFlight::pop_expired`]) by the actor's
//! one timer, armed at [`InFlight::next_deadline`].

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::breaker::Permit;
use crate::domain::MsgRef;
use crate::profile::CorrKey;

/// One telegram awaiting its answer. `P` says why it was sent (a caller's request, the
/// sign-on, a result inquiry).
#[derive(Debug)]
pub(crate) struct Entry<P> {
    /// Why it was sent, and who waits for it.
    pub purpose: P,
    /// The telegram as stamped (kept for the result inquiry's copied fields).
    pub telegram: Bytes,
    /// Day, 전문번호 and message key.
    pub at: MsgRef,
    /// The circuit-breaker permit its outcome settles (callers' requests only).
    pub permit: Option<Permit>,
    /// When it was written to a link (until then: when it was stamped).
    pub sent_at: Instant,
    /// When it is given up.
    pub deadline: Instant,
    /// The link it was written to; `None` while its journal row is being committed.
    pub link: Option<usize>,
}

/// Telegrams in flight by correlation key, ordered by deadline.
#[derive(Debug)]
pub(crate) struct InFlight<P> {
    entries: HashMap<CorrKey, Entry<P>>,
    deadlines: BTreeSet<(Instant, CorrKey)>,
}

impl<P> Default for InFlight<P> {
    fn default() -> Self {
        InFlight {
            entries: HashMap::new(),
            deadlines: BTreeSet::new(),
        }
    }
}

impl<P> InFlight<P> {
    /// Tracks a telegram; returns the entry it displaced (a 전문번호 reused within a day,
    /// which the sequencer prevents).
    pub fn insert(&mut self, key: CorrKey, entry: Entry<P>) -> Option<Entry<P>> {
        self.deadlines.insert((entry.deadline, key));
        let old = self.entries.insert(key, entry);
        if let Some(old) = &old {
            self.deadlines.remove(&(old.deadline, key));
        }
        old
    }

    /// The entry of `key`.
    pub fn get(&self, key: CorrKey) -> Option<&Entry<P>> {
        self.entries.get(&key)
    }

    /// Records that the telegram of `key` went out on `link` at `now`; false if it is gone
    /// (expired while it was being journaled).
    pub fn written(&mut self, key: CorrKey, link: usize, now: Instant) -> bool {
        match self.entries.get_mut(&key) {
            Some(e) => {
                e.link = Some(link);
                e.sent_at = now;
                true
            }
            None => false,
        }
    }

    /// Attaches the breaker permit the outcome of `key` will settle.
    pub fn set_permit(&mut self, key: CorrKey, permit: Permit) -> Result<(), Permit> {
        match self.entries.get_mut(&key) {
            Some(e) => {
                e.permit = Some(permit);
                Ok(())
            }
            None => Err(permit),
        }
    }

    /// Stops tracking `key` (answered, or settled otherwise).
    pub fn remove(&mut self, key: CorrKey) -> Option<Entry<P>> {
        let e = self.entries.remove(&key)?;
        self.deadlines.remove(&(e.deadline, key));
        Some(e)
    }

    /// The earliest deadline, when the actor's timer must fire.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    /// Removes and returns one entry whose deadline is at or before `now`, earliest first.
    pub fn pop_expired(&mut self, now: Instant) -> Option<(CorrKey, Entry<P>)> {
        let &(at, key) = self.deadlines.first()?;
        if at > now {
            return None;
        }
        self.remove(key).map(|e| (key, e))
    }

    /// Keys of telegrams written to `link` (their answers were due on it, if it is duplex).
    pub fn written_on(&self, link: usize) -> Vec<CorrKey> {
        self.entries
            .iter()
            .filter(|(_, e)| e.link == Some(link))
            .map(|(k, _)| *k)
            .collect()
    }

    /// Entries tracked.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Entries whose purpose satisfies `pred`.
    pub fn count(&self, pred: impl Fn(&P) -> bool) -> usize {
        self.entries.values().filter(|e| pred(&e.purpose)).count()
    }

    /// Removes everything (a panic or a stop settles them all).
    pub fn drain(&mut self) -> impl Iterator<Item = (CorrKey, Entry<P>)> + '_ {
        self.deadlines.clear();
        self.entries.drain()
    }
}

/// Requests answered `unknown`, remembered for a while so that a late response resolves them.
#[derive(Debug)]
pub(crate) struct Late {
    window: Duration,
    by_key: HashMap<CorrKey, (u64, Instant)>,
    /// Insertion order, for forgetting the oldest first.
    order: VecDeque<(Instant, CorrKey)>,
}

impl Late {
    /// Remembers each request for `window`.
    pub fn new(window: Duration) -> Late {
        Late {
            window,
            by_key: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Remembers that `key` (transaction `tx_id`) was answered `unknown` at `now`.
    pub fn remember(&mut self, key: CorrKey, tx_id: u64, now: Instant) {
        self.by_key.insert(key, (tx_id, now));
        self.order.push_back((now, key));
    }

    /// The transaction a late response of `key` belongs to (once).
    pub fn take(&mut self, key: CorrKey) -> Option<u64> {
        self.by_key.remove(&key).map(|(tx, _)| tx)
    }

    /// Forgets requests older than the window.
    pub fn forget_old(&mut self, now: Instant) {
        while let Some(&(at, key)) = self.order.front() {
            if now.saturating_duration_since(at) <= self.window {
                break;
            }
            self.order.pop_front();
            // Only if it is this entry, not a newer one of the same key.
            if self.by_key.get(&key).is_some_and(|(_, t)| *t == at) {
                self.by_key.remove(&key);
            }
        }
    }

    /// Requests remembered.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::MsgKey;
    use crate::profile::test_key as k;

    fn entry(purpose: &'static str, deadline: Instant) -> Entry<&'static str> {
        Entry {
            purpose,
            telegram: Bytes::new(),
            at: MsgRef {
                day: 20261122,
                msg_no: 1,
                key: MsgKey::from(("2000", "100")),
            },
            permit: None,
            sent_at: deadline - Duration::from_secs(10),
            deadline,
            link: None,
        }
    }

    #[test]
    fn entries_expire_in_deadline_order_and_not_before() {
        let t0 = Instant::now();
        let mut f = InFlight::default();
        f.insert(k(1), entry("late", t0 + Duration::from_secs(3)));
        f.insert(k(2), entry("early", t0 + Duration::from_secs(1)));
        f.insert(k(3), entry("middle", t0 + Duration::from_secs(2)));
        assert_eq!(f.next_deadline(), Some(t0 + Duration::from_secs(1)));
        assert!(f.pop_expired(t0).is_none(), "nothing is due yet");
        let due: Vec<CorrKey> =
            std::iter::from_fn(|| f.pop_expired(t0 + Duration::from_secs(2)).map(|(k, _)| k))
                .collect();
        assert_eq!(due, [k(2), k(3)]);
        assert_eq!(f.len(), 1);
        assert_eq!(f.next_deadline(), Some(t0 + Duration::from_secs(3)));
    }

    #[test]
    fn an_answered_entry_leaves_the_deadline_order() {
        let t0 = Instant::now();
        let mut f = InFlight::default();
        f.insert(k(1), entry("a", t0 + Duration::from_secs(1)));
        f.insert(k(2), entry("b", t0 + Duration::from_secs(2)));
        assert_eq!(f.remove(k(1)).map(|e| e.purpose), Some("a"));
        assert!(f.remove(k(1)).is_none());
        assert_eq!(f.next_deadline(), Some(t0 + Duration::from_secs(2)));
        assert!(f.pop_expired(t0 + Duration::from_secs(1)).is_none());
        // Replacing an entry keeps one deadline per key.
        let displaced = f.insert(k(2), entry("c", t0 + Duration::from_secs(5)));
        assert_eq!(displaced.map(|e| e.purpose), Some("b"));
        assert_eq!(f.next_deadline(), Some(t0 + Duration::from_secs(5)));
    }

    #[test]
    fn writes_are_recorded_per_link() {
        let t0 = Instant::now();
        let mut f = InFlight::default();
        f.insert(k(1), entry("user", t0 + Duration::from_secs(1)));
        f.insert(k(2), entry("user", t0 + Duration::from_secs(1)));
        f.insert(k(3), entry("sign-on", t0 + Duration::from_secs(1)));
        assert!(f.written(k(1), 0, t0));
        assert!(f.written(k(3), 1, t0));
        assert!(!f.written(k(9), 0, t0), "gone entries are not written");
        assert_eq!(f.written_on(0), [k(1)]);
        assert_eq!(
            f.get(k(1)).map(|e| (e.link, e.sent_at)),
            Some((Some(0), t0))
        );
        assert_eq!(
            f.get(k(2)).map(|e| e.link),
            Some(None),
            "still being journaled"
        );
        assert_eq!(f.count(|p| *p == "user"), 2);
        assert_eq!(f.drain().count(), 3);
        assert_eq!((f.len(), f.next_deadline()), (0, None));
    }

    #[test]
    fn late_responses_are_matched_within_the_window_only() {
        let t0 = Instant::now();
        let mut late = Late::new(Duration::from_secs(600));
        late.remember(k(7), 70, t0);
        late.remember(k(8), 80, t0 + Duration::from_secs(300));
        late.forget_old(t0 + Duration::from_secs(600));
        assert_eq!(late.len(), 2, "exactly at the window: kept");
        late.forget_old(t0 + Duration::from_secs(601));
        assert_eq!(late.take(k(7)), None, "older than the window: forgotten");
        assert_eq!(late.take(k(8)), Some(80));
        assert_eq!(late.take(k(8)), None, "matched once");
    }
}
