//! Actor-level tests: panic containment, and the timers (request deadline → unknown, result
//! inquiry delay and interval) on a paused clock, with the test standing in for the link.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::*;
use crate::clock::{SharedClock, StartedClock, SystemClock};
use crate::domain::{MsgKey, Resolution, TxState};
use crate::journal::{Journal, JournalCommit, JournalSync};
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
    use fep_testkit::sim::{Mode, SimConfig, Simulator};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let lean = SimConfig {
        mode: Mode::Lean,
        ..SimConfig::default()
    };
    let sim = Simulator::start_on(listener, lean).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = GatewaySettings {
        native_listen: "127.0.0.1:0".parse().unwrap(),
        http_listen: None,
        data_dir: dir.path().to_path_buf(),
        retention_days: 0,
        journal_sync: Default::default(),
        // The test stalls the journal through SQLite's write lock.
        journal_commit: JournalCommit::Sqlite,
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
    /// Holds the journal file (`journal_path`).
    dir: tempfile::TempDir,
}

impl Harness {
    /// Starts the actor, brings the link up and answers the sign-on.
    async fn signed_on(settings: InstitutionSettings) -> Harness {
        Harness::signed_on_at(settings, Arc::new(SystemClock)).await
    }

    /// [`Harness::signed_on`] on `clock`.
    async fn signed_on_at(settings: InstitutionSettings, clock: SharedClock) -> Harness {
        let mut h = Harness::start(settings, clock);
        h.connect(1).await;
        h
    }

    /// [`Harness::signed_on`] with SQLite as the journal's durability point (no log in front
    /// of it): for tests that make the journal stall or fail through SQLite.
    async fn signed_on_sqlite(settings: InstitutionSettings) -> Harness {
        let mut h = Harness::start_with(settings, Arc::new(SystemClock), JournalCommit::Sqlite);
        h.connect(1).await;
        h
    }

    /// Starts the actor with every link down.
    fn start(settings: InstitutionSettings, clock: SharedClock) -> Harness {
        Harness::start_with(settings, clock, JournalCommit::default())
    }

    fn start_with(
        settings: InstitutionSettings,
        clock: SharedClock,
        commit: JournalCommit,
    ) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let journal =
            Journal::open_mode(&dir.path().join("j.db"), JournalSync::Full, commit).unwrap();
        let (handle, events) = spawn(settings, journal.clone(), clock);
        let (_, wire) = mpsc::channel(1);
        Harness {
            handle,
            events,
            wire,
            journal,
            dir,
        }
    }

    /// Connection `conn` of link `link` comes up; returns what the actor writes to it.
    async fn up(&self, link: usize, conn: u64, can_send: bool) -> mpsc::Receiver<Bytes> {
        let (sender, wire) = mpsc::channel(64);
        self.event(LinkEvent::Up {
            link,
            conn,
            sender,
            can_send,
        })
        .await;
        wire
    }

    /// Connection `conn` of the link comes up; the sign-on on it is answered.
    async fn connect(&mut self, conn: u64) {
        self.wire = self.up(0, conn, true).await;
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

    /// Lets what is on its way run out — a 전문번호 block coming back from the journal, a
    /// telegram being journaled before it is written — so that whatever the actor would write
    /// now has been written: a few rounds of journal flush, yield and status barrier.
    async fn settle(&self) {
        for _ in 0..5 {
            within(self.journal.flush()).await.unwrap();
            tokio::task::yield_now().await;
            self.status().await;
        }
    }

    /// Status; also a barrier: the actor handles due timers before control messages.
    async fn status(&self) -> InstitutionStatus {
        within(self.handle.status()).await.expect("status")
    }

    fn key(&self, t: &[u8]) -> MsgKey {
        self.handle.profile().msg_key(t).unwrap()
    }

    /// Answers `request` (with its response type, e.g. 2000 → 2100) with response code `code`.
    async fn answer(&self, request: &[u8], code: &str) {
        let t = self.handle.profile().answer_to(request, code);
        self.frame(t).await;
    }

    /// Answers a result inquiry: the inquiry itself succeeded, the original's result is `result`.
    async fn answer_inquiry(&self, inquiry: &[u8], result: &str) {
        let p = self.handle.profile();
        let mut t = p.answer_to(inquiry, "0000");
        let rule = p.inquiry.as_ref().unwrap();
        rule.result.put_text(&mut t, result.as_bytes());
        self.frame(t).await;
    }

    async fn frame(&self, t: Vec<u8>) {
        self.frame_on(0, t).await;
    }

    async fn frame_on(&self, link: usize, t: Vec<u8>) {
        self.event(LinkEvent::Frame {
            link,
            // Not a connection the actor knows: answers go to any connection up.
            conn: 0,
            frame: Bytes::from(t),
        })
        .await;
    }

    /// (전송일자, 전송시간, 전문번호) of a telegram as stamped.
    fn stamp(&self, t: &[u8]) -> (u64, u64, u64) {
        let p = self.handle.profile();
        (
            p.send_date.digits(t).unwrap(),
            p.send_time.digits(t).unwrap(),
            p.msg_no.digits(t).unwrap(),
        )
    }

    /// Transaction `id` as journaled, once everything before is committed.
    async fn journaled(&self, id: u64) -> crate::journal::TxRecord {
        within(self.journal.flush()).await.unwrap();
        within(self.journal.get_tx(id)).await.unwrap().unwrap()
    }

    /// Asserts that nothing was written (after [`Harness::settle`]).
    async fn nothing_sent(&mut self) {
        self.settle().await;
        assert!(self.wire.try_recv().is_err(), "nothing is due yet");
    }
}

