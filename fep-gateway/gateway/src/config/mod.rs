//! `fep.toml`: the gateway configuration, its defaults, its validation and its resolution into
//! [`GatewaySettings`](crate::settings::GatewaySettings).
//!
//! [`load_and_resolve`] is the one pipeline that both `fep check` and `fep run` go through, so
//! the two can never disagree: TOML syntax and types (serde, `deny_unknown_fields` everywhere)
//! → cross-field rules → spec family load → profile build → breaker ranges →
//! webhook URL → address resolution → link expansion. Every problem is a [`Diagnostic`] naming
//! the key path (e.g. `institution[1].breaker.failure_rate_threshold`) and the `line:column` of
//! the offending key, found through toml's spanned document tree; spec file errors carry the
//! spec file's own position when the codec reports one.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::{Tz, KST};
use crate::framing::Framing;
use crate::journal::JournalSync;
use crate::settings::SignOnPolicy;

mod diagnostic;
pub mod durations;
mod resolve;
mod validate;

use diagnostic::Locator;
pub use diagnostic::{ConfigError, Diagnostic, KeyPath, Source};
pub use resolve::{load_and_resolve, resolve_str, Resolved};

/// Largest `max_frame` accepted (16 MiB): telegrams are a few KiB at most.
pub const MAX_FRAME_LIMIT: usize = 16 * 1024 * 1024;
/// Default `max_frame` (bytes), lowered to what the length header can express.
pub const DEFAULT_MAX_FRAME: usize = 8192;
/// Largest `count` of connections per link.
pub const MAX_LINK_COUNT: u32 = 64;

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[server]`: listen addresses and data directory.
    #[serde(default)]
    pub server: ServerConfig,
    /// `[[institution]]`: the external peers.
    #[serde(rename = "institution", default)]
    pub institutions: Vec<Institution>,
}

/// `[server]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Native protocol listen address.
    #[serde(default = "default_native_listen")]
    pub native_listen: SocketAddr,
    /// HTTP (JSON API, metrics) listen address.
    #[serde(default = "default_http_listen")]
    pub http_listen: SocketAddr,
    /// Directory for the journal and sequence state.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Days journal rows are kept once settled (telegrams, settled transactions, delivered
    /// notices); unsettled transactions, undelivered notices and number blocks are never pruned.
    #[serde(default = "default_retention_days")]
    pub journal_retention_days: u32,
    /// `full` (default): every journal commit is synced to disk and survives a power loss;
    /// `normal`: survives a crash of the gateway only (see [`JournalSync`]).
    #[serde(default)]
    pub journal_sync: JournalSync,
}

fn default_retention_days() -> u32 {
    90
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            native_listen: default_native_listen(),
            http_listen: default_http_listen(),
            data_dir: default_data_dir(),
            journal_retention_days: default_retention_days(),
            journal_sync: JournalSync::default(),
        }
    }
}

fn default_native_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7700))
}

fn default_http_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7780))
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}

