//! The Prometheus metrics of one institution. Handles used on the request path are registered
//! once: building a label set (and its `String`s) per request was a measurable share of the
//! actor's time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::sequencer::{Exhaustion, Usage};
use crate::breaker::{State, Transition};
use crate::domain::{MsgKey, RejectReason};
use crate::protocol::Outcome;

/// Metric handles of one institution.
pub(crate) struct Metrics {
    name: Arc<str>,
    inflight: metrics::Gauge,
    duration: metrics::Histogram,
    /// `fep_requests_total` by message key, then by outcome.
    requests: HashMap<MsgKey, Vec<(Outcome, metrics::Counter)>>,
    /// `fep_rejected_total` by reason label.
    rejected: Vec<(&'static str, metrics::Counter)>,
    /// `fep_sequence_used`, `fep_sequence_used_ratio`, `fep_sequence_exhausted`.
    seq_used: metrics::Gauge,
    seq_ratio: metrics::Gauge,
    seq_exhausted: metrics::Gauge,
}

impl Metrics {
    /// The handles of institution `name`.
    pub fn new(name: &Arc<str>) -> Metrics {
        Metrics {
            name: name.clone(),
            inflight: metrics::gauge!("fep_inflight_requests", "institution" => name.to_string()),
            duration: metrics::histogram!("fep_request_duration_seconds", "institution" => name.to_string()),
            requests: HashMap::new(),
            rejected: Vec::new(),
            seq_used: metrics::gauge!("fep_sequence_used", "institution" => name.to_string()),
            seq_ratio: metrics::gauge!("fep_sequence_used_ratio", "institution" => name.to_string()),
            seq_exhausted: metrics::gauge!("fep_sequence_exhausted", "institution" => name.to_string()),
        }
    }

    /// The day's 전문번호 usage: numbers gone, their share of the range, and exhaustion
    /// (0: numbers remain, 1: requests' share used up, 2: the reserve too).
    pub fn sequence(&self, u: &Usage) {
        self.seq_used.set(f64::from(u.used));
        self.seq_ratio.set(u.ratio());
        self.seq_exhausted.set(match u.exhaustion {
            Exhaustion::None => 0.0,
            Exhaustion::Requests => 1.0,
            Exhaustion::All => 2.0,
        });
    }

    /// Telegrams in flight now.
    pub fn inflight(&self, n: usize) {
        self.inflight.set(n as f64);
    }

    /// A request of `key` ended with `outcome`, `took` after it was sent.
    pub fn request(&mut self, key: &MsgKey, outcome: Outcome, took: Duration) {
        let by_outcome = match self.requests.get_mut(key) {
            Some(v) => v,
            None => self.requests.entry(key.clone()).or_default(),
        };
        match by_outcome.iter().find(|(o, _)| *o == outcome) {
            Some((_, c)) => c.increment(1),
            None => {
                let c = metrics::counter!("fep_requests_total", "institution" => self.name.to_string(), "msg_type" => key.to_string(), "outcome" => outcome.as_str());
                c.increment(1);
                by_outcome.push((outcome, c));
            }
        }
        self.duration.record(took.as_secs_f64());
    }

    /// A request was rejected: `fep_rejected_total{reason}`; every rejection carries its reason.
    pub fn rejected(&mut self, reason: &RejectReason) {
        let label = reason.label();
        match self.rejected.iter().find(|(l, _)| *l == label) {
            Some((_, c)) => c.increment(1),
            None => {
                let c = rejected_counter(&self.name, reason);
                c.increment(1);
                self.rejected.push((label, c));
            }
        }
    }

    /// A link went up or down.
    pub fn link_up(&self, link: &str, up: bool) {
        metrics::gauge!("fep_link_up", "institution" => self.name.to_string(), "link" => link.to_owned())
            .set(if up { 1.0 } else { 0.0 });
    }

    /// The breaker changed state.
    pub fn breaker(&self, t: &Transition) {
        let code = match t.to {
            State::Closed => 0.0,
            State::HalfOpen => 1.0,
            State::Open => 2.0,
        };
        metrics::gauge!("fep_circuit_state", "institution" => self.name.to_string()).set(code);
    }

    /// The actor recovered from a panic.
    pub fn restarted(&self) {
        metrics::counter!("fep_institution_restarts_total", "institution" => self.name.to_string())
            .increment(1);
    }

    /// A response arrived after its request timed out.
    pub fn late(&self) {
        metrics::counter!("fep_late_responses_total", "institution" => self.name.to_string())
            .increment(1);
    }

    /// A frame matched nothing.
    pub fn unmatched(&self) {
        metrics::counter!("fep_unmatched_responses_total", "institution" => self.name.to_string())
            .increment(1);
    }
}

/// `fep_rejected_total` of `institution` for `reason`; also used where there is no actor (a
/// full queue is refused by the handle).
pub(crate) fn rejected_counter(institution: &str, reason: &RejectReason) -> metrics::Counter {
    metrics::counter!("fep_rejected_total", "institution" => institution.to_owned(), "reason" => reason.label())
}
