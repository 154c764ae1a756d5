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
    DEFAULT_MAX_FRAME,
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
    /// Capacity of each subscription's notice buffer.
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
}

struct SubEntry {
    institution: String,
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

    /// Subscribes to unsolicited notices of `institution` (`"*"` for all).
    pub async fn subscribe(&self, institution: &str) -> Result<Subscription, ClientError> {
        let id = self.next_id();
        let frame = self.encode(&Message::Subscribe(Subscribe {
            id,
            institution: institution.to_string(),
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
                    tx: ntx,
                },
            );
        }
        let sub = Subscription {
            client: self.clone(),
            sub_id: id,
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
    rx: mpsc::Receiver<Notice>,
}

impl Subscription {
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
    st.subs.retain(|_, sub| {
        if sub.institution != "*" && sub.institution != notice.institution {
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
mod tests {
    use super::*;
    use futures_util::SinkExt;
    use tokio::net::TcpListener;
    use tokio_util::codec::Framed;

    /// A tiny gateway stand-in built on the protocol module.
    ///
    /// Requests: institution "slow" is never answered, "drop" closes the connection,
    /// anything else is answered after `telegram[0]` milliseconds with the telegram reversed.
    /// Subscribe "nope" is rejected; other subscriptions get notices 1..=3 pushed.
    /// Acks are reported on `acks`.
    async fn spawn_server() -> (std::net::SocketAddr, mpsc::UnboundedReceiver<u64>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (acks_tx, acks_rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let acks_tx = acks_tx.clone();
                tokio::spawn(async move {
                    let (mut sink, mut stream) = Framed::new(sock, NativeCodec::default()).split();
                    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Message>();
                    let writer = tokio::spawn(async move {
                        while let Some(m) = out_rx.recv().await {
                            if sink.send(m).await.is_err() {
                                break;
                            }
                        }
                    });
                    while let Some(Ok(msg)) = stream.next().await {
                        match msg {
                            Message::Request(r) if r.institution == "slow" => {}
                            Message::Request(r) if r.institution == "drop" => break,
                            Message::Request(r) => {
                                let out = out_tx.clone();
                                tokio::spawn(async move {
                                    let delay = r.telegram.first().copied().unwrap_or(0);
                                    tokio::time::sleep(Duration::from_millis(delay.into())).await;
                                    let mut t = r.telegram.to_vec();
                                    t.reverse();
                                    let _ = out.send(Message::Response(Response {
                                        id: r.id,
                                        outcome: Outcome::Ok,
                                        detail: format!("{}:{}", r.institution, r.timeout_ms),
                                        telegram: t.into(),
                                    }));
                                });
                            }
                            Message::Subscribe(s) => {
                                let ok = s.institution != "nope";
                                let _ = out_tx.send(Message::Response(Response {
                                    id: s.id,
                                    outcome: if ok { Outcome::Ok } else { Outcome::Rejected },
                                    detail: if ok {
                                        String::new()
                                    } else {
                                        "no such institution".into()
                                    },
                                    telegram: Bytes::new(),
                                }));
                                if ok {
                                    for n in 1..=3u64 {
                                        let _ = out_tx.send(Message::Notice(Notice {
                                            institution: "hecto".into(),
                                            notice_id: n,
                                            telegram: Bytes::from(format!("notice-{n}")),
                                        }));
                                    }
                                }
                            }
                            Message::Ack { notice_id } => {
                                let _ = acks_tx.send(notice_id);
                            }
                            Message::Ping { nonce } => {
                                let _ = out_tx.send(Message::Pong { nonce });
                            }
                            _ => break,
                        }
                    }
                    writer.abort();
                });
            }
        });
        (addr, acks_rx)
    }

    fn opts(grace_ms: u64) -> ClientOptions {
        ClientOptions {
            grace: Duration::from_millis(grace_ms),
            ..ClientOptions::default()
        }
    }

    #[tokio::test]
    async fn concurrent_requests_are_matched_out_of_order() {
        let (addr, _acks) = spawn_server().await;
        let client = Client::connect(addr).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..200u32 {
            let c = client.clone();
            tasks.push(tokio::spawn(async move {
                // First byte is the server-side delay: later requests often finish first.
                let delay = (37 * i % 30) as u8;
                let tel = format!("{}req-{i}", delay as char);
                let resp = c
                    .request("hecto", Bytes::from(tel.clone()), Duration::from_secs(5))
                    .await
                    .unwrap();
                let mut expected = tel.into_bytes();
                expected.reverse();
                assert_eq!(resp.telegram, expected, "request {i}");
                assert_eq!(resp.outcome, Outcome::Ok);
                assert_eq!(resp.detail, "hecto:5000");
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert!(client.inner.shared.lock().pending.is_empty());
    }

    #[tokio::test]
    async fn unanswered_request_times_out_and_is_forgotten() {
        let (addr, _acks) = spawn_server().await;
        let client = Client::connect_with(addr, opts(50)).await.unwrap();
        let start = Instant::now();
        let err = client
            .request("slow", Bytes::from_static(b"x"), Duration::from_millis(100))
            .await
            .unwrap_err();
        let elapsed = start.elapsed();
        assert!(matches!(err, ClientError::Timeout { .. }), "{err}");
        assert!(elapsed >= Duration::from_millis(150), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
        assert!(client.inner.shared.lock().pending.is_empty());
        // The connection is still usable.
        let ok = client
            .request(
                "hecto",
                Bytes::from_static(b"\x00ab"),
                Duration::from_secs(2),
            )
            .await
            .unwrap();
        assert_eq!(&ok.telegram[..], b"ba\x00");
    }

    #[tokio::test]
    async fn late_response_after_timeout_is_ignored() {
        let (addr, _acks) = spawn_server().await;
        let client = Client::connect_with(addr, opts(10)).await.unwrap();
        // The server answers after 200 ms; the client gives up after 60 ms.
        let err = client
            .request(
                "hecto",
                Bytes::from_static(b"\xc8late"),
                Duration::from_millis(50),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::Timeout { .. }), "{err}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!client.is_closed());
        let ok = client
            .request(
                "hecto",
                Bytes::from_static(b"\x00ok"),
                Duration::from_secs(2),
            )
            .await
            .unwrap();
        assert_eq!(&ok.telegram[..], b"ko\x00");
    }

    #[tokio::test]
    async fn cancelled_request_leaves_no_pending_entry() {
        let (addr, _acks) = spawn_server().await;
        let client = Client::connect(addr).await.unwrap();
        let fut = client.request("slow", Bytes::from_static(b"x"), Duration::from_secs(30));
        // Dropping the future after it registered must clean up.
        assert!(tokio::time::timeout(Duration::from_millis(50), fut)
            .await
            .is_err());
        assert!(client.inner.shared.lock().pending.is_empty());
    }

    #[tokio::test]
    async fn connection_drop_fails_every_pending_caller() {
        let (addr, _acks) = spawn_server().await;
        let client = Client::connect(addr).await.unwrap();
        let mut waiting = Vec::new();
        for _ in 0..20 {
            let c = client.clone();
            waiting.push(tokio::spawn(async move {
                c.request("slow", Bytes::from_static(b"x"), Duration::from_secs(30))
                    .await
            }));
        }
        // Let the slow requests reach the server before killing the connection.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let start = Instant::now();
        let dropper = client
            .request("drop", Bytes::from_static(b"x"), Duration::from_secs(30))
            .await;
        assert!(
            matches!(dropper, Err(ClientError::Closed(_))),
            "{dropper:?}"
        );
        for w in waiting {
            let r = tokio::time::timeout(Duration::from_secs(5), w)
                .await
                .expect("caller hung")
                .unwrap();
            assert!(matches!(r, Err(ClientError::Closed(_))), "{r:?}");
        }
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(client.is_closed());
        let after = client
            .request("hecto", Bytes::from_static(b"\x00"), Duration::from_secs(1))
            .await;
        assert!(matches!(after, Err(ClientError::Closed(_))), "{after:?}");
    }

    #[tokio::test]
    async fn connect_failure_is_reported() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        assert!(matches!(
            Client::connect(addr).await,
            Err(ClientError::Connect(_))
        ));
    }

    #[tokio::test]
    async fn subscribe_receives_and_acks_notices() {
        let (addr, mut acks) = spawn_server().await;
        let client = Client::connect(addr).await.unwrap();
        let mut sub = client.subscribe("hecto").await.unwrap();
        for n in 1..=3u64 {
            let notice = tokio::time::timeout(Duration::from_secs(2), sub.next())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(notice.notice_id, n);
            assert_eq!(notice.institution, "hecto");
            assert_eq!(notice.telegram, format!("notice-{n}").as_bytes());
            sub.ack(notice.notice_id).await.unwrap();
            let acked = tokio::time::timeout(Duration::from_secs(2), acks.recv())
                .await
                .unwrap();
            assert_eq!(acked, Some(n));
        }
    }

    #[tokio::test]
    async fn wildcard_and_filtered_subscriptions() {
        let (addr, _acks) = spawn_server().await;
        let client = Client::connect(addr).await.unwrap();
        let mut other = client.subscribe("kftc").await.unwrap();
        // The server pushed hecto notices after the kftc subscription; it must not see them.
        let mut all = client.subscribe("*").await.unwrap();
        let n = tokio::time::timeout(Duration::from_secs(2), all.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n.institution, "hecto");
        assert!(
            tokio::time::timeout(Duration::from_millis(100), other.recv())
                .await
                .is_err(),
            "kftc subscriber got a hecto notice"
        );
    }

    #[tokio::test]
    async fn rejected_subscription_is_an_error() {
        let (addr, _acks) = spawn_server().await;
        let client = Client::connect(addr).await.unwrap();
        let err = client.subscribe("nope").await.err().unwrap();
        match err {
            ClientError::SubscribeRejected {
                institution,
                detail,
            } => {
                assert_eq!(institution, "nope");
                assert_eq!(detail, "no such institution");
            }
            other => panic!("unexpected {other}"),
        }
        assert!(client.inner.shared.lock().subs.is_empty());
    }

    #[tokio::test]
    async fn ping_pong() {
        let (addr, _acks) = spawn_server().await;
        let client = Client::connect(addr).await.unwrap();
        let rtt = client.ping(Duration::from_secs(2)).await.unwrap();
        assert!(rtt < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn oversized_request_is_refused_locally() {
        let (addr, _acks) = spawn_server().await;
        let client = Client::connect_with(
            addr,
            ClientOptions {
                max_frame: 64,
                ..ClientOptions::default()
            },
        )
        .await
        .unwrap();
        let err = client
            .request("hecto", Bytes::from(vec![0u8; 100]), Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::Encode(_)), "{err}");
        assert!(client.inner.shared.lock().pending.is_empty());
        assert!(!client.is_closed());
    }

    #[tokio::test]
    async fn dropped_subscription_ends_when_connection_dies() {
        let (addr, _acks) = spawn_server().await;
        let client = Client::connect(addr).await.unwrap();
        let mut sub = client.subscribe("kftc").await.unwrap();
        let _ = client
            .request("drop", Bytes::from_static(b"x"), Duration::from_secs(5))
            .await;
        let end = tokio::time::timeout(Duration::from_secs(2), sub.recv())
            .await
            .expect("subscription hung");
        assert!(end.is_none());
    }
}
