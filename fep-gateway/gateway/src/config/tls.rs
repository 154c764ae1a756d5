//! `[institution.links.tls]` (or `tls = { … }` inline): TLS on one link, its cross-field
//! rules, and the anchoring of its file paths to the config file's directory. The files are
//! read and the rustls configuration built at resolve time ([`crate::tls::LinkTls::build`]).

use super::diagnostic::KeyPath;
use super::*;

/// Default `handshake_timeout`.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Certificates expiring within this are warned about by `fep check`.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// TLS on one link. Outbound: `ca_file` and/or `pin_sha256` verify the institution,
/// `server_name` is checked (and sent as SNI), `cert_file` + `key_file` are our client
/// certificate. Inbound: `cert_file` + `key_file` are ours; `client_auth` with
/// `client_ca_file` decides which peers' certificates are accepted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkTlsConfig {
    /// Outbound: PEM CA certificate(s) the institution's chain must lead to.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Outbound: hex SHA-256 fingerprint(s) of the institution's leaf certificate (one
    /// string or an array).
    #[serde(default, deserialize_with = "one_or_many")]
    pub pin_sha256: Vec<String>,
    /// Outbound: the name sent as SNI and verified in the certificate; the host of `connect`
    /// by default.
    #[serde(default)]
    pub server_name: Option<String>,
    /// Our certificate chain (PEM, leaf first): required inbound, optional outbound (then
    /// presented as our client certificate).
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// The private key of `cert_file` (PEM: PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Inbound: whether peers must present a certificate.
    #[serde(default)]
    pub client_auth: ClientAuth,
    /// Inbound: PEM CA certificate(s) a peer's certificate must chain to.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// How long a handshake may take.
    #[serde(default = "default_handshake_timeout", with = "durations")]
    pub handshake_timeout: Duration,
}

pub(super) fn default_handshake_timeout() -> Duration {
    DEFAULT_HANDSHAKE_TIMEOUT
}

/// `client_auth` of an inbound TLS link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// No client certificate is asked for.
    #[default]
    None,
    /// A presented certificate must chain to `client_ca_file`; none is accepted too.
    Optional,
    /// A certificate chaining to `client_ca_file` is required.
    Required,
}

/// A string or an array of strings.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Pins {
        One(String),
        Many(Vec<String>),
    }
    match Pins::deserialize(d) {
        Ok(Pins::One(p)) => Ok(vec![p]),
        Ok(Pins::Many(p)) => Ok(p),
        Err(_) => Err(serde::de::Error::custom(
            "expected a hex SHA-256 fingerprint or an array of them",
        )),
    }
}

impl Config {
    /// Makes relative TLS file paths relative to `base`, the config file's directory.
    pub(super) fn anchor_tls_paths(&mut self, base: &Path) {
        for link in self.institutions.iter_mut().flat_map(|i| &mut i.links) {
            if let Some(tls) = &mut link.tls {
                for file in [
                    &mut tls.ca_file,
                    &mut tls.cert_file,
                    &mut tls.key_file,
                    &mut tls.client_ca_file,
                ]
                .into_iter()
                .flatten()
                {
                    if file.is_relative() {
                        *file = base.join(&*file);
                    }
                }
            }
        }
    }
}

/// The cross-field rules of a link's `tls` table (`lp` is the link's key path).
pub(super) fn validate_tls(link: &Link, lp: &str, err: &mut impl FnMut(String, String)) {
    let Some(tls) = &link.tls else { return };
    let key = |k: &str| format!("{lp}.tls.{k}");
    let mut only = |k: &str, set: bool, role: &str| {
        if set {
            err(key(k), format!("only applies to {role} links"));
        }
    };
    match link.role {
        Role::Outbound => {
            only(
                "client_auth",
                tls.client_auth != ClientAuth::None,
                "inbound",
            );
            only("client_ca_file", tls.client_ca_file.is_some(), "inbound");
        }
        Role::Inbound => {
            only("ca_file", tls.ca_file.is_some(), "outbound");
            only("pin_sha256", !tls.pin_sha256.is_empty(), "outbound");
            only("server_name", tls.server_name.is_some(), "outbound");
        }
    }
    match link.role {
        Role::Outbound => {
            if tls.ca_file.is_none() && tls.pin_sha256.is_empty() {
                err(
                    format!("{lp}.tls"),
                    "an outbound TLS link must verify the institution: set ca_file or pin_sha256"
                        .into(),
                );
            }
            for pin in &tls.pin_sha256 {
                if let Err(m) = crate::tls::parse_pin(pin) {
                    err(key("pin_sha256"), m);
                }
            }
            if let Some(name) = &tls.server_name {
                if rustls::pki_types::ServerName::try_from(name.as_str()).is_err() {
                    err(
                        key("server_name"),
                        format!("{name:?} is not a DNS name or IP address"),
                    );
                }
            }
            match (&tls.cert_file, &tls.key_file) {
                (Some(_), None) => err(key("cert_file"), "needs key_file too".into()),
                (None, Some(_)) => err(key("key_file"), "needs cert_file too".into()),
                _ => {}
            }
        }
        Role::Inbound => {
            if tls.cert_file.is_none() || tls.key_file.is_none() {
                err(
                    format!("{lp}.tls"),
                    "an inbound TLS link presents our certificate: set cert_file and key_file"
                        .into(),
                );
            }
            match (tls.client_auth, &tls.client_ca_file) {
                (ClientAuth::None, Some(_)) => err(
                    key("client_ca_file"),
                    "unused with client_auth = \"none\": set client_auth = \"required\" or \
                     \"optional\""
                        .into(),
                ),
                (ClientAuth::Optional | ClientAuth::Required, None) => err(
                    key("client_auth"),
                    "needs client_ca_file (the CA peers' certificates must chain to)".into(),
                ),
                _ => {}
            }
        }
    }
    if tls.handshake_timeout.is_zero() {
        err(key("handshake_timeout"), "must be positive".into());
    }
}

/// `fep check`'s warnings about one built link TLS: certificates expiring within
/// [`EXPIRY_WARNING`] (or expired), as `(key path, message)`.
pub(super) fn expiry_warnings(
    tls: &crate::tls::LinkTls,
    lp: &str,
    now: std::time::SystemTime,
) -> Vec<(KeyPath, String)> {
    let limit = i64::try_from(EXPIRY_WARNING.as_secs()).unwrap_or(i64::MAX);
    tls.expiry()
        .iter()
        .filter_map(|e| {
            let left = e.seconds_left(now);
            let file = e.file.display();
            let message = if left < 0 {
                format!("certificate in {file} has expired")
            } else if left < limit {
                format!(
                    "certificate in {file} expires in {} days ({} hours)",
                    left / 86_400,
                    left / 3_600
                )
            } else {
                return None;
            };
            Some((KeyPath(format!("{lp}.tls.{}", e.key)), message))
        })
        .collect()
}

#[cfg(test)]
mod tests;