/// One `[[institution]]`: an external peer and its own failure domain.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Institution {
    /// Unique name used by callers (`[A-Za-z0-9_.-]+`).
    pub name: String,
    /// Path of the spec TOML (relative paths are resolved against the config file's directory
    /// by [`load_and_resolve`]).
    pub spec: PathBuf,
    /// How telegrams are delimited on this institution's links.
    pub framing: Framing,
    #[serde(rename = "max_frame", default)]
    max_frame_set: Option<usize>,
    /// Largest telegram accepted or sent, in bytes (after defaulting).
    #[serde(skip)]
    pub max_frame: usize,
    /// TCP connections to the institution.
    pub links: Vec<Link>,
    /// The business time zone (an IANA name such as `"Asia/Seoul"`, the default): 전송일자 and
    /// 전송시간 are stamped in it, and the business date changes at its midnight.
    #[serde(default = "default_time_zone", deserialize_with = "time_zone")]
    pub time_zone: Tz,
    /// `[institution.signon]`: 개시 behaviour.
    #[serde(default)]
    pub signon: Signon,
    /// `[institution.polling]`: idle polling.
    #[serde(default)]
    pub polling: Polling,
    /// How long a request may wait for the institution's answer.
    #[serde(default = "default_request_timeout", with = "durations")]
    pub request_timeout: Duration,
    /// How long an `Idempotency-Key` keeps answering with its transaction (issue 13).
    #[serde(default = "default_idempotency_window", with = "durations")]
    pub idempotency_window: Duration,
    /// `[institution.unknown]`: result-inquiry policy for unknown outcomes.
    #[serde(default)]
    pub unknown: UnknownPolicy,
    /// `[institution.limits]`: admission limits.
    #[serde(default)]
    pub limits: Limits,
    /// `[institution.sequence]`: the day's 전문번호 range as a resource.
    #[serde(default)]
    pub sequence: Sequence,
    /// `[institution.header]`: constant header fields of every request this gateway sends,
    /// by field path (e.g. `"header.company_no" = "COMPANY01"`): the contract's 업체번호,
    /// 은행코드, 식별코드 and fixed values such as 송신회수.
    #[serde(default)]
    pub header: BTreeMap<String, String>,
    /// `[institution.notices]`: delivery of unsolicited notices to internal systems.
    #[serde(default)]
    pub notices: NoticeDelivery,
    /// `[institution.breaker]`: circuit breaker (Resilience4j settings); defaults when absent.
    #[serde(default)]
    pub breaker: Option<crate::breaker::BreakerConfig>,
}

/// `[institution.notices]`: where recorded notices are delivered besides native subscribers,
/// and how fast.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticeDelivery {
    /// `http://…` or `https://…` URL that receives each notice as a JSON POST, retried with
    /// backoff until it answers 2xx (at-least-once).
    #[serde(default)]
    pub webhook: Option<String>,
    /// Notices one consumer may hold unacknowledged at once: parallel webhook POSTs, or
    /// notices sent to one native subscriber ahead of its Acks (1 ..= 10,000).
    #[serde(default = "default_notice_concurrency")]
    pub concurrency: u32,
    /// Most notices per second sent to one consumer group (the webhook, a named group, each
    /// subscriber without a group); 0: no limit.
    #[serde(default)]
    pub rate: u32,
}

/// Largest `[institution.notices] concurrency`: what a consumer may hold is kept in memory.
pub const MAX_NOTICE_CONCURRENCY: u32 = 10_000;

fn default_notice_concurrency() -> u32 {
    16
}

impl Default for NoticeDelivery {
    fn default() -> Self {
        NoticeDelivery {
            webhook: None,
            concurrency: default_notice_concurrency(),
            rate: 0,
        }
    }
}

fn default_idempotency_window() -> Duration {
    Duration::from_secs(24 * 60 * 60)
}

fn default_time_zone() -> Tz {
    KST
}

/// An IANA time zone name, checked against the tz database bundled with the gateway.
fn time_zone<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
    let name = String::deserialize(d)?;
    name.parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "unknown time zone {name:?}: use an IANA name such as \"Asia/Seoul\" or \"UTC\""
        ))
    })
}

fn default_request_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Who opens a link's TCP connection, as written in the config; the resolved form with its
/// addresses is [`settings::Role`](crate::settings::Role).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The gateway connects to the institution.
    Outbound,
    /// The institution connects to the gateway.
    Inbound,
}

/// Which telegrams a link carries; the one type used by the config file and the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Requests out only.
    Send,
    /// Responses and notices in only.
    Recv,
    /// Both (duplex).
    Both,
}