/// The one unknown of the test was resolved, as executed, in status and in the journal.
async fn resolved_as_executed(h: &Harness, tx_id: u64) {
    let status = h.status().await;
    assert_eq!(resolutions(&status.counters), (1, 1, 0, 0));
    assert_eq!(status.resolving, 0);
    let tx = h.journaled(tx_id).await;
    assert_eq!(
        (tx.outcome, tx.resolved),
        (TxState::Unknown, Some(Resolution::Ok))
    );
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
    let orig = h.handle.profile().inquiry_orig_no().unwrap();
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
    resolved_as_executed(&h, reply.tx_id).await;
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
    assert!(
        bad.detail
            .starts_with("bad request: no readable message key"),
        "{}",
        bad.detail
    );
    h.answer(&transfer, "0000").await;
    assert_eq!(within(first).await.unwrap().outcome, Outcome::Ok);
    let c = h.status().await.counters;
    assert_eq!((c.requests, c.ok, c.rejected), (3, 1, 2));
}

/// Split lines: a send link (0) we open and a recv link (1) the institution opens to us.
fn split_settings() -> InstitutionSettings {
    use crate::settings::{Direction, Role};
    let send = LinkSettings {
        name: "send".into(),
        role: Role::Outbound {
            connect: "127.0.0.1:9".parse().unwrap(),
        },
        direction: Direction::Send,
        mode: crate::settings::Mode::Persistent,
        tls: None,
    };
    let recv = LinkSettings {
        name: "recv".into(),
        role: Role::Inbound {
            listen: "127.0.0.1:0".parse().unwrap(),
            allowed_peers: Vec::new(),
        },
        direction: Direction::Recv,
        mode: crate::settings::Mode::Persistent,
        tls: None,
    };
    let mut s = InstitutionSettings::hecto("split", vec![send, recv]);
    s.request_timeout = Duration::from_secs(10);
    s
}

