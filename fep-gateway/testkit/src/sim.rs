//! A simulated Hecto 실시간펌뱅킹 institution (a "bank") for tests and demos.
//!
//! The simulator listens for the gateway's outbound links and speaks the Hecto family
//! ([`fep_specs::hecto`]) with the real framing ([`Framing::hecto`]):
//!
//! - answers polls (`HDRREQPOLL…` → `HDRRESPOLL…`, same stamp, same session) and polls idle
//!   sessions itself when `poll_interval_ms` is set;
//! - 업무개시/종료/TEST CALL (1000/100, 200, 500) → 1100 with `0000`;
//! - 이체 / 집금 (2000/100, 2000/200) → after a drawn latency: `0000` (balance and fee filled),
//!   a decline code, an "unknown" code (`VTIM` or a bank's 처리중 code) or no answer at all;
//!   the true outcome is recorded when the request arrives and revealed by 7000/100;
//! - a reused (전송일자, 전문번호) is refused with `SB09` without executing;
//! - 계좌성명조회 6000/100, 이체처리결과조회 7000/100 (`NREC` for numbers never received),
//!   잔액조회 7000/200;
//! - unsolicited 4000/100 deposit notices (and some 3000/100 fail notices) with its own daily
//!   전문번호, resent with the same number until acknowledged (4100/3100 echoing 예비영역);
//! - split lines: with `connect_back` it connects to the gateway's inbound listener and sends
//!   every response and notice there (polls are still answered where they arrive).
//!
//! # Determinism
//!
//! The outcome of a request (ok / declined / unknown / no answer, the codes, the latency) is
//! drawn from an [`StdRng`] seeded from (`seed`, purpose, 전문번호). Keying on the 전문번호
//! rather than on arrival order keeps outcomes identical between runs even though the
//! gateway multiplexes requests over links in a timing-dependent order. Per-connection
//! randomness (reconnect jitter) and the notice stream use rngs derived from the seed and the
//! connection index / a fixed salt.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), fep_testkit::sim::SimError> {
//! use fep_testkit::sim::{SimConfig, Simulator};
//! let sim = Simulator::start(SimConfig {
//!     latency_ms: "2..20".into(),
//!     decline_rate: 0.05,
//!     unknown_rate: 0.01,
//!     seed: 42,
//!     ..SimConfig::default()
//! })
//! .await?;
//! println!("bank listening on {}", sim.addr());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use chrono::{Duration as ChronoDuration, NaiveDate, NaiveDateTime};
use fep_codec::Telegram;
use fep_specs::hecto::{
    self, AccountNameInquiry, AdminMessage, BalanceInquiry, Collection, DepositNotice, HectoHeader,
    HectoMessage, Poll, Transfer, TransferFailNotice, TransferResultInquiry,
};
use futures::{SinkExt, StreamExt};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::codec::Framed;
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::time::DelayQueue;

use fep_client::framing::{FrameCodec, Framing};
use fep_gateway::clock::{day_of, hms_of, poll_stamp, SharedClock, SystemClock};

/// Frames queued for one connection before a sender gives up (responses are then counted as
/// undeliverable, like a bank whose line is congested).
const OUT_QUEUE: usize = 1024;
/// Responses waiting for their latency on one session.
const MAX_DELAYED: usize = 20_000;
/// Deadline for writing one frame.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Deadline for one connect-back attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long shutdown waits for tasks before aborting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// Unacknowledged notices kept at once; generation pauses above this.
const MAX_PENDING_NOTICES: usize = 1000;
/// Executed transfers remembered as candidates for a later 불능통지.
const MAX_FAIL_CANDIDATES: usize = 256;
/// Latency draws are capped so a long-tailed distribution cannot park a response forever.
const MAX_LATENCY_MS: f64 = 600_000.0;

// Salts that separate the rng streams derived from one seed.
const SALT_OUTCOME: u64 = 0x6f75_7463_6f6d_6501;
const SALT_INQUIRY: u64 = 0x696e_7175_6972_7902;
const SALT_NOTICE: u64 = 0x6e6f_7469_6365_7303;
const SALT_CONN: u64 = 0x636f_6e6e_6563_7404;

/// Korean holder / counterparty names (all KS X 1001, at most 12 EUC-KR bytes).
const NAMES: [&str; 12] = [
    "홍길동",
    "김철수",
    "이영희",
    "박민수",
    "최지우",
    "정다은",
    "강서연",
    "조현우",
    "윤하늘",
    "장보고",
    "(주)한국상사",
    "한빛물산",
];

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// Simulator configuration; usable as `fep sim` arguments (`#[command(flatten)]`).
///
/// [`Default`] equals the command-line defaults.
#[derive(Debug, Clone, PartialEq, clap::Args, Serialize)]
pub struct SimConfig {
    /// Address to listen on for the gateway's links (default 127.0.0.1:0, a free port).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Split lines: connect to the gateway's inbound listener here and send every response
    /// and notice on that connection.
    #[arg(long)]
    pub connect_back: Option<SocketAddr>,
    /// Seed of every random draw (same seed, same outcomes per 전문번호).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Response latency in ms: `5`, `2..20` (uniform), `10+-3` (mean ± jitter) or `exp:5`.
    #[arg(long, default_value = "0")]
    pub latency_ms: String,
    /// Share of transfers declined.
    #[arg(long, default_value_t = 0.0)]
    pub decline_rate: f64,
    /// Decline codes, one drawn per decline.
    #[arg(long, value_delimiter = ',', default_values_t = default_decline_codes())]
    pub decline_codes: Vec<String>,
    /// Share of transfers answered with an "unknown" code (the true outcome is drawn too).
    #[arg(long, default_value_t = 0.0)]
    pub unknown_rate: f64,
    /// Codes of an unknown answer: `VTIM` or banks' 처리중 codes.
    #[arg(long, value_delimiter = ',', default_values_t = default_unknown_codes())]
    pub unknown_codes: Vec<String>,
    /// Share of unknowns that were in fact executed.
    #[arg(long, default_value_t = 0.5)]
    pub unknown_executed_rate: f64,
    /// Share of transfers never answered (but executed).
    #[arg(long, default_value_t = 0.0)]
    pub no_response_rate: f64,
    /// Share of result inquiries answered "still in progress".
    #[arg(long, default_value_t = 0.0)]
    pub inquiry_in_progress_rate: f64,
    /// 처리결과 codes meaning "still in progress" in a 7100/100.
    #[arg(long, value_delimiter = ',', default_values_t = default_in_progress_codes())]
    pub in_progress_codes: Vec<String>,
    /// Response code for a reused (전송일자, 전문번호).
    #[arg(long, default_value = hecto::RESP_DUPLICATE_MISMATCH)]
    pub duplicate_code: String,
    /// Fee of an interbank (타행) transfer; 당행 transfers are free.
    #[arg(long, default_value_t = 500)]
    pub fee: u64,
    /// Starting balance of the company's 모계좌.
    #[arg(long, default_value_t = 1_000_000_000)]
    pub initial_balance: u64,
    /// Send REQPOLL on a session idle this long (ms).
    #[arg(long)]
    pub poll_interval_ms: Option<u64>,
    /// Drop a session that has sent nothing for this long (ms).
    #[arg(long, default_value_t = 900_000)]
    pub idle_timeout_ms: u64,
    /// Send a notice every this many ms while a session is signed on.
    #[arg(long)]
    pub notice_interval_ms: Option<u64>,
    /// Share of notices that are 3000/100 타행이체불능통지 (when an executed transfer exists).
    #[arg(long, default_value_t = 0.1)]
    pub fail_notice_rate: f64,
    /// Resend an unacknowledged notice after this many ms.
    #[arg(long, default_value_t = 5_000)]
    pub notice_ack_timeout_ms: u64,
    /// Resends of one notice before giving up on it.
    #[arg(long, default_value_t = 5)]
    pub notice_max_resends: u32,
    /// 업체번호 in notices (empty: copy the last request's).
    #[arg(long, default_value = "")]
    pub company_no: String,
    /// 은행코드 in notices when no request has been seen yet.
    #[arg(long, default_value = "004")]
    pub bank_code: String,
    /// The company's account named in deposit notices.
    #[arg(long, default_value = "1002003004005")]
    pub account: String,
    /// Split lines: hold responses this long (ms) while the connect-back line is down.
    #[arg(long, default_value_t = 5_000)]
    pub back_hold_ms: u64,
    /// Largest frame accepted.
    #[arg(long, default_value_t = 4096)]
    pub max_frame: usize,
    /// Connections accepted at once.
    #[arg(long, default_value_t = 64)]
    pub max_connections: usize,
}

