//! The embedded journal: SQLite (WAL) owned by one writer thread with group commit.
//!
//! Everything that must survive a crash goes through here: 전문번호 blocks (so a number is never
//! reused within a day, even across a restart), transactions and their outcomes, and inbound
//! notices (recorded before they are acknowledged). Callers talk to the writer over a bounded
//! channel; the writer drains whatever is queued, runs it in one SQLite transaction, commits
//! once and only then answers — many requests share one fsync. Notice delivery reads through
//! a second connection ([`reader`]) and is woken by [`signals`] when notices are committed.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot, watch};

use crate::domain::MsgKey;

mod log;
#[cfg(test)]
mod log_tests;
mod logger;
mod reader;
mod records;
mod schema;
mod signals;
#[cfg(test)]
mod tests;
mod writer;

pub use log::{records_after, records_in, LogError};
use reader::Read;
pub use reader::BACKLOG_COUNT_LIMIT;
pub use records::{
    GroupBacklog, NoticeBatch, NoticeRecord, StoredNotice, TelegramRow, TxRecord, Unsettled,
};
pub(crate) use records::{TX_COLUMNS, TX_COLUMNS_V4};
pub use schema::{check_version, SchemaError, SCHEMA_VERSION};
use signals::NoticeSignals;
use writer::Command;

/// What to do once the commit that carries a record is over: called exactly once, with `Ok`
/// when the record is committed, else with why not (the commit failed, or the writer is gone
/// and the record never reached it — dropping an `OnCommit` uncalled reports
/// [`JournalError::Stopped`]).
///
/// It runs on the journal's writer thread, right after the commit: keep it short and never
/// block (answering a caller over a oneshot channel is what it is for).
pub struct OnCommit(Option<CommitCallback>);

/// The function an [`OnCommit`] calls.
type CommitCallback = Box<dyn FnOnce(Result<(), JournalError>) + Send>;

impl OnCommit {
    /// Calls `f` once the record is committed (or cannot be).
    pub fn new(f: impl FnOnce(Result<(), JournalError>) + Send + 'static) -> OnCommit {
        OnCommit(Some(Box::new(f)))
    }

    /// Reports the commit's result.
    pub(crate) fn call(mut self, result: Result<(), JournalError>) {
        if let Some(f) = self.0.take() {
            f(result);
        }
    }
}

impl Drop for OnCommit {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f(Err(JournalError::Stopped));
        }
    }
}

impl std::fmt::Debug for OnCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnCommit")
    }
}

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

/// Where a journal commit becomes durable (`[server] journal_commit`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JournalCommit {
    /// Every group commit is a SQLite transaction, synced as `journal_sync` says.
    Sqlite,
    /// Telegrams and transaction states are made durable in an append-only, pre-allocated
    /// log beside the database (its own group commit, one `fdatasync` of a file whose size
    /// never changes) and SQLite is filled behind it as the queryable index; a restart first
    /// replays the log's tail into SQLite. See [`log`](self) in `journal/log.rs`.
    #[default]
    Log,
}

impl JournalCommit {
    /// The mode's name in the config (`"sqlite"`, `"log"`).
    pub fn as_str(self) -> &'static str {
        match self {
            JournalCommit::Sqlite => "sqlite",
            JournalCommit::Log => "log",
        }
    }
}

impl std::str::FromStr for JournalCommit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sqlite" => Ok(JournalCommit::Sqlite),
            "log" => Ok(JournalCommit::Log),
            other => Err(format!(
                "journal commit mode {other:?}: expected \"sqlite\" or \"log\""
            )),
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
    /// SQLite `synchronous` of the writer (of the log, in [`JournalCommit::Log`]).
    sync: JournalSync,
    /// Where a commit becomes durable.
    commit: JournalCommit,
    /// Commands queued for the writer.
    queue: usize,
    /// Pause between background (passive) checkpoints.
    checkpoint_every: std::time::Duration,
    /// WAL length, in frames of one page, above which the writer finishes a checkpoint
    /// itself so that the WAL starts over.
    restart_frames: i64,
    /// Size of the journal log file (`JournalCommit::Log`).
    log_bytes: u64,
    /// Size the WAL file is truncated to when it starts over. Above `restart_frames` pages, so
    /// that normally the file is reused in place: truncating and growing it again costs ext4
    /// block frees and allocations, which showed up as 10–20 ms commits.
    keep_bytes: i64,
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            sync: JournalSync::default(),
            commit: JournalCommit::default(),
            queue: QUEUE,
            checkpoint_every: std::time::Duration::from_millis(500),
            // 32,768 × 4 KiB pages = 128 MiB: under sustained load of ~30,000 requests/s the
            // writer pauses (~20 ms here) once every few seconds, at a few thousand/s never.
            restart_frames: 32_768,
            keep_bytes: 256 << 20,
            // Four segments of 8 MiB: about 8,000 requests each (a telegram and two states,
            // ~1 KiB a request); SQLite may lag three segments behind before batches go to it.
            log_bytes: 32 << 20,
        }
    }
}

