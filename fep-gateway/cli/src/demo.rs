//! `fep demo`: two families side by side — two simulated Hecto banks (one duplex, one on split
//! send/recv lines) and a KIBNET(EFMS) played by the spec-driven simulator from
//! `specs/kibnet.toml` (it opens the day, one connection per telegram both ways) — the gateway
//! on embedded defaults and a load, with a live progress line and a summary in which every
//! request is accounted for.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::load::{self, LoadOptions};
use fep_gateway::clock::SystemClock;
use fep_gateway::gateway::Gateway;
use fep_gateway::institution::InstitutionHandle;
use fep_gateway::institution::InstitutionStatus;
use fep_gateway::profile::{framing_of, Profile};
use fep_gateway::protocol::Outcome;
use fep_gateway::settings::{GatewaySettings, InstitutionSettings, LinkSettings};
use fep_testkit::sim::{SimConfig, Simulator};
use fep_testkit::spec_sim::{Scenario, SpecSim, SpecSimOptions};

/// The KIBNET institution's name in the demo.
const KIBNET: &str = "kibnet";

/// How EFMS behaves in the demo: quick answers, a few refusals, rare silence (resolved by
/// 0200/6013), notices of every kind twice a second, one connection per telegram both ways.
const KIBNET_SCENARIO: &str = r#"
[outcomes]
declined = 0.05
no_answer = 0.002
unknown_executed = 0.5
[latency_ms]
min = 1
max = 5
[notices]
interval_ms = 500
[connections]
per_telegram_listen = true
per_telegram_connect_back = true
"#;

/// Options of `fep demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoOptions {
    /// How long the load runs.
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// Requests kept in flight.
    #[arg(long, default_value_t = 128)]
    pub concurrency: usize,
    /// Target total rate in requests per second (0 = unthrottled).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Print the summary's last line as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Simulator seed (same seed, same decline/unknown pattern).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

/// The demo's final accounting.
#[derive(Debug, Clone, Serialize)]
pub struct DemoSummary {
    /// Requests sent.
    pub requests: u64,
    /// Answered ok.
    pub ok: u64,
    /// Answered declined.
    pub declined: u64,
    /// Answered unknown.
    pub unknown: u64,
    /// Unknowns resolved by inquiry or late response.
    pub unknown_resolved: u64,
    /// … that turned out executed.
    pub unknown_resolved_ok: u64,
    /// … that turned out not executed.
    pub unknown_resolved_declined: u64,
    /// Rejected before sending.
    pub rejected: u64,
    /// Requests without any answer (must be 0).
    pub lost: u64,
    /// Throughput.
    pub tps: f64,
    /// Median latency.
    pub p50_ms: f64,
    /// 99th percentile latency.
    pub p99_ms: f64,
    /// 99.9th percentile latency.
    pub p999_ms: f64,
}

fn data_dir() -> PathBuf {
    std::env::temp_dir().join(format!("fep-demo-{}", std::process::id()))
}

