//! Journal tests: numbering, notices, retention, ordering under overflow, WAL bounds and
//! schema migrations.

use std::sync::Arc;

use bytes::Bytes;

use super::*;
use crate::domain::{MsgKey, Resolution, TelegramDirection, TxState};

fn transfer() -> MsgKey {
    MsgKey::from(("2000", "100"))
}

#[tokio::test]
async fn sequence_blocks_never_overlap_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let j = Journal::open(&path).unwrap();
    let a = j
        .reserve_seq("hecto", 20261122, 100, 950_000)
        .await
        .unwrap();
    let b = j
        .reserve_seq("hecto", 20261122, 100, 950_000)
        .await
        .unwrap();
    assert_eq!((a.clone(), b.clone()), (1..101, 101..201));
    let other_day = j
        .reserve_seq("hecto", 20261123, 100, 950_000)
        .await
        .unwrap();
    assert_eq!(other_day, 1..101);
    drop(j);
    let j = Journal::open(&path).unwrap();
    let c = j
        .reserve_seq("hecto", 20261122, 100, 950_000)
        .await
        .unwrap();
    assert_eq!(
        c.start, 201,
        "a reopened journal continues after the last reserved block"
    );
}

#[tokio::test]
async fn exhausted_range_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(&dir.path().join("j.db")).unwrap();
    assert_eq!(j.reserve_seq("x", 1, 10, 15).await.unwrap(), 1..11);
    assert_eq!(j.reserve_seq("x", 1, 10, 15).await.unwrap(), 11..16);
    assert!(matches!(
        j.reserve_seq("x", 1, 10, 15).await,
        Err(JournalError::Exhausted { .. })
    ));
}

/// The ids of `group`'s undelivered notices of `institution`.
async fn undelivered(j: &Journal, group: &str, institution: &str) -> Vec<u64> {
    let batch = j
        .undelivered_notices(Arc::from(group), Arc::from(institution), 0, 100)
        .await
        .unwrap();
    assert!(batch.exhausted);
    batch.notices.iter().map(|n| n.id).collect()
}

#[tokio::test]
async fn notices_are_deduplicated_and_tracked_per_group_until_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(&dir.path().join("j.db")).unwrap();
    let mut committed = j.notice_watch("hecto");
    let a = j
        .record_notice("hecto", 1, "4000/000007", b"abc")
        .await
        .unwrap();
    assert_eq!(*committed.borrow_and_update(), a.id, "woken by the commit");
    let again = j
        .record_notice("hecto", 1, "4000/000007", b"abc")
        .await
        .unwrap();
    assert!(!a.duplicate && again.duplicate && again.id == a.id);
    assert!(
        !committed.has_changed().unwrap(),
        "a duplicate wakes nobody"
    );
    let b = j
        .record_notice("hecto", 1, "4000/000008", b"d")
        .await
        .unwrap();
    j.record_notice("kibnet", 1, "x", b"k").await.unwrap();
    assert_eq!(j.notice_group_open("ledger", "hecto").await.unwrap(), 0);
    assert_eq!(undelivered(&j, "ledger", "hecto").await, [a.id, b.id]);
    // Acknowledged out of order: the cursor stays, the later one is remembered.
    let (g, h) = (Arc::<str>::from("ledger"), Arc::<str>::from("hecto"));
    j.notice_acks(g.clone(), h.clone(), vec![b.id], a.id)
        .await
        .unwrap();
    assert_eq!(undelivered(&j, "ledger", "hecto").await, [a.id]);
    assert_eq!(
        undelivered(&j, "audit", "hecto").await,
        [a.id, b.id],
        "per group"
    );
    j.notice_acks(g.clone(), h.clone(), vec![a.id], b.id + 1)
        .await
        .unwrap();
    assert!(undelivered(&j, "ledger", "hecto").await.is_empty());
    // Another dispatcher of the group with an older view cannot move the cursor back.
    j.notice_acks(g.clone(), h.clone(), vec![], a.id)
        .await
        .unwrap();
    assert_eq!(
        j.notice_group_open("ledger", "hecto").await.unwrap(),
        b.id + 1
    );
    let backlogs = j.notice_backlogs().await.unwrap();
    assert_eq!(
        backlogs.len(),
        1,
        "only groups that were opened: {backlogs:?}"
    );
    assert_eq!((backlogs[0].undelivered, backlogs[0].oldest_ms), (0, None));
}

