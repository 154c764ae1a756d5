//! `fep.toml`: the gateway configuration, its defaults and its validation.
//!
//! Parsing is two-layered: serde (with `deny_unknown_fields` everywhere) turns the text into
//! [`Config`], then [`Config::validate`] checks the cross-field rules. Either layer reports
//! [`Diagnostic`]s naming the key path (e.g. `institution[1].links[0].role`) and the
//! `line:column` of the offending value, found through toml's spanned document tree.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use toml::de::{DeArray, DeTable, DeValue};
use toml::Spanned;

use crate::framing::Framing;
use crate::journal::JournalSync;

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
    /// by [`Config::load`]).
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
    /// `[institution.signon]`: 개시 behaviour.
    #[serde(default)]
    pub signon: Signon,
    /// `[institution.polling]`: idle polling.
    #[serde(default)]
    pub polling: Polling,
    /// How long a request may wait for the institution's answer.
    #[serde(default = "default_request_timeout", with = "duration_serde")]
    pub request_timeout: Duration,
    /// `[institution.unknown]`: result-inquiry policy for unknown outcomes.
    #[serde(default)]
    pub unknown: UnknownPolicy,
    /// `[institution.limits]`: admission limits.
    #[serde(default)]
    pub limits: Limits,
    /// `[institution.header]`: constant header fields of every request this gateway sends,
    /// by field path (e.g. `"header.company_no" = "COMPANY01"`): the contract's 업체번호,
    /// 은행코드, 식별코드 and fixed values such as 송신회수.
    #[serde(default)]
    pub header: std::collections::BTreeMap<String, String>,
    /// `[institution.notices]`: delivery of unsolicited notices to internal systems.
    #[serde(default)]
    pub notices: NoticeDelivery,
    /// `[institution.breaker]`: circuit breaker (Resilience4j settings); defaults when absent.
    #[serde(default)]
    pub breaker: Option<crate::breaker::BreakerConfig>,
}

/// `[institution.notices]`: where recorded notices are delivered besides native subscribers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticeDelivery {
    /// `http://…` URL that receives each notice as a JSON POST, retried with backoff until it
    /// answers 2xx (at-least-once).
    #[serde(default)]
    pub webhook: Option<String>,
}

fn default_request_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Who opens a link's TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The gateway connects to the institution.
    Outbound,
    /// The institution connects to the gateway.
    Inbound,
}

/// Which telegrams a link carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
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
    /// Whether requests may be written to this link.
    pub fn sends(self) -> bool {
        matches!(self, Direction::Send | Direction::Both)
    }

    /// Whether responses/notices arrive on this link.
    pub fn receives(self) -> bool {
        matches!(self, Direction::Recv | Direction::Both)
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
}

impl Default for Signon {
    fn default() -> Self {
        Self {
            enabled: true,
            on_connect: true,
            on_date_change: true,
        }
    }
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
    #[serde(default = "default_idle_interval", with = "duration_serde")]
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
    #[serde(default = "default_inquiry_delay", with = "duration_serde")]
    pub inquiry_delay: Duration,
    /// Wait between inquiries while the answer stays "in progress".
    #[serde(default = "default_inquiry_interval", with = "duration_serde")]
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

/// One problem in a config file, located by key path and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// File name as given to the loader.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// Key path such as `institution[1].links[0].role` (empty for syntax errors).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// File name.
        file: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Syntax, type or validation errors (at least one).
    #[error("{}", join_lines(.0))]
    Invalid(Vec<Diagnostic>),
}

impl ConfigError {
    /// The located problems (empty for I/O errors).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ConfigError::Io { .. } => &[],
            ConfigError::Invalid(d) => d,
        }
    }
}

