//! The native internal interface: a TCP listener speaking the multiplexed envelope of
//! `docs/protocol.md`. One task per connection owns the socket; many requests are in flight
//! per connection and answered in completion order.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_util::codec::Framed;

use crate::auth::{self, Access, Caller, Denied, PeerCert};
use crate::idempotency::Idempotency;
use crate::institution::{InstitutionHandle, ShutdownRx};
use crate::journal::Journal;
use crate::notices::native::Subscriptions;
use crate::notices::Notices;
use crate::protocol::{Message, NativeCodec, Outcome, Response};
use crate::tls::LinkStream;

/// Requests one connection may have open at once (sent to an institution and not yet
/// answered); beyond that a Request is answered `rejected` at once ("overload: …") and not
/// sent. docs/protocol.md §5 documents the number.
pub const MAX_OPEN_PER_CONNECTION: usize = 100_000;

/// Detail of a Request refused because its id is still open on the connection.
pub const DUPLICATE_ID: &str =
    "duplicate id: a request with this id is still open on this connection; not sent";

/// Notices written together with another message before the connection reads again.
const NOTICES_PER_WRITE: usize = 64;

/// The institutions by name; built once at start-up and never mutated, so it needs no lock.
pub type Registry = Arc<HashMap<String, InstitutionHandle>>;

