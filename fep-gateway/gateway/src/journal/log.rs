//! The commit log of `journal_commit = "log"`: an append-only file of a fixed size, written in
//! batches, each made durable with one `fdatasync`.
//!
//! The file is allocated once, filled with zeros, and never changes size, so syncing it writes
//! data blocks only — no inode or extent updates, which is what makes a SQLite commit (WAL
//! frames, a growing file, checkpoints) slower and its tail longer. SQLite is filled behind
//! it, as the queryable index.
//!
//! The file is [`SEGMENTS`] equal segments used in turn. Writing moves on to the next segment
//! only once SQLite holds every record of that segment durably (its records are never needed
//! again); until then batches go to SQLite the old way (see `logger`).
//!
//! ```text
//!  segment 0                      segment 1                      segment 2 …
//!  | batch | batch | … | zeros    | batch | …                    |
//!  each batch starts on a 4 KiB boundary:
//!  | header (32 B) | record | record | … | zeros to the boundary |
//!
//!  batch header, little-endian:
//!  +--------+---------+---------+-------+-----------+--------+-------+---------+
//!  | "FEPL" | version | 0       | len   | first_lsn | count  | crc32 | pass    |
//!  | 4 B    | u16     | u16     | u32   | u64       | u32    | u32   | u32     |
//!  +--------+---------+---------+-------+-----------+--------+-------+---------+
//!  record: | payload length u32 | payload |
//! ```
//!
//! Every batch starts on a 4 KiB boundary, so a batch never rewrites a page holding an
//! earlier, acknowledged one: a torn write can only damage the batch being written, which
//! nobody was told about yet. `crc32` covers the header's first 24 bytes, its `pass` and the
//! `len` bytes of records. Records are numbered (`lsn`) one after the other across batches and
//! segments. `pass` is drawn at random from the OS each time writing starts a segment over, and
//! every batch of that pass carries it.
//!
//! Reading it back ([`CommitLog::open`]) follows each segment's chain from its start — a batch,
//! then the one at the next boundary after it — while each batch is whole, carries the first
//! batch's `pass`, and its first number follows the previous one's last: a torn batch, zeros,
//! or a batch of an older pass ends a chain. A chain is never entered in the middle, so bytes
//! inside a record of this pass (a telegram's contents) are never read as a header. Past the
//! chain's end lie older passes, whose telegrams could hold a whole, checksummed batch made
//! to look like the next one; it cannot carry this pass's `pass`, drawn after it was written.
//! (Version 1 batches, from before `pass`, are read as such: only in a chain that starts with
//! one, which only a log last written by that version has.)

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::{JournalSync, TelegramRow, TxRecord};
use crate::auth::ClientId;
use crate::domain::{MsgKey, Resolution, TelegramDirection, TxState};

/// `FEPL`.
const MAGIC: u32 = u32::from_le_bytes(*b"FEPL");
/// Format version of batches and records: 2 carries `pass`.
const VERSION: u16 = 2;
/// The version before `pass`, still read back (a log written before an upgrade).
const VERSION_WITHOUT_PASS: u16 = 1;
/// Batches start on this boundary.
const PAGE: u64 = 4096;
/// Bytes of a batch header.
const HEADER: usize = 32;
/// Segments of the file.
pub(super) const SEGMENTS: usize = 4;
/// Record numbers stay below this: SQLite keeps them as `i64` (`log_applied`), and so must
/// the number after the last record. A whole batch numbered past it is refused.
const LSN_LIMIT: u64 = i64::MAX as u64;
/// The path errors name when the log is read from bytes ([`records_in`]).
const BYTES_PATH: &str = "<bytes>";

/// A failure reading or writing the log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The file could not be created, read, written or synced.
    #[error("journal log {path}: {source}")]
    Io {
        /// The log file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Records are missing between two that were found: the log is damaged. Not started over
    /// silently, since the missing ones may be outcomes callers were told.
    #[error(
        "journal log {path}: records {from}..{to} are missing (the file is damaged); \
         `fep repair-log` shows what the log still holds and, with --accept-gap, reads it back"
    )]
    Gap {
        /// The log file.
        path: PathBuf,
        /// First missing number.
        from: u64,
        /// First number found after the gap.
        to: u64,
    },
    /// A whole batch (its checksum matches) holds a record this code cannot read: written by
    /// another version, or a bug. Refused rather than skipped, since it may hold an outcome.
    #[error("journal log {path}: record {lsn} cannot be read: {why}")]
    Record {
        /// The log file.
        path: PathBuf,
        /// Its number.
        lsn: u64,
        /// What is wrong with it.
        why: String,
    },
}

