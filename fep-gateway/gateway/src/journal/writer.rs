//! The journal's threads: the writer (one SQLite connection, group commit), the background
//! checkpointer, and the SQL each command runs.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::{mpsc, oneshot};

use super::logger::Progress;
use super::signals::NoticeSignals;
use super::{
    now_ms, JournalError, NoticeRecord, OnCommit, TelegramRow, TxRecord, Unsettled, TX_COLUMNS,
};
use super::{JournalSync, PendingClients};

/// Most commands folded into one SQLite transaction (and into one batch of the log).
pub(super) const GROUP_MAX: usize = 4096;

/// What the writer thread is asked to do.
pub(super) enum Command {
    Telegram {
        /// When it was journaled (unix ms).
        ts_ms: u64,
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
    /// A transaction's state, and what to do once its commit is over.
    PutTx(TxRecord, Option<OnCommit>),
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
    /// Creates a consumer group's delivery state if it is new; answers its cursor.
    NoticeGroupOpen {
        group: Arc<str>,
        institution: Arc<str>,
        reply: oneshot::Sender<Result<u64, JournalError>>,
    },
    /// Acknowledgements of a consumer group, and its cursor as its dispatcher sees it.
    NoticeAcks {
        group: Arc<str>,
        institution: Arc<str>,
        ids: Vec<u64>,
        acked_below: u64,
        reply: oneshot::Sender<Result<(), JournalError>>,
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
    /// SQLite now holds the journal log up to this record number (recorded in the same
    /// transaction as the records before it).
    Applied(u64),
    /// The commands before it did not go through the log: the group holding this one is
    /// synced, so that they are as durable as without the log.
    Sync,
    /// One round of the log thread, handed on whole: the writer never splits it between two
    /// commits, so its records and its `Applied` are committed together (a crash can never
    /// leave SQLite with some of them but without their position, which would apply them
    /// twice at the next start).
    Batch(Vec<Command>),
}

impl Command {
    /// Answers a caller whose record the log holds now (the SQLite writer then has nobody
    /// left to answer for it).
    pub(super) fn answer_logged(&mut self) {
        match self {
            Command::Telegram { reply, .. } => {
                if let Some(reply) = reply.take() {
                    let _ = reply.send(Ok(()));
                }
            }
            Command::PutTx(_, ack) => {
                if let Some(ack) = ack.take() {
                    ack.call(Ok(()));
                }
            }
            _ => {}
        }
    }

    /// Whether someone waits for SQLite's answer to this command (with the log, the others
    /// can be held and committed with later ones).
    fn waits(&self) -> bool {
        self.awaits_sqlite()
            || matches!(
                self,
                Command::GetTx { .. } | Command::Unsettled { .. } | Command::Flush { .. }
            )
    }

    /// Whether someone waits for this command to be durable in SQLite itself (with the log,
    /// the others are durable already, or only read).
    fn awaits_sqlite(&self) -> bool {
        match self {
            Command::Telegram { reply, .. } => reply.is_some(),
            Command::PutTx(_, ack) => ack.is_some(),
            Command::GetTx { .. }
            | Command::Unsettled { .. }
            | Command::Flush { .. }
            | Command::Applied(_) => false,
            Command::ReserveSeq { .. }
            | Command::RecordNotice { .. }
            | Command::NoticeGroupOpen { .. }
            | Command::NoticeAcks { .. }
            | Command::Prune { .. }
            | Command::Exec(_)
            | Command::Sync => true,
            Command::Batch(cmds) => cmds.iter().any(Command::awaits_sqlite),
        }
    }

    /// A copy of a command nobody waits for (a logged record), to apply again when its
    /// SQLite commit failed.
    fn again(&self) -> Option<Command> {
        match self {
            Command::Telegram {
                ts_ms,
                row,
                opens,
                reply: None,
            } => Some(Command::Telegram {
                ts_ms: *ts_ms,
                row: row.clone(),
                opens: opens.clone(),
                reply: None,
            }),
            Command::PutTx(tx, None) => Some(Command::PutTx(tx.clone(), None)),
            Command::Applied(lsn) => Some(Command::Applied(*lsn)),
            _ => None,
        }
    }
}

/// How the SQLite writer syncs, and what it tells the log.
pub(super) struct Syncing {
    /// `journal_sync`.
    pub(super) sync: JournalSync,
    /// With the log: SQLite syncs only groups someone waits for, or when the log asks; it
    /// reports how far it holds the log.
    pub(super) log: Option<Arc<Progress>>,
    /// The log file's lock, held until this writer has committed everything the log thread
    /// handed it: a journal reopened meanwhile would read those records back as well.
    pub(super) _log_lock: Option<std::fs::File>,
}

/// Replies are sent only after the group's commit.
pub(super) type Reply = Box<dyn FnOnce() + Send>;

/// Commit acknowledgements of a group, each with its own record's result (a record can fail
/// on its own inside a commit that succeeds).
type Acks = Vec<(OnCommit, Result<(), JournalError>)>;

/// A reply sent after the commit.
pub(super) fn answer<T: Send + 'static>(reply: oneshot::Sender<T>, value: T) -> Reply {
    Box::new(move || {
        let _ = reply.send(value);
    })
}

/// Where the SQLite writer takes its commands from.
pub(super) enum Inbox {
    /// The callers' queue: SQLite's commit is the durability point.
    Callers(mpsc::Receiver<Command>),
    /// What the log thread hands on (`journal_commit = "log"`); a std channel for its
    /// `recv_timeout`.
    Log(std::sync::mpsc::Receiver<Command>),
}

/// What [`Inbox::next`] found.
// Moved once per command, like the command itself: boxing it would allocate per command.
#[allow(clippy::large_enum_variant)]
enum Next {
    Command(Command),
    /// Nothing arrived before the deadline.
    Idle,
    /// Every sender is gone.
    Closed,
}

impl Inbox {
    /// The next command, waiting until `deadline` at most (for ever without one).
    fn next(&mut self, deadline: Option<Instant>) -> Next {
        match self {
            Inbox::Callers(rx) => rx.blocking_recv().map_or(Next::Closed, Next::Command),
            Inbox::Log(rx) => {
                let got = match deadline {
                    None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                    Some(d) => rx.recv_timeout(d.saturating_duration_since(Instant::now())),
                };
                match got {
                    Ok(cmd) => Next::Command(cmd),
                    Err(RecvTimeoutError::Timeout) => Next::Idle,
                    Err(RecvTimeoutError::Disconnected) => Next::Closed,
                }
            }
        }
    }

