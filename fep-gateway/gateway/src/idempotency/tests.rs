//! Keys against a real journal and an in-process gateway; the crash test (kill -9 between two
//! requests with one key) is black-box, in `fep-gateway/cli/tests/http_api.rs`.

use super::*;

async fn claim_of(
    journal: &Journal,
    key: &str,
    institution: &str,
    request: &[u8],
    window_ms: u64,
) -> (u64, &'static str) {
    let (key, institution, request) = (key.to_owned(), institution.to_owned(), request.to_vec());
    let fresh = next_tx_id();
    let (id, c) = journal
        .exec(move |txn| claim(txn, &key, &institution, &request, fresh, window_ms))
        .await
        .expect("claim");
    let what = match c {
        Claim::New => {
            assert_eq!(id, fresh, "a new claim takes the fresh id");
            "new"
        }
        Claim::Same(None) => "same, not journaled",
        Claim::Same(Some(_)) => "same, journaled",
        Claim::Other => "other",
    };
    (id, what)
}

#[tokio::test]
async fn a_key_names_one_request_until_its_window_passes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = Journal::open(&dir.path().join("j.db")).expect("journal");
    let day = 24 * 3600 * 1000;
    let (first, what) = claim_of(&journal, "K", "hecto", b"T1", day).await;
    assert_eq!(what, "new");
    assert_eq!(
        claim_of(&journal, "K", "hecto", b"T1", day).await,
        (first, "same, not journaled")
    );
    assert_eq!(
        claim_of(&journal, "K", "hecto", b"T2", day).await,
        (first, "other")
    );
    assert_eq!(
        claim_of(&journal, "K", "other", b"T1", day).await,
        (first, "other")
    );
    // Durable: a journal opened again on the file still knows it.
    drop(journal);
    let journal = Journal::open(&dir.path().join("j.db")).expect("reopen");
    assert_eq!(
        claim_of(&journal, "K", "hecto", b"T1", day).await,
        (first, "same, not journaled")
    );
    // Past the window the key is free again, for any request.
    let (again, what) = claim_of(&journal, "K", "hecto", b"T2", 0).await;
    assert_eq!(what, "new");
    assert_ne!(again, first);
    assert_eq!(
        find(&journal, "K", |_| Some(Duration::from_secs(60)))
            .await
            .expect("find")
            .map(|f| f.0),
        Some(again)
    );
    assert!(find(&journal, "nope", |_| Some(Duration::from_secs(60)))
        .await
        .expect("find")
        .is_none());
    assert!(matches!(check_key(""), Err(IdempotencyError::InvalidKey)));
    assert!(matches!(
        check_key("a b"),
        Err(IdempotencyError::InvalidKey)
    ));
    assert!(matches!(
        check_key(&"k".repeat(256)),
        Err(IdempotencyError::InvalidKey)
    ));
    assert!(check_key("order-2026-12-01/0001").is_ok());
}

/// Requests with one key meeting in flight share one send; a different request with the key
/// is refused and not sent; a later request with the key is answered from the journal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_key_sends_once_however_many_requests_carry_it() {
    let (gateway, sim, _dir) = crate::test_support::gateway_on_sim(300).await;
    let handle = gateway.institution("hecto").expect("hecto").clone();
    let idem = Idempotency::default();
    let telegram = fep_testkit::samples::sample_telegram(1, false);
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let (idem, journal, handle, t) = (
            idem.clone(),
            gateway.journal().clone(),
            handle.clone(),
            telegram.clone(),
        );
        tasks.push(tokio::spawn(async move {
            idem.submit(&journal, &handle, "K1", t, None, None).await
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.expect("task").expect("answer"));
    }
    let first = answers[0].reply.tx_id;
    assert!(
        answers.iter().all(|a| a.reply.tx_id == first),
        "one transaction"
    );
    assert!(answers.iter().all(|a| a.reply.outcome == Outcome::Ok));
    assert_eq!(
        answers.iter().filter(|a| !a.replayed).count(),
        1,
        "one sender"
    );
    assert_eq!(sim.transfers().len(), 1, "sent once");
    // A different telegram under the key: refused, nothing sent.
    let other = fep_testkit::samples::sample_telegram(2, false);
    match idem
        .submit(gateway.journal(), &handle, "K1", other, None, None)
        .await
    {
        Err(IdempotencyError::Reused { tx_id, .. }) => assert_eq!(tx_id, first),
        other => panic!("expected Reused, got {other:?}"),
    }
    // Later, with the flight landed: answered from the journal, with the response telegram.
    let later = idem
        .submit(gateway.journal(), &handle, "K1", telegram, None, None)
        .await
        .expect("later");
    assert!(later.replayed);
    assert_eq!(
        (later.reply.tx_id, later.reply.outcome),
        (first, Outcome::Ok)
    );
    assert_eq!(
        later.reply.telegram.len(),
        300,
        "the institution's answer, from the journal"
    );
    assert_eq!(sim.transfers().len(), 1, "still sent once");
    gateway.shutdown(Duration::from_secs(5)).await;
    sim.shutdown().await;
}
