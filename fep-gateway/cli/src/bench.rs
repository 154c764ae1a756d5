//! `fep bench`: the gateway benchmark of issue #6. One run measures
//!
//! 1. **saturation throughput** through the gateway: a zero-latency simulated bank on one
//!    duplex link, the native-protocol load ramped in concurrency until throughput stops
//!    growing or p99 explodes (each step on a fresh gateway and simulator, so the journal and
//!    the simulator's ledger start empty);
//! 2. **added latency**: at half the saturation rate, p50/p99 through the gateway against the
//!    same load sent straight to the simulator ([`crate::load::run_direct`]);
//! 3. **peak RSS with 10,000 requests in flight**: the gateway as a child `fep run` process
//!    (so the figure is the gateway's alone), the simulator answering after 2 s.
//!
//! and, run only when asked (`--only journal`), the side-by-side comparison of the journal's
//! commit modes, `journal_commit = "sqlite"` against `"log"` ([`crate::journal_bench`]).
//!
//! Everything runs on loopback; every phase is bounded in time. The load generator shares the
//! machine with the gateway, so on a small machine the figures are a floor.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::load::{self, LoadOptions, LoadReport};
use fep_gateway::clock::SystemClock;
use fep_gateway::gateway::Gateway;
use fep_gateway::journal::{JournalCommit, JournalSync};
use fep_gateway::settings::{GatewaySettings, InstitutionSettings, LinkSettings};
use fep_testkit::sim::{Mode, SimConfig, SimHandle, Simulator};

/// Options of `fep bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchOptions {
    /// Seconds of load per measurement step.
    #[arg(long, default_value_t = 4)]
    pub step_seconds: u64,
    /// Concurrency steps of the saturation ramp (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "32,64,128,256,512,1024")]
    pub concurrency: Vec<usize>,
    /// Native connections the load opens to the gateway.
    #[arg(long, default_value_t = 2)]
    pub connections: usize,
    /// The ramp stops when p99 exceeds this (milliseconds).
    #[arg(long, default_value_t = 100.0)]
    pub max_p99_ms: f64,
    /// Workers of the half-saturation latency runs (paced, so this only bounds concurrency).
    #[arg(long, default_value_t = 256)]
    pub latency_workers: usize,
    /// Requests kept in flight for the RSS measurement (0 skips it).
    #[arg(long, default_value_t = 10_000)]
    pub inflight: usize,
    /// Simulator answer latency during the RSS measurement (milliseconds).
    #[arg(long, default_value_t = 2000)]
    pub inflight_latency_ms: u64,
    /// Hecto spec the child gateway loads (RSS phase); the embedded `specs/hecto.toml` when
    /// not given.
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// The gateways' journal sync mode (`[server] journal_sync`): full or normal.
    #[arg(long, default_value = "full")]
    pub journal_sync: JournalSync,
    /// The gateways' journal commit mode (`[server] journal_commit`): log (the gateway's
    /// default) or sqlite. The `journal` part compares both whatever this says.
    #[arg(long, default_value = "log")]
    pub journal_commit: JournalCommit,
    /// Only these parts (comma-separated): `saturation` (the ramp and the latency at half
    /// saturation), `memory` (RSS with `--inflight` in flight), `everyday` (the fixed-rate
    /// table at `--rates`), `journal` (journal_commit sqlite vs log side by side: saturation,
    /// added latency at half saturation and at `--rates`, recovery after kill -9; about two
    /// minutes). Without `--only`, every part but `journal`.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<Part>,
    /// Fixed rates of the everyday-load table, requests per second (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1000,5000")]
    pub rates: Vec<u64>,
    /// Seconds of one everyday-load measurement (one path, one rate, one round).
    #[arg(long, default_value_t = 3)]
    pub everyday_seconds: u64,
    /// Rounds of the everyday table; each measures direct, native and HTTP in turn (odd
    /// rounds in that order, even rounds backwards), so a neighbour's burst of load hits all
    /// three alike.
    #[arg(long, default_value_t = 2)]
    pub everyday_rounds: usize,
    /// Workers of the everyday-load runs (paced, so this only bounds the requests in flight;
    /// too few and requests leave late, see the table's `late`).
    #[arg(long, default_value_t = 256)]
    pub everyday_workers: usize,
    /// Requests in flight of the closed-loop native-vs-HTTP saturation comparison (0 skips it).
    #[arg(long, default_value_t = 64)]
    pub http_concurrency: usize,
    /// Rounds of the `journal` part: each measures sqlite and log in turn, forward in odd
    /// rounds and backward in even ones (2 rounds: sqlite, log, log, sqlite).
    #[arg(long, default_value_t = 2)]
    pub journal_rounds: usize,
    /// Requests in flight of the `journal` part's closed-loop saturation runs (`--step-seconds`
    /// each).
    #[arg(long, default_value_t = 256)]
    pub journal_concurrency: usize,
    /// Paced workers of the `journal` part's half-saturation runs (more than
    /// `--latency-workers`: at tens of thousands of requests per second with millisecond
    /// tails, 256 workers leave many requests late, which hides the tail being compared).
    #[arg(long, default_value_t = 1024)]
    pub journal_workers: usize,
    /// Rate of the `fep load` child that the `journal` part's recovery runs kill the gateway
    /// under (requests per second).
    #[arg(long, default_value_t = 2000)]
    pub recovery_rate: u64,
    /// Seconds of that load; the gateway is killed (SIGKILL) halfway through.
    #[arg(long, default_value_t = 3)]
    pub recovery_seconds: u64,
}

