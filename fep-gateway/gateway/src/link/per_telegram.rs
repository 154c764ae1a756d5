//! `per_telegram` links: one TCP connection per telegram, as KIBNET/EFMS-style hosts use on
//! their receiving side.
//!
//! Inbound: the listener stays up, and so does the link for its actor (one standing
//! connection, reported once, that never carries anything). Each accepted connection is owned
//! by its own task: it reads one telegram (within `read_timeout`), hands it to the actor with
//! a reply queue of its own ([`LinkEvent::Telegram`]), writes whatever the actor answers on it
//! (the notice's acknowledgement), then closes — as soon as the actor has let go of the
//! queue, or after `reply_timeout`. A second telegram on the same connection is not handled:
//! after the answer the gateway closes its side and discards what else comes (logged), so a
//! notice sent that way is not acknowledged and the institution sends it again, on a new
//! connection. Garbage, silence or a framing error closes only that connection.
//!
//! Outbound: the actor queues telegrams on the link as on any other; each one gets a new
//! connection (at most `max_connections` at once, the rest wait in the bounded queue): connect,
//! write, read one answer (`direction = "both"`, within `reply_timeout`), hand it over as
//! [`LinkEvent::Frame`], close. A telegram whose connection cannot be opened is reported back
//! ([`LinkEvent::NotWritten`]): its caller hears `rejected`, never `unknown`. A failed connect
//! takes the link down (status, session and admission see it); while down, queued telegrams
//! are refused at once and a bare connect is tried under backoff; the first success brings it
//! up again. Once written, a telegram may have reached the institution: a connection that
//! fails after that leaves its request to its deadline (`unknown`, then resolved by inquiry).

use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::codec::Framed;

use super::{
    ack_at_once, admit, backoff, LinkContext, Security, CONNECT_TIMEOUT, LINK_QUEUE, NEXT_CONN,
};
use crate::domain::RejectReason;
use crate::framing::FrameCodec;
use crate::institution::{LinkEvent, ShutdownRx};
use crate::profile::FrameKind;
use crate::settings::{Direction, LinkSettings, PerTelegram, Role};
use crate::tls::LinkStream;

/// Answers the actor may queue for one inbound telegram before it waits.
const REPLIES: usize = 4;
/// After answering, how long the gateway waits for the peer to close its side too (reading
/// and discarding) before dropping the connection: closing with unread input would reset
/// it, and could destroy the answer before the peer has read it.
const LINGER: Duration = Duration::from_secs(1);

fn next_conn() -> u64 {
    NEXT_CONN.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Whether the actor gets this frame: polls are a persistent link's business.
fn for_the_actor(ctx: &LinkContext, frame: &[u8]) -> bool {
    !matches!(
        ctx.profile.classify(frame),
        FrameKind::PollRequest | FrameKind::PollResponse
    )
}

// ----- inbound -------------------------------------------------------------------------------

/// Accepts connections until shutdown, one task per connection (at most
/// `max_connections`; more wait in the listen backlog).
pub(super) async fn inbound(
    ctx: LinkContext,
    index: usize,
    link: LinkSettings,
    listener: TcpListener,
    timing: PerTelegram,
    mut shutdown: ShutdownRx,
) {
    let Role::Inbound { allowed_peers, .. } = &link.role else {
        return;
    };
    // The link can receive as long as it listens. Nothing is ever queued on this standing
    // connection (`Links::reply_sender` never hands it out), its receiver only keeps it open.
    let (standing, _never_read) = mpsc::channel(1);
    let conn = next_conn();
    let up = LinkEvent::Up {
        link: index,
        conn,
        sender: standing,
        can_send: false,
    };
    if ctx.events.send(up).await.is_err() {
        return;
    }
    let security = Security::of(&link);
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept(), if connections.len() < timing.max_connections => a,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            _ = shutdown.changed() => break,
        };
        let Some((stream, peer)) = admit(accepted, allowed_peers, &ctx, &link.name).await else {
            continue;
        };
        tracing::debug!(institution = %ctx.institution, link = %link.name, %peer, "telegram connection accepted");
        let (ctx, security, shutdown) = (ctx.clone(), security.clone(), shutdown.clone());
        connections.spawn(async move {
            // The handshake is bounded by its own timeout; a failure closes this connection.
            if let Ok(stream) = security.secure(&ctx, stream, peer).await {
                one_telegram(ctx, index, stream, timing, shutdown).await;
            }
        });
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    let _ = ctx.events.send(LinkEvent::Down { link: index, conn }).await;
}

