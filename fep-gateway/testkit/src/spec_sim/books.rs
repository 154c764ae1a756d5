//! The institution's books: correlation keys seen (duplicate refusal), the true outcome of
//! every money-moving request (revealed by result inquiries), the business day's state; and
//! the draw deciding what becomes of a request.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::RngExt;

use super::scenario::{Plan, Scenario};
use crate::sim::draw::derived_rng;

// Salts separating the rng streams derived from one seed.
const SALT_FATE: u64 = 0x7370_6563_6661_7465;
pub(super) const SALT_NOTICE: u64 = 0x7370_6563_6e6f_7465;

/// Correlation keys remembered for duplicate refusal (the oldest are forgotten beyond).
const MAX_SEEN: usize = 1_000_000;
/// True outcomes remembered for result inquiries.
const MAX_TRUTHS: usize = 1_000_000;

/// What the gateway sees of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Seen {
    /// Answered with the success code.
    Ok,
    /// Answered with a declined code.
    Declined,
    /// Answered with an unknown code.
    Unknown,
    /// Answered with an in-progress code.
    InProgress,
    /// Not answered.
    NoAnswer,
}

/// The fate of one request.
#[derive(Debug, Clone)]
pub(super) struct Fate {
    /// What the gateway sees.
    pub seen: Seen,
    /// The answer's code (`None`: no answer).
    pub answer: Option<String>,
    /// What really happened: the success code (executed) or a declined code.
    pub truth: String,
    /// Latency before the answer.
    pub delay: Duration,
}

fn pick(rng: &mut StdRng, items: &[String]) -> Option<String> {
    if items.is_empty() {
        None
    } else {
        items.get(rng.random_range(0..items.len())).cloned()
    }
}

/// The rng item of a request: its sequence number when it is one, else a hash of `text`.
pub(super) fn item_of(number: Option<&str>, text: &str) -> u64 {
    match number.and_then(|n| n.parse::<u64>().ok()) {
        Some(n) => n,
        None => {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            text.hash(&mut h);
            h.finish()
        }
    }
}

/// Draws the fate of request `item` (its sequence number): same seed, same fate, whatever
/// order requests arrive in.
pub(super) fn decide(plan: &Plan, scenario: &Scenario, seed: u64, item: u64) -> Fate {
    let mut rng = derived_rng(seed, SALT_FATE, item);
    let o = &scenario.outcomes;
    let declined = |rng: &mut StdRng| pick(rng, &plan.declined).unwrap_or_default();
    let u: f64 = rng.random();
    let executed_or_not = |rng: &mut StdRng| {
        if rng.random_bool(o.unknown_executed.clamp(0.0, 1.0)) {
            plan.success.clone()
        } else {
            declined(rng)
        }
    };
    let [declined_share, unknown, in_progress, no_answer] = o.shares();
    let (seen, answer, truth) = if u < declined_share {
        let c = declined(&mut rng);
        (Seen::Declined, Some(c.clone()), c)
    } else if u < declined_share + unknown {
        let truth = executed_or_not(&mut rng);
        match pick(&mut rng, &plan.unknown) {
            Some(c) => (Seen::Unknown, Some(c), truth),
            None => (Seen::NoAnswer, None, truth),
        }
    } else if u < declined_share + unknown + in_progress {
        let truth = executed_or_not(&mut rng);
        match pick(&mut rng, &plan.in_progress) {
            Some(c) => (Seen::InProgress, Some(c), truth),
            None => (Seen::NoAnswer, None, truth),
        }
    } else if u < declined_share + unknown + in_progress + no_answer {
        (Seen::NoAnswer, None, executed_or_not(&mut rng))
    } else {
        (Seen::Ok, Some(plan.success.clone()), plan.success.clone())
    };
    let l = scenario.latency_ms;
    let ms = if l.min >= l.max {
        l.min
    } else {
        rng.random_range(l.min..=l.max)
    };
    Fate {
        seen,
        answer,
        truth,
        delay: Duration::from_millis(ms),
    }
}

