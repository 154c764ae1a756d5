//! At-least-once delivery of recorded notices to an internal HTTP endpoint.
//!
//! One task per institution with a webhook, the one member of the institution's webhook
//! consumer group (`crate::notices`): it is handed every notice the group has not
//! acknowledged — after a crash or a restart too, and however far behind it is — and posts up
//! to `[institution.notices] concurrency` of them at once, each retried with jittered
//! exponential backoff until the endpoint answers 2xx. Only then is the notice acknowledged
//! for the group. With a concurrency above 1 notices may arrive out of order; receivers
//! deduplicate by `notice_id`.
//!
//! `https://` webhooks use rustls with the `ring` provider and trust the platform's root
//! certificates; `SSL_CERT_FILE` / `SSL_CERT_DIR` replace those, e.g. with an internal CA.
//! Failures that a retry cannot cure (a certificate not trusted, a refusal such as 404) are
//! logged as errors and counted in `fep_webhook_failures_total{kind="permanent"}`, and retried
//! at the longest backoff: someone has to fix the endpoint or the trust store, and the notice
//! must still go out once they have.

use std::time::Duration;

use backon::BackoffBuilder;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use rustls::pki_types::CertificateDer;
use serde::Serialize;

use crate::institution::{InstitutionHandle, ShutdownRx};
use crate::journal::StoredNotice;
use crate::notices::{Group, Notices};

/// The shortest and the longest pause between two delivery attempts.
const MIN_DELAY: Duration = Duration::from_millis(200);
const MAX_DELAY: Duration = Duration::from_secs(30);

/// The JSON body POSTed for each notice.
#[derive(Debug, Serialize)]
pub struct WebhookNotice<'a> {
    /// Institution name.
    pub institution: &'a str,
    /// Journal id: stable across retries, the receiver's deduplication key.
    pub notice_id: u64,
    /// Message type, e.g. `"4000/100"`.
    #[serde(rename = "type")]
    pub msg_type: String,
    /// The notice's fields decoded by its layout, `mask = true` fields masked unless the
    /// webhook is `webhook_unmasked`; absent when the layout cannot decode it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<serde_json::Value>,
    /// The raw telegram, hex: only to a `webhook_unmasked` webhook (it holds every field in
    /// clear).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub telegram_hex: Option<String>,
}

/// `[institution.notices]` `webhook_ca_file`, `webhook_cert_file`/`webhook_key_file`: whom
/// an `https://` webhook trusts and the client certificate it presents. Read when the config
/// is resolved (a bad file is a located config error).
pub struct WebhookTls {
    /// Trusted instead of the platform's roots, when set.
    roots: Option<Vec<CertificateDer<'static>>>,
    /// Our client certificate chain and its key.
    identity: Option<(
        Vec<CertificateDer<'static>>,
        rustls::pki_types::PrivateKeyDer<'static>,
    )>,
}

impl std::fmt::Debug for WebhookTls {
    /// Whether each part is set; never key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookTls")
            .field("ca", &self.roots.as_ref().map(Vec::len))
            .field("client_certificate", &self.identity.is_some())
            .finish()
    }
}

impl WebhookTls {
    /// Reads the CA file and our certificate and key (both or neither); the problem names the
    /// key (`ca_file`, `cert_file`, `key_file`) and the file, never its contents.
    pub fn read(
        ca_file: Option<&std::path::Path>,
        cert_and_key: Option<(&std::path::Path, &std::path::Path)>,
    ) -> Result<WebhookTls, crate::tls::TlsProblem> {
        use crate::tls::{read_certs, read_key, Which};
        let mut expiry = Vec::new();
        let roots = match ca_file {
            Some(ca) => Some(read_certs(ca, "ca_file", Which::Ca, &mut expiry)?),
            None => None,
        };
        let identity = match cert_and_key {
            Some((cert, key)) => Some((
                read_certs(cert, "cert_file", Which::Ours, &mut expiry)?,
                read_key(key)?,
            )),
            None => None,
        };
        let tls = WebhookTls { roots, identity };
        // The key must match the certificate: build once now rather than fail per POST.
        tls.client_config().map_err(|e| crate::tls::TlsProblem {
            key: "key_file",
            message: e.to_string(),
        })?;
        Ok(tls)
    }