#[tokio::test]
async fn a_backlog_counts_what_the_group_has_not_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(&dir.path().join("j.db")).unwrap();
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(
            j.record_notice("h", 1, &n.to_string(), b"x")
                .await
                .unwrap()
                .id,
        );
    }
    j.notice_group_open("g", "h").await.unwrap();
    j.notice_acks(Arc::from("g"), Arc::from("h"), vec![ids[0], ids[3]], 0)
        .await
        .unwrap();
    let b = &j.notice_backlogs().await.unwrap()[0];
    assert_eq!((b.group.as_str(), b.institution.as_str()), ("g", "h"));
    assert_eq!(b.undelivered, 3);
    assert!(b.oldest_ms.is_some_and(|t| t <= now_ms()));
}

#[tokio::test]
async fn retention_prunes_settled_rows_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let j = Journal::open(&path).unwrap();
    let tx = |id: u64, outcome: TxState, resolved: Option<Resolution>| TxRecord {
        id,
        institution: "h".into(),
        day: 1,
        msg_no: id as u32,
        msg_type: transfer(),
        outcome,
        detail: String::new(),
        resolved,
        updated_ms: 1,
        client: None,
    };
    j.put_tx(tx(1, TxState::Ok, None)).await.unwrap();
    j.put_tx(tx(2, TxState::Unknown, Some(Resolution::Ok)))
        .await
        .unwrap();
    j.put_tx(tx(3, TxState::Unknown, None)).await.unwrap();
    j.put_tx(tx(4, TxState::Sent, None)).await.unwrap();
    let delivered = j.record_notice("h", 1, "a", b"x").await.unwrap();
    j.notice_group_open("g", "h").await.unwrap();
    j.notice_acks(Arc::from("g"), Arc::from("h"), vec![delivered.id], 0)
        .await
        .unwrap();
    j.record_notice("h", 1, "b", b"y").await.unwrap();
    // No group reads this institution yet: its notices wait for the first one.
    j.record_notice("nobody", 1, "c", b"z").await.unwrap();
    let block = j.reserve_seq("h", 1, 10, 100).await.unwrap();
    j.flush().await.unwrap();
    // The notices were received long ago (the transactions were changed at 1 ms); the group
    // was seen just now.
    let db = Connection::open(&path).unwrap();
    db.execute("UPDATE notices SET received_ms = 1", [])
        .unwrap();
    let cutoff = now_ms() - 60_000;
    let deleted = j.prune(cutoff).await.unwrap();
    assert_eq!(
        deleted, 3,
        "two settled transactions and one delivered notice"
    );
    assert!(j.get_tx(1).await.unwrap().is_none() && j.get_tx(2).await.unwrap().is_none());
    assert!(
        j.get_tx(3).await.unwrap().is_some() && j.get_tx(4).await.unwrap().is_some(),
        "unsettled kept"
    );
    assert_eq!(undelivered(&j, "g", "h").await.len(), 1, "undelivered kept");
    assert_eq!(
        undelivered(&j, "first", "nobody").await.len(),
        1,
        "kept while no group has read it"
    );
    // A group not seen since the cutoff is forgotten; what it had not acknowledged stays for
    // the next group.
    db.execute("UPDATE notice_groups SET seen_ms = 1", [])
        .unwrap();
    assert_eq!(j.prune(cutoff).await.unwrap(), 0);
    assert!(j.notice_backlogs().await.unwrap().is_empty(), "forgotten");
    assert_eq!(undelivered(&j, "next", "h").await.len(), 1);
    assert_eq!(
        j.reserve_seq("h", 1, 10, 100).await.unwrap().start,
        block.end,
        "numbers never reused"
    );
}

#[tokio::test]
async fn transactions_upsert_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(&dir.path().join("j.db")).unwrap();
    let mut r = TxRecord {
        id: 7,
        institution: "hecto".into(),
        day: 20261122,
        msg_no: 5,
        msg_type: transfer(),
        outcome: TxState::Unknown,
        detail: "timeout".into(),
        resolved: None,
        updated_ms: 1,
        client: None,
    };
    j.put_tx(r.clone()).await.unwrap();
    r.resolved = Some(Resolution::Ok);
    j.put_tx(r.clone()).await.unwrap();
    assert_eq!(j.get_tx(7).await.unwrap(), Some(r));
    assert_eq!(j.get_tx(8).await.unwrap(), None);
}

