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
use crate::domain::{MsgKey, MsgRef, RejectReason, TxState};
use crate::journal::{Journal, JournalError, TxRecord, Unsettled};
use crate::profile::{CorrKey, Profile};
use crate::settings::InstitutionSettings;
use fep_codec::spec::CommandEffect;

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
    /// A test call (상태확인) on an idle session (the family's `[session] test_call`).
    TestCall,
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
    /// When a telegram last went out or came in: a test call is due after the family's idle
    /// time without traffic.
    pub last_traffic: Instant,
    /// The institution's telegram cipher (`[institution.encryption]`), shared with the tasks
    /// that acknowledge notices.
    pub cipher: Option<Arc<crate::crypto::EncryptionSettings>>,
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
        session: session_of(&settings, &profile),
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
        last_traffic: now(),
        cipher: settings.encryption.clone().map(Arc::new),
        #[cfg(test)]
        panic_on_expiry: false,
    };
    if profile.session.opened_by == fep_codec::spec::Opener::Institution {
        restore_day(&actor, control_tx.clone());
    }
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

mod numbering;
mod session_ops;
mod wire;

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
                    Control::SessionRestored(effect) => self.restore_session(effect),
                    Control::SetCipher(cipher) => {
                        let fingerprint = cipher.as_ref().map(|c| c.cipher.key_fingerprint().to_owned());
                        tracing::info!(institution = %self.name, key = ?fingerprint, "telegram cipher replaced");
                        self.cipher = cipher;
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
            self.test_call_due(),
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
        self.maybe_test_call(now, at);
    }

    /// When the family's test call is due: its idle time after the last traffic, while the
    /// session is open and no test call is awaited.
    fn test_call_due(&self) -> Option<Instant> {
        let (_, idle) = self.profile.session.test_call.as_ref()?;
        let open = self.session.gate() == Gate::Open;
        let awaited = self.inflight.count(|p| matches!(p, Purpose::TestCall)) > 0;
        (open && !awaited).then(|| self.last_traffic + *idle)
    }

    /// Sends the test call if it is due.
    fn maybe_test_call(&mut self, now: Instant, at: BusinessTime) {
        let Some(due) = self.test_call_due() else {
            return;
        };
        let Some((key, _)) = self.profile.session.test_call.clone() else {
            return;
        };
        if due <= now {
            let telegram = self.profile.admin(&key);
            let timeout = self.session.answer_timeout();
            self.last_traffic = now;
            self.send_own(telegram.into(), Purpose::TestCall, timeout, at);
        }
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

/// The session the family's rules and the config ask for: the gateway signs on when the
/// family has it do so (`[institution.signon] enabled` may turn that off); an
/// institution-opened day waits for the institution's command.
fn session_of(settings: &InstitutionSettings, profile: &Profile) -> Session {
    let rules = &profile.session;
    let session = Session::new(
        settings.sign_on && rules.sign_on.is_some(),
        settings.sign_on_at_date_change && rules.sign_on_at_date_change,
        settings.sign_on_policy,
    );
    if settings.sign_on && rules.opened_by == fep_codec::spec::Opener::Institution {
        session.opened_by_institution()
    } else {
        session
    }
}

/// Reads, off the actor's loop, the institution's last open / stop-new / close command of the
/// business date journaled by an earlier run, and hands it to the actor.
fn restore_day(actor: &Actor, control: mpsc::Sender<Control>) {
    let keys: Vec<(MsgKey, CommandEffect)> = actor
        .profile
        .commands
        .iter()
        .filter(|c| c.effect != CommandEffect::None)
        .map(|c| (c.answer.key.clone(), c.effect))
        .collect();
    let (journal, name, day) = (actor.journal.clone(), actor.name.clone(), actor.seq.day());
    tokio::spawn(async move {
        let wanted: Vec<MsgKey> = keys.iter().map(|(k, _)| k.clone()).collect();
        match journal.last_inbound(&name, day, wanted).await {
            Ok(Some(key)) => {
                if let Some((_, effect)) = keys.iter().find(|(k, _)| *k == key) {
                    let _ = control.send(Control::SessionRestored(*effect)).await;
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(institution = %name, error = %e, "cannot read today's session commands: waiting for the institution's open")
            }
        }
    });
}
