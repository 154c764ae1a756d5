//! The journal log's file format: what is written is read back, in order, and nothing else —
//! not a torn batch, not an older pass, not bytes inside a telegram.

use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;

use super::log::{CommitLog, Entry, LogError, SEGMENTS};
use super::{JournalSync, TelegramRow, TxRecord};
use crate::auth::ClientId;
use crate::domain::{MsgKey, Resolution, TelegramDirection, TxState};

/// Four segments of four pages.
const SMALL: u64 = 4 * 4 * 4096;

fn row(n: u32, raw: Vec<u8>) -> TelegramRow {
    TelegramRow {
        institution: Arc::from("bank"),
        direction: TelegramDirection::Out,
        day: 20261201,
        msg_no: n,
        msg_type: Some(MsgKey::from(("2000", "100"))),
        tx_id: Some(u64::from(n)),
        raw: Bytes::from(raw),
    }
}

fn tx(n: u32, outcome: TxState) -> TxRecord {
    TxRecord {
        id: u64::from(n),
        institution: "bank".into(),
        day: 20261201,
        msg_no: n,
        msg_type: MsgKey::from(("2000", "100")),
        outcome,
        detail: "0000".into(),
        resolved: (outcome == TxState::Unknown).then_some(Resolution::Declined),
        updated_ms: 1_764_000_000_000 + u64::from(n),
        client: n.is_multiple_of(2).then(|| ClientId::new("teller")),
    }
}

/// Writes one batch of `entries`; returns the number of its last record.
fn write(log: &mut CommitLog, entries: &[Entry]) -> u64 {
    for e in entries {
        match e {
            Entry::Telegram { ts_ms, row, opens } => {
                log.push_telegram(*ts_ms, row, opens.as_ref());
            }
            Entry::Tx(t) => {
                log.push_tx(t);
            }
        }
    }
    assert!(log.fits(), "test batches fit a segment");
    log.write().unwrap();
    log.last_lsn()
}

fn entries(from: u32, n: u32) -> Vec<Entry> {
    (from..from + n)
        .map(|i| match i % 3 {
            0 => Entry::Telegram {
                ts_ms: u64::from(i),
                row: row(i, format!("telegram {i} 한글").into_bytes()),
                opens: Some(tx(i, TxState::Sent)),
            },
            1 => Entry::Telegram {
                ts_ms: u64::from(i),
                row: TelegramRow {
                    msg_type: None,
                    tx_id: None,
                    ..row(i, vec![0xff; 40])
                },
                opens: None,
            },
            _ => Entry::Tx(tx(i, TxState::Unknown)),
        })
        .collect()
}

/// A new log in a new directory, ready to write.
fn fresh() -> (tempfile::TempDir, std::path::PathBuf, CommitLog) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.log");
    let (mut log, _) = open(&path, 0).unwrap();
    log.restart().unwrap();
    (dir, path, log)
}

fn open(path: &std::path::Path, applied: u64) -> Result<(CommitLog, Vec<(u64, Entry)>), LogError> {
    CommitLog::open(path, SMALL, JournalSync::Full, applied)
}

#[test]
fn batches_are_read_back_in_order_after_what_sqlite_holds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.log");
    let (mut log, found) = open(&path, 0).unwrap();
    assert!(found.is_empty());
    log.restart().unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        SMALL,
        "pre-allocated"
    );
    let all = entries(0, 9);
    assert_eq!(write(&mut log, &all[..4]), 4);
    assert_eq!(write(&mut log, &all[4..]), 9);
    drop(log);

    let (_, found) = open(&path, 0).unwrap();
    let lsns: Vec<u64> = found.iter().map(|(l, _)| *l).collect();
    assert_eq!(lsns, (1..=9).collect::<Vec<_>>());
    let read: Vec<Entry> = found.into_iter().map(|(_, e)| e).collect();
    assert_eq!(read, all, "every field survives");

    let (log, found) = open(&path, 6).unwrap();
    assert_eq!(found.iter().map(|(l, _)| *l).collect::<Vec<_>>(), [7, 8, 9]);
    assert_eq!(log.last_lsn(), 9, "numbering goes on after the last record");
}

