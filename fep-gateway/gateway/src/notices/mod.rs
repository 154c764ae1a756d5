//! Delivery of recorded notices to internal consumers, from the journal (an outbox).
//!
//! An institution's actor records each inbound notice in the journal and acknowledges it to
//! the institution; that is all it does. Delivery is separate: every **consumer group** reads
//! the notices it has not acknowledged from the journal — by id, in order, in batches, on the
//! journal's reader connection — and is woken by the journal when new ones are committed (a
//! `watch` of the last id, no payload). So a slow, absent or restarted consumer simply reads
//! further on when it can: nothing is skipped, nobody waits for it, and its memory is bounded
//! (one batch plus what its members hold unacknowledged).
//!
//! Groups, and what each member gets:
//! - a **named group** (native Subscribe with a group): its members, on any connections,
//!   share the notices — each notice goes to one live member; one a member leaves without
//!   acknowledging goes to another;
//! - **[`WEBHOOK`]**: the webhook of an institution is a group with one member;
//! - **[`SUBSCRIBERS`]**: native subscriptions without a group. Each gets every notice the
//!   group has not acknowledged (broadcast), and an Ack from any of them counts for all — the
//!   behaviour of protocol version 1.
//!
//! A group's progress is durable (`notice_groups` and `notice_acks` in the journal), so after
//! a restart it continues where it was acknowledged. A group seen for the first time starts
//! with the oldest notice still in the journal. Each consumer (a member of a group, a webhook)
//! holds at most `concurrency` notices unacknowledged, and a group is sent at most `rate`
//! notices per second (`[institution.notices]`).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use crate::institution::ShutdownRx;
use crate::journal::{now_ms, Journal, StoredNotice};

mod dispatch;
pub(crate) mod native;

use dispatch::{Dispatcher, Event};

/// The group of native subscriptions without a group name (broadcast to each).
pub const SUBSCRIBERS: &str = "$subscribers";
/// The group of an institution's webhook.
pub const WEBHOOK: &str = "$webhook";
/// Longest group name, in bytes.
pub const MAX_GROUP_NAME: usize = 128;
/// Most named groups (per institution) alive in one gateway process.
pub const MAX_GROUPS: usize = 1024;
/// How often the backlog and lag gauges are refreshed.
const BACKLOG_EVERY: Duration = Duration::from_secs(2);

/// How one institution's notices are delivered (`[institution.notices]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// Notices one consumer may hold unacknowledged at once: parallel webhook POSTs, or
    /// notices sent to a native subscriber ahead of its Acks.
    pub concurrency: usize,
    /// Most notices per second sent to one group; `None`: as fast as it acknowledges them.
    pub rate: Option<NonZeroU32>,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        DeliveryPolicy {
            concurrency: 16,
            rate: None,
        }
    }
}

/// Which consumer group a member joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group<'a> {
    /// A native subscription without a group: every notice ([`SUBSCRIBERS`]).
    Broadcast,
    /// A named group: the members share the notices.
    Named(&'a str),
    /// The institution's webhook ([`WEBHOOK`]).
    Webhook,
}

/// Why a member cannot join.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// No institution of that name delivers notices here.
    #[error("unknown institution {0:?}")]
    UnknownInstitution(String),
    /// The group name is not acceptable.
    #[error("group name {name:?}: {reason}")]
    BadGroup {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The process already serves [`MAX_GROUPS`] named groups.
    #[error("too many consumer groups (at most {MAX_GROUPS} per institution)")]
    TooManyGroups,
    /// The gateway is shutting down.
    #[error("shutting down")]
    Stopped,
}

