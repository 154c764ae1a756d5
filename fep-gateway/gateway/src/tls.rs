//! TLS on institution links (rustls with the `ring` provider, through tokio-rustls).
//!
//! A [`LinkTls`] is built from a link's `[institution.links.tls]` table when the config is
//! resolved: every file is read and parsed then, so a bad PEM is a located config error and
//! the gateway never starts with a key it cannot use. At run time the link's task hands each
//! TCP connection to [`LinkTls::handshake`] (within `handshake_timeout`) and runs its framing
//! over the resulting [`LinkStream`] exactly as over plain TCP.
//!
//! Outbound, the institution's certificate is verified against `ca_file` (chain, validity,
//! the server name) and/or matched against `pin_sha256` (the SHA-256 of its leaf
//! certificate; with a pin only, the chain and the name are not checked, the validity period
//! is). Inbound, ours is presented and, with `client_auth`, the peer's must chain to
//! `client_ca_file`. Key material is never logged or shown: errors name files, not contents.

use std::fmt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::config::{ClientAuth, LinkTlsConfig};

/// A link's TLS, ready to secure its connections. [`LinkTls::reload`] reads its files again
/// (certificate rotation): connections opened after it use the new certificates, those open
/// keep theirs.
pub struct LinkTls {
    /// The table it was built from, with paths anchored.
    source: LinkTlsConfig,
    /// The outbound link's `host:port`; `None` inbound.
    connect: Option<String>,
    /// How long a handshake may take before the connection is given up.
    pub handshake_timeout: Duration,
    /// What the files held when last read. Read (a pointer copy) once per handshake.
    current: RwLock<Arc<Built>>,
}

/// The rustls configuration built from a link's files, and their certificates' expiry.
struct Built {
    side: Side,
    expiry: Vec<CertExpiry>,
}

impl fmt::Debug for LinkTls {
    /// Which side and the certificates' expiry; never key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let built = self.built();
        let side = match &built.side {
            Side::Connect { server_name, .. } => format!("client of {server_name:?}"),
            Side::Accept(_) => "server".to_owned(),
        };
        f.debug_struct("LinkTls")
            .field("side", &side)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("expiry", &built.expiry)
            .finish()
    }
}

enum Side {
    Connect {
        connector: tokio_rustls::TlsConnector,
        server_name: ServerName<'static>,
    },
    Accept(tokio_rustls::TlsAcceptor),
}

/// Which certificate an expiry is about (the `which` label of `fep_tls_cert_expiry_seconds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// Our own certificate (`cert_file`).
    Ours,
    /// The CA the peer is verified against (`ca_file` or `client_ca_file`).
    Ca,
}

impl Which {
    /// `ours` or `ca`.
    pub fn as_str(self) -> &'static str {
        match self {
            Which::Ours => "ours",
            Which::Ca => "ca",
        }
    }
}

/// When one configured certificate stops being valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertExpiry {
    /// Ours or the CA.
    pub which: Which,
    /// The config key it comes from (`cert_file`, `ca_file`, `client_ca_file`).
    pub key: &'static str,
    /// The file it was read from.
    pub file: PathBuf,
    /// Its `notAfter`, in seconds since the Unix epoch.
    pub not_after: i64,
}

impl CertExpiry {
    /// Seconds from `now` until `notAfter` (negative once expired).
    pub fn seconds_left(&self, now: SystemTime) -> i64 {
        self.not_after.saturating_sub(unix_seconds(now))
    }
}

fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// What is wrong with a TLS table, at one of its keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct TlsProblem {
    /// The key under `tls` (e.g. `ca_file`).
    pub key: &'static str,
    /// What is wrong (names files, never shows their contents).
    pub message: String,
}

fn problem(key: &'static str, message: String) -> TlsProblem {
    TlsProblem { key, message }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Parses `pin` (64 hex digits, `:` or spaces allowed between them) into a SHA-256 digest.
pub fn parse_pin(pin: &str) -> Result<[u8; 32], String> {
    let digits: String = pin
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect();
    let bytes = hex::decode(&digits)
        .map_err(|e| format!("{pin:?} is not a hex SHA-256 fingerprint: {e}"))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        format!(
            "{pin:?} is not a SHA-256 fingerprint: 64 hex digits expected, got {}",
            digits.len()
        )
    })
}