/// The business day as the institution sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Day {
    /// Not opened yet (or the family has a sign-on nobody sent yet).
    #[default]
    NotOpen,
    /// Open: requests and notices flow.
    Open,
    /// No new money-moving requests (after a `stop_new` command was acknowledged).
    StopNew,
    /// Closed (after a `close` command or the gateway's sign-off).
    Closed,
}

/// Seen keys, true outcomes, the day.
#[derive(Debug, Default)]
pub(super) struct Books {
    seen: HashSet<Vec<String>>,
    seen_order: VecDeque<Vec<String>>,
    /// (date, number) → true code.
    truths: HashMap<(String, String), String>,
    truth_order: VecDeque<(String, String)>,
    /// number → the latest date it was recorded under.
    latest: HashMap<String, String>,
    pub day: Day,
}

impl Books {
    /// Remembers `key`; false when it was already seen (a duplicate).
    pub fn first_sight(&mut self, key: Vec<String>) -> bool {
        if self.seen.contains(&key) {
            return false;
        }
        if self.seen_order.len() >= MAX_SEEN {
            if let Some(old) = self.seen_order.pop_front() {
                self.seen.remove(&old);
            }
        }
        self.seen.insert(key.clone());
        self.seen_order.push_back(key);
        true
    }

    /// Records the true outcome of the money-moving request `number` sent on `date`.
    pub fn record_truth(&mut self, date: &str, number: &str, code: &str) {
        let k = (date.to_owned(), number.to_owned());
        if self.truth_order.len() >= MAX_TRUTHS {
            if let Some(old) = self.truth_order.pop_front() {
                self.truths.remove(&old);
            }
        }
        if self.truths.insert(k.clone(), code.to_owned()).is_none() {
            self.truth_order.push_back(k);
        }
        self.latest.insert(number.to_owned(), date.to_owned());
    }

    /// The true outcome of `number` on `date`; when the inquiry's date is not the original's
    /// (it was sent after midnight), the latest one recorded under that number.
    pub fn truth(&self, date: &str, number: &str) -> Option<&str> {
        let exact = self.truths.get(&(date.to_owned(), number.to_owned()));
        exact
            .or_else(|| {
                let d = self.latest.get(number)?;
                self.truths.get(&(d.clone(), number.to_owned()))
            })
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fep_codec::spec::Family;

    fn plan(s: &Scenario) -> Plan {
        let f = Family::from_toml_str(fep_specs::KIBNET_TOML).expect("kibnet");
        Plan::new(&f, s).expect("plan")
    }

    #[test]
    fn fates_follow_the_rates_and_the_seed() {
        let mut s = Scenario::default();
        let p = plan(&s);
        let f = decide(&p, &s, 1, 5);
        assert_eq!((f.seen, f.answer.as_deref()), (Seen::Ok, Some("000")));
        s.outcomes.unknown = 1.0;
        let f = decide(&p, &s, 1, 5);
        // KIBNET lists no unknown code: an unknown is a request never answered.
        assert_eq!((f.seen, f.answer), (Seen::NoAnswer, None));
        let again = decide(&p, &s, 1, 5);
        assert_eq!(f.truth, again.truth);
        s.outcomes.unknown = 0.0;
        s.outcomes.declined = 1.0;
        let f = decide(&p, &s, 1, 5);
        assert_eq!(f.answer.as_deref(), Some("999"));
        // Weights: ok = 0 and declined = 3 decline everything too.
        s.outcomes.ok = Some(0.0);
        s.outcomes.declined = 3.0;
        assert!(s.check().is_ok());
        assert_eq!(s.outcomes.shares(), [1.0, 0.0, 0.0, 0.0]);
        s.outcomes.ok = None;
        assert!(s.check().is_err(), "a share above 1");
    }

    #[test]
    fn books_refuse_duplicates_and_keep_truths() {
        let mut b = Books::default();
        assert!(b.first_sight(vec!["20260101".into(), "1".into()]));
        assert!(!b.first_sight(vec!["20260101".into(), "1".into()]));
        b.record_truth("20260101", "1", "000");
        assert_eq!(b.truth("20260101", "1"), Some("000"));
        assert_eq!(b.truth("20260102", "1"), Some("000"));
        assert_eq!(b.truth("20260101", "2"), None);
    }
}
