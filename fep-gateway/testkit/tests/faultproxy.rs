//! Fault proxy against a real loopback echo server. Every wait is bounded by a timeout; time is
//! only ever asserted as a lower bound (a fault delays at least this much), never an upper one.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fep_testkit::faultproxy::{Fault, FaultProxy, FaultProxyError, ProxyOptions, GARBAGE_BURST};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// Generous bound for anything that should happen.
const BOUND: Duration = Duration::from_secs(10);
/// How long to watch for something that must not happen.
const QUIET: Duration = Duration::from_millis(300);

/// Echo server counting the bytes it received; aborted on drop.
struct Echo {
    addr: SocketAddr,
    received: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn echo() -> Echo {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
    let addr = listener.local_addr().expect("echo addr");
    let received = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&received);
    let task = tokio::spawn(async move {
        for _ in 0..64 {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            counter.fetch_add(n as u64, Ordering::Relaxed);
                            if s.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    Echo {
        addr,
        received,
        task,
    }
}

async fn proxy(upstream: SocketAddr, fault: Fault) -> FaultProxy {
    FaultProxy::start(upstream, fault)
        .await
        .expect("start proxy")
}

async fn connect(p: &FaultProxy) -> TcpStream {
    timeout(BOUND, TcpStream::connect(p.addr()))
        .await
        .expect("connect in time")
        .expect("connect")
}

async fn read_exact(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    timeout(BOUND, s.read_exact(&mut buf))
        .await
        .expect("read in time")
        .expect("read");
    buf
}

async fn roundtrip(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(msg).await.expect("write");
    assert_eq!(read_exact(s, msg.len()).await, msg);
}

/// Reads until EOF or error (bounded), returning the bytes and how it ended.
async fn read_to_end(s: &mut TcpStream) -> (Vec<u8>, Result<(), ErrorKind>) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match timeout(BOUND, s.read(&mut buf)).await {
            Err(_) => panic!("connection neither closed nor reset in time"),
            Ok(Ok(0)) => return (out, Ok(())),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => return (out, Err(e.kind())),
        }
    }
}

/// Nothing arrives and the connection stays open for a while.
async fn assert_silent_and_open(s: &mut TcpStream) {
    let mut buf = [0u8; 64];
    match timeout(QUIET, s.read(&mut buf)).await {
        Err(_) => {}
        Ok(r) => panic!("expected silence, got {r:?}"),
    }
}

#[tokio::test]
async fn none_forwards_both_ways_and_counts() {
    let e = echo().await;
    let p = proxy(e.addr, Fault::None).await;
    let mut s = connect(&p).await;
    roundtrip(&mut s, b"0020HDRREQPOLL").await;
    roundtrip(&mut s, b"again").await;
    let st = p.stats();
    assert_eq!(st.accepted, 1);
    assert_eq!(st.bytes_to_upstream, 19);
    assert_eq!(st.bytes_to_client, 19);
    drop(s);
    p.stop().await;
}

#[tokio::test]
async fn client_close_is_passed_on_as_fin() {
    let e = echo().await;
    let p = proxy(e.addr, Fault::None).await;
    let mut s = connect(&p).await;
    s.write_all(b"bye").await.expect("write");
    s.shutdown().await.expect("shutdown");
    // The echo answers, sees EOF, closes; the proxy passes both on.
    let (data, end) = read_to_end(&mut s).await;
    assert_eq!(data, b"bye");
    assert_eq!(end, Ok(()));
    p.stop().await;
}

#[tokio::test]
async fn refuses_non_loopback_addresses() {
    let remote: SocketAddr = "10.1.2.3:9000".parse().expect("addr");
    let r = FaultProxy::start(remote, Fault::None).await;
    assert!(matches!(r, Err(FaultProxyError::NotLoopback(a)) if a == remote));

    let e = echo().await;
    let options = ProxyOptions {
        listen: Some("0.0.0.0:0".parse().expect("addr")),
        ..Default::default()
    };
    let r = FaultProxy::start_with(e.addr, Fault::None, options).await;
    assert!(matches!(r, Err(FaultProxyError::NotLoopback(_))));

    let options = ProxyOptions {
        max_connections: 0,
        ..Default::default()
    };
    let r = FaultProxy::start_with(e.addr, Fault::None, options).await;
    assert!(matches!(r, Err(FaultProxyError::NoConnections)));
}

#[tokio::test]
async fn latency_delays_each_direction() {
    let e = echo().await;
    let fault = Fault::Latency {
        base: Duration::from_millis(150),
        jitter: Duration::from_millis(20),
    };
    let p = proxy(e.addr, fault).await;
    let mut s = connect(&p).await;
    let t = Instant::now();
    roundtrip(&mut s, b"slow").await;
    // Once toward the upstream, once back.
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    p.set_fault(Fault::None);
    roundtrip(&mut s, b"fast").await;
    p.stop().await;
}

#[tokio::test]
async fn blackhole_swallows_and_never_reaches_upstream() {
    let e = echo().await;
    let p = proxy(e.addr, Fault::Blackhole).await;
    let mut s = connect(&p).await;
    s.write_all(b"hello?").await.expect("write");
    assert_silent_and_open(&mut s).await;
    assert_eq!(e.received.load(Ordering::Relaxed), 0);
    assert_eq!(p.stats().bytes_to_upstream, 0);
    p.stop().await;
}

#[tokio::test]
async fn blackhole_switched_on_a_live_connection() {
    let e = echo().await;
    let p = proxy(e.addr, Fault::None).await;
    let mut s = connect(&p).await;
    roundtrip(&mut s, b"up").await;
    p.set_fault(Fault::Blackhole);
    s.write_all(b"lost").await.expect("write");
    assert_silent_and_open(&mut s).await;
    assert_eq!(e.received.load(Ordering::Relaxed), 2);
    p.stop().await;
}

#[tokio::test]
async fn reset_on_accept() {
    let e = echo().await;
    let p = proxy(e.addr, Fault::Reset { after_bytes: 0 }).await;
    let mut s = connect(&p).await;
    let (data, end) = read_to_end(&mut s).await;
    assert!(data.is_empty());
    assert_eq!(end, Err(ErrorKind::ConnectionReset));
    assert_eq!(p.stats().resets, 1);
    p.stop().await;
}

#[tokio::test]
async fn reset_after_n_bytes() {
    let e = echo().await;
    let p = proxy(e.addr, Fault::Reset { after_bytes: 10 }).await;
    let mut s = connect(&p).await;
    // 4 up + 4 back = 8 bytes forwarded.
    roundtrip(&mut s, b"abcd").await;
    // Only 2 more may pass, then RST.
    s.write_all(b"0123456789").await.expect("write");
    let (_, end) = read_to_end(&mut s).await;
    assert_eq!(end, Err(ErrorKind::ConnectionReset));
    assert_eq!(p.stats().bytes_to_upstream + p.stats().bytes_to_client, 10);
    p.stop().await;
}

#[tokio::test]
async fn reset_switched_on_kills_a_live_link() {
    let e = echo().await;
    let p = proxy(e.addr, Fault::None).await;
    let mut s = connect(&p).await;
    roundtrip(&mut s, b"alive").await;
    p.set_fault(Fault::Reset { after_bytes: 0 });
    let (_, end) = read_to_end(&mut s).await;
    assert_eq!(end, Err(ErrorKind::ConnectionReset));
    p.stop().await;
}

#[tokio::test]
async fn slow_close_on_accept_holds_then_fins() {
    let e = echo().await;
    let hold = Duration::from_millis(300);
    let p = proxy(e.addr, Fault::SlowClose { hold }).await;
    let t = Instant::now();
    let mut s = connect(&p).await;
    s.write_all(b"anyone?").await.expect("write");
    let (data, end) = read_to_end(&mut s).await;
    assert!(data.is_empty());
    assert_eq!(end, Ok(()), "a graceful close, not a reset");
    assert!(t.elapsed() >= hold, "{:?}", t.elapsed());
    assert_eq!(e.received.load(Ordering::Relaxed), 0);
    p.stop().await;
}

#[tokio::test]
async fn slow_close_switched_on_a_live_connection() {
    let e = echo().await;
    let p = proxy(e.addr, Fault::None).await;
    let mut s = connect(&p).await;
    roundtrip(&mut s, b"ok").await;
    let hold = Duration::from_millis(300);
    let t = Instant::now();
    p.set_fault(Fault::SlowClose { hold });
    s.write_all(b"no answer").await.expect("write");
    let (data, end) = read_to_end(&mut s).await;
    assert!(data.is_empty());
    assert_eq!(end, Ok(()));
    assert!(t.elapsed() >= hold, "{:?}", t.elapsed());
    p.stop().await;
}

#[tokio::test]
async fn bandwidth_cap_paces_transfer() {
    let e = echo().await;
    let p = proxy(
        e.addr,
        Fault::BandwidthCap {
            bytes_per_sec: 2000,
        },
    )
    .await;
    let mut s = connect(&p).await;
    let msg = vec![7u8; 1000];
    let t = Instant::now();
    roundtrip(&mut s, &msg).await;
    // 1000 bytes at 2000 B/s is half a second per direction (the directions overlap).
    assert!(
        t.elapsed() >= Duration::from_millis(450),
        "{:?}",
        t.elapsed()
    );
    p.stop().await;
}

#[tokio::test]
async fn garbage_after_n_bytes_toward_client() {
    let e = echo().await;
    let p = proxy(e.addr, Fault::Garbage { after_bytes: 4 }).await;
    let mut s = connect(&p).await;
    s.write_all(b"ABCDEFGH").await.expect("write");
    let got = read_exact(&mut s, 8).await;
    assert_eq!(&got[..4], b"ABCD");
    // The upstream got the genuine bytes; only the way back is spoiled.
    assert_eq!(e.received.load(Ordering::Relaxed), 8);
    let st = p.stats();
    assert_eq!((st.bytes_to_client, st.garbage_bytes), (4, 4));
    p.stop().await;
}

#[tokio::test]
async fn garbage_bursts_on_an_idle_connection() {
    let e = echo().await;
    let p = proxy(e.addr, Fault::None).await;
    let mut s = connect(&p).await;
    roundtrip(&mut s, b"hi").await;
    p.set_fault(Fault::Garbage { after_bytes: 0 });
    let burst = read_exact(&mut s, GARBAGE_BURST).await;
    assert_eq!(burst.len(), GARBAGE_BURST);
    assert_eq!(p.stats().garbage_bytes, GARBAGE_BURST as u64);
    p.stop().await;
}

#[tokio::test]
async fn half_open_forwards_up_but_never_back() {
    let e = echo().await;
    let p = proxy(e.addr, Fault::HalfOpen).await;
    let mut s = connect(&p).await;
    s.write_all(b"request").await.expect("write");
    assert_silent_and_open(&mut s).await;
    // The upstream got it (and echoed it into the void).
    timeout(BOUND, async {
        while e.received.load(Ordering::Relaxed) < 7 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("upstream received the request");
    assert_eq!(p.stats().bytes_to_client, 0);
    // Back to normal: the connection still works both ways.
    p.set_fault(Fault::None);
    roundtrip(&mut s, b"again").await;
    p.stop().await;
}

#[tokio::test]
async fn stop_closes_live_connections() {
    let e = echo().await;
    let p = proxy(e.addr, Fault::HalfOpen).await;
    let mut s = connect(&p).await;
    s.write_all(b"x").await.expect("write");
    timeout(BOUND, p.stop()).await.expect("stop in time");
    let (_, end) = read_to_end(&mut s).await;
    assert!(
        end.is_ok() || end == Err(ErrorKind::ConnectionReset),
        "{end:?}"
    );
}

#[tokio::test]
async fn listener_closes_after_max_connections() {
    let e = echo().await;
    let options = ProxyOptions {
        max_connections: 1,
        ..Default::default()
    };
    let p = FaultProxy::start_with(e.addr, Fault::None, options)
        .await
        .expect("start");
    let mut first = connect(&p).await;
    roundtrip(&mut first, b"one").await;
    // The listener is gone: a second connection is refused outright (or closed at once).
    match timeout(BOUND, TcpStream::connect(p.addr())).await {
        Ok(Err(_)) => {}
        Ok(Ok(mut s)) => {
            let (data, _) = read_to_end(&mut s).await;
            assert!(data.is_empty());
        }
        Err(_) => panic!("connect neither failed nor succeeded"),
    }
    assert_eq!(p.stats().accepted, 1);
    roundtrip(&mut first, b"still").await;
    p.stop().await;
}
