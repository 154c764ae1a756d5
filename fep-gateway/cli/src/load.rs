//! `fep load`: a load generator over the native client ([`run`]), the HTTP API
//! ([`run_http`], `fep load --http`) or straight to an institution ([`run_direct`], the
//! benchmark's baseline), with a live progress line and an HDR-histogram latency summary.
//! All three share one worker loop ([`drive`]): closed loop, or paced at a fixed rate with
//! the workers taking turns ([`send_offset`]).
//!
//! Every request is accounted for: each one ends in exactly one of ok / declined / unknown /
//! rejected, or — if the client itself gave up (connection lost, no answer at all) — `lost`.
//! A healthy gateway keeps `lost` at zero.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

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
    /// Sends every request under an idempotency key of its own (native and HTTP): the path
    /// of callers that may retry a transfer, which claims the key in the journal first.
    #[arg(long)]
    pub idempotency_keys: bool,
}

impl LoadOptions {
    fn timeout(&self) -> Duration {
        Duration::from_millis(u64::from(self.timeout_ms))
    }

    /// The idempotency key of the `n`-th request of the run `run`, when keys are asked for:
    /// unique across runs, so that a gateway kept from an earlier run never replays one.
    fn key(&self, run: u128, n: u64) -> Option<String> {
        self.idempotency_keys.then(|| format!("load-{run:x}-{n}"))
    }

    /// Whether the `n`-th request is a name inquiry (else a transfer).
    fn inquiry(&self, n: u64) -> bool {
        n % 100 < u64::from(self.inquiry_percent)
    }

    /// Which of `count` connections the `n`-th request goes on: a worker keeps to one.
    fn connection_of(&self, n: u64, count: usize) -> usize {
        ((n % self.concurrency.max(1) as u64) as usize) % count.max(1)
    }
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
    /// Paced requests that fell due while their worker was still waiting for its previous
    /// answer, so left late: their latency is timed from when they left, so with many of them
    /// the tail is understated (coordinated omission). More workers fix it. (Every paced
    /// request may leave up to ~2 ms after its time, by tokio's 1 ms timer; that is not
    /// counted.)
    pub late: u64,
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
    /// The latencies themselves (µs), so runs can be merged (`fep bench`'s rounds).
    #[serde(skip)]
    pub latency: Option<Histogram<u64>>,
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
    /// Sent late (paced loads only).
    pub late: AtomicU64,
}

pub use fep_testkit::samples::sample_telegram;

/// How a request ended, as the load tool counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Answered ok.
    Ok,
    /// Answered declined.
    Declined,
    /// Answered unknown.
    Unknown,
    /// Refused (not sent).
    Rejected,
    /// No answer at all: a client-side failure.
    Lost,
}

impl From<Outcome> for Answer {
    fn from(o: Outcome) -> Answer {
        match o {
            Outcome::Ok => Answer::Ok,
            Outcome::Declined => Answer::Declined,
            Outcome::Unknown => Answer::Unknown,
            Outcome::Rejected => Answer::Rejected,
        }
    }
}

