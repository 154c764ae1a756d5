//! The shipped `fep.example.toml` must load and say what its comments claim.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use fep_client::framing::Framing;
use fep_gateway::config::{check_summary, Config, Direction, Role};

fn example_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fep.example.toml")
}

#[test]
fn example_config_loads_with_expected_contents() {
    let path = example_path();
    let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(check_summary(&c), "ok: 2 institutions, 3 links");
    assert_eq!(
        c.server.native_listen,
        "127.0.0.1:7700".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        c.server.http_listen,
        "127.0.0.1:7780".parse::<SocketAddr>().unwrap()
    );

    let hecto = c.institution("hecto").expect("hecto");
    assert_eq!(hecto.framing, Framing::hecto());
    assert_eq!(hecto.max_frame, 4096);
    assert_eq!(hecto.request_timeout, Duration::from_secs(10));
    assert!(hecto.spec.ends_with("specs/hecto.toml"));
    assert_eq!(hecto.links.len(), 1);
    let duplex = &hecto.links[0];
    assert_eq!(duplex.role, Role::Outbound);
    assert_eq!(duplex.direction, Direction::Both);
    assert_eq!(duplex.connect.as_deref(), Some("127.0.0.1:9101"));
    assert_eq!(hecto.polling.idle_interval, Duration::from_secs(300));
    assert_eq!(hecto.unknown.inquiry_delay, Duration::from_secs(300));
    assert_eq!(hecto.unknown.inquiry_interval, Duration::from_secs(60));
    assert_eq!(hecto.limits.max_inflight, 64);

    let split = c.institution("hecto-split").expect("hecto-split");
    assert_eq!(split.max_frame, 8192);
    assert_eq!(split.request_timeout, Duration::from_secs(15));
    let send = &split.links[0];
    assert_eq!(
        (send.role, send.direction, send.count),
        (Role::Outbound, Direction::Send, 2)
    );
    let recv = &split.links[1];
    assert_eq!(
        (recv.role, recv.direction),
        (Role::Inbound, Direction::Recv)
    );
    assert_eq!(
        recv.listen,
        Some("127.0.0.1:9202".parse::<SocketAddr>().unwrap())
    );
    assert_eq!(
        recv.allowed_peers,
        vec![IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1))]
    );
    assert!(recv.connect.is_none());
    assert_eq!(split.polling.idle_interval, Duration::from_secs(120));
    assert_eq!(split.unknown.inquiry_max_attempts, 5);
    assert_eq!(split.limits.rate_tps, 50);
}

#[test]
fn fep_check_binary_reports_ok_and_errors() {
    let bin = env!("CARGO_BIN_EXE_fep");
    let ok = std::process::Command::new(bin)
        .args(["check", "--config"])
        .arg(example_path())
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout).trim(),
        "ok: 2 institutions, 3 links"
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("fep.toml");
    let text = std::fs::read_to_string(example_path())
        .unwrap()
        .replace("role = \"inbound\"", "role = \"inbnd\"");
    std::fs::write(&bad, &text).unwrap();
    let out = std::process::Command::new(bin)
        .args(["check", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let line = text.lines().position(|l| l.contains("inbnd")).unwrap() + 1;
    let col = text
        .lines()
        .nth(line - 1)
        .unwrap()
        .find("\"inbnd\"")
        .unwrap()
        + 1;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "fep.toml:{line}:{col}: institution[1].links[1].role: unknown variant \"inbnd\""
        )),
        "{stderr}"
    );
}