/// The hex SHA-256 fingerprint of a DER certificate (what `pin_sha256` is compared with).
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, der))
}

impl LinkTls {
    /// Reads and checks every file of `cfg` and builds the rustls configuration. `connect` is
    /// the outbound link's `host:port` (its host is the default server name); `None` for an
    /// inbound link.
    pub fn build(cfg: &LinkTlsConfig, connect: Option<&str>) -> Result<LinkTls, TlsProblem> {
        let built = Built::read(cfg, connect)?;
        Ok(LinkTls {
            source: cfg.clone(),
            connect: connect.map(str::to_owned),
            handshake_timeout: cfg.handshake_timeout,
            current: RwLock::new(Arc::new(built)),
        })
    }

    /// Reads the link's files again and, if they are all good, uses them for the connections
    /// opened from now on; otherwise keeps what it had and says why.
    pub fn reload(&self) -> Result<(), TlsProblem> {
        let built = Built::read(&self.source, self.connect.as_deref())?;
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        *current = Arc::new(built);
        Ok(())
    }

    /// The configured certificates' expiry: the earliest of each kind (ours, the CA).
    pub fn expiry(&self) -> Vec<CertExpiry> {
        self.built().expiry.clone()
    }

    /// Runs the handshake on `tcp` (as client or server) within `handshake_timeout`.
    pub async fn handshake(&self, tcp: TcpStream) -> Result<LinkStream, HandshakeFailure> {
        let built = self.built();
        let secured = async {
            match &built.side {
                Side::Connect {
                    connector,
                    server_name,
                } => connector
                    .connect(server_name.clone(), tcp)
                    .await
                    .map(tokio_rustls::TlsStream::from),
                Side::Accept(acceptor) => acceptor
                    .accept(tcp)
                    .await
                    .map(tokio_rustls::TlsStream::from),
            }
        };
        match tokio::time::timeout(self.handshake_timeout, secured).await {
            Ok(Ok(stream)) => Ok(LinkStream::Tls(Box::new(stream))),
            Ok(Err(e)) => Err(HandshakeFailure::of(&e)),
            Err(_) => Err(HandshakeFailure {
                reason: "timeout",
                detail: format!("no handshake within {:?}", self.handshake_timeout),
            }),
        }
    }

    fn built(&self) -> Arc<Built> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Built {
    fn read(cfg: &LinkTlsConfig, connect: Option<&str>) -> Result<Built, TlsProblem> {
        let provider = provider();
        let mut expiry = Vec::new();
        let ours = match (&cfg.cert_file, &cfg.key_file) {
            (Some(cert), Some(key)) => {
                let chain = read_certs(cert, "cert_file", Which::Ours, &mut expiry)?;
                Some((chain, read_key(key)?))
            }
            _ => None,
        };
        let side = match connect {
            Some(target) => {
                let host = cfg.server_name.clone().unwrap_or_else(|| host_of(target));
                let server_name = ServerName::try_from(host.clone()).map_err(|e| {
                    problem(
                        "server_name",
                        format!("{host:?} is not a DNS name or IP address: {e}"),
                    )
                })?;
                let webpki = match &cfg.ca_file {
                    Some(ca) => {
                        let roots = read_roots(ca, "ca_file", &mut expiry)?;
                        let v = WebPkiServerVerifier::builder_with_provider(
                            Arc::new(roots),
                            provider.clone(),
                        )
                        .build()
                        .map_err(|e| problem("ca_file", format!("{}: {e}", ca.display())))?;
                        Some(v)
                    }
                    None => None,
                };
                let pins = cfg
                    .pin_sha256
                    .iter()
                    .map(|p| parse_pin(p))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|m| problem("pin_sha256", m))?;
                let verifier = Arc::new(InstitutionVerifier {
                    webpki,
                    pins,
                    provider: provider.clone(),
                });
                let builder = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| problem("ca_file", e.to_string()))?
                    .dangerous()
                    .with_custom_certificate_verifier(verifier);
                let config = match ours {
                    Some((chain, key)) => builder
                        .with_client_auth_cert(chain, key)
                        .map_err(|e| key_mismatch(cfg, e))?,
                    None => builder.with_no_client_auth(),
                };
                Side::Connect {
                    connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
                    server_name,
                }
            }
            None => {
                let Some((chain, key)) = ours else {
                    return Err(problem(
                        "cert_file",
                        "an inbound TLS link needs cert_file and key_file".into(),
                    ));
                };
                let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
                    .with_safe_default_protocol_versions()
                    .map_err(|e| problem("cert_file", e.to_string()))?;
                let builder = match (cfg.client_auth, &cfg.client_ca_file) {
                    (ClientAuth::None, _) | (_, None) => builder.with_no_client_auth(),
                    (auth, Some(ca)) => {
                        let roots = read_roots(ca, "client_ca_file", &mut expiry)?;
                        let v =
                            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                        let v = if auth == ClientAuth::Optional {
                            v.allow_unauthenticated()
                        } else {
                            v
                        };
                        let v = v.build().map_err(|e| {
                            problem("client_ca_file", format!("{}: {e}", ca.display()))
                        })?;
                        builder.with_client_cert_verifier(v)
                    }
                };
                let config = builder
                    .with_single_cert(chain, key)
                    .map_err(|e| key_mismatch(cfg, e))?;
                Side::Accept(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
            }
        };
        Ok(Built { side, expiry })
    }
}

