//! `fep bench`'s everyday-load table (issue 15): the latency a caller feels at the fixed rates
//! of `--rates`, far below saturation. At each rate the same paced load goes three ways, in
//! turn within each round (forward, then backward: see `order`), so a neighbour's burst of
//! load hits all three alike and no path always follows the same other:
//!
//! - `direct`: straight to the simulator ([`crate::load::run_direct`]), the baseline;
//! - `native`: through a gateway over the native protocol ([`crate::load::run`]);
//! - `http`: through the same gateway's HTTP API ([`crate::load::run_http`]).
//!
//! The gateway is a child `fep run` process with the bench's `journal_sync` and
//! `journal_commit` (a fresh journal per rate), as in production; the simulator (lean, zero latency) and the load run in this
//! process. Reported per path: p50/p99/p99.9 of the merged rounds, and what the gateway adds
//! (gateway − direct, percentile by percentile). Then the closed-loop throughput of native
//! and HTTP side by side, and the disk's floor: one synced write where the journals live
//! ([`crate::disk_floor`]), of which a durable request waits for two.

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::bench::{lean_bank, BenchOptions, ChildGateway};
use crate::load::{self, LoadOptions, LoadReport};
use fep_gateway::journal::JournalSync;
use fep_testkit::sim::SimHandle;

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
}

impl Percentiles {
    /// The percentiles of a histogram of microseconds.
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        Percentiles {
            p50_ms: ms(0.5),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
        }
    }

    /// What `self` adds to `base`, percentile by percentile (e.g. gateway − direct). Not the
    /// distribution of per-request differences, which one cannot measure: a request goes
    /// one way only.
    pub fn minus(&self, base: &Percentiles) -> Percentiles {
        Percentiles {
            p50_ms: self.p50_ms - base.p50_ms,
            p99_ms: self.p99_ms - base.p99_ms,
            p999_ms: self.p999_ms - base.p999_ms,
        }
    }
}

/// One path at one rate, all rounds merged.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PathFigures {
    /// Requests sent.
    pub requests: u64,
    /// Requests without an ok answer (0 with a lean, no-decline simulator).
    pub not_ok: u64,
    /// Requests with no answer at all.
    pub lost: u64,
    /// Paced requests sent late (see [`LoadReport::late`]).
    pub late: u64,
    /// Achieved rate (requests over the rounds' wall time).
    pub tps: f64,
    /// Latency.
    pub latency: Percentiles,
}

/// Merges the rounds of one path (also the `journal` part's, one per commit mode).
pub(crate) struct Rounds {
    hist: Histogram<u64>,
    requests: u64,
    ok: u64,
    lost: u64,
    late: u64,
    elapsed_s: f64,
}

impl Rounds {
    /// No rounds yet.
    pub(crate) fn new() -> Result<Rounds, String> {
        Ok(Rounds {
            hist: Histogram::new_with_bounds(1, 120_000_000, 3).map_err(|e| e.to_string())?,
            requests: 0,
            ok: 0,
            lost: 0,
            late: 0,
            elapsed_s: 0.0,
        })
    }

    /// Adds one round's report.
    pub(crate) fn add(&mut self, r: &LoadReport) {
        if let Some(h) = &r.latency {
            let _ = self.hist.add(h);
        }
        self.requests += r.requests;
        self.ok += r.ok;
        self.lost += r.lost;
        self.late += r.late;
        self.elapsed_s += r.elapsed_s;
    }

    /// The figures of all rounds so far.
    pub(crate) fn figures(&self) -> PathFigures {
        PathFigures {
            requests: self.requests,
            not_ok: self.requests.saturating_sub(self.ok),
            lost: self.lost,
            late: self.late,
            tps: self.requests as f64 / self.elapsed_s.max(1e-9),
            latency: Percentiles::of(&self.hist),
        }
    }
}

/// The three paths at one rate.
#[derive(Debug, Clone, Serialize)]
pub struct RateRow {
    /// Offered rate, requests per second.
    pub rate: u64,
    /// Straight to the simulator.
    pub direct: PathFigures,
    /// Through the gateway, native protocol.
    pub native: PathFigures,
    /// Through the gateway, HTTP API.
    pub http: PathFigures,
    /// native − direct.
    pub added_native: Percentiles,
    /// http − direct.
    pub added_http: Percentiles,
    /// http − native.
    pub http_over_native: Percentiles,
}

