//! Actor-level tests: panic containment, and the timers (request deadline → unknown, result
//! inquiry delay and interval) on a paused clock, with the test standing in for the link.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::*;
use crate::clock::SystemClock;
use crate::domain::{Resolution, TxState};
use crate::journal::Journal;
use crate::settings::{InstitutionSettings, LinkSettings};
use crate::testing::within;

#[tokio::test]
async fn a_panic_is_contained_and_the_actor_keeps_answering() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("j.db")).unwrap();
    let (handle, _links) = spawn(
        InstitutionSettings::hecto("x", Vec::new()),
        journal,
        Arc::new(SystemClock),
    );
    handle.control.send(Control::Panic).await.unwrap();
    // Still alive and answering after the panic, with the restart counted.
    let status = handle.status().await.expect("actor answers after a panic");
    assert_eq!(status.counters.restarts, 1);
    let reply = handle
        .request(vec![b' '; 300], Some(Duration::from_secs(1)))
        .await;
    assert_eq!(
        reply.outcome,
        Outcome::Rejected,
        "no send link: rejected, not lost"
    );
}

/// A request whose telegram was being journaled when the actor panicked is answered
/// `rejected`, and its journaled `sent` state is settled (before the caller hears it) so a
/// restart does not inquire about a telegram that never left.
#[tokio::test]
async fn a_panic_before_sending_settles_the_journaled_transaction() {
    use crate::gateway::Gateway;
    use crate::settings::{GatewaySettings, LinkSettings};
    use fep_testkit::bank_sim::{BankSim, BankSimConfig};

    let sim = BankSim::start(BankSimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = GatewaySettings {
        native_listen: "127.0.0.1:0".parse().unwrap(),
        http_listen: None,
        data_dir: dir.path().to_path_buf(),
        retention_days: 0,
        journal_sync: Default::default(),
        institutions: vec![InstitutionSettings::hecto(
            "hecto",
            vec![LinkSettings::outbound_duplex(sim.addr())],
        )],
    };
    let gateway = Gateway::start(settings, Arc::new(SystemClock))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !gateway.status().await.iter().all(|s| s.signed_on) {
        assert!(Instant::now() < deadline, "no sign-on");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Hold the journal's write lock: the request's telegram cannot be committed, so it is
    // in flight but not yet written to the link.
    let blocker = rusqlite::Connection::open(dir.path().join("journal.db")).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE;").unwrap();
    let handle = gateway.institution("hecto").unwrap().clone();
    let request = {
        let handle = handle.clone();
        tokio::spawn(async move {
            handle
                .request(fep_testkit::samples::sample_telegram(1, false), None)
                .await
        })
    };
    while handle.status().await.unwrap().inflight == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    handle.control.send(Control::Panic).await.unwrap();
    // Answered by the restarted actor: the panic has been handled. The caller hears
    // `rejected` once that state is committed, so the journal is let go now.
    handle
        .status()
        .await
        .expect("actor answers after the panic");
    blocker.execute_batch("COMMIT;").unwrap();
    let reply = request.await.unwrap();
    assert_eq!(reply.outcome, Outcome::Rejected);
    gateway.journal().flush().await.unwrap();
    let tx = gateway
        .journal()
        .get_tx(reply.tx_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tx.outcome, TxState::Rejected);
    assert!(gateway
        .journal()
        .unsettled("hecto")
        .await
        .unwrap()
        .is_empty());
    gateway.shutdown(Duration::from_secs(5)).await;
    sim.shutdown().await;
}

/// An institution actor with the test as its only (duplex) link.
struct Harness {
    handle: InstitutionHandle,
    events: mpsc::Sender<LinkEvent>,
    /// What the actor writes to the link.
    wire: mpsc::Receiver<Bytes>,
    journal: Journal,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// Starts the actor, brings the link up and answers the sign-on.
    async fn signed_on(settings: InstitutionSettings) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&dir.path().join("j.db")).unwrap();
        let (handle, events) = spawn(settings, journal.clone(), Arc::new(SystemClock));
        let (_, wire) = mpsc::channel(1);
        let mut h = Harness {
            handle,
            events,
            wire,
            journal,
            _dir: dir,
        };
        h.connect(1).await;
        h
    }

    /// Connection `conn` of the link comes up; the sign-on on it is answered.
    async fn connect(&mut self, conn: u64) {
        let (sender, wire) = mpsc::channel(64);
        self.wire = wire;
        self.event(LinkEvent::Up {
            link: 0,
            conn,
            sender,
            can_send: true,
        })
        .await;
        let sign_on = self.sent().await;
        assert_eq!(self.key(&sign_on), ("1000", "100"));
        self.answer(&sign_on, "0000").await;
        assert!(self.status().await.signed_on);
    }

    /// Submits transfer `n` as a caller would; the reply comes from the returned task.
    fn submit(&self, n: u64) -> tokio::task::JoinHandle<Reply> {
        let handle = self.handle.clone();
        tokio::spawn(async move {
            handle
                .request(fep_testkit::samples::sample_telegram(n, false), None)
                .await
        })
    }

    async fn event(&self, e: LinkEvent) {
        within(self.events.send(e)).await.unwrap();
    }

    /// The next telegram the actor writes.
    async fn sent(&mut self) -> Bytes {
        within(self.wire.recv()).await.expect("link closed")
    }

    /// Status; also a barrier: the actor handles due timers before control messages.
    async fn status(&self) -> InstitutionStatus {
        within(self.handle.status()).await.expect("status")
    }

    fn key<'a>(&self, t: &'a [u8]) -> (&'a str, &'a str) {
        self.handle.profile().msg_key(t).unwrap()
    }

    /// Answers `request` (with its response type, e.g. 2000 → 2100) with response code `code`.
    async fn answer(&self, request: &[u8], code: &str) {
        let p = self.handle.profile();
        let (msg_type, _) = self.key(request);
        let response = crate::profile::response_type(msg_type).unwrap();
        let mut t = request.to_vec();
        p.msg_type.put_text(&mut t, response.as_bytes());
        p.resp_code.put_text(&mut t, code.as_bytes());
        self.frame(t).await;
    }

    /// Answers a result inquiry: the inquiry itself succeeded, the original's result is `result`.
    async fn answer_inquiry(&self, inquiry: &[u8], result: &str) {
        let p = self.handle.profile();
        let mut t = inquiry.to_vec();
        p.msg_type.put_text(&mut t, b"7100");
        p.resp_code.put_text(&mut t, b"0000");
        let rule = p.inquiry.as_ref().unwrap();
        rule.result.put_text(&mut t, result.as_bytes());
        self.frame(t).await;
    }

    async fn frame(&self, t: Vec<u8>) {
        self.event(LinkEvent::Frame {
            link: 0,
            frame: Bytes::from(t),
        })
        .await;
    }

    /// Transaction `id` as journaled, once everything before is committed.
    async fn journaled(&self, id: u64) -> crate::journal::TxRecord {
        within(self.journal.flush()).await.unwrap();
        within(self.journal.get_tx(id)).await.unwrap().unwrap()
    }

    /// Asserts that nothing was written (after a status barrier).
    async fn nothing_sent(&mut self) {
        self.status().await;
        assert!(self.wire.try_recv().is_err(), "nothing is due yet");
    }
}

