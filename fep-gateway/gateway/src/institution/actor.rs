//! The institution actor: its state, the supervisor that contains panics, and the event loop.
//! Decisions are made by the I/O-free types it holds; the request path is in `requests.rs`.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::admission::{Admission, Call};
use super::inflight::{InFlight, Late};
use super::links::Links;
use super::resolver::{Policy, Resolver};
use super::sequencer::{Reserved, Sequencer};
use super::session::Session;
use super::telemetry::{rejected_counter, Metrics};
use super::{
    now, Control, Counters, InstitutionHandle, InstitutionStatus, LinkEvent, NoticeEvent, Reply,
    Submit,
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

/// A 전문번호 reservation's result, for the day it was made for.
type ReserveResult = (u32, Result<Range<u32>, JournalError>);

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
    pub counters: Counters,
    pub notices: broadcast::Sender<NoticeEvent>,
    seq_tx: mpsc::Sender<ReserveResult>,
    shutdown: Option<oneshot::Sender<()>>,
    pub journaling: FuturesUnordered<Journaled>,
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
        seq: Sequencer::new(day_of(&clock.now()), *profile.seq_range.end()),
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
        counters: Counters::default(),
        notices: notices.clone(),
        seq_tx,
        shutdown: None,
        journaling: FuturesUnordered::new(),
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
                Some((day, result)) = rx.seq.recv() => self.on_reserved(day, result),
                Some(rows) = rx.recovered.recv() => self.on_recovered(rows),
                Some((key, result)) = self.journaling.next(), if !self.journaling.is_empty() => self.on_journaled(key, result),
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
            if self.shutdown.is_some() && self.user_inflight() == 0 {
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
        let Some(r) = self.seq.wants_block() else {
            return;
        };
        let (journal, name, tx) = (self.journal.clone(), self.name.clone(), self.seq_tx.clone());
        tokio::spawn(async move {
            let result = journal.reserve_seq(&name, r.day, r.block, r.max).await;
            let _ = tx.send((r.day, result)).await;
        });
    }

    fn on_reserved(&mut self, day: u32, result: Result<Range<u32>, JournalError>) {
        let error = result.as_ref().err().map(ToString::to_string);
        match self.seq.on_reserved(day, result) {
            Reserved::Stale => return,
            Reserved::Failed => {
                tracing::error!(institution = %self.name, error = ?error, "cannot reserve 전문번호");
                for s in std::mem::take(&mut self.waiting) {
                    self.reject(s, RejectReason::NoSequenceNumber(error.clone()));
                }
                return;
            }
            Reserved::Accepted => {}
        }
        self.reserve_more();
        self.maybe_sign_on();
        while !self.seq.is_dry() {
            let Some(s) = self.waiting.pop_front() else {
                break;
            };
            self.send_user(s);
        }
    }

    pub(super) fn next_msg_no(&mut self) -> Option<u32> {
        let n = self.seq.next();
        self.reserve_more();
        n
    }

    fn check_day(&mut self) {
        let today = day_of(&self.clock.now());
        let from = self.seq.day();
        if self.seq.change_day(today) {
            tracing::info!(institution = %self.name, from, to = today, "business date changed: new 전문번호 range and sign-on");
            self.session.on_day_change();
            self.reserve_more();
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
        if let Err((_, reason)) = self.send(telegram.into(), Purpose::SignOn, timeout) {
            tracing::warn!(institution = %self.name, %reason, "sign-on not sent; retrying");
            self.session.on_not_sent(now());
        }
    }

    fn sign_off(&mut self) {
        if !self.session.signed_on() {
            return;
        }
        let mut t = self.profile.admin(&self.profile.sign_off);
        if let Some(n) = self.next_msg_no() {
            let time = hms_of(&self.clock.now());
            self.profile.stamp(&mut t, n, self.seq.day(), time);
            let _ = self.links.write(t.into());
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
        }
    }
}