fn out_row(msg_no: u32, tx_id: Option<u64>, raw: Bytes) -> TelegramRow {
    TelegramRow {
        institution: "hecto".into(),
        direction: TelegramDirection::Out,
        day: 20261129,
        msg_no,
        msg_type: Some(transfer()),
        tx_id,
        raw,
    }
}

fn sent(id: u64, msg_no: u32) -> TxRecord {
    TxRecord {
        id,
        institution: "hecto".into(),
        day: 20261129,
        msg_no,
        msg_type: transfer(),
        outcome: TxState::Sent,
        detail: String::new(),
        resolved: None,
        updated_ms: 1,
        client: None,
    }
}

#[tokio::test]
async fn a_request_opens_its_transaction_in_the_same_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let j = Journal::open(&path).unwrap();
    let raw = Bytes::from_static(b"request telegram");
    let committed = j
        .record_telegram(out_row(41, Some(9), raw.clone()), Some(sent(9, 41)))
        .unwrap();
    committed.await.unwrap().unwrap();
    // What a restart finds: the transaction, open, with the telegram as sent.
    drop(j);
    let j = Journal::open(&path).unwrap();
    assert_eq!(
        j.unsettled("hecto").await.unwrap(),
        vec![(sent(9, 41), raw.clone())]
    );
    assert!(j.unsettled("other").await.unwrap().is_empty());
    // Settled transactions leave the open set.
    j.put_tx(TxRecord {
        outcome: TxState::Ok,
        ..sent(9, 41)
    })
    .await
    .unwrap();
    assert!(j.unsettled("hecto").await.unwrap().is_empty());
}

/// The callback of an acknowledged record runs once the record is committed (another
/// connection sees it), exactly once; a record that fails inside the commit reports its own
/// error; one that never reaches the writer reports `Stopped`.
#[tokio::test]
async fn an_acknowledged_record_is_committed_when_its_callback_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    // SQLite is the durability point here: the test fails records through it.
    let j = Journal::open_mode(&path, JournalSync::Full, JournalCommit::Sqlite).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let reader = path.clone();
    j.put_tx_then(
        sent(7, 70),
        OnCommit::new(move |result| {
            // What a caller answered now could find: read beside the writer.
            let seen = Connection::open(reader).and_then(|c| {
                c.query_row("SELECT msg_no FROM transactions WHERE id = 7", [], |r| {
                    r.get::<_, u32>(0)
                })
            });
            let _ = tx.send((result.is_ok(), seen.ok()));
        }),
    );
    assert_eq!(rx.await.unwrap(), (true, Some(70)));

    Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON transactions WHEN NEW.id = 8
             BEGIN SELECT RAISE(ABORT, 'refused'); END;",
        )
        .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    j.put_tx_then(
        sent(8, 80),
        OnCommit::new(move |result| {
            let _ = tx.send(result.map_err(|e| e.to_string()));
        }),
    );
    let refused = rx.await.unwrap().unwrap_err();
    assert!(refused.contains("refused"), "{refused}");

    let (tx, rx) = tokio::sync::oneshot::channel();
    drop(OnCommit::new(move |result| {
        let _ = tx.send(matches!(result, Err(JournalError::Stopped)));
    }));
    assert!(rx.await.unwrap(), "dropped uncalled: Stopped");
}

/// State `n` of transaction 1.
fn state(n: u32) -> TxRecord {
    TxRecord {
        detail: format!("state {n}"),
        ..sent(1, 1)
    }
}

/// Waits (bounded, on the writer's thread making progress) until the writer queue is empty.
fn queue_empty(j: &Journal) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while j.tx.capacity() < j.tx.max_capacity() {
        assert!(
            std::time::Instant::now() < deadline,
            "the writer never drained its queue"
        );
        std::thread::yield_now();
    }
}

