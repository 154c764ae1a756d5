//! The former benchmark bank's interface, kept for callers not yet moved (fep-gateway's own
//! tests): a [`crate::sim`] simulator in [`Mode::Lean`]. New code uses
//! [`crate::sim::Simulator`] with `mode: Mode::Lean` directly.

use std::net::SocketAddr;
use std::time::Duration;

use crate::sim::{Mode, SimConfig, SimError, SimHandle, SimStats, Simulator};

/// How the simulated bank behaves (a subset of [`SimConfig`]).
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

impl From<BankSimConfig> for SimConfig {
    fn from(c: BankSimConfig) -> SimConfig {
        let (lo, hi) = c.latency_ms;
        SimConfig {
            mode: Mode::Lean,
            listen: Some(c.listen),
            connect_back: c.connect_back,
            latency_ms: if hi > lo {
                format!("{lo}..{hi}")
            } else {
                lo.to_string()
            },
            decline_rate: c.decline_rate,
            unknown_rate: c.unknown_rate,
            unknown_codes: vec!["VTIM".into()],
            no_response_rate: c.no_response_rate,
            notice_interval_ms: c.notice_every.map(|d| d.as_millis().max(1) as u64),
            seed: c.seed,
            ..SimConfig::default()
        }
    }
}

/// A running simulated bank in lean mode.
#[derive(Debug)]
pub struct BankSim(SimHandle);

impl BankSim {
    /// Binds and starts serving.
    pub async fn start(config: BankSimConfig) -> Result<BankSim, SimError> {
        Simulator::start(config.into()).await.map(BankSim)
    }

    /// The listen address.
    pub fn addr(&self) -> SocketAddr {
        self.0.addr()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> SimStats {
        self.0.stats()
    }

    /// Stops accepting and closes every connection.
    pub async fn shutdown(self) {
        self.0.shutdown().await;
    }
}
