//! The bank's books: what it received (for `SB09` and result inquiries), the company's
//! balance, the notices it owes, and — when recording — every frame the tests may ask about.

use std::collections::{BTreeMap, HashMap, VecDeque};

use bytes::Bytes;
use fep_specs::hecto::HectoHeader;
use serde::Serialize;
use tokio::time::Instant;

/// Business days of records kept: enough for inquiries across midnight.
const DAYS_KEPT: usize = 3;
/// Executed transfers remembered as candidates for a later 불능통지.
const MAX_FAIL_CANDIDATES: usize = 256;

/// A 4-character ASCII response or result code, stored without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Code([u8; 4]);

impl Code {
    /// `0000`.
    pub const OK: Code = Code(*b"0000");
    /// `0001` ([`fep_specs::hecto::RESP_FORMAT_MISMATCH`]): a request the bank cannot read or serve.
    pub const FORMAT_MISMATCH: Code = Code(*b"0001");
    /// `U726`, a bank's 처리중 result when no in-progress code is configured.
    pub const IN_PROGRESS: Code = Code(*b"U726");
    /// `SB02` ([`fep_specs::hecto::RESP_LIMIT_PER_TX`]), the decline when none is configured.
    pub const LIMIT_PER_TX: Code = Code(*b"SB02");
    /// `VTIM` ([`fep_specs::hecto::RESP_SESSION_TIMEOUT`]), the unknown answer when none is configured.
    pub const SESSION_TIMEOUT: Code = Code(*b"VTIM");

    /// The code, if `s` is exactly 4 ASCII characters.
    pub fn new(s: &str) -> Option<Code> {
        let b: [u8; 4] = s.as_bytes().try_into().ok()?;
        b.is_ascii().then_some(Code(b))
    }

    pub fn as_str(&self) -> &str {
        // Built from ASCII only (see `new`), so this never falls back.
        std::str::from_utf8(&self.0).unwrap_or("????")
    }
}

/// What really happened to a transfer or collection, whatever its answer said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrueOutcome {
    /// `"2000/100"` or `"2000/200"`.
    pub kind: String,
    /// 출금금액 (0 in lean mode, which never decodes the body).
    pub amount: u64,
    /// The final result code a 7000/100 reveals: `0000` or the decline code.
    pub result: String,
    /// Whether the money moved.
    pub executed: bool,
    /// The response code sent (or scheduled); `None` when deliberately left unanswered.
    pub answered: Option<String>,
    /// Fee charged (0 when not executed, and in lean mode).
    pub fee: u64,
    /// Bank processing time `hhmmss` (empty in lean mode).
    pub tx_time: String,
}

/// 이체 (2000/100) or 집금 (2000/200).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TxKind {
    Pay,
    Collect,
}

/// The books' copy-only form of [`TrueOutcome`]; amounts are `None` in lean mode.
#[derive(Debug, Clone, Copy)]
pub(super) struct Outcome {
    pub kind: TxKind,
    pub amount: Option<u64>,
    pub result: Code,
    pub answered: Option<Code>,
    pub fee: Option<u64>,
    pub tx_time: Option<u32>,
}

impl Outcome {
    pub fn executed(&self) -> bool {
        self.result == Code::OK
    }

    pub fn to_public(self) -> TrueOutcome {
        TrueOutcome {
            kind: match self.kind {
                TxKind::Pay => "2000/100",
                TxKind::Collect => "2000/200",
            }
            .to_owned(),
            amount: self.amount.unwrap_or(0),
            result: self.result.as_str().to_owned(),
            executed: self.executed(),
            answered: self.answered.map(|c| c.as_str().to_owned()),
            fee: self.fee.unwrap_or(0),
            tx_time: self.tx_time.map(|t| format!("{t:06}")).unwrap_or_default(),
        }
    }
}

/// What the bank keeps of one (전송일자, 전문번호).
#[derive(Debug, Clone, Copy)]
pub(super) enum Record {
    Transfer(Outcome),
    Other,
}

/// A notice sent (or to send) and not yet acknowledged.
#[derive(Debug, Clone)]
pub(super) struct PendingNotice {
    pub frame: Bytes,
    pub header: HectoHeader,
    pub sent_at: Option<Instant>,
    pub resends: u32,
}

/// An executed transfer that a later 3000/100 불능통지 may report as failed.
#[derive(Debug, Clone)]
pub(super) struct FailCandidate {
    pub msg_no: u32,
    pub wd_account: String,
    pub dep_bank: String,
    pub dep_account: String,
    pub amount: u64,
}