fn key_mismatch(cfg: &LinkTlsConfig, e: rustls::Error) -> TlsProblem {
    let file = cfg
        .key_file
        .as_deref()
        .map(Path::display)
        .map(|d| d.to_string())
        .unwrap_or_default();
    problem(
        "key_file",
        format!("{file} cannot be used with cert_file: {e}"),
    )
}

/// The host of `host:port` (brackets of an IPv6 address removed).
fn host_of(target: &str) -> String {
    let host = target.rsplit_once(':').map_or(target, |(h, _)| h);
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned()
}

/// The certificates of a PEM file, recording the earliest `notAfter` as `which`.
pub(crate) fn read_certs(
    path: &Path,
    key: &'static str,
    which: Which,
    expiry: &mut Vec<CertExpiry>,
) -> Result<Vec<CertificateDer<'static>>, TlsProblem> {
    let shown = path.display();
    let bytes =
        std::fs::read(path).map_err(|e| problem(key, format!("cannot read {shown}: {e}")))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| problem(key, format!("{shown} is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(problem(
            key,
            format!("{shown} holds no PEM CERTIFICATE block"),
        ));
    }
    let mut earliest = i64::MAX;
    for (n, cert) in certs.iter().enumerate() {
        let (_, not_after) = validity(cert).ok_or_else(|| {
            problem(
                key,
                format!(
                    "{shown}: certificate {} is not a readable X.509 certificate",
                    n + 1
                ),
            )
        })?;
        earliest = earliest.min(not_after);
    }
    // Our chain's expiry is its leaf's.
    let not_after = match which {
        Which::Ours => validity(&certs[0]).map_or(earliest, |(_, a)| a),
        Which::Ca => earliest,
    };
    expiry.push(CertExpiry {
        which,
        key,
        file: path.to_path_buf(),
        not_after,
    });
    Ok(certs)
}

fn read_roots(
    path: &Path,
    key: &'static str,
    expiry: &mut Vec<CertExpiry>,
) -> Result<RootCertStore, TlsProblem> {
    let mut roots = RootCertStore::empty();
    for (n, cert) in read_certs(path, key, Which::Ca, expiry)?
        .into_iter()
        .enumerate()
    {
        roots.add(cert).map_err(|e| {
            problem(
                key,
                format!(
                    "{}: certificate {} is not usable as a CA: {e}",
                    path.display(),
                    n + 1
                ),
            )
        })?;
    }
    Ok(roots)
}

/// The private key of a PEM file. The message never quotes the file.
pub(crate) fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsProblem> {
    let shown = path.display();
    let bytes = std::fs::read(path)
        .map_err(|e| problem("key_file", format!("cannot read {shown}: {e}")))?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        let why = match e {
            rustls::pki_types::pem::Error::NoItemsFound => "holds no PEM PRIVATE KEY block",
            _ => "is not a valid PEM private key",
        };
        problem("key_file", format!("{shown} {why}"))
    })
}