impl LiveCounters {
    fn count(&self, answer: Answer) {
        let counter = match answer {
            Answer::Ok => &self.ok,
            Answer::Declined => &self.declined,
            Answer::Unknown => &self.unknown,
            Answer::Rejected => &self.rejected,
            Answer::Lost => &self.lost,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// When, after the start, worker `w` of `workers` sends its `k`-th request at `rate` requests
/// per second in total (`None` when not paced, `rate` 0). The workers take turns: request
/// `k * workers + w` leaves at `(k * workers + w) / rate`, one every `1 / rate` seconds.
/// (Before, every worker started at the same instant with the same gap, so all `workers`
/// requests left together once every `workers / rate` seconds: bursts of 256 at 1,000 req/s.)
pub fn send_offset(rate: u64, workers: usize, w: usize, k: u64) -> Option<Duration> {
    if rate == 0 {
        return None;
    }
    let index = u128::from(k) * workers as u128 + w as u128;
    let nanos = index * 1_000_000_000 / u128::from(rate);
    Some(Duration::from_nanos(
        u64::try_from(nanos).unwrap_or(u64::MAX),
    ))
}

/// A new latency histogram in microseconds (1 µs .. 120 s, 3 significant digits).
/// Durations a worker keeps before it folds them into a histogram of its own: 16,384 × 8 bytes
/// is about the histogram's size.
const FOLD_AT: usize = 16_384;

/// A latency histogram of microseconds, 1 µs to 120 s, three significant digits.
pub(crate) fn histogram() -> Result<Histogram<u64>, String> {
    Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).map_err(|e| e.to_string())
}

/// The worker loop shared by every kind of load: `opts.concurrency` workers for
/// `opts.seconds`, paced by [`send_offset`] when `opts.rate` is set, each calling `send(n)`
/// with a unique `n` and recording how long it took and how it ended; the counters are
/// `live`. Uses tokio's clock, so tests can run it under `time::pause`.
pub async fn drive<F, Fut>(
    opts: &LoadOptions,
    live: Arc<LiveCounters>,
    send: F,
) -> Result<LoadReport, String>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Answer> + Send,
{
    let send = Arc::new(send);
    let started = Instant::now();
    let until = started + Duration::from_secs(opts.seconds);
    let workers = opts.concurrency.max(1);
    let rate = opts.rate;
    let mut tasks = Vec::with_capacity(workers);
    for w in 0..workers {
        let (send, live) = (send.clone(), live.clone());
        tasks.push(tokio::spawn(async move {
            // Raw durations, merged into one histogram at the end: a histogram per worker is
            // ~144 KiB, 1.4 GB at 10,000 workers. A worker that answers many gets one only
            // once its durations would take more room than the histogram.
            let mut took: Vec<u64> = Vec::new();
            let mut hist: Option<Histogram<u64>> = None;
            for k in 0u64.. {
                match send_offset(rate, workers, w, k) {
                    Some(offset) => {
                        let at = started + offset;
                        let now = Instant::now();
                        // A worker behind its schedule stops on time too.
                        if at >= until || now >= until {
                            break;
                        }
                        // Due while its worker still waited for the previous answer.
                        if k > 0 && now > at {
                            live.late.fetch_add(1, Ordering::Relaxed);
                        }
                        tokio::time::sleep_until(at).await;
                    }
                    None if Instant::now() >= until => break,
                    None => {}
                }
                live.requests.fetch_add(1, Ordering::Relaxed);
                // Building the request (the closure's synchronous part) is not timed.
                let request = send(k * workers as u64 + w as u64);
                let t0 = Instant::now();
                let answer = request.await;
                let micros = t0.elapsed().as_micros() as u64;
                live.count(answer);
                took.push(micros.max(1));
                if took.len() >= FOLD_AT {
                    if hist.is_none() {
                        hist = histogram().ok();
                    }
                    if let Some(h) = hist.as_mut() {
                        for micros in took.drain(..) {
                            let _ = h.record(micros);
                        }
                    }
                }
            }
            (hist, took)
        }));
    }
    let mut merged = histogram()?;
    for t in tasks {
        if let Ok((hist, took)) = t.await {
            if let Some(h) = hist {
                let _ = merged.add(&h);
            }
            for micros in took {
                let _ = merged.record(micros);
            }
        }
    }
    Ok(report(&live, &merged, started.elapsed().as_secs_f64()))
}

/// What makes this run's idempotency keys its own: the wall clock in nanoseconds and the
/// process.
fn run_nonce() -> u128 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    nanos ^ (u128::from(std::process::id()) << 96)
}

/// Calls `progress` about every 200 ms until dropped.
struct Ticker(tokio::task::JoinHandle<()>);

impl Ticker {
    fn start(
        live: Arc<LiveCounters>,
        progress: impl Fn(&LiveCounters, Duration) + Send + Sync + 'static,
    ) -> Ticker {
        let started = Instant::now();
        Ticker(tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                progress(&live, started.elapsed());
            }
        }))
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.0.abort();
    }
}

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
    let _ticker = Ticker::start(live.clone(), progress);
    let o = opts.clone();
    let run = run_nonce();
    drive(opts, live, move |n| {
        let client = clients[o.connection_of(n, clients.len())].clone();
        let institution = o.institutions[(n as usize) % o.institutions.len().max(1)].clone();
        let (telegram, timeout) = (Bytes::from(sample_telegram(n, o.inquiry(n))), o.timeout());
        let key = o.key(run, n);
        async move {
            let answered = match key {
                Some(key) => {
                    client
                        .request_with_key(&institution, telegram, timeout, &key)
                        .await
                }
                None => client.request(&institution, telegram, timeout).await,
            };
            match answered {
                Ok(r) => Answer::from(r.outcome),
                Err(e) => {
                    tracing::warn!(error = %e, "request lost by the client");
                    Answer::Lost
                }
            }
        }
    })
    .await
}