fn default_decline_codes() -> Vec<String> {
    vec![hecto::RESP_LIMIT_PER_TX.to_owned()]
}

fn default_unknown_codes() -> Vec<String> {
    ["VTIM", "7430", "U726"].map(String::from).to_vec()
}

fn default_in_progress_codes() -> Vec<String> {
    ["7430", "U726"].map(String::from).to_vec()
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: None,
            connect_back: None,
            seed: 1,
            latency_ms: "0".into(),
            decline_rate: 0.0,
            decline_codes: default_decline_codes(),
            unknown_rate: 0.0,
            unknown_codes: default_unknown_codes(),
            unknown_executed_rate: 0.5,
            no_response_rate: 0.0,
            inquiry_in_progress_rate: 0.0,
            in_progress_codes: default_in_progress_codes(),
            duplicate_code: hecto::RESP_DUPLICATE_MISMATCH.into(),
            fee: 500,
            initial_balance: 1_000_000_000,
            poll_interval_ms: None,
            idle_timeout_ms: 900_000,
            notice_interval_ms: None,
            fail_notice_rate: 0.1,
            notice_ack_timeout_ms: 5_000,
            notice_max_resends: 5,
            company_no: String::new(),
            bank_code: "004".into(),
            account: "1002003004005".into(),
            back_hold_ms: 5_000,
            max_frame: 4096,
            max_connections: 64,
        }
    }
}

/// A response-latency distribution in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Latency {
    /// Always this many ms.
    Fixed(f64),
    /// Uniform in `[lo, hi]` ms (`"2..20"`; `"10+-3"` is `[7, 13]`).
    Uniform(f64, f64),
    /// Exponential with this mean in ms (`"exp:5"`).
    Exponential(f64),
}

impl Latency {
    /// Draws one latency.
    pub fn sample(&self, rng: &mut StdRng) -> Duration {
        let ms = match *self {
            Latency::Fixed(ms) => ms,
            Latency::Uniform(lo, hi) if hi > lo => rng.random_range(lo..=hi),
            Latency::Uniform(lo, _) => lo,
            Latency::Exponential(mean) => {
                let u: f64 = rng.random();
                -mean * (1.0 - u).ln()
            }
        };
        Duration::from_secs_f64(ms.clamp(0.0, MAX_LATENCY_MS) / 1000.0)
    }
}

impl FromStr for Latency {
    type Err = SimError;

    fn from_str(s: &str) -> Result<Self, SimError> {
        let bad = || SimError::Config(format!("latency_ms {s:?}: expected N, A..B, M+-J or exp:M"));
        let num = |t: &str| -> Result<f64, SimError> {
            let v: f64 = t.trim().parse().map_err(|_| bad())?;
            if v.is_finite() && v >= 0.0 {
                Ok(v)
            } else {
                Err(bad())
            }
        };
        let s_trim = s.trim();
        if let Some(mean) = s_trim.strip_prefix("exp:") {
            return Ok(Latency::Exponential(num(mean)?));
        }
        if let Some((lo, hi)) = s_trim.split_once("..") {
            let (lo, hi) = (num(lo)?, num(hi.trim_start_matches('='))?);
            return if lo <= hi {
                Ok(Latency::Uniform(lo, hi))
            } else {
                Err(bad())
            };
        }
        if let Some((mean, jitter)) = s_trim.split_once("+-").or_else(|| s_trim.split_once('±')) {
            let (mean, jitter) = (num(mean)?, num(jitter)?);
            return Ok(Latency::Uniform((mean - jitter).max(0.0), mean + jitter));
        }
        Ok(Latency::Fixed(num(s_trim)?))
    }
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Latency::Fixed(ms) => write!(f, "{ms}"),
            Latency::Uniform(lo, hi) => write!(f, "{lo}..{hi}"),
            Latency::Exponential(mean) => write!(f, "exp:{mean}"),
        }
    }
}

/// The configuration checked and converted.
#[derive(Debug, Clone)]
struct Settings {
    cfg: SimConfig,
    latency: Latency,
    poll_interval: Option<Duration>,
    idle_timeout: Duration,
    notice_interval: Option<Duration>,
    notice_ack_timeout: Duration,
    back_hold: Duration,
}

impl Settings {
    fn new(cfg: SimConfig) -> Result<Settings, SimError> {
        let latency: Latency = cfg.latency_ms.parse()?;
        let rates = [
            ("decline_rate", cfg.decline_rate),
            ("unknown_rate", cfg.unknown_rate),
            ("no_response_rate", cfg.no_response_rate),
            ("unknown_executed_rate", cfg.unknown_executed_rate),
            ("inquiry_in_progress_rate", cfg.inquiry_in_progress_rate),
            ("fail_notice_rate", cfg.fail_notice_rate),
        ];
        for (name, r) in rates {
            if !(0.0..=1.0).contains(&r) {
                return Err(SimError::Config(format!("{name} = {r}: must be in 0..=1")));
            }
        }
        let sum = cfg.decline_rate + cfg.unknown_rate + cfg.no_response_rate;
        if sum > 1.0 + 1e-9 {
            return Err(SimError::Config(format!(
                "decline_rate + unknown_rate + no_response_rate = {sum}: must be at most 1"
            )));
        }
        let lists = [
            ("decline_codes", &cfg.decline_codes, cfg.decline_rate > 0.0),
            ("unknown_codes", &cfg.unknown_codes, cfg.unknown_rate > 0.0),
            (
                "in_progress_codes",
                &cfg.in_progress_codes,
                cfg.inquiry_in_progress_rate > 0.0,
            ),
        ];
        for (name, codes, used) in lists {
            if used && codes.is_empty() {
                return Err(SimError::Config(format!(
                    "{name} is empty but its rate is not 0"
                )));
            }
            if let Some(c) = codes.iter().find(|c| c.len() != 4 || !c.is_ascii()) {
                return Err(SimError::Config(format!(
                    "{name}: {c:?} is not a 4-character ASCII code"
                )));
            }
        }
        if cfg.duplicate_code.len() != 4 || !cfg.duplicate_code.is_ascii() {
            return Err(SimError::Config(format!(
                "duplicate_code {:?} is not a 4-character ASCII code",
                cfg.duplicate_code
            )));
        }
        if cfg.poll_interval_ms == Some(0) || cfg.notice_interval_ms == Some(0) {
            return Err(SimError::Config("intervals must be above 0 ms".into()));
        }
        if cfg.idle_timeout_ms == 0 || cfg.notice_ack_timeout_ms == 0 || cfg.max_connections == 0 {
            return Err(SimError::Config(
                "idle_timeout_ms, notice_ack_timeout_ms and max_connections must be above 0".into(),
            ));
        }
        // Probe the notice header fields once so a bad value fails at start, not per notice.
        let probe = HectoHeader {
            company_no: cfg.company_no.clone(),
            bank_code: cfg.bank_code.clone(),
            send_count: 1,
            send_date: "20000101".into(),
            send_time: "000000".into(),
            ..HectoHeader::default()
        };
        let probe_notice = DepositNotice {
            header: probe,
            account: cfg.account.clone(),
            tx_date: "20000101".into(),
            tx_time: "000000".into(),
            ..DepositNotice::default()
        };
        probe_notice
            .encode()
            .map_err(|e| SimError::Config(format!("company_no / bank_code / account: {e}")))?;
        FrameCodec::new(Framing::hecto(), cfg.max_frame)
            .map_err(|e| SimError::Config(format!("max_frame: {e}")))?;
        Ok(Settings {
            latency,
            poll_interval: cfg.poll_interval_ms.map(Duration::from_millis),
            idle_timeout: Duration::from_millis(cfg.idle_timeout_ms),
            notice_interval: cfg.notice_interval_ms.map(Duration::from_millis),
            notice_ack_timeout: Duration::from_millis(cfg.notice_ack_timeout_ms),
            back_hold: Duration::from_millis(cfg.back_hold_ms),
            cfg,
        })
    }
}

