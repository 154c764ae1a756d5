use super::*;

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);

fn count_config(size: u32, min: u32) -> BreakerConfig {
    BreakerConfig {
        sliding_window_type: WindowType::CountBased,
        sliding_window_size: size,
        failure_rate_threshold: 50.0,
        slow_call_rate_threshold: 100.0,
        slow_call_duration: SEC,
        minimum_number_of_calls: min,
        wait_duration_in_open_state: Duration::from_secs(10),
        permitted_calls_in_half_open: 3,
        max_wait_in_half_open: None,
    }
}

fn time_config(secs: u32, min: u32) -> BreakerConfig {
    BreakerConfig {
        sliding_window_type: WindowType::TimeBased,
        ..count_config(secs, min)
    }
}

fn breaker(config: BreakerConfig, t0: Instant) -> CircuitBreaker {
    match CircuitBreaker::new(config, t0) {
        Ok(b) => b,
        Err(e) => panic!("config: {e}"),
    }
}

fn acquire(b: &mut CircuitBreaker, now: Instant) -> Permit {
    match b.try_acquire(now) {
        Ok(p) => p,
        Err(e) => panic!("rejected: {e:?}"),
    }
}

fn succeed(b: &mut CircuitBreaker, now: Instant) -> Option<Transition> {
    let p = acquire(b, now);
    b.on_success(p, MS, now)
}

fn fail(b: &mut CircuitBreaker, now: Instant) -> Option<Transition> {
    let p = acquire(b, now);
    b.on_failure(p, now)
}

fn slow(b: &mut CircuitBreaker, now: Instant) -> Option<Transition> {
    let p = acquire(b, now);
    b.on_success(p, 2 * SEC, now)
}

/// Drives a count breaker (size 10, min 10) to OPEN at `t`.
fn opened(t: Instant) -> CircuitBreaker {
    let mut b = breaker(count_config(10, 10), t);
    for _ in 0..5 {
        assert_eq!(succeed(&mut b, t), None);
    }
    for _ in 0..4 {
        assert_eq!(fail(&mut b, t), None);
    }
    assert!(fail(&mut b, t).is_some());
    assert_eq!(b.state(), State::Open);
    b
}

#[test]
fn defaults_are_valid_and_documented_values() {
    let c = BreakerConfig::default();
    assert_eq!(c.validate(), Ok(()));
    assert_eq!(c.sliding_window_size, 100);
    assert_eq!(c.minimum_number_of_calls, 20);
    assert_eq!(c.permitted_calls_in_half_open, 5);
    assert_eq!(c.wait_duration_in_open_state, Duration::from_secs(10));
    assert_eq!(c.slow_call_duration, Duration::from_secs(5));
}

#[test]
fn config_deserialises_with_defaults_and_durations() {
    let c: BreakerConfig = toml::from_str(
        r#"
        sliding_window_type = "TIME_BASED"
        sliding_window_size = 30
        slow_call_duration = "800ms"
        max_wait_in_half_open = "1m"
        "#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.sliding_window_type, WindowType::TimeBased);
    assert_eq!(c.sliding_window_size, 30);
    assert_eq!(c.slow_call_duration, Duration::from_millis(800));
    assert_eq!(c.max_wait_in_half_open, Some(Duration::from_secs(60)));
    assert_eq!(c.failure_rate_threshold, 50.0);
    let c: BreakerConfig =
        toml::from_str("sliding_window_type = \"count_based\"").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c, BreakerConfig::default());
    assert!(toml::from_str::<BreakerConfig>("wait_duration_in_open_state = 5").is_err());
    assert!(toml::from_str::<BreakerConfig>("no_such_field = 1").is_err());
}

