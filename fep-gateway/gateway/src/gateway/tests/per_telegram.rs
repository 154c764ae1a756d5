//! `per_telegram` links over real TCP on 127.0.0.1: inbound connections that each bring one
//! notice and take its acknowledgement, and outbound connections opened for each request.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::*;
use crate::domain::MsgKey;
use crate::framing::{FrameCodec, Framing};
use crate::institution::LinkState;
use crate::protocol::Outcome;
use crate::settings::{Mode, PerTelegram};

/// Every wait of these tests is bounded by this (real time).
pub(super) const DEADLINE: Duration = Duration::from_secs(10);

pub(super) fn codec() -> FrameCodec {
    FrameCodec::new(Framing::hecto(), 4096).unwrap()
}

pub(super) fn profile() -> Profile {
    Profile::hecto(crate::profile::HectoContract::DEMO)
}

/// `fut`, or a failure naming `what` after [`DEADLINE`].
pub(super) async fn bounded<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: not within {DEADLINE:?}"))
}

/// Polls the institution's status until `ok` holds for it.
pub(super) async fn status_until(
    gateway: &Gateway,
    what: &str,
    ok: impl Fn(&InstitutionStatus) -> bool,
) -> InstitutionStatus {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let status = gateway.status().await.remove(0);
        if ok(&status) {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: never so: {status:?}"
        );
        tokio::task::yield_now().await;
    }
}

/// A Hecto 4000/100 notice numbered `msg_no`.
pub(super) fn notice(msg_no: u64) -> Bytes {
    let p = profile();
    let mut t = p.admin(&MsgKey::from(("4000", "100")));
    p.msg_no.put_digits(&mut t, msg_no);
    p.send_date.put_digits(&mut t, 20261201);
    Bytes::from(t)
}

/// A gateway (with its data directory) whose institution only receives, on a per-telegram
/// inbound link with `timing`; returns it with the link's address.
async fn receiving_gateway(timing: PerTelegram) -> (tempfile::TempDir, Gateway, SocketAddr) {
    let dir = tempfile::tempdir().unwrap();
    let mut link = LinkSettings::per_telegram_inbound_loopback();
    link.mode = Mode::PerTelegram(timing);
    let mut inst = InstitutionSettings::hecto("hecto", vec![link]);
    inst.sign_on = false;
    inst.poll_interval = None;
    let gateway = Gateway::start(settings(dir.path(), inst), Arc::new(SystemClock))
        .await
        .unwrap();
    let addr = gateway.listen_addrs()[0].addr;
    // Up while it listens: the institution can be heard before anyone connects.
    status_until(&gateway, "the listening link is up", |s| {
        s.links[0].state == LinkState::Up
    })
    .await;
    (dir, gateway, addr)
}

/// Sends notice `msg_no` on a connection of its own; returns the acknowledgement read back
/// there, after checking the gateway then closed the connection.
async fn notice_on_its_own_connection(addr: SocketAddr, msg_no: u64) -> Bytes {
    let stream = bounded("connect", TcpStream::connect(addr)).await.unwrap();
    let mut peer = Framed::new(stream, codec());
    bounded("send", peer.send(notice(msg_no))).await.unwrap();
    let ack = bounded("the acknowledgement", peer.next())
        .await
        .expect("closed before the acknowledgement")
        .unwrap();
    assert!(
        bounded("end of file", peer.next()).await.is_none(),
        "one telegram, one answer, then the gateway closes"
    );
    ack
}

/// Three notices on three connections in turn: each is acknowledged on its own connection,
/// which the gateway then closes; all three are recorded.
#[tokio::test]
async fn per_telegram_inbound_acknowledges_each_notice_on_its_own_connection() {
    // Far beyond the test's deadlines: the connection closes because the actor is done with
    // the notice, not because the wait for an answer ran out.
    let timing = PerTelegram {
        reply_timeout: Duration::from_secs(600),
        ..PerTelegram::default()
    };
    let (_dir, gateway, addr) = receiving_gateway(timing).await;
    let p = profile();
    for msg_no in 1..=3 {
        let ack = notice_on_its_own_connection(addr, msg_no).await;
        assert_eq!(p.msg_key(&ack).unwrap(), ("4100", "100"), "{ack:?}");
        assert_eq!(p.msg_no.digits(&ack), Some(msg_no), "its own notice's ack");
        assert_eq!(p.resp_code.text(&ack), Some("0000"));
    }
    let status = gateway.status().await.remove(0);
    assert_eq!(status.counters.notices, 3);
    assert_eq!(status.links[0].state, LinkState::Up, "still listening");
    gateway.shutdown(Duration::from_secs(5)).await;
}

