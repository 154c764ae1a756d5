//! Who calls the internal interfaces (native protocol, HTTP API) and what they may do.
//!
//! A caller is identified by its TLS client certificate (`[server.tls]` with `client_auth`)
//! or, on HTTP, by a bearer token. With `[[server.clients]]` configured, every call must come
//! from one of them ([`Access::authenticate`]) and is checked against its rules
//! ([`Caller::may_send`], [`Caller::may_subscribe`], [`Caller::may_administer`]): a call
//! outside them is refused before anything is sent, counted in
//! `fep_denied_total{client,reason}` and logged ([`record_denial`]). Without clients the
//! interfaces are open, as in development (`fep check` warns).
//!
//! Tokens are kept as their SHA-256 only and compared in constant time; the identity of a
//! certificate is its subject CN, else its first SAN (DNS name or URI).

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::domain::MsgKey;
use crate::institution::{InstitutionHandle, Reply};
use crate::journal::Journal;
use crate::tls::LinkTls;

/// The name of a configured client (`[[server.clients]] name`), or the identity of a
/// certificate when no clients are configured: what the journal records as `client`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(Arc<str>);

impl ClientId {
    /// A client id from its name.
    pub fn new(name: &str) -> ClientId {
        ClientId(Arc::from(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for ClientId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientId({:?})", &*self.0)
    }
}

/// Everything, or only the listed values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope<T> {
    /// `"*"`.
    Any,
    /// Only these (empty: nothing).
    Only(Vec<T>),
}

impl<T: PartialEq> Scope<T> {
    /// Whether `value` is in the scope.
    pub fn allows(&self, value: &T) -> bool {
        match self {
            Scope::Any => true,
            Scope::Only(list) => list.contains(value),
        }
    }
}

/// What one client may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// Institutions it may send to (and subscribe to).
    pub institutions: Scope<String>,
    /// Message types (`2000/100`) it may send.
    pub messages: Scope<MsgKey>,
    /// Whether it may subscribe to notices.
    pub notices: bool,
    /// Whether it may use `/v1/status`, `/metrics` and look up any transaction.
    pub admin: bool,
    /// Whether `mask = true` fields are shown to it unmasked.
    pub unmasked: bool,
}

/// A SHA-256 digest of a bearer token.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenHash(pub [u8; 32]);

impl fmt::Debug for TokenHash {
    /// Never the digest itself.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(…)")
    }
}

impl TokenHash {
    /// The SHA-256 of `token`.
    pub fn of(token: &str) -> TokenHash {
        let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        TokenHash(out)
    }

    /// Equality that takes the same time wherever the digests differ.
    fn matches(&self, other: &TokenHash) -> bool {
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

/// One `[[server.clients]]`: how it is recognised and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// Its name.
    pub id: ClientId,
    /// The SHA-256 of its bearer token (HTTP), if it has one.
    pub token_sha256: Option<TokenHash>,
    /// The certificate identity (CN, DNS or URI SAN) it presents, if it uses mTLS.
    pub cert_subject: Option<String>,
    /// What it may do.
    pub rules: Rules,
}

/// The security of the internal interfaces: TLS, the clients and their rules, and where the
/// admin endpoints listen. The default is open plain TCP (development).
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// `[server.tls]`: TLS (and client certificates) on the native and HTTP listeners.
    pub tls: Option<Arc<LinkTls>>,
    /// `[[server.clients]]`; empty = no authentication.
    pub clients: Vec<Arc<Client>>,
    /// `[server] admin_listen`: `/metrics` and `/v1/status` only there when set.
    pub admin_listen: Option<SocketAddr>,
}

/// What a TLS client certificate says about its holder.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeerCert {
    /// The subject CN, then the DNS and URI SANs, in certificate order.
    pub names: Vec<String>,
}

impl PeerCert {
    /// The names of the DER certificate `der` (none if it cannot be read).
    pub fn of(der: &[u8]) -> PeerCert {
        PeerCert {
            names: crate::tls::certificate_names(der),
        }
    }

    /// Its identity: the subject CN, else the first SAN.
    pub fn identity(&self) -> Option<ClientId> {
        self.names.first().map(|n| ClientId::new(n))
    }
}

/// An authenticated (or, without clients, anonymous) caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The configured client it is; `None` when no clients are configured.
    pub client: Option<Arc<Client>>,
    /// What the journal records: the client's name, or the certificate identity.
    pub identity: Option<ClientId>,
}

/// Why a call is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// No (valid) credentials while clients are configured.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// The institution is not in the client's rules.
    #[error("client {client} may not use institution {institution:?}")]
    Institution {
        /// The client.
        client: ClientId,
        /// The institution asked for.
        institution: String,
    },
    /// The message type is not in the client's rules.
    #[error("client {client} may not send message type {msg_type} to {institution}")]
    Message {
        /// The client.
        client: ClientId,
        /// The institution.
        institution: String,
        /// The message type (`?` when the telegram's could not be read).
        msg_type: String,
    },
    /// Subscriptions are not allowed to the client (or not to every institution).
    #[error("client {client} may not subscribe to notices of {institution:?}")]
    Notices {
        /// The client.
        client: ClientId,
        /// The institution (`*` for all).
        institution: String,
    },
    /// The admin endpoints are not allowed to the client.
    #[error("client {client} may not use the admin endpoints ({what})")]
    Admin {
        /// The client.
        client: ClientId,
        /// The endpoint.
        what: String,
    },
}

