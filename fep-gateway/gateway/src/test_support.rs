//! Shared by the crate's in-process tests: a gateway on a simulated bank, signed on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fep_testkit::sim::{SimConfig, SimHandle, Simulator};

use crate::clock::SystemClock;
use crate::gateway::Gateway;
use crate::settings::{GatewaySettings, InstitutionSettings, LinkSettings};

/// A gateway with one Hecto institution `hecto` on a bank simulator that answers after
/// `latency_ms` and records what it sees, started on a temporary data directory and signed on (or panics after 15 s).
pub(crate) async fn gateway_on_sim(latency_ms: u64) -> (Gateway, SimHandle, tempfile::TempDir) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the simulator");
    let config = SimConfig {
        record: true,
        latency_ms: latency_ms.to_string(),
        ..SimConfig::default()
    };
    let sim = Simulator::start_on(listener, config).expect("simulator");
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = GatewaySettings {
        native_listen: "127.0.0.1:0".parse().expect("addr"),
        http_listen: None,
        data_dir: dir.path().to_path_buf(),
        retention_days: 0,
        journal_sync: Default::default(),
        journal_commit: Default::default(),
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
    (gateway, sim, dir)
}