/// Accepts native-protocol connections until shutdown. With `access.tls`, each connection
/// is a TLS handshake first (in its own task, within `handshake_timeout`): a failed one is
/// logged, counted (`fep_tls_handshake_failures_total{institution="-",link="native"}`) and
/// closed. The caller is authenticated once per connection, from its certificate.
pub(crate) async fn serve(
    listener: TcpListener,
    registry: Registry,
    journal: Journal,
    idempotency: Idempotency,
    notices: Notices,
    access: Arc<Access>,
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
                let (registry, journal, idempotency, notices, access, shutdown) = (
                    registry.clone(),
                    journal.clone(),
                    idempotency.clone(),
                    notices.clone(),
                    access.clone(),
                    shutdown.clone(),
                );
                tokio::spawn(async move {
                    let stream = match &access.tls {
                        None => LinkStream::Plain(stream),
                        Some(tls) => match tls.handshake(stream).await {
                            Ok(s) => s,
                            Err(f) => {
                                crate::tls::record_failure("-", "native", &peer.to_string(), &f);
                                return;
                            }
                        },
                    };
                    let cert = stream.peer_certificate().map(|c| PeerCert::of(&c));
                    let caller = access.authenticate(cert.as_ref(), None);
                    if let Err(denied) = &caller {
                        tracing::warn!(%peer, %denied, "native client not authenticated: its requests are refused");
                    }
                    connection_as(
                        stream,
                        caller,
                        registry,
                        journal,
                        idempotency,
                        notices,
                        shutdown,
                        MAX_OPEN_PER_CONNECTION,
                    )
                    .await;
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "native accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// A Response that fits the wire whatever went into it (see [`Response::bounded`]).
fn response(
    id: u64,
    outcome: Outcome,
    detail: impl Into<String>,
    telegram: bytes::Bytes,
    max_frame: usize,
) -> Message {
    Message::Response(
        Response {
            id,
            outcome,
            detail: detail.into(),
            telegram,
        }
        .bounded(max_frame),
    )
}

/// `rejected` with no telegram.
fn rejected(id: u64, detail: impl Into<String>, max_frame: usize) -> Message {
    response(
        id,
        Outcome::Rejected,
        detail,
        bytes::Bytes::new(),
        max_frame,
    )
}

/// A name from the client, quoted and cut short enough for a detail.
fn quoted(name: &str) -> String {
    const SHOWN: usize = 64;
    let cut = crate::protocol::truncate_str(name, SHOWN);
    if cut.len() < name.len() {
        format!("{cut:?}… ({} bytes)", name.len())
    } else {
        format!("{name:?}")
    }
}

/// A Request's or Subscribe's refusal by the access rules (`rejected`, nothing sent),
/// counted and logged.
fn denied(id: u64, denied: &Denied, max_frame: usize) -> Message {
    auth::record_denial("native", denied);
    rejected(id, format!("denied: {denied}; not sent"), max_frame)
}

/// Serves one native connection: requests in flight at once (at most `max_open`, ids unique
/// among the open ones), answered in completion order; notices of its subscriptions. Every
/// Request and Subscribe is first checked against `caller`'s rules (an unauthenticated
/// caller's are all refused).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn connection_as<S>(
    stream: S,
    caller: Result<Caller, Denied>,
    registry: Registry,
    journal: Journal,
    idempotency: Idempotency,
    notices: Notices,
    mut shutdown: ShutdownRx,
    max_open: usize,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let identity = caller.as_ref().ok().and_then(|c| c.identity.clone());
    let codec = NativeCodec::default();
    let max_frame = codec.max_frame();
    let mut framed = Framed::new(stream, codec);
    let mut open = FuturesUnordered::new();
    // Ids of the requests in `open`: a Request reusing one is refused, never sent.
    let mut open_ids: HashSet<u64> = HashSet::new();
    // Notices: Subscribe, Unsubscribe and Ack are handed over, never awaited (crate::notices).
    let mut subs = Subscriptions::new(notices);
    loop {
        let out = tokio::select! {
            msg = framed.next() => match msg {
                Some(Ok(Message::Request(r))) => {
                    let handle = registry.get(&r.institution).cloned();
                    let allowed = match &caller {
                        Err(d) => Err(d.clone()),
                        // Open access: the telegram's header is not read for nothing.
                        Ok(c) if c.client.is_none() => Ok(()),
                        Ok(c) => {
                            let key = handle.as_ref().and_then(|h| h.profile().msg_key(&r.telegram));
                            c.may_send(&r.institution, key.as_ref())
                        }
                    };
                    if let Err(d) = allowed {
                        denied(r.id, &d, max_frame)
                    } else if open_ids.contains(&r.id) {
                        rejected(r.id, DUPLICATE_ID, max_frame)
                    } else if open.len() >= max_open {
                        rejected(r.id, format!("overload: {max_open} requests already open on this connection"), max_frame)
                    } else if let Some(handle) = handle {
                        let timeout = (r.timeout_ms > 0).then(|| Duration::from_millis(u64::from(r.timeout_ms)));
                        open_ids.insert(r.id);
                        let (idempotency, journal, identity) = (idempotency.clone(), journal.clone(), identity.clone());
                        open.push(async move {
                            let telegram = r.telegram.to_vec();
                            let reply = match &r.idempotency_key {
                                None => Ok(auth::request_for(&journal, &handle, identity.as_ref(), telegram, timeout).await),
                                Some(key) => idempotency
                                    .submit(&journal, &handle, key, telegram, timeout, identity.as_ref())
                                    .await
                                    .map(|keyed| keyed.reply),
                            };
                            let message = match reply {
                                Ok(reply) => response(r.id, reply.outcome, reply.detail, reply.telegram, max_frame),
                                Err(e) => rejected(r.id, format!("idempotency key: {e}"), max_frame),
                            };
                            (r.id, message)
                        });
                        continue;
                    } else {
                        rejected(r.id, format!("unknown institution {}", quoted(&r.institution)), max_frame)
                    }
                }
                Some(Ok(Message::Subscribe(s))) => {
                    let allowed = caller.as_ref().map_err(Clone::clone).and_then(|c| c.may_subscribe(&s.institution));
                    match allowed {
                        Ok(()) => subs.subscribe(s),
                        Err(d) => denied(s.id, &d, max_frame),
                    }
                }
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
            Some((id, reply)) = open.next(), if !open.is_empty() => {
                open_ids.remove(&id);
                reply
            }
            notice = subs.next() => Message::Notice(notice),
            _ = shutdown.changed() => break,
        };
        if let Err(e) = framed.feed(out).await {
            tracing::warn!(error = %e, "native write failed: closing the connection");
            break;
        }
        // Replies already done go out with this one: one flush (one write) for the lot.
        while let Some(Some((id, more))) = futures::FutureExt::now_or_never(open.next()) {
            open_ids.remove(&id);
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

#[cfg(test)]
mod tests;
