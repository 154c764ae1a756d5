//! One consumer group's dispatcher for one institution: reads the group's undelivered notices
//! from the journal in batches, hands each to a member with room, and writes the members'
//! acknowledgements back.
//!
//! Memory: one batch (plus, after a member leaves, what it held) waiting in `ready`, and at
//! most `concurrency` notices per member in `held`. The dispatcher never waits for a member:
//! a member's channel has room for everything it may hold, so sending never blocks; a member
//! that does not acknowledge simply gets nothing more.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::mpsc;
use tokio::time::Sleep;

use super::DeliveryPolicy;
use crate::institution::ShutdownRx;
use crate::journal::{Journal, JournalError, NoticeBatch, StoredNotice};

/// Notices read from the journal at once.
const BATCH: usize = 256;
/// Pause after a failed journal read or write before trying again.
const RETRY: Duration = Duration::from_secs(1);
/// How often a group with live members is marked as seen in the journal even when it
/// acknowledges nothing (retention forgets groups not seen for `journal_retention_days`).
const TOUCH_EVERY: Duration = Duration::from_secs(3600);

/// What members tell their dispatcher.
pub(super) enum Event {
    /// A member joins; its notices go into `tx` (capacity: the group's window).
    Join {
        member: u64,
        tx: mpsc::Sender<StoredNotice>,
    },
    /// A member is gone: what it holds goes to the others.
    Leave { member: u64 },
    /// A member acknowledges a notice it holds.
    Ack { member: u64, notice: u64 },
}

/// A live member and how many notices it holds unacknowledged.
struct Slot {
    id: u64,
    tx: mpsc::Sender<StoredNotice>,
    held: usize,
}

/// A pending journal read: the committed id seen when it started, and its result.
type Fetch = BoxFuture<'static, (u64, Result<NoticeBatch, JournalError>)>;
/// A pending write of acknowledgements: the ids and cursor written, and its result.
type Write = BoxFuture<'static, (Vec<u64>, u64, Result<(), JournalError>)>;

pub(super) struct Dispatcher {
    journal: Journal,
    group: Arc<str>,
    institution: Arc<str>,
    window: usize,
    limiter: Option<DefaultDirectRateLimiter>,
    /// A broadcast subscription's own dispatcher: ends when its one member leaves.
    private: bool,
    members: Vec<Slot>,
    /// Where the search for a member with room starts (rotates, so ties alternate).
    turn: usize,
    /// Every notice up to this id has been read (or was acknowledged when read).
    fetched_to: u64,
    /// The last read was a full batch: more may be waiting.
    more: bool,
    /// Read, not handed to a member yet.
    ready: BTreeMap<u64, StoredNotice>,
    /// Handed to a member, not acknowledged: notice id → (member, notice).
    held: BTreeMap<u64, (u64, StoredNotice)>,
    /// Acknowledged since the last write.
    acks: Vec<u64>,
    /// The cursor as last written.
    written: u64,
    delivered: metrics::Counter,
}

impl Dispatcher {
    pub(super) fn new(
        journal: Journal,
        group: Arc<str>,
        institution: Arc<str>,
        policy: DeliveryPolicy,
        private: bool,
    ) -> Dispatcher {
        let delivered = metrics::counter!(
            "fep_notices_delivered_total",
            "institution" => institution.to_string(),
            "group" => group.to_string()
        );
        Dispatcher {
            journal,
            group,
            institution,
            window: policy.concurrency.max(1),
            limiter: policy
                .rate
                .map(|r| RateLimiter::direct(Quota::per_second(r))),
            private,
            members: Vec::new(),
            turn: 0,
            fetched_to: 0,
            more: true,
            ready: BTreeMap::new(),
            held: BTreeMap::new(),
            acks: Vec::new(),
            written: 0,
            delivered,
        }
    }

