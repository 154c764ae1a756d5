//! The simulated Hecto 실시간펌뱅킹 institution (a "bank") of tests, demos and benchmarks.
//!
//! The simulator listens for the gateway's outbound links and speaks the Hecto family
//! ([`fep_specs::hecto`]) with the real framing ([`fep_client::framing::Framing::hecto`]):
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
//! - split lines: with `connect_back` (or [`SimHandle::connect_back`]) it connects to the
//!   gateway's inbound listener and sends every response and notice there (polls are still
//!   answered where they arrive).
//!
//! [`Mode::Lean`] is the benchmark's bank: the same outcomes, without the books (see there).
//!
//! Tests steer a running simulator through its [`SimHandle`]: [`SimHandle::set_answer`]
//! (black hole, slow, decline), [`SimHandle::push_frame`] / [`SimHandle::push_raw`],
//! [`SimHandle::connect_back`], and, with `record` on, what it saw ([`SimHandle::seen`],
//! [`SimHandle::acks`], …). `nagle` makes it a legacy host that leaves Nagle's algorithm on.
//!
//! # Determinism
//!
//! The outcome of a request (ok / declined / unknown / no answer, the codes, the latency) is
//! drawn from an rng seeded from (`seed`, purpose, 전문번호). Keying on the 전문번호 rather
//! than on arrival order keeps outcomes identical between runs even though the gateway
//! multiplexes requests over links in a timing-dependent order. Per-connection randomness
//! (reconnect jitter) and the notice stream use rngs derived from the seed and a fixed salt.
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

mod answer;
mod config;
pub(crate) mod draw;
mod ledger;
mod notices;
mod session;
mod stats;

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

use fep_gateway::clock::{SharedClock, SystemClock, KST};

pub use config::{Latency, Mode, SimConfig, SimError};
pub use draw::Answer;
pub use ledger::{Seen, TrueOutcome};
pub use stats::SimStats;

use config::Settings;
use draw::Script;
use ledger::{Books, Recording};
use session::{Out, Routes};

/// How long shutdown waits for tasks before aborting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// State shared by the simulator's tasks and its handle.
struct Shared {
    s: Settings,
    clock: SharedClock,
    books: Mutex<Books>,
    stats: Mutex<SimStats>,
    routes: Mutex<Routes>,
    /// Split lines on: responses go to the connect-back line.
    split: AtomicBool,
    /// A test's [`Answer`]; the flag spares the lock while none is set.
    scripted: AtomicBool,
    script: Mutex<Option<Script>>,
    /// `Some` when `record` is on.
    recording: Option<Mutex<Recording>>,
}

impl Shared {
    fn stat(&self, f: impl FnOnce(&mut SimStats)) {
        f(&mut lock(&self.stats));
    }

    /// Now, in Korea: the bank's own business date and time.
    fn kst_now(&self) -> chrono::NaiveDateTime {
        self.clock.now().with_timezone(&KST).naive_local()
    }

    fn split(&self) -> bool {
        self.split.load(Ordering::Acquire)
    }

    fn script(&self) -> Option<Script> {
        if self.scripted.load(Ordering::Acquire) {
            *lock(&self.script)
        } else {
            None
        }
    }

    fn record(&self, f: impl FnOnce(&mut Recording)) {
        if let Some(r) = &self.recording {
            f(&mut lock(r));
        }
    }

    fn recorded<T>(&self, f: impl FnOnce(&Recording) -> T) -> T {
        match &self.recording {
            Some(r) => f(&lock(r)),
            None => f(&Recording::default()),
        }
    }
}

/// Starts simulators.
#[derive(Debug, Clone, Copy)]
pub struct Simulator;

impl Simulator {
    /// Binds `cfg.listen` (default `127.0.0.1:0`) and starts on the system clock (KST).
    pub async fn start(cfg: SimConfig) -> Result<SimHandle, SimError> {
        Simulator::start_with_clock(cfg, Arc::new(SystemClock)).await
    }

    /// Binds `cfg.listen` and starts reading dates and times from `clock`.
    pub async fn start_with_clock(
        cfg: SimConfig,
        clock: SharedClock,
    ) -> Result<SimHandle, SimError> {
        let want = cfg
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = TcpListener::bind(want)
            .await
            .map_err(|source| SimError::Bind { addr: want, source })?;
        Simulator::start_on_with_clock(listener, cfg, clock)
    }

    /// Starts on a listener the caller bound (`cfg.listen` is ignored), on the system clock:
    /// the address is known before the simulator exists, and no port is given up meanwhile.
    /// Must be called within a Tokio runtime.
    pub fn start_on(listener: TcpListener, cfg: SimConfig) -> Result<SimHandle, SimError> {
        Simulator::start_on_with_clock(listener, cfg, Arc::new(SystemClock))
    }

    /// [`Simulator::start_on`] reading dates and times from `clock`. Must be called within a
    /// Tokio runtime.
    pub fn start_on_with_clock(
        listener: TcpListener,
        cfg: SimConfig,
        clock: SharedClock,
    ) -> Result<SimHandle, SimError> {
        let s = Settings::new(cfg)?;
        let addr = listener.local_addr()?;
        let connect_back = s.cfg.connect_back;
        let shared = Arc::new(Shared {
            books: Mutex::new(Books::new(s.cfg.initial_balance)),
            recording: s.cfg.record.then(Mutex::default),
            s,
            clock,
            stats: Mutex::default(),
            routes: Mutex::default(),
            split: AtomicBool::new(false),
            scripted: AtomicBool::new(false),
            script: Mutex::new(None),
        });
        let token = CancellationToken::new();
        let mut tasks = vec![tokio::spawn(session::accept_loop(
            shared.clone(),
            listener,
            token.clone(),
        ))];
        if shared.s.notice_interval.is_some() {
            tasks.push(tokio::spawn(notices::notice_loop(
                shared.clone(),
                token.clone(),
            )));
        }
        tracing::info!(%addr, ?connect_back, mode = ?shared.s.cfg.mode, "simulator listening");
        let handle = SimHandle {
            addr,
            shared,
            token: token.clone(),
            _guard: token.drop_guard(),
            tasks: Mutex::new(tasks),
        };
        if let Some(back) = connect_back {
            handle.connect_back(back)?;
        }
        Ok(handle)
    }
}

