//! From a parsed [`Config`] to [`GatewaySettings`]: the steps that turn text into the typed
//! values a gateway runs with (spec family and profile, checked breaker config, webhook URL,
//! socket addresses, one [`LinkSettings`] per connection).
//!
//! Each step reports its own problems and the steps of one institution do not stop at the
//! first, so a file with a missing spec and a bad breaker shows both. Settings are returned
//! only when no step of any institution found anything.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;

use fep_codec::spec::{Family, Location, SpecError};

use super::diagnostic::{ConfigError, Diagnostic, KeyPath, Locator, Source};
use super::validate::host_port_problem;
use super::{check_summary, Config, Institution, Link, LinkMode, Role as LinkRole};
use crate::framing::Framing;
use crate::profile::{framing_of, Profile};
use crate::settings::{
    GatewaySettings, InstitutionSettings, LinkSettings, Mode, PerTelegram, Role,
};
use crate::tls::LinkTls;

/// A configuration that passed every check, and the settings a gateway runs with.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The file as written, with defaults applied and `spec` paths anchored to its directory.
    pub config: Config,
    /// What the gateway runs with.
    pub settings: GatewaySettings,
    /// TLS, clients and rules of the internal interfaces (`[server.tls]`,
    /// `[[server.clients]]`, `admin_listen`).
    pub access: crate::auth::Access,
    /// What `fep check` warns about without refusing the file (a TLS certificate expiring
    /// within 30 days, or expired; a key file open to others), located like errors.
    pub warnings: Vec<Diagnostic>,
}

impl Resolved {
    /// What `fep check` prints: `ok: N institutions, M links`.
    pub fn summary(&self) -> String {
        check_summary(&self.config)
    }
}

/// Reads `path` and runs the whole pipeline: parse → cross-field rules → spec load → profile
/// → breaker ranges → webhook URL → addresses → links. `fep check` and `fep run` both call
/// this, so whatever one accepts the other starts. Relative `spec` paths are resolved against
/// the file's directory.
pub fn load_and_resolve(path: impl AsRef<Path>) -> Result<Resolved, ConfigError> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        file: name.clone(),
        source,
    })?;
    let source = Source {
        name: &name,
        text: &text,
    };
    resolve_str(source, path.parent().unwrap_or(Path::new("")))
}

/// [`load_and_resolve`] on text already read: `source.name` is shown in diagnostics and
/// `base` is the directory relative `spec` paths are resolved against.
pub fn resolve_str(source: Source<'_>, base: &Path) -> Result<Resolved, ConfigError> {
    let (name, text) = (source.name, source.text);
    let locator = Locator::new(source)?;
    let mut config = Config::parse(&locator, text)?;
    config.anchor_spec_paths(base);
    config.anchor_tls_paths(base);
    config.anchor_server_tls_paths(base);
    let mut found = Problems {
        locator: &locator,
        list: Vec::new(),
        warnings: Vec::new(),
    };
    for (path, message) in config.validate() {
        found.at(path, message);
    }
    let access_problems = super::access::validate_access(&config);
    let checked = access_problems.is_empty();
    for (path, message) in access_problems {
        found.at(path, message);
    }
    let access = if checked {
        match super::access::resolve_access(&config) {
            Ok(a) => {
                if let Some(tls) = &a.tls {
                    found.expiry_warnings(tls, "server");
                }
                Some(a)
            }
            Err((path, message)) => {
                found.at(path, message);
                None
            }
        }
    } else {
        None
    };
    let mut institutions = Vec::new();
    for (i, inst) in config.institutions.iter().enumerate() {
        let p = format!("institution[{i}]");
        if let Ok(settings) = resolve_institution(inst, &p, base, &mut found) {
            institutions.push(settings);
        }
    }
    let warnings = found.warnings;
    let (true, Some(access)) = (found.list.is_empty(), access) else {
        return Err(ConfigError::invalid(name, found.list));
    };
    let server = &config.server;
    let settings = GatewaySettings {
        native_listen: server.native_listen,
        http_listen: Some(server.http_listen),
        data_dir: server.data_dir.clone(),
        retention_days: server.journal_retention_days,
        journal_sync: server.journal_sync,
        journal_commit: server.journal_commit,
        institutions,
    };
    Ok(Resolved {
        config,
        settings,
        access,
        warnings,
    })
}

