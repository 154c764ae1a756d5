//! Cross-field rules of a parsed [`Config`]: what serde's per-field types cannot express
//! (unique names, link/role consistency, address collisions, positive limits).
//!
//! Every violation is returned as `(key path, message)`; the caller locates the path in the
//! file, so all problems of a file are reported together.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;

use super::diagnostic::KeyPath;
use super::{
    Config, Direction, Institution, Link, LinkMode, Role, MAX_FRAME_LIMIT, MAX_LINK_COUNT,
    MAX_PER_TELEGRAM_CONNECTIONS,
};
use crate::framing::Framing;

impl Config {
    /// Cross-field rules; returns `(key path, message)` for every violation.
    pub(super) fn validate(&self) -> Vec<(KeyPath, String)> {
        let mut errs = Vec::new();
        let mut err = |path: String, msg: String| errs.push((KeyPath(path), msg));
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
        for (addr, key) in [
            (s.native_listen, "server.native_listen"),
            (s.http_listen, "server.http_listen"),
        ] {
            if addr.port() != 0 {
                listens.insert(addr, key.into());
            }
        }
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
            if let Some(Err(e)) = inst.framing.as_ref().map(Framing::validate) {
                err(format!("{p}.framing"), e.to_string());
            }
            validate_max_frame(inst, &p, &mut err);
            validate_links(inst, &p, &mut listens, &mut err);
            if let Some(enc) = &inst.encryption {
                super::encryption::validate(enc, &p, &mut err);
            }
            if inst.polling.enabled && inst.polling.idle_interval.is_zero() {
                err(
                    format!("{p}.polling.idle_interval"),
                    "must be positive (set enabled = false to turn polling off)".into(),
                );
            }
            let so = &inst.signon;
            for (key, v) in [
                ("retry_min", so.retry_min),
                ("answer_timeout", so.answer_timeout),
            ] {
                if v.is_zero() {
                    err(format!("{p}.signon.{key}"), "must be positive".into());
                }
            }
            if so.retry_max < so.retry_min {
                err(
                    format!("{p}.signon.retry_max"),
                    format!(
                        "must be at least signon.retry_min ({})",
                        humantime_serde::re::humantime::format_duration(so.retry_min)
                    ),
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
            let warn = inst.sequence.warn_at_percent;
            if !(1..=100).contains(&warn) {
                err(
                    format!("{p}.sequence.warn_at_percent"),
                    format!("must be between 1 and 100, got {warn}"),
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
            let c = inst.notices.concurrency;
            if !(1..=super::MAX_NOTICE_CONCURRENCY).contains(&c) {
                err(
                    format!("{p}.notices.concurrency"),
                    format!(
                        "must be between 1 and {}, not {c}",
                        super::MAX_NOTICE_CONCURRENCY
                    ),
                );
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
    if let Some(framing) = &inst.framing {
        max_frame_fits(framing, inst.max_frame, &format!("{p}.max_frame"), err);
    }
}

/// `max` is a usable `max_frame` for `framing` (a fixed size fits, the header can express it).
pub(super) fn max_frame_fits(
    framing: &Framing,
    max: usize,
    key: &str,
    err: &mut impl FnMut(String, String),
) {
    let key = key.to_owned();
    if max == 0 || max > MAX_FRAME_LIMIT {
        err(
            key,
            format!("must be between 1 and {MAX_FRAME_LIMIT}, got {max}"),
        );
        return;
    }
    let expressible = framing.max_expressible();
    if let Framing::Fixed { size, .. } = *framing {
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
        validate_mode(link, &lp, &mut *err);
        super::tls::validate_tls(link, &lp, &mut *err);
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
                    // Port 0 asks the OS for a free port: never a clash.
                    Some(addr) if addr.port() == 0 => {}
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
    // `count = N` runs connections `name-1` … `name-N`, which must not meet another link's
    // name (links with the same name were reported above).
    let mut connections: HashMap<String, usize> = HashMap::new();
    for (j, link) in inst.links.iter().enumerate() {
        for name in link.connection_names() {
            match connections.insert(name.clone(), j) {
                Some(first) if first != j && inst.links[first].name != link.name => {
                    err(
                        format!("{p}.links[{j}].name"),
                        format!(
                            "connection name {name:?} is also used by links[{first}] \
                             (a link with count = N names its connections \"name-1\" … \"name-N\")"
                        ),
                    );
                    break;
                }
                _ => {}
            }
        }
    }
    if !inst.links.iter().any(|l| l.direction.can_send()) {
        err(
            format!("{p}.links"),
            "no link can send requests: one needs direction = \"send\" or \"both\"".into(),
        );
    }
    if !inst.links.iter().any(|l| l.direction.can_recv()) {
        err(
            format!("{p}.links"),
            "no link can receive responses: one needs direction = \"recv\" or \"both\"".into(),
        );
    }
}

/// `mode` and the keys only a `per_telegram` link has.
fn validate_mode(link: &Link, lp: &str, err: &mut impl FnMut(String, String)) {
    let set = [
        ("max_connections", link.max_connections.is_some()),
        ("read_timeout", link.read_timeout.is_some()),
        ("reply_timeout", link.reply_timeout.is_some()),
    ];
    if link.mode == LinkMode::Persistent {
        for (key, _) in set.iter().filter(|(_, set)| *set) {
            err(
                format!("{lp}.{key}"),
                "only applies to links with mode = \"per_telegram\"".into(),
            );
        }
        return;
    }
    match (link.role, link.direction) {
        // The institution opens each connection: the gateway can only answer on it.
        (Role::Inbound, Direction::Send | Direction::Both) => err(
            format!("{lp}.direction"),
            "an inbound per_telegram link only receives (the gateway's answers go back on the \
             connection each telegram came in on): use direction = \"recv\""
                .into(),
        ),
        (Role::Outbound, Direction::Recv) => err(
            format!("{lp}.direction"),
            "an outbound per_telegram link connects to send a telegram: use direction = \
             \"both\" (the answer comes back on that connection) or \"send\""
                .into(),
        ),
        _ => {}
    }
    if link.role == Role::Outbound && link.read_timeout.is_some() {
        err(
            format!("{lp}.read_timeout"),
            "only applies to inbound links (an outbound one waits reply_timeout for the answer)"
                .into(),
        );
    }
    if let Some(n) = link.max_connections {
        if n == 0 || n > MAX_PER_TELEGRAM_CONNECTIONS {
            err(
                format!("{lp}.max_connections"),
                format!("must be between 1 and {MAX_PER_TELEGRAM_CONNECTIONS}, got {n}"),
            );
        }
    }
    for (key, v) in [
        ("read_timeout", link.read_timeout),
        ("reply_timeout", link.reply_timeout),
    ] {
        if v.is_some_and(|d| d.is_zero()) {
            err(format!("{lp}.{key}"), "must be positive".into());
        }
    }
}

pub(super) fn host_port_problem(addr: &str) -> Option<String> {
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