    fn try_next(&mut self) -> Option<Command> {
        match self {
            Inbox::Callers(rx) => rx.try_recv().ok(),
            Inbox::Log(rx) => rx.try_recv().ok(),
        }
    }
}

/// With the log, how long the SQLite writer keeps collecting records nobody waits for before
/// it commits them: one transaction then writes each touched page once for many records,
/// instead of once per record, which is most of SQLite's I/O. It is also how far the database
/// (`fep journal`, the reader connection) may lag behind the log.
const LINGER: Duration = Duration::from_millis(25);

/// The writer thread: drains whatever is queued, runs it in one transaction, commits once and
/// only then answers. With the log, records nobody waits for are held up to [`LINGER`] and
/// committed together.
pub(super) fn writer(
    conn: Connection,
    mut inbox: Inbox,
    restart_wal: &AtomicBool,
    signals: &Arc<NoticeSignals>,
    clients: &PendingClients,
    syncing: &Syncing,
) {
    let mut w = Writer {
        conn,
        restart_wal,
        signals,
        clients,
        syncing,
        current: syncing.sync,
        last_try: None,
    };
    let mut batch: Vec<Command> = Vec::new();
    // When the oldest command held in `batch` arrived (log mode only).
    let mut held_since: Option<Instant> = None;
    loop {
        match inbox.next(held_since.map(|t| t + LINGER)) {
            Next::Closed => {
                if !batch.is_empty() {
                    w.group(std::mem::take(&mut batch));
                }
                return;
            }
            Next::Idle => {}
            Next::Command(first) => {
                take(&mut batch, first);
                while batch.len() < GROUP_MAX {
                    match inbox.try_next() {
                        Some(cmd) => take(&mut batch, cmd),
                        None => break,
                    }
                }
                let hold = syncing.log.as_ref().is_some_and(|p| {
                    batch.len() < GROUP_MAX
                        && !p.want_sync.load(Ordering::Acquire)
                        && !batch.iter().any(Command::waits)
                        && held_since.is_none_or(|t| t.elapsed() < LINGER)
                });
                if hold {
                    held_since.get_or_insert_with(Instant::now);
                    continue;
                }
            }
        }
        held_since = None;
        w.group(std::mem::take(&mut batch));
    }
}

/// Adds a received command to the group, a log round's commands whole.
fn take(batch: &mut Vec<Command>, cmd: Command) {
    match cmd {
        Command::Batch(cmds) => batch.extend(cmds),
        cmd => batch.push(cmd),
    }
}

/// The SQLite writer's connection and state between groups.
struct Writer<'a> {
    conn: Connection,
    restart_wal: &'a AtomicBool,
    signals: &'a Arc<NoticeSignals>,
    clients: &'a PendingClients,
    syncing: &'a Syncing,
    /// The connection's `synchronous` now (with the log it changes per group).
    current: JournalSync,
    /// A reader holding an old snapshot (`fep journal`, a backup) keeps the WAL from starting
    /// over; meanwhile the writer retries at most every 100 ms, not after every batch (each
    /// try syncs the database).
    last_try: Option<Instant>,
}