/// A step failed and said why in [`Problems`] (or the cross-field rules already did).
struct Reported;

/// The problems found so far, located in the config file.
struct Problems<'l, 'a> {
    locator: &'l Locator<'a>,
    list: Vec<Diagnostic>,
    /// What does not stop the file (expiring certificates, open key files), located the
    /// same way.
    warnings: Vec<Diagnostic>,
}

impl Problems<'_, '_> {
    /// Warns about the certificates of `tls` (at `lp.tls.<key>`) expiring within 30 days.
    fn expiry_warnings(&mut self, tls: &LinkTls, lp: &str) {
        let now = std::time::SystemTime::now();
        for (path, message) in super::tls::expiry_warnings(tls, lp, now) {
            let warning = self.locator.at_path(&path, message);
            self.warnings.push(warning);
        }
    }

    fn at(&mut self, path: KeyPath, message: String) -> Reported {
        self.list.push(self.locator.at_path(&path, message));
        Reported
    }

    /// A spec file problem: at the spec file's own position when the codec knows it, else at
    /// the config's `spec` key.
    fn spec(&mut self, key: String, spec: &Path, e: SpecError) -> Reported {
        let (location, message) = match e {
            SpecError::Io { path, source } => {
                let message = format!("cannot read spec file {}: {source}", path.display());
                return self.at(KeyPath(key), message);
            }
            SpecError::Syntax { location, message } => (location, message),
            SpecError::Invalid {
                location,
                context,
                message,
            } => (location, format!("{context}: {message}")),
        };
        match location {
            Location {
                file: Some(file),
                line: Some(line),
                column,
            } => {
                self.list.push(Diagnostic {
                    file: file.display().to_string(),
                    line,
                    column: column.unwrap_or(1),
                    path: key,
                    message: format!("in the spec file: {message}"),
                });
                Reported
            }
            _ => self.at(
                KeyPath(key),
                format!("spec file {}: {message}", spec.display()),
            ),
        }
    }
}

fn resolve_institution(
    inst: &Institution,
    p: &str,
    base: &Path,
    found: &mut Problems<'_, '_>,
) -> Result<InstitutionSettings, Reported> {
    // Every step runs before any `?`, so independent problems are all reported.
    let profile = build_profile(inst, p, found);
    let breaker = inst
        .breaker
        .clone()
        .unwrap_or_default()
        .validated()
        .map_err(|problems| {
            for e in problems {
                found.at(KeyPath(format!("{p}.breaker.{}", e.field())), e.to_string());
            }
            Reported
        });
    let webhook = match &inst.notices.webhook {
        None => Ok(None),
        Some(url) => match webhook_problem(url) {
            None => Ok(Some(url.clone())),
            Some(m) => Err(found.at(KeyPath(format!("{p}.notices.webhook")), m)),
        },
    };
    let webhook_tls = super::access::resolve_webhook_tls(&inst.notices, p)
        .map_err(|(path, message)| found.at(path, message));
    let links = resolve_links(inst, p, found);
    let sequence_reserve = match &profile {
        Ok((profile, ..)) => sequence_reserve(inst, profile, p, found),
        Err(_) => Err(Reported),
    };
    let encryption = match (&inst.encryption, &profile) {
        (None, _) => Ok(None),
        (Some(enc), Ok((profile, ..))) => found.encryption(enc, profile, base, p),
        (Some(_), Err(_)) => Err(Reported),
    };
    let (profile, framing, max_frame) = profile?;
    Ok(InstitutionSettings {
        name: inst.name.clone(),
        profile,
        framing,
        max_frame,
        links: links?,
        request_timeout: inst.request_timeout,
        idempotency_window: inst.idempotency_window,
        sign_on: inst.signon.enabled,
        sign_on_at_date_change: inst.signon.on_date_change,
        sign_on_policy: inst.signon.policy(),
        time_zone: inst.time_zone,
        answer_peer_polls: inst.polling.answer_peer_polls,
        poll_interval: inst.polling.enabled.then_some(inst.polling.idle_interval),
        inquiry_delay: inst.unknown.inquiry_delay,
        inquiry_interval: inst.unknown.inquiry_interval,
        inquiry_max_attempts: inst.unknown.inquiry_max_attempts,
        max_inflight: inst.limits.max_inflight as usize,
        queue_depth: inst.limits.queue_depth as usize,
        rate_tps: (inst.limits.rate_tps > 0).then_some(inst.limits.rate_tps),
        webhook: webhook?,
        webhook_tls: webhook_tls?,
        webhook_unmasked: inst.notices.webhook_unmasked,
        notices: crate::notices::DeliveryPolicy {
            concurrency: inst.notices.concurrency as usize,
            rate: std::num::NonZeroU32::new(inst.notices.rate),
        },
        breaker: Some(breaker?),
        sequence_reserve: sequence_reserve?,
        sequence_warn_percent: inst.sequence.warn_at_percent,
        encryption: encryption?,
    })
}

