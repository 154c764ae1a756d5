//! Connections: those the listener accepts from the gateway, the persistent connect-back line
//! to the gateway's inbound listener, and one-telegram connections. Each persistent
//! connection is one task that reads and answers, writes delayed answers and the notices and
//! commands routed to it.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::FuturesUnordered;
use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio::time::timeout;
use tokio_util::codec::Framed;

use fep_client::framing::FrameCodec;

use super::{inbound, lock, outbound, Shared, SpecSimError};

/// Telegrams queued for one connection.
const OUT_QUEUE: usize = 256;
/// Answers waiting for their latency on one connection; beyond, answers are dropped.
const MAX_DELAYED: usize = 10_000;
/// Deadline for writing to a peer that does not read.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause after a failed accept (e.g. out of file descriptors), so the loop does not spin.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Where the institution's own telegrams can go.
#[derive(Default)]
pub(super) struct Routes {
    /// Persistent accepted connections by id (ids grow: the last is the newest).
    sessions: BTreeMap<u64, mpsc::Sender<Bytes>>,
    /// The persistent connect-back line while it is up.
    back: Option<(u64, mpsc::Sender<Bytes>)>,
    /// The gateway's inbound listener, once connect-back is on.
    pub back_addr: Option<SocketAddr>,
    next_id: u64,
}

/// How a telegram the institution starts reaches the gateway now.
enum Route {
    /// A new connection for this telegram.
    OneShot(SocketAddr),
    /// A persistent connection's queue.
    Line(mpsc::Sender<Bytes>),
    /// No way yet.
    Nowhere,
}

impl Shared {
    fn route(&self) -> Route {
        let routes = lock(&self.routes);
        match routes.back_addr {
            Some(addr) if self.scenario.connections.per_telegram_connect_back => {
                Route::OneShot(addr)
            }
            Some(_) => routes
                .back
                .as_ref()
                .map_or(Route::Nowhere, |(_, tx)| Route::Line(tx.clone())),
            None => routes
                .sessions
                .last_key_value()
                .map_or(Route::Nowhere, |(_, tx)| Route::Line(tx.clone())),
        }
    }

    /// Whether a notice or command could go out now.
    pub(super) fn route_available(&self) -> bool {
        !matches!(self.route(), Route::Nowhere)
    }

    fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.scenario.connections.connect_timeout_ms)
    }
}

/// Sends a telegram the institution starts; false when it could not go out.
pub(super) async fn send_out(shared: &Arc<Shared>, telegram: Bytes) -> bool {
    let sent = match shared.route() {
        Route::OneShot(addr) => one_shot(shared, addr, telegram).await,
        Route::Line(tx) => tx.send_timeout(telegram, WRITE_TIMEOUT).await.is_ok(),
        Route::Nowhere => false,
    };
    if !sent {
        shared.stat(|s| s.undeliverable += 1);
    }
    sent
}

async fn write(framed: &mut Framed<TcpStream, FrameCodec>, telegram: Bytes) -> bool {
    matches!(
        timeout(WRITE_TIMEOUT, framed.send(telegram)).await,
        Ok(Ok(()))
    )
}

