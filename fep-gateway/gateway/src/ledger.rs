//! Read-only queries over the journal database (`fep journal`), and the ledger check (every
//! transaction has exactly one terminal outcome).

use std::path::Path;

use rusqlite::{params_from_iter, Connection, OpenFlags};
use serde::Serialize;

use crate::domain::{TelegramDirection, TxState};
use crate::journal::{SchemaError, TxRecord, TX_COLUMNS, TX_COLUMNS_V4};

/// Filters of `fep journal`; all optional, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct JournalQuery {
    /// 전송일자 (YYYYMMDD).
    pub date: Option<u32>,
    /// Institution name.
    pub institution: Option<String>,
    /// 전문번호.
    pub msg_no: Option<u32>,
    /// Transaction state.
    pub outcome: Option<TxState>,
    /// Transaction id.
    pub tx: Option<u64>,
    /// Most rows returned.
    pub limit: u32,
}

/// A journaled telegram.
#[derive(Debug, Clone, Serialize)]
pub struct TelegramRecord {
    /// Unix milliseconds.
    pub ts_ms: u64,
    /// Institution.
    pub institution: String,
    /// To or from the institution.
    pub direction: TelegramDirection,
    /// 전문번호.
    pub msg_no: u32,
    /// Message type.
    pub msg_type: String,
    /// Raw bytes.
    #[serde(skip)]
    pub raw: Vec<u8>,
}

/// The result of the ledger check.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LedgerReport {
    /// Transactions in the journal (matching the filter).
    pub transactions: u64,
    /// With a final outcome (ok / declined / rejected, or unknown and resolved).
    pub settled: u64,
    /// Unknowns resolved by inquiry or late response.
    pub resolved_unknowns: u64,
    /// Unknowns whose inquiries are exhausted: need manual reconciliation.
    pub unresolved: u64,
    /// Sent, no outcome yet (in flight, or a crash the gateway has not restarted from).
    pub open: u64,
    /// 전문번호 used twice on one day by one institution (must be 0).
    pub reused_numbers: u64,
}