/// Two notices on one connection: only the first is handled and acknowledged; the gateway
/// then closes, and the second (not acknowledged) is left for the institution to send again.
#[tokio::test]
async fn per_telegram_inbound_handles_only_the_first_telegram_of_a_connection() {
    let (_dir, gateway, addr) = receiving_gateway(PerTelegram::default()).await;
    let stream = bounded("connect", TcpStream::connect(addr)).await.unwrap();
    let mut peer = Framed::new(stream, codec());
    bounded("send", peer.feed(notice(1))).await.unwrap();
    bounded("send", peer.feed(notice(2))).await.unwrap();
    bounded("send", SinkExt::<Bytes>::flush(&mut peer))
        .await
        .unwrap();
    let ack = bounded("the acknowledgement", peer.next())
        .await
        .expect("closed before the acknowledgement")
        .unwrap();
    assert_eq!(profile().msg_no.digits(&ack), Some(1));
    assert!(
        bounded("end of file", peer.next()).await.is_none(),
        "no answer to the second telegram"
    );
    drop(peer);
    assert_eq!(gateway.status().await[0].counters.notices, 1);
    gateway.shutdown(Duration::from_secs(5)).await;
}

/// A connection that sends garbage is closed at once, one that sends nothing after
/// `read_timeout`; neither disturbs the next connection, whose notice is acknowledged.
#[tokio::test]
async fn per_telegram_inbound_closes_garbage_and_silence_and_serves_the_next() {
    let timing = PerTelegram {
        read_timeout: Duration::from_millis(300),
        ..PerTelegram::default()
    };
    let (_dir, gateway, addr) = receiving_gateway(timing).await;
    let mut silent = bounded("connect", TcpStream::connect(addr)).await.unwrap();
    let mut garbage = bounded("connect", TcpStream::connect(addr)).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    garbage
        .write_all(b"XY!?not a length header at all")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    // Closed (end of file, or a reset: the garbage was left unread).
    let read = bounded("the garbage connection closed", garbage.read(&mut buf)).await;
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let ack = notice_on_its_own_connection(addr, 7).await;
    assert_eq!(profile().msg_no.digits(&ack), Some(7));
    let read = bounded("the silent connection closed", silent.read(&mut buf)).await;
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert_eq!(gateway.status().await[0].counters.notices, 1);
    gateway.shutdown(Duration::from_secs(5)).await;
}

/// A fake institution on per-telegram connections: accepts, reads one telegram, answers it
/// with code 0000, checks the gateway sends nothing more, closes. Reports the message key of
/// each connection's telegram; stops accepting (the listener closes) after `connections`.
async fn one_telegram_host(listener: TcpListener, connections: usize, seen: mpsc::Sender<String>) {
    let p = profile();
    for _ in 0..connections {
        let (stream, _) = listener.accept().await.unwrap();
        let mut framed = Framed::new(stream, codec());
        let Some(Ok(telegram)) = framed.next().await else {
            panic!("a connection without its telegram");
        };
        let key = p.msg_key(&telegram).unwrap();
        let answer = p.answer_to(&telegram, "0000");
        framed.send(Bytes::from(answer)).await.unwrap();
        assert!(
            framed.next().await.is_none(),
            "one telegram per connection: the gateway closes after the answer"
        );
        seen.send(key.to_string()).await.unwrap();
    }
}

/// What the fake institution reported so far, in order.
fn received(seen: &mut mpsc::Receiver<String>) -> Vec<String> {
    std::iter::from_fn(|| seen.try_recv().ok()).collect()
}