    /// The rustls configuration of the webhook client.
    fn client_config(&self) -> Result<rustls::ClientConfig, WebhookError> {
        let roots = match &self.roots {
            Some(certs) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in certs {
                    roots
                        .add(cert.clone())
                        .map_err(|e| WebhookError::Client(format!("webhook_ca_file: {e}")))?;
                }
                roots
            }
            None => platform_roots(),
        };
        let builder = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| WebhookError::Client(e.to_string()))?
        .with_root_certificates(roots);
        match &self.identity {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain.clone(), key.clone_key())
                .map_err(|e| {
                    WebhookError::Client(format!(
                        "webhook_key_file cannot be used with webhook_cert_file: {e}"
                    ))
                }),
            None => Ok(builder.with_no_client_auth()),
        }
    }
}

/// Why a webhook cannot be used, or why one delivery attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// Not a URL, or not an `http://` / `https://` one.
    #[error("webhook URL {url:?}: {reason}")]
    Url {
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be built (TLS setup).
    #[error("webhook client: {0}")]
    Client(String),
    /// The TLS handshake failed: typically a certificate that the trust store does not accept.
    #[error("webhook TLS failure: {0}")]
    Tls(String),
    /// No answer: connection refused or reset, timeout.
    #[error("webhook unreachable: {0}")]
    Unreachable(String),
    /// The endpoint answered, but not with 2xx.
    #[error("webhook answered {0}")]
    Status(reqwest::StatusCode),
}

impl WebhookError {
    /// True when retrying soon cannot help: the URL, the TLS trust or the endpoint's
    /// configuration must change first. 5xx, 408 and 429 are the endpoint's passing trouble.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Url { .. } | Self::Client(_) | Self::Tls(_) => true,
            Self::Unreachable(_) => false,
            Self::Status(s) => {
                !(s.is_server_error()
                    || *s == reqwest::StatusCode::REQUEST_TIMEOUT
                    || *s == reqwest::StatusCode::TOO_MANY_REQUESTS)
            }
        }
    }

    /// Sorts a transport error: TLS failures apart from plain unreachability.
    fn from_reqwest(e: &reqwest::Error) -> WebhookError {
        let text = chain(e);
        if e.is_builder() {
            return WebhookError::Client(text);
        }
        if is_tls(e) {
            return WebhookError::Tls(text);
        }
        WebhookError::Unreachable(text)
    }
}

/// Whether a rustls error sits anywhere under `err`. It hides under hyper's and nested io
/// wrappers, and `io::Error::source` skips the error it wraps, so io errors are opened here.
fn is_tls(err: &(dyn std::error::Error + 'static)) -> bool {
    if err.is::<rustls::Error>() {
        return true;
    }
    let wrapped = err
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        .is_some_and(|inner| is_tls(inner));
    wrapped || err.source().is_some_and(is_tls)
}

/// An error and its causes on one line: reqwest's own message alone rarely says why.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Parses a webhook URL, refusing any scheme but `http` and `https`.
pub fn validate_url(url: &str) -> Result<reqwest::Url, WebhookError> {
    let fail = |reason: String| WebhookError::Url {
        url: url.to_owned(),
        reason,
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| fail(e.to_string()))?;
    match parsed.scheme() {
        "http" | "https" => Ok(parsed),
        other => Err(fail(format!(
            "scheme {other:?} is not supported (use http or https)"
        ))),
    }
}

/// The webhook HTTP client: rustls over `ring`, trusting the platform's roots (as overridden
/// by `SSL_CERT_FILE` / `SSL_CERT_DIR`) plus `extra_roots`. A host without any root still
/// gets a client, so `http://` webhooks keep working; `https://` ones then fail as TLS errors.
pub fn client(extra_roots: &[CertificateDer<'static>]) -> Result<reqwest::Client, WebhookError> {
    let mut roots = platform_roots();
    for cert in extra_roots {
        roots
            .add(cert.clone())
            .map_err(|e| WebhookError::Client(format!("extra root certificate: {e}")))?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| WebhookError::Client(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest_client(tls)
}

/// The webhook HTTP client of `[institution.notices]` with its TLS keys, or [`client`]
/// without extra roots when there are none.
pub fn client_with(tls: Option<&WebhookTls>) -> Result<reqwest::Client, WebhookError> {
    match tls {
        Some(t) => reqwest_client(t.client_config()?),
        None => client(&[]),
    }
}

fn reqwest_client(tls: rustls::ClientConfig) -> Result<reqwest::Client, WebhookError> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .tls_backend_preconfigured(tls)
        .build()
        .map_err(|e| WebhookError::Client(chain(&e)))
}

/// The platform's root certificates (as overridden by `SSL_CERT_FILE` / `SSL_CERT_DIR`).
fn platform_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        tracing::warn!(error = %e, "webhook TLS: a platform root certificate store is unreadable");
    }
    roots.add_parsable_certificates(native.certs);
    roots
}

/// One attempt: POSTs `body` as JSON; Ok on 2xx.
pub async fn post<T: Serialize + ?Sized>(
    client: &reqwest::Client,
    url: &reqwest::Url,
    body: &T,
) -> Result<(), WebhookError> {
    match client.post(url.clone()).json(body).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(WebhookError::Status(r.status())),
        Err(e) => Err(WebhookError::from_reqwest(&e)),
    }
}

