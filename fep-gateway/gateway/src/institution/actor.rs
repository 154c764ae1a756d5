//! The institution actor: its state, the supervisor that contains panics, and the event loop.
//! Decisions are made by the I/O-free types it holds; the request path is in `requests.rs`.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};

use super::admission::{Admission, Call};
use super::inflight::{InFlight, Late};
use super::links::Links;
use super::resolver::{Policy, Resolver};
use super::sequencer::{Availability, Class, Exhaustion, Reserve, Reserved, Sequencer, Shortage};
use super::session::{Gate, Session};
use super::telemetry::{rejected_counter, Metrics};
use super::{
    now, Control, Counters, InstitutionHandle, InstitutionStatus, LinkEvent, Reply, SequenceStatus,
    Submit,
};
use crate::breaker::{CircuitBreaker, State, Transition};
use crate::clock::{next_day_start, BusinessTime, SharedClock, Tz};
use crate::domain::{MsgRef, RejectReason, TxState};
use crate::journal::{Journal, JournalError, TxRecord, Unsettled};
use crate::profile::{CorrKey, Profile};
use crate::settings::InstitutionSettings;

/// Late responses are remembered this long after their request timed out.
const LATE_WINDOW: Duration = Duration::from_secs(600);
/// How often housekeeping runs; it also re-reads the business date, as a safety net for a wall
/// clock that jumps (the date change itself is a timer armed at the zone's midnight).
const DAY_CHECK: Duration = Duration::from_millis(500);

/// Why a telegram is in flight.
pub(super) enum Purpose {
    /// A caller's request.
    User {
        reply: oneshot::Sender<Reply>,
        tx_id: u64,
    },
    /// 업무개시, attempt `attempt` (see `Session`).
    SignOn { attempt: u64 },
    /// 업무종료 at shutdown.
    SignOff,
    /// A result inquiry about the request `orig`.
    Inquiry { orig: CorrKey },
}

/// A 전문번호 reservation and its result.
type ReserveResult = (Reserve, Result<Range<u32>, JournalError>);

/// A telegram of the gateway's own (sign-on, result inquiry) waiting for a 전문번호: once
/// callers' requests have used up their share, reserve numbers are reserved as they are needed.
pub(super) struct Deferred {
    pub telegram: Bytes,
    pub purpose: Purpose,
    pub timeout: Duration,
}

/// Completes when a telegram's journal row is committed.
pub(super) struct Journaled {
    pub key: CorrKey,
    pub rx: oneshot::Receiver<Result<(), JournalError>>,
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

/// A caller's answer waiting for the commit of its outcome record; completes by sending it
/// (or, if the record could not be committed, what [`super::requests::not_journaled`] says).
pub(super) struct Answering {
    pub committed: oneshot::Receiver<Result<(), JournalError>>,
    pub reply: Option<(oneshot::Sender<Reply>, Reply)>,
}

impl std::future::Future for Answering {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        let committed = match std::pin::Pin::new(&mut self.committed).poll(cx) {
            std::task::Poll::Pending => return std::task::Poll::Pending,
            std::task::Poll::Ready(r) => r.unwrap_or(Err(JournalError::Stopped)),
        };
        if let Some((reply, answer)) = self.reply.take() {
            let answer = match committed {
                Ok(()) => answer,
                Err(e) => super::requests::not_journaled(answer, &e),
            };
            let _ = reply.send(answer);
        }
        std::task::Poll::Ready(())
    }
}

/// The actor's inboxes; owned by the supervisor so they survive a panic.
struct Receivers {
    recovered: mpsc::Receiver<Unsettled>,
    submit: mpsc::Receiver<Submit>,
    control: mpsc::Receiver<Control>,
    link: mpsc::Receiver<LinkEvent>,
    seq: mpsc::Receiver<ReserveResult>,
}

