//! Black-box tests of notice delivery over the native protocol, written as an independent
//! client would: raw TCP frames built from `docs/protocol.md` alone (no code of this
//! repository's client), against the real `fep` binary and a simulated bank pushing notices.

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use support::*;

const DATE: &str = "20261122";

/// A frame received from the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Frame {
    Response {
        id: u64,
        outcome: u8,
        detail: String,
    },
    Notice {
        notice_id: u64,
        institution: String,
        telegram: Vec<u8>,
        /// The optional trailing `subscription` field.
        subscription: Option<u64>,
    },
    Pong(u64),
}

/// A native-protocol connection spoken byte by byte; a task reads and parses the frames.
struct Raw {
    frames: mpsc::UnboundedReceiver<Frame>,
    wr: OwnedWriteHalf,
}

fn str_field(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

impl Raw {
    async fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).await.expect("connect native");
        let (rd, wr) = stream.into_split();
        let (tx, frames) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut rd = BufReader::new(rd);
            // Ends when the gateway closes the connection (or the test drops the receiver).
            while let Ok(len) = rd.read_u32().await {
                let mut body = vec![0u8; len as usize];
                if rd.read_exact(&mut body).await.is_err() || tx.send(parse(&body)).is_err() {
                    return;
                }
            }
        });
        Raw { frames, wr }
    }

    /// Sends one frame: `u32 length | kind | fields`.
    async fn send(&mut self, kind: u8, fields: &[u8]) {
        let mut frame = ((fields.len() + 1) as u32).to_be_bytes().to_vec();
        frame.push(kind);
        frame.extend_from_slice(fields);
        self.wr.write_all(&frame).await.expect("write frame");
    }

    /// Subscribe (0x03): id, institution, and the optional trailing group.
    async fn subscribe(&mut self, id: u64, institution: &str, group: Option<&str>) {
        let mut f = id.to_be_bytes().to_vec();
        str_field(&mut f, institution);
        if let Some(g) = group {
            str_field(&mut f, g);
        }
        self.send(0x03, &f).await;
    }

    /// Unsubscribe (0x09): id, subscription.
    async fn unsubscribe(&mut self, id: u64, subscription: u64) {
        let mut f = id.to_be_bytes().to_vec();
        f.extend_from_slice(&subscription.to_be_bytes());
        self.send(0x09, &f).await;
    }

    async fn ack(&mut self, notice_id: u64) {
        self.send(0x05, &notice_id.to_be_bytes()).await;
    }

    async fn ping(&mut self, nonce: u64) {
        self.send(0x06, &nonce.to_be_bytes()).await;
    }

    /// The next frame within `limit`; `None` if none comes.
    async fn recv_within(&mut self, limit: Duration) -> Option<Frame> {
        tokio::time::timeout(limit, self.frames.recv())
            .await
            .ok()
            .flatten()
    }

    async fn recv(&mut self) -> Frame {
        self.recv_within(WAIT)
            .await
            .expect("a frame from the gateway within 10 s (or it closed the connection)")
    }

    /// Waits for the Response to `id`: (outcome code, detail). Nothing else may come first.
    async fn response(&mut self, id: u64) -> (u8, String) {
        match self.recv().await {
            Frame::Response {
                id: got,
                outcome,
                detail,
            } if got == id => (outcome, detail),
            other => panic!("expected the response to {id}, got {other:?}"),
        }
    }

    /// Subscribes and checks the `ok`, which comes before any notice of the subscription.
    async fn subscribed(&mut self, id: u64, institution: &str, group: Option<&str>) {
        self.subscribe(id, institution, group).await;
        assert_eq!(self.response(id).await, (0, "subscribed".to_owned()));
    }

    /// The next frame, which must be a notice.
    async fn notice(&mut self) -> Delivered {
        match self.recv().await {
            Frame::Notice {
                notice_id,
                telegram,
                subscription,
                ..
            } => Delivered {
                id: notice_id,
                no: msg_no(&telegram),
                subscription,
            },
            other => panic!("expected a notice, got {other:?}"),
        }
    }
}

