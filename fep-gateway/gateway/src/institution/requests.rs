//! The actor's request path: admission, stamping and journaling before sending, matching
//! answers, settling what is not answered, result inquiries, and inbound notices.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::sync::oneshot;

use super::actor::{Actor, Answering, Journaled, Purpose};
use super::admission::Call;
use super::inflight::Entry;
use super::resolver::{Due, Settled, Step};
use super::sequencer::{Availability, Class};
use super::session::Gate;
use super::{now, Reply, Submit};
use crate::clock::BusinessTime;
use crate::domain::{MsgRef, RejectReason, Resolution, TelegramDirection, TxState};
use crate::journal::{JournalError, OnCommit, TelegramRow, TxRecord, Unsettled};
use crate::profile::{CorrKey, FrameKind, Verdict};
use crate::protocol::Outcome;

impl Actor {
    // ----- admission -----------------------------------------------------------------------

    pub(super) fn on_submit(&mut self, s: Submit) {
        self.counters.requests += 1;
        if let Err(reason) = self.admission.check(&s.ticket, now()) {
            return self.reject(s, reason);
        }
        let Some(key) = self.profile.msg_key(&s.telegram) else {
            let why = format!(
                "no readable message key: not a telegram of the {} family",
                self.profile.family
            );
            return self.reject(s, RejectReason::BadRequest(why));
        };
        // Its answer could never be matched: it would only end unknown.
        if !self.profile.is_request(&key) {
            let why = format!(
                "{key} is not a request of the {} family (no [[messages]] response)",
                self.profile.family
            );
            return self.reject(s, RejectReason::BadRequest(why));
        }
        if let Some(n) = self.profile.telegram_len(&key) {
            if n != s.telegram.len() {
                let why = format!(
                    "expected a {n}-byte telegram for {key}, got {}",
                    s.telegram.len()
                );
                return self.reject(s, RejectReason::BadRequest(why));
            }
        }
        // After the institution's 종료예고 no new money-moving request goes out.
        if self.session.stopping_new() && self.profile.moves_money(&key) {
            return self.reject(s, RejectReason::DayClosing);
        }
        // One clock reading: it starts a new business date if it is one, and stamps the telegram.
        let at = self.read_clock();
        match self.session.gate() {
            Gate::Open => {}
            // The new date's sign-on is under way: hold it (bounded by its own deadline).
            Gate::Wait => return self.waiting.push_back(s),
            Gate::Refuse(reason) => {
                // Says why the sign-on has not happened when it could not be sent.
                let reason = self.refusal(reason);
                return self.reject(s, reason);
            }
        }
        match self.seq.availability(Class::Request) {
            Availability::Exhausted => {
                let reason = self.exhausted_reason();
                self.reject(s, reason);
            }
            Availability::Now if self.waiting.is_empty() => self.send_user(s, at),
            Availability::Now | Availability::Soon => {
                // Numbers are being reserved: hold the request briefly (bounded by
                // max_inflight), behind those held before it.
                self.waiting.push_back(s);
                self.reserve_more();
            }
        }
    }

    /// Sends an admitted request stamped with `at`, unless the breaker refuses it.
    pub(super) fn send_user(&mut self, s: Submit, at: BusinessTime) {
        let Submit {
            telegram,
            ticket,
            reply,
            tx_id,
        } = s;
        let now = now();
        // Held while numbers were reserved: 종료예고 may have come meanwhile.
        let moves_money = self
            .profile
            .msg_key(&telegram)
            .is_some_and(|k| self.profile.moves_money(&k));
        if self.session.stopping_new() && moves_money {
            return self.reject_reply(tx_id, reply, RejectReason::DayClosing);
        }
        // The caller's deadline covers the time spent queued.
        let timeout = ticket.remaining(now);
        // An open breaker refuses at once, without touching the link.
        let (permit, transition) = self.admission.permit(now);
        self.on_breaker_transition(transition);
        let permit = match permit {
            Ok(p) => p,
            Err(reason) => return self.reject_reply(tx_id, reply, reason),
        };
        match self.send(telegram, Purpose::User { reply, tx_id }, timeout, at) {
            Ok(key) => {
                if let Some(Err(p)) = permit.map(|p| self.inflight.set_permit(key, p)) {
                    self.admission.settle(Some(p), Call::NotSent, now, now);
                }
            }
            Err((purpose, reason)) => {
                self.admission.settle(permit, Call::NotSent, now, now);
                if let Purpose::User { reply, tx_id } = purpose {
                    self.reject_reply(tx_id, reply, reason);
                }
            }
        }
    }

