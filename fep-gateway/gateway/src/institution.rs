//! One institution = one failure domain: an actor task that owns the institution's sequencer,
//! in-flight table, timers and link senders. Nothing here is shared with other institutions,
//! and nothing on the request path takes a lock.
//!
//! Request path: admission (bounded queue, in-flight limit) → 전문번호 from a durably reserved
//! block → stamped into the telegram → written to a send link → matched by (전송일자, 전문번호)
//! on any recv link → answered. A request whose answer does not come in time is answered
//! `unknown` and, when the spec has a result inquiry, resolved by it; the resolution is recorded
//! under the transaction id.

use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_util::time::{delay_queue, DelayQueue};

use crate::breaker::{CircuitBreaker, Permit, State, Transition};
use crate::clock::{day_of, hms_of, SharedClock};
use crate::journal::{now_ms, Journal, JournalError, TelegramRow, TxRecord};
use crate::profile::{CorrKey, FrameKind, Profile, Verdict};
use crate::protocol::Outcome;
use crate::settings::InstitutionSettings;

/// 전문번호 reserved per journal write; a crash loses at most this many numbers (gaps are fine,
/// reuse is not).
const SEQ_BLOCK: u32 = 1000;
/// `InFlight::link` of a telegram still being journaled (not yet written to any link).
const NOT_WRITTEN: usize = usize::MAX;

/// Late responses are remembered this long after their request timed out.
const LATE_WINDOW: Duration = Duration::from_secs(600);

/// The answer to a submitted request.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Gateway transaction id (query it at `/v1/transactions/{id}`).
    pub tx_id: u64,
    /// What happened.
    pub outcome: Outcome,
    /// Response code or reason.
    pub detail: String,
    /// The institution's response telegram, if any.
    pub telegram: Bytes,
}

impl Reply {
    fn rejected(tx_id: u64, reason: impl Into<String>) -> Reply {
        Reply {
            tx_id,
            outcome: Outcome::Rejected,
            detail: reason.into(),
            telegram: Bytes::new(),
        }
    }
}

/// An unsolicited notice, recorded durably, for internal subscribers.
#[derive(Debug, Clone)]
pub struct NoticeEvent {
    /// Institution name.
    pub institution: Arc<str>,
    /// Journal id.
    pub id: u64,
    /// The raw telegram.
    pub telegram: Bytes,
}

/// A link's state, as shown in status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// Not connected (connecting, backing off or waiting for the peer).
    Down,
    /// Connected.
    Up,
}

/// Counters of one institution.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counters {
    /// Requests submitted.
    pub requests: u64,
    /// Answered ok.
    pub ok: u64,
    /// Answered declined.
    pub declined: u64,
    /// Answered unknown.
    pub unknown: u64,
    /// Unknowns later resolved (by inquiry or late response).
    pub unknown_resolved: u64,
    /// … of which the institution had executed.
    pub resolved_ok: u64,
    /// … of which the institution had not executed.
    pub resolved_declined: u64,
    /// Unknowns whose inquiries were exhausted: need manual reconciliation.
    pub unresolved: u64,
    /// Times the institution's task recovered from a panic.
    pub restarts: u64,
    /// Rejected before sending.
    pub rejected: u64,
    /// Responses that arrived after their request timed out.
    pub late: u64,
    /// Responses that matched nothing.
    pub unmatched: u64,
    /// Inbound notices recorded.
    pub notices: u64,
    /// Inbound notices that were duplicates.
    pub duplicate_notices: u64,
}

/// A link as shown in status.
#[derive(Debug, Clone, Serialize)]
pub struct LinkStatus {
    /// Link name.
    pub name: String,
    /// send / recv / both.
    pub direction: String,
    /// Up or down.
    pub state: LinkState,
}

/// An institution's status.
#[derive(Debug, Clone, Serialize)]
pub struct InstitutionStatus {
    /// Name.
    pub name: String,
    /// Signed on for today.
    pub signed_on: bool,
    /// Business date (YYYYMMDD) of the current number range.
    pub day: u32,
    /// Links.
    pub links: Vec<LinkStatus>,
    /// Requests awaiting an answer.
    pub inflight: usize,
    /// Unknowns still being resolved.
    pub resolving: usize,
    /// Circuit breaker state: closed, open or half_open (none when disabled).
    pub breaker: String,
    /// Counters.
    pub counters: Counters,
}

/// Messages from link tasks.
/// `conn` identifies the connection, so a stale `Down` cannot clear a newer connection.
pub(crate) enum LinkEvent {
    Up {
        link: usize,
        conn: u64,
        sender: mpsc::Sender<Bytes>,
        can_send: bool,
    },
    Frame {
        link: usize,
        frame: Bytes,
    },
    Down {
        link: usize,
        conn: u64,
    },
}

struct Submit {
    telegram: Vec<u8>,
    timeout: Duration,
    queued_at: Instant,
    reply: oneshot::Sender<Reply>,
    tx_id: u64,
}

enum Control {
    Status(oneshot::Sender<InstitutionStatus>),
    Shutdown(oneshot::Sender<()>),
    /// Test hook: panic inside the actor.
    #[cfg(test)]
    Panic,
}

/// Handle to an institution actor; cheap to clone.
#[derive(Clone)]
pub struct InstitutionHandle {
    name: Arc<str>,
    default_timeout: Duration,
    idempotency_window: Duration,
    profile: Arc<Profile>,
    submit: mpsc::Sender<Submit>,
    control: mpsc::Sender<Control>,
    notices: broadcast::Sender<NoticeEvent>,
}

static NEXT_TX: AtomicU64 = AtomicU64::new(0);

/// A process-unique transaction id that also does not repeat across restarts (time-based start).
pub fn next_tx_id() -> u64 {
    let _ = NEXT_TX.compare_exchange(0, now_ms() * 1000, Ordering::Relaxed, Ordering::Relaxed);
    NEXT_TX.fetch_add(1, Ordering::Relaxed)
}

impl InstitutionHandle {
    /// Institution name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The institution's `request_timeout`: how long a request waits when it names none.
    pub fn request_timeout(&self) -> Duration {
        self.default_timeout
    }

    /// How long an idempotency key answers with its transaction (`idempotency_window`).
    pub fn idempotency_window(&self) -> Duration {
        self.idempotency_window
    }

    /// The institution's telegram profile.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// Submits a telegram (header fields the gateway owns are filled in); the reply comes when
    /// it is settled — never dropped: a closed actor answers `rejected`. `None` = the
    /// institution's `request_timeout`.
    pub async fn request(&self, telegram: Vec<u8>, timeout: Option<Duration>) -> Reply {
        self.request_as(next_tx_id(), telegram, timeout).await
    }