impl RateRow {
    fn new(rate: u64, direct: PathFigures, native: PathFigures, http: PathFigures) -> RateRow {
        RateRow {
            rate,
            added_native: native.latency.minus(&direct.latency),
            added_http: http.latency.minus(&direct.latency),
            http_over_native: http.latency.minus(&native.latency),
            direct,
            native,
            http,
        }
    }
}

/// Closed-loop throughput of the two protocols, side by side on one gateway.
#[derive(Debug, Clone, Serialize)]
pub struct ProtocolSaturation {
    /// Requests kept in flight.
    pub concurrency: usize,
    /// Native protocol.
    pub native: PathFigures,
    /// HTTP API.
    pub http: PathFigures,
}

/// The everyday-load table.
#[derive(Debug, Clone, Serialize)]
pub struct EverydayReport {
    /// The gateway's `journal_sync`.
    pub journal_sync: String,
    /// The gateway's `journal_commit`.
    pub journal_commit: String,
    /// Seconds per path per round.
    pub seconds: u64,
    /// Rounds per rate.
    pub rounds: usize,
    /// Paced workers.
    pub workers: usize,
    /// One row per rate.
    pub rows: Vec<RateRow>,
    /// Native vs HTTP closed loop (`None` with `--http-concurrency 0`).
    pub saturation: Option<ProtocolSaturation>,
    /// One 4 KiB write + `fdatasync` on the file system of the journals, measured before the
    /// rates: with `journal_sync = "full"` a request waits for two.
    pub disk_floor: Percentiles,
}

/// Synced writes the disk floor is measured from (a quarter of a second on a disk that syncs
/// in 0.1 ms).
const FLOOR_SAMPLES: usize = 2000;

/// The paced (or, at `rate` 0, closed-loop) load of one everyday measurement.
pub(crate) fn load_options(
    opts: &BenchOptions,
    addr: String,
    rate: u64,
    concurrency: usize,
) -> LoadOptions {
    LoadOptions {
        addr,
        institutions: vec!["hecto".into()],
        concurrency,
        rate,
        seconds: opts.everyday_seconds.max(1),
        inquiry_percent: 0,
        timeout_ms: 5000,
        connections: opts.connections,
        idempotency_keys: false,
    }
}

/// One way a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Direct,
    Native,
    Http,
}

impl Path {
    fn name(self) -> &'static str {
        match self {
            Path::Direct => "direct",
            Path::Native => "native",
            Path::Http => "http",
        }
    }
}

/// The paths in the order round `round` (from 1) runs them: forward in odd rounds, backward
/// in even ones, so that no path always runs right after the same other (whose journal rows
/// the gateway is still checkpointing, whose connections are still closing).
fn order(round: usize) -> [Path; 3] {
    if round % 2 == 1 {
        [Path::Direct, Path::Native, Path::Http]
    } else {
        [Path::Http, Path::Native, Path::Direct]
    }
}

fn show(rate: u64, round: usize, path: Path, r: &LoadReport) {
    progress(
        format_args!("everyday {rate}/s round {round} {:<7}", path.name()),
        r,
    );
}

/// One progress line on stderr: `label`, then the run's rate, latencies and failures.
pub(crate) fn progress(label: std::fmt::Arguments<'_>, r: &LoadReport) {
    eprintln!(
        "{label} {:>7.0} req/s  p50 {:.3}  p99 {:.3}  p99.9 {:.3} ms  not ok {}  lost {}  late {}",
        r.tps,
        r.p50_ms,
        r.p99_ms,
        r.p999_ms,
        r.requests.saturating_sub(r.ok),
        r.lost,
        r.late
    );
}

