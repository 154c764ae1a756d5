//! The actor's links and session: link events, sign-on (attempts, retries, answers), the
//! gateway's own telegrams, and the shutdown's sign-off.

use fep_codec::spec::CommandEffect;

use super::*;

impl Actor {
    // ----- links ---------------------------------------------------------------------------

    pub(in crate::institution) fn on_link(&mut self, event: LinkEvent) {
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
            LinkEvent::Telegram { link, frame, reply } => {
                self.links.answer_on(link, reply);
                self.on_frame(link, frame);
                // Only the answers taken by now keep its connection open.
                self.links.answered(link);
            }
            LinkEvent::NotWritten {
                link,
                telegram,
                reason,
            } => {
                // Still awaited, and this very telegram (not one of the institution's
                // numbering, such as an acknowledgement, that shares its key).
                let key = self.profile.key(&telegram).filter(|k| {
                    self.inflight
                        .get(*k)
                        .is_some_and(|e| e.link == Some(link) && e.telegram == telegram)
                });
                if let Some(e) = key.and_then(|k| self.inflight.remove(k)) {
                    self.not_sent(e, reason, now());
                }
            }
        }
    }

    /// A link came up or went down: the session learns which paths are up, and may now sign
    /// on, or send or refuse what it held.
    pub(in crate::institution) fn links_changed(&mut self) {
        let (send, recv) = (self.links.can_send(), self.links.can_recv());
        self.session.set_links(send, recv);
        self.maybe_sign_on();
        self.release_deferred();
        self.release_waiting();
    }

    // ----- session -------------------------------------------------------------------------

    /// Sends the sign-on if one is due (see `Session::wants_sign_on`), stamped from one clock
    /// reading, which may itself start a new business date.
    pub(in crate::institution) fn maybe_sign_on(&mut self) {
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
        let Some(sign_on) = self.profile.session.sign_on.as_ref() else {
            return;
        };
        let telegram = self.profile.admin(sign_on);
        let timeout = self.session.answer_timeout();
        tracing::info!(institution = %self.name, day = at.day, attempt, "signing on");
        self.send_own(telegram.into(), Purpose::SignOn { attempt }, timeout, at);
    }

    /// Sends a telegram of the gateway's own (sign-on, result inquiry) stamped with `at`: its
    /// 전문번호 may come from the reserve; when none is at hand it waits for one (and is
    /// stamped when it goes).
    pub(in crate::institution) fn send_own(
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
    pub(in crate::institution) fn own_not_sent(&mut self, purpose: Purpose, reason: RejectReason) {
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
            Purpose::TestCall => {
                tracing::warn!(institution = %self.name, %reason, "test call not sent");
            }
        }
    }

    /// Sign-on `attempt` was answered.
    pub(in crate::institution) fn on_sign_on_answer(
        &mut self,
        attempt: u64,
        code: &str,
        accepted: bool,
    ) {
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
    pub(in crate::institution) fn sign_on_failed(&mut self, attempt: u64, why: &str, now: Instant) {
        if let Some(wait) = self.session.on_failed(attempt, now) {
            tracing::warn!(institution = %self.name, attempt, why, retry_in = ?wait, "sign-on failed");
        }
    }

    /// Shutdown steps: once the requests in flight are settled (or the drain deadline passed),
    /// 업무종료 goes out while every link is still open and its answer is awaited (bounded by
    /// `answer_timeout`); true when done, so the links may close.
    pub(in crate::institution) fn stopped(&mut self) -> bool {
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

    pub(in crate::institution) fn sign_off(&mut self) {
        // Read first: past midnight the old date's session is over and there is nothing to
        // sign off (the new date's was never opened).
        let at = self.read_clock();
        // No sign-off rule (or the institution closes its own day): nothing to send.
        let Some(sign_off) = self.profile.session.sign_off.clone() else {
            self.session.on_signed_off();
            return;
        };
        if !self.session.begin_sign_off() {
            return;
        }
        let telegram = self.profile.admin(&sign_off);
        let timeout = self.session.answer_timeout();
        tracing::info!(institution = %self.name, day = at.day, "signing off");
        // A number of the gateway's own (the reserve's, kept at hand): none is reserved any
        // more for a gateway that is stopping, so it is sent now or not at all.
        if let Err((_, reason)) = self.send(telegram.into(), Purpose::SignOff, timeout, at) {
            tracing::warn!(institution = %self.name, %reason, "sign-off not sent");
            self.session.on_signed_off();
        }
    }

    /// A session command the institution started (개시, 종료예고, TEST-CALL …): answered at
    /// once on the connection it came from, and its effect applied.
    pub(in crate::institution) fn on_command(&mut self, link: usize, rule: usize, frame: Bytes) {
        let Some(rule) = self.profile.commands.get(rule) else {
            return;
        };
        let ack = match self.seal(&Bytes::from(self.profile.ack(&rule.answer, &frame))) {
            Ok(ack) => ack,
            Err(e) => {
                tracing::error!(institution = %self.name, error = %e, "session command not answered: the answer cannot be encrypted");
                return;
            }
        };
        let (effect, key) = (rule.effect, rule.answer.key.clone());
        match self.links.reply_sender(link) {
            Some(sender) => {
                if let Err(tokio::sync::mpsc::error::TrySendError::Full(ack)) = sender.try_send(ack)
                {
                    // A full link queue: the answer waits its turn, off the actor's loop.
                    tokio::spawn(async move { sender.send(ack).await });
                }
            }
            None => {
                tracing::warn!(institution = %self.name, %key, "session command not answered: no link can send");
            }
        }
        tracing::info!(institution = %self.name, %key, ?effect, "session command answered");
        match effect {
            CommandEffect::Open => {
                self.session.on_opened();
                self.release_deferred();
                self.release_waiting();
            }
            CommandEffect::StopNew => self.session.on_stop_new(),
            CommandEffect::Close => self.session.on_closed(),
            CommandEffect::None => {}
        }
    }

    /// The day's state as an earlier run left it (its last session command, from the
    /// journal): applied only while nothing newer has arrived.
    pub(in crate::institution) fn restore_session(&mut self, effect: CommandEffect) {
        if self.session.signed_on() {
            return;
        }
        tracing::info!(institution = %self.name, ?effect, "business day restored from the journal");
        match effect {
            CommandEffect::Open => self.session.on_opened(),
            CommandEffect::StopNew => {
                self.session.on_opened();
                self.session.on_stop_new();
            }
            CommandEffect::Close | CommandEffect::None => return,
        }
        self.release_deferred();
        self.release_waiting();
    }

    /// The sign-off was answered, or will not be: the session is over.
    pub(in crate::institution) fn signed_off(&mut self, how: &str) {
        tracing::info!(institution = %self.name, how, "signed off");
        self.session.on_signed_off();
    }
}
