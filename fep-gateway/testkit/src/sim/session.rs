//! Connections: the sessions the listener accepts and the connect-back line of split mode.
//! Each is one task that reads and answers, writes delayed answers, notices and pushed
//! bytes, and polls when idle.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fep_codec::Telegram;
use fep_specs::hecto::Poll;
use futures::{FutureExt, SinkExt, StreamExt};
use rand::RngExt;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;
use tokio_util::time::DelayQueue;

use fep_client::framing::FrameCodec;
use fep_gateway::clock::poll_stamp;

use super::answer::{handle_frame, Action, Route};
use super::draw::{derived_rng, SALT_CONN};
use super::ledger::Code;
use super::{lock, Shared, SHUTDOWN_GRACE};

/// Frames queued for one connection before a sender gives up (responses are then counted as
/// undeliverable, like a bank whose line is congested).
pub(super) const OUT_QUEUE: usize = 1024;
/// Responses waiting for their latency on one session (a benchmark keeps 10,000 in flight).
const MAX_DELAYED: usize = 100_000;
/// Deadline for writing to a peer that does not read.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Deadline for one connect-back attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Frames read and answered before the answers are flushed: one write for a burst.
const READ_BATCH: usize = 32;

/// Connect-back sessions are numbered above this, accepted ones from 1.
const CONNECT_BACK_IDS: u64 = u64::MAX / 2;

/// Whether session `id` is a connect-back line.
pub(super) fn is_connect_back(id: u64) -> bool {
    id > CONNECT_BACK_IDS
}

/// What goes out on a connection besides direct answers.
#[derive(Debug)]
pub(super) enum Out {
    /// A telegram; the codec adds the length prefix.
    Frame(Bytes),
    /// Bytes written as they are (a test's garbage).
    Raw(Bytes),
}

/// Where frames can be sent, shared by every task.
#[derive(Default)]
pub(super) struct Routes {
    /// Accepted sessions by id (ids grow: the last is the newest).
    pub sessions: BTreeMap<u64, mpsc::Sender<Out>>,
    /// The connect-back line while it is up.
    pub back: Option<(u64, mpsc::Sender<Out>)>,
    /// Where the connect-back line goes, once split mode is on.
    pub back_addr: Option<SocketAddr>,
    /// Responses waiting for the connect-back line: (expiry, frame, code).
    pub held: VecDeque<(Instant, Bytes, Option<Code>)>,
}

/// What became of a response handed to the connect-back line.
enum BackSend {
    Sent,
    Held,
    Lost,
}

impl Shared {
    /// Sends a response on the connect-back line (split mode). While the line is down the
    /// response is held for `back_hold_ms` (the gateway's sign-on usually arrives before the
    /// bank has connected back), then lost like on a real line.
    fn send_back(&self, frame: Bytes, code: Option<Code>) -> BackSend {
        let mut routes = lock(&self.routes);
        match routes.back.as_ref() {
            Some((_, tx)) => match tx.try_send(Out::Frame(frame)) {
                Ok(()) => BackSend::Sent,
                Err(_) => BackSend::Lost,
            },
            None if routes.held.len() < OUT_QUEUE && self.s.back_hold > Duration::ZERO => {
                let until = Instant::now() + self.s.back_hold;
                routes.held.push_back((until, frame, code));
                BackSend::Held
            }
            None => BackSend::Lost,
        }
    }

    /// Where notices go now: the connect-back line in split mode, else the signed-on session.
    pub(super) fn notice_route(&self) -> Option<mpsc::Sender<Out>> {
        let signed_on = lock(&self.books).signed_on?;
        let routes = lock(&self.routes);
        if self.split() {
            routes.back.as_ref().map(|(_, tx)| tx.clone())
        } else {
            routes.sessions.get(&signed_on).cloned()
        }
    }

    /// Counts a response handed to a line (or lost on the way).
    fn count_sent(&self, code: Option<Code>, sent: bool) {
        let lean = self.s.lean;
        if sent && (lean || code.is_none()) {
            // Nothing to count: spare the lock on the benchmark's path.
            return;
        }
        self.stat(|s| match code {
            _ if !sent => s.undeliverable += 1,
            Some(c) if !lean => match s.responses.get_mut(c.as_str()) {
                Some(n) => *n += 1,
                None => {
                    s.responses.insert(c.as_str().to_owned(), 1);
                }
            },
            _ => {}
        });
    }
}

