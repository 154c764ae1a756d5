//! Black-box tests: the real `fep` binary, configured by a TOML file, talking TCP to simulated
//! institutions (the testkit's simulator, steered by the test) and to the native client / HTTP
//! API. Loopback only; every wait is bounded and waits on observable state, never on time.

mod support;

use std::time::Duration;

use fep_client::client::Client;
use fep_client::protocol::Outcome;
use fep_testkit::sim::SimHandle;
use support::*;

/// Whether the bank received a sign-on (not yet that the gateway saw its answer: for that,
/// [`Fep::wait_signed_on`]).
async fn signed_on(sim: &SimHandle) -> bool {
    eventually(WAIT, || {
        sim.seen()
            .iter()
            .any(|s| s.msg_type == "1000" && s.biz_type == "100")
    })
    .await
}

/// The gateway with one institution, "hecto", on one duplex link to `sim` (5 s request
/// timeout, inquiry after 1 m, every 5 m). The directory holds its journal: keep it alive.
fn start_hecto(sim: &SimHandle) -> (tempfile::TempDir, Fep) {
    start_hecto_with(sim, &[])
}

/// [`start_hecto`] with extra `fep run` arguments (e.g. `--clock-start`).
fn start_hecto_with(sim: &SimHandle, extra: &[&str]) -> (tempfile::TempDir, Fep) {
    let dir = tempdir();
    let fep = Fep::start(
        dir.path(),
        &duplex_hecto(&dir.path().join("data"), sim.addr(), "5s", "1m"),
        extra,
    );
    (dir, fep)
}

/// Asserts that no 전문번호 repeats among `numbers`.
fn assert_unique(mut numbers: Vec<u32>, what: &str) {
    let total = numbers.len();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len(), total, "{what}");
}

/// Retries while the institution is still signing on or waiting for its lines (a `rejected`
/// that says so: "institution not ready: …", "no send link").
async fn request(
    client: &Client,
    institution: &str,
    amount: u64,
) -> fep_client::protocol::Response {
    request_within(client, institution, amount, Duration::from_secs(5)).await
}

