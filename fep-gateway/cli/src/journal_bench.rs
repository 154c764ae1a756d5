//! `fep bench --only journal`: the journal's two commit modes side by side,
//! `[server] journal_commit = "sqlite"` against `"log"`, both with `journal_sync = "full"`,
//! in one run. Every measurement is repeated `--journal-rounds` times, the modes taking turns
//! forward in odd rounds and backward in even ones ([`round_order`]: sqlite, log, log, sqlite
//! with two rounds), so that a neighbour's burst of load on the shared machine hits both modes
//! alike and neither always runs right after the other. Measured, all on loopback against the
//! lean zero-latency simulator:
//!
//! 1. **saturation**: closed loop, `--journal-concurrency` requests in flight for
//!    `--step-seconds`, through a fresh in-process gateway per run (as `fep bench`'s ramp);
//! 2. **half saturation**: a paced load (`--journal-workers` workers) at half of the *lower* of
//!    the two saturations (the same rate for both modes), through the gateway and straight to
//!    the simulator; added latency = gateway − direct, percentile by percentile;
//! 3. **everyday load**: the same at each rate of `--rates`, through child `fep run` gateways
//!    (one per mode, started side by side per rate), as `fep bench`'s everyday table;
//! 4. **recovery after kill -9**: a child `fep run` gateway under a `fep load` child at
//!    `--recovery-rate` for `--recovery-seconds`, killed with SIGKILL halfway through; then a
//!    new `fep run` on the same configuration and data directory, timed from its spawn until
//!    it answers a request ok. The data directory's files are listed (with their sizes)
//!    between the kill and the restart.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::bench::{self, lean_bank, BenchOptions, ChildGateway, Measured};
use crate::everyday::{self, PathFigures, Percentiles, Rounds};
use crate::load;
use fep_gateway::journal::{JournalCommit, JournalSync};

/// The modes compared, in the order odd rounds measure them.
const MODES: [JournalCommit; 2] = [JournalCommit::Sqlite, JournalCommit::Log];

/// `forward` in the order round `round` (from 1) runs it: as given in odd rounds, backwards in
/// even ones.
pub fn round_order<T: Copy>(round: usize, forward: &[T]) -> Vec<T> {
    if round % 2 == 1 {
        forward.to_vec()
    } else {
        forward.iter().rev().copied().collect()
    }
}

/// Where a measured load goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    /// Straight to the simulator (the baseline).
    Direct,
    /// Through a gateway whose journal commits this way.
    Gateway(JournalCommit),
}

impl Way {
    fn name(self) -> &'static str {
        match self {
            Way::Direct => "direct",
            Way::Gateway(m) => m.as_str(),
        }
    }
}

/// The ways of the latency measurements, in the order odd rounds run them.
const WAYS: [Way; 3] = [
    Way::Direct,
    Way::Gateway(JournalCommit::Sqlite),
    Way::Gateway(JournalCommit::Log),
];

/// One file of a gateway's data directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DataFile {
    /// Path relative to the data directory (`journal.db`, `journal.db-wal`, …).
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// One kill -9 and restart.
#[derive(Debug, Clone, Serialize)]
pub struct RecoveryRun {
    /// Requests the `fep load` child sent (before and after the kill).
    pub load_requests: u64,
    /// Of them answered ok (before the kill).
    pub load_ok: u64,
    /// Of them with no answer at all (the connection died with the gateway).
    pub load_lost: u64,
    /// The data directory after the kill, before the restart.
    pub files: Vec<DataFile>,
    /// From spawning the new `fep run` until its readiness line (ms).
    pub ready_ms: f64,
    /// From spawning the new `fep run` until a request was answered ok (ms).
    pub answering_ms: f64,
}

/// One rate of the everyday-load measurement, for one mode.
#[derive(Debug, Clone, Serialize)]
pub struct EverydayFigures {
    /// Offered rate, requests per second.
    pub rate: u64,
    /// Through the gateway (native protocol), all rounds merged.
    pub native: PathFigures,
    /// Gateway − direct, percentile by percentile.
    pub added: Percentiles,
}