/// Runs the table: per rate a fresh child gateway, a short warm-up, then
/// `--everyday-rounds` rounds of direct, native and HTTP; then the closed-loop comparison.
pub async fn run(opts: &BenchOptions) -> Result<EverydayReport, String> {
    let workers = opts.everyday_workers.max(1);
    let disk_floor = tokio::task::spawn_blocking(|| {
        crate::disk_floor::measure(&crate::bench::journals_dir(), FLOOR_SAMPLES)
    })
    .await
    .map_err(|e| format!("disk floor: {e}"))??;
    let mut rows = Vec::new();
    let mut last = None;
    for &rate in &opts.rates {
        // A fresh simulator and gateway per rate (the previous ones go first): an empty
        // journal, and a simulator with no session left over.
        drop(last.take());
        let (bank, gw) = gateway(opts, rate).await?;
        let http = format!("http://{}", gw.http);
        let mut native_lo = load_options(opts, gw.native.clone(), rate, workers);
        // Warm-up (connections, the journal's first pages): not counted.
        native_lo.seconds = 1;
        load::run(&native_lo, |_, _| {}).await?;
        load::run_http(&native_lo, &http, |_, _| {}).await?;
        native_lo.seconds = opts.everyday_seconds.max(1);
        let (mut direct, mut native, mut over_http) =
            (Rounds::new()?, Rounds::new()?, Rounds::new()?);
        for round in 1..=opts.everyday_rounds.max(1) {
            for path in order(round) {
                let r = match path {
                    Path::Direct => {
                        // The baseline has a simulator of its own, fresh each round: the load
                        // numbers its telegrams from 1, which the gateway's or an earlier
                        // round's would repeat.
                        let direct_bank = lean_bank(0).await?;
                        // One connection, like the gateway's one duplex link.
                        let mut lo =
                            load_options(opts, direct_bank.addr().to_string(), rate, workers);
                        lo.connections = 1;
                        let r = load::run_direct(&lo).await;
                        direct_bank.shutdown().await;
                        r?
                    }
                    Path::Native => load::run(&native_lo, |_, _| {}).await?,
                    Path::Http => load::run_http(&native_lo, &http, |_, _| {}).await?,
                };
                show(rate, round, path, &r);
                match path {
                    Path::Direct => direct.add(&r),
                    Path::Native => native.add(&r),
                    Path::Http => over_http.add(&r),
                }
            }
        }
        rows.push(RateRow::new(
            rate,
            direct.figures(),
            native.figures(),
            over_http.figures(),
        ));
        last = Some((gw, bank));
    }
    let saturation = match (&last, opts.http_concurrency) {
        (Some((gw, _)), c) if c > 0 => Some(protocol_saturation(opts, gw, c).await?),
        _ => None,
    };
    if let Some((gw, bank)) = last {
        drop(gw);
        bank.shutdown().await;
    }
    Ok(EverydayReport {
        journal_sync: opts.journal_sync.as_str().to_owned(),
        journal_commit: opts.journal_commit.as_str().to_owned(),
        seconds: opts.everyday_seconds.max(1),
        rounds: opts.everyday_rounds.max(1),
        workers,
        rows,
        saturation,
        disk_floor,
    })
}

/// A lean simulator and a child gateway signed on to it (journal as `opts` says; its data
/// directory named after the rate and the commit mode, so the `journal` part can keep one
/// gateway per mode side by side).
pub(crate) async fn gateway(
    opts: &BenchOptions,
    rate: u64,
) -> Result<(SimHandle, ChildGateway), String> {
    let bank = lean_bank(0).await?;
    let tag = format!("everyday-{rate}-{}", opts.journal_commit.as_str());
    let gw = ChildGateway::start(opts, &tag, bank.addr(), 100_000, "5s", true).await?;
    gw.wait_answering().await?;
    Ok((bank, gw))
}

/// Native and HTTP closed loop (no pacing) at `concurrency`, in turn (order as [`order`]).
async fn protocol_saturation(
    opts: &BenchOptions,
    gw: &ChildGateway,
    concurrency: usize,
) -> Result<ProtocolSaturation, String> {
    let http = format!("http://{}", gw.http);
    let lo = load_options(opts, gw.native.clone(), 0, concurrency);
    let (mut native, mut over_http) = (Rounds::new()?, Rounds::new()?);
    for round in 1..=opts.everyday_rounds.max(1) {
        for path in order(round) {
            let r = match path {
                Path::Direct => continue,
                Path::Native => load::run(&lo, |_, _| {}).await?,
                Path::Http => load::run_http(&lo, &http, |_, _| {}).await?,
            };
            show(0, round, path, &r);
            match path {
                Path::Http => over_http.add(&r),
                _ => native.add(&r),
            }
        }
    }
    Ok(ProtocolSaturation {
        concurrency,
        native: native.figures(),
        http: over_http.figures(),
    })
}

fn line(rate: u64, what: &str, tps: Option<f64>, p: &Percentiles, f: Option<&PathFigures>) {
    let tps = tps.map_or(String::new(), |t| format!("{t:.0}"));
    let counts = f.map_or(String::new(), |f| {
        format!("{:>7} {:>5} {:>5}", f.not_ok, f.lost, f.late)
    });
    let line = format!(
        "  {rate:>6}  {what:<26} {tps:>8} {:>8.3} {:>8.3} {:>9.3} {counts}",
        p.p50_ms, p.p99_ms, p.p999_ms
    );
    println!("{}", line.trim_end());
}