/// Checks a group name: 1 to [`MAX_GROUP_NAME`] bytes of printable ASCII without spaces,
/// not starting with `$` (reserved for the gateway's own groups).
pub fn validate_group(name: &str) -> Result<(), JoinError> {
    let bad = |reason| {
        Err(JoinError::BadGroup {
            name: name.chars().take(MAX_GROUP_NAME).collect(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > MAX_GROUP_NAME {
        return bad("longer than 128 bytes");
    }
    if !name.bytes().all(|b| b.is_ascii_graphic()) {
        return bad("only printable ASCII without spaces is allowed");
    }
    if name.starts_with('$') {
        return bad("names starting with '$' are reserved");
    }
    Ok(())
}

/// The delivery hub: one per gateway, cheap to clone.
#[derive(Clone)]
pub struct Notices {
    hub: Arc<Hub>,
}

type GroupKey = (Arc<str>, Arc<str>);

struct Hub {
    journal: Journal,
    policies: HashMap<Arc<str>, DeliveryPolicy>,
    /// Dispatchers of shared groups (named and webhook), by (group, institution). They live
    /// until shutdown, so a member joining never races one that is ending.
    groups: Mutex<HashMap<GroupKey, mpsc::UnboundedSender<Event>>>,
    next_member: AtomicU64,
    tasks: TaskTracker,
    shutdown: ShutdownRx,
}

impl Notices {
    /// Starts the hub for the institutions in `policies`; its tasks stop on `shutdown`.
    pub fn start(
        journal: Journal,
        policies: impl IntoIterator<Item = (String, DeliveryPolicy)>,
        shutdown: ShutdownRx,
    ) -> Notices {
        let hub = Arc::new(Hub {
            journal,
            policies: policies
                .into_iter()
                .map(|(name, p)| (Arc::from(name), p))
                .collect(),
            groups: Mutex::default(),
            next_member: AtomicU64::new(1),
            tasks: TaskTracker::new(),
            shutdown,
        });
        hub.tasks
            .spawn(backlog_gauges(hub.journal.clone(), hub.shutdown.clone()));
        Notices { hub }
    }

    /// The institutions whose notices are delivered, in no particular order.
    pub fn institutions(&self) -> impl Iterator<Item = &str> {
        self.hub.policies.keys().map(|k| &**k)
    }

    /// Joins `group` for the notices of `institution`. The member receives notices until it is
    /// dropped (then what it holds unacknowledged goes to another member of the group).
    pub fn join(&self, group: Group<'_>, institution: &str) -> Result<Member, JoinError> {
        let (institution, policy) = self
            .hub
            .policies
            .get_key_value(institution)
            .map(|(k, p)| (k.clone(), *p))
            .ok_or_else(|| JoinError::UnknownInstitution(institution.to_owned()))?;
        if *self.hub.shutdown.borrow() {
            return Err(JoinError::Stopped);
        }
        let id = self.hub.next_member.fetch_add(1, Ordering::Relaxed);
        let window = policy.concurrency.max(1);
        let (tx, rx) = mpsc::channel(window);
        let join = Event::Join { member: id, tx };
        let events = match group {
            Group::Broadcast => {
                // A dispatcher of its own, reading the shared state of the SUBSCRIBERS group.
                let (events, inbox) = mpsc::unbounded_channel();
                let _ = events.send(join);
                self.spawn(
                    Arc::from(SUBSCRIBERS),
                    institution.clone(),
                    policy,
                    inbox,
                    true,
                );
                events
            }
            Group::Named(name) => {
                validate_group(name)?;
                self.shared(Arc::from(name), institution.clone(), policy, join, true)?
            }
            Group::Webhook => {
                self.shared(Arc::from(WEBHOOK), institution.clone(), policy, join, false)?
            }
        };
        Ok(Member {
            id,
            institution,
            rx,
            events,
        })
    }

    fn groups(&self) -> MutexGuard<'_, HashMap<GroupKey, mpsc::UnboundedSender<Event>>> {
        // A panic while holding the lock leaves a plain map behind; keep going.
        self.hub.groups.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The dispatcher of a shared group, started if needed; `join` handed to it.
    fn shared(
        &self,
        group: Arc<str>,
        institution: Arc<str>,
        policy: DeliveryPolicy,
        join: Event,
        limited: bool,
    ) -> Result<mpsc::UnboundedSender<Event>, JoinError> {
        let mut groups = self.groups();
        let key = (group, institution);
        let mut join = join;
        if let Some(events) = groups.get(&key).cloned() {
            match events.send(join) {
                Ok(()) => return Ok(events),
                // The dispatcher stopped (its journal failed): a new one takes over.
                Err(mpsc::error::SendError(back)) => {
                    groups.remove(&key);
                    join = back;
                }
            }
        }
        if limited {
            let named = groups
                .keys()
                .filter(|(g, i)| *i == key.1 && !g.starts_with('$'))
                .count();
            if named >= MAX_GROUPS {
                return Err(JoinError::TooManyGroups);
            }
        }
        let (events, inbox) = mpsc::unbounded_channel();
        let _ = events.send(join);
        self.spawn(key.0.clone(), key.1.clone(), policy, inbox, false);
        groups.insert(key, events.clone());
        Ok(events)
    }

    fn spawn(
        &self,
        group: Arc<str>,
        institution: Arc<str>,
        policy: DeliveryPolicy,
        inbox: mpsc::UnboundedReceiver<Event>,
        private: bool,
    ) {
        let dispatcher = Dispatcher::new(
            self.hub.journal.clone(),
            group,
            institution,
            policy,
            private,
        );
        self.hub
            .tasks
            .spawn(dispatcher.run(inbox, self.hub.shutdown.clone()));
    }

    /// Waits (at most `deadline`) until every dispatcher has stopped after the shutdown signal
    /// and written the acknowledgements it had received.
    pub async fn stopped(&self, deadline: Duration) {
        self.hub.tasks.close();
        if tokio::time::timeout(deadline, self.hub.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("notice delivery did not stop within {deadline:?}");
        }
    }
}

/// One member of a consumer group: receives notices, acknowledges them; leaves when dropped.
pub struct Member {
    id: u64,
    institution: Arc<str>,
    rx: mpsc::Receiver<StoredNotice>,
    events: mpsc::UnboundedSender<Event>,
}

impl Member {
    /// The institution whose notices this member receives.
    pub fn institution(&self) -> &Arc<str> {
        &self.institution
    }

    /// The next notice; `None` once delivery has stopped (shutdown).
    pub async fn recv(&mut self) -> Option<StoredNotice> {
        self.rx.recv().await
    }

    /// Polls for the next notice, like [`Member::recv`].
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<StoredNotice>> {
        self.rx.poll_recv(cx)
    }

    /// Acknowledges notice `id` received by this member: the group will not deliver it again.
    /// An id this member does not hold is ignored.
    pub fn ack(&self, id: u64) {
        let _ = self.events.send(Event::Ack {
            member: self.id,
            notice: id,
        });
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.events.send(Event::Leave { member: self.id });
    }
}

/// Refreshes `fep_notice_backlog` and `fep_notice_delivery_lag_seconds` of every group known
/// to the journal (also groups without a live member: that is when they fall behind).
async fn backlog_gauges(journal: Journal, mut shutdown: ShutdownRx) {
    let mut every = tokio::time::interval(BACKLOG_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = shutdown.changed() => return,
        }
        let backlogs = match journal.notice_backlogs().await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "notice backlog not measured");
                continue;
            }
        };
        let now = now_ms();
        for b in backlogs {
            let labels = [("institution", b.institution), ("group", b.group)];
            metrics::gauge!("fep_notice_backlog", &labels).set(b.undelivered as f64);
            let lag_ms = b.oldest_ms.map_or(0, |t| now.saturating_sub(t));
            metrics::gauge!("fep_notice_delivery_lag_seconds", &labels).set(lag_ms as f64 / 1000.0);
        }
    }
}

#[cfg(test)]
mod tests;
