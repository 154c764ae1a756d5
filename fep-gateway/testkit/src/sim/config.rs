//! The simulator's configuration (`fep sim` arguments), its checked form, and errors.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use fep_codec::Telegram;
use fep_specs::hecto::{self, DepositNotice, HectoHeader};
use rand::rngs::StdRng;
use rand::RngExt;
use serde::Serialize;

use fep_client::framing::{FrameCodec, Framing};

use super::ledger::Code;

/// Latency draws are capped so a long-tailed distribution cannot park a response forever.
const MAX_LATENCY_MS: f64 = 600_000.0;

/// How much of a bank the simulator keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The whole bank: typed answers (balance, fee), the company's balance, 불능통지
    /// candidates, counters by message kind, and recording when asked for.
    #[default]
    Full,
    /// For benchmarks, where the bank must cost as little CPU as possible: transfers and
    /// collections are answered by echoing the request under the response header (their
    /// bodies are never decoded), and no balance, fee, amount, per-kind counter or recording
    /// is kept. Outcomes (rates, latency, `SB09`, result inquiries) are those of the full mode.
    Lean,
}

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
    /// full, or lean (benchmarks: echo answers, no books).
    #[arg(long, value_enum, default_value_t = Mode::Full)]
    pub mode: Mode,
    /// Leave Nagle's algorithm on and write each answer on its own, like a legacy host.
    #[arg(long)]
    pub nagle: bool,
    /// Record every frame received, for tests ([`super::SimHandle::seen`] and friends); memory
    /// grows with the traffic. Full mode only.
    #[arg(skip)]
    pub record: bool,
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
            mode: Mode::Full,
            nagle: false,
            record: false,
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

    /// The latency when it needs no draw (a fixed one), so the rng can be skipped.
    pub(super) fn fixed(&self) -> Option<Duration> {
        match *self {
            Latency::Fixed(ms) => Some(Duration::from_secs_f64(
                ms.clamp(0.0, MAX_LATENCY_MS) / 1000.0,
            )),
            _ => None,
        }
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
    /// A push found no open session to go on.
    #[error("simulator: no open session to push on")]
    NoSession,
    /// The simulator already connects back (split lines) somewhere.
    #[error("simulator: already connecting back to {0}")]
    AlreadySplit(SocketAddr),
    /// Other socket failure.
    #[error("simulator i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// The configuration checked and converted.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub cfg: SimConfig,
    pub lean: bool,
    pub latency: Latency,
    /// Whether a transfer's outcome needs a draw at all (some rate above 0, or a latency
    /// distribution); without one the rng is skipped, which the lean mode's cost depends on.
    pub draws: bool,
    pub decline_codes: Vec<Code>,
    pub unknown_codes: Vec<Code>,
    pub in_progress_codes: Vec<Code>,
    pub duplicate_code: Code,
    pub poll_interval: Option<Duration>,
    pub idle_timeout: Duration,
    pub notice_interval: Option<Duration>,
    pub notice_ack_timeout: Duration,
    pub back_hold: Duration,
}

fn codes(name: &str, list: &[String]) -> Result<Vec<Code>, SimError> {
    list.iter()
        .map(|c| {
            Code::new(c).ok_or_else(|| {
                SimError::Config(format!("{name}: {c:?} is not a 4-character ASCII code"))
            })
        })
        .collect()
}

impl Settings {
    pub fn new(cfg: SimConfig) -> Result<Settings, SimError> {
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
        }
        let duplicate_code = Code::new(&cfg.duplicate_code).ok_or_else(|| {
            SimError::Config(format!(
                "duplicate_code {:?} is not a 4-character ASCII code",
                cfg.duplicate_code
            ))
        })?;
        if cfg.poll_interval_ms == Some(0) || cfg.notice_interval_ms == Some(0) {
            return Err(SimError::Config("intervals must be above 0 ms".into()));
        }
        if cfg.idle_timeout_ms == 0 || cfg.notice_ack_timeout_ms == 0 || cfg.max_connections == 0 {
            return Err(SimError::Config(
                "idle_timeout_ms, notice_ack_timeout_ms and max_connections must be above 0".into(),
            ));
        }
        let lean = cfg.mode == Mode::Lean;
        if lean && cfg.record {
            return Err(SimError::Config("record needs the full mode".into()));
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
            lean,
            draws: sum > 0.0 || latency.fixed().is_none(),
            latency,
            decline_codes: codes("decline_codes", &cfg.decline_codes)?,
            unknown_codes: codes("unknown_codes", &cfg.unknown_codes)?,
            in_progress_codes: codes("in_progress_codes", &cfg.in_progress_codes)?,
            duplicate_code,
            poll_interval: cfg.poll_interval_ms.map(Duration::from_millis),
            idle_timeout: Duration::from_millis(cfg.idle_timeout_ms),
            notice_interval: cfg.notice_interval_ms.map(Duration::from_millis),
            notice_ack_timeout: Duration::from_millis(cfg.notice_ack_timeout_ms),
            back_hold: Duration::from_millis(cfg.back_hold_ms),
            cfg,
        })
    }

    /// The frame codec of every session (checked in [`Settings::new`]).
    pub fn codec(&self) -> Result<FrameCodec, SimError> {
        FrameCodec::new(Framing::hecto(), self.cfg.max_frame)
            .map_err(|e| SimError::Config(format!("max_frame: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::super::draw::derived_rng;
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
            "--mode",
            "lean",
            "--nagle",
        ])
        .expect("parse");
        assert_eq!(cli.sim.decline_codes, ["SB02", "SB03"]);
        assert!(cli.sim.connect_back.is_some());
        assert_eq!(cli.sim.mode, Mode::Lean);
        assert!(cli.sim.nagle);
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
        assert_eq!(Latency::Fixed(5.0).fixed(), Some(Duration::from_millis(5)));
        assert_eq!(Latency::Uniform(1.0, 2.0).fixed(), None);
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
        assert!(bad(SimConfig {
            unknown_codes: vec!["TOOLONG".into()],
            ..SimConfig::default()
        }));
        assert!(bad(SimConfig {
            mode: Mode::Lean,
            record: true,
            ..SimConfig::default()
        }));
        let s = Settings::new(SimConfig::default()).expect("defaults are valid");
        assert!(!s.draws, "no rate, fixed latency: nothing to draw");
        let s = Settings::new(SimConfig {
            latency_ms: "1..3".into(),
            ..SimConfig::default()
        })
        .expect("valid");
        assert!(s.draws);
    }
}
