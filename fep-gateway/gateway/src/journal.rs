//! The embedded journal: SQLite (WAL) owned by one writer thread with group commit.
//!
//! Everything that must survive a crash goes through here: 전문번호 blocks (so a number is never
//! reused within a day, even across a restart), transactions and their outcomes, and inbound
//! notices (recorded before they are acknowledged). Callers talk to the writer over a bounded
//! channel; the writer drains whatever is queued, runs it in one SQLite transaction, commits
//! once and only then answers — many requests share one fsync.

use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

/// How far a journal commit is pushed before the writer answers (`[server] journal_sync`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JournalSync {
    /// Every group commit is synced to the disk (`fsync` of the WAL): a committed row — the
    /// telegram about to be sent, the 전문번호 block about to be used — survives a power loss
    /// or an OS crash, not only a crash of the gateway.
    #[default]
    Full,
    /// Commits reach the OS, and the disk at checkpoints: survives `kill -9` of the gateway,
    /// but a power loss can undo the last commits (a telegram sent without its row, a number
    /// block handed out again). For test systems, or disks that are themselves protected.
    Normal,
}

impl JournalSync {
    /// The mode's name in the config (`"full"`, `"normal"`).
    pub fn as_str(self) -> &'static str {
        match self {
            JournalSync::Full => "full",
            JournalSync::Normal => "normal",
        }
    }

    fn pragma(self) -> &'static str {
        match self {
            JournalSync::Full => "FULL",
            JournalSync::Normal => "NORMAL",
        }
    }
}

impl std::str::FromStr for JournalSync {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "full" => Ok(JournalSync::Full),
            "normal" => Ok(JournalSync::Normal),
            other => Err(format!(
                "journal sync mode {other:?}: expected \"full\" or \"normal\""
            )),
        }
    }
}

/// The writer's queue and how the WAL is kept in bounds (see `Journal::open`).
#[derive(Debug, Clone, Copy)]
struct Tuning {
    /// SQLite `synchronous` of the writer.
    sync: JournalSync,
    /// Commands queued for the writer.
    queue: usize,
    /// Pause between background (passive) checkpoints.
    checkpoint_every: std::time::Duration,
    /// WAL length, in frames of one page, above which the writer finishes a checkpoint
    /// itself so that the WAL starts over.
    restart_frames: i64,
    /// Size the WAL file is truncated to when it starts over. Above `restart_frames` pages, so
    /// that normally the file is reused in place: truncating and growing it again costs ext4
    /// block frees and allocations, which showed up as 10–20 ms commits.
    keep_bytes: i64,
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            sync: JournalSync::default(),
            queue: QUEUE,
            checkpoint_every: std::time::Duration::from_millis(500),
            // 32,768 × 4 KiB pages = 128 MiB: under sustained load of ~30,000 requests/s the
            // writer pauses (~20 ms here) once every few seconds, at a few thousand/s never.
            restart_frames: 32_768,
            keep_bytes: 256 << 20,
        }
    }
}

/// Most commands folded into one SQLite transaction.
const GROUP_MAX: usize = 4096;
/// Commands queued for the writer. Above an institution's `max_inflight` (20,000 by default)
/// so that a burst of in-flight-limited requests is not refused as `Busy`.
const QUEUE: usize = 65_536;

/// Journal failures.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// SQLite reported an error.
    #[error("journal database: {0}")]
    Db(#[from] rusqlite::Error),
    /// The writer thread is gone (shutting down or crashed).
    #[error("journal writer stopped")]
    Stopped,
    /// The writer's queue is full: the journal cannot keep up.
    #[error("journal busy: write queue full")]
    Busy,
    /// The day's 전문번호 range is used up.
    #[error("sequence numbers for {institution} on {day} are exhausted (max {max})")]
    Exhausted {
        /// Institution.
        institution: String,
        /// Day (YYYYMMDD).
        day: u32,
        /// Last number of the range.
        max: u32,
    },
}

/// A transaction's journaled state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TxRecord {
    /// Gateway-assigned id.
    pub id: u64,
    /// Institution name.
    pub institution: String,
    /// 전송일자 (YYYYMMDD).
    pub day: u32,
    /// 전문번호.
    pub msg_no: u32,
    /// e.g. "2000/100".
    pub msg_type: String,
    /// ok / declined / unknown / rejected.
    pub outcome: String,
    /// Response code or reason.
    pub detail: String,
    /// For unknowns: what the inquiry found (ok / declined / unresolved), when it did.
    pub resolved: Option<String>,
    /// Unix milliseconds of the last change.
    pub updated_ms: u64,
}