    /// Answers `rejected` (counted, with its reason as the metric label).
    pub(super) fn reject(&mut self, s: Submit, reason: RejectReason) {
        self.reject_reply(s.tx_id, s.reply, reason);
    }

    pub(super) fn reject_reply(
        &mut self,
        tx_id: u64,
        reply: oneshot::Sender<Reply>,
        reason: RejectReason,
    ) {
        self.count_rejected(&reason);
        let _ = reply.send(Reply::rejected(tx_id, &reason));
    }

    fn count_rejected(&mut self, reason: &RejectReason) {
        self.counters.rejected += 1;
        self.metrics.rejected(reason);
    }

    /// Answers `rejected` for a user request whose telegram never reached a link, once its
    /// journaled transaction is settled as such.
    pub(super) fn reject_unsent(
        &mut self,
        tx_id: u64,
        reply: oneshot::Sender<Reply>,
        at: &MsgRef,
        reason: RejectReason,
    ) {
        self.count_rejected(&reason);
        self.answer_durably(reply, at, Reply::rejected(tx_id, &reason));
    }

    /// Journals the outcome `answer` of a caller's transaction (sent as `at`) and answers the
    /// caller only once that record is committed, so that no crash can take back what the
    /// caller was told. The actor does not wait: the answer joins those waiting for their
    /// group commit, and is sent when it is over. If the record cannot be committed, the
    /// journal still says `sent` (a restart resolves it by inquiry), so the caller hears
    /// `unknown` — or, for a telegram that never left, `rejected` with the journal's failure.
    pub(super) fn answer_durably(
        &mut self,
        reply: oneshot::Sender<Reply>,
        at: &MsgRef,
        answer: Reply,
    ) {
        let record = TxRecord::new(answer.tx_id, at, &self.name, answer.outcome.into())
            .with_detail(answer.detail.clone());
        let (done, committed) = oneshot::channel();
        self.journal.put_tx_then(
            record,
            OnCommit::new(move |result| {
                let _ = done.send(result);
            }),
        );
        self.answering.push(Answering {
            committed,
            reply: Some((reply, answer)),
        });
    }

    // ----- sending -------------------------------------------------------------------------