async fn request_within(
    client: &Client,
    institution: &str,
    amount: u64,
    timeout: Duration,
) -> fep_client::protocol::Response {
    for _ in 0..100 {
        let r = client
            .request(institution, transfer(amount), timeout)
            .await
            .expect("client error");
        if r.outcome == Outcome::Rejected
            && (r.detail.contains("not ready") || r.detail.contains("no send link"))
        {
            // The gateway's own answer says "not yet": ask again, at most 100 times.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        return r;
    }
    panic!("institution never became ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplex_ok_and_declined_with_the_institutions_code() {
    let sim = bank(Answer::code("0000")).await;
    let (_dir, fep) = start_hecto(&sim);
    assert!(signed_on(&sim).await, "gateway signs on after connecting");
    let client = Client::connect(fep.native).await.unwrap();

    let ok = request(&client, "hecto", 50_000).await;
    assert_eq!(ok.outcome, Outcome::Ok, "{}", ok.detail);
    assert_eq!(
        &ok.telegram[24..28],
        b"2100",
        "the institution's response telegram is returned"
    );

    sim.set_answer(Answer::code("SB02")).unwrap();
    let declined = request(&client, "hecto", 99_000_000).await;
    assert_eq!(declined.outcome, Outcome::Declined);
    assert!(declined.detail.contains("SB02"), "{}", declined.detail);

    let unknown_inst = client
        .request("nope", transfer(1), Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(unknown_inst.outcome, Outcome::Rejected);

    // 전문번호 assigned by the gateway: strictly increasing, stamped with today's date.
    let transfers = sim.transfers();
    assert_eq!(transfers.len(), 2);
    assert!(transfers[1].msg_no > transfers[0].msg_no);
    assert_eq!(transfers[0].date.len(), 8);
}

/// A legacy host that leaves Nagle's algorithm on sends a second answer only once the first
/// is acknowledged; were the gateway to delay its ACKs (Linux: up to 40 ms), every answer
/// that follows another one closely would wait for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_from_a_host_with_nagle_on_are_not_held_by_delayed_acks() {
    let sim = legacy_bank(Answer::code("0000")).await;
    let (_dir, fep) = start_hecto(&sim);
    assert!(signed_on(&sim).await);
    let client = Client::connect(fep.native).await.unwrap();
    assert_eq!(request(&client, "hecto", 1).await.outcome, Outcome::Ok);
    // Rounds of two requests sent together: the host writes the two answers separately,
    // and nothing else is sent to it until both are back.
    let mut took = Vec::new();
    for _ in 0..20 {
        let started = std::time::Instant::now();
        let (a, b) = tokio::join!(
            client.request("hecto", transfer(1), Duration::from_secs(5)),
            client.request("hecto", transfer(2), Duration::from_secs(5)),
        );
        assert_eq!(a.unwrap().outcome, Outcome::Ok);
        assert_eq!(b.unwrap().outcome, Outcome::Ok);
        took.push(started.elapsed());
    }
    took.sort();
    let median = took[took.len() / 2];
    // Held by a delayed ACK, the second answer of a round takes ~40 ms; acknowledged at once,
    // a round takes a few ms (debug build).
    assert!(
        median < Duration::from_millis(20),
        "median round {median:?}: {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequence_numbers_never_repeat_across_a_kill() {
    let sim = bank(Answer::code("0000")).await;
    let dir = tempdir();
    let cfg = config(
        &dir.path().join("data"),
        &[institution(
            "hecto",
            &duplex_link(sim.addr()),
            "5s",
            "1m",
            "5m",
        )],
    );
    let fep = Fep::start(dir.path(), &cfg, &[]);
    let client = Client::connect(fep.native).await.unwrap();
    for i in 0..5 {
        assert_eq!(
            request(&client, "hecto", 1000 + i).await.outcome,
            Outcome::Ok
        );
    }
    fep.kill(); // SIGKILL: nothing flushed at exit
    let fep = Fep::start(dir.path(), &cfg, &[]);
    let client = Client::connect(fep.native).await.unwrap();
    for i in 0..5 {
        assert_eq!(
            request(&client, "hecto", 2000 + i).await.outcome,
            Outcome::Ok,
            "restart must not reuse a number (the sim answers SB09 to a reuse)"
        );
    }
    assert_unique(
        sim.seen().iter().map(|s| s.msg_no).collect(),
        "every 전문번호 of the day is unique, sign-ons included",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reused_number_is_declined_by_the_bank_and_surfaced_as_declined() {
    // A gateway that lost its journal reuses numbers; the bank refuses them (SB09) and the
    // caller sees `declined` with that code — never `ok`.
    let sim = bank(Answer::code("0000")).await;
    let dir = tempdir();
    let fep = Fep::start(
        dir.path(),
        &config(
            &dir.path().join("a"),
            &[institution(
                "hecto",
                &duplex_link(sim.addr()),
                "5s",
                "1m",
                "5m",
            )],
        ),
        &[],
    );
    let client = Client::connect(fep.native).await.unwrap();
    assert_eq!(request(&client, "hecto", 1).await.outcome, Outcome::Ok);
    fep.kill();
    let fep = Fep::start(
        dir.path(),
        &config(
            &dir.path().join("b"),
            &[institution(
                "hecto",
                &duplex_link(sim.addr()),
                "5s",
                "1m",
                "5m",
            )],
        ),
        &[],
    );
    let client = Client::connect(fep.native).await.unwrap();
    let r = request(&client, "hecto", 1).await;
    assert_eq!(r.outcome, Outcome::Declined, "{}", r.detail);
    assert!(r.detail.contains("SB09"), "{}", r.detail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_is_unknown_then_the_result_inquiry_resolves_it() {
    let sim = bank(Answer::Silent).await;
    let dir = tempdir();
    let fep = Fep::start(
        dir.path(),
        &config(
            &dir.path().join("data"),
            &[institution(
                "hecto",
                &duplex_link(sim.addr()),
                "300ms",
                "300ms",
                "5m",
            )],
        ),
        &[],
    );
    fep.wait_signed_on("hecto").await;
    let body = r#"{"type":"2000/100","fields":{"wd_account":"110123456789","amount":70000,"bal_sign":"+","dep_bank":"088","dep_account":"333012345678","memo":"급여"}}"#;
    let (status, resp) = http(
        fep.http,
        "POST",
        "/v1/institutions/hecto/messages",
        Some(body),
    );
    assert_eq!(status, 200, "{resp}");
    let v: serde_json::Value = serde_json::from_str(&resp).unwrap();
    assert_eq!(v["outcome"], "unknown", "{resp}");
    let id = v["id"].as_str().unwrap().to_owned();
    assert!(
        eventually(WAIT, || sim.seen().iter().any(|s| s.msg_type == "7000")).await,
        "a 7000/100 result inquiry is sent"
    );
    let mut resolved = serde_json::Value::Null;
    for _ in 0..100 {
        let (_, tx) = http(fep.http, "GET", &format!("/v1/transactions/{id}"), None);
        resolved = serde_json::from_str(&tx).unwrap_or_default();
        if resolved["resolved"].is_string() {
            break;
        }
        // Polling the transaction until it is resolved, bounded (10 s).
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(resolved["outcome"], "unknown", "{resolved}");
    assert_eq!(
        resolved["resolved"], "ok",
        "the bank executed it: the inquiry says 0000 ({resolved})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_response_is_matched_recorded_and_counted() {
    let sim = bank(Answer::late("0000", Duration::from_millis(800))).await;
    let dir = tempdir();
    let fep = Fep::start(
        dir.path(),
        &config(
            &dir.path().join("data"),
            &[institution(
                "hecto",
                &duplex_link(sim.addr()),
                "300ms",
                "1m",
                "5m",
            )],
        ),
        &[],
    );
    let client = Client::connect(fep.native).await.unwrap();
    // The caller's own timeout (300 ms) wins over the institution's default.
    let r = request_within(&client, "hecto", 5, Duration::from_millis(300)).await;
    assert_eq!(r.outcome, Outcome::Unknown);
    let c = &counters_until(fep.http, |c| c["late"] == 1).await;
    assert_eq!(c["late"], 1, "{c}");
    assert_eq!(
        c["resolved_ok"], 1,
        "the late 0000 resolves the unknown: {c}"
    );
    assert_eq!(c["unmatched"], 0, "{c}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notice_is_recorded_then_acknowledged_and_delivered_once() {
    let sim = bank(Answer::code("0000")).await;
    let (_dir, fep) = start_hecto(&sim);
    assert!(signed_on(&sim).await);
    let notice = deposit_notice(7, "20261122");
    sim.push_frame(notice.clone()).await.unwrap();
    assert!(
        eventually(WAIT, || !sim.acks().is_empty()).await,
        "the notice is acknowledged"
    );
    let ack = sim.acks()[0].clone();
    assert_eq!(&ack[24..31], b"4100100");
    assert_eq!(&ack[52..56], b"0000");
    assert_eq!(&ack[82..89], b"ECHO-ME", "예비영역 returned as received");
    assert_eq!(&ack[100..], &notice[100..], "the body is echoed");

    // The bank resends (same 전문번호): acknowledged again, delivered once.
    sim.push_frame(notice.clone()).await.unwrap();
    assert!(eventually(WAIT, || sim.acks().len() == 2).await);

    // A subscriber connecting later still gets it: it was durably recorded before the ack.
    let client = Client::connect(fep.native).await.unwrap();
    let mut sub = client.subscribe("hecto").await.unwrap();
    let got = tokio::time::timeout(WAIT, sub.recv())
        .await
        .expect("notice delivered")
        .expect("subscription open");
    assert_eq!(&got.telegram[..], &notice[..]);
    sub.ack(got.notice_id).await.unwrap();
    let again = tokio::time::timeout(Duration::from_millis(500), sub.recv()).await;
    assert!(again.is_err(), "the duplicate is not delivered twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_or_oversized_peer_is_cut_off_and_reconnected_without_hurting_others() {
    let bad = bank(Answer::code("0000")).await;
    let good = bank(Answer::code("0000")).await;
    let dir = tempdir();
    let fep = Fep::start(
        dir.path(),
        &config(
            &dir.path().join("data"),
            &[
                institution("bad", &duplex_link(bad.addr()), "2s", "1m", "5m"),
                institution("good", &duplex_link(good.addr()), "2s", "1m", "5m"),
            ],
        ),
        &[],
    );
    assert!(signed_on(&bad).await && signed_on(&good).await);
    let client = Client::connect(fep.native).await.unwrap();
    assert_eq!(request(&client, "good", 1).await.outcome, Outcome::Ok);

    bad.push_raw(&b"GARBAGE-NOT-A-LENGTH"[..]).await.unwrap();
    assert!(
        eventually(WAIT, || bad.stats().connections >= 2).await,
        "reconnected after garbage"
    );
    assert_eq!(request(&client, "good", 2).await.outcome, Outcome::Ok);

    // The bank counts a connection once it is registered, so this goes on the new one.
    bad.push_raw(&b"9999"[..]).await.unwrap(); // claims 9,999 bytes; max_frame is 4,096
    assert!(
        eventually(WAIT, || bad.stats().connections >= 3).await,
        "reconnected after an oversized length"
    );
    assert_eq!(request(&client, "good", 3).await.outcome, Outcome::Ok);
    assert_eq!(
        request(&client, "bad", 4).await.outcome,
        Outcome::Ok,
        "the bad institution works again after reconnecting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_are_sent_when_idle_and_answered_with_the_same_stamp() {
    let sim = bank(Answer::code("0000")).await;
    let dir = tempdir();
    let fep = Fep::start(
        dir.path(),
        &config(
            &dir.path().join("data"),
            &[institution(
                "hecto",
                &duplex_link(sim.addr()),
                "5s",
                "1m",
                "300ms",
            )],
        ),
        &[],
    );
    assert!(
        eventually(WAIT, || !sim.polls_received().is_empty()).await,
        "gateway polls an idle link"
    );
    let poll = sim.polls_received()[0].clone();
    assert_eq!(poll.len(), 20);
    assert!(poll.starts_with(b"HDRREQPOLL") && poll[10..].iter().all(u8::is_ascii_digit));

    sim.push_frame(b"HDRREQPOLL1122093015".to_vec())
        .await
        .unwrap();
    assert!(
        eventually(WAIT, || !sim.poll_answers().is_empty()).await,
        "gateway answers the bank's poll"
    );
    assert_eq!(&sim.poll_answers()[0][..], b"HDRRESPOLL1122093015");
    drop(fep);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_lines_request_out_on_one_connection_response_back_on_another() {
    let sim = bank(Answer::code("0000")).await;
    let links = split_links(sim.addr(), "127.0.0.1");
    let dir = tempdir();
    let fep = Fep::start(
        dir.path(),
        &config(
            &dir.path().join("data"),
            &[institution("split", &links, "5s", "1m", "5m")],
        ),
        &[],
    );
    // The recv listener was bound to port 0: its address comes from the readiness line.
    sim.connect_back(fep.listen_addr("split", "recv")).unwrap();
    let client = Client::connect(fep.native).await.unwrap();
    let r = request(&client, "split", 42).await;
    assert_eq!(r.outcome, Outcome::Ok, "{}", r.detail);
    let (_, body) = http(fep.http, "GET", "/v1/status", None);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    let links = &status["institutions"][0]["links"];
    assert_eq!(links[0]["state"], "up", "{status}");
    assert_eq!(links[1]["state"], "up", "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn date_change_signs_on_again_and_restarts_numbering() {
    let sim = bank(Answer::code("0000")).await;
    let (_dir, _fep) = start_hecto_with(&sim, &["--clock-start", "2026-11-22T23:59:57"]);
    let sign_ons = || {
        sim.seen()
            .into_iter()
            .filter(|s| s.msg_type == "1000" && s.biz_type == "100")
            .collect::<Vec<_>>()
    };
    assert!(
        eventually(Duration::from_secs(15), || sign_ons().len() >= 2).await,
        "a second sign-on after midnight: {:?}",
        sign_ons()
    );
    let all = sign_ons();
    assert_eq!(all[0].date, "20261122");
    assert_eq!(all[1].date, "20261123");
    assert_eq!(
        all[1].msg_no, 1,
        "numbering restarts on the new business date"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_signs_off() {
    let sim = bank(Answer::code("0000")).await;
    let (_dir, fep) = start_hecto(&sim);
    assert!(signed_on(&sim).await);
    // The sign-on answered and processed: there is something to sign off.
    fep.wait_signed_on("hecto").await;
    let status = fep.terminate();
    assert!(status.success(), "{status:?}");
    assert!(
        eventually(WAIT, || sim
            .seen()
            .iter()
            .any(|s| s.msg_type == "1000" && s.biz_type == "200"))
        .await,
        "1000/200 업무종료 sent on shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_flight_then_restart_resolves_every_unknown() {
    // The bank answers slowly, so requests are in flight when the gateway is killed.
    let sim = bank(Answer::late("0000", Duration::from_millis(1500))).await;
    let dir = tempdir();
    let data = dir.path().join("data");
    let cfg = duplex_hecto(&data, sim.addr(), "10s", "300ms");
    let fep = Fep::start(dir.path(), &cfg, &[]);
    let client = Client::connect(fep.native).await.unwrap();
    assert_eq!(
        request(&client, "hecto", 1).await.outcome,
        Outcome::Ok,
        "warm-up (waits for sign-on)"
    );
    let mut callers = Vec::new();
    for i in 0..20 {
        let c = client.clone();
        callers.push(tokio::spawn(async move {
            c.request("hecto", transfer(100 + i), Duration::from_secs(10))
                .await
        }));
    }
    assert!(
        eventually(WAIT, || sim.transfers().len() >= 21).await,
        "all 20 reached the bank"
    );
    fep.kill();
    for c in callers {
        assert!(
            c.await.unwrap().is_err(),
            "the killed gateway could not answer; the client says so (not a silent drop)"
        );
    }

    let fep = Fep::start(dir.path(), &cfg, &[]);
    assert!(
        eventually(Duration::from_secs(20), || sim
            .seen()
            .iter()
            .filter(|s| s.msg_type == "7000")
            .count()
            >= 20)
        .await,
        "each unknown is asked about with 7000/100"
    );
    let counters = counters_until(fep.http, |c| c["resolved_ok"] == 20).await;
    assert_eq!(counters["resolved_ok"], 20, "{counters}");
    // A clean stop: the resolutions' journal rows are committed (a kill here could lose the
    // last of them, to be resolved again by the next start — not what this test reads).
    assert!(fep.terminate().success());

    // Ledger: every request has exactly one terminal outcome; no 전문번호 reused.
    let db = rusqlite::Connection::open(data.join("journal.db")).unwrap();
    let rows: Vec<(String, Option<String>)> = db
        .prepare("SELECT outcome, resolved FROM transactions")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 21);
    let open: Vec<_> = rows
        .iter()
        .filter(|(o, r)| {
            !(matches!(o.as_str(), "ok" | "declined" | "rejected")
                || (o == "unknown" && r.is_some()))
        })
        .collect();
    assert!(
        open.is_empty(),
        "transactions without a terminal outcome: {open:?}"
    );
    let sent: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM telegrams WHERE direction = 'out' AND msg_type = '2000/100'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        sent, 21,
        "every transfer sent before the crash has a journal row"
    );
    assert_unique(
        sim.seen().iter().map(|s| s.msg_no).collect(),
        "no 전문번호 reused across the crash",
    );

    // The operator's ledger check says the same.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fep"))
        .args(["journal", "--check", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["transactions"], 21, "{report}");
    assert_eq!(report["settled"], 21, "{report}");
    assert_eq!(report["resolved_unknowns"], 20, "{report}");
    assert_eq!(report["open"], 0, "{report}");
    assert_eq!(report["reused_numbers"], 0, "{report}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fep"))
        .args([
            "journal",
            "--outcome",
            "unknown",
            "--spec",
            SPEC,
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains("2000/100") && listing.contains("출금계좌번호"),
        "{listing}"
    );
    assert!(
        !listing.contains("110123456789"),
        "account numbers are masked: {listing}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_reach_the_webhook_at_least_once_despite_failures() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    // An internal endpoint that fails twice, then accepts.
    let attempts = Arc::new(AtomicUsize::new(0));
    let received: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let (a, r) = (attempts.clone(), received.clone());
    let app = axum::Router::new().route(
        "/notices",
        axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let (a, r) = (a.clone(), r.clone());
            async move {
                if a.fetch_add(1, Ordering::SeqCst) < 2 {
                    return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                }
                r.lock().unwrap().push(body);
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let sim = bank(Answer::code("0000")).await;
    let dir = tempdir();
    let inst = institution("hecto", &duplex_link(sim.addr()), "5s", "1m", "5m")
        + &format!("[institution.notices]\nwebhook = \"http://{hook}/notices\"\n");
    let _fep = Fep::start(dir.path(), &config(&dir.path().join("data"), &[inst]), &[]);
    assert!(signed_on(&sim).await);
    sim.push_frame(deposit_notice(11, "20261122"))
        .await
        .unwrap();
    let r = received.clone();
    assert!(
        eventually(Duration::from_secs(15), || !r.lock().unwrap().is_empty()).await,
        "delivered after retries"
    );
    assert!(attempts.load(Ordering::SeqCst) >= 3);
    let body = received.lock().unwrap()[0].clone();
    assert_eq!(body["type"], "4000/100", "{body}");
    assert_eq!(body["institution"], "hecto");
    assert!(body["notice_id"].as_u64().is_some());
    // A negative check, not a synchronisation: half a second for a redelivery to show up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        received.lock().unwrap().len(),
        1,
        "delivered once it was accepted, not again"
    );
}

#[test]
fn demo_carries_traffic_to_two_institutions_and_loses_nothing() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fep"))
        .args(["demo", "--seconds", "3", "--concurrency", "32", "--json"])
        .output()
        .expect("run fep demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("last line is not JSON ({e}): {last}"));
    for key in [
        "requests",
        "ok",
        "declined",
        "unknown",
        "unknown_resolved",
        "rejected",
        "lost",
        "tps",
        "p50_ms",
        "p99_ms",
        "p999_ms",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    assert_eq!(v["lost"], 0, "{v}");
    let requests = v["requests"].as_u64().unwrap();
    assert!(requests > 100, "{v}");
    let settled = ["ok", "declined", "unknown", "rejected"]
        .iter()
        .map(|k| v[k].as_u64().unwrap())
        .sum::<u64>();
    assert_eq!(
        settled, requests,
        "every request has exactly one outcome: {v}"
    );
    assert!(
        v["ok"].as_u64().unwrap() > 0 && v["declined"].as_u64().unwrap() > 0,
        "{v}"
    );
    assert!(
        stdout.contains("hecto-split"),
        "both institutions carried traffic: {stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_link_refuses_peers_not_allowed_and_metrics_are_exported() {
    let sim = bank(Answer::code("0000")).await;
    // Only 127.0.0.2 may open the recv line; the bank connects from 127.0.0.1.
    let links = split_links(sim.addr(), "127.0.0.2");
    // A second institution whose bank never answers: an `unknown` for the metrics.
    let silent = bank(Answer::Silent).await;
    let dir = tempdir();
    let fep = Fep::start(
        dir.path(),
        &config(
            &dir.path().join("data"),
            &[
                institution("split", &links, "500ms", "1m", "5m"),
                institution("silent", &duplex_link(silent.addr()), "500ms", "1m", "5m"),
            ],
        ),
        &[],
    );
    fep.wait_link("split", "send", "up").await;
    sim.connect_back(fep.listen_addr("split", "recv")).unwrap();
    until(WAIT, "the bank reached the recv listener", || {
        sim.stats().connect_backs >= 1
    })
    .await;
    // The refused connection never became the recv line: the answers have no way back, so
    // nothing is sent — not even the sign-on — and requests are refused saying why.
    let client = Client::connect(fep.native).await.unwrap();
    let r = client
        .request("split", transfer(1), Duration::from_millis(500))
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Rejected, "{}", r.detail);
    assert!(
        r.detail.contains("waiting for the recv line"),
        "{}",
        r.detail
    );
    let status = fep.institution_status("split");
    assert_eq!(status["links"][1]["state"], "down", "{status}");
    assert_eq!(status["session"], "waiting_for_recv", "{status}");
    assert!(sim.seen().is_empty(), "sent: {:?}", sim.seen());

    fep.wait_signed_on("silent").await;
    let r = request_within(&client, "silent", 1, Duration::from_millis(500)).await;
    assert_eq!(r.outcome, Outcome::Unknown, "{}", r.detail);
    let (code, metrics) = http(fep.http, "GET", "/metrics", None);
    assert_eq!(code, 200);
    for name in [
        "fep_requests_total",
        "fep_request_duration_seconds_bucket",
        "fep_inflight_requests",
        "fep_link_up",
    ] {
        assert!(
            metrics.contains(name),
            "{name} missing from /metrics:\n{metrics}"
        );
    }
    assert!(metrics.contains("outcome=\"unknown\""), "{metrics}");
    assert!(metrics.contains("reason=\"no_recv_link\""), "{metrics}");
}

/// Split lines with a bank that opens its recv line late (300 ms after our send link is up)
/// and answers only there. Nothing goes out before the recv line exists; the sign-on goes out
/// when it comes up and completes within 2 s (not after a 10 s retry); the first request after
/// `ready` succeeds. At SIGTERM the sign-off goes out on the send link and its answer comes back
/// on the recv line, which is still open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_recv_line_gets_the_sign_on_at_once_and_the_sign_off_answer_before_it_closes() {
    let sim = split_bank(Answer::code("0000")).await;
    let links = split_links(sim.addr(), "127.0.0.1");
    let dir = tempdir();
    let data = dir.path().join("data");
    let fep = Fep::start(
        dir.path(),
        &config(&data, &[institution("split", &links, "5s", "1m", "5m")]),
        &[],
    );
    fep.wait_link("split", "send", "up").await;
    let send_up = std::time::Instant::now();
    let client = Client::connect(fep.native).await.unwrap();
    let early = client
        .request("split", transfer(1), Duration::from_secs(5))
        .await
        .unwrap();
    // The bank's lateness is the scenario, not a synchronisation: the recv line is opened
    // 300 ms after the send link came up.
    tokio::time::sleep_until((send_up + Duration::from_millis(300)).into()).await;
    assert!(
        sim.seen().is_empty(),
        "sent before the recv line existed (its answer is lost): {:?}",
        sim.seen()
    );
    assert_eq!(early.outcome, Outcome::Rejected, "{}", early.detail);
    assert!(early.detail.contains("recv line"), "{}", early.detail);
    let status = fep.institution_status("split");
    assert_eq!(status["session"], "waiting_for_recv", "{status}");

    sim.connect_back(fep.listen_addr("split", "recv")).unwrap();
    until(WAIT, "the bank's recv line is up", || sim.connected_back()).await;
    let recv_up = std::time::Instant::now();
    until(
        Duration::from_secs(2),
        "signed on within 2 s of the recv line coming up",
        || fep.institution_status("split")["signed_on"] == true,
    )
    .await;
    let took = recv_up.elapsed();
    println!("sign-on completed {took:?} after the recv line came up");
    assert_eq!(fep.institution_status("split")["session"], "ready");
    let r = client
        .request("split", transfer(42), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        r.outcome,
        Outcome::Ok,
        "the first request after ready: {}",
        r.detail
    );
    let sign_ons = sim
        .seen()
        .iter()
        .filter(|s| s.msg_type == "1000" && s.biz_type == "100")
        .count();
    assert_eq!(sign_ons, 1, "one sign-on, answered: {:?}", sim.seen());
    assert_eq!(sim.stats().undeliverable, 0, "no answer was lost");

    drop(client);
    let exit = fep.terminate();
    assert!(exit.success(), "{exit:?}");
    let seen = sim.seen();
    let sign_off = seen
        .iter()
        .find(|s| s.msg_type == "1000" && s.biz_type == "200")
        .unwrap_or_else(|| panic!("no 업무종료 at SIGTERM: {seen:?}"));
    assert!(
        !sign_off.on_connect_back,
        "the sign-off goes out on the send link"
    );
    assert_eq!(
        sim.stats().undeliverable,
        0,
        "the sign-off's answer found the recv line open"
    );
    let db = rusqlite::Connection::open(data.join("journal.db")).unwrap();
    let answered: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM telegrams WHERE direction = 'in' AND msg_type = '1100/200'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        answered, 1,
        "the sign-off's answer reached the gateway and was journaled"
    );
}

/// A steady stream of transfers across midnight under a fake clock: every telegram the bank
/// saw carries a date and a time from one reading (never yesterday's date with today's time),
/// nothing dated the new day arrives before the new day's sign-on (전문번호 1), requests that
/// arrive during the changeover wait for it and succeed, and the numbering starts afresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_streaming_across_midnight_are_dated_consistently_after_the_new_sign_on() {
    let sim = bank(Answer::code("0000")).await;
    let (_dir, fep) = start_hecto_with(&sim, &["--clock-start", "2026-11-22T23:59:58"]);
    fep.wait_signed_on("hecto").await;
    let client = Client::connect(fep.native).await.unwrap();
    let new_day_transfers = || {
        sim.transfers()
            .iter()
            .filter(|s| s.date == "20261123")
            .count()
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..4u64)
        .map(|w| {
            let (client, stop) = (client.clone(), stop.clone());
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                let mut n = w;
                // A steady stream under the contracted rate (4 × 200/s < rate_tps = 1000): a
                // rate-limit refusal would say nothing about the date change.
                let mut pace = tokio::time::interval(Duration::from_millis(5));
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    pace.tick().await;
                    let r = client
                        .request("hecto", transfer(1 + n), Duration::from_secs(5))
                        .await
                        .expect("client error");
                    outcomes.push((r.outcome, r.detail));
                    n += 4;
                }
                outcomes
            })
        })
        .collect();
    let crossed = eventually(Duration::from_secs(10), || new_day_transfers() >= 50).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut outcomes = Vec::new();
    for w in workers {
        outcomes.extend(w.await.unwrap());
    }
    assert!(crossed, "the stream did not cross midnight");

    let seen = sim.seen();
    let old_day = seen.iter().filter(|s| s.date == "20261122").count();
    let inconsistent: Vec<_> = seen
        .iter()
        .filter(|s| match s.date.as_str() {
            "20261122" => s.time.as_str() < "235950",
            "20261123" => s.time.as_str() > "000030",
            _ => true,
        })
        .collect();
    assert!(
        inconsistent.is_empty(),
        "date and time from different readings (or another date): {inconsistent:?}"
    );
    let first_new = seen
        .iter()
        .position(|s| s.date == "20261123")
        .expect("telegrams of the new day");
    let sign_on = &seen[first_new];
    assert_eq!(
        (
            sign_on.msg_type.as_str(),
            sign_on.biz_type.as_str(),
            sign_on.msg_no
        ),
        ("1000", "100", 1),
        "the new day's first telegram is its sign-on, numbered 1"
    );
    let late_old: Vec<_> = seen[first_new..]
        .iter()
        .filter(|s| s.date == "20261122")
        .collect();
    println!(
        "{} telegrams: {old_day} dated 20261122, {} transfers dated 20261123; {} dated the old \
         day arrived after the new day's sign-on (sent before it)",
        seen.len(),
        new_day_transfers(),
        late_old.len()
    );
    for day in ["20261122", "20261123"] {
        let numbers = seen.iter().filter(|s| s.date == day).map(|s| s.msg_no);
        assert_unique(numbers.collect(), &format!("a 전문번호 reused on {day}"));
    }
    let new_numbers: Vec<u32> = seen
        .iter()
        .filter(|s| s.date == "20261123")
        .map(|s| s.msg_no)
        .collect();
    assert!(
        new_numbers
            .iter()
            .max()
            .is_some_and(|&m| m as usize == new_numbers.len()),
        "the new day is numbered 1..=N without gaps from the old day: {new_numbers:?}"
    );
    assert_eq!(sim.stats().duplicates_rejected, 0);
    // Requests that arrived during the changeover waited for the sign-on: none was refused.
    let failed: Vec<_> = outcomes.iter().filter(|(o, _)| *o != Outcome::Ok).collect();
    assert!(
        failed.is_empty(),
        "{} of {}: {failed:?}",
        failed.len(),
        outcomes.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contracted_tps_is_enforced_with_an_immediate_rejection() {
    let sim = bank(Answer::code("0000")).await;
    let dir = tempdir();
    let inst = institution("hecto", &duplex_link(sim.addr()), "5s", "1m", "5m")
        .replace("rate_tps = 1000", "rate_tps = 5");
    let fep = Fep::start(dir.path(), &config(&dir.path().join("data"), &[inst]), &[]);
    let client = Client::connect(fep.native).await.unwrap();
    assert_eq!(request(&client, "hecto", 1).await.outcome, Outcome::Ok);
    let mut calls = Vec::new();
    for i in 0..30 {
        let c = client.clone();
        calls.push(tokio::spawn(async move {
            c.request("hecto", transfer(10 + i), Duration::from_secs(5))
                .await
                .unwrap()
        }));
    }
    let mut ok = 0;
    let mut limited = 0;
    for c in calls {
        let r = c.await.unwrap();
        match r.outcome {
            Outcome::Ok => ok += 1,
            Outcome::Rejected if r.detail.contains("rate limit") => limited += 1,
            other => panic!("unexpected {other:?}: {}", r.detail),
        }
    }
    assert!(
        limited >= 20,
        "a burst of 30 at 5 TPS is mostly refused: ok {ok}, limited {limited}"
    );
    assert!(ok >= 1, "the bucket still lets its quota through");
    assert_eq!(
        sim.transfers().len(),
        1 + ok,
        "refused requests never reached the bank"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_faults_settle_requests_and_the_link_recovers() {
    use fep_testkit::faultproxy::{Fault, FaultProxy};
    let sim = bank(Answer::code("0000")).await;
    let proxy = FaultProxy::start(sim.addr(), Fault::None).await.unwrap();
    let dir = tempdir();
    let fep = Fep::start(
        dir.path(),
        &config(
            &dir.path().join("data"),
            &[institution(
                "hecto",
                &duplex_link(proxy.addr()),
                "800ms",
                "1m",
                "5m",
            )],
        ),
        &[],
    );
    let client = Client::connect(fep.native).await.unwrap();
    assert_eq!(request(&client, "hecto", 1).await.outcome, Outcome::Ok);

    // Half-open: requests go out, answers never come back → unknown at the deadline.
    proxy.set_fault(Fault::HalfOpen);
    let r = client
        .request("hecto", transfer(2), Duration::from_millis(800))
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Unknown, "{}", r.detail);

    // RST on the live link: the gateway reconnects and serves again.
    proxy.set_fault(Fault::Reset { after_bytes: 0 });
    until(WAIT, "the proxy reset the live link", || {
        proxy.stats().resets >= 1
    })
    .await;
    proxy.set_fault(Fault::None);
    let mut recovered = false;
    for i in 0..50 {
        let r = client
            .request("hecto", transfer(100 + i), Duration::from_secs(2))
            .await
            .unwrap();
        if r.outcome == Outcome::Ok {
            recovered = true;
            break;
        }
        assert!(
            matches!(r.outcome, Outcome::Rejected | Outcome::Unknown),
            "{:?} {}",
            r.outcome,
            r.detail
        );
        // Retried until the reconnected link answers, bounded (50 tries).
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the link reconnected after the reset");
    assert!(proxy.stats().resets >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_recorded_before_a_crash_is_delivered_after_the_restart() {
    use std::sync::{Arc, Mutex};
    let sim = bank(Answer::code("0000")).await;
    let dir = tempdir();
    let data = dir.path().join("data");
    // Bound but not listening: the webhook is down (refused), and the port stays ours.
    let (hook_socket, hook) = reserved_port();
    let inst = institution("hecto", &duplex_link(sim.addr()), "5s", "1m", "5m")
        + &format!("[institution.notices]\nwebhook = \"http://{hook}/n\"\n");
    let cfg = config(&data, &[inst]);
    let fep = Fep::start(dir.path(), &cfg, &[]);
    assert!(signed_on(&sim).await);
    sim.push_frame(deposit_notice(21, "20261122"))
        .await
        .unwrap();
    assert!(
        eventually(WAIT, || !sim.acks().is_empty()).await,
        "acknowledged (so recorded)"
    );
    fep.kill();

    let received: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let r = received.clone();
    let app = axum::Router::new().route(
        "/n",
        axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let r = r.clone();
            async move {
                r.lock().unwrap().push(body);
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = hook_socket.listen(64).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let _fep = Fep::start(dir.path(), &cfg, &[]);
    let r = received.clone();
    assert!(
        eventually(Duration::from_secs(15), || !r.lock().unwrap().is_empty()).await,
        "the journal's backlog is delivered after the restart"
    );
    let body = received.lock().unwrap()[0].clone();
    assert_eq!(body["type"], "4000/100", "{body}");
}

/// Two banks share one inbound recv line (`count` = connections accepted): each gets the
/// requests of its own send link and answers on its own connection to the same listener.
/// Both connections stay up — the second does not tear down the first — and every answer
/// arrives (the banks hold nothing while their line is down: a torn-down line loses answers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_connections_to_one_inbound_recv_link_both_stay_up_and_carry_answers() {
    let a = split_bank(Answer::code("0000")).await;
    let b = split_bank(Answer::code("0000")).await;
    let links = format!(
        "[[institution.links]]\nname = \"send-a\"\nrole = \"outbound\"\ndirection = \"send\"\nconnect = \"{}\"\n\
         [[institution.links]]\nname = \"send-b\"\nrole = \"outbound\"\ndirection = \"send\"\nconnect = \"{}\"\n\
         [[institution.links]]\nname = \"recv\"\nrole = \"inbound\"\ndirection = \"recv\"\nlisten = \"127.0.0.1:0\"\nallowed_peers = [\"127.0.0.1\"]\ncount = 2\n",
        a.addr(),
        b.addr()
    );
    let dir = tempdir();
    let fep = Fep::start(
        dir.path(),
        &config(
            &dir.path().join("data"),
            &[institution("split", &links, "5s", "1m", "5m")],
        ),
        &[],
    );
    fep.wait_link("split", "send-a", "up").await;
    fep.wait_link("split", "send-b", "up").await;
    let recv = fep.listen_addr("split", "recv");
    a.connect_back(recv).unwrap();
    until(WAIT, "bank A's line is up", || a.connected_back()).await;
    fep.wait_signed_on("split").await;
    b.connect_back(recv).unwrap();
    until(WAIT, "bank B's line is up", || b.connected_back()).await;

    let client = Client::connect(fep.native).await.unwrap();
    for n in 1..=20 {
        let r = client
            .request("split", transfer(n), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(r.outcome, Outcome::Ok, "transfer {n}: {}", r.detail);
    }
    let transfers = |s: &SimHandle| s.seen().iter().filter(|t| t.msg_type == "2000").count();
    assert!(
        transfers(&a) > 0 && transfers(&b) > 0,
        "both banks answered: {} and {}",
        transfers(&a),
        transfers(&b)
    );
    assert_eq!(
        (a.stats().connect_backs, b.stats().connect_backs),
        (1, 1),
        "neither line was torn down and reopened"
    );
    assert_eq!(a.stats().undeliverable + b.stats().undeliverable, 0);
    assert_eq!(fep.institution_status("split")["links"][2]["state"], "up");
}
