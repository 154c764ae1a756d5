//! Black-box test of an `https://` webhook: the real `fep` binary delivers a notice to a local
//! HTTPS endpoint whose certificate it trusts through `SSL_CERT_FILE`. Loopback only; every
//! wait is bounded. One test per binary: it sets the environment that `fep` inherits.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use support::*;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// Serves axum over TLS: handshakes that fail (untrusted client, probes) are skipped.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_reaches_an_https_webhook() {
    let dir = tempdir();
    // A self-signed certificate for 127.0.0.1, trusted by `fep` as its only root.
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).expect("cert");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert.cert.pem()).expect("write ca");
    std::env::set_var("SSL_CERT_FILE", &ca);
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .expect("server config");

    let received: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let r = received.clone();
    let app = axum::Router::new().route(
        "/notices",
        axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let r = r.clone();
            async move {
                r.lock().expect("lock").push(body);
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = TlsListener {
        tcp: TcpListener::bind("127.0.0.1:0").await.expect("bind"),
        acceptor: TlsAcceptor::from(Arc::new(tls)),
    };
    let hook = listener.tcp.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });

    let fake = bank(Answer::code("0000")).await;
    let inst = institution("hecto", &duplex_link(fake.addr()), "5s", "1m", "5m")
        + &format!("[institution.notices]\nwebhook = \"https://{hook}/notices\"\n");
    let _fep = Fep::start(dir.path(), &config(&dir.path().join("data"), &[inst]), &[]);
    let f = &fake;
    assert!(
        eventually(Duration::from_secs(10), || f
            .seen()
            .iter()
            .any(|s| s.msg_type == "1000"))
        .await,
        "signed on"
    );
    fake.push_frame(deposit_notice(31, "20261122"))
        .await
        .expect("push the notice");
    let r = received.clone();
    assert!(
        eventually(Duration::from_secs(15), || !r
            .lock()
            .expect("lock")
            .is_empty())
        .await,
        "the notice is delivered over https"
    );
    let body = received.lock().expect("lock")[0].clone();
    assert_eq!(body["type"], "4000/100", "{body}");
    assert_eq!(body["institution"], "hecto", "{body}");
}