/// A part of `fep bench` (`--only`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    /// The saturation ramp and the latency at half saturation.
    Saturation,
    /// Gateway RSS with many requests in flight.
    Memory,
    /// The fixed-rate everyday-load table (native and HTTP, gateway vs direct).
    Everyday,
    /// `journal_commit` sqlite vs log side by side (only when named: it takes minutes).
    Journal,
}

impl BenchOptions {
    /// Whether `part` runs: the parts `--only` names, else every part but `journal`.
    fn runs(&self, part: Part) -> bool {
        if self.only.is_empty() {
            part != Part::Journal
        } else {
            self.only.contains(&part)
        }
    }

    /// These options with the journal in `commit` mode, synced as `sync` says.
    pub(crate) fn with_journal(&self, sync: JournalSync, commit: JournalCommit) -> BenchOptions {
        BenchOptions {
            journal_sync: sync,
            journal_commit: commit,
            ..self.clone()
        }
    }
}

/// One step of the saturation ramp.
#[derive(Debug, Clone, Serialize)]
pub struct RampStep {
    /// Requests kept in flight.
    pub concurrency: usize,
    /// Throughput.
    pub tps: f64,
    /// Median latency.
    pub p50_ms: f64,
    /// 99th percentile latency.
    pub p99_ms: f64,
    /// Requests without an ok answer (should be 0 with a zero-latency, no-decline simulator).
    pub not_ok: u64,
    /// CPU of the whole process (load, gateway, simulator) per request, in microseconds.
    pub cpu_us_per_req: f64,
}

