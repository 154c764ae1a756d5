//! What the journal stores: transactions, telegrams and notices, as the engine and the
//! queries see them.

use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;

use crate::auth::ClientId;
use crate::domain::{MsgKey, MsgRef, Resolution, TelegramDirection, TxState};

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
    /// e.g. `2000/100`.
    pub msg_type: MsgKey,
    /// Its state.
    pub outcome: TxState,
    /// Response code or reason.
    pub detail: String,
    /// For unknowns: what the inquiry found, when it did.
    pub resolved: Option<Resolution>,
    /// Unix milliseconds of the last change.
    pub updated_ms: u64,
    /// Who asked for it (the client's name or certificate identity), when known. Recorded by
    /// [`Journal::set_client`](super::Journal::set_client); [`put_tx`](super::Journal::put_tx)
    /// leaves it as it is.
    pub client: Option<ClientId>,
}

impl TxRecord {
    /// Transaction `id`, sent as `at`, now in `state` (no detail, not resolved, changed now).
    pub fn new(id: u64, at: &MsgRef, institution: &str, state: TxState) -> TxRecord {
        TxRecord {
            id,
            institution: institution.to_owned(),
            day: at.day,
            msg_no: at.msg_no,
            msg_type: at.key.clone(),
            outcome: state,
            detail: String::new(),
            resolved: None,
            updated_ms: super::now_ms(),
            client: None,
        }
    }

    /// With a response code or reason.
    pub fn with_detail(self, detail: impl Into<String>) -> TxRecord {
        TxRecord {
            detail: detail.into(),
            ..self
        }
    }

    /// With what became of it (unknowns only).
    pub fn resolved_as(self, resolution: Resolution) -> TxRecord {
        TxRecord {
            resolved: Some(resolution),
            ..self
        }
    }

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
            client: row.get::<_, Option<String>>(9)?.map(|c| ClientId::new(&c)),
        })
    }
}

/// The columns [`TxRecord::from_row`] reads, in order.
pub(crate) const TX_COLUMNS: &str =
    "id, institution, day, msg_no, msg_type, outcome, detail, resolved, updated_ms, client";

/// [`TX_COLUMNS`] of a journal from before schema version 5 (no `client` column), for
/// read-only access that cannot migrate it.
pub(crate) const TX_COLUMNS_V4: &str =
    "id, institution, day, msg_no, msg_type, outcome, detail, resolved, updated_ms, NULL";

/// Unsettled transactions with the telegram each was sent as.
pub type Unsettled = Vec<(TxRecord, Bytes)>;

/// A recorded inbound notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeRecord {
    /// Journal id (used as the notice id towards subscribers).
    pub id: u64,
    /// True when the same notice (institution, day, type, 전문번호) was recorded before.
    pub duplicate: bool,
}

/// A recorded notice as a consumer group reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredNotice {
    /// Journal id: increasing in the order notices were recorded.
    pub id: u64,
    /// The raw telegram.
    pub telegram: Bytes,
    /// Unix milliseconds when it was recorded.
    pub received_ms: u64,
}

/// A batch of a group's undelivered notices, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoticeBatch {
    /// The notices, at most the limit asked for.
    pub notices: Vec<StoredNotice>,
    /// True when the batch is short: no notice after the last one was committed when it was
    /// read.
    pub exhausted: bool,
}

/// How far behind a consumer group is for one institution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupBacklog {
    /// The group's name.
    pub group: String,
    /// Institution name.
    pub institution: String,
    /// Notices recorded and not acknowledged by the group (counted up to a bound, see
    /// [`Journal::notice_backlogs`](super::Journal::notice_backlogs)).
    pub undelivered: u64,
    /// When the oldest of them was recorded (unix ms); `None` when there is none.
    pub oldest_ms: Option<u64>,
}

/// One telegram crossing the institution boundary, as journaled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelegramRow {
    /// Institution name.
    pub institution: Arc<str>,
    /// To or from the institution.
    pub direction: TelegramDirection,
    /// 전송일자 (YYYYMMDD).
    pub day: u32,
    /// 전문번호.
    pub msg_no: u32,
    /// Message key; `None` for a frame whose header cannot be read (stored as `""`).
    pub msg_type: Option<MsgKey>,
    /// The transaction it belongs to, when known.
    pub tx_id: Option<u64>,
    /// The raw telegram (shared with the sender, not copied).
    pub raw: Bytes,
}