#[test]
fn a_key_with_a_blank_part_is_read_back_as_it_was_written() {
    let (_dir, path, mut log) = fresh();
    // What the engine journals for a telegram whose second key field is blank.
    let blank = MsgKey::from_parts(&["2000", ""]);
    assert!(
        blank.as_str().parse::<MsgKey>().is_err(),
        "not a key a caller may name"
    );
    let entries = vec![
        Entry::Telegram {
            ts_ms: 1,
            row: TelegramRow {
                msg_type: Some(blank.clone()),
                ..row(1, b"x".to_vec())
            },
            opens: Some(TxRecord {
                msg_type: blank.clone(),
                ..tx(1, TxState::Sent)
            }),
        },
        Entry::Tx(TxRecord {
            msg_type: MsgKey::from_parts(&["", "", "9"]),
            ..tx(2, TxState::Ok)
        }),
    ];
    write(&mut log, &entries);
    drop(log);
    let (_, found) = open(&path, 0).unwrap();
    assert_eq!(
        found.into_iter().map(|(_, e)| e).collect::<Vec<_>>(),
        entries
    );
}

#[test]
fn a_torn_last_batch_is_not_read() {
    let (_dir, path, mut log) = fresh();
    write(&mut log, &entries(0, 3));
    write(&mut log, &entries(3, 3));
    drop(log);
    // One byte of the second batch (it starts on the second page) never reached the disk.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[4096 + 40] ^= 0x55;
    std::fs::write(&path, &bytes).unwrap();
    let (log, found) = open(&path, 0).unwrap();
    assert_eq!(found.len(), 3);
    assert_eq!(log.last_lsn(), 3, "the torn batch's numbers are used again");
}

#[test]
fn segments_are_reused_only_once_sqlite_holds_them() {
    let (_dir, path, mut log) = fresh();
    // One record per batch, one page per batch: four batches fill a segment.
    let mut last = 0;
    for seg in 0..SEGMENTS {
        for i in 0..4 {
            let n = (seg * 4 + i) as u32;
            last = write(&mut log, &entries(n, 1));
        }
        log.push_tx(&tx(99, TxState::Ok));
        assert!(!log.fits(), "segment {seg} is full");
        if seg + 1 < SEGMENTS {
            assert!(log.next_segment(0), "segment {} was never used", seg + 1);
        }
        log.discard();
    }
    assert_eq!(last, 16);
    assert!(
        !log.next_segment(3),
        "segment 0 holds records 1..=4 and SQLite has only 1..=3"
    );
    assert!(log.next_segment(4));
    write(&mut log, &entries(16, 1));
    drop(log);

    // A crash now: SQLite holds 1..=10; segments 2, 3 and 0 hold the rest, out of file order.
    let (_, found) = open(&path, 10).unwrap();
    assert_eq!(
        found.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
        (11..=17).collect::<Vec<_>>()
    );
}

#[test]
fn missing_records_are_an_error_not_a_silent_restart() {
    let (_dir, path, mut log) = fresh();
    for i in 0..4 {
        write(&mut log, &entries(i, 1));
    }
    log.push_tx(&tx(99, TxState::Ok));
    assert!(!log.fits());
    log.discard();
    assert!(log.next_segment(0));
    write(&mut log, &entries(4, 2));
    drop(log);
    // The first segment's first batch is damaged: records 1..=4 cannot be read, 5 and 6 can.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    match open(&path, 0) {
        Err(LogError::Gap { from, to, .. }) => assert_eq!((from, to), (1, 5)),
        Err(e) => panic!("{e}"),
        Ok((_, found)) => panic!("records 1..=4 are lost but the log opened: {found:?}"),
    }
    // Once SQLite holds them, the damage does not matter.
    let (_, found) = open(&path, 4).unwrap();
    assert_eq!(found.len(), 2);
}

#[test]
fn a_batch_forged_inside_a_telegram_is_never_read() {
    let (dir, path, mut log) = fresh();
    // An institution's telegram that holds a whole, valid batch (records 2..) starting on a
    // page boundary inside the real batch.
    let forged = {
        let other = dir.path().join("forged.log");
        let (mut f, _) = open(&other, 0).unwrap();
        f.restart().unwrap();
        write(&mut f, &entries(0, 1));
        write(&mut f, &[Entry::Tx(tx(7, TxState::Ok))]);
        std::fs::read(&other).unwrap()[4096..8192].to_vec()
    };
    write_telegram_holding(&mut log, dir.path(), &forged);
    drop(log);
    let (_, found) = open(&path, 0).unwrap();
    assert_eq!(found.len(), 1, "only the real record: {found:?}");
}