/// `(notBefore, notAfter)` of a DER X.509 certificate, in Unix seconds.
pub fn validity(der: &[u8]) -> Option<(i64, i64)> {
    let (_, cert, _) = tlv(der).filter(|(tag, ..)| *tag == 0x30)?;
    let (_, tbs, _) = tlv(cert).filter(|(tag, ..)| *tag == 0x30)?;
    let mut rest = tbs;
    // [0] version, then serial number, signature algorithm, issuer.
    if rest.first() == Some(&0xa0) {
        rest = tlv(rest)?.2;
    }
    for _ in 0..3 {
        rest = tlv(rest)?.2;
    }
    let (_, validity, _) = tlv(rest).filter(|(tag, ..)| *tag == 0x30)?;
    let (before, after) = time(validity)?;
    let (after, _) = time(after)?;
    Some((before, after))
}

/// The names a DER X.509 certificate gives its holder: the subject CN, then the DNS and URI
/// subject alternative names in order (empty if the certificate cannot be read).
pub fn certificate_names(der: &[u8]) -> Vec<String> {
    certificate_names_of(der).unwrap_or_default()
}

fn certificate_names_of(der: &[u8]) -> Option<Vec<String>> {
    const CN: &[u8] = &[0x55, 0x04, 0x03];
    const SAN: &[u8] = &[0x55, 0x1d, 0x11];
    let (_, cert, _) = tlv(der).filter(|(tag, ..)| *tag == 0x30)?;
    let (_, tbs, _) = tlv(cert).filter(|(tag, ..)| *tag == 0x30)?;
    let mut rest = tbs;
    if rest.first() == Some(&0xa0) {
        rest = tlv(rest)?.2;
    }
    // Serial number, signature algorithm, issuer, validity.
    for _ in 0..4 {
        rest = tlv(rest)?.2;
    }
    let (_, subject, after) = tlv(rest).filter(|(tag, ..)| *tag == 0x30)?;
    let mut names = Vec::new();
    let mut rdns = subject;
    while let Some((_, set, next)) = tlv(rdns) {
        let mut atvs = set;
        while let Some((_, atv, more)) = tlv(atvs) {
            if let Some((0x06, oid, value)) = tlv(atv) {
                if oid == CN {
                    if let Some((_, text, _)) = tlv(value) {
                        names.push(String::from_utf8_lossy(text).into_owned());
                    }
                }
            }
            atvs = more;
        }
        rdns = next;
    }
    // subjectPublicKeyInfo, then optional unique ids, then [3] extensions.
    let mut rest = tlv(after)?.2;
    while let Some((tag, contents, next)) = tlv(rest) {
        if tag == 0xa3 {
            let (_, exts, _) = tlv(contents)?;
            let mut exts = exts;
            while let Some((_, ext, more)) = tlv(exts) {
                if let Some((0x06, oid, mut value)) = tlv(ext) {
                    if oid == SAN {
                        // An optional `critical` BOOLEAN, then the OCTET STRING.
                        if value.first() == Some(&0x01) {
                            value = tlv(value)?.2;
                        }
                        let (_, octets, _) = tlv(value)?;
                        let (_, general, _) = tlv(octets)?;
                        let mut general = general;
                        while let Some((tag, text, more)) = tlv(general) {
                            // [2] dNSName, [6] uniformResourceIdentifier.
                            if tag == 0x82 || tag == 0x86 {
                                names.push(String::from_utf8_lossy(text).into_owned());
                            }
                            general = more;
                        }
                    }
                }
                exts = more;
            }
        }
        rest = next;
    }
    Some(names)
}

/// One DER element: its tag, its contents and what follows it.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// A UTCTime or GeneralizedTime (`…Z`) in Unix seconds, and what follows it.
fn time(input: &[u8]) -> Option<(i64, &[u8])> {
    let (tag, text, rest) = tlv(input)?;
    let text = std::str::from_utf8(text).ok()?;
    let full = match tag {
        0x17 => {
            let yy: u32 = text.get(..2)?.parse().ok()?;
            format!("{}{text}", if yy < 50 { "20" } else { "19" })
        }
        0x18 => text.to_owned(),
        _ => return None,
    };
    let t = chrono::NaiveDateTime::parse_from_str(&full, "%Y%m%d%H%M%SZ").ok()?;
    Some((t.and_utc().timestamp(), rest))
}