fn join_lines(d: &[Diagnostic]) -> String {
    d.iter()
        .map(Diagnostic::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl Config {
    /// Reads, parses and validates `path`; relative `spec` paths are resolved against the
    /// file's directory.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            file: name.clone(),
            source,
        })?;
        let mut config = Config::from_str_named(&text, &name)?;
        let base = path.parent().unwrap_or(Path::new(""));
        for inst in &mut config.institutions {
            if inst.spec.is_relative() {
                inst.spec = base.join(&inst.spec);
            }
        }
        Ok(config)
    }

    /// Parses and validates `text`; `name` is used in error messages.
    pub fn from_str_named(text: &str, name: &str) -> Result<Config, ConfigError> {
        let locator = Locator::new(text, name)?;
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
        let problems = config.validate();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid(
                problems
                    .into_iter()
                    .map(|(path, message)| locator.at_path(&path, message))
                    .collect(),
            ))
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

    /// Cross-field rules; returns `(key path, message)` for every violation.
    fn validate(&self) -> Vec<(String, String)> {
        let mut errs = Vec::new();
        let mut err = |path: String, msg: String| errs.push((path, msg));
        let s = &self.server;
        // Port 0 asks the OS for a free port each time, so two of them never collide.
        if s.native_listen == s.http_listen && s.native_listen.port() != 0 {
            err(
                "server.http_listen".into(),
                format!("same address as server.native_listen ({})", s.native_listen),
            );
        }
        if self.institutions.is_empty() {
            err(
                "institution".into(),
                "no [[institution]] configured; at least one is required".into(),
            );
        }
        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut listens: HashMap<SocketAddr, String> = HashMap::new();
        listens.insert(s.native_listen, "server.native_listen".into());
        listens.insert(s.http_listen, "server.http_listen".into());
        for (i, inst) in self.institutions.iter().enumerate() {
            let p = format!("institution[{i}]");
            if let Some(m) = name_problem(&inst.name) {
                err(format!("{p}.name"), m);
            } else if let Some(first) = names.insert(&inst.name, i) {
                err(
                    format!("{p}.name"),
                    format!(
                        "duplicate institution name {:?} (also institution[{first}])",
                        inst.name
                    ),
                );
            }
            if inst.spec.as_os_str().is_empty() {
                err(format!("{p}.spec"), "must not be empty".into());
            }
            if let Err(e) = inst.framing.validate() {
                err(format!("{p}.framing"), e.to_string());
            }
            validate_max_frame(inst, &p, &mut err);
            validate_links(inst, &p, &mut listens, &mut err);
            if inst.polling.enabled && inst.polling.idle_interval.is_zero() {
                err(
                    format!("{p}.polling.idle_interval"),
                    "must be positive (set enabled = false to turn polling off)".into(),
                );
            }
            if inst.request_timeout.is_zero() {
                err(format!("{p}.request_timeout"), "must be positive".into());
            }
            if inst.unknown.inquiry_interval.is_zero() {
                err(
                    format!("{p}.unknown.inquiry_interval"),
                    "must be positive".into(),
                );
            }
            if inst.unknown.inquiry_max_attempts == 0 {
                err(
                    format!("{p}.unknown.inquiry_max_attempts"),
                    "must be at least 1".into(),
                );
            }
            let l = &inst.limits;
            for (key, v) in [
                ("max_inflight", l.max_inflight),
                ("queue_depth", l.queue_depth),
                ("rate_tps", l.rate_tps),
            ] {
                if v == 0 {
                    err(format!("{p}.limits.{key}"), "must be positive".into());
                }
            }
        }
        errs
    }
}

fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("must not be empty".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Some(format!(
            "invalid name {name:?}: use letters, digits, '_', '-' or '.'"
        ));
    }
    None
}

fn validate_max_frame(inst: &Institution, p: &str, err: &mut impl FnMut(String, String)) {
    let key = format!("{p}.max_frame");
    let max = inst.max_frame;
    if max == 0 || max > MAX_FRAME_LIMIT {
        err(
            key,
            format!("must be between 1 and {MAX_FRAME_LIMIT}, got {max}"),
        );
        return;
    }
    let expressible = inst.framing.max_expressible();
    if let Framing::Fixed { size, .. } = inst.framing {
        if size > max {
            err(
                key,
                format!("fixed frame size {size} exceeds max_frame {max}"),
            );
        }
    } else if max as u64 > expressible {
        err(
            key,
            format!(
                "{max} exceeds the largest length the framing header can express ({expressible})"
            ),
        );
    }
}