    /// [`InstitutionHandle::request`] under a transaction id from [`next_tx_id`] that the
    /// caller recorded first (an idempotency key's transaction).
    pub async fn request_as(
        &self,
        tx_id: u64,
        telegram: Vec<u8>,
        timeout: Option<Duration>,
    ) -> Reply {
        let timeout = timeout.unwrap_or(self.default_timeout);
        let (reply, rx) = oneshot::channel();
        let submit = Submit {
            telegram,
            timeout,
            queued_at: Instant::now(),
            reply,
            tx_id,
        };
        match self.submit.try_send(submit) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                return Reply::rejected(tx_id, "overload: queue full")
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                return Reply::rejected(tx_id, "institution stopped")
            }
        }
        // The actor answers every submission; a vanished actor means it was not sent.
        // The actor answers every submission it took; a reply dropped unanswered can only
        // mean the task died mid-request, after which the telegram may have been sent.
        rx.await.unwrap_or_else(|_| Reply {
            tx_id,
            outcome: Outcome::Unknown,
            detail: "institution task stopped while handling the request".into(),
            telegram: Bytes::new(),
        })
    }

    /// Current status (None if the actor is gone or does not answer within a second).
    pub async fn status(&self) -> Option<InstitutionStatus> {
        let (tx, rx) = oneshot::channel();
        self.control.send(Control::Status(tx)).await.ok()?;
        tokio::time::timeout(Duration::from_secs(1), rx)
            .await
            .ok()?
            .ok()
    }

    /// Subscribes to this institution's recorded notices.
    pub fn notices(&self) -> broadcast::Receiver<NoticeEvent> {
        self.notices.subscribe()
    }

    /// Signs off and stops, waiting up to `deadline` for in-flight requests.
    pub async fn shutdown(&self, deadline: Duration) {
        let (tx, rx) = oneshot::channel();
        if self.control.send(Control::Shutdown(tx)).await.is_ok() {
            let _ = tokio::time::timeout(deadline, rx).await;
        }
    }
}

/// Why a request is in flight.
enum Purpose {
    User {
        reply: oneshot::Sender<Reply>,
        tx_id: u64,
    },
    SignOn,
    Inquiry {
        orig: CorrKey,
    },
}

struct InFlight {
    /// The telegram as sent (kept for the result inquiry's copied fields).
    telegram: Bytes,
    /// The circuit-breaker permit the outcome settles (user requests only).
    permit: Option<Permit>,
    purpose: Purpose,
    msg_type: String,
    msg_no: u32,
    day: u32,
    sent_at: Instant,
    deadline: Option<delay_queue::Key>,
    link: usize,
}

/// A transfer whose outcome is unknown, being resolved by inquiry.
struct Unresolved {
    tx_id: u64,
    original: Bytes,
    msg_no: u32,
    day: u32,
    msg_type: String,
    attempts: u32,
    timer: Option<delay_queue::Key>,
}

enum Timer {
    Deadline(CorrKey),
    Inquiry(CorrKey),
    SignOnRetry,
}

struct Link {
    name: String,
    direction: String,
    sender: Option<mpsc::Sender<Bytes>>,
    conn: u64,
    can_send: bool,
}

struct Actor {
    name: Arc<str>,
    settings: InstitutionSettings,
    profile: Arc<Profile>,
    journal: Journal,
    clock: SharedClock,
    links: Vec<Link>,
    next_link: usize,
    day: u32,
    seq: Range<u32>,
    spare: Option<Range<u32>>,
    reserving: bool,
    waiting: VecDeque<Submit>,
    inflight: HashMap<CorrKey, InFlight>,
    late: HashMap<CorrKey, (u64, Instant)>,
    unresolved: HashMap<CorrKey, Unresolved>,
    timers: DelayQueue<Timer>,
    signed_on: bool,
    counters: Counters,
    notices: broadcast::Sender<NoticeEvent>,
    seq_tx: mpsc::Sender<(u32, Result<Range<u32>, JournalError>)>,
    shutdown: Option<oneshot::Sender<()>>,
    limiter: Option<governor::DefaultDirectRateLimiter>,
    journaling: FuturesUnordered<Journaled>,
    breaker: Option<CircuitBreaker>,
    metrics: Metrics,
}

/// Metric handles of the request path, registered once: building the label set (and its
/// `String`s) on every request was a measurable share of the actor's time.
struct Metrics {
    inflight: metrics::Gauge,
    duration: metrics::Histogram,
    /// `fep_requests_total` by msg_type, then by outcome.
    requests: HashMap<String, Vec<(Outcome, metrics::Counter)>>,
}

impl Metrics {
    fn new(name: &Arc<str>) -> Metrics {
        Metrics {
            inflight: metrics::gauge!("fep_inflight_requests", "institution" => name.to_string()),
            duration: metrics::histogram!("fep_request_duration_seconds", "institution" => name.to_string()),
            requests: HashMap::new(),
        }
    }
}

/// Completes when a telegram's journal row is committed.
struct Journaled {
    key: CorrKey,
    rx: oneshot::Receiver<Result<(), JournalError>>,
}

impl std::future::Future for Journaled {
    type Output = (CorrKey, Result<(), JournalError>);

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let key = self.key;
        std::pin::Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| (key, r.unwrap_or(Err(JournalError::Stopped))))
    }
}

/// The actor's inboxes; owned by the supervisor so they survive a panic.
struct Receivers {
    recovered: mpsc::Receiver<crate::journal::Unsettled>,
    submit: mpsc::Receiver<Submit>,
    control: mpsc::Receiver<Control>,
    link: mpsc::Receiver<LinkEvent>,
    seq: mpsc::Receiver<(u32, Result<Range<u32>, JournalError>)>,
}