impl Denied {
    /// The `reason` label of `fep_denied_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Denied::Unauthenticated(_) => "unauthenticated",
            Denied::Institution { .. } => "institution",
            Denied::Message { .. } => "message",
            Denied::Notices { .. } => "notices",
            Denied::Admin { .. } => "admin",
        }
    }

    /// The `client` label of `fep_denied_total` (`-` when unauthenticated).
    pub fn client(&self) -> &str {
        match self {
            Denied::Unauthenticated(_) => "-",
            Denied::Institution { client, .. }
            | Denied::Message { client, .. }
            | Denied::Notices { client, .. }
            | Denied::Admin { client, .. } => client.as_str(),
        }
    }
}

/// Counts (`fep_denied_total{client,reason}`) and logs a refused call; `interface` is
/// `native` or `http`.
pub fn record_denial(interface: &'static str, denied: &Denied) {
    tracing::warn!(interface, client = denied.client(), reason = denied.reason(), detail = %denied, "call denied: nothing sent");
    metrics::counter!(
        "fep_denied_total",
        "client" => denied.client().to_owned(),
        "reason" => denied.reason(),
    )
    .increment(1);
}

impl Access {
    /// Whether calls are authenticated (some `[[server.clients]]` configured).
    pub fn enforced(&self) -> bool {
        !self.clients.is_empty()
    }

    /// The caller presenting `cert` (its TLS client certificate) and/or `token` (an HTTP
    /// bearer token). A token, when given, decides; else the certificate.
    pub fn authenticate(
        &self,
        cert: Option<&PeerCert>,
        token: Option<&str>,
    ) -> Result<Caller, Denied> {
        if !self.enforced() {
            return Ok(Caller {
                client: None,
                identity: cert.and_then(PeerCert::identity),
            });
        }
        let found = match (token, cert) {
            (Some(token), _) => {
                let hash = TokenHash::of(token);
                // Every client is compared, so the time does not tell which one came close.
                let mut found = None;
                for c in &self.clients {
                    if let Some(h) = &c.token_sha256 {
                        if h.matches(&hash) && found.is_none() {
                            found = Some(c.clone());
                        }
                    }
                }
                found.ok_or_else(|| Denied::Unauthenticated("unknown bearer token".into()))?
            }
            (None, Some(cert)) => self
                .clients
                .iter()
                .find(|c| {
                    c.cert_subject
                        .as_ref()
                        .is_some_and(|s| cert.names.iter().any(|n| n == s))
                })
                .cloned()
                .ok_or_else(|| {
                    Denied::Unauthenticated(format!(
                        "certificate {:?} is not a configured client",
                        cert.names.first().map_or("", String::as_str)
                    ))
                })?,
            (None, None) => {
                return Err(Denied::Unauthenticated(
                    "no client certificate or bearer token".into(),
                ))
            }
        };
        Ok(Caller {
            identity: Some(found.id.clone()),
            client: Some(found),
        })
    }
}

impl Caller {
    /// A caller of an open gateway (no clients configured) with no certificate.
    pub fn anonymous() -> Caller {
        Caller {
            client: None,
            identity: None,
        }
    }

    /// Whether it may use `institution` at all (send, look up its transactions).
    pub fn may_use(&self, institution: &str) -> Result<(), Denied> {
        let Some(c) = &self.client else { return Ok(()) };
        if c.rules.institutions.allows(&institution.to_owned()) {
            Ok(())
        } else {
            Err(Denied::Institution {
                client: c.id.clone(),
                institution: institution.to_owned(),
            })
        }
    }

    /// Whether it may send a message of type `key` (`None`: unreadable) to `institution`.
    pub fn may_send(&self, institution: &str, key: Option<&MsgKey>) -> Result<(), Denied> {
        self.may_use(institution)?;
        let Some(c) = &self.client else { return Ok(()) };
        let allowed = match key {
            Some(k) => c.rules.messages.allows(k),
            None => c.rules.messages == Scope::Any,
        };
        if allowed {
            Ok(())
        } else {
            Err(Denied::Message {
                client: c.id.clone(),
                institution: institution.to_owned(),
                msg_type: key.map_or_else(|| "?".to_owned(), |k| k.to_string()),
            })
        }
    }

    /// Whether it may subscribe to the notices of `institution` (`*`: every institution,
    /// which needs `institutions = ["*"]`).
    pub fn may_subscribe(&self, institution: &str) -> Result<(), Denied> {
        let Some(c) = &self.client else { return Ok(()) };
        let allowed = c.rules.notices
            && if institution == "*" {
                c.rules.institutions == Scope::Any
            } else {
                c.rules.institutions.allows(&institution.to_owned())
            };
        if allowed {
            Ok(())
        } else {
            Err(Denied::Notices {
                client: c.id.clone(),
                institution: institution.to_owned(),
            })
        }
    }