/// Simulator errors.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The configuration is invalid.
    #[error("simulator config: {0}")]
    Config(String),
    /// The listen address could not be bound.
    #[error("simulator: cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// Other socket failure.
    #[error("simulator i/o: {0}")]
    Io(#[from] std::io::Error),
}

// ---------------------------------------------------------------------------------------------
// Stats and outcomes
// ---------------------------------------------------------------------------------------------

/// Counters of everything the simulator did (a snapshot).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SimStats {
    /// Connections accepted on the listener.
    pub connections: u64,
    /// Connections refused because `max_connections` were open.
    pub connections_refused: u64,
    /// Connect-back connections established.
    pub connect_backs: u64,
    /// Requests received, by `"msgtype/biztype"` (e.g. `"2000/100"`).
    pub requests: BTreeMap<String, u64>,
    /// Responses sent, by response code.
    pub responses: BTreeMap<String, u64>,
    /// Requests refused as a reused (전송일자, 전문번호).
    pub duplicates_rejected: u64,
    /// Transfers deliberately left unanswered.
    pub no_responses: u64,
    /// Responses that could not be delivered (route down or congested).
    pub undeliverable: u64,
    /// 업무개시 received.
    pub sign_ons: u64,
    /// 업무종료 received.
    pub sign_offs: u64,
    /// Poll requests received (and answered).
    pub polls_received: u64,
    /// Poll requests the simulator sent on idle sessions.
    pub polls_sent: u64,
    /// Poll responses received.
    pub poll_responses: u64,
    /// Notices sent the first time.
    pub notices_sent: u64,
    /// Notices acknowledged.
    pub notices_acked: u64,
    /// Notice resends (same 전문번호).
    pub notices_resent: u64,
    /// Notices given up after `notice_max_resends`.
    pub notices_abandoned: u64,
    /// Acknowledgements that did not echo the notice's 예비영역, or named no pending notice.
    pub notice_acks_bad: u64,
    /// Result inquiries (7000/100) answered.
    pub inquiries_answered: u64,
    /// … of which answered "still in progress".
    pub inquiries_in_progress: u64,
    /// … of which answered `NREC`.
    pub inquiries_not_found: u64,
    /// Frames with a readable header but an unusable body or type (answered `0001`).
    pub bad_frames: u64,
    /// Connections dropped because a frame was unreadable.
    pub dropped_connections: u64,
    /// Frames ignored (responses nobody asked for).
    pub unexpected_frames: u64,
}

impl SimStats {
    /// Requests received of one `"msgtype/biztype"`.
    pub fn requests_of(&self, key: &str) -> u64 {
        self.requests.get(key).copied().unwrap_or(0)
    }

    /// Responses sent with one code.
    pub fn responses_with(&self, code: &str) -> u64 {
        self.responses.get(code).copied().unwrap_or(0)
    }
}

/// What really happened to a transfer or collection, whatever its answer said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrueOutcome {
    /// `"2000/100"` or `"2000/200"`.
    pub kind: String,
    /// 출금금액.
    pub amount: u64,
    /// The final result code a 7000/100 reveals: `0000` or the decline code.
    pub result: String,
    /// Whether the money moved.
    pub executed: bool,
    /// The response code sent (or scheduled); `None` when deliberately left unanswered.
    pub answered: Option<String>,
    /// Fee charged (0 when not executed).
    pub fee: u64,
    /// Bank processing time `hhmmss`.
    pub tx_time: String,
}

// ---------------------------------------------------------------------------------------------
// Bank state
// ---------------------------------------------------------------------------------------------

/// Where a reply goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// The session the request arrived on (polls).
    Same,
    /// Responses: the connect-back line in split mode, else the same session.
    Response,
}

/// What the session does after a frame.
#[derive(Debug)]
enum Action {
    Reply {
        frame: Bytes,
        route: Route,
        delay: Duration,
        code: String,
    },
    Close,
}

#[derive(Debug, Clone)]
enum Seen {
    Transfer(TrueOutcome),
    Other,
}

#[derive(Debug, Clone)]
struct PendingNotice {
    frame: Bytes,
    header: HectoHeader,
    sent_at: Option<Instant>,
    resends: u32,
}

#[derive(Debug, Clone)]
struct FailCandidate {
    msg_no: u32,
    wd_account: String,
    dep_bank: String,
    dep_account: String,
    amount: u64,
}

/// The bank's books, shared by every session.
struct Bank {
    seen: HashMap<(u32, u32), Seen>,
    /// Days present in `seen`, oldest first, so old days can be pruned.
    days: VecDeque<u32>,
    balance: u64,
    /// Session that last signed on (notices need one).
    signed_on: Option<u64>,
    /// Header constants learned from the company's requests, for notices.
    learned: Option<(String, String, String)>,
    notice_day: u32,
    notice_no: u32,
    pending: BTreeMap<(u32, u32), PendingNotice>,
    fail_candidates: VecDeque<FailCandidate>,
}

impl Bank {
    fn new(initial_balance: u64) -> Bank {
        Bank {
            seen: HashMap::new(),
            days: VecDeque::new(),
            balance: initial_balance,
            signed_on: None,
            learned: None,
            notice_day: 0,
            notice_no: 0,
            pending: BTreeMap::new(),
            fail_candidates: VecDeque::new(),
        }
    }

    fn remember(&mut self, key: (u32, u32), seen: Seen) {
        if !self.days.contains(&key.0) {
            self.days.push_back(key.0);
            // Keep three business days: enough for inquiries across midnight.
            while self.days.len() > 3 {
                if let Some(old) = self.days.pop_front() {
                    self.seen.retain(|k, _| k.0 != old);
                }
            }
        }
        self.seen.insert(key, seen);
    }

