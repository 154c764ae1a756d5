//! The gateway's vocabulary, shared by the engine, the journal and the API: transaction
//! states and resolutions (stored in SQLite and shown in JSON as the same lowercase words),
//! why a request was rejected, and the message key (`2000/100`).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::protocol::Outcome;

/// A word that names no value of a text enum (`fep journal --outcome oops`, a corrupt row).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a {what}: expected one of {expected}")]
pub struct ParseError {
    /// What was being parsed, e.g. "transaction state".
    pub what: &'static str,
    /// The text found.
    pub value: String,
    /// The accepted words, comma-separated.
    pub expected: String,
}

/// An enum stored and shown as one lowercase word: `as_str`, `Display` (padding honoured),
/// `FromStr`, serde and SQLite text, all from one table so they cannot disagree.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal, { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and displayed word.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ParseError;

            fn from_str(s: &str) -> Result<Self, ParseError> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(ParseError {
                        what: $what,
                        value: other.to_owned(),
                        expected: [$($text),+].join(", "),
                    }),
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                value
                    .as_str()?
                    .parse()
                    .map_err(|e: ParseError| FromSqlError::Other(Box::new(e)))
            }
        }
    };
}

text_enum!(
    /// A transaction's state in the journal (`transactions.outcome`).
    TxState, "transaction state", {
        /// Journaled and about to be (or being) written to a link; no answer yet.
        Sent = "sent",
        /// The institution executed it.
        Ok = "ok",
        /// The institution refused it.
        Declined = "declined",
        /// It may have been executed: being resolved by inquiry.
        Unknown = "unknown",
        /// Never reached the institution.
        Rejected = "rejected",
    }
);

impl From<Outcome> for TxState {
    fn from(o: Outcome) -> TxState {
        match o {
            Outcome::Ok => TxState::Ok,
            Outcome::Declined => TxState::Declined,
            Outcome::Unknown => TxState::Unknown,
            Outcome::Rejected => TxState::Rejected,
        }
    }
}

text_enum!(
    /// What became of an unknown transaction (`transactions.resolved`).
    Resolution, "resolution", {
        /// The institution had executed it.
        Ok = "ok",
        /// The institution had not executed it.
        Declined = "declined",
        /// Inquiries exhausted without an answer: needs manual reconciliation.
        Unresolved = "unresolved",
    }
);

text_enum!(
    /// Which way a journaled telegram crossed the institution boundary (`telegrams.direction`).
    TelegramDirection, "telegram direction", {
        /// From the institution.
        In = "in",
        /// To the institution.
        Out = "out",
        /// The decrypted view of a telegram received encrypted (`journal_plaintext`).
        InPlain = "in_plain",
        /// The clear form of a telegram sent encrypted (`journal_plaintext`).
        OutPlain = "out_plain",
    }
);

/// A message key: 전문구분코드 and 업무구분코드, shown and stored as `2000/100`.
///
/// One shared allocation, so that the in-flight entry, the journal rows and the metrics of a
/// request can all hold it without copying.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MsgKey {
    /// `type/biz`.
    text: Arc<str>,
    /// Byte index of the `/`.
    split: usize,
}

impl MsgKey {
    /// 전문구분코드, e.g. `2000`.
    pub fn msg_type(&self) -> &str {
        &self.text[..self.split]
    }

    /// The values after the first, e.g. `100` (empty in families keyed by one field).
    pub fn biz_type(&self) -> &str {
        self.text.get(self.split + 1..).unwrap_or("")
    }

    /// `2000/100`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The key's values in dispatch order (one per key field; a family may have any number).
    pub fn parts(&self) -> std::str::Split<'_, char> {
        self.text.split('/')
    }

    /// The key of these values, in dispatch order.
    pub fn from_parts<S: AsRef<str>>(parts: &[S]) -> MsgKey {
        let text: Vec<&str> = parts.iter().map(AsRef::as_ref).collect();
        let split = text.first().map_or(0, |t| t.len());
        MsgKey {
            text: Arc::from(text.join("/")),
            split,
        }
    }
}

