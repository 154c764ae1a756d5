//! Black-box: an `https://` webhook that requires a client certificate. `fep run` trusts the
//! webhook's CA through `[institution.notices] webhook_ca_file` (not the platform's roots)
//! and presents `webhook_cert_file`/`webhook_key_file`; the notice arrives with its
//! `mask = true` fields masked and without the raw telegram (no `webhook_unmasked`).

mod support;

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use support::pki::{self, Ca};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_requiring_a_client_certificate_gets_ours_and_masked_fields() {
    let dir = tempdir();
    let (hook_ca, our_ca) = (Ca::new("webhook CA"), Ca::new("gateway clients CA"));
    hook_ca.write(dir.path(), "hook-ca.pem");
    our_ca
        .leaf("fep-gateway.bank.internal")
        .write(dir.path(), "webhook-client");
    let hook_leaf = hook_ca.leaf("127.0.0.1");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut client_roots = rustls::RootCertStore::empty();
    client_roots.add(our_ca.der.clone()).expect("root");
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(client_roots),
        provider.clone(),
    )
    .build()
    .expect("verifier");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(hook_leaf.key_der.clone()));
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![hook_leaf.der.clone()], key)
        .expect("server config");

    let (hook, received) = pki::webhook_endpoint(tls).await;

    let fake = bank(Answer::code("0000")).await;
    let inst = institution("hecto", &duplex_link(fake.addr()), "5s", "1m", "5m")
        + &format!(
            "[institution.notices]\nwebhook = \"https://{hook}/notices\"\n\
             webhook_ca_file = \"hook-ca.pem\"\n\
             webhook_cert_file = \"webhook-client.pem\"\nwebhook_key_file = \"webhook-client.key\"\n"
        );
    let _fep = Fep::start(dir.path(), &config(&dir.path().join("data"), &[inst]), &[]);
    let f = &fake;
    until(WAIT, "signed on", || {
        f.seen().iter().any(|s| s.msg_type == "1000")
    })
    .await;
    fake.push_frame(deposit_notice(31, "20261122"))
        .await
        .expect("push the notice");
    let r = received.bodies.clone();
    until(
        Duration::from_secs(15),
        "the notice is delivered over mutual TLS",
        || !r.lock().expect("lock").is_empty(),
    )
    .await;
    let presented = received.client_certs.lock().expect("lock").clone();
    assert!(!presented.is_empty(), "no client certificate was presented");
    assert!(
        presented.iter().all(|der| der
            .windows(b"fep-gateway.bank.internal".len())
            .any(|w| w == b"fep-gateway.bank.internal")),
        "the gateway presented another certificate"
    );
    let body = received.bodies.lock().expect("lock")[0].clone();
    assert_eq!(body["type"], "4000/100", "{body}");
    assert_eq!(body["institution"], "hecto", "{body}");
    // `account` is `mask = true` in specs/hecto.toml: masked, and no raw telegram.
    assert_eq!(body["fields"]["account"], "110*******89", "{body}");
    assert_eq!(body["fields"]["amount"], 150000, "{body}");
    assert!(body.get("telegram_hex").is_none(), "{body}");
}
