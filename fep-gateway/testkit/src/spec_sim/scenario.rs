//! The scenario file (`fep sim --spec FILE --scenario FILE`): what the simulated institution
//! does with the family's telegrams — outcome rates, latency, notices, scheduled commands,
//! connection habits. Every table and key is optional; the defaults play a well-behaved
//! institution (everything succeeds at once, no notices, no scheduled commands).
//!
//! Nothing here names an institution: codes left out are taken from the family's
//! `[response_code]` (see [`Plan`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use fep_codec::spec::{CommandEffect, Family};
use serde::{Deserialize, Serialize};

use super::SpecSimError;

/// A scenario: how the simulated institution behaves. `Scenario::default()` is the empty file.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scenario {
    /// Shares of request outcomes (the rest succeed).
    pub outcomes: Outcomes,
    /// Response latency, drawn uniformly per request.
    pub latency_ms: LatencyRange,
    /// Response codes that override what the family's `[response_code]` suggests.
    pub codes: Codes,
    /// Unsolicited notices (`[[notices]]` of the family).
    pub notices: NoticePlan,
    /// The institution's session commands (`[[session.commands]]` of the family).
    pub session: SessionPlan,
    /// Commands sent on a schedule (e.g. `stop_new` after a minute, a test call every 30 s).
    pub commands: Vec<ScheduledCommand>,
    /// How connections are used.
    pub connections: Connections,
    /// Header values the institution writes into every telegram it sends (a direction flag).
    /// Fields of the family's `[session] stamp` left out here are inferred from the values the
    /// family's notices and responses carry (`when`) that differ from the gateway's stamp.
    pub stamp: BTreeMap<String, String>,
    /// Keep every telegram received ([`super::SpecSimHandle::seen`]); memory grows.
    pub record: bool,
}

/// Shares of request outcomes, each in `0..=1`, summing to at most 1; the rest succeed. With
/// `ok` given, all five are weights instead (`ok = 90`, `declined = 10`), normalised by their sum.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Outcomes {
    /// Answered with the success code (absent: whatever the other shares leave).
    pub ok: Option<f64>,
    /// Refused with a declined code (nothing moved).
    pub declined: f64,
    /// Answered with an `unknown` code of the family (no answer when it lists none).
    pub unknown: f64,
    /// Never answered.
    pub no_answer: f64,
    /// Answered with an `in_progress` code of the family (no answer when it lists none).
    pub in_progress: f64,
    /// Share of unknown / in-progress / unanswered requests that were in fact executed.
    pub unknown_executed: f64,
}

impl Default for Outcomes {
    fn default() -> Self {
        Outcomes {
            ok: None,
            declined: 0.0,
            unknown: 0.0,
            no_answer: 0.0,
            in_progress: 0.0,
            unknown_executed: 0.5,
        }
    }
}

/// A latency range in milliseconds (`min = max`: fixed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LatencyRange {
    /// Shortest latency.
    pub min: u64,
    /// Longest latency.
    pub max: u64,
}

/// Codes that override the family's.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Codes {
    /// Codes of a declined request, one drawn per decline.
    pub declined: Vec<String>,
    /// Code refusing a request whose correlation key was already seen.
    pub duplicate: Option<String>,
    /// Code refusing a money-moving request after a `stop_new` or `close` command.
    pub closed: Option<String>,
}

/// Notices the institution sends.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NoticePlan {
    /// Send one notice this often while the session is open (none when absent).
    pub interval_ms: Option<u64>,
    /// Keys of the notices to send (`"0200/5900"`); empty: every `[[notices]]` in turn.
    pub keys: Vec<String>,
    /// Resend an unacknowledged notice (same telegram) after this long.
    pub ack_timeout_ms: u64,
    /// Give up on a notice after this many resends (absent: resend until acknowledged).
    pub max_resends: Option<u32>,
    /// Notices unacknowledged at once; no new one is started beyond.
    pub max_pending: usize,
    /// Smallest amount written into amount fields.
    pub amount_min: u64,
    /// Largest amount written into amount fields.
    pub amount_max: u64,
}

impl Default for NoticePlan {
    fn default() -> Self {
        NoticePlan {
            interval_ms: None,
            keys: Vec::new(),
            ack_timeout_ms: 3_000,
            max_resends: None,
            max_pending: 64,
            amount_min: 1_000,
            amount_max: 1_000_000,
        }
    }
}

/// Session commands the institution sends.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionPlan {
    /// When the family says the institution opens the day: send the `open` command as soon as
    /// the gateway can be reached.
    pub open: bool,
    /// Resend an unacknowledged command after this long.
    pub ack_timeout_ms: u64,
    /// Give up on a command after this many resends (absent: resend until acknowledged).
    pub max_resends: Option<u32>,
}

impl Default for SessionPlan {
    fn default() -> Self {
        SessionPlan {
            open: true,
            ack_timeout_ms: 3_000,
            max_resends: None,
        }
    }
}