    /// Assigns a 전문번호, stamps the telegram with the business date and the time of `at`
    /// (one clock reading, taken through `read_clock` so the date is the sequencer's),
    /// journals it (with the transaction it opens) and tracks it; it is written to a link once
    /// the journal has committed it.
    pub(super) fn send(
        &mut self,
        telegram: Bytes,
        purpose: Purpose,
        timeout: Duration,
        at: BusinessTime,
    ) -> Result<CorrKey, (Purpose, RejectReason)> {
        let class = match purpose {
            Purpose::User { .. } => Class::Request,
            // The gateway's own: a reserve number will do.
            Purpose::SignOn { .. }
            | Purpose::SignOff
            | Purpose::Inquiry { .. }
            | Purpose::TestCall => Class::Own,
        };
        let Some(msg_no) = self.next_number(class) else {
            let reason = match self.seq.availability(class) {
                Availability::Exhausted => self.exhausted_reason(),
                _ => RejectReason::NoSequenceNumber(None),
            };
            return Err((purpose, reason));
        };
        let day = self.seq.day();
        // Only a wall clock set back across midnight reads a date before the sequencer's:
        // the date stays, and the time is its first second rather than one of another date.
        let hms = if at.day == day { at.hms } else { 0 };
        // Copies only if the caller still shares the bytes.
        let mut stamped = BytesMut::from(telegram);
        if !self.profile.stamp(&mut stamped, msg_no, day, hms) {
            return Err((
                purpose,
                RejectReason::Malformed("telegram too short for the header"),
            ));
        }
        let telegram = stamped.freeze();
        self.last_traffic = now();
        let (Some(key), Some(msg_key)) =
            (self.profile.key(&telegram), self.profile.msg_key(&telegram))
        else {
            return Err((
                purpose,
                RejectReason::Malformed("unreadable correlation key"),
            ));
        };
        let at = MsgRef {
            day,
            msg_no,
            key: msg_key,
        };
        // What goes on the wire, journaled as such; the clear form is read back from it.
        let clear = telegram;
        let telegram = match self.seal(&clear) {
            Ok(wire) => wire,
            Err(e) => {
                return Err((
                    purpose,
                    RejectReason::BadRequest(format!("cannot encrypt the telegram: {e}")),
                ))
            }
        };
        let tx_id = match &purpose {
            Purpose::User { tx_id, .. } => Some(*tx_id),
            _ => None,
        };
        // Journaled (committed) before it is written to a link: after a crash every telegram
        // that may have reached the institution has a row. A user request's transaction is
        // opened (`sent`) in the same commit.
        let row = TelegramRow {
            institution: self.name.clone(),
            direction: TelegramDirection::Out,
            day,
            msg_no,
            msg_type: Some(at.key.clone()),
            tx_id,
            raw: telegram.clone(),
        };
        self.journal_plain(&row, &clear);
        let opens = tx_id.map(|id| TxRecord::new(id, &at, &self.name, TxState::Sent));
        match self.journal.record_telegram(row, opens) {
            Ok(rx) => self.journaling.push(Journaled { key, rx }),
            Err(e) => return Err((purpose, RejectReason::JournalBusy(e.to_string()))),
        }
        let now = now();
        let displaced = self.inflight.insert(
            key,
            Entry {
                purpose,
                telegram,
                at,
                permit: None,
                sent_at: now,
                deadline: now + timeout,
                link: None,
            },
        );
        // Only a number reused within a day could collide (the range forbids it): should it
        // happen, the older request is settled, never silently forgotten.
        if let Some(old) = displaced {
            self.unanswered(
                key,
                old,
                "displaced by a telegram with the same correlation key",
                now,
            );
        }
        Ok(key)
    }

    /// A telegram's journal row is committed: now it may go out.
    pub(super) fn on_journaled(&mut self, key: CorrKey, result: Result<(), JournalError>) {
        // Gone means it expired while being journaled, and was settled as not sent.
        let Some(telegram) = self.inflight.get(key).map(|e| e.telegram.clone()) else {
            return;
        };
        let written = match result {
            Ok(()) => self.links.write(telegram),
            Err(e) => Err(RejectReason::JournalUnavailable(e.to_string())),
        };
        let now = now();
        match written {
            Ok(link) => {
                self.inflight.written(key, link, now);
            }
            Err(reason) => {
                if let Some(e) = self.inflight.remove(key) {
                    self.not_sent(e, reason, now);
                }
            }
        }
    }

    /// Settles an in-flight entry that never reached a link.
    pub(super) fn not_sent(&mut self, e: Entry<Purpose>, reason: RejectReason, now: Instant) {
        let t = self
            .admission
            .settle(e.permit, Call::NotSent, e.sent_at, now);
        self.on_breaker_transition(t);
        match e.purpose {
            Purpose::User { reply, tx_id } => self.reject_unsent(tx_id, reply, &e.at, reason),
            Purpose::SignOn { attempt } => self.sign_on_failed(attempt, &reason.to_string(), now),
            Purpose::SignOff => self.signed_off("sign-off not sent"),
            Purpose::Inquiry { orig } => self.inquiry_failed(orig, now),
            Purpose::TestCall => {
                tracing::warn!(institution = %self.name, %reason, "test call not sent");
            }
        }
    }