/// One durable record: what the engine journals on the request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Entry {
    /// A telegram crossing the boundary, with the transaction it opens.
    Telegram {
        /// When it was journaled (unix ms).
        ts_ms: u64,
        /// The telegram.
        row: TelegramRow,
        /// The transaction's first state, recorded with it.
        opens: Option<TxRecord>,
    },
    /// A transaction's state.
    Tx(TxRecord),
}

/// The log file, its write position and the next record number.
pub(super) struct CommitLog {
    /// The file, opened for reading and writing.
    file: File,
    /// Its path, for errors.
    path: PathBuf,
    /// Bytes of each segment (a multiple of [`PAGE`]).
    segment: u64,
    /// The segment being written.
    seg: usize,
    /// Where the next batch is written in it (a multiple of [`PAGE`]).
    pos: u64,
    /// Number of the last record written to each segment in this pass (0: none, or all
    /// already in SQLite when the log was opened).
    seg_last: [u64; SEGMENTS],
    /// Whether the file has its size, allocated and zeroed (a new file, or one made with
    /// another size, is only after `restart`).
    allocated: bool,
    /// Number of the next record.
    next_lsn: u64,
    /// Whether a batch is synced before it counts as written.
    sync: JournalSync,
    /// The batch being built: header space, then records.
    buf: Vec<u8>,
    /// Records in `buf`.
    count: u32,
    /// The pass of the segment being written: random, new each time a segment is started over.
    pass: u32,
}

impl CommitLog {
    /// Opens the log at `path` and returns every record it holds above `applied` (what SQLite
    /// already has), in order. Nothing is written until [`CommitLog::restart`], which first
    /// creates the file's `capacity` bytes of zeros when it is missing or of another size.
    pub(super) fn open(
        path: &Path,
        capacity: u64,
        sync: JournalSync,
        applied: u64,
    ) -> Result<(CommitLog, Vec<(u64, Entry)>), LogError> {
        CommitLog::open_with(path, capacity, sync, applied, None)
    }

    /// Like [`CommitLog::open`], but records missing between two found are not an error: their
    /// ranges go to `missing` and the records around them are returned (an operator's repair,
    /// `journal::repair_log`).
    pub(super) fn open_accepting_gaps(
        path: &Path,
        capacity: u64,
        applied: u64,
        missing: &mut Vec<Range<u64>>,
    ) -> Result<(CommitLog, Vec<(u64, Entry)>), LogError> {
        CommitLog::open_with(path, capacity, JournalSync::Full, applied, Some(missing))
    }

    fn open_with(
        path: &Path,
        capacity: u64,
        sync: JournalSync,
        applied: u64,
        missing: Option<&mut Vec<Range<u64>>>,
    ) -> Result<(CommitLog, Vec<(u64, Entry)>), LogError> {
        let io = |source| LogError::Io {
            path: path.to_owned(),
            source,
        };
        let segment = (capacity / SEGMENTS as u64).max(4 * PAGE) / PAGE * PAGE;
        let capacity = segment * SEGMENTS as u64;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        lock(&file).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let mut all = Vec::with_capacity(len as usize);
        file.read_to_end(&mut all).map_err(io)?;
        // A file of another size (the capacity was changed) is read with its own segments.
        let old_segment = if len == capacity {
            segment
        } else {
            len / SEGMENTS as u64 / PAGE * PAGE
        };
        let found = read_segments(&all, old_segment as usize, applied, path, missing)?;
        drop(all);
        let next_lsn = found.last().map_or(applied, |(lsn, _)| *lsn) + 1;
        Ok((
            CommitLog {
                file,
                path: path.to_owned(),
                segment,
                seg: 0,
                // Full until `restart`: nothing is written before the records found are in
                // SQLite.
                pos: segment,
                seg_last: [u64::MAX; SEGMENTS],
                // Allocated at `restart`, once what it holds is in SQLite.
                allocated: len == capacity,
                next_lsn,
                sync,
                buf: Vec::with_capacity(64 << 10),
                count: 0,
                pass: 0,
            },
            found,
        ))
    }