/// The figures of one commit mode.
#[derive(Debug, Clone, Serialize)]
pub struct ModeReport {
    /// `sqlite` or `log`.
    pub journal_commit: String,
    /// Closed loop, all rounds merged (its `tps` is the saturation).
    pub saturation: PathFigures,
    /// Process CPU (load + gateway + simulator) per request at saturation (µs).
    pub saturation_cpu_us_per_req: f64,
    /// Throughput of each saturation round, in the order run.
    pub saturation_rounds_tps: Vec<f64>,
    /// Paced at [`JournalReport::half_rate`], all rounds merged.
    pub half: PathFigures,
    /// `half` − [`JournalReport::half_direct`], percentile by percentile.
    pub half_added: Percentiles,
    /// One entry per rate of `--rates`.
    pub everyday: Vec<EverydayFigures>,
    /// One entry per round.
    pub recovery: Vec<RecoveryRun>,
}

impl ModeReport {
    fn new(mode: JournalCommit) -> ModeReport {
        ModeReport {
            journal_commit: mode.as_str().to_owned(),
            saturation: PathFigures::default(),
            saturation_cpu_us_per_req: 0.0,
            saturation_rounds_tps: Vec::new(),
            half: PathFigures::default(),
            half_added: Percentiles::default(),
            everyday: Vec::new(),
            recovery: Vec::new(),
        }
    }

    /// Mean over the recovery rounds of `f`.
    fn recovery_mean(&self, f: impl Fn(&RecoveryRun) -> f64) -> f64 {
        mean(self.recovery.iter().map(f))
    }

    /// Mean size over the recovery rounds of the data file `name` (0 where absent), in MiB.
    fn file_mib(&self, name: &str) -> f64 {
        self.recovery_mean(|r| {
            r.files
                .iter()
                .filter(|f| f.name == name)
                .map(|f| f.bytes as f64)
                .sum::<f64>()
        }) / MIB
    }

    /// Mean total size of the data directory over the recovery rounds, in MiB.
    fn dir_mib(&self) -> f64 {
        self.recovery_mean(|r| r.files.iter().map(|f| f.bytes as f64).sum::<f64>()) / MIB
    }
}

const MIB: f64 = 1024.0 * 1024.0;

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

/// The `journal` part's results.
#[derive(Debug, Clone, Serialize)]
pub struct JournalReport {
    /// `journal_sync` of every gateway of the part (`full`).
    pub journal_sync: String,
    /// Rounds of every measurement.
    pub rounds: usize,
    /// The modes in the order each measurement ran them (e.g. sqlite, log, log, sqlite).
    pub order: Vec<String>,
    /// Seconds of a saturation or half-saturation run.
    pub step_seconds: u64,
    /// Requests in flight of the saturation runs.
    pub concurrency: usize,
    /// Paced workers of the half-saturation runs.
    pub latency_workers: usize,
    /// Rate of the half-saturation runs: half the lower saturation (req/s).
    pub half_rate: u64,
    /// Straight to the simulator at `half_rate`, all rounds merged.
    pub half_direct: PathFigures,
    /// Seconds of an everyday-load run.
    pub everyday_seconds: u64,
    /// Paced workers of the everyday-load runs.
    pub everyday_workers: usize,
    /// Straight to the simulator at each rate of the everyday load.
    pub everyday_direct: Vec<PathFigures>,
    /// Rate of the load the recovery runs kill the gateway under (req/s).
    pub recovery_rate: u64,
    /// Seconds of that load (the kill comes halfway).
    pub recovery_seconds: u64,
    /// `journal_commit = "sqlite"`.
    pub sqlite: ModeReport,
    /// `journal_commit = "log"`.
    pub log: ModeReport,
}

impl JournalReport {
    fn mode_mut(&mut self, mode: JournalCommit) -> &mut ModeReport {
        match mode {
            JournalCommit::Sqlite => &mut self.sqlite,
            JournalCommit::Log => &mut self.log,
        }
    }
}

/// Round-merged figures of one mode, with the process CPU the rounds took.
struct Saturation {
    rounds: Rounds,
    cpu_us: f64,
    requests: u64,
    tps: Vec<f64>,
}

impl Saturation {
    fn new() -> Result<Saturation, String> {
        Ok(Saturation {
            rounds: Rounds::new()?,
            cpu_us: 0.0,
            requests: 0,
            tps: Vec::new(),
        })
    }

    fn add(&mut self, m: &Measured) {
        self.rounds.add(&m.report);
        self.cpu_us += m.cpu_us_per_req * m.report.requests as f64;
        self.requests += m.report.requests;
        self.tps.push(m.report.tps);
    }
}

