//! `[server.tls]` and `[[server.clients]]`: TLS and client certificates on the internal
//! listeners, the clients (bearer token and/or certificate identity) and their rules, checked
//! here and resolved into [`crate::auth::Access`]. The TLS table is built by the same code as
//! an inbound institution link's ([`crate::tls::LinkTls`]), so certificates are read, checked
//! and reloaded on SIGHUP the same way.

use std::sync::Arc;

use super::diagnostic::KeyPath;
use super::*;
use crate::auth::{Access, Client, ClientId, Rules, Scope, TokenHash};
use crate::domain::MsgKey;
use crate::tls::LinkTls;

/// `[server.tls]`: TLS on the native and HTTP listeners.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTlsConfig {
    /// Our certificate chain (PEM, leaf first).
    pub cert_file: PathBuf,
    /// Its private key (PEM).
    pub key_file: PathBuf,
    /// Whether callers must present a certificate.
    #[serde(default)]
    pub client_auth: ClientAuth,
    /// PEM CA certificate(s) callers' certificates must chain to.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// How long a handshake may take.
    #[serde(default = "super::tls::default_handshake_timeout", with = "durations")]
    pub handshake_timeout: Duration,
}

impl ServerTlsConfig {
    /// The same table as an inbound link's, which [`LinkTls::build`] takes.
    fn as_link(&self) -> LinkTlsConfig {
        LinkTlsConfig {
            ca_file: None,
            pin_sha256: Vec::new(),
            server_name: None,
            cert_file: Some(self.cert_file.clone()),
            key_file: Some(self.key_file.clone()),
            client_auth: self.client_auth,
            client_ca_file: self.client_ca_file.clone(),
            handshake_timeout: self.handshake_timeout,
        }
    }
}

/// One `[[server.clients]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// Its name (logs, metrics, the journal's `client`).
    pub name: String,
    /// Hex SHA-256 of its HTTP bearer token (`printf %s "$TOKEN" | sha256sum`).
    #[serde(default)]
    pub token_sha256: Option<String>,
    /// The subject CN, DNS SAN or URI SAN of its client certificate.
    #[serde(default)]
    pub cert_subject: Option<String>,
    /// Institutions it may use (`"*"`: all). None by default.
    #[serde(default)]
    pub institutions: Vec<String>,
    /// Message types it may send (`"2000/100"`, or `"*"`). All by default.
    #[serde(default = "any")]
    pub messages: Vec<String>,
    /// Whether it may subscribe to notices.
    #[serde(default)]
    pub notices: bool,
    /// Whether it may use `/v1/status`, `/metrics` and look up any transaction.
    #[serde(default)]
    pub admin: bool,
    /// Whether `mask = true` fields are shown to it unmasked.
    #[serde(default)]
    pub unmasked: bool,
}

fn any() -> Vec<String> {
    vec!["*".into()]
}

fn scope<T>(values: &[String], parse: impl Fn(&str) -> Option<T>) -> Option<Scope<T>> {
    if values.iter().any(|v| v == "*") {
        return Some(Scope::Any);
    }
    values
        .iter()
        .map(|v| parse(v))
        .collect::<Option<Vec<T>>>()
        .map(Scope::Only)
}

impl Config {
    /// Makes `[server.tls]` and `[institution.notices]` webhook TLS paths relative to
    /// `base`, the config file's directory.
    pub(super) fn anchor_server_tls_paths(&mut self, base: &Path) {
        for n in self.institutions.iter_mut().map(|i| &mut i.notices) {
            for file in [
                &mut n.webhook_ca_file,
                &mut n.webhook_cert_file,
                &mut n.webhook_key_file,
            ]
            .into_iter()
            .flatten()
            {
                if file.is_relative() {
                    *file = base.join(&*file);
                }
            }
        }
        if let Some(tls) = &mut self.server.tls {
            for file in [&mut tls.cert_file, &mut tls.key_file]
                .into_iter()
                .chain(tls.client_ca_file.as_mut())
            {
                if file.is_relative() {
                    *file = base.join(&*file);
                }
            }
        }
    }
}

