//! The native internal interface: a TCP listener speaking the multiplexed envelope of
//! `docs/protocol.md`. One task per connection owns the socket; many requests are in flight
//! per connection and answered in completion order.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::Framed;

use crate::institution::{InstitutionHandle, ShutdownRx};
use crate::journal::Journal;
use crate::protocol::{Message, NativeCodec, Notice, Outcome, Response};

/// Requests one connection may have open at once; beyond that they are rejected at once.
const MAX_OPEN_PER_CONNECTION: usize = 100_000;

/// The institutions by name; built once at start-up and never mutated, so it needs no lock.
pub type Registry = Arc<HashMap<String, InstitutionHandle>>;

/// Accepts native-protocol connections until shutdown.
pub(crate) async fn serve(
    listener: TcpListener,
    registry: Registry,
    journal: Journal,
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
                    journal.clone(),
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
    journal: Journal,
    mut shutdown: ShutdownRx,
) {
    let mut framed = Framed::new(stream, NativeCodec::default());
    let mut open = FuturesUnordered::new();
    let (notice_tx, mut notice_rx) = mpsc::channel::<Notice>(1024);
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
                Some(Ok(Message::Subscribe(s))) => {
                    let targets: Vec<InstitutionHandle> = registry.values().filter(|h| s.institution == "*" || h.name() == s.institution).cloned().collect();
                    if targets.is_empty() {
                        response(s.id, Outcome::Rejected, format!("unknown institution {:?}", s.institution), bytes::Bytes::new())
                    } else {
                        subscribe(&targets, &journal, notice_tx.clone()).await;
                        response(s.id, Outcome::Ok, "subscribed", bytes::Bytes::new())
                    }
                }
                Some(Ok(Message::Ack { notice_id })) => {
                    let _ = journal.notice_delivered(notice_id).await;
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
            Some(notice) = notice_rx.recv() => Message::Notice(notice),
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
        if SinkExt::<Message>::flush(&mut framed).await.is_err() {
            break;
        }
    }
    // Requests still open are settled by their institutions; their callers are gone, so the
    // outcome is kept in the journal (GET /v1/transactions/{id}).
}

/// Forwards recorded notices (first those not yet delivered, then new ones) to a connection.
async fn subscribe(targets: &[InstitutionHandle], journal: &Journal, tx: mpsc::Sender<Notice>) {
    let names: Vec<String> = targets.iter().map(|h| h.name().to_owned()).collect();
    if let Ok(pending) = journal.pending_notices().await {
        for n in pending
            .into_iter()
            .filter(|n| names.contains(&n.institution))
        {
            let notice = Notice {
                institution: n.institution,
                notice_id: n.id,
                telegram: n.telegram,
            };
            if tx.send(notice).await.is_err() {
                return;
            }
        }
    }
    for handle in targets {
        let mut rx = handle.notices();
        let tx = tx.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(n) => {
                        let notice = Notice {
                            institution: n.institution.to_string(),
                            notice_id: n.id,
                            telegram: n.telegram,
                        };
                        if tx.send(notice).await.is_err() {
                            return;
                        }
                    }
                    // A slow subscriber missed some: they stay undelivered in the journal and
                    // are sent again on the next subscribe.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "notice subscriber lagging")
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }
}