fn show(what: &str, round: usize, way: Way, r: &load::LoadReport) {
    crate::everyday::progress(
        format_args!("journal {what} round {round} {:<6}", way.name()),
        r,
    );
}

/// Runs the comparison, printing progress to stderr.
pub async fn run(opts: &BenchOptions) -> Result<JournalReport, String> {
    let rounds = opts.journal_rounds.max(1);
    let mode_opts = |m: JournalCommit| opts.with_journal(JournalSync::Full, m);
    let mut report = JournalReport {
        journal_sync: JournalSync::Full.as_str().to_owned(),
        rounds,
        order: (1..=rounds)
            .flat_map(|r| round_order(r, &MODES))
            .map(|m| m.as_str().to_owned())
            .collect(),
        step_seconds: opts.step_seconds,
        concurrency: opts.journal_concurrency,
        latency_workers: opts.journal_workers.max(1),
        half_rate: 0,
        half_direct: PathFigures::default(),
        everyday_seconds: opts.everyday_seconds.max(1),
        everyday_workers: opts.everyday_workers.max(1),
        everyday_direct: Vec::new(),
        recovery_rate: opts.recovery_rate,
        recovery_seconds: opts.recovery_seconds.max(1),
        sqlite: ModeReport::new(JournalCommit::Sqlite),
        log: ModeReport::new(JournalCommit::Log),
    };

    // 1. Saturation, closed loop.
    let mut saturation = [Saturation::new()?, Saturation::new()?];
    for round in 1..=rounds {
        for mode in round_order(round, &MODES) {
            let m = bench::through_gateway(&mode_opts(mode), opts.journal_concurrency, 0).await?;
            show("saturation", round, Way::Gateway(mode), &m.report);
            saturation[mode_index(mode)].add(&m);
        }
    }
    for (mode, s) in MODES.into_iter().zip(&saturation) {
        let r = report.mode_mut(mode);
        r.saturation = s.rounds.figures();
        r.saturation_cpu_us_per_req = s.cpu_us / s.requests.max(1) as f64;
        r.saturation_rounds_tps = s.tps.clone();
    }
    let lower = report.sqlite.saturation.tps.min(report.log.saturation.tps);
    report.half_rate = ((lower / 2.0) as u64).max(1);

    // 2. Half of the lower saturation, the same rate both ways and direct.
    let mut half = [Rounds::new()?, Rounds::new()?];
    let mut direct = Rounds::new()?;
    for round in 1..=rounds {
        for way in round_order(round, &WAYS) {
            let m = match way {
                Way::Direct => {
                    bench::direct(opts, report.latency_workers, report.half_rate).await?
                }
                Way::Gateway(mode) => {
                    bench::through_gateway(
                        &mode_opts(mode),
                        report.latency_workers,
                        report.half_rate,
                    )
                    .await?
                }
            };
            show(
                &format!("half {}/s", report.half_rate),
                round,
                way,
                &m.report,
            );
            match way {
                Way::Direct => direct.add(&m.report),
                Way::Gateway(mode) => half[mode_index(mode)].add(&m.report),
            }
        }
    }
    report.half_direct = direct.figures();
    for (mode, h) in MODES.into_iter().zip(&half) {
        let base = report.half_direct.latency;
        let r = report.mode_mut(mode);
        r.half = h.figures();
        r.half_added = r.half.latency.minus(&base);
    }

    // 3. Everyday load at each rate.
    for &rate in &opts.rates {
        let (direct, per_mode) = everyday_rate(opts, rate, rounds).await?;
        for (mode, native) in MODES.into_iter().zip(per_mode) {
            report.mode_mut(mode).everyday.push(EverydayFigures {
                rate,
                added: native.latency.minus(&direct.latency),
                native,
            });
        }
        report.everyday_direct.push(direct);
    }

    // 4. Recovery after kill -9.
    for round in 1..=rounds {
        for mode in round_order(round, &MODES) {
            let run = recovery(&mode_opts(mode), round).await?;
            eprintln!(
                "journal recovery round {round} {:<6} answering after {:.0} ms (ready line {:.0} ms); load {} sent, {} ok, {} lost; data dir {}",
                mode.as_str(),
                run.answering_ms,
                run.ready_ms,
                run.load_requests,
                run.load_ok,
                run.load_lost,
                run.files
                    .iter()
                    .map(|f| format!("{} {} B", f.name, f.bytes))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            report.mode_mut(mode).recovery.push(run);
        }
    }
    Ok(report)
}

fn mode_index(mode: JournalCommit) -> usize {
    match mode {
        JournalCommit::Sqlite => 0,
        JournalCommit::Log => 1,
    }
}

/// The everyday load at `rate`: a child gateway per mode, side by side, each warmed up for a
/// second; then `rounds` rounds of direct, sqlite, log (backwards in even rounds).
async fn everyday_rate(
    opts: &BenchOptions,
    rate: u64,
    rounds: usize,
) -> Result<(PathFigures, [PathFigures; 2]), String> {
    let workers = opts.everyday_workers.max(1);
    let mut gateways = Vec::with_capacity(MODES.len());
    for mode in MODES {
        gateways.push(everyday::gateway(&opts.with_journal(JournalSync::Full, mode), rate).await?);
    }
    let native_lo: Vec<_> = gateways
        .iter()
        .map(|(_, gw)| everyday::load_options(opts, gw.native.clone(), rate, workers))
        .collect();
    // Warm-up (connections, the journal's first pages): not counted.
    for lo in &native_lo {
        let mut warm = lo.clone();
        warm.seconds = 1;
        load::run(&warm, |_, _| {}).await?;
    }
    let (mut direct, mut native) = (Rounds::new()?, [Rounds::new()?, Rounds::new()?]);
    for round in 1..=rounds {
        for way in round_order(round, &WAYS) {
            let r = match way {
                Way::Direct => {
                    // A fresh simulator each round: the load numbers its telegrams from 1.
                    let bank = lean_bank(0).await?;
                    let mut lo =
                        everyday::load_options(opts, bank.addr().to_string(), rate, workers);
                    lo.connections = 1;
                    let r = load::run_direct(&lo).await;
                    bank.shutdown().await;
                    r?
                }
                Way::Gateway(mode) => load::run(&native_lo[mode_index(mode)], |_, _| {}).await?,
            };
            show(&format!("everyday {rate}/s"), round, way, &r);
            match way {
                Way::Direct => direct.add(&r),
                Way::Gateway(mode) => native[mode_index(mode)].add(&r),
            }
        }
    }
    for (bank, gw) in gateways {
        drop(gw);
        bank.shutdown().await;
    }
    Ok((direct.figures(), [native[0].figures(), native[1].figures()]))
}

/// One kill -9 and restart of a child gateway whose journal is as `opts` says.
async fn recovery(opts: &BenchOptions, round: usize) -> Result<RecoveryRun, String> {
    let sim = lean_bank(0).await?;
    let run = recovery_on(opts, round, sim.addr()).await;
    sim.shutdown().await;
    run
}

async fn recovery_on(
    opts: &BenchOptions,
    round: usize,
    sim: std::net::SocketAddr,
) -> Result<RecoveryRun, String> {
    let tag = format!("recovery-{}-{round}", opts.journal_commit.as_str());
    let mut gw = ChildGateway::start(opts, &tag, sim, 20_000, "5s", false).await?;
    gw.wait_answering().await?;
    let seconds = opts.recovery_seconds.max(1);
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // The load in a process of its own, so that its lost requests (each a warning) stay out
    // of this one's output.
    let load = tokio::process::Command::new(exe)
        .arg("load")
        .args(["--addr", &gw.native])
        .args(["--institutions", "hecto"])
        .args(["--rate", &opts.recovery_rate.to_string()])
        .args(["--seconds", &seconds.to_string()])
        .args(["--concurrency", &opts.everyday_workers.max(1).to_string()])
        .args(["--connections", &opts.connections.max(1).to_string()])
        .args(["--inquiry-percent", "0", "--timeout-ms", "2000", "--json"])
        .env("RUST_LOG", "off")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("spawn fep load: {e}"))?;
    // Not a synchronisation: the kill is meant to land mid-load, whatever the load is doing.
    tokio::time::sleep(Duration::from_millis(seconds * 500)).await;
    gw.kill()?;
    let out = tokio::time::timeout(Duration::from_secs(seconds + 20), load.wait_with_output())
        .await
        .map_err(|_| format!("fep load did not stop within {} s", seconds + 20))?
        .map_err(|e| format!("fep load: {e}"))?;
    let (load_requests, load_ok, load_lost) = load_counts(&out.stdout).unwrap_or_else(|| {
        eprintln!(
            "journal recovery: fep load printed no report (exit {})",
            out.status
        );
        (0, 0, 0)
    });
    let files = data_files(&gw.data_dir())?;
    let restarted = gw.restart().await?;
    drop(gw);
    Ok(RecoveryRun {
        load_requests,
        load_ok,
        load_lost,
        files,
        ready_ms: restarted.ready.as_secs_f64() * 1e3,
        answering_ms: restarted.answering.as_secs_f64() * 1e3,
    })
}