    fn outcome(&self, date: u32, msg_no: u32) -> Option<&TrueOutcome> {
        match self.seen.get(&(date, msg_no)) {
            Some(Seen::Transfer(t)) => Some(t),
            _ => None,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// An rng for one purpose and one item (전문번호, connection index …), derived from the seed.
fn derived_rng(seed: u64, salt: u64, item: u64) -> StdRng {
    StdRng::seed_from_u64(splitmix(seed ^ splitmix(salt ^ splitmix(item))))
}

fn pick<'a>(rng: &mut StdRng, items: &'a [String], fallback: &'a str) -> &'a str {
    if items.is_empty() {
        fallback
    } else {
        &items[rng.random_range(0..items.len())]
    }
}

fn name_for(account: &str) -> &'static str {
    let h = account
        .bytes()
        .fold(0u64, |h, b| splitmix(h ^ u64::from(b)));
    NAMES[(h % NAMES.len() as u64) as usize]
}

/// The response header: the request's with 전문구분코드 + 100 and the code set. Unknown
/// request types (`9000`) get the same N000 → N100 rule; anything else keeps its type.
fn response_header(h: &HectoHeader, code: &str) -> HectoHeader {
    h.to_response(code).unwrap_or_else(|| {
        let t = &h.msg_type;
        let msg_type = if t.len() == 4 && t.is_ascii() && t.ends_with("000") {
            format!("{}100", &t[..1])
        } else {
            t.clone()
        };
        HectoHeader {
            msg_type,
            resp_code: code.to_owned(),
            ..h.clone()
        }
    })
}

fn key_of(h: &HectoHeader) -> (u32, u32) {
    (h.send_date.parse().unwrap_or(0), h.msg_no)
}

// ---------------------------------------------------------------------------------------------
// Shared state and the handle
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Routes {
    sessions: BTreeMap<u64, mpsc::Sender<Bytes>>,
    back: Option<(u64, mpsc::Sender<Bytes>)>,
    /// Responses waiting for the connect-back line: (expiry, frame, code).
    held: VecDeque<(Instant, Bytes, String)>,
}

/// What became of a response handed to the connect-back line.
enum BackSend {
    Sent,
    Held,
    Lost,
}

struct Shared {
    s: Settings,
    clock: SharedClock,
    bank: Mutex<Bank>,
    stats: Mutex<SimStats>,
    routes: Mutex<Routes>,
}

impl Shared {
    fn stat(&self, f: impl FnOnce(&mut SimStats)) {
        f(&mut lock(&self.stats));
    }

    fn split(&self) -> bool {
        self.s.cfg.connect_back.is_some()
    }

    /// Sends a response on the connect-back line (split mode). While the line is down the
    /// response is held for `back_hold_ms` (the gateway's sign-on usually arrives before the
    /// bank has connected back), then lost like on a real line.
    fn send_back(&self, frame: Bytes, code: &str) -> BackSend {
        let mut routes = lock(&self.routes);
        match routes.back.as_ref() {
            Some((_, tx)) => match tx.try_send(frame) {
                Ok(()) => BackSend::Sent,
                Err(_) => BackSend::Lost,
            },
            None if routes.held.len() < OUT_QUEUE && self.s.back_hold > Duration::ZERO => {
                let until = Instant::now() + self.s.back_hold;
                routes.held.push_back((until, frame, code.to_owned()));
                BackSend::Held
            }
            None => BackSend::Lost,
        }
    }

    /// Where notices go now: the connect-back line in split mode, else the signed-on session.
    fn notice_route(&self) -> Option<mpsc::Sender<Bytes>> {
        let signed_on = lock(&self.bank).signed_on?;
        let routes = lock(&self.routes);
        if self.split() {
            routes.back.as_ref().map(|(_, tx)| tx.clone())
        } else {
            routes.sessions.get(&signed_on).cloned()
        }
    }
}

/// Starts simulators.
#[derive(Debug, Clone, Copy)]
pub struct Simulator;

impl Simulator {
    /// Binds the listener and starts the simulator on the system clock (KST).
    pub async fn start(cfg: SimConfig) -> Result<SimHandle, SimError> {
        Simulator::start_with_clock(cfg, Arc::new(SystemClock)).await
    }

    /// Binds the listener and starts the simulator reading dates and times from `clock`.
    pub async fn start_with_clock(
        cfg: SimConfig,
        clock: SharedClock,
    ) -> Result<SimHandle, SimError> {
        let s = Settings::new(cfg)?;
        let want = s
            .cfg
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = TcpListener::bind(want)
            .await
            .map_err(|source| SimError::Bind { addr: want, source })?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            bank: Mutex::new(Bank::new(s.cfg.initial_balance)),
            s,
            clock,
            stats: Mutex::new(SimStats::default()),
            routes: Mutex::new(Routes::default()),
        });
        let token = CancellationToken::new();
        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(accept_loop(
            shared.clone(),
            listener,
            token.clone(),
        )));
        if let Some(back) = shared.s.cfg.connect_back {
            tasks.push(tokio::spawn(connect_back_loop(
                shared.clone(),
                back,
                token.clone(),
            )));
        }
        if shared.s.notice_interval.is_some() {
            tasks.push(tokio::spawn(notice_loop(shared.clone(), token.clone())));
        }
        tracing::info!(%addr, connect_back = ?shared.s.cfg.connect_back, "simulator listening");
        Ok(SimHandle {
            addr,
            shared,
            token: token.clone(),
            _guard: token.drop_guard(),
            tasks: tokio::sync::Mutex::new(tasks),
        })
    }
}

/// A running simulator. Dropping it stops the simulator (without waiting).
pub struct SimHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    token: CancellationToken,
    _guard: DropGuard,
    tasks: tokio::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.addr)
            .finish()
    }
}

impl SimHandle {
    /// The bound listen address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> SimStats {
        lock(&self.shared.stats).clone()
    }

    /// The true outcome of the transfer or collection sent with 전송일자 `date` (`YYYYMMDD`)
    /// and 전문번호 `msg_no`; `None` if the simulator never received it.
    pub fn true_outcome(&self, date: &str, msg_no: u32) -> Option<TrueOutcome> {
        let date: u32 = date.parse().ok()?;
        lock(&self.shared.bank).outcome(date, msg_no).cloned()
    }

    /// Every recorded transfer and collection as (전송일자 `YYYYMMDD`, 전문번호, outcome),
    /// ordered by date and number (the last three business days are kept).
    pub fn outcomes(&self) -> Vec<(String, u32, TrueOutcome)> {
        let bank = lock(&self.shared.bank);
        let mut v: Vec<_> = bank
            .seen
            .iter()
            .filter_map(|((d, n), seen)| match seen {
                Seen::Transfer(t) => Some((format!("{d:08}"), *n, t.clone())),
                Seen::Other => None,
            })
            .collect();
        v.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        v
    }

    /// Whether a session is signed on (업무개시 received, no 업무종료 since).
    pub fn signed_on(&self) -> bool {
        lock(&self.shared.bank).signed_on.is_some()
    }

    /// Whether the connect-back line is up (split mode).
    pub fn connected_back(&self) -> bool {
        lock(&self.shared.routes).back.is_some()
    }

    /// Current balance of the company's 모계좌.
    pub fn balance(&self) -> u64 {
        lock(&self.shared.bank).balance
    }

    /// Notices sent and not yet acknowledged.
    pub fn pending_notices(&self) -> usize {
        lock(&self.shared.bank).pending.len()
    }

    /// Stops accepting, closes every connection and waits (bounded) for the tasks.
    pub async fn shutdown(&self) {
        self.token.cancel();
        let tasks = std::mem::take(&mut *self.tasks.lock().await);
        for mut t in tasks {
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut t).await.is_err() {
                t.abort();
            }
        }
    }
}

/// Runs a simulator until `shutdown` completes (for `fep sim`): prints the bound address as
/// `listening on ADDR` on stdout, then returns the final counters.
pub async fn run(cfg: SimConfig, shutdown: impl Future<Output = ()>) -> Result<SimStats, SimError> {
    let handle = Simulator::start(cfg).await?;
    println!("listening on {}", handle.addr());
    shutdown.await;
    handle.shutdown().await;
    let stats = handle.stats();
    tracing::info!(?stats, "simulator stopped");
    Ok(stats)
}

