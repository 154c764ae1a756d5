//! Link tasks: one task owns each TCP connection (reads, writes and heartbeats in one loop).
//!
//! Outbound links reconnect with jittered exponential backoff; inbound listeners accept only
//! the configured peers. A link answers the peer's polls itself and polls when idle; every
//! other frame goes to the institution actor. A framing error (garbage, oversized length)
//! closes only this connection.
//!
//! A `per_telegram` link (`per_telegram.rs`) opens or accepts one connection per telegram
//! instead.
//!
//! A link with TLS (`crate::tls`) runs the handshake on each connection first, in the task
//! that owns it, within its `handshake_timeout`; the framing then runs over the TLS stream as
//! over TCP (TCP_NODELAY and TCP_QUICKACK stay on the socket underneath). A failed handshake
//! is logged with its reason and counted (`fep_tls_handshake_failures_total`): outbound it is a
//! failed connect (backoff as for a refused one), inbound it closes that connection only.
//!
//! On shutdown a link writes what is queued, flushes and closes; its [`LinkTask`] completes
//! only then, so the gateway can wait for it instead of guessing. The gateway signals it only
//! after every institution has signed off and received the answer (or given up on it), so a
//! recv line is still open when the sign-off's answer comes.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backon::BackoffBuilder;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::codec::Framed;

use crate::clock::{poll_stamp, SharedClock, Tz};
use crate::framing::{FrameCodec, FramingConfigError};
use crate::institution::{Beat, Heartbeat, LinkEvent, ShutdownRx};
use crate::profile::{FrameKind, Profile};
use crate::settings::{Direction, InstitutionSettings, LinkSettings, Role};
use crate::tls::{LinkStream, LinkTls};