/// With the send link up and the recv line not yet, nothing is sent — the sign-on's answer
/// could not arrive — and requests are refused saying why; the sign-on goes out the moment the
/// recv line comes up, and its answer there makes the institution ready.
#[tokio::test(start_paused = true)]
async fn split_lines_sign_on_when_the_recv_line_comes_up() {
    let h = Harness::start(split_settings(), Arc::new(SystemClock));
    let mut send = h.up(0, 1, true).await;
    h.settle().await;
    let status = h.status().await;
    assert_eq!(status.session, SessionState::WaitingForRecv);
    assert!(send.try_recv().is_err(), "no sign-on without a recv path");
    let refused = within(
        h.handle
            .request(fep_testkit::samples::sample_telegram(1, false), None),
    )
    .await;
    assert_eq!(
        (refused.outcome, refused.detail),
        (Outcome::Rejected, RejectReason::NoRecvLink.to_string())
    );
    // The bank connects back 70 ms later: the sign-on goes out at once.
    tokio::time::advance(Duration::from_millis(70)).await;
    let _recv = h.up(1, 2, false).await;
    let sign_on = within(send.recv()).await.unwrap();
    assert_eq!(h.key(&sign_on), ("1000", "100"));
    assert_eq!(h.status().await.session, SessionState::SigningOn);
    let p = h.handle.profile();
    let answer = p.answer_to(&sign_on, "0000");
    h.frame_on(1, answer).await;
    let status = h.status().await;
    assert_eq!(status.session, SessionState::Ready);
    assert!(status.signed_on);
    // The first request after `ready` goes out.
    let request = h.submit(2);
    let transfer = within(send.recv()).await.unwrap();
    assert_eq!(h.key(&transfer), ("2000", "100"));
    let answer = p.answer_to(&transfer, "0000");
    h.frame_on(1, answer).await;
    assert_eq!(within(request).await.unwrap().outcome, Outcome::Ok);
}

/// An unanswered sign-on fails after `answer_timeout` and the next one waits a jittered
/// backoff that starts at `retry_min` and doubles (up to `retry_max`); a refusal backs off the
/// same way.
#[tokio::test(start_paused = true)]
async fn failed_sign_ons_are_retried_after_a_growing_jittered_backoff() {
    let mut s = settings();
    s.sign_on_policy = crate::settings::SignOnPolicy {
        retry_min: Duration::from_millis(500),
        retry_max: Duration::from_secs(30),
        answer_timeout: Duration::from_secs(2),
    };
    let mut h = Harness::start(s, Arc::new(SystemClock));
    h.wire = h.up(0, 1, true).await;
    let first = h.sent().await;
    assert_eq!(h.key(&first), ("1000", "100"));
    tokio::time::advance(Duration::from_millis(1_999)).await;
    h.nothing_sent().await;
    tokio::time::advance(Duration::from_millis(1)).await;
    let status = h.status().await;
    assert_eq!(
        (status.session, status.sign_on_failures),
        (SessionState::BackingOff, 1)
    );
    // Not at once: at least retry_min, at most 1.5 × retry_min.
    tokio::time::advance(Duration::from_millis(499)).await;
    h.nothing_sent().await;
    tokio::time::advance(Duration::from_millis(251)).await;
    let second = h.sent().await;
    assert_eq!(h.key(&second), ("1000", "100"));
    assert_ne!(h.stamp(&second).2, h.stamp(&first).2, "a new 전문번호");
    h.answer(&second, "A001").await;
    assert_eq!(h.status().await.sign_on_failures, 2);
    // Refused: the second backoff is 1 s to 1.5 s.
    tokio::time::advance(Duration::from_millis(999)).await;
    h.nothing_sent().await;
    tokio::time::advance(Duration::from_millis(501)).await;
    let third = h.sent().await;
    h.answer(&third, "0000").await;
    let status = h.status().await;
    assert_eq!(
        (status.session, status.sign_on_failures),
        (SessionState::Ready, 0)
    );
}

