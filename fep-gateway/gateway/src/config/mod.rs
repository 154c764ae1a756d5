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
use crate::journal::{JournalCommit, JournalSync};
use crate::settings::SignOnPolicy;

mod access;
mod diagnostic;
pub mod durations;
mod encryption;
mod resolve;
mod tables;
mod tls;
mod validate;

pub use access::{ClientConfig, ServerTlsConfig, OPEN_ACCESS_WARNING};
use diagnostic::Locator;
pub use diagnostic::{ConfigError, Diagnostic, KeyPath, Source};
pub use encryption::{Encryption, IvConfig, ScopeConfig};
pub use resolve::{load_and_resolve, resolve_str, Resolved};
pub use tables::*;
pub use tls::{ClientAuth, LinkTlsConfig, DEFAULT_HANDSHAKE_TIMEOUT, EXPIRY_WARNING};

/// Largest `max_frame` accepted (16 MiB): telegrams are a few KiB at most.
pub const MAX_FRAME_LIMIT: usize = 16 * 1024 * 1024;
/// Default `max_frame` (bytes), lowered to what the length header can express.
pub const DEFAULT_MAX_FRAME: usize = 8192;
/// Largest `count` of connections per link.
pub const MAX_LINK_COUNT: u32 = 64;
/// Largest `max_connections` of a `per_telegram` link.
pub const MAX_PER_TELEGRAM_CONNECTIONS: u32 = 1024;

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
    /// `sqlite` (default): SQLite's own commit is the durability point; `log`: an append-only
    /// log beside it is, and SQLite is filled behind (see [`JournalCommit`]).
    #[serde(default)]
    pub journal_commit: JournalCommit,
    /// Where `/metrics` and `/v1/status` are served instead of `http_listen` (None: there).
    #[serde(default)]
    pub admin_listen: Option<SocketAddr>,
    /// `[server.tls]`: TLS (and client certificates) on the native and HTTP listeners.
    #[serde(default)]
    pub tls: Option<ServerTlsConfig>,
    /// `[[server.clients]]`: who may call, and what; none = no authentication (development).
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
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
            journal_commit: JournalCommit::default(),
            admin_listen: None,
            tls: None,
            clients: Vec::new(),
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
    /// How telegrams are delimited on this institution's links; the spec's `[framing]` when
    /// absent.
    #[serde(default)]
    pub framing: Option<Framing>,
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
    /// `[institution.response_codes]`: this institution's own outcome codes on top of the
    /// family's tables (a bank's 처리중 codes, say).
    #[serde(default)]
    pub response_codes: ResponseCodes,
    /// `[institution.breaker]`: circuit breaker (Resilience4j settings); defaults when absent.
    #[serde(default)]
    pub breaker: Option<crate::breaker::BreakerConfig>,
    /// `[institution.encryption]`: telegram or field encryption on the wire; none when absent.
    #[serde(default)]
    pub encryption: Option<Encryption>,
}

/// `[institution.response_codes]`: codes that mean success, unknown (resolved by inquiry) or
/// a refusal at this institution, whatever the family's tables say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseCodes {
    /// Codes meaning success.
    #[serde(default)]
    pub success: Vec<String>,
    /// Codes meaning the outcome is unknown or still in progress.
    #[serde(default)]
    pub unknown: Vec<String>,
    /// Codes meaning a refusal.
    #[serde(default)]
    pub declined: Vec<String>,
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
    /// PEM CA certificate(s) an `https://` webhook's certificate must chain to, instead of
    /// the platform's roots.
    #[serde(default)]
    pub webhook_ca_file: Option<PathBuf>,
    /// Our client certificate chain (PEM, leaf first) presented to an `https://` webhook.
    #[serde(default)]
    pub webhook_cert_file: Option<PathBuf>,
    /// The private key of `webhook_cert_file` (PEM).
    #[serde(default)]
    pub webhook_key_file: Option<PathBuf>,
    /// Send `mask = true` fields in clear and the raw telegram (`telegram_hex`) to the webhook.
    #[serde(default)]
    pub webhook_unmasked: bool,
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
            webhook_ca_file: None,
            webhook_cert_file: None,
            webhook_key_file: None,
            webhook_unmasked: false,
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

/// How a link uses TCP connections; the one type used by the config file (the runtime's
/// form with its timing is [`settings::Mode`](crate::settings::Mode)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkMode {
    /// One long-lived connection carries many telegrams (reconnected when it drops).
    #[default]
    Persistent,
    /// One connection per telegram: inbound, the institution connects, sends one telegram,
    /// reads the gateway's answer and the connection closes; outbound, the gateway connects
    /// for each telegram, writes it, reads the answer (`direction = "both"`) and closes.
    PerTelegram,
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
    /// `persistent` (default) or `per_telegram`.
    #[serde(default)]
    pub mode: LinkMode,
    /// `per_telegram` only: connections open at once at most (default 16).
    #[serde(default)]
    pub max_connections: Option<u32>,
    /// `per_telegram` inbound only: how long an accepted connection may take to send its
    /// telegram before it is closed (default 5 s).
    #[serde(default, with = "durations::option")]
    pub read_timeout: Option<Duration>,
    /// `per_telegram` only: how long a connection waits for the answer to its telegram —
    /// the gateway's (inbound) or the institution's (outbound) — before it closes
    /// (default 10 s).
    #[serde(default, with = "durations::option")]
    pub reply_timeout: Option<Duration>,
    /// `[institution.links.tls]`: TLS on this link (plain TCP when absent).
    #[serde(default)]
    pub tls: Option<LinkTlsConfig>,
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

impl Institution {
    /// Whether the file gave `max_frame` (else a default applies: the spec's `[framing] max`
    /// when the framing comes from the spec).
    pub fn max_frame_given(&self) -> bool {
        self.max_frame_set.is_some()
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
            // A framing from the spec is only known at resolve time, which checks it there.
            let expressible = inst.framing.as_ref().map_or(usize::MAX, |f| {
                usize::try_from(f.max_expressible()).unwrap_or(usize::MAX)
            });
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