#[test]
fn invalid_configs_are_refused() {
    for bad in [
        BreakerConfig {
            failure_rate_threshold: 0.0,
            ..Default::default()
        },
        BreakerConfig {
            slow_call_rate_threshold: 100.5,
            ..Default::default()
        },
        BreakerConfig {
            failure_rate_threshold: f64::NAN,
            ..Default::default()
        },
        BreakerConfig {
            sliding_window_size: 0,
            ..Default::default()
        },
        BreakerConfig {
            minimum_number_of_calls: 0,
            ..Default::default()
        },
        BreakerConfig {
            permitted_calls_in_half_open: 0,
            ..Default::default()
        },
        BreakerConfig {
            sliding_window_size: MAX_WINDOW_SIZE + 1,
            ..Default::default()
        },
        BreakerConfig {
            wait_duration_in_open_state: MAX_WAIT + SEC,
            ..Default::default()
        },
        BreakerConfig {
            max_wait_in_half_open: Some(MAX_WAIT + SEC),
            ..Default::default()
        },
    ] {
        assert!(
            CircuitBreaker::new(bad.clone(), Instant::now()).is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn every_problem_is_reported_with_its_field() {
    let bad = BreakerConfig {
        failure_rate_threshold: 150.0,
        minimum_number_of_calls: 0,
        permitted_calls_in_half_open: 0,
        max_wait_in_half_open: Some(MAX_WAIT + SEC),
        ..Default::default()
    };
    let fields: Vec<&str> = bad.problems().iter().map(|e| e.field()).collect();
    assert_eq!(
        fields,
        [
            "failure_rate_threshold",
            "minimum_number_of_calls",
            "permitted_calls_in_half_open",
            "max_wait_in_half_open"
        ]
    );
    // `validate` keeps its contract: the first problem.
    assert_eq!(
        bad.validate().map_err(|e| e.field()),
        Err("failure_rate_threshold")
    );
    match bad.clone().validated() {
        Ok(v) => panic!("accepted {v:?}"),
        Err(all) => assert_eq!(all, bad.problems()),
    }
}

#[test]
fn valid_config_builds_a_breaker_that_cannot_fail() {
    assert_eq!(
        BreakerConfig::default().validated(),
        Ok(ValidBreakerConfig::default())
    );
    let config = count_config(10, 10);
    let valid = ValidBreakerConfig::try_from(config.clone()).unwrap_or_else(|e| panic!("{e:?}"));
    let t = Instant::now();
    let mut b = CircuitBreaker::from_valid(valid, t);
    assert_eq!(b.config(), &config);
    // The same state machine as `new` builds: ten calls, half failed, opens.
    for _ in 0..5 {
        assert_eq!(succeed(&mut b, t), None);
    }
    for _ in 0..4 {
        assert_eq!(fail(&mut b, t), None);
    }
    assert_eq!(fail(&mut b, t).map(|tr| tr.to), Some(State::Open));
}

#[test]
fn closed_stays_closed_below_minimum_calls_even_if_all_fail() {
    let t = Instant::now();
    let mut b = breaker(count_config(100, 10), t);
    for _ in 0..9 {
        assert_eq!(fail(&mut b, t), None);
    }
    assert_eq!(b.state(), State::Closed);
    let m = b.metrics(t);
    assert_eq!(m.failure_rate, None);
    assert_eq!(m.buffered_calls, 9);
    assert_eq!(m.failed_calls, 9);
    let tr = fail(&mut b, t);
    assert_eq!(
        tr,
        Some(Transition {
            from: State::Closed,
            to: State::Open,
            reason: Reason::FailureRate(100.0)
        })
    );
}

#[test]
fn failure_rate_exactly_at_threshold_opens() {
    let t = Instant::now();
    // opened() records 5 successes and 5 failures: exactly 50 %.
    let b = opened(t);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn failure_rate_just_below_threshold_stays_closed() {
    let t = Instant::now();
    let mut b = breaker(count_config(10, 10), t);
    for _ in 0..6 {
        succeed(&mut b, t);
    }
    for _ in 0..4 {
        assert_eq!(fail(&mut b, t), None);
    }
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics(t).failure_rate, Some(40.0));
}

#[test]
fn minimum_is_capped_by_count_window_size() {
    let t = Instant::now();
    // min 20 > size 4: the window can never hold 20, so 4 calls are enough.
    let mut b = breaker(count_config(4, 20), t);
    for _ in 0..3 {
        assert_eq!(fail(&mut b, t), None);
    }
    assert!(fail(&mut b, t).is_some());
}

#[test]
fn slow_calls_open_at_threshold() {
    let t = Instant::now();
    let mut c = count_config(4, 4);
    c.slow_call_rate_threshold = 75.0;
    let mut b = breaker(c, t);
    assert_eq!(succeed(&mut b, t), None);
    assert_eq!(slow(&mut b, t), None);
    assert_eq!(slow(&mut b, t), None);
    let tr = slow(&mut b, t);
    assert_eq!(tr.map(|t| t.reason), Some(Reason::SlowCallRate(75.0)));
    assert_eq!(b.state(), State::Open);
}

#[test]
fn call_of_exactly_slow_duration_is_not_slow() {
    let t = Instant::now();
    let mut c = count_config(2, 2);
    c.slow_call_rate_threshold = 50.0;
    let mut b = breaker(c, t);
    for _ in 0..2 {
        let p = acquire(&mut b, t);
        assert_eq!(b.on_success(p, SEC, t), None);
    }
    assert_eq!(b.metrics(t).slow_calls, 0);
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn slow_failure_counts_as_failed_and_slow() {
    let t = Instant::now();
    let mut b = breaker(count_config(10, 10), t);
    let p = acquire(&mut b, t);
    b.on_failure(p, t + 2 * SEC);
    let m = b.metrics(t);
    assert_eq!((m.failed_calls, m.slow_calls), (1, 1));
}

#[test]
fn count_window_slides_old_calls_out() {
    let t = Instant::now();
    let mut b = breaker(count_config(4, 4), t);
    // F S S S → 25 %; then four successes push the failure out.
    fail(&mut b, t);
    for _ in 0..3 {
        succeed(&mut b, t);
    }
    assert_eq!(b.metrics(t).failure_rate, Some(25.0));
    succeed(&mut b, t);
    assert_eq!(b.metrics(t).failed_calls, 0);
    assert_eq!(b.metrics(t).buffered_calls, 4);
    // Now S S S F F: window = S S F F → 50 % opens on the second failure only.
    assert_eq!(fail(&mut b, t), None);
    assert!(fail(&mut b, t).is_some());
}

#[test]
fn open_rejects_with_retry_after_then_half_opens() {
    let t = Instant::now();
    let mut b = opened(t);
    let r = b.try_acquire(t + 3 * SEC).map(|_| ());
    assert_eq!(
        r,
        Err(Rejected {
            state: State::Open,
            retry_after: Some(7 * SEC),
            transition: None
        })
    );
    let m = b.metrics(t);
    assert_eq!(m.not_permitted_calls, 1);
    // OPEN reports the window that tripped it.
    assert_eq!(m.failure_rate, Some(50.0));
    assert_eq!(m.buffered_calls, 10);
    assert_eq!(b.poll(t + 9 * SEC), None);
    let p = acquire(&mut b, t + 10 * SEC);
    assert_eq!(
        p.transition(),
        Some(Transition {
            from: State::Open,
            to: State::HalfOpen,
            reason: Reason::WaitElapsed
        })
    );
    assert_eq!(b.state(), State::HalfOpen);
    b.on_ignored(p);
}

#[test]
fn poll_moves_open_to_half_open_without_traffic() {
    let t = Instant::now();
    let mut b = opened(t);
    let tr = b.poll(t + 10 * SEC);
    assert_eq!(tr.map(|t| t.to), Some(State::HalfOpen));
    assert_eq!(b.poll(t + 11 * SEC), None);
}

#[test]
fn half_open_admits_exactly_the_trial_calls() {
    let t = Instant::now();
    let mut b = opened(t);
    let h = t + 10 * SEC;
    let permits: Vec<Permit> = (0..3).map(|_| acquire(&mut b, h)).collect();
    let r = b.try_acquire(h).map(|_| ());
    assert_eq!(
        r,
        Err(Rejected {
            state: State::HalfOpen,
            retry_after: None,
            transition: None
        })
    );
    // Recording two trials does not free slots: still rejected until all are in.
    let mut it = permits.into_iter();
    for p in it.by_ref().take(2) {
        assert_eq!(b.on_success(p, MS, h), None);
    }
    assert!(b.try_acquire(h).is_err());
    let last = it.next();
    let tr = last.and_then(|p| b.on_success(p, MS, h));
    assert_eq!(
        tr,
        Some(Transition {
            from: State::HalfOpen,
            to: State::Closed,
            reason: Reason::TrialsPassed
        })
    );
    assert_eq!(b.metrics(h).buffered_calls, 0);
}

#[test]
fn ignored_trial_frees_its_slot() {
    let t = Instant::now();
    let mut b = opened(t);
    let h = t + 10 * SEC;
    let a = acquire(&mut b, h);
    let _b1 = acquire(&mut b, h);
    let _b2 = acquire(&mut b, h);
    assert!(b.try_acquire(h).is_err());
    b.on_ignored(a);
    let again = b.try_acquire(h);
    assert!(again.is_ok());
    assert!(b.try_acquire(h).is_err());
}

#[test]
fn half_open_failing_trials_reopen() {
    let t = Instant::now();
    let mut b = opened(t);
    let h = t + 10 * SEC;
    let ps: Vec<Permit> = (0..3).map(|_| acquire(&mut b, h)).collect();
    let mut last = None;
    for (i, p) in ps.into_iter().enumerate() {
        last = if i == 0 {
            b.on_success(p, MS, h)
        } else {
            b.on_failure(p, h)
        };
    }
    let tr = last.map(|t| (t.from, t.to));
    assert_eq!(tr, Some((State::HalfOpen, State::Open)));
    // The new open period starts at the reopening.
    let r = b.try_acquire(h + SEC).map(|_| ());
    assert_eq!(r.map_err(|e| e.retry_after), Err(Some(9 * SEC)));
}

#[test]
fn half_open_slow_trials_reopen() {
    let t = Instant::now();
    let mut b = opened(t);
    let h = t + 10 * SEC;
    let ps: Vec<Permit> = (0..3).map(|_| acquire(&mut b, h)).collect();
    let mut last = None;
    for p in ps {
        last = b.on_success(p, 2 * SEC, h);
    }
    assert_eq!(last.map(|t| t.reason), Some(Reason::SlowCallRate(100.0)));
    assert_eq!(b.state(), State::Open);
}

#[test]
fn half_open_trial_rate_exactly_at_threshold_reopens() {
    let t = Instant::now();
    let mut c = count_config(10, 10);
    c.permitted_calls_in_half_open = 4;
    let mut b = breaker(c, t);
    for _ in 0..10 {
        fail(&mut b, t);
    }
    let h = t + 10 * SEC;
    let ps: Vec<Permit> = (0..4).map(|_| acquire(&mut b, h)).collect();
    let mut last = None;
    for (i, p) in ps.into_iter().enumerate() {
        last = if i % 2 == 0 {
            b.on_success(p, MS, h)
        } else {
            b.on_failure(p, h)
        };
    }
    assert_eq!(last.map(|t| t.reason), Some(Reason::FailureRate(50.0)));
}

#[test]
fn max_wait_in_half_open_reopens_stuck_trials() {
    let t = Instant::now();
    let mut c = count_config(10, 10);
    c.max_wait_in_half_open = Some(Duration::from_secs(5));
    let mut b = breaker(c, t);
    for _ in 0..10 {
        fail(&mut b, t);
    }
    let h = t + 10 * SEC;
    let stuck: Vec<Permit> = (0..3).map(|_| acquire(&mut b, h)).collect();
    assert_eq!(b.poll(h + 4 * SEC), None);
    let r = b.try_acquire(h + 5 * SEC).map(|_| ());
    let tr = Transition {
        from: State::HalfOpen,
        to: State::Open,
        reason: Reason::HalfOpenTimedOut,
    };
    assert_eq!(
        r,
        Err(Rejected {
            state: State::Open,
            retry_after: Some(10 * SEC),
            transition: Some(tr)
        })
    );
    // Late trial outcomes are stale and change nothing.
    for p in stuck {
        assert_eq!(b.on_success(p, MS, h + 6 * SEC), None);
    }
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.metrics(h).stale_outcomes, 3);
}

#[test]
fn closed_era_outcome_is_not_counted_as_a_trial() {
    let t = Instant::now();
    let mut b = breaker(count_config(10, 10), t);
    let old = acquire(&mut b, t);
    for _ in 0..10 {
        fail(&mut b, t);
    }
    let h = t + 10 * SEC;
    let trial = acquire(&mut b, h);
    assert_eq!(b.on_failure(old, h), None);
    assert_eq!(b.metrics(h).buffered_calls, 0);
    assert_eq!(b.metrics(h).stale_outcomes, 1);
    b.on_ignored(trial);
}

#[test]
fn time_window_needs_minimum_calls_within_the_window() {
    let t = Instant::now();
    let mut b = breaker(time_config(10, 4), t);
    // Three failures at second 0, a fourth at second 10: the first three have left.
    for _ in 0..3 {
        assert_eq!(fail(&mut b, t), None);
    }
    assert_eq!(fail(&mut b, t + 10 * SEC), None);
    assert_eq!(b.metrics(t + 10 * SEC).buffered_calls, 1);
    // Three more within the window: four calls, all failed → open.
    assert_eq!(fail(&mut b, t + 11 * SEC), None);
    assert_eq!(fail(&mut b, t + 12 * SEC), None);
    let tr = fail(&mut b, t + 19 * SEC + 999 * MS);
    assert_eq!(tr.map(|t| t.to), Some(State::Open));
}

#[test]
fn time_window_buckets_expire_per_second() {
    let t = Instant::now();
    let mut b = breaker(time_config(3, 100), t);
    fail(&mut b, t);
    succeed(&mut b, t + SEC);
    succeed(&mut b, t + 2 * SEC + 500 * MS);
    let m = b.metrics(t + 2 * SEC + 900 * MS);
    assert_eq!((m.buffered_calls, m.failed_calls), (3, 1));
    // Second 3: second 0's bucket has left.
    let m = b.metrics(t + 3 * SEC);
    assert_eq!((m.buffered_calls, m.failed_calls), (2, 0));
    // metrics() does not mutate: recording later still evicts correctly.
    succeed(&mut b, t + 4 * SEC);
    let m = b.metrics(t + 4 * SEC);
    assert_eq!((m.buffered_calls, m.failed_calls), (2, 0));
    // A long silence clears everything.
    let m = b.metrics(t + 100 * SEC);
    assert_eq!(m.buffered_calls, 0);
    fail(&mut b, t + 100 * SEC);
    assert_eq!(b.metrics(t + 100 * SEC).buffered_calls, 1);
}

#[test]
fn time_window_opens_at_threshold_and_closes_after_trials() {
    let t = Instant::now();
    let mut b = breaker(time_config(5, 4), t);
    succeed(&mut b, t);
    succeed(&mut b, t + SEC);
    fail(&mut b, t + 2 * SEC);
    let tr = fail(&mut b, t + 3 * SEC);
    assert_eq!(tr.map(|t| t.reason), Some(Reason::FailureRate(50.0)));
    let h = t + 13 * SEC;
    let ps: Vec<Permit> = (0..3).map(|_| acquire(&mut b, h)).collect();
    let mut last = None;
    for p in ps {
        last = b.on_success(p, MS, h);
    }
    assert_eq!(last.map(|t| t.to), Some(State::Closed));
    // The closed window starts empty again.
    assert_eq!(b.metrics(h).buffered_calls, 0);
}

#[test]
fn reset_forces_closed() {
    let t = Instant::now();
    let mut b = opened(t);
    let tr = b.reset(t);
    assert_eq!(
        tr.map(|t| (t.from, t.to)),
        Some((State::Open, State::Closed))
    );
    assert!(b.try_acquire(t).is_ok_and(|p| {
        b.on_ignored(p);
        true
    }));
    assert_eq!(b.reset(t), None);
}

#[test]
fn transition_displays_for_logs() {
    let tr = Transition {
        from: State::Closed,
        to: State::Open,
        reason: Reason::FailureRate(62.5),
    };
    assert_eq!(tr.to_string(), "CLOSED -> OPEN (failure rate 62.5%)");
}

mod windows {
    use super::super::window::{CountWindow, TimeWindow};
    use super::*;
    use proptest::prelude::*;

    fn sum<'a>(items: impl Iterator<Item = &'a (bool, bool)>) -> Counts {
        let mut c = Counts::default();
        for &(f, s) in items {
            c.add(Counts::one(f, s));
        }
        c
    }

    proptest! {
        #[test]
        fn count_window_totals_are_the_last_n_outcomes(
            size in 1u32..20,
            outcomes in prop::collection::vec((any::<bool>(), any::<bool>()), 0..120),
        ) {
            let mut w = CountWindow::new(size);
            for (i, &(f, s)) in outcomes.iter().enumerate() {
                w.record(Counts::one(f, s));
                let start = (i + 1).saturating_sub(size as usize);
                prop_assert_eq!(w.total, sum(outcomes[start..=i].iter()));
            }
        }

        #[test]
        fn time_window_totals_are_the_last_n_seconds(
            size in 1u32..8,
            events in prop::collection::vec((0u64..2500, any::<bool>(), any::<bool>()), 0..120),
            look_ahead in 0u64..12,
        ) {
            let t0 = Instant::now();
            let mut w = TimeWindow::new(size, t0);
            let mut at = Duration::ZERO;
            let mut log: Vec<(u64, (bool, bool))> = Vec::new();
            let within = |log: &[(u64, (bool, bool))], sec: u64| {
                let kept: Vec<(bool, bool)> = log
                    .iter()
                    .filter(|(x, _)| x + u64::from(size) > sec)
                    .map(|(_, o)| *o)
                    .collect();
                sum(kept.iter())
            };
            for (step, f, s) in events {
                at += Duration::from_millis(step);
                w.record(Counts::one(f, s), t0 + at);
                let sec = at.as_secs();
                log.push((sec, (f, s)));
                prop_assert_eq!(w.total, within(&log, sec));
                let later = sec + look_ahead;
                prop_assert_eq!(
                    w.totals_at(t0 + Duration::from_secs(later)),
                    within(&log, later)
                );
            }
        }
    }
}