/// Shutdown: the sign-off goes out once the requests in flight are answered, and the
/// institution reports done (so the gateway may close the links) only when the sign-off's
/// answer came — or `answer_timeout` passed.
#[tokio::test(start_paused = true)]
async fn the_sign_off_follows_the_drain_and_its_answer_is_awaited() {
    let mut h = Harness::signed_on(settings()).await;
    let request = h.submit(7);
    let transfer = h.sent().await;
    let stopping = {
        let handle = h.handle.clone();
        tokio::spawn(async move { handle.shutdown(Duration::from_secs(5)).await })
    };
    h.nothing_sent().await;
    h.answer(&transfer, "0000").await;
    assert_eq!(within(request).await.unwrap().outcome, Outcome::Ok);
    let sign_off = h.sent().await;
    assert_eq!(h.key(&sign_off), ("1000", "200"));
    assert_eq!(h.status().await.session, SessionState::SigningOff);
    assert!(!stopping.is_finished(), "the answer is awaited");
    h.answer(&sign_off, "0000").await;
    within(stopping).await.unwrap();

    // Unanswered: done after answer_timeout (10 s), not before.
    let mut h = Harness::signed_on(settings()).await;
    let stopping = {
        let handle = h.handle.clone();
        tokio::spawn(async move { handle.shutdown(Duration::from_secs(5)).await })
    };
    let sign_off = h.sent().await;
    assert_eq!(h.key(&sign_off), ("1000", "200"));
    tokio::time::advance(Duration::from_millis(9_999)).await;
    assert_eq!(h.status().await.session, SessionState::SigningOff);
    assert!(!stopping.is_finished());
    tokio::time::advance(Duration::from_millis(1)).await;
    within(stopping).await.unwrap();
}

/// The clock of these tests: 2026-11-30 14:59:59.9 UTC, 100 ms before midnight in Seoul,
/// advancing with tokio's (paused) clock. The host's time zone plays no part.
fn before_seoul_midnight() -> SharedClock {
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-30T14:59:59.9Z").unwrap();
    Arc::new(StartedClock::new(start.with_timezone(&chrono::Utc)))
}

/// The new business date begins at the zone's midnight, not at a later check: with no
/// traffic, the new date's sign-on goes out at 00:00:00 with 전문번호 1; a request that arrives
/// before it is answered waits for it (nothing dated the new day leaves before the sign-on)
/// and then goes out with the new date, its own time and the next number.
#[tokio::test(start_paused = true)]
async fn the_date_changes_at_midnight_in_the_institutions_zone() {
    let mut h = Harness::signed_on_at(settings(), before_seoul_midnight()).await;
    let request = h.submit(1);
    let transfer = h.sent().await;
    assert_eq!(
        (h.stamp(&transfer).0, h.stamp(&transfer).1),
        (20261130, 235959)
    );
    h.answer(&transfer, "0000").await;
    assert_eq!(within(request).await.unwrap().outcome, Outcome::Ok);

    tokio::time::advance(Duration::from_millis(100)).await;
    let sign_on = h.sent().await;
    assert_eq!(h.key(&sign_on), ("1000", "100"));
    assert_eq!(
        h.stamp(&sign_on),
        (20261201, 0, 1),
        "the new date, numbered from 1"
    );
    let status = h.status().await;
    assert_eq!(
        (status.day, status.session),
        (20261201, SessionState::SigningOn)
    );

    tokio::time::advance(Duration::from_millis(30)).await;
    let held = h.submit(2);
    h.nothing_sent().await;
    h.answer(&sign_on, "0000").await;
    let transfer = h.sent().await;
    assert_eq!(h.stamp(&transfer), (20261201, 0, 2));
    h.answer(&transfer, "0000").await;
    assert_eq!(within(held).await.unwrap().outcome, Outcome::Ok);
}

/// A request held for the new date's sign-on is refused (never sent) when its own deadline
/// passes first.
#[tokio::test(start_paused = true)]
async fn a_request_held_for_the_new_dates_sign_on_is_refused_at_its_deadline() {
    let mut h = Harness::signed_on_at(settings(), before_seoul_midnight()).await;
    tokio::time::advance(Duration::from_millis(100)).await;
    let sign_on = h.sent().await;
    assert_eq!(h.key(&sign_on), ("1000", "100"));
    let held = {
        let handle = h.handle.clone();
        tokio::spawn(async move {
            handle
                .request(
                    fep_testkit::samples::sample_telegram(3, false),
                    Some(Duration::from_millis(800)),
                )
                .await
        })
    };
    h.nothing_sent().await;
    tokio::time::advance(Duration::from_millis(800)).await;
    let reply = within(held).await.unwrap();
    assert_eq!(
        (reply.outcome, reply.detail),
        (Outcome::Rejected, RejectReason::DateChange.to_string())
    );
    h.nothing_sent().await;
}

