//! Black-box: an `https://` webhook that requires a client certificate. `fep run` trusts the
//! webhook's CA through `[institution.notices] webhook_ca_file` (not the platform's roots)
//! and presents `webhook_cert_file`/`webhook_key_file`; the notice arrives with its
//! `mask = true` fields masked and without the raw telegram; with `webhook_unmasked = true`
//! in clear, with it.

mod support;

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use support::pki::{self, Ca};
use support::*;

/// Starts `fep run` with `hecto` whose notices go to `https://{hook}/notices` with the
/// `[institution.notices]` keys `extra`, has the bank send one deposit notice, and returns
/// the body the webhook received.
async fn one_notice(
    dir: &std::path::Path,
    hook: std::net::SocketAddr,
    received: &pki::Received,
    extra: &str,
) -> serde_json::Value {
    let fake = bank(Answer::code("0000")).await;
    let inst = institution("hecto", &duplex_link(fake.addr()), "5s", "1m", "5m")
        + &format!("[institution.notices]\nwebhook = \"https://{hook}/notices\"\n{extra}");
    let _fep = Fep::start(dir, &config(&dir.join("data"), &[inst]), &[]);
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
        "the notice is delivered over TLS",
        || !r.lock().expect("lock").is_empty(),
    )
    .await;
    let body = received.bodies.lock().expect("lock")[0].clone();
    assert_eq!(body["type"], "4000/100", "{body}");
    assert_eq!(body["institution"], "hecto", "{body}");
    assert_eq!(body["fields"]["amount"], 150000, "{body}");
    body
}

/// A TLS server for 127.0.0.1 from `ca`, requiring a client certificate from `clients`
/// when given.
fn server_config(ca: &Ca, clients: Option<&Ca>) -> rustls::ServerConfig {
    let leaf = ca.leaf("127.0.0.1");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions");
    let builder = match clients {
        Some(clients) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(clients.der.clone()).expect("root");
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .expect("verifier");
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key_der.clone()));
    builder
        .with_single_cert(vec![leaf.der.clone()], key)
        .expect("server config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_requiring_a_client_certificate_gets_ours_and_masked_fields() {
    let dir = tempdir();
    let (hook_ca, our_ca) = (Ca::new("webhook CA"), Ca::new("gateway clients CA"));
    hook_ca.write(dir.path(), "hook-ca.pem");
    our_ca
        .leaf("fep-gateway.bank.internal")
        .write(dir.path(), "webhook-client");
    let (hook, received) = pki::webhook_endpoint(server_config(&hook_ca, Some(&our_ca))).await;
    let body = one_notice(
        dir.path(),
        hook,
        &received,
        "webhook_ca_file = \"hook-ca.pem\"\n\
         webhook_cert_file = \"webhook-client.pem\"\nwebhook_key_file = \"webhook-client.key\"\n",
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
    // `account` is `mask = true` in specs/hecto.toml: masked, and no raw telegram.
    assert_eq!(body["fields"]["account"], "110*******89", "{body}");
    assert!(body.get("telegram_hex").is_none(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmasked_webhook_gets_fields_in_clear_and_the_raw_telegram() {
    let dir = tempdir();
    let hook_ca = Ca::new("webhook CA");
    hook_ca.write(dir.path(), "hook-ca.pem");
    let (hook, received) = pki::webhook_endpoint(server_config(&hook_ca, None)).await;
    let body = one_notice(
        dir.path(),
        hook,
        &received,
        "webhook_ca_file = \"hook-ca.pem\"\nwebhook_unmasked = true\n",
    )
    .await;
    assert_eq!(body["fields"]["account"], "110123456789", "{body}");
    let raw = body["telegram_hex"].as_str().expect("telegram_hex");
    assert!(raw.contains(&hex_of("110123456789")), "{body}");
    assert!(received.client_certs.lock().expect("lock").is_empty());
}

/// Lower-case hex of `text`'s bytes.
fn hex_of(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}