    /// Writing starts over at the first segment. Only once SQLite holds every record the log
    /// held durably: a file of another size is zeroed and allocated anew here, not before.
    pub(super) fn restart(&mut self) -> Result<(), LogError> {
        if !self.allocated {
            let capacity = self.segment * SEGMENTS as u64;
            let io = |source| LogError::Io {
                path: self.path.clone(),
                source,
            };
            preallocate(&mut self.file, capacity).map_err(io)?;
            if let Some(dir) = self.path.parent() {
                File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
            }
            self.allocated = true;
        }
        self.seg = 0;
        self.pos = 0;
        self.seg_last = [0; SEGMENTS];
        self.pass = new_pass(self.pass);
        Ok(())
    }

    /// Moves writing to the next segment if SQLite holds all its records durably (`durable`
    /// is the last number it does); false if not yet.
    pub(super) fn next_segment(&mut self, durable: u64) -> bool {
        let next = (self.seg + 1) % SEGMENTS;
        if self.seg_last[next] > durable {
            return false;
        }
        self.seg = next;
        self.pos = 0;
        self.seg_last[next] = 0;
        self.pass = new_pass(self.pass);
        true
    }

    /// Whether writing will soon need the next segment and SQLite does not yet hold all of
    /// its records durably (`durable`): time to ask SQLite for a synced commit.
    pub(super) fn next_segment_pending(&self, durable: u64) -> bool {
        self.pos >= self.segment / 2 && self.seg_last[(self.seg + 1) % SEGMENTS] > durable
    }

    /// Another handle on the file, sharing its lock: whoever holds it keeps another gateway
    /// (or a journal reopened in this process) from opening the log until it is dropped.
    pub(super) fn lock_holder(&self) -> Result<File, LogError> {
        self.file.try_clone().map_err(|source| LogError::Io {
            path: self.path.clone(),
            source,
        })
    }

    /// Number of the last record written (0 before the first).
    pub(super) fn last_lsn(&self) -> u64 {
        self.next_lsn - 1
    }

    /// Records in the batch being built.
    pub(super) fn batch_count(&self) -> u32 {
        self.count
    }

    /// Adds a telegram to the batch; returns its number.
    pub(super) fn push_telegram(
        &mut self,
        ts_ms: u64,
        row: &TelegramRow,
        opens: Option<&TxRecord>,
    ) -> u64 {
        self.push(|out| {
            out.push(1);
            put_u64(out, ts_ms);
            put_telegram(out, row);
            match opens {
                Some(tx) => {
                    out.push(1);
                    put_tx(out, tx);
                }
                None => out.push(0),
            }
        })
    }

    /// Adds a transaction state to the batch; returns its number.
    pub(super) fn push_tx(&mut self, tx: &TxRecord) -> u64 {
        self.push(|out| {
            out.push(2);
            put_tx(out, tx);
        })
    }

    fn push(&mut self, encode: impl FnOnce(&mut Vec<u8>)) -> u64 {
        if self.buf.is_empty() {
            self.buf.resize(HEADER, 0);
        }
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        encode(&mut self.buf);
        let len = (self.buf.len() - at - 4) as u32;
        self.buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
        self.count += 1;
        self.next_lsn + u64::from(self.count) - 1
    }

    /// Forgets the batch being built (it is journaled another way); its numbers are not used.
    pub(super) fn discard(&mut self) {
        self.buf.clear();
        self.count = 0;
    }

    /// Whether the batch being built fits in what is left of the current segment.
    pub(super) fn fits(&self) -> bool {
        self.pos + padded(self.buf.len()) <= self.segment
    }

