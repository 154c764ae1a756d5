//! [`BreakerConfig`] as read from `[institution.breaker]`, its range checks, and
//! [`ValidBreakerConfig`], the only form a running breaker accepts.

use std::time::Duration;

use serde::Deserialize;

use crate::config::durations;

/// Largest accepted `sliding_window_size`, bounding the window's memory.
pub const MAX_WINDOW_SIZE: u32 = 100_000;

/// Longest accepted open-state or half-open wait.
pub const MAX_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// How the closed-state window forgets old calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowType {
    /// The last `sliding_window_size` calls.
    #[serde(alias = "COUNT_BASED")]
    CountBased,
    /// The calls of the last `sliding_window_size` seconds, bucketed per second.
    #[serde(alias = "TIME_BASED")]
    TimeBased,
}

/// Circuit breaker settings (Resilience4j names, snake_case; durations as `"5s"`, `"300ms"`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// Count- or time-based window.
    pub sliding_window_type: WindowType,
    /// Calls (count-based) or seconds (time-based) kept in the window.
    pub sliding_window_size: u32,
    /// Failure rate in percent (0 < x ≤ 100) at or above which the breaker opens.
    pub failure_rate_threshold: f64,
    /// Slow-call rate in percent (0 < x ≤ 100) at or above which the breaker opens.
    pub slow_call_rate_threshold: f64,
    /// A call taking longer than this is slow.
    #[serde(with = "durations")]
    pub slow_call_duration: Duration,
    /// Calls the window must hold before any rate is evaluated.
    pub minimum_number_of_calls: u32,
    /// Time spent OPEN before trial calls are admitted.
    #[serde(with = "durations")]
    pub wait_duration_in_open_state: Duration,
    /// Trial calls admitted in HALF_OPEN.
    pub permitted_calls_in_half_open: u32,
    /// If set, HALF_OPEN lasting this long (trials never finished) opens the breaker again.
    #[serde(with = "durations::option")]
    pub max_wait_in_half_open: Option<Duration>,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            sliding_window_type: WindowType::CountBased,
            sliding_window_size: 100,
            failure_rate_threshold: 50.0,
            slow_call_rate_threshold: 100.0,
            slow_call_duration: Duration::from_secs(5),
            minimum_number_of_calls: 20,
            wait_duration_in_open_state: Duration::from_secs(10),
            permitted_calls_in_half_open: 5,
            max_wait_in_half_open: None,
        }
    }
}

/// A [`BreakerConfig`] value out of range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BreakerConfigError {
    /// A percentage threshold outside (0, 100].
    #[error("{field} must be in (0, 100], got {value}")]
    Threshold {
        /// The offending field.
        field: &'static str,
        /// Its value.
        value: f64,
    },
    /// A wait longer than [`MAX_WAIT`].
    #[error("{field} must be at most {max:?}, got {value:?}")]
    Wait {
        /// The offending field.
        field: &'static str,
        /// Its value.
        value: Duration,
        /// The longest accepted value.
        max: Duration,
    },
    /// A count that must be at least 1 (and at most its limit).
    #[error("{field} must be between 1 and {max}, got {value}")]
    Count {
        /// The offending field.
        field: &'static str,
        /// Its value.
        value: u32,
        /// The largest accepted value.
        max: u32,
    },
}

impl BreakerConfigError {
    /// The offending key under `[institution.breaker]`, e.g. `failure_rate_threshold`.
    pub fn field(&self) -> &'static str {
        match self {
            BreakerConfigError::Threshold { field, .. }
            | BreakerConfigError::Wait { field, .. }
            | BreakerConfigError::Count { field, .. } => field,
        }
    }
}

impl BreakerConfig {
    /// Checks every value's range; the first problem found.
    pub fn validate(&self) -> Result<(), BreakerConfigError> {
        match self.problems().into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Every value out of range, in field order, so a config file shows them all at once.
    pub fn problems(&self) -> Vec<BreakerConfigError> {
        let mut problems = Vec::new();
        for (field, value) in [
            ("failure_rate_threshold", self.failure_rate_threshold),
            ("slow_call_rate_threshold", self.slow_call_rate_threshold),
        ] {
            // `!(x > 0)` also refuses NaN.
            if !(value > 0.0 && value <= 100.0) {
                problems.push(BreakerConfigError::Threshold { field, value });
            }
        }
        for (field, value) in [
            ("sliding_window_size", self.sliding_window_size),
            ("minimum_number_of_calls", self.minimum_number_of_calls),
            (
                "permitted_calls_in_half_open",
                self.permitted_calls_in_half_open,
            ),
        ] {
            if value == 0 || value > MAX_WINDOW_SIZE {
                problems.push(BreakerConfigError::Count {
                    field,
                    value,
                    max: MAX_WINDOW_SIZE,
                });
            }
        }
        let waits = [
            (
                "wait_duration_in_open_state",
                Some(self.wait_duration_in_open_state),
            ),
            ("max_wait_in_half_open", self.max_wait_in_half_open),
        ];
        for (field, value) in waits {
            if let Some(value) = value.filter(|v| *v > MAX_WAIT) {
                problems.push(BreakerConfigError::Wait {
                    field,
                    value,
                    max: MAX_WAIT,
                });
            }
        }
        problems
    }

    /// The config as a [`ValidBreakerConfig`], or every value out of range.
    pub fn validated(self) -> Result<ValidBreakerConfig, Vec<BreakerConfigError>> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(ValidBreakerConfig(self))
        } else {
            Err(problems)
        }
    }
}

/// A [`BreakerConfig`] whose every value is in range. Runtime settings hold this type, so a
/// gateway cannot be handed a breaker config that it would have to refuse (and run without a
/// breaker) at start-up: the range check happens once, where the config file is read.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidBreakerConfig(pub(super) BreakerConfig);

impl ValidBreakerConfig {
    /// The checked values.
    pub fn get(&self) -> &BreakerConfig {
        &self.0
    }

    /// The checked values, by value.
    pub fn into_inner(self) -> BreakerConfig {
        self.0
    }
}

impl Default for ValidBreakerConfig {
    /// The documented defaults (checked by a unit test).
    fn default() -> Self {
        ValidBreakerConfig(BreakerConfig::default())
    }
}

impl TryFrom<BreakerConfig> for ValidBreakerConfig {
    type Error = Vec<BreakerConfigError>;

    fn try_from(config: BreakerConfig) -> Result<Self, Self::Error> {
        config.validated()
    }
}

impl std::ops::Deref for ValidBreakerConfig {
    type Target = BreakerConfig;

    fn deref(&self) -> &BreakerConfig {
        &self.0
    }
}
