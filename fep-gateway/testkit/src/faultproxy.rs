//! A fault-injecting TCP proxy for tests (loopback only).
//!
//! [`FaultProxy::start`] listens on a loopback port and forwards every accepted connection to an
//! upstream loopback address, applying a [`Fault`] that can be switched at run time with
//! [`FaultProxy::set_fault`]. A switch also affects connections that are already open, because the
//! gateway's institution links are long-lived: a test opens the link healthy, then turns it into a
//! blackhole, a half-open line or a reset mid-session.
//!
//! Every loop ends on [`FaultProxy::stop`] (or drop), and the accept loop also ends after
//! `max_connections` connections, so a forgotten proxy cannot run away. Binding or forwarding to a
//! non-loopback address is refused: this is test support, never a production relay.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{sleep, sleep_until, timeout, Instant};
use tokio_util::sync::CancellationToken;

/// Random bytes written toward the client when [`Fault::Garbage`] triggers on an idle connection.
pub const GARBAGE_BURST: usize = 64;

/// Read buffer per direction.
const CHUNK: usize = 16 * 1024;

/// What the proxy does to the traffic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Fault {
    /// Forward both ways untouched.
    #[default]
    None,
    /// Delay every chunk, in either direction, by `base` plus a random part of up to `jitter`.
    Latency {
        /// Fixed delay per chunk.
        base: Duration,
        /// Upper bound of the random extra delay.
        jitter: Duration,
    },
    /// Accept, read and discard; never forward, never answer. A connection accepted in this mode
    /// never reaches the upstream, even if the fault is switched later.
    Blackhole,
    /// Close with RST (SO_LINGER 0) once `after_bytes` bytes (both directions together) have
    /// been forwarded on the connection; 0 resets at accept, or at once on a live connection.
    Reset {
        /// Bytes forwarded before the reset.
        after_bytes: u64,
    },
    /// Stop forwarding (input is read and discarded), keep the sockets open for `hold`, then
    /// close them gracefully (FIN).
    SlowClose {
        /// How long the silent socket stays open.
        hold: Duration,
    },
    /// Limit each direction to `bytes_per_sec` (0 is treated as 1).
    BandwidthCap {
        /// Bytes per second per direction.
        bytes_per_sec: u64,
    },
    /// After `after_bytes` bytes have gone toward the client, every further byte toward the
    /// client is replaced by a random one; a connection already past the mark when the fault is
    /// set gets a burst of [`GARBAGE_BURST`] random bytes at once.
    Garbage {
        /// Genuine bytes toward the client before the garbage.
        after_bytes: u64,
    },
    /// Forward client → upstream, never upstream → client (the upstream's answers and its close
    /// are swallowed); the client's socket stays open.
    HalfOpen,
}

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum FaultProxyError {
    /// The listen or upstream address is not a loopback address.
    #[error("fault proxy is loopback-only: {0} is not a loopback address")]
    NotLoopback(SocketAddr),
    /// `max_connections` was 0.
    #[error("fault proxy max_connections must be at least 1")]
    NoConnections,
    /// The listener could not be bound.
    #[error("fault proxy cannot listen on {addr}: {source}")]
    Bind {
        /// Address asked for.
        addr: SocketAddr,
        /// Cause.
        #[source]
        source: io::Error,
    },
}

/// Settings beyond the upstream and the initial fault.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// Loopback address to listen on; `None` picks a free port on the upstream's loopback family.
    pub listen: Option<SocketAddr>,
    /// Connections accepted over the proxy's life; the listener closes after that many.
    pub max_connections: u64,
    /// Bound on connecting to the upstream.
    pub connect_timeout: Duration,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        ProxyOptions {
            listen: None,
            max_connections: 1024,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// Counters since the proxy started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Connections accepted.
    pub accepted: u64,
    /// Connections currently being served.
    pub active: u64,
    /// Upstream connections that failed or timed out.
    pub upstream_failures: u64,
    /// Bytes written to the upstream (counted as the write starts).
    pub bytes_to_upstream: u64,
    /// Genuine bytes written to clients (counted as the write starts).
    pub bytes_to_client: u64,
    /// Connections closed with RST by a [`Fault::Reset`].
    pub resets: u64,
    /// Random bytes written to clients by [`Fault::Garbage`].
    pub garbage_bytes: u64,
    /// Bytes read and dropped (blackhole, half-open, slow close).
    pub discarded_bytes: u64,
}

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    active: AtomicU64,
    upstream_failures: AtomicU64,
    bytes_to_upstream: AtomicU64,
    bytes_to_client: AtomicU64,
    resets: AtomicU64,
    garbage_bytes: AtomicU64,
    discarded_bytes: AtomicU64,
}

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

