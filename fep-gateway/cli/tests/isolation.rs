//! Failure isolation, black-box: institution A fails (blackhole, then 5 s answers) while B
//! carries a fixed-rate load. B's throughput and p99 are compared with a healthy run in the
//! same test (ratios, not absolute times: the machine is shared). A's callers get fast
//! `rejected` once its breaker opens; memory stays bounded.

mod support;

use std::time::{Duration, Instant};

use fep_cli::load::{self, LoadOptions, LoadReport};
use fep_client::client::Client;
use fep_client::protocol::Outcome;
use support::*;

async fn load_b(fep: &Fep, seconds: u64) -> LoadReport {
    let opts = LoadOptions {
        addr: fep.native.to_string(),
        institutions: vec!["b".into()],
        concurrency: 32,
        rate: 400,
        seconds,
        inquiry_percent: 0,
        timeout_ms: 5000,
        connections: 1,
        idempotency_keys: false,
    };
    load::run(&opts, |_, _| {}).await.expect("load on b")
}

/// Keeps `n` callers hammering institution A until `until`; returns outcome counts.
async fn hammer_a(fep: &Fep, until: Instant) -> (u64, u64, u64, Duration) {
    let client = Client::connect(fep.native).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            let (mut unknown, mut rejected, mut ok, mut slowest_reject) = (0, 0, 0, Duration::ZERO);
            // A fixed offered load (20 req/s per caller) whatever the outcome, so every phase
            // puts the same pressure on the gateway and only A's health differs.
            let mut next = Instant::now();
            while Instant::now() < until {
                tokio::time::sleep_until(next.into()).await;
                next += Duration::from_millis(50);
                let t0 = Instant::now();
                match c
                    .request("a", transfer(1), Duration::from_secs(1))
                    .await
                    .map(|r| r.outcome)
                {
                    Ok(Outcome::Rejected) => {
                        rejected += 1;
                        slowest_reject = slowest_reject.max(t0.elapsed());
                    }
                    Ok(Outcome::Unknown) => unknown += 1,
                    Ok(_) => ok += 1,
                    Err(e) => panic!("request to A lost: {e}"),
                }
                // A caller waiting out a timeout does not make up for the missed slots.
                next = next.max(Instant::now());
            }
            (unknown, rejected, ok, slowest_reject)
        }));
    }
    let mut total = (0, 0, 0, Duration::ZERO);
    for t in tasks {
        let (u, r, o, s) = t.await.unwrap();
        total = (total.0 + u, total.1 + r, total.2 + o, total.3.max(s));
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_institution_does_not_slow_the_others() {
    let a = bank(Answer::code("0000")).await;
    let b = bank(Answer::code("0000")).await;
    let dir = tempdir();
    let fep = Fep::start(
        dir.path(),
        &config(
            &dir.path().join("data"),
            &[
                institution("a", &duplex_link(a.addr()), "1s", "1m", "5m"),
                institution("b", &duplex_link(b.addr()), "5s", "1m", "5m"),
            ],
        ),
        &[],
    );
    let client = Client::connect(fep.native).await.unwrap();
    for inst in ["a", "b"] {
        fep.wait_signed_on(inst).await;
        let r = client
            .request(inst, transfer(1), Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!(
            r.outcome,
            Outcome::Ok,
            "{inst} once signed on: {}",
            r.detail
        );
    }
    let rss_start = fep.rss_kib();

    // Phase 1: both healthy.
    let (healthy, _) = tokio::join!(
        load_b(&fep, 4),
        hammer_a(&fep, Instant::now() + Duration::from_secs(4))
    );
    // Phase 2: A swallows everything (accepts, never answers).
    a.set_answer(Answer::Silent).unwrap();
    let (blackholed, a_black) = tokio::join!(
        load_b(&fep, 4),
        hammer_a(&fep, Instant::now() + Duration::from_secs(4))
    );
    // Phase 3: A answers after 5 s.
    a.set_answer(Answer::late("0000", Duration::from_secs(5)))
        .unwrap();
    let (slow, a_slow) = tokio::join!(
        load_b(&fep, 4),
        hammer_a(&fep, Instant::now() + Duration::from_secs(4))
    );
    // Phase 4: A healthy again (its breaker closes after the open wait); a second baseline
    // brackets the failure phases, so slow drift of the shared machine is not blamed on A.
    a.set_answer(Answer::code("0000")).unwrap();
    let (healthy_after, _) = tokio::join!(
        load_b(&fep, 4),
        hammer_a(&fep, Instant::now() + Duration::from_secs(4))
    );
    let rss_end = fep.rss_kib();
    eprintln!(
        "isolation: healthy B before/after: tps {:.0}/{:.0}, p99 {:.2}/{:.2} ms",
        healthy.tps, healthy_after.tps, healthy.p99_ms, healthy_after.p99_ms
    );
    let healthy = if healthy_after.p99_ms > healthy.p99_ms {
        healthy_after
    } else {
        healthy
    };
    for (name, run) in [("blackholed", &blackholed), ("slow", &slow)] {
        let tps_ratio = run.tps / healthy.tps;
        let p99_ratio = run.p99_ms / healthy.p99_ms.max(0.001);
        eprintln!(
            "isolation: A {name}: B tps {:.0} vs {:.0} (×{tps_ratio:.3}), B p99 {:.2} ms vs {:.2} ms (×{p99_ratio:.2})",
            run.tps, healthy.tps, run.p99_ms, healthy.p99_ms
        );
        assert_eq!(run.lost, 0);
        assert_eq!(run.ok, run.requests, "B is unaffected: every request ok");
        assert!(
            tps_ratio >= 0.95,
            "B throughput within 5 %: ×{tps_ratio:.3}"
        );
        // B's p99 here (4–13 ms in a debug build on a quiet machine) is set by a handful of
        // stalls per 4-second phase (journal checkpoints, the scheduler of a shared 2-core VM);
        // with other builds on the machine it was seen at 72 ms in one phase with no coupling
        // at all. A real coupling to A makes B wait for A's 1 s timeouts or 5 s answers: B's
        // p99 would be near a second. Hence 1.5× plus 150 ms of absolute slack — far below
        // what a coupling adds, above what a loaded machine does on its own.
        assert!(
            run.p99_ms <= healthy.p99_ms * 1.5 + 150.0,
            "B p99 within 1.5×: {:.2} ms vs {:.2} ms",
            run.p99_ms,
            healthy.p99_ms
        );
    }
    eprintln!("isolation: A blackholed: unknown {} rejected {} (slowest rejection {:?}); A slow: unknown {} rejected {}", a_black.0, a_black.1, a_black.3, a_slow.0, a_slow.1);
    eprintln!("isolation: fep RSS {} KiB → {} KiB", rss_start, rss_end);
    // Once A's breaker opens, its callers are refused at once instead of waiting for timeouts.
    // The window (100 calls) starts full of healthy-phase successes, so the breaker needs ~50
    // failures (about 4 s of 1 s timeouts) to open: it opens late in the blackhole phase.
    assert!(
        a_black.1 + a_slow.1 > 0,
        "A's breaker opened: blackholed {a_black:?}, slow {a_slow:?}"
    );
    let slowest = a_black.3.max(a_slow.3);
    assert!(
        slowest < Duration::from_millis(250),
        "rejections are fast: slowest {slowest:?}"
    );
    let (_, body) = http(fep.http, "GET", "/v1/status", None);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    let a_status = status["institutions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "a")
        .unwrap()
        .clone();
    assert_ne!(a_status["breaker"], "CLOSED", "{a_status}");
    let b_status = status["institutions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "b")
        .unwrap()
        .clone();
    assert_eq!(
        b_status["breaker"], "CLOSED",
        "B's breaker never moved: {b_status}"
    );
    assert!(rss_end < 200 * 1024, "memory bounded: {rss_end} KiB");
}