/// Owns one accepted connection: its telegram in, the actor's answers out, then closes.
async fn one_telegram(
    ctx: LinkContext,
    index: usize,
    stream: LinkStream,
    timing: PerTelegram,
    mut shutdown: ShutdownRx,
) {
    let mut framed = Framed::new(stream, ctx.codec.clone());
    let first = tokio::select! {
        f = tokio::time::timeout(timing.read_timeout, framed.next()) => f,
        _ = shutdown.changed() => return,
    };
    let frame = match first {
        Ok(Some(Ok(frame))) => frame,
        Ok(Some(Err(e))) => {
            tracing::warn!(institution = %ctx.institution, link = index, error = %e, "framing error: closing the telegram's connection");
            return;
        }
        Ok(None) => {
            tracing::debug!(institution = %ctx.institution, link = index, "connection closed before a telegram");
            return;
        }
        Err(_) => {
            tracing::warn!(institution = %ctx.institution, link = index, read_timeout = ?timing.read_timeout, "no telegram within read_timeout: closing the connection");
            return;
        }
    };
    ack_at_once(framed.get_ref().tcp());
    let deadline = Instant::now() + timing.reply_timeout;
    if !for_the_actor(&ctx, &frame) {
        // A poll counts as the connection's telegram: answered here, then closed.
        let answer = ctx.answer_polls.then(|| ctx.profile.poll_answer(&frame));
        if let Some(Some(answer)) = answer {
            let _ = tokio::time::timeout_at(deadline, framed.send(Bytes::from(answer))).await;
        }
        return close(framed, &ctx, index).await;
    }
    let (reply, mut answers) = mpsc::channel::<Bytes>(REPLIES);
    let telegram = LinkEvent::Telegram {
        link: index,
        frame,
        reply,
    };
    if !matches!(
        tokio::time::timeout_at(deadline, ctx.events.send(telegram)).await,
        Ok(Ok(()))
    ) {
        return;
    }
    // Until the actor and whatever answers for it (a notice's acknowledgement waits for the
    // journal) have let go of the reply queue, or the deadline. On shutdown: what is queued.
    let mut stopping = false;
    loop {
        // `Some(None)`: every answer is written; `None`: the deadline passed.
        let next = if stopping {
            Some(answers.try_recv().ok())
        } else {
            tokio::select! {
                a = tokio::time::timeout_at(deadline, answers.recv()) => a.ok(),
                _ = shutdown.changed() => {
                    stopping = true;
                    continue;
                }
            }
        };
        match next {
            Some(Some(answer)) => {
                let written = tokio::time::timeout_at(deadline, framed.send(answer)).await;
                if !matches!(written, Ok(Ok(()))) {
                    tracing::warn!(institution = %ctx.institution, link = index, "answer not written: closing the connection");
                    return;
                }
            }
            Some(None) => break,
            None => {
                tracing::warn!(institution = %ctx.institution, link = index, reply_timeout = ?timing.reply_timeout, "no answer within reply_timeout: closing the connection");
                break;
            }
        }
    }
    close(framed, &ctx, index).await;
}