    /// Writes the batch at the current position and syncs it (`journal_sync = "full"`): once
    /// this returns `Ok`, its records survive a crash and a power loss. The batch must
    /// [`fit`](CommitLog::fits). On an error the batch is discarded, but its numbers count as
    /// used ([`CommitLog::last_lsn`] is its last).
    pub(super) fn write(&mut self) -> Result<(), LogError> {
        if self.count == 0 {
            return Ok(());
        }
        let len = (self.buf.len() - HEADER) as u32;
        let mut header = [0u8; HEADER];
        header[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        header[4..6].copy_from_slice(&VERSION.to_le_bytes());
        header[8..12].copy_from_slice(&len.to_le_bytes());
        header[12..20].copy_from_slice(&self.next_lsn.to_le_bytes());
        header[20..24].copy_from_slice(&self.count.to_le_bytes());
        header[28..32].copy_from_slice(&self.pass.to_le_bytes());
        let crc = checksum(&header, &self.buf[HEADER..]);
        header[24..28].copy_from_slice(&crc.to_le_bytes());
        self.buf[..HEADER].copy_from_slice(&header);
        // Whole pages: the rest of the last page is zeroed, never left with an older lap's
        // bytes that could read as this batch's continuation.
        self.buf.resize(padded(self.buf.len()) as usize, 0);
        let at = self.seg as u64 * self.segment + self.pos;
        let result = self.file.write_all_at(&self.buf, at).and_then(|()| {
            if self.sync == JournalSync::Full {
                self.file.sync_data()
            } else {
                Ok(())
            }
        });
        let written = self.buf.len() as u64;
        let count = self.count;
        self.discard();
        // Used even when the write failed: its bytes may reach the disk all the same.
        self.next_lsn += u64::from(count);
        result.map_err(|source| LogError::Io {
            path: self.path.clone(),
            source,
        })?;
        self.pos += written;
        self.seg_last[self.seg] = self.next_lsn - 1;
        Ok(())
    }
}

/// How many records the log at `path` holds beyond `applied` (what the database has), read
/// without writing or locking: what a running gateway has not yet handed to SQLite, or what a
/// stopped one will read back at its next start. 0 when there is no log. The file's contents
/// are counted as [`records_in`] counts them.
pub fn records_after(path: &Path, applied: u64) -> Result<u64, LogError> {
    let all = match std::fs::read(path) {
        Ok(all) => all,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(source) => {
            return Err(LogError::Io {
                path: path.to_owned(),
                source,
            })
        }
    };
    count_records(&all, applied, path)
}

/// How many records the log image `bytes` (a whole log file's contents, of any length) holds
/// beyond `applied`, read exactly as a gateway reads its log back at start: 4 equal segments
/// of a quarter of `bytes` each, rounded down to whole 4 KiB pages (an image under 16 KiB
/// holds none), each followed from its start. Errors are those
/// of [`records_after`], naming the file `<bytes>`: missing records, a record that cannot be
/// read, a whole batch numbered past what the database can hold, or one found twice.
///
/// Any bytes at all are an answer or an error, never a panic (the `journal_log` fuzz target).
pub fn records_in(bytes: &[u8], applied: u64) -> Result<u64, LogError> {
    count_records(bytes, applied, Path::new(BYTES_PATH))
}

/// [`records_in`], with `path` named in errors.
fn count_records(all: &[u8], applied: u64, path: &Path) -> Result<u64, LogError> {
    let segment = all.len() / SEGMENTS / PAGE as usize * PAGE as usize;
    Ok(read_segments(all, segment, applied, path, None)?.len() as u64)
}

/// Takes the file's exclusive lock (held until the log is dropped): two gateways writing one
/// log would destroy it. A journal being closed in this process (its threads finishing) gets a
/// few seconds to let go.
fn lock(file: &File) -> io::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "in use by another gateway (its lock is held)",
                ))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
    }
}

/// `len` rounded up to whole pages.
fn padded(len: usize) -> u64 {
    (len as u64).div_ceil(PAGE) * PAGE
}

/// Fills the file with `capacity` bytes of zeros and syncs it: the blocks are allocated and
/// written now, not on the request path.
fn preallocate(file: &mut File, capacity: u64) -> io::Result<()> {
    file.set_len(0)?;
    let zeros = vec![0u8; 1 << 20];
    let mut at = 0;
    while at < capacity {
        let n = (capacity - at).min(zeros.len() as u64) as usize;
        // At offsets: the file's cursor is wherever reading it back left it.
        file.write_all_at(&zeros[..n], at)?;
        at += n as u64;
    }
    file.sync_all()
}

