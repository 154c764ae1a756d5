//! Resolved runtime settings of the gateway: what the config file says, with defaults applied,
//! links expanded, spec files loaded and every value checked
//! ([`config::load_and_resolve`](crate::config::load_and_resolve) builds them). The gateway core
//! is built from these, never from raw config, so tests and the demo can construct them
//! directly.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::breaker::ValidBreakerConfig;
use crate::clock::{Tz, KST};
use crate::framing::Framing;
use crate::profile::Profile;

pub use crate::config::Direction;

/// Who opens the TCP connection, with the resolved addresses (the config file's tag without
/// addresses is [`config::Role`](crate::config::Role)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// We connect to the institution.
    Outbound {
        /// Institution address.
        connect: SocketAddr,
    },
    /// The institution connects to us.
    Inbound {
        /// Our listen address.
        listen: SocketAddr,
        /// Peer IPs accepted (empty = any).
        allowed_peers: Vec<IpAddr>,
    },
}

/// How a link uses TCP connections, with its timing (the config file's tag is
/// [`config::LinkMode`](crate::config::LinkMode)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// One long-lived connection carries many telegrams.
    #[default]
    Persistent,
    /// One connection per telegram.
    PerTelegram(PerTelegram),
}

/// The timing and bounds of a `per_telegram` link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerTelegram {
    /// Connections open at once at most; beyond that, inbound connections wait in the
    /// listen backlog and outbound telegrams in the link's queue.
    pub max_connections: usize,
    /// Inbound: an accepted connection that has not sent its telegram by then is closed.
    pub read_timeout: Duration,
    /// How long a connection waits for the answer to its telegram before closing.
    pub reply_timeout: Duration,
}

impl Default for PerTelegram {
    fn default() -> Self {
        PerTelegram {
            max_connections: 16,
            read_timeout: Duration::from_secs(5),
            reply_timeout: Duration::from_secs(10),
        }
    }
}

/// One TCP connection of an institution.
#[derive(Debug, Clone)]
pub struct LinkSettings {
    /// Name shown in status and logs.
    pub name: String,
    /// Who connects.
    pub role: Role,
    /// What it carries.
    pub direction: Direction,
    /// One long-lived connection, or one per telegram.
    pub mode: Mode,
    /// TLS on the link's connections (None: plain TCP).
    pub tls: Option<std::sync::Arc<crate::tls::LinkTls>>,
}

impl LinkSettings {
    /// A link named `duplex` that connects to `addr` and carries requests and responses.
    pub fn outbound_duplex(addr: SocketAddr) -> LinkSettings {
        LinkSettings {
            name: "duplex".into(),
            role: Role::Outbound { connect: addr },
            direction: Direction::Both,
            mode: Mode::Persistent,
            tls: None,
        }
    }

    /// A link named `send` that connects to `addr` once per telegram, writes it and reads its
    /// answer on the same connection (default [`PerTelegram`] timing).
    pub fn per_telegram_outbound(addr: SocketAddr) -> LinkSettings {
        LinkSettings {
            name: "send".into(),
            role: Role::Outbound { connect: addr },
            direction: Direction::Both,
            mode: Mode::PerTelegram(PerTelegram::default()),
            tls: None,
        }
    }

    /// A link named `recv` listening on a loopback port the OS picks (see
    /// `Gateway::listen_addrs`) for connections from 127.0.0.1 that each bring one telegram
    /// and take the gateway's answer (default [`PerTelegram`] timing).
    pub fn per_telegram_inbound_loopback() -> LinkSettings {
        LinkSettings::loopback_recv(Mode::PerTelegram(PerTelegram::default()))
    }

    /// A `recv` link listening on 127.0.0.1, port 0, for connections from 127.0.0.1.
    fn loopback_recv(mode: Mode) -> LinkSettings {
        let loopback = std::net::Ipv4Addr::LOCALHOST;
        LinkSettings {
            name: "recv".into(),
            role: Role::Inbound {
                listen: SocketAddr::from((loopback, 0)),
                allowed_peers: vec![loopback.into()],
            },
            direction: Direction::Recv,
            mode,
            tls: None,
        }
    }

    /// The `per_telegram` timing, if the link is one.
    pub fn per_telegram(&self) -> Option<PerTelegram> {
        match self.mode {
            Mode::PerTelegram(p) => Some(p),
            Mode::Persistent => None,
        }
    }

    /// Split lines on loopback: `send` connects to `addr` and carries requests; `recv` listens
    /// on a port the OS picks (see `Gateway::listen_addrs`) for the institution to connect
    /// back from 127.0.0.1 and carries responses and notices.
    pub fn loopback_split(addr: SocketAddr) -> Vec<LinkSettings> {
        vec![
            LinkSettings {
                name: "send".into(),
                role: Role::Outbound { connect: addr },
                direction: Direction::Send,
                mode: Mode::Persistent,
                tls: None,
            },
            LinkSettings::loopback_recv(Mode::Persistent),
        ]
    }
}