/// From (전문구분코드, 업무구분코드), the order `Profile::msg_key` returns them in.
impl From<(&str, &str)> for MsgKey {
    fn from((msg_type, biz_type): (&str, &str)) -> MsgKey {
        MsgKey {
            text: Arc::from(format!("{msg_type}/{biz_type}")),
            split: msg_type.len(),
        }
    }
}

impl PartialEq<(&str, &str)> for MsgKey {
    fn eq(&self, (msg_type, biz_type): &(&str, &str)) -> bool {
        self.msg_type() == *msg_type && self.biz_type() == *biz_type
    }
}

impl FromStr for MsgKey {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<MsgKey, ParseError> {
        let parts: Vec<&str> = s.split('/').collect();
        if s.is_empty() || parts.iter().any(|p| p.trim().is_empty() || p.trim() != *p) {
            return Err(ParseError {
                what: "message key",
                value: s.to_owned(),
                expected: "the key's values joined by '/', e.g. 2000/100".into(),
            });
        }
        Ok(MsgKey::from_parts(&parts))
    }
}

impl fmt::Display for MsgKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.text)
    }
}

impl fmt::Debug for MsgKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.text, f)
    }
}

impl Serialize for MsgKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for MsgKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl ToSql for MsgKey {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for MsgKey {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value
            .as_str()?
            .parse()
            .map_err(|e: ParseError| FromSqlError::Other(Box::new(e)))
    }
}

/// Which telegram: business day, 전문번호 and message key — what joins a transaction to its
/// telegrams in the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsgRef {
    /// 전송일자 (YYYYMMDD).
    pub day: u32,
    /// 전문번호.
    pub msg_no: u32,
    /// Message key.
    pub key: MsgKey,
}

/// Why a request was not sent. `label()` is the `reason` label of `fep_rejected_total`; the
/// `Display` text is the detail the caller gets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    /// The institution's queue is full.
    #[error("overload: queue full")]
    QueueFull,
    /// The request waited in the queue past its own deadline.
    #[error("overload: waited in the queue past its deadline")]
    QueueDeadline,
    /// Over the contracted TPS.
    #[error("rate limit: over the institution's contracted TPS")]
    RateLimit,
    /// The circuit breaker refuses calls.
    #[error("circuit open ({state}){}", retry_in(.retry_after))]
    CircuitOpen {
        /// Breaker state (`open`, or `half_open` with its trial calls taken).
        state: &'static str,
        /// When a call may be permitted again, if known.
        retry_after: Option<Duration>,
    },
    /// Not a telegram of this institution.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The gateway-owned header fields cannot be written or read back.
    #[error("{0}")]
    Malformed(&'static str),
    /// Links are up, the sign-on is not answered yet.
    #[error("institution not ready: signing on")]
    NotReady,
    /// The institution opens the business day itself and has not (or has closed it).
    #[error("institution not ready: waiting for the institution to open the business day")]
    NotOpened,
    /// The institution announced the end of the day (종료예고): no new money-moving requests.
    #[error("institution closing the business day: no new money-moving requests")]
    DayClosing,
    /// A send link is up but none that carries the institution's answers (split lines: the
    /// recv line is down), so nothing is sent.
    #[error(
        "institution not ready: waiting for the recv line (no link the answer could come back on)"
    )]
    NoRecvLink,
    /// The request waited for the new business date's sign-on until its deadline.
    #[error("institution not ready: signing on for the new business date")]
    DateChange,
    /// No link can send.
    #[error("institution down: no send link")]
    Down,
    /// Every send link's queue is full.
    #[error("overload: send links full")]
    SendLinksFull,
    /// The institution is stopping.
    #[error("institution shutting down")]
    ShuttingDown,
    /// The institution's task is gone.
    #[error("institution stopped")]
    Stopped,
    /// The institution's task panicked before the telegram was written.
    #[error("institution task restarted before sending")]
    TaskRestarted,
    /// No 전문번호 could be had (the journal could not reserve any).
    #[error("no sequence number{}", cause_suffix(.0))]
    NoSequenceNumber(Option<String>),
    /// The day's 전문번호 range is used up: for callers' requests (the numbers kept for result
    /// inquiries and session telegrams remain), or entirely (`reserve_too`).
    #[error("sequence numbers exhausted for {day}: {}", exhausted_detail(*.max, *.reserve, *.reserve_too))]
    SequenceExhausted {
        /// Business date (YYYYMMDD).
        day: u32,
        /// Last number of the day's range (it starts at 1).
        max: u32,
        /// Numbers at the end of the range kept for the gateway's own telegrams.
        reserve: u32,
        /// Those are used up too.
        reserve_too: bool,
    },
    /// Links are up but the sign-on could not be sent, for the reason given.
    #[error("institution not ready: sign-on failed: {0}")]
    SignOnFailed(Box<RejectReason>),
    /// The journal refused the telegram at once (saturated).
    #[error("overload: {0}")]
    JournalBusy(String),
    /// The journal could not record the telegram, so it was not sent.
    #[error("journal unavailable: {0}")]
    JournalUnavailable(String),
    /// The journal did not commit the telegram before the request's deadline.
    #[error("journal too slow: not sent before the deadline")]
    JournalTooSlow,
    /// A per-telegram link could not open the telegram's connection, so nothing was sent.
    #[error("institution unreachable: {0}")]
    ConnectFailed(String),
}