/// Verifies the institution's certificate: against the CA (chain, validity, name) when there
/// is one, and against the pins when there are some.
#[derive(Debug)]
struct InstitutionVerifier {
    webpki: Option<Arc<WebPkiServerVerifier>>,
    pins: Vec<[u8; 32]>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for InstitutionVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.webpki {
            Some(webpki) => {
                webpki.verify_server_cert(
                    end_entity,
                    intermediates,
                    server_name,
                    ocsp_response,
                    now,
                )?;
            }
            None => {
                let (before, after) = validity(end_entity).ok_or(CertificateError::BadEncoding)?;
                let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
                if now > after {
                    return Err(CertificateError::Expired.into());
                }
                if now < before {
                    return Err(CertificateError::NotValidYet.into());
                }
            }
        }
        if !self.pins.is_empty() {
            let digest = ring::digest::digest(&ring::digest::SHA256, end_entity.as_ref());
            if !self.pins.iter().any(|p| p[..] == *digest.as_ref()) {
                return Err(CertificateError::ApplicationVerificationFailure.into());
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Why a handshake failed: a short `reason` (the metric's label) and the details (logged).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("TLS handshake failed ({reason}): {detail}")]
pub struct HandshakeFailure {
    /// `unknown_ca`, `expired`, `not_yet_valid`, `name_mismatch`, `pin_mismatch`,
    /// `no_client_certificate`, `bad_certificate`, `peer_refused`, `timeout`, `io` or
    /// `protocol`.
    pub reason: &'static str,
    /// What rustls or the socket said.
    pub detail: String,
}

impl HandshakeFailure {
    fn of(e: &std::io::Error) -> HandshakeFailure {
        let tls = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        let reason = match tls {
            Some(rustls::Error::InvalidCertificate(c)) => match c {
                CertificateError::UnknownIssuer => "unknown_ca",
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => "expired",
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    "not_yet_valid"
                }
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => "name_mismatch",
                CertificateError::ApplicationVerificationFailure => "pin_mismatch",
                _ => "bad_certificate",
            },
            Some(rustls::Error::NoCertificatesPresented) => "no_client_certificate",
            Some(rustls::Error::AlertReceived(_)) => "peer_refused",
            Some(_) => "protocol",
            None => "io",
        };
        let detail = match (reason, tls) {
            ("pin_mismatch", _) => "the certificate's SHA-256 fingerprint is not pinned".into(),
            (_, Some(t)) => t.to_string(),
            (_, None) => e.to_string(),
        };
        HandshakeFailure { reason, detail }
    }
}

/// A link's connection: plain TCP or TLS over it. The framing runs over either the same way.
pub enum LinkStream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS (client or server side).
    Tls(Box<tokio_rustls::TlsStream<TcpStream>>),
}

impl LinkStream {
    /// The leaf certificate the peer presented (a TLS server with `client_auth`), if any.
    pub fn peer_certificate(&self) -> Option<CertificateDer<'static>> {
        match self {
            LinkStream::Plain(_) => None,
            LinkStream::Tls(s) => s
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| c.clone().into_owned()),
        }
    }

    /// The TCP socket underneath (socket options such as TCP_QUICKACK).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            LinkStream::Plain(s) => s,
            LinkStream::Tls(s) => s.get_ref().0,
        }
    }
}

impl AsyncRead for LinkStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            LinkStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            LinkStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for LinkStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            LinkStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            LinkStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            LinkStream::Plain(s) => Pin::new(s).poll_flush(cx),
            LinkStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            LinkStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            LinkStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            LinkStream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            LinkStream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            LinkStream::Plain(s) => s.is_write_vectored(),
            LinkStream::Tls(s) => s.is_write_vectored(),
        }
    }
}

/// A link with TLS, as the gateway keeps it for [`reload_all`].
#[derive(Debug, Clone)]
pub struct TlsLink {
    /// Institution name.
    pub institution: String,
    /// Link name.
    pub link: String,
    /// Its TLS.
    pub tls: Arc<LinkTls>,
}

impl TlsLink {
    /// `link` of `institution`, if it has TLS.
    pub fn of(institution: &str, link: &crate::settings::LinkSettings) -> Option<TlsLink> {
        link.tls.as_ref().map(|tls| TlsLink {
            institution: institution.to_owned(),
            link: link.name.clone(),
            tls: tls.clone(),
        })
    }
}