/// (unknowns resolved, … as executed, … as not executed, unresolved).
fn resolutions(c: &Counters) -> (u64, u64, u64, u64) {
    (
        c.unknown_resolved,
        c.resolved_ok,
        c.resolved_declined,
        c.unresolved,
    )
}

fn settings() -> InstitutionSettings {
    let addr = "127.0.0.1:9".parse().unwrap();
    let mut s = InstitutionSettings::hecto("hecto", vec![LinkSettings::outbound_duplex(addr)]);
    s.request_timeout = Duration::from_secs(10);
    s.inquiry_delay = Duration::from_secs(300);
    s.inquiry_interval = Duration::from_secs(60);
    s
}

/// A request not answered before its deadline is `unknown`; the first result inquiry goes out
/// `inquiry_delay` later; an answer "still in progress" resolves nothing and the inquiry is
/// repeated `inquiry_interval` later; the final answer resolves it.
#[tokio::test(start_paused = true)]
async fn a_timeout_is_unknown_then_resolved_by_inquiries_on_schedule() {
    let mut h = Harness::signed_on(settings()).await;
    let request = h.submit(1);
    let transfer = h.sent().await;
    assert_eq!(h.key(&transfer), ("2000", "100"));
    tokio::time::advance(Duration::from_millis(9_999)).await;
    assert_eq!(
        h.status().await.counters.unknown,
        0,
        "not before the deadline"
    );
    tokio::time::advance(Duration::from_millis(1)).await;
    let reply = within(request).await.unwrap();
    assert_eq!(
        (reply.outcome, reply.detail.as_str()),
        (Outcome::Unknown, "timeout")
    );
    let status = h.status().await;
    assert_eq!((status.counters.unknown, status.resolving), (1, 1));

    tokio::time::advance(Duration::from_secs(299)).await;
    h.nothing_sent().await;
    tokio::time::advance(Duration::from_secs(1)).await;
    let inquiry = h.sent().await;
    assert_eq!(h.key(&inquiry), ("7000", "100"));
    let orig = h.handle.profile().inquiry.as_ref().unwrap().orig_msg_no;
    assert_eq!(
        orig.text(&inquiry),
        h.handle.profile().msg_no.text(&transfer)
    );

    // 처리중: the bank has not finished either. Nothing is resolved, nothing counted.
    h.answer_inquiry(&inquiry, "U726").await;
    assert_eq!(resolutions(&h.status().await.counters), (0, 0, 0, 0));
    tokio::time::advance(Duration::from_secs(59)).await;
    h.nothing_sent().await;
    tokio::time::advance(Duration::from_secs(1)).await;
    let again = h.sent().await;
    assert_eq!(h.key(&again), ("7000", "100"));
    h.answer_inquiry(&again, "0000").await;
    let status = h.status().await;
    assert_eq!(resolutions(&status.counters), (1, 1, 0, 0));
    assert_eq!(status.resolving, 0);
    let tx = h.journaled(reply.tx_id).await;
    assert_eq!(
        (tx.outcome, tx.resolved),
        (TxState::Unknown, Some(Resolution::Ok))
    );
}

