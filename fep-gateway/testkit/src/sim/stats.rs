//! Counters of what the simulator did.

use std::collections::BTreeMap;

use serde::Serialize;

/// Counters of everything the simulator did (a snapshot).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SimStats {
    /// Connections accepted on the listener.
    pub connections: u64,
    /// Connections refused because `max_connections` were open.
    pub connections_refused: u64,
    /// Connect-back connections established.
    pub connect_backs: u64,
    /// Connect-back attempts that failed (refused, timed out).
    pub connect_back_failures: u64,
    /// Requests received, by `"msgtype/biztype"` (e.g. `"2000/100"`); full mode only.
    pub requests: BTreeMap<String, u64>,
    /// Responses sent, by response code; full mode only.
    pub responses: BTreeMap<String, u64>,
    /// Requests refused as a reused (전송일자, 전문번호).
    pub duplicates_rejected: u64,
    /// Transfers deliberately left unanswered.
    pub no_responses: u64,
    /// Responses held because the connect-back line was down (split lines).
    pub responses_held: u64,
    /// Responses that could not be delivered (route down or congested).
    pub undeliverable: u64,
    /// 업무개시 received.
    pub sign_ons: u64,
    /// 업무종료 received.
    pub sign_offs: u64,
    /// Poll requests received (and answered).
    pub polls_received: u64,
    /// Poll requests the simulator sent on idle sessions.
    pub polls_sent: u64,
    /// Poll responses received.
    pub poll_responses: u64,
    /// Notices sent the first time.
    pub notices_sent: u64,
    /// Notices acknowledged.
    pub notices_acked: u64,
    /// Notice resends (same 전문번호).
    pub notices_resent: u64,
    /// Notices given up after `notice_max_resends`.
    pub notices_abandoned: u64,
    /// Acknowledgements that did not echo the notice's 예비영역, or named no pending notice.
    pub notice_acks_bad: u64,
    /// Result inquiries (7000/100) answered.
    pub inquiries_answered: u64,
    /// … of which answered "still in progress".
    pub inquiries_in_progress: u64,
    /// … of which answered `NREC`.
    pub inquiries_not_found: u64,
    /// Frames with a readable header but an unusable body or type (answered `0001`).
    pub bad_frames: u64,
    /// Connections dropped because a frame was unreadable.
    pub dropped_connections: u64,
    /// Frames ignored (responses nobody asked for).
    pub unexpected_frames: u64,
}

impl SimStats {
    /// Requests received of one `"msgtype/biztype"`.
    pub fn requests_of(&self, key: &str) -> u64 {
        self.requests.get(key).copied().unwrap_or(0)
    }

    /// Responses sent with one code.
    pub fn responses_with(&self, code: &str) -> u64 {
        self.responses.get(code).copied().unwrap_or(0)
    }
}