/// Requests, ok and lost of `fep load --json`'s report (its last JSON line).
fn load_counts(stdout: &[u8]) -> Option<(u64, u64, u64)> {
    let text = std::str::from_utf8(stdout).ok()?;
    let report: serde_json::Value = text
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l.trim()).ok())?;
    let count = |key: &str| report.get(key).and_then(serde_json::Value::as_u64);
    Some((count("requests")?, count("ok")?, count("lost")?))
}

/// The files under `dir` (recursively), by name relative to it, sorted.
fn data_files(dir: &Path) -> Result<Vec<DataFile>, String> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: {e}", d.display()))?;
            let meta = entry
                .metadata()
                .map_err(|e| format!("{}: {e}", entry.path().display()))?;
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                let path = entry.path();
                let name = path.strip_prefix(dir).unwrap_or(&path);
                files.push(DataFile {
                    name: name.to_string_lossy().into_owned(),
                    bytes: meta.len(),
                });
            }
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// How the last column of the table sets log against sqlite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compare {
    /// log ÷ sqlite (throughput, CPU, times, sizes).
    Ratio,
    /// log − sqlite (latencies, in ms).
    Difference,
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    metric: String,
    sqlite: f64,
    log: f64,
    compare: Compare,
    decimals: usize,
}

impl Row {
    fn new(metric: impl Into<String>, sqlite: f64, log: f64, compare: Compare) -> Row {
        let decimals = match compare {
            Compare::Ratio => 0,
            Compare::Difference => 3,
        };
        Row {
            metric: metric.into(),
            sqlite,
            log,
            compare,
            decimals,
        }
    }