/// A command sent on a schedule.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduledCommand {
    /// The command's key (`"0800/2700"`) or effect (`"open"`, `"stop_new"`, `"close"`).
    pub command: String,
    /// First sent this long after the simulator starts.
    #[serde(default)]
    pub after_ms: u64,
    /// Then again this often (absent: once).
    #[serde(default)]
    pub every_ms: Option<u64>,
}

/// How connections are used.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Connections {
    /// On accepted connections: read one telegram, answer, close.
    pub per_telegram_listen: bool,
    /// Towards the gateway's inbound listener: one connection per telegram (connect, send,
    /// read the acknowledgement, close) instead of one persistent connection.
    pub per_telegram_connect_back: bool,
    /// Close a connection silent for this long.
    pub idle_timeout_ms: u64,
    /// Deadline of one connect (and, per telegram, of waiting for the acknowledgement).
    pub connect_timeout_ms: u64,
    /// Pause before reconnecting a persistent connect-back line.
    pub reconnect_ms: u64,
    /// Connections accepted at once.
    pub max_connections: usize,
}

impl Default for Connections {
    fn default() -> Self {
        Connections {
            per_telegram_listen: false,
            per_telegram_connect_back: false,
            idle_timeout_ms: 900_000,
            connect_timeout_ms: 3_000,
            reconnect_ms: 500,
            max_connections: 64,
        }
    }
}

impl Outcomes {
    /// The shares of (declined, unknown, in progress, no answer), each in `0..=1`; the rest
    /// succeed.
    pub fn shares(&self) -> [f64; 4] {
        let raw = [
            self.declined,
            self.unknown,
            self.in_progress,
            self.no_answer,
        ];
        match self.ok {
            None => raw,
            Some(ok) => {
                let total = ok + raw.iter().sum::<f64>();
                if total > 0.0 {
                    raw.map(|w| w / total)
                } else {
                    [0.0; 4]
                }
            }
        }
    }
}

impl Scenario {
    /// Parses a scenario from TOML text.
    pub fn from_toml_str(text: &str) -> Result<Scenario, SpecSimError> {
        let s: Scenario =
            toml::from_str(text).map_err(|e| SpecSimError::Scenario(e.to_string()))?;
        s.check()?;
        Ok(s)
    }

    /// Reads and parses a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, SpecSimError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SpecSimError::Scenario(format!("{}: {e}", path.display())))?;
        Scenario::from_toml_str(&text)
            .map_err(|e| SpecSimError::Scenario(format!("{}: {e}", path.display())))
    }

    /// Checks values serde cannot: rates, ranges.
    pub fn check(&self) -> Result<(), SpecSimError> {
        let o = &self.outcomes;
        // Weights (with `ok`) may exceed 1; shares may not.
        let most = if o.ok.is_some() { f64::MAX } else { 1.0 };
        let rates = [
            ("ok", o.ok.unwrap_or(0.0), most),
            ("declined", o.declined, most),
            ("unknown", o.unknown, most),
            ("no_answer", o.no_answer, most),
            ("in_progress", o.in_progress, most),
            ("unknown_executed", o.unknown_executed, 1.0),
        ];
        for (name, r, most) in rates {
            if !(0.0..=most).contains(&r) {
                return Err(SpecSimError::Scenario(format!(
                    "outcomes.{name} = {r}: expected 0 to {most}"
                )));
            }
        }
        let sum = o.declined + o.unknown + o.no_answer + o.in_progress;
        if o.ok.is_none() && sum > 1.0 + 1e-9 {
            return Err(SpecSimError::Scenario(format!(
                "outcomes: declined + unknown + no_answer + in_progress = {sum} exceeds 1"
            )));
        }
        if self.latency_ms.min > self.latency_ms.max {
            return Err(SpecSimError::Scenario(
                "latency_ms: min exceeds max".to_owned(),
            ));
        }
        let n = &self.notices;
        if n.amount_min > n.amount_max {
            return Err(SpecSimError::Scenario(
                "notices: amount_min exceeds amount_max".to_owned(),
            ));
        }
        let zero = [
            ("notices.ack_timeout_ms", n.ack_timeout_ms),
            ("session.ack_timeout_ms", self.session.ack_timeout_ms),
            (
                "connections.connect_timeout_ms",
                self.connections.connect_timeout_ms,
            ),
            ("notices.interval_ms", n.interval_ms.unwrap_or(1)),
        ];
        for (name, v) in zero {
            if v == 0 {
                return Err(SpecSimError::Scenario(format!("{name} must be at least 1")));
            }
        }
        for c in &self.commands {
            if c.every_ms == Some(0) {
                return Err(SpecSimError::Scenario(format!(
                    "commands {:?}: every_ms must be at least 1",
                    c.command
                )));
            }
        }
        Ok(())
    }
}