// ---------------------------------------------------------------------------------------------
// Tasks
// ---------------------------------------------------------------------------------------------

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, token: CancellationToken) {
    let mut sessions = JoinSet::new();
    let mut next_id = 0u64;
    loop {
        while sessions.try_join_next().is_some() {}
        let accepted = tokio::select! {
            _ = token.cancelled() => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Transient (e.g. out of descriptors): back off briefly instead of spinning.
                tracing::warn!(error = %e, "simulator accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if sessions.len() >= shared.s.cfg.max_connections {
            tracing::warn!(%peer, "simulator: too many connections, refusing");
            shared.stat(|s| s.connections_refused += 1);
            continue;
        }
        next_id += 1;
        shared.stat(|s| s.connections += 1);
        tracing::info!(%peer, id = next_id, "simulator: session accepted");
        sessions.spawn(session(
            shared.clone(),
            stream,
            next_id,
            false,
            token.child_token(),
        ));
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
    sessions.abort_all();
}

async fn connect_back_loop(shared: Arc<Shared>, addr: SocketAddr, token: CancellationToken) {
    let mut rng = derived_rng(shared.s.cfg.seed, SALT_CONN, 0);
    let mut backoff = Duration::from_millis(50);
    // Connect-back sessions are numbered from the top so they never collide with accepted ones.
    let mut id = u64::MAX / 2;
    loop {
        let attempt = tokio::select! {
            _ = token.cancelled() => return,
            r = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)) => r,
        };
        match attempt {
            Ok(Ok(stream)) => {
                id += 1;
                backoff = Duration::from_millis(50);
                shared.stat(|s| s.connect_backs += 1);
                tracing::info!(%addr, "simulator: connected back");
                session(shared.clone(), stream, id, true, token.child_token()).await;
                tracing::info!(%addr, "simulator: connect-back line closed");
            }
            Ok(Err(e)) => tracing::debug!(%addr, error = %e, "simulator: connect back failed"),
            Err(_) => tracing::debug!(%addr, "simulator: connect back timed out"),
        }
        // Jittered exponential backoff, so a restarting gateway is not hammered in lockstep.
        let jitter = rng.random_range(0.5..1.5);
        let wait = backoff.mul_f64(jitter);
        backoff = (backoff * 2).min(Duration::from_secs(2));
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

type Conn = Framed<TcpStream, FrameCodec>;

async fn write(conn: &mut Conn, frame: Bytes) -> bool {
    matches!(
        tokio::time::timeout(WRITE_TIMEOUT, conn.send(frame)).await,
        Ok(Ok(()))
    )
}

/// One socket: reads, writes, delayed responses and idle polling in one loop.
async fn session(
    shared: Arc<Shared>,
    stream: TcpStream,
    id: u64,
    back: bool,
    token: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let codec = match FrameCodec::new(Framing::hecto(), shared.s.cfg.max_frame) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "simulator: framing");
            return;
        }
    };
    let mut conn = Framed::new(stream, codec);
    let (tx, mut rx) = mpsc::channel::<Bytes>(OUT_QUEUE);
    let held = {
        let mut routes = lock(&shared.routes);
        if back {
            routes.back = Some((id, tx.clone()));
            // Taken under the same lock that publishes the line, so nothing is held after it.
            std::mem::take(&mut routes.held)
        } else {
            routes.sessions.insert(id, tx.clone());
            VecDeque::new()
        }
    };
    drop(tx);
    let now = Instant::now();
    for (until, frame, code) in held {
        if until < now {
            shared.stat(|s| s.undeliverable += 1);
        } else if write(&mut conn, frame).await {
            shared.stat(|s| *s.responses.entry(code).or_default() += 1);
        } else {
            shared.stat(|s| s.undeliverable += 1);
        }
    }
    let mut delayed: DelayQueue<(Bytes, Route, String)> = DelayQueue::new();
    let mut last_rx = Instant::now();
    let mut last_io = Instant::now();
    let far = Duration::from_secs(86_400 * 365);
    loop {
        let poll_at = last_io + shared.s.poll_interval.unwrap_or(far);
        let idle_at = last_rx + shared.s.idle_timeout;
        tokio::select! {
            _ = token.cancelled() => break,
            frame = conn.next() => {
                let frame = match frame {
                    Some(Ok(f)) => f,
                    Some(Err(e)) => {
                        tracing::warn!(id, error = %e, "simulator: framing error, closing");
                        shared.stat(|s| s.dropped_connections += 1);
                        break;
                    }
                    None => break,
                };
                last_rx = Instant::now();
                last_io = last_rx;
                let actions = handle_frame(&shared, id, &frame);
                let mut close = false;
                for a in actions {
                    match a {
                        Action::Close => close = true,
                        Action::Reply { frame, route, delay, code } if delay.is_zero() => {
                            if !deliver(&shared, &mut conn, frame, route, &code).await {
                                close = true;
                            }
                        }
                        Action::Reply { frame, route, delay, code } => {
                            if delayed.len() >= MAX_DELAYED {
                                shared.stat(|s| s.undeliverable += 1);
                            } else {
                                delayed.insert((frame, route, code), delay);
                            }
                        }
                    }
                }
                if close {
                    break;
                }
            }
            Some(expired) = delayed.next(), if !delayed.is_empty() => {
                let (frame, route, code) = expired.into_inner();
                if !deliver(&shared, &mut conn, frame, route, &code).await {
                    break;
                }
                last_io = Instant::now();
            }
            out = rx.recv() => {
                // `rx` cannot close while this session is registered; treat it as a stop.
                let Some(out) = out else { break };
                if !write(&mut conn, out).await {
                    break;
                }
                last_io = Instant::now();
            }
            _ = tokio::time::sleep_until(poll_at), if shared.s.poll_interval.is_some() => {
                let stamp = poll_stamp(&shared.clock.now());
                match Poll::request(stamp).encode() {
                    Ok(p) => {
                        if !write(&mut conn, Bytes::from(p)).await {
                            break;
                        }
                        shared.stat(|s| s.polls_sent += 1);
                    }
                    Err(e) => tracing::error!(error = %e, "simulator: poll encode"),
                }
                last_io = Instant::now();
            }
            _ = tokio::time::sleep_until(idle_at) => {
                tracing::info!(id, "simulator: session idle too long, closing");
                break;
            }
        }
    }
    let mut routes = lock(&shared.routes);
    if back {
        if routes.back.as_ref().is_some_and(|(b, _)| *b == id) {
            routes.back = None;
        }
    } else {
        routes.sessions.remove(&id);
    }
    drop(routes);
    let mut bank = lock(&shared.bank);
    if bank.signed_on == Some(id) {
        bank.signed_on = None;
    }
}

/// Writes a reply on this session or hands it to the connect-back line. Returns false when
/// this session's socket failed.
async fn deliver(shared: &Shared, conn: &mut Conn, frame: Bytes, route: Route, code: &str) -> bool {
    let (sent, alive) = if route == Route::Response && shared.split() {
        match shared.send_back(frame, code) {
            BackSend::Sent => (true, true),
            // Counted when the line comes up and it is written.
            BackSend::Held => return true,
            BackSend::Lost => (false, true),
        }
    } else {
        let ok = write(conn, frame).await;
        (ok, ok)
    };
    shared.stat(|s| {
        if !sent {
            s.undeliverable += 1;
        } else if !code.is_empty() {
            *s.responses.entry(code.to_owned()).or_default() += 1;
        }
    });
    if !sent {
        tracing::debug!(code, "simulator: reply could not be delivered");
    }
    alive
}

// ---------------------------------------------------------------------------------------------
// Frame handling
// ---------------------------------------------------------------------------------------------

fn reply(msg: &impl Telegram, route: Route, delay: Duration, code: &str) -> Vec<Action> {
    match msg.encode() {
        Ok(b) => vec![Action::Reply {
            frame: Bytes::from(b),
            route,
            delay,
            code: code.to_owned(),
        }],
        Err(e) => {
            tracing::error!(error = %e, "simulator: cannot encode a reply");
            Vec::new()
        }
    }
}

