//! Test support for black-box tests: starts the real `fep` binary on a generated config, and
//! the testkit's simulated Hecto bank, configured and steered by the test. Loopback only;
//! every wait is bounded and says what it waited for when it gives up.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use fep_codec::Telegram;
use fep_specs::hecto;
use fep_testkit::sim::{SimConfig, SimHandle, Simulator};
use tokio::net::{TcpListener, TcpSocket};

pub use fep_testkit::sim::Answer;

pub mod pki;

/// How long a test waits for the gateway or the bank to reach a state.
pub const WAIT: Duration = Duration::from_secs(10);

pub const SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../specs/hecto.toml");

/// A running `fep run` process; killed on drop.
pub struct Fep {
    child: Child,
    pub native: SocketAddr,
    pub http: SocketAddr,
    /// The readiness line `fep run` printed.
    ready: String,
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
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn fep");
        let rx = stdout_lines(&mut child);
        // The last lines of stderr, drained all along, to say why a start failed.
        let stderr = child.stderr.take().expect("stderr");
        let tail: Arc<Mutex<VecDeque<String>>> = Arc::default();
        let t = tail.clone();
        let stderr_reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut t = t.lock().unwrap_or_else(|p| p.into_inner());
                if t.len() == 20 {
                    t.pop_front();
                }
                t.push_back(line);
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|e| {
                let what = match e {
                    std::sync::mpsc::RecvTimeoutError::Timeout => {
                        let _ = child.kill();
                        "did not become ready in 20 s"
                    }
                    std::sync::mpsc::RecvTimeoutError::Disconnected => "exited before it was ready",
                };
                let _ = child.wait();
                let _ = stderr_reader.join();
                let said = tail.lock().unwrap_or_else(|p| p.into_inner());
                panic!(
                    "fep {what}; its stderr ends:\n{}",
                    Vec::from(said.clone()).join("\n")
                )
            });
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
            ready: line,
        }
    }

    /// The readiness line `fep run` printed.
    pub fn ready_line(&self) -> &str {
        &self.ready
    }

    /// Where the inbound link `link` of `institution` listens, from the readiness line's
    /// ` listen.<institution>.<link>=<addr>` token (a config may bind `127.0.0.1:0`).
    pub fn listen_addr(&self, institution: &str, link: &str) -> SocketAddr {
        let key = format!("listen.{institution}.{link}=");
        self.ready
            .split_whitespace()
            .find_map(|w| w.strip_prefix(key.as_str()))
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "no {key}<addr> token in the readiness line {:?} (the gateway reports the \
                     bound address of inbound links from the `listen` status change on)",
                    self.ready
                )
            })
    }

    /// `GET /v1/status`.
    pub fn status(&self) -> serde_json::Value {
        let (code, body) = http(self.http, "GET", "/v1/status", None);
        assert_eq!(code, 200, "/v1/status: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("/v1/status ({e}): {body}"))
    }

    /// One institution's entry of `/v1/status`.
    pub fn institution_status(&self, name: &str) -> serde_json::Value {
        let status = self.status();
        status["institutions"]
            .as_array()
            .and_then(|all| all.iter().find(|i| i["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("no institution {name} in {status}"))
    }

    /// Waits until `/v1/status` shows `institution` signed on (its sign-on answered).
    pub async fn wait_signed_on(&self, institution: &str) {
        let what = format!("{institution} signed on in /v1/status");
        until(WAIT, &what, || {
            self.institution_status(institution)["signed_on"] == true
        })
        .await;
    }

    /// Waits until `/v1/status` shows the link `link` of `institution` in `state`.
    pub async fn wait_link(&self, institution: &str, link: &str, state: &str) {
        let what = format!("link {institution}/{link} {state} in /v1/status");
        until(WAIT, &what, || {
            let i = self.institution_status(institution);
            i["links"]
                .as_array()
                .is_some_and(|l| l.iter().any(|l| l["name"] == link && l["state"] == state))
        })
        .await;
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

/// The lines a child prints on its (piped) stdout, as they come.
pub fn stdout_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("stdout piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

impl Drop for Fep {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// Split lines: an outbound send link to `connect` and an inbound recv link on a port the
/// gateway picks (read it with [`Fep::listen_addr`]), open to `allowed_peer` only.
pub fn split_links(connect: SocketAddr, allowed_peer: &str) -> String {
    format!(
        "[[institution.links]]\nname = \"send\"\nrole = \"outbound\"\ndirection = \"send\"\nconnect = \"{connect}\"\n\
         [[institution.links]]\nname = \"recv\"\nrole = \"inbound\"\ndirection = \"recv\"\nlisten = \"127.0.0.1:0\"\nallowed_peers = [\"{allowed_peer}\"]\n"
    )
}

/// A whole config with one institution, "hecto", on one duplex link to `bank`, with the given
/// request timeout and inquiry delay (polls after 5 minutes idle); its journal in `data`.
pub fn duplex_hecto(data: &Path, bank: SocketAddr, timeout: &str, inquiry_delay: &str) -> String {
    config(
        data,
        &[institution(
            "hecto",
            &duplex_link(bank),
            timeout,
            inquiry_delay,
            "5m",
        )],
    )
}

/// A whole config: server section with free ports + institutions.
pub fn config(data_dir: &Path, institutions: &[String]) -> String {
    format!(
        "[server]\nnative_listen = \"127.0.0.1:0\"\nhttp_listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n{}",
        data_dir.display(),
        institutions.concat()
    )
}

/// The simulated bank of a black-box test: full mode, recording what it receives, answering
/// transfers as `answer` says (steer it later with [`SimHandle::set_answer`]).
pub async fn bank(answer: Answer) -> SimHandle {
    bank_with(answer, SimConfig::default()).await
}

/// A legacy host that leaves Nagle's algorithm on and writes each answer on its own: a
/// second answer waits until the first is acknowledged.
pub async fn legacy_bank(answer: Answer) -> SimHandle {
    bank_with(
        answer,
        SimConfig {
            nagle: true,
            ..SimConfig::default()
        },
    )
    .await
}

/// A split-lines bank that answers only on the line it opens to the gateway, and opens it only
/// when the test calls [`SimHandle::connect_back`]: an answer due meanwhile is lost, as on a
/// real line (no `back_hold`).
pub async fn split_bank(answer: Answer) -> SimHandle {
    let sim = bank_with(
        answer,
        SimConfig {
            back_hold_ms: 0,
            ..SimConfig::default()
        },
    )
    .await;
    sim.expect_connect_back();
    sim
}

/// The simulated bank with the settings `cfg` (latency, decline and unknown rates, …),
/// recording, answering as `answer` says.
pub async fn bank_with(answer: Answer, cfg: SimConfig) -> SimHandle {
    // Bound here and handed over: the address is the simulator's before the gateway starts.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind bank");
    let sim = Simulator::start_on(
        listener,
        SimConfig {
            record: true,
            ..cfg
        },
    )
    .expect("start the simulated bank");
    sim.set_answer(answer).expect("valid answer");
    sim
}

/// A loopback port that is bound but not listening: connecting to it is refused (a server
/// that is down) until [`TcpSocket::listen`] turns it into the server's listener. Unlike a
/// port released and bound again later, nobody else can take it meanwhile.
pub fn reserved_port() -> (TcpSocket, SocketAddr) {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("bind");
    let addr = socket.local_addr().expect("addr");
    (socket, addr)
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

/// Polls `cond` every 50 ms until it holds; panics naming `what` if it does not within `limit`.
pub async fn until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    if !eventually(limit, &mut cond).await {
        panic!("waited {limit:?} for: {what}");
    }
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