/// The index of the family's session command named by `name`: its key (`"0800/2700"`) or
/// its effect (`"open"`, `"stop_new"`, `"close"`; the first command with it).
pub(super) fn command_index(family: &Family, name: &str) -> Option<usize> {
    let commands = &family.session().commands;
    let effect = match name {
        "open" => Some(CommandEffect::Open),
        "stop_new" => Some(CommandEffect::StopNew),
        "close" => Some(CommandEffect::Close),
        _ => None,
    };
    commands
        .iter()
        .position(|c| c.answer.key.join("/") == name)
        .or_else(|| effect.and_then(|e| commands.iter().position(|c| c.effect == e)))
}

/// The scenario resolved against the family: the codes to answer with.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    /// The response-code field.
    pub code_field: String,
    /// The success code.
    pub success: String,
    /// Declined codes (never empty).
    pub declined: Vec<String>,
    /// Unknown codes (empty: an unknown is not answered).
    pub unknown: Vec<String>,
    /// In-progress codes (empty: not answered).
    pub in_progress: Vec<String>,
    /// Refusal of a duplicate correlation key.
    pub duplicate: String,
    /// Refusal of a money-moving request while closed.
    pub closed: String,
    /// What the institution stamps into the telegrams it sends.
    pub stamp: Vec<(String, String)>,
    /// Scheduled commands: (command index, first after, then every).
    pub schedule: Vec<(usize, Duration, Option<Duration>)>,
    /// Notice rules to send, by index into the family's notices.
    pub notices: Vec<usize>,
}

impl Plan {
    /// Resolves `scenario` against `family`.
    pub fn new(family: &Family, scenario: &Scenario) -> Result<Plan, SpecSimError> {
        let rc = family.response_code().ok_or_else(|| {
            SpecSimError::Family("no [response_code]: nothing to answer with".into())
        })?;
        let success =
            rc.success.first().cloned().ok_or_else(|| {
                SpecSimError::Family("[response_code] lists no success code".into())
            })?;
        let width = family
            .messages()
            .iter()
            .find_map(|m| m.layout.field(&rc.field).and_then(|f| f.len))
            .unwrap_or(success.len());
        let declined = if !scenario.codes.declined.is_empty() {
            scenario.codes.declined.clone()
        } else if !rc.declined.is_empty() {
            rc.declined.clone()
        } else {
            let listed = |c: &String| {
                rc.success.contains(c) || rc.unknown.contains(c) || rc.in_progress.contains(c)
            };
            let others: Vec<String> = rc
                .meanings
                .iter()
                .map(|(c, _)| c.clone())
                .filter(|c| !listed(c))
                .collect();
            if others.is_empty() {
                // The family names no refusal: all nines, as wide as the field, is one.
                vec!["9".repeat(width.max(1))]
            } else {
                others
            }
        };
        let first_declined = declined.first().cloned().unwrap_or_default();
        let given = scenario.codes.declined.iter();
        let given = given
            .chain(&scenario.codes.duplicate)
            .chain(&scenario.codes.closed);
        for code in given {
            if code.is_empty() || code.len() > width {
                return Err(SpecSimError::Scenario(format!(
                    "codes: {code:?} does not fit `{}` ({width} bytes)",
                    rc.field
                )));
            }
        }
        for path in scenario.stamp.keys() {
            if !family
                .messages()
                .iter()
                .any(|m| m.layout.field(path).is_some())
            {
                return Err(SpecSimError::Scenario(format!(
                    "stamp: `{path}` is not a field of any message"
                )));
            }
        }
        let mut schedule = Vec::new();
        for c in &scenario.commands {
            let i = command_index(family, &c.command).ok_or_else(|| {
                SpecSimError::Scenario(format!(
                    "commands: {:?} is neither the key nor the effect of a [[session.commands]]",
                    c.command
                ))
            })?;
            schedule.push((
                i,
                Duration::from_millis(c.after_ms),
                c.every_ms.map(Duration::from_millis),
            ));
        }
        let notices = if scenario.notices.keys.is_empty() {
            (0..family.notices().len()).collect()
        } else {
            let mut out = Vec::new();
            for k in &scenario.notices.keys {
                let i = family
                    .notices()
                    .iter()
                    .position(|n| &n.key.join("/") == k)
                    .ok_or_else(|| {
                        SpecSimError::Scenario(format!("notices.keys: {k:?} is not a [[notices]]"))
                    })?;
                out.push(i);
            }
            out
        };
        Ok(Plan {
            code_field: rc.field.clone(),
            success,
            declined,
            unknown: rc.unknown.clone(),
            in_progress: rc.in_progress.clone(),
            duplicate: scenario
                .codes
                .duplicate
                .clone()
                .unwrap_or_else(|| first_declined.clone()),
            closed: scenario.codes.closed.clone().unwrap_or(first_declined),
            stamp: super::telegrams::institution_stamp(family, &scenario.stamp),
            schedule,
            notices,
        })
    }
}
