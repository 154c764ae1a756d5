//! Resolved runtime settings of the gateway: what the config file says, with defaults applied,
//! links expanded and spec files loaded. The gateway core is built from these, never from raw
//! config, so tests and the demo can construct them directly.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::framing::Framing;
use crate::profile::Profile;

/// Which way a link carries telegrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Requests out only.
    Send,
    /// Responses and notices in only.
    Recv,
    /// Both.
    Both,
}

impl Direction {
    /// `send`, `recv` or `both`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Send => "send",
            Direction::Recv => "recv",
            Direction::Both => "both",
        }
    }

    /// Whether requests may be written on this link.
    pub fn can_send(self) -> bool {
        self != Direction::Recv
    }
}

/// Who opens the TCP connection.
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

/// One TCP connection of an institution.
#[derive(Debug, Clone)]
pub struct LinkSettings {
    /// Name shown in status and logs.
    pub name: String,
    /// Who connects.
    pub role: Role,
    /// What it carries.
    pub direction: Direction,
}

impl LinkSettings {
    /// A link named `duplex` that connects to `addr` and carries requests and responses.
    pub fn outbound_duplex(addr: SocketAddr) -> LinkSettings {
        LinkSettings {
            name: "duplex".into(),
            role: Role::Outbound { connect: addr },
            direction: Direction::Both,
        }
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
    /// Send 업무개시 after connecting and at each date change.
    pub sign_on: bool,
    /// Sign on again when the business date changes (banks end the session at midnight).
    pub sign_on_at_date_change: bool,
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
    /// URL receiving recorded notices as JSON POSTs (at-least-once).
    pub webhook: Option<String>,
    /// Circuit breaker (None = disabled).
    pub breaker: Option<crate::breaker::BreakerConfig>,
}

impl InstitutionSettings {
    /// Settings with production-like defaults for a Hecto institution.
    pub fn hecto(name: &str, links: Vec<LinkSettings>) -> InstitutionSettings {
        InstitutionSettings {
            name: name.to_owned(),
            profile: Profile::hecto("FEPDEMO01", "004"),
            framing: Framing::hecto(),
            max_frame: 4096,
            links,
            request_timeout: Duration::from_secs(10),
            sign_on: true,
            sign_on_at_date_change: true,
            answer_peer_polls: true,
            poll_interval: Some(Duration::from_secs(300)),
            inquiry_delay: Duration::from_secs(300),
            inquiry_interval: Duration::from_secs(60),
            inquiry_max_attempts: 10,
            max_inflight: 20_000,
            queue_depth: 20_000,
            rate_tps: None,
            webhook: None,
            breaker: Some(crate::breaker::BreakerConfig::default()),
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
    /// Institutions.
    pub institutions: Vec<InstitutionSettings>,
}

/// Why a valid config still cannot start a gateway (spec file, address resolution).
#[derive(Debug, thiserror::Error)]
#[error("institution {institution}: {reason}")]
pub struct SettingsError {
    institution: String,
    reason: String,
}

impl GatewaySettings {
    /// Resolves a loaded config: loads each institution's spec, resolves addresses and expands
    /// `count` into individual links.
    pub fn from_config(config: &crate::config::Config) -> Result<GatewaySettings, SettingsError> {
        let mut institutions = Vec::new();
        for inst in &config.institutions {
            let fail = |reason: String| SettingsError {
                institution: inst.name.clone(),
                reason,
            };
            if let Some(b) = &inst.breaker {
                b.validate().map_err(|e| fail(format!("breaker: {e}")))?;
            }
            let family = fep_codec::spec::Family::load(&inst.spec)
                .map_err(|e| fail(format!("spec {}: {e}", inst.spec.display())))?;
            let header: Vec<(String, String)> = inst
                .header
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let session = crate::profile::session_keys(&family).map_err(|e| fail(e.to_string()))?;
            let profile =
                Profile::from_family(&family, &header, session).map_err(|e| fail(e.to_string()))?;
            let mut links = Vec::new();
            for l in &inst.links {
                let role = match l.role {
                    crate::config::Role::Outbound => {
                        let target = l
                            .connect
                            .as_deref()
                            .ok_or_else(|| fail(format!("link {}: no connect address", l.name)))?;
                        let connect = std::net::ToSocketAddrs::to_socket_addrs(target)
                            .map_err(|e| {
                                fail(format!("link {}: cannot resolve {target}: {e}", l.name))
                            })?
                            .next()
                            .ok_or_else(|| {
                                fail(format!("link {}: {target} resolves to nothing", l.name))
                            })?;
                        Role::Outbound { connect }
                    }
                    crate::config::Role::Inbound => Role::Inbound {
                        listen: l
                            .listen
                            .ok_or_else(|| fail(format!("link {}: no listen address", l.name)))?,
                        allowed_peers: l.allowed_peers.clone(),
                    },
                };
                let direction = match l.direction {
                    crate::config::Direction::Send => Direction::Send,
                    crate::config::Direction::Recv => Direction::Recv,
                    crate::config::Direction::Both => Direction::Both,
                };
                // An inbound listener accepts all of its `count` connections itself.
                let copies = if matches!(role, Role::Inbound { .. }) {
                    1
                } else {
                    l.count.max(1)
                };
                for i in 0..copies {
                    let name = if copies > 1 {
                        format!("{}-{}", l.name, i + 1)
                    } else {
                        l.name.clone()
                    };
                    links.push(LinkSettings {
                        name,
                        role: role.clone(),
                        direction,
                    });
                }
            }
            institutions.push(InstitutionSettings {
                name: inst.name.clone(),
                profile,
                framing: inst.framing.clone(),
                max_frame: inst.max_frame,
                links,
                request_timeout: inst.request_timeout,
                sign_on: inst.signon.enabled,
                sign_on_at_date_change: inst.signon.on_date_change,
                answer_peer_polls: inst.polling.answer_peer_polls,
                poll_interval: inst.polling.enabled.then_some(inst.polling.idle_interval),
                inquiry_delay: inst.unknown.inquiry_delay,
                inquiry_interval: inst.unknown.inquiry_interval,
                inquiry_max_attempts: inst.unknown.inquiry_max_attempts,
                max_inflight: inst.limits.max_inflight as usize,
                queue_depth: inst.limits.queue_depth as usize,
                rate_tps: (inst.limits.rate_tps > 0).then_some(inst.limits.rate_tps),
                webhook: inst.notices.webhook.clone(),
                breaker: inst
                    .breaker
                    .clone()
                    .or_else(|| Some(crate::breaker::BreakerConfig::default())),
            });
        }
        Ok(GatewaySettings {
            native_listen: config.server.native_listen,
            http_listen: Some(config.server.http_listen),
            data_dir: config.server.data_dir.clone(),
            retention_days: config.server.journal_retention_days,
            journal_sync: config.server.journal_sync,
            institutions,
        })
    }
}
