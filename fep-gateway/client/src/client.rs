//! Async client for the native protocol ([`crate::protocol`]).
//!
//! One TCP connection carries many concurrent requests. A reader task and a writer task own
//! the socket halves; callers hand pre-encoded frames to the writer over a bounded channel
//! and wait on a oneshot registered in the pending map. Every wait has a deadline, and when
//! the connection dies every pending caller is woken with an error, so nothing hangs.
//!
//! ```no_run
//! # async fn demo() -> Result<(), fep_client::client::ClientError> {
//! use std::time::Duration;
//! use fep_client::client::Client;
//!
//! let client = Client::connect("127.0.0.1:7700").await?;
//! let resp = client
//!     .request("hecto", bytes::Bytes::from_static(b"..."), Duration::from_secs(10))
//!     .await?;
//! println!("{}: {}", resp.outcome, resp.detail);
//!
//! let mut notices = client.subscribe("*").await?;
//! while let Some(n) = notices.recv().await {
//!     // … persist n.telegram, then:
//!     notices.ack(n.notice_id).await?;
//! }
//!
//! // Several instances of one service share the notices: each goes to one of them.
//! let mut shared = client.subscribe_group("hecto", "ledger").await?;
//! if let Some(n) = shared.recv().await {
//!     shared.ack(n.notice_id).await?;
//! }
//! shared.unsubscribe().await?;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{timeout_at, Instant};
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use crate::protocol::{
    Message, NativeCodec, Notice, Outcome, ProtocolError, Request, Response, Subscribe,
    Unsubscribe, DEFAULT_MAX_FRAME,
};

/// Client tuning knobs.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Largest frame sent or accepted.
    pub max_frame: usize,
    /// Extra time past a request's timeout to wait for the gateway's own answer
    /// (the gateway answers `unknown` at the timeout; the grace covers transit).
    pub grace: Duration,
    /// Capacity of the writer channel (frames queued for the socket).
    pub write_queue: usize,
    /// Capacity of each subscription's notice buffer. Keep it at least the gateway's
    /// `[institution.notices] concurrency` (notices it sends ahead of the Acks): a notice that
    /// finds the buffer full is dropped unacknowledged and comes again only on another
    /// subscription.
    pub notice_buffer: usize,
    /// How long `subscribe` waits for the gateway's answer.
    pub subscribe_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            max_frame: DEFAULT_MAX_FRAME,
            grace: Duration::from_secs(1),
            write_queue: 1024,
            notice_buffer: 1024,
            subscribe_timeout: Duration::from_secs(10),
        }
    }
}

