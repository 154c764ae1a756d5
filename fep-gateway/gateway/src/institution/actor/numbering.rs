//! The actor's 전문번호 supply and the business date: number blocks, the reserve, held
//! requests released as numbers arrive, and the date change read from one clock reading.

use super::*;

impl Actor {
    // ----- sequence numbers ---------------------------------------------------------------

    pub(in crate::institution) fn reserve_more(&mut self) {
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

    pub(in crate::institution) fn on_reserved(
        &mut self,
        r: Reserve,
        result: Result<Range<u32>, JournalError>,
    ) {
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
    pub(in crate::institution) fn numbers_changed(&mut self) {
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
    pub(in crate::institution) fn release_deferred(&mut self) {
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
    pub(in crate::institution) fn release_waiting(&mut self) {
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
    pub(in crate::institution) fn refusal(&self, reason: RejectReason) -> RejectReason {
        match (reason, &self.sign_on_error) {
            (RejectReason::NotReady, Some(cause)) => {
                RejectReason::SignOnFailed(Box::new(cause.clone()))
            }
            (reason, _) => reason,
        }
    }

    /// Why numbers cannot be had today.
    pub(in crate::institution) fn exhausted_reason(&self) -> RejectReason {
        let u = self.seq.usage();
        RejectReason::SequenceExhausted {
            day: u.day,
            max: u.max,
            reserve: u.reserve,
            reserve_too: u.exhaustion == Exhaustion::All,
        }
    }

    /// The next 전문번호 for `class`, if one is at hand (more are reserved as needed).
    pub(in crate::institution) fn next_number(&mut self, class: Class) -> Option<u32> {
        let n = self.seq.next(class);
        self.reserve_more();
        self.sequence_changed();
        n
    }

    /// Exports the range's usage; warns once a day at the threshold.
    pub(in crate::institution) fn sequence_changed(&mut self) {
        let usage = self.seq.usage();
        self.metrics.sequence(&usage);
        if self.seq.take_warning() {
            tracing::warn!(institution = %self.name, day = usage.day, used = usage.used, max = usage.max, percent = self.sequence_warn_percent, "전문번호 usage passed the warning threshold");
        }
    }

    pub(in crate::institution) fn check_day(&mut self) {
        self.read_clock();
        self.maybe_sign_on();
        self.late.forget_old(now());
    }

    // ----- business date -------------------------------------------------------------------

    /// Reads the clock once, in the institution's zone: the date and time of one telegram.
    /// When the reading is on a new business date, the date changes here, before anything is
    /// stamped with it: a new 전문번호 range, and (where the family signs on at a date change)
    /// requests are held until the new date's sign-on is answered.
    pub(in crate::institution) fn read_clock(&mut self) -> BusinessTime {
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
}