/// The benchmark's results (figures of the parts not run are zero).
#[derive(Debug, Clone, Default, Serialize)]
pub struct BenchReport {
    /// The gateways' `journal_sync` (all parts but `journal`, which uses `full`).
    pub journal_sync: String,
    /// The gateways' `journal_commit` (all parts but `journal`, which compares both).
    pub journal_commit: String,
    /// The saturation ramp.
    pub ramp: Vec<RampStep>,
    /// Highest throughput of the ramp (req/s).
    pub saturation_tps: f64,
    /// Rate of the latency comparison (half of saturation).
    pub half_rate: u64,
    /// Through the gateway at `half_rate`.
    pub gateway_p50_ms: f64,
    /// Through the gateway at `half_rate`.
    pub gateway_p99_ms: f64,
    /// Achieved rate through the gateway.
    pub gateway_tps: f64,
    /// Straight to the simulator at `half_rate`.
    pub direct_p50_ms: f64,
    /// Straight to the simulator at `half_rate`.
    pub direct_p99_ms: f64,
    /// Achieved rate straight to the simulator.
    pub direct_tps: f64,
    /// Gateway p50 − direct p50.
    pub added_p50_ms: f64,
    /// Gateway p99 − direct p99.
    pub added_p99_ms: f64,
    /// Process CPU per request through the gateway minus the direct run's: the gateway's own
    /// CPU cost per request (µs), the steadiest figure on a shared machine.
    pub gateway_cpu_us_per_req: f64,
    /// Requests in flight during the RSS measurement (0 = skipped).
    pub inflight: usize,
    /// Gateway RSS before the load (MB).
    pub idle_rss_mb: f64,
    /// Gateway peak RSS with `inflight` requests in flight (MB, VmHWM).
    pub peak_rss_mb: f64,
    /// Requests of the RSS phase answered ok (each of the `inflight` workers sends in a loop).
    pub inflight_ok: u64,
    /// Requests of the RSS phase without an ok answer.
    pub inflight_not_ok: u64,
    /// The everyday-load table (`None` when not run).
    pub everyday: Option<crate::everyday::EverydayReport>,
    /// journal_commit sqlite vs log (`None` when not run).
    pub journal: Option<crate::journal_bench::JournalReport>,
}

/// CPU time this process has used (user + system), from `/proc/self/stat` (Linux; 0 elsewhere).
/// On a shared machine CPU per request is steadier than throughput, which other tenants bend.
fn process_cpu() -> Duration {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
            let rest = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
            let utime: u64 = rest.get(11)?.parse().ok()?;
            let stime: u64 = rest.get(12)?.parse().ok()?;
            Some(utime + stime)
        })
        .unwrap_or(0);
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// A load report with the process CPU it took per request.
pub(crate) struct Measured {
    /// The load's report.
    pub(crate) report: LoadReport,
    /// Process CPU per request (µs).
    pub(crate) cpu_us_per_req: f64,
}

async fn measured(
    run: impl std::future::Future<Output = Result<LoadReport, String>>,
) -> Result<Measured, String> {
    let before = process_cpu();
    let report = run.await?;
    let cpu = process_cpu().saturating_sub(before);
    Ok(Measured {
        cpu_us_per_req: cpu.as_secs_f64() * 1e6 / report.requests.max(1) as f64,
        report,
    })
}

/// The simulator in lean mode (echoed answers, no books: the bank must cost the benchmark as
/// little CPU as possible), answering after `latency_ms`.
pub(crate) async fn lean_bank(latency_ms: u64) -> Result<SimHandle, String> {
    Simulator::start(SimConfig {
        mode: Mode::Lean,
        latency_ms: latency_ms.to_string(),
        ..SimConfig::default()
    })
    .await
    .map_err(|e| e.to_string())
}

fn data_dir(tag: &str) -> PathBuf {
    journals_dir().join(format!("fep-bench-{}-{tag}", std::process::id()))
}

/// Where the bench's gateways keep their journals (each in a directory of its own).
pub(crate) fn journals_dir() -> PathBuf {
    std::env::temp_dir()
}