/// Errors seen by client callers.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Could not connect.
    #[error("connect: {0}")]
    Connect(#[source] std::io::Error),
    /// No answer before the deadline (timeout + grace); the request's fate is unknown.
    #[error("request {id} timed out after {after:?}")]
    Timeout {
        /// The request id.
        id: u64,
        /// Total time waited.
        after: Duration,
    },
    /// The connection is closed or was lost before the answer arrived.
    #[error("connection closed: {0}")]
    Closed(String),
    /// The message could not be encoded (e.g. larger than max_frame); nothing was sent.
    #[error("cannot encode message: {0}")]
    Encode(#[source] ProtocolError),
    /// The gateway refused a subscription.
    #[error("subscription to {institution:?} rejected: {detail}")]
    SubscribeRejected {
        /// Requested institution.
        institution: String,
        /// The gateway's reason.
        detail: String,
    },
    /// The gateway refused to end a subscription (it does not know it).
    #[error("unsubscribe of subscription {subscription} rejected: {detail}")]
    UnsubscribeRejected {
        /// The subscription's id.
        subscription: u64,
        /// The gateway's reason.
        detail: String,
    },
}

struct SubEntry {
    institution: String,
    /// Opened with a group field: its notices carry the subscription id and go to it alone.
    tagged: bool,
    tx: mpsc::Sender<Notice>,
}

#[derive(Default)]
struct State {
    pending: HashMap<u64, oneshot::Sender<Response>>,
    subs: HashMap<u64, SubEntry>,
    closed: Option<String>,
}

/// State shared by the handle and the I/O tasks.
struct Shared {
    state: Mutex<State>,
    cancel: CancellationToken,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain maps behind; keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks the connection dead and wakes everyone waiting on it.
    fn fail_all(&self, reason: String) {
        let (pending, subs) = {
            let mut st = self.lock();
            if st.closed.is_none() {
                tracing::debug!(%reason, "native client connection closed");
                st.closed = Some(reason);
            }
            (
                std::mem::take(&mut st.pending),
                std::mem::take(&mut st.subs),
            )
        };
        // Dropping the senders wakes the receivers with an error / end of stream.
        drop(pending);
        drop(subs);
        self.cancel.cancel();
    }

    fn closed_reason(&self) -> String {
        self.lock()
            .closed
            .clone()
            .unwrap_or_else(|| "connection closed".to_string())
    }
}

struct Handle {
    tx: mpsc::Sender<Bytes>,
    shared: Arc<Shared>,
    next_id: AtomicU64,
    opts: ClientOptions,
}

impl Drop for Handle {
    fn drop(&mut self) {
        // Last clone gone: stop the reader; the writer drains and shuts the socket down.
        self.shared.cancel.cancel();
    }
}

/// Async native-protocol client; cheap to clone, all clones share one connection.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Handle>,
}

/// Removes a pending entry when the waiting future finishes or is dropped.
struct PendingGuard<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.shared.lock().pending.remove(&self.id);
    }
}

impl Client {
    /// Connects with default options.
    pub async fn connect(addr: impl ToSocketAddrs) -> Result<Client, ClientError> {
        Client::connect_with(addr, ClientOptions::default()).await
    }

