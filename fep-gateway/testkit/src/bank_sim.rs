//! A minimal simulated Hecto bank, kept deliberately small and cheap for `fep bench`: the
//! benchmark measures the gateway, so the bank on the other side must cost as little CPU as
//! possible. For demos and behaviour tests use the full simulator, [`crate::sim`] (latency
//! distributions, in-progress inquiries, notice resends, session rules).
//!
//! It answers sign-on, polls, TEST CALL, transfers (with seeded decline / unknown /
//! no-response rates and a latency range), name inquiries and result inquiries (revealing the
//! true outcome of unknowns), refuses a reused 전문번호 (SB09), sends deposit notices, and can
//! answer on a separate connection it opens to the gateway (split lines).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use fep_codec::Telegram;
use fep_specs::hecto;
use futures::{SinkExt, StreamExt};
use rand::{RngExt, SeedableRng};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_util::codec::Framed;

use fep_client::framing::{FrameCodec, Framing};

/// How the simulated bank behaves.
#[derive(Debug, Clone)]
pub struct BankSimConfig {
    /// Where to listen for the gateway's outbound links.
    pub listen: SocketAddr,
    /// Split lines: answers and notices go on a connection the bank opens to this address.
    pub connect_back: Option<SocketAddr>,
    /// Answer latency, uniformly drawn from this range (milliseconds).
    pub latency_ms: (u64, u64),
    /// Share of transfers declined (SB02 한도초과).
    pub decline_rate: f64,
    /// Share of transfers answered VTIM (outcome unknown; the inquiry reveals the truth).
    pub unknown_rate: f64,
    /// Share of transfers never answered (executed all the same).
    pub no_response_rate: f64,
    /// Send a deposit notice this often (None = never).
    pub notice_every: Option<Duration>,
    /// Seed of every random choice.
    pub seed: u64,
}

impl Default for BankSimConfig {
    fn default() -> Self {
        BankSimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            connect_back: None,
            latency_ms: (0, 0),
            decline_rate: 0.0,
            unknown_rate: 0.0,
            no_response_rate: 0.0,
            notice_every: None,
            seed: 1,
        }
    }
}

/// Counters of the simulated bank.
#[derive(Debug, Default)]
pub struct BankSimStats {
    /// Telegrams received (polls excluded).
    pub received: AtomicU64,
    /// Transfers executed.
    pub executed: AtomicU64,
    /// Reused 전문번호 refused.
    pub duplicates: AtomicU64,
    /// Notices sent (resends included).
    pub notices_sent: AtomicU64,
    /// Notice acknowledgements received.
    pub notices_acked: AtomicU64,
    /// Result inquiries answered.
    pub inquiries: AtomicU64,
}

#[derive(Default)]
struct Ledger {
    /// (date, 전문번호) → result code of each transfer received.
    results: HashMap<(String, u32), String>,
}

/// A running simulated bank.
pub struct BankSim {
    addr: SocketAddr,
    stats: Arc<BankSimStats>,
    stop: watch::Sender<bool>,
}

/// Errors starting the simulator.
#[derive(Debug, thiserror::Error)]
#[error("bank simulator: {0}")]
pub struct BankSimError(String);

struct Shared {
    config: BankSimConfig,
    ledger: Mutex<Ledger>,
    stats: Arc<BankSimStats>,
    rng: Mutex<rand::rngs::StdRng>,
    back: Mutex<Option<mpsc::Sender<Bytes>>>,
    notice_no: AtomicU64,
}

impl BankSim {
    /// Binds and starts serving.
    pub async fn start(config: BankSimConfig) -> Result<BankSim, BankSimError> {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| BankSimError(format!("listen {}: {e}", config.listen)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| BankSimError(e.to_string()))?;
        let (stop, stop_rx) = watch::channel(false);
        let stats = Arc::new(BankSimStats::default());
        let shared = Arc::new(Shared {
            rng: Mutex::new(rand::rngs::StdRng::seed_from_u64(config.seed)),
            config,
            ledger: Mutex::default(),
            stats: stats.clone(),
            back: Mutex::default(),
            notice_no: AtomicU64::new(0),
        });
        if let Some(back) = shared.config.connect_back {
            tokio::spawn(connect_back(shared.clone(), back, stop_rx.clone()));
        }
        let s = shared.clone();
        let mut stop_accept = stop_rx.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = stop_accept.changed() => return,
                };
                if let Ok((stream, _)) = accepted {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve(s.clone(), stream, stop_rx.clone()));
                }
            }
        });
        Ok(BankSim { addr, stats, stop })
    }

    /// The listen address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Counters.
    pub fn stats(&self) -> &BankSimStats {
        &self.stats
    }

    /// Stops accepting and closes every connection.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn codec() -> FrameCodec {
    // Hecto framing with a fixed, valid configuration: construction cannot fail.
    FrameCodec::new(Framing::hecto(), 4096).unwrap_or_else(|_| FrameCodec::u32_length(4096))
}

