//! `fep journal` on a journal written through the gateway's own journal: it says when
//! `--limit` cut the listing, and `--json` gives one document with the rows, `truncated` and
//! `total`.

mod support;

use std::path::Path;
use std::process::Command;

use fep_gateway::domain::{MsgKey, TxState};
use fep_gateway::journal::{Journal, TxRecord};

/// A journal in `data` with `n` settled transfers of "hecto" (ids 1..=n).
async fn journal_with(data: &Path, n: u64) {
    std::fs::create_dir_all(data).expect("data dir");
    let j = Journal::open(&data.join("journal.db")).expect("open journal");
    for id in 1..=n {
        j.put_tx(TxRecord {
            id,
            institution: "hecto".into(),
            day: 20261122,
            msg_no: id as u32,
            msg_type: MsgKey::from(("2000", "100")),
            outcome: TxState::Ok,
            detail: "0000".into(),
            resolved: None,
            updated_ms: 1,
            client: None,
        })
        .await
        .expect("record");
    }
    j.flush().await.expect("flush");
}

fn fep_journal(data: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_fep"))
        .arg("journal")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .expect("run fep journal");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[tokio::test]
async fn a_listing_cut_by_the_limit_says_so() {
    let dir = support::tempdir();
    let data = dir.path().join("data");
    journal_with(&data, 1234).await;
    let listing = fep_journal(&data, &["--limit", "3"]);
    assert_eq!(listing.lines().count(), 1 + 3 + 1, "{listing}");
    assert!(
        listing.contains("showing the newest 3 of 1,234 transactions; use --limit"),
        "{listing}"
    );
    // Everything shown: no such line.
    let all = fep_journal(&data, &["--limit", "2000"]);
    assert!(
        !all.contains("showing"),
        "{}",
        all.lines().last().unwrap_or("")
    );
    assert_eq!(all.lines().count(), 1 + 1234);
}

#[tokio::test]
async fn json_output_is_one_document_with_rows_truncated_and_total() {
    let dir = support::tempdir();
    let data = dir.path().join("data");
    journal_with(&data, 5).await;
    let cut: serde_json::Value =
        serde_json::from_str(&fep_journal(&data, &["--json", "--limit", "2"])).expect("JSON");
    assert_eq!(cut["total"], 5, "{cut}");
    assert_eq!(cut["shown"], 2, "{cut}");
    assert_eq!(cut["truncated"], true, "{cut}");
    let rows = cut["transactions"].as_array().expect("rows");
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0]["id"].as_u64(), rows[1]["id"].as_u64()),
        (Some(5), Some(4)),
        "newest first"
    );
    assert_eq!(rows[0]["outcome"], "ok");
    let whole: serde_json::Value =
        serde_json::from_str(&fep_journal(&data, &["--json", "--outcome", "ok"])).expect("JSON");
    assert_eq!(
        (&whole["total"], &whole["truncated"]),
        (&5.into(), &false.into()),
        "{whole}"
    );
}

fn fep_repair_log(data: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fep"))
        .arg("repair-log")
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .expect("run fep repair-log");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The damaged-log repair itself is tested against the journal (`journal::log_tests`); here,
/// the command: a healthy log has nothing to repair, a running gateway's log is refused, and
/// a directory without a journal is an error.
#[tokio::test]
async fn repair_log_leaves_a_healthy_log_and_a_running_gateways_alone() {
    let dir = support::tempdir();
    let data = dir.path().join("data");
    journal_with(&data, 3).await;
    let (code, out, err) = fep_repair_log(&data, &["--accept-gap"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("no records missing"), "{out}");

    // A gateway holding the log: refused, not read behind its back.
    let running = Journal::open(&data.join("journal.db")).expect("open journal");
    let (code, out, err) = fep_repair_log(&data, &[]);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(err.contains("in use by another gateway"), "{err}");
    drop(running);

    let (code, _, err) = fep_repair_log(&dir.path().join("nowhere"), &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("no journal here"), "{err}");
}