    /// Delivers until shutdown (or, when private, until its member leaves); then writes the
    /// acknowledgements it received.
    pub(super) async fn run(
        mut self,
        mut inbox: mpsc::UnboundedReceiver<Event>,
        mut shutdown: ShutdownRx,
    ) {
        // Where the group stands, before anything is delivered.
        let cursor = loop {
            match self
                .journal
                .notice_group_open(&self.group, &self.institution)
                .await
            {
                Ok(c) => break c,
                Err(JournalError::Stopped) => return,
                Err(e) => {
                    tracing::warn!(group = %self.group, institution = %self.institution, error = %e, "notice group not opened; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(RETRY) => {}
                        _ = shutdown.changed() => return,
                    }
                }
            }
        };
        self.written = cursor;
        self.fetched_to = cursor.saturating_sub(1);
        let mut committed = self.journal.notice_watch(&self.institution);
        let mut fetch: Option<Fetch> = None;
        let mut write: Option<Write> = None;
        let (mut rate_pause, mut read_retry, mut write_retry) = (None, None, None);
        let start = tokio::time::Instant::now() + TOUCH_EVERY;
        let mut touch = tokio::time::interval_at(start, TOUCH_EVERY);
        let mut touch_due = false;
        loop {
            if rate_pause.is_none() {
                rate_pause = self
                    .dispatch()
                    .map(|wait| Box::pin(tokio::time::sleep(wait)));
            }
            let seen = *committed.borrow_and_update();
            if fetch.is_none() && read_retry.is_none() && self.wants_fetch(seen) {
                fetch = Some(self.fetch(seen));
            }
            if write.is_none() && write_retry.is_none() {
                write = self.write(std::mem::take(&mut touch_due));
            }
            tokio::select! {
                event = inbox.recv() => match event {
                    Some(event) => {
                        if !self.on_event(event) {
                            break;
                        }
                    }
                    None => break,
                },
                (seen, result) = settle(&mut fetch) => {
                    fetch = None;
                    match result {
                        Ok(batch) => self.on_batch(seen, batch),
                        Err(e) => {
                            tracing::warn!(group = %self.group, institution = %self.institution, error = %e, "notices not read; retrying");
                            read_retry = Some(Box::pin(tokio::time::sleep(RETRY)));
                        }
                    }
                }
                (ids, cursor, result) = settle(&mut write) => {
                    write = None;
                    if !self.written(ids, cursor, result) {
                        write_retry = Some(Box::pin(tokio::time::sleep(RETRY)));
                    }
                }
                // The journal keeps the sender for as long as it runs.
                Ok(()) = committed.changed() => {}
                () = expire(&mut rate_pause) => rate_pause = None,
                () = expire(&mut read_retry) => read_retry = None,
                () = expire(&mut write_retry) => write_retry = None,
                _ = touch.tick() => touch_due = !self.members.is_empty(),
                _ = shutdown.changed() => break,
            }
        }
        // What the members acknowledged (up to now) is written before the gateway flushes the
        // journal.
        while let Ok(event) = inbox.try_recv() {
            self.on_event(event);
        }
        if let Some(pending) = write.take() {
            let (ids, cursor, result) = pending.await;
            self.written(ids, cursor, result);
        }
        if let Some(last) = self.write(false) {
            let (ids, cursor, result) = last.await;
            self.written(ids, cursor, result);
        }
    }

    /// Hands ready notices to members with room; `Some(wait)` when the rate limit says to
    /// wait before the next one.
    fn dispatch(&mut self) -> Option<Duration> {
        while !self.ready.is_empty() {
            let slot = self.pick()?;
            if let Some(limiter) = &self.limiter {
                if let Err(not_until) = limiter.check() {
                    return Some(not_until.wait_time_from(DefaultClock::default().now()));
                }
            }
            let (id, notice) = self.ready.pop_first()?;
            let member = &mut self.members[slot];
            match member.tx.try_send(notice.clone()) {
                Ok(()) => {
                    member.held += 1;
                    self.held.insert(id, (member.id, notice));
                }
                // Cannot happen (the channel holds no more than the member may hold); the
                // notice waits for the next round rather than being lost.
                Err(mpsc::error::TrySendError::Full(_)) => {
                    self.ready.insert(id, notice);
                    return None;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.ready.insert(id, notice);
                    let gone = member.id;
                    self.leave(gone);
                }
            }
        }
        None
    }

    /// The member with the fewest notices held among those with room; ties in turn.
    fn pick(&mut self) -> Option<usize> {
        let n = self.members.len();
        let mut best: Option<usize> = None;
        for k in 0..n {
            let i = (self.turn + k) % n;
            let held = self.members[i].held;
            if held < self.window && best.is_none_or(|b| held < self.members[b].held) {
                best = Some(i);
            }
        }
        if let Some(b) = best {
            self.turn = (b + 1) % n;
        }
        best
    }

