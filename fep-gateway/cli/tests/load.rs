//! `fep load` against a real started gateway, black-box: the `fep` binary's own JSON report,
//! over the HTTP API (`--http`) and over the native protocol.

mod support;

use support::*;

/// Runs `fep load … --json` to the end and returns its report.
async fn fep_load(args: Vec<String>) -> serde_json::Value {
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_fep"))
            .arg("load")
            .args(&args)
            .arg("--json")
            .env("RUST_LOG", "warn")
            .output()
            .expect("run fep load")
    })
    .await
    .expect("fep load joined");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "fep load failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("report ({e}): {stdout}"))
}

/// Every request `fep load` sends is answered, over HTTP as over the native protocol: counts
/// above zero, nothing lost, each request counted exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fep_load_over_http_and_native_answers_every_request() {
    let bank = bank(Answer::code("0000")).await;
    let dir = tempdir();
    let fep = Fep::start(
        dir.path(),
        &duplex_hecto(&data(dir.path(), "data"), bank.addr(), "5s", "5m"),
        &[],
    );
    fep.wait_signed_on("hecto").await;
    let paced = [
        "--rate",
        "100",
        "--seconds",
        "1",
        "--concurrency",
        "4",
        "--inquiry-percent",
        "10",
    ];
    for target in [
        vec!["--http".to_owned(), format!("http://{}", fep.http)],
        vec!["--addr".to_owned(), fep.native.to_string()],
    ] {
        let args: Vec<String> = target
            .iter()
            .cloned()
            .chain(paced.iter().map(|s| s.to_string()))
            .collect();
        let r = fep_load(args).await;
        let count = |k: &str| r[k].as_u64().unwrap_or_else(|| panic!("no {k} in {r}"));
        assert!(count("requests") > 0, "{target:?}: {r}");
        assert!(count("ok") > 0, "{target:?}: {r}");
        assert_eq!(count("lost"), 0, "{target:?}: {r}");
        assert_eq!(
            count("ok") + count("declined") + count("unknown") + count("rejected"),
            count("requests"),
            "{target:?}: {r}"
        );
    }
}