fn retry_in(after: &Option<Duration>) -> String {
    after
        .map(|d| format!("; retry in {} ms", d.as_millis()))
        .unwrap_or_default()
}

fn exhausted_detail(max: u32, reserve: u32, reserve_too: bool) -> String {
    if reserve_too || reserve == 0 {
        return format!(
            "all of 전문번호 1..={max} are used, the {reserve} kept for result inquiries and \
             session telegrams included"
        );
    }
    format!(
        "requests may use 전문번호 1..={} and all are used; the last {reserve} of 1..={max} are \
         kept for result inquiries and session telegrams",
        max - reserve
    )
}

fn cause_suffix(cause: &Option<String>) -> String {
    match cause {
        Some(c) => format!(": {c}"),
        None => " available".into(),
    }
}

impl RejectReason {
    /// The `reason` label of `fep_rejected_total`: one per variant, stable for dashboards.
    pub fn label(&self) -> &'static str {
        match self {
            RejectReason::QueueFull => "queue_full",
            RejectReason::QueueDeadline => "queue_deadline",
            RejectReason::RateLimit => "rate_limit",
            RejectReason::CircuitOpen { .. } => "circuit_open",
            RejectReason::BadRequest(_) | RejectReason::Malformed(_) => "bad_request",
            RejectReason::NotReady | RejectReason::DateChange => "not_ready",
            RejectReason::NotOpened => "not_opened",
            RejectReason::DayClosing => "day_closing",
            RejectReason::NoRecvLink => "no_recv_link",
            RejectReason::Down => "down",
            RejectReason::SendLinksFull => "send_links_full",
            RejectReason::ShuttingDown => "shutting_down",
            RejectReason::Stopped => "stopped",
            RejectReason::TaskRestarted => "task_restarted",
            RejectReason::NoSequenceNumber(_) => "no_sequence_number",
            RejectReason::SequenceExhausted { .. } => "sequence_exhausted",
            RejectReason::SignOnFailed(_) => "sign_on_failed",
            RejectReason::JournalBusy(_) => "journal_busy",
            RejectReason::JournalUnavailable(_) => "journal_unavailable",
            RejectReason::JournalTooSlow => "journal_too_slow",
            RejectReason::ConnectFailed(_) => "connect_failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_keep_their_stored_words() {
        let words: Vec<&str> = TxState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(words, ["sent", "ok", "declined", "unknown", "rejected"]);
        let words: Vec<&str> = Resolution::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(words, ["ok", "declined", "unresolved"]);
        for s in TxState::ALL {
            assert_eq!(s.as_str().parse::<TxState>(), Ok(*s));
            assert_eq!(
                serde_json::to_string(s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert_eq!(format!("[{:<9}]", TxState::Ok), "[ok       ]");
    }

    #[test]
    fn a_bad_word_names_the_accepted_ones() {
        let e = "okay".parse::<TxState>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"okay\" is not a transaction state: expected one of sent, ok, declined, unknown, rejected"
        );
    }

    #[test]
    fn states_round_trip_through_sqlite_as_text() {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        db.execute_batch("CREATE TABLE t (s TEXT, r TEXT, k TEXT)")
            .unwrap();
        let key = MsgKey::from(("2000", "100"));
        db.execute(
            "INSERT INTO t VALUES (?1, ?2, ?3)",
            rusqlite::params![TxState::Declined, Resolution::Unresolved, key],
        )
        .unwrap();
        let raw: (String, String, String) = db
            .query_row("SELECT s, r, k FROM t", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!(
            raw,
            ("declined".into(), "unresolved".into(), "2000/100".into())
        );
        let typed: (TxState, Resolution, MsgKey) = db
            .query_row("SELECT s, r, k FROM t", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!(typed, (TxState::Declined, Resolution::Unresolved, key));
        db.execute("UPDATE t SET s = 'lost'", []).unwrap();
        assert!(db
            .query_row("SELECT s FROM t", [], |r| r.get::<_, TxState>(0))
            .is_err());
    }

    #[test]
    fn message_keys_split_and_join() {
        let k: MsgKey = "2000/100".parse().unwrap();
        assert_eq!((k.msg_type(), k.biz_type()), ("2000", "100"));
        assert_eq!(k.to_string(), "2000/100");
        assert_eq!(k, ("2000", "100"));
        assert_ne!(k, ("2000", "200"));
        let one_field: MsgKey = "0800".parse().unwrap();
        assert_eq!(
            (one_field.to_string(), one_field.biz_type()),
            ("0800".into(), "")
        );
        let three: MsgKey = "0200/1100/5".parse().unwrap();
        assert_eq!(three.parts().collect::<Vec<_>>(), ["0200", "1100", "5"]);
        assert_eq!(three, MsgKey::from_parts(&["0200", "1100", "5"]));
        assert!("".parse::<MsgKey>().is_err());
        assert!("2000//100".parse::<MsgKey>().is_err());
    }

    #[test]
    fn reject_details_and_labels() {
        let open = RejectReason::CircuitOpen {
            state: "open",
            retry_after: Some(Duration::from_millis(1500)),
        };
        assert_eq!(open.to_string(), "circuit open (open); retry in 1500 ms");
        assert_eq!(open.label(), "circuit_open");
        assert_eq!(
            RejectReason::NoSequenceNumber(None).to_string(),
            "no sequence number available"
        );
        assert_eq!(
            RejectReason::NoSequenceNumber(Some("exhausted".into())).to_string(),
            "no sequence number: exhausted"
        );
        assert_eq!(
            RejectReason::BadRequest("x".into()).to_string(),
            "bad request: x"
        );
        let requests = RejectReason::SequenceExhausted {
            day: 20261201,
            max: 30,
            reserve: 5,
            reserve_too: false,
        };
        assert_eq!(
            requests.to_string(),
            "sequence numbers exhausted for 20261201: requests may use 전문번호 1..=25 and all \
             are used; the last 5 of 1..=30 are kept for result inquiries and session telegrams"
        );
        let all = RejectReason::SignOnFailed(Box::new(RejectReason::SequenceExhausted {
            day: 20261201,
            max: 30,
            reserve: 5,
            reserve_too: true,
        }));
        assert_eq!(
            all.to_string(),
            "institution not ready: sign-on failed: sequence numbers exhausted for 20261201: all \
             of 전문번호 1..=30 are used, the 5 kept for result inquiries and session telegrams \
             included"
        );
        assert_eq!(
            (requests.label(), all.label()),
            ("sequence_exhausted", "sign_on_failed")
        );
        assert!(
            !all.to_string().contains("signing on"),
            "not the words of a sign-on still on its way"
        );
        // The black-box tests and clients look for these words.
        assert!(RejectReason::NotReady.to_string().contains("signing on"));
        assert!(RejectReason::Down.to_string().contains("no send link"));
        assert!(RejectReason::RateLimit.to_string().contains("rate limit"));
    }
}