/// The `0001` answer to a frame whose header is readable but whose body or type is not.
fn format_error(header: &HectoHeader, frame: &[u8]) -> Vec<Action> {
    let code = hecto::RESP_FORMAT_MISMATCH;
    match response_header(header, code).encode() {
        Ok(mut b) => {
            b.extend_from_slice(frame.get(hecto::HEADER_LEN..).unwrap_or(&[]));
            vec![Action::Reply {
                frame: Bytes::from(b),
                route: Route::Response,
                delay: Duration::ZERO,
                code: code.to_owned(),
            }]
        }
        Err(_) => vec![Action::Close],
    }
}

fn handle_frame(shared: &Shared, session: u64, frame: &[u8]) -> Vec<Action> {
    if frame.starts_with(hecto::POLL_HDR.as_bytes()) {
        return match Poll::decode(frame) {
            Ok(p) if p.is_request() => {
                shared.stat(|s| s.polls_received += 1);
                reply(&Poll::response_to(&p), Route::Same, Duration::ZERO, "")
            }
            Ok(p) if p.is_response() => {
                shared.stat(|s| s.poll_responses += 1);
                Vec::new()
            }
            _ => {
                tracing::warn!(len = frame.len(), "simulator: unreadable poll, closing");
                shared.stat(|s| s.dropped_connections += 1);
                vec![Action::Close]
            }
        };
    }
    let header = match frame.get(..hecto::HEADER_LEN).map(HectoHeader::decode) {
        Some(Ok(h)) => h,
        Some(Err(e)) => {
            tracing::warn!(error = %e, "simulator: unreadable header, closing");
            shared.stat(|s| s.dropped_connections += 1);
            return vec![Action::Close];
        }
        None => {
            tracing::warn!(
                len = frame.len(),
                "simulator: frame shorter than a header, closing"
            );
            shared.stat(|s| s.dropped_connections += 1);
            return vec![Action::Close];
        }
    };
    // N100 is a response (an ack, normally); anything else is a request, known or not, and
    // gets an answer (`0001` if the bank does not serve it).
    if !header.is_request() && header.msg_type.len() == 4 && header.msg_type.ends_with("100") {
        return on_response(shared, &header);
    }
    let kind = format!("{}/{}", header.msg_type, header.biz_type);
    shared.stat(|s| *s.requests.entry(kind).or_default() += 1);
    let msg = match HectoMessage::decode(frame) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "simulator: undecodable request, answering 0001");
            shared.stat(|s| s.bad_frames += 1);
            return format_error(&header, frame);
        }
    };
    let now = shared.clock.now();
    let mut bank = lock(&shared.bank);
    if bank.learned.is_none() || matches!(msg, HectoMessage::SignOnRequest(_)) {
        bank.learned = Some((
            header.id_code.clone(),
            header.company_no.clone(),
            header.bank_code.clone(),
        ));
    }
    let is_admin = header.msg_type == hecto::MSG_TYPE_ADMIN;
    let key = key_of(&header);
    if !is_admin && bank.seen.contains_key(&key) {
        drop(bank);
        shared.stat(|s| s.duplicates_rejected += 1);
        tracing::info!(
            date = key.0,
            msg_no = key.1,
            "simulator: reused 전문번호 refused"
        );
        let code = shared.s.cfg.duplicate_code.as_str();
        let mut b = match response_header(&header, code).encode() {
            Ok(b) => b,
            Err(_) => return vec![Action::Close],
        };
        b.extend_from_slice(frame.get(hecto::HEADER_LEN..).unwrap_or(&[]));
        return vec![Action::Reply {
            frame: Bytes::from(b),
            route: Route::Response,
            delay: Duration::ZERO,
            code: code.to_owned(),
        }];
    }
    let ok = hecto::RESP_OK;
    match msg {
        HectoMessage::SignOnRequest(m) => {
            bank.signed_on = Some(session);
            drop(bank);
            shared.stat(|s| s.sign_ons += 1);
            admin_reply(m, ok)
        }
        HectoMessage::SignOffRequest(m) => {
            if bank.signed_on == Some(session) || shared.split() {
                bank.signed_on = None;
            }
            drop(bank);
            shared.stat(|s| s.sign_offs += 1);
            admin_reply(m, ok)
        }
        HectoMessage::TestCallRequest(m) => {
            drop(bank);
            admin_reply(m, ok)
        }
        HectoMessage::TransferRequest(m) => transfer(shared, &mut bank, key, now, Txn::Pay(m)),
        HectoMessage::CollectionRequest(m) => {
            transfer(shared, &mut bank, key, now, Txn::Collect(m))
        }
        HectoMessage::AccountNameInquiryRequest(m) => {
            bank.remember(key, Seen::Other);
            drop(bank);
            let name = name_for(&m.account);
            let r = AccountNameInquiry {
                header: response_header(&m.header, ok),
                holder1: name.to_owned(),
                holder2: name.to_owned(),
                acct_fixed: "N".into(),
                acct_status: "N".into(),
                ..m
            };
            reply(&r, Route::Response, Duration::ZERO, ok)
        }
        HectoMessage::TransferResultInquiryRequest(m) => {
            bank.remember(key, Seen::Other);
            result_inquiry(shared, &bank, m, now)
        }
        HectoMessage::BalanceInquiryRequest(m) => {
            bank.remember(key, Seen::Other);
            let bal = bank.balance;
            drop(bank);
            let r = BalanceInquiry {
                header: response_header(&m.header, ok),
                overdraft_limit: Some(0),
                sign1: "+".into(),
                ledger_balance: Some(bal),
                cash_transfer: Some(bal),
                check_amt: Some(0),
                other_bill: Some(0),
                sign2: "+".into(),
                payable: Some(bal),
                ..m
            };
            reply(&r, Route::Response, Duration::ZERO, ok)
        }
        _ => {
            // A request type the bank does not serve (결번요구 …).
            drop(bank);
            shared.stat(|s| s.bad_frames += 1);
            format_error(&header, frame)
        }
    }
}

fn admin_reply(m: AdminMessage, code: &str) -> Vec<Action> {
    let r = AdminMessage {
        header: response_header(&m.header, code),
        ..m
    };
    reply(&r, Route::Response, Duration::ZERO, code)
}

enum Txn {
    Pay(Transfer),
    Collect(Collection),
}