fn validate_links(
    inst: &Institution,
    p: &str,
    listens: &mut HashMap<SocketAddr, String>,
    err: &mut impl FnMut(String, String),
) {
    if inst.links.is_empty() {
        err(format!("{p}.links"), "at least one link is required".into());
        return;
    }
    let mut link_names = BTreeSet::new();
    for (j, link) in inst.links.iter().enumerate() {
        let lp = format!("{p}.links[{j}]");
        if let Some(m) = name_problem(&link.name) {
            err(format!("{lp}.name"), m);
        } else if !link_names.insert(link.name.as_str()) {
            err(
                format!("{lp}.name"),
                format!("duplicate link name {:?} in this institution", link.name),
            );
        }
        if link.count == 0 || link.count > MAX_LINK_COUNT {
            err(
                format!("{lp}.count"),
                format!("must be between 1 and {MAX_LINK_COUNT}, got {}", link.count),
            );
        }
        match link.role {
            Role::Outbound => {
                match &link.connect {
                    None => err(
                        format!("{lp}.connect"),
                        "outbound link needs connect = \"host:port\"".into(),
                    ),
                    Some(addr) => {
                        if let Some(m) = host_port_problem(addr) {
                            err(format!("{lp}.connect"), m);
                        }
                    }
                }
                if link.listen.is_some() {
                    err(
                        format!("{lp}.listen"),
                        "only inbound links listen; outbound links use connect".into(),
                    );
                }
                if !link.allowed_peers.is_empty() {
                    err(
                        format!("{lp}.allowed_peers"),
                        "only applies to inbound links".into(),
                    );
                }
            }
            Role::Inbound => {
                if link.connect.is_some() {
                    err(
                        format!("{lp}.connect"),
                        "only outbound links connect; inbound links use listen".into(),
                    );
                }
                match link.listen {
                    None => err(
                        format!("{lp}.listen"),
                        "inbound link needs listen = \"ip:port\"".into(),
                    ),
                    Some(addr) => {
                        if let Some(other) = listens.insert(addr, format!("{lp}.listen")) {
                            err(
                                format!("{lp}.listen"),
                                format!("address {addr} is already used by {other}"),
                            );
                        }
                    }
                }
                if link.allowed_peers.is_empty() {
                    err(
                        format!("{lp}.allowed_peers"),
                        "inbound link needs a non-empty allowed_peers list".into(),
                    );
                }
            }
        }
    }
    if !inst.links.iter().any(|l| l.direction.sends()) {
        err(
            format!("{p}.links"),
            "no link can send requests: one needs direction = \"send\" or \"both\"".into(),
        );
    }
    if !inst.links.iter().any(|l| l.direction.receives()) {
        err(
            format!("{p}.links"),
            "no link can receive responses: one needs direction = \"recv\" or \"both\"".into(),
        );
    }
}

fn host_port_problem(addr: &str) -> Option<String> {
    let Some((host, port)) = addr.rsplit_once(':') else {
        return Some(format!("{addr:?} is not host:port"));
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Some(format!("{addr:?} has no valid host"));
    }
    match port.parse::<u16>() {
        Ok(p) if p != 0 => None,
        _ => Some(format!("{addr:?} has no valid port (1..=65535)")),
    }
}

/// Maps byte spans and key paths of one document to `line:column` diagnostics.
struct Locator<'a> {
    text: &'a str,
    name: &'a str,
    root: Spanned<DeTable<'a>>,
}

enum Segment<'p> {
    Key(&'p str),
    Index(usize),
}