/// What became of one link's [`LinkTls::reload`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsReload {
    /// Institution name.
    pub institution: String,
    /// Link name.
    pub link: String,
    /// Reloaded, or why the files were not taken (the link keeps its previous ones).
    pub result: Result<(), TlsProblem>,
}

/// Reloads every link's TLS files (each shared configuration once), logs each result and
/// exports the new certificates' expiry.
pub fn reload_all(links: &[TlsLink]) -> Vec<TlsReload> {
    let mut done: Vec<(&Arc<LinkTls>, Result<(), TlsProblem>)> = Vec::new();
    let mut out = Vec::new();
    for l in links {
        let result = match done.iter().find(|(tls, _)| Arc::ptr_eq(tls, &l.tls)) {
            Some((_, r)) => r.clone(),
            None => {
                let r = l.tls.reload();
                done.push((&l.tls, r.clone()));
                r
            }
        };
        match &result {
            Ok(()) => {
                tracing::info!(institution = %l.institution, link = %l.link, "TLS certificates reloaded");
                export_expiry(&l.institution, &l.link, &l.tls);
            }
            Err(e) => {
                tracing::error!(institution = %l.institution, link = %l.link, problem = %e, "TLS certificates not reloaded: keeping the previous ones");
            }
        }
        out.push(TlsReload {
            institution: l.institution.clone(),
            link: l.link.clone(),
            result,
        });
    }
    out
}

/// Counts a failed handshake (`fep_tls_handshake_failures_total`) and logs why.
pub(crate) fn record_failure(institution: &str, link: &str, peer: &str, f: &HandshakeFailure) {
    tracing::warn!(institution, link, peer, reason = f.reason, detail = %f.detail, "TLS handshake failed");
    metrics::counter!(
        "fep_tls_handshake_failures_total",
        "institution" => institution.to_owned(),
        "link" => link.to_owned(),
        "reason" => f.reason,
    )
    .increment(1);
}