    fn decimals(mut self, decimals: usize) -> Row {
        self.decimals = decimals;
        self
    }
}

/// The last column: `×1.23` (ratio; `—` when sqlite's figure is 0) or `+0.123` (difference).
fn compare_cell(compare: Compare, sqlite: f64, log: f64) -> String {
    match compare {
        Compare::Ratio if sqlite != 0.0 && (log / sqlite).is_finite() => {
            format!("×{:.2}", log / sqlite)
        }
        Compare::Ratio => "—".to_owned(),
        Compare::Difference => format!("{:+.3}", log - sqlite),
    }
}

fn format_row(row: &Row) -> String {
    format!(
        "  {:<54} {:>10.*} {:>10.*} {:>12}",
        row.metric,
        row.decimals,
        row.sqlite,
        row.decimals,
        row.log,
        compare_cell(row.compare, row.sqlite, row.log)
    )
}

/// The table's rows.
fn rows(r: &JournalReport) -> Vec<Row> {
    use Compare::{Difference, Ratio};
    let (s, l) = (&r.sqlite, &r.log);
    let mut rows = vec![
        Row::new(
            format!("saturation, closed loop c{} (req/s)", r.concurrency),
            s.saturation.tps,
            l.saturation.tps,
            Ratio,
        ),
        Row::new(
            "saturation: process CPU per request (µs)",
            s.saturation_cpu_us_per_req,
            l.saturation_cpu_us_per_req,
            Ratio,
        )
        .decimals(1),
        Row::new(
            "saturation: p99 (ms)",
            s.saturation.latency.p99_ms,
            l.saturation.latency.p99_ms,
            Difference,
        ),
        Row::new(
            format!("half saturation {} req/s: gateway p50 (ms)", r.half_rate),
            s.half.latency.p50_ms,
            l.half.latency.p50_ms,
            Difference,
        ),
        Row::new(
            "half saturation: added p50 (ms)",
            s.half_added.p50_ms,
            l.half_added.p50_ms,
            Difference,
        ),
        Row::new(
            "half saturation: added p99 (ms)",
            s.half_added.p99_ms,
            l.half_added.p99_ms,
            Difference,
        ),
        Row::new(
            "half saturation: requests sent late (of each)",
            s.half.late as f64,
            l.half.late as f64,
            Ratio,
        ),
    ];
    for (se, le) in s.everyday.iter().zip(&l.everyday) {
        let rate = se.rate;
        for (what, sv, lv) in [
            ("p50", se.added.p50_ms, le.added.p50_ms),
            ("p99", se.added.p99_ms, le.added.p99_ms),
            ("p99.9", se.added.p999_ms, le.added.p999_ms),
        ] {
            rows.push(Row::new(
                format!("everyday {rate} req/s: added {what} (ms)"),
                sv,
                lv,
                Difference,
            ));
        }
    }
    rows.push(Row::new(
        "recovery after kill -9: spawn → answering (ms)",
        s.recovery_mean(|x| x.answering_ms),
        l.recovery_mean(|x| x.answering_ms),
        Ratio,
    ));
    rows.push(Row::new(
        "recovery: spawn → readiness line (ms)",
        s.recovery_mean(|x| x.ready_ms),
        l.recovery_mean(|x| x.ready_ms),
        Ratio,
    ));
    rows.push(Row::new(
        "recovery: load requests answered ok before the kill",
        s.recovery_mean(|x| x.load_ok as f64),
        l.recovery_mean(|x| x.load_ok as f64),
        Ratio,
    ));
    let mut names: Vec<&str> = s
        .recovery
        .iter()
        .chain(&l.recovery)
        .flat_map(|x| x.files.iter().map(|f| f.name.as_str()))
        .collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        rows.push(
            Row::new(
                format!("data dir at the kill: {name} (MiB)"),
                s.file_mib(name),
                l.file_mib(name),
                Ratio,
            )
            .decimals(2),
        );
    }
    rows.push(
        Row::new(
            "data dir at the kill: total (MiB)",
            s.dir_mib(),
            l.dir_mib(),
            Ratio,
        )
        .decimals(2),
    );
    rows
}