/// A running simulator. Dropping it stops the simulator (without waiting).
pub struct SimHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    token: CancellationToken,
    _guard: DropGuard,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.addr)
            .field("mode", &self.shared.s.cfg.mode)
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
        let t = lock(&self.shared.books).outcome(date, msg_no)?;
        Some(t.to_public())
    }

    /// Every recorded transfer and collection as (전송일자 `YYYYMMDD`, 전문번호, outcome),
    /// ordered by date and number (the last three business days are kept).
    pub fn outcomes(&self) -> Vec<(String, u32, TrueOutcome)> {
        let all = lock(&self.shared.books).outcomes();
        all.into_iter()
            .map(|(d, n, t)| (format!("{d:08}"), n, t.to_public()))
            .collect()
    }

    /// Whether a session is signed on (업무개시 received, no 업무종료 since).
    pub fn signed_on(&self) -> bool {
        lock(&self.shared.books).signed_on.is_some()
    }

    /// Whether the connect-back line is up (split mode).
    pub fn connected_back(&self) -> bool {
        lock(&self.shared.routes).back.is_some()
    }

    /// Current balance of the company's 모계좌 (lean mode keeps none: the initial balance).
    pub fn balance(&self) -> u64 {
        lock(&self.shared.books).balance
    }

    /// Notices sent and not yet acknowledged.
    pub fn pending_notices(&self) -> usize {
        lock(&self.shared.books).pending.len()
    }

    /// From now on, answer transfers and collections as `answer` says.
    pub fn set_answer(&self, answer: Answer) -> Result<(), SimError> {
        let script = Script::of(&answer)?;
        *lock(&self.shared.script) = script;
        self.shared
            .scripted
            .store(script.is_some(), Ordering::Release);
        Ok(())
    }

    /// Turns split lines on before the line exists, as a bank that answers only on the line it
    /// opens to the gateway — and opens it late: from now on every response and notice goes
    /// to the connect-back line, held up to `back_hold_ms` while it is down (then lost), until
    /// [`SimHandle::connect_back`] says where to connect.
    pub fn expect_connect_back(&self) {
        self.shared.split.store(true, Ordering::Release);
    }

    /// Turns split lines on: connects to the gateway's inbound listener at `addr` (and keeps
    /// reconnecting), and sends every response and notice there from now on; responses wait
    /// up to `back_hold_ms` while the line is down.
    pub fn connect_back(&self, addr: SocketAddr) -> Result<(), SimError> {
        {
            let mut routes = lock(&self.shared.routes);
            if let Some(old) = routes.back_addr {
                return Err(SimError::AlreadySplit(old));
            }
            routes.back_addr = Some(addr);
        }
        self.shared.split.store(true, Ordering::Release);
        let task = tokio::spawn(session::connect_back_loop(
            self.shared.clone(),
            addr,
            self.token.clone(),
        ));
        lock(&self.tasks).push(task);
        Ok(())
    }

    /// Sends `telegram` (the codec adds the length prefix) on the newest open session the
    /// listener accepted: a notice or a poll of the test's making.
    pub async fn push_frame(&self, telegram: impl Into<Bytes>) -> Result<(), SimError> {
        self.push(Out::Frame(telegram.into())).await
    }

    /// Writes `bytes` as they are on the newest open session the listener accepted.
    pub async fn push_raw(&self, bytes: impl Into<Bytes>) -> Result<(), SimError> {
        self.push(Out::Raw(bytes.into())).await
    }

    async fn push(&self, out: Out) -> Result<(), SimError> {
        let tx = lock(&self.shared.routes)
            .sessions
            .last_key_value()
            .map(|(_, tx)| tx.clone())
            .ok_or(SimError::NoSession)?;
        tx.send(out).await.map_err(|_| SimError::NoSession)
    }

    /// Every request received, in order, duplicates included (empty unless `record` is on).
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.recorded(|r| r.seen.clone())
    }

    /// The transfers and collections among [`SimHandle::seen`].
    pub fn transfers(&self) -> Vec<Seen> {
        self.shared.recorded(|r| {
            r.seen
                .iter()
                .filter(|s| s.msg_type == fep_specs::hecto::MSG_TYPE_TRANSFER)
                .cloned()
                .collect()
        })
    }

    /// Notice acknowledgements (4100, 3100) as received (empty unless `record` is on).
    pub fn acks(&self) -> Vec<Bytes> {
        self.shared.recorded(|r| r.acks.clone())
    }

    /// Polls (`HDRREQPOLL…`) received (empty unless `record` is on).
    pub fn polls_received(&self) -> Vec<Bytes> {
        self.shared.recorded(|r| r.polls.clone())
    }

    /// Answers to the simulator's (or a pushed) poll received (empty unless `record` is on).
    pub fn poll_answers(&self) -> Vec<Bytes> {
        self.shared.recorded(|r| r.poll_answers.clone())
    }

    /// Stops accepting, closes every connection and waits (bounded) for the tasks.
    pub async fn shutdown(&self) {
        self.token.cancel();
        let tasks = std::mem::take(&mut *lock(&self.tasks));
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