/// 이체 / 집금: draws the outcome, executes it on the books, answers after the latency.
fn transfer(
    shared: &Shared,
    bank: &mut Bank,
    key: (u32, u32),
    now: NaiveDateTime,
    txn: Txn,
) -> Vec<Action> {
    let cfg = &shared.s.cfg;
    let mut rng = derived_rng(cfg.seed, SALT_OUTCOME, u64::from(key.1));
    let u: f64 = rng.random();
    let (result, answered) = if u < cfg.decline_rate {
        let code = pick(&mut rng, &cfg.decline_codes, hecto::RESP_LIMIT_PER_TX).to_owned();
        (code.clone(), Some(code))
    } else if u < cfg.decline_rate + cfg.unknown_rate {
        let answer = pick(&mut rng, &cfg.unknown_codes, hecto::RESP_SESSION_TIMEOUT).to_owned();
        let result = if rng.random_bool(cfg.unknown_executed_rate) {
            hecto::RESP_OK.to_owned()
        } else {
            pick(&mut rng, &cfg.decline_codes, hecto::RESP_LIMIT_PER_TX).to_owned()
        };
        (result, Some(answer))
    } else if u < cfg.decline_rate + cfg.unknown_rate + cfg.no_response_rate {
        (hecto::RESP_OK.to_owned(), None)
    } else {
        (hecto::RESP_OK.to_owned(), Some(hecto::RESP_OK.to_owned()))
    };
    let delay = shared.s.latency.sample(&mut rng);
    let executed = result == hecto::RESP_OK;
    let (kind, header, amount, dep_bank) = match &txn {
        Txn::Pay(m) => ("2000/100", &m.header, m.amount, &m.dep_bank),
        Txn::Collect(m) => ("2000/200", &m.header, m.amount, &m.dep_bank),
    };
    let fee = if executed && *dep_bank != header.bank_code {
        cfg.fee
    } else {
        0
    };
    if executed {
        bank.balance = match txn {
            Txn::Pay(_) => bank.balance.saturating_sub(amount.saturating_add(fee)),
            Txn::Collect(_) => bank.balance.saturating_add(amount).saturating_sub(fee),
        };
        if let Txn::Pay(m) = &txn {
            if bank.fail_candidates.len() >= MAX_FAIL_CANDIDATES {
                bank.fail_candidates.pop_front();
            }
            bank.fail_candidates.push_back(FailCandidate {
                msg_no: key.1,
                wd_account: m.wd_account.clone(),
                dep_bank: m.dep_bank.clone(),
                dep_account: m.dep_account.clone(),
                amount,
            });
        }
    }
    let tx_time = format!("{:06}", hms_of(&now));
    bank.remember(
        key,
        Seen::Transfer(TrueOutcome {
            kind: kind.to_owned(),
            amount,
            result: result.clone(),
            executed,
            answered: answered.clone(),
            fee,
            tx_time,
        }),
    );
    let balance = bank.balance;
    let Some(code) = answered else {
        shared.stat(|s| s.no_responses += 1);
        return Vec::new();
    };
    // Balance and fee are only meaningful on a success answer.
    let (bal_sign, balance, fee) = if code == hecto::RESP_OK {
        ("+".to_owned(), Some(balance), Some(fee))
    } else {
        (String::new(), None, None)
    };
    match txn {
        Txn::Pay(m) => {
            let r = Transfer {
                header: response_header(&m.header, &code),
                bal_sign,
                balance,
                fee,
                ..m
            };
            reply(&r, Route::Response, delay, &code)
        }
        Txn::Collect(m) => {
            let r = Collection {
                header: response_header(&m.header, &code),
                bal_sign,
                balance,
                fee,
                ..m
            };
            reply(&r, Route::Response, delay, &code)
        }
    }
}

/// 7000/100: reveals the true outcome of the original (same 전송일자, else the day before).
fn result_inquiry(
    shared: &Shared,
    bank: &Bank,
    m: TransferResultInquiry,
    now: NaiveDateTime,
) -> Vec<Action> {
    let cfg = &shared.s.cfg;
    let date: u32 = m.header.send_date.parse().unwrap_or(0);
    let previous = NaiveDate::parse_from_str(&m.header.send_date, "%Y%m%d")
        .ok()
        .and_then(|d| d.checked_sub_signed(ChronoDuration::days(1)))
        .map(|d| day_of(&d.and_hms_opt(0, 0, 0).unwrap_or_default()));
    let found = bank
        .outcome(date, m.orig_msg_no)
        .or_else(|| previous.and_then(|p| bank.outcome(p, m.orig_msg_no)))
        .cloned();
    let mut rng = derived_rng(cfg.seed, SALT_INQUIRY, u64::from(m.header.msg_no));
    let in_progress = found.is_some() && rng.random_bool(cfg.inquiry_in_progress_rate);
    let ok = hecto::RESP_OK;
    let r = match (&found, in_progress) {
        (Some(t), false) => TransferResultInquiry {
            header: response_header(&m.header, ok),
            req_amount: Some(t.amount),
            ok_amount: Some(if t.executed { t.amount } else { 0 }),
            fail_amount: Some(if t.executed { 0 } else { t.amount }),
            fee: Some(t.fee),
            tx_time: Some(t.tx_time.clone()),
            result: t.result.clone(),
            ..m
        },
        (Some(_), true) => TransferResultInquiry {
            header: response_header(&m.header, ok),
            tx_time: Some(format!("{:06}", hms_of(&now))),
            result: pick(&mut rng, &cfg.in_progress_codes, "U726").to_owned(),
            ..m
        },
        (None, _) => TransferResultInquiry {
            header: response_header(&m.header, ok),
            result: hecto::RESULT_NO_RECORD.to_owned(),
            ..m
        },
    };
    shared.stat(|s| {
        s.inquiries_answered += 1;
        if found.is_none() {
            s.inquiries_not_found += 1;
        } else if in_progress {
            s.inquiries_in_progress += 1;
        }
    });
    reply(&r, Route::Response, Duration::ZERO, ok)
}

/// A response from the company: a notice acknowledgement, or nothing we asked for.
fn on_response(shared: &Shared, header: &HectoHeader) -> Vec<Action> {
    let is_ack = (header.msg_type == hecto::MSG_TYPE_STATEMENT_RESPONSE
        && header.biz_type == hecto::BIZ_STATEMENT)
        || (header.msg_type == hecto::MSG_TYPE_FAIL_NOTICE_RESPONSE
            && header.biz_type == hecto::BIZ_FAIL_NOTICE);
    if !is_ack {
        tracing::warn!(msg_type = %header.msg_type, biz_type = %header.biz_type, "simulator: unexpected frame ignored");
        shared.stat(|s| s.unexpected_frames += 1);
        return Vec::new();
    }
    let key = key_of(header);
    let mut bank = lock(&shared.bank);
    let echoed = bank.pending.get(&key).map(|p| {
        p.header.reserved1 == header.reserved1
            && p.header.reserved2 == header.reserved2
            && p.header.reserved3 == header.reserved3
            && p.header.biz_type == header.biz_type
            && hecto::response_msg_type(&p.header.msg_type).as_deref() == Some(&header.msg_type)
    });
    match echoed {
        Some(true) => {
            bank.pending.remove(&key);
            drop(bank);
            shared.stat(|s| s.notices_acked += 1);
        }
        Some(false) => {
            drop(bank);
            tracing::warn!(
                msg_no = key.1,
                "simulator: notice ack does not echo 예비영역; resending later"
            );
            shared.stat(|s| s.notice_acks_bad += 1);
        }
        None => {
            drop(bank);
            // A late second ack of a notice already settled is normal after a resend.
            tracing::debug!(msg_no = key.1, "simulator: ack of no pending notice");
            shared.stat(|s| s.notice_acks_bad += 1);
        }
    }
    Vec::new()
}

// ---------------------------------------------------------------------------------------------
// Notices
// ---------------------------------------------------------------------------------------------

async fn notice_loop(shared: Arc<Shared>, token: CancellationToken) {
    let Some(interval) = shared.s.notice_interval else {
        return;
    };
    let ack_timeout = shared.s.notice_ack_timeout;
    let tick =
        (interval.min(ack_timeout) / 4).clamp(Duration::from_millis(5), Duration::from_millis(500));
    let mut rng = derived_rng(shared.s.cfg.seed, SALT_NOTICE, 0);
    let mut next_new = Instant::now() + interval;
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(tick) => {}
        }
        let Some(tx) = shared.notice_route() else {
            // Nobody to notify: start the interval afresh once someone signs on.
            next_new = Instant::now() + interval;
            continue;
        };
        let now = Instant::now();
        let mut out: Vec<((u32, u32), Bytes, bool)> = Vec::new();
        {
            let mut bank = lock(&shared.bank);
            let max = shared.s.cfg.notice_max_resends;
            let mut abandoned = Vec::new();
            for (k, p) in &bank.pending {
                match p.sent_at {
                    None => out.push((*k, p.frame.clone(), false)),
                    Some(t) if now.duration_since(t) >= ack_timeout => {
                        if p.resends >= max {
                            abandoned.push(*k);
                        } else {
                            out.push((*k, p.frame.clone(), true));
                        }
                    }
                    Some(_) => {}
                }
            }
            for k in &abandoned {
                bank.pending.remove(k);
                tracing::warn!(
                    msg_no = k.1,
                    "simulator: notice never acknowledged, giving up"
                );
            }
            if !abandoned.is_empty() {
                let n = abandoned.len() as u64;
                shared.stat(|s| s.notices_abandoned += n);
            }
            if now >= next_new {
                next_new = if now.duration_since(next_new) > interval {
                    now + interval
                } else {
                    next_new + interval
                };
                if bank.pending.len() < MAX_PENDING_NOTICES {
                    let clock_now = shared.clock.now();
                    match new_notice(&shared.s.cfg, &mut bank, &mut rng, clock_now) {
                        Ok((k, p)) => {
                            out.push((k, p.frame.clone(), false));
                            bank.pending.insert(k, p);
                        }
                        Err(e) => tracing::error!(error = %e, "simulator: notice encode"),
                    }
                }
            }
        }
        for (k, frame, resend) in out {
            if tx.try_send(frame).is_err() {
                // Line congested or gone: the next tick retries.
                continue;
            }
            let mut bank = lock(&shared.bank);
            if let Some(p) = bank.pending.get_mut(&k) {
                p.sent_at = Some(now);
                if resend {
                    p.resends += 1;
                }
            }
            drop(bank);
            shared.stat(|s| {
                if resend {
                    s.notices_resent += 1;
                } else {
                    s.notices_sent += 1;
                }
            });
        }
    }
}