/// Starts the delivery task of one institution: the single member of its webhook group,
/// with up to `[institution.notices] concurrency` POSTs at once. A URL that is not `http://`
/// or `https://` is logged and counted once, and nothing is sent: the notices stay
/// undelivered in the journal and go out after the configuration is fixed and the gateway
/// restarted.
pub(crate) fn spawn(
    url: String,
    tls: Option<std::sync::Arc<WebhookTls>>,
    unmasked: bool,
    handle: InstitutionHandle,
    notices: Notices,
    mut shutdown: ShutdownRx,
) {
    tokio::spawn(async move {
        let name = handle.name().to_owned();
        let ready = validate_url(&url).and_then(|u| Ok((u, client_with(tls.as_deref())?)));
        let (url, client) = match ready {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(institution = %name, error = %e, "webhook disabled: no notice is delivered");
                count_failure(&name, &e);
                return;
            }
        };
        let mut member = match notices.join(Group::Webhook, &name) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(institution = %name, error = %e, "webhook delivery not started");
                return;
            }
        };
        let webhook = Webhook {
            client,
            url,
            handle: &handle,
            unmasked,
        };
        // The group's window bounds how many are posted at once.
        let mut posting = FuturesUnordered::new();
        loop {
            tokio::select! {
                notice = member.recv() => match notice {
                    Some(n) => posting.push(webhook.deliver(n, shutdown.clone())),
                    None => return,
                },
                Some(done) = posting.next(), if !posting.is_empty() => match done {
                    Some(id) => member.ack(id),
                    None => return,
                },
                _ = shutdown.changed() => return,
            }
        }
    });
}

fn count_failure(institution: &str, e: &WebhookError) {
    let kind = if e.is_permanent() {
        "permanent"
    } else {
        "transient"
    };
    metrics::counter!("fep_webhook_failures_total", "institution" => institution.to_owned(), "kind" => kind)
        .increment(1);
}

/// One institution's delivery task.
struct Webhook<'a> {
    client: reqwest::Client,
    url: reqwest::Url,
    handle: &'a InstitutionHandle,
    /// `webhook_unmasked`: fields in clear and the raw telegram.
    unmasked: bool,
}

