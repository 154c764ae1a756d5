//! In-process tests of the connection task (the black-box ones are in
//! `fep-gateway/cli/tests/native_protocol.rs`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio_util::codec::Framed;

use super::*;
use crate::protocol::Request;

type Client = Framed<tokio::io::DuplexStream, NativeCodec>;

/// The next Response, within 10 s.
async fn read(c: &mut Client) -> Response {
    match tokio::time::timeout(Duration::from_secs(10), c.next()).await {
        Ok(Some(Ok(Message::Response(r)))) => r,
        other => panic!("expected a Response, got {other:?}"),
    }
}

/// The per-connection limit: with `max_open` requests open, the next one is refused at once
/// (`overload`), the open ones are still answered, and a slot freed by an answer is usable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_connection_limit_are_refused_at_once() {
    let (gateway, sim, _dir) = crate::test_support::gateway_on_sim(700).await;
    let handle = gateway.institution("hecto").expect("hecto").clone();
    let registry: Registry = Arc::new(HashMap::from([("hecto".to_owned(), handle)]));
    let (client, server) = tokio::io::duplex(1 << 20);
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(connection_as(
        server,
        Ok(crate::auth::Caller::anonymous()),
        registry,
        gateway.journal().clone(),
        Default::default(),
        gateway.notices().clone(),
        stop_rx,
        2,
    ));
    let mut c = Framed::new(client, NativeCodec::default());
    let request = |id: u64| {
        Message::Request(Request {
            id,
            institution: "hecto".into(),
            timeout_ms: 5000,
            telegram: Bytes::from(fep_testkit::samples::sample_telegram(id, false)),
            idempotency_key: None,
        })
    };
    for id in 1..=3 {
        c.send(request(id)).await.expect("send");
    }
    let first = read(&mut c).await;
    assert_eq!(
        (first.id, first.outcome),
        (3, Outcome::Rejected),
        "{first:?}"
    );
    assert!(first.detail.starts_with("overload"), "{}", first.detail);
    let mut answered: Vec<(u64, Outcome)> = Vec::new();
    for _ in 0..2 {
        let r = read(&mut c).await;
        answered.push((r.id, r.outcome));
    }
    answered.sort_by_key(|(id, _)| *id);
    assert_eq!(answered, [(1, Outcome::Ok), (2, Outcome::Ok)]);
    c.send(request(4)).await.expect("send");
    let r = read(&mut c).await;
    assert_eq!((r.id, r.outcome), (4, Outcome::Ok), "{r:?}");
    gateway.shutdown(Duration::from_secs(5)).await;
    sim.shutdown().await;
}