/// The columns [`TxRecord::from_row`] reads, in order.
pub(crate) const TX_COLUMNS: &str =
    "id, institution, day, msg_no, msg_type, outcome, detail, resolved, updated_ms";

impl TxRecord {
    /// Reads a row selected with [`TX_COLUMNS`] (first column at index 0).
    pub(crate) fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<TxRecord> {
        Ok(TxRecord {
            id: row.get::<_, i64>(0)? as u64,
            institution: row.get(1)?,
            day: row.get(2)?,
            msg_no: row.get(3)?,
            msg_type: row.get(4)?,
            outcome: row.get(5)?,
            detail: row.get(6)?,
            resolved: row.get(7)?,
            updated_ms: row.get::<_, i64>(8)? as u64,
        })
    }
}

/// Unsettled transactions with the telegram each was sent as.
pub type Unsettled = Vec<(TxRecord, Vec<u8>)>;

/// A recorded inbound notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeRecord {
    /// Journal id (used as the notice id towards subscribers).
    pub id: u64,
    /// True when the same notice (institution, day, type, 전문번호) was recorded before.
    pub duplicate: bool,
}

/// A notice not yet acknowledged by an internal subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingNotice {
    /// Journal id.
    pub id: u64,
    /// Institution name.
    pub institution: String,
    /// The raw telegram.
    pub telegram: Vec<u8>,
}

/// One telegram crossing the institution boundary, as journaled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelegramRow {
    /// Institution name.
    pub institution: Arc<str>,
    /// `"out"` (to the institution) or `"in"` (from it).
    pub direction: &'static str,
    /// 전송일자 (YYYYMMDD).
    pub day: u32,
    /// 전문번호.
    pub msg_no: u32,
    /// e.g. "2000/100".
    pub msg_type: String,
    /// The transaction it belongs to, when known.
    pub tx_id: Option<u64>,
    /// The raw telegram (shared with the sender, not copied).
    pub raw: Bytes,
}