impl Webhook<'_> {
    /// Posts until 2xx (then returns the notice's id, to acknowledge) or shutdown (`None`).
    async fn deliver(&self, notice: StoredNotice, mut shutdown: ShutdownRx) -> Option<u64> {
        let (id, telegram) = (notice.id, &notice.telegram[..]);
        let name = self.handle.name();
        let profile = self.handle.profile();
        let decoded = crate::http::message::telegram_json(profile, telegram, self.unmasked);
        let body = WebhookNotice {
            institution: name,
            notice_id: id,
            msg_type: profile
                .msg_key(telegram)
                .map(|k| k.to_string())
                .unwrap_or_default(),
            fields: decoded.and_then(|mut d| d.get_mut("fields").map(serde_json::Value::take)),
            telegram_hex: self.unmasked.then(|| hex::encode(telegram)),
        };
        let mut delays = backon::ExponentialBuilder::default()
            .with_min_delay(MIN_DELAY)
            .with_max_delay(MAX_DELAY)
            .with_jitter()
            .without_max_times()
            .build();
        loop {
            let delay = match post(&self.client, &self.url, &body).await {
                Ok(()) => return Some(id),
                Err(e) => {
                    count_failure(name, &e);
                    if e.is_permanent() {
                        tracing::error!(institution = name, notice_id = id, error = %e, "webhook delivery fails until the endpoint or its certificate is fixed; retrying");
                        MAX_DELAY
                    } else {
                        tracing::warn!(institution = name, notice_id = id, error = %e, "webhook delivery failed; retrying");
                        delays.next().unwrap_or(MAX_DELAY)
                    }
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.changed() => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use rcgen::{CertifiedKey, KeyPair};
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::mpsc;

    use super::*;

    /// A self-signed certificate for 127.0.0.1: its own trust anchor.
    fn certificate() -> CertifiedKey<KeyPair> {
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).expect("certificate")
    }

    /// An HTTPS endpoint presenting `cert`: answers each request 200 and forwards its body.
    async fn https_endpoint(
        cert: &CertifiedKey<KeyPair>,
    ) -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .expect("server certificate");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    // The head, then as many body bytes as Content-Length says.
                    loop {
                        match tls.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        let text = String::from_utf8_lossy(&buf);
                        let Some((head, body)) = text.split_once("\r\n\r\n") else {
                            continue;
                        };
                        let len = head
                            .lines()
                            .filter_map(|l| l.split_once(':'))
                            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                            .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if body.len() >= len {
                            let _ = tx.send(body.to_owned());
                            break;
                        }
                    }
                    let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
                    let _ = tls.write_all(ok).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        (addr, rx)
    }

    #[tokio::test]
    async fn an_https_webhook_is_delivered_to_an_endpoint_with_a_trusted_certificate() {
        let cert = certificate();
        let (addr, mut received) = https_endpoint(&cert).await;
        let client = client(&[cert.cert.der().clone()]).expect("client");
        let url = validate_url(&format!("https://{addr}/notices")).expect("url");
        post(&client, &url, &json!({ "notice_id": 7 }))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let body = received.recv().await.expect("a request");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).ok(),
            Some(json!({ "notice_id": 7 }))
        );
    }

    #[tokio::test]
    async fn an_untrusted_certificate_is_a_permanent_tls_failure() {
        let (addr, _received) = https_endpoint(&certificate()).await;
        let trusts_another = client(&[certificate().cert.der().clone()]).expect("client");
        let url = validate_url(&format!("https://{addr}/notices")).expect("url");
        let e = post(&trusts_another, &url, &json!({}))
            .await
            .expect_err("the endpoint's certificate is not trusted");
        assert!(matches!(e, WebhookError::Tls(_)), "{e:?}");
        assert!(e.is_permanent());
        assert!(e.to_string().contains("certificate"), "says why: {e}");
    }

    #[tokio::test]
    async fn a_closed_port_is_transient_and_answers_are_sorted_by_status() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port");
        let url = validate_url(&format!("http://{closed}/n")).expect("url");
        let e = post(&client(&[]).expect("client"), &url, &json!({}))
            .await
            .expect_err("nothing listens");
        assert!(matches!(e, WebhookError::Unreachable(_)), "{e:?}");
        assert!(!e.is_permanent());
        let permanent = |code: u16| {
            reqwest::StatusCode::from_u16(code)
                .map(|s| WebhookError::Status(s).is_permanent())
                .expect("status")
        };
        for transient in [500, 502, 503, 408, 429] {
            assert!(!permanent(transient), "{transient}");
        }
        for refused in [400, 401, 403, 404, 301] {
            assert!(permanent(refused), "{refused}");
        }
    }

    #[test]
    fn only_http_and_https_urls_are_accepted() {
        assert!(validate_url("http://127.0.0.1:8080/n").is_ok());
        assert!(validate_url("https://hooks.internal/n").is_ok());
        for bad in [
            "ftp://hooks.internal/n",
            "hooks.internal/n",
            "file:///tmp/n",
            "",
        ] {
            let e = validate_url(bad).expect_err(bad);
            assert!(e.is_permanent());
            assert!(e.to_string().contains("webhook URL"), "{e}");
        }
        let e = validate_url("ftp://hooks.internal/n").expect_err("ftp");
        assert!(e.to_string().contains("use http or https"), "{e}");
    }
}
