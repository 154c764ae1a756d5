//! Durable outcomes, black-box: what a caller was told survives a `kill -9` of the gateway.
//!
//! 300 concurrent transfers (native protocol and HTTP) go through the real `fep` binary to the
//! simulated bank, which answers each after 0.3–4 s (ok, declined, or an "unknown" code).
//! While answers are flowing, the gateway is killed with SIGKILL, so some callers have their
//! answer and the others do not. Just before the kill, the journal's write lock is held by this
//! test for a moment — a journal that is slow to commit, as under load or on a slow disk — so
//! that answers arrive while their outcome records wait for a commit: the window in which a
//! gateway that answers before journaling tells a caller something a crash takes back. After a
//! restart (which resolves what was left open), every answer a caller received is compared
//! with `GET /v1/transactions/{id}`.
//!
//! It runs with each `journal_commit`. With `log`, holding SQLite's lock does not stall the
//! callers (the log is the durability point) but leaves SQLite behind the log at the kill:
//! what callers heard must come back from the log at the restart.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fep_client::client::Client;
use fep_client::protocol::Outcome;
use fep_codec::Telegram;
use fep_specs::hecto;
use fep_testkit::sim::SimConfig;
use support::*;

/// Transfers in all; the last `HTTP_CALLERS` of them go through the HTTP API.
const TRANSFERS: u64 = 300;
const HTTP_CALLERS: u64 = 20;
/// Amount of transfer `i`: unique, so the journal's telegram tells which caller it was.
const BASE_AMOUNT: u64 = 10_000;

/// What a caller heard before the kill.
#[derive(Debug, Clone)]
struct Heard {
    amount: u64,
    outcome: String,
    /// The transaction id, where the API gives it (HTTP).
    tx_id: Option<u64>,
    /// 전문번호 of the answer telegram, where there is one.
    msg_no: Option<u32>,
}

fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Ok => "ok",
        Outcome::Declined => "declined",
        Outcome::Unknown => "unknown",
        Outcome::Rejected => "rejected",
    }
}

/// Transfer `amount` through the native client; `None` when no answer came (the gateway died).
async fn native_caller(client: Client, amount: u64, answered: Arc<AtomicUsize>) -> Option<Heard> {
    let r = client
        .request("hecto", transfer(amount), Duration::from_secs(10))
        .await
        .ok()?;
    answered.fetch_add(1, Ordering::SeqCst);
    let msg_no = r
        .telegram
        .get(..100)
        .and_then(|header| hecto::HectoHeader::decode(header).ok())
        .map(|h| h.msg_no);
    Some(Heard {
        amount,
        outcome: outcome_word(r.outcome).to_owned(),
        tx_id: None,
        msg_no,
    })
}

/// Transfer `amount` through `POST /v1/institutions/hecto/messages`.
fn http_caller(addr: std::net::SocketAddr, amount: u64, answered: &AtomicUsize) -> Option<Heard> {
    let body = format!(
        r#"{{"type":"2000/100","timeout_ms":10000,"fields":{{"wd_account":"110123456789","amount":{amount},"bal_sign":"+","dep_bank":"088","dep_account":"333012345678","memo":"급여","dep_holder":"홍길동"}}}}"#
    );
    let (status, resp) = http(addr, "POST", "/v1/institutions/hecto/messages", Some(&body));
    if status != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&resp).ok()?;
    answered.fetch_add(1, Ordering::SeqCst);
    let id = match &v["id"] {
        serde_json::Value::String(s) => s.parse().ok(),
        other => other.as_u64(),
    };
    Some(Heard {
        amount,
        outcome: v["outcome"].as_str().unwrap_or_default().to_owned(),
        tx_id: id,
        msg_no: None,
    })
}