/// Inquiries that never get an answer stop after `inquiry_max_attempts`; the transaction is
/// flagged `unresolved` for manual reconciliation.
#[tokio::test(start_paused = true)]
async fn unanswered_inquiries_give_up_after_the_last_attempt() {
    let mut s = settings();
    s.inquiry_max_attempts = 2;
    let mut h = Harness::signed_on(s).await;
    let request = h.submit(2);
    h.sent().await;
    tokio::time::advance(Duration::from_secs(10)).await;
    let reply = within(request).await.unwrap();
    assert_eq!(reply.outcome, Outcome::Unknown);
    tokio::time::advance(Duration::from_secs(300)).await;
    h.sent().await;
    // The inquiry times out (request_timeout), the second goes out an interval later.
    tokio::time::advance(Duration::from_secs(10)).await;
    h.nothing_sent().await;
    tokio::time::advance(Duration::from_secs(60)).await;
    h.sent().await;
    tokio::time::advance(Duration::from_secs(10)).await;
    let status = h.status().await;
    assert_eq!(resolutions(&status.counters), (0, 0, 0, 1));
    assert_eq!(status.resolving, 0);
    tokio::time::advance(Duration::from_secs(3600)).await;
    h.nothing_sent().await;
    let tx = h.journaled(reply.tx_id).await;
    assert_eq!(
        (tx.outcome, tx.resolved, tx.detail.as_str()),
        (
            TxState::Unknown,
            Some(Resolution::Unresolved),
            "inquiries exhausted"
        )
    );
}

/// A duplex link that dies after sending: the answer cannot come back, so the request is
/// `unknown` at once, not at its deadline; a late answer on the new connection resolves it.
#[tokio::test(start_paused = true)]
async fn a_duplex_link_dying_after_sending_settles_unknown_and_a_late_answer_resolves() {
    let mut h = Harness::signed_on(settings()).await;
    let request = h.submit(3);
    let transfer = h.sent().await;
    h.event(LinkEvent::Down { link: 0, conn: 1 }).await;
    let reply = within(request).await.unwrap();
    assert_eq!(
        (reply.outcome, reply.detail.as_str()),
        (Outcome::Unknown, "link closed after sending")
    );
    let status = h.status().await;
    assert!(!status.signed_on, "no send link left: sign on again");
    h.connect(2).await;
    h.answer(&transfer, "SB02").await;
    let c = h.status().await.counters;
    assert_eq!(c.late, 1);
    assert_eq!(resolutions(&c), (1, 0, 1, 0));
}