/// The JSON body of `POST /v1/institutions/{name}/messages` for the `n`-th request: the same
/// transfer or name inquiry as [`sample_telegram`], as named fields (docs/http-api.md §2).
pub fn http_body(n: u64, inquiry: bool) -> serde_json::Value {
    if inquiry {
        serde_json::json!({
            "type": "6000/100",
            "fields": {
                "account": format!("1102{:08}", n % 100_000_000),
                "real_name_no": "900101",
                "bank_code": "088",
            }
        })
    } else {
        serde_json::json!({
            "type": "2000/100",
            "fields": {
                "wd_account": "110123456789",
                "amount": 10_000 + (n % 90_000),
                "dep_bank": "088",
                "dep_account": format!("3333{:08}", n % 100_000_000),
                "memo": "급여이체",
            }
        })
    }
}

/// How an HTTP answer counts: a 200's `outcome`; any other status is a refusal (`rejected`:
/// the gateway answered and sent nothing); no answer at all is `lost`.
fn http_answer(status: u16, body: &[u8]) -> Answer {
    #[derive(serde::Deserialize)]
    struct Sent {
        outcome: String,
    }
    if status != 200 {
        return Answer::Rejected;
    }
    match serde_json::from_slice::<Sent>(body).map(|s| s.outcome) {
        Ok(o) if o == "ok" => Answer::Ok,
        Ok(o) if o == "declined" => Answer::Declined,
        Ok(o) if o == "unknown" => Answer::Unknown,
        Ok(o) if o == "rejected" => Answer::Rejected,
        _ => Answer::Lost,
    }
}

