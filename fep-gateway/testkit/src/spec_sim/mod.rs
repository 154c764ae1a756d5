//! A simulated institution for **any** family, driven only by its spec TOML (`fep sim --spec`).
//!
//! Everything it does comes from the [`Family`]: framing ([`framing_of`]), decoding and
//! encoding (dynamic records), which telegrams are requests (`response`), result inquiries
//! (`[[inquiry]]`), duplicate refusal (`[correlation]`), its own numbering and dates
//! (`[sequence]`, `[date]`), notices (`[[notices]]`), session commands (`[session]`) and
//! heartbeats (`[heartbeat]`). No institution's names or codes are written here; a
//! [`Scenario`] says how often things go wrong.
//!
//! - Listens for the gateway's connections; many telegrams per connection, answered on the
//!   same connection (or one telegram per connection: `per_telegram_listen`).
//! - A request is answered with its `response` message: the request's fields that the
//!   response has, the response's key and `when` values, and a response code drawn from the
//!   scenario's rates (success, declined, unknown, in progress, or no answer), after a drawn
//!   latency. Draws are seeded per request sequence number, not by arrival order.
//! - The true outcome of money-moving requests (those an `[[inquiry]]` is `for`) is kept by
//!   (date, the field the inquiry's `copy[key_field]` names) and revealed by the inquiry.
//! - A request whose correlation key was already seen is refused without executing.
//! - When the institution opens the day (`opened_by = "institution"`), it sends the `open`
//!   command as soon as the gateway can be reached and resends it until acknowledged;
//!   scheduled commands follow the scenario. Notices are resent (same telegram) until
//!   acknowledged.
//!
//! Tests steer and observe it through [`SpecSimHandle`]; [`SpecSimHandle::wait_for`] waits on
//! its counters with a deadline.

mod books;
mod conn;
mod inbound;
mod outbound;
mod scenario;
mod telegrams;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use fep_client::framing::{FrameCodec, FramingConfigError};
use fep_codec::spec::{Family, SpecError};
use fep_gateway::clock::{SharedClock, SystemClock, KST};
use fep_gateway::profile::{framing_of, WireError};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;

pub use books::Day;
pub use scenario::{
    Codes, Connections, LatencyRange, NoticePlan, Outcomes, Scenario, ScheduledCommand, SessionPlan,
};

use books::Books;
use conn::Routes;
use outbound::Waiters;
use scenario::Plan;

/// How long shutdown waits for tasks.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// Largest frame when the family does not say.
const DEFAULT_MAX_FRAME: usize = 65_536;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why the simulator cannot start or do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum SpecSimError {
    /// The spec file does not load.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// The family lacks something the simulator needs.
    #[error("family: {0}")]
    Family(String),
    /// The family's framing cannot run on TCP.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The framing is not valid for the link codec.
    #[error("framing: {0}")]
    Framing(#[from] FramingConfigError),
    /// The scenario is not valid.
    #[error("scenario: {0}")]
    Scenario(String),
    /// The listen address cannot be bound.
    #[error("bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Another I/O error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// No session command has this key or effect.
    #[error("no [[session.commands]] with key or effect {0:?}")]
    NoCommand(String),
    /// Connect-back is already set.
    #[error("connect-back already goes to {0}")]
    AlreadyConnectingBack(SocketAddr),
    /// A wait ran past its deadline.
    #[error("timed out after {0:?} waiting for {1}; counters: {2:?}")]
    Timeout(Duration, String, Box<SpecSimStats>),
}

/// What the simulator has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SpecSimStats {
    /// Connections accepted or opened (counted once they can carry the institution's own
    /// telegrams).
    pub connections: u64,
    /// Telegrams received.
    pub frames: u64,
    /// Telegrams that did not decode.
    pub undecodable: u64,
    /// Telegrams that are neither requests nor acknowledgements.
    pub unexpected: u64,
    /// Requests received (duplicates and inquiries included).
    pub requests: u64,
    /// Requests answered with success (session requests and inquiries included).
    pub ok: u64,
    /// Requests answered with a declined code.
    pub declined: u64,
    /// Requests answered with an unknown code.
    pub unknown: u64,
    /// Requests answered with an in-progress code.
    pub in_progress: u64,
    /// Requests left unanswered.
    pub no_answer: u64,
    /// Result inquiries answered.
    pub inquiries: u64,
    /// Requests refused as duplicates (correlation key seen before).
    pub duplicates: u64,
    /// Money-moving requests refused after `stop_new` / `close`.
    pub refused_closed: u64,
    /// Heartbeat requests answered.
    pub heartbeats: u64,
    /// Notices sent (each once, resends apart).
    pub notices_sent: u64,
    /// Notice resends.
    pub notices_resent: u64,
    /// Notices acknowledged.
    pub notices_acked: u64,
    /// Notices given up after `max_resends`.
    pub notices_given_up: u64,
    /// Commands sent (each once, resends apart).
    pub commands_sent: u64,
    /// Command resends.
    pub commands_resent: u64,
    /// Commands acknowledged.
    pub commands_acked: u64,
    /// Commands given up after `max_resends`.
    pub commands_given_up: u64,
    /// Telegrams that found no connection to go on.
    pub undeliverable: u64,
}

