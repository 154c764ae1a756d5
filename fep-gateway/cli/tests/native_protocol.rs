//! Black-box tests of the native protocol, written as an independent client would from
//! docs/protocol.md: raw TCP and hand-built frames (no fep-client), against the real `fep`
//! binary and a fake bank. Loopback only; every wait has a deadline.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use fep_testkit::sim::SimHandle;
use support::*;

const WAIT: Duration = Duration::from_secs(10);

/// A Response (§3.2) as read off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reply {
    id: u64,
    outcome: u8,
    detail: String,
    telegram: Vec<u8>,
}

/// What a frame from the gateway was.
#[derive(Debug)]
enum Frame {
    Response(Reply),
    Pong(u64),
    Other(u8),
}

/// `length | kind | fields`, per docs/protocol.md §2.
fn frame(kind: u8, fields: &[u8]) -> Vec<u8> {
    let len = u32::try_from(1 + fields.len()).expect("frame length");
    let mut out = len.to_be_bytes().to_vec();
    out.push(kind);
    out.extend_from_slice(fields);
    out
}

/// A Request (§3.1): id, timeout_ms, str institution, bytes telegram.
fn request(id: u64, timeout_ms: u32, institution: &[u8], telegram: &[u8]) -> Vec<u8> {
    let mut f = id.to_be_bytes().to_vec();
    f.extend_from_slice(&timeout_ms.to_be_bytes());
    f.extend_from_slice(&u16::try_from(institution.len()).expect("str").to_be_bytes());
    f.extend_from_slice(institution);
    f.extend_from_slice(&u32::try_from(telegram.len()).expect("bytes").to_be_bytes());
    f.extend_from_slice(telegram);
    frame(0x01, &f)
}

fn ping(nonce: u64) -> Vec<u8> {
    frame(0x06, &nonce.to_be_bytes())
}

/// A client connection with a read deadline.
struct Conn(TcpStream);

impl Conn {
    fn open(addr: std::net::SocketAddr) -> Conn {
        let s = TcpStream::connect(addr).expect("connect native");
        s.set_read_timeout(Some(WAIT)).expect("timeout");
        Conn(s)
    }

    fn send(&mut self, bytes: &[u8]) {
        self.0.write_all(bytes).expect("write");
    }

    /// The next frame; panics on EOF or after the deadline.
    fn next(&mut self) -> Frame {
        let mut len = [0u8; 4];
        self.0
            .read_exact(&mut len)
            .expect("a frame (the connection must stay open)");
        let len = u32::from_be_bytes(len) as usize;
        assert!((1..=1024 * 1024).contains(&len), "frame length {len}");
        let mut body = vec![0u8; len];
        self.0.read_exact(&mut body).expect("frame body");
        let (kind, f) = (body[0], &body[1..]);
        let u64_at = |at: usize| u64::from_be_bytes(f[at..at + 8].try_into().expect("u64"));
        match kind {
            0x02 => {
                let n = usize::from(u16::from_be_bytes([f[9], f[10]]));
                let detail = String::from_utf8(f[11..11 + n].to_vec()).expect("detail is UTF-8");
                let at = 11 + n;
                let m = u32::from_be_bytes(f[at..at + 4].try_into().expect("u32")) as usize;
                assert_eq!(f.len(), at + 4 + m, "no trailing bytes");
                Frame::Response(Reply {
                    id: u64_at(0),
                    outcome: f[8],
                    detail,
                    telegram: f[at + 4..].to_vec(),
                })
            }
            0x07 => Frame::Pong(u64_at(0)),
            other => Frame::Other(other),
        }
    }

    fn response(&mut self) -> Reply {
        match self.next() {
            Frame::Response(a) => a,
            Frame::Pong(nonce) => panic!("expected a Response, got Pong {nonce}"),
            Frame::Other(kind) => panic!("expected a Response, got kind {kind:#04x}"),
        }
    }
}

const OK: u8 = 0;
const REJECTED: u8 = 3;