/// The numbers `[institution.sequence] reserve` keeps out of the spec's range: fewer than the
/// range, so that requests have at least one.
fn sequence_reserve(
    inst: &Institution,
    profile: &Profile,
    p: &str,
    found: &mut Problems<'_, '_>,
) -> Result<u32, Reported> {
    let (min, max) = (*profile.seq_range.start(), *profile.seq_range.end());
    let len = max.saturating_sub(min).saturating_add(1);
    let reserve = inst.sequence.reserve.numbers(len);
    if reserve >= len {
        return Err(found.at(
            KeyPath(format!("{p}.sequence.reserve")),
            format!(
                "keeps {reserve} numbers out of the spec's range {min}..={max} ({len} numbers): \
                 requests would have none"
            ),
        ));
    }
    Ok(reserve)
}

/// Loads the spec family and builds the profile, with the `[institution.header]` values and
/// response-code overrides; and the framing (fep.toml's, else the spec's) with its max frame.
fn build_profile(
    inst: &Institution,
    p: &str,
    found: &mut Problems<'_, '_>,
) -> Result<(Profile, Framing, usize), Reported> {
    let key = format!("{p}.spec");
    if inst.spec.as_os_str().is_empty() {
        // The cross-field rules said "must not be empty"; opening "" would only repeat it.
        return Err(Reported);
    }
    let family = Family::load(&inst.spec).map_err(|e| found.spec(key.clone(), &inst.spec, e))?;
    let header: Vec<(String, String)> = inst
        .header
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let framing = match &inst.framing {
        Some(f) => Ok((f.clone(), inst.max_frame)),
        // The family's own framing, unless fep.toml overrides it.
        None => match framing_of(&family) {
            Ok((f, spec_max)) => {
                let expressible = usize::try_from(f.max_expressible()).unwrap_or(usize::MAX);
                let wanted = match spec_max {
                    Some(m) if !inst.max_frame_given() => m,
                    _ => inst.max_frame,
                };
                let max = wanted.min(expressible);
                let mut bad = None;
                super::validate::max_frame_fits(&f, max, "", &mut |_, m| bad = Some(m));
                match bad {
                    None => Ok((f, max)),
                    Some(m) => Err(found.at(KeyPath(format!("{p}.max_frame")), m)),
                }
            }
            Err(e) => Err(found.at(KeyPath(format!("{p}.framing")), e.to_string())),
        },
    };
    let mut profile =
        Profile::from_family(&family, &header).map_err(|e| match e.header_field() {
            Some(field) => found.at(KeyPath(format!("{p}.header.\"{field}\"")), e.to_string()),
            None => found.at(KeyPath(key), e.to_string()),
        })?;
    let codes = &inst.response_codes;
    let lists = [
        ("success", &codes.success),
        ("unknown", &codes.unknown),
        ("declined", &codes.declined),
    ];
    for (i, (name, list)) in lists.iter().enumerate() {
        for (other, olist) in &lists[i + 1..] {
            if let Some(c) = list.iter().find(|c| olist.contains(c)) {
                return Err(found.at(
                    KeyPath(format!("{p}.response_codes.{other}")),
                    format!("code {c:?} is also listed in `{name}`: one outcome per code"),
                ));
            }
        }
    }
    profile.override_codes(&codes.success, &codes.unknown, &codes.declined);
    let (framing, max_frame) = framing?;
    Ok((profile, framing, max_frame))
}