enum Command {
    Telegram {
        row: TelegramRow,
        /// The transaction this telegram opens, recorded in the same commit.
        opens: Option<TxRecord>,
        reply: Option<oneshot::Sender<Result<(), JournalError>>>,
    },
    ReserveSeq {
        institution: String,
        day: u32,
        block: u32,
        max: u32,
        reply: oneshot::Sender<Result<Range<u32>, JournalError>>,
    },
    PutTx(TxRecord),
    GetTx {
        id: u64,
        reply: oneshot::Sender<Result<Option<TxRecord>, JournalError>>,
    },
    RecordNotice {
        institution: String,
        day: u32,
        key: String,
        telegram: Vec<u8>,
        reply: oneshot::Sender<Result<NoticeRecord, JournalError>>,
    },
    NoticeDelivered {
        id: u64,
    },
    PendingNotices {
        reply: oneshot::Sender<Result<Vec<PendingNotice>, JournalError>>,
    },
    Unsettled {
        institution: String,
        reply: oneshot::Sender<Result<Unsettled, JournalError>>,
    },
    Flush {
        reply: oneshot::Sender<()>,
    },
    Prune {
        cutoff_ms: u64,
        reply: oneshot::Sender<Result<u64, JournalError>>,
    },
    /// Runs inside the group's transaction; its reply is sent after the commit.
    Exec(Box<dyn FnOnce(&rusqlite::Transaction<'_>) -> Reply + Send>),
}

/// Handle to the journal writer; cheap to clone.
#[derive(Clone)]
pub struct Journal {
    tx: mpsc::Sender<Command>,
    overflow: Arc<Overflow>,
}

/// Where fire-and-forget records wait when the writer's queue is full, in order.
///
/// The actors that submit them cannot wait (they would stall every request of their
/// institution) and the records must not be dropped; a task per record would not keep their
/// order, and a transaction's states must be applied in the order they happened (`unknown`
/// before its resolution). Its length is bounded in practice by admission: each request in
/// flight (`max_inflight`) produces a handful of records.
struct Overflow {
    /// Records handed to the forwarder and not yet in the writer's queue.
    pending: AtomicUsize,
    tx: std::sync::mpsc::Sender<Command>,
}

impl Journal {
    /// Opens (or creates) the journal at `path` and starts its writer thread, with
    /// [`JournalSync::Full`].
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        Journal::open_with(path, JournalSync::default())
    }

    /// Like [`Journal::open`], with the given sync mode.
    pub fn open_with(path: &Path, sync: JournalSync) -> Result<Journal, JournalError> {
        Journal::open_tuned(
            path,
            Tuning {
                sync,
                ..Tuning::default()
            },
        )
    }

    fn open_tuned(path: &Path, tuning: Tuning) -> Result<Journal, JournalError> {
        let conn = Connection::open(path)?;
        conn.execute_batch(
            &"PRAGMA journal_mode = WAL;
             PRAGMA synchronous = SYNC_MODE;
             PRAGMA busy_timeout = 5000;
             CREATE TABLE IF NOT EXISTS seq_blocks (
                 institution TEXT NOT NULL, day INTEGER NOT NULL, next INTEGER NOT NULL,
                 PRIMARY KEY (institution, day));
             CREATE TABLE IF NOT EXISTS transactions (
                 id INTEGER PRIMARY KEY, institution TEXT NOT NULL, day INTEGER NOT NULL,
                 msg_no INTEGER NOT NULL, msg_type TEXT NOT NULL, outcome TEXT NOT NULL,
                 detail TEXT NOT NULL, resolved TEXT, updated_ms INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS telegrams (
                 id INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL,
                 institution TEXT NOT NULL, direction TEXT NOT NULL, day INTEGER NOT NULL,
                 msg_no INTEGER NOT NULL, msg_type TEXT NOT NULL, tx_id INTEGER, raw BLOB NOT NULL);
             -- Indexes cost every insert on the request path, so only two: integer keys for
             -- looking up a (day, 전문번호), and a partial index holding just the open
             -- transactions (in flight or unknown), which stays a page or two and makes
             -- crash recovery a lookup instead of a scan. (Earlier journals had TEXT-keyed
             -- indexes; they are replaced here.)
             DROP INDEX IF EXISTS transactions_key;
             DROP INDEX IF EXISTS telegrams_key;
             CREATE INDEX IF NOT EXISTS telegrams_day_no ON telegrams (day, msg_no);
             CREATE INDEX IF NOT EXISTS transactions_open ON transactions (institution)
                 WHERE resolved IS NULL AND outcome IN ('sent', 'unknown');
             CREATE TABLE IF NOT EXISTS notices (
                 id INTEGER PRIMARY KEY AUTOINCREMENT, institution TEXT NOT NULL,
                 day INTEGER NOT NULL, key TEXT NOT NULL, telegram BLOB NOT NULL,
                 received_ms INTEGER NOT NULL, delivered INTEGER NOT NULL DEFAULT 0,
                 UNIQUE (institution, day, key));
             -- Schema change 1 (additive, issue 13): idempotency keys. A key names the
             -- transaction it opened and the telegram it was opened with (crate::idempotency).
             CREATE TABLE IF NOT EXISTS idempotency_keys (
                 key TEXT PRIMARY KEY, institution TEXT NOT NULL, request BLOB NOT NULL,
                 tx_id INTEGER NOT NULL, created_ms INTEGER NOT NULL);
             CREATE INDEX IF NOT EXISTS idempotency_keys_age
                 ON idempotency_keys (institution, created_ms);"
                .replace("SYNC_MODE", tuning.sync.pragma()),
        )?;
        // The writer does not checkpoint on its own: a checkpoint copies the WAL into the
        // database and syncs, which would stall every commit (and so every institution's
        // requests) behind it. A second connection checkpoints passively instead, which
        // does not block the writer. Under sustained load that alone never lets the WAL
        // start over (the writer appends while each checkpoint runs, so the WAL is never
        // fully copied when the next write begins) and the file grows without bound; so when
        // the WAL passes `restart_frames` the checkpointer asks the writer to copy the
        // little that is left between two batches, and the next write restarts the WAL from
        // its beginning.
        conn.execute_batch(&format!(
            "PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = {};",
            tuning.keep_bytes
        ))?;
        let restart_wal = Arc::new(AtomicBool::new(false));
        let checkpointer = Connection::open(path)?;
        checkpointer.execute_batch("PRAGMA busy_timeout = 5000;")?;
        let (tx, rx) = mpsc::channel(tuning.queue);
        let alive = tx.downgrade();
        std::thread::Builder::new()
            .name("fep-journal".into())
            .spawn({
                let restart_wal = restart_wal.clone();
                move || writer(conn, rx, &restart_wal)
            })
            .map_err(|_| JournalError::Stopped)?;
        std::thread::Builder::new()
            .name("fep-journal-checkpoint".into())
            .spawn(move || {
                // Runs while the journal is in use; a failed checkpoint is retried next round.
                while alive.upgrade().is_some() {
                    std::thread::sleep(tuning.checkpoint_every);
                    // (busy, WAL frames, frames copied into the database)
                    match checkpointer.query_row("PRAGMA wal_checkpoint(PASSIVE);", [], |r| {
                        r.get::<_, i64>(1)
                    }) {
                        Ok(frames) => {
                            if frames > tuning.restart_frames {
                                // Two quick rounds more copy what was appended meanwhile, so
                                // the writer's share (a pause for every institution) is small.
                                for _ in 0..2 {
                                    let _ = checkpointer
                                        .execute_batch("PRAGMA wal_checkpoint(PASSIVE);");
                                }
                                restart_wal.store(true, Ordering::Relaxed);
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "journal checkpoint failed"),
                    }
                }
            })
            .map_err(|_| JournalError::Stopped)?;
        let (overflow_tx, overflow_rx) = std::sync::mpsc::channel::<Command>();
        let overflow = Arc::new(Overflow {
            pending: AtomicUsize::new(0),
            tx: overflow_tx,
        });
        std::thread::Builder::new()
            .name("fep-journal-overflow".into())
            .spawn({
                let (tx, overflow) = (tx.clone(), Arc::downgrade(&overflow));
                move || {
                    // Ends when every Journal handle (and so the overflow sender) is gone.
                    for cmd in overflow_rx {
                        let sent = tx.blocking_send(cmd);
                        if let Some(o) = overflow.upgrade() {
                            o.pending.fetch_sub(1, Ordering::AcqRel);
                        }
                        if sent.is_err() {
                            return;
                        }
                    }
                }
            })
            .map_err(|_| JournalError::Stopped)?;
        Ok(Journal { tx, overflow })
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, JournalError> {
        let (reply, rx) = oneshot::channel();
        self.enqueue(make(reply)).await?;
        rx.await.map_err(|_| JournalError::Stopped)
    }

    /// Queues a command behind everything submitted before it, overflow included (so that
    /// `flush` and reads see every earlier record); waits while the queue is full.
    async fn enqueue(&self, cmd: Command) -> Result<(), JournalError> {
        if self.overflow.pending.load(Ordering::Acquire) > 0 {
            self.overflow.pending.fetch_add(1, Ordering::AcqRel);
            return self.overflow.tx.send(cmd).map_err(|_| {
                self.overflow.pending.fetch_sub(1, Ordering::AcqRel);
                JournalError::Stopped
            });
        }
        self.tx.send(cmd).await.map_err(|_| JournalError::Stopped)
    }

    /// Runs `f` on the writer's connection inside its next group commit, in order with every
    /// record submitted before it; its result is returned once that commit succeeded (a
    /// failed commit is [`JournalError::Stopped`], as for every other call). For the
    /// gateway's own tables beside the engine's (`crate::idempotency`).
    pub(crate) async fn exec<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, JournalError> + Send + 'static,
    ) -> Result<T, JournalError> {
        self.call(|reply| {
            Command::Exec(Box::new(move |txn| {
                let result = f(txn);
                Box::new(move || {
                    let _ = reply.send(result);
                })
            }))
        })
        .await?
    }

    /// Durably reserves the next `block` 전문번호 of `day` (never handed out again).
    pub async fn reserve_seq(
        &self,
        institution: &str,
        day: u32,
        block: u32,
        max: u32,
    ) -> Result<Range<u32>, JournalError> {
        let institution = institution.to_owned();
        self.call(|reply| Command::ReserveSeq {
            institution,
            day,
            block,
            max,
            reply,
        })
        .await?
    }

    /// Journals a telegram about to be sent, with the transaction it opens (its `sent` state),
    /// in one commit; the receiver answers once it is committed. Fails at once (without
    /// waiting) when the journal is saturated — its queue full, or records waiting in the
    /// overflow — so a caller can refuse to send rather than stall.
    pub fn record_telegram(
        &self,
        row: TelegramRow,
        opens: Option<TxRecord>,
    ) -> Result<oneshot::Receiver<Result<(), JournalError>>, JournalError> {
        if self.overflow.pending.load(Ordering::Acquire) > 0 {
            return Err(JournalError::Busy);
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .try_send(Command::Telegram {
                row,
                opens,
                reply: Some(reply),
            })
            .map_err(|_| JournalError::Busy)?;
        Ok(rx)
    }

    /// Journals a telegram without waiting for the commit (inbound traffic); never dropped:
    /// when the queue is full it waits in the ordered overflow.
    pub fn record_telegram_nowait(&self, row: TelegramRow) {
        self.submit(Command::Telegram {
            row,
            opens: None,
            reply: None,
        });
    }

    /// Records a transaction's state without waiting (never dropped, see above).
    pub fn put_tx_nowait(&self, record: TxRecord) {
        self.submit(Command::PutTx(record));
    }

    fn submit(&self, cmd: Command) {
        // Once a record waits in the overflow, the ones after it queue behind it.
        let cmd = if self.overflow.pending.load(Ordering::Acquire) == 0 {
            match self.tx.try_send(cmd) {
                Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => return,
                Err(mpsc::error::TrySendError::Full(cmd)) => cmd,
            }
        } else {
            cmd
        };
        self.overflow.pending.fetch_add(1, Ordering::AcqRel);
        if self.overflow.tx.send(cmd).is_err() {
            self.overflow.pending.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Records a transaction's current state (insert or update). Waits until it is queued
    /// (not for the commit: `flush` does).
    pub async fn put_tx(&self, record: TxRecord) -> Result<(), JournalError> {
        self.enqueue(Command::PutTx(record)).await
    }

    /// A transaction by id.
    pub async fn get_tx(&self, id: u64) -> Result<Option<TxRecord>, JournalError> {
        self.call(|reply| Command::GetTx { id, reply }).await?
    }

    /// Durably records an inbound notice (deduplicated by `key`) before it is acknowledged.
    pub async fn record_notice(
        &self,
        institution: &str,
        day: u32,
        key: &str,
        telegram: &[u8],
    ) -> Result<NoticeRecord, JournalError> {
        let (institution, key, telegram) =
            (institution.to_owned(), key.to_owned(), telegram.to_vec());
        self.call(|reply| Command::RecordNotice {
            institution,
            day,
            key,
            telegram,
            reply,
        })
        .await?
    }

    /// Marks a notice as delivered to an internal subscriber.
    pub async fn notice_delivered(&self, id: u64) -> Result<(), JournalError> {
        self.enqueue(Command::NoticeDelivered { id }).await
    }

    /// Notices recorded but not yet delivered, oldest first.
    pub async fn pending_notices(&self) -> Result<Vec<PendingNotice>, JournalError> {
        self.call(|reply| Command::PendingNotices { reply }).await?
    }

    /// Transactions of `institution` that were sent but never settled (a crash in between), with
    /// the telegram as sent — they are unknowns to resolve.
    pub async fn unsettled(&self, institution: &str) -> Result<Unsettled, JournalError> {
        let institution = institution.to_owned();
        self.call(|reply| Command::Unsettled { institution, reply })
            .await?
    }

    /// Deletes settled rows last changed before `cutoff_ms` (unix ms); returns rows deleted.
    /// Unsettled transactions, undelivered notices and number blocks are kept.
    pub async fn prune(&self, cutoff_ms: u64) -> Result<u64, JournalError> {
        self.call(|reply| Command::Prune { cutoff_ms, reply })
            .await?
    }

    /// Prunes rows older than `days` now and then every hour (0 = keep forever).
    pub fn keep_days(&self, days: u32) {
        if days == 0 {
            return;
        }
        let journal = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                every.tick().await;
                let cutoff = now_ms().saturating_sub(u64::from(days) * 86_400_000);
                match journal.prune(cutoff).await {
                    Ok(n) if n > 0 => {
                        tracing::info!(rows = n, days, "journal retention: old rows deleted")
                    }
                    Ok(_) => {}
                    Err(JournalError::Stopped) => return,
                    Err(e) => tracing::warn!(error = %e, "journal retention failed"),
                }
            }
        });
    }

    /// Waits until everything sent before this call is committed.
    pub async fn flush(&self) -> Result<(), JournalError> {
        self.call(|reply| Command::Flush { reply }).await
    }
}

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Replies are sent only after the group's commit.
type Reply = Box<dyn FnOnce() + Send>;

fn writer(mut conn: Connection, mut rx: mpsc::Receiver<Command>, restart_wal: &AtomicBool) {
    // A reader holding an old snapshot (`fep journal`, a backup) keeps the WAL from starting
    // over; meanwhile the writer retries at most every 100 ms, not after every batch (each try
    // syncs the database).
    let mut last_try: Option<std::time::Instant> = None;
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < GROUP_MAX {
            match rx.try_recv() {
                Ok(cmd) => batch.push(cmd),
                Err(_) => break,
            }
        }
        let mut replies: Vec<Reply> = Vec::with_capacity(batch.len());
        let result = (|| -> Result<(), rusqlite::Error> {
            let txn = conn.transaction()?;
            for cmd in batch {
                replies.push(apply(&txn, cmd));
            }
            txn.commit()
        })();
        if let Err(e) = result {
            tracing::error!(error = %e, "journal commit failed");
            // Replies were computed inside the failed transaction: drop them so callers see
            // `Stopped` rather than a success that was not committed.
            replies.clear();
        }
        for reply in replies {
            reply();
        }
        if restart_wal.load(Ordering::Relaxed)
            && last_try.is_none_or(|t| t.elapsed() >= std::time::Duration::from_millis(100))
        {
            last_try = Some(std::time::Instant::now());
            // Between batches no write is open, so this checkpoint can reach the end of the
            // WAL (the background one has copied all but the last few hundred milliseconds);
            // if the background one holds the checkpoint lock, it is tried after the next batch.
            match conn.query_row("PRAGMA wal_checkpoint(PASSIVE);", [], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            }) {
                Ok((0, frames, copied)) if copied == frames => {
                    restart_wal.store(false, Ordering::Relaxed)
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "journal checkpoint failed"),
            }
        }
    }
}

fn apply(txn: &rusqlite::Transaction<'_>, cmd: Command) -> Reply {
    match cmd {
        Command::Telegram { row, opens, reply } => {
            // Cached statements: parsing the SQL again for every row was the writer's top cost.
            let result = txn
                .prepare_cached(
                    "INSERT INTO telegrams (ts_ms, institution, direction, day, msg_no, msg_type, tx_id, raw)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .and_then(|mut st| st.execute(params![now_ms() as i64, &*row.institution, row.direction, row.day, row.msg_no, row.msg_type, row.tx_id.map(|t| t as i64), &row.raw[..]]))
                .and_then(|_| opens.map_or(Ok(()), |tx| put_tx(txn, &tx)))
                .map_err(JournalError::from);
            if let Err(e) = &result {
                tracing::error!(error = %e, "journal: telegram not recorded");
            }
            Box::new(move || {
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
            })
        }
        Command::ReserveSeq {
            institution,
            day,
            block,
            max,
            reply,
        } => {
            let result = reserve(txn, &institution, day, block, max);
            Box::new(move || {
                let _ = reply.send(result);
            })
        }
        Command::PutTx(r) => {
            if let Err(e) = put_tx(txn, &r) {
                tracing::error!(error = %e, id = r.id, "journal: transaction not recorded");
            }
            Box::new(|| {})
        }
        Command::GetTx { id, reply } => {
            let result = txn
                .query_row(
                    &format!("SELECT {TX_COLUMNS} FROM transactions WHERE id = ?1"),
                    params![id as i64],
                    TxRecord::from_row,
                )
                .optional()
                .map_err(JournalError::from);
            Box::new(move || {
                let _ = reply.send(result);
            })
        }
        Command::RecordNotice {
            institution,
            day,
            key,
            telegram,
            reply,
        } => {
            let result = record_notice(txn, &institution, day, &key, &telegram);
            Box::new(move || {
                let _ = reply.send(result);
            })
        }
        Command::NoticeDelivered { id } => {
            if let Err(e) = txn.execute(
                "UPDATE notices SET delivered = 1 WHERE id = ?1",
                params![id as i64],
            ) {
                tracing::error!(error = %e, id, "journal: notice delivery not recorded");
            }
            Box::new(|| {})
        }
        Command::PendingNotices { reply } => {
            let result = pending_notices(txn);
            Box::new(move || {
                let _ = reply.send(result);
            })
        }
        Command::Unsettled { institution, reply } => {
            let result = unsettled(txn, &institution);
            Box::new(move || {
                let _ = reply.send(result);
            })
        }
        Command::Prune { cutoff_ms, reply } => {
            let result = prune(txn, cutoff_ms);
            Box::new(move || {
                let _ = reply.send(result);
            })
        }
        Command::Flush { reply } => Box::new(move || {
            let _ = reply.send(());
        }),
        Command::Exec(f) => f(txn),
    }
}

/// Inserts or updates a transaction's row.
fn put_tx(txn: &rusqlite::Transaction<'_>, r: &TxRecord) -> Result<(), rusqlite::Error> {
    txn.prepare_cached(
        "INSERT INTO transactions (id, institution, day, msg_no, msg_type, outcome, detail, resolved, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT(id) DO UPDATE SET msg_no = ?4, day = ?3, outcome = ?6, detail = ?7,
             resolved = ?8, updated_ms = ?9",
    )?
    .execute(params![r.id as i64, r.institution, r.day, r.msg_no, r.msg_type, r.outcome, r.detail, r.resolved, r.updated_ms as i64])
    .map(|_| ())
}

fn reserve(
    txn: &rusqlite::Transaction<'_>,
    institution: &str,
    day: u32,
    block: u32,
    max: u32,
) -> Result<Range<u32>, JournalError> {
    let next: u32 = txn
        .query_row(
            "SELECT next FROM seq_blocks WHERE institution = ?1 AND day = ?2",
            params![institution, day],
            |row| row.get(0),
        )
        .optional()?
        .unwrap_or(1);
    if next > max {
        return Err(JournalError::Exhausted {
            institution: institution.to_owned(),
            day,
            max,
        });
    }
    let end = next.saturating_add(block).min(max + 1);
    txn.execute(
        "INSERT INTO seq_blocks (institution, day, next) VALUES (?1, ?2, ?3)
         ON CONFLICT(institution, day) DO UPDATE SET next = ?3",
        params![institution, day, end],
    )?;
    Ok(next..end)
}

fn record_notice(
    txn: &rusqlite::Transaction<'_>,
    institution: &str,
    day: u32,
    key: &str,
    telegram: &[u8],
) -> Result<NoticeRecord, JournalError> {
    let existing: Option<i64> = txn
        .query_row(
            "SELECT id FROM notices WHERE institution = ?1 AND day = ?2 AND key = ?3",
            params![institution, day, key],
            |row| row.get(0),
        )
        .optional()?;
    if let Some(id) = existing {
        return Ok(NoticeRecord {
            id: id as u64,
            duplicate: true,
        });
    }
    txn.execute(
        "INSERT INTO notices (institution, day, key, telegram, received_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![institution, day, key, telegram, now_ms() as i64],
    )?;
    Ok(NoticeRecord {
        id: txn.last_insert_rowid() as u64,
        duplicate: false,
    })
}

fn unsettled(
    txn: &rusqlite::Transaction<'_>,
    institution: &str,
) -> Result<Unsettled, JournalError> {
    let mut stmt = txn.prepare(
        "SELECT t.id, t.institution, t.day, t.msg_no, t.msg_type, t.outcome, t.detail, t.resolved, t.updated_ms,
                (SELECT raw FROM telegrams g
                 WHERE g.day = t.day AND g.msg_no = t.msg_no AND g.tx_id = t.id AND g.direction = 'out'
                 ORDER BY g.id DESC LIMIT 1)
         FROM transactions t INDEXED BY transactions_open
         WHERE t.institution = ?1 AND t.resolved IS NULL AND t.outcome IN ('sent', 'unknown')",
    )?;
    let rows = stmt.query_map(params![institution], |row| {
        Ok((
            TxRecord::from_row(row)?,
            row.get::<_, Option<Vec<u8>>>(9)?.unwrap_or_default(),
        ))
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

fn prune(txn: &rusqlite::Transaction<'_>, cutoff_ms: u64) -> Result<u64, JournalError> {
    let cutoff = cutoff_ms as i64;
    let mut n = txn.execute("DELETE FROM telegrams WHERE ts_ms < ?1", params![cutoff])?;
    n += txn.execute(
        "DELETE FROM transactions WHERE updated_ms < ?1
         AND (outcome IN ('ok', 'declined', 'rejected') OR resolved IS NOT NULL)",
        params![cutoff],
    )?;
    n += txn.execute(
        "DELETE FROM notices WHERE delivered = 1 AND received_ms < ?1",
        params![cutoff],
    )?;
    Ok(n as u64)
}

fn pending_notices(txn: &rusqlite::Transaction<'_>) -> Result<Vec<PendingNotice>, JournalError> {
    let mut stmt = txn
        .prepare("SELECT id, institution, telegram FROM notices WHERE delivered = 0 ORDER BY id")?;
    let rows = stmt.query_map([], |row| {
        Ok(PendingNotice {
            id: row.get::<_, i64>(0)? as u64,
            institution: row.get(1)?,
            telegram: row.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[tokio::test]
    async fn notices_are_deduplicated_and_tracked_until_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(&dir.path().join("j.db")).unwrap();
        let a = j
            .record_notice("hecto", 1, "4000/000007", b"abc")
            .await
            .unwrap();
        let again = j
            .record_notice("hecto", 1, "4000/000007", b"abc")
            .await
            .unwrap();
        assert!(!a.duplicate && again.duplicate && again.id == a.id);
        assert_eq!(j.pending_notices().await.unwrap().len(), 1);
        j.notice_delivered(a.id).await.unwrap();
        assert!(j.pending_notices().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn retention_prunes_settled_rows_only() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(&dir.path().join("j.db")).unwrap();
        let tx = |id: u64, outcome: &str, resolved: Option<&str>| TxRecord {
            id,
            institution: "h".into(),
            day: 1,
            msg_no: id as u32,
            msg_type: "2000/100".into(),
            outcome: outcome.into(),
            detail: String::new(),
            resolved: resolved.map(str::to_owned),
            updated_ms: 1,
        };
        j.put_tx(tx(1, "ok", None)).await.unwrap();
        j.put_tx(tx(2, "unknown", Some("ok"))).await.unwrap();
        j.put_tx(tx(3, "unknown", None)).await.unwrap();
        j.put_tx(tx(4, "sent", None)).await.unwrap();
        let delivered = j.record_notice("h", 1, "a", b"x").await.unwrap();
        j.notice_delivered(delivered.id).await.unwrap();
        j.record_notice("h", 1, "b", b"y").await.unwrap();
        let block = j.reserve_seq("h", 1, 10, 100).await.unwrap();
        // Everything is older than a cutoff in the future.
        let deleted = j.prune(now_ms() + 1000).await.unwrap();
        assert_eq!(
            deleted, 3,
            "two settled transactions and one delivered notice"
        );
        assert!(j.get_tx(1).await.unwrap().is_none() && j.get_tx(2).await.unwrap().is_none());
        assert!(
            j.get_tx(3).await.unwrap().is_some() && j.get_tx(4).await.unwrap().is_some(),
            "unsettled kept"
        );
        assert_eq!(
            j.pending_notices().await.unwrap().len(),
            1,
            "undelivered kept"
        );
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
            msg_type: "2000/100".into(),
            outcome: "unknown".into(),
            detail: "timeout".into(),
            resolved: None,
            updated_ms: 1,
        };
        j.put_tx(r.clone()).await.unwrap();
        r.resolved = Some("ok".into());
        j.put_tx(r.clone()).await.unwrap();
        assert_eq!(j.get_tx(7).await.unwrap(), Some(r));
        assert_eq!(j.get_tx(8).await.unwrap(), None);
    }

    fn out_row(msg_no: u32, tx_id: Option<u64>, raw: Bytes) -> TelegramRow {
        TelegramRow {
            institution: "hecto".into(),
            direction: "out",
            day: 20261129,
            msg_no,
            msg_type: "2000/100".into(),
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
            msg_type: "2000/100".into(),
            outcome: "sent".into(),
            detail: String::new(),
            resolved: None,
            updated_ms: 1,
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
            vec![(sent(9, 41), raw.to_vec())]
        );
        assert!(j.unsettled("other").await.unwrap().is_empty());
        // Settled transactions leave the open set.
        j.put_tx(TxRecord {
            outcome: "ok".into(),
            ..sent(9, 41)
        })
        .await
        .unwrap();
        assert!(j.unsettled("hecto").await.unwrap().is_empty());
    }

    /// State `n` of transaction 1.
    fn state(n: u32) -> TxRecord {
        TxRecord {
            detail: format!("state {n}"),
            ..sent(1, 1)
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
        std::thread::sleep(std::time::Duration::from_millis(100));
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
        std::thread::sleep(std::time::Duration::from_millis(300));
        j.put_tx_nowait(state(6));
        // Let anything still on its way land before looking.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
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
}
