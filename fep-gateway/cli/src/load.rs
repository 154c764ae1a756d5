//! `fep load`: a load generator over the native client, with a live progress line and an
//! HDR-histogram latency summary.
//!
//! Every request is accounted for: each one ends in exactly one of ok / declined / unknown /
//! rejected, or — if the client itself gave up (connection lost, no answer at all) — `lost`.
//! A healthy gateway keeps `lost` at zero.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use serde::Serialize;

use fep_client::client::Client;
use fep_client::protocol::Outcome;

/// What to send and how hard.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadOptions {
    /// Gateway native-protocol address.
    #[arg(long, default_value = "127.0.0.1:9400")]
    pub addr: String,
    /// Institutions to spread requests over (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "hecto")]
    pub institutions: Vec<String>,
    /// Requests kept in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Target requests per second in total (0 = as fast as the concurrency allows).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// How long to run.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Message mix: percentage of 6000/100 name inquiries, the rest 2000/100 transfers.
    #[arg(long, default_value_t = 10)]
    pub inquiry_percent: u8,
    /// Per-request timeout given to the gateway, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    pub timeout_ms: u32,
    /// Native connections to open (requests are multiplexed over them).
    #[arg(long, default_value_t = 2)]
    pub connections: usize,
}

/// Counts and latency of one load run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadReport {
    /// Requests sent.
    pub requests: u64,
    /// Answered ok.
    pub ok: u64,
    /// Answered declined.
    pub declined: u64,
    /// Answered unknown.
    pub unknown: u64,
    /// Rejected by the gateway.
    pub rejected: u64,
    /// No answer at all (client error): must be 0.
    pub lost: u64,
    /// Requests per second over the run.
    pub tps: f64,
    /// Latency percentiles in milliseconds.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Maximum.
    pub max_ms: f64,
    /// Wall time of the run in seconds.
    pub elapsed_s: f64,
}

/// Live counters shared by the workers and the progress line.
#[derive(Default)]
pub struct LiveCounters {
    /// Sent.
    pub requests: AtomicU64,
    /// Ok.
    pub ok: AtomicU64,
    /// Declined.
    pub declined: AtomicU64,
    /// Unknown.
    pub unknown: AtomicU64,
    /// Rejected.
    pub rejected: AtomicU64,
    /// Lost.
    pub lost: AtomicU64,
}

pub use fep_testkit::samples::sample_telegram;

/// Runs a load against a gateway; `progress` is called about every 200 ms with the counters.
pub async fn run(
    opts: &LoadOptions,
    progress: impl Fn(&LiveCounters, Duration) + Send + Sync + 'static,
) -> Result<LoadReport, String> {
    let mut clients = Vec::new();
    for _ in 0..opts.connections.max(1) {
        clients.push(
            Client::connect(opts.addr.as_str())
                .await
                .map_err(|e| format!("connect {}: {e}", opts.addr))?,
        );
    }
    let live = Arc::new(LiveCounters::default());
    let started = Instant::now();
    let until = started + Duration::from_secs(opts.seconds);
    let workers = opts.concurrency.max(1);
    // Pacing: each worker waits its share of the interval between requests.
    let per_worker_gap =
        (opts.rate > 0).then(|| Duration::from_secs_f64(workers as f64 / opts.rate as f64));
    let mut tasks = Vec::with_capacity(workers);
    for w in 0..workers {
        let client = clients[w % clients.len()].clone();
        let live = live.clone();
        let institutions = opts.institutions.clone();
        let (timeout_ms, inquiry_percent) = (opts.timeout_ms, u64::from(opts.inquiry_percent));
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).ok();
            let mut n = w as u64;
            let mut next = Instant::now();
            while Instant::now() < until {
                if let Some(gap) = per_worker_gap {
                    tokio::time::sleep_until(next.into()).await;
                    next += gap;
                }
                let institution = &institutions[(n as usize) % institutions.len()];
                let telegram = Bytes::from(sample_telegram(n, n % 100 < inquiry_percent));
                n += workers as u64;
                live.requests.fetch_add(1, Ordering::Relaxed);
                let t0 = Instant::now();
                // The client's own deadline is the gateway's timeout plus a grace period.
                let result = client
                    .request(
                        institution,
                        telegram,
                        Duration::from_millis(u64::from(timeout_ms)),
                    )
                    .await;
                let micros = t0.elapsed().as_micros() as u64;
                let counter = match result {
                    Ok(r) => match r.outcome {
                        Outcome::Ok => &live.ok,
                        Outcome::Declined => &live.declined,
                        Outcome::Unknown => &live.unknown,
                        Outcome::Rejected => &live.rejected,
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "request lost by the client");
                        &live.lost
                    }
                };
                counter.fetch_add(1, Ordering::Relaxed);
                if let Some(h) = hist.as_mut() {
                    let _ = h.record(micros.max(1));
                }
            }
            hist
        }));
    }
    let ticker = {
        let live = live.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                progress(&live, started.elapsed());
            }
        })
    };
    let mut merged =
        Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).map_err(|e| e.to_string())?;
    for t in tasks {
        if let Ok(Some(h)) = t.await {
            let _ = merged.add(&h);
        }
    }
    ticker.abort();
    Ok(report(&live, &merged, started.elapsed().as_secs_f64()))
}