/// Starts an institution actor. Link tasks report to the returned `LinkEvent` sender.
pub(crate) fn spawn(
    settings: InstitutionSettings,
    journal: Journal,
    clock: SharedClock,
) -> (InstitutionHandle, mpsc::Sender<LinkEvent>) {
    let name: Arc<str> = Arc::from(settings.name.as_str());
    let (submit_tx, submit_rx) = mpsc::channel(settings.queue_depth.max(1));
    let (control_tx, control_rx) = mpsc::channel(16);
    let (link_tx, link_rx) = mpsc::channel(4096);
    let (seq_tx, seq_rx) = mpsc::channel(4);
    let (notices, _) = broadcast::channel(1024);
    let links = settings
        .links
        .iter()
        .map(|l| Link {
            name: l.name.clone(),
            direction: l.direction.as_str().to_owned(),
            sender: None,
            conn: 0,
            can_send: false,
        })
        .collect();
    let day = day_of(&clock.now());
    let actor_timeout = settings.request_timeout;
    let idempotency_window = settings.idempotency_window;
    let actor_profile = Arc::new(settings.profile.clone());
    let actor = Actor {
        name: name.clone(),
        profile: actor_profile.clone(),
        settings,
        journal,
        clock,
        links,
        next_link: 0,
        day,
        seq: 0..0,
        spare: None,
        reserving: false,
        waiting: VecDeque::new(),
        inflight: HashMap::new(),
        late: HashMap::new(),
        unresolved: HashMap::new(),
        timers: DelayQueue::new(),
        signed_on: false,
        counters: Counters::default(),
        notices: notices.clone(),
        seq_tx,
        shutdown: None,
        limiter: None,
        journaling: FuturesUnordered::new(),
        breaker: None,
        metrics: Metrics::new(&name),
    };
    let mut actor = actor;
    actor.breaker = actor
        .settings
        .breaker
        .clone()
        .map(|config| CircuitBreaker::from_valid(config, Instant::now()));
    actor.limiter = actor
        .settings
        .rate_tps
        .and_then(std::num::NonZeroU32::new)
        .map(|tps| governor::RateLimiter::direct(governor::Quota::per_second(tps)));
    let (recovered_tx, recovered_rx) = mpsc::channel(1);
    {
        // Transactions a previous run sent but never settled become unknowns to resolve.
        let (journal, name) = (actor.journal.clone(), actor.name.clone());
        tokio::spawn(async move {
            match journal.unsettled(&name).await {
                Ok(rows) if !rows.is_empty() => {
                    let _ = recovered_tx.send(rows).await;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(institution = %name, error = %e, "cannot read unsettled transactions")
                }
            }
        });
    }
    let receivers = Receivers {
        recovered: recovered_rx,
        submit: submit_rx,
        control: control_rx,
        link: link_rx,
        seq: seq_rx,
    };
    tokio::spawn(actor.supervise(receivers));
    let handle = InstitutionHandle {
        name,
        default_timeout: actor_timeout,
        idempotency_window,
        profile: actor_profile,
        submit: submit_tx,
        control: control_tx,
        notices,
    };
    (handle, link_tx)
}