/// An institution in another zone stamps its own local date and time, and its date does not
/// change at Seoul's midnight.
#[tokio::test(start_paused = true)]
async fn stamps_are_read_in_the_institutions_zone() {
    let mut s = settings();
    s.time_zone = chrono_tz::America::New_York;
    let mut h = Harness::signed_on_at(s, before_seoul_midnight()).await;
    tokio::time::advance(Duration::from_millis(200)).await;
    let request = h.submit(4);
    let transfer = h.sent().await;
    assert_eq!(h.key(&transfer), ("2000", "100"));
    assert_eq!(
        (h.stamp(&transfer).0, h.stamp(&transfer).1),
        (20261130, 100000)
    );
    h.answer(&transfer, "0000").await;
    assert_eq!(within(request).await.unwrap().outcome, Outcome::Ok);
    let status = h.status().await;
    assert_eq!(
        (status.day, status.time_zone),
        (20261130, "America/New_York")
    );
}

/// A request already sent when the actor panicked is answered `unknown` and then resolved
/// like a timed-out one: its first result inquiry goes out `inquiry_delay` later.
#[tokio::test(start_paused = true)]
async fn a_panic_after_sending_starts_the_result_inquiry() {
    let mut h = Harness::signed_on(settings()).await;
    let request = h.submit(1);
    let transfer = h.sent().await;
    within(h.handle.control.send(Control::Panic)).await.unwrap();
    let reply = within(request).await.unwrap();
    assert_eq!(
        (reply.outcome, reply.detail.as_str()),
        (Outcome::Unknown, "institution task restarted after sending")
    );
    let status = h.status().await;
    assert_eq!((status.counters.restarts, status.counters.unknown), (1, 1));
    assert_eq!(status.resolving, 1, "being resolved");

    tokio::time::advance(Duration::from_secs(299)).await;
    h.nothing_sent().await;
    tokio::time::advance(Duration::from_secs(1)).await;
    let inquiry = h.sent().await;
    assert_eq!(h.key(&inquiry), ("7000", "100"));
    let orig = h.handle.profile().inquiry_orig_no().unwrap();
    assert_eq!(
        orig.text(&inquiry),
        h.handle.profile().msg_no.text(&transfer)
    );
    h.answer_inquiry(&inquiry, "0000").await;
    resolved_as_executed(&h, reply.tx_id).await;
}

/// A panic while handling one expired request loses none of the others that expired with it:
/// the supervisor answers them `unknown`, journals that and resolves them.
#[tokio::test(start_paused = true)]
async fn a_panic_while_expiring_loses_no_other_expired_request() {
    let mut h = Harness::signed_on(settings()).await;
    let requests: Vec<_> = (1..=3).map(|n| h.submit(n)).collect();
    for _ in 0..3 {
        h.sent().await;
    }
    within(h.handle.control.send(Control::PanicOnExpiry))
        .await
        .unwrap();
    assert_eq!(h.status().await.inflight, 3);
    tokio::time::advance(Duration::from_secs(10)).await;
    let mut restarted = Vec::new();
    for request in requests {
        let reply = within(request).await.unwrap();
        assert_eq!(reply.outcome, Outcome::Unknown);
        if reply.detail == "institution task restarted after sending" {
            restarted.push(reply.tx_id);
        }
    }
    assert_eq!(
        restarted.len(),
        2,
        "only the one being handled is cut short"
    );
    let status = h.status().await;
    assert_eq!((status.counters.restarts, status.counters.unknown), (1, 2));
    assert_eq!(status.resolving, 2);
    for id in restarted {
        assert_eq!(h.journaled(id).await.outcome, TxState::Unknown);
    }
}

