//! The journal's reader: a second SQLite connection on its own thread for the reads of
//! notice delivery, so they never queue behind (or hold up) the writer's group commits that
//! every institution's requests wait on. WAL lets it read the last committed state while the
//! writer writes.

use std::sync::Arc;

use bytes::Bytes;
use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::{mpsc, oneshot};

use super::{GroupBacklog, JournalError, NoticeBatch, StoredNotice};

/// A backlog is counted up to this many notices: the count is a range scan of the index, and
/// past a million the exact number no longer changes what an operator does.
pub const BACKLOG_COUNT_LIMIT: u64 = 1_000_000;

/// What the reader thread is asked to do.
pub(super) enum Read {
    Notices {
        group: Arc<str>,
        institution: Arc<str>,
        after: u64,
        limit: usize,
        reply: oneshot::Sender<Result<NoticeBatch, JournalError>>,
    },
    Backlogs {
        reply: oneshot::Sender<Result<Vec<GroupBacklog>, JournalError>>,
    },
}

/// Serves reads until every sender is gone.
pub(super) fn reader(conn: Connection, mut rx: mpsc::Receiver<Read>) {
    while let Some(read) = rx.blocking_recv() {
        match read {
            Read::Notices {
                group,
                institution,
                after,
                limit,
                reply,
            } => {
                let result = undelivered(&conn, &group, &institution, after, limit);
                let _ = reply.send(result.map_err(JournalError::from));
            }
            Read::Backlogs { reply } => {
                let _ = reply.send(backlogs(&conn).map_err(JournalError::from));
            }
        }
    }
}

/// The group's notices of `institution` after id `after` (and from its cursor on) that it has
/// not acknowledged.
fn undelivered(
    conn: &Connection,
    group: &str,
    institution: &str,
    after: u64,
    limit: usize,
) -> Result<NoticeBatch, rusqlite::Error> {
    // Below the group's cursor everything is acknowledged (those acknowledgements are gone).
    let cursor: Option<i64> = conn
        .prepare_cached(
            "SELECT acked_below FROM notice_groups WHERE grp = ?1 AND institution = ?2",
        )?
        .query_row(params![group, institution], |r| r.get(0))
        .optional()?;
    let after = (after as i64).max(cursor.unwrap_or(0) - 1);
    let mut stmt = conn.prepare_cached(
        "SELECT n.id, n.telegram, n.received_ms FROM notices n INDEXED BY notices_undelivered
         WHERE n.institution = ?1 AND n.id > ?2
         AND NOT EXISTS (SELECT 1 FROM notice_acks a
             WHERE a.grp = ?3 AND a.institution = ?1 AND a.notice_id = n.id)
         ORDER BY n.id LIMIT ?4",
    )?;
    let rows = stmt.query_map(params![institution, after, group, limit as i64], |row| {
        Ok(StoredNotice {
            id: row.get::<_, i64>(0)? as u64,
            telegram: Bytes::from(row.get::<_, Vec<u8>>(1)?),
            received_ms: row.get::<_, i64>(2)?.max(0) as u64,
        })
    })?;
    let notices = rows.collect::<Result<Vec<_>, _>>()?;
    Ok(NoticeBatch {
        exhausted: notices.len() < limit,
        notices,
    })
}

/// Every group's backlog: undelivered count and the age of the oldest undelivered notice.
fn backlogs(conn: &Connection) -> Result<Vec<GroupBacklog>, rusqlite::Error> {
    let groups: Vec<(String, String, i64)> = conn
        .prepare_cached("SELECT grp, institution, acked_below FROM notice_groups")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(groups.len());
    for (group, institution, cursor) in groups {
        let above: i64 = conn
            .prepare_cached(
                "SELECT COUNT(*) FROM (SELECT 1 FROM notices INDEXED BY notices_undelivered
                 WHERE institution = ?1 AND id >= ?2 LIMIT ?3)",
            )?
            .query_row(
                params![institution, cursor, BACKLOG_COUNT_LIMIT as i64],
                |r| r.get(0),
            )?;
        let acked: i64 = conn
            .prepare_cached(
                "SELECT COUNT(*) FROM notice_acks
                 WHERE grp = ?1 AND institution = ?2 AND notice_id >= ?3",
            )?
            .query_row(params![group, institution, cursor], |r| r.get(0))?;
        let oldest: Option<i64> = conn
            .prepare_cached(
                "SELECT n.received_ms FROM notices n INDEXED BY notices_undelivered
                 WHERE n.institution = ?1 AND n.id >= ?2
                 AND NOT EXISTS (SELECT 1 FROM notice_acks a
                     WHERE a.grp = ?3 AND a.institution = ?1 AND a.notice_id = n.id)
                 ORDER BY n.id LIMIT 1",
            )?
            .query_row(params![institution, cursor, group], |r| r.get(0))
            .optional()?;
        out.push(GroupBacklog {
            undelivered: above.saturating_sub(acked).max(0) as u64,
            oldest_ms: oldest.map(|ms| ms.max(0) as u64),
            group,
            institution,
        });
    }
    Ok(out)
}