impl Actor {
    /// Runs the actor under a supervisor: a panic while handling one event is caught, the
    /// institution's in-flight requests are settled as `unknown` (they may have been sent), and
    /// the actor resumes with its links and 전문번호 block intact. Other institutions never
    /// notice: each actor is its own task.
    async fn supervise(mut self, mut rx: Receivers) {
        self.reserve_more();
        loop {
            let run = std::panic::AssertUnwindSafe(self.run(&mut rx));
            match futures::FutureExt::catch_unwind(run).await {
                Ok(done) => {
                    self.finish(&mut rx, done);
                    return;
                }
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    tracing::error!(institution = %self.name, panic = %what, "institution task panicked; settling in-flight requests as unknown and restarting");
                    metrics::counter!("fep_institution_restarts_total", "institution" => self.name.to_string()).increment(1);
                    self.counters.restarts += 1;
                    self.recover();
                }
            }
        }
    }

    /// After a panic: every caller gets an answer, timers restart clean, links and numbers stay.
    fn recover(&mut self) {
        self.journaling = FuturesUnordered::new();
        for (key, f) in std::mem::take(&mut self.inflight) {
            if f.link == NOT_WRITTEN {
                if let Purpose::User { reply, tx_id } = f.purpose {
                    // Its `sent` row may already be committed: settle it, or a restart would
                    // inquire about a telegram the institution never got.
                    self.reject_unsent(
                        tx_id,
                        reply,
                        (f.day, f.msg_no, &f.msg_type),
                        "institution task restarted before sending",
                    );
                }
                continue;
            }
            if let Purpose::User { reply, tx_id } = f.purpose {
                self.counters.unknown += 1;
                let _ = reply.send(Reply {
                    tx_id,
                    outcome: Outcome::Unknown,
                    detail: "institution task restarted after sending".into(),
                    telegram: Bytes::new(),
                });
                self.journal.put_tx_nowait(self.tx_record(
                    tx_id,
                    f.day,
                    f.msg_no,
                    &f.msg_type,
                    "unknown",
                    "institution task restarted",
                    None,
                ));
                self.late.insert(key, (tx_id, Instant::now()));
            }
        }
        for s in std::mem::take(&mut self.waiting) {
            self.reject(s, "institution task restarted before sending");
        }
        self.timers.clear();
        // Unknowns keep being resolved: re-arm their inquiries.
        let keys: Vec<CorrKey> = self.unresolved.keys().copied().collect();
        for key in keys {
            let timer = self
                .timers
                .insert(Timer::Inquiry(key), self.settings.inquiry_delay);
            if let Some(u) = self.unresolved.get_mut(&key) {
                u.timer = Some(timer);
            }
        }
        self.maybe_sign_on();
    }

    /// The event loop; returns the shutdown acknowledgement when asked to stop.
    async fn run(&mut self, rx: &mut Receivers) -> Option<oneshot::Sender<()>> {
        let mut day_check = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                biased;
                Some(event) = rx.link.recv() => self.on_link(event),
                Some((day, result)) = rx.seq.recv() => self.on_reserved(day, result),
                Some(rows) = rx.recovered.recv() => self.on_recovered(rows),
                Some((key, result)) = self.journaling.next(), if !self.journaling.is_empty() => self.on_journaled(key, result),
                Some(expired) = self.timers.next(), if !self.timers.is_empty() => self.on_timer(expired.into_inner()),
                Some(control) = rx.control.recv() => match control {
                    Control::Status(reply) => { let _ = reply.send(self.status()); }
                    Control::Shutdown(done) => {
                        self.sign_off();
                        self.shutdown = Some(done);
                    }
                    #[cfg(test)]
                    Control::Panic => panic!("injected panic"),
                },
                _ = day_check.tick() => self.check_day(),
                Some(submit) = rx.submit.recv(), if self.shutdown.is_none() && self.has_capacity() => self.on_submit(submit),
                else => return self.shutdown.take(),
            }
            if self.shutdown.is_some() && self.user_inflight() == 0 {
                return self.shutdown.take();
            }
        }
    }

    /// Answers whatever is still queued or in flight: nothing is dropped.
    fn finish(&mut self, rx: &mut Receivers, shutdown: Option<oneshot::Sender<()>>) {
        rx.submit.close();
        while let Ok(s) = rx.submit.try_recv() {
            self.reject(s, "institution shutting down");
        }
        for s in std::mem::take(&mut self.waiting) {
            self.reject(s, "institution shutting down");
        }
        for (_, f) in self.inflight.drain() {
            if let Purpose::User { reply, tx_id } = f.purpose {
                let _ = reply.send(Reply {
                    tx_id,
                    outcome: Outcome::Unknown,
                    detail: "gateway stopped before the answer".into(),
                    telegram: Bytes::new(),
                });
            }
        }
        if let Some(done) = shutdown {
            let _ = done.send(());
        }
    }

    fn user_inflight(&self) -> usize {
        self.inflight
            .values()
            .filter(|f| matches!(f.purpose, Purpose::User { .. }))
            .count()
    }

    fn has_capacity(&self) -> bool {
        self.inflight.len() + self.waiting.len() < self.settings.max_inflight
    }

    // ----- sequence numbers ---------------------------------------------------------------

    fn reserve_more(&mut self) {
        if self.reserving || self.spare.is_some() {
            return;
        }
        self.reserving = true;
        let (journal, name, day, max) = (
            self.journal.clone(),
            self.name.clone(),
            self.day,
            *self.profile.seq_range.end(),
        );
        let tx = self.seq_tx.clone();
        tokio::spawn(async move {
            let result = journal.reserve_seq(&name, day, SEQ_BLOCK, max).await;
            let _ = tx.send((day, result)).await;
        });
    }

    fn on_reserved(&mut self, day: u32, result: Result<Range<u32>, JournalError>) {
        self.reserving = false;
        match result {
            Ok(block) if day == self.day => {
                if self.seq.is_empty() {
                    self.seq = block;
                } else {
                    self.spare = Some(block);
                }
            }
            Ok(_) => {} // reserved for a day that has ended: unused numbers are just gaps
            Err(e) => {
                tracing::error!(institution = %self.name, error = %e, "cannot reserve 전문번호");
                for s in std::mem::take(&mut self.waiting) {
                    self.reject(s, format!("no sequence number: {e}"));
                }
                return;
            }
        }
        if self.seq.len() < (SEQ_BLOCK / 5) as usize {
            self.reserve_more();
        }
        self.maybe_sign_on();
        while !self.seq.is_empty() {
            let Some(s) = self.waiting.pop_front() else {
                break;
            };
            self.send_user(s);
        }
    }

    fn next_msg_no(&mut self) -> Option<u32> {
        if self.seq.is_empty() {
            if let Some(spare) = self.spare.take() {
                self.seq = spare;
            }
        }
        let n = self.seq.next();
        if self.seq.len() < (SEQ_BLOCK / 5) as usize {
            self.reserve_more();
        }
        n
    }

    fn check_day(&mut self) {
        let now = self.clock.now();
        let today = day_of(&now);
        if today != self.day {
            tracing::info!(institution = %self.name, from = self.day, to = today, "business date changed: new 전문번호 range and sign-on");
            self.day = today;
            self.seq = 0..0;
            self.spare = None;
            self.reserving = false;
            if self.settings.sign_on_at_date_change {
                self.signed_on = false;
            }
            self.reserve_more();
        }
        let expired: Vec<CorrKey> = self
            .late
            .iter()
            .filter(|(_, (_, at))| at.elapsed() > LATE_WINDOW)
            .map(|(k, _)| *k)
            .collect();
        for k in expired {
            self.late.remove(&k);
        }
    }

    // ----- links ---------------------------------------------------------------------------

    fn on_link(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::Up {
                link,
                conn,
                sender,
                can_send,
            } => {
                if let Some(l) = self.links.get_mut(link) {
                    tracing::info!(institution = %self.name, link = %l.name, "link up");
                    metrics::gauge!("fep_link_up", "institution" => self.name.to_string(), "link" => l.name.clone()).set(1.0);
                    l.sender = Some(sender);
                    l.conn = conn;
                    l.can_send = can_send;
                }
                self.maybe_sign_on();
            }
            LinkEvent::Down { link, conn } => {
                if self.links.get(link).is_some_and(|l| l.conn != conn) {
                    return; // an older connection of a link that has already been replaced
                }
                if let Some(l) = self.links.get_mut(link) {
                    tracing::warn!(institution = %self.name, link = %l.name, "link down");
                    metrics::gauge!("fep_link_up", "institution" => self.name.to_string(), "link" => l.name.clone()).set(0.0);
                    l.sender = None;
                    l.can_send = false;
                }
                // On a duplex link the answers would have come back on the same connection:
                // requests sent on it will not be answered, so settle them now as unknown.
                if self.links.get(link).is_some_and(|l| l.direction == "both") {
                    let lost: Vec<CorrKey> = self
                        .inflight
                        .iter()
                        .filter(|(_, f)| f.link == link)
                        .map(|(k, _)| *k)
                        .collect();
                    for key in lost {
                        self.expire(key, "link closed after sending");
                    }
                }
                if !self.links.iter().any(|l| l.can_send) {
                    self.signed_on = false;
                }
            }
            LinkEvent::Frame { link, frame } => self.on_frame(link, frame),
        }
    }

    /// Picks the next up send link (round robin) and writes the telegram; returns the link.
    fn write(&mut self, telegram: Bytes) -> Result<usize, &'static str> {
        let n = self.links.len();
        let mut full = false;
        for i in 0..n {
            let idx = (self.next_link + i) % n;
            let link = &self.links[idx];
            let Some(sender) = link.sender.as_ref().filter(|_| link.can_send) else {
                continue;
            };
            match sender.try_send(telegram.clone()) {
                Ok(()) => {
                    self.next_link = idx + 1;
                    return Ok(idx);
                }
                Err(mpsc::error::TrySendError::Full(_)) => full = true,
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        Err(if full {
            "overload: send links full"
        } else {
            "institution down: no send link"
        })
    }

    fn maybe_sign_on(&mut self) {
        if self.signed_on || !self.settings.sign_on || !self.links.iter().any(|l| l.can_send) {
            if !self.settings.sign_on && self.links.iter().any(|l| l.can_send) {
                self.signed_on = true;
            }
            return;
        }
        if self
            .inflight
            .values()
            .any(|f| matches!(f.purpose, Purpose::SignOn))
        {
            return;
        }
        let telegram = self.profile.admin(&self.profile.sign_on);
        let _ = self.send(telegram, Purpose::SignOn, Duration::from_secs(10));
    }

    fn sign_off(&mut self) {
        if !self.signed_on {
            return;
        }
        let mut t = self.profile.admin(&self.profile.sign_off);
        if let Some(n) = self.next_msg_no() {
            let now = self.clock.now();
            self.profile.stamp(&mut t, n, self.day, hms_of(&now));
            let _ = self.write(Bytes::from(t));
        }
    }

    // ----- requests ------------------------------------------------------------------------

    fn reject_with(&mut self, s: Submit, kind: &'static str, reason: &str) {
        metrics::counter!("fep_rejected_total", "institution" => self.name.to_string(), "reason" => kind).increment(1);
        self.counters.rejected += 1;
        let _ = s.reply.send(Reply::rejected(s.tx_id, reason));
    }

    fn reject(&mut self, s: Submit, reason: impl Into<String>) {
        self.counters.rejected += 1;
        metrics::counter!("fep_rejected_total", "institution" => self.name.to_string())
            .increment(1);
        let _ = s.reply.send(Reply::rejected(s.tx_id, reason));
    }

    fn on_submit(&mut self, s: Submit) {
        self.counters.requests += 1;
        if s.queued_at.elapsed() >= s.timeout {
            return self.reject_with(
                s,
                "overload",
                "overload: waited in the queue past its deadline",
            );
        }
        if self.limiter.as_ref().is_some_and(|l| l.check().is_err()) {
            return self.reject_with(
                s,
                "rate_limit",
                "rate limit: over the institution's contracted TPS",
            );
        }
        if s.telegram.len() != self.profile.telegram_len
            || self.profile.msg_key(&s.telegram).is_none()
        {
            let reason = format!(
                "bad request: expected a {}-byte telegram with a readable header",
                self.profile.telegram_len
            );
            return self.reject(s, reason);
        }
        if !self.signed_on {
            let reason = if self.links.iter().any(|l| l.can_send) {
                "institution not ready: signing on"
            } else {
                "institution down: no send link"
            };
            return self.reject(s, reason);
        }
        if self.seq.is_empty() && self.spare.is_none() {
            // Numbers are being reserved: hold the request briefly (bounded by max_inflight).
            self.waiting.push_back(s);
            self.reserve_more();
            return;
        }
        self.send_user(s);
    }

    fn send_user(&mut self, s: Submit) {
        let Submit {
            telegram,
            timeout,
            queued_at,
            reply,
            tx_id,
        } = s;
        // The caller's deadline covers the time spent queued.
        let timeout = timeout
            .saturating_sub(queued_at.elapsed())
            .max(Duration::from_millis(1));
        // An open breaker refuses at once, without touching the link.
        let permit = match self.breaker.as_mut().map(|b| b.try_acquire(Instant::now())) {
            None => None,
            Some(Ok(permit)) => {
                let t = permit.transition();
                self.on_breaker_transition(t);
                Some(permit)
            }
            Some(Err(rejected)) => {
                self.on_breaker_transition(rejected.transition);
                self.counters.rejected += 1;
                metrics::counter!("fep_rejected_total", "institution" => self.name.to_string(), "reason" => "circuit_open").increment(1);
                let retry = rejected
                    .retry_after
                    .map(|d| format!("; retry in {} ms", d.as_millis()))
                    .unwrap_or_default();
                let _ = reply.send(Reply::rejected(
                    tx_id,
                    format!("circuit open ({}){retry}", rejected.state.as_str()),
                ));
                return;
            }
        };
        if let Err((Purpose::User { reply, tx_id }, reason)) =
            self.send_with(telegram, Purpose::User { reply, tx_id }, timeout, permit)
        {
            self.counters.rejected += 1;
            metrics::counter!("fep_rejected_total", "institution" => self.name.to_string())
                .increment(1);
            let _ = reply.send(Reply::rejected(tx_id, reason));
        }
    }

    fn on_breaker_transition(&mut self, t: Option<Transition>) {
        let Some(t) = t else { return };
        tracing::warn!(institution = %self.name, from = t.from.as_str(), to = t.to.as_str(), reason = ?t.reason, "circuit breaker");
        let code = match t.to {
            State::Closed => 0.0,
            State::HalfOpen => 1.0,
            State::Open => 2.0,
        };
        metrics::gauge!("fep_circuit_state", "institution" => self.name.to_string()).set(code);
    }

    /// Settles a breaker permit: `failed` for timeouts, dead links and unknown-outcome codes;
    /// answers (business declines included) are successes; `None` = never sent.
    fn settle_permit(&mut self, permit: Option<Permit>, failed: Option<bool>, sent_at: Instant) {
        let (Some(b), Some(p)) = (self.breaker.as_mut(), permit) else {
            return;
        };
        let now = Instant::now();
        let t = match failed {
            Some(true) => b.on_failure(p, now),
            Some(false) => b.on_success(p, now.saturating_duration_since(sent_at), now),
            None => {
                b.on_ignored(p);
                None
            }
        };
        self.on_breaker_transition(t);
    }

    /// Assigns a 전문번호, stamps, writes and tracks a telegram.
    fn send(
        &mut self,
        telegram: Vec<u8>,
        purpose: Purpose,
        timeout: Duration,
    ) -> Result<(), (Purpose, String)> {
        self.send_with(telegram, purpose, timeout, None)
    }

    /// Like `send`, holding a breaker permit that the outcome will settle; a permit of a
    /// telegram that could not be sent is given back.
    fn send_with(
        &mut self,
        telegram: Vec<u8>,
        purpose: Purpose,
        timeout: Duration,
        permit: Option<Permit>,
    ) -> Result<(), (Purpose, String)> {
        let result = self.stamp_and_track(telegram, purpose, timeout);
        match (result, permit) {
            (Ok(key), Some(permit)) => {
                if let Some(f) = self.inflight.get_mut(&key) {
                    f.permit = Some(permit);
                }
                Ok(())
            }
            (Ok(_), None) => Ok(()),
            (Err(e), permit) => {
                if let (Some(b), Some(p)) = (self.breaker.as_mut(), permit) {
                    b.on_ignored(p);
                }
                Err(e)
            }
        }
    }

    fn stamp_and_track(
        &mut self,
        mut telegram: Vec<u8>,
        purpose: Purpose,
        timeout: Duration,
    ) -> Result<CorrKey, (Purpose, String)> {
        let Some(msg_no) = self.next_msg_no() else {
            return Err((purpose, "no sequence number available".into()));
        };
        let now = self.clock.now();
        if !self
            .profile
            .stamp(&mut telegram, msg_no, self.day, hms_of(&now))
        {
            return Err((purpose, "telegram too short for the header".into()));
        }
        let Some(key) = self.profile.key(&telegram) else {
            return Err((purpose, "unreadable correlation key".into()));
        };
        let msg_type = self
            .profile
            .msg_key(&telegram)
            .map(|(t, b)| format!("{t}/{b}"))
            .unwrap_or_default();
        let telegram = Bytes::from(telegram);
        // Journaled (committed) before it is written to a link: after a crash every telegram
        // that may have reached the institution has a row.
        let tx_id = match &purpose {
            Purpose::User { tx_id, .. } => Some(*tx_id),
            _ => None,
        };
        let row = TelegramRow {
            institution: self.name.clone(),
            direction: "out",
            day: self.day,
            msg_no,
            msg_type: msg_type.clone(),
            tx_id,
            raw: telegram.clone(),
        };
        // A user request's transaction is opened (`sent`) in the same commit, before the
        // telegram can reach a link: a crash at any point after leaves it to recovery.
        let opens =
            tx_id.map(|id| self.tx_record(id, self.day, msg_no, &msg_type, "sent", "", None));
        match self.journal.record_telegram(row, opens) {
            Ok(rx) => self.journaling.push(Journaled { key, rx }),
            Err(e) => return Err((purpose, format!("overload: {e}"))),
        }
        let link = NOT_WRITTEN;
        let deadline = Some(self.timers.insert(Timer::Deadline(key), timeout));
        self.inflight.insert(
            key,
            InFlight {
                purpose,
                msg_type,
                msg_no,
                day: self.day,
                sent_at: Instant::now(),
                deadline,
                link,
                telegram,
                permit: None,
            },
        );
        self.metrics.inflight.set(self.inflight.len() as f64);
        Ok(key)
    }

    /// Unsettled transactions of a previous run: unknown now, resolved by inquiry.
    fn on_recovered(&mut self, rows: crate::journal::Unsettled) {
        tracing::warn!(institution = %self.name, count = rows.len(), "resuming unknown transactions left by the previous run");
        for (tx, raw) in rows {
            let key = u64::from(tx.day) * 1_000_000 + u64::from(tx.msg_no);
            self.counters.unknown += 1;
            self.journal.put_tx_nowait(self.tx_record(
                tx.id,
                tx.day,
                tx.msg_no,
                &tx.msg_type,
                "unknown",
                "gateway restarted after sending",
                None,
            ));
            self.start_resolution(
                key,
                tx.id,
                tx.msg_no,
                tx.day,
                &tx.msg_type,
                Bytes::from(raw),
            );
        }
    }

    /// A telegram's journal row is committed: now it may go out.
    fn on_journaled(&mut self, key: CorrKey, result: Result<(), JournalError>) {
        // Gone means it expired while being journaled, and was settled as not sent.
        let Some(telegram) = self.inflight.get(&key).map(|f| f.telegram.clone()) else {
            return;
        };
        let outcome = result
            .map_err(|e| format!("journal unavailable: {e}"))
            .and_then(|()| self.write(telegram).map_err(str::to_owned));
        match outcome {
            Ok(link) => {
                if let Some(f) = self.inflight.get_mut(&key) {
                    f.link = link;
                    f.sent_at = Instant::now();
                }
            }
            Err(reason) => self.not_sent(key, &reason),
        }
    }

    /// Settles an in-flight entry that never reached a link.
    fn not_sent(&mut self, key: CorrKey, reason: &str) {
        let Some(mut f) = self.inflight.remove(&key) else {
            return;
        };
        if let Some(deadline) = &f.deadline {
            self.timers.try_remove(deadline);
        }
        self.settle_permit(f.permit.take(), None, f.sent_at);
        match f.purpose {
            Purpose::User { reply, tx_id } => {
                self.reject_unsent(tx_id, reply, (f.day, f.msg_no, &f.msg_type), reason)
            }
            Purpose::SignOn => {
                self.timers
                    .insert(Timer::SignOnRetry, Duration::from_secs(1));
            }
            Purpose::Inquiry { orig } => self.schedule_inquiry(orig),
        }
    }

    /// Answers `rejected` for a user request whose telegram never reached a link, and settles
    /// its journaled transaction (`at`: day, 전문번호, message type).
    fn reject_unsent(
        &mut self,
        tx_id: u64,
        reply: oneshot::Sender<Reply>,
        (day, msg_no, msg_type): (u32, u32, &str),
        reason: &str,
    ) {
        self.counters.rejected += 1;
        metrics::counter!("fep_rejected_total", "institution" => self.name.to_string(), "reason" => "not_sent").increment(1);
        self.journal
            .put_tx_nowait(self.tx_record(tx_id, day, msg_no, msg_type, "rejected", reason, None));
        let _ = reply.send(Reply::rejected(tx_id, reason));
    }

    /// A transaction's state as journaled (send it with `put_tx_nowait`).
    #[allow(clippy::too_many_arguments)]
    fn tx_record(
        &self,
        id: u64,
        day: u32,
        msg_no: u32,
        msg_type: &str,
        outcome: &str,
        detail: &str,
        resolved: Option<String>,
    ) -> TxRecord {
        TxRecord {
            id,
            institution: self.name.to_string(),
            day,
            msg_no,
            msg_type: msg_type.to_owned(),
            outcome: outcome.to_owned(),
            detail: detail.to_owned(),
            resolved,
            updated_ms: now_ms(),
        }
    }

    fn on_timer(&mut self, timer: Timer) {
        match timer {
            Timer::Deadline(key) => {
                if let Some(f) = self.inflight.get_mut(&key) {
                    // The DelayQueue entry is spent; `expire` must not remove it again.
                    f.deadline = None;
                }
                self.expire(key, "timeout");
            }
            Timer::Inquiry(orig) => self.send_inquiry(orig),
            Timer::SignOnRetry => self.maybe_sign_on(),
        }
    }

    /// Settles an in-flight request whose answer did not (or cannot) arrive.
    fn expire(&mut self, key: CorrKey, why: &str) {
        if self
            .inflight
            .get(&key)
            .is_some_and(|f| f.link == NOT_WRITTEN)
        {
            return self.not_sent(key, "journal too slow: not sent before the deadline");
        }
        let Some(mut f) = self.inflight.remove(&key) else {
            return;
        };
        if let Some(deadline) = &f.deadline {
            self.timers.try_remove(deadline);
        }
        self.settle_permit(f.permit.take(), Some(true), f.sent_at);
        match f.purpose {
            Purpose::User { reply, tx_id } => {
                self.counters.unknown += 1;
                self.count(&f.msg_type, Outcome::Unknown, f.sent_at);
                let _ = reply.send(Reply {
                    tx_id,
                    outcome: Outcome::Unknown,
                    detail: why.to_owned(),
                    telegram: Bytes::new(),
                });
                self.late.insert(key, (tx_id, Instant::now()));
                self.journal.put_tx_nowait(self.tx_record(
                    tx_id,
                    f.day,
                    f.msg_no,
                    &f.msg_type,
                    "unknown",
                    why,
                    None,
                ));
                self.start_resolution(key, tx_id, f.msg_no, f.day, &f.msg_type, f.telegram.clone());
            }
            Purpose::SignOn => {
                tracing::warn!(institution = %self.name, "sign-on not answered ({why}); retrying");
                self.maybe_sign_on();
            }
            Purpose::Inquiry { orig } => self.schedule_inquiry(orig),
        }
    }

    fn start_resolution(
        &mut self,
        key: CorrKey,
        tx_id: u64,
        msg_no: u32,
        day: u32,
        msg_type: &str,
        original: Bytes,
    ) {
        let resolvable = self.profile.inquiry.as_ref().is_some_and(|rule| {
            let mut parts = msg_type.splitn(2, '/');
            let (t, b) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            rule.for_requests.iter().any(|(rt, rb)| rt == t && rb == b)
        });
        if !resolvable {
            return;
        }
        let timer = Some(
            self.timers
                .insert(Timer::Inquiry(key), self.settings.inquiry_delay),
        );
        self.unresolved.insert(
            key,
            Unresolved {
                tx_id,
                original,
                msg_no,
                day,
                msg_type: msg_type.to_owned(),
                attempts: 0,
                timer,
            },
        );
    }

    fn schedule_inquiry(&mut self, orig: CorrKey) {
        let interval = self.settings.inquiry_interval;
        let max = self.settings.inquiry_max_attempts;
        let Some(u) = self.unresolved.get_mut(&orig) else {
            return;
        };
        if u.attempts >= max {
            let (tx_id, day, msg_no, msg_type) = (u.tx_id, u.day, u.msg_no, u.msg_type.clone());
            self.unresolved.remove(&orig);
            self.counters.unresolved += 1;
            tracing::error!(institution = %self.name, tx_id, msg_no, "unknown outcome not resolved after {max} inquiries: needs manual reconciliation");
            self.journal.put_tx_nowait(self.tx_record(
                tx_id,
                day,
                msg_no,
                &msg_type,
                "unknown",
                "inquiries exhausted",
                Some("unresolved".into()),
            ));
            return;
        }
        u.timer = Some(self.timers.insert(Timer::Inquiry(orig), interval));
    }

    fn send_inquiry(&mut self, orig: CorrKey) {
        let Some(u) = self.unresolved.get_mut(&orig) else {
            return;
        };
        u.timer = None;
        u.attempts += 1;
        let Some(telegram) = self.profile.inquiry(u.msg_no, &u.original) else {
            return;
        };
        let timeout = self.settings.request_timeout;
        if let Err((_, reason)) = self.send(telegram, Purpose::Inquiry { orig }, timeout) {
            tracing::warn!(institution = %self.name, reason, "result inquiry not sent; will retry");
            self.schedule_inquiry(orig);
        }
    }

    fn resolve(&mut self, orig: CorrKey, verdict: &Verdict, how: &str) {
        let Some(u) = self.unresolved.remove(&orig) else {
            return;
        };
        if let Some(t) = u.timer {
            self.timers.try_remove(&t);
        }
        self.counters.unknown_resolved += 1;
        match verdict {
            Verdict::Ok => self.counters.resolved_ok += 1,
            _ => self.counters.resolved_declined += 1,
        }
        let (resolved, detail) = match verdict {
            Verdict::Ok => ("ok", String::new()),
            Verdict::Declined(code) => ("declined", code.clone()),
            Verdict::Unknown(code) => ("unknown", code.clone()),
        };
        tracing::info!(institution = %self.name, tx_id = u.tx_id, msg_no = u.msg_no, resolved, how, "unknown outcome resolved");
        self.journal.put_tx_nowait(self.tx_record(
            u.tx_id,
            u.day,
            u.msg_no,
            &u.msg_type,
            "unknown",
            &detail,
            Some(resolved.to_owned()),
        ));
    }

    // ----- inbound frames -----------------------------------------------------------------

    fn on_frame(&mut self, link: usize, frame: Bytes) {
        // Every telegram in is journaled (joined to its request by day + 전문번호).
        self.journal.record_telegram_nowait(TelegramRow {
            institution: self.name.clone(),
            direction: "in",
            day: self.profile.send_date.digits(&frame).unwrap_or(0) as u32,
            msg_no: self.profile.msg_no.digits(&frame).unwrap_or(0) as u32,
            msg_type: self
                .profile
                .msg_key(&frame)
                .map(|(t, b)| format!("{t}/{b}"))
                .unwrap_or_default(),
            tx_id: None,
            raw: frame.clone(),
        });
        match self.profile.classify(&frame) {
            FrameKind::Response => self.on_response(frame),
            FrameKind::Notice => self.on_notice(link, frame),
            FrameKind::PollRequest | FrameKind::PollResponse => {} // handled by the link task
            FrameKind::Other => {
                self.counters.unmatched += 1;
                metrics::counter!("fep_unmatched_responses_total", "institution" => self.name.to_string()).increment(1);
                tracing::warn!(institution = %self.name, bytes = frame.len(), "unexpected frame ignored");
            }
        }
    }

    fn on_response(&mut self, frame: Bytes) {
        let Some(key) = self.profile.key(&frame) else {
            self.counters.unmatched += 1;
            return;
        };
        let Some(mut f) = self.inflight.remove(&key) else {
            return self.on_late_or_unmatched(key, frame);
        };
        if let Some(deadline) = &f.deadline {
            self.timers.try_remove(deadline);
        }
        let verdict = self.profile.verdict(&frame);
        let failed = matches!(verdict, Verdict::Unknown(_));
        self.settle_permit(f.permit.take(), Some(failed), f.sent_at);
        match f.purpose {
            Purpose::User { reply, tx_id } => {
                let (outcome, detail) = match &verdict {
                    Verdict::Ok => (
                        Outcome::Ok,
                        self.profile.resp_code.text(&frame).unwrap_or("").to_owned(),
                    ),
                    Verdict::Declined(code) => (Outcome::Declined, code.clone()),
                    Verdict::Unknown(code) => (Outcome::Unknown, code.clone()),
                };
                match outcome {
                    Outcome::Ok => self.counters.ok += 1,
                    Outcome::Declined => self.counters.declined += 1,
                    _ => self.counters.unknown += 1,
                }
                self.count(&f.msg_type, outcome, f.sent_at);
                self.journal.put_tx_nowait(self.tx_record(
                    tx_id,
                    f.day,
                    f.msg_no,
                    &f.msg_type,
                    outcome.as_str(),
                    &detail,
                    None,
                ));
                if outcome == Outcome::Unknown {
                    self.start_resolution(
                        key,
                        tx_id,
                        f.msg_no,
                        f.day,
                        &f.msg_type,
                        f.telegram.clone(),
                    );
                }
                let _ = reply.send(Reply {
                    tx_id,
                    outcome,
                    detail,
                    telegram: frame,
                });
            }
            Purpose::SignOn => {
                if verdict == Verdict::Ok {
                    tracing::info!(institution = %self.name, day = self.day, "signed on");
                    self.signed_on = true;
                } else {
                    tracing::error!(institution = %self.name, ?verdict, "sign-on refused; retrying in 5 s");
                    self.timers
                        .insert(Timer::SignOnRetry, Duration::from_secs(5));
                }
            }
            Purpose::Inquiry { orig } => match self.profile.inquiry_verdict(&frame) {
                Some(v) => self.resolve(orig, &v, "inquiry"),
                None => self.schedule_inquiry(orig),
            },
        }
        self.metrics.inflight.set(self.inflight.len() as f64);
    }

    fn on_late_or_unmatched(&mut self, key: CorrKey, frame: Bytes) {
        if let Some((tx_id, _)) = self.late.remove(&key) {
            self.counters.late += 1;
            metrics::counter!("fep_late_responses_total", "institution" => self.name.to_string())
                .increment(1);
            let verdict = self.profile.verdict(&frame);
            tracing::info!(institution = %self.name, tx_id, ?verdict, "late response matched");
            if !matches!(verdict, Verdict::Unknown(_)) {
                self.resolve(key, &verdict, "late response");
            }
            return;
        }
        self.counters.unmatched += 1;
        metrics::counter!("fep_unmatched_responses_total", "institution" => self.name.to_string())
            .increment(1);
        tracing::warn!(institution = %self.name, key, "response matches no request");
    }

    fn on_notice(&mut self, link: usize, frame: Bytes) {
        let Some(ack) = self.profile.notice_ack(&frame) else {
            return;
        };
        let dedup = format!(
            "{}/{}",
            self.profile
                .msg_key(&frame)
                .map(|(t, b)| format!("{t}{b}"))
                .unwrap_or_default(),
            self.profile.msg_no.text(&frame).unwrap_or("")
        );
        let day = self.profile.send_date.digits(&frame).unwrap_or(0) as u32;
        // Acknowledge on the link it came from when that link can send, else on any send link.
        let sender = self
            .links
            .get(link)
            .and_then(|l| l.sender.clone())
            .or_else(|| {
                self.links
                    .iter()
                    .find(|l| l.can_send)
                    .and_then(|l| l.sender.clone())
            });
        let (journal, name, notices) = (
            self.journal.clone(),
            self.name.clone(),
            self.notices.clone(),
        );
        self.counters.notices += 1;
        tokio::spawn(async move {
            // Recorded first; only a durable notice is acknowledged.
            let record = match journal.record_notice(&name, day, &dedup, &frame).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(institution = %name, error = %e, "notice not recorded: not acknowledged (the institution will resend)");
                    return;
                }
            };
            metrics::counter!("fep_notifications_total", "institution" => name.to_string())
                .increment(1);
            if let Some(sender) = sender {
                let _ = sender.send(Bytes::from(ack)).await;
            }
            if !record.duplicate {
                let _ = notices.send(NoticeEvent {
                    institution: name,
                    id: record.id,
                    telegram: frame,
                });
            }
        });
    }

    fn count(&mut self, msg_type: &str, outcome: Outcome, sent_at: Instant) {
        let by_outcome = match self.metrics.requests.get_mut(msg_type) {
            Some(v) => v,
            None => self
                .metrics
                .requests
                .entry(msg_type.to_owned())
                .or_default(),
        };
        match by_outcome.iter().find(|(o, _)| *o == outcome) {
            Some((_, c)) => c.increment(1),
            None => {
                let c = metrics::counter!("fep_requests_total", "institution" => self.name.to_string(), "msg_type" => msg_type.to_owned(), "outcome" => outcome.as_str());
                c.increment(1);
                by_outcome.push((outcome, c));
            }
        }
        self.metrics
            .duration
            .record(sent_at.elapsed().as_secs_f64());
    }

    fn status(&self) -> InstitutionStatus {
        InstitutionStatus {
            name: self.name.to_string(),
            signed_on: self.signed_on,
            day: self.day,
            links: self
                .links
                .iter()
                .map(|l| LinkStatus {
                    name: l.name.clone(),
                    direction: l.direction.clone(),
                    state: if l.sender.is_some() {
                        LinkState::Up
                    } else {
                        LinkState::Down
                    },
                })
                .collect(),
            inflight: self.user_inflight(),
            resolving: self.unresolved.len(),
            breaker: self
                .breaker
                .as_ref()
                .map_or("none", |b| b.state().as_str())
                .to_owned(),
            counters: self.counters.clone(),
        }
    }
}