    fn wants_fetch(&self, committed: u64) -> bool {
        !self.members.is_empty()
            && self.ready.len() < BATCH / 2
            && (self.more || committed > self.fetched_to)
    }

    fn fetch(&self, seen: u64) -> Fetch {
        let (journal, group, institution) = (
            self.journal.clone(),
            self.group.clone(),
            self.institution.clone(),
        );
        let after = self.fetched_to;
        Box::pin(async move {
            let batch = journal
                .undelivered_notices(group, institution, after, BATCH)
                .await;
            (seen, batch)
        })
    }

    /// A batch read after the journal had committed up to `seen`.
    fn on_batch(&mut self, seen: u64, batch: NoticeBatch) {
        for notice in batch.notices {
            self.fetched_to = self.fetched_to.max(notice.id);
            self.ready.insert(notice.id, notice);
        }
        self.more = !batch.exhausted;
        if batch.exhausted {
            // The read began after `seen` was committed and found nothing more: everything
            // up to it is read, or was acknowledged already.
            self.fetched_to = self.fetched_to.max(seen);
        }
    }

    /// False when a private dispatcher has lost its member (it ends).
    fn on_event(&mut self, event: Event) -> bool {
        match event {
            Event::Join { member, tx } => self.members.push(Slot {
                id: member,
                tx,
                held: 0,
            }),
            Event::Leave { member } => {
                self.leave(member);
                if self.private && self.members.is_empty() {
                    return false;
                }
            }
            Event::Ack { member, notice } => {
                if self.held.get(&notice).is_some_and(|(m, _)| *m == member) {
                    self.held.remove(&notice);
                    if let Some(slot) = self.members.iter_mut().find(|s| s.id == member) {
                        slot.held = slot.held.saturating_sub(1);
                    }
                    self.acks.push(notice);
                    self.delivered.increment(1);
                }
            }
        }
        true
    }

    /// Removes a member; the notices it held are ready for the others.
    fn leave(&mut self, member: u64) {
        self.members.retain(|s| s.id != member);
        let released: Vec<u64> = self
            .held
            .iter()
            .filter(|(_, (m, _))| *m == member)
            .map(|(id, _)| *id)
            .collect();
        for id in released {
            if let Some((_, notice)) = self.held.remove(&id) {
                self.ready.insert(id, notice);
            }
        }
    }

    /// Every notice below this id is acknowledged by the group.
    fn cursor(&self) -> u64 {
        let mut cursor = self.fetched_to.saturating_add(1);
        if let Some((&id, _)) = self.ready.first_key_value() {
            cursor = cursor.min(id);
        }
        if let Some((&id, _)) = self.held.first_key_value() {
            cursor = cursor.min(id);
        }
        cursor
    }

    /// A write of the acknowledgements received since the last one, when there is something
    /// to write (or `touch`).
    fn write(&mut self, touch: bool) -> Option<Write> {
        let cursor = self.cursor();
        if self.acks.is_empty() && cursor <= self.written && !touch {
            return None;
        }
        let ids = std::mem::take(&mut self.acks);
        let (journal, group, institution) = (
            self.journal.clone(),
            self.group.clone(),
            self.institution.clone(),
        );
        Some(Box::pin(async move {
            let result = journal
                .notice_acks(group, institution, ids.clone(), cursor)
                .await;
            (ids, cursor, result)
        }))
    }

    /// Takes a write's result; on failure its acknowledgements are written again later.
    fn written(&mut self, ids: Vec<u64>, cursor: u64, result: Result<(), JournalError>) -> bool {
        match result {
            Ok(()) => {
                self.written = self.written.max(cursor);
                true
            }
            Err(e) => {
                tracing::warn!(group = %self.group, institution = %self.institution, error = %e, "notice acknowledgements not recorded; retrying");
                self.acks.extend(ids);
                false
            }
        }
    }
}

/// The output of an optional future, which is then done (the caller sets it to `None`); never
/// ready when there is none.
async fn settle<T>(pending: &mut Option<BoxFuture<'static, T>>) -> T {
    match pending {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

/// Completes when an optional timer fires; never when there is none.
async fn expire(timer: &mut Option<Pin<Box<Sleep>>>) {
    match timer {
        Some(t) => t.as_mut().await,
        None => std::future::pending().await,
    }
}