/// Everything about one institution.
#[derive(Debug, Clone)]
pub struct InstitutionSettings {
    /// Unique name.
    pub name: String,
    /// How its telegrams are read and written.
    pub profile: Profile,
    /// TCP framing.
    pub framing: Framing,
    /// Largest frame accepted (refused before allocation).
    pub max_frame: usize,
    /// Links.
    pub links: Vec<LinkSettings>,
    /// Default time to wait for a response.
    pub request_timeout: Duration,
    /// How long an idempotency key answers with its transaction.
    pub idempotency_window: Duration,
    /// Send 업무개시 after connecting and at each date change.
    pub sign_on: bool,
    /// Sign on again when the business date changes (banks end the session at midnight).
    pub sign_on_at_date_change: bool,
    /// How long a sign-on or sign-off answer is awaited, and the backoff between attempts.
    pub sign_on_policy: SignOnPolicy,
    /// The business time zone: 전송일자/전송시간, the business date and its change.
    pub time_zone: Tz,
    /// Answer the institution's heartbeat polls.
    pub answer_peer_polls: bool,
    /// Send a heartbeat after this much idle time on a link (None = never).
    pub poll_interval: Option<Duration>,
    /// First result inquiry this long after an outcome became unknown.
    pub inquiry_delay: Duration,
    /// Between inquiries while the answer is "in progress".
    pub inquiry_interval: Duration,
    /// Inquiries before giving up (the transaction stays unknown, flagged for reconciliation).
    pub inquiry_max_attempts: u32,
    /// Requests in flight (sent, unanswered) at most.
    pub max_inflight: usize,
    /// Requests queued for the institution at most; beyond that `rejected(overload)`.
    pub queue_depth: usize,
    /// Contracted requests per second (token bucket); beyond that `rejected(rate_limit)`.
    pub rate_tps: Option<u32>,
    /// URL receiving recorded notices as JSON POSTs (at-least-once); an `http`/`https` URL
    /// with a host when it comes from a config file.
    pub webhook: Option<String>,
    /// Whom an `https://` webhook trusts and the client certificate it presents
    /// (`webhook_ca_file`, `webhook_cert_file`/`webhook_key_file`); None: the platform's
    /// roots, no client certificate.
    pub webhook_tls: Option<std::sync::Arc<crate::webhook::WebhookTls>>,
    /// `webhook_unmasked`: the webhook gets `mask = true` fields in clear and the raw
    /// telegram; masked fields only otherwise.
    pub webhook_unmasked: bool,
    /// How notices are delivered to each consumer (webhook, native subscribers).
    pub notices: crate::notices::DeliveryPolicy,
    /// Circuit breaker (None = disabled, which only code can ask for: a config file always
    /// gets one, with defaults when `[institution.breaker]` is absent).
    pub breaker: Option<ValidBreakerConfig>,
    /// 전문번호 at the end of the day's range that callers' requests never get: kept for result
    /// inquiries and session telegrams. Below the range's size.
    pub sequence_reserve: u32,
    /// Usage of the range (percent, 1..=100) from which status and the log warn.
    pub sequence_warn_percent: u32,
    /// `[institution.encryption]`: the cipher for what goes on the wire (None = clear). The
    /// engine encrypts after stamping, before journaling, and decrypts before classifying:
    /// see [`crate::crypto`].
    pub encryption: Option<crate::crypto::EncryptionSettings>,
}

impl InstitutionSettings {
    /// Settings with production-like defaults for a Hecto institution.
    pub fn hecto(name: &str, links: Vec<LinkSettings>) -> InstitutionSettings {
        let profile = Profile::hecto(crate::profile::HectoContract::DEMO);
        InstitutionSettings::of(name, profile, Framing::hecto(), links)
    }

    /// An institution of any family (its profile and framing) with the config's defaults.
    pub fn of(
        name: &str,
        profile: Profile,
        framing: Framing,
        links: Vec<LinkSettings>,
    ) -> InstitutionSettings {
        let range_len = *profile.seq_range.end();
        InstitutionSettings {
            name: name.to_owned(),
            profile,
            framing,
            max_frame: 4096,
            links,
            request_timeout: Duration::from_secs(10),
            idempotency_window: Duration::from_secs(24 * 60 * 60),
            sign_on: true,
            sign_on_at_date_change: true,
            sign_on_policy: SignOnPolicy::default(),
            time_zone: KST,
            answer_peer_polls: true,
            poll_interval: Some(Duration::from_secs(300)),
            inquiry_delay: Duration::from_secs(300),
            inquiry_interval: Duration::from_secs(60),
            inquiry_max_attempts: 10,
            max_inflight: 20_000,
            queue_depth: 20_000,
            rate_tps: None,
            webhook: None,
            webhook_tls: None,
            webhook_unmasked: false,
            notices: crate::notices::DeliveryPolicy::default(),
            breaker: Some(ValidBreakerConfig::default()),
            sequence_reserve: crate::config::SequenceReserve::default().numbers(range_len),
            sequence_warn_percent: 80,
            encryption: None,
        }
    }
}

/// Sign-on and sign-off timing of one institution (`[institution.signon]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignOnPolicy {
    /// The first retry after a failed sign-on waits this long (plus jitter).
    pub retry_min: Duration,
    /// Retries back off exponentially up to this.
    pub retry_max: Duration,
    /// A sign-on (or, at shutdown, a sign-off) unanswered this long has failed.
    pub answer_timeout: Duration,
}

impl Default for SignOnPolicy {
    fn default() -> Self {
        SignOnPolicy {
            retry_min: Duration::from_millis(500),
            retry_max: Duration::from_secs(30),
            answer_timeout: Duration::from_secs(10),
        }
    }
}

/// The whole gateway.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Native protocol listen address.
    pub native_listen: SocketAddr,
    /// HTTP API listen address (None = no HTTP API).
    pub http_listen: Option<SocketAddr>,
    /// Where the journal lives.
    pub data_dir: PathBuf,
    /// Days settled journal rows are kept (0 = forever).
    pub retention_days: u32,
    /// How far journal commits are synced.
    pub journal_sync: crate::journal::JournalSync,
    /// Where journal commits become durable (SQLite itself, or the append-only log).
    pub journal_commit: crate::journal::JournalCommit,
    /// Institutions.
    pub institutions: Vec<InstitutionSettings>,
}