/// A journal whose writer queue holds two commands, blocked by another connection holding
/// the write lock (returned: `COMMIT` on it releases the writer) after taking state 0;
/// then states 1..=`last` are submitted: 1 and 2 fill the queue, the rest overflow.
fn journal_with_overflow(last: u32) -> (tempfile::TempDir, Journal, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let j = Journal::open_tuned(
        &path,
        Tuning {
            queue: 2,
            ..Tuning::default()
        },
    )
    .unwrap();
    let blocker = Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE;").unwrap();
    j.put_tx_nowait(state(0));
    // The writer has taken state 0 and waits on the lock: the queue is empty again.
    queue_empty(&j);
    for n in 1..=last {
        j.put_tx_nowait(state(n));
    }
    (dir, j, blocker)
}

#[tokio::test]
async fn records_that_overflow_a_full_queue_keep_their_order() {
    let (_dir, j, blocker) = journal_with_overflow(5);
    // The writer drains the queue; this task has not yielded, so nothing it started
    // in the background has run, and there is room again when state 6 is submitted.
    blocker.execute_batch("COMMIT;").unwrap();
    queue_empty(&j);
    j.put_tx_nowait(state(6));
    // A flush is ordered after every record submitted before it, overflowed ones included.
    j.flush().await.unwrap();
    assert_eq!(j.get_tx(1).await.unwrap(), Some(state(6)));
}

#[tokio::test]
async fn flush_and_reads_wait_for_records_in_the_overflow() {
    let (dir, j, blocker) = journal_with_overflow(2000);
    let path = dir.path().join("j.db");
    // While records wait in the overflow, a new send is refused rather than queued.
    assert!(matches!(
        j.record_telegram(out_row(2, None, Bytes::new()), None),
        Err(JournalError::Busy)
    ));
    // A shutdown's flush, issued while records still wait in the overflow: when it returns,
    // the database (read by another connection, as after an exit) has all of them. The
    // queue holds two commands, so a flush queued ahead of the overflow would return
    // with most of the 2,000 still to come.
    let reader = {
        let (j, path) = (j.clone(), path.clone());
        tokio::spawn(async move {
            j.flush().await.unwrap();
            Connection::open(&path)
                .unwrap()
                .query_row("SELECT detail FROM transactions WHERE id = 1", [], |r| {
                    r.get::<_, String>(0)
                })
                .unwrap()
        })
    };
    tokio::task::yield_now().await;
    blocker.execute_batch("COMMIT;").unwrap();
    assert_eq!(reader.await.unwrap(), "state 2000");
    assert_eq!(j.get_tx(1).await.unwrap(), Some(state(2000)));
    assert_eq!(j.overflow.pending.load(Ordering::Acquire), 0);
    assert!(j
        .record_telegram(out_row(2, None, Bytes::new()), None)
        .is_ok());
}

#[tokio::test]
async fn the_wal_starts_over_under_sustained_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let j = Journal::open_tuned(
        &path,
        Tuning {
            checkpoint_every: std::time::Duration::from_millis(20),
            restart_frames: 256,
            keep_bytes: 4 << 20,
            ..Tuning::default()
        },
    )
    .unwrap();
    const ROWS: u32 = 150_000;
    // Keep the writer busy without a pause: the queue never drains, so a passive
    // checkpoint alone would never reach the end of the WAL and the file would only grow.
    let producer = {
        let j = j.clone();
        tokio::spawn(async move {
            let raw = Bytes::from(vec![b'x'; 300]);
            for n in 0..ROWS {
                let cmd = Command::Telegram {
                    ts_ms: 0,
                    row: out_row(n, None, raw.clone()),
                    opens: None,
                    reply: None,
                };
                if j.tx.send(cmd).await.is_err() {
                    return;
                }
            }
        })
    };
    let wal = dir.path().join("j.db-wal");
    let mut largest = 0;
    while !producer.is_finished() {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
    }
    j.flush().await.unwrap();
    let rows: i64 = Connection::open(&path)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM telegrams", [], |r| r.get(0))
        .unwrap();
    // Without restarts the WAL would hold all of them (~350 bytes each, ~50 MB); with them,
    // the restart threshold plus a few batches of up to `GROUP_MAX` rows.
    assert_eq!(rows, i64::from(ROWS));
    assert!(
        largest < 16 << 20,
        "WAL grew to {largest} bytes while {rows} rows were written"
    );
}