    /// Connects with explicit options.
    pub async fn connect_with(
        addr: impl ToSocketAddrs,
        opts: ClientOptions,
    ) -> Result<Client, ClientError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(ClientError::Connect)?;
        // Telegrams are small and latency-bound.
        let _ = stream.set_nodelay(true);
        let (rd, wr) = stream.into_split();
        let (tx, rx) = mpsc::channel(opts.write_queue.max(1));
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            cancel: CancellationToken::new(),
        });
        tokio::spawn(writer_task(wr, rx, shared.clone()));
        tokio::spawn(reader_task(
            FramedRead::new(rd, NativeCodec::new(opts.max_frame)),
            tx.clone(),
            shared.clone(),
            opts.max_frame,
        ));
        Ok(Client {
            inner: Arc::new(Handle {
                tx,
                shared,
                next_id: AtomicU64::new(1),
                opts,
            }),
        })
    }

    /// Whether the connection is known to be closed.
    pub fn is_closed(&self) -> bool {
        self.inner.shared.lock().closed.is_some()
    }

    fn next_id(&self) -> u64 {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn encode(&self, msg: &Message) -> Result<Bytes, ClientError> {
        let mut buf = BytesMut::new();
        msg.encode_frame(self.inner.opts.max_frame, &mut buf)
            .map_err(ClientError::Encode)?;
        Ok(buf.freeze())
    }

    /// Registers `id` as pending, sends `frame`, and waits for the answer until `deadline`.
    async fn call(
        &self,
        id: u64,
        frame: Bytes,
        deadline: Instant,
        waited: Duration,
    ) -> Result<Response, ClientError> {
        let shared = &*self.inner.shared;
        let (otx, orx) = oneshot::channel();
        {
            let mut st = shared.lock();
            if let Some(reason) = &st.closed {
                return Err(ClientError::Closed(reason.clone()));
            }
            st.pending.insert(id, otx);
        }
        let _guard = PendingGuard { shared, id };
        match timeout_at(deadline, self.inner.tx.send(frame)).await {
            Err(_) => return Err(ClientError::Timeout { id, after: waited }),
            Ok(Err(_)) => return Err(ClientError::Closed(shared.closed_reason())),
            Ok(Ok(())) => {}
        }
        match timeout_at(deadline, orx).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(_)) => Err(ClientError::Closed(shared.closed_reason())),
            Err(_) => Err(ClientError::Timeout { id, after: waited }),
        }
    }

    /// Sends `telegram` to `institution` and waits for the outcome.
    ///
    /// `timeout` is passed to the gateway; the client itself gives up after
    /// `timeout + grace` with [`ClientError::Timeout`].
    pub async fn request(
        &self,
        institution: &str,
        telegram: Bytes,
        timeout: Duration,
    ) -> Result<Response, ClientError> {
        self.send_request(institution, telegram, timeout, None)
            .await
    }

    /// [`Client::request`] under an idempotency key: every request with `key` within the
    /// institution's `idempotency_window` answers with the same transaction, sent at most
    /// once; a key reused for a different telegram is answered `rejected` (docs/protocol.md
    /// §3.7). Safe to retry after a timeout or a lost connection.
    pub async fn request_with_key(
        &self,
        institution: &str,
        telegram: Bytes,
        timeout: Duration,
        key: &str,
    ) -> Result<Response, ClientError> {
        self.send_request(institution, telegram, timeout, Some(key.to_owned()))
            .await
    }

    async fn send_request(
        &self,
        institution: &str,
        telegram: Bytes,
        timeout: Duration,
        idempotency_key: Option<String>,
    ) -> Result<Response, ClientError> {
        let id = self.next_id();
        // On the wire 0 means "the institution's default"; the caller's own deadline must
        // match what the gateway does, so a sub-millisecond timeout is sent as 1 ms.
        let timeout_ms = u32::try_from(timeout.as_millis())
            .unwrap_or(u32::MAX)
            .max(1);
        let frame = self.encode(&Message::Request(Request {
            id,
            institution: institution.to_string(),
            timeout_ms,
            telegram,
            idempotency_key,
        }))?;
        let waited = timeout.saturating_add(self.inner.opts.grace);
        let deadline = Instant::now() + waited;
        self.call(id, frame, deadline, waited).await
    }

    /// Round-trips a ping; returns the measured latency.
    pub async fn ping(&self, timeout: Duration) -> Result<Duration, ClientError> {
        let nonce = self.next_id();
        let frame = self.encode(&Message::Ping { nonce })?;
        let start = Instant::now();
        self.call(nonce, frame, start + timeout, timeout).await?;
        Ok(start.elapsed())
    }

    /// Subscribes to unsolicited notices of `institution` (`"*"` for all): every notice is
    /// delivered to this subscription (protocol version 1: no group).
    pub async fn subscribe(&self, institution: &str) -> Result<Subscription, ClientError> {
        self.open_subscription(institution, None).await
    }

    /// Joins the consumer group `group` for the notices of `institution` (`"*"` for all): the
    /// group's members, on any connection, share the notices — each goes to one live member,
    /// and one left unacknowledged when its member goes away is delivered to another. The
    /// group's progress is kept by the gateway across restarts. An empty `group` is a
    /// broadcast subscription like [`Client::subscribe`]. Needs a gateway that knows groups
    /// (an older one closes the connection).
    pub async fn subscribe_group(
        &self,
        institution: &str,
        group: &str,
    ) -> Result<Subscription, ClientError> {
        self.open_subscription(institution, Some(group)).await
    }

    async fn open_subscription(
        &self,
        institution: &str,
        group: Option<&str>,
    ) -> Result<Subscription, ClientError> {
        let id = self.next_id();
        let frame = self.encode(&Message::Subscribe(Subscribe {
            id,
            institution: institution.to_string(),
            group: group.map(str::to_owned),
        }))?;
        let (ntx, nrx) = mpsc::channel(self.inner.opts.notice_buffer.max(1));
        // Registered before sending so a notice right behind the answer is not lost.
        {
            let mut st = self.inner.shared.lock();
            if let Some(reason) = &st.closed {
                return Err(ClientError::Closed(reason.clone()));
            }
            st.subs.insert(
                id,
                SubEntry {
                    institution: institution.to_string(),
                    tagged: group.is_some(),
                    tx: ntx,
                },
            );
        }
        let sub = Subscription {
            client: self.clone(),
            sub_id: id,
            grouped: group.is_some(),
            rx: nrx,
        };
        let waited = self.inner.opts.subscribe_timeout;
        let resp = self
            .call(id, frame, Instant::now() + waited, waited)
            .await?;
        if resp.outcome != Outcome::Ok {
            return Err(ClientError::SubscribeRejected {
                institution: institution.to_string(),
                detail: resp.detail,
            });
        }
        Ok(sub)
    }

    /// Ends the subscription `subscription` (a [`Subscription::id`]): once this returns, the
    /// gateway sends it no more notices; the ones it delivered and that are not acknowledged
    /// yet go to another member of its group (or, without a group, to the next subscriber).
    pub async fn unsubscribe(&self, subscription: u64) -> Result<(), ClientError> {
        let id = self.next_id();
        let frame = self.encode(&Message::Unsubscribe(Unsubscribe { id, subscription }))?;
        let waited = self.inner.opts.subscribe_timeout;
        let resp = self
            .call(id, frame, Instant::now() + waited, waited)
            .await?;
        self.inner.shared.lock().subs.remove(&subscription);
        if resp.outcome != Outcome::Ok {
            return Err(ClientError::UnsubscribeRejected {
                subscription,
                detail: resp.detail,
            });
        }
        Ok(())
    }

    /// Acknowledges a notice: tells the gateway it has been durably handled.
    ///
    /// Waits at most `subscribe_timeout` for room in the write queue.
    pub async fn ack(&self, notice_id: u64) -> Result<(), ClientError> {
        let frame = self.encode(&Message::Ack { notice_id })?;
        let waited = self.inner.opts.subscribe_timeout;
        match tokio::time::timeout(waited, self.inner.tx.send(frame)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(ClientError::Closed(self.inner.shared.closed_reason())),
            Err(_) => Err(ClientError::Timeout {
                id: notice_id,
                after: waited,
            }),
        }
    }
}