mod per_telegram;

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// Frames queued for writing on one link.
const LINK_QUEUE: usize = 4096;
/// How long a connect attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a link cannot start.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The institution's framing settings are invalid.
    #[error("institution {institution}: framing")]
    Framing {
        /// Institution name.
        institution: String,
        /// What is wrong.
        #[source]
        source: FramingConfigError,
    },
    /// An inbound link cannot listen.
    #[error("institution {institution} link {link}: cannot listen on {addr}")]
    Bind {
        /// Institution name.
        institution: String,
        /// Link name.
        link: String,
        /// The configured address.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// A started link: where it listens (inbound links) and its task, which completes once the
/// link has flushed and closed after shutdown.
pub(crate) struct LinkTask {
    /// The bound address of an inbound link (the real port when 0 was configured).
    pub listen: Option<SocketAddr>,
    /// The link's task.
    pub done: JoinHandle<()>,
}

/// What a link task needs from its institution.
#[derive(Clone)]
pub(crate) struct LinkContext {
    pub institution: Arc<str>,
    pub profile: Arc<Profile>,
    pub codec: FrameCodec,
    pub poll_interval: Option<Duration>,
    pub answer_polls: bool,
    pub events: mpsc::Sender<LinkEvent>,
    pub clock: SharedClock,
    /// The institution's business time zone (poll stamps).
    pub zone: Tz,
}

impl LinkContext {
    pub fn new(
        settings: &InstitutionSettings,
        events: mpsc::Sender<LinkEvent>,
        clock: SharedClock,
    ) -> Result<LinkContext, LinkError> {
        let codec =
            FrameCodec::new(settings.framing.clone(), settings.max_frame).map_err(|source| {
                LinkError::Framing {
                    institution: settings.name.clone(),
                    source,
                }
            })?;
        Ok(LinkContext {
            institution: Arc::from(settings.name.as_str()),
            profile: Arc::new(settings.profile.clone()),
            codec,
            poll_interval: settings.poll_interval,
            answer_polls: settings.answer_peer_polls,
            events,
            clock,
            zone: settings.time_zone,
        })
    }
}

/// A link's name and TLS: what turns its TCP connections into [`LinkStream`]s.
#[derive(Clone)]
pub(crate) struct Security {
    link: Arc<str>,
    tls: Option<Arc<LinkTls>>,
}

impl Security {
    fn of(link: &LinkSettings) -> Security {
        Security {
            link: Arc::from(link.name.as_str()),
            tls: link.tls.clone(),
        }
    }

    /// `tcp` as is without TLS, else after a handshake with `peer`; a failed handshake is
    /// logged and counted, and the error says why.
    async fn secure(
        &self,
        ctx: &LinkContext,
        tcp: TcpStream,
        peer: SocketAddr,
    ) -> Result<LinkStream, String> {
        let Some(tls) = &self.tls else {
            return Ok(LinkStream::Plain(tcp));
        };
        tls.handshake(tcp).await.map_err(|f| {
            crate::tls::record_failure(&ctx.institution, &self.link, &peer.to_string(), &f);
            format!("{peer}: {f}")
        })
    }
}

/// Starts the task(s) of one configured link. An inbound link is listening when this returns,
/// and its institution has been told the bound address.
pub(crate) async fn start(
    ctx: LinkContext,
    index: usize,
    link: LinkSettings,
    shutdown: ShutdownRx,
) -> Result<LinkTask, LinkError> {
    if let Some(tls) = &link.tls {
        crate::tls::export_expiry(&ctx.institution, &link.name, tls);
    }
    match link.role.clone() {
        Role::Outbound { connect } => Ok(LinkTask {
            listen: None,
            done: match link.per_telegram() {
                Some(timing) => tokio::spawn(per_telegram::outbound(
                    ctx, index, link, connect, timing, shutdown,
                )),
                None => tokio::spawn(outbound(ctx, index, link, connect, shutdown)),
            },
        }),
        Role::Inbound { listen, .. } => {
            let bind_error = |source| LinkError::Bind {
                institution: ctx.institution.to_string(),
                link: link.name.clone(),
                addr: listen,
                source,
            };
            let listener = TcpListener::bind(listen).await.map_err(bind_error)?;
            let bound = listener.local_addr().map_err(bind_error)?;
            // Queued before any connection's events, so status shows it from the start.
            let _ = ctx
                .events
                .send(LinkEvent::Listening {
                    link: index,
                    addr: bound,
                })
                .await;
            Ok(LinkTask {
                listen: Some(bound),
                done: match link.per_telegram() {
                    Some(timing) => tokio::spawn(per_telegram::inbound(
                        ctx, index, link, listener, timing, shutdown,
                    )),
                    None => tokio::spawn(inbound(ctx, index, link, listener, shutdown)),
                },
            })
        }
    }
}

fn backoff() -> impl Iterator<Item = Duration> {
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(50))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .without_max_times()
        .build()
}