/// Sends a watch-triggered shutdown to background tasks.
pub(crate) type ShutdownRx = watch::Receiver<bool>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::settings::InstitutionSettings;

    #[tokio::test]
    async fn a_panic_is_contained_and_the_actor_keeps_answering() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&dir.path().join("j.db")).unwrap();
        let (handle, _links) = spawn(
            InstitutionSettings::hecto("x", Vec::new()),
            journal,
            Arc::new(SystemClock),
        );
        handle.control.send(Control::Panic).await.unwrap();
        // Still alive and answering after the panic, with the restart counted.
        let status = handle.status().await.expect("actor answers after a panic");
        assert_eq!(status.counters.restarts, 1);
        let reply = handle
            .request(vec![b' '; 300], Some(Duration::from_secs(1)))
            .await;
        assert_eq!(
            reply.outcome,
            Outcome::Rejected,
            "no send link: rejected, not lost"
        );
    }

    /// A request whose telegram was being journaled when the actor panicked is answered
    /// `rejected`, and its journaled `sent` state is settled so a restart does not inquire
    /// about a telegram that never left.
    #[tokio::test]
    async fn a_panic_before_sending_settles_the_journaled_transaction() {
        use crate::gateway::Gateway;
        use crate::settings::{GatewaySettings, LinkSettings};
        use fep_testkit::bank_sim::{BankSim, BankSimConfig};

        let sim = BankSim::start(BankSimConfig::default()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let settings = GatewaySettings {
            native_listen: "127.0.0.1:0".parse().unwrap(),
            http_listen: None,
            data_dir: dir.path().to_path_buf(),
            retention_days: 0,
            journal_sync: Default::default(),
            institutions: vec![InstitutionSettings::hecto(
                "hecto",
                vec![LinkSettings::outbound_duplex(sim.addr())],
            )],
        };
        let gateway = Gateway::start(settings, Arc::new(SystemClock))
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        while !gateway.status().await.iter().all(|s| s.signed_on) {
            assert!(Instant::now() < deadline, "no sign-on");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Hold the journal's write lock: the request's telegram cannot be committed, so it is
        // in flight but not yet written to the link.
        let blocker = rusqlite::Connection::open(dir.path().join("journal.db")).unwrap();
        blocker.execute_batch("BEGIN IMMEDIATE;").unwrap();
        let handle = gateway.institution("hecto").unwrap().clone();
        let request = {
            let handle = handle.clone();
            tokio::spawn(async move {
                handle
                    .request(fep_testkit::samples::sample_telegram(1, false), None)
                    .await
            })
        };
        while handle.status().await.unwrap().inflight == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        handle.control.send(Control::Panic).await.unwrap();
        let reply = request.await.unwrap();
        assert_eq!(reply.outcome, Outcome::Rejected);
        blocker.execute_batch("COMMIT;").unwrap();
        gateway.journal().flush().await.unwrap();
        let tx = gateway
            .journal()
            .get_tx(reply.tx_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(tx.outcome, "rejected");
        assert!(gateway
            .journal()
            .unsettled("hecto")
            .await
            .unwrap()
            .is_empty());
        gateway.shutdown(Duration::from_secs(5)).await;
        sim.shutdown().await;
    }
}