/// A stream of [`Notice`]s for one subscription; ends when the connection closes.
///
/// Notices must be acknowledged with [`Subscription::ack`]; unacknowledged ones are
/// redelivered by the gateway. If the buffer is full a notice is dropped unacknowledged
/// (so it is redelivered) rather than stalling responses for other callers.
pub struct Subscription {
    client: Client,
    sub_id: u64,
    /// Joined a group: dropping it tells the gateway (which then knows Unsubscribe).
    grouped: bool,
    rx: mpsc::Receiver<Notice>,
}

impl Subscription {
    /// The subscription's id (the id of its Subscribe message).
    pub fn id(&self) -> u64 {
        self.sub_id
    }

    /// Ends the subscription (see [`Client::unsubscribe`]); notices already buffered here
    /// and not acknowledged are redelivered elsewhere.
    pub async fn unsubscribe(mut self) -> Result<(), ClientError> {
        // Done here: the drop has nothing left to tell the gateway.
        self.grouped = false;
        self.client.unsubscribe(self.sub_id).await
    }

    /// Next notice, or `None` once the connection is closed.
    pub async fn recv(&mut self) -> Option<Notice> {
        self.rx.recv().await
    }

    /// Acknowledges a notice received on this subscription.
    pub async fn ack(&self, notice_id: u64) -> Result<(), ClientError> {
        self.client.ack(notice_id).await
    }
}