impl Direction {
    /// `send`, `recv` or `both`, as written in the config and shown in status.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Send => "send",
            Direction::Recv => "recv",
            Direction::Both => "both",
        }
    }

    /// Whether requests may be written to this link.
    pub fn can_send(self) -> bool {
        matches!(self, Direction::Send | Direction::Both)
    }

    /// Whether responses and notices arrive on this link.
    pub fn can_recv(self) -> bool {
        matches!(self, Direction::Recv | Direction::Both)
    }
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `[[institution.links]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// Name, unique within the institution.
    pub name: String,
    /// Outbound (we connect) or inbound (we listen).
    pub role: Role,
    /// Send, recv or both.
    #[serde(default = "default_direction")]
    pub direction: Direction,
    /// `host:port` to connect to (outbound only).
    #[serde(default)]
    pub connect: Option<String>,
    /// Address to listen on (inbound only).
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// Peer IPs allowed to connect (inbound only, required there).
    #[serde(default)]
    pub allowed_peers: Vec<IpAddr>,
    /// Number of parallel connections (outbound) or accepted connections (inbound).
    #[serde(default = "default_count")]
    pub count: u32,
}

impl Link {
    /// The names of the connections this entry stands for: its `name`, or `name-1` …
    /// `name-N` for an outbound link with `count = N` > 1. An inbound listener accepts all of its
    /// `count` connections itself, so it stays one entry.
    pub fn connection_names(&self) -> Vec<String> {
        let copies = match self.role {
            Role::Inbound => 1,
            Role::Outbound => self.count.max(1),
        };
        if copies == 1 {
            return vec![self.name.clone()];
        }
        (1..=copies).map(|i| format!("{}-{i}", self.name)).collect()
    }
}

fn default_direction() -> Direction {
    Direction::Both
}

fn default_count() -> u32 {
    1
}

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

/// `[institution.polling]`: keep-alive polls (`HDRREQPOLL…`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Polling {
    /// Whether to send polls on idle links.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Idle time after which a poll is sent.
    #[serde(default = "default_idle_interval", with = "durations")]
    pub idle_interval: Duration,
    /// Answer the institution's polls with `HDRRESPOLL…`.
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
    // Hecto's documented default polling time.
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
    // Hecto: confirm with 7000/100 "5분 이후".
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

impl Config {
    /// Parses `source.text` and checks the cross-field rules; `source.name` is used in error
    /// messages.
    ///
    /// Structural only: no file is opened, so spec files, breaker ranges, webhook URLs and
    /// addresses are not checked. A gateway is only ever started through
    /// [`load_and_resolve`], which does all of it.
    pub fn from_source(source: Source<'_>) -> Result<Config, ConfigError> {
        let locator = Locator::new(source)?;
        let config = Config::parse(&locator, source.text)?;
        let problems = config.validate();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(locator.invalid(problems))
        }
    }

    /// TOML syntax and types, then defaults that depend on other keys. Stops at the first
    /// problem: serde cannot go on past a value it could not read.
    fn parse(locator: &Locator<'_>, text: &str) -> Result<Config, ConfigError> {
        let de = toml::Deserializer::parse(text).map_err(|e| locator.toml_error(&e, ""))?;
        let mut config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            locator.toml_error(e.inner(), if path == "." { "" } else { &path })
        })?;
        for inst in &mut config.institutions {
            let expressible = usize::try_from(inst.framing.max_expressible()).unwrap_or(usize::MAX);
            inst.max_frame = inst
                .max_frame_set
                .unwrap_or_else(|| DEFAULT_MAX_FRAME.min(expressible));
        }
        Ok(config)
    }

    /// Makes relative `spec` paths relative to `base`, the config file's directory.
    fn anchor_spec_paths(&mut self, base: &Path) {
        for inst in &mut self.institutions {
            if inst.spec.is_relative() {
                inst.spec = base.join(&inst.spec);
            }
        }
    }

    /// Looks an institution up by name.
    pub fn institution(&self, name: &str) -> Option<&Institution> {
        self.institutions.iter().find(|i| i.name == name)
    }

    /// Total number of links over all institutions.
    pub fn link_count(&self) -> usize {
        self.institutions.iter().map(|i| i.links.len()).sum()
    }
}

/// What `fep check` prints on success: `ok: N institutions, M links`.
pub fn check_summary(config: &Config) -> String {
    format!(
        "ok: {} institutions, {} links",
        config.institutions.len(),
        config.link_count()
    )
}

#[cfg(test)]
mod tests;