impl Writer<'_> {
    /// Runs `batch` in one transaction, commits, and answers.
    fn group(&mut self, batch: Vec<Command>) {
        let (signals, clients, syncing) = (self.signals, self.clients, self.syncing);
        let mut synced = true;
        let mut retry = Vec::new();
        let mut applied = None;
        if let Some(progress) = &syncing.log {
            let want = syncing.sync == JournalSync::Full
                && (progress.want_sync.swap(false, Ordering::AcqRel)
                    || batch.iter().any(Command::awaits_sqlite));
            let mode = if want {
                JournalSync::Full
            } else {
                JournalSync::Normal
            };
            if mode != self.current
                && self
                    .conn
                    .execute_batch(&format!("PRAGMA synchronous = {}", mode.pragma()))
                    .is_ok()
            {
                self.current = mode;
            }
            synced = self.current == JournalSync::Full || syncing.sync == JournalSync::Normal;
            retry = batch.iter().filter_map(Command::again).collect();
            applied = batch
                .iter()
                .filter_map(|c| match c {
                    Command::Applied(lsn) => Some(*lsn),
                    _ => None,
                })
                .max();
        }
        let mut replies: Vec<Reply> = Vec::with_capacity(batch.len());
        let mut acks: Acks = Vec::new();
        let result = group(
            &mut self.conn,
            batch,
            signals,
            clients,
            &mut replies,
            &mut acks,
        );
        // Whether SQLite now holds what this group carried (its log position included):
        // committed, or failed and applied again until it was.
        let committed = result.is_ok() || !retry.is_empty();
        if let Err(e) = result {
            tracing::error!(error = %e, "journal commit failed");
            // Replies were computed inside the failed transaction: drop them so callers see
            // `Stopped` rather than a success that was not committed.
            replies.clear();
            let failed = e.to_string();
            for (ack, _) in acks.drain(..) {
                ack.call(Err(JournalError::Commit(failed.clone())));
            }
            // The log holds these and told their callers so: SQLite must get them too, in
            // order, before anything after them.
            if !retry.is_empty() {
                apply_again(&mut self.conn, &retry, signals, clients);
            }
        }
        for reply in replies {
            reply();
        }
        for (ack, result) in acks {
            ack.call(result);
        }
        if let Some(progress) = syncing.log.as_ref().filter(|_| committed) {
            if let Some(lsn) = applied {
                // Unsynced, it becomes durable with the next synced commit.
                let to = if synced {
                    &progress.durable
                } else {
                    &progress.pending_durable
                };
                to.fetch_max(lsn, Ordering::AcqRel);
            }
            if synced {
                let pending = progress.pending_durable.load(Ordering::Acquire);
                progress.durable.fetch_max(pending, Ordering::AcqRel);
            }
        }
        self.restart_wal_if_asked();
    }

    fn restart_wal_if_asked(&mut self) {
        if self.restart_wal.load(Ordering::Relaxed)
            && self
                .last_try
                .is_none_or(|t| t.elapsed() >= Duration::from_millis(100))
        {
            self.last_try = Some(Instant::now());
            // Between batches no write is open, so this checkpoint can reach the end of the
            // WAL (the background one has copied all but the last few hundred milliseconds);
            // if the background one holds the checkpoint lock, it is tried after the next batch.
            match self
                .conn
                .query_row("PRAGMA wal_checkpoint(PASSIVE);", [], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                }) {
                Ok((0, frames, copied)) if copied == frames => {
                    self.restart_wal.store(false, Ordering::Relaxed)
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "journal checkpoint failed"),
            }
        }
    }
}