/// A telegram received, kept when the scenario's `record` is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Its key (`"0200/1100"`), empty when it did not decode.
    pub key: String,
    /// Its message name, empty when it did not decode.
    pub name: String,
    /// The telegram (without framing).
    pub telegram: Bytes,
}

/// Where the simulator listens and connects, and its seed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecSimOptions {
    /// Listen address (default `127.0.0.1:0`).
    pub listen: Option<SocketAddr>,
    /// The gateway's inbound listener, for notices and commands.
    pub connect_back: Option<SocketAddr>,
    /// Seed of every draw.
    pub seed: u64,
}

/// State shared by the simulator's tasks and its handle.
struct Shared {
    family: Family,
    scenario: Scenario,
    plan: Plan,
    seed: u64,
    clock: SharedClock,
    codec: FrameCodec,
    stats: watch::Sender<SpecSimStats>,
    books: Mutex<Books>,
    routes: Mutex<Routes>,
    waiters: Mutex<Waiters>,
    /// The institution's own numbering: the day it counts for and the numbers used that day.
    seq: Mutex<(Option<chrono::NaiveDate>, u64)>,
    /// An open command is being delivered.
    opening: AtomicBool,
    recording: Option<Mutex<Vec<Seen>>>,
    token: CancellationToken,
    tracker: TaskTracker,
}

impl Shared {
    fn stat(&self, f: impl FnOnce(&mut SpecSimStats)) {
        self.stats.send_modify(f);
    }

    /// Now, in Korea: the institution's business date and time.
    fn now(&self) -> chrono::NaiveDateTime {
        self.clock.now().with_timezone(&KST).naive_local()
    }

    /// The institution's next own sequence number, within the family's range; it starts
    /// again at the range's start each day when the family's numbering resets daily.
    fn next_seq(&self) -> u64 {
        let spec = self.family.sequence();
        let (min, max) = spec.map_or((1, u64::MAX), |s| (s.min, s.max.max(s.min)));
        let daily = spec.is_some_and(|s| s.reset.as_deref() == Some("daily"));
        let today = self.now().date();
        let mut seq = lock(&self.seq);
        if daily && seq.0 != Some(today) {
            *seq = (Some(today), 0);
        }
        let n = seq.1;
        seq.1 = seq.1.wrapping_add(1);
        min + n % (max - min).saturating_add(1)
    }

    fn spawn(&self, f: impl Future<Output = ()> + Send + 'static) {
        self.tracker.spawn(f);
    }
}

/// Starts spec-driven simulators.
#[derive(Debug, Clone, Copy)]
pub struct SpecSim;

impl SpecSim {
    /// Binds `opts.listen` (default `127.0.0.1:0`) and starts on the system clock.
    pub async fn start(
        family: Family,
        scenario: Scenario,
        opts: SpecSimOptions,
    ) -> Result<SpecSimHandle, SpecSimError> {
        let want = opts
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = TcpListener::bind(want)
            .await
            .map_err(|source| SpecSimError::Bind { addr: want, source })?;
        SpecSim::start_on(listener, family, scenario, opts, Arc::new(SystemClock))
    }