/// Commands queued for the writer. Above an institution's `max_inflight` (20,000 by default)
/// so that a burst of in-flight-limited requests is not refused as `Busy`.
const QUEUE: usize = 65_536;

/// Journal failures.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// SQLite reported an error.
    #[error("journal database: {0}")]
    Db(#[from] rusqlite::Error),
    /// The file's schema cannot be used (newer than this code, or a failed migration).
    #[error(transparent)]
    Schema(#[from] SchemaError),
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
        /// The first number never reserved (`max + 1` or more: everything up to it is used).
        next: u32,
    },
    /// The group commit carrying the record failed (nothing of it was written).
    #[error("journal commit failed: {0}")]
    Commit(String),
    /// The journal log (`journal_commit = "log"`) cannot be opened or read back.
    #[error(transparent)]
    Log(#[from] LogError),
}

/// Handle to the journal writer; cheap to clone.
#[derive(Clone)]
pub struct Journal {
    tx: mpsc::Sender<Command>,
    overflow: Arc<Overflow>,
    reader: mpsc::Sender<Read>,
    signals: Arc<NoticeSignals>,
    clients: Arc<PendingClients>,
}

/// The callers (client identities) of transactions about to be sent, by transaction id: the
/// writer records each with its transaction's first row, in the same commit
/// ([`Journal::expect_client`]).
#[derive(Default)]
pub(crate) struct PendingClients {
    map: std::sync::Mutex<HashMap<u64, crate::auth::ClientId>>,
    /// Entries in `map`: the writer's look-up skips the lock when there are none.
    len: AtomicUsize,
}

impl PendingClients {
    fn insert(&self, tx_id: u64, client: crate::auth::ClientId) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.insert(tx_id, client).is_none() {
            self.len.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Removes and returns the client waiting for `tx_id`.
    pub(crate) fn take(&self, tx_id: u64) -> Option<crate::auth::ClientId> {
        if self.len.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let found = map.remove(&tx_id);
        if found.is_some() {
            self.len.fetch_sub(1, Ordering::AcqRel);
        }
        found
    }
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

    /// Like [`Journal::open_with`], with the durability point `commit`.
    pub fn open_mode(
        path: &Path,
        sync: JournalSync,
        commit: JournalCommit,
    ) -> Result<Journal, JournalError> {
        Journal::open_tuned(
            path,
            Tuning {
                sync,
                commit,
                ..Tuning::default()
            },
        )
    }

    fn open_tuned(path: &Path, tuning: Tuning) -> Result<Journal, JournalError> {
        let mut conn = Connection::open(path)?;
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {}; PRAGMA busy_timeout = 5000;",
            tuning.sync.pragma()
        ))?;
        schema::migrate(&mut conn)?;
        // Whatever the mode now, a log left by an earlier run is read back first.
        let log_path = path.with_extension("log");
        let log = if tuning.commit == JournalCommit::Log || log_path.exists() {
            let log = recover(&mut conn, &log_path, &tuning)?;
            (tuning.commit == JournalCommit::Log).then_some(log)
        } else {
            None
        };
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
        let checkpoint_conn = Connection::open(path)?;
        checkpoint_conn.execute_batch("PRAGMA busy_timeout = 5000;")?;
        let read_conn = Connection::open(path)?;
        read_conn.execute_batch("PRAGMA busy_timeout = 5000; PRAGMA query_only = 1;")?;
        let signals = Arc::new(NoticeSignals::default());
        let clients = Arc::new(PendingClients::default());
        let (tx, rx) = mpsc::channel(tuning.queue);
        let alive = tx.downgrade();
        let progress = log.as_ref().map(|(_, p)| p.clone());
        let log_lock = log.as_ref().map(|(l, _)| l.lock_holder()).transpose()?;
        // With the log, callers queue for the log thread, which hands everything on to SQLite.
        let rx = match log {
            Some((log, progress)) => {
                // Whole rounds of the log thread (`Command::Batch`, up to `GROUP_MAX` commands
                // each); a std channel allocates its slots up front.
                let (to_sqlite, sqlite_rx) = std::sync::mpsc::sync_channel(16);
                std::thread::Builder::new()
                    .name("fep-journal-log".into())
                    .spawn({
                        let clients = clients.clone();
                        move || logger::logger(log, rx, to_sqlite, &progress, &clients)
                    })
                    .map_err(|_| JournalError::Stopped)?;
                writer::Inbox::Log(sqlite_rx)
            }
            None => writer::Inbox::Callers(rx),
        };
        let syncing = writer::Syncing {
            sync: tuning.sync,
            log: progress,
            _log_lock: log_lock,
        };
        if syncing.log.is_some() {
            // Groups nobody waits for are not synced (the log holds them); see `writer`.
            conn.execute_batch("PRAGMA synchronous = NORMAL")?;
        }
        std::thread::Builder::new()
            .name("fep-journal".into())
            .spawn({
                let (restart_wal, signals, clients) =
                    (restart_wal.clone(), signals.clone(), clients.clone());
                move || writer::writer(conn, rx, &restart_wal, &signals, &clients, &syncing)
            })
            .map_err(|_| JournalError::Stopped)?;
        // Reads of a few consumers at a time; they wait rather than pile up.
        let (reader, reads) = mpsc::channel(256);
        std::thread::Builder::new()
            .name("fep-journal-reader".into())
            .spawn(move || reader::reader(read_conn, reads))
            .map_err(|_| JournalError::Stopped)?;
        std::thread::Builder::new()
            .name("fep-journal-checkpoint".into())
            .spawn(move || {
                writer::checkpointer(
                    checkpoint_conn,
                    alive,
                    tuning.checkpoint_every,
                    tuning.restart_frames,
                    &restart_wal,
                )
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
        Ok(Journal {
            tx,
            overflow,
            reader,
            signals,
            clients,
        })
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
                ts_ms: now_ms(),
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
            ts_ms: now_ms(),
            row,
            opens: None,
            reply: None,
        });
    }

    /// Records a transaction's state without waiting (never dropped, see above).
    pub fn put_tx_nowait(&self, record: TxRecord) {
        self.submit(Command::PutTx(record, None));
    }

    /// Records a transaction's state without waiting, like [`Journal::put_tx_nowait`] (never
    /// dropped, in order), and calls `then` once its commit is over: a caller is answered
    /// only with an outcome the journal holds.
    pub fn put_tx_then(&self, record: TxRecord, then: OnCommit) {
        self.submit(Command::PutTx(record, Some(then)));
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

    /// Records that `client` asks for transaction `tx_id`, which is about to be sent (call
    /// before handing it to the institution): the identity is written with the
    /// transaction's first row, in the same commit as its telegram, so it is never lost to a
    /// crash. Pair with [`Journal::forget_client`] once the caller is answered.
    pub fn expect_client(&self, tx_id: u64, client: &crate::auth::ClientId) {
        self.clients.insert(tx_id, client.clone());
    }

    /// Drops what [`Journal::expect_client`] kept for `tx_id` if no row of it was written (a
    /// request refused before it was journaled).
    pub fn forget_client(&self, tx_id: u64) {
        self.clients.take(tx_id);
    }

    /// Records a transaction's current state (insert or update). Waits until it is queued
    /// (not for the commit: `flush` does).
    pub async fn put_tx(&self, record: TxRecord) -> Result<(), JournalError> {
        self.enqueue(Command::PutTx(record, None)).await
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

    /// The id of the last notice of `institution` committed since the journal was opened
    /// (0 before the first); changes after each commit that records one.
    pub fn notice_watch(&self, institution: &str) -> watch::Receiver<u64> {
        self.signals.watch(institution)
    }

    /// Opens the delivery state of consumer group `group` for `institution`, creating it
    /// (from the first notice still in the journal) when it is new; returns its cursor: every
    /// notice with a smaller id is acknowledged by the group.
    pub async fn notice_group_open(
        &self,
        group: &str,
        institution: &str,
    ) -> Result<u64, JournalError> {
        let (group, institution) = (Arc::from(group), Arc::from(institution));
        self.call(|reply| Command::NoticeGroupOpen {
            group,
            institution,
            reply,
        })
        .await?
    }

    /// Durably records that `group` acknowledged the notices `ids` of `institution`, and
    /// that every notice below `acked_below` is acknowledged; returns once committed. The
    /// group's cursor never moves back. Also marks the group as seen (see [`Journal::prune`]).
    pub async fn notice_acks(
        &self,
        group: Arc<str>,
        institution: Arc<str>,
        ids: Vec<u64>,
        acked_below: u64,
    ) -> Result<(), JournalError> {
        self.call(|reply| Command::NoticeAcks {
            group,
            institution,
            ids,
            acked_below,
            reply,
        })
        .await?
    }

    /// Up to `limit` notices of `institution` with an id above `after` that `group` has not
    /// acknowledged, oldest first, as committed when the read starts. Read on the journal's
    /// reader connection: never waits for the writer.
    pub async fn undelivered_notices(
        &self,
        group: Arc<str>,
        institution: Arc<str>,
        after: u64,
        limit: usize,
    ) -> Result<NoticeBatch, JournalError> {
        self.read(|reply| Read::Notices {
            group,
            institution,
            after,
            limit,
            reply,
        })
        .await?
    }

    /// Every consumer group's backlog (undelivered notices, counted up to
    /// [`BACKLOG_COUNT_LIMIT`], and the oldest one's time), on the reader connection.
    pub async fn notice_backlogs(&self) -> Result<Vec<GroupBacklog>, JournalError> {
        self.read(|reply| Read::Backlogs { reply }).await?
    }

    async fn read<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Read,
    ) -> Result<T, JournalError> {
        let (reply, rx) = oneshot::channel();
        self.reader
            .send(make(reply))
            .await
            .map_err(|_| JournalError::Stopped)?;
        rx.await.map_err(|_| JournalError::Stopped)
    }

    /// Transactions of `institution` that were sent but never settled (a crash in between), with
    /// the telegram as sent — they are unknowns to resolve.
    pub async fn unsettled(&self, institution: &str) -> Result<Unsettled, JournalError> {
        let institution = institution.to_owned();
        self.call(|reply| Command::Unsettled { institution, reply })
            .await?
    }

    /// Deletes settled rows last changed before `cutoff_ms` (unix ms); returns rows deleted.
    /// Unsettled transactions and number blocks are kept, and so is a notice until every
    /// consumer group of its institution has acknowledged it; a group not seen since the
    /// cutoff (no member subscribed, nothing acknowledged) is forgotten first.
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

    /// The key of the last telegram `institution` sent us on `day` among `keys`, if any (an
    /// institution-opened day's last session command, read at start).
    pub async fn last_inbound(
        &self,
        institution: &str,
        day: u32,
        keys: Vec<MsgKey>,
    ) -> Result<Option<MsgKey>, JournalError> {
        if keys.is_empty() {
            return Ok(None);
        }
        let institution = institution.to_owned();
        self.exec(move |txn| {
            let marks = vec!["?"; keys.len()].join(", ");
            let sql = format!(
                "SELECT msg_type FROM telegrams
                 WHERE institution = ? AND day = ? AND direction = 'in' AND msg_type IN ({marks})
                 ORDER BY id DESC LIMIT 1"
            );
            let mut values: Vec<&dyn rusqlite::ToSql> = vec![&institution, &day];
            values.extend(keys.iter().map(|k| k as &dyn rusqlite::ToSql));
            let found = txn.query_row(&sql, values.as_slice(), |r| r.get::<_, MsgKey>(0));
            match found {
                Ok(key) => Ok(Some(key)),
                Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    /// Runs `f` on the writer's connection inside its next group commit, in order with every
    /// record submitted before it; its result is returned once that commit succeeded (a
    /// failed commit is [`JournalError::Stopped`], as for every other call). For the
    /// gateway's own tables beside the engine's (`crate::idempotency`).
    pub(crate) async fn exec<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, JournalError> + Send + 'static,
    ) -> Result<T, JournalError> {
        self.call(|reply| Command::Exec(Box::new(move |txn| writer::answer(reply, f(txn)))))
            .await?
    }
}

/// Reads the journal log at `log_path` back into SQLite (the records after the last one it
/// holds), synced, and returns the log ready to write from its start, with what the SQLite
/// writer and the log thread share.
fn recover(
    conn: &mut Connection,
    log_path: &Path,
    tuning: &Tuning,
) -> Result<(log::CommitLog, Arc<logger::Progress>), JournalError> {
    let applied = log_applied(conn)?;
    let (mut log, found) = log::CommitLog::open(log_path, tuning.log_bytes, tuning.sync, applied)?;
    let last = found.last().map_or(applied, |(lsn, _)| *lsn);
    if !found.is_empty() {
        let started = std::time::Instant::now();
        read_back(conn, &found, last)?;
        conn.execute_batch(&format!("PRAGMA synchronous = {}", tuning.sync.pragma()))?;
        tracing::info!(
            records = found.len(),
            ms = started.elapsed().as_millis() as u64,
            "journal log read back into the database"
        );
    }
    log.restart()?;
    let progress = logger::Progress::default();
    progress.durable.store(last, Ordering::Release);
    Ok((log, Arc::new(progress)))
}

/// How far SQLite holds the journal log.
fn log_applied(conn: &Connection) -> Result<u64, JournalError> {
    let applied: i64 = conn.query_row("SELECT lsn FROM log_applied", [], |r| r.get(0))?;
    Ok(applied.max(0) as u64)
}

/// Applies records read back from the log in one synced transaction, with SQLite's position
/// moved to `last`.
fn read_back(
    conn: &mut Connection,
    found: &[(u64, log::Entry)],
    last: u64,
) -> Result<(), JournalError> {
    conn.execute_batch("PRAGMA synchronous = FULL")?;
    let none = PendingClients::default();
    let txn = conn.transaction()?;
    for (_, entry) in found {
        match entry {
            log::Entry::Telegram { ts_ms, row, opens } => {
                writer::insert_telegram(&txn, *ts_ms, row)?;
                if let Some(tx) = opens {
                    writer::put_tx(&txn, tx, &none)?;
                }
            }
            log::Entry::Tx(tx) => writer::put_tx(&txn, tx, &none)?,
        }
    }
    writer::set_applied(&txn, last)?;
    txn.commit()?;
    Ok(())
}

/// What [`repair_log`] found in a journal log, and whether it read it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRepair {
    /// Whether there is a log next to the database at all.
    pub log_exists: bool,
    /// How far the database held the log before.
    pub applied: u64,
    /// Records the log holds beyond that, readable.
    pub readable: usize,
    /// Record numbers missing between readable ones (the damage).
    pub missing: Vec<std::ops::Range<u64>>,
    /// Whether the readable records are now in the database (`accept_gap`, and something to
    /// read back).
    pub read_back: bool,
}

/// An operator's repair of a journal log that refuses to start because records are missing
/// between others (`LogError::Gap`; e.g. `journal_sync = "normal"` and a power loss): reports
/// what the log at `db`'s side holds beyond what the database has, and with `accept_gap`
/// reads every readable record back, in order, moving the database past the gap. The missing
/// records are lost to the database; a transaction they would have settled stays as the
/// database has it (`sent` ones are resolved by inquiry at the next start). Takes the log's
/// lock: refused while a gateway runs on it.
pub fn repair_log(db: &Path, accept_gap: bool) -> Result<LogRepair, JournalError> {
    let log_path = db.with_extension("log");
    let mut conn = Connection::open(db)?;
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;")?;
    schema::migrate(&mut conn)?;
    let applied = log_applied(&conn)?;
    let mut report = LogRepair {
        log_exists: log_path.exists(),
        applied,
        readable: 0,
        missing: Vec::new(),
        read_back: false,
    };
    if !report.log_exists {
        return Ok(report);
    }
    let capacity = std::fs::metadata(&log_path)
        .map_err(|source| LogError::Io {
            path: log_path.clone(),
            source,
        })?
        .len();
    let (log, found) =
        log::CommitLog::open_accepting_gaps(&log_path, capacity, applied, &mut report.missing)?;
    report.readable = found.len();
    if accept_gap && !found.is_empty() {
        let last = found.last().map_or(applied, |(lsn, _)| *lsn);
        read_back(&mut conn, &found, last)?;
        report.read_back = true;
    }
    drop(log);
    Ok(report)
}

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
