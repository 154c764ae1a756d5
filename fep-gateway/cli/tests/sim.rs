//! The real gateway with the simulated Hecto bank: in-process (interop under load, split
//! lines included) and as processes (`fep sim` serving `fep run`). Every wait is bounded.

mod support;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use fep_client::client::Client;
use fep_client::protocol::Outcome;
use fep_testkit::sim::{SimConfig, SimHandle, Simulator};
use tokio::net::TcpListener;
use tokio::time::{timeout, Instant};

use support::{config, duplex_link, institution, stdout_lines, tempdir, transfer, Fep};

/// A simulator on a listener bound here: its address is known before it starts.
async fn start(cfg: SimConfig) -> SimHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    Simulator::start_on(listener, cfg).expect("start simulator")
}

/// The address an in-process gateway's inbound link bound (configured as port 0), from its
/// status (`LinkStatus::listen`, serialised as `"ip:port"`).
async fn inbound_listen(
    gateway: &fep_gateway::gateway::Gateway,
    institution: &str,
    link: &str,
) -> SocketAddr {
    let status = serde_json::to_value(gateway.status().await).expect("status as JSON");
    status
        .as_array()
        .and_then(|all| all.iter().find(|i| i["name"] == institution))
        .and_then(|i| i["links"].as_array())
        .and_then(|links| links.iter().find(|l| l["name"] == link))
        .and_then(|l| l["listen"].as_str())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no bound address for {institution}/{link} in the gateway's status (needs \
                 LinkStatus `listen`): {status}"
            )
        })
}

/// `fep sim` (the binary) answers `fep run`: the README's manual drill, end to end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fep_sim_serves_fep_run() {
    let mut sim = Command::new(env!("CARGO_BIN_EXE_fep"))
        .args(["sim", "--listen", "127.0.0.1:0", "--decline-rate", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn fep sim");
    let line = stdout_lines(&mut sim)
        .recv_timeout(Duration::from_secs(20))
        .expect("fep sim did not say where it listens within 20 s");
    let addr: SocketAddr = line
        .strip_prefix("listening on ")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let dir = tempdir();
    let fep = Fep::start(
        dir.path(),
        &config(
            &dir.path().join("data"),
            &[institution("hecto", &duplex_link(addr), "5s", "1m", "5m")],
        ),
        &[],
    );
    fep.wait_signed_on("hecto").await;
    let client = Client::connect(fep.native).await.expect("connect");
    let r = client
        .request("hecto", transfer(10_000), Duration::from_secs(5))
        .await
        .expect("answer");
    assert_eq!(r.outcome, Outcome::Ok, "{}", r.detail);
    assert_eq!(&r.telegram[24..28], b"2100");
    drop(fep);
    let _ = sim.kill();
    let _ = sim.wait();
}

/// The real gateway against two simulated banks (duplex, and split lines via connect-back):
/// every request gets exactly one outcome, unknowns are resolved by 7000/100, notices are
/// acknowledged with the 예비영역 echoed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gateway_interop() {
    use fep_cli::load::{self, LoadOptions};
    use fep_gateway::clock::SystemClock;
    use fep_gateway::gateway::Gateway;
    use fep_gateway::settings::{GatewaySettings, InstitutionSettings, LinkSettings};
    use std::sync::Arc;

    let cfg = |seed: u64| SimConfig {
        latency_ms: "1..3".into(),
        decline_rate: 0.1,
        unknown_rate: 0.03,
        no_response_rate: 0.01,
        notice_interval_ms: Some(100),
        notice_ack_timeout_ms: 1_000,
        seed,
        ..SimConfig::default()
    };
    let duplex = start(cfg(3)).await;
    let split = start(cfg(4)).await;
    let tune = |mut s: InstitutionSettings| {
        s.request_timeout = Duration::from_millis(800);
        s.inquiry_delay = Duration::from_millis(300);
        s.inquiry_interval = Duration::from_millis(300);
        s.poll_interval = Some(Duration::from_secs(30));
        s
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = GatewaySettings {
        native_listen: "127.0.0.1:0".parse().expect("addr"),
        http_listen: None,
        data_dir: dir.path().to_path_buf(),
        retention_days: 0,
        journal_sync: Default::default(),
        journal_commit: Default::default(),
        institutions: vec![
            tune(InstitutionSettings::hecto(
                "hecto",
                vec![LinkSettings::outbound_duplex(duplex.addr())],
            )),
            tune(InstitutionSettings::hecto(
                "hecto-split",
                LinkSettings::loopback_split(split.addr()),
            )),
        ],
    };
    let gateway = Gateway::start(settings, Arc::new(SystemClock))
        .await
        .expect("gateway");
    split
        .connect_back(inbound_listen(&gateway, "hecto-split", "recv").await)
        .expect("split lines on");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !(gateway.status().await.iter().all(|s| s.signed_on) && split.connected_back()) {
        assert!(Instant::now() < deadline, "gateway did not sign on");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let opts = LoadOptions {
        addr: gateway.native_addr().to_string(),
        institutions: vec!["hecto".into(), "hecto-split".into()],
        concurrency: 32,
        rate: 0,
        seconds: 2,
        inquiry_percent: 10,
        timeout_ms: 800,
        connections: 2,
        idempotency_keys: false,
    };
    let report = timeout(Duration::from_secs(30), load::run(&opts, |_, _| {}))
        .await
        .expect("load finished")
        .expect("load ran");
    assert!(report.requests > 100, "{report:?}");
    assert_eq!(report.lost, 0, "{report:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while gateway.status().await.iter().any(|s| s.resolving > 0) {
        assert!(Instant::now() < deadline, "unknowns not resolved");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for s in gateway.status().await {
        let c = &s.counters;
        assert!(c.ok > 0 && c.declined > 0, "{}: {c:?}", s.name);
        assert_eq!(c.unknown_resolved, c.resolved_ok + c.resolved_declined);
        assert!(c.notices > 0, "{}: notices recorded", s.name);
    }
    // Every transfer the bank left in doubt (unknown code or no answer) was resolved by the
    // gateway to its true outcome; timeouts of answered transfers can only add to these.
    let (mut doubt_ok, mut doubt_declined) = (0u64, 0u64);
    for sim in [&duplex, &split] {
        for (_, _, t) in sim.outcomes() {
            if t.answered.as_deref().is_none_or(|a| a != t.result) {
                if t.executed {
                    doubt_ok += 1;
                } else {
                    doubt_declined += 1;
                }
            }
        }
    }
    let status = gateway.status().await;
    let resolved_ok: u64 = status.iter().map(|s| s.counters.resolved_ok).sum();
    let resolved_declined: u64 = status.iter().map(|s| s.counters.resolved_declined).sum();
    assert!(doubt_ok + doubt_declined > 0, "the run produced unknowns");
    assert!(
        resolved_ok >= doubt_ok && resolved_declined >= doubt_declined,
        "gateway resolved {resolved_ok} ok / {resolved_declined} declined; bank truth {doubt_ok} / {doubt_declined}"
    );
    for sim in [&duplex, &split] {
        let st = sim.stats();
        assert!(st.notices_acked > 0, "{st:?}");
        assert_eq!(st.notice_acks_bad, 0, "{st:?}");
        assert_eq!(st.duplicates_rejected, 0, "gateway never reuses a number");
        assert_eq!(st.bad_frames, 0, "{st:?}");
    }
    gateway.shutdown(Duration::from_secs(5)).await;
    duplex.shutdown().await;
    split.shutdown().await;
}