/// The bank's books, shared by every session.
pub(super) struct Books {
    records: HashMap<(u32, u32), Record>,
    /// Days present in `records`, oldest first, so old days can be pruned.
    days: VecDeque<u32>,
    pub balance: u64,
    /// Session that last signed on (notices need one).
    pub signed_on: Option<u64>,
    /// Header constants learned from the company's requests, for notices.
    pub learned: Option<(String, String, String)>,
    pub notice_day: u32,
    pub notice_no: u32,
    pub pending: BTreeMap<(u32, u32), PendingNotice>,
    pub fail_candidates: VecDeque<FailCandidate>,
}

impl Books {
    pub fn new(initial_balance: u64) -> Books {
        Books {
            records: HashMap::new(),
            days: VecDeque::new(),
            balance: initial_balance,
            signed_on: None,
            learned: None,
            notice_day: 0,
            notice_no: 0,
            pending: BTreeMap::new(),
            fail_candidates: VecDeque::new(),
        }
    }

    pub fn contains(&self, key: (u32, u32)) -> bool {
        self.records.contains_key(&key)
    }

    pub fn remember(&mut self, key: (u32, u32), record: Record) {
        if !self.days.contains(&key.0) {
            self.days.push_back(key.0);
            while self.days.len() > DAYS_KEPT {
                if let Some(old) = self.days.pop_front() {
                    self.records.retain(|k, _| k.0 != old);
                }
            }
        }
        self.records.insert(key, record);
    }

    pub fn outcome(&self, date: u32, msg_no: u32) -> Option<Outcome> {
        match self.records.get(&(date, msg_no)) {
            Some(Record::Transfer(t)) => Some(*t),
            _ => None,
        }
    }

    /// Every recorded transfer, ordered by (전송일자, 전문번호).
    pub fn outcomes(&self) -> Vec<(u32, u32, Outcome)> {
        let mut v: Vec<_> = self
            .records
            .iter()
            .filter_map(|(&(d, n), r)| match r {
                Record::Transfer(t) => Some((d, n, *t)),
                Record::Other => None,
            })
            .collect();
        v.sort_by_key(|&(d, n, _)| (d, n));
        v
    }

    /// Remembers an executed 이체 as a candidate for a later 불능통지.
    pub fn add_fail_candidate(&mut self, c: FailCandidate) {
        if self.fail_candidates.len() >= MAX_FAIL_CANDIDATES {
            self.fail_candidates.pop_front();
        }
        self.fail_candidates.push_back(c);
    }
}

/// A request the simulator received (recorded in full mode when `record` is on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// 전문구분코드.
    pub msg_type: String,
    /// 업무구분코드.
    pub biz_type: String,
    /// 전문번호.
    pub msg_no: u32,
    /// 전송일자 `YYYYMMDD`.
    pub date: String,
    /// 전송시간 `hhmmss`.
    pub time: String,
    /// Received on the connect-back line (split mode) rather than on a session the gateway
    /// opened.
    pub on_connect_back: bool,
}

impl Seen {
    pub(super) fn of(h: &HectoHeader, on_connect_back: bool) -> Seen {
        Seen {
            msg_type: h.msg_type.clone(),
            biz_type: h.biz_type.clone(),
            msg_no: h.msg_no,
            date: h.send_date.clone(),
            time: h.send_time.clone(),
            on_connect_back,
        }
    }
}

/// Everything received, in arrival order, for tests.
#[derive(Debug, Default)]
pub(super) struct Recording {
    /// Requests (duplicates included).
    pub seen: Vec<Seen>,
    /// Responses from the company (notice acknowledgements), as received.
    pub acks: Vec<Bytes>,
    /// `HDRREQPOLL…` received.
    pub polls: Vec<Bytes>,
    /// `HDRRESPOLL…` received.
    pub poll_answers: Vec<Bytes>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use fep_specs::hecto;

    #[test]
    fn codes_are_four_ascii_characters() {
        assert_eq!(
            Code::new("SB09").map(|c| c.as_str().to_owned()),
            Some("SB09".into())
        );
        assert!(Code::new("SB0").is_none());
        assert!(Code::new("처리").is_none());
        assert_eq!(Code::OK.as_str(), hecto::RESP_OK);
        assert_eq!(Code::FORMAT_MISMATCH.as_str(), hecto::RESP_FORMAT_MISMATCH);
        assert_eq!(Code::LIMIT_PER_TX.as_str(), hecto::RESP_LIMIT_PER_TX);
        assert_eq!(Code::SESSION_TIMEOUT.as_str(), hecto::RESP_SESSION_TIMEOUT);
    }

    #[test]
    fn old_days_are_pruned() {
        let mut b = Books::new(0);
        for day in 1..=4 {
            b.remember((day, 1), Record::Other);
        }
        assert!(!b.contains((1, 1)), "the oldest of four days is dropped");
        assert!(b.contains((2, 1)) && b.contains((4, 1)));
    }
}
