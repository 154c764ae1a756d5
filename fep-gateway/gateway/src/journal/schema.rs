//! The journal's schema as numbered migrations. `PRAGMA user_version` records the last one
//! applied; opening a journal applies the missing ones in one transaction, and refuses a
//! journal written by a newer gateway (its schema may mean something this code does not know).

use rusqlite::Connection;

/// One step of the schema. Applied once, in order; never edited after release (add a new
/// one instead), because journals in the field already ran it.
struct Migration {
    /// `user_version` once applied.
    version: u32,
    /// What it changes, for errors and logs.
    what: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        what: "tables and integer-keyed indexes",
        // `IF NOT EXISTS`: journals written before numbered migrations (user_version 0) already
        // have these tables and are adopted as they are.
        //
        // Indexes cost every insert on the request path, so only two: integer keys for looking
        // up a (day, 전문번호), and a partial index holding just the open transactions (in
        // flight or unknown), which stays a page or two and makes crash recovery a lookup
        // instead of a scan.
        sql: "CREATE TABLE IF NOT EXISTS seq_blocks (
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
              CREATE INDEX IF NOT EXISTS telegrams_day_no ON telegrams (day, msg_no);
              CREATE INDEX IF NOT EXISTS transactions_open ON transactions (institution)
                  WHERE resolved IS NULL AND outcome IN ('sent', 'unknown');
              CREATE TABLE IF NOT EXISTS notices (
                  id INTEGER PRIMARY KEY AUTOINCREMENT, institution TEXT NOT NULL,
                  day INTEGER NOT NULL, key TEXT NOT NULL, telegram BLOB NOT NULL,
                  received_ms INTEGER NOT NULL, delivered INTEGER NOT NULL DEFAULT 0,
                  UNIQUE (institution, day, key));",
    },
    Migration {
        version: 2,
        what: "drop the TEXT-keyed indexes of the first journals",
        // Only journals from before the integer keys have them (adopted at version 0 by
        // migration 1); every insert paid for them.
        sql: "DROP INDEX IF EXISTS transactions_key;
              DROP INDEX IF EXISTS telegrams_key;",
    },
    Migration {
        version: 3,
        what: "idempotency keys",
        // Additive. A key names the transaction it opened and the telegram it was opened
        // with (crate::idempotency); expired keys of an institution are deleted by age.
        sql: "CREATE TABLE IF NOT EXISTS idempotency_keys (
                  key TEXT PRIMARY KEY, institution TEXT NOT NULL, request BLOB NOT NULL,
                  tx_id INTEGER NOT NULL, created_ms INTEGER NOT NULL);
              CREATE INDEX IF NOT EXISTS idempotency_keys_age
                  ON idempotency_keys (institution, created_ms);",
    },
    Migration {
        version: 4,
        what: "notice delivery per consumer group (outbox)",
        // Delivery reads a group's undelivered notices of one institution in id order, from
        // its cursor on: `notices_undelivered` makes that a range of an index instead of a
        // scan of every institution's notices, and `COUNT` of the backlog a range count.
        //
        // A group's progress: every notice of the institution below `acked_below` is
        // acknowledged, plus those in `notice_acks` (acknowledged out of order, above it).
        //
        // Journals written before kept one flag, `delivered`, shared by the webhook and the
        // native subscribers: it becomes the starting point of both groups that read it, so
        // nothing delivered is sent again and nothing undelivered is skipped. The column is
        // no longer written.
        sql: "CREATE INDEX IF NOT EXISTS notices_undelivered ON notices (institution, id);
              CREATE TABLE notice_groups (
                  grp TEXT NOT NULL, institution TEXT NOT NULL,
                  acked_below INTEGER NOT NULL, seen_ms INTEGER NOT NULL,
                  PRIMARY KEY (grp, institution)) WITHOUT ROWID;
              CREATE TABLE notice_acks (
                  grp TEXT NOT NULL, institution TEXT NOT NULL, notice_id INTEGER NOT NULL,
                  PRIMARY KEY (grp, institution, notice_id)) WITHOUT ROWID;
              INSERT INTO notice_groups (grp, institution, acked_below, seen_ms)
                  SELECT g.grp, n.institution,
                         COALESCE(MIN(CASE WHEN n.delivered = 0 THEN n.id END), MAX(n.id) + 1),
                         CAST(strftime('%s', 'now') AS INTEGER) * 1000
                  FROM notices n, (SELECT '$subscribers' AS grp UNION ALL SELECT '$webhook') g
                  GROUP BY g.grp, n.institution;
              INSERT INTO notice_acks (grp, institution, notice_id)
                  SELECT g.grp, g.institution, n.id
                  FROM notice_groups g JOIN notices n
                      ON n.institution = g.institution AND n.id > g.acked_below
                  WHERE n.delivered = 1;",
    },
    Migration {
        version: 5,
        what: "the client identity of each transaction",
        // Additive: who asked for the transaction (crate::auth::ClientId), NULL for rows
        // written before and for callers without an identity.
        sql: "ALTER TABLE transactions ADD COLUMN client TEXT;",
    },
    Migration {
        version: 6,
        what: "how far the database holds the journal log",
        // One row: the last record of the journal log (`journal_commit = "log"`) applied to
        // the tables, written in the same transaction as the records; a start replays the
        // log's records after it.
        sql: "CREATE TABLE log_applied (
                  id INTEGER PRIMARY KEY CHECK (id = 0), lsn INTEGER NOT NULL);
              INSERT INTO log_applied (id, lsn) VALUES (0, 0);",
    },
];