    /// Starts on a listener the caller bound, reading dates and times from `clock`. Must be
    /// called within a Tokio runtime.
    pub fn start_on(
        listener: TcpListener,
        family: Family,
        scenario: Scenario,
        opts: SpecSimOptions,
        clock: SharedClock,
    ) -> Result<SpecSimHandle, SpecSimError> {
        scenario.check()?;
        let plan = Plan::new(&family, &scenario)?;
        let (framing, max) = framing_of(&family)?;
        let codec = FrameCodec::new(framing, max.unwrap_or(DEFAULT_MAX_FRAME))?;
        let addr = listener.local_addr()?;
        let open_from_start = family.session().opened_by == fep_codec::spec::Opener::Nobody;
        let mut books = Books::default();
        if open_from_start {
            books.day = Day::Open;
        }
        let shared = Arc::new(Shared {
            recording: scenario.record.then(Mutex::default),
            family,
            scenario,
            plan,
            seed: opts.seed,
            clock,
            codec,
            stats: watch::Sender::new(SpecSimStats::default()),
            books: Mutex::new(books),
            routes: Mutex::default(),
            waiters: Mutex::default(),
            seq: Mutex::new((None, 0)),
            opening: AtomicBool::new(false),
            token: CancellationToken::new(),
            tracker: TaskTracker::new(),
        });
        shared.spawn(conn::accept_loop(shared.clone(), listener));
        outbound::start_schedules(&shared);
        tracing::info!(%addr, family = shared.family.name(), "spec simulator listening");
        let _guard = shared.token.clone().drop_guard();
        let handle = SpecSimHandle {
            addr,
            shared,
            _guard,
        };
        if let Some(back) = opts.connect_back {
            handle.connect_back(back)?;
        }
        Ok(handle)
    }
}

/// A running simulator. Dropping it stops it (without waiting).
pub struct SpecSimHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _guard: DropGuard,
}

impl std::fmt::Debug for SpecSimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpecSimHandle")
            .field("addr", &self.addr)
            .field("family", &self.shared.family.name())
            .finish()
    }
}

impl SpecSimHandle {
    /// The bound listen address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> SpecSimStats {
        self.shared.stats.borrow().clone()
    }

    /// Waits until the counters satisfy `cond`, at most `limit`; `what` names it in the error.
    pub async fn wait_for(
        &self,
        limit: Duration,
        what: &str,
        mut cond: impl FnMut(&SpecSimStats) -> bool,
    ) -> Result<SpecSimStats, SpecSimError> {
        let mut rx = self.shared.stats.subscribe();
        let seen = tokio::time::timeout(limit, async {
            rx.wait_for(|s| cond(s)).await.map(|s| s.clone()).ok()
        })
        .await;
        match seen {
            Ok(Some(s)) => Ok(s),
            _ => Err(SpecSimError::Timeout(
                limit,
                what.to_owned(),
                Box::new(self.stats()),
            )),
        }
    }

    /// The business day as the simulator sees it.
    pub fn day(&self) -> Day {
        lock(&self.shared.books).day
    }

    /// The true outcome (a response code) of the money-moving request numbered `number` on
    /// `date` (as the telegram wrote them); `None` if it was never received.
    pub fn true_outcome(&self, date: &str, number: &str) -> Option<String> {
        let norm = |s: &str| telegrams::norm(&fep_codec::Value::Text(s.to_owned()));
        lock(&self.shared.books)
            .truth(&norm(date), &norm(number))
            .map(str::to_owned)
    }

    /// Every telegram received, in order (empty unless the scenario's `record` is on).
    pub fn seen(&self) -> Vec<Seen> {
        self.shared
            .recording
            .as_ref()
            .map(|r| lock(r).clone())
            .unwrap_or_default()
    }

    /// Sends notices and commands to the gateway's inbound listener at `addr` from now on
    /// (one persistent connection, or one per telegram as the scenario says).
    pub fn connect_back(&self, addr: SocketAddr) -> Result<(), SpecSimError> {
        conn::start_connect_back(&self.shared, addr)
    }

    /// Sends the session command with this key (`"0800/2700"`) or effect (`"stop_new"`) now,
    /// resending until acknowledged (in the background).
    pub fn send_command(&self, name: &str) -> Result<(), SpecSimError> {
        let i = scenario::command_index(&self.shared.family, name)
            .ok_or_else(|| SpecSimError::NoCommand(name.to_owned()))?;
        let shared = self.shared.clone();
        self.shared
            .spawn(async move { outbound::command(&shared, i).await });
        Ok(())
    }

    /// Stops accepting, closes every connection and waits (bounded) for the tasks.
    pub async fn shutdown(&self) {
        self.shared.token.cancel();
        self.shared.tracker.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, self.shared.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("spec simulator tasks still running after the grace period");
        }
    }
}

/// Runs a simulator of `family` until `shutdown` completes (for `fep sim --spec`): prints
/// `listening on ADDR` on stdout, then returns the final counters.
pub async fn run(
    family: Family,
    scenario: Scenario,
    opts: SpecSimOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<SpecSimStats, SpecSimError> {
    let handle = SpecSim::start(family, scenario, opts).await?;
    println!("listening on {}", handle.addr());
    shutdown.await;
    handle.shutdown().await;
    let stats = handle.stats();
    tracing::info!(?stats, "spec simulator stopped");
    Ok(stats)
}