/// The same load as [`run`] through the gateway's HTTP API at `base` (e.g.
/// `http://127.0.0.1:7780`): `POST {base}/v1/institutions/{name}/messages` with
/// [`http_body`], on keep-alive connections (at most one per worker). `opts.addr` and
/// `opts.connections` are ignored.
pub async fn run_http(
    opts: &LoadOptions,
    base: &str,
    progress: impl Fn(&LiveCounters, Duration) + Send + Sync + 'static,
) -> Result<LoadReport, String> {
    let timeout = opts.timeout();
    // Plain http:// only; but reqwest is built with rustls (for the gateway's webhooks) and
    // wants a TLS configuration with a crypto provider.
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("http client: {e}"))?
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .pool_max_idle_per_host(opts.concurrency.max(1))
        .tcp_nodelay(true)
        // The gateway answers at the request's timeout; the grace covers transit.
        .timeout(timeout + Duration::from_secs(1))
        .build()
        .map_err(|e| format!("http client: {e}"))?;
    let base = base.trim_end_matches('/').to_owned();
    let urls: Arc<Vec<String>> = Arc::new(
        opts.institutions
            .iter()
            .map(|i| format!("{base}/v1/institutions/{i}/messages"))
            .collect(),
    );
    if urls.is_empty() {
        return Err("no institution to send to".into());
    }
    let live = Arc::new(LiveCounters::default());
    let _ticker = Ticker::start(live.clone(), progress);
    let o = opts.clone();
    let run = run_nonce();
    drive(opts, live, move |n| {
        let mut body = http_body(n, o.inquiry(n));
        body["timeout_ms"] = o.timeout_ms.into();
        let mut post = http.post(urls[(n as usize) % urls.len()].as_str());
        if let Some(key) = o.key(run, n) {
            post = post.header("idempotency-key", key);
        }
        async move {
            let sent = post
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await;
            let answered = match sent {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    resp.bytes().await.map(|b| (status, b))
                }
                Err(e) => Err(e),
            };
            match answered {
                Ok((status, body)) => http_answer(status, &body),
                Err(e) => {
                    tracing::warn!(error = %e, "http request lost by the client");
                    Answer::Lost
                }
            }
        }
    })
    .await
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
        late: get(&live.late),
        tps: get(&live.requests) as f64 / elapsed.max(1e-9),
        p50_ms: ms(0.5),
        p90_ms: ms(0.9),
        p99_ms: ms(0.99),
        p999_ms: ms(0.999),
        max_ms: merged.max() as f64 / 1000.0,
        elapsed_s: elapsed,
        latency: Some(merged.clone()),
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
    let conns = Arc::new(conns);
    let live = Arc::new(LiveCounters::default());
    let next_no = Arc::new(AtomicU64::new(1));
    let profile = Arc::new(fep_gateway::profile::Profile::hecto(
        fep_gateway::profile::HectoContract::DEMO,
    ));
    let o = opts.clone();
    drive(opts, live, move |n| {
        let conn = conns[o.connection_of(n, conns.len())].clone();
        let (next_no, profile) = (next_no.clone(), profile.clone());
        let (mut telegram, timeout) = (sample_telegram(n, o.inquiry(n)), o.timeout());
        async move {
            let no = next_no.fetch_add(1, Ordering::Relaxed) as u32;
            let now = fep_gateway::clock::SystemClock
                .now()
                .with_timezone(&fep_gateway::clock::KST);
            let stamped = profile.stamp(
                &mut telegram,
                no,
                fep_gateway::clock::day_of(&now),
                fep_gateway::clock::hms_of(&now),
            );
            let Some(key) = profile.key(&telegram).filter(|_| stamped) else {
                return Answer::Lost;
            };
            let (tx, rx) = tokio::sync::oneshot::channel();
            conn.pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key, tx);
            let answer = match conn.out.send(Bytes::from(telegram)).await {
                Ok(()) => tokio::time::timeout(timeout, rx)
                    .await
                    .ok()
                    .and_then(Result::ok),
                Err(_) => None,
            };
            match answer {
                Some(frame) => match profile.verdict(&frame) {
                    fep_gateway::profile::Verdict::Ok => Answer::Ok,
                    fep_gateway::profile::Verdict::Declined(_) => Answer::Declined,
                    fep_gateway::profile::Verdict::Unknown(_) => Answer::Unknown,
                },
                None => {
                    conn.pending
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&key);
                    Answer::Lost
                }
            }
        }
    })
    .await
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

    fn paced(concurrency: usize, rate: u64, seconds: u64) -> LoadOptions {
        LoadOptions {
            addr: String::new(),
            institutions: vec!["hecto".into()],
            concurrency,
            rate,
            seconds,
            inquiry_percent: 0,
            timeout_ms: 1000,
            connections: 1,
            idempotency_keys: false,
        }
    }

    #[test]
    fn the_send_schedule_spreads_the_rate_over_the_workers() {
        assert_eq!(send_offset(0, 4, 1, 1), None);
        // 256 workers at 1,000 req/s: request 2 × 256 + 3 leaves at 515 ms.
        assert_eq!(
            send_offset(1000, 256, 3, 2),
            Some(Duration::from_millis(515))
        );
        // Consecutive requests of one worker are `workers / rate` apart; neighbours 1 / rate.
        assert_eq!(
            send_offset(5000, 64, 0, 1),
            Some(Duration::from_micros(12_800))
        );
        assert_eq!(
            send_offset(5000, 64, 1, 0),
            Some(Duration::from_micros(200))
        );
    }

    /// Paced: one request every 1 / rate seconds, workers taking turns, none at the same
    /// instant (before: all workers at once, then all again `workers / rate` later).
    #[tokio::test(start_paused = true)]
    async fn paced_workers_send_one_request_every_interval() {
        let started = Instant::now();
        let sent = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = sent.clone();
        let live = Arc::new(LiveCounters::default());
        drive(&paced(4, 500, 1), live.clone(), move |n| {
            let log = log.clone();
            async move {
                log.lock().expect("log").push((n, started.elapsed()));
                Answer::Ok
            }
        })
        .await
        .expect("driven");
        let mut sent = sent.lock().expect("log").clone();
        sent.sort();
        assert_eq!(sent.len(), 500);
        for (i, &(n, at)) in sent.iter().enumerate() {
            assert_eq!(n, i as u64);
            // tokio's timer has millisecond ticks: at most one tick late.
            let due = Duration::from_millis(2 * i as u64);
            assert!(
                at >= due && at <= due + Duration::from_millis(1),
                "#{i} at {at:?}"
            );
        }
        assert_eq!(live.requests.load(Ordering::Relaxed), 500);
        assert_eq!(live.ok.load(Ordering::Relaxed), 500);
        assert_eq!(live.late.load(Ordering::Relaxed), 0);
    }

    /// A worker still waiting for its answer when its next request is due sends it late, and
    /// that is counted: 2 workers at 100 req/s have 20 ms each, answers take 50 ms.
    #[tokio::test(start_paused = true)]
    async fn requests_a_busy_worker_sends_after_their_time_are_counted_late() {
        let report = drive(&paced(2, 100, 1), Arc::default(), |_| async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Answer::Ok
        })
        .await
        .expect("driven");
        // Each worker sends every 50 ms instead of every 20: 20 each in the second, all but
        // the first two late.
        assert_eq!(report.requests, 40);
        assert_eq!(report.late, 38);
    }

    /// Not paced: each worker sends again as soon as it is answered, until the time is up;
    /// every request is counted once, by how it ended.
    #[tokio::test(start_paused = true)]
    async fn closed_loop_workers_send_back_to_back_until_the_end() {
        let live = Arc::new(LiveCounters::default());
        let report = drive(&paced(2, 0, 1), live.clone(), |n| async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if n % 2 == 0 {
                Answer::Ok
            } else {
                Answer::Lost
            }
        })
        .await
        .expect("driven");
        assert_eq!(live.requests.load(Ordering::Relaxed), 20);
        assert_eq!(live.ok.load(Ordering::Relaxed), 10);
        assert_eq!(live.lost.load(Ordering::Relaxed), 10);
        assert_eq!((report.requests, report.ok, report.lost), (20, 10, 10));
        let hist = report.latency.expect("latencies");
        assert_eq!(hist.len(), 20);
        assert_eq!(hist.value_at_quantile(0.5) / 1000, 100);
    }

    #[tokio::test(start_paused = true)]
    async fn a_worker_past_the_fold_keeps_every_duration() {
        let live = Arc::new(LiveCounters::default());
        // One worker, 1 ms per request, 20 s: 20,000 durations, past `FOLD_AT`.
        let report = drive(&paced(1, 0, 20), live.clone(), |_| async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            Answer::Ok
        })
        .await
        .expect("driven");
        assert!(report.requests as usize > FOLD_AT, "{}", report.requests);
        let hist = report.latency.expect("latencies");
        assert_eq!(hist.len(), report.requests);
        assert_eq!(hist.value_at_quantile(0.5) / 1000, 1);
    }

    #[test]
    fn idempotency_keys_are_one_per_request_and_run_and_valid() {
        let mut o = paced(1, 0, 1);
        assert_eq!(o.key(7, 1), None, "no keys unless asked for");
        o.idempotency_keys = true;
        assert_eq!(o.key(7, 1).as_deref(), Some("load-7-1"));
        assert_ne!(o.key(7, 1), o.key(7, 2));
        assert_ne!(o.key(7, 1), o.key(8, 1));
        let longest = o.key(u128::MAX, u64::MAX).expect("a key");
        assert!(
            fep_gateway::idempotency::check_key(&longest).is_ok(),
            "{longest}"
        );
        assert_ne!(run_nonce(), 0);
    }

    #[test]
    fn http_answers_count_by_outcome_and_status() {
        assert_eq!(
            http_answer(200, br#"{"id":"1","outcome":"ok"}"#),
            Answer::Ok
        );
        assert_eq!(
            http_answer(200, br#"{"outcome":"declined"}"#),
            Answer::Declined
        );
        assert_eq!(
            http_answer(200, br#"{"outcome":"unknown"}"#),
            Answer::Unknown
        );
        assert_eq!(
            http_answer(200, br#"{"outcome":"rejected"}"#),
            Answer::Rejected
        );
        assert_eq!(http_answer(503, br#"{"error":{}}"#), Answer::Rejected);
        assert_eq!(http_answer(200, b"not json"), Answer::Lost);
    }
}