/// One institution's state; only its own task touches it.
pub(super) struct Actor {
    pub name: Arc<str>,
    pub profile: Arc<Profile>,
    pub journal: Journal,
    pub clock: SharedClock,
    /// The business time zone.
    pub zone: Tz,
    /// When the next business date begins (the actor's monotonic time).
    next_day: Instant,
    /// Timeout of result inquiries.
    pub request_timeout: Duration,
    pub links: Links,
    pub seq: Sequencer,
    pub admission: Admission,
    pub session: Session,
    pub inflight: InFlight<Purpose>,
    pub late: Late,
    pub resolver: Resolver,
    /// Admitted requests waiting for a 전문번호 block or the new business date's sign-on.
    pub waiting: VecDeque<Submit>,
    /// The gateway's own telegrams waiting for a 전문번호 (at most the sign-on and one inquiry
    /// per unknown being resolved).
    pub deferred: VecDeque<Deferred>,
    /// Why the last sign-on could not be sent, until one is.
    pub sign_on_error: Option<RejectReason>,
    /// Usage of the number range from which status warns (percent).
    sequence_warn_percent: u32,
    pub counters: Counters,
    seq_tx: mpsc::Sender<ReserveResult>,
    stopping: Option<Stopping>,
    pub journaling: FuturesUnordered<Journaled>,
    /// Answers waiting for their outcome's commit (kept across a panic: they are settled).
    pub answering: FuturesUnordered<Answering>,
    pub metrics: Metrics,
    /// Requests the handle refused before they reached the actor (queue full, stopped).
    refused: Arc<AtomicU64>,
    /// Test hook: panic while handling the next expired in-flight entry.
    #[cfg(test)]
    panic_on_expiry: bool,
}