/// Where a telegram's raw bytes start in a batch of that telegram alone: what puts bytes of
/// it on a page boundary.
fn raw_offset_in_batch(dir: &std::path::Path) -> usize {
    let probe = dir.join("probe.log");
    let (mut p, _) = open(&probe, 0).unwrap();
    p.restart().unwrap();
    write(&mut p, &[bare_telegram(b"MARK".to_vec())]);
    let bytes = std::fs::read(&probe).unwrap();
    bytes.windows(4).position(|w| w == b"MARK").unwrap()
}

/// A telegram numbered 1 holding `raw`, opening no transaction.
fn bare_telegram(raw: Vec<u8>) -> Entry {
    Entry::Telegram {
        ts_ms: 1,
        row: row(1, raw),
        opens: None,
    }
}

/// Writes, as one batch, a telegram whose bytes hold `inside` from the batch's second page on
/// (forged bytes on a page boundary); returns its record number.
fn write_telegram_holding(log: &mut CommitLog, dir: &std::path::Path, inside: &[u8]) -> u64 {
    let mut raw = vec![b' '; 4096 - raw_offset_in_batch(dir)];
    raw.extend_from_slice(inside);
    write(log, &[bare_telegram(raw)])
}

#[test]
fn a_batch_forged_in_an_older_pass_is_never_read() {
    let (dir, path, mut log) = fresh();
    // A whole, valid batch numbered 3.. — as the log would number the batch after record 2 —
    // written by another log, so it carries none of this log's passes.
    let forged = {
        let other = dir.path().join("forged.log");
        let (mut f, _) = open(&other, 2).unwrap();
        f.restart().unwrap();
        write(&mut f, &[Entry::Tx(tx(7, TxState::Ok))]);
        std::fs::read(&other).unwrap()[..4096].to_vec()
    };
    // Pass 1 of segment 0: record 1, a telegram whose bytes put the forged batch on page 1.
    assert_eq!(write_telegram_holding(&mut log, dir.path(), &forged), 1);
    // Round the segments to segment 0 again (SQLite holds everything): pass 2 writes record 2
    // on page 0 only, and the gateway stops. Page 1 still holds pass 1's telegram.
    for _ in 0..SEGMENTS {
        assert!(log.next_segment(u64::MAX));
    }
    assert_eq!(write(&mut log, &[Entry::Tx(tx(2, TxState::Ok))]), 2);
    drop(log);
    let (_, found) = open(&path, 1).unwrap();
    assert_eq!(
        found.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
        vec![2],
        "only pass 2's record: {found:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the file holds, reading it back never panics.
    #[test]
    fn any_file_is_read_without_a_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..(3 * 4096)),
        at in 0usize..4096,
        applied in 0u64..4,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.log");
        // A real batch with arbitrary bytes written over part of it.
        let (mut log, _) = open(&path, 0).unwrap();
        log.restart().unwrap();
        write(&mut log, &entries(0, 3));
        drop(log);
        let mut file = std::fs::read(&path).unwrap();
        let end = (at + bytes.len()).min(file.len());
        file[at..end].copy_from_slice(&bytes[..end - at]);
        std::fs::write(&path, &file).unwrap();
        let _ = open(&path, applied);
    }
}

/// The first `pages` pages of each segment of the log at `path`: a smaller image of the same
/// log when every segment's batches lie in those pages.
fn compact(path: &std::path::Path, pages: usize) -> Vec<u8> {
    let all = std::fs::read(path).unwrap();
    let segment = all.len() / SEGMENTS;
    (0..SEGMENTS)
        .flat_map(|s| all[s * segment..s * segment + pages * 4096].to_vec())
        .collect()
}

/// A log of one batch (`entries(0, 1)`) whose first record is renumbered `first`, its
/// checksum made whole again.
fn renumbered(path: &std::path::Path, first: u64) -> Vec<u8> {
    let (mut log, _) = open(path, 0).unwrap();
    log.restart().unwrap();
    write(&mut log, &entries(0, 1));
    drop(log);
    let mut bytes = std::fs::read(path).unwrap();
    bytes[12..20].copy_from_slice(&first.to_le_bytes());
    let len = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&bytes[..24]);
    crc.update(&bytes[28..32]);
    crc.update(&bytes[32..32 + len]);
    bytes[24..28].copy_from_slice(&crc.finalize().to_le_bytes());
    bytes
}

