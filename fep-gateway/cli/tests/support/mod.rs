//! Test support for black-box tests: starts the real `fep` binary on a generated config, and a
//! scriptable fake institution speaking Hecto over TCP. Loopback only; every wait is bounded.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use fep_client::framing::{FrameCodec, Framing};
use fep_codec::Telegram;
use fep_specs::hecto;
use futures::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::codec::Framed;

pub const SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../specs/hecto.toml");

/// A running `fep run` process; killed on drop.
pub struct Fep {
    child: Child,
    pub native: SocketAddr,
    pub http: SocketAddr,
}

impl Fep {
    /// Writes `config` to `dir/fep.toml` and starts `fep run` on it, waiting for readiness.
    pub fn start(dir: &Path, config: &str, extra: &[&str]) -> Fep {
        let path = dir.join("fep.toml");
        std::fs::write(&path, config).expect("write config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_fep"))
            .arg("run")
            .arg("--config")
            .arg(&path)
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn fep");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("fep did not become ready in 20 s");
        let addr = |key: &str| -> SocketAddr {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| panic!("no {key} in readiness line {line:?}"))
        };
        Fep {
            native: addr("native="),
            http: addr("http="),
            child,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory in KiB (Linux /proc).
    pub fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0)
    }

    /// SIGKILL: no chance to flush or sign off.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a graceful exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").arg("-TERM").arg(&pid).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "fep did not exit within 20 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Fep {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port.
pub fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

/// One institution section of a generated config.
pub fn institution(
    name: &str,
    links: &str,
    timeout: &str,
    inquiry_delay: &str,
    poll: &str,
) -> String {
    format!(
        r#"
[[institution]]
name = "{name}"
spec = "{SPEC}"
framing = {{ kind = "ascii", digits = 4, includes_self = false }}
max_frame = 4096
request_timeout = "{timeout}"
{links}
[institution.header]
"header.id_code" = "SETTLEBNK"
"header.company_no" = "TESTCO"
"header.bank_code" = "004"
"header.send_count" = "1"
[institution.polling]
enabled = true
idle_interval = "{poll}"
answer_peer_polls = true
[institution.unknown]
inquiry_delay = "{inquiry_delay}"
inquiry_interval = "{inquiry_delay}"
inquiry_max_attempts = 5
[institution.limits]
max_inflight = 1000
queue_depth = 1000
rate_tps = 1000
"#
    )
}

/// An outbound duplex link section.
pub fn duplex_link(connect: SocketAddr) -> String {
    format!("[[institution.links]]\nname = \"duplex\"\nrole = \"outbound\"\ndirection = \"both\"\nconnect = \"{connect}\"\n")
}

/// A whole config: server section with free ports + institutions.
pub fn config(data_dir: &Path, institutions: &[String]) -> String {
    format!(
        "[server]\nnative_listen = \"127.0.0.1:0\"\nhttp_listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n{}",
        data_dir.display(),
        institutions.concat()
    )
}

/// How the fake institution answers a transfer.
#[derive(Debug, Clone)]
pub enum Answer {
    /// With this response code.
    Code(&'static str),
    /// Not at all.
    Silent,
    /// With this code after a delay.
    Late(&'static str, Duration),
}

/// What the fake institution saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub msg_type: String,
    pub biz_type: String,
    pub msg_no: u32,
    pub date: String,
}

#[derive(Default)]
pub struct FakeState {
    pub seen: Vec<Seen>,
    pub polls_received: Vec<Vec<u8>>,
    pub poll_answers: Vec<Vec<u8>>,
    pub acks: Vec<Vec<u8>>,
    pub connections: usize,
    /// (date, msg_no) of executed transfers → result code, for result inquiries.
    pub executed: HashMap<(String, u32), String>,
}

/// A scriptable Hecto institution: answers sign-on, polls and inquiries, and transfers as told.
#[derive(Clone)]
pub struct Fake {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<FakeState>>,
    answer: Arc<Mutex<Answer>>,
    /// Frames pushed by the test to the latest connection (raw, framing added by the codec).
    push: Arc<Mutex<Option<mpsc::Sender<Bytes>>>>,
    /// When set, answers go to connections accepted on this second listener (split lines).
    reply_via: Arc<Mutex<Option<mpsc::Sender<Bytes>>>>,
}

fn codec() -> FrameCodec {
    FrameCodec::new(Framing::hecto(), 4096).expect("codec")
}

impl Fake {
    /// A host that sets `TCP_NODELAY` on its connections.
    pub async fn start(answer: Answer) -> Fake {
        Fake::start_with(answer, true).await
    }

