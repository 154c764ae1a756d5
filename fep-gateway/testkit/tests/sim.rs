//! The simulated Hecto bank over real TCP with the real framing: every wait is bounded.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use fep_client::framing::{FrameCodec, Framing};
use fep_codec::Telegram;
use fep_specs::hecto::{
    self, AccountNameInquiry, AdminMessage, BalanceInquiry, DepositNotice, HectoHeader,
    HectoMessage, Poll, Transfer, TransferResultInquiry,
};
use fep_testkit::sim::{Answer, SimConfig, SimError, SimHandle, Simulator};
use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::time::{timeout, Instant};
use tokio_util::codec::Framed;

const DATE: &str = "20261123";
const WAIT: Duration = Duration::from_secs(5);

struct Client {
    conn: Framed<TcpStream, FrameCodec>,
}

fn codec() -> FrameCodec {
    FrameCodec::new(Framing::hecto(), 4096).expect("codec")
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let stream = timeout(WAIT, TcpStream::connect(addr))
            .await
            .expect("connect timed out")
            .expect("connect");
        Client {
            conn: Framed::new(stream, codec()),
        }
    }

    fn from_stream(stream: TcpStream) -> Client {
        Client {
            conn: Framed::new(stream, codec()),
        }
    }

    async fn send(&mut self, frame: Vec<u8>) {
        timeout(WAIT, self.conn.send(Bytes::from(frame)))
            .await
            .expect("send timed out")
            .expect("send");
    }

    /// The next frame within `limit`, or `None` on timeout; panics if the connection closes.
    async fn recv_within(&mut self, limit: Duration) -> Option<Bytes> {
        match timeout(limit, self.conn.next()).await {
            Ok(Some(Ok(f))) => Some(f),
            Ok(other) => panic!("connection ended: {other:?}"),
            Err(_) => None,
        }
    }

    async fn recv(&mut self) -> Bytes {
        self.recv_within(WAIT)
            .await
            .expect("no frame within the deadline")
    }

    /// The next telegram that is not a poll.
    async fn recv_msg(&mut self) -> HectoMessage {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let f = self.recv_within(left).await.expect("no telegram in time");
            if hecto::is_poll(&f) {
                continue;
            }
            return HectoMessage::decode(&f).expect("decodable telegram");
        }
    }

    /// Whether the peer closed the connection within `limit`.
    async fn closed_within(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match timeout(left, self.conn.next()).await {
                Ok(None) | Ok(Some(Err(_))) => return true,
                Ok(Some(Ok(_))) => continue,
                Err(_) => return false,
            }
        }
    }
}

fn header(msg_type: &str, biz: &str, msg_no: u32) -> HectoHeader {
    HectoHeader {
        id_code: hecto::ID_CODE.into(),
        company_no: "TESTCO".into(),
        bank_code: "004".into(),
        msg_type: msg_type.into(),
        biz_type: biz.into(),
        send_count: 1,
        msg_no,
        send_date: DATE.into(),
        send_time: "093000".into(),
        reserved1: "ECHO1".into(),
        ..HectoHeader::default()
    }
}

fn admin(biz: &str, msg_no: u32) -> Vec<u8> {
    AdminMessage {
        header: header("1000", biz, msg_no),
        filler: String::new(),
    }
    .encode()
    .expect("encode admin")
}

fn transfer(msg_no: u32, amount: u64) -> Vec<u8> {
    Transfer {
        header: header("2000", "100", msg_no),
        wd_account: "110123456789".into(),
        amount,
        dep_bank: "088".into(),
        dep_account: "333012345678".into(),
        memo: "급여".into(),
        dep_holder: "홍길동".into(),
        ..Transfer::default()
    }
    .encode()
    .expect("encode transfer")
}

fn inquiry(msg_no: u32, orig: u32) -> Vec<u8> {
    TransferResultInquiry {
        header: header("7000", "100", msg_no),
        orig_msg_no: orig,
        wd_account: "110123456789".into(),
        ..TransferResultInquiry::default()
    }
    .encode()
    .expect("encode inquiry")
}