/// A zero-latency simulator and an in-process gateway with one duplex link to it, signed on.
async fn start_pair(
    tag: &str,
    sync: JournalSync,
    commit: JournalCommit,
) -> Result<(SimHandle, Gateway, PathBuf), String> {
    let sim = lean_bank(0).await?;
    let dir = data_dir(tag);
    let _ = std::fs::remove_dir_all(&dir);
    let mut inst =
        InstitutionSettings::hecto("hecto", vec![LinkSettings::outbound_duplex(sim.addr())]);
    inst.request_timeout = Duration::from_secs(5);
    let settings = GatewaySettings {
        native_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        http_listen: None,
        data_dir: dir.clone(),
        retention_days: 0,
        journal_sync: sync,
        journal_commit: commit,
        institutions: vec![inst],
    };
    let gateway = Gateway::start(settings, Arc::new(SystemClock))
        .await
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !gateway.status().await.iter().all(|s| s.signed_on) {
        if Instant::now() > deadline {
            return Err("gateway did not sign on within 15 s".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok((sim, gateway, dir))
}

async fn stop_pair(sim: SimHandle, gateway: Gateway, dir: &Path) {
    gateway.shutdown(Duration::from_secs(5)).await;
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

fn load_options(addr: String, opts: &BenchOptions, concurrency: usize, rate: u64) -> LoadOptions {
    LoadOptions {
        addr,
        institutions: vec!["hecto".into()],
        concurrency,
        rate,
        seconds: opts.step_seconds,
        inquiry_percent: 0,
        timeout_ms: 5000,
        connections: opts.connections,
        idempotency_keys: false,
    }
}

/// A load of `concurrency` workers at `rate` (0: closed loop) for `--step-seconds` through a
/// fresh in-process gateway (the journal as `opts` says) and simulator.
pub(crate) async fn through_gateway(
    opts: &BenchOptions,
    concurrency: usize,
    rate: u64,
) -> Result<Measured, String> {
    let tag = format!("c{concurrency}-r{rate}-{}", opts.journal_commit.as_str());
    let (sim, gateway, dir) = start_pair(&tag, opts.journal_sync, opts.journal_commit).await?;
    let lo = load_options(gateway.native_addr().to_string(), opts, concurrency, rate);
    let report = measured(load::run(&lo, |_, _| {})).await;
    stop_pair(sim, gateway, &dir).await;
    report
}

/// The same load as [`through_gateway`] straight to a fresh simulator.
pub(crate) async fn direct(
    opts: &BenchOptions,
    concurrency: usize,
    rate: u64,
) -> Result<Measured, String> {
    let sim = lean_bank(0).await?;
    // One connection, like the gateway's one duplex link.
    let mut lo = load_options(sim.addr().to_string(), opts, concurrency, rate);
    lo.connections = 1;
    let report = measured(load::run_direct(&lo)).await;
    sim.shutdown().await;
    report
}

/// Runs the benchmark (the parts `--only` names, else all but `journal`), printing progress
/// to stderr.
pub async fn run(opts: &BenchOptions) -> Result<BenchReport, String> {
    let mut report = BenchReport {
        journal_sync: opts.journal_sync.as_str().to_owned(),
        journal_commit: opts.journal_commit.as_str().to_owned(),
        ..BenchReport::default()
    };
    if opts.runs(Part::Saturation) {
        saturation(opts, &mut report).await?;
    }
    if opts.runs(Part::Memory) && opts.inflight > 0 {
        let rss = inflight_rss(opts).await?;
        report.inflight = opts.inflight;
        report.idle_rss_mb = rss.idle_mb;
        report.peak_rss_mb = rss.peak_mb;
        report.inflight_ok = rss.ok;
        report.inflight_not_ok = rss.not_ok;
    }
    if opts.runs(Part::Everyday) {
        report.everyday = Some(crate::everyday::run(opts).await?);
    }
    if opts.runs(Part::Journal) {
        report.journal = Some(crate::journal_bench::run(opts).await?);
    }
    Ok(report)
}

/// (a) The saturation ramp, then (b) the latency the gateway adds at half of saturation.
async fn saturation(opts: &BenchOptions, report: &mut BenchReport) -> Result<(), String> {
    let mut best = 0.0f64;
    for &c in &opts.concurrency {
        let Measured {
            report: r,
            cpu_us_per_req,
        } = through_gateway(opts, c, 0).await?;
        let step = RampStep {
            cpu_us_per_req,
            concurrency: c,
            tps: r.tps,
            p50_ms: r.p50_ms,
            p99_ms: r.p99_ms,
            not_ok: r.requests.saturating_sub(r.ok),
        };
        eprintln!(
            "ramp: concurrency {:>5}  {:>8.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  cpu {:>6.1} µs/req  not ok {}",
            c, step.tps, step.p50_ms, step.p99_ms, step.cpu_us_per_req, step.not_ok
        );
        let grew = step.tps > best * 1.05;
        let exploded = step.p99_ms > opts.max_p99_ms;
        best = best.max(step.tps);
        report.ramp.push(step);
        if !grew || exploded {
            break;
        }
    }

    let half_rate = ((best / 2.0) as u64).max(1);
    let Measured {
        report: gw,
        cpu_us_per_req: gw_cpu,
    } = through_gateway(opts, opts.latency_workers, half_rate).await?;
    eprintln!(
        "half rate {half_rate}/s through the gateway: {:.0} req/s p50 {:.3} ms p99 {:.3} ms cpu {:.1} µs/req",
        gw.tps, gw.p50_ms, gw.p99_ms, gw_cpu
    );
    let Measured {
        report: di,
        cpu_us_per_req: di_cpu,
    } = direct(opts, opts.latency_workers, half_rate).await?;
    eprintln!(
        "half rate {half_rate}/s direct to the simulator: {:.0} req/s p50 {:.3} ms p99 {:.3} ms cpu {:.1} µs/req",
        di.tps, di.p50_ms, di.p99_ms, di_cpu
    );
    report.saturation_tps = best;
    report.half_rate = half_rate;
    report.gateway_p50_ms = gw.p50_ms;
    report.gateway_p99_ms = gw.p99_ms;
    report.gateway_tps = gw.tps;
    report.direct_p50_ms = di.p50_ms;
    report.direct_p99_ms = di.p99_ms;
    report.direct_tps = di.tps;
    report.added_p50_ms = gw.p50_ms - di.p50_ms;
    report.added_p99_ms = gw.p99_ms - di.p99_ms;
    report.gateway_cpu_us_per_req = gw_cpu - di_cpu;
    Ok(())
}

#[derive(Default)]
struct RssFigures {
    idle_mb: f64,
    peak_mb: f64,
    ok: u64,
    not_ok: u64,
}

/// A `/proc/<pid>/status` field in MB (Linux).
fn proc_status_mb(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// The spec the child gateway loads: the one given, else the embedded Hecto TOML written into
/// `dir` — never a path of the tree the binary was built in, which need not exist where it runs.
fn spec_file(given: Option<&std::path::Path>, dir: &std::path::Path) -> Result<PathBuf, String> {
    if let Some(path) = given {
        return Ok(path.to_path_buf());
    }
    let path = dir.join("hecto.toml");
    std::fs::write(&path, fep_specs::HECTO_TOML).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// A gateway as a child `fep run` process (so its figures are its own and it runs as in
/// production): one institution `hecto` on one duplex link to a simulator, a fresh journal.
/// Killed, and its directory removed, when dropped — however the phase ends.
pub(crate) struct ChildGateway {
    child: std::process::Child,
    dir: PathBuf,
    /// Its configuration file (in `dir`).
    config: PathBuf,
    /// Its native-protocol address.
    pub native: String,
    /// Its HTTP API address (empty when started without one).
    pub http: String,
}

impl Drop for ChildGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A `fep run` child that has printed its readiness line.
struct Spawned {
    child: std::process::Child,
    native: String,
    http: String,
}

/// Spawns `fep run --config <config>` and waits, 20 s at most, for its readiness line
/// (`native=<addr> http=<addr>`); the child is killed when it does not come.
async fn spawn_run(config: &Path) -> Result<Spawned, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = std::process::Command::new(exe)
        .arg("run")
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("spawn fep run: {e}"))?;
    let stdout = child.stdout.take();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if let Some(out) = stdout {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        }
    });
    let ready = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let line = rx.recv_timeout(left).ok()?;
            if line.contains("native=") {
                return Some(line);
            }
        }
        None
    })
    .await
    .ok()
    .flatten();
    let Some(ready) = ready else {
        let _ = child.kill();
        let _ = child.wait();
        return Err("child gateway did not report readiness within 20 s".into());
    };
    let token = |key: &str| {
        ready
            .split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .unwrap_or_default()
            .to_owned()
    };
    Ok(Spawned {
        child,
        native: token("native="),
        http: token("http="),
    })
}