/// Prints the table.
pub fn print(r: &EverydayReport) {
    println!(
        "everyday load (fixed rates; `fep run` child gateway, journal_sync = {}, journal_commit = {}; lean zero-latency simulator; {} rounds × {} s per path, in turn (direct → native → http, then backwards); {} paced workers):",
        r.journal_sync, r.journal_commit, r.rounds, r.seconds, r.workers
    );
    println!(
        "    rate  path                          req/s   p50 ms   p99 ms  p99.9 ms  not ok  lost  late"
    );
    for row in &r.rows {
        for (what, f) in [
            ("direct (simulator)", &row.direct),
            ("gateway native", &row.native),
            ("gateway http", &row.http),
        ] {
            line(row.rate, what, Some(f.tps), &f.latency, Some(f));
        }
        line(
            row.rate,
            "added native (gw − direct)",
            None,
            &row.added_native,
            None,
        );
        line(
            row.rate,
            "added http (gw − direct)",
            None,
            &row.added_http,
            None,
        );
        line(row.rate, "http − native", None, &row.http_over_native, None);
    }
    if let Some(s) = &r.saturation {
        println!(
            "  closed loop, {} in flight: native {:.0} req/s (p50 {:.3} ms), http {:.0} req/s (p50 {:.3} ms): http/native {:.2}",
            s.concurrency,
            s.native.tps,
            s.native.latency.p50_ms,
            s.http.tps,
            s.http.latency.p50_ms,
            s.http.tps / s.native.tps.max(1e-9)
        );
    }
    let f = &r.disk_floor;
    println!(
        "  disk floor where the journals live (4 KiB write + fdatasync, {FLOOR_SAMPLES} samples): p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms",
        f.p50_ms, f.p99_ms, f.p999_ms
    );
    if r.journal_sync == JournalSync::Full.as_str() {
        println!(
            "  a request waits for two such writes (telegram before sending, outcome before answering): at the median no gateway on this disk adds less than 2 × p50 = {:.3} ms",
            2.0 * f.p50_ms
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values_us: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, 120_000_000, 3).expect("bounds");
        for v in values_us {
            h.record(v).expect("in range");
        }
        h
    }

    /// Gateway = direct + 300 µs for every request: the added latency is 0.3 ms at every
    /// percentile, and the sign says which path is slower.
    #[test]
    fn added_latency_is_gateway_minus_direct_per_percentile() {
        let direct = Percentiles::of(&hist(1..=1000));
        let gateway = Percentiles::of(&hist(301..=1300));
        assert!((direct.p50_ms - 0.5).abs() < 0.001, "{direct:?}");
        assert!((direct.p99_ms - 0.99).abs() < 0.001, "{direct:?}");
        assert!((direct.p999_ms - 0.999).abs() < 0.001, "{direct:?}");
        let added = gateway.minus(&direct);
        for v in [added.p50_ms, added.p99_ms, added.p999_ms] {
            assert!((v - 0.3).abs() < 0.002, "{added:?}");
        }
        let back = direct.minus(&gateway);
        assert!(back.p50_ms < -0.29, "{back:?}");
    }

    /// Every pair of paths runs in both orders over two rounds.
    #[test]
    fn rounds_run_the_paths_forward_then_backward() {
        assert_eq!(order(1), [Path::Direct, Path::Native, Path::Http]);
        assert_eq!(order(2), [Path::Http, Path::Native, Path::Direct]);
        assert_eq!(order(3), order(1));
    }

    /// Rounds merge their latencies, counts and wall time: the table's figures are of all
    /// rounds together, not of the last.
    #[test]
    fn rounds_merge_counts_latency_and_rate() {
        let mut rounds = Rounds::new().expect("rounds");
        for (values, lost) in [(1..=500, 0), (501..=1000, 2)] {
            let h = hist(values);
            rounds.add(&LoadReport {
                requests: h.len(),
                ok: h.len() - lost,
                lost,
                elapsed_s: 2.0,
                latency: Some(h),
                ..LoadReport::default()
            });
        }
        let f = rounds.figures();
        assert_eq!((f.requests, f.not_ok, f.lost), (1000, 2, 2));
        assert!((f.tps - 250.0).abs() < 1e-9, "{f:?}");
        assert!((f.latency.p50_ms - 0.5).abs() < 0.001, "{f:?}");
        let row = RateRow::new(1000, f.clone(), f.clone(), f);
        assert_eq!(row.added_native, Percentiles::default());
    }
}