/// Rewrites the batch at `at` of a log image as version 1 wrote it: no `pass`, and a checksum
/// without it.
fn as_version_1(bytes: &mut [u8], at: usize) {
    let b = &mut bytes[at..];
    b[4..6].copy_from_slice(&1u16.to_le_bytes());
    b[28..32].copy_from_slice(&[0; 4]);
    let len = u32::from_le_bytes(b[8..12].try_into().unwrap()) as usize;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&b[..24]);
    crc.update(&b[32..32 + len]);
    b[24..28].copy_from_slice(&crc.finalize().to_le_bytes());
}

#[test]
fn a_log_written_before_passes_is_read_back_but_never_continues_a_newer_chain() {
    let (_dir, path, mut log) = fresh();
    write(&mut log, &entries(0, 2));
    write(&mut log, &entries(2, 2));
    drop(log);
    let lsns = |bytes: &[u8]| {
        std::fs::write(&path, bytes).unwrap();
        let (_, found) = open(&path, 0).unwrap();
        found.iter().map(|(l, _)| *l).collect::<Vec<_>>()
    };
    let written = std::fs::read(&path).unwrap();
    assert_eq!(lsns(&written), vec![1, 2, 3, 4]);
    // Both batches as version 1 wrote them: an upgraded gateway reads them back.
    let mut old = written.clone();
    as_version_1(&mut old, 0);
    as_version_1(&mut old, 4096);
    assert_eq!(lsns(&old), vec![1, 2, 3, 4]);
    // A version 1 batch after a batch with a pass: not of this chain.
    let mut mixed = written;
    as_version_1(&mut mixed, 4096);
    assert_eq!(lsns(&mixed), vec![1, 2]);
}

#[test]
fn records_in_counts_an_image_as_records_after_counts_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.log");
    assert_eq!(super::records_after(&path, 0).unwrap(), 0, "no log");
    let (mut log, _) = open(&path, 0).unwrap();
    log.restart().unwrap();
    write(&mut log, &entries(0, 4));
    write(&mut log, &entries(4, 5));
    drop(log);
    let bytes = std::fs::read(&path).unwrap();
    for applied in [0, 3, 9, 10, u64::MAX] {
        let want = 9u64.saturating_sub(applied);
        assert_eq!(super::records_after(&path, applied).unwrap(), want);
        assert_eq!(super::records_in(&bytes, applied).unwrap(), want);
    }
    // Segments of whole pages: a quarter of the image, rounded down.
    assert_eq!(super::records_in(&bytes[..4 * 4096 - 1], 0).unwrap(), 0);
    assert_eq!(super::records_in(&[], 0).unwrap(), 0);
    assert_eq!(super::records_in(&compact(&path, 2), 0).unwrap(), 9);
    assert_eq!(
        super::records_in(&compact(&path, 1), 0).unwrap(),
        4,
        "the second batch is cut off"
    );
}

#[test]
fn a_whole_batch_numbered_past_what_sqlite_holds_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (first, ok) in [
        (u64::MAX, false),
        (u64::MAX - 1, false),
        (i64::MAX as u64, false),
        (i64::MAX as u64 - 1, true),
    ] {
        let path = dir.path().join(format!("{first}.log"));
        let bytes = renumbered(&path, first);
        let applied = first - 1;
        match super::records_in(&bytes, applied) {
            Ok(n) => assert!(ok && n == 1, "{first}: {n}"),
            Err(LogError::Record { lsn, .. }) => assert!(!ok && lsn == first, "{first}"),
            Err(e) => panic!("{first}: {e}"),
        }
    }
}