/// Builds the next 4000/100 (or, sometimes, 3000/100) notice with the next daily 전문번호.
fn new_notice(
    cfg: &SimConfig,
    bank: &mut Bank,
    rng: &mut StdRng,
    now: NaiveDateTime,
) -> Result<((u32, u32), PendingNotice), fep_codec::EncodeError> {
    let day = day_of(&now);
    if bank.notice_day != day {
        bank.notice_day = day;
        bank.notice_no = 0;
    }
    bank.notice_no += 1;
    let no = bank.notice_no;
    let (id_code, company_no, bank_code) = match (&bank.learned, cfg.company_no.is_empty()) {
        (Some((id, company, code)), true) => (id.clone(), company.clone(), code.clone()),
        _ => (
            hecto::ID_CODE.to_owned(),
            cfg.company_no.clone(),
            cfg.bank_code.clone(),
        ),
    };
    let fail = if rng.random_bool(cfg.fail_notice_rate) {
        bank.fail_candidates.pop_front()
    } else {
        None
    };
    let header = HectoHeader {
        id_code,
        company_no,
        bank_code,
        msg_type: if fail.is_some() {
            hecto::MSG_TYPE_FAIL_NOTICE
        } else {
            hecto::MSG_TYPE_STATEMENT
        }
        .to_owned(),
        biz_type: "100".to_owned(),
        send_count: 1,
        msg_no: no,
        send_date: format!("{day:08}"),
        send_time: format!("{:06}", hms_of(&now)),
        resp_code: String::new(),
        // Distinct, non-blank 예비영역 so the company's echo is actually checked.
        reserved1: format!("SIMBANK0N{no:06}"),
        reserved2: format!("R{:010}", rng.random_range(0..10_000_000_000u64)),
        reserved3: format!("NOTICE{:012}", rng.random_range(0..1_000_000_000_000u64)),
    };
    let frame = match fail {
        Some(c) => TransferFailNotice {
            header: header.clone(),
            orig_msg_no: Some(c.msg_no),
            wd_account: c.wd_account,
            dep_bank: Some(c.dep_bank),
            dep_account: c.dep_account,
            req_amount: Some(c.amount),
            ok_amount: Some(0),
            fail_amount: Some(c.amount),
            split_count: Some(1),
            split_no: Some(1),
            other_bank_msg_no: Some(rng.random_range(1..950_000)),
            fail_notice_amt: Some(c.amount),
            error_code: "0412".into(),
            ..TransferFailNotice::default()
        }
        .encode()?,
        None => {
            let amount = rng.random_range(1..=50_000u64) * 100;
            bank.balance = bank.balance.saturating_add(amount);
            let name = NAMES[rng.random_range(0..NAMES.len())];
            DepositNotice {
                header: header.clone(),
                account: cfg.account.clone(),
                giro_branch: "0040001".into(),
                io_cancel_type: "11".into(),
                tx_kind: if rng.random_bool(0.5) { "03" } else { "20" }.into(),
                amount,
                cash_like: Some(amount),
                bill_other: Some(0),
                bal_sign: "+".into(),
                balance: Some(bank.balance),
                counterparty_name: name.into(),
                tx_date: format!("{day:08}"),
                tx_time: format!("{:06}", hms_of(&now)),
                tx_seq: no,
                ..DepositNotice::default()
            }
            .encode()?
        }
    };
    Ok((
        (day, no),
        PendingNotice {
            frame: Bytes::from(frame),
            header,
            sent_at: None,
            resends: 0,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sim: SimConfig,
    }

    #[test]
    fn default_matches_cli_defaults() {
        let cli = Cli::try_parse_from(["sim"]).expect("parse");
        assert_eq!(cli.sim, SimConfig::default());
        let cli = Cli::try_parse_from([
            "sim",
            "--latency-ms",
            "2..20",
            "--decline-codes",
            "SB02,SB03",
            "--connect-back",
            "127.0.0.1:9000",
        ])
        .expect("parse");
        assert_eq!(cli.sim.decline_codes, ["SB02", "SB03"]);
        assert!(cli.sim.connect_back.is_some());
    }

    #[test]
    fn latency_syntax() {
        assert_eq!("5".parse::<Latency>().ok(), Some(Latency::Fixed(5.0)));
        assert_eq!(
            "2..20".parse::<Latency>().ok(),
            Some(Latency::Uniform(2.0, 20.0))
        );
        assert_eq!(
            "10+-3".parse::<Latency>().ok(),
            Some(Latency::Uniform(7.0, 13.0))
        );
        assert_eq!(
            "exp:4".parse::<Latency>().ok(),
            Some(Latency::Exponential(4.0))
        );
        assert!("20..2".parse::<Latency>().is_err());
        assert!("fast".parse::<Latency>().is_err());
        assert!("-1".parse::<Latency>().is_err());
        let mut rng = derived_rng(1, 2, 3);
        for _ in 0..100 {
            let d = Latency::Uniform(2.0, 20.0).sample(&mut rng);
            assert!(d >= Duration::from_millis(2) && d <= Duration::from_millis(20));
        }
    }

    #[test]
    fn config_validation() {
        let bad = |c: SimConfig| Settings::new(c).is_err();
        assert!(bad(SimConfig {
            decline_rate: 0.6,
            unknown_rate: 0.6,
            ..SimConfig::default()
        }));
        assert!(bad(SimConfig {
            decline_rate: -0.1,
            ..SimConfig::default()
        }));
        assert!(bad(SimConfig {
            decline_rate: 0.1,
            decline_codes: vec![],
            ..SimConfig::default()
        }));
        assert!(bad(SimConfig {
            company_no: "똠".into(),
            ..SimConfig::default()
        }));
        assert!(Settings::new(SimConfig::default()).is_ok());
    }

    #[test]
    fn names_fit_the_fields() {
        for n in NAMES {
            let m = DepositNotice {
                counterparty_name: n.into(),
                ..DepositNotice::default()
            };
            assert!(m.encode().is_ok(), "{n}");
        }
    }

    #[test]
    fn response_header_rules() {
        let h = HectoHeader {
            msg_type: "9000".into(),
            ..HectoHeader::default()
        };
        assert_eq!(response_header(&h, "0001").msg_type, "9100");
        let h = HectoHeader {
            msg_type: "2000".into(),
            ..HectoHeader::default()
        };
        let r = response_header(&h, "0000");
        assert_eq!(
            (r.msg_type.as_str(), r.resp_code.as_str()),
            ("2100", "0000")
        );
    }
}
