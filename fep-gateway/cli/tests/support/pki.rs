//! Certificates for black-box TLS tests (rcgen): CAs, the leaves they issue (subject CN and
//! SAN both the given name), and rustls client configurations presenting them.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

/// A CA: its issuer and its certificate.
pub struct Ca {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    /// Its certificate (DER).
    pub der: CertificateDer<'static>,
    /// Its certificate (PEM).
    pub pem: String,
}

/// A certificate with its key.
pub struct Leaf {
    /// The certificate (PEM).
    pub cert_pem: String,
    /// The key (PEM, PKCS#8).
    pub key_pem: String,
    /// The certificate (DER).
    pub der: CertificateDer<'static>,
    /// The key (DER, PKCS#8).
    pub key_der: Vec<u8>,
}

impl Ca {
    /// A new self-signed CA named `name`.
    pub fn new(name: &str) -> Ca {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("ca");
        Ca {
            issuer: rcgen::Issuer::new(params, key),
            der: cert.der().clone(),
            pem: cert.pem(),
        }
    }

    /// A leaf whose subject CN and SAN are `san` (a DNS name or an IP address).
    pub fn leaf(&self, san: &str) -> Leaf {
        let mut params = rcgen::CertificateParams::new(vec![san.to_owned()]).expect("params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, san);
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("leaf");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }

    /// Writes the CA certificate to `dir/name`.
    pub fn write(&self, dir: &std::path::Path, name: &str) {
        std::fs::write(dir.join(name), &self.pem).expect("write CA");
    }
}

impl Leaf {
    /// Writes `dir/name.pem` and `dir/name.key`.
    pub fn write(&self, dir: &std::path::Path, name: &str) {
        std::fs::write(dir.join(format!("{name}.pem")), &self.cert_pem).expect("write cert");
        std::fs::write(dir.join(format!("{name}.key")), &self.key_pem).expect("write key");
    }
}

/// A TLS client trusting `server_ca`, presenting `leaf` when given.
pub fn connector(server_ca: &Ca, leaf: Option<&Leaf>) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(server_ca.der.clone()).expect("root");
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots);
    let config = match leaf {
        Some(l) => {
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(l.key_der.clone()));
            builder
                .with_client_auth_cert(vec![l.der.clone()], key)
                .expect("client cert")
        }
        None => builder.with_no_client_auth(),
    };
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// The server name of a gateway on loopback.
pub fn loopback() -> ServerName<'static> {
    ServerName::try_from("127.0.0.1").expect("name")
}

/// What an HTTPS webhook endpoint of [`webhook_endpoint`] received.
#[derive(Clone, Default)]
pub struct Received {
    /// The JSON bodies POSTed to `/notices`, in order.
    pub bodies: Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    /// The DER of each client certificate presented in a handshake.
    pub client_certs: Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
}

/// Serves axum over TLS, recording the client certificates presented; failed handshakes
/// (untrusted client, probes) are skipped.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    client_certs: Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                if let Some(cert) = tls.get_ref().1.peer_certificates().and_then(|c| c.first()) {
                    let mut certs = self.client_certs.lock().unwrap_or_else(|p| p.into_inner());
                    certs.push(cert.to_vec());
                }
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// An HTTPS webhook endpoint on loopback with `tls`, answering 200 to `POST /notices`; its
/// address and what it receives.
pub async fn webhook_endpoint(tls: rustls::ServerConfig) -> (std::net::SocketAddr, Received) {
    let received = Received::default();
    let bodies = received.bodies.clone();
    let app = axum::Router::new().route(
        "/notices",
        axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let bodies = bodies.clone();
            async move {
                bodies.lock().unwrap_or_else(|p| p.into_inner()).push(body);
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = TlsListener {
        tcp: tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind"),
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(tls)),
        client_certs: received.client_certs.clone(),
    };
    let addr = listener.tcp.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, received)
}
