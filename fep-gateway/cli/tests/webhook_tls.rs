//! Black-box test of an `https://` webhook: the real `fep` binary delivers a notice to a local
//! HTTPS endpoint whose certificate it trusts through `SSL_CERT_FILE`. Loopback only; every
//! wait is bounded. One test per binary: it sets the environment that `fep` inherits.

mod support;

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use support::pki;
use support::*;

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

    let (hook, received) = pki::webhook_endpoint(tls).await;

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
    let r = received.bodies.clone();
    assert!(
        eventually(Duration::from_secs(15), || !r
            .lock()
            .expect("lock")
            .is_empty())
        .await,
        "the notice is delivered over https"
    );
    let body = received.bodies.lock().expect("lock")[0].clone();
    assert_eq!(body["type"], "4000/100", "{body}");
    assert_eq!(body["institution"], "hecto", "{body}");
}
