//! The day's 전문번호 range as a resource, black-box: a spec copy whose range is 1..=30, with
//! the last 3 kept for the gateway's own telegrams (`[institution.sequence] reserve = 3`).
//! Requests beyond their share are refused naming the exhaustion; an unknown transfer still
//! gets its result inquiry's number and is resolved; status and metrics show the condition;
//! the sign-off at shutdown and the sign-on after a restart the same day still get numbers;
//! once the reserve is gone too, a restart says the sign-on failed and why.

mod support;

use std::path::Path;
use std::time::Duration;

use fep_client::client::Client;
use fep_client::protocol::{Outcome, Response};
use fep_testkit::sim::SimHandle;
use support::*;

/// The Hecto spec with a daily range of 1..=30.
fn small_range_spec(dir: &Path) -> String {
    let hecto = std::fs::read_to_string(SPEC).expect("read the Hecto spec");
    let range = "[sequence]\nfield = \"header.msg_no\"\nmin = 1\nmax = 950000\n";
    assert!(hecto.contains(range), "the Hecto spec's [sequence] changed");
    let path = dir.join("hecto-30.toml");
    std::fs::write(&path, hecto.replace(range, &range.replace("950000", "30")))
        .expect("write spec");
    path.display().to_string()
}

fn start(dir: &Path, sim: &SimHandle) -> Fep {
    let spec = small_range_spec(dir);
    let inst = institution("hecto", &duplex_link(sim.addr()), "1s", "300ms", "5m")
        .replace(SPEC, &spec)
        + "[institution.sequence]\nreserve = 3\n";
    Fep::start(dir, &config(&dir.join("data"), &[inst]), &[])
}

async fn transfer_now(client: &Client, amount: u64) -> Response {
    client
        .request("hecto", transfer(amount), Duration::from_secs(5))
        .await
        .expect("client error")
}

/// 전문번호 of what the bank received as `msg_type`/`biz_type`.
fn numbers(sim: &SimHandle, msg_type: &str, biz_type: &str) -> Vec<u32> {
    sim.seen()
        .iter()
        .filter(|s| s.msg_type == msg_type && s.biz_type == biz_type)
        .map(|s| s.msg_no)
        .collect()
}

fn metric(fep: &Fep, name: &str) -> Option<f64> {
    let (_, text) = http(fep.http, "GET", "/metrics", None);
    let prefix = format!("{name}{{institution=\"hecto\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_their_share_are_refused_and_the_reserve_keeps_inquiries_and_sessions_going(
) {
    let sim = bank(Answer::code("0000")).await;
    let dir = tempdir();
    let fep = start(dir.path(), &sim);
    fep.wait_signed_on("hecto").await;
    let client = Client::connect(fep.native).await.unwrap();

    // The sign-on took 1; requests may use up to 27.
    for i in 0..25 {
        assert_eq!(transfer_now(&client, 1000 + i).await.outcome, Outcome::Ok);
    }
    sim.set_answer(Answer::Silent).unwrap();
    let lost = transfer_now(&client, 2000).await;
    assert_eq!(lost.outcome, Outcome::Unknown, "{}", lost.detail);
    assert_eq!(
        numbers(&sim, "2000", "100").last(),
        Some(&27),
        "the last number of the requests' share"
    );
    let day = fep.institution_status("hecto")["day"].clone();
    let refused = transfer_now(&client, 3000).await;
    assert_eq!(refused.outcome, Outcome::Rejected);
    assert_eq!(
        refused.detail,
        format!(
            "sequence numbers exhausted for {day}: requests may use 전문번호 1..=27 and all are \
             used; the last 3 of 1..=30 are kept for result inquiries and session telegrams"
        )
    );

    // The unknown is still asked about, with a reserve number, and resolved.
    let f = &fep;
    until(WAIT, "the unknown transfer resolved", || {
        f.institution_status("hecto")["counters"]["resolved_ok"] == 1
    })
    .await;
    assert_eq!(numbers(&sim, "7000", "100"), [28], "the inquiry's number");
    let status = fep.institution_status("hecto");
    let seq = &status["sequence"];
    assert_eq!(
        (
            &seq["exhausted"],
            &seq["reserve_exhausted"],
            &seq["warning"],
            &seq["max"],
            &seq["reserve"],
            &seq["used"]
        ),
        (
            &true.into(),
            &false.into(),
            &true.into(),
            &30.into(),
            &3.into(),
            &28.into()
        ),
        "{status}"
    );
    assert_eq!(metric(&fep, "fep_sequence_exhausted"), Some(1.0));
    let ratio = metric(&fep, "fep_sequence_used_ratio").expect("usage ratio exported");
    assert!((ratio - 28.0 / 30.0).abs() < 1e-6, "{ratio}");
    assert_eq!(metric(&fep, "fep_sequence_used"), Some(28.0));

    // The sign-off at shutdown still gets a number (the one kept at hand).
    assert!(fep.terminate().success());
    assert_eq!(numbers(&sim, "1000", "200"), [29], "업무종료 numbered");

    // A restart the same day signs on with the last number and names the exhaustion.
    let fep = start(dir.path(), &sim);
    fep.wait_signed_on("hecto").await;
    assert_eq!(numbers(&sim, "1000", "100").last(), Some(&30));
    let client = Client::connect(fep.native).await.unwrap();
    let refused = transfer_now(&client, 4000).await;
    assert_eq!(refused.outcome, Outcome::Rejected);
    assert!(
        refused
            .detail
            .starts_with(&format!("sequence numbers exhausted for {day}")),
        "{}",
        refused.detail
    );
    let f = &fep;
    until(WAIT, "the reserve shown as used up", || {
        f.institution_status("hecto")["sequence"]["reserve_exhausted"] == true
    })
    .await;
    fep.kill();

    // Nothing left: the sign-on cannot be numbered, and every refusal says so.
    let fep = start(dir.path(), &sim);
    let client = Client::connect(fep.native).await.unwrap();
    let expected = format!(
        "institution not ready: sign-on failed: sequence numbers exhausted for {day}: all of \
         전문번호 1..=30 are used, the 3 kept for result inquiries and session telegrams included"
    );
    let mut last = String::new();
    for _ in 0..100 {
        let r = transfer_now(&client, 5000).await;
        assert_eq!(r.outcome, Outcome::Rejected);
        last = r.detail;
        if last == expected {
            break;
        }
        // Not yet connected, or "signing on" until the first sign-on attempt found no number.
        assert!(
            last.contains("no send link") || last.contains("signing on"),
            "{last}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(last, expected);
    let status = fep.institution_status("hecto");
    assert_eq!(status["signed_on"], false, "{status}");
    assert_eq!(status["sequence"]["reserve_exhausted"], true, "{status}");
    assert!(
        status["sign_on_error"]
            .as_str()
            .is_some_and(|e| e.contains("all of 전문번호 1..=30 are used")),
        "{status}"
    );
    assert_eq!(metric(&fep, "fep_sequence_exhausted"), Some(2.0));
    assert_eq!(
        numbers(&sim, "1000", "100").last(),
        Some(&30),
        "no number reused"
    );
}