    /// Whether it may use the admin endpoint `what`.
    pub fn may_administer(&self, what: &str) -> Result<(), Denied> {
        let Some(c) = &self.client else { return Ok(()) };
        if c.rules.admin {
            Ok(())
        } else {
            Err(Denied::Admin {
                client: c.id.clone(),
                what: what.to_owned(),
            })
        }
    }

    /// Whether it may see `mask = true` fields unmasked (an open gateway: no, as before).
    pub fn unmasked(&self) -> bool {
        self.client.as_ref().is_some_and(|c| c.rules.unmasked)
    }
}

/// Sends `telegram` to `handle`'s institution on behalf of `client` (`None`: anonymous),
/// the identity journaled with the transaction's first row ([`Journal::expect_client`]).
pub async fn request_for(
    journal: &Journal,
    handle: &InstitutionHandle,
    client: Option<&ClientId>,
    telegram: impl Into<bytes::Bytes>,
    timeout: Option<std::time::Duration>,
) -> Reply {
    let Some(client) = client else {
        return handle.request(telegram, timeout).await;
    };
    let tx_id = crate::institution::next_tx_id();
    journal.expect_client(tx_id, client);
    let reply = handle.request_as(tx_id, telegram, timeout).await;
    journal.forget_client(tx_id);
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(name: &str, token: Option<&str>, subject: Option<&str>, rules: Rules) -> Arc<Client> {
        Arc::new(Client {
            id: ClientId::new(name),
            token_sha256: token.map(TokenHash::of),
            cert_subject: subject.map(str::to_owned),
            rules,
        })
    }

    fn payroll_rules() -> Rules {
        Rules {
            institutions: Scope::Only(vec!["hecto".into()]),
            messages: Scope::Only(vec!["2000/100".parse().unwrap()]),
            notices: false,
            admin: false,
            unmasked: false,
        }
    }

    #[test]
    fn without_clients_everything_is_allowed_and_the_certificate_names_the_caller() {
        let access = Access::default();
        let cert = PeerCert {
            names: vec!["svc.internal".into()],
        };
        let caller = access.authenticate(Some(&cert), None).unwrap();
        assert_eq!(caller.identity, Some(ClientId::new("svc.internal")));
        assert!(caller.may_send("any", None).is_ok());
        assert!(caller.may_administer("metrics").is_ok());
        assert!(caller.may_subscribe("*").is_ok());
    }

    #[test]
    fn tokens_and_certificates_find_their_client_and_its_rules_apply() {
        let access = Access {
            clients: vec![
                client("payroll", Some("s3cret"), None, payroll_rules()),
                client(
                    "ops",
                    None,
                    Some("ops.bank.internal"),
                    Rules {
                        institutions: Scope::Any,
                        messages: Scope::Any,
                        notices: true,
                        admin: true,
                        unmasked: false,
                    },
                ),
            ],
            ..Access::default()
        };
        let payroll = access.authenticate(None, Some("s3cret")).unwrap();
        assert_eq!(payroll.identity, Some(ClientId::new("payroll")));
        let key: MsgKey = "2000/100".parse().unwrap();
        let other: MsgKey = "2000/200".parse().unwrap();
        assert!(payroll.may_send("hecto", Some(&key)).is_ok());
        assert_eq!(
            payroll.may_send("kibnet", Some(&key)).unwrap_err().reason(),
            "institution"
        );
        assert_eq!(
            payroll
                .may_send("hecto", Some(&other))
                .unwrap_err()
                .reason(),
            "message"
        );
        assert_eq!(
            payroll.may_send("hecto", None).unwrap_err().reason(),
            "message"
        );
        assert_eq!(
            payroll.may_administer("metrics").unwrap_err().reason(),
            "admin"
        );
        assert_eq!(
            payroll.may_subscribe("hecto").unwrap_err().reason(),
            "notices"
        );

        let cert = PeerCert {
            names: vec!["x".into(), "ops.bank.internal".into()],
        };
        let ops = access.authenticate(Some(&cert), None).unwrap();
        assert_eq!(ops.identity, Some(ClientId::new("ops")));
        assert!(ops.may_subscribe("*").is_ok());

        for (cert, token) in [
            (None, Some("wrong")),
            (None, None),
            (Some(&PeerCert::default()), None),
        ] {
            let e = access.authenticate(cert, token).unwrap_err();
            assert_eq!(e.reason(), "unauthenticated", "{e}");
        }
    }

    #[test]
    fn token_hashes_compare_whole() {
        let a = TokenHash::of("a");
        assert!(a.matches(&TokenHash::of("a")));
        assert!(!a.matches(&TokenHash::of("b")));
        assert_eq!(format!("{a:?}"), "TokenHash(…)");
    }
}
