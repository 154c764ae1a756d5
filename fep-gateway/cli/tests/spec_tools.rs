//! `fep decode`, `fep codegen` and `fep spec doc` as a user runs them: piped into a reader that
//! stops early (`| head`) they end quietly instead of panicking, and a spec that does not load
//! is reported once, as `file:line:col: …`.

use std::io::Read;
use std::process::{Command, Stdio};

fn spec(name: &str) -> String {
    format!("{}/../../specs/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs `fep args…` with stdout a pipe whose reader is gone before `fep` writes (as with
/// `| head` once it has its lines: the output here is smaller than a pipe's buffer, so the
/// reader must leave first for the write to fail).
fn run_into_closed_pipe(args: &[&str]) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fep"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fep runs");
    drop(child.stdout.take());
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    (child.wait().expect("fep exits"), stderr)
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let hecto = spec("hecto.toml");
    let kibnet = spec("kibnet.toml");
    let telegram = std::env::temp_dir().join(format!("fep-pipe-{}.hex", std::process::id()));
    // A KIBNET 0800/2100 개시: LENGTH 0600 at 0, 전문구분 0800 at 39, 거래구분 2100 at 43;
    // the family's tolerant N fields read the blank rest as zeros.
    let mut t = vec![b' '; 600];
    for (at, bytes) in [(0, &b"0600"[..]), (20, b"6"), (39, b"0800"), (43, b"2100")] {
        t[at..at + bytes.len()].copy_from_slice(bytes);
    }
    std::fs::write(&telegram, &t).expect("write telegram");
    let ok = Command::new(env!("CARGO_BIN_EXE_fep"))
        .args([
            "decode",
            "--spec",
            kibnet.as_str(),
            telegram.to_string_lossy().as_ref(),
        ])
        .output()
        .expect("fep runs");
    assert!(
        String::from_utf8_lossy(&ok.stdout).starts_with("0800/2100 OpenRequest (600 bytes)"),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let telegram = telegram.to_string_lossy().into_owned();
    for args in [
        vec!["codegen", hecto.as_str()],
        vec!["codegen", kibnet.as_str()],
        vec!["spec", "doc", kibnet.as_str()],
        vec!["decode", "--spec", kibnet.as_str(), telegram.as_str()],
    ] {
        let (status, stderr) = run_into_closed_pipe(&args);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            status.code().is_some(),
            "{args:?} died of a signal: {status:?}"
        );
    }
    let _ = std::fs::remove_file(&telegram);
}

#[test]
fn a_spec_that_does_not_load_is_reported_once_with_file_line_and_column() {
    let broken = std::env::temp_dir().join(format!("fep-broken-{}.toml", std::process::id()));
    let text = std::fs::read_to_string(spec("kibnet.toml"))
        .expect("kibnet.toml")
        .replacen("format = \"YYYYMMDD\"", "format = \"garbage\"", 1);
    std::fs::write(&broken, &text).expect("write spec");
    let out = Command::new(env!("CARGO_BIN_EXE_fep"))
        .args(["spec", "doc"])
        .arg(&broken)
        .output()
        .expect("fep runs");
    let _ = std::fs::remove_file(&broken);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = text
        .lines()
        .position(|l| l.contains("format = \"garbage\""))
        .map_or(0, |i| i + 1);
    let want = format!("{}:{line}:", broken.display());
    assert!(stderr.starts_with(&want), "{stderr}");
    assert_eq!(
        stderr.matches(&*broken.to_string_lossy()).count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("not a date/time pattern"), "{stderr}");
}