/// Runs `batch` in one transaction and commits it; replies and acks are collected, to be
/// sent only if the commit succeeds.
fn group(
    conn: &mut Connection,
    batch: Vec<Command>,
    signals: &Arc<NoticeSignals>,
    clients: &PendingClients,
    replies: &mut Vec<Reply>,
    acks: &mut Acks,
) -> Result<(), rusqlite::Error> {
    let txn = conn.transaction()?;
    for cmd in batch {
        if let Command::Applied(lsn) = cmd {
            // Recorded with the records, or the commit fails: a position SQLite does not
            // hold must never let the log reuse their segment.
            set_applied(&txn, lsn)?;
            continue;
        }
        replies.push(apply(&txn, cmd, signals, clients, acks));
    }
    txn.commit()
}

/// Applies logged records whose commit failed until a commit succeeds: the log's segment
/// holding them is not reused meanwhile, and nothing after them reaches SQLite first.
fn apply_again(
    conn: &mut Connection,
    records: &[Command],
    signals: &Arc<NoticeSignals>,
    clients: &PendingClients,
) {
    let mut pause = Duration::from_millis(50);
    loop {
        std::thread::sleep(pause);
        let batch = records.iter().filter_map(Command::again).collect();
        let (mut replies, mut acks) = (Vec::new(), Vec::new());
        match group(conn, batch, signals, clients, &mut replies, &mut acks) {
            Ok(()) => return,
            Err(e) => {
                tracing::error!(error = %e, records = records.len(), "journal: logged records not yet in SQLite, retrying");
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// The background checkpointer: passive checkpoints every `every` while the journal is in use
/// (`alive`); asks the writer to finish one (`restart_wal`) when the WAL passes
/// `restart_frames`.
pub(super) fn checkpointer(
    conn: Connection,
    alive: mpsc::WeakSender<Command>,
    every: Duration,
    restart_frames: i64,
    restart_wal: &AtomicBool,
) {
    // A failed checkpoint is retried next round.
    while alive.upgrade().is_some() {
        std::thread::sleep(every);
        // (busy, WAL frames, frames copied into the database)
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE);", [], |r| {
            r.get::<_, i64>(1)
        }) {
            Ok(frames) => {
                if frames > restart_frames {
                    // Two quick rounds more copy what was appended meanwhile, so the writer's
                    // share (a pause for every institution) is small.
                    for _ in 0..2 {
                        let _ = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE);");
                    }
                    restart_wal.store(true, Ordering::Relaxed);
                }
            }
            Err(e) => tracing::warn!(error = %e, "journal checkpoint failed"),
        }
    }
}