    /// An in-flight entry's deadline passed.
    pub(super) fn expired(&mut self, key: CorrKey, e: Entry<Purpose>, now: Instant) {
        if e.link.is_none() {
            return self.not_sent(e, RejectReason::JournalTooSlow, now);
        }
        self.unanswered(key, e, "timeout", now);
    }

    /// Settles a written telegram whose answer did not (or cannot) arrive: `unknown`.
    pub(super) fn unanswered(&mut self, key: CorrKey, e: Entry<Purpose>, why: &str, now: Instant) {
        let t = self
            .admission
            .settle(e.permit, Call::Failed, e.sent_at, now);
        self.on_breaker_transition(t);
        match e.purpose {
            Purpose::User { reply, tx_id } => {
                self.counters.unknown += 1;
                let took = now.saturating_duration_since(e.sent_at);
                self.metrics.request(&e.at.key, Outcome::Unknown, took);
                self.late.remember(key, tx_id, now);
                self.answer_durably(reply, &e.at, Reply::unknown(tx_id, why));
                self.start_resolution(key, tx_id, e.at, e.telegram, now);
            }
            Purpose::SignOn { attempt } => self.sign_on_failed(attempt, why, now),
            Purpose::SignOff => self.signed_off("sign-off not answered"),
            Purpose::Inquiry { orig } => self.inquiry_failed(orig, now),
            // The line is judged by the link and the breaker; a silent peer is logged.
            Purpose::TestCall => {
                tracing::warn!(institution = %self.name, why, "test call not answered");
            }
        }
    }

    // ----- unknown outcomes ----------------------------------------------------------------

    /// Unsettled transactions of a previous run: unknown now, resolved by inquiry.
    pub(super) fn on_recovered(&mut self, rows: Unsettled) {
        tracing::warn!(institution = %self.name, count = rows.len(), "resuming unknown transactions left by the previous run");
        let now = now();
        for (tx, raw) in rows {
            // The journal holds the wire bytes: the key is read from the clear form.
            let clear = self.open(&raw).unwrap_or_else(|_| raw.clone());
            // The telegram as sent carries its correlation key; a journal row without one
            // (unreadable) is keyed by its day and number, unique within this run.
            let key = self.profile.key(&clear).or_else(|| {
                let (day, no) = (tx.day.to_string(), tx.msg_no.to_string());
                CorrKey::from_parts([day.as_bytes(), b"/", no.as_bytes()])
            });
            let Some(key) = key else { continue };
            let at = MsgRef {
                day: tx.day,
                msg_no: tx.msg_no,
                key: tx.msg_type,
            };
            self.counters.unknown += 1;
            self.record(
                tx.id,
                &at,
                TxState::Unknown,
                "gateway restarted after sending",
            );
            self.start_resolution(key, tx.id, at, raw, now);
        }
    }

    /// Resolves the transaction by inquiry when the spec has one for its message type.
    pub(super) fn start_resolution(
        &mut self,
        key: CorrKey,
        tx_id: u64,
        at: MsgRef,
        original: Bytes,
        now: Instant,
    ) {
        // The original as sent (wire bytes): the inquiry copies fields of its clear form.
        let original = self.open(&original).unwrap_or(original);
        let resolvable = self
            .profile
            .inquiry
            .as_ref()
            .is_some_and(|rule| rule.for_requests.contains(&at.key));
        if resolvable {
            self.resolver.start(key, tx_id, at, original, now);
        }
    }

    pub(super) fn send_inquiry(&mut self, due: Due, at: BusinessTime) {
        let now = now();
        let Some(telegram) = self.profile.inquiry(&due.original) else {
            return self.inquiry_failed(due.key, now);
        };
        let timeout = self.request_timeout;
        let purpose = Purpose::Inquiry { orig: due.key };
        self.send_own(telegram.into(), purpose, timeout, at);
    }

    pub(super) fn inquiry_failed(&mut self, orig: CorrKey, now: Instant) {
        let step = self.resolver.retry(orig, now);
        self.on_step(step, "inquiry");
    }

    fn on_step(&mut self, step: Step, how: &str) {
        match step {
            Step::Settled(s) | Step::Exhausted(s) => self.settled(s, how),
            Step::Again | Step::Unknown => {}
        }
    }

