//! In-process tests of the connection task (the black-box ones are in
//! `fep-gateway/cli/tests/native_protocol.rs`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fep_testkit::bank_sim::{BankSim, BankSimConfig};
use futures::{SinkExt, StreamExt};
use tokio_util::codec::Framed;

use super::*;
use crate::clock::SystemClock;
use crate::gateway::Gateway;
use crate::protocol::Request;
use crate::settings::{GatewaySettings, InstitutionSettings, LinkSettings};

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
    let sim = BankSim::start(BankSimConfig {
        latency_ms: (700, 700),
        ..BankSimConfig::default()
    })
    .await
    .expect("bank sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = GatewaySettings {
        native_listen: "127.0.0.1:0".parse().expect("addr"),
        http_listen: None,
        data_dir: dir.path().to_path_buf(),
        retention_days: 0,
        journal_sync: Default::default(),
        institutions: vec![InstitutionSettings::hecto(
            "hecto",
            vec![LinkSettings::outbound_duplex(sim.addr())],
        )],
    };
    let gateway = Gateway::start(settings, Arc::new(SystemClock))
        .await
        .expect("gateway");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !gateway.status().await.iter().all(|s| s.signed_on) {
        assert!(Instant::now() < deadline, "no sign-on");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let handle = gateway.institution("hecto").expect("hecto").clone();
    let registry: Registry = Arc::new(HashMap::from([("hecto".to_owned(), handle)]));
    let (client, server) = tokio::io::duplex(1 << 20);
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(connection(
        server,
        registry,
        gateway.journal().clone(),
        Default::default(),
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