/// The rate limit and the queue deadline refuse with their reasons, counted as rejected.
#[tokio::test(start_paused = true)]
async fn admission_refusals_carry_their_reason() {
    let mut s = settings();
    s.rate_tps = Some(1);
    let mut h = Harness::signed_on(s).await;
    let first = h.submit(4);
    let transfer = h.sent().await;
    let second = within(
        h.handle
            .request(fep_testkit::samples::sample_telegram(5, false), None),
    )
    .await;
    assert_eq!(second.outcome, Outcome::Rejected);
    assert_eq!(second.detail, RejectReason::RateLimit.to_string());
    // A second later the bucket has a token again; the telegram itself is refused.
    tokio::time::advance(Duration::from_secs(1)).await;
    let bad = within(h.handle.request(vec![b' '; 10], None)).await;
    assert_eq!(
        bad.detail,
        RejectReason::BadRequest { expected_len: 300 }.to_string()
    );
    h.answer(&transfer, "0000").await;
    assert_eq!(within(first).await.unwrap().outcome, Outcome::Ok);
    let c = h.status().await.counters;
    assert_eq!((c.requests, c.ok, c.rejected), (3, 1, 2));
}

impl Harness {
    /// The journal file, for reading or stalling it beside the writer.
    fn journal_path(&self) -> std::path::PathBuf {
        self._dir.path().join("j.db")
    }

    /// Submits transfer `n`; the returned task gives the reply with the transaction's state as
    /// the journal file holds it the moment the caller hears the reply (read beside the writer).
    fn submit_and_read_back(&self, n: u64) -> tokio::task::JoinHandle<(Reply, String)> {
        let (handle, db) = (self.handle.clone(), self.journal_path());
        tokio::spawn(async move {
            let reply = handle
                .request(fep_testkit::samples::sample_telegram(n, false), None)
                .await;
            let seen = rusqlite::Connection::open(db)
                .and_then(|c| {
                    c.query_row(
                        "SELECT outcome FROM transactions WHERE id = ?1",
                        [reply.tx_id as i64],
                        |r| r.get::<_, String>(0),
                    )
                })
                .unwrap_or_else(|e| format!("no row: {e}"));
            (reply, seen)
        })
    }
}

/// The outcome a caller is told is in the journal before the caller hears it: while the
/// journal cannot commit (its lock held), the answered request is not answered to its caller;
/// once the commit is through, the caller hears `ok` and the journal says `ok`. (Before: the
/// caller was answered at once and a crash in between left the journal saying `sent`.)
#[tokio::test(start_paused = true)]
async fn a_caller_is_answered_only_once_the_outcome_is_committed() {
    let mut h = Harness::signed_on(settings()).await;
    let request = h.submit_and_read_back(11);
    let transfer = h.sent().await;
    let blocker = rusqlite::Connection::open(h.journal_path()).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE;").unwrap();
    h.answer(&transfer, "0000").await;
    // Handled; a caller answered now would read the journal while it still says `sent`.
    h.status().await;
    tokio::task::yield_now().await;
    blocker.execute_batch("COMMIT;").unwrap();
    let (reply, seen) = within(request).await.unwrap();
    assert_eq!((reply.outcome, seen.as_str()), (Outcome::Ok, "ok"));
    assert_eq!(h.status().await.counters.ok, 1);
}

/// An outcome the journal refuses to record is not told as `ok`: the journal still says
/// `sent` (a restart resolves it by inquiry), so the caller hears `unknown`, with the cause.
#[tokio::test(start_paused = true)]
async fn an_outcome_the_journal_cannot_record_is_answered_unknown() {
    let mut h = Harness::signed_on(settings()).await;
    rusqlite::Connection::open(h.journal_path())
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER refuse_ok BEFORE UPDATE ON transactions WHEN NEW.outcome = 'ok'
             BEGIN SELECT RAISE(ABORT, 'injected journal failure'); END;",
        )
        .unwrap();
    let request = h.submit_and_read_back(12);
    let transfer = h.sent().await;
    h.answer(&transfer, "0000").await;
    let (reply, seen) = within(request).await.unwrap();
    assert_eq!((reply.outcome, seen.as_str()), (Outcome::Unknown, "sent"));
    assert!(
        reply.detail.contains("could not be recorded")
            && reply.detail.contains("injected journal failure"),
        "{}",
        reply.detail
    );
    assert_eq!(h.journaled(reply.tx_id).await.outcome, TxState::Sent);
}