/// Accepts the gateway's connections until cancelled.
pub(super) async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let limit = Arc::new(Semaphore::new(
        shared.scenario.connections.max_connections.max(1),
    ));
    loop {
        let accepted = tokio::select! {
            _ = shared.token.cancelled() => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                let Ok(permit) = limit.clone().try_acquire_owned() else {
                    tracing::warn!(%peer, "too many connections; refused");
                    continue;
                };
                let s = shared.clone();
                shared.spawn(async move {
                    let _permit = permit;
                    serve(s, stream, Role::Accepted).await;
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::select! {
                    _ = shared.token.cancelled() => break,
                    _ = tokio::time::sleep(ACCEPT_PAUSE) => {}
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Accepted,
    Back,
}

type Delayed = Pin<Box<dyn Future<Output = Bytes> + Send>>;

/// Serves one persistent (or, accepted with `per_telegram_listen`, one-telegram) connection.
async fn serve(shared: Arc<Shared>, stream: TcpStream, role: Role) {
    // Answers are small and latency matters more than segments.
    let _ = stream.set_nodelay(true);
    let per_telegram = role == Role::Accepted && shared.scenario.connections.per_telegram_listen;
    let mut framed = Framed::new(stream, shared.codec.clone());
    let (tx, mut rx) = mpsc::channel::<Bytes>(OUT_QUEUE);
    let id = (!per_telegram).then(|| register(&shared, role, tx));
    // Counted once it can carry the institution's telegrams: tests wait on it.
    shared.stat(|s| s.connections += 1);
    if id.is_some() {
        outbound::maybe_open(&shared);
    }
    let idle = Duration::from_millis(shared.scenario.connections.idle_timeout_ms.max(1));
    let mut delayed: FuturesUnordered<Delayed> = FuturesUnordered::new();
    let mut reading = true;
    loop {
        if per_telegram && !reading && delayed.is_empty() {
            break;
        }
        let out = tokio::select! {
            _ = shared.token.cancelled() => break,
            read = timeout(idle, framed.next()), if reading => match read {
                Ok(Some(Ok(frame))) => {
                    let answers = inbound::handle(&shared, &frame);
                    reading = !per_telegram;
                    let mut now = Vec::new();
                    for (delay, answer) in answers {
                        if delay.is_zero() {
                            now.push(answer);
                        } else if delayed.len() < MAX_DELAYED {
                            delayed.push(Box::pin(async move {
                                tokio::time::sleep(delay).await;
                                answer
                            }));
                        }
                    }
                    now
                }
                Ok(Some(Err(e))) => {
                    tracing::warn!(error = %e, "bad frame; closing");
                    break;
                }
                Ok(None) | Err(_) => break,
            },
            Some(answer) = delayed.next(), if !delayed.is_empty() => vec![answer],
            Some(telegram) = rx.recv() => vec![telegram],
        };
        let mut ok = true;
        for t in out {
            ok &= write(&mut framed, t).await;
        }
        if !ok {
            break;
        }
    }
    if let Some(id) = id {
        unregister(&shared, role, id);
    }
}

fn register(shared: &Shared, role: Role, tx: mpsc::Sender<Bytes>) -> u64 {
    let mut routes = lock(&shared.routes);
    routes.next_id += 1;
    let id = routes.next_id;
    match role {
        Role::Accepted => {
            routes.sessions.insert(id, tx);
        }
        Role::Back => routes.back = Some((id, tx)),
    }
    id
}

fn unregister(shared: &Shared, role: Role, id: u64) {
    let mut routes = lock(&shared.routes);
    match role {
        Role::Accepted => {
            routes.sessions.remove(&id);
        }
        Role::Back => {
            if routes.back.as_ref().is_some_and(|(b, _)| *b == id) {
                routes.back = None;
            }
        }
    }
}

/// Turns connect-back on: notices and commands go to `addr` from now on.
pub(super) fn start_connect_back(
    shared: &Arc<Shared>,
    addr: SocketAddr,
) -> Result<(), SpecSimError> {
    {
        let mut routes = lock(&shared.routes);
        if let Some(old) = routes.back_addr {
            return Err(SpecSimError::AlreadyConnectingBack(old));
        }
        routes.back_addr = Some(addr);
    }
    if shared.scenario.connections.per_telegram_connect_back {
        // Every telegram makes its own connection: the gateway is reachable now.
        outbound::maybe_open(shared);
    } else {
        let s = shared.clone();
        shared.spawn(back_loop(s, addr));
    }
    Ok(())
}

/// Keeps one persistent connection to the gateway's inbound listener.
async fn back_loop(shared: Arc<Shared>, addr: SocketAddr) {
    let pause = Duration::from_millis(shared.scenario.connections.reconnect_ms.max(1));
    loop {
        let connected = tokio::select! {
            _ = shared.token.cancelled() => break,
            c = timeout(shared.connect_timeout(), TcpStream::connect(addr)) => c,
        };
        match connected {
            Ok(Ok(stream)) => {
                serve(shared.clone(), stream, Role::Back).await;
            }
            Ok(Err(e)) => tracing::debug!(%addr, error = %e, "connect-back failed"),
            Err(_) => tracing::debug!(%addr, "connect-back timed out"),
        }
        tokio::select! {
            _ = shared.token.cancelled() => break,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// One telegram on its own connection: connect, send, read the acknowledgement (answering
/// whatever the gateway sends instead), close. True when the telegram was written.
async fn one_shot(shared: &Arc<Shared>, addr: SocketAddr, telegram: Bytes) -> bool {
    let wait = shared.connect_timeout();
    let stream = tokio::select! {
        _ = shared.token.cancelled() => return false,
        c = timeout(wait, TcpStream::connect(addr)) => match c {
            Ok(Ok(s)) => s,
            _ => return false,
        },
    };
    shared.stat(|s| s.connections += 1);
    let _ = stream.set_nodelay(true);
    let mut framed = Framed::new(stream, shared.codec.clone());
    if !write(&mut framed, telegram).await {
        return false;
    }
    let read = tokio::select! {
        _ = shared.token.cancelled() => return true,
        r = timeout(wait, framed.next()) => r,
    };
    if let Ok(Some(Ok(frame))) = read {
        for (_, answer) in inbound::handle(shared, &frame) {
            if !write(&mut framed, answer).await {
                break;
            }
        }
    }
    true
}