    /// A legacy host that leaves Nagle's algorithm on: a second answer waits until the first
    /// is acknowledged.
    pub async fn start_legacy(answer: Answer) -> Fake {
        Fake::start_with(answer, false).await
    }

    async fn start_with(answer: Answer, nodelay: bool) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake");
        let fake = Fake {
            addr: listener.local_addr().expect("addr"),
            state: Arc::default(),
            answer: Arc::new(Mutex::new(answer)),
            push: Arc::default(),
            reply_via: Arc::default(),
        };
        let f = fake.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(nodelay);
                f.state.lock().unwrap().connections += 1;
                tokio::spawn(f.clone().serve(stream));
            }
        });
        fake
    }

    pub fn set_answer(&self, a: Answer) {
        *self.answer.lock().unwrap() = a;
    }

    /// Connects to the gateway's inbound recv listener; responses go there from now on.
    pub async fn connect_back(&self, addr: SocketAddr) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let stream = loop {
            match tokio::net::TcpStream::connect(addr).await {
                Ok(s) => break s,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Err(e) => panic!("connect back to {addr}: {e}"),
            }
        };
        let (tx, mut rx) = mpsc::channel::<Bytes>(1024);
        *self.reply_via.lock().unwrap() = Some(tx);
        let mut framed = Framed::new(stream, codec());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    out = rx.recv() => match out { Some(b) => { if framed.send(b).await.is_err() { return; } } None => return },
                    inbound = framed.next() => match inbound { Some(Ok(_)) => {}, _ => return },
                }
            }
        });
    }

    /// Sends raw bytes (no framing added) on the latest connection.
    pub async fn push_raw(&self, bytes: &'static [u8]) {
        let tx = self.push.lock().unwrap().clone().expect("no connection");
        tx.send(Bytes::from_static(bytes)).await.expect("push");
    }

    /// Sends a telegram (framed) on the latest connection, marked so `serve` writes it raw.
    pub async fn push_telegram(&self, telegram: Vec<u8>) {
        let mut framed = format!("{:04}", telegram.len()).into_bytes();
        framed.extend_from_slice(&telegram);
        let tx = self.push.lock().unwrap().clone().expect("no connection");
        tx.send(Bytes::from(framed)).await.expect("push");
    }

    async fn serve(self, stream: tokio::net::TcpStream) {
        let (push_tx, mut push_rx) = mpsc::channel::<Bytes>(64);
        *self.push.lock().unwrap() = Some(push_tx);
        let (reply_tx, mut reply_rx) = mpsc::channel::<Bytes>(1024);
        let mut framed = Framed::new(stream, codec());
        loop {
            tokio::select! {
                frame = framed.next() => {
                    let Some(Ok(frame)) = frame else { return };
                    if let Some(answer) = self.handle(&frame, &reply_tx) {
                        if framed.send(Bytes::from(answer)).await.is_err() { return; }
                    }
                }
                Some(out) = reply_rx.recv() => {
                    if framed.send(out).await.is_err() { return; }
                }
                Some(raw) = push_rx.recv() => {
                    use tokio::io::AsyncWriteExt;
                    if framed.get_mut().write_all(&raw).await.is_err() { return; }
                }
            }
        }
    }

    /// Returns an immediate answer for the same connection, or schedules one.
    fn handle(&self, frame: &[u8], reply_tx: &mpsc::Sender<Bytes>) -> Option<Vec<u8>> {
        if frame.starts_with(b"HDRREQPOLL") {
            self.state
                .lock()
                .unwrap()
                .polls_received
                .push(frame.to_vec());
            let mut answer = frame.to_vec();
            answer[3..10].copy_from_slice(b"RESPOLL");
            return Some(answer);
        }
        if frame.starts_with(b"HDRRESPOLL") {
            self.state.lock().unwrap().poll_answers.push(frame.to_vec());
            return None;
        }
        let header = hecto::HectoHeader::decode(frame.get(..100)?).ok()?;
        let seen = Seen {
            msg_type: header.msg_type.clone(),
            biz_type: header.biz_type.clone(),
            msg_no: header.msg_no,
            date: header.send_date.clone(),
        };
        let key = (header.send_date.clone(), header.msg_no);
        let mut state = self.state.lock().unwrap();
        if header.msg_type.ends_with("100") {
            state.acks.push(frame.to_vec()); // a response from the gateway: a notice ack
            return None;
        }
        let duplicate = state
            .seen
            .iter()
            .any(|s| s.date == seen.date && s.msg_no == seen.msg_no);
        state.seen.push(seen);
        let respond = |code: &str| -> Vec<u8> {
            let mut out = frame.to_vec();
            if let Some(h) = header.to_response(code) {
                if let Ok(bytes) = h.encode() {
                    out[..100].copy_from_slice(&bytes);
                }
            }
            out
        };
        let answer = match (header.msg_type.as_str(), header.biz_type.as_str()) {
            ("1000", _) => Some(respond("0000")),
            ("7000", "100") => {
                let orig = hecto::TransferResultInquiry::decode(frame).ok()?;
                let result = state
                    .executed
                    .get(&(header.send_date.clone(), orig.orig_msg_no))
                    .cloned()
                    .unwrap_or_else(|| "NREC".into());
                let mut out = respond("0000");
                out[193..197].copy_from_slice(format!("{result:<4}").as_bytes());
                Some(out)
            }
            _ if duplicate => Some(respond("SB09")),
            ("2000", _) => {
                let answer = self.answer.lock().unwrap().clone();
                match answer {
                    Answer::Code(code) => {
                        state.executed.insert(key, code.into());
                        Some(respond(code))
                    }
                    Answer::Silent => {
                        state.executed.insert(key, "0000".into());
                        None
                    }
                    Answer::Late(code, delay) => {
                        state.executed.insert(key, code.into());
                        let (tx, out) = (reply_tx.clone(), respond(code));
                        tokio::spawn(async move {
                            tokio::time::sleep(delay).await;
                            let _ = tx.send(Bytes::from(out)).await;
                        });
                        None
                    }
                }
            }
            _ => Some(respond("0000")),
        };
        // Split lines: everything but poll answers goes back on the connect-back connection.
        let via = self.reply_via.lock().unwrap().clone();
        match (answer, via) {
            (Some(a), Some(via)) => {
                let _ = via.try_send(Bytes::from(a));
                None
            }
            (a, _) => a,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn transfers(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.msg_type == "2000")
            .collect()
    }
}

