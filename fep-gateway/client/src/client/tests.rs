//! Unit tests of [`super`]; a file of their own keeps `client.rs` readable.

use super::*;
use futures_util::SinkExt;
use tokio::net::TcpListener;
use tokio_util::codec::Framed;

/// A tiny gateway stand-in built on the protocol module.
///
/// Requests: institution "slow" is never answered, "drop" closes the connection,
/// anything else is answered after `telegram[0]` milliseconds with the telegram reversed.
/// Subscribe "nope" is rejected; other subscriptions get notices 1..=3 pushed (tagged with
/// the subscription id when the Subscribe has a group). Unsubscribe answers `ok` for an open
/// subscription. Acks are reported on `acks`.
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
                let mut open = std::collections::HashSet::new();
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
                                open.insert(s.id);
                                for n in 1..=3u64 {
                                    let _ = out_tx.send(Message::Notice(Notice {
                                        institution: "hecto".into(),
                                        notice_id: n,
                                        telegram: Bytes::from(format!("notice-{n}")),
                                        subscription: s.group.as_ref().map(|_| s.id),
                                    }));
                                }
                            }
                        }
                        Message::Unsubscribe(u) => {
                            let ok = open.remove(&u.subscription);
                            let _ = out_tx.send(Message::Response(Response {
                                id: u.id,
                                outcome: if ok { Outcome::Ok } else { Outcome::Rejected },
                                detail: String::new(),
                                telegram: Bytes::new(),
                            }));
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
    // This answer leaves the server 250 ms after its request, the late one 200 ms after an
    // earlier request: on the one ordered connection the late answer arrives first, and the
    // client must drop it and still hand this one to its caller.
    let ok = client
        .request(
            "hecto",
            Bytes::from_static(b"\xfaok"),
            Duration::from_secs(2),
        )
        .await
        .unwrap();
    assert_eq!(&ok.telegram[..], b"ko\xfa");
    assert!(!client.is_closed());
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
    // All 20 registered (and so queued for the one writer before the "drop" request, which
    // the server reads after them on the same ordered connection).
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.inner.shared.lock().pending.len() < 20 {
        assert!(Instant::now() < deadline, "the slow requests were not sent");
        tokio::task::yield_now().await;
    }
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
async fn tagged_notices_reach_their_own_subscription_only() {
    let (addr, _acks) = spawn_server().await;
    let client = Client::connect(addr).await.unwrap();
    let mut plain = client.subscribe("hecto").await.unwrap();
    for n in 1..=3 {
        assert_eq!(plain.recv().await.unwrap().notice_id, n);
    }
    let mut grouped = client.subscribe_group("hecto", "ledger").await.unwrap();
    for n in 1..=3 {
        let got = grouped.recv().await.unwrap();
        assert_eq!((got.notice_id, got.subscription), (n, Some(grouped.id())));
    }
    // The tagged copies did not reach the untagged subscription.
    client.ping(Duration::from_secs(5)).await.unwrap();
    assert!(
        plain.rx.try_recv().is_err(),
        "a tagged notice is not broadcast"
    );
    let id = grouped.id();
    grouped.unsubscribe().await.unwrap();
    // A dropped group subscription unsubscribes by itself.
    let dropped = client.subscribe_group("hecto", "ledger").await.unwrap();
    let dropped_id = dropped.id();
    drop(dropped);
    let err = client.unsubscribe(dropped_id).await.unwrap_err();
    assert!(
        matches!(err, ClientError::UnsubscribeRejected { .. }),
        "already unsubscribed: {err}"
    );
    assert!(!client.inner.shared.lock().subs.contains_key(&id));
    let err = client.unsubscribe(id).await.unwrap_err();
    assert!(
        matches!(err, ClientError::UnsubscribeRejected { subscription, .. } if subscription == id),
        "{err}"
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
