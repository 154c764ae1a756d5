//! The log thread of `journal_commit = "log"`: group commit into the [`CommitLog`], then
//! SQLite behind it.
//!
//! It takes the callers' queue in place of the SQLite writer. Each round it drains what is
//! queued, appends the telegrams and transaction states to one batch, writes and syncs it,
//! answers those callers, and then hands every command, in order, to the SQLite writer, with
//! the batch's last record number (`Command::Applied`) so SQLite notes how far it holds the log
//! in the same transaction. Commands that need SQLite's answer (a 전문번호 block, a notice, a
//! read) pass through unchanged and are answered by the SQLite writer, after its commit.
//!
//! When a batch cannot be logged — the next segment still holds records SQLite has not synced,
//! the batch is larger than a segment, or the file failed — it goes to SQLite with its callers
//! still waiting, followed by `Command::Sync`, and SQLite's synced commit answers them: the
//! journal as it is without the log, slower, never losing or reordering anything.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::mpsc;

use super::log::CommitLog;
use super::writer::{Command, GROUP_MAX};
use super::PendingClients;

/// What the log thread and the SQLite writer tell each other.
#[derive(Debug, Default)]
pub(super) struct Progress {
    /// The last record number SQLite holds durably (committed with a sync, or any commit when
    /// `journal_sync = "normal"`): segments holding only records up to it may be reused.
    pub(super) durable: AtomicU64,
    /// The last record number SQLite has committed without a sync: durable with its next
    /// synced commit.
    pub(super) pending_durable: AtomicU64,
    /// The log will soon need a segment SQLite has not synced: its next commit should sync.
    pub(super) want_sync: AtomicBool,
}

/// Runs until every sender of `rx` is gone, then closes `sqlite` (so the SQLite writer drains
/// and stops).
pub(super) fn logger(
    mut log: CommitLog,
    mut rx: mpsc::Receiver<Command>,
    sqlite: std::sync::mpsc::SyncSender<Command>,
    progress: &Progress,
    clients: &PendingClients,
) {
    // Once the file fails, everything goes to SQLite: a log that lost a write cannot be trusted
    // to hold the next one.
    let mut failed = false;
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < GROUP_MAX {
            match rx.try_recv() {
                Ok(cmd) => batch.push(cmd),
                Err(_) => break,
            }
        }
        for cmd in &mut batch {
            append(&mut log, cmd, clients);
        }
        if log.batch_count() > 0 {
            let logged = commit(&mut log, progress, &mut failed);
            // How often the log is bypassed is what an operator sizes it by.
            metrics::counter!("fep_journal_batches_total", "durable_in" => if logged == Logged::Yes { "log" } else { "sqlite" })
                .increment(1);
            match logged {
                Logged::Yes => {
                    for cmd in &mut batch {
                        cmd.answer_logged();
                    }
                    batch.push(Command::Applied(log.last_lsn()));
                }
                Logged::No => {
                    // Records nobody waits for are in this batch too: SQLite syncs them.
                    batch.push(Command::Sync);
                }
                Logged::Failed => {
                    // The failed write may still reach the disk whole: its numbers are used,
                    // and SQLite records them as held with the records, so a later start
                    // does not apply them again over what came after.
                    batch.push(Command::Applied(log.last_lsn()));
                    batch.push(Command::Sync);
                }
            }
        }
        if log.next_segment_pending(progress.durable.load(Ordering::Acquire)) {
            progress.want_sync.store(true, Ordering::Release);
        }
        // Whole: see `Command::Batch`.
        if sqlite.send(Command::Batch(batch)).is_err() {
            return;
        }
    }
}

/// Adds a command's telegram or transaction state to the batch; the caller's identity waiting
/// in `clients` goes into the record (the log must hold it, and SQLite then finds it there).
fn append(log: &mut CommitLog, cmd: &mut Command, clients: &PendingClients) {
    match cmd {
        Command::Telegram {
            ts_ms, row, opens, ..
        } => {
            if let Some(tx) = opens {
                if tx.client.is_none() {
                    tx.client = clients.take(tx.id);
                }
            }
            log.push_telegram(*ts_ms, row, opens.as_ref());
        }
        Command::PutTx(tx, _) => {
            if tx.client.is_none() {
                tx.client = clients.take(tx.id);
            }
            log.push_tx(tx);
        }
        _ => {}
    }
}

/// What became of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Logged {
    /// Written and synced: its callers may be answered.
    Yes,
    /// Not written (no room yet, or the log failed before): it goes to SQLite.
    No,
    /// The write failed: it goes to SQLite, and its numbers are used.
    Failed,
}

/// Writes and syncs the batch, or says why it must go to SQLite instead.
fn commit(log: &mut CommitLog, progress: &Progress, failed: &mut bool) -> Logged {
    if *failed
        || (!log.fits() && !log.next_segment(progress.durable.load(Ordering::Acquire)))
        || !log.fits()
    {
        if !*failed {
            progress.want_sync.store(true, Ordering::Release);
            tracing::debug!("journal log: next segment not yet in SQLite; batch journaled there");
        }
        log.discard();
        return Logged::No;
    }
    match log.write() {
        Ok(()) => Logged::Yes,
        Err(e) => {
            tracing::error!(error = %e, "journal log failed: journaling in SQLite from now on");
            *failed = true;
            Logged::Failed
        }
    }
}