#[derive(Debug)]
struct Shared {
    fault: watch::Sender<Fault>,
    counters: Counters,
    stop: CancellationToken,
    upstream: SocketAddr,
    connect_timeout: Duration,
}

/// A running fault proxy; stops on [`stop`](Self::stop) or drop.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` with default [`ProxyOptions`].
    pub async fn start(upstream: SocketAddr, fault: Fault) -> Result<FaultProxy, FaultProxyError> {
        FaultProxy::start_with(upstream, fault, ProxyOptions::default()).await
    }

    /// Starts a proxy to `upstream` with explicit options.
    pub async fn start_with(
        upstream: SocketAddr,
        fault: Fault,
        options: ProxyOptions,
    ) -> Result<FaultProxy, FaultProxyError> {
        if !upstream.ip().is_loopback() {
            return Err(FaultProxyError::NotLoopback(upstream));
        }
        let listen = options.listen.unwrap_or_else(|| {
            let ip = match upstream.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            };
            SocketAddr::new(ip, 0)
        });
        if !listen.ip().is_loopback() {
            return Err(FaultProxyError::NotLoopback(listen));
        }
        if options.max_connections == 0 {
            return Err(FaultProxyError::NoConnections);
        }
        let bind_err = |source| FaultProxyError::Bind {
            addr: listen,
            source,
        };
        let listener = TcpListener::bind(listen).await.map_err(bind_err)?;
        let addr = listener.local_addr().map_err(bind_err)?;
        let shared = Arc::new(Shared {
            fault: watch::Sender::new(fault),
            counters: Counters::default(),
            stop: CancellationToken::new(),
            upstream,
            connect_timeout: options.connect_timeout,
        });
        let task = tokio::spawn(accept_loop(
            listener,
            Arc::clone(&shared),
            options.max_connections,
        ));
        Ok(FaultProxy {
            addr,
            shared,
            task: Some(task),
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Switches the fault for new and open connections.
    pub fn set_fault(&self, fault: Fault) {
        self.shared.fault.send_replace(fault);
    }

    /// The fault in force.
    pub fn fault(&self) -> Fault {
        self.shared.fault.borrow().clone()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> ProxyStats {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ProxyStats {
            accepted: get(&c.accepted),
            active: get(&c.active),
            upstream_failures: get(&c.upstream_failures),
            bytes_to_upstream: get(&c.bytes_to_upstream),
            bytes_to_client: get(&c.bytes_to_client),
            resets: get(&c.resets),
            garbage_bytes: get(&c.garbage_bytes),
            discarded_bytes: get(&c.discarded_bytes),
        }
    }

    /// Stops listening, closes every connection and waits for the tasks to end.
    pub async fn stop(mut self) {
        self.shared.stop.cancel();
        if let Some(task) = self.task.take() {
            // A panicked proxy task has nothing left to clean up.
            let _ = task.await;
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.cancel();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, max_connections: u64) {
    let mut conns = JoinSet::new();
    let mut accepted = 0;
    while accepted < max_connections {
        tokio::select! {
            biased;
            _ = shared.stop.cancelled() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            r = listener.accept() => match r {
                Ok((client, peer)) => {
                    accepted += 1;
                    bump(&shared.counters.accepted, 1);
                    // Bound to loopback, so this never fires; kept as a second fence.
                    if !peer.ip().is_loopback() {
                        continue;
                    }
                    conns.spawn(serve(client, Arc::clone(&shared)));
                }
                // Out of descriptors and the like: back off instead of spinning.
                Err(_) => {
                    tokio::select! {
                        _ = shared.stop.cancelled() => break,
                        _ = sleep(Duration::from_millis(20)) => {}
                    }
                }
            },
        }
    }
    drop(listener);
    // Connections end on the stop token or on their own.
    while conns.join_next().await.is_some() {}
}

/// Decrements `active` however the connection ends.
struct ActiveGuard<'a>(&'a Counters);

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Per-connection byte counts shared by the two directions.
#[derive(Debug, Default)]
struct ConnState {
    /// Bytes forwarded both ways (for [`Fault::Reset`]).
    forwarded: AtomicU64,
    /// Genuine bytes toward the client (for [`Fault::Garbage`]).
    to_client: AtomicU64,
    /// The idle-connection garbage burst was sent.
    burst_sent: AtomicBool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    ToUpstream,
    ToClient,
}

/// How one direction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The source closed (propagated as FIN unless swallowed).
    Eof,
    /// Stopped by the proxy or by the other direction.
    Cancelled,
    /// A [`Fault::Reset`] fired.
    Reset,
    /// A [`Fault::SlowClose`] began.
    SlowClose(Duration),
    /// Reading from the source failed (e.g. it was reset).
    ReadError(Dir),
    /// Writing to the sink failed.
    WriteError,
}

impl End {
    /// Which end decides how the connection closes when the two directions disagree.
    fn rank(self) -> u8 {
        match self {
            End::Reset => 5,
            End::SlowClose(_) => 4,
            End::ReadError(_) => 3,
            End::WriteError => 2,
            End::Cancelled => 1,
            End::Eof => 0,
        }
    }
}

async fn serve(client: TcpStream, shared: Arc<Shared>) {
    let counters = &shared.counters;
    bump(&counters.active, 1);
    let _active = ActiveGuard(counters);
    let mut fault_rx = shared.fault.subscribe();
    let initial = fault_rx.borrow_and_update().clone();
    match initial {
        Fault::Blackhole => return sink(client, &shared).await,
        Fault::Reset { after_bytes: 0 } => {
            bump(&counters.resets, 1);
            return abort(&client);
        }
        Fault::SlowClose { hold } => return hold_then_close(client, None, hold, &shared).await,
        _ => {}
    }
    let connect = timeout(shared.connect_timeout, TcpStream::connect(shared.upstream));
    let mut upstream = tokio::select! {
        _ = shared.stop.cancelled() => return,
        r = connect => match r {
            Ok(Ok(s)) => s,
            _ => {
                bump(&counters.upstream_failures, 1);
                return;
            }
        },
    };
    // Small telegrams must not wait for Nagle; failures here only cost latency.
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let mut client = client;
    let cancel = shared.stop.child_token();
    let conn = ConnState::default();
    let end = {
        let (cr, cw) = client.split();
        let (ur, uw) = upstream.split();
        let to_up = run_dir(Dir::ToUpstream, cr, uw, &shared, &conn, &cancel);
        let to_client = run_dir(Dir::ToClient, ur, cw, &shared, &conn, &cancel);
        let (a, b) = tokio::join!(to_up, to_client);
        if a.rank() >= b.rank() {
            a
        } else {
            b
        }
    };
    match end {
        End::Reset => {
            bump(&counters.resets, 1);
            abort(&client);
            abort(&upstream);
        }
        End::SlowClose(hold) => hold_then_close(client, Some(upstream), hold, &shared).await,
        // Pass a peer's reset on to the other side.
        End::ReadError(Dir::ToUpstream) => abort(&upstream),
        End::ReadError(Dir::ToClient) => abort(&client),
        End::Eof | End::Cancelled | End::WriteError => {}
    }
}

/// Runs one direction; when it ends abnormally, the other direction is cancelled too.
async fn run_dir(
    dir: Dir,
    r: ReadHalf<'_>,
    w: WriteHalf<'_>,
    shared: &Shared,
    conn: &ConnState,
    cancel: &CancellationToken,
) -> End {
    let end = pump(dir, r, w, shared, conn, cancel).await;
    if end != End::Eof {
        cancel.cancel();
    }
    end
}

/// Closes with RST: SO_LINGER 0, then the caller drops the socket.
fn abort(stream: &TcpStream) {
    // If the option cannot be set the close is a FIN, which is the best left to do.
    let _ = stream.set_zero_linger();
}

async fn pump(
    dir: Dir,
    mut r: ReadHalf<'_>,
    mut w: WriteHalf<'_>,
    shared: &Shared,
    conn: &ConnState,
    cancel: &CancellationToken,
) -> End {
    let counters = &shared.counters;
    let mut fault_rx = shared.fault.subscribe();
    let mut buf = vec![0u8; CHUNK];
    // The fault in force at the start acts like a switch to it.
    let initial = fault_rx.borrow_and_update().clone();
    if let Err(end) = on_switch(dir, &initial, &mut w, conn, counters, cancel).await {
        return end;
    }
    loop {
        let n = tokio::select! {
            _ = cancel.cancelled() => return End::Cancelled,
            changed = fault_rx.changed() => {
                if changed.is_err() {
                    return End::Cancelled;
                }
                let fault = fault_rx.borrow_and_update().clone();
                if let Err(end) = on_switch(dir, &fault, &mut w, conn, counters, cancel).await {
                    return end;
                }
                continue;
            }
            read = r.read(&mut buf) => match read {
                Ok(0) => {
                    let fault = fault_rx.borrow().clone();
                    return on_eof(dir, &fault, &mut w).await;
                }
                Ok(n) => n,
                Err(_) => return End::ReadError(dir),
            },
        };
        let fault = fault_rx.borrow().clone();
        if let Err(end) = forward(dir, &fault, &mut buf[..n], &mut w, conn, counters, cancel).await
        {
            return end;
        }
    }
}

/// Immediate effects of a fault on an open connection, before any new data.
async fn on_switch(
    dir: Dir,
    fault: &Fault,
    w: &mut WriteHalf<'_>,
    conn: &ConnState,
    counters: &Counters,
    cancel: &CancellationToken,
) -> Result<(), End> {
    match *fault {
        Fault::Reset { after_bytes } if conn.forwarded.load(Ordering::Relaxed) >= after_bytes => {
            Err(End::Reset)
        }
        Fault::SlowClose { hold } => Err(End::SlowClose(hold)),
        Fault::Garbage { after_bytes }
            if dir == Dir::ToClient
                && conn.to_client.load(Ordering::Relaxed) >= after_bytes
                && !conn.burst_sent.swap(true, Ordering::Relaxed) =>
        {
            let mut burst = [0u8; GARBAGE_BURST];
            rand::fill(&mut burst[..]);
            bump(&counters.garbage_bytes, GARBAGE_BURST as u64);
            write(w, &burst, cancel).await?;
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The source closed: pass the FIN on unless the fault swallows the upstream's side.
async fn on_eof(dir: Dir, fault: &Fault, w: &mut WriteHalf<'_>) -> End {
    let swallow = dir == Dir::ToClient && matches!(fault, Fault::HalfOpen | Fault::Blackhole);
    if !swallow {
        // The peer may already be gone; the connection is ending either way.
        let _ = w.shutdown().await;
    }
    End::Eof
}

/// Applies the fault to one chunk read from the source.
async fn forward(
    dir: Dir,
    fault: &Fault,
    chunk: &mut [u8],
    w: &mut WriteHalf<'_>,
    conn: &ConnState,
    counters: &Counters,
    cancel: &CancellationToken,
) -> Result<(), End> {
    let n = chunk.len() as u64;
    match *fault {
        Fault::None => deliver(dir, chunk, w, conn, counters, cancel).await,
        Fault::Latency { base, jitter } => {
            let extra = if jitter.is_zero() {
                Duration::ZERO
            } else {
                let nanos = u64::try_from(jitter.as_nanos()).unwrap_or(u64::MAX);
                Duration::from_nanos(rand::random_range(0..=nanos))
            };
            pause(base + extra, cancel).await?;
            deliver(dir, chunk, w, conn, counters, cancel).await
        }
        Fault::Blackhole => {
            bump(&counters.discarded_bytes, n);
            Ok(())
        }
        Fault::HalfOpen if dir == Dir::ToClient => {
            bump(&counters.discarded_bytes, n);
            Ok(())
        }
        Fault::HalfOpen => deliver(dir, chunk, w, conn, counters, cancel).await,
        Fault::Reset { after_bytes } => {
            let done = conn.forwarded.load(Ordering::Relaxed);
            let room = after_bytes.saturating_sub(done);
            if n < room {
                return deliver(dir, chunk, w, conn, counters, cancel).await;
            }
            let cut = usize::try_from(room)
                .unwrap_or(chunk.len())
                .min(chunk.len());
            deliver(dir, &chunk[..cut], w, conn, counters, cancel).await?;
            Err(End::Reset)
        }
        Fault::SlowClose { hold } => {
            bump(&counters.discarded_bytes, n);
            Err(End::SlowClose(hold))
        }
        Fault::BandwidthCap { bytes_per_sec } => {
            let bps = bytes_per_sec.max(1);
            // Slices of a twentieth of a second keep the pacing smooth.
            let slice = usize::try_from(bps / 20).unwrap_or(usize::MAX).max(1);
            for part in chunk.chunks(slice) {
                deliver(dir, part, w, conn, counters, cancel).await?;
                let secs = part.len() as f64 / bps as f64;
                pause(Duration::from_secs_f64(secs), cancel).await?;
            }
            Ok(())
        }
        Fault::Garbage { after_bytes } if dir == Dir::ToClient => {
            let done = conn.to_client.load(Ordering::Relaxed);
            let room = after_bytes.saturating_sub(done);
            let keep = usize::try_from(room)
                .unwrap_or(chunk.len())
                .min(chunk.len());
            let (genuine, spoiled) = chunk.split_at_mut(keep);
            deliver(dir, genuine, w, conn, counters, cancel).await?;
            if !spoiled.is_empty() {
                rand::fill(&mut spoiled[..]);
                bump(&counters.garbage_bytes, spoiled.len() as u64);
                write(w, spoiled, cancel).await?;
                // Once past the mark, the idle burst would only add more of the same.
                conn.burst_sent.store(true, Ordering::Relaxed);
            }
            Ok(())
        }
        Fault::Garbage { .. } => deliver(dir, chunk, w, conn, counters, cancel).await,
    }
}

/// Writes genuine bytes and counts them.
async fn deliver(
    dir: Dir,
    data: &[u8],
    w: &mut WriteHalf<'_>,
    conn: &ConnState,
    counters: &Counters,
    cancel: &CancellationToken,
) -> Result<(), End> {
    if data.is_empty() {
        return Ok(());
    }
    // Counted before the write so a test that has just read the bytes sees them counted.
    let n = data.len() as u64;
    bump(&conn.forwarded, n);
    match dir {
        Dir::ToUpstream => bump(&counters.bytes_to_upstream, n),
        Dir::ToClient => {
            bump(&conn.to_client, n);
            bump(&counters.bytes_to_client, n);
        }
    }
    write(w, data, cancel).await?;
    Ok(())
}

/// A write that a stuck peer cannot hold past cancellation.
async fn write(w: &mut WriteHalf<'_>, data: &[u8], cancel: &CancellationToken) -> Result<(), End> {
    tokio::select! {
        _ = cancel.cancelled() => Err(End::Cancelled),
        r = w.write_all(data) => r.map_err(|_| End::WriteError),
    }
}

async fn pause(d: Duration, cancel: &CancellationToken) -> Result<(), End> {
    tokio::select! {
        _ = cancel.cancelled() => Err(End::Cancelled),
        _ = sleep(d) => Ok(()),
    }
}

/// Reads and discards until the client closes or the proxy stops.
async fn sink(mut client: TcpStream, shared: &Shared) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        tokio::select! {
            _ = shared.stop.cancelled() => return,
            r = client.read(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => bump(&shared.counters.discarded_bytes, n as u64),
            },
        }
    }
}

/// Keeps the sockets open and silent for `hold`, draining input so the close is a FIN (unread
/// data at close would turn it into a RST), then closes them.
async fn hold_then_close(
    mut client: TcpStream,
    mut upstream: Option<TcpStream>,
    hold: Duration,
    shared: &Shared,
) {
    let deadline = Instant::now() + hold;
    let mut cbuf = vec![0u8; CHUNK];
    let mut ubuf = vec![0u8; CHUNK];
    let mut client_open = true;
    let mut upstream_open = upstream.is_some();
    loop {
        tokio::select! {
            _ = shared.stop.cancelled() => break,
            _ = sleep_until(deadline) => break,
            r = client.read(&mut cbuf), if client_open => match r {
                Ok(0) | Err(_) => client_open = false,
                Ok(n) => bump(&shared.counters.discarded_bytes, n as u64),
            },
            r = read_opt(&mut upstream, &mut ubuf), if upstream_open => match r {
                Ok(0) | Err(_) => upstream_open = false,
                Ok(n) => bump(&shared.counters.discarded_bytes, n as u64),
            },
        }
    }
    // Best effort: either peer may already be gone.
    let _ = client.shutdown().await;
    if let Some(up) = upstream.as_mut() {
        let _ = up.shutdown().await;
    }
}

async fn read_opt(stream: &mut Option<TcpStream>, buf: &mut [u8]) -> io::Result<usize> {
    match stream {
        Some(s) => s.read(buf).await,
        None => Ok(0),
    }
}