/// Runs the demo; prints progress to stderr and the summary to stdout.
pub async fn run(opts: DemoOptions) -> Result<DemoSummary, String> {
    let sim_config = |seed: u64, connect_back: Option<SocketAddr>| SimConfig {
        listen: "127.0.0.1:0".parse().ok(),
        connect_back,
        latency_ms: "1..5".into(),
        decline_rate: 0.05,
        unknown_rate: 0.002,
        no_response_rate: 0.0005,
        notice_interval_ms: Some(500),
        company_no: "FEPDEMO01".into(),
        seed,
        ..SimConfig::default()
    };
    let duplex = Simulator::start(sim_config(opts.seed, None))
        .await
        .map_err(|e| format!("simulator: {e}"))?;
    // The split bank connects back once the gateway's recv listener (port 0) is bound.
    let split = Simulator::start(sim_config(opts.seed + 1, None))
        .await
        .map_err(|e| format!("simulator: {e}"))?;
    let kib_family = fep_codec::spec::Family::from_toml_str(fep_specs::KIBNET_TOML)
        .map_err(|e| format!("kibnet spec: {e}"))?;
    let scenario =
        Scenario::from_toml_str(KIBNET_SCENARIO).map_err(|e| format!("kibnet scenario: {e}"))?;
    let efms = SpecSim::start(
        kib_family.clone(),
        scenario,
        SpecSimOptions {
            seed: opts.seed + 2,
            ..SpecSimOptions::default()
        },
    )
    .await
    .map_err(|e| format!("kibnet simulator: {e}"))?;
    let kib_framing = framing_of(&kib_family).map_err(|e| e.to_string())?.0;
    let mut kib_send = LinkSettings::per_telegram_outbound(efms.addr());
    kib_send.name = "send".into();
    let mut kib_recv = LinkSettings::per_telegram_inbound_loopback();
    kib_recv.name = "recv".into();
    let kibnet = InstitutionSettings::of(
        KIBNET,
        Profile::kibnet("20031709"),
        kib_framing,
        vec![kib_send, kib_recv],
    );

    let tune = |mut s: InstitutionSettings| {
        s.request_timeout = Duration::from_secs(2);
        s.inquiry_delay = Duration::from_secs(1);
        s.inquiry_interval = Duration::from_secs(1);
        s.poll_interval = Some(Duration::from_secs(30));
        s
    };
    let settings = GatewaySettings {
        native_listen: "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?,
        http_listen: Some("127.0.0.1:0".parse().map_err(|e| format!("{e}"))?),
        data_dir: data_dir(),
        retention_days: 0,
        journal_sync: Default::default(),
        journal_commit: Default::default(),
        institutions: vec![
            tune(InstitutionSettings::hecto(
                "hecto",
                vec![LinkSettings::outbound_duplex(duplex.addr())],
            )),
            tune(InstitutionSettings::hecto(
                "hecto-split",
                LinkSettings::loopback_split(split.addr()),
            )),
            tune(kibnet),
        ],
    };
    let gateway = Gateway::start(settings, Arc::new(SystemClock))
        .await
        .map_err(|e| e.to_string())?;
    let split_recv = gateway
        .listen_addrs()
        .iter()
        .find(|l| l.institution == "hecto-split" && l.link == "recv")
        .map(|l| l.addr)
        .ok_or("the split institution's recv listener is not bound")?;
    split
        .connect_back(split_recv)
        .map_err(|e| format!("simulator: {e}"))?;
    // EFMS connects in per telegram: first its 개시 (0800/2100), then notices.
    let kib_recv = gateway
        .listen_addrs()
        .iter()
        .find(|l| l.institution == KIBNET && l.link == "recv")
        .map(|l| l.addr)
        .ok_or("the kibnet recv listener is not bound")?;
    efms.connect_back(kib_recv)
        .map_err(|e| format!("kibnet simulator: {e}"))?;
    eprintln!(
        "gateway: native {} http {} journal {}",
        gateway.native_addr(),
        gateway
            .http_addr()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        data_dir().display()
    );
    wait_until(Duration::from_secs(15), || async {
        gateway.status().await.iter().all(|s| {
            s.signed_on
                && s.links
                    .iter()
                    .all(|l| l.state == fep_gateway::institution::LinkState::Up)
        })
    })
    .await;
    for s in gateway.status().await {
        eprintln!(
            "  {:<12} signed_on={} links={}",
            s.name,
            s.signed_on,
            s.links
                .iter()
                .map(|l| format!("{}:{:?}", l.name, l.state))
                .collect::<Vec<_>>()
                .join(",")
        );
    }

    let load_opts = LoadOptions {
        addr: gateway.native_addr().to_string(),
        institutions: vec!["hecto".into(), "hecto-split".into()],
        concurrency: opts.concurrency,
        rate: opts.rate,
        seconds: opts.seconds,
        inquiry_percent: 10,
        timeout_ms: 2000,
        connections: 2,
        idempotency_keys: false,
    };
    // KIBNET's payments go in beside the Hecto load, for the same time.
    let kib_handle = gateway
        .institution(KIBNET)
        .cloned()
        .ok_or("no kibnet institution")?;
    let kib_load = tokio::spawn(kibnet_load(
        kib_handle,
        Duration::from_secs(opts.seconds),
        (opts.concurrency / 8).max(1),
    ));
    let bar = indicatif::ProgressBar::new_spinner();
    let shown = bar.clone();
    let report = load::run(&load_opts, move |live, elapsed| {
        shown.set_message(load::progress_line(live, elapsed))
    })
    .await?;
    bar.finish_and_clear();
    let kib = kib_load.await.map_err(|e| format!("kibnet load: {e}"))?;

    // Unknowns are resolved by result inquiry a second after they happen; wait for that.
    eprintln!("load done; resolving unknown outcomes by result inquiry …");
    wait_until(Duration::from_secs(20), || async {
        gateway.status().await.iter().all(|s| s.resolving == 0)
    })
    .await;
    let status = gateway.status().await;
    let sum = |f: fn(&InstitutionStatus) -> u64| status.iter().map(f).sum::<u64>();
    let summary = DemoSummary {
        requests: report.requests + kib.requests,
        ok: report.ok + kib.ok,
        declined: report.declined + kib.declined,
        unknown: report.unknown + kib.unknown,
        unknown_resolved: sum(|s| s.counters.unknown_resolved),
        unknown_resolved_ok: sum(|s| s.counters.resolved_ok),
        unknown_resolved_declined: sum(|s| s.counters.resolved_declined),
        rejected: report.rejected + kib.rejected,
        lost: report.lost + kib.lost,
        tps: report.tps,
        p50_ms: report.p50_ms,
        p99_ms: report.p99_ms,
        p999_ms: report.p999_ms,
    };
    print_summary(&summary, &status, opts.json);
    gateway.shutdown(Duration::from_secs(5)).await;
    duplex.shutdown().await;
    split.shutdown().await;
    efms.shutdown().await;
    let _ = std::fs::remove_dir_all(data_dir());
    Ok(summary)
}

