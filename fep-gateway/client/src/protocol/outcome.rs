//! [`Outcome`]: what happened to a request, with its wire code and its name.

use std::fmt;
use std::str::FromStr;

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

/// What happened to a request, as seen by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Outcome {
    /// The institution answered normally.
    Ok,
    /// The institution answered with an error code.
    Declined,
    /// Timed out or the link died after sending: the money may have moved.
    Unknown,
    /// Not sent (breaker open, overload, institution down, bad request).
    Rejected,
}

impl Outcome {
    /// All outcomes, in wire-code order.
    pub const ALL: [Outcome; 4] = [
        Outcome::Ok,
        Outcome::Declined,
        Outcome::Unknown,
        Outcome::Rejected,
    ];

    /// Lowercase name (`ok`, `declined`, `unknown`, `rejected`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Declined => "declined",
            Outcome::Unknown => "unknown",
            Outcome::Rejected => "rejected",
        }
    }

    /// Wire code (0..=3).
    pub fn code(self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::Declined => 1,
            Outcome::Unknown => 2,
            Outcome::Rejected => 3,
        }
    }

    /// Outcome for a wire code.
    pub fn from_code(code: u8) -> Option<Outcome> {
        Outcome::ALL.get(usize::from(code)).copied()
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unrecognised outcome name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown outcome {0:?}, expected one of ok, declined, unknown, rejected")]
pub struct ParseOutcomeError(pub String);

impl FromStr for Outcome {
    type Err = ParseOutcomeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| ParseOutcomeError(s.to_string()))
    }
}