fn report(live: &LiveCounters, merged: &Histogram<u64>, elapsed: f64) -> LoadReport {
    let ms = |q: f64| merged.value_at_quantile(q) as f64 / 1000.0;
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    LoadReport {
        requests: get(&live.requests),
        ok: get(&live.ok),
        declined: get(&live.declined),
        unknown: get(&live.unknown),
        rejected: get(&live.rejected),
        lost: get(&live.lost),
        tps: get(&live.requests) as f64 / elapsed.max(1e-9),
        p50_ms: ms(0.5),
        p90_ms: ms(0.9),
        p99_ms: ms(0.99),
        p999_ms: ms(0.999),
        max_ms: merged.max() as f64 / 1000.0,
        elapsed_s: elapsed,
    }
}

/// One human line of live counters.
pub fn progress_line(live: &LiveCounters, elapsed: Duration) -> String {
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let requests = get(&live.requests);
    format!(
        "{:>5.1}s  requests {:>8}  ok {:>8}  declined {:>6}  unknown {:>5}  rejected {:>5}  lost {}  ({:.0} req/s)",
        elapsed.as_secs_f64(),
        requests,
        get(&live.ok),
        get(&live.declined),
        get(&live.unknown),
        get(&live.rejected),
        get(&live.lost),
        requests as f64 / elapsed.as_secs_f64().max(1e-9)
    )
}

/// Responses awaited on one direct connection, by correlation key (전송일자 + 전문번호).
type Pending = Arc<
    std::sync::Mutex<
        std::collections::HashMap<
            fep_gateway::profile::CorrKey,
            tokio::sync::oneshot::Sender<Bytes>,
        >,
    >,
>;

/// One direct Hecto connection: a writer task batching frames before each flush (as the
/// gateway's link does) and a reader task answering waiters by correlation key.
struct DirectConn {
    out: tokio::sync::mpsc::Sender<Bytes>,
    pending: Pending,
}

impl DirectConn {
    async fn open(addr: &str) -> Result<DirectConn, String> {
        use futures::{SinkExt, StreamExt};
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let codec =
            fep_client::framing::FrameCodec::new(fep_client::framing::Framing::hecto(), 4096)
                .map_err(|e| e.to_string())?;
        let (mut sink, mut frames) = tokio_util::codec::Framed::new(stream, codec).split();
        let (out, mut rx) = tokio::sync::mpsc::channel::<Bytes>(4096);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                if sink.feed(first).await.is_err() {
                    return;
                }
                while let Ok(more) = rx.try_recv() {
                    if sink.feed(more).await.is_err() {
                        return;
                    }
                }
                if SinkExt::<Bytes>::flush(&mut sink).await.is_err() {
                    return;
                }
            }
        });
        let pending: Pending = Arc::default();
        let waiters = pending.clone();
        let profile =
            fep_gateway::profile::Profile::hecto(fep_gateway::profile::HectoContract::DEMO);
        tokio::spawn(async move {
            while let Some(Ok(frame)) = frames.next().await {
                let Some(key) = profile.key(&frame) else {
                    continue;
                };
                let waiter = waiters
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&key);
                if let Some(w) = waiter {
                    let _ = w.send(frame);
                }
            }
        });
        Ok(DirectConn { out, pending })
    }
}