fn apply(
    txn: &rusqlite::Transaction<'_>,
    cmd: Command,
    signals: &Arc<NoticeSignals>,
    clients: &PendingClients,
    acks: &mut Acks,
) -> Reply {
    match cmd {
        Command::Telegram {
            ts_ms,
            row,
            opens,
            reply,
        } => {
            let result = insert_telegram(txn, ts_ms, &row)
                .and_then(|_| opens.map_or(Ok(()), |tx| put_tx(txn, &tx, clients)))
                .map_err(JournalError::from);
            if let Err(e) = &result {
                tracing::error!(error = %e, "journal: telegram not recorded");
            }
            match reply {
                Some(reply) => answer(reply, result),
                None => Box::new(|| {}),
            }
        }
        Command::ReserveSeq {
            institution,
            day,
            block,
            max,
            reply,
        } => answer(reply, reserve(txn, &institution, day, block, max)),
        Command::PutTx(r, ack) => {
            let result = put_tx(txn, &r, clients).map_err(JournalError::from);
            if let Err(e) = &result {
                tracing::error!(error = %e, id = r.id, "journal: transaction not recorded");
            }
            if let Some(ack) = ack {
                acks.push((ack, result));
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
            answer(reply, result)
        }
        Command::RecordNotice {
            institution,
            day,
            key,
            telegram,
            reply,
        } => {
            let result = record_notice(txn, &institution, day, &key, &telegram);
            let fresh = match &result {
                Ok(r) if !r.duplicate => Some(r.id),
                _ => None,
            };
            let signals = signals.clone();
            Box::new(move || {
                // Committed: the consumers of this institution may read it now.
                if let Some(id) = fresh {
                    signals.committed(&institution, id);
                }
                let _ = reply.send(result);
            })
        }
        Command::NoticeGroupOpen {
            group,
            institution,
            reply,
        } => answer(reply, open_group(txn, &group, &institution)),
        Command::NoticeAcks {
            group,
            institution,
            ids,
            acked_below,
            reply,
        } => answer(
            reply,
            record_acks(txn, &group, &institution, &ids, acked_below).map_err(JournalError::from),
        ),
        Command::Unsettled { institution, reply } => answer(reply, unsettled(txn, &institution)),
        Command::Prune { cutoff_ms, reply } => answer(reply, prune(txn, cutoff_ms)),
        Command::Flush { reply } => answer(reply, ()),
        Command::Exec(f) => f(txn),
        // Handled in `group` (a failure there fails the commit); `Batch` is taken apart
        // as it is received.
        Command::Sync | Command::Applied(_) | Command::Batch(_) => Box::new(|| {}),
    }
}

/// Records that SQLite holds the journal log up to record `lsn`.
pub(super) fn set_applied(
    txn: &rusqlite::Transaction<'_>,
    lsn: u64,
) -> Result<(), rusqlite::Error> {
    txn.prepare_cached("UPDATE log_applied SET lsn = ?1 WHERE lsn < ?1")?
        .execute(params![lsn as i64])
        .map(|_| ())
}

pub(super) fn insert_telegram(
    txn: &rusqlite::Transaction<'_>,
    ts_ms: u64,
    row: &TelegramRow,
) -> Result<usize, rusqlite::Error> {
    // Cached statements: parsing the SQL again for every row was the writer's top cost.
    txn.prepare_cached(
        "INSERT INTO telegrams (ts_ms, institution, direction, day, msg_no, msg_type, tx_id, raw)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        ts_ms as i64,
        &*row.institution,
        row.direction,
        row.day,
        row.msg_no,
        row.msg_type.as_ref().map_or("", |k| k.as_str()),
        row.tx_id.map(|t| t as i64),
        &row.raw[..]
    ])
}