async fn connect_back(shared: Arc<Shared>, addr: SocketAddr, mut stop: watch::Receiver<bool>) {
    loop {
        if let Ok(stream) = TcpStream::connect(addr).await {
            let _ = stream.set_nodelay(true);
            let (tx, mut rx) = mpsc::channel::<Bytes>(4096);
            *shared.back.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
            let mut framed = Framed::new(stream, codec());
            loop {
                tokio::select! {
                    out = rx.recv() => match out {
                        Some(b) => if framed.send(b).await.is_err() { break },
                        None => break,
                    },
                    inbound = framed.next() => match inbound {
                        // The gateway's side of a recv line only carries polls and acks.
                        Some(Ok(frame)) => note_ack(&shared, &frame),
                        _ => break,
                    },
                    _ = stop.changed() => return,
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = stop.changed() => return,
        }
    }
}

fn note_ack(shared: &Shared, frame: &[u8]) {
    if frame
        .get(24..28)
        .is_some_and(|t| t == b"4100" || t == b"3100")
    {
        shared.stats.notices_acked.fetch_add(1, Ordering::Relaxed);
    }
}

async fn serve(shared: Arc<Shared>, stream: TcpStream, mut stop: watch::Receiver<bool>) {
    let mut framed = Framed::new(stream, codec());
    let (tx, mut rx) = mpsc::channel::<Bytes>(4096);
    let mut notices = tokio::time::interval(
        shared
            .config
            .notice_every
            .unwrap_or(Duration::from_secs(3600)),
    );
    notices.tick().await;
    loop {
        tokio::select! {
            frame = framed.next() => {
                let Some(Ok(frame)) = frame else { return };
                if frame.starts_with(b"HDRREQPOLL") {
                    let mut answer = frame.to_vec();
                    answer[3..10].copy_from_slice(b"RESPOLL");
                    if framed.send(Bytes::from(answer)).await.is_err() { return; }
                    continue;
                }
                if frame.starts_with(b"HDRRESPOLL") { continue; }
                note_ack(&shared, &frame);
                handle(&shared, frame, &tx);
            }
            Some(out) = rx.recv() => {
                if framed.feed(out).await.is_err() { return; }
                while let Ok(more) = rx.try_recv() {
                    if framed.feed(more).await.is_err() { return; }
                }
                if SinkExt::<Bytes>::flush(&mut framed).await.is_err() { return; }
            }
            _ = notices.tick(), if shared.config.notice_every.is_some() => {
                if let Some(n) = notice(&shared) {
                    shared.stats.notices_sent.fetch_add(1, Ordering::Relaxed);
                    reply(&shared, &tx, n);
                }
            }
            _ = stop.changed() => return,
        }
    }
}

/// Sends on the connect-back line when split, else on the receiving connection.
fn reply(shared: &Shared, same: &mpsc::Sender<Bytes>, telegram: Vec<u8>) {
    let back = shared
        .back
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let _ = back
        .as_ref()
        .unwrap_or(same)
        .try_send(Bytes::from(telegram));
}

fn respond(frame: &[u8], header: &hecto::HectoHeader, code: &str) -> Vec<u8> {
    let mut out = frame.to_vec();
    if let Some(bytes) = header.to_response(code).and_then(|h| h.encode().ok()) {
        out[..bytes.len()].copy_from_slice(&bytes);
    }
    out
}

fn handle(shared: &Arc<Shared>, frame: Bytes, tx: &mpsc::Sender<Bytes>) {
    let Some(header) = frame
        .get(..100)
        .and_then(|h| hecto::HectoHeader::decode(h).ok())
    else {
        return;
    };
    if !header.is_request() {
        return; // acks of our notices
    }
    shared.stats.received.fetch_add(1, Ordering::Relaxed);
    let key = (header.send_date.clone(), header.msg_no);
    let (msg_type, biz) = (header.msg_type.as_str(), header.biz_type.as_str());
    if msg_type == "7000" && biz == "100" {
        shared.stats.inquiries.fetch_add(1, Ordering::Relaxed);
        let orig = hecto::TransferResultInquiry::decode(&frame)
            .map(|q| q.orig_msg_no)
            .unwrap_or(0);
        let result = shared
            .ledger
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .results
            .get(&(key.0.clone(), orig))
            .cloned()
            .unwrap_or_else(|| "NREC".into());
        let mut out = respond(&frame, &header, "0000");
        out[193..197].copy_from_slice(format!("{result:<4}").as_bytes());
        return reply(shared, tx, out);
    }
    if msg_type == "6000" && biz == "100" {
        // 계좌성명조회: the holder's name, as the bank has it.
        let answer = hecto::AccountNameInquiry::decode(&frame)
            .ok()
            .and_then(|mut q| {
                q.header = header.to_response("0000")?;
                q.holder1 = "홍길동".into();
                q.encode().ok()
            });
        return reply(
            shared,
            tx,
            answer.unwrap_or_else(|| respond(&frame, &header, "0001")),
        );
    }
    if msg_type != "2000" {
        return reply(shared, tx, respond(&frame, &header, "0000"));
    }
    // A transfer: refuse a reused number, else decide its fate.
    let (result, answer, delay) = {
        let mut ledger = shared.ledger.lock().unwrap_or_else(|p| p.into_inner());
        if ledger.results.contains_key(&key) {
            shared.stats.duplicates.fetch_add(1, Ordering::Relaxed);
            drop(ledger);
            return reply(shared, tx, respond(&frame, &header, "SB09"));
        }
        let mut rng = shared.rng.lock().unwrap_or_else(|p| p.into_inner());
        let c = &shared.config;
        let roll: f64 = rng.random();
        let (lo, hi) = c.latency_ms;
        let delay = Duration::from_millis(if hi > lo {
            rng.random_range(lo..=hi)
        } else {
            lo
        });
        let (result, answer) = if roll < c.decline_rate {
            ("SB02", Some("SB02"))
        } else if roll < c.decline_rate + c.unknown_rate {
            // The bank timed out internally; the truth (drawn here) comes out by inquiry.
            (
                if rng.random::<f64>() < 0.8 {
                    "0000"
                } else {
                    "SB02"
                },
                Some("VTIM"),
            )
        } else if roll < c.decline_rate + c.unknown_rate + c.no_response_rate {
            ("0000", None)
        } else {
            ("0000", Some("0000"))
        };
        ledger.results.insert(key, result.to_owned());
        (result, answer, delay)
    };
    if result == "0000" {
        shared.stats.executed.fetch_add(1, Ordering::Relaxed);
    }
    let Some(code) = answer else { return };
    let out = respond(&frame, &header, code);
    if delay.is_zero() {
        return reply(shared, tx, out);
    }
    let (shared, tx) = (shared.clone(), tx.clone());
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        reply(&shared, &tx, out);
    });
}

fn notice(shared: &Shared) -> Option<Vec<u8>> {
    let n = shared.notice_no.fetch_add(1, Ordering::Relaxed) as u32 + 1;
    let now = fep_gateway::clock::Clock::now(&fep_gateway::clock::SystemClock);
    let day = fep_gateway::clock::day_of(&now).to_string();
    hecto::DepositNotice {
        header: hecto::HectoHeader {
            id_code: hecto::ID_CODE.into(),
            company_no: "FEPDEMO01".into(),
            bank_code: "004".into(),
            msg_type: "4000".into(),
            biz_type: "100".into(),
            send_count: 1,
            msg_no: n,
            send_date: day.clone(),
            send_time: format!("{:06}", fep_gateway::clock::hms_of(&now)),
            ..Default::default()
        },
        account: "110123456789".into(),
        io_cancel_type: "11".into(),
        tx_kind: "03".into(),
        amount: 10_000 * u64::from(n % 97 + 1),
        bal_sign: "+".into(),
        counterparty_name: "김철수".into(),
        tx_date: day,
        tx_time: format!("{:06}", fep_gateway::clock::hms_of(&now)),
        tx_seq: n,
        ..Default::default()
    }
    .encode()
    .ok()
}