/// The same load as [`run`], but straight at a Hecto institution (e.g. the simulator), without
/// the gateway: the load tool frames the telegrams itself, stamps unique 전문번호 (from 1, today's
/// date) and matches responses by 전문번호 on the connection they were sent on. A baseline for
/// the latency the gateway adds. `opts.addr` is the institution's address; `opts.institutions`
/// is ignored; `opts.connections` connections are opened.
pub async fn run_direct(opts: &LoadOptions) -> Result<LoadReport, String> {
    use fep_gateway::clock::Clock;
    let mut conns = Vec::new();
    for _ in 0..opts.connections.max(1) {
        conns.push(Arc::new(DirectConn::open(&opts.addr).await?));
    }
    let live = Arc::new(LiveCounters::default());
    let next_no = Arc::new(AtomicU64::new(1));
    let profile = Arc::new(fep_gateway::profile::Profile::hecto(
        fep_gateway::profile::HectoContract::DEMO,
    ));
    let started = Instant::now();
    let until = started + Duration::from_secs(opts.seconds);
    let workers = opts.concurrency.max(1);
    let per_worker_gap =
        (opts.rate > 0).then(|| Duration::from_secs_f64(workers as f64 / opts.rate as f64));
    let mut tasks = Vec::with_capacity(workers);
    for w in 0..workers {
        let conn = conns[w % conns.len()].clone();
        let (live, next_no, profile) = (live.clone(), next_no.clone(), profile.clone());
        let (timeout, inquiry_percent) = (
            Duration::from_millis(u64::from(opts.timeout_ms)),
            u64::from(opts.inquiry_percent),
        );
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).ok();
            let mut n = w as u64;
            let mut next = Instant::now();
            while Instant::now() < until {
                if let Some(gap) = per_worker_gap {
                    tokio::time::sleep_until(next.into()).await;
                    next += gap;
                }
                let mut telegram = sample_telegram(n, n % 100 < inquiry_percent);
                n += workers as u64;
                let no = next_no.fetch_add(1, Ordering::Relaxed) as u32;
                let now = fep_gateway::clock::SystemClock
                    .now()
                    .with_timezone(&fep_gateway::clock::KST);
                live.requests.fetch_add(1, Ordering::Relaxed);
                let t0 = Instant::now();
                let stamped = profile.stamp(
                    &mut telegram,
                    no,
                    fep_gateway::clock::day_of(&now),
                    fep_gateway::clock::hms_of(&now),
                );
                let answer = match profile.key(&telegram).filter(|_| stamped) {
                    Some(key) => {
                        let (tx, rx) = tokio::sync::oneshot::channel();
                        conn.pending
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(key, tx);
                        let sent = conn.out.send(Bytes::from(telegram)).await.is_ok();
                        let answer = match sent {
                            true => tokio::time::timeout(timeout, rx)
                                .await
                                .ok()
                                .and_then(Result::ok),
                            false => None,
                        };
                        if answer.is_none() {
                            conn.pending
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .remove(&key);
                        }
                        answer
                    }
                    None => None,
                };
                let micros = t0.elapsed().as_micros() as u64;
                let counter = match answer {
                    Some(frame) => match profile.verdict(&frame) {
                        fep_gateway::profile::Verdict::Ok => &live.ok,
                        fep_gateway::profile::Verdict::Declined(_) => &live.declined,
                        fep_gateway::profile::Verdict::Unknown(_) => &live.unknown,
                    },
                    None => &live.lost,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                if let Some(h) = hist.as_mut() {
                    let _ = h.record(micros.max(1));
                }
            }
            hist
        }));
    }
    let mut merged =
        Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).map_err(|e| e.to_string())?;
    for t in tasks {
        if let Ok(Some(h)) = t.await {
            let _ = merged.add(&h);
        }
    }
    Ok(report(&live, &merged, started.elapsed().as_secs_f64()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fep_codec::Telegram;
    use fep_specs::hecto;

    #[test]
    fn sample_telegrams_are_valid_hecto_requests() {
        for (n, inquiry) in [(1, false), (2, true), (123_456_789, false)] {
            let t = sample_telegram(n, inquiry);
            assert_eq!(t.len(), hecto::TELEGRAM_LEN);
            let m = hecto::HectoMessage::decode(&t).unwrap();
            let expected: &[&str] = if inquiry {
                &["6000", "100"]
            } else {
                &["2000", "100"]
            };
            assert_eq!(
                <hecto::HectoMessage as fep_codec::TelegramFamily>::key(&m),
                expected
            );
        }
    }
}