/// Inserts or updates a transaction's row; the client waiting for it in `clients` (or the
/// record's own) is written with its first record and kept afterwards.
pub(super) fn put_tx(
    txn: &rusqlite::Transaction<'_>,
    r: &TxRecord,
    clients: &PendingClients,
) -> Result<(), rusqlite::Error> {
    let client = r.client.clone().or_else(|| clients.take(r.id));
    txn.prepare_cached(
        "INSERT INTO transactions (id, institution, day, msg_no, msg_type, outcome, detail, resolved, updated_ms, client)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT(id) DO UPDATE SET msg_no = ?4, day = ?3, outcome = ?6, detail = ?7,
             resolved = ?8, updated_ms = ?9, client = COALESCE(client, ?10)",
    )?
    .execute(params![r.id as i64, r.institution, r.day, r.msg_no, r.msg_type, r.outcome, r.detail, r.resolved, r.updated_ms as i64, client.as_ref().map(|c| c.as_str())])
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
            next,
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
                t.client, (SELECT raw FROM telegrams g
                 WHERE g.day = t.day AND g.msg_no = t.msg_no AND g.tx_id = t.id AND g.direction = 'out'
                 ORDER BY g.id DESC LIMIT 1)
         FROM transactions t INDEXED BY transactions_open
         WHERE t.institution = ?1 AND t.resolved IS NULL AND t.outcome IN ('sent', 'unknown')",
    )?;
    let rows = stmt.query_map(params![institution], |row| {
        Ok((
            TxRecord::from_row(row)?,
            Bytes::from(row.get::<_, Option<Vec<u8>>>(10)?.unwrap_or_default()),
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
    // Consumer groups not seen since the cutoff (no member, no acknowledgement: a retired
    // service) no longer hold notices back. A notice is kept until every remaining group of
    // its institution has acknowledged it — and while no group exists, for the first one.
    txn.execute(
        "DELETE FROM notice_acks WHERE EXISTS (SELECT 1 FROM notice_groups g
             WHERE g.grp = notice_acks.grp AND g.institution = notice_acks.institution
             AND g.seen_ms < ?1)",
        params![cutoff],
    )?;
    txn.execute(
        "DELETE FROM notice_groups WHERE seen_ms < ?1",
        params![cutoff],
    )?;
    n += txn.execute(
        "DELETE FROM notices WHERE received_ms < ?1
         AND EXISTS (SELECT 1 FROM notice_groups g WHERE g.institution = notices.institution)
         AND NOT EXISTS (SELECT 1 FROM notice_groups g
             WHERE g.institution = notices.institution AND notices.id >= g.acked_below
             AND NOT EXISTS (SELECT 1 FROM notice_acks a WHERE a.grp = g.grp
                 AND a.institution = g.institution AND a.notice_id = notices.id))",
        params![cutoff],
    )?;
    txn.execute(
        "DELETE FROM notice_acks
         WHERE NOT EXISTS (SELECT 1 FROM notices n WHERE n.id = notice_acks.notice_id)",
        [],
    )?;
    Ok(n as u64)
}

/// A consumer group's cursor, creating its state (from the first notice on) if it is new.
fn open_group(
    txn: &rusqlite::Transaction<'_>,
    group: &str,
    institution: &str,
) -> Result<u64, JournalError> {
    txn.prepare_cached(
        "INSERT INTO notice_groups (grp, institution, acked_below, seen_ms) VALUES (?1, ?2, 0, ?3)
         ON CONFLICT (grp, institution) DO UPDATE SET seen_ms = ?3",
    )?
    .execute(params![group, institution, now_ms() as i64])?;
    let cursor: i64 = txn.query_row(
        "SELECT acked_below FROM notice_groups WHERE grp = ?1 AND institution = ?2",
        params![group, institution],
        |r| r.get(0),
    )?;
    Ok(cursor.max(0) as u64)
}

/// Records a group's acknowledgements: its cursor moves forward (never back: several
/// dispatchers may share a group's state), acknowledgements above it are kept, and those
/// below it — implied by the cursor now — are dropped.
fn record_acks(
    txn: &rusqlite::Transaction<'_>,
    group: &str,
    institution: &str,
    ids: &[u64],
    acked_below: u64,
) -> Result<(), rusqlite::Error> {
    txn.prepare_cached(
        "INSERT INTO notice_groups (grp, institution, acked_below, seen_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (grp, institution) DO UPDATE
             SET acked_below = MAX(acked_below, ?3), seen_ms = ?4",
    )?
    .execute(params![
        group,
        institution,
        acked_below as i64,
        now_ms() as i64
    ])?;
    let cursor: i64 = txn
        .prepare_cached(
            "SELECT acked_below FROM notice_groups WHERE grp = ?1 AND institution = ?2",
        )?
        .query_row(params![group, institution], |r| r.get(0))?;
    let mut insert = txn.prepare_cached(
        "INSERT OR IGNORE INTO notice_acks (grp, institution, notice_id) VALUES (?1, ?2, ?3)",
    )?;
    for &id in ids.iter().filter(|&&id| id as i64 >= cursor) {
        insert.execute(params![group, institution, id as i64])?;
    }
    txn.prepare_cached(
        "DELETE FROM notice_acks WHERE grp = ?1 AND institution = ?2 AND notice_id < ?3",
    )?
    .execute(params![group, institution, cursor])?;
    Ok(())
}