    /// Records what became of an unknown transaction.
    fn settled(&mut self, s: Settled, how: &str) {
        match s.resolution {
            Resolution::Ok => self.counters.resolved_ok += 1,
            Resolution::Declined => self.counters.resolved_declined += 1,
            Resolution::Unresolved => self.counters.unresolved += 1,
        }
        if s.resolution == Resolution::Unresolved {
            tracing::error!(institution = %self.name, tx_id = s.tx_id, msg_no = s.at.msg_no, "unknown outcome not resolved after the last inquiry: needs manual reconciliation");
        } else {
            self.counters.unknown_resolved += 1;
            tracing::info!(institution = %self.name, tx_id = s.tx_id, msg_no = s.at.msg_no, resolved = %s.resolution, how, "unknown outcome resolved");
        }
        let record = TxRecord::new(s.tx_id, &s.at, &self.name, TxState::Unknown)
            .with_detail(s.detail)
            .resolved_as(s.resolution);
        self.journal.put_tx_nowait(record);
    }

    // ----- inbound frames ------------------------------------------------------------------

    pub(super) fn on_frame(&mut self, link: usize, wire: Bytes) {
        self.last_traffic = now();
        let clear = self.open(&wire);
        let frame = clear.as_ref().unwrap_or(&wire).clone();
        // Every telegram in is journaled as received (joined to its request by day + 전문번호).
        let row = TelegramRow {
            institution: self.name.clone(),
            direction: TelegramDirection::In,
            day: self.profile.send_date.digits(&frame).unwrap_or(0) as u32,
            msg_no: self.profile.msg_no.digits(&frame).unwrap_or(0) as u32,
            msg_type: self.profile.msg_key(&frame),
            tx_id: None,
            raw: wire.clone(),
        };
        self.journal.record_telegram_nowait(row.clone());
        if let Err(e) = clear {
            // Unreadable: nothing in it can be trusted, nothing is answered.
            self.counters.unmatched += 1;
            self.metrics.unmatched();
            tracing::warn!(institution = %self.name, error = %e, bytes = wire.len(), "telegram could not be decrypted: ignored");
            return;
        }
        self.journal_plain(&row, &frame);
        match self.profile.classify(&frame) {
            FrameKind::Response => self.on_response(frame),
            FrameKind::Notice(rule) => self.on_notice(link, rule, frame),
            FrameKind::Command(rule) => self.on_command(link, rule, frame),
            FrameKind::PollRequest | FrameKind::PollResponse => {} // handled by the link task
            FrameKind::Other => {
                self.counters.unmatched += 1;
                self.metrics.unmatched();
                tracing::warn!(institution = %self.name, bytes = frame.len(), "unexpected frame ignored");
            }
        }
    }