/// The schema version this code writes and reads.
pub const SCHEMA_VERSION: u32 = 6;

/// Why a journal's schema cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// Written by a newer gateway: refused rather than misread.
    #[error(
        "journal schema version {found} is newer than this gateway supports ({supported}): \
         run the gateway version that wrote it, or a newer one"
    )]
    TooNew {
        /// `user_version` of the file.
        found: u32,
        /// The newest this code knows.
        supported: u32,
    },
    /// A migration failed; nothing of it was applied.
    #[error("journal migration {version} ({what}) failed")]
    Migration {
        /// The migration's version.
        version: u32,
        /// What it changes.
        what: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The version could not be read or written.
    #[error("journal schema version")]
    Db(#[source] rusqlite::Error),
}

/// The file's schema version; an error if it is newer than this code.
pub fn check_version(conn: &Connection) -> Result<u32, SchemaError> {
    let found: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(SchemaError::Db)?;
    if found > SCHEMA_VERSION {
        return Err(SchemaError::TooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(found)
}

/// Brings the journal to [`SCHEMA_VERSION`]: the missing migrations and the new version in one
/// transaction, so a crash halfway leaves the journal as it was.
pub(super) fn migrate(conn: &mut Connection) -> Result<u32, SchemaError> {
    // IMMEDIATE: two gateways opening one file must not both migrate it.
    let txn = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(SchemaError::Db)?;
    let from = check_version(&txn)?;
    for m in MIGRATIONS.iter().filter(|m| m.version > from) {
        let failed = |source| SchemaError::Migration {
            version: m.version,
            what: m.what,
            source,
        };
        txn.execute_batch(m.sql).map_err(failed)?;
        // PRAGMA takes no parameters; the version is a constant of this file.
        txn.execute_batch(&format!("PRAGMA user_version = {}", m.version))
            .map_err(failed)?;
    }
    txn.commit().map_err(SchemaError::Db)?;
    if from < SCHEMA_VERSION {
        tracing::info!(from, to = SCHEMA_VERSION, "journal schema migrated");
    }
    Ok(from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migrations_are_numbered_in_order_up_to_the_schema_version() {
        let versions: Vec<u32> = MIGRATIONS.iter().map(|m| m.version).collect();
        let expected: Vec<u32> = (1..=SCHEMA_VERSION).collect();
        assert_eq!(versions, expected);
    }

    #[test]
    fn a_fresh_database_gets_every_migration_once() {
        let mut db = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut db).unwrap(), 0);
        assert_eq!(check_version(&db).unwrap(), SCHEMA_VERSION);
        // Again: nothing left to do.
        assert_eq!(migrate(&mut db).unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn a_failed_migration_leaves_the_version_unchanged() {
        let mut db = Connection::open_in_memory().unwrap();
        // A table named like an index migration 1 creates makes it fail.
        db.execute_batch("CREATE TABLE telegrams_day_no (x);")
            .unwrap();
        let err = migrate(&mut db).unwrap_err();
        assert!(
            matches!(err, SchemaError::Migration { version: 1, .. }),
            "{err:?}"
        );
        assert_eq!(check_version(&db).unwrap(), 0);
        let tables: i64 = db
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'transactions'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0, "rolled back");
    }
}