/// Responses the bank has handed to a line so far.
fn responses(sim: &fep_testkit::sim::SimHandle) -> u64 {
    sim.stats().responses.values().sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_given_before_a_kill_9_matches_the_journal_after_the_restart() {
    answers_survive_a_kill_9("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_journal_log_every_answer_given_before_a_kill_9_survives() {
    answers_survive_a_kill_9("log").await;
}

async fn answers_survive_a_kill_9(journal_commit: &str) {
    let sim = bank_with(
        Answer::Drawn,
        SimConfig {
            latency_ms: "300..4000".into(),
            decline_rate: 0.2,
            unknown_rate: 0.05,
            inquiry_in_progress_rate: 0.0,
            ..SimConfig::default()
        },
    )
    .await;
    let dir = tempdir();
    let data = dir.path().join("data");
    let cfg = duplex_hecto(&data, sim.addr(), "10s", "300ms").replacen(
        "[server]\n",
        &format!("[server]\njournal_commit = \"{journal_commit}\"\n"),
        1,
    );
    let fep = Fep::start(dir.path(), &cfg, &[]);
    fep.wait_signed_on("hecto").await;

    let answered = Arc::new(AtomicUsize::new(0));
    let mut callers = Vec::new();
    let clients = [
        Client::connect(fep.native).await.unwrap(),
        Client::connect(fep.native).await.unwrap(),
    ];
    for i in 0..TRANSFERS - HTTP_CALLERS {
        let (client, answered) = (clients[i as usize % 2].clone(), answered.clone());
        callers.push(tokio::spawn(native_caller(
            client,
            BASE_AMOUNT + i,
            answered,
        )));
    }
    for i in TRANSFERS - HTTP_CALLERS..TRANSFERS {
        let (addr, answered) = (fep.http, answered.clone());
        callers.push(tokio::task::spawn_blocking(move || {
            http_caller(addr, BASE_AMOUNT + i, &answered)
        }));
    }

    // Every transfer has reached the bank (so its `sent` row is committed), and answers are
    // coming back; the slowest are seconds away.
    let s = &sim;
    until(WAIT, "all transfers at the bank", || {
        s.transfers().len() as u64 >= TRANSFERS
    })
    .await;
    let a = &answered;
    until(WAIT, "60 callers answered", || {
        a.load(Ordering::SeqCst) >= 60
    })
    .await;
    // The journal stalls: nothing commits while this connection holds the write lock.
    let blocker = rusqlite::Connection::open(data.join("journal.db")).unwrap();
    blocker.busy_timeout(Duration::from_secs(5)).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE;").unwrap();
    let before = responses(&sim);
    until(WAIT, "30 more answers from the bank", || {
        responses(s) >= before + 30
    })
    .await;
    fep.kill();
    blocker.execute_batch("ROLLBACK;").unwrap();
    drop(blocker);

    let mut heard = Vec::new();
    let mut unanswered = 0;
    for c in callers {
        match c.await.unwrap() {
            Some(h) => heard.push(h),
            None => unanswered += 1,
        }
    }
    assert!(
        heard.len() >= 60 && unanswered > 0,
        "the kill fell between answers: {} answered, {unanswered} not",
        heard.len()
    );
    assert!(
        heard.iter().all(|h| h.outcome != "rejected"),
        "every transfer was admitted: {heard:?}"
    );

    // Restart: what was left open is resolved by inquiry.
    let fep = Fep::start(dir.path(), &cfg, &[]);
    let db = rusqlite::Connection::open(data.join("journal.db")).unwrap();
    let open = || -> i64 {
        db.query_row(
            "SELECT COUNT(*) FROM transactions
             WHERE resolved IS NULL AND outcome IN ('sent', 'unknown')",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    until(Duration::from_secs(30), "every transaction settled", || {
        open() == 0
    })
    .await;

    // Which transaction each caller's transfer became: the journal's outbound telegrams.
    let mut by_amount = std::collections::HashMap::new();
    let mut stmt = db
        .prepare(
            "SELECT tx_id, raw FROM telegrams WHERE direction = 'out' AND msg_type = '2000/100'",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
        .unwrap();
    for row in rows {
        let (tx_id, raw) = row.unwrap();
        let t = hecto::Transfer::decode(&raw).expect("journaled transfer decodes");
        assert!(
            by_amount.insert(t.amount, tx_id as u64).is_none(),
            "one transaction per transfer"
        );
    }
    assert_eq!(
        by_amount.len() as u64,
        TRANSFERS,
        "every transfer is in the journal, answered or not"
    );

    let mut mismatches = Vec::new();
    for h in &heard {
        let tx_id = by_amount[&h.amount];
        if let Some(id) = h.tx_id {
            assert_eq!(id, tx_id, "the id HTTP gave is the journal's");
        }
        let (code, body) = http(fep.http, "GET", &format!("/v1/transactions/{tx_id}"), None);
        assert_eq!(code, 200, "{body}");
        let tx: serde_json::Value = serde_json::from_str(&body).unwrap();
        if let Some(no) = h.msg_no {
            assert_eq!(tx["msg_no"], no, "the answer is the transaction's: {tx}");
        }
        if tx["outcome"] != h.outcome.as_str() {
            mismatches.push(format!("told {} but the journal says {tx}", h.outcome));
        }
    }
    eprintln!(
        "durability: {} answers checked against the journal, {} mismatches, {unanswered} unanswered at the kill",
        heard.len(),
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} of {} answers contradicted by the journal after the restart:\n{}",
        mismatches.len(),
        heard.len(),
        mismatches.join("\n")
    );
    drop(fep);
}