/// Closes the gateway's side after its answer (the peer sees end of file), then reads and
/// discards until the peer closes too, for at most [`LINGER`].
async fn close(mut framed: Framed<LinkStream, FrameCodec>, ctx: &LinkContext, index: usize) {
    let _ = tokio::time::timeout(LINGER, framed.get_mut().shutdown()).await;
    let mut discarded = 0usize;
    let drain = async {
        while let Some(Ok(_)) = framed.next().await {
            discarded += 1;
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
    if discarded > 0 {
        tracing::warn!(institution = %ctx.institution, link = index, discarded, "more than one telegram on a per-telegram connection: only the first is handled, the rest discarded");
    }
}

// ----- outbound ------------------------------------------------------------------------------

/// What became of one connection attempt.
enum Attempt {
    /// A telegram's connection: opened (`Ok`), or not (why).
    Telegram(Result<(), String>),
    /// A bare connect while the link is down.
    Probe(Result<(), String>),
}

/// Takes the telegrams the actor queues on the link and gives each its connection.
pub(super) async fn outbound(
    ctx: LinkContext,
    index: usize,
    link: LinkSettings,
    addr: std::net::SocketAddr,
    timing: PerTelegram,
    mut shutdown: ShutdownRx,
) {
    let (queue, mut telegrams) = mpsc::channel::<Bytes>(LINK_QUEUE);
    let can_send = link.direction.can_send();
    let security = Security::of(&link);
    // The standing connection's id while the link is up (it is, until a connect fails).
    let mut up = None;
    let mut connections: JoinSet<Attempt> = JoinSet::new();
    let mut delays = backoff();
    let mut probe_at = Instant::now();
    let mut probing = false;
    // Why the last connect failed, until one succeeds: the link is down meanwhile.
    let mut failing: Option<String> = None;
    loop {
        if up.is_none() && failing.is_none() {
            let conn = next_conn();
            let event = LinkEvent::Up {
                link: index,
                conn,
                sender: queue.clone(),
                can_send,
            };
            if ctx.events.send(event).await.is_err() {
                break;
            }
            up = Some(conn);
        }
        tokio::select! {
            Some(telegram) = telegrams.recv(), if connections.len() < timing.max_connections => {
                if let Some(why) = &failing {
                    // Queued before the actor heard the link is down: refused without a
                    // connection of its own.
                    if !not_written(&ctx, index, telegram, why).await {
                        break;
                    }
                    continue;
                }
                connections.spawn(exchange(
                    ctx.clone(),
                    security.clone(),
                    index,
                    addr,
                    telegram,
                    timing,
                    link.direction,
                    shutdown.clone(),
                ));
            }
            Some(done) = connections.join_next(), if !connections.is_empty() => {
                let (result, probe) = match done {
                    Ok(Attempt::Telegram(r)) => (r, false),
                    Ok(Attempt::Probe(r)) => (r, true),
                    Err(_) => continue,
                };
                probing &= !probe;
                match result {
                    Ok(()) => {
                        if failing.is_some() {
                            tracing::info!(institution = %ctx.institution, link = %link.name, %addr, "connects again");
                        }
                        delays = backoff();
                        // Up again at the top of the loop.
                        failing = None;
                    }
                    Err(why) => {
                        let delay = delays.next().unwrap_or(Duration::from_secs(5));
                        probe_at = Instant::now() + delay;
                        if let Some(conn) = up.take() {
                            tracing::warn!(institution = %ctx.institution, link = %link.name, error = %why, "cannot connect: link down");
                            if ctx.events.send(LinkEvent::Down { link: index, conn }).await.is_err() {
                                break;
                            }
                        }
                        failing = Some(why);
                    }
                }
            }
            _ = tokio::time::sleep_until(probe_at), if failing.is_some() && !probing => {
                probing = true;
                let (ctx, security) = (ctx.clone(), security.clone());
                connections.spawn(async move {
                    // A bare connect, with the handshake when the link has TLS.
                    let probe = async {
                        let tcp = connect(addr).await?;
                        security.secure(&ctx, tcp, addr).await.map(drop)
                    };
                    Attempt::Probe(probe.await)
                });
            }
            _ = shutdown.changed() => break,
        }
    }
    drop(telegrams);
    while connections.join_next().await.is_some() {}
    if let Some(conn) = up {
        let _ = ctx.events.send(LinkEvent::Down { link: index, conn }).await;
    }
}

/// Opens a connection to `addr` within [`CONNECT_TIMEOUT`]; the error says why not.
async fn connect(addr: std::net::SocketAddr) -> Result<TcpStream, String> {
    match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(format!("connect to {addr}: {e}")),
        Err(_) => Err(format!(
            "connect to {addr}: no answer within {CONNECT_TIMEOUT:?}"
        )),
    }
}

/// Tells the actor `telegram` was not written; false when the actor is gone.
async fn not_written(ctx: &LinkContext, index: usize, telegram: Bytes, why: &str) -> bool {
    let event = LinkEvent::NotWritten {
        link: index,
        telegram,
        reason: RejectReason::ConnectFailed(why.to_owned()),
    };
    ctx.events.send(event).await.is_ok()
}

/// One telegram's connection: connect (and the TLS handshake), write, read the answer (a
/// duplex link), close.
#[allow(clippy::too_many_arguments)]
async fn exchange(
    ctx: LinkContext,
    security: Security,
    index: usize,
    addr: std::net::SocketAddr,
    telegram: Bytes,
    timing: PerTelegram,
    direction: Direction,
    mut shutdown: ShutdownRx,
) -> Attempt {
    let opened = match connect(addr).await {
        Ok(tcp) => {
            let _ = tcp.set_nodelay(true);
            security.secure(&ctx, tcp, addr).await
        }
        Err(why) => Err(why),
    };
    // Nothing was written before the handshake completed: the telegram was never sent.
    let stream = match opened {
        Ok(stream) => stream,
        Err(why) => {
            not_written(&ctx, index, telegram, &why).await;
            return Attempt::Telegram(Err(why));
        }
    };
    let deadline = Instant::now() + timing.reply_timeout;
    let mut framed = Framed::new(stream, ctx.codec.clone());
    // From the first byte on the institution may have it: a failure is the request's
    // deadline's business (unknown), no longer "not sent".
    if !matches!(
        tokio::time::timeout_at(deadline, framed.send(telegram)).await,
        Ok(Ok(()))
    ) {
        tracing::warn!(institution = %ctx.institution, link = index, "telegram not fully written: its answer is left to the request's deadline");
        return Attempt::Telegram(Ok(()));
    }
    if !direction.can_recv() {
        return Attempt::Telegram(Ok(()));
    }
    let answer = tokio::select! {
        a = tokio::time::timeout_at(deadline, framed.next()) => a,
        _ = shutdown.changed() => return Attempt::Telegram(Ok(())),
    };
    match answer {
        Ok(Some(Ok(frame))) => {
            if for_the_actor(&ctx, &frame) {
                let conn = next_conn();
                let event = LinkEvent::Frame {
                    link: index,
                    conn,
                    frame,
                };
                let _ = tokio::time::timeout_at(deadline, ctx.events.send(event)).await;
            }
        }
        Ok(Some(Err(e))) => {
            tracing::warn!(institution = %ctx.institution, link = index, error = %e, "framing error in the answer: closing the connection");
        }
        Ok(None) => {
            tracing::warn!(institution = %ctx.institution, link = index, "connection closed without an answer");
        }
        Err(_) => {
            tracing::warn!(institution = %ctx.institution, link = index, reply_timeout = ?timing.reply_timeout, "no answer within reply_timeout: closing the connection");
        }
    }
    Attempt::Telegram(Ok(()))
}