/// How long a `fep run` took to come back after a kill -9 ([`ChildGateway::restart`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Restarted {
    /// From spawning it until its readiness line.
    pub(crate) ready: Duration,
    /// From spawning it until a request was answered ok.
    pub(crate) answering: Duration,
}

impl ChildGateway {
    /// Starts it on `sim` with room for `limit` requests in flight and queued, the HTTP API
    /// on a free port when `http`, the journal as `opts` says (`journal_sync`,
    /// `journal_commit`); returns once it has printed its readiness line.
    pub(crate) async fn start(
        opts: &BenchOptions,
        tag: &str,
        sim: SocketAddr,
        limit: usize,
        request_timeout: &str,
        http: bool,
    ) -> Result<ChildGateway, String> {
        let dir = data_dir(tag);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let spec = spec_file(opts.spec.as_deref(), &dir)?;
        let http_listen = if http {
            "http_listen = \"127.0.0.1:0\"\n"
        } else {
            ""
        };
        let config = format!(
            r#"[server]
native_listen = "127.0.0.1:0"
{http_listen}data_dir = "{data}"
journal_sync = "{sync}"
journal_commit = "{commit}"

[[institution]]
name = "hecto"
spec = "{spec}"
framing = {{ kind = "ascii", digits = 4, includes_self = false }}
max_frame = 4096
request_timeout = "{request_timeout}"

[[institution.links]]
name = "duplex"
role = "outbound"
direction = "both"
connect = "{sim}"

[institution.header]
"header.id_code" = "SETTLEBNK"
"header.company_no" = "FEPDEMO01"
"header.bank_code" = "004"
"header.send_count" = "1"

[institution.unknown]
inquiry_delay = "5m"
inquiry_interval = "1m"
inquiry_max_attempts = 10

[institution.limits]
max_inflight = {limit}
queue_depth = {limit}
rate_tps = 1000000
"#,
            data = dir.join("data").display(),
            sync = opts.journal_sync.as_str(),
            commit = opts.journal_commit.as_str(),
            spec = spec.display(),
        );
        let config_path = dir.join("fep.toml");
        if let Err(e) = std::fs::write(&config_path, config) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(format!("{}: {e}", config_path.display()));
        }
        let spawned = match spawn_run(&config_path).await {
            Ok(spawned) => spawned,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        Ok(ChildGateway {
            child: spawned.child,
            dir,
            config: config_path,
            native: spawned.native,
            http: spawned.http,
        })
    }