/// Why a journal cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// SQLite could not open it.
    #[error("{0}")]
    Db(#[from] rusqlite::Error),
    /// Written by a newer gateway.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// The journal log beside it cannot be read.
    #[error(transparent)]
    Log(#[from] crate::journal::LogError),
}

/// Read-only access to a journal file.
pub struct Ledger {
    conn: Connection,
    /// Records of the journal log (`journal.log` beside the file) the database does not hold
    /// yet: not in any query's answer until the gateway hands them on (or reads them back at
    /// its next start).
    log_backlog: u64,
    /// The transaction columns of this journal's schema (no `client` before version 5).
    columns: &'static str,
}

impl Ledger {
    /// Opens the journal read-only (safe while the gateway runs: WAL readers do not block it).
    /// Older schemas are read as they are (every version has these columns); a newer one is
    /// refused.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let version = crate::journal::check_version(&conn)?;
        let columns = if version >= 5 {
            TX_COLUMNS
        } else {
            TX_COLUMNS_V4
        };
        let log_backlog = if version >= 6 {
            let applied: i64 = conn.query_row("SELECT lsn FROM log_applied", [], |r| r.get(0))?;
            crate::journal::records_after(&path.with_extension("log"), applied.max(0) as u64)?
        } else {
            0
        };
        Ok(Ledger {
            conn,
            columns,
            log_backlog,
        })
    }

    /// Records in the journal log that the database did not hold when this ledger was
    /// opened (see `journal_commit = "log"`): 0 once a running gateway has caught up (within
    /// tens of milliseconds) or a stopped one has read them back at its start.
    pub fn log_backlog(&self) -> u64 {
        self.log_backlog
    }

    fn filter(q: &JournalQuery) -> (String, Vec<rusqlite::types::Value>) {
        use rusqlite::types::Value;
        let mut clauses = Vec::new();
        let mut args = Vec::new();
        if let Some(d) = q.date {
            clauses.push("day = ?");
            args.push(Value::Integer(i64::from(d)));
        }
        if let Some(i) = &q.institution {
            clauses.push("institution = ?");
            args.push(Value::Text(i.clone()));
        }
        if let Some(n) = q.msg_no {
            clauses.push("msg_no = ?");
            args.push(Value::Integer(i64::from(n)));
        }
        if let Some(o) = q.outcome {
            clauses.push("outcome = ?");
            args.push(Value::Text(o.as_str().to_owned()));
        }
        if let Some(t) = q.tx {
            clauses.push("id = ?");
            args.push(Value::Integer(t as i64));
        }
        let sql = if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        };
        (sql, args)
    }

    /// Transactions matching the query, newest first.
    pub fn transactions(&self, q: &JournalQuery) -> Result<Vec<TxRecord>, rusqlite::Error> {
        let (filter, mut args) = Self::filter(q);
        args.push(rusqlite::types::Value::Integer(i64::from(q.limit)));
        let sql = format!(
            "SELECT {} FROM transactions{filter} ORDER BY id DESC LIMIT ?",
            self.columns
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), TxRecord::from_row)?;
        rows.collect()
    }

    /// How many transactions match the query, whatever its limit.
    pub fn count(&self, q: &JournalQuery) -> Result<u64, rusqlite::Error> {
        let (filter, args) = Self::filter(q);
        let sql = format!("SELECT COUNT(*) FROM transactions{filter}");
        self.conn
            .query_row(&sql, params_from_iter(args), |r| r.get::<_, i64>(0))
            .map(|n| n.max(0) as u64)
    }

    /// The telegrams of one institution's (day, 전문번호), in order.
    pub fn telegrams(
        &self,
        institution: &str,
        day: u32,
        msg_no: u32,
    ) -> Result<Vec<TelegramRecord>, rusqlite::Error> {
        let mut stmt = self.conn.prepare(
            "SELECT ts_ms, institution, direction, msg_no, msg_type, raw FROM telegrams
             WHERE institution = ?1 AND day = ?2 AND msg_no = ?3 ORDER BY id",
        )?;
        let rows = stmt.query_map(rusqlite::params![institution, day, msg_no], |row| {
            Ok(TelegramRecord {
                ts_ms: row.get::<_, i64>(0)? as u64,
                institution: row.get(1)?,
                direction: row.get(2)?,
                msg_no: row.get(3)?,
                msg_type: row.get(4)?,
                raw: row.get(5)?,
            })
        })?;
        rows.collect()
    }

    /// Every transaction (matching the filter) classified; reused numbers counted.
    pub fn check(&self, q: &JournalQuery) -> Result<LedgerReport, rusqlite::Error> {
        let (filter, args) = Self::filter(q);
        let sql = format!(
            "SELECT
               COUNT(*),
               COALESCE(SUM(outcome IN ('ok','declined','rejected') OR (outcome = 'unknown' AND resolved IS NOT NULL AND resolved != 'unresolved')), 0),
               COALESCE(SUM(outcome = 'unknown' AND resolved IN ('ok','declined')), 0),
               COALESCE(SUM(resolved = 'unresolved'), 0),
               COALESCE(SUM(outcome IN ('sent','unknown') AND resolved IS NULL), 0)
             FROM transactions{filter}"
        );
        let mut report = self.conn.query_row(&sql, params_from_iter(args), |r| {
            Ok(LedgerReport {
                transactions: r.get::<_, i64>(0)? as u64,
                settled: r.get::<_, i64>(1)? as u64,
                resolved_unknowns: r.get::<_, i64>(2)? as u64,
                unresolved: r.get::<_, i64>(3)? as u64,
                open: r.get::<_, i64>(4)? as u64,
                reused_numbers: 0,
            })
        })?;
        report.reused_numbers = self.conn.query_row(
            "SELECT COUNT(*) FROM (SELECT institution, day, msg_no FROM telegrams WHERE direction = 'out'
             GROUP BY institution, day, msg_no HAVING COUNT(*) > 1)",
            [],
            |r| r.get::<_, i64>(0),
        )? as u64;
        Ok(report)
    }
}