fn split_path(path: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|s| !s.is_empty()) {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Segment::Key(key));
        }
        while let Some(end) = rest.find(']') {
            if let Ok(n) = rest[1..end].parse() {
                out.push(Segment::Index(n));
            }
            rest = &rest[end + 1..];
        }
    }
    out
}

impl<'a> Locator<'a> {
    fn new(text: &'a str, name: &'a str) -> Result<Self, ConfigError> {
        let root = DeTable::parse(text).map_err(|e| {
            ConfigError::Invalid(vec![Self::diag(text, name, e.span(), "", e.message())])
        })?;
        Ok(Self { text, name, root })
    }

    fn diag(
        text: &str,
        name: &str,
        span: Option<Range<usize>>,
        path: &str,
        msg: &str,
    ) -> Diagnostic {
        let (line, column) = line_col(text, span.map(|s| s.start).unwrap_or(0));
        Diagnostic {
            file: name.to_string(),
            line,
            column,
            path: path.to_string(),
            message: normalize_serde_message(msg),
        }
    }

    /// Span of the deepest existing node along `path` (the value, or the key when the
    /// value is a table, so a table error points at its header line).
    fn span_of(&self, path: &str) -> Option<Range<usize>> {
        let mut table: Option<&DeTable<'a>> = Some(self.root.get_ref());
        let mut array: Option<&DeArray<'a>> = None;
        let mut best: Option<Range<usize>> = None;
        for seg in split_path(path) {
            let (key_span, value) = match seg {
                Segment::Key(k) => match table.and_then(|t| t.get_key_value(k)) {
                    Some((key, v)) => (key.span(), v),
                    None => break,
                },
                Segment::Index(n) => match array.and_then(|a| a.get(n)) {
                    Some(v) => (v.span(), v),
                    None => break,
                },
            };
            let value_ref = value.get_ref();
            best = Some(match value_ref {
                DeValue::Table(_) | DeValue::Array(_) => key_span,
                _ => value.span(),
            });
            table = value_ref.as_table();
            array = value_ref.as_array();
        }
        best
    }

    fn toml_error(&self, e: &toml::de::Error, path: &str) -> ConfigError {
        let mut path = path.to_string();
        let mut span = e.span();
        // Unknown keys inside buffered values (e.g. the tagged `framing` table) carry the
        // span of the whole table; point at the key itself when we can find it.
        if let Some(field) = unknown_field_name(e.message()) {
            if !path.is_empty() && !path.ends_with(&format!(".{field}")) {
                let candidate = format!("{path}.{field}");
                if let Some(s) = self.span_of(&candidate) {
                    span = Some(s);
                    path = candidate;
                }
            }
        }
        let span = span.or_else(|| self.span_of(&path));
        ConfigError::Invalid(vec![Self::diag(
            self.text,
            self.name,
            span,
            &path,
            e.message(),
        )])
    }

    fn at_path(&self, path: &str, message: String) -> Diagnostic {
        let span = self.span_of(path);
        let mut d = Self::diag(self.text, self.name, span, path, "");
        d.message = message;
        d
    }
}

fn unknown_field_name(msg: &str) -> Option<&str> {
    msg.strip_prefix("unknown field `")?.split('`').next()
}

/// 1-based line and column (in characters) of byte offset `at`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[line_start..].chars().count() + 1)
}

/// Rewrites serde's backtick style into `unknown variant "x", expected one of a, b`.
fn normalize_serde_message(msg: &str) -> String {
    let msg = msg.trim_end();
    for prefix in ["unknown variant", "unknown field"] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            let ticked: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
            if let Some((bad, expected)) = ticked.split_first() {
                return if expected.is_empty() {
                    format!("{prefix} \"{bad}\", there are none")
                } else {
                    format!(
                        "{prefix} \"{bad}\", expected one of {}",
                        expected.join(", ")
                    )
                };
            }
        }
    }
    msg.replace('`', "\"")
}

/// Serde adapter for human-friendly durations ("300ms", "5s", "5m", "1h", "1m30s").
pub mod duration_serde {
    use super::*;