/// A Hecto transfer request as a client sends it (the gateway stamps number, date, time).
pub fn transfer(amount: u64) -> Bytes {
    let t = hecto::Transfer {
        header: hecto::HectoHeader {
            id_code: "SETTLEBNK".into(),
            company_no: "TESTCO".into(),
            bank_code: "004".into(),
            msg_type: "2000".into(),
            biz_type: "100".into(),
            send_count: 1,
            send_date: "00000000".into(),
            send_time: "000000".into(),
            ..Default::default()
        },
        wd_account: "110123456789".into(),
        amount,
        bal_sign: "+".into(),
        dep_bank: "088".into(),
        dep_account: "333012345678".into(),
        memo: "급여".into(),
        dep_holder: "홍길동".into(),
        ..Default::default()
    };
    Bytes::from(t.encode().expect("encode transfer"))
}

/// A deposit notice as the bank sends it.
pub fn deposit_notice(msg_no: u32, date: &str) -> Vec<u8> {
    hecto::DepositNotice {
        header: hecto::HectoHeader {
            id_code: "SETTLEBNK".into(),
            company_no: "TESTCO".into(),
            bank_code: "004".into(),
            msg_type: "4000".into(),
            biz_type: "100".into(),
            send_count: 1,
            msg_no,
            send_date: date.into(),
            send_time: "093000".into(),
            reserved3: "ECHO-ME".into(),
            ..Default::default()
        },
        account: "110123456789".into(),
        io_cancel_type: "11".into(),
        tx_kind: "03".into(),
        amount: 150_000,
        bal_sign: "+".into(),
        counterparty_name: "김철수".into(),
        tx_date: date.into(),
        tx_time: "093000".into(),
        tx_seq: msg_no,
        ..Default::default()
    }
    .encode()
    .expect("encode notice")
}

/// Polls `cond` every 50 ms until true or `limit`.
pub async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cond()
}

/// A minimal HTTP/1.1 exchange (Connection: close); returns (status, body).
pub fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("http connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("http write");
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((resp.as_str(), ""));
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    (
        status,
        if chunked {
            dechunk(body)
        } else {
            body.to_owned()
        },
    )
}

/// Decodes an HTTP/1.1 chunked body: `<hex size>\r\n<data>\r\n` … `0\r\n\r\n`.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}

/// Polls `GET /v1/status` until `done` holds for the first institution's counters (or 10 s);
/// returns the last counters seen.
pub async fn counters_until(
    http_addr: SocketAddr,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let mut counters = serde_json::Value::Null;
    for _ in 0..100 {
        let (_, body) = http(http_addr, "GET", "/v1/status", None);
        let status: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        counters = status["institutions"][0]["counters"].clone();
        if done(&counters) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    counters
}

/// A temp directory for one test.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// Path helper.
pub fn data(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}