/// Exports `fep_tls_cert_expiry_seconds` for the link's certificates (seconds until their
/// `notAfter`, as of now).
pub(crate) fn export_expiry(institution: &str, link: &str, tls: &LinkTls) {
    let now = SystemTime::now();
    for e in &tls.expiry() {
        metrics::gauge!(
            "fep_tls_cert_expiry_seconds",
            "institution" => institution.to_owned(),
            "link" => link.to_owned(),
            "which" => e.which.as_str(),
        )
        .set(e.seconds_left(now) as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_64_hex_digits_with_optional_colons() {
        let hex64 = "ab".repeat(32);
        assert_eq!(parse_pin(&hex64).unwrap(), [0xab; 32]);
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(parse_pin(&colons).unwrap(), [0xab; 32]);
        assert!(parse_pin("abcd").unwrap_err().contains("64 hex digits"));
        assert!(parse_pin(&"zz".repeat(32))
            .unwrap_err()
            .contains("not a hex"));
    }

    #[test]
    fn certificate_names_are_the_cn_then_the_dns_and_uri_sans() {
        let mut params =
            rcgen::CertificateParams::new(vec!["payroll.bank.internal".into()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "payroll");
        params.subject_alt_names.push(rcgen::SanType::URI(
            rcgen::string::Ia5String::try_from("spiffe://bank/payroll").unwrap(),
        ));
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            certificate_names(cert.der()),
            ["payroll", "payroll.bank.internal", "spiffe://bank/payroll"]
        );
        assert!(certificate_names(&cert.der()[..60]).is_empty());
    }

    #[test]
    fn validity_reads_an_rcgen_certificate() {
        let mut params = rcgen::CertificateParams::new(vec!["x".into()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2020, 1, 2);
        params.not_after = rcgen::date_time_ymd(2061, 3, 4);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let (before, after) = validity(cert.der()).unwrap();
        assert_eq!(before, 1_577_923_200, "2020-01-02 (UTCTime)");
        assert_eq!(after, 2_877_120_000, "2061-03-04 (GeneralizedTime)");
        assert_eq!(validity(&cert.der()[..40]), None, "truncated");
        assert_eq!(validity(b""), None);
    }
}

/// Certificates for tests (rcgen): CAs and the leaves they issue, written as PEM files.
#[cfg(test)]
pub(crate) mod test_pki {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

    /// A certificate authority.
    pub struct Ca {
        issuer: Issuer<'static, KeyPair>,
        /// Its certificate (PEM).
        pub pem: String,
        /// Its certificate (DER).
        pub der: CertificateDer<'static>,
    }

    /// A certificate with its key.
    pub struct Leaf {
        /// The certificate (PEM).
        pub cert_pem: String,
        /// The key (PEM, PKCS#8).
        pub key_pem: String,
        /// The certificate (DER).
        pub der: CertificateDer<'static>,
        key_der: Vec<u8>,
    }

    /// Validity of a leaf: `(not_before, not_after)` as `(y, m, d)`.
    pub type Dates = ((i32, u8, u8), (i32, u8, u8));

    /// Valid from 2020 to 2090.
    pub const VALID: Dates = ((2020, 1, 1), (2090, 1, 1));
    /// Expired at the start of 2021.
    pub const EXPIRED: Dates = ((2020, 1, 1), (2021, 1, 1));

    impl Ca {
        /// A new self-signed CA named `name`.
        pub fn new(name: &str) -> Ca {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, name);
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            let key = KeyPair::generate().unwrap();
            let cert = params.self_signed(&key).unwrap();
            Ca {
                issuer: Issuer::new(params, key),
                pem: cert.pem(),
                der: cert.der().clone(),
            }
        }

        /// A leaf for `san` (a DNS name or an IP) valid over `dates`.
        pub fn issue(&self, san: &str, dates: Dates) -> Leaf {
            let mut params = CertificateParams::new(vec![san.to_owned()]).unwrap();
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, san);
            let ((y0, m0, d0), (y1, m1, d1)) = dates;
            params.not_before = rcgen::date_time_ymd(y0, m0, d0);
            params.not_after = rcgen::date_time_ymd(y1, m1, d1);
            let key = KeyPair::generate().unwrap();
            let cert = params.signed_by(&key, &self.issuer).unwrap();
            Leaf {
                cert_pem: cert.pem(),
                key_pem: key.serialize_pem(),
                der: cert.der().clone(),
                key_der: key.serialize_der(),
            }
        }

        /// A leaf for `127.0.0.1`, valid now.
        pub fn localhost(&self) -> Leaf {
            self.issue("127.0.0.1", VALID)
        }

        /// Writes the CA certificate to `dir/name`.
        pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
            let path = dir.join(name);
            std::fs::write(&path, &self.pem).unwrap();
            path
        }

        /// A root store holding this CA.
        pub fn roots(&self) -> Arc<rustls::RootCertStore> {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(self.der.clone()).unwrap();
            Arc::new(roots)
        }
    }

    impl Leaf {
        /// Writes `dir/name.pem` and `dir/name.key`; returns their paths.
        pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
            let (cert, key) = (
                dir.join(format!("{name}.pem")),
                dir.join(format!("{name}.key")),
            );
            std::fs::write(&cert, &self.cert_pem).unwrap();
            std::fs::write(&key, &self.key_pem).unwrap();
            (cert, key)
        }

        /// The certificate chain and key rustls takes.
        pub fn chain_and_key(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
            (vec![self.der.clone()], key)
        }
    }

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    /// A server presenting `leaf`; with `client_ca`, it requires a client certificate from it.
    pub fn server(leaf: &Leaf, client_ca: Option<&Ca>) -> tokio_rustls::TlsAcceptor {
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = match client_ca {
            Some(ca) => builder.with_client_cert_verifier(
                rustls::server::WebPkiClientVerifier::builder_with_provider(ca.roots(), provider())
                    .build()
                    .unwrap(),
            ),
            None => builder.with_no_client_auth(),
        };
        let (chain, key) = leaf.chain_and_key();
        tokio_rustls::TlsAcceptor::from(Arc::new(builder.with_single_cert(chain, key).unwrap()))
    }

    /// A client trusting `ca`, presenting `leaf` when given.
    pub fn client(ca: &Ca, leaf: Option<&Leaf>) -> tokio_rustls::TlsConnector {
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(ca.roots());
        let config = match leaf {
            Some(leaf) => {
                let (chain, key) = leaf.chain_and_key();
                builder.with_client_auth_cert(chain, key).unwrap()
            }
            None => builder.with_no_client_auth(),
        };
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }
}