/// A notice as the tests look at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Delivered {
    /// `notice_id`, to acknowledge.
    id: u64,
    /// The bank's 전문번호 of the notice.
    no: u32,
    /// The optional trailing field.
    subscription: Option<u64>,
}

/// Reads big-endian fields off a frame body.
struct Fields<'a> {
    body: &'a [u8],
    at: usize,
}

impl Fields<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        let s = &self.body[self.at..self.at + n];
        self.at += n;
        s
    }

    fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.take(8).try_into().expect("8 bytes"))
    }

    fn string(&mut self) -> String {
        let n = u16::from_be_bytes(self.take(2).try_into().expect("2 bytes")) as usize;
        String::from_utf8(self.take(n).to_vec()).expect("utf-8")
    }

    fn bytes(&mut self) -> Vec<u8> {
        let m = u32::from_be_bytes(self.take(4).try_into().expect("4 bytes")) as usize;
        self.take(m).to_vec()
    }

    fn left(&self) -> usize {
        self.body.len() - self.at
    }
}

/// Parses a frame body strictly, as docs/protocol.md says: no byte left over.
fn parse(body: &[u8]) -> Frame {
    let mut f = Fields { body, at: 1 };
    let frame = match body[0] {
        0x02 => {
            let id = f.u64();
            let outcome = f.take(1)[0];
            let detail = f.string();
            f.bytes();
            Frame::Response {
                id,
                outcome,
                detail,
            }
        }
        0x04 => {
            let notice_id = f.u64();
            let institution = f.string();
            let telegram = f.bytes();
            let subscription = (f.left() > 0).then(|| f.u64());
            Frame::Notice {
                notice_id,
                institution,
                telegram,
                subscription,
            }
        }
        0x07 => Frame::Pong(f.u64()),
        other => panic!("unexpected kind 0x{other:02x}"),
    };
    assert_eq!(f.left(), 0, "no trailing bytes in {frame:?}");
    frame
}

/// The gateway with one institution "hecto" on a duplex link to a bank, signed on.
async fn gateway(extra: &str) -> (tempfile::TempDir, Fep, fep_testkit::sim::SimHandle) {
    let sim = bank(Answer::code("0000")).await;
    let dir = tempdir();
    let inst = institution("hecto", &duplex_link(sim.addr()), "5s", "1m", "5m") + extra;
    let fep = Fep::start(dir.path(), &config(&dir.path().join("data"), &[inst]), &[]);
    fep.wait_signed_on("hecto").await;
    (dir, fep, sim)
}

/// The bank pushes notices `range` (전문번호 = the number) and waits until each is
/// acknowledged: recorded in the journal.
async fn push_notices(sim: &fep_testkit::sim::SimHandle, range: std::ops::RangeInclusive<u32>) {
    let before = sim.acks().len();
    let count = range.clone().count();
    for n in range {
        sim.push_frame(deposit_notice(n, DATE))
            .await
            .expect("push a notice");
    }
    let what = format!("{count} notices acknowledged to the bank");
    until(Duration::from_secs(30), &what, || {
        sim.acks().len() >= before + count
    })
    .await;
}

