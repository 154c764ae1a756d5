//! The institution actor: its state, the supervisor that contains panics, and the event loop.
//! Decisions are made by the I/O-free types it holds; the request path is in `requests.rs`.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::admission::{Admission, Call};
use super::inflight::{InFlight, Late};
use super::links::Links;
use super::resolver::{Policy, Resolver};
use super::sequencer::{Availability, Class, Exhaustion, Reserve, Reserved, Sequencer, Shortage};
use super::session::Session;
use super::telemetry::{rejected_counter, Metrics};
use super::{
    now, Control, Counters, InstitutionHandle, InstitutionStatus, LinkEvent, NoticeEvent, Reply,
    SequenceStatus, Submit,
};
use crate::breaker::{CircuitBreaker, State, Transition};
use crate::clock::{day_of, hms_of, SharedClock};
use crate::domain::{MsgRef, RejectReason, TxState};
use crate::journal::{Journal, JournalError, TxRecord, Unsettled};
use crate::profile::{CorrKey, Profile};
use crate::settings::InstitutionSettings;

/// Late responses are remembered this long after their request timed out.
const LATE_WINDOW: Duration = Duration::from_secs(600);
/// How often the business date is checked.
const DAY_CHECK: Duration = Duration::from_millis(500);

/// Why a telegram is in flight.
pub(super) enum Purpose {
    /// A caller's request.
    User {
        reply: oneshot::Sender<Reply>,
        tx_id: u64,
    },
    /// 업무개시.
    SignOn,
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
    /// Timeout of result inquiries.
    pub request_timeout: Duration,
    pub links: Links,
    pub seq: Sequencer,
    pub admission: Admission,
    pub session: Session,
    pub inflight: InFlight<Purpose>,
    pub late: Late,
    pub resolver: Resolver,
    /// Admitted requests waiting for a 전문번호 block.
    pub waiting: VecDeque<Submit>,
    /// The gateway's own telegrams waiting for a 전문번호 (at most the sign-on and one inquiry
    /// per unknown being resolved).
    pub deferred: VecDeque<Deferred>,
    /// Why the last sign-on could not be sent, until one is.
    pub sign_on_error: Option<RejectReason>,
    /// Usage of the number range from which status warns (percent).
    sequence_warn_percent: u32,
    pub counters: Counters,
    pub notices: broadcast::Sender<NoticeEvent>,
    seq_tx: mpsc::Sender<ReserveResult>,
    shutdown: Option<oneshot::Sender<()>>,
    pub journaling: FuturesUnordered<Journaled>,
    /// Answers waiting for their outcome's commit (kept across a panic: they are settled).
    pub answering: FuturesUnordered<Answering>,
    pub metrics: Metrics,
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
    let profile = Arc::new(settings.profile.clone());
    // Validated at config resolution: a bad breaker config never reaches here.
    let breaker = settings
        .breaker
        .clone()
        .map(|config| CircuitBreaker::from_valid(config, now()));
    let actor = Actor {
        name: name.clone(),
        profile: profile.clone(),
        journal,
        request_timeout: settings.request_timeout,
        links: Links::new(&settings.links),
        seq: Sequencer::new(
            day_of(&clock.now()),
            *profile.seq_range.end(),
            settings.sequence_reserve,
        )
        .warn_at_percent(settings.sequence_warn_percent),
        clock,
        admission: Admission::new(settings.max_inflight, settings.rate_tps, breaker),
        session: Session::new(settings.sign_on, settings.sign_on_at_date_change),
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
        notices: notices.clone(),
        seq_tx,
        shutdown: None,
        journaling: FuturesUnordered::new(),
        answering: FuturesUnordered::new(),
        metrics: Metrics::new(&name),
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
        name,
        default_timeout: settings.request_timeout,
        profile,
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
        self.sequence_changed();
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
            let call = if sent { Call::Failed } else { Call::NotSent };
            let t = self.admission.settle(e.permit, call, e.sent_at, now);
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
        }
        for s in std::mem::take(&mut self.waiting) {
            self.reject(s, RejectReason::TaskRestarted);
        }
        // The sign-on is sent again below; inquiries are re-armed.
        self.deferred.clear();
        self.session.forget_attempt();
        // Unknowns keep being resolved: their inquiries are re-armed.
        self.resolver.rearm_all(now);
        self.maybe_sign_on();
    }

    /// The event loop; returns the shutdown acknowledgement when asked to stop.
    async fn run(&mut self, rx: &mut Receivers) -> Option<oneshot::Sender<()>> {
        let mut day_check = tokio::time::interval(DAY_CHECK);
        // One timer for every deadline the actor keeps (requests, inquiries, sign-on retry),
        // armed at the earliest.
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
                    Control::Shutdown(done) => {
                        self.sign_off();
                        self.shutdown = Some(done);
                    }
                    #[cfg(test)]
                    Control::Panic => panic!("injected panic"),
                },
                _ = day_check.tick() => self.check_day(),
                Some(submit) = rx.submit.recv(), if self.shutdown.is_none() && self.has_room() => self.on_submit(submit),
                else => return self.shutdown.take(),
            }
            self.metrics.inflight(self.inflight.len());
            if self.shutdown.is_some() && self.user_inflight() == 0 && self.answering.is_empty() {
                return self.shutdown.take();
            }
        }
    }

    /// Answers whatever is still queued or in flight: nothing is dropped.
    fn finish(&mut self, rx: &mut Receivers, shutdown: Option<oneshot::Sender<()>>) {
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
        if let Some(done) = shutdown {
            let _ = done.send(());
        }
    }

    fn user_inflight(&self) -> usize {
        self.inflight.count(|p| matches!(p, Purpose::User { .. }))
    }

    fn has_room(&self) -> bool {
        self.admission
            .has_room(self.inflight.len() + self.waiting.len())
    }

    /// The earliest of the deadlines the actor keeps.
    fn next_wake(&self) -> Option<Instant> {
        [
            self.inflight.next_deadline(),
            self.resolver.next_due(),
            self.session.next_retry(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The timer fired: settles what is due. What is due is taken first, so that what
    /// handling it schedules (a retry with a zero interval) waits for the next round.
    fn on_wake(&mut self) {
        let now = now();
        let expired: Vec<_> = std::iter::from_fn(|| self.inflight.pop_expired(now)).collect();
        for (key, e) in expired {
            self.expired(key, e, now);
        }
        let inquiries: Vec<_> = std::iter::from_fn(|| self.resolver.pop_due(now)).collect();
        for due in inquiries {
            self.send_inquiry(due);
        }
        if self.session.retry_due(now) {
            self.maybe_sign_on();
        }
    }

    // ----- sequence numbers ---------------------------------------------------------------

    pub(super) fn reserve_more(&mut self) {
        if self.shutdown.is_some() {
            // Stopping: numbers reserved now would only be lost.
            return;
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
        while !self.deferred.is_empty() && self.seq.availability(Class::Own) != Availability::Soon {
            let Some(Deferred {
                telegram,
                purpose,
                timeout,
            }) = self.deferred.pop_front()
            else {
                break;
            };
            self.send_own(telegram, purpose, timeout);
        }
        self.maybe_sign_on();
        loop {
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
            let Some(s) = self.waiting.pop_front() else {
                break;
            };
            self.send_user(s);
        }
        self.reserve_more();
        self.sequence_changed();
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
        let today = day_of(&self.clock.now());
        let from = self.seq.day();
        if self.seq.change_day(today) {
            tracing::info!(institution = %self.name, from, to = today, "business date changed: new 전문번호 range and sign-on");
            self.session.on_day_change();
            self.reserve_more();
            self.sequence_changed();
        }
        self.late.forget_old(now());
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
                self.maybe_sign_on();
            }
            LinkEvent::Down { link, conn } => {
                let Some(closed) = self.links.down(link, conn) else {
                    return; // an older connection of a link that has already been replaced
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
                if !self.links.can_send() {
                    self.session.on_links_lost();
                }
            }
            LinkEvent::Frame { link, frame } => self.on_frame(link, frame),
        }
    }

    // ----- session -------------------------------------------------------------------------

    pub(super) fn maybe_sign_on(&mut self) {
        if !self.session.wants_sign_on(self.links.can_send()) {
            return;
        }
        let telegram = self.profile.admin(&self.profile.sign_on);
        let timeout = super::session::SIGN_ON_TIMEOUT;
        self.send_own(telegram.into(), Purpose::SignOn, timeout);
    }

    /// Sends a telegram of the gateway's own (sign-on, result inquiry): its 전문번호 may come
    /// from the reserve; when none is at hand it waits for one.
    pub(super) fn send_own(&mut self, telegram: Bytes, purpose: Purpose, timeout: Duration) {
        if self.seq.availability(Class::Own) == Availability::Soon {
            self.deferred.push_back(Deferred {
                telegram,
                purpose,
                timeout,
            });
            self.reserve_more();
            return;
        }
        let sign_on = matches!(purpose, Purpose::SignOn);
        match self.send(telegram, purpose, timeout) {
            Ok(_) if sign_on => self.sign_on_error = None,
            Ok(_) => {}
            Err((purpose, reason)) => self.own_not_sent(purpose, reason),
        }
    }

    /// A telegram of the gateway's own could not be sent: tried again later.
    fn own_not_sent(&mut self, purpose: Purpose, reason: RejectReason) {
        let now = now();
        match purpose {
            Purpose::SignOn => {
                tracing::warn!(institution = %self.name, %reason, "sign-on not sent; retrying");
                self.sign_on_error = Some(reason);
                self.session.on_not_sent(now);
            }
            Purpose::Inquiry { orig } => {
                tracing::warn!(institution = %self.name, %reason, "result inquiry not sent; will retry");
                self.inquiry_failed(orig, now);
            }
            Purpose::User { reply, tx_id } => self.reject_reply(tx_id, reply, reason),
        }
    }

    fn sign_off(&mut self) {
        if !self.session.signed_on() {
            return;
        }
        let mut t = self.profile.admin(&self.profile.sign_off);
        // Not `next_number`: no more is reserved for a gateway that is stopping.
        let number = self.seq.next(Class::Own);
        self.sequence_changed();
        match number {
            Some(n) => {
                let time = hms_of(&self.clock.now());
                self.profile.stamp(&mut t, n, self.seq.day(), time);
                let _ = self.links.write(t.into());
            }
            None => {
                tracing::warn!(institution = %self.name, "sign-off not sent: no 전문번호 at hand")
            }
        }
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
        InstitutionStatus {
            name: self.name.to_string(),
            signed_on: self.session.signed_on(),
            day: self.seq.day(),
            links: self.links.statuses(),
            inflight: self.user_inflight(),
            resolving: self.resolver.len(),
            breaker: self
                .admission
                .breaker_state()
                .map_or("none", State::as_str)
                .to_owned(),
            counters: self.counters.clone(),
            sequence: SequenceStatus::of(&self.seq.usage(), self.sequence_warn_percent),
            sign_on_error: self
                .sign_on_error
                .as_ref()
                .filter(|_| !self.session.signed_on())
                .map(ToString::to_string),
        }
    }
}