/// A gateway on a fake bank that answers transfers `0000` after `delay`, signed on.
async fn gateway(delay: Duration) -> (SimHandle, Fep, tempfile::TempDir) {
    let fake = bank(Answer::late("0000", delay)).await;
    let dir = tempdir();
    let inst = institution("hecto", &duplex_link(fake.addr()), "5s", "1m", "5m");
    let fep = Fep::start(dir.path(), &config(&dir.path().join("data"), &[inst]), &[]);
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, body) = http(fep.http, "GET", "/v1/status", None);
        let status: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if status["institutions"][0]["signed_on"] == true {
            break;
        }
        assert!(Instant::now() < deadline, "not signed on: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (fake, fep, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_unknown_institution_name_is_refused_without_closing_the_connection() {
    let (_fake, fep, _dir) = gateway(Duration::from_millis(300)).await;
    let mut c = Conn::open(fep.native);
    // Request 1 stays open while the bank takes its time …
    c.send(&request(1, 5000, b"hecto", &transfer(70_000)));
    // … and request 2 names an unknown institution of 65,520 bytes: a valid str, but
    // "unknown institution \"…\"" around it is not.
    let name = "가".repeat(21_840);
    c.send(&request(2, 5000, name.as_bytes(), &transfer(1)));
    let refused = c.response();
    assert_eq!((refused.id, refused.outcome), (2, REJECTED), "{refused:?}");
    assert!(
        refused.detail.starts_with("unknown institution"),
        "{}",
        refused.detail
    );
    assert!(
        refused.detail.len() <= 1024,
        "detail of {} bytes",
        refused.detail.len()
    );
    // The connection survived: request 1 is answered and a Ping gets its Pong.
    let answered = c.response();
    assert_eq!((answered.id, answered.outcome), (1, OK), "{answered:?}");
    assert_eq!(answered.telegram.len(), 300);
    c.send(&ping(99));
    assert!(matches!(c.next(), Frame::Pong(99)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_reusing_an_open_id_is_refused_and_never_sent() {
    let (fake, fep, _dir) = gateway(Duration::from_millis(300)).await;
    let mut c = Conn::open(fep.native);
    c.send(&request(5, 5000, b"hecto", &transfer(70_000)));
    c.send(&request(5, 5000, b"hecto", &transfer(80_000)));
    let first = c.response();
    assert_eq!((first.id, first.outcome), (5, REJECTED), "{first:?}");
    assert!(first.detail.starts_with("duplicate id"), "{}", first.detail);
    let second = c.response();
    assert_eq!((second.id, second.outcome), (5, OK), "{second:?}");
    assert_eq!(
        fake.transfers().len(),
        1,
        "sent once: {:?}",
        fake.transfers()
    );
    // Once answered, the id is free again.
    c.send(&request(5, 5000, b"hecto", &transfer(90_000)));
    let third = c.response();
    assert_eq!((third.id, third.outcome), (5, OK), "{third:?}");
    assert_eq!(fake.transfers().len(), 2);
}

/// A keyed Request (kind 0x08, §3.7): a Request's fields, then `str idempotency_key`.
fn keyed_request(id: u64, institution: &[u8], telegram: &[u8], key: &[u8]) -> Vec<u8> {
    let mut plain = request(id, 5000, institution, telegram);
    plain[4] = 0x08;
    plain.extend_from_slice(&u16::try_from(key.len()).expect("str").to_be_bytes());
    plain.extend_from_slice(key);
    let len = u32::try_from(plain.len() - 4).expect("length");
    plain[..4].copy_from_slice(&len.to_be_bytes());
    plain
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_request_is_sent_once_per_key() {
    let (fake, fep, _dir) = gateway(Duration::from_millis(200)).await;
    let mut c = Conn::open(fep.native);
    let t = transfer(70_000);
    // Two requests with one key in flight at once, then one after: one transfer.
    c.send(&keyed_request(1, b"hecto", &t, b"pay-1"));
    c.send(&keyed_request(2, b"hecto", &t, b"pay-1"));
    let mut got = [c.response(), c.response()];
    got.sort_by_key(|r| r.id);
    assert_eq!((got[0].outcome, got[1].outcome), (OK, OK), "{got:?}");
    assert_eq!(got[0].telegram, got[1].telegram, "the same answer");
    c.send(&keyed_request(3, b"hecto", &t, b"pay-1"));
    let third = c.response();
    assert_eq!((third.id, third.outcome), (3, OK), "{third:?}");
    assert_eq!(third.telegram, got[0].telegram);
    assert_eq!(fake.transfers().len(), 1, "sent once");
    // The same key for another telegram: rejected, not sent; the connection stays usable.
    c.send(&keyed_request(4, b"hecto", &transfer(1), b"pay-1"));
    let refused = c.response();
    assert_eq!((refused.id, refused.outcome), (4, REJECTED), "{refused:?}");
    assert!(
        refused.detail.contains("different request"),
        "{}",
        refused.detail
    );
    c.send(&keyed_request(5, b"hecto", &t, b"bad key"));
    let bad = c.response();
    assert_eq!((bad.id, bad.outcome), (5, REJECTED), "{bad:?}");
    assert_eq!(fake.transfers().len(), 1);
    // Keys are shared with the HTTP API: the transaction is found by its key.
    let (status, body) = http(
        fep.http,
        "GET",
        "/v1/transactions?idempotency_key=pay-1",
        None,
    );
    assert_eq!(status, 200, "{body}");
}