    struct DurationVisitor;

    impl serde::de::Visitor<'_> for DurationVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration string such as \"5s\" or \"300ms\"")
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
            parse_duration(v).map_err(E::custom)
        }

        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
            // A bare number is ambiguous (seconds? milliseconds?), so it is refused.
            Err(E::custom(bare_number(v)))
        }

        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
            Err(E::custom(bare_number(v)))
        }
    }

    fn bare_number(v: impl fmt::Display) -> String {
        format!("a bare number ({v}) is ambiguous: write a unit, e.g. \"{v}s\" or \"{v}ms\"")
    }

    /// Deserializes a duration string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(DurationVisitor)
    }
}

/// A malformed duration string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration {input:?}: {reason} (examples: \"300ms\", \"5s\", \"5m\", \"1h\", \"1m30s\")"
)]
pub struct DurationError {
    /// The text given.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Parses `"300ms"`, `"5s"`, `"5m"`, `"1h"`, `"1d"` and concatenations like `"1m30s"`.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let fail = |reason: String| DurationError {
        input: input.to_string(),
        reason,
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(fail("empty".into()));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(fail(format!("expected a number at {rest:?}")));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| fail("number too large".into()))?;
        rest = &rest[digits..];
        let unit_len = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            "d" => Duration::from_secs(n.saturating_mul(86_400)),
            "" => return Err(fail("missing unit (ms, s, m, h or d)".into())),
            other => {
                return Err(fail(format!(
                    "unknown unit {other:?}, expected ms, s, m, h or d"
                )))
            }
        };
        total = total.saturating_add(part);
    }
    Ok(total)
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
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[[institution]]
name = "hecto"
spec = "specs/hecto.toml"
framing = { kind = "ascii", digits = 4 }
links = [ { name = "main", role = "outbound", connect = "127.0.0.1:9100" } ]
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_str_named(text, "fep.toml")
    }

    /// Parses expecting failure; returns the first diagnostic.
    fn fail(text: &str) -> Diagnostic {
        match parse(text) {
            Ok(c) => panic!("expected an error, got {c:?}"),
            Err(e) => e
                .diagnostics()
                .first()
                .cloned()
                .unwrap_or_else(|| panic!("{e}")),
        }
    }

    /// 1-based line of the first line containing `needle`.
    fn line_of(text: &str, needle: &str) -> usize {
        text.lines()
            .position(|l| l.contains(needle))
            .map(|i| i + 1)
            .unwrap_or_else(|| panic!("{needle:?} not in text"))
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.server, ServerConfig::default());
        let h = &c.institutions[0];
        assert_eq!(h.framing, Framing::hecto());
        assert_eq!(h.max_frame, DEFAULT_MAX_FRAME);
        assert_eq!(h.links[0].direction, Direction::Both);
        assert_eq!(h.links[0].count, 1);
        assert_eq!(h.request_timeout, Duration::from_secs(10));
        assert_eq!(h.polling.idle_interval, Duration::from_secs(300));
        assert_eq!(h.unknown, UnknownPolicy::default());
        assert_eq!(h.limits, Limits::default());
        assert!(h.signon.enabled && h.signon.on_connect && h.signon.on_date_change);
        assert_eq!(check_summary(&c), "ok: 1 institutions, 1 links");
    }

    #[test]
    fn default_max_frame_fits_a_three_digit_header() {
        let text = MINIMAL.replace("digits = 4", "digits = 3");
        assert_eq!(parse(&text).unwrap().institutions[0].max_frame, 999);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("300ms").unwrap(), Duration::from_millis(300));
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
        assert!(parse_duration("5")
            .unwrap_err()
            .reason
            .contains("missing unit"));
        assert!(parse_duration("5x")
            .unwrap_err()
            .reason
            .contains("unknown unit"));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("-5s").is_err());
    }

    #[test]
    fn unknown_variant_names_key_and_position() {
        let text = MINIMAL.replace("role = \"outbound\"", "role = \"outbnd\"");
        let d = fail(&text);
        assert_eq!(d.path, "institution[0].links[0].role");
        assert_eq!(d.line, line_of(&text, "outbnd"));
        let col = text
            .lines()
            .nth(d.line - 1)
            .unwrap()
            .find("\"outbnd\"")
            .unwrap()
            + 1;
        assert_eq!(d.column, col);
        assert_eq!(
            d.message,
            "unknown variant \"outbnd\", expected one of outbound, inbound"
        );
        assert!(d.to_string().starts_with(&format!(
            "fep.toml:{}:{col}: institution[0].links[0].role: ",
            d.line
        )));
    }

    #[test]
    fn unknown_field_is_refused_with_position() {
        let text = format!("{MINIMAL}request_timout = \"5s\"\n");
        let d = fail(&text);
        assert!(
            d.message.contains("unknown field \"request_timout\""),
            "{d}"
        );
        assert!(d.path.starts_with("institution[0]"), "{d}");
        assert_eq!(d.line, line_of(&text, "request_timout"));
    }

    #[test]
    fn journal_sync_is_full_unless_set() {
        assert_eq!(
            parse(MINIMAL).unwrap().server.journal_sync,
            JournalSync::Full
        );
        let text = format!("[server]\njournal_sync = \"normal\"\n{MINIMAL}");
        assert_eq!(
            parse(&text).unwrap().server.journal_sync,
            JournalSync::Normal
        );
        let text = format!("[server]\njournal_sync = \"off\"\n{MINIMAL}");
        let d = fail(&text);
        assert_eq!(d.path, "server.journal_sync");
        assert_eq!(d.line, 2);
        assert_eq!(
            d.message,
            "unknown variant \"off\", expected one of full, normal"
        );
    }

    #[test]
    fn unknown_field_in_server_table() {
        let text = format!("[server]\nnative_listen = \"127.0.0.1:1\"\nlisten = \"x\"\n{MINIMAL}");
        let d = fail(&text);
        assert!(d.message.contains("unknown field \"listen\""), "{d}");
        assert_eq!(d.line, 3);
    }

    #[test]
    fn unknown_field_inside_inline_framing_table() {
        let text = MINIMAL.replace("digits = 4", "digits = 4, foo = 1");
        let d = fail(&text);
        assert_eq!(d.path, "institution[0].framing.foo");
        assert_eq!(d.line, line_of(&text, "foo = 1"));
        let col = text.lines().nth(d.line - 1).unwrap().find("1 }").unwrap() + 1;
        assert_eq!(d.column, col);
        assert!(
            d.message
                .starts_with("unknown field \"foo\", expected one of digits"),
            "{d}"
        );
    }

    #[test]
    fn bare_number_duration_is_refused() {
        let text = format!("{MINIMAL}\n[institution.polling]\nidle_interval = 5\n");
        let d = fail(&text);
        assert_eq!(d.path, "institution[0].polling.idle_interval");
        assert_eq!(d.line, line_of(&text, "idle_interval"));
        assert!(d.message.contains("ambiguous"), "{d}");
    }

    #[test]
    fn bad_duration_points_at_value() {
        let text = format!("{MINIMAL}request_timeout = \"5 parsecs\"\n");
        let d = fail(&text);
        assert_eq!(d.path, "institution[0].request_timeout");
        assert_eq!(d.line, line_of(&text, "parsecs"));
        assert!(d.message.contains("invalid duration"), "{d}");
    }

    #[test]
    fn syntax_error_has_position() {
        let text = "[server]\nnative_listen = \n";
        let d = fail(text);
        assert_eq!(d.line, 2);
        assert!(d.path.is_empty());
    }

    #[test]
    fn missing_required_key() {
        let text = MINIMAL.replace("spec = \"specs/hecto.toml\"\n", "");
        let d = fail(&text);
        assert!(d.message.contains("missing field \"spec\""), "{d}");
        assert!(d.path.starts_with("institution[0]"), "{d}");
        assert_eq!(d.line, line_of(&text, "[[institution]]"));
    }

    #[test]
    fn duplicate_institution_name() {
        let second = MINIMAL.replace("9100", "9101");
        let text = format!("{MINIMAL}{second}");
        let d = fail(&text);
        assert_eq!(d.path, "institution[1].name");
        assert!(
            d.message.contains("duplicate institution name \"hecto\""),
            "{d}"
        );
        // The second `name = "hecto"` line.
        let second_line = text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains("name = \"hecto\""))
            .nth(1)
            .unwrap()
            .0
            + 1;
        assert_eq!(d.line, second_line);
    }

    #[test]
    fn outbound_without_connect() {
        let text = MINIMAL.replace(", connect = \"127.0.0.1:9100\"", "");
        let d = fail(&text);
        assert_eq!(d.path, "institution[0].links[0].connect");
        assert!(d.message.contains("needs connect"), "{d}");
        assert_eq!(d.line, line_of(&text, "links = ["));
    }

    #[test]
    fn inbound_rules() {
        let text = r#"
[[institution]]
name = "split"
spec = "s.toml"
framing = { kind = "ascii", digits = 4 }

[[institution.links]]
name = "out"
role = "outbound"
direction = "send"
connect = "10.0.0.1:9000"

[[institution.links]]
name = "in"
role = "inbound"
direction = "recv"
connect = "10.0.0.1:9001"
"#;
        let err = parse(text).unwrap_err();
        let ds = err.diagnostics();
        let connect = ds
            .iter()
            .find(|d| d.path == "institution[0].links[1].connect")
            .unwrap_or_else(|| panic!("{err}"));
        assert_eq!(connect.line, 17);
        assert_eq!(connect.column, 11);
        let listen = ds
            .iter()
            .find(|d| d.path == "institution[0].links[1].listen")
            .unwrap_or_else(|| panic!("{err}"));
        assert!(listen.message.contains("needs listen"));
        // Missing key: points at the link's table header.
        assert_eq!(listen.line, 13);
        assert!(ds
            .iter()
            .any(|d| d.path == "institution[0].links[1].allowed_peers"));
    }

    #[test]
    fn needs_a_recv_link() {
        let text = MINIMAL.replace(
            "role = \"outbound\"",
            "role = \"outbound\", direction = \"send\"",
        );
        let d = fail(&text);
        assert_eq!(d.path, "institution[0].links");
        assert!(d.message.contains("no link can receive"), "{d}");
        assert_eq!(d.line, line_of(&text, "links = ["));
    }

    #[test]
    fn needs_a_send_link() {
        let text = MINIMAL.replace(
            "role = \"outbound\"",
            "role = \"outbound\", direction = \"recv\"",
        );
        let d = fail(&text);
        assert!(d.message.contains("no link can send"), "{d}");
    }

    #[test]
    fn zero_limits_are_rejected_at_their_line() {
        let text = format!("{MINIMAL}\n[institution.limits]\nmax_inflight = 8\nrate_tps = 0\n");
        let d = fail(&text);
        assert_eq!(d.path, "institution[0].limits.rate_tps");
        assert_eq!(d.line, line_of(&text, "rate_tps"));
        assert_eq!(d.column, "rate_tps = ".len() + 1);
    }

    #[test]
    fn negative_limit_is_a_type_error() {
        let text = format!("{MINIMAL}\n[institution.limits]\nqueue_depth = -1\n");
        let d = fail(&text);
        assert_eq!(d.path, "institution[0].limits.queue_depth");
        assert_eq!(d.line, line_of(&text, "queue_depth"));
    }

    #[test]
    fn max_frame_beyond_header_capacity() {
        let text = format!("{MINIMAL}max_frame = 20000\n");
        let d = fail(&text);
        assert_eq!(d.path, "institution[0].max_frame");
        assert!(d.message.contains("9999"), "{d}");
        assert_eq!(d.line, line_of(&text, "max_frame"));
    }

    #[test]
    fn bad_framing_values() {
        let text = MINIMAL.replace("digits = 4", "digits = 12");
        let d = fail(&text);
        assert_eq!(d.path, "institution[0].framing");
        assert!(d.message.contains("digits must be 1..=9"), "{d}");
        let text = MINIMAL.replace("kind = \"ascii\"", "kind = \"asci\"");
        let d = fail(&text);
        assert!(d.message.contains("unknown variant \"asci\""), "{d}");
        assert!(d.path.starts_with("institution[0].framing"), "{d}");
    }

    #[test]
    fn bad_connect_address() {
        let text = MINIMAL.replace("127.0.0.1:9100", "bank.example.com");
        let d = fail(&text);
        assert_eq!(d.path, "institution[0].links[0].connect");
        assert!(d.message.contains("not host:port"), "{d}");
    }

    #[test]
    fn listen_address_collision_with_server() {
        let text = r#"
[server]
native_listen = "0.0.0.0:7700"

[[institution]]
name = "x"
spec = "x.toml"
framing = { kind = "binary", width = 2 }
links = [
  { name = "in", role = "inbound", listen = "0.0.0.0:7700", allowed_peers = ["10.0.0.9"] },
]
"#;
        let d = fail(text);
        assert_eq!(d.path, "institution[0].links[0].listen");
        assert!(d.message.contains("server.native_listen"), "{d}");
        assert_eq!(d.line, 10);
    }

    #[test]
    fn no_institutions() {
        let d = fail("[server]\n");
        assert_eq!(d.path, "institution");
        assert_eq!(d.line, 1);
    }

    #[test]
    fn multibyte_text_columns_count_characters() {
        let text = MINIMAL.replace("name = \"hecto\"", "name = \"헥토\"");
        let d = fail(&text);
        assert_eq!(d.path, "institution[0].name");
        assert_eq!(d.column, 8);
        assert_eq!(line_col("가나\n다x", "가나\n다".len()), (2, 2));
    }

    #[test]
    fn oversized_binary_width_is_an_error_not_a_panic() {
        let text = MINIMAL.replace(
            "kind = \"ascii\", digits = 4",
            "kind = \"binary\", width = 8",
        );
        let d = fail(&text);
        assert_eq!(d.path, "institution[0].framing");
        assert!(d.message.contains("width must be 2 or 4"), "{d}");
    }

    proptest::proptest! {
        #[test]
        fn mutated_configs_never_panic(
            edits in proptest::collection::vec(
                (proptest::arbitrary::any::<proptest::sample::Index>(),
                 proptest::sample::select(vec!["", "\"", "=", "[", "]", "{", "}", ",", "\n", "0",
                     "-1", "99999999999", "x", "both", "inbound", "8", ".", "ü"])),
                1..6),
        ) {
            let mut text = format!("{MINIMAL}\n[institution.limits]\nrate_tps = 5\n");
            for (at, insert) in edits {
                let mut i = at.index(text.len() + 1);
                while !text.is_char_boundary(i) {
                    i -= 1;
                }
                text.insert_str(i, insert);
            }
            if let Err(e) = Config::from_str_named(&text, "fep.toml") {
                for d in e.diagnostics() {
                    proptest::prop_assert!(d.line >= 1 && d.line <= text.lines().count().max(1) + 1);
                    proptest::prop_assert!(d.column >= 1);
                }
                proptest::prop_assert!(!e.diagnostics().is_empty());
            }
        }
    }

    #[test]
    fn load_resolves_spec_relative_to_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fep.toml");
        std::fs::write(&path, MINIMAL).unwrap();
        let c = Config::load(&path).unwrap();
        assert_eq!(c.institutions[0].spec, dir.path().join("specs/hecto.toml"));
        let missing = Config::load(dir.path().join("nope.toml")).unwrap_err();
        assert!(matches!(missing, ConfigError::Io { .. }));
    }
}