    fn on_response(&mut self, frame: Bytes) {
        let Some(key) = self.profile.key(&frame) else {
            self.counters.unmatched += 1;
            return;
        };
        // A response answers its request only when the family pairs their keys.
        let paired = self
            .inflight
            .get(key)
            .is_none_or(|e| self.profile.answers_frame(&e.at.key, &frame));
        if !paired {
            self.counters.unmatched += 1;
            self.metrics.unmatched();
            tracing::warn!(institution = %self.name, %key, "response of another message type ignored");
            return;
        }
        let Some(e) = self.inflight.remove(key) else {
            return self.on_late_or_unmatched(key, frame);
        };
        let now = now();
        let verdict = self.profile.verdict(&frame);
        let call = match verdict {
            Verdict::Unknown(_) => Call::Failed,
            _ => Call::Answered,
        };
        let t = self.admission.settle(e.permit, call, e.sent_at, now);
        self.on_breaker_transition(t);
        match e.purpose {
            Purpose::User { reply, tx_id } => {
                let (outcome, detail) = match verdict {
                    Verdict::Ok => (
                        Outcome::Ok,
                        self.profile.resp_code.text(&frame).unwrap_or("").to_owned(),
                    ),
                    Verdict::Declined(code) => (Outcome::Declined, code),
                    Verdict::Unknown(code) => (Outcome::Unknown, code),
                };
                match outcome {
                    Outcome::Ok => self.counters.ok += 1,
                    Outcome::Declined => self.counters.declined += 1,
                    _ => self.counters.unknown += 1,
                }
                let took = now.saturating_duration_since(e.sent_at);
                self.metrics.request(&e.at.key, outcome, took);
                let answer = Reply {
                    tx_id,
                    outcome,
                    detail,
                    telegram: frame,
                };
                self.answer_durably(reply, &e.at, answer);
                if outcome == Outcome::Unknown {
                    self.start_resolution(key, tx_id, e.at, e.telegram, now);
                }
            }
            Purpose::SignOn { attempt } => {
                let code = self.profile.resp_code.text(&frame).unwrap_or("");
                self.on_sign_on_answer(attempt, code, verdict == Verdict::Ok);
            }
            Purpose::SignOff => self.signed_off("sign-off answered"),
            Purpose::TestCall => {
                tracing::debug!(institution = %self.name, "test call answered");
            }
            Purpose::Inquiry { orig } => {
                let answer = self.profile.inquiry_verdict(&frame);
                let step = self.resolver.on_answer(orig, answer.as_ref(), now);
                self.on_step(step, "inquiry");
            }
        }
    }

    fn on_late_or_unmatched(&mut self, key: CorrKey, frame: Bytes) {
        if let Some(tx_id) = self.late.take(key) {
            self.counters.late += 1;
            self.metrics.late();
            let verdict = self.profile.verdict(&frame);
            tracing::info!(institution = %self.name, tx_id, ?verdict, "late response matched");
            if let Some(s) = self.resolver.on_late_response(key, &verdict) {
                self.settled(s, "late response");
            }
            return;
        }
        self.counters.unmatched += 1;
        self.metrics.unmatched();
        tracing::warn!(institution = %self.name, %key, "response matches no request");
    }

    fn on_notice(&mut self, link: usize, rule: usize, frame: Bytes) {
        let Some(rule) = self.profile.notices.get(rule) else {
            return;
        };
        let ack = match self.seal(&Bytes::from(self.profile.ack(rule, &frame))) {
            Ok(ack) => ack,
            Err(e) => {
                tracing::error!(institution = %self.name, error = %e, "notice not acknowledged: the ack cannot be encrypted");
                return;
            }
        };
        let dedup = self.profile.dedup_key(rule, &frame);
        let day = self.profile.send_date.digits(&frame).unwrap_or(0) as u32;
        // Acknowledge on the link it came from when that link can send, else on any send link.
        let sender = self.links.reply_sender(link);
        let (journal, name) = (self.journal.clone(), self.name.clone());
        self.counters.notices += 1;
        tokio::spawn(async move {
            // Recorded first; only a durable notice is acknowledged. Internal consumers read
            // it from the journal once committed (crate::notices): nothing to hand over here.
            if let Err(e) = journal.record_notice(&name, day, &dedup, &frame).await {
                tracing::error!(institution = %name, error = %e, "notice not recorded: not acknowledged (the institution will resend)");
                return;
            }
            metrics::counter!("fep_notifications_total", "institution" => name.to_string())
                .increment(1);
            if let Some(sender) = sender {
                let _ = sender.send(ack).await;
            }
        });
    }
}

/// What a caller hears when the outcome `answer` could not be journaled (`why`): a telegram
/// that may have left is `unknown` until the journal settles it; one that never left stays
/// `rejected`.
pub(super) fn not_journaled(answer: Reply, why: &JournalError) -> Reply {
    if answer.outcome == Outcome::Rejected {
        return Reply {
            detail: format!("{}; not recorded in the journal: {why}", answer.detail),
            ..answer
        };
    }
    let detail = format!(
        "the outcome ({} {}) could not be recorded in the journal ({why}): unknown until the \
         transaction is resolved",
        answer.outcome.as_str(),
        answer.detail
    );
    Reply::unknown(answer.tx_id, &detail)
}