/// A shutdown in progress: drain the requests in flight (until `drain_until`), then sign off
/// and await the answer, then acknowledge `done` so the links may close.
struct Stopping {
    done: oneshot::Sender<()>,
    drain_until: Instant,
    /// The sign-off has been started (sent, or found unnecessary).
    signing_off: bool,
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
    let profile = Arc::new(settings.profile.clone());
    // Validated at config resolution: a bad breaker config never reaches here.
    let breaker = settings
        .breaker
        .clone()
        .map(|config| CircuitBreaker::from_valid(config, now()));
    let zone = settings.time_zone;
    let started = clock.now();
    let refused = Arc::new(AtomicU64::new(0));
    let actor = Actor {
        name: name.clone(),
        profile: profile.clone(),
        journal,
        request_timeout: settings.request_timeout,
        links: Links::new(&settings.links),
        seq: Sequencer::new(
            BusinessTime::at(started, zone).day,
            *profile.seq_range.end(),
            settings.sequence_reserve,
        )
        .warn_at_percent(settings.sequence_warn_percent),
        next_day: day_boundary(started, zone, now()),
        clock,
        zone,
        admission: Admission::new(settings.max_inflight, settings.rate_tps, breaker),
        session: Session::new(
            settings.sign_on,
            settings.sign_on_at_date_change,
            settings.sign_on_policy,
        ),
        inflight: InFlight::default(),
        late: Late::new(LATE_WINDOW),
        resolver: Resolver::new(Policy {
            delay: settings.inquiry_delay,
            interval: settings.inquiry_interval,
            max_attempts: settings.inquiry_max_attempts,
        }),
        waiting: VecDeque::new(),
        deferred: VecDeque::new(),
        sign_on_error: None,
        sequence_warn_percent: settings.sequence_warn_percent,
        counters: Counters::default(),
        seq_tx,
        stopping: None,
        journaling: FuturesUnordered::new(),
        answering: FuturesUnordered::new(),
        metrics: Metrics::new(&name),
        refused: refused.clone(),
        #[cfg(test)]
        panic_on_expiry: false,
    };
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
        queue_full: rejected_counter(&name, &RejectReason::QueueFull),
        stopped: rejected_counter(&name, &RejectReason::Stopped),
        refused,
        name,
        default_timeout: settings.request_timeout,
        idempotency_window: settings.idempotency_window,
        sign_off_wait: settings.sign_on_policy.answer_timeout,
        profile,
        submit: submit_tx,
        control: control_tx,
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
        self.sequence_changed();
        loop {
            let run = std::panic::AssertUnwindSafe(self.run(&mut rx));
            match futures::FutureExt::catch_unwind(run).await {
                Ok(()) => {
                    self.finish(&mut rx);
                    return;
                }
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    tracing::error!(institution = %self.name, panic = %what, "institution task panicked; settling in-flight requests as unknown and restarting");
                    self.metrics.restarted();
                    self.counters.restarts += 1;
                    self.recover();
                }
            }
        }
    }

    /// After a panic: every caller gets an answer, timers restart clean, links and numbers stay.
    fn recover(&mut self) {
        self.journaling = FuturesUnordered::new();
        let now = now();
        let entries: Vec<_> = self.inflight.drain().collect();
        for (key, e) in entries {
            let sent = e.link.is_some();
            // The gateway failed, not the institution: the permit goes back, uncounted.
            let t = self
                .admission
                .settle(e.permit, Call::NotSent, e.sent_at, now);
            self.on_breaker_transition(t);
            let Purpose::User { reply, tx_id } = e.purpose else {
                continue;
            };
            if !sent {
                // Its `sent` row may already be committed: settle it, or a restart would
                // inquire about a telegram the institution never got.
                self.reject_unsent(tx_id, reply, &e.at, RejectReason::TaskRestarted);
                continue;
            }
            self.counters.unknown += 1;
            let answer = Reply::unknown(tx_id, "institution task restarted after sending");
            self.answer_durably(reply, &e.at, answer);
            self.late.remember(key, tx_id, now);
            // Resolved as a timeout would be: the first inquiry after `inquiry_delay`.
            self.start_resolution(key, tx_id, e.at, e.telegram, now);
        }
        for s in std::mem::take(&mut self.waiting) {
            self.reject(s, RejectReason::TaskRestarted);
        }
        // The sign-on is sent again below; inquiries are re-armed.
        self.deferred.clear();
        self.session.forget_attempt();
        if self.session.signing_off() {
            // Its in-flight entry is gone: the sign-off will not be answered.
            self.signed_off("institution task restarted while signing off");
        }
        // Unknowns keep being resolved: their inquiries are re-armed.
        self.resolver.rearm_all(now);
        self.maybe_sign_on();
    }

    /// The event loop; returns when asked to stop and done (or when every inbox is closed).
    async fn run(&mut self, rx: &mut Receivers) {
        let mut day_check = tokio::time::interval(DAY_CHECK);
        // One timer for every deadline the actor keeps (requests, inquiries, sign-on retry,
        // held requests, the date change, the shutdown's drain), armed at the earliest.
        let timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(timer);
        let mut armed: Option<Instant> = None;
        loop {
            let wake = self.next_wake();
            if wake != armed {
                if let Some(at) = wake {
                    timer.as_mut().reset(tokio::time::Instant::from_std(at));
                }
                armed = wake;
            }
            tokio::select! {
                biased;
                Some(event) = rx.link.recv() => self.on_link(event),
                Some((r, result)) = rx.seq.recv() => self.on_reserved(r, result),
                Some(rows) = rx.recovered.recv() => self.on_recovered(rows),
                Some((key, result)) = self.journaling.next(), if !self.journaling.is_empty() => self.on_journaled(key, result),
                Some(()) = self.answering.next(), if !self.answering.is_empty() => {
                    // A group commit settles many at once: answer them all now.
                    while let Some(Some(())) = futures::FutureExt::now_or_never(self.answering.next()) {}
                }
                () = &mut timer, if armed.is_some() => {
                    armed = None;
                    self.on_wake();
                }
                Some(control) = rx.control.recv() => match control {
                    Control::Status(reply) => { let _ = reply.send(self.status()); }
                    Control::Shutdown { done, drain_until } => {
                        self.stopping = Some(Stopping { done, drain_until, signing_off: false });
                    }
                    #[cfg(test)]
                    Control::Panic => panic!("injected panic"),
                    #[cfg(test)]
                    Control::PanicOnExpiry => self.panic_on_expiry = true,
                },
                _ = day_check.tick() => self.check_day(),
                Some(submit) = rx.submit.recv(), if self.stopping.is_none() && self.has_room() => self.on_submit(submit),
                else => return,
            }
            self.metrics.inflight(self.inflight.len());
            // Stopped once signed off and every answer given is committed (and so sent).
            if self.stopped() && self.answering.is_empty() {
                return;
            }
        }
    }

    /// Answers whatever is still queued or in flight: nothing is dropped.
    fn finish(&mut self, rx: &mut Receivers) {
        rx.submit.close();
        while let Ok(s) = rx.submit.try_recv() {
            self.reject(s, RejectReason::ShuttingDown);
        }
        for s in std::mem::take(&mut self.waiting) {
            self.reject(s, RejectReason::ShuttingDown);
        }
        let entries: Vec<_> = self.inflight.drain().collect();
        for (_, e) in entries {
            if let Purpose::User { reply, tx_id } = e.purpose {
                let answer = Reply::unknown(tx_id, "gateway stopped before the answer");
                self.answer_durably(reply, &e.at, answer);
            }
        }
        // Answers still waiting for their commit are delivered when it is over.
        let mut answering = std::mem::take(&mut self.answering);
        if !answering.is_empty() {
            tokio::spawn(async move { while answering.next().await.is_some() {} });
        }
        if let Some(stopping) = self.stopping.take() {
            let _ = stopping.done.send(());
        }
    }

    fn user_inflight(&self) -> usize {
        self.inflight.count(|p| matches!(p, Purpose::User { .. }))
    }

    fn has_room(&self) -> bool {
        self.admission
            .has_room(self.inflight.len() + self.waiting.len())
    }

    /// The earliest of the deadlines the actor keeps. Inquiries wait while the session is not
    /// ready (they go out once it is: the loop asks again after every event).
    fn next_wake(&self) -> Option<Instant> {
        let ready = self.session.gate() == Gate::Open;
        [
            self.inflight.next_deadline(),
            self.resolver.next_due().filter(|_| ready),
            self.session.next_retry(),
            self.waiting.iter().map(|s| s.ticket.deadline()).min(),
            self.stopping
                .as_ref()
                .filter(|s| !s.signing_off)
                .map(|s| s.drain_until),
            Some(self.next_day),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The timer fired: settles what is due. Due inquiries are taken first, so that what
    /// handling them schedules (a retry with a zero interval) waits for the next round.
    /// Expired entries are taken from the table one at a time: should handling one panic,
    /// the others are still there for `recover` to settle (handling one never adds an
    /// entry that is already expired).
    fn on_wake(&mut self) {
        let now = now();
        // At the zone's midnight: the new business date starts here, not at a later check.
        let at = self.read_clock();
        if now >= self.next_day {
            // Still the old date on the wall clock (the timer ran a hair early): look again.
            self.next_day = self.next_day.max(now + Duration::from_millis(1));
        }
        while let Some((key, e)) = self.inflight.pop_expired(now) {
            #[cfg(test)]
            if std::mem::take(&mut self.panic_on_expiry) {
                panic!("injected panic while expiring");
            }
            self.expired(key, e, now);
        }
        self.expire_waiting(now);
        if self.session.gate() == Gate::Open {
            let inquiries: Vec<_> = std::iter::from_fn(|| self.resolver.pop_due(now)).collect();
            for due in inquiries {
                self.send_inquiry(due, at);
            }
        }
        self.maybe_sign_on();
    }

    /// Held requests whose own deadline passed are refused (never sent).
    fn expire_waiting(&mut self, now: Instant) {
        if !self.waiting.iter().any(|s| s.ticket.deadline() <= now) {
            return;
        }
        let reason = match self.session.gate() {
            Gate::Wait => RejectReason::DateChange,
            Gate::Refuse(reason) => reason,
            Gate::Open => RejectReason::QueueDeadline,
        };
        let (due, keep) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|s| s.ticket.deadline() <= now);
        self.waiting = keep;
        for s in Vec::from(due) {
            self.reject(s, reason.clone());
        }
    }

    // ----- sequence numbers ---------------------------------------------------------------

    pub(super) fn reserve_more(&mut self) {
        if let Some(stopping) = &self.stopping {
            // Stopping: numbers reserved now would only be lost, unless a held telegram waits
            // for one while draining (the sign-off takes one kept at hand).
            if stopping.signing_off || (self.waiting.is_empty() && self.deferred.is_empty()) {
                return;
            }
        }
        let Some(r) = self.seq.wants_block(self.deferred.len()) else {
            return;
        };
        let (journal, name, tx) = (self.journal.clone(), self.name.clone(), self.seq_tx.clone());
        tokio::spawn(async move {
            let result = journal.reserve_seq(&name, r.day, r.block, r.max).await;
            let _ = tx.send((r, result)).await;
        });
    }

    fn on_reserved(&mut self, r: Reserve, result: Result<Range<u32>, JournalError>) {
        let (result, error) = match result {
            Ok(block) => (Ok(block), None),
            Err(JournalError::Exhausted { next, .. }) => (Err(Shortage::Exhausted { next }), None),
            Err(e) => (Err(Shortage::Failed), Some(e.to_string())),
        };
        match self.seq.on_reserved(r, result) {
            Reserved::Stale => return,
            Reserved::Failed => {
                tracing::error!(institution = %self.name, error = ?error, "cannot reserve 전문번호");
                for s in std::mem::take(&mut self.waiting) {
                    self.reject(s, RejectReason::NoSequenceNumber(error.clone()));
                }
                let reason = RejectReason::NoSequenceNumber(error);
                for d in std::mem::take(&mut self.deferred) {
                    self.own_not_sent(d.purpose, reason.clone());
                }
                self.sequence_changed();
                return;
            }
            Reserved::Exhausted => {
                let usage = self.seq.usage();
                match usage.exhaustion {
                    Exhaustion::All => {
                        tracing::error!(institution = %self.name, day = usage.day, max = usage.max, "전문번호 exhausted, the reserve included: no telegram can be numbered until the next business day")
                    }
                    _ => {
                        tracing::error!(institution = %self.name, day = usage.day, max = usage.max, reserve = usage.reserve, "전문번호 for requests exhausted: requests are refused until the next business day; result inquiries and session telegrams use the reserve")
                    }
                }
            }
            Reserved::Accepted => {}
        }
        self.numbers_changed();
    }

    /// Numbers arrived or ran out: the gateway's own telegrams go first (the reserve is theirs),
    /// then the sign-on, then the requests waiting; what can no longer be numbered is refused.
    fn numbers_changed(&mut self) {
        self.reserve_more();
        self.release_deferred();
        self.maybe_sign_on();
        self.release_waiting();
        self.reserve_more();
        self.sequence_changed();
    }

    /// Sends the gateway's own telegrams that were waiting for a 전문번호, as far as numbers
    /// allow. A result inquiry is dated like a request: it waits while the session is not
    /// open (a new business date's sign-on goes first).
    fn release_deferred(&mut self) {
        if self.deferred.is_empty() {
            return;
        }
        let open = self.session.gate() == Gate::Open;
        let mut held = VecDeque::new();
        while self.seq.availability(Class::Own) != Availability::Soon {
            let Some(d) = self.deferred.pop_front() else {
                break;
            };
            if !open && matches!(d.purpose, Purpose::Inquiry { .. }) {
                held.push_back(d);
                continue;
            }
            let at = self.read_clock();
            self.send_own(d.telegram, d.purpose, d.timeout, at);
        }
        held.append(&mut self.deferred);
        self.deferred = held;
    }

    /// Sends the held requests the session and the numbers now allow (one clock reading for
    /// the batch); refuses them if the session can no longer take them, or if requests' numbers
    /// are exhausted for the day.
    pub(super) fn release_waiting(&mut self) {
        if self.waiting.is_empty() {
            return;
        }
        let at = self.read_clock();
        loop {
            let refused = match self.session.gate() {
                Gate::Wait => break,
                Gate::Open => None,
                Gate::Refuse(reason) => Some(self.refusal(reason)),
            };
            if refused.is_none() {
                match self.seq.availability(Class::Request) {
                    Availability::Now => {}
                    Availability::Soon => break,
                    Availability::Exhausted => {
                        let reason = self.exhausted_reason();
                        for s in std::mem::take(&mut self.waiting) {
                            self.reject(s, reason.clone());
                        }
                        break;
                    }
                }
            }
            let Some(s) = self.waiting.pop_front() else {
                break;
            };
            match refused {
                None => self.send_user(s, at),
                Some(reason) => self.reject(s, reason),
            }
        }
        self.reserve_more();
        self.sequence_changed();
    }

    /// Why a request the session refuses is refused: a sign-on that could not be sent says why.
    pub(super) fn refusal(&self, reason: RejectReason) -> RejectReason {
        match (reason, &self.sign_on_error) {
            (RejectReason::NotReady, Some(cause)) => {
                RejectReason::SignOnFailed(Box::new(cause.clone()))
            }
            (reason, _) => reason,
        }
    }

    /// Why numbers cannot be had today.
    pub(super) fn exhausted_reason(&self) -> RejectReason {
        let u = self.seq.usage();
        RejectReason::SequenceExhausted {
            day: u.day,
            max: u.max,
            reserve: u.reserve,
            reserve_too: u.exhaustion == Exhaustion::All,
        }
    }

    /// The next 전문번호 for `class`, if one is at hand (more are reserved as needed).
    pub(super) fn next_number(&mut self, class: Class) -> Option<u32> {
        let n = self.seq.next(class);
        self.reserve_more();
        self.sequence_changed();
        n
    }

    /// Exports the range's usage; warns once a day at the threshold.
    fn sequence_changed(&mut self) {
        let usage = self.seq.usage();
        self.metrics.sequence(&usage);
        if self.seq.take_warning() {
            tracing::warn!(institution = %self.name, day = usage.day, used = usage.used, max = usage.max, percent = self.sequence_warn_percent, "전문번호 usage passed the warning threshold");
        }
    }

    fn check_day(&mut self) {
        self.read_clock();
        self.maybe_sign_on();
        self.late.forget_old(now());
    }

    // ----- business date -------------------------------------------------------------------

    /// Reads the clock once, in the institution's zone: the date and time of one telegram.
    /// When the reading is on a new business date, the date changes here, before anything is
    /// stamped with it: a new 전문번호 range, and (where the family signs on at a date change)
    /// requests are held until the new date's sign-on is answered.
    pub(super) fn read_clock(&mut self) -> BusinessTime {
        let utc = self.clock.now();
        let at = BusinessTime::at(utc, self.zone);
        let from = self.seq.day();
        if at.day > from && self.seq.change_day(at.day) {
            let sign_on = self.session.on_day_change();
            tracing::info!(institution = %self.name, from, to = at.day, sign_on, "business date changed: new 전문번호 range");
            self.next_day = day_boundary(utc, self.zone, now());
            // Whatever kept the old date's sign-on from being sent says nothing of the new one.
            self.sign_on_error = None;
            self.reserve_more();
            self.sequence_changed();
        }
        at
    }

    // ----- links ---------------------------------------------------------------------------

    fn on_link(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::Listening { link, addr } => self.links.listening(link, addr),
            LinkEvent::Up {
                link,
                conn,
                sender,
                can_send,
            } => {
                if let Some(name) = self.links.up(link, conn, sender, can_send) {
                    tracing::info!(institution = %self.name, link = %name, "link up");
                    self.metrics.link_up(name, true);
                }
                self.links_changed();
            }
            LinkEvent::Down { link, conn } => {
                let Some(closed) = self.links.down(link, conn) else {
                    // The link is still up on other connections (inbound), or this was an
                    // older connection of a link that has already been replaced (outbound).
                    // What was written to it and is not answered times out as usual.
                    return;
                };
                tracing::warn!(institution = %self.name, link = %closed.name, "link down");
                self.metrics.link_up(&closed.name, false);
                // On a duplex link the answers would have come back on the same connection:
                // requests sent on it will not be answered, so settle them now as unknown.
                if closed.duplex {
                    let now = now();
                    for key in self.inflight.written_on(link) {
                        if let Some(e) = self.inflight.remove(key) {
                            self.unanswered(key, e, "link closed after sending", now);
                        }
                    }
                }
                self.links_changed();
            }
            LinkEvent::Frame { link, conn, frame } => {
                self.links.received(link, conn);
                self.on_frame(link, frame);
            }
        }
    }

    /// A link came up or went down: the session learns which paths are up, and may now sign
    /// on, or send or refuse what it held.
    fn links_changed(&mut self) {
        let (send, recv) = (self.links.can_send(), self.links.can_recv());
        self.session.set_links(send, recv);
        self.maybe_sign_on();
        self.release_deferred();
        self.release_waiting();
    }

    // ----- session -------------------------------------------------------------------------

    /// Sends the sign-on if one is due (see `Session::wants_sign_on`), stamped from one clock
    /// reading, which may itself start a new business date.
    pub(super) fn maybe_sign_on(&mut self) {
        let at = self.read_clock();
        // A reserve number will do; when the reserve is used up too, the attempt is made and
        // fails, saying why (`sign_on_error`).
        let numbered = self.seq.availability(Class::Own) != Availability::Soon;
        if !numbered {
            // Asked again when the numbers arrive (`on_reserved`).
            self.reserve_more();
        }
        let now = now();
        let Some(attempt) = self.session.wants_sign_on(now, numbered) else {
            return;
        };
        let telegram = self.profile.admin(&self.profile.sign_on);
        let timeout = self.session.answer_timeout();
        tracing::info!(institution = %self.name, day = at.day, attempt, "signing on");
        self.send_own(telegram.into(), Purpose::SignOn { attempt }, timeout, at);
    }

    /// Sends a telegram of the gateway's own (sign-on, result inquiry) stamped with `at`: its
    /// 전문번호 may come from the reserve; when none is at hand it waits for one (and is
    /// stamped when it goes).
    pub(super) fn send_own(
        &mut self,
        telegram: Bytes,
        purpose: Purpose,
        timeout: Duration,
        at: BusinessTime,
    ) {
        if self.seq.availability(Class::Own) == Availability::Soon {
            self.deferred.push_back(Deferred {
                telegram,
                purpose,
                timeout,
            });
            self.reserve_more();
            return;
        }
        let sign_on = matches!(purpose, Purpose::SignOn { .. });
        match self.send(telegram, purpose, timeout, at) {
            Ok(_) if sign_on => self.sign_on_error = None,
            Ok(_) => {}
            Err((purpose, reason)) => self.own_not_sent(purpose, reason),
        }
    }

    /// A telegram of the gateway's own could not be sent: tried again later.
    fn own_not_sent(&mut self, purpose: Purpose, reason: RejectReason) {
        let now = now();
        match purpose {
            Purpose::SignOn { attempt } => {
                let why = reason.to_string();
                self.sign_on_error = Some(reason);
                self.sign_on_failed(attempt, &why, now);
            }
            Purpose::SignOff => {
                tracing::warn!(institution = %self.name, %reason, "sign-off not sent");
                self.session.on_signed_off();
            }
            Purpose::Inquiry { orig } => {
                tracing::warn!(institution = %self.name, %reason, "result inquiry not sent; will retry");
                self.inquiry_failed(orig, now);
            }
            Purpose::User { reply, tx_id } => self.reject_reply(tx_id, reply, reason),
        }
    }

    /// Sign-on `attempt` was answered.
    pub(super) fn on_sign_on_answer(&mut self, attempt: u64, code: &str, accepted: bool) {
        let retry = self.session.on_answer(attempt, accepted, now());
        if let Some(wait) = retry {
            tracing::error!(institution = %self.name, attempt, code, retry_in = ?wait, "sign-on refused");
        } else if accepted && self.session.signed_on() {
            tracing::info!(institution = %self.name, day = self.seq.day(), attempt, "signed on");
            self.release_deferred();
            self.release_waiting();
        } else {
            tracing::info!(institution = %self.name, attempt, code, "answer to an abandoned sign-on ignored");
        }
    }

    /// Sign-on `attempt` was not answered in time, or never reached a link.
    pub(super) fn sign_on_failed(&mut self, attempt: u64, why: &str, now: Instant) {
        if let Some(wait) = self.session.on_failed(attempt, now) {
            tracing::warn!(institution = %self.name, attempt, why, retry_in = ?wait, "sign-on failed");
        }
    }

    /// Shutdown steps: once the requests in flight are settled (or the drain deadline passed),
    /// 업무종료 goes out while every link is still open and its answer is awaited (bounded by
    /// `answer_timeout`); true when done, so the links may close.
    fn stopped(&mut self) -> bool {
        let drained = self.user_inflight() + self.waiting.len() == 0;
        let Some(stopping) = self.stopping.as_mut() else {
            return false;
        };
        if !stopping.signing_off {
            if !drained && now() < stopping.drain_until {
                return false;
            }
            stopping.signing_off = true;
            self.sign_off();
        }
        !self.session.signing_off()
    }

    fn sign_off(&mut self) {
        // Read first: past midnight the old date's session is over and there is nothing to
        // sign off (the new date's was never opened).
        let at = self.read_clock();
        if !self.session.begin_sign_off() {
            return;
        }
        let telegram = self.profile.admin(&self.profile.sign_off);
        let timeout = self.session.answer_timeout();
        tracing::info!(institution = %self.name, day = at.day, "signing off");
        // A number of the gateway's own (the reserve's, kept at hand): none is reserved any
        // more for a gateway that is stopping, so it is sent now or not at all.
        if let Err((_, reason)) = self.send(telegram.into(), Purpose::SignOff, timeout, at) {
            tracing::warn!(institution = %self.name, %reason, "sign-off not sent");
            self.session.on_signed_off();
        }
    }

    /// The sign-off was answered, or will not be: the session is over.
    pub(super) fn signed_off(&mut self, how: &str) {
        tracing::info!(institution = %self.name, how, "signed off");
        self.session.on_signed_off();
    }

    // ----- bookkeeping ---------------------------------------------------------------------

    /// Journals transaction `tx_id`'s new state (without waiting: never dropped, in order).
    pub(super) fn record(&self, tx_id: u64, at: &MsgRef, state: TxState, detail: &str) {
        self.journal
            .put_tx_nowait(TxRecord::new(tx_id, at, &self.name, state).with_detail(detail));
    }

    pub(super) fn on_breaker_transition(&mut self, t: Option<Transition>) {
        let Some(t) = t else { return };
        tracing::warn!(institution = %self.name, from = t.from.as_str(), to = t.to.as_str(), reason = ?t.reason, "circuit breaker");
        self.metrics.breaker(&t);
    }

    fn status(&self) -> InstitutionStatus {
        let mut counters = self.counters.clone();
        counters.rejected += self.refused.load(Ordering::Relaxed);
        InstitutionStatus {
            name: self.name.to_string(),
            signed_on: self.session.signed_on(),
            session: self.session.state(),
            sign_on_failures: self.session.failures(),
            day: self.seq.day(),
            time_zone: self.zone.name(),
            links: self.links.statuses(),
            inflight: self.user_inflight(),
            resolving: self.resolver.len(),
            breaker: self
                .admission
                .breaker_state()
                .map_or("none", State::as_str)
                .to_owned(),
            counters,
            sequence: SequenceStatus::of(&self.seq.usage(), self.sequence_warn_percent),
            sign_on_error: self
                .sign_on_error
                .as_ref()
                .filter(|_| !self.session.signed_on())
                .map(ToString::to_string),
        }
    }
}

/// The monotonic instant at which the business date after `utc`'s begins in `zone`, `now`
/// being the monotonic time of `utc`.
fn day_boundary(utc: chrono::DateTime<chrono::Utc>, zone: Tz, now: Instant) -> Instant {
    let until = (next_day_start(utc, zone) - utc)
        .to_std()
        .unwrap_or(Duration::ZERO);
    now + until.max(Duration::from_millis(1))
}
