//! Serde adapters for durations written with a unit (`"300ms"`, `"5s"`, `"1m 30s"`, `"1h"`).
//!
//! The text is parsed by `humantime` (through `humantime-serde`); the only thing added here
//! is a clear refusal of bare numbers, which TOML would otherwise report as a type mismatch.

use std::fmt;
use std::time::Duration;

use serde::de::{self, IntoDeserializer};
use serde::{Deserialize, Deserializer};

/// What a bare number such as `request_timeout = 5` is told: the unit is not guessed.
pub const BARE_NUMBER: &str = "a duration needs a unit, e.g. \"5s\" or \"500ms\"";

struct DurationVisitor;

impl<'de> de::Visitor<'de> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration string such as \"5s\" or \"500ms\"")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        let text: de::value::StrDeserializer<'_, E> = v.into_deserializer();
        // humantime-serde's own error drops humantime's reason ("unknown time unit"), which is
        // the part that helps, so it is recovered here for the message.
        humantime_serde::deserialize(text).map_err(|_: E| {
            let reason = humantime_serde::re::humantime::parse_duration(v)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            E::custom(format!(
                "invalid duration {v:?}: {reason} (examples: \"300ms\", \"5s\", \"5m\", \"1h\", \"1m 30s\")"
            ))
        })
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        Err(E::custom(format!("{BARE_NUMBER}; got the bare number {v}")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        Err(E::custom(format!("{BARE_NUMBER}; got the bare number {v}")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        Err(E::custom(format!("{BARE_NUMBER}; got the bare number {v}")))
    }
}

/// Deserializes a required duration (`#[serde(with = "durations")]`).
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    d.deserialize_any(DurationVisitor)
}

/// Deserializes an optional duration (`#[serde(with = "durations::option")]`): absent is `None`.
pub mod option {
    use super::*;

    /// A present value goes through the same parser as a required one.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "super")] Duration);
        Option::<Wrapped>::deserialize(d).map(|w| w.map(|Wrapped(d)| d))
    }
}