/// Why `url` cannot receive notices: it must parse, be `http` or `https`, and name a host.
fn webhook_problem(url: &str) -> Option<String> {
    let parsed = match reqwest::Url::parse(url) {
        Ok(u) => u,
        Err(e) => return Some(format!("{url:?} is not a URL: {e}")),
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return Some(format!(
            "{url:?}: the scheme must be http or https, not {:?}",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Some(format!("{url:?} has no host"));
    }
    None
}

/// One [`LinkSettings`] per connection, with addresses resolved. A link whose address the
/// cross-field rules already refused is skipped without a second message.
fn resolve_links(
    inst: &Institution,
    p: &str,
    found: &mut Problems<'_, '_>,
) -> Result<Vec<LinkSettings>, Reported> {
    let mut links = Vec::new();
    let mut failed = false;
    for (j, link) in inst.links.iter().enumerate() {
        let role = match link.role {
            LinkRole::Outbound => {
                let target = link
                    .connect
                    .as_deref()
                    .filter(|t| host_port_problem(t).is_none());
                match target.map(resolve_address) {
                    Some(Ok(connect)) => Role::Outbound { connect },
                    Some(Err(m)) => {
                        found.at(KeyPath(format!("{p}.links[{j}].connect")), m);
                        failed = true;
                        continue;
                    }
                    None => {
                        failed = true;
                        continue;
                    }
                }
            }
            LinkRole::Inbound => match link.listen {
                Some(listen) => Role::Inbound {
                    listen,
                    allowed_peers: link.allowed_peers.clone(),
                },
                None => {
                    failed = true;
                    continue;
                }
            },
        };
        let mode = link_mode(link);
        let tls = match link_tls(link, &format!("{p}.links[{j}]"), found) {
            Ok(tls) => tls,
            Err(Reported) => {
                failed = true;
                continue;
            }
        };
        for name in link.connection_names() {
            links.push(LinkSettings {
                name,
                role: role.clone(),
                direction: link.direction,
                mode,
                tls: tls.clone(),
            });
        }
    }
    if failed {
        Err(Reported)
    } else {
        Ok(links)
    }
}

/// The link's TLS with its files read (None: plain TCP); a problem is located at its key, a
/// certificate expiring within 30 days is a warning there.
fn link_tls(
    link: &Link,
    lp: &str,
    found: &mut Problems<'_, '_>,
) -> Result<Option<Arc<LinkTls>>, Reported> {
    let Some(cfg) = &link.tls else {
        return Ok(None);
    };
    let connect = match link.role {
        LinkRole::Outbound => Some(link.connect.as_deref().unwrap_or_default()),
        LinkRole::Inbound => None,
    };
    let tls = LinkTls::build(cfg, connect)
        .map_err(|e| found.at(KeyPath(format!("{lp}.tls.{}", e.key)), e.message))?;
    found.expiry_warnings(&tls, lp);
    Ok(Some(Arc::new(tls)))
}

/// The link's mode with its timing: the keys set, defaults for the others.
fn link_mode(link: &Link) -> Mode {
    match link.mode {
        LinkMode::Persistent => Mode::Persistent,
        LinkMode::PerTelegram => {
            let d = PerTelegram::default();
            Mode::PerTelegram(PerTelegram {
                max_connections: link
                    .max_connections
                    .map_or(d.max_connections, |n| n as usize),
                read_timeout: link.read_timeout.unwrap_or(d.read_timeout),
                reply_timeout: link.reply_timeout.unwrap_or(d.reply_timeout),
            })
        }
    }
}

/// `host:port` to the first address it resolves to (a host name goes through the resolver,
/// as it would when the gateway starts).
fn resolve_address(target: &str) -> Result<SocketAddr, String> {
    target
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {target:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("{target:?} resolves to no address"))
}

mod encryption;

#[cfg(test)]
mod tests;