    /// Its process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its data directory (journal.db and whatever else the journal keeps).
    pub(crate) fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Kills it with SIGKILL — no shutdown, the journal as a crash leaves it — and reaps it.
    pub(crate) fn kill(&mut self) -> Result<(), String> {
        self.child
            .kill()
            .map_err(|e| format!("kill fep run: {e}"))?;
        self.child
            .wait()
            .map_err(|e| format!("wait fep run: {e}"))?;
        Ok(())
    }

    /// Starts `fep run` again on the same configuration and data directory (killing the
    /// running one first, if any) and waits until it answers a request ok; returns how long
    /// that took from the spawn.
    pub(crate) async fn restart(&mut self) -> Result<Restarted, String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let spawned_at = Instant::now();
        let spawned = spawn_run(&self.config).await?;
        let ready = spawned_at.elapsed();
        // The old child was reaped above: dropping its handle leaves nothing behind.
        self.child = spawned.child;
        self.native = spawned.native;
        self.http = spawned.http;
        self.wait_answering_every(Duration::from_millis(2)).await?;
        Ok(Restarted {
            ready,
            answering: spawned_at.elapsed(),
        })
    }

    /// Waits until it has signed on: a probe request answered ok.
    pub(crate) async fn wait_answering(&self) -> Result<(), String> {
        self.wait_answering_every(Duration::from_millis(100)).await
    }

    /// [`Self::wait_answering`], probing again `pause` after a probe not answered ok.
    async fn wait_answering_every(&self, pause: Duration) -> Result<(), String> {
        let client = fep_client::client::Client::connect(self.native.as_str())
            .await
            .map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let probe = client
                .request(
                    "hecto",
                    bytes::Bytes::from(load::sample_telegram(0, false)),
                    Duration::from_secs(10),
                )
                .await;
            if probe.is_ok_and(|r| r.outcome == fep_client::protocol::Outcome::Ok) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("child gateway did not answer a probe within 15 s".into());
            }
            tokio::time::sleep(pause).await;
        }
    }
}