/// A pass other than `before`, from the OS's generator: one an attacker cannot know when the
/// telegrams of earlier passes were written. Should the generator ever fail, a pass merely
/// other than the last still ends the previous pass's chain.
fn new_pass(before: u32) -> u32 {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 4];
    let mut pass = match ring::rand::SystemRandom::new().fill(&mut bytes) {
        Ok(()) => u32::from_le_bytes(bytes),
        Err(_) => fastrand::u32(..),
    };
    while pass == before {
        pass = fastrand::u32(..);
    }
    pass
}

/// The batch's checksum: the header's first 24 bytes, its `pass` (version 2 on), the records.
fn checksum(header: &[u8; HEADER], records: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&header[..24]);
    if u16::from_le_bytes([header[4], header[5]]) != VERSION_WITHOUT_PASS {
        h.update(&header[28..32]);
    }
    h.update(records);
    h.finalize()
}

/// The records above `applied` in the segments of `all` (`segment` bytes each), in order;
/// an error if some between are missing, unless `missing` takes their ranges.
fn read_segments(
    all: &[u8],
    segment: usize,
    applied: u64,
    path: &Path,
    mut missing: Option<&mut Vec<Range<u64>>>,
) -> Result<Vec<(u64, Entry)>, LogError> {
    let mut found = Vec::new();
    if segment > 0 {
        for start in (0..SEGMENTS).map(|s| s * segment) {
            if let Some(bytes) = all.get(start..start + segment) {
                read_chain(bytes, applied, path, &mut found)?;
            }
        }
    }
    found.sort_by_key(|(lsn, _)| *lsn);
    // Every number found is above `applied` and below `LSN_LIMIT`: `last + 1` cannot overflow.
    let mut last = applied;
    for (lsn, _) in &found {
        if *lsn <= last {
            return Err(LogError::Record {
                path: path.to_owned(),
                lsn: *lsn,
                why: "it is in the log twice (the file is damaged)".to_owned(),
            });
        }
        if *lsn != last + 1 {
            match missing.as_deref_mut() {
                Some(missing) => missing.push(last + 1..*lsn),
                None => {
                    return Err(LogError::Gap {
                        path: path.to_owned(),
                        from: last + 1,
                        to: *lsn,
                    })
                }
            }
        }
        last = *lsn;
    }
    Ok(found)
}

/// Adds the records above `applied` of the chain of batches at the start of `seg`.
fn read_chain(
    seg: &[u8],
    applied: u64,
    path: &Path,
    found: &mut Vec<(u64, Entry)>,
) -> Result<(), LogError> {
    let mut pos = 0usize;
    let mut expected: Option<u64> = None;
    // The version and pass of the chain's first batch, which every later one must carry.
    let mut chain: Option<(u16, u32)> = None;
    while let Some(header) = seg.get(pos..pos + HEADER) {
        let word = |at: usize| {
            u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
        };
        let version = u16::from_le_bytes([header[4], header[5]]);
        let this = (version, word(28));
        if word(0) != MAGIC
            || !(version == VERSION || version == VERSION_WITHOUT_PASS)
            || chain.is_some_and(|c| c != this)
        {
            break;
        }
        let len = word(8) as usize;
        let first = u64::from_le_bytes(header[12..20].try_into().unwrap_or([0; 8]));
        let count = word(20);
        let Some(records) = seg.get(pos + HEADER..pos + HEADER + len) else {
            break;
        };
        let header: &[u8; HEADER] = header.try_into().unwrap_or(&[0; HEADER]);
        if checksum(header, records) != word(24) || expected.is_some_and(|e| e != first) {
            break;
        }
        let end = match first.checked_add(u64::from(count)) {
            Some(end) if end <= LSN_LIMIT => end,
            _ => {
                return Err(LogError::Record {
                    path: path.to_owned(),
                    lsn: first,
                    why: format!("its batch of {count} is numbered past {LSN_LIMIT}"),
                })
            }
        };
        let mut at = 0usize;
        for lsn in first..end {
            let bad = |why: &str| LogError::Record {
                path: path.to_owned(),
                lsn,
                why: why.to_owned(),
            };
            let n = records
                .get(at..at + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
                .ok_or_else(|| bad("past the end of its batch"))?;
            let payload = records
                .get(at + 4..at + 4 + n)
                .ok_or_else(|| bad("past the end of its batch"))?;
            if lsn > applied {
                found.push((lsn, decode(payload).map_err(|why| bad(&why))?));
            }
            at += 4 + n;
        }
        expected = Some(end);
        chain = Some(this);
        pos += padded(HEADER + len) as usize;
    }
    Ok(())
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u32(out, b.len() as u32);
    out.extend_from_slice(b);
}

/// `None` is a length of `u32::MAX`.
fn put_opt(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => put_bytes(out, s.as_bytes()),
        None => put_u32(out, u32::MAX),
    }
}