async fn outbound(
    ctx: LinkContext,
    index: usize,
    link: LinkSettings,
    addr: SocketAddr,
    mut shutdown: ShutdownRx,
) {
    let mut delays = backoff();
    let security = Security::of(&link);
    loop {
        if *shutdown.borrow() {
            return;
        }
        let connect = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr));
        let connected = tokio::select! {
            c = connect => c,
            _ = shutdown.changed() => return,
        };
        match connected {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                // A failed handshake is a failed connect: logged and counted, then backoff.
                let secured = tokio::select! {
                    s = security.secure(&ctx, stream, addr) => s.ok(),
                    _ = shutdown.changed() => return,
                };
                if let Some(stream) = secured {
                    delays = backoff();
                    tracing::info!(institution = %ctx.institution, link = %link.name, %addr, tls = security.tls.is_some(), "connected");
                    run(&ctx, index, link.direction, stream, &mut shutdown).await;
                    if *shutdown.borrow() {
                        return;
                    }
                }
            }
            Ok(Err(e)) => {
                tracing::debug!(institution = %ctx.institution, link = %link.name, %addr, error = %e, "connect failed")
            }
            Err(_) => {
                tracing::debug!(institution = %ctx.institution, link = %link.name, %addr, "connect timed out")
            }
        }
        let delay = delays.next().unwrap_or(Duration::from_secs(5));
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn inbound(
    ctx: LinkContext,
    index: usize,
    link: LinkSettings,
    listener: TcpListener,
    mut shutdown: ShutdownRx,
) {
    let Role::Inbound { allowed_peers, .. } = &link.role else {
        return;
    };
    // The connections' tasks: on shutdown each flushes and closes, and this task ends after
    // them.
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            _ = shutdown.changed() => break,
        };
        let Some((stream, peer)) = admit(accepted, allowed_peers, &ctx, &link.name).await else {
            continue;
        };
        tracing::info!(institution = %ctx.institution, link = %link.name, %peer, "peer connected");
        let (ctx, direction, mut shutdown) = (ctx.clone(), link.direction, shutdown.clone());
        let security = Security::of(&link);
        connections.spawn(async move {
            // The handshake in the connection's own task: a slow peer holds up no other.
            if let Ok(stream) = security.secure(&ctx, stream, peer).await {
                run(&ctx, index, direction, stream, &mut shutdown).await;
            }
        });
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// The connection just accepted and its peer if that is an allowed peer (refused ones are
/// closed); `None` after a pause when accepting failed (e.g. out of file descriptors).
async fn admit(
    accepted: std::io::Result<(TcpStream, SocketAddr)>,
    allowed_peers: &[IpAddr],
    ctx: &LinkContext,
    link: &str,
) -> Option<(TcpStream, SocketAddr)> {
    let (stream, peer) = match accepted {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(institution = %ctx.institution, link, error = %e, "accept failed");
            // A pause, not a synchronisation: the error is usually a resource running out.
            tokio::time::sleep(Duration::from_millis(100)).await;
            return None;
        }
    };
    if !allowed_peers.is_empty() && !allowed_peers.contains(&peer.ip()) {
        tracing::warn!(institution = %ctx.institution, link, %peer, "connection from a peer not in allowed_peers refused");
        return None;
    }
    let _ = stream.set_nodelay(true);
    Some((stream, peer))
}

