//! The native internal interface: a TCP listener speaking the multiplexed envelope of
//! `docs/protocol.md`. One task per connection owns the socket; many requests are in flight
//! per connection and answered in completion order.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;

use crate::institution::{InstitutionHandle, ShutdownRx};
use crate::notices::native::Subscriptions;
use crate::notices::Notices;
use crate::protocol::{Message, NativeCodec, Outcome, Response};

/// Requests one connection may have open at once; beyond that they are rejected at once.
const MAX_OPEN_PER_CONNECTION: usize = 100_000;

/// Notices written together with another message before the connection reads again.
const NOTICES_PER_WRITE: usize = 64;

/// The institutions by name; built once at start-up and never mutated, so it needs no lock.
pub type Registry = Arc<HashMap<String, InstitutionHandle>>;

/// Accepts native-protocol connections until shutdown.
pub(crate) async fn serve(
    listener: TcpListener,
    registry: Registry,
    notices: Notices,
    mut shutdown: ShutdownRx,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                tracing::debug!(%peer, "native client connected");
                tokio::spawn(connection(
                    stream,
                    registry.clone(),
                    notices.clone(),
                    shutdown.clone(),
                ));
            }
            Err(e) => {
                tracing::warn!(error = %e, "native accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

fn response(
    id: u64,
    outcome: Outcome,
    detail: impl Into<String>,
    telegram: bytes::Bytes,
) -> Message {
    Message::Response(Response {
        id,
        outcome,
        detail: detail.into(),
        telegram,
    })
}

async fn connection(
    stream: TcpStream,
    registry: Registry,
    notices: Notices,
    mut shutdown: ShutdownRx,
) {
    let mut framed = Framed::new(stream, NativeCodec::default());
    let mut open = FuturesUnordered::new();
    // Notices: Subscribe, Unsubscribe and Ack are handed over, never awaited (crate::notices).
    let mut subs = Subscriptions::new(notices);
    loop {
        let out = tokio::select! {
            msg = framed.next() => match msg {
                Some(Ok(Message::Request(r))) => {
                    let Some(handle) = registry.get(&r.institution).cloned() else {
                        let detail = format!("unknown institution {:?}", r.institution);
                        if framed.send(response(r.id, Outcome::Rejected, detail, bytes::Bytes::new())).await.is_err() { break; }
                        continue;
                    };
                    if open.len() >= MAX_OPEN_PER_CONNECTION {
                        if framed.send(response(r.id, Outcome::Rejected, "overload: too many open requests on this connection", bytes::Bytes::new())).await.is_err() { break; }
                        continue;
                    }
                    let timeout = (r.timeout_ms > 0).then(|| Duration::from_millis(u64::from(r.timeout_ms)));
                    open.push(async move {
                        let reply = handle.request(r.telegram, timeout).await;
                        response(r.id, reply.outcome, reply.detail, reply.telegram)
                    });
                    continue;
                }
                Some(Ok(Message::Subscribe(s))) => subs.subscribe(s),
                Some(Ok(Message::Unsubscribe(u))) => subs.unsubscribe(u),
                Some(Ok(Message::Ack { notice_id })) => {
                    subs.ack(notice_id);
                    continue;
                }
                Some(Ok(Message::Ping { nonce })) => Message::Pong { nonce },
                Some(Ok(_)) => continue,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "native protocol error: closing the connection");
                    break;
                }
                None => break,
            },
            Some(reply) = open.next(), if !open.is_empty() => reply,
            notice = subs.next() => Message::Notice(notice),
            _ = shutdown.changed() => break,
        };
        if framed.feed(out).await.is_err() {
            break;
        }
        // Replies already done go out with this one: one flush (one write) for the lot.
        while let Some(Some(more)) = futures::FutureExt::now_or_never(open.next()) {
            if framed.feed(more).await.is_err() {
                return;
            }
        }
        // So do notices already waiting, a bounded number: requests are read in between.
        for _ in 0..NOTICES_PER_WRITE {
            let Some(notice) = futures::FutureExt::now_or_never(subs.next()) else {
                break;
            };
            if framed.feed(Message::Notice(notice)).await.is_err() {
                return;
            }
        }
        if SinkExt::<Message>::flush(&mut framed).await.is_err() {
            break;
        }
    }
    // Requests still open are settled by their institutions; their callers are gone, so the
    // outcome is kept in the journal (GET /v1/transactions/{id}).
}