fn put_telegram(out: &mut Vec<u8>, row: &TelegramRow) {
    put_bytes(out, row.institution.as_bytes());
    put_bytes(out, row.direction.as_str().as_bytes());
    put_u32(out, row.day);
    put_u32(out, row.msg_no);
    put_opt(out, row.msg_type.as_ref().map(MsgKey::as_str));
    match row.tx_id {
        Some(id) => {
            out.push(1);
            put_u64(out, id);
        }
        None => out.push(0),
    }
    put_bytes(out, &row.raw);
}

fn put_tx(out: &mut Vec<u8>, tx: &TxRecord) {
    put_u64(out, tx.id);
    put_bytes(out, tx.institution.as_bytes());
    put_u32(out, tx.day);
    put_u32(out, tx.msg_no);
    put_bytes(out, tx.msg_type.as_str().as_bytes());
    put_bytes(out, tx.outcome.as_str().as_bytes());
    put_bytes(out, tx.detail.as_bytes());
    put_opt(out, tx.resolved.map(Resolution::as_str));
    put_u64(out, tx.updated_ms);
    put_opt(out, tx.client.as_ref().map(ClientId::as_str));
}

/// Reads a record's fields in order; every read is bounds-checked.
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.rest.len() < n {
            return Err(format!("{} bytes short", n - self.rest.len()));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().map_err(|_| "u64")?))
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    fn str(&mut self) -> Result<&'a str, String> {
        std::str::from_utf8(self.bytes()?).map_err(|e| e.to_string())
    }

    fn opt_str(&mut self) -> Result<Option<&'a str>, String> {
        let n = self.u32()?;
        if n == u32::MAX {
            return Ok(None);
        }
        let b = self.take(n as usize)?;
        std::str::from_utf8(b).map(Some).map_err(|e| e.to_string())
    }

    fn parse<T: std::str::FromStr>(&mut self) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        self.str()?.parse().map_err(|e: T::Err| e.to_string())
    }

    fn telegram(&mut self) -> Result<TelegramRow, String> {
        Ok(TelegramRow {
            institution: Arc::from(self.str()?),
            direction: self.parse::<TelegramDirection>()?,
            day: self.u32()?,
            msg_no: self.u32()?,
            msg_type: self.opt_str()?.map(key),
            tx_id: match self.u8()? {
                0 => None,
                _ => Some(self.u64()?),
            },
            raw: Bytes::copy_from_slice(self.bytes()?),
        })
    }

    fn tx(&mut self) -> Result<TxRecord, String> {
        Ok(TxRecord {
            id: self.u64()?,
            institution: self.str()?.to_owned(),
            day: self.u32()?,
            msg_no: self.u32()?,
            msg_type: key(self.str()?),
            outcome: self.parse::<TxState>()?,
            detail: self.str()?.to_owned(),
            resolved: self
                .opt_str()?
                .map(str::parse::<Resolution>)
                .transpose()
                .map_err(|e| e.to_string())?,
            updated_ms: self.u64()?,
            client: self.opt_str()?.map(ClientId::new),
        })
    }
}

/// A key as the engine made it, blank parts included (`2000/` when a telegram's second key
/// field is blank): written with `MsgKey::as_str`, read back part by part, never refused.
fn key(text: &str) -> MsgKey {
    MsgKey::from_parts(&text.split('/').collect::<Vec<_>>())
}

fn decode(payload: &[u8]) -> Result<Entry, String> {
    let mut f = Fields { rest: payload };
    let entry = match f.u8()? {
        1 => Entry::Telegram {
            ts_ms: f.u64()?,
            row: f.telegram()?,
            opens: match f.u8()? {
                0 => None,
                _ => Some(f.tx()?),
            },
        },
        2 => Entry::Tx(f.tx()?),
        kind => return Err(format!("unknown record kind {kind}")),
    };
    if !f.rest.is_empty() {
        return Err(format!("{} bytes left over", f.rest.len()));
    }
    Ok(entry)
}