/// A simulator on a listener bound here: its address is known before it starts.
async fn start(cfg: SimConfig) -> SimHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    Simulator::start_on(listener, cfg).expect("start simulator")
}

/// Waits (bounded) until `cond` holds; panics naming `what` otherwise.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn sign_on(c: &mut Client, msg_no: u32) {
    c.send(admin("100", msg_no)).await;
    match c.recv_msg().await {
        HectoMessage::SignOnResponse(m) => assert_eq!(m.header.resp_code, "0000"),
        other => panic!("expected 1100/100, got {other:?}"),
    }
}

fn transfer_response(m: HectoMessage) -> Transfer {
    match m {
        HectoMessage::TransferResponse(t) => t,
        other => panic!("expected 2100/100, got {other:?}"),
    }
}

fn inquiry_response(m: HectoMessage) -> TransferResultInquiry {
    match m {
        HectoMessage::TransferResultInquiryResponse(t) => t,
        other => panic!("expected 7100/100, got {other:?}"),
    }
}

#[tokio::test]
async fn admin_messages_are_answered() {
    let sim = start(SimConfig::default()).await;
    let mut c = Client::connect(sim.addr()).await;
    c.send(admin("100", 1)).await;
    let HectoMessage::SignOnResponse(r) = c.recv_msg().await else {
        panic!("expected sign-on response")
    };
    let mut want = header("1100", "100", 1);
    want.resp_code = "0000".into();
    assert_eq!(
        r.header, want,
        "request header with msg_type + 100 and code"
    );
    assert!(sim.signed_on());

    c.send(admin("500", 2)).await;
    assert!(
        matches!(c.recv_msg().await, HectoMessage::TestCallResponse(m) if m.header.resp_code == "0000")
    );
    c.send(admin("200", 3)).await;
    assert!(
        matches!(c.recv_msg().await, HectoMessage::SignOffResponse(m) if m.header.resp_code == "0000")
    );
    assert!(!sim.signed_on());
    let s = sim.stats();
    assert_eq!((s.sign_ons, s.sign_offs, s.connections), (1, 1, 1));
    assert_eq!(s.requests_of("1000/500"), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn polls_are_echoed_and_idle_sessions_polled() {
    let sim = start(SimConfig {
        poll_interval_ms: Some(150),
        ..SimConfig::default()
    })
    .await;
    let mut c = Client::connect(sim.addr()).await;
    c.send(Poll::request("1123094501").encode().expect("poll"))
        .await;
    let r = c.recv().await;
    assert_eq!(&r[..], b"HDRRESPOLL1123094501");

    // Idle: the simulator polls us; we answer.
    let f = c.recv().await;
    let p = Poll::decode(&f).expect("poll from simulator");
    assert!(p.is_request(), "{p:?}");
    c.send(Poll::response_to(&p).encode().expect("poll answer"))
        .await;
    until("the poll answer counted", || sim.stats().poll_responses > 0).await;
    let s = sim.stats();
    assert_eq!(s.polls_received, 1);
    assert!(s.polls_sent >= 1 && s.poll_responses >= 1, "{s:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn transfer_ok_fills_balance_and_fee() {
    let sim = start(SimConfig {
        latency_ms: "2..10".into(),
        initial_balance: 1_000_000,
        ..SimConfig::default()
    })
    .await;
    let mut c = Client::connect(sim.addr()).await;
    sign_on(&mut c, 1).await;
    c.send(transfer(2, 10_000)).await;
    let r = transfer_response(c.recv_msg().await);
    let mut want = header("2100", "100", 2);
    want.resp_code = "0000".into();
    assert_eq!(r.header, want);
    assert_eq!(r.amount, 10_000);
    assert_eq!(r.fee, Some(500), "타행 (088 ≠ 004) fee");
    assert_eq!(r.balance, Some(1_000_000 - 10_000 - 500));
    assert_eq!(r.bal_sign, "+");
    assert_eq!(r.dep_holder, "홍길동", "request fields are echoed");
    let t = sim.true_outcome(DATE, 2).expect("recorded");
    assert!(t.executed);
    assert_eq!(
        (t.result.as_str(), t.answered.as_deref()),
        ("0000", Some("0000"))
    );
    assert_eq!(sim.balance(), 1_000_000 - 10_500);

    // Balance and name inquiries.
    let q = BalanceInquiry {
        header: header("7000", "200", 3),
        account: "110123456789".into(),
        ..BalanceInquiry::default()
    };
    c.send(q.encode().expect("encode")).await;
    let HectoMessage::BalanceInquiryResponse(b) = c.recv_msg().await else {
        panic!("expected 7100/200")
    };
    assert_eq!(b.ledger_balance, Some(989_500));
    let n = AccountNameInquiry {
        header: header("6000", "100", 4),
        account: "333012345678".into(),
        ..AccountNameInquiry::default()
    };
    c.send(n.encode().expect("encode")).await;
    let HectoMessage::AccountNameInquiryResponse(n) = c.recv_msg().await else {
        panic!("expected 6100/100")
    };
    assert_eq!(n.header.resp_code, "0000");
    assert!(
        !n.holder1.is_empty() && !n.holder1.is_ascii(),
        "{:?}",
        n.holder1
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn decline_rate_one_declines() {
    let sim = start(SimConfig {
        decline_rate: 1.0,
        ..SimConfig::default()
    })
    .await;
    let mut c = Client::connect(sim.addr()).await;
    c.send(transfer(7, 5_000)).await;
    let r = transfer_response(c.recv_msg().await);
    assert_eq!(r.header.resp_code, hecto::RESP_LIMIT_PER_TX);
    assert_eq!((r.balance, r.fee), (None, None));
    let t = sim.true_outcome(DATE, 7).expect("recorded");
    assert!(!t.executed);
    assert_eq!(t.result, "SB02");
    assert_eq!(sim.stats().responses_with("SB02"), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn reused_msg_no_is_refused_without_executing() {
    let sim = start(SimConfig {
        initial_balance: 100_000,
        ..SimConfig::default()
    })
    .await;
    let mut c = Client::connect(sim.addr()).await;
    c.send(transfer(11, 1_000)).await;
    assert_eq!(
        transfer_response(c.recv_msg().await).header.resp_code,
        "0000"
    );
    let after_first = sim.balance();
    c.send(transfer(11, 9_000)).await;
    let r = transfer_response(c.recv_msg().await);
    assert_eq!(r.header.resp_code, "SB09");
    assert_eq!(r.header.msg_no, 11);
    assert_eq!(sim.balance(), after_first, "not executed");
    assert_eq!(sim.true_outcome(DATE, 11).expect("first").amount, 1_000);
    assert_eq!(sim.stats().duplicates_rejected, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_answer_then_inquiry_reveals_truth() {
    let sim = start(SimConfig {
        unknown_rate: 1.0,
        unknown_codes: vec!["VTIM".into()],
        seed: 5,
        ..SimConfig::default()
    })
    .await;
    let mut c = Client::connect(sim.addr()).await;
    let mut executed = 0;
    for n in 1..=12u32 {
        c.send(transfer(n, 1_000 + u64::from(n))).await;
        let r = transfer_response(c.recv_msg().await);
        assert_eq!(r.header.resp_code, "VTIM");
        c.send(inquiry(100 + n, n)).await;
        let q = inquiry_response(c.recv_msg().await);
        assert_eq!(q.header.resp_code, "0000");
        assert_eq!(q.header.msg_no, 100 + n);
        let t = sim.true_outcome(DATE, n).expect("recorded");
        assert_eq!(t.answered.as_deref(), Some("VTIM"));
        assert_eq!(q.result, t.result, "inquiry reveals the true outcome");
        assert_eq!(q.req_amount, Some(1_000 + u64::from(n)));
        if t.executed {
            executed += 1;
            assert_eq!(q.ok_amount, Some(1_000 + u64::from(n)));
        } else {
            assert_eq!(q.result, "SB02");
            assert_eq!(q.ok_amount, Some(0));
        }
    }
    assert!(
        executed > 0 && executed < 12,
        "both truths occur: {executed}"
    );
    assert_eq!(sim.stats().inquiries_answered, 12);
    sim.shutdown().await;
}

#[tokio::test]
async fn no_response_then_inquiry_reveals_executed() {
    let sim = start(SimConfig {
        no_response_rate: 1.0,
        ..SimConfig::default()
    })
    .await;
    let mut c = Client::connect(sim.addr()).await;
    c.send(transfer(21, 3_000)).await;
    assert!(
        c.recv_within(Duration::from_millis(300)).await.is_none(),
        "no answer expected"
    );
    c.send(inquiry(22, 21)).await;
    let q = inquiry_response(c.recv_msg().await);
    assert_eq!(q.result, "0000");
    assert_eq!(q.ok_amount, Some(3_000));
    let t = sim.true_outcome(DATE, 21).expect("recorded");
    assert!(t.executed && t.answered.is_none());
    assert_eq!(sim.stats().no_responses, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn inquiry_for_never_sent_number_is_nrec() {
    let sim = start(SimConfig::default()).await;
    let mut c = Client::connect(sim.addr()).await;
    c.send(inquiry(31, 999)).await;
    let q = inquiry_response(c.recv_msg().await);
    assert_eq!(q.header.resp_code, "0000");
    assert_eq!(q.result, hecto::RESULT_NO_RECORD);
    assert!(sim.true_outcome(DATE, 999).is_none());
    assert_eq!(sim.stats().inquiries_not_found, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn inquiry_can_answer_in_progress() {
    let sim = start(SimConfig {
        inquiry_in_progress_rate: 1.0,
        in_progress_codes: vec!["U726".into()],
        ..SimConfig::default()
    })
    .await;
    let mut c = Client::connect(sim.addr()).await;
    c.send(transfer(41, 1_000)).await;
    transfer_response(c.recv_msg().await);
    c.send(inquiry(42, 41)).await;
    assert_eq!(inquiry_response(c.recv_msg().await).result, "U726");
    assert_eq!(sim.stats().inquiries_in_progress, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn split_lines_answer_on_the_connect_back_connection() {
    let back = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let sim = start(SimConfig {
        connect_back: Some(back.local_addr().expect("addr")),
        latency_ms: "1".into(),
        ..SimConfig::default()
    })
    .await;
    let (stream, _) = timeout(WAIT, back.accept())
        .await
        .expect("simulator connects back")
        .expect("accept");
    let mut recv = Client::from_stream(stream);
    until("the connect-back line is up", || sim.connected_back()).await;
    let mut send = Client::connect(sim.addr()).await;
    send.send(admin("100", 1)).await;
    assert!(matches!(
        recv.recv_msg().await,
        HectoMessage::SignOnResponse(_)
    ));
    send.send(transfer(2, 1_000)).await;
    let r = transfer_response(recv.recv_msg().await);
    assert_eq!((r.header.msg_no, r.header.resp_code.as_str()), (2, "0000"));
    // Polls stay on their own session.
    send.send(Poll::request("1123100000").encode().expect("poll"))
        .await;
    assert_eq!(&send.recv().await[..], b"HDRRESPOLL1123100000");
    assert!(
        send.recv_within(Duration::from_millis(200)).await.is_none(),
        "nothing but the poll answer on the request line"
    );
    assert_eq!(sim.stats().connect_backs, 1);
    sim.shutdown().await;
}

fn notice_of(f: &[u8]) -> Option<DepositNotice> {
    match HectoMessage::decode(f) {
        Ok(HectoMessage::DepositNoticeRequest(n)) => Some(n),
        _ => None,
    }
}

fn ack(n: &DepositNotice) -> Vec<u8> {
    DepositNotice {
        header: n.header.to_response("0000").expect("request"),
        ..n.clone()
    }
    .encode()
    .expect("ack")
}

/// Collects deposit notices for `dur`, acknowledging those `ack_it` accepts.
async fn collect_notices(
    c: &mut Client,
    dur: Duration,
    mut ack_it: impl FnMut(&DepositNotice) -> bool,
) -> Vec<(DepositNotice, Bytes)> {
    let deadline = Instant::now() + dur;
    let mut out = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return out;
        }
        let Some(f) = c.recv_within(left).await else {
            return out;
        };
        if let Some(n) = notice_of(&f) {
            if ack_it(&n) {
                c.send(ack(&n)).await;
            }
            out.push((n, f));
        }
    }
}

#[tokio::test]
async fn notices_are_resent_until_acked() {
    let sim = start(SimConfig {
        notice_interval_ms: Some(100),
        notice_ack_timeout_ms: 250,
        notice_max_resends: 100,
        ..SimConfig::default()
    })
    .await;
    let mut c = Client::connect(sim.addr()).await;
    sign_on(&mut c, 1).await;
    // Never acknowledge notice 1; acknowledge every other notice on sight.
    let got = collect_notices(&mut c, Duration::from_millis(1200), |n| {
        n.header.msg_no != 1
    })
    .await;
    let firsts: Vec<_> = got.iter().filter(|(n, _)| n.header.msg_no == 1).collect();
    assert!(firsts.len() >= 2, "notice 1 resent: {}", firsts.len());
    assert!(
        firsts.iter().all(|(_, f)| f == &firsts[0].1),
        "a resend is byte-identical, same 전문번호"
    );
    let n = &firsts[0].0;
    assert_eq!(n.header.msg_type, "4000");
    assert!(!n.counterparty_name.is_ascii(), "{:?}", n.counterparty_name);
    assert!(!n.header.reserved1.is_empty());
    assert_eq!(n.header.company_no, "TESTCO", "learned from the sign-on");
    let mut per_no: BTreeMap<u32, usize> = BTreeMap::new();
    for (n, _) in &got {
        *per_no.entry(n.header.msg_no).or_default() += 1;
    }
    let acked_resent = per_no.iter().filter(|(no, k)| **no != 1 && **k > 1).count();
    assert_eq!(
        acked_resent, 0,
        "acknowledged notices are not resent: {per_no:?}"
    );
    assert!(per_no.len() >= 3, "new notices keep coming: {per_no:?}");
    let numbers: Vec<u32> = per_no.keys().copied().collect();
    assert_eq!(numbers, (1..=numbers.len() as u32).collect::<Vec<_>>());

    // Acknowledge notice 1 now: the resends stop.
    c.send(ack(n)).await;
    let later = collect_notices(&mut c, Duration::from_millis(700), |_| true).await;
    assert!(
        later.iter().all(|(m, _)| m.header.msg_no != 1),
        "notice 1 resent after ack"
    );
    let s = sim.stats();
    assert!(s.notices_resent >= 1 && s.notices_acked >= 3, "{s:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn ack_without_echo_is_not_an_ack() {
    let sim = start(SimConfig {
        notice_interval_ms: Some(300),
        notice_ack_timeout_ms: 200,
        notice_max_resends: 100,
        ..SimConfig::default()
    })
    .await;
    let mut c = Client::connect(sim.addr()).await;
    sign_on(&mut c, 1).await;
    let got = collect_notices(&mut c, Duration::from_millis(500), |_| false).await;
    let (n, _) = got.first().expect("a notice");
    // Acknowledge without echoing 예비영역: the bank keeps resending.
    let mut wrong = n.clone();
    wrong.header = n.header.to_response("0000").expect("request");
    wrong.header.reserved1 = String::new();
    c.send(wrong.encode().expect("encode")).await;
    let again = collect_notices(&mut c, Duration::from_millis(600), |_| false).await;
    assert!(
        again
            .iter()
            .any(|(m, _)| m.header.msg_no == n.header.msg_no),
        "still resent"
    );
    assert!(sim.stats().notice_acks_bad >= 1);
    assert!(sim.pending_notices() >= 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn unreadable_frames() {
    let sim = start(SimConfig::default()).await;
    let mut c = Client::connect(sim.addr()).await;
    // Readable header, unknown message type: 0001.
    let mut odd = header("9000", "100", 5).encode().expect("header");
    odd.extend_from_slice(&[b' '; 200]);
    c.send(odd).await;
    let f = c.recv().await;
    let h = HectoHeader::decode(&f[..100]).expect("header");
    assert_eq!(
        (h.msg_type.as_str(), h.resp_code.as_str()),
        ("9100", "0001")
    );
    // Known type, undecodable body (letters in 출금금액): 0001.
    let mut bad = transfer(6, 1);
    bad[129..142].copy_from_slice(b"ABCDEFGHIJKLM");
    c.send(bad).await;
    let f = c.recv().await;
    let h = HectoHeader::decode(&f[..100]).expect("header");
    assert_eq!(
        (h.msg_type.as_str(), h.resp_code.as_str(), h.msg_no),
        ("2100", "0001", 6)
    );
    // Unreadable header: the connection is dropped.
    c.send(vec![b'#'; 300]).await;
    assert!(c.closed_within(WAIT).await, "connection dropped");
    let s = sim.stats();
    assert_eq!((s.bad_frames, s.dropped_connections), (2, 1));
    sim.shutdown().await;
}

async fn outcomes(seed: u64) -> Vec<(Option<String>, String)> {
    let sim = start(SimConfig {
        seed,
        decline_rate: 0.25,
        unknown_rate: 0.25,
        no_response_rate: 0.1,
        latency_ms: "0..3".into(),
        ..SimConfig::default()
    })
    .await;
    let mut c = Client::connect(sim.addr()).await;
    for n in 1..=40u32 {
        c.send(transfer(n, 1_000)).await;
    }
    // Wait until every answered transfer has been answered.
    let deadline = Instant::now() + WAIT;
    let mut answered = 0;
    let expected = loop {
        let s = sim.stats();
        let want = 40 - s.no_responses;
        if s.requests_of("2000/100") == 40 && answered >= want {
            break want;
        }
        assert!(Instant::now() < deadline, "answers did not arrive");
        if c.recv_within(Duration::from_millis(50)).await.is_some() {
            answered += 1;
        }
    };
    assert_eq!(answered, expected);
    let out = (1..=40u32)
        .map(|n| {
            let t = sim.true_outcome(DATE, n).expect("recorded");
            (t.answered, t.result)
        })
        .collect();
    sim.shutdown().await;
    out
}

#[tokio::test]
async fn same_seed_same_outcomes() {
    let a = outcomes(77).await;
    let b = outcomes(77).await;
    let other = outcomes(78).await;
    assert_eq!(a, b);
    assert_ne!(a, other, "another seed draws differently");
    let kinds = |v: &[(Option<String>, String)]| {
        (
            v.iter().filter(|(a, _)| a.is_none()).count(),
            v.iter()
                .filter(|(a, _)| a.as_deref() == Some("SB02"))
                .count(),
            v.iter()
                .filter(|(a, _)| a.as_deref() == Some("0000"))
                .count(),
        )
    };
    let (none, declined, ok) = kinds(&a);
    assert!(none > 0 && declined > 0 && ok > 0, "{a:?}");
}

#[tokio::test]
async fn run_stops_on_shutdown_future() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut task = tokio::spawn(fep_testkit::sim::run(SimConfig::default(), async move {
        let _ = rx.await;
    }));
    // Nothing but the shutdown future ends it (a negative check, bounded).
    assert!(
        timeout(Duration::from_millis(200), &mut task)
            .await
            .is_err(),
        "run returned before its shutdown future"
    );
    let _ = tx.send(());
    let stats = timeout(WAIT, task)
        .await
        .expect("run returned")
        .expect("join")
        .expect("run ok");
    assert_eq!(stats.connections, 0);
}

#[tokio::test]
async fn split_lines_hold_responses_until_connected_back() {
    // The gateway's inbound port, bound but not yet listening: connecting to it is refused.
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let sim = start(SimConfig {
        connect_back: Some(socket.local_addr().expect("addr")),
        ..SimConfig::default()
    })
    .await;
    let mut send = Client::connect(sim.addr()).await;
    // The gateway's sign-on arrives before its inbound listener is up.
    send.send(admin("100", 1)).await;
    until("the answer held while connecting back fails", || {
        let s = sim.stats();
        s.responses_held == 1 && s.connect_back_failures >= 1
    })
    .await;
    assert!(!sim.connected_back());
    let back = socket.listen(16).expect("listen");
    let (stream, _) = timeout(WAIT, back.accept())
        .await
        .expect("simulator connects back")
        .expect("accept");
    let mut recv = Client::from_stream(stream);
    assert!(matches!(
        recv.recv_msg().await,
        HectoMessage::SignOnResponse(m) if m.header.msg_no == 1
    ));
    assert_eq!(sim.stats().responses_with("0000"), 1);
    sim.shutdown().await;
}

/// A deposit notice of the test's making (not one the simulator owes).
fn test_notice(msg_no: u32) -> Vec<u8> {
    DepositNotice {
        header: HectoHeader {
            msg_type: "4000".into(),
            ..header("4000", "100", msg_no)
        },
        account: "110123456789".into(),
        amount: 150_000,
        tx_date: DATE.into(),
        tx_time: "093000".into(),
        ..DepositNotice::default()
    }
    .encode()
    .expect("encode notice")
}

#[tokio::test]
async fn scripted_answers_black_hole_slow_and_decline() {
    let sim = start(SimConfig {
        record: true,
        ..SimConfig::default()
    })
    .await;
    let mut c = Client::connect(sim.addr()).await;
    sign_on(&mut c, 1).await;

    sim.set_answer(Answer::Silent).expect("valid");
    c.send(transfer(2, 1_000)).await;
    // A black hole: nothing comes (a negative check, bounded).
    assert!(c.recv_within(Duration::from_millis(300)).await.is_none());
    c.send(inquiry(3, 2)).await;
    assert_eq!(
        inquiry_response(c.recv_msg().await).result,
        "0000",
        "executed though never answered"
    );

    let slow = Duration::from_millis(300);
    sim.set_answer(Answer::late("0000", slow)).expect("valid");
    let sent = Instant::now();
    c.send(transfer(4, 1_000)).await;
    let r = transfer_response(c.recv_msg().await);
    assert_eq!(r.header.resp_code, "0000");
    assert!(
        sent.elapsed() >= slow,
        "answered after {:?}",
        sent.elapsed()
    );

    sim.set_answer(Answer::code("SB03")).expect("valid");
    c.send(transfer(5, 1_000)).await;
    assert_eq!(
        transfer_response(c.recv_msg().await).header.resp_code,
        "SB03"
    );
    let t = sim.true_outcome(DATE, 5).expect("recorded");
    assert!(!t.executed && t.result == "SB03", "{t:?}");
    // A reused number is refused whatever the script says.
    c.send(transfer(5, 1_000)).await;
    assert_eq!(
        transfer_response(c.recv_msg().await).header.resp_code,
        "SB09"
    );

    sim.set_answer(Answer::Drawn).expect("valid");
    c.send(transfer(6, 1_000)).await;
    assert_eq!(
        transfer_response(c.recv_msg().await).header.resp_code,
        "0000"
    );
    assert!(sim.set_answer(Answer::code("TOO LONG")).is_err());

    let numbers: Vec<(String, u32)> = sim
        .transfers()
        .into_iter()
        .map(|s| (s.msg_type, s.msg_no))
        .collect();
    let want: Vec<(String, u32)> = [2, 4, 5, 5, 6].map(|n| ("2000".to_owned(), n)).to_vec();
    assert_eq!(numbers, want, "every transfer received, the reuse too");
    assert_eq!(sim.seen().len(), 7, "sign-on, inquiry and transfers");
    sim.shutdown().await;
}

#[tokio::test]
async fn pushes_go_on_the_newest_session_and_what_comes_back_is_recorded() {
    let sim = start(SimConfig {
        record: true,
        ..SimConfig::default()
    })
    .await;
    assert!(
        matches!(
            sim.push_frame(test_notice(1)).await,
            Err(SimError::NoSession)
        ),
        "no session yet"
    );
    let mut old = Client::connect(sim.addr()).await;
    sign_on(&mut old, 1).await;
    let mut c = Client::connect(sim.addr()).await;
    until("both sessions registered", || sim.stats().connections == 2).await;

    let notice = test_notice(7);
    sim.push_frame(notice.clone()).await.expect("push");
    let got = c.recv().await;
    assert_eq!(&got[..], &notice[..], "the newest session gets it");
    let n = notice_of(&got).expect("a deposit notice");
    c.send(ack(&n)).await;
    until("the ack recorded", || sim.acks().len() == 1).await;
    assert_eq!(&sim.acks()[0][24..28], b"4100");

    // Raw bytes go out as they are: here a framed poll.
    sim.push_raw(&b"0020HDRREQPOLL1123094501"[..])
        .await
        .expect("push");
    let p = Poll::decode(&c.recv().await).expect("a poll");
    c.send(Poll::response_to(&p).encode().expect("answer"))
        .await;
    c.send(Poll::request("1123094502").encode().expect("poll"))
        .await;
    assert_eq!(&c.recv().await[..], b"HDRRESPOLL1123094502");
    until("the poll answer recorded", || sim.poll_answers().len() == 1).await;
    assert_eq!(&sim.poll_answers()[0][..], b"HDRRESPOLL1123094501");
    assert_eq!(&sim.polls_received()[0][..], b"HDRREQPOLL1123094502");
    assert!(
        old.recv_within(Duration::from_millis(200)).await.is_none(),
        "nothing pushed on the older session"
    );
    sim.shutdown().await;

    let quiet = start(SimConfig::default()).await;
    let mut c = Client::connect(quiet.addr()).await;
    sign_on(&mut c, 1).await;
    assert!(quiet.seen().is_empty(), "nothing recorded unless asked");
    quiet.shutdown().await;
}

#[tokio::test]
async fn connect_back_at_run_time_moves_answers_to_the_new_line() {
    let sim = start(SimConfig::default()).await;
    let mut send = Client::connect(sim.addr()).await;
    // Before split lines are on, answers come on the request's own session.
    sign_on(&mut send, 1).await;
    let back = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let back_addr = back.local_addr().expect("addr");
    sim.connect_back(back_addr).expect("split on");
    assert!(
        matches!(sim.connect_back(back_addr), Err(SimError::AlreadySplit(a)) if a == back_addr),
        "one connect-back line"
    );
    let (stream, _) = timeout(WAIT, back.accept())
        .await
        .expect("simulator connects back")
        .expect("accept");
    let mut recv = Client::from_stream(stream);
    send.send(transfer(2, 1_000)).await;
    let r = transfer_response(recv.recv_msg().await);
    assert_eq!(r.header.msg_no, 2);
    assert!(send.recv_within(Duration::from_millis(200)).await.is_none());
    sim.shutdown().await;
}
