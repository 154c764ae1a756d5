//! Unit tests of the session state (I/O-free, time passed in).

use super::*;

const POLICY: SignOnPolicy = SignOnPolicy {
    retry_min: Duration::from_millis(500),
    retry_max: Duration::from_secs(30),
    answer_timeout: Duration::from_secs(10),
};

fn session(required: bool, at_date_change: bool) -> Session {
    Session::with_rng(
        required,
        at_date_change,
        POLICY,
        fastrand::Rng::with_seed(7),
    )
}

/// A session that signs on, with both paths up and its sign-on answered at `t0`.
fn signed_on(at_date_change: bool, t0: Instant) -> Session {
    let mut s = session(true, at_date_change);
    s.set_links(true, true);
    let a = s.wants_sign_on(t0, true).expect("due");
    assert_eq!(s.on_answer(a, true, t0), None);
    s
}

#[test]
fn signs_on_once_per_attempt_and_only_with_a_send_link() {
    let t0 = Instant::now();
    let mut s = session(true, true);
    s.set_links(false, true);
    assert_eq!(
        s.wants_sign_on(t0, true),
        None,
        "no send link: nothing to sign on with"
    );
    assert_eq!(s.gate(), Gate::Refuse(RejectReason::Down));
    assert_eq!(s.state(), SessionState::Disconnected);
    s.set_links(true, true);
    let attempt = s.wants_sign_on(t0, true).expect("both paths up");
    assert_eq!(
        s.wants_sign_on(t0, true),
        None,
        "one sign-on in flight at a time"
    );
    assert_eq!(s.gate(), Gate::Refuse(RejectReason::NotReady));
    assert_eq!(s.state(), SessionState::SigningOn);
    assert_eq!(s.on_answer(attempt, true, t0), None);
    assert!(s.signed_on());
    assert_eq!(s.gate(), Gate::Open);
    assert_eq!(s.state(), SessionState::Ready);
    assert_eq!(s.wants_sign_on(t0, true), None, "already signed on");
}

/// Split lines: with the send link up and the recv line not yet, the sign-on is not sent
/// (its answer could not arrive); it goes out the moment the recv line comes up.
#[test]
fn the_sign_on_waits_for_a_path_its_answer_can_take() {
    let t0 = Instant::now();
    let mut s = session(true, true);
    s.set_links(true, false);
    assert_eq!(s.wants_sign_on(t0, true), None);
    assert_eq!(s.state(), SessionState::WaitingForRecv);
    assert_eq!(s.gate(), Gate::Refuse(RejectReason::NoRecvLink));
    s.set_links(true, true);
    let attempt = s
        .wants_sign_on(t0, true)
        .expect("sent when the recv line comes up");
    // The recv line drops while the sign-on is out: that attempt is abandoned, its answer
    // stale; the next goes out as soon as the line is back, with no backoff.
    s.set_links(true, false);
    assert_eq!(s.on_answer(attempt, true, t0), None);
    assert!(!s.signed_on(), "a stale answer signs nothing on");
    s.set_links(true, true);
    assert_eq!(s.wants_sign_on(t0, false), None, "no 전문번호 yet");
    let again = s.wants_sign_on(t0, true).expect("at once");
    assert!(again > attempt);
    s.on_answer(again, true, t0);
    assert_eq!(s.state(), SessionState::Ready);
    // Signed on, then the recv line is lost: requests are refused, not sent into the void.
    s.set_links(true, false);
    assert_eq!(s.gate(), Gate::Refuse(RejectReason::NoRecvLink));
    assert_eq!(s.state(), SessionState::WaitingForRecv);
    s.set_links(true, true);
    assert_eq!(s.gate(), Gate::Open, "the session itself was not lost");
}

/// Failed attempts back off exponentially from `retry_min` to `retry_max`, each wait
/// jittered by up to half again and never beyond `retry_max`.
#[test]
fn failed_sign_ons_back_off_with_jitter_within_the_configured_bounds() {
    let t0 = Instant::now();
    let mut s = session(true, true);
    s.set_links(true, true);
    let mut now = t0;
    let mut waits = Vec::new();
    for i in 0..10 {
        let attempt = s.wants_sign_on(now, true).expect("due");
        let wait = if i % 2 == 0 {
            s.on_answer(attempt, false, now)
        } else {
            s.on_failed(attempt, now)
        }
        .expect("a failure backs off");
        assert_eq!(s.state(), SessionState::BackingOff);
        assert_eq!(s.next_retry(), Some(now + wait));
        assert_eq!(
            s.wants_sign_on(now + wait - Duration::from_millis(1), true),
            None
        );
        waits.push(wait);
        now += wait;
    }
    for (i, w) in waits.iter().enumerate() {
        let base = (POLICY.retry_min * (1 << i)).min(POLICY.retry_max);
        assert!(
            *w >= base && *w <= (base * 3 / 2).min(POLICY.retry_max),
            "wait {i}: {w:?} outside [{base:?}, 1.5 × {base:?}] ∩ retry_max"
        );
    }
    assert_eq!(waits.last(), Some(&POLICY.retry_max), "capped");
    let bases = (0..4).map(|i| POLICY.retry_min * (1 << i));
    assert!(
        waits.iter().zip(bases).all(|(w, base)| *w != base),
        "jittered, not the bare exponential: {waits:?}"
    );
    // Due, but no 전문번호 to give it: the backoff is spent (no timer left pointing at the
    // past); the numbers' arrival asks again.
    assert_eq!(s.wants_sign_on(now, false), None);
    assert_eq!(s.next_retry(), None);
    let attempt = s.wants_sign_on(now, true).expect("due");
    s.on_answer(attempt, true, now);
    assert_eq!(s.failures(), 0, "a success resets the backoff");
}