/// The 전문번호 a deposit notice carries (bytes 32..38 of the Hecto header).
fn msg_no(telegram: &[u8]) -> u32 {
    std::str::from_utf8(&telegram[32..38])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no 전문번호 in {:?}", String::from_utf8_lossy(telegram)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_beyond_1024_is_replayed_while_ping_is_answered() {
    let (_dir, fep, sim) = gateway("").await;
    const BACKLOG: u32 = 1500;
    push_notices(&sim, 1..=BACKLOG).await;

    let mut c = Raw::connect(fep.native).await;
    c.subscribe(1, "hecto", None).await;
    c.ping(77).await;
    let mut notices = Vec::new();
    let mut response = None;
    let mut pong_after = None;
    let mut seen = BTreeSet::new();
    while seen.len() < BACKLOG as usize || response.is_none() || pong_after.is_none() {
        let frame = c.recv_within(WAIT).await.unwrap_or_else(|| {
            panic!(
                "stalled: response {response:?}, pong after {pong_after:?} notices, {} of \
                     {BACKLOG} notices",
                seen.len()
            )
        });
        match frame {
            Frame::Response {
                id: 1,
                outcome,
                detail,
            } => response = Some((outcome, detail)),
            Frame::Pong(77) => pong_after = Some(seen.len()),
            Frame::Notice {
                notice_id,
                institution,
                telegram,
                subscription,
            } => {
                assert_eq!(institution, "hecto");
                assert_eq!(
                    subscription, None,
                    "a version-1 subscription gets version-1 notices"
                );
                assert!(
                    seen.insert(msg_no(&telegram)),
                    "delivered twice: {notice_id}"
                );
                notices.push(notice_id);
                c.ack(notice_id).await;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(response, Some((0, "subscribed".to_owned())));
    assert_eq!(seen, (1..=BACKLOG).collect(), "every notice of the backlog");
    let pong_after = pong_after.unwrap_or_default();
    assert!(
        pong_after < BACKLOG as usize,
        "the Ping is answered during the replay (after {pong_after} notices)"
    );
    assert!(
        notices.windows(2).all(|w| w[0] < w[1]),
        "in the order recorded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_of_a_group_share_the_notices() {
    let (_dir, fep, sim) = gateway("").await;
    let mut a = Raw::connect(fep.native).await;
    let mut b = Raw::connect(fep.native).await;
    a.subscribed(10, "hecto", Some("ledger")).await;
    b.subscribed(20, "*", Some("ledger")).await;
    // Both members hold their window (16) unacknowledged while the bank pushes: each gets
    // a share before either acknowledges.
    const N: u32 = 200;
    push_notices(&sim, 1..=N).await;
    let (mut got_a, mut got_b) = (BTreeSet::new(), BTreeSet::new());
    while got_a.len() + got_b.len() < N as usize {
        let (n, member, sub, mine) = tokio::select! {
            n = a.notice() => (n, &mut a, 10, &mut got_a),
            n = b.notice() => (n, &mut b, 20, &mut got_b),
        };
        assert_eq!(n.subscription, Some(sub), "tagged with its subscription");
        assert!(mine.insert(n.no));
        member.ack(n.id).await;
    }
    assert!(got_a.is_disjoint(&got_b), "each notice to one member");
    let all: BTreeSet<u32> = got_a.union(&got_b).copied().collect();
    assert_eq!(all, (1..=N).collect(), "together, every notice");
    assert!(
        !got_a.is_empty() && !got_b.is_empty(),
        "both members get a share: {} and {}",
        got_a.len(),
        got_b.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_its_member_left_unacknowledged_goes_to_another_member() {
    let (_dir, fep, sim) = gateway("[institution.notices]\nconcurrency = 4\n").await;
    let mut quitter = Raw::connect(fep.native).await;
    quitter.subscribed(1, "hecto", Some("ledger")).await;
    push_notices(&sim, 1..=10).await;
    // Its window: four notices, never acknowledged.
    let mut held = BTreeSet::new();
    for _ in 0..4 {
        held.insert(quitter.notice().await.no);
    }
    assert_eq!(held.len(), 4);
    drop(quitter);

    let mut heir = Raw::connect(fep.native).await;
    heir.subscribed(2, "hecto", Some("ledger")).await;
    let mut seen = BTreeSet::new();
    while seen.len() < 10 {
        let n = heir.notice().await;
        assert!(seen.insert(n.no), "once each");
        heir.ack(n.id).await;
    }
    assert_eq!(
        seen,
        (1..=10).collect(),
        "the four left behind and the rest"
    );
    assert!(held.is_subset(&seen));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribe_stops_delivery() {
    let (_dir, fep, sim) = gateway("").await;
    let mut c = Raw::connect(fep.native).await;
    c.subscribed(5, "hecto", Some("")).await;
    push_notices(&sim, 1..=1).await;
    let n = c.notice().await;
    assert_eq!(
        n.subscription,
        Some(5),
        "an empty group: broadcast, but tagged"
    );
    c.ack(n.id).await;

    c.unsubscribe(6, 5).await;
    assert_eq!(c.response(6).await, (0, "unsubscribed".to_owned()));
    // Another subscriber gets the next notice: it was delivered; the unsubscribed one not.
    let mut other = Raw::connect(fep.native).await;
    other.subscribed(1, "hecto", None).await;
    push_notices(&sim, 2..=2).await;
    assert_eq!(other.notice().await.no, 2);
    c.ping(9).await;
    assert_eq!(
        c.recv().await,
        Frame::Pong(9),
        "no notice after Unsubscribe"
    );
    // Unsubscribing again is refused, and the connection stays usable.
    c.unsubscribe(7, 5).await;
    let (outcome, detail) = c.response(7).await;
    assert_eq!(outcome, 3, "{detail}");
    assert!(detail.contains("no subscription 5"), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_catches_up_after_a_restart_where_it_acknowledged() {
    let sim = bank(Answer::code("0000")).await;
    let dir = tempdir();
    let inst = institution("hecto", &duplex_link(sim.addr()), "5s", "1m", "5m");
    let cfg = config(&dir.path().join("data"), &[inst]);
    let fep = Fep::start(dir.path(), &cfg, &[]);
    fep.wait_signed_on("hecto").await;
    let mut c = Raw::connect(fep.native).await;
    c.subscribed(1, "hecto", Some("ledger")).await;
    push_notices(&sim, 1..=6).await;
    // Acknowledges the odd ones only.
    for _ in 0..6 {
        let n = c.notice().await;
        if n.no % 2 == 1 {
            c.ack(n.id).await;
        }
    }
    // The acknowledgements reach the gateway before it stops: a Ping behind them is answered.
    c.ping(1).await;
    assert_eq!(c.recv().await, Frame::Pong(1));
    assert!(fep.terminate().success());

    let fep = Fep::start(dir.path(), &cfg, &[]);
    fep.wait_signed_on("hecto").await;
    let mut c = Raw::connect(fep.native).await;
    c.subscribed(1, "hecto", Some("ledger")).await;
    push_notices(&sim, 7..=7).await;
    let mut numbers = Vec::new();
    for _ in 0..4 {
        numbers.push(c.notice().await.no);
    }
    // Notices are recorded concurrently: their ids need not follow the bank's numbering.
    let backlog: BTreeSet<u32> = numbers[..3].iter().copied().collect();
    assert_eq!(
        backlog,
        [2, 4, 6].into(),
        "only what the group had not acknowledged"
    );
    assert_eq!(numbers[3], 7, "then the new one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_group_or_institution_is_refused_and_the_connection_stays() {
    let (_dir, fep, _sim) = gateway("").await;
    let mut c = Raw::connect(fep.native).await;
    c.subscribe(1, "hecto", Some("$webhook")).await;
    let (outcome, detail) = c.response(1).await;
    assert_eq!(outcome, 3);
    assert!(detail.contains("reserved"), "{detail}");
    // A name as long as a `str` allows: refused with a detail that still fits.
    c.subscribe(2, &"x".repeat(65_535), None).await;
    let (outcome, detail) = c.response(2).await;
    assert_eq!(outcome, 3);
    assert!(detail.starts_with("unknown institution"), "{detail}");
    c.subscribed(3, "hecto", None).await;
    c.subscribe(3, "hecto", None).await;
    let (outcome, detail) = c.response(3).await;
    assert_eq!(outcome, 3, "the same id twice: {detail}");
    c.ping(4).await;
    assert_eq!(c.recv().await, Frame::Pong(4));
}

/// An internal webhook endpoint that accepts at most `per_second` notices a second (its own
/// throttle: one request every 1/`per_second`), recording each `notice_id` it accepts.
async fn webhook(
    listener: tokio::net::TcpListener,
    per_second: u32,
) -> std::sync::Arc<std::sync::Mutex<Vec<u64>>> {
    use std::sync::{Arc, Mutex};
    let received: Arc<Mutex<Vec<u64>>> = Arc::default();
    let pace = Arc::new(tokio::sync::Mutex::new(tokio::time::interval(
        Duration::from_secs(1) / per_second,
    )));
    let r = received.clone();
    let app = axum::Router::new().route(
        "/n",
        axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let (r, pace) = (r.clone(), pace.clone());
            async move {
                pace.lock().await.tick().await;
                let id = body["notice_id"].as_u64().expect("notice_id");
                r.lock().unwrap_or_else(|p| p.into_inner()).push(id);
                axum::http::StatusCode::OK
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    received
}

/// `fep_notice_backlog` of the webhook group of "hecto" in `/metrics`, once exported.
fn webhook_backlog(fep: &Fep) -> Option<f64> {
    let (_, text) = http(fep.http, "GET", "/metrics", None);
    text.lines()
        .find(|l| {
            l.starts_with("fep_notice_backlog{")
                && l.contains("group=\"$webhook\"")
                && l.contains("institution=\"hecto\"")
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn distinct(received: &std::sync::Mutex<Vec<u64>>) -> (usize, usize) {
    let all = received.lock().unwrap_or_else(|p| p.into_inner());
    let set: BTreeSet<u64> = all.iter().copied().collect();
    (all.len(), set.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_notices_reaches_a_slow_webhook_without_a_restart() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = listener.local_addr().unwrap();
    let received = webhook(listener, 200).await;
    let (_dir, fep, sim) = gateway(&format!(
        "[institution.notices]\nwebhook = \"http://{hook}/n\"\n"
    ))
    .await;
    // The bank pushes as fast as the gateway acknowledges: far faster than 200/s.
    const N: usize = 2000;
    push_notices(&sim, 1..=N as u32).await;
    let (when_recorded, _) = distinct(&received);
    assert!(
        when_recorded < N,
        "recording and acknowledging did not wait for the webhook ({when_recorded} delivered)"
    );
    let backlog_shown = eventually(WAIT, || webhook_backlog(&fep).is_some_and(|b| b > 0.0)).await;
    let what = format!("all {N} notices at the webhook");
    until(Duration::from_secs(60), &what, || {
        distinct(&received).1 == N
    })
    .await;
    assert!(backlog_shown, "the webhook's backlog was shown in /metrics");
    until(WAIT, "the webhook backlog back to 0", || {
        webhook_backlog(&fep) == Some(0.0)
    })
    .await;
    let (posts, ids) = distinct(&received);
    assert_eq!((posts, ids), (N, N), "nothing failed: each delivered once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_recorded_while_delivery_starts_are_delivered_once() {
    let sim = bank(Answer::code("0000")).await;
    let dir = tempdir();
    // Bound but not listening: the webhook is down (refused), and the port stays ours.
    let (hook_socket, hook) = reserved_port();
    let inst = institution("hecto", &duplex_link(sim.addr()), "5s", "1m", "5m")
        + &format!("[institution.notices]\nwebhook = \"http://{hook}/n\"\n");
    let cfg = config(&dir.path().join("data"), &[inst]);
    let fep = Fep::start(dir.path(), &cfg, &[]);
    fep.wait_signed_on("hecto").await;
    push_notices(&sim, 1..=300).await;
    fep.kill();
    // The bank pushes on its newest session: let the killed gateway's end first.
    until(
        WAIT,
        "the bank's session with the killed gateway closed",
        || !sim.signed_on(),
    )
    .await;

    let received = webhook(hook_socket.listen(64).unwrap(), 10_000).await;
    // While the gateway starts and delivers the backlog, the bank pushes 300 more, from the
    // moment its session is open.
    let pusher = tokio::spawn(async move {
        for n in 301..=600 {
            while sim.push_frame(deposit_notice(n, DATE)).await.is_err() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        sim
    });
    let fep = Fep::start(dir.path(), &cfg, &[]);
    let sim = pusher.await.expect("pushed");
    until(WAIT, "the 600 notices acknowledged to the bank", || {
        sim.acks().len() >= 600
    })
    .await;
    until(
        Duration::from_secs(30),
        "600 notices at the webhook",
        || distinct(&received).1 == 600,
    )
    .await;
    // Everything acknowledged by the webhook group: nothing more is coming.
    let settled = eventually(WAIT, || webhook_backlog(&fep) == Some(0.0)).await;
    let (posts, ids) = distinct(&received);
    assert_eq!(
        (posts, ids),
        (600, 600),
        "nothing failed: each delivered once"
    );
    assert!(settled, "the backlog is 0 in /metrics");
}