async fn inflight_rss(opts: &BenchOptions) -> Result<RssFigures, String> {
    let sim = lean_bank(opts.inflight_latency_ms).await?;
    let limit = opts.inflight * 2;
    let child = ChildGateway::start(opts, "rss", sim.addr(), limit, "30s", false).await?;
    let pid = child.pid();
    child.wait_answering().await?;
    let idle_mb = proc_status_mb(pid, "VmRSS:");

    let sampling = Arc::new(AtomicBool::new(true));
    let peak_kib = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (sampling, peak_kib) = (sampling.clone(), peak_kib.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                let kib = (proc_status_mb(pid, "VmRSS:") * 1024.0) as u64;
                peak_kib.fetch_max(kib, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    // Three rounds of the simulator's latency: every worker keeps one request in flight.
    let lo = LoadOptions {
        addr: child.native.clone(),
        institutions: vec!["hecto".into()],
        concurrency: opts.inflight,
        rate: 0,
        seconds: (opts.inflight_latency_ms * 3 / 1000).max(1),
        inquiry_percent: 0,
        timeout_ms: 30_000,
        connections: opts.connections,
        idempotency_keys: false,
    };
    let report = load::run(&lo, |_, _| {}).await;
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;
    // VmHWM is the kernel's own high-water mark; the sampled maximum is a cross-check.
    let peak_mb =
        proc_status_mb(pid, "VmHWM:").max(peak_kib.load(Ordering::Relaxed) as f64 / 1024.0);
    drop(child);
    sim.shutdown().await;
    let report = report?;
    eprintln!(
        "{} in flight ({} ms answers): gateway RSS idle {:.1} MB, peak {:.1} MB; {} ok, {} not ok",
        opts.inflight,
        opts.inflight_latency_ms,
        idle_mb,
        peak_mb,
        report.ok,
        report.requests - report.ok
    );
    Ok(RssFigures {
        idle_mb,
        peak_mb,
        ok: report.ok,
        not_ok: report.requests.saturating_sub(report.ok),
    })
}

/// Prints the results table and a final JSON line.
pub fn print(report: &BenchReport) {
    println!("== fep bench ==");
    if !report.ramp.is_empty() {
        print_saturation(report);
    }
    if report.inflight > 0 {
        println!(
            "memory: {} requests in flight: gateway RSS idle {:.1} MB, peak {:.1} MB ({} ok, {} not ok)",
            report.inflight,
            report.idle_rss_mb,
            report.peak_rss_mb,
            report.inflight_ok,
            report.inflight_not_ok
        );
    }
    if let Some(everyday) = &report.everyday {
        crate::everyday::print(everyday);
    }
    if let Some(journal) = &report.journal {
        crate::journal_bench::print(journal);
    }
    println!("{}", serde_json::to_string(report).unwrap_or_default());
}

fn print_saturation(report: &BenchReport) {
    println!(
        "saturation ramp (zero-latency simulator, one duplex link, in-process load; journal_sync = {}, journal_commit = {}):",
        report.journal_sync, report.journal_commit
    );
    println!("  concurrency      req/s    p50 ms    p99 ms  cpu µs/req  not ok");
    for s in &report.ramp {
        println!(
            "  {:>11} {:>10.0} {:>9.2} {:>9.2} {:>11.1} {:>7}",
            s.concurrency, s.tps, s.p50_ms, s.p99_ms, s.cpu_us_per_req, s.not_ok
        );
    }
    println!("  saturation       {:>10.0} req/s", report.saturation_tps);
    println!("latency at half saturation ({} req/s):", report.half_rate);
    println!("                    req/s    p50 ms    p99 ms");
    println!(
        "  gateway      {:>10.0} {:>9.3} {:>9.3}",
        report.gateway_tps, report.gateway_p50_ms, report.gateway_p99_ms
    );
    println!(
        "  direct       {:>10.0} {:>9.3} {:>9.3}",
        report.direct_tps, report.direct_p50_ms, report.direct_p99_ms
    );
    println!(
        "  added                 {:>9.3} {:>9.3}",
        report.added_p50_ms, report.added_p99_ms
    );
    println!(
        "  gateway CPU per request: {:.1} µs (process CPU per request, gateway run minus direct run)",
        report.gateway_cpu_us_per_req
    );
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Args {
        #[command(flatten)]
        bench: BenchOptions,
    }

    /// The default spec is the embedded one written next to the run's data, not a path of the
    /// build tree (before: `--spec` defaulted to `<build tree>/specs/hecto.toml`).
    #[test]
    fn the_default_spec_is_embedded_not_a_build_tree_path() {
        let args = Args::try_parse_from(["bench"]).expect("defaults parse");
        assert_eq!(args.bench.spec, None);
        let dir = tempfile::tempdir().expect("tempdir");
        let path = spec_file(None, dir.path()).expect("written");
        assert!(path.starts_with(dir.path()), "{}", path.display());
        let family = fep_codec::spec::Family::load(&path).expect("the embedded spec loads");
        assert!(!family.messages().is_empty());
        let given = std::path::Path::new("/elsewhere/x.toml");
        assert_eq!(spec_file(Some(given), dir.path()).unwrap(), given);
    }

    /// A plain `fep bench` runs every part but `journal` (minutes long), with the sqlite
    /// journal; `--only journal` runs it alone; `--journal-commit log` reaches the gateways.
    #[test]
    fn the_journal_part_runs_only_when_named() {
        let plain = Args::try_parse_from(["bench"])
            .expect("defaults parse")
            .bench;
        assert_eq!(plain.journal_commit, JournalCommit::default());
        for part in [Part::Saturation, Part::Memory, Part::Everyday] {
            assert!(plain.runs(part), "{part:?}");
        }
        assert!(!plain.runs(Part::Journal));
        let only = Args::try_parse_from(["bench", "--only", "journal"])
            .expect("parses")
            .bench;
        assert!(only.runs(Part::Journal));
        assert!(!only.runs(Part::Saturation));
        let log = Args::try_parse_from(["bench", "--journal-commit", "sqlite"])
            .expect("parses")
            .bench;
        assert_eq!(log.journal_commit, JournalCommit::Sqlite);
        let full = log.with_journal(JournalSync::Full, JournalCommit::Log);
        assert_eq!(
            (full.journal_sync, full.journal_commit),
            (JournalSync::Full, JournalCommit::Log)
        );
        assert!(Args::try_parse_from(["bench", "--journal-commit", "wal"]).is_err());
    }
}