/// Prints the table: method, then metric | sqlite | log | log ÷ sqlite or log − sqlite.
pub fn print(r: &JournalReport) {
    println!(
        "journal commit modes side by side (journal_sync = {}; {} rounds, modes in turn {}; lean zero-latency simulator on loopback; machine: 2 shared cores — load, simulator and gateway share them with other tenants, so compare within one run only):",
        r.journal_sync,
        r.rounds,
        r.order.join(" → ")
    );
    println!(
        "  saturation: closed loop, {} in flight, {} s per run, fresh in-process gateway; half saturation: {} req/s paced (half the lower saturation), {} workers, {} s per run, vs direct (p50 {:.3} ms, p99 {:.3} ms)",
        r.concurrency,
        r.step_seconds,
        r.half_rate,
        r.latency_workers,
        r.step_seconds,
        r.half_direct.latency.p50_ms,
        r.half_direct.latency.p99_ms
    );
    println!(
        "  everyday: child `fep run` per mode, {} paced workers, {} s per run, vs direct; recovery: child `fep run` under `fep load` at {} req/s for {} s, SIGKILLed at {} ms, restarted on the same data dir; means over the rounds",
        r.everyday_workers,
        r.everyday_seconds,
        r.recovery_rate,
        r.recovery_seconds,
        r.recovery_seconds * 500
    );
    let rounds_tps = |m: &ModeReport| {
        m.saturation_rounds_tps
            .iter()
            .map(|t| format!("{t:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "  saturation per round (req/s, in the order run): sqlite {}; log {}. Last column: ×ratio = log ÷ sqlite, ±difference = log − sqlite (ms)",
        rounds_tps(&r.sqlite),
        rounds_tps(&r.log)
    );
    println!(
        "  {:<54} {:>10} {:>10} {:>12}",
        "metric", "sqlite", "log", "log vs sqlite"
    );
    for row in rows(r) {
        println!("{}", format_row(&row));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two rounds measure the modes sqlite, log, log, sqlite: each follows the other once.
    #[test]
    fn rounds_alternate_the_modes() {
        let order: Vec<_> = (1..=2).flat_map(|r| round_order(r, &MODES)).collect();
        assert_eq!(
            order,
            [
                JournalCommit::Sqlite,
                JournalCommit::Log,
                JournalCommit::Log,
                JournalCommit::Sqlite
            ]
        );
        assert_eq!(
            round_order(2, &WAYS),
            [
                Way::Gateway(JournalCommit::Log),
                Way::Gateway(JournalCommit::Sqlite),
                Way::Direct
            ]
        );
        assert_eq!(round_order(3, &WAYS), WAYS);
    }

    #[test]
    fn the_last_column_is_a_ratio_or_a_signed_difference() {
        assert_eq!(compare_cell(Compare::Ratio, 20_000.0, 25_000.0), "×1.25");
        assert_eq!(compare_cell(Compare::Ratio, 0.0, 3.0), "—");
        assert_eq!(compare_cell(Compare::Difference, 1.5, 1.25), "-0.250");
        assert_eq!(compare_cell(Compare::Difference, 1.0, 1.5), "+0.500");
        let row = Row::new("saturation (req/s)", 20_000.4, 25_000.0, Compare::Ratio);
        let line = format_row(&row);
        assert!(line.contains("     20000      25000"), "{line}");
        assert!(line.ends_with("×1.25"), "{line}");
    }

    fn run_with(files: &[(&str, u64)], answering_ms: f64) -> RecoveryRun {
        RecoveryRun {
            load_requests: 0,
            load_ok: 0,
            load_lost: 0,
            files: files
                .iter()
                .map(|&(name, bytes)| DataFile {
                    name: name.to_owned(),
                    bytes,
                })
                .collect(),
            ready_ms: 0.0,
            answering_ms,
        }
    }

    /// Recovery figures are means over the rounds; every file either mode left gets a row
    /// (0 for the mode without it), then the total.
    #[test]
    fn rows_average_recovery_and_list_every_file() {
        let mut report = JournalReport {
            journal_sync: "full".into(),
            rounds: 2,
            order: Vec::new(),
            step_seconds: 1,
            concurrency: 256,
            latency_workers: 256,
            half_rate: 100,
            half_direct: PathFigures::default(),
            everyday_seconds: 1,
            everyday_workers: 1,
            everyday_direct: Vec::new(),
            recovery_rate: 2000,
            recovery_seconds: 3,
            sqlite: ModeReport::new(JournalCommit::Sqlite),
            log: ModeReport::new(JournalCommit::Log),
        };
        report.sqlite.recovery = vec![
            run_with(&[("journal.db", 1 << 20)], 100.0),
            run_with(&[("journal.db", 3 << 20)], 300.0),
        ];
        report.log.recovery = vec![run_with(&[("journal.db", 1 << 20), ("log", 4 << 20)], 50.0)];
        let rows = rows(&report);
        let find = |prefix: &str| {
            rows.iter()
                .find(|r| r.metric.starts_with(prefix))
                .unwrap_or_else(|| panic!("no row {prefix}: {rows:?}"))
        };
        let rec = find("recovery after kill -9");
        assert_eq!((rec.sqlite, rec.log), (200.0, 50.0));
        let db = find("data dir at the kill: journal.db ");
        assert_eq!((db.sqlite, db.log), (2.0, 1.0));
        let log = find("data dir at the kill: log ");
        assert_eq!((log.sqlite, log.log), (0.0, 4.0));
        let total = find("data dir at the kill: total");
        assert_eq!((total.sqlite, total.log), (2.0, 5.0));
    }

    #[test]
    fn data_files_lists_every_file_with_its_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("journal.db"), [0u8; 10]).expect("write");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("sub").join("x"), [0u8; 3]).expect("write");
        let files = data_files(dir.path()).expect("listed");
        let sub = Path::new("sub").join("x").to_string_lossy().into_owned();
        assert_eq!(
            files,
            [
                DataFile {
                    name: "journal.db".into(),
                    bytes: 10
                },
                DataFile {
                    name: sub,
                    bytes: 3
                }
            ]
        );
    }

    #[test]
    fn load_counts_reads_the_json_report() {
        let out = b"{\"requests\":10,\"ok\":7,\"lost\":3,\"tps\":1.0}\n";
        assert_eq!(load_counts(out), Some((10, 7, 3)));
        assert_eq!(load_counts(b"error: connect refused\n"), None);
    }
}