/// The schema of the first journals (before numbered migrations and before the integer-keyed
/// indexes), with one settled and one open transaction.
const FIRST_SCHEMA: &str = "
    CREATE TABLE seq_blocks (
        institution TEXT NOT NULL, day INTEGER NOT NULL, next INTEGER NOT NULL,
        PRIMARY KEY (institution, day));
    CREATE TABLE transactions (
        id INTEGER PRIMARY KEY, institution TEXT NOT NULL, day INTEGER NOT NULL,
        msg_no INTEGER NOT NULL, msg_type TEXT NOT NULL, outcome TEXT NOT NULL,
        detail TEXT NOT NULL, resolved TEXT, updated_ms INTEGER NOT NULL);
    CREATE INDEX transactions_key ON transactions (institution, day, msg_no);
    CREATE TABLE telegrams (
        id INTEGER PRIMARY KEY AUTOINCREMENT, ts_ms INTEGER NOT NULL,
        institution TEXT NOT NULL, direction TEXT NOT NULL, day INTEGER NOT NULL,
        msg_no INTEGER NOT NULL, msg_type TEXT NOT NULL, tx_id INTEGER, raw BLOB NOT NULL);
    CREATE INDEX telegrams_key ON telegrams (institution, day, msg_no);
    CREATE TABLE notices (
        id INTEGER PRIMARY KEY AUTOINCREMENT, institution TEXT NOT NULL,
        day INTEGER NOT NULL, key TEXT NOT NULL, telegram BLOB NOT NULL,
        received_ms INTEGER NOT NULL, delivered INTEGER NOT NULL DEFAULT 0,
        UNIQUE (institution, day, key));
    INSERT INTO transactions VALUES (1, 'hecto', 20261129, 1, '2000/100', 'unknown', 'timeout', 'ok', 5);
    INSERT INTO transactions VALUES (2, 'hecto', 20261129, 2, '2000/100', 'sent', '', NULL, 6);
    INSERT INTO telegrams VALUES (1, 6, 'hecto', 'out', 20261129, 2, '2000/100', 2, X'414243');
    INSERT INTO seq_blocks VALUES ('hecto', 20261129, 1001);";

/// A journal file of [`FIRST_SCHEMA`] with `sql` run after it (in a temp directory).
fn first_schema_and(sql: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let db = Connection::open(&path).unwrap();
    db.execute_batch(FIRST_SCHEMA).unwrap();
    db.execute_batch(sql).unwrap();
    (dir, path)
}

fn index_names(path: &std::path::Path) -> Vec<String> {
    let db = Connection::open(path).unwrap();
    let mut stmt = db
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name",
        )
        .unwrap();
    let names = stmt.query_map([], |r| r.get(0)).unwrap();
    names.collect::<Result<_, _>>().unwrap()
}