/// What the KIBNET load saw: every request has exactly one outcome, or counts as lost.
#[derive(Debug, Default, Clone, Copy)]
struct KibnetTally {
    requests: u64,
    ok: u64,
    declined: u64,
    unknown: u64,
    rejected: u64,
    lost: u64,
}

/// `workers` callers sending 지급이체 0200/1100 to KIBNET through the gateway for `length`,
/// each waiting for its answer before the next.
async fn kibnet_load(handle: InstitutionHandle, length: Duration, workers: usize) -> KibnetTally {
    let until = Instant::now() + length;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let handle = handle.clone();
        tasks.push(tokio::spawn(async move {
            let mut t = KibnetTally::default();
            let mut n = w as u64;
            while Instant::now() < until {
                let telegram = payment(handle.profile(), 10_000 + n % 90_000);
                n += workers as u64;
                t.requests += 1;
                let reply =
                    tokio::time::timeout(Duration::from_secs(10), handle.request(telegram, None))
                        .await;
                match reply.map(|r| r.outcome) {
                    Ok(Outcome::Ok) => t.ok += 1,
                    Ok(Outcome::Declined) => t.declined += 1,
                    Ok(Outcome::Unknown) => t.unknown += 1,
                    Ok(Outcome::Rejected) => t.rejected += 1,
                    Err(_) => t.lost += 1,
                }
            }
            t
        }));
    }
    let mut sum = KibnetTally::default();
    for task in tasks {
        let t = task.await.unwrap_or_default();
        sum.requests += t.requests;
        sum.ok += t.ok;
        sum.declined += t.declined;
        sum.unknown += t.unknown;
        sum.rejected += t.rejected;
        sum.lost += t.lost;
    }
    sum
}

/// A KIBNET 지급이체 of `amount`, as the gateway sends it: the family's money-moving request
/// (the one its result inquiry resolves), its header constants, the amount filled in.
fn payment(profile: &Profile, amount: u64) -> Vec<u8> {
    let Some(key) = profile
        .inquiry
        .as_ref()
        .and_then(|q| q.for_requests.first())
        .cloned()
    else {
        return Vec::new();
    };
    let mut telegram = profile.admin(&key);
    if let Some(f) = profile
        .layout_for(&key)
        .and_then(|l| l.field("accounts.amount"))
    {
        if let (Some(offset), Some(len)) = (f.offset, f.len) {
            let digits = format!("{amount:0len$}");
            if let Some(slot) = telegram.get_mut(offset..offset + len) {
                slot.copy_from_slice(&digits.as_bytes()[digits.len() - len..]);
            }
        }
    }
    telegram
}

async fn wait_until<F, Fut>(limit: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn print_summary(s: &DemoSummary, status: &[InstitutionStatus], json: bool) {
    println!("== fep demo summary ==");
    for i in status {
        let c = &i.counters;
        println!(
            "  {:<12} requests {:>8}  ok {:>8}  declined {:>6}  unknown {:>4}  rejected {:>4}  late {:>3}  notices {:>4}",
            i.name, c.requests, c.ok, c.declined, c.unknown, c.rejected, c.late, c.notices
        );
    }
    println!("  requests   {}", s.requests);
    println!("  ok         {}", s.ok);
    println!("  declined   {}", s.declined);
    println!(
        "  unknown    {} (resolved {}: {} executed, {} not executed; {} still open)",
        s.unknown,
        s.unknown_resolved,
        s.unknown_resolved_ok,
        s.unknown_resolved_declined,
        s.unknown.saturating_sub(s.unknown_resolved)
    );
    println!("  rejected   {}", s.rejected);
    println!("  lost       {}", s.lost);
    println!("  throughput {:.0} req/s", s.tps);
    println!(
        "  latency    p50 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms",
        s.p50_ms, s.p99_ms, s.p999_ms
    );
    if json {
        let line = serde_json::json!({
            "requests": s.requests, "ok": s.ok, "declined": s.declined, "unknown": s.unknown,
            "unknown_resolved": s.unknown_resolved, "rejected": s.rejected, "lost": s.lost,
            "tps": s.tps, "p50_ms": s.p50_ms, "p99_ms": s.p99_ms, "p999_ms": s.p999_ms,
        });
        println!("{line}");
    }
}
