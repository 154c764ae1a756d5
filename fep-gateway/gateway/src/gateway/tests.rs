//! Gateway-level tests: typed start-up errors, inbound links on port 0, and a shutdown that
//! waits for the links to write the sign-off.

use super::*;
use crate::clock::SystemClock;
use crate::journal::JournalSync;
use crate::profile::Profile;
use crate::settings::{Direction, InstitutionSettings, LinkSettings, Role};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio_util::codec::Framed;

mod kibnet;
mod per_telegram;
mod tls;

fn settings(dir: &std::path::Path, inst: InstitutionSettings) -> GatewaySettings {
    GatewaySettings {
        native_listen: "127.0.0.1:0".parse().unwrap(),
        http_listen: None,
        data_dir: dir.to_path_buf(),
        retention_days: 0,
        journal_sync: JournalSync::Normal,
        journal_commit: Default::default(),
        institutions: vec![inst],
    }
}

fn error_chain_io(err: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut next = err.source();
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        next = e.source();
    }
    None
}

#[tokio::test]
async fn a_busy_listen_address_is_a_typed_error_with_its_address_and_source() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let link = LinkSettings {
        name: "recv".into(),
        role: Role::Inbound {
            listen: addr,
            allowed_peers: Vec::new(),
        },
        direction: Direction::Both,
        mode: crate::settings::Mode::Persistent,
        tls: None,
    };
    let s = settings(dir.path(), InstitutionSettings::hecto("hecto", vec![link]));
    let Err(err) = Gateway::start(s, Arc::new(SystemClock)).await else {
        panic!("binding a taken address must fail");
    };
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    assert_eq!(
        error_chain_io(&err),
        Some(std::io::ErrorKind::AddrInUse),
        "{err:?}"
    );
    assert!(
        matches!(&err, StartError::Link(LinkError::Bind { addr: a, link, .. }) if *a == addr && link == "recv"),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_unusable_data_dir_is_a_typed_error_with_its_path_and_source() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let s = settings(
        &file.join("data"),
        InstitutionSettings::hecto("hecto", Vec::new()),
    );
    let Err(err) = Gateway::start(s, Arc::new(SystemClock)).await else {
        panic!("a data_dir under a file cannot be created");
    };
    assert!(
        matches!(&err, StartError::DataDir { path, .. } if path == &file.join("data")),
        "{err:?}"
    );
    assert!(error_chain_io(&err).is_some(), "{err:?}");
}

/// An inbound link configured on port 0 listens on a real port, reports it (`listen_addrs`,
/// `/v1/status`) and accepts the institution there.
#[tokio::test]
async fn an_inbound_link_on_port_0_reports_its_port_and_accepts_there() {
    let dir = tempfile::tempdir().unwrap();
    let link = LinkSettings {
        name: "in".into(),
        role: Role::Inbound {
            listen: "127.0.0.1:0".parse().unwrap(),
            allowed_peers: Vec::new(),
        },
        direction: Direction::Both,
        mode: crate::settings::Mode::Persistent,
        tls: None,
    };
    let mut inst = InstitutionSettings::hecto("hecto", vec![link]);
    inst.poll_interval = None;
    let gateway = Gateway::start(settings(dir.path(), inst), Arc::new(SystemClock))
        .await
        .unwrap();
    let [listen] = gateway.listen_addrs() else {
        panic!("one inbound link: {:?}", gateway.listen_addrs());
    };
    assert_eq!(
        (listen.institution.as_str(), listen.link.as_str()),
        ("hecto", "in")
    );
    assert_ne!(listen.addr.port(), 0);
    let status = gateway.status().await;
    assert_eq!(status[0].links[0].listen, Some(listen.addr));
    let json = serde_json::to_value(&status[0].links[0]).unwrap();
    assert_eq!(json["listen"], listen.addr.to_string());
    assert_eq!(json["direction"], "both");
    // The institution connects there; the link comes up.
    let _peer = tokio::net::TcpStream::connect(listen.addr).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = gateway.status().await;
        if status[0].links[0].state == crate::institution::LinkState::Up {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the link never came up: {status:?}"
        );
        tokio::task::yield_now().await;
    }
    gateway.shutdown(Duration::from_secs(5)).await;
}

