//! The sub-tables of an `[[institution]]`: `signon`, `polling`, `unknown`, `limits`,
//! `sequence`, with their defaults.

use super::*;

/// `[institution.signon]`: 개시 (sign-on) telegrams.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signon {
    /// Whether the institution uses sign-on at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Sign on after every (re)connect.
    #[serde(default = "yes")]
    pub on_connect: bool,
    /// Sign on again when the business date changes.
    #[serde(default = "yes")]
    pub on_date_change: bool,
    /// The first retry after a failed sign-on (refused, unanswered or not sent) waits this
    /// long; each further retry waits twice as long, up to `retry_max`, plus up to half again
    /// of random jitter (never beyond `retry_max`).
    #[serde(default = "default_retry_min", with = "durations")]
    pub retry_min: Duration,
    /// The longest wait between sign-on attempts.
    #[serde(default = "default_retry_max", with = "durations")]
    pub retry_max: Duration,
    /// A sign-on unanswered this long has failed (and is retried); at shutdown, the longest
    /// wait for the answer to 업무종료 (sign-off) before the links close.
    #[serde(default = "default_answer_timeout", with = "durations")]
    pub answer_timeout: Duration,
}

impl Signon {
    /// The timing the runtime uses.
    pub fn policy(&self) -> SignOnPolicy {
        SignOnPolicy {
            retry_min: self.retry_min,
            retry_max: self.retry_max,
            answer_timeout: self.answer_timeout,
        }
    }
}

impl Default for Signon {
    fn default() -> Self {
        Self {
            enabled: true,
            on_connect: true,
            on_date_change: true,
            retry_min: default_retry_min(),
            retry_max: default_retry_max(),
            answer_timeout: default_answer_timeout(),
        }
    }
}

fn default_retry_min() -> Duration {
    SignOnPolicy::default().retry_min
}

fn default_retry_max() -> Duration {
    SignOnPolicy::default().retry_max
}

fn default_answer_timeout() -> Duration {
    SignOnPolicy::default().answer_timeout
}

fn yes() -> bool {
    true
}

/// `[institution.polling]`: keep-alive polls (the family's `[heartbeat]` frames).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Polling {
    /// Whether to send polls on idle links.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Idle time after which a poll is sent.
    #[serde(default = "default_idle_interval", with = "durations")]
    pub idle_interval: Duration,
    /// Answer the institution's polls (the family's `[heartbeat]` response).
    #[serde(default = "yes")]
    pub answer_peer_polls: bool,
}

impl Default for Polling {
    fn default() -> Self {
        Self {
            enabled: true,
            idle_interval: default_idle_interval(),
            answer_peer_polls: true,
        }
    }
}

fn default_idle_interval() -> Duration {
    // Five minutes: a common institution default (the family's `interval_secs` documents its own).
    Duration::from_secs(300)
}

/// `[institution.unknown]`: resolving unknown outcomes with result inquiries.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnknownPolicy {
    /// Wait before the first inquiry.
    #[serde(default = "default_inquiry_delay", with = "durations")]
    pub inquiry_delay: Duration,
    /// Wait between inquiries while the answer stays "in progress".
    #[serde(default = "default_inquiry_interval", with = "durations")]
    pub inquiry_interval: Duration,
    /// Give up (leave the request unknown, alert) after this many inquiries.
    #[serde(default = "default_inquiry_max_attempts")]
    pub inquiry_max_attempts: u32,
}

impl Default for UnknownPolicy {
    fn default() -> Self {
        Self {
            inquiry_delay: default_inquiry_delay(),
            inquiry_interval: default_inquiry_interval(),
            inquiry_max_attempts: default_inquiry_max_attempts(),
        }
    }
}

fn default_inquiry_delay() -> Duration {
    // Five minutes after the original: institutions commonly ask for that delay.
    Duration::from_secs(300)
}

fn default_inquiry_interval() -> Duration {
    Duration::from_secs(60)
}

fn default_inquiry_max_attempts() -> u32 {
    10
}

/// `[institution.limits]`: the bulkhead.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Requests sent and not yet answered.
    #[serde(default = "default_max_inflight")]
    pub max_inflight: u32,
    /// Requests waiting for an inflight slot before being rejected.
    #[serde(default = "default_queue_depth")]
    pub queue_depth: u32,
    /// Requests per second sent to the institution.
    #[serde(default = "default_rate_tps")]
    pub rate_tps: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_inflight: default_max_inflight(),
            queue_depth: default_queue_depth(),
            rate_tps: default_rate_tps(),
        }
    }
}

fn default_max_inflight() -> u32 {
    64
}

fn default_queue_depth() -> u32 {
    256
}

fn default_rate_tps() -> u32 {
    100
}

/// `[institution.sequence]`: the day's 전문번호 range (from the spec's `[sequence]`) as a
/// resource: how much of it is kept for the gateway's own telegrams, and when to warn.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sequence {
    /// Numbers at the end of the range that callers' requests never get: kept for result
    /// inquiries and session telegrams (sign-on, sign-off), so that every unknown can still be
    /// resolved and the session opened and closed when requests have used up their share.
    #[serde(default)]
    pub reserve: SequenceReserve,
    /// Usage (percent of the range) from which `/v1/status` and the log warn.
    #[serde(default = "default_warn_at_percent")]
    pub warn_at_percent: u32,
}

impl Default for Sequence {
    fn default() -> Self {
        Self {
            reserve: SequenceReserve::default(),
            warn_at_percent: default_warn_at_percent(),
        }
    }
}

fn default_warn_at_percent() -> u32 {
    80
}

/// `reserve`: a count of numbers (`50`) or a share of the range (`"1%"`, rounded up).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SequenceReserve {
    /// This many numbers.
    Count(u32),
    /// This percentage of the range, `0 <= p < 100`.
    Percent(f64),
}

impl Default for SequenceReserve {
    /// 1 % of the range.
    fn default() -> Self {
        SequenceReserve::Percent(1.0)
    }
}

impl SequenceReserve {
    /// The numbers kept out of a range of `range_len` numbers.
    pub fn numbers(self, range_len: u32) -> u32 {
        match self {
            SequenceReserve::Count(n) => n,
            SequenceReserve::Percent(p) => {
                let n = (f64::from(range_len) * p / 100.0).ceil();
                // `p < 100` (checked when read), so this is below `range_len`.
                n.clamp(0.0, f64::from(range_len)) as u32
            }
        }
    }
}

impl<'de> Deserialize<'de> for SequenceReserve {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = SequenceReserve;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "a count of numbers (e.g. 50) or a percentage of the range (e.g. \"1%\")",
                )
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u32::try_from(v)
                    .map(SequenceReserve::Count)
                    .map_err(|_| E::custom(format!("reserve {v}: expected 0..={}", u32::MAX)))
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(-1))
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                let bad = || {
                    E::custom(format!(
                        "reserve {v:?}: expected a percentage below 100, e.g. \"1%\" or \"0.5%\""
                    ))
                };
                let p: f64 = v
                    .trim()
                    .strip_suffix('%')
                    .ok_or_else(bad)?
                    .trim()
                    .parse()
                    .map_err(|_| bad())?;
                if !(0.0..100.0).contains(&p) {
                    return Err(bad());
                }
                Ok(SequenceReserve::Percent(p))
            }
        }
        d.deserialize_any(Visitor)
    }
}