#[test]
fn a_record_found_twice_is_an_error() {
    let (_dir, path, mut log) = fresh();
    write(&mut log, &entries(0, 2));
    drop(log);
    let mut bytes = std::fs::read(&path).unwrap();
    let segment = bytes.len() / SEGMENTS;
    let first = bytes[..4096].to_vec();
    bytes[segment..segment + 4096].copy_from_slice(&first);
    match super::records_in(&bytes, 0) {
        Err(e @ LogError::Record { lsn: 1, .. }) => {
            let e = e.to_string();
            assert!(e.contains("twice") && e.contains("<bytes>"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

/// Writes the seeds of the `journal_log` fuzz target: real logs written by [`CommitLog`],
/// each made small by keeping the first page (or two) of every segment — checked to read
/// back as the whole file does — after 8 bytes of `applied` (little-endian), the target's
/// input layout. To `fuzz/seeds/journal_log/`, or `$FEP_FUZZ_SEEDS_DIR`:
///
/// `cargo test -p fep-gateway --lib -- --ignored write_fuzz_seeds`
#[test]
#[ignore = "writes the journal_log fuzz seeds"]
fn write_fuzz_seeds() {
    let out = std::env::var_os("FEP_FUZZ_SEEDS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/journal_log")
        });
    std::fs::create_dir_all(&out).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // `tear`: a byte of the file flipped after writing.
    let seed =
        |name: &str, pages, applied: u64, tear: Option<usize>, fill: &dyn Fn(&mut CommitLog)| {
            let path = dir.path().join(name);
            let (mut log, _) = open(&path, 0).unwrap();
            log.restart().unwrap();
            fill(&mut log);
            drop(log);
            if let Some(at) = tear {
                let mut bytes = std::fs::read(&path).unwrap();
                bytes[at] ^= 0x55;
                std::fs::write(&path, bytes).unwrap();
            }
            let image = compact(&path, pages);
            let n = super::records_after(&path, applied).unwrap();
            assert_eq!(super::records_in(&image, applied).unwrap(), n, "{name}");
            assert!(n > 0, "{name}");
            let mut bytes = applied.to_le_bytes().to_vec();
            bytes.extend_from_slice(&image);
            std::fs::write(out.join(name), bytes).unwrap();
        };
    // A batch in each segment, in order.
    seed("four_segments", 1, 0, None, &|log| {
        for s in 0..SEGMENTS as u32 {
            if s > 0 {
                assert!(log.next_segment(0));
            }
            write(log, &entries(s * 3, 3));
        }
    });
    // Round the file more than once: the first segment holds the newest records, SQLite the
    // oldest.
    seed("second_pass", 1, 6, None, &|log| {
        for s in 0..=SEGMENTS as u32 {
            if s > 0 {
                assert!(log.next_segment(u64::from(s) * 3));
            }
            write(log, &entries(s * 3, 3));
        }
    });
    // Chains of two batches, one of them two pages long (a large telegram).
    seed("chains", 2, 0, None, &|log| {
        write(log, &entries(0, 4));
        write(log, &entries(4, 5));
        assert!(log.next_segment(0));
        write(
            log,
            &[Entry::Telegram {
                ts_ms: 9,
                row: row(9, vec![b'9'; 5000]),
                opens: Some(tx(9, TxState::Sent)),
            }],
        );
    });
    // A torn batch in the third segment: its records were never acknowledged, not missing.
    seed(
        "torn",
        1,
        0,
        Some(2 * SMALL as usize / SEGMENTS + 40),
        &|log| {
            write(log, &entries(0, 3));
            assert!(log.next_segment(0));
            write(log, &entries(3, 3));
            assert!(log.next_segment(0));
            write(log, &entries(6, 3));
        },
    );
}

// The journal with the log: what callers were told survives a crash before SQLite caught up,
// and what the log cannot take still reaches SQLite before its caller hears.

use super::{Journal, JournalCommit, OnCommit, Tuning};

fn log_journal(path: &std::path::Path, log_bytes: u64) -> Journal {
    Journal::open_tuned(
        path,
        Tuning {
            commit: JournalCommit::Log,
            log_bytes,
            ..Tuning::default()
        },
    )
    .unwrap()
}

fn count(path: &std::path::Path, sql: &str) -> i64 {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

/// Records `n` requests the way the engine does: the telegram with its `sent` state (waited
/// for), then the outcome (acknowledged).
async fn requests(j: &Journal, ids: std::ops::Range<u32>) {
    for n in ids {
        let sent = TxRecord {
            client: None,
            ..tx(n, TxState::Sent)
        };
        j.record_telegram(row(n, vec![b'7'; 300]), Some(sent))
            .unwrap()
            .await
            .unwrap()
            .unwrap();
        let (done, heard) = tokio::sync::oneshot::channel();
        j.put_tx_then(
            tx(n, TxState::Ok),
            OnCommit::new(move |r| {
                let _ = done.send(r.is_ok());
            }),
        );
        assert!(heard.await.unwrap(), "request {n} acknowledged");
    }
}

/// Directories `a` and `b` under `dir`: a journal in `a` that took `requests` and, in `b`, its
/// database as it was then — what a crash leaves when SQLite is behind the log, once `a`'s
/// later log is copied next to it.
async fn database_as_of(
    dir: &std::path::Path,
    ids: std::ops::Range<u32>,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let (a, b) = (dir.join("a"), dir.join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let j = log_journal(&a.join("j.db"), SMALL);
    requests(&j, ids).await;
    j.flush().await.unwrap();
    drop(j);
    for f in ["j.db", "j.db-wal"] {
        if a.join(f).exists() {
            std::fs::copy(a.join(f), b.join(f)).unwrap();
        }
    }
    (a, b)
}

#[tokio::test]
async fn what_callers_heard_survives_a_crash_before_sqlite_has_it() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = database_as_of(dir.path(), 0..3).await;
    let j = log_journal(&a.join("j.db"), SMALL);
    requests(&j, 3..10).await;
    j.flush().await.unwrap();
    drop(j);
    std::fs::copy(a.join("j.log"), b.join("j.log")).unwrap();
    assert_eq!(
        count(&b.join("j.db"), "SELECT COUNT(*) FROM transactions"),
        3
    );

    // Started with a log of another size: read back with the old layout, then made anew.
    let j = log_journal(&b.join("j.db"), 2 * SMALL);
    assert_eq!(std::fs::metadata(b.join("j.log")).unwrap().len(), 2 * SMALL);
    for n in 0..10 {
        let got = j.get_tx(u64::from(n)).await.unwrap().unwrap();
        assert_eq!(
            (got.outcome, got.client),
            (TxState::Ok, tx(n, TxState::Ok).client)
        );
    }
    assert!(j.unsettled("bank").await.unwrap().is_empty());
    drop(j);
    let db = b.join("j.db");
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM telegrams"),
        10,
        "each telegram once"
    );
    // Read back once: a second start finds nothing more to apply, in either mode.
    let j = Journal::open(&db).unwrap();
    j.flush().await.unwrap();
    drop(j);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM telegrams"), 10);
    assert_eq!(count(&db, "SELECT lsn FROM log_applied"), 20);
    assert_eq!(crate::ledger::Ledger::open(&db).unwrap().log_backlog(), 0);
}

#[tokio::test]
async fn a_damaged_log_is_read_back_past_its_gap_only_when_an_operator_accepts_it() {
    let dir = tempfile::tempdir().unwrap();
    // The database before any request.
    let (a, b) = database_as_of(dir.path(), 0..0).await;
    let j = log_journal(&a.join("j.db"), SMALL);
    requests(&j, 0..6).await;
    j.flush().await.unwrap();
    drop(j);
    // The log's first batch damaged: its records are lost, the later ones readable.
    let mut log = std::fs::read(a.join("j.log")).unwrap();
    log[100] ^= 1;
    std::fs::write(b.join("j.log"), &log).unwrap();
    let db = b.join("j.db");
    let gap = match Journal::open_mode(&db, JournalSync::Full, JournalCommit::Log) {
        Err(super::JournalError::Log(LogError::Gap { from, to, .. })) => from..to,
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a log with missing records opened"),
    };
    assert_eq!(gap.start, 1);

    // Looked at first: nothing changes.
    let seen = super::repair_log(&db, false).unwrap();
    assert!(seen.log_exists && !seen.read_back, "{seen:?}");
    assert_eq!((seen.applied, seen.missing.clone()), (0, vec![gap.clone()]));
    assert_eq!(seen.readable as u64, 12 - (gap.end - 1), "{seen:?}");
    assert!(Journal::open_mode(&db, JournalSync::Full, JournalCommit::Log).is_err());
    assert_eq!(count(&db, "SELECT COUNT(*) FROM telegrams"), 0);

    // Accepted: what is readable is in the database, and the gateway starts.
    let done = super::repair_log(&db, true).unwrap();
    assert!(
        done.read_back && done.missing == vec![gap.clone()],
        "{done:?}"
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM telegrams")
            + count(
                &db,
                "SELECT COUNT(*) FROM transactions WHERE outcome = 'ok'"
            ),
        seen.readable as i64
    );
    let j = Journal::open_mode(&db, JournalSync::Full, JournalCommit::Log).unwrap();
    let last = j
        .get_tx(5)
        .await
        .unwrap()
        .expect("the last request, after the gap");
    assert_eq!(last.outcome, TxState::Ok);
    drop(j);
    let again = super::repair_log(&db, true).unwrap();
    assert!(again.missing.is_empty() && again.readable == 0, "{again:?}");
}

#[tokio::test]
async fn a_batch_larger_than_a_segment_is_committed_in_sqlite_before_its_caller_hears() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let j = log_journal(&path, SMALL);
    requests(&j, 0..2).await;
    // 20 KiB: more than a segment of this log (16 KiB).
    j.record_telegram(row(2, vec![b'x'; 20 << 10]), Some(tx(2, TxState::Sent)))
        .unwrap()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        count(&path, "SELECT COUNT(*) FROM transactions WHERE id = 2"),
        1,
        "answered after SQLite's own commit"
    );
    requests(&j, 3..5).await;
    j.flush().await.unwrap();
    drop(j);
    let j = log_journal(&path, SMALL);
    j.flush().await.unwrap();
    drop(j);
    assert_eq!(count(&path, "SELECT COUNT(*) FROM telegrams"), 5);
    assert_eq!(
        count(
            &path,
            "SELECT COUNT(*) FROM transactions WHERE outcome = 'ok'"
        ),
        4
    );
}

#[tokio::test]
async fn a_small_log_goes_round_many_times_without_losing_or_repeating_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let j = log_journal(&path, SMALL);
    // Ten at a time, so batches hold several records; ~500 pages for 16 segments' worth.
    let mut tasks = Vec::new();
    for t in 0..10u32 {
        let j = j.clone();
        tasks.push(tokio::spawn(async move {
            requests(&j, t * 100..t * 100 + 100).await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    j.flush().await.unwrap();
    drop(j);
    assert_eq!(count(&path, "SELECT COUNT(*) FROM telegrams"), 1000);
    assert_eq!(
        count(
            &path,
            "SELECT COUNT(*) FROM transactions WHERE outcome = 'ok'"
        ),
        1000
    );
    assert!(
        count(&path, "SELECT lsn FROM log_applied") > 1000,
        "most records went through the log, not around it"
    );
    // Reopened, nothing is applied twice.
    let j = log_journal(&path, SMALL);
    j.flush().await.unwrap();
    drop(j);
    assert_eq!(count(&path, "SELECT COUNT(*) FROM telegrams"), 1000);
}

#[test]
fn a_log_in_use_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.log");
    let (_held, _) = open(&path, 0).unwrap();
    let started = std::time::Instant::now();
    match open(&path, 0) {
        Err(LogError::Io { source, .. }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::WouldBlock)
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a second writer opened the log"),
    }
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(4),
        "waited for it first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_never_holds_part_of_a_log_round_without_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    // Room for every batch (at most 5,000 pages): none goes to SQLite around the log.
    let j = log_journal(&path, 96 << 20);
    // Every record is one telegram, so in any committed state the number of telegram rows
    // is the log position SQLite says it holds; a crash then replays exactly the rest.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (path, done) = (path.clone(), done.clone());
        std::thread::spawn(move || {
            let mut db = rusqlite::Connection::open(&path).unwrap();
            let mut samples = 0;
            while !done.load(std::sync::atomic::Ordering::Acquire) {
                let snapshot = db.transaction().unwrap();
                let rows: i64 = snapshot
                    .query_row("SELECT COUNT(*) FROM telegrams", [], |r| r.get(0))
                    .unwrap();
                let applied: i64 = snapshot
                    .query_row("SELECT lsn FROM log_applied", [], |r| r.get(0))
                    .unwrap();
                drop(snapshot);
                assert_eq!(rows, applied, "a commit split a log round");
                samples += 1;
            }
            samples
        })
    };
    for burst in 0..200u32 {
        for i in 0..25 {
            j.record_telegram_nowait(row(burst * 25 + i, vec![b'7'; 200]));
        }
        // A read makes the writer commit at once, wherever the log's rounds stand.
        j.get_tx(0).await.unwrap();
    }
    j.flush().await.unwrap();
    done.store(true, std::sync::atomic::Ordering::Release);
    let samples = sampler.join().unwrap();
    assert!(samples > 0);
    assert_eq!(count(&path, "SELECT COUNT(*) FROM telegrams"), 5000);
    assert_eq!(count(&path, "SELECT lsn FROM log_applied"), 5000);
}