fn user_version(path: &std::path::Path) -> u32 {
    Connection::open(path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn a_journal_from_before_numbered_migrations_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch(FIRST_SCHEMA)
        .unwrap();
    assert_eq!(user_version(&path), 0);
    let j = Journal::open(&path).unwrap();
    // Its rows read back typed, and crash recovery finds the open one through the new index.
    let settled = j.get_tx(1).await.unwrap().unwrap();
    assert_eq!(
        (
            settled.outcome,
            settled.resolved,
            settled.msg_type.to_string()
        ),
        (
            TxState::Unknown,
            Some(Resolution::Ok),
            "2000/100".to_owned()
        )
    );
    let open = j.unsettled("hecto").await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!((open[0].0.id, &open[0].1[..]), (2, &b"ABC"[..]));
    assert_eq!(
        j.reserve_seq("hecto", 20261129, 10, 950_000).await.unwrap(),
        1001..1011,
        "numbers continue after the old journal's last block"
    );
    drop(j);
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    assert_eq!(
        index_names(&path),
        [
            "idempotency_keys_age",
            "notices_undelivered",
            "telegrams_day_no",
            "transactions_open"
        ],
        "the TEXT-keyed indexes are gone, the integer-keyed ones in place"
    );
}

#[tokio::test]
async fn a_journal_at_an_older_version_gets_only_the_later_migrations() {
    // Version 1, plus a legacy index that only migration 2 removes.
    let (_dir, path) = first_schema_and(
        "CREATE INDEX telegrams_day_no ON telegrams (day, msg_no);
         CREATE INDEX transactions_open ON transactions (institution)
             WHERE resolved IS NULL AND outcome IN ('sent', 'unknown');
         DROP INDEX transactions_key;
         PRAGMA user_version = 1;",
    );
    let j = Journal::open(&path).unwrap();
    assert_eq!(j.unsettled("hecto").await.unwrap().len(), 1);
    drop(j);
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    assert_eq!(
        index_names(&path),
        [
            "idempotency_keys_age",
            "notices_undelivered",
            "telegrams_day_no",
            "transactions_open"
        ]
    );
}

#[tokio::test]
async fn notices_delivered_before_consumer_groups_are_not_sent_again() {
    // Version 2: one `delivered` flag for the webhook and the native subscribers.
    let (_dir, path) = first_schema_and(
        "INSERT INTO notices VALUES (1, 'hecto', 1, 'a', X'41', 1, 1);
         INSERT INTO notices VALUES (2, 'hecto', 1, 'b', X'42', 2, 0);
         INSERT INTO notices VALUES (3, 'hecto', 1, 'c', X'43', 3, 1);
         INSERT INTO notices VALUES (4, 'hecto', 1, 'd', X'44', 4, 0);
         INSERT INTO notices VALUES (5, 'kibnet', 1, 'e', X'45', 5, 1);
         PRAGMA user_version = 2;",
    );
    let j = Journal::open(&path).unwrap();
    for group in ["$webhook", "$subscribers"] {
        assert_eq!(undelivered(&j, group, "hecto").await, [2, 4], "{group}");
        assert_eq!(j.notice_group_open(group, "hecto").await.unwrap(), 2);
        assert!(undelivered(&j, group, "kibnet").await.is_empty(), "{group}");
        assert_eq!(j.notice_group_open(group, "kibnet").await.unwrap(), 6);
    }
    // A group that did not exist then starts from the first notice.
    assert_eq!(undelivered(&j, "ledger", "hecto").await, [1, 2, 3, 4]);
}

#[test]
fn a_journal_newer_than_the_code_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch(&format!("PRAGMA user_version = {};", SCHEMA_VERSION + 1))
        .unwrap();
    let Err(e) = Journal::open(&path) else {
        panic!("a newer journal must be refused");
    };
    assert!(
        matches!(
            e,
            JournalError::Schema(SchemaError::TooNew { found, supported })
                if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        format!(
            "journal schema version {} is newer than this gateway supports ({}): \
             run the gateway version that wrote it, or a newer one",
            SCHEMA_VERSION + 1,
            SCHEMA_VERSION
        )
    );
    assert_eq!(user_version(&path), SCHEMA_VERSION + 1, "left untouched");
}

/// The client expected for a transaction is written with its first row (the telegram's
/// commit), kept by later states, and dropped unused when no row comes.
#[tokio::test]
async fn the_expected_client_is_written_with_the_first_row_and_kept() {
    use crate::auth::ClientId;
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(&dir.path().join("j.db")).unwrap();
    let payroll = ClientId::new("payroll");
    j.expect_client(9, &payroll);
    j.expect_client(10, &ClientId::new("never-sent"));
    let committed = j
        .record_telegram(
            out_row(41, Some(9), Bytes::from_static(b"x")),
            Some(sent(9, 41)),
        )
        .unwrap();
    committed.await.unwrap().unwrap();
    assert_eq!(
        j.get_tx(9).await.unwrap().unwrap().client,
        Some(payroll.clone())
    );
    // A later state (no client of its own) keeps it.
    j.put_tx(TxRecord {
        outcome: TxState::Ok,
        ..sent(9, 41)
    })
    .await
    .unwrap();
    let tx = j.get_tx(9).await.unwrap().unwrap();
    assert_eq!((tx.outcome, tx.client), (TxState::Ok, Some(payroll)));
    // Refused before it was journaled: forgotten, and a later unrelated row gets nothing.
    j.forget_client(10);
    j.put_tx(sent(10, 42)).await.unwrap();
    assert_eq!(j.get_tx(10).await.unwrap().unwrap().client, None);
}