/// A panic of the gateway says nothing about the institution: the breaker permits of the
/// requests in flight go back uncounted, and the breaker stays closed.
#[tokio::test(start_paused = true)]
async fn a_panic_does_not_count_against_the_breaker() {
    let mut s = settings();
    let config = crate::breaker::BreakerConfig {
        sliding_window_size: 2,
        minimum_number_of_calls: 2,
        ..Default::default()
    };
    s.breaker = Some(config.validated().unwrap());
    let mut h = Harness::signed_on(s).await;
    let requests: Vec<_> = (1..=4).map(|n| h.submit(n)).collect();
    for _ in 0..4 {
        h.sent().await;
    }
    within(h.handle.control.send(Control::Panic)).await.unwrap();
    for request in requests {
        assert_eq!(within(request).await.unwrap().outcome, Outcome::Unknown);
    }
    let status = h.status().await;
    assert_eq!(status.counters.restarts, 1);
    assert_eq!(status.breaker, "CLOSED");
    // And requests still go out.
    let request = h.submit(5);
    let transfer = h.sent().await;
    h.answer(&transfer, "0000").await;
    assert_eq!(within(request).await.unwrap().outcome, Outcome::Ok);
}

/// Requests refused at the handle (queue full) are counted in status as they are in
/// `fep_rejected_total`.
#[tokio::test(start_paused = true)]
async fn queue_full_refusals_are_counted_in_status_and_metrics_alike() {
    let prometheus = crate::http::prometheus().expect("the Prometheus recorder");
    let mut s = settings();
    s.name = "queue-full-count".into();
    s.max_inflight = 1;
    s.queue_depth = 1;
    let mut h = Harness::signed_on(s).await;
    let first = h.submit(1);
    let transfer = h.sent().await;
    // No room in flight: the second waits in the queue, which is then full.
    let second = h.submit(2);
    within(async {
        while h.handle.submit.capacity() > 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let third = within(
        h.handle
            .request(fep_testkit::samples::sample_telegram(3, false), None),
    )
    .await;
    assert_eq!(
        (third.outcome, third.detail),
        (Outcome::Rejected, RejectReason::QueueFull.to_string())
    );
    h.answer(&transfer, "0000").await;
    assert_eq!(within(first).await.unwrap().outcome, Outcome::Ok);
    let transfer = h.sent().await;
    h.answer(&transfer, "0000").await;
    assert_eq!(within(second).await.unwrap().outcome, Outcome::Ok);

    let status = h.status().await;
    let metric: f64 = prometheus
        .render()
        .lines()
        .filter(|l| {
            l.starts_with("fep_rejected_total{") && l.contains("institution=\"queue-full-count\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(status.counters.rejected, 1);
    assert_eq!(metric, 1.0, "fep_rejected_total agrees with status");
}

/// Two connections accepted on one inbound recv link both stay up and both carry answers; one
/// closing leaves the link up on the other.
#[tokio::test(start_paused = true)]
async fn two_connections_on_an_inbound_recv_link_both_carry_answers() {
    let h = Harness::start(split_settings(), Arc::new(SystemClock));
    let mut send = h.up(0, 1, true).await;
    let first = h.up(1, 2, false).await;
    let second = h.up(1, 3, false).await;
    h.status().await;
    assert!(
        !first.is_closed(),
        "the second connection leaves the first up"
    );
    let p = h.handle.profile().clone();
    let answer = |t: &Bytes, _response: &[u8]| p.answer_to(t, "0000");
    let sign_on = within(send.recv()).await.unwrap();
    h.event(LinkEvent::Frame {
        link: 1,
        conn: 2,
        frame: Bytes::from(answer(&sign_on, b"1100")),
    })
    .await;
    assert_eq!(h.status().await.session, SessionState::Ready);
    for (n, conn) in [(1, 2), (2, 3)] {
        let request = h.submit(n);
        let transfer = within(send.recv()).await.unwrap();
        h.event(LinkEvent::Frame {
            link: 1,
            conn,
            frame: Bytes::from(answer(&transfer, b"2100")),
        })
        .await;
        assert_eq!(within(request).await.unwrap().outcome, Outcome::Ok);
    }
    // The first closes: the link stays up on the second.
    h.event(LinkEvent::Down { link: 1, conn: 2 }).await;
    let status = h.status().await;
    assert_eq!(status.links[1].state, LinkState::Up);
    assert_eq!(status.session, SessionState::Ready);
    assert!(!second.is_closed());
    let request = h.submit(3);
    let transfer = within(send.recv()).await.unwrap();
    h.event(LinkEvent::Frame {
        link: 1,
        conn: 3,
        frame: Bytes::from(answer(&transfer, b"2100")),
    })
    .await;
    assert_eq!(within(request).await.unwrap().outcome, Outcome::Ok);
}

impl Harness {
    /// The journal file, for reading or stalling it beside the writer.
    fn journal_path(&self) -> std::path::PathBuf {
        self.dir.path().join("j.db")
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
    let mut h = Harness::signed_on_sqlite(settings()).await;
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
    let mut h = Harness::signed_on_sqlite(settings()).await;
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

/// A family whose `[session] test_call` asks for an ordinary telegram on an idle session:
/// sent after the idle time without traffic, not before, and not again while awaited; traffic
/// pushes it back.
#[tokio::test(start_paused = true)]
async fn an_idle_session_gets_the_familys_test_call() {
    let toml = fep_specs::HECTO_TOML.replace(
        "sign_off_when = [\"shutdown\"]",
        "sign_off_when = [\"shutdown\"]\ntest_call = { key = [\"1000\", \"500\"], idle_secs = 60 }",
    );
    let family = fep_codec::spec::Family::from_toml_str(&toml).unwrap();
    let mut s = settings();
    s.profile = crate::profile::Profile::from_family(&family, &[]).unwrap();
    let mut h = Harness::signed_on(s).await;
    tokio::time::advance(Duration::from_secs(59)).await;
    h.nothing_sent().await;
    tokio::time::advance(Duration::from_secs(1)).await;
    let call = h.sent().await;
    assert_eq!(h.key(&call), ("1000", "500"));
    // Awaited: no second one, however long it stays unanswered within its timeout.
    tokio::time::advance(Duration::from_secs(2)).await;
    h.nothing_sent().await;
    h.answer(&call, "0000").await;
    // A barrier: the actor has taken the answer before time moves on.
    assert_eq!(h.status().await.counters.unmatched, 0);
    // The answer was traffic: the next is due 60 s after it.
    tokio::time::advance(Duration::from_secs(59)).await;
    h.nothing_sent().await;
    tokio::time::advance(Duration::from_secs(1)).await;
    let again = h.sent().await;
    assert_eq!(h.key(&again), ("1000", "500"));
}

/// With `[institution.encryption]`, what crosses the wire is the encrypted telegram (the
/// header in clear, the body ARIA-256-CBC), what the caller gets is clear, and a frame that
/// does not decrypt is ignored, never answered.
#[tokio::test(start_paused = true)]
async fn an_encrypted_institution_sees_only_ciphertext() {
    use crate::crypto::{
        Algorithm, CipherConfig, EncryptionSettings, IvSource, Mode, Padding, Scope, SecretKey,
        TelegramCipher,
    };
    let config = CipherConfig {
        algorithm: Algorithm::Aria256,
        mode: Mode::Cbc,
        padding: Padding::Pkcs7,
        key: SecretKey::new((1..=32).collect()),
        iv: IvSource::Fixed([7; 16]),
    };
    let cipher = TelegramCipher::new(&config, Scope::Body { offset: 100 }).unwrap();
    let mut s = settings();
    s.encryption = Some(EncryptionSettings {
        cipher: cipher.clone(),
        journal_plaintext: true,
    });
    let mut h = Harness::signed_on(s).await;
    let request = h.submit(7);
    let wire = h.sent().await;
    let clear = fep_testkit::samples::sample_telegram(7, false);
    assert_eq!(wire.len(), 100 + 208, "the body padded to whole blocks");
    assert_ne!(
        &wire[100..300],
        &clear[100..300],
        "the body is not in clear"
    );
    assert_eq!(&cipher.decrypt(&wire).unwrap()[100..], &clear[100..]);
    // The institution answers in kind; the caller reads the clear answer.
    h.answer(&wire, "0000").await;
    let reply = within(request).await.unwrap();
    assert_eq!(reply.outcome, Outcome::Ok, "{reply:?}");
    assert_eq!(&reply.telegram[100..], &clear[100..]);
    // The journal keeps what was on the wire, and (journal_plaintext) the clear view beside.
    within(h.journal.flush()).await.unwrap();
    let db = rusqlite::Connection::open(h.journal_path()).unwrap();
    let raw = |direction: &str| -> Vec<u8> {
        db.query_row(
            "SELECT raw FROM telegrams WHERE direction = ?1 AND msg_type = '2000/100'",
            [direction],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(raw("out"), wire.to_vec());
    assert_eq!(&raw("out_plain")[100..], &clear[100..]);
    // Garbage where ciphertext belongs: counted, not answered.
    let mut notice = h.handle.profile().admin(&"4000/100".parse().unwrap());
    notice.extend_from_slice(&[0u8; 5]);
    h.frame(notice).await;
    h.nothing_sent().await;
    assert_eq!(h.status().await.counters.notices, 0);
    assert_eq!(h.status().await.counters.unmatched, 1);
}

/// A rotated key (SIGHUP reads the key files again) is used from the next telegram on, on the
/// same link: nothing is reconnected.
#[tokio::test(start_paused = true)]
async fn a_rotated_key_seals_the_next_telegram() {
    use crate::crypto::{
        Algorithm, CipherConfig, EncryptionSettings, IvSource, Mode, Padding, Scope, SecretKey,
        TelegramCipher,
    };
    let cipher = |first: u8| {
        let config = CipherConfig {
            algorithm: Algorithm::Aes256,
            mode: Mode::Ctr,
            padding: Padding::None,
            key: SecretKey::new((first..first + 32).collect()),
            iv: IvSource::Fixed([3; 16]),
        };
        TelegramCipher::new(&config, Scope::Body { offset: 100 }).unwrap()
    };
    let (old, new) = (cipher(1), cipher(101));
    let mut s = settings();
    s.encryption = Some(EncryptionSettings {
        cipher: old.clone(),
        journal_plaintext: false,
    });
    let mut h = Harness::signed_on(s).await;
    let clear = fep_testkit::samples::sample_telegram(1, false);
    let _first = h.submit(1);
    let wire = h.sent().await;
    assert_eq!(&old.decrypt(&wire).unwrap()[100..], &clear[100..]);
    assert!(
        h.handle
            .set_cipher(Some(EncryptionSettings {
                cipher: new.clone(),
                journal_plaintext: false,
            }))
            .await
    );
    let clear = fep_testkit::samples::sample_telegram(2, false);
    let _second = h.submit(2);
    let wire = h.sent().await;
    assert_eq!(&new.decrypt(&wire).unwrap()[100..], &clear[100..]);
    assert_ne!(&old.decrypt(&wire).unwrap()[100..], &clear[100..]);
}

/// A response of the wrong type carrying a request's correlation key does not settle it: the
/// family pairs 2000/100 with 2100/100 only.
#[tokio::test(start_paused = true)]
async fn a_response_of_another_type_does_not_settle_the_request() {
    let mut h = Harness::signed_on(settings()).await;
    let request = h.submit(3);
    let transfer = h.sent().await;
    let mut wrong = h.handle.profile().answer_to(&transfer, "0000");
    wrong[24..28].copy_from_slice(b"7100");
    h.frame(wrong).await;
    let status = h.status().await;
    assert_eq!(
        (status.counters.unmatched, status.inflight),
        (1, 1),
        "{status:?}"
    );
    h.answer(&transfer, "0000").await;
    assert_eq!(within(request).await.unwrap().outcome, Outcome::Ok);
}