/// Transfer `n` through the gateway; its caller must hear `ok`.
async fn request_ok(handle: &crate::institution::InstitutionHandle, n: u64) {
    let telegram = fep_testkit::samples::sample_telegram(n, false);
    let reply = bounded("the answer", handle.request(telegram, None)).await;
    assert_eq!(reply.outcome, Outcome::Ok, "{reply:?}");
}

/// A gateway whose institution sends on a per-telegram outbound link to `addr` and signs on
/// there; returns once it is signed on.
async fn sending_gateway(dir: &std::path::Path, addr: SocketAddr) -> Gateway {
    let mut inst =
        InstitutionSettings::hecto("hecto", vec![LinkSettings::per_telegram_outbound(addr)]);
    inst.poll_interval = None;
    inst.inquiry_delay = Duration::from_secs(3600);
    let gateway = Gateway::start(settings(dir, inst), Arc::new(SystemClock))
        .await
        .unwrap();
    status_until(&gateway, "signed on", |s| s.signed_on).await;
    gateway
}

/// Each request goes out on a connection of its own and its answer comes back there: the
/// callers hear `ok`, and the institution saw one connection per telegram (the sign-on's, then
/// one per request).
#[tokio::test]
async fn per_telegram_outbound_opens_one_connection_per_request() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (seen_tx, mut seen) = mpsc::channel(16);
    let host = tokio::spawn(one_telegram_host(listener, 4, seen_tx));
    let dir = tempfile::tempdir().unwrap();
    let gateway = sending_gateway(dir.path(), addr).await;
    let handle = gateway.institution("hecto").unwrap().clone();
    for n in 0..3 {
        request_ok(&handle, n).await;
    }
    bounded("the host is done", host).await.unwrap();
    assert_eq!(
        received(&mut seen),
        ["1000/100", "2000/100", "2000/100", "2000/100"]
    );
    gateway.shutdown(Duration::from_secs(5)).await;
}

/// The institution stops listening after the sign-on: the next request's connection is
/// refused, so its caller hears `rejected` (never sent), journaled as such, not `unknown`; the
/// link shows down. Once the institution listens again the link comes back up on its own.
#[tokio::test]
async fn per_telegram_outbound_connect_refused_is_rejected_not_unknown() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (seen_tx, mut seen) = mpsc::channel(16);
    // The sign-on's connection only; then the listener is gone and connects are refused.
    let host = tokio::spawn(one_telegram_host(listener, 1, seen_tx.clone()));
    let dir = tempfile::tempdir().unwrap();
    let gateway = sending_gateway(dir.path(), addr).await;
    bounded("the host stops listening", host).await.unwrap();
    let handle = gateway.institution("hecto").unwrap().clone();
    let reply = bounded(
        "the refusal",
        handle.request(fep_testkit::samples::sample_telegram(1, false), None),
    )
    .await;
    assert_eq!(reply.outcome, Outcome::Rejected, "{reply:?}");
    assert!(
        reply.detail.contains("institution unreachable"),
        "{reply:?}"
    );
    gateway.journal().flush().await.unwrap();
    let tx = gateway
        .journal()
        .get_tx(reply.tx_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tx.outcome, crate::domain::TxState::Rejected);
    let status = status_until(&gateway, "the link down", |s| {
        s.links[0].state == LinkState::Down
    })
    .await;
    assert_eq!((status.counters.unknown, status.counters.rejected), (0, 1));
    // Listening again (same address: tokio sets SO_REUSEADDR): a probe finds it, the link comes
    // up, the gateway signs on again there and requests go through.
    let listener = TcpListener::bind(addr).await.unwrap();
    let host = tokio::spawn(async move {
        // The probe's bare connection first, then the sign-on's and the request's.
        let (probe, _) = listener.accept().await.unwrap();
        drop(probe);
        one_telegram_host(listener, 2, seen_tx).await;
    });
    status_until(&gateway, "up and signed on again", |s| {
        s.links[0].state == LinkState::Up && s.signed_on
    })
    .await;
    request_ok(&handle, 2).await;
    bounded("the host is done", host).await.unwrap();
    assert_eq!(received(&mut seen), ["1000/100", "1000/100", "2000/100"]);
    gateway.shutdown(Duration::from_secs(5)).await;
}