/// A Hecto peer that answers the sign-on, then reads nothing until `resume` fires and
/// 500 ms more (a slow host), then reads to the end; returns the (type, biz) of each frame.
async fn stalling_peer(
    listener: tokio::net::TcpListener,
    resume: tokio::sync::oneshot::Receiver<()>,
) -> Vec<String> {
    let profile = Profile::hecto(crate::profile::HectoContract::DEMO);
    let (stream, _) = listener.accept().await.unwrap();
    let codec = crate::framing::FrameCodec::new(crate::framing::Framing::hecto(), 4096).unwrap();
    let mut framed = Framed::new(stream, codec);
    let sign_on = framed.next().await.unwrap().unwrap();
    let answer = profile.answer_to(&sign_on, "0000");
    framed.send(Bytes::from(answer)).await.unwrap();
    let _ = resume.await;
    // The scenario, not a synchronisation: a peer slow to read, so the gateway's last frames
    // (the sign-off) sit in its buffers when shutdown begins.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut seen = Vec::new();
    let read_all = async {
        while let Some(Ok(frame)) = framed.next().await {
            seen.push(
                profile
                    .msg_key(&frame)
                    .map_or("?/?".into(), |k| k.to_string()),
            );
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read_all)
        .await
        .expect("peer never closed");
    seen
}

/// `fep run` exits as soon as `Gateway::shutdown` returns: by then the sign-off must have
/// left the link, even when the institution is slow to read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_returns_only_after_the_links_wrote_the_sign_off() {
    // A small receive window and segment size keep the gateway's socket buffers small,
    // so that a few hundred unread requests block the link's writes.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.set_tcp_mss(536).unwrap();
    socket
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    socket.listen(8).unwrap();
    socket.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(socket.into()).unwrap();
    let peer_addr = listener.local_addr().unwrap();
    let (resume_tx, resume_rx) = tokio::sync::oneshot::channel();
    let peer = tokio::spawn(stalling_peer(listener, resume_rx));
    let dir = tempfile::tempdir().unwrap();
    let mut inst =
        InstitutionSettings::hecto("hecto", vec![LinkSettings::outbound_duplex(peer_addr)]);
    inst.breaker = None;
    inst.poll_interval = None;
    inst.inquiry_delay = Duration::from_secs(3600);
    let s = settings(dir.path(), inst);
    // The gateway runs on its own runtime, dropped when shutdown returns (as `fep run`'s
    // process exits): what the links still hold then is lost.
    let gateway_thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let gateway = Gateway::start(s, Arc::new(SystemClock)).await.unwrap();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
            while !gateway.status().await.iter().all(|s| s.signed_on) {
                assert!(tokio::time::Instant::now() < deadline, "no sign-on");
                tokio::task::yield_now().await;
            }
            let handle = gateway.institution("hecto").unwrap().clone();
            let requests: Vec<_> = (0..2000u64)
                .map(|i| {
                    let h = handle.clone();
                    tokio::spawn(async move {
                        h.request(
                            fep_testkit::samples::sample_telegram(i, false),
                            Some(Duration::from_millis(300)),
                        )
                        .await
                    })
                })
                .collect();
            for r in requests {
                r.await.unwrap();
            }
            let _ = resume_tx.send(());
            gateway.shutdown(Duration::from_secs(20)).await;
        });
        drop(rt);
    });
    let seen = peer.await.unwrap();
    gateway_thread.join().unwrap();
    assert!(seen.len() > 1, "{seen:?}");
    assert_eq!(
        seen.last().map(String::as_str),
        Some("1000/200"),
        "the sign-off is the last frame; saw {} frames",
        seen.len()
    );
}