/// The rules of `[server.tls]`, `[[server.clients]]` and `admin_listen`, as
/// `(key path, message)`.
pub(super) fn validate_access(config: &Config) -> Vec<(KeyPath, String)> {
    let mut errs = Vec::new();
    let mut err = |path: String, msg: String| errs.push((KeyPath(path), msg));
    let s = &config.server;
    if let Some(admin) = s.admin_listen {
        for (other, key) in [
            (s.native_listen, "native_listen"),
            (s.http_listen, "http_listen"),
        ] {
            if admin == other && admin.port() != 0 {
                err(
                    "server.admin_listen".into(),
                    format!("same address as server.{key} ({admin})"),
                );
            }
        }
    }
    if let Some(tls) = &s.tls {
        match (tls.client_auth, &tls.client_ca_file) {
            (ClientAuth::None, Some(_)) => err(
                "server.tls.client_ca_file".into(),
                "unused with client_auth = \"none\": set client_auth = \"required\" or \"optional\""
                    .into(),
            ),
            (ClientAuth::Optional | ClientAuth::Required, None) => err(
                "server.tls.client_auth".into(),
                "needs client_ca_file (the CA callers' certificates must chain to)".into(),
            ),
            _ => {}
        }
        if tls.handshake_timeout.is_zero() {
            err(
                "server.tls.handshake_timeout".into(),
                "must be positive".into(),
            );
        }
    }
    let institutions: Vec<&str> = config
        .institutions
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    let mut names = std::collections::HashMap::new();
    for (i, c) in s.clients.iter().enumerate() {
        let p = format!("server.clients[{i}]");
        if c.name.trim().is_empty() {
            err(format!("{p}.name"), "must not be empty".into());
        } else if let Some(first) = names.insert(c.name.as_str(), i) {
            err(
                format!("{p}.name"),
                format!(
                    "duplicate client name {:?} (also server.clients[{first}])",
                    c.name
                ),
            );
        }
        if c.token_sha256.is_none() && c.cert_subject.is_none() {
            err(
                p.clone(),
                "a client needs token_sha256 (HTTP bearer token) or cert_subject (client certificate)"
                    .into(),
            );
        }
        if let Some(t) = &c.token_sha256 {
            if let Err(m) = crate::tls::parse_pin(t) {
                err(
                    format!("{p}.token_sha256"),
                    m.replace("fingerprint", "digest (of the token)"),
                );
            }
        }
        if c.cert_subject.is_some()
            && s.tls
                .as_ref()
                .is_none_or(|t| t.client_auth == ClientAuth::None)
        {
            err(
                format!("{p}.cert_subject"),
                "needs [server.tls] with client_auth = \"required\" or \"optional\"".into(),
            );
        }
        for name in &c.institutions {
            if name != "*" && !institutions.contains(&name.as_str()) {
                err(
                    format!("{p}.institutions"),
                    format!("no institution named {name:?}"),
                );
            }
        }
        for m in &c.messages {
            if m != "*" && m.parse::<MsgKey>().is_err() {
                err(
                    format!("{p}.messages"),
                    format!("{m:?} is not a message type (전문구분코드/업무구분코드, e.g. \"2000/100\") or \"*\""),
                );
            }
        }
    }
    errs
}

/// Builds the [`Access`] of a validated config: reads `[server.tls]`'s files.
pub(super) fn resolve_access(config: &Config) -> Result<Access, (KeyPath, String)> {
    let s = &config.server;
    let tls = match &s.tls {
        Some(t) => Some(Arc::new(
            LinkTls::build(&t.as_link(), None)
                .map_err(|p| (KeyPath(format!("server.tls.{}", p.key)), p.message))?,
        )),
        None => None,
    };
    let mut clients = Vec::new();
    for (i, c) in s.clients.iter().enumerate() {
        let p = format!("server.clients[{i}]");
        let token_sha256 = match &c.token_sha256 {
            Some(t) => Some(TokenHash(
                crate::tls::parse_pin(t).map_err(|m| (KeyPath(format!("{p}.token_sha256")), m))?,
            )),
            None => None,
        };
        let invalid = |k: &str| (KeyPath(format!("{p}.{k}")), "invalid".to_owned());
        let rules = Rules {
            institutions: scope(&c.institutions, |v| Some(v.to_owned()))
                .ok_or_else(|| invalid("institutions"))?,
            messages: scope(&c.messages, |v| v.parse::<MsgKey>().ok())
                .ok_or_else(|| invalid("messages"))?,
            notices: c.notices,
            admin: c.admin,
            unmasked: c.unmasked,
        };
        clients.push(Arc::new(Client {
            id: ClientId::new(&c.name),
            token_sha256,
            cert_subject: c.cert_subject.clone(),
            rules,
        }));
    }
    Ok(Access {
        tls,
        clients,
        admin_listen: s.admin_listen,
    })
}

/// What `fep check` and `fep run` print when no `[[server.clients]]` is configured.
pub const OPEN_ACCESS_WARNING: &str = "no [[server.clients]]: the native protocol and the HTTP \
     API accept anyone who can reach them (development only; see docs/security.md)";

/// The webhook TLS of one institution's `[institution.notices]` (`p` its key path): read
/// when set, with its rules (certificate and key together, a webhook to use them).
pub(super) fn resolve_webhook_tls(
    n: &NoticeDelivery,
    p: &str,
) -> Result<Option<Arc<crate::webhook::WebhookTls>>, (KeyPath, String)> {
    let key = |k: &str| KeyPath(format!("{p}.notices.{k}"));
    let pair = match (&n.webhook_cert_file, &n.webhook_key_file) {
        (Some(c), Some(k)) => Some((c.as_path(), k.as_path())),
        (Some(_), None) => {
            return Err((
                key("webhook_cert_file"),
                "needs webhook_key_file too".into(),
            ))
        }
        (None, Some(_)) => {
            return Err((
                key("webhook_key_file"),
                "needs webhook_cert_file too".into(),
            ))
        }
        (None, None) => None,
    };
    if n.webhook_ca_file.is_none() && pair.is_none() {
        return Ok(None);
    }
    if n.webhook.is_none() {
        let k = if n.webhook_ca_file.is_some() {
            "webhook_ca_file"
        } else {
            "webhook_cert_file"
        };
        return Err((key(k), "needs webhook (an https:// URL)".into()));
    }
    crate::webhook::WebhookTls::read(n.webhook_ca_file.as_deref(), pair)
        .map(|t| Some(Arc::new(t)))
        .map_err(|problem| (key(&format!("webhook_{}", problem.key)), problem.message))
}