#[test]
fn date_change_and_lost_links_require_a_new_sign_on() {
    let t0 = Instant::now();
    let mut s = signed_on(true, t0);
    assert!(s.on_day_change());
    assert!(!s.signed_on());
    assert_eq!(
        s.gate(),
        Gate::Wait,
        "signed on yesterday: today's requests wait for today's sign-on"
    );
    let b = s.wants_sign_on(t0, true).unwrap();
    s.on_answer(b, true, t0);
    assert_eq!(s.gate(), Gate::Open);
    s.set_links(false, true);
    assert_eq!(s.gate(), Gate::Refuse(RejectReason::Down));
    assert!(!s.signed_on());

    let mut keep = signed_on(false, t0);
    assert!(!keep.on_day_change());
    assert!(keep.signed_on(), "sign_on_at_date_change = false");
}

/// A sign-on sent just before midnight is for the old date: its answer, arriving after the
/// date changed, does not sign the new date on.
#[test]
fn an_answer_to_the_old_days_sign_on_is_stale_after_the_change() {
    let t0 = Instant::now();
    let mut s = session(true, true);
    s.set_links(true, true);
    let old = s.wants_sign_on(t0, true).unwrap();
    assert!(s.on_day_change());
    assert_eq!(s.on_answer(old, true, t0), None);
    assert!(!s.signed_on());
    assert!(
        s.wants_sign_on(t0, true).is_some(),
        "the new date's sign-on"
    );
}

#[test]
fn without_sign_on_up_links_are_enough() {
    let t0 = Instant::now();
    let mut s = session(false, true);
    assert_eq!(s.wants_sign_on(t0, true), None);
    assert!(!s.signed_on());
    s.set_links(true, true);
    assert_eq!(s.wants_sign_on(t0, true), None, "nothing to send");
    assert!(s.signed_on());
    assert_eq!(s.state(), SessionState::Ready);
    assert!(!s.on_day_change());
    assert!(!s.begin_sign_off(), "nothing to sign off");
    assert_eq!(s.state(), SessionState::SignedOff);
}

#[test]
fn sign_off_is_sent_only_for_a_signed_on_session_and_ends_it() {
    let t0 = Instant::now();
    let mut s = signed_on(true, t0);
    assert!(s.begin_sign_off());
    assert_eq!(s.state(), SessionState::SigningOff);
    assert!(s.signing_off());
    assert_eq!(s.wants_sign_on(t0, true), None, "no sign-on while closing");
    s.on_signed_off();
    assert_eq!(s.state(), SessionState::SignedOff);
    assert!(!s.signing_off());

    let mut never = session(true, true);
    never.set_links(true, true);
    assert!(!never.begin_sign_off(), "never signed on");

    let mut deaf = signed_on(true, t0);
    deaf.set_links(true, false);
    assert!(!deaf.begin_sign_off(), "its answer could not arrive");
}

#[test]
fn polls_when_idle_and_gives_up_on_a_silent_peer() {
    let t0 = Instant::now();
    let every = Duration::from_secs(30);
    let mut h = Heartbeat::new(every, t0);
    assert_eq!(h.tick_period(), Duration::from_secs(1));
    assert_eq!(h.on_tick(t0 + Duration::from_secs(29)), Beat::Quiet);
    assert_eq!(h.on_tick(t0 + every), Beat::Poll);
    h.sent(t0 + every);
    h.received(t0 + every);
    assert_eq!(
        h.on_tick(t0 + every + Duration::from_secs(10)),
        Beat::Quiet,
        "traffic resets the idle time"
    );
    // Sending keeps us from polling, but the peer must still say something.
    h.sent(t0 + Duration::from_secs(120));
    assert_eq!(h.on_tick(t0 + every + every * 3), Beat::Quiet);
    assert_eq!(
        h.on_tick(t0 + every + every * 3 + Duration::from_millis(1)),
        Beat::PeerSilent
    );
    assert_eq!(
        Heartbeat::new(Duration::from_millis(10), t0).tick_period(),
        Duration::from_millis(100)
    );
}

/// 종료예고 ends the day's new business; a new sign-on or date opens the next.
#[test]
fn stop_new_is_over_with_the_next_sign_on_or_date() {
    let t0 = Instant::now();
    let mut s = signed_on(true, t0);
    s.on_stop_new();
    assert_eq!(s.state(), SessionState::Closing);
    assert!(s.on_day_change());
    assert!(!s.stopping_new(), "a new date is a new day");
    let a = s.wants_sign_on(t0, true).unwrap();
    s.on_stop_new();
    s.on_answer(a, true, t0);
    assert!(!s.stopping_new(), "a new sign-on opens the day");
    assert_eq!(s.state(), SessionState::Ready);
}
