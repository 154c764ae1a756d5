//! The shipped `fep.example.toml` must load and say what its comments claim.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use fep_client::framing::Framing;
use fep_gateway::breaker::BreakerConfig;
use fep_gateway::config::{check_summary, load_and_resolve, Direction, Role};

fn example_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fep.example.toml")
}

#[test]
fn example_config_loads_with_expected_contents() {
    let path = example_path();
    let resolved = load_and_resolve(&path).unwrap_or_else(|e| panic!("{e}"));
    let c = &resolved.config;
    assert_eq!(check_summary(c), "ok: 3 institutions, 5 links");
    assert_eq!(resolved.summary(), check_summary(c));
    assert_eq!(
        c.server.native_listen,
        "127.0.0.1:7700".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        c.server.http_listen,
        "127.0.0.1:7780".parse::<SocketAddr>().unwrap()
    );

    let hecto = c.institution("hecto").expect("hecto");
    assert_eq!(hecto.framing, Some(Framing::hecto()));
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

    // What the gateway runs with: `count = 2` is two connections, the breaker has its defaults.
    let settings = &resolved.settings;
    let names: Vec<&str> = settings.institutions[1]
        .links
        .iter()
        .map(|l| l.name.as_str())
        .collect();
    assert_eq!(names, ["send-1", "send-2", "recv"]);
    assert_eq!(
        settings.institutions[0].breaker.as_deref(),
        Some(&BreakerConfig::default())
    );
    assert_eq!(
        settings.institutions[0].webhook.as_deref(),
        Some("http://127.0.0.1:8080/fep/notices")
    );

    // KIBNET from its spec alone: the spec's framing (LENGTH inside the telegram), the
    // institution-opened day, per-telegram lines.
    let kib = settings
        .institutions
        .iter()
        .find(|i| i.name == "kibnet")
        .expect("kibnet");
    assert_eq!(
        kib.framing,
        Framing::Field {
            offset: 0,
            digits: 4,
            includes_self: true,
            prefix: None
        }
    );
    assert_eq!(
        kib.profile.session.opened_by,
        fep_codec::spec::Opener::Institution
    );
    assert!(kib
        .links
        .iter()
        .all(|l| matches!(l.mode, fep_gateway::settings::Mode::PerTelegram(_))));
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
        "ok: 3 institutions, 5 links"
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

/// Runs `fep <args>` and waits at most 60 s: a `fep run` that starts instead of refusing the
/// config is killed and fails the test rather than hanging it.
fn fep_output(args: &[&std::ffi::OsStr]) -> std::process::Output {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fep"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("fep {args:?} still running after 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn fep_check_and_fep_run_refuse_a_missing_spec_alike() {
    // The example, copied where `specs/hecto.toml` does not exist: the spec paths are
    // relative to the config file. `fep check` used to pass this and `fep run` to fail.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fep.toml");
    let text = std::fs::read_to_string(example_path()).unwrap();
    std::fs::write(&config, &text).unwrap();
    let spec_positions: Vec<(usize, usize)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("spec = "))
        .map(|(i, l)| (i + 1, l.find('"').unwrap() + 1))
        .collect();
    assert_eq!(spec_positions.len(), 3);

    let check = fep_output(&["check".as_ref(), "--config".as_ref(), config.as_ref()]);
    assert_eq!(check.status.code(), Some(2));
    assert!(check.stdout.is_empty());
    let check_err = String::from_utf8_lossy(&check.stderr).into_owned();
    let lines: Vec<&str> = check_err.lines().collect();
    assert_eq!(lines.len(), 3, "{check_err}");
    for (i, (line, col)) in spec_positions.iter().enumerate() {
        let want = format!(
            "{}:{line}:{col}: institution[{i}].spec: cannot read spec file ",
            config.display()
        );
        assert!(lines[i].starts_with(&want), "{want}\n{check_err}");
    }

    let run = fep_output(&["run".as_ref(), "--config".as_ref(), config.as_ref()]);
    assert!(!run.status.success());
    assert!(
        !String::from_utf8_lossy(&run.stdout).contains("fep ready"),
        "fep run started"
    );
    let run_err = String::from_utf8_lossy(&run.stderr);
    assert!(
        run_err.contains(check_err.trim_end()),
        "fep run said:\n{run_err}\nfep check said:\n{check_err}"
    );
}

#[test]
fn fep_check_reports_breaker_and_webhook_problems_together() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fep.toml");
    let spec = example_path()
        .parent()
        .unwrap()
        .join("specs/hecto.toml")
        .canonicalize()
        .unwrap();
    let kibnet = spec.with_file_name("kibnet.toml");
    let text = std::fs::read_to_string(example_path())
        .unwrap()
        .replace(
            "spec = \"specs/hecto.toml\"",
            &format!("spec = {:?}", spec.display().to_string()),
        )
        .replace(
            "spec = \"specs/kibnet.toml\"",
            &format!("spec = {:?}", kibnet.display().to_string()),
        )
        .replace(
            "http://127.0.0.1:8080/fep/notices",
            "ftp://127.0.0.1/notices",
        )
        + "\n[institution.breaker]\nfailure_rate_threshold = 150.0\nminimum_number_of_calls = 0\n";
    std::fs::write(&config, &text).unwrap();
    let out = fep_output(&["check".as_ref(), "--config".as_ref(), config.as_ref()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    for (line, key) in [
        (line_of("ftp://"), "institution[0].notices.webhook"),
        (
            line_of("failure_rate_threshold"),
            "institution[2].breaker.failure_rate_threshold",
        ),
        (
            line_of("minimum_number_of_calls"),
            "institution[2].breaker.minimum_number_of_calls",
        ),
    ] {
        assert!(
            stderr.contains(&format!(":{line}:")) && stderr.contains(key),
            "{key} at line {line}:\n{stderr}"
        );
    }
    assert_eq!(stderr.lines().count(), 3, "{stderr}");
}

#[cfg(unix)]
#[test]
fn fep_check_warns_on_an_open_key_file_and_never_shows_the_key() {
    use std::os::unix::fs::PermissionsExt;
    let key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("specs")).unwrap();
    std::fs::create_dir_all(dir.path().join("keys")).unwrap();
    std::fs::write(dir.path().join("specs/hecto.toml"), fep_specs::HECTO_TOML).unwrap();
    std::fs::write(dir.path().join("specs/kibnet.toml"), fep_specs::KIBNET_TOML).unwrap();
    let key_file = dir.path().join("keys/hecto.key");
    std::fs::write(&key_file, key).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    // The table applies to the last [[institution]] (kibnet).
    let text = std::fs::read_to_string(example_path()).unwrap()
        + "\n[institution.encryption]\nalgorithm = \"aria-256\"\nmode = \"cbc\"\n\
           padding = \"pkcs7\"\nkey_file = \"keys/hecto.key\"\nkey_format = \"hex\"\n\
           iv = \"zero\"\nscope = \"body\"\n";
    let config = dir.path().join("fep.toml");
    std::fs::write(&config, &text).unwrap();
    let check = fep_output(&["check".as_ref(), "--config".as_ref(), config.as_ref()]);
    let stderr = String::from_utf8_lossy(&check.stderr).into_owned();
    assert!(check.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&check.stdout).trim(),
        "ok: 3 institutions, 5 links"
    );
    let line = text
        .lines()
        .position(|l| l.starts_with("key_file"))
        .unwrap()
        + 1;
    let want = format!(
        "warning: {}:{line}:12: institution[2].encryption.key_file: key file ",
        config.display()
    );
    // The key warning, and the example's open-access warning (no [[server.clients]]).
    let key_lines: Vec<&str> = stderr.lines().filter(|l| l.contains("key_file")).collect();
    assert_eq!(key_lines.len(), 1, "{stderr}");
    assert!(key_lines[0].starts_with(&want), "{want}\n{stderr}");
    assert!(
        key_lines[0].ends_with("(mode 644): chmod 600 it"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
    assert!(!stderr.contains(&key[..8]), "{stderr}");
}
