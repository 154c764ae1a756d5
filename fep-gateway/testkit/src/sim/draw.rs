//! What becomes of a transfer: drawn from the configured rates (seeded per 전문번호), or set
//! by the test ([`Answer`]).

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::config::{Settings, SimError};
use super::ledger::Code;

// Salts that separate the rng streams derived from one seed.
pub(super) const SALT_OUTCOME: u64 = 0x6f75_7463_6f6d_6501;
pub(super) const SALT_INQUIRY: u64 = 0x696e_7175_6972_7902;
pub(super) const SALT_NOTICE: u64 = 0x6e6f_7469_6365_7303;
pub(super) const SALT_CONN: u64 = 0x636f_6e6e_6563_7404;

/// Korean holder / counterparty names (all KS X 1001, at most 12 EUC-KR bytes).
pub(super) const NAMES: [&str; 12] = [
    "홍길동",
    "김철수",
    "이영희",
    "박민수",
    "최지우",
    "정다은",
    "강서연",
    "조현우",
    "윤하늘",
    "장보고",
    "(주)한국상사",
    "한빛물산",
];

/// How the simulator answers transfers and collections; set at run time with
/// [`super::SimHandle::set_answer`]. `SB09` for a reused 전문번호 comes first whatever is set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Answer {
    /// Draw each outcome from the configured rates and latency (the default).
    #[default]
    Drawn,
    /// Answer with `code` after `after`: `0000` executes, any other code declines (and a
    /// result inquiry reveals it).
    Code {
        /// The response code.
        code: String,
        /// Delay before the answer (`ZERO`: at once).
        after: Duration,
    },
    /// Execute but never answer: a black hole (a result inquiry reveals `0000`).
    Silent,
}

impl Answer {
    /// Answer at once with `code`.
    pub fn code(code: &str) -> Answer {
        Answer::late(code, Duration::ZERO)
    }

    /// Answer with `code` after `after` (a slow bank).
    pub fn late(code: &str, after: Duration) -> Answer {
        Answer::Code {
            code: code.to_owned(),
            after,
        }
    }
}

/// [`Answer`] with its code checked, as the session reads it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Script {
    Code(Code, Duration),
    Silent,
}

impl Script {
    /// `None` for [`Answer::Drawn`].
    pub fn of(answer: &Answer) -> Result<Option<Script>, SimError> {
        Ok(match answer {
            Answer::Drawn => None,
            Answer::Silent => Some(Script::Silent),
            Answer::Code { code, after } => Some(Script::Code(
                Code::new(code).ok_or_else(|| {
                    SimError::Config(format!("answer code {code:?} is not 4 ASCII characters"))
                })?,
                *after,
            )),
        })
    }
}

/// The fate of one transfer.
#[derive(Debug, Clone, Copy)]
pub(super) struct Decision {
    /// What a result inquiry reveals (`0000`: executed).
    pub result: Code,
    /// The answer's code; `None`: never answered.
    pub answered: Option<Code>,
    pub delay: Duration,
}

/// Draws (or takes from the script) the fate of transfer `msg_no`.
pub(super) fn decide(s: &Settings, script: Option<Script>, msg_no: u32) -> Decision {
    match script {
        Some(Script::Code(code, delay)) => {
            return Decision {
                result: code,
                answered: Some(code),
                delay,
            }
        }
        Some(Script::Silent) => {
            return Decision {
                result: Code::OK,
                answered: None,
                delay: Duration::ZERO,
            }
        }
        None => {}
    }
    let fixed = s.latency.fixed().unwrap_or_default();
    if !s.draws {
        // Nothing random configured: skip seeding an rng (the benchmark's hot path).
        return Decision {
            result: Code::OK,
            answered: Some(Code::OK),
            delay: fixed,
        };
    }
    let cfg = &s.cfg;
    let mut rng = derived_rng(cfg.seed, SALT_OUTCOME, u64::from(msg_no));
    let decline = |rng: &mut StdRng| pick(rng, &s.decline_codes, Code::LIMIT_PER_TX);
    let u: f64 = rng.random();
    let (result, answered) = if u < cfg.decline_rate {
        let code = decline(&mut rng);
        (code, Some(code))
    } else if u < cfg.decline_rate + cfg.unknown_rate {
        let answer = pick(&mut rng, &s.unknown_codes, Code::SESSION_TIMEOUT);
        let result = if rng.random_bool(cfg.unknown_executed_rate) {
            Code::OK
        } else {
            decline(&mut rng)
        };
        (result, Some(answer))
    } else if u < cfg.decline_rate + cfg.unknown_rate + cfg.no_response_rate {
        (Code::OK, None)
    } else {
        (Code::OK, Some(Code::OK))
    };
    Decision {
        result,
        answered,
        delay: s.latency.sample(&mut rng),
    }
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// An rng for one purpose and one item (전문번호, connection index …), derived from the seed.
pub(crate) fn derived_rng(seed: u64, salt: u64, item: u64) -> StdRng {
    StdRng::seed_from_u64(splitmix(seed ^ splitmix(salt ^ splitmix(item))))
}

/// One of `items`, or `fallback` when there are none.
pub(super) fn pick<T: Copy>(rng: &mut StdRng, items: &[T], fallback: T) -> T {
    if items.is_empty() {
        fallback
    } else {
        items[rng.random_range(0..items.len())]
    }
}

/// The holder's name the bank has for `account` (the same name every time).
pub(super) fn name_for(account: &str) -> &'static str {
    let h = account
        .bytes()
        .fold(0u64, |h, b| splitmix(h ^ u64::from(b)));
    NAMES[(h % NAMES.len() as u64) as usize]
}

#[cfg(test)]
mod tests {
    use super::super::config::SimConfig;
    use super::*;
    use fep_codec::Telegram;
    use fep_specs::hecto::DepositNotice;

    #[test]
    fn names_fit_the_fields() {
        for n in NAMES {
            let m = DepositNotice {
                counterparty_name: n.into(),
                ..DepositNotice::default()
            };
            assert!(m.encode().is_ok(), "{n}");
        }
    }

    #[test]
    fn scripts_override_the_draw() {
        let s = Settings::new(SimConfig {
            decline_rate: 1.0,
            ..SimConfig::default()
        })
        .expect("valid");
        assert_eq!(decide(&s, None, 1).result.as_str(), "SB02");
        let late = Script::of(&Answer::late("0000", Duration::from_millis(7)))
            .expect("valid")
            .expect("scripted");
        let d = decide(&s, Some(late), 1);
        assert_eq!(
            (d.result, d.answered, d.delay),
            (Code::OK, Some(Code::OK), Duration::from_millis(7))
        );
        let d = decide(&s, Some(Script::Silent), 1);
        assert_eq!((d.result, d.answered), (Code::OK, None));
        assert!(Script::of(&Answer::code("TOOLONG")).is_err());
        assert!(Script::of(&Answer::Drawn).expect("valid").is_none());
    }
}