/// Accepts the gateway's connections until cancelled.
pub(super) async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    token: CancellationToken,
) {
    let mut sessions = JoinSet::new();
    let mut next_id = 0u64;
    loop {
        while sessions.try_join_next().is_some() {}
        let accepted = tokio::select! {
            _ = token.cancelled() => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Transient (e.g. out of descriptors): back off briefly instead of spinning.
                tracing::warn!(error = %e, "simulator accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if sessions.len() >= shared.s.cfg.max_connections {
            tracing::warn!(%peer, "simulator: too many connections, refusing");
            shared.stat(|s| s.connections_refused += 1);
            continue;
        }
        next_id += 1;
        // Registered before it is counted, so a test that sees the count can push to it.
        let (tx, rx) = mpsc::channel(OUT_QUEUE);
        lock(&shared.routes).sessions.insert(next_id, tx);
        shared.stat(|s| s.connections += 1);
        tracing::info!(%peer, id = next_id, "simulator: session accepted");
        sessions.spawn(session(
            shared.clone(),
            stream,
            next_id,
            false,
            rx,
            token.child_token(),
        ));
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
    sessions.abort_all();
}

/// Keeps the connect-back line (split mode) up: reconnects with jittered backoff.
pub(super) async fn connect_back_loop(
    shared: Arc<Shared>,
    addr: SocketAddr,
    token: CancellationToken,
) {
    let mut rng = derived_rng(shared.s.cfg.seed, SALT_CONN, 0);
    let mut backoff = Duration::from_millis(50);
    // Connect-back sessions are numbered from the top so they never collide with accepted ones.
    let mut id = CONNECT_BACK_IDS;
    loop {
        let attempt = tokio::select! {
            _ = token.cancelled() => return,
            r = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)) => r,
        };
        match attempt {
            Ok(Ok(stream)) => {
                id += 1;
                backoff = Duration::from_millis(50);
                let (tx, rx) = mpsc::channel(OUT_QUEUE);
                let held = {
                    let mut routes = lock(&shared.routes);
                    routes.back = Some((id, tx.clone()));
                    // Taken under the lock that publishes the line, so nothing is held after.
                    std::mem::take(&mut routes.held)
                };
                let now = Instant::now();
                for (until, frame, code) in held {
                    let sent = until >= now && tx.try_send(Out::Frame(frame)).is_ok();
                    shared.count_sent(code, sent);
                }
                drop(tx);
                shared.stat(|s| s.connect_backs += 1);
                tracing::info!(%addr, "simulator: connected back");
                session(shared.clone(), stream, id, true, rx, token.child_token()).await;
                tracing::info!(%addr, "simulator: connect-back line closed");
            }
            Ok(Err(e)) => {
                shared.stat(|s| s.connect_back_failures += 1);
                tracing::debug!(%addr, error = %e, "simulator: connect back failed");
            }
            Err(_) => {
                shared.stat(|s| s.connect_back_failures += 1);
                tracing::debug!(%addr, "simulator: connect back timed out");
            }
        }
        // Jittered exponential backoff, so a restarting gateway is not hammered in lockstep.
        let jitter = rng.random_range(0.5..1.5);
        let wait = backoff.mul_f64(jitter);
        backoff = (backoff * 2).min(Duration::from_secs(2));
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Completes `io` at once when it can, else within [`WRITE_TIMEOUT`]: a timer only for a
/// peer that is slow to read, not for every write.
async fn bounded<E>(io: impl Future<Output = Result<(), E>>) -> bool {
    let mut io = std::pin::pin!(io);
    if let Some(r) = io.as_mut().now_or_never() {
        return r.is_ok();
    }
    matches!(tokio::time::timeout(WRITE_TIMEOUT, io).await, Ok(Ok(())))
}

/// A connection's framed socket with answers buffered until [`Conn::flush`].
struct Conn {
    framed: Framed<TcpStream, FrameCodec>,
    dirty: bool,
    /// A legacy host writes each answer on its own (with Nagle on, the second then waits for
    /// the peer's ACK of the first).
    flush_each: bool,
}

impl Conn {
    async fn send(&mut self, out: Out) -> bool {
        match out {
            Out::Frame(f) => {
                if !bounded(self.framed.feed(f)).await {
                    return false;
                }
                self.dirty = true;
                !self.flush_each || self.flush().await
            }
            Out::Raw(b) => self.flush().await && bounded(self.framed.get_mut().write_all(&b)).await,
        }
    }

    async fn flush(&mut self) -> bool {
        if !std::mem::take(&mut self.dirty) {
            return true;
        }
        bounded(SinkExt::<Bytes>::flush(&mut self.framed)).await
    }
}

/// Writes a reply on this session or hands it to the connect-back line. Returns false when
/// this session's socket failed.
async fn deliver(
    shared: &Shared,
    conn: &mut Conn,
    frame: Bytes,
    route: Route,
    code: Option<Code>,
) -> bool {
    if route == Route::Response && shared.split() {
        match shared.send_back(frame, code) {
            BackSend::Sent => shared.count_sent(code, true),
            // Counted when the line comes up.
            BackSend::Held => shared.stat(|s| s.responses_held += 1),
            BackSend::Lost => shared.count_sent(code, false),
        }
        return true;
    }
    let sent = conn.send(Out::Frame(frame)).await;
    shared.count_sent(code, sent);
    sent
}

/// One socket: reads, writes, delayed responses and idle polling in one loop.
async fn session(
    shared: Arc<Shared>,
    stream: TcpStream,
    id: u64,
    back: bool,
    mut rx: mpsc::Receiver<Out>,
    token: CancellationToken,
) {
    served(&shared, stream, id, &mut rx, &token).await;
    let mut routes = lock(&shared.routes);
    if back {
        if routes.back.as_ref().is_some_and(|(b, _)| *b == id) {
            routes.back = None;
        }
    } else {
        routes.sessions.remove(&id);
    }
    drop(routes);
    let mut books = lock(&shared.books);
    if books.signed_on == Some(id) {
        books.signed_on = None;
    }
}

async fn served(
    shared: &Shared,
    stream: TcpStream,
    id: u64,
    rx: &mut mpsc::Receiver<Out>,
    token: &CancellationToken,
) {
    let s = &shared.s;
    let _ = stream.set_nodelay(!s.cfg.nagle);
    let codec = match s.codec() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "simulator: framing");
            return;
        }
    };
    let mut conn = Conn {
        framed: Framed::new(stream, codec),
        dirty: false,
        flush_each: s.cfg.nagle,
    };
    let mut delayed: DelayQueue<(Bytes, Route, Option<Code>)> = DelayQueue::new();
    let mut last_rx = Instant::now();
    let mut last_io = last_rx;
    // One timer for both the idle cut-off and the idle poll, re-armed only when it fires, so
    // a busy session does not touch the timer wheel per frame.
    let due = |last_rx: Instant, last_io: Instant| {
        let idle_at = last_rx + s.idle_timeout;
        s.poll_interval
            .map_or(idle_at, |p| idle_at.min(last_io + p))
    };
    let timer = tokio::time::sleep_until(due(last_rx, last_io));
    let cancelled = token.cancelled();
    tokio::pin!(timer, cancelled);
    loop {
        tokio::select! {
            _ = &mut cancelled => break,
            frame = conn.framed.next() => {
                let mut next = frame;
                let mut read = 0;
                // Answer everything already received, then write the answers in one go.
                loop {
                    let frame = match next {
                        Some(Ok(f)) => f,
                        Some(Err(e)) => {
                            tracing::warn!(id, error = %e, "simulator: framing error, closing");
                            shared.stat(|s| s.dropped_connections += 1);
                            return;
                        }
                        None => return,
                    };
                    match handle_frame(shared, id, &frame) {
                        Some(Action::Close) => {
                            let _ = conn.flush().await;
                            return;
                        }
                        Some(Action::Reply { frame, route, delay, code }) => {
                            let alive = if delay.is_zero() {
                                deliver(shared, &mut conn, frame, route, code).await
                            } else {
                                if delayed.len() >= MAX_DELAYED {
                                    shared.stat(|s| s.undeliverable += 1);
                                } else {
                                    delayed.insert((frame, route, code), delay);
                                }
                                true
                            };
                            if !alive {
                                return;
                            }
                        }
                        None => {}
                    }
                    read += 1;
                    if read >= READ_BATCH {
                        break;
                    }
                    // Only what is already here: a frame still on its way waits for the next turn.
                    match conn.framed.next().now_or_never() {
                        Some(more) => next = more,
                        None => break,
                    }
                }
                last_rx = Instant::now();
                last_io = last_rx;
                if !conn.flush().await {
                    return;
                }
            }
            Some(expired) = delayed.next(), if !delayed.is_empty() => {
                let (frame, route, code) = expired.into_inner();
                if !deliver(shared, &mut conn, frame, route, code).await || !conn.flush().await {
                    return;
                }
                last_io = Instant::now();
            }
            out = rx.recv() => {
                // `rx` cannot close while this session is registered; treat it as a stop.
                let Some(out) = out else { return };
                if !conn.send(out).await {
                    return;
                }
                // Drain what else is queued (a notice burst, split-line answers) in one write.
                while let Ok(more) = rx.try_recv() {
                    if !conn.send(more).await {
                        return;
                    }
                }
                if !conn.flush().await {
                    return;
                }
                last_io = Instant::now();
            }
            () = &mut timer => {
                let now = Instant::now();
                if now >= last_rx + s.idle_timeout {
                    tracing::info!(id, "simulator: session idle too long, closing");
                    return;
                }
                if s.poll_interval.is_some_and(|p| now >= last_io + p) {
                    match Poll::request(poll_stamp(&shared.kst_now())).encode() {
                        Ok(p) => {
                            if !conn.send(Out::Frame(Bytes::from(p))).await || !conn.flush().await {
                                return;
                            }
                            shared.stat(|s| s.polls_sent += 1);
                        }
                        Err(e) => tracing::error!(error = %e, "simulator: poll encode"),
                    }
                    last_io = now;
                }
                timer.as_mut().reset(due(last_rx, last_io));
            }
        }
    }
}