/// Owns one connection until it closes.
async fn run(
    ctx: &LinkContext,
    index: usize,
    direction: Direction,
    stream: LinkStream,
    shutdown: &mut ShutdownRx,
) {
    let mut framed = Framed::new(stream, ctx.codec.clone());
    let (tx, mut rx) = mpsc::channel::<Bytes>(LINK_QUEUE);
    let conn = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
    if ctx
        .events
        .send(LinkEvent::Up {
            link: index,
            conn,
            sender: tx,
            can_send: !matches!(direction, Direction::Recv),
        })
        .await
        .is_err()
    {
        return;
    }
    let mut heartbeat = ctx.poll_interval.map(|every| Heartbeat::new(every, now()));
    let mut tick = tokio::time::interval(
        heartbeat
            .as_ref()
            .map_or(Duration::from_secs(1), Heartbeat::tick_period),
    );
    let reason = loop {
        tokio::select! {
            frame = framed.next() => match frame {
                Some(Ok(frame)) => {
                    if let Some(h) = &mut heartbeat { h.received(now()); }
                    ack_at_once(framed.get_ref().tcp());
                    match ctx.profile.classify(&frame) {
                        FrameKind::PollRequest if ctx.answer_polls => {
                            if let Some(answer) = ctx.profile.poll_answer(&frame) {
                                if framed.send(Bytes::from(answer)).await.is_err() { break "write failed"; }
                                if let Some(h) = &mut heartbeat { h.sent(now()); }
                            }
                        }
                        FrameKind::PollRequest | FrameKind::PollResponse => {}
                        _ => if ctx.events.send(LinkEvent::Frame { link: index, conn, frame }).await.is_err() { break "institution stopped"; },
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!(institution = %ctx.institution, link = index, error = %e, "framing error: closing the connection");
                    break "framing error";
                }
                None => break "closed by peer",
            },
            out = rx.recv() => {
                let Some(out) = out else { break "institution stopped" };
                if framed.feed(out).await.is_err() { break "write failed"; }
                // Batch whatever else is queued before one flush.
                while let Ok(more) = rx.try_recv() {
                    if framed.feed(more).await.is_err() { break; }
                }
                if SinkExt::<Bytes>::flush(&mut framed).await.is_err() { break "write failed"; }
                if let Some(h) = &mut heartbeat { h.sent(now()); }
            }
            _ = tick.tick(), if heartbeat.is_some() => {
                match heartbeat.as_ref().map(|h| h.on_tick(now())) {
                    Some(Beat::PeerSilent) => break "peer silent for 3 poll intervals",
                    Some(Beat::Poll) => {
                        let stamp = poll_stamp(&ctx.clock.now().with_timezone(&ctx.zone));
                        if let Some(poll) = ctx.profile.poll_request(&stamp) {
                            if framed.send(Bytes::from(poll)).await.is_err() { break "write failed"; }
                            if let Some(h) = &mut heartbeat { h.sent(now()); }
                        }
                    }
                    Some(Beat::Quiet) | None => {}
                }
            }
            _ = shutdown.changed() => {
                // Let queued frames (e.g. the sign-off) go out before closing.
                while let Ok(more) = rx.try_recv() {
                    let _ = framed.feed(more).await;
                }
                let _ = SinkExt::<Bytes>::flush(&mut framed).await;
                break "shutdown";
            }
        }
    };
    tracing::info!(institution = %ctx.institution, link = index, reason, "link closed");
    let _ = ctx.events.send(LinkEvent::Down { link: index, conn }).await;
}

/// The link's monotonic time: tokio's clock, so tests can pause and advance it.
fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// Asks the kernel to acknowledge what arrives at once instead of delaying the ACK (up to
/// 40 ms on Linux). An institution host that leaves Nagle's algorithm on holds each answer
/// back until the previous one is acknowledged, so delayed ACKs would add up to 40 ms to every
/// other response (measured: B's p99 47–55 ms → 11–24 ms in the isolation test with such a
/// host). The kernel drops the flag after a while, so it is set again after each frame.
#[cfg(target_os = "linux")]
fn ack_at_once(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
}

#[cfg(not(target_os = "linux"))]
fn ack_at_once(_stream: &TcpStream) {}

#[cfg(test)]
mod tests {
    use tokio::sync::watch;

    use super::*;
    use crate::clock::SystemClock;
    use crate::testing::within;

    /// An idle link polls after `poll_interval`, and closes when the peer has said nothing for
    /// three intervals; on shutdown its task ends.
    #[tokio::test(start_paused = true)]
    async fn an_idle_link_polls_and_drops_a_silent_peer() {
        let listener = within(TcpListener::bind("127.0.0.1:0")).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut settings =
            InstitutionSettings::hecto("hecto", vec![LinkSettings::outbound_duplex(addr)]);
        settings.poll_interval = Some(Duration::from_secs(30));
        let (events_tx, mut events) = mpsc::channel(16);
        let ctx = LinkContext::new(&settings, events_tx, Arc::new(SystemClock)).unwrap();
        let (stop, stop_rx) = watch::channel(false);
        let task = within(start(ctx, 0, settings.links[0].clone(), stop_rx))
            .await
            .unwrap();
        assert_eq!(task.listen, None, "outbound");
        let (peer, _) = within(listener.accept()).await.unwrap();
        let mut peer = Framed::new(
            peer,
            FrameCodec::new(settings.framing.clone(), 4096).unwrap(),
        );
        // The institution's end of the link's writer queue: dropping it closes the link.
        let (conn, _writer) = match within(events.recv()).await {
            Some(LinkEvent::Up {
                conn,
                can_send,
                sender,
                ..
            }) => {
                assert!(can_send, "a duplex link sends");
                (conn, sender)
            }
            _ => panic!("expected the link up"),
        };
        tokio::time::advance(Duration::from_secs(30)).await;
        let poll = within(peer.next()).await.unwrap().unwrap();
        assert!(poll.starts_with(b"HDRREQPOLL"), "{poll:?}");
        // Silent since it connected: after three intervals the link gives up on the peer.
        tokio::time::advance(Duration::from_secs(61)).await;
        loop {
            match within(events.recv()).await {
                Some(LinkEvent::Down { conn: c, .. }) => {
                    assert_eq!(c, conn);
                    break;
                }
                Some(_) => {}
                None => panic!("events closed"),
            }
        }
        let _ = stop.send(true);
        within(task.done).await.unwrap();
    }
}