impl Stream for Subscription {
    type Item = Notice;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Notice>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.client.inner.shared.lock().subs.remove(&self.sub_id);
        // A group member that goes away unsubscribes, so what it holds goes to the others now
        // rather than when the connection closes. Not for a subscription without a group: a
        // gateway from before Unsubscribe would close the connection. Best effort (a full
        // write queue skips it; the answer is ignored).
        if self.grouped {
            let id = self.client.next_id();
            let unsubscribe = Message::Unsubscribe(Unsubscribe {
                id,
                subscription: self.sub_id,
            });
            if let Ok(frame) = self.client.encode(&unsubscribe) {
                let _ = self.client.inner.tx.try_send(frame);
            }
        }
    }
}

async fn writer_task(wr: OwnedWriteHalf, mut rx: mpsc::Receiver<Bytes>, shared: Arc<Shared>) {
    let mut wr = BufWriter::new(wr);
    let result: std::io::Result<()> = async {
        loop {
            let frame = tokio::select! {
                // The connection is dead (or the client dropped): stop writing.
                _ = shared.cancel.cancelled() => return Ok(()),
                frame = rx.recv() => match frame {
                    Some(f) => f,
                    None => break,
                },
            };
            wr.write_all(&frame).await?;
            // Batch whatever else is already queued into the same flush.
            while let Ok(more) = rx.try_recv() {
                wr.write_all(&more).await?;
            }
            wr.flush().await?;
        }
        wr.shutdown().await
    }
    .await;
    match result {
        Ok(()) => shared.fail_all("client closed".to_string()),
        Err(e) => shared.fail_all(format!("write failed: {e}")),
    }
}

async fn reader_task(
    mut rd: FramedRead<OwnedReadHalf, NativeCodec>,
    tx: mpsc::Sender<Bytes>,
    shared: Arc<Shared>,
    max_frame: usize,
) {
    let reason = loop {
        let next = tokio::select! {
            _ = shared.cancel.cancelled() => break "client closed".to_string(),
            next = rd.next() => next,
        };
        let msg = match next {
            None => break "connection closed by gateway".to_string(),
            Some(Err(e)) => break format!("read failed: {e}"),
            Some(Ok(m)) => m,
        };
        match msg {
            Message::Response(resp) => complete(&shared, resp),
            Message::Pong { nonce } => complete(
                &shared,
                Response {
                    id: nonce,
                    outcome: Outcome::Ok,
                    detail: "pong".to_string(),
                    telegram: Bytes::new(),
                },
            ),
            Message::Notice(n) => deliver(&shared, n),
            Message::Ping { nonce } => {
                let mut buf = BytesMut::new();
                if (Message::Pong { nonce })
                    .encode_frame(max_frame, &mut buf)
                    .is_ok()
                {
                    // A full write queue means the peer will see its ping time out; fine.
                    let _ = tx.try_send(buf.freeze());
                }
            }
            other => {
                break format!(
                    "protocol violation: gateway sent {}",
                    Message::kind_name(other.kind())
                )
            }
        }
    };
    shared.fail_all(reason);
}

fn complete(shared: &Shared, resp: Response) {
    let waiter = shared.lock().pending.remove(&resp.id);
    match waiter {
        Some(w) => {
            let _ = w.send(resp);
        }
        None => tracing::debug!(id = resp.id, "late or unknown response dropped"),
    }
}

fn deliver(shared: &Shared, notice: Notice) {
    let mut st = shared.lock();
    st.subs.retain(|id, sub| {
        // A tagged notice belongs to its subscription alone; an untagged one to every
        // untagged subscription of its institution.
        let mine = match notice.subscription {
            Some(to) => to == *id,
            None => {
                !sub.tagged && (sub.institution == "*" || sub.institution == notice.institution)
            }
        };
        if !mine {
            return true;
        }
        match sub.tx.try_send(notice.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(
                    notice_id = notice.notice_id,
                    "subscriber buffer full; notice left unacknowledged for redelivery"
                );
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    });
}

#[cfg(test)]
mod tests;
