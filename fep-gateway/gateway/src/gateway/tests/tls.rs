//! TLS on institution links over real TCP on 127.0.0.1, with rcgen certificates: a fake TLS
//! institution the gateway connects to (CA, expiry, pins, our client certificate), and peers
//! connecting to the gateway's inbound TLS link (client certificates required or refused).
//! Every wait is bounded; the tests synchronise on status, metrics and frames, never on time.

use std::net::SocketAddr;
use std::path::Path;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::per_telegram::{bounded, codec, notice, profile, status_until, DEADLINE};
use super::*;
use crate::config::{ClientAuth, LinkTlsConfig, DEFAULT_HANDSHAKE_TIMEOUT};
use crate::institution::LinkState;
use crate::profile::FrameKind;
use crate::protocol::Outcome;
use crate::settings::PerTelegram;
use crate::tls::test_pki::{self, Ca, Leaf};
use crate::tls::LinkTls;

/// The value of the Prometheus series `name` whose labels include every one of `labels`.
fn metric(name: &str, labels: &[(&str, &str)]) -> f64 {
    let rendered = crate::http::prometheus().expect("recorder").render();
    rendered
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until the gateway counted a handshake failure of `institution` for `reason`.
async fn failure_counted(institution: &str, reason: &str) {
    let labels = [("institution", institution), ("reason", reason)];
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while metric("fep_tls_handshake_failures_total", &labels) < 1.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {reason} handshake failure counted for {institution}:\n{}",
            crate::http::prometheus().unwrap().render()
        );
        tokio::task::yield_now().await;
    }
}

/// The outbound TLS table: trust `ca_file`, no pins, default server name.
fn outbound_tls(ca_file: Option<&Path>) -> LinkTlsConfig {
    LinkTlsConfig {
        ca_file: ca_file.map(Path::to_path_buf),
        pin_sha256: Vec::new(),
        server_name: None,
        cert_file: None,
        key_file: None,
        client_auth: ClientAuth::None,
        client_ca_file: None,
        handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
    }
}

/// What the fake institution saw on a connection: whether the gateway presented a client
/// certificate, and the message keys of its telegrams.
#[derive(Debug)]
enum Seen {
    Connected { client_certificate: bool },
    Telegram(String),
    HandshakeFailed,
}

/// A Hecto institution behind TLS (`acceptor`): answers every telegram with 0000 and reports
/// what it sees; a connection whose handshake fails is reported and dropped.
async fn tls_institution(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    seen: mpsc::UnboundedSender<Seen>,
) {
    let p = profile();
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        let Ok(tls) = acceptor.accept(tcp).await else {
            let _ = seen.send(Seen::HandshakeFailed);
            continue;
        };
        let client_certificate = tls.get_ref().1.peer_certificates().is_some();
        let _ = seen.send(Seen::Connected { client_certificate });
        let mut framed = Framed::new(tls, codec());
        while let Some(Ok(telegram)) = framed.next().await {
            if matches!(
                p.classify(&telegram),
                FrameKind::PollRequest | FrameKind::PollResponse
            ) {
                continue;
            }
            if let Some(key) = p.msg_key(&telegram) {
                let _ = seen.send(Seen::Telegram(key.to_string()));
            }
            if framed
                .send(Bytes::from(p.answer_to(&telegram, "0000")))
                .await
                .is_err()
            {
                break;
            }
        }
    }
}

/// A fake TLS institution presenting `leaf` (requiring a client certificate from
/// `client_ca` when given) on a loopback port; returns its address and what it sees.
async fn institution(
    leaf: &Leaf,
    client_ca: Option<&Ca>,
) -> (SocketAddr, mpsc::UnboundedReceiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(tls_institution(
        listener,
        test_pki::server(leaf, client_ca),
        tx,
    ));
    (addr, rx)
}

/// A gateway with institution `name` on one outbound link `link` to `addr` with `tls`.
async fn connecting_gateway(
    dir: &Path,
    name: &str,
    mut link: LinkSettings,
    tls: &LinkTlsConfig,
) -> Gateway {
    let Role::Outbound { connect } = link.role else {
        panic!("outbound");
    };
    let built = LinkTls::build(tls, Some(&connect.to_string())).unwrap();
    link.tls = Some(Arc::new(built));
    let mut inst = InstitutionSettings::hecto(name, vec![link]);
    inst.poll_interval = None;
    inst.inquiry_delay = Duration::from_secs(3600);
    Gateway::start(settings(dir, inst), Arc::new(SystemClock))
        .await
        .unwrap()
}

/// Transfer `n` through the gateway; its caller must hear `ok`.
async fn request_ok(gateway: &Gateway, name: &str, n: u64) {
    let handle = gateway.institution(name).unwrap().clone();
    let telegram = fep_testkit::samples::sample_telegram(n, false);
    let reply = bounded("the answer", handle.request(telegram, None)).await;
    assert_eq!(reply.outcome, Outcome::Ok, "{reply:?}");
}

/// Checks that no telegram reached the fake institution.
fn nothing_sent(seen: &mut mpsc::UnboundedReceiver<Seen>) {
    assert!(
        std::iter::from_fn(|| seen.try_recv().ok()).all(|s| !matches!(s, Seen::Telegram(_))),
        "no telegram reached the institution"
    );
}

/// The next thing the fake institution saw.
async fn next_seen(seen: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    bounded("the institution", seen.recv())
        .await
        .expect("institution gone")
}

/// The institution's certificate comes from the configured CA: the link comes up over TLS,
/// the gateway signs on and a request is answered; the certificate's expiry is exported.
#[tokio::test]
async fn tls_outbound_with_the_configured_ca_signs_on_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("institution CA");
    let ca_file = ca.write(dir.path(), "ca.pem");
    let (addr, mut seen) = institution(&ca.localhost(), None).await;
    let name = "tls-good-ca";
    let tls = outbound_tls(Some(&ca_file));
    let gateway =
        connecting_gateway(dir.path(), name, LinkSettings::outbound_duplex(addr), &tls).await;
    assert!(matches!(
        next_seen(&mut seen).await,
        Seen::Connected {
            client_certificate: false
        }
    ));
    status_until(&gateway, "signed on over TLS", |s| s.signed_on).await;
    request_ok(&gateway, name, 1).await;
    let keys: Vec<String> = std::iter::from_fn(|| match seen.try_recv() {
        Ok(Seen::Telegram(k)) => Some(k),
        _ => None,
    })
    .collect();
    assert_eq!(keys, ["1000/100", "2000/100"]);
    let left = metric(
        "fep_tls_cert_expiry_seconds",
        &[("institution", name), ("link", "duplex"), ("which", "ca")],
    );
    assert!(
        left > 365.0 * 86_400.0,
        "the test CA is valid for long: {left}"
    );
    assert_eq!(
        metric("fep_tls_handshake_failures_total", &[("institution", name)]),
        0.0
    );
    gateway.shutdown(Duration::from_secs(5)).await;
}

/// The gateway trusting `trusted` connects to an institution presenting `presented`
/// (with `tls`, or the table trusting `trusted`'s CA file): the handshake is refused for
/// `reason` and counted, the link stays down, nothing is signed on or sent.
async fn refused_outbound(
    name: &str,
    trusted: &Ca,
    presented: &Leaf,
    tls: Option<LinkTlsConfig>,
    reason: &str,
) {
    let dir = tempfile::tempdir().unwrap();
    let ca_file = trusted.write(dir.path(), "ca.pem");
    let tls = tls.unwrap_or_else(|| outbound_tls(Some(&ca_file)));
    let (addr, mut seen) = institution(presented, None).await;
    let link = LinkSettings::outbound_duplex(addr);
    let gateway = connecting_gateway(dir.path(), name, link, &tls).await;
    failure_counted(name, reason).await;
    assert!(matches!(next_seen(&mut seen).await, Seen::HandshakeFailed));
    let status = gateway.status().await.remove(0);
    assert_eq!(status.links[0].state, LinkState::Down, "{status:?}");
    assert!(!status.signed_on);
    gateway.shutdown(Duration::from_secs(5)).await;
    nothing_sent(&mut seen);
}

/// The institution's certificate comes from another CA: refused (unknown CA).
#[tokio::test]
async fn tls_outbound_refuses_a_certificate_from_another_ca() {
    let other = Ca::new("some other CA").localhost();
    refused_outbound(
        "tls-wrong-ca",
        &Ca::new("the CA we trust"),
        &other,
        None,
        "unknown_ca",
    )
    .await;
}

/// The institution's certificate has expired: refused (expired).
#[tokio::test]
async fn tls_outbound_refuses_an_expired_certificate() {
    let ca = Ca::new("institution CA");
    let expired = ca.issue("127.0.0.1", test_pki::EXPIRED);
    refused_outbound("tls-expired", &ca, &expired, None, "expired").await;
}

/// The certificate's name is not the server name (the host of `connect`): refused.
#[tokio::test]
async fn tls_outbound_refuses_a_certificate_for_another_name() {
    let ca = Ca::new("institution CA");
    let elsewhere = ca.issue("bank.example", test_pki::VALID);
    refused_outbound("tls-name-mismatch", &ca, &elsewhere, None, "name_mismatch").await;
}

/// A pinned fingerprint that matches the institution's (self-issued, no CA configured)
/// certificate: up and answering. One that does not: refused (pin mismatch).
#[tokio::test]
async fn tls_outbound_pins_the_institution_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("unknown to the gateway");
    let leaf = ca.localhost();
    let (addr, _seen) = institution(&leaf, None).await;
    let mut tls = outbound_tls(None);
    tls.pin_sha256 = vec![
        "00".repeat(32),
        crate::tls::fingerprint(&leaf.der).to_uppercase(),
    ];
    let name = "tls-pin-match";
    let gateway =
        connecting_gateway(dir.path(), name, LinkSettings::outbound_duplex(addr), &tls).await;
    status_until(&gateway, "signed on with a pinned certificate", |s| {
        s.signed_on
    })
    .await;
    request_ok(&gateway, name, 1).await;
    gateway.shutdown(Duration::from_secs(5)).await;

    tls.pin_sha256 = vec!["ab".repeat(32)];
    refused_outbound("tls-pin-mismatch", &ca, &leaf, Some(tls), "pin_mismatch").await;
}

/// The institution requires a client certificate from its CA: the gateway presents ours
/// (`cert_file` + `key_file`), the institution sees it, and requests go through.
#[tokio::test]
async fn tls_outbound_presents_our_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("institution CA");
    let clients = Ca::new("the institution's client CA");
    let ca_file = ca.write(dir.path(), "ca.pem");
    let (cert_file, key_file) = clients
        .issue("fep.example", test_pki::VALID)
        .write(dir.path(), "ours");
    let (addr, mut seen) = institution(&ca.localhost(), Some(&clients)).await;
    let mut tls = outbound_tls(Some(&ca_file));
    tls.cert_file = Some(cert_file);
    tls.key_file = Some(key_file);
    let name = "tls-client-cert";
    let gateway =
        connecting_gateway(dir.path(), name, LinkSettings::outbound_duplex(addr), &tls).await;
    assert!(matches!(
        next_seen(&mut seen).await,
        Seen::Connected {
            client_certificate: true
        }
    ));
    status_until(&gateway, "signed on", |s| s.signed_on).await;
    request_ok(&gateway, name, 1).await;
    let ours = metric(
        "fep_tls_cert_expiry_seconds",
        &[("institution", name), ("which", "ours")],
    );
    assert!(ours > 0.0, "{ours}");
    gateway.shutdown(Duration::from_secs(5)).await;
}

/// A gateway `name` trusting `trusted` on a per-telegram outbound link to a fake
/// institution presenting `presented`; with its directory and what the institution sees.
async fn per_telegram_gateway(
    name: &str,
    trusted: &Ca,
    presented: &Leaf,
) -> (tempfile::TempDir, Gateway, mpsc::UnboundedReceiver<Seen>) {
    let dir = tempfile::tempdir().unwrap();
    let ca_file = trusted.write(dir.path(), "ca.pem");
    let (addr, seen) = institution(presented, None).await;
    let link = LinkSettings::per_telegram_outbound(addr);
    let tls = outbound_tls(Some(&ca_file));
    let gateway = connecting_gateway(dir.path(), name, link, &tls).await;
    (dir, gateway, seen)
}

/// A per-telegram outbound link over TLS: each telegram's connection runs the handshake,
/// and the answer comes back over TLS.
#[tokio::test]
async fn tls_per_telegram_outbound_answers_over_tls() {
    let ca = Ca::new("institution CA");
    let name = "tls-per-telegram-out";
    let (_dir, gateway, _seen) = per_telegram_gateway(name, &ca, &ca.localhost()).await;
    status_until(&gateway, "signed on", |s| s.signed_on).await;
    request_ok(&gateway, name, 1).await;
    request_ok(&gateway, name, 2).await;
    gateway.shutdown(Duration::from_secs(5)).await;
}

// ----- inbound -------------------------------------------------------------------------------

/// A gateway `name` receiving on a per-telegram inbound TLS link presenting a certificate
/// from `server_ca`, requiring client certificates from `client_ca`; returns its address.
async fn receiving_gateway(
    dir: &Path,
    name: &str,
    server_ca: &Ca,
    client_ca: &Ca,
) -> (Gateway, SocketAddr) {
    let (cert_file, key_file) = server_ca.localhost().write(dir, "server");
    let tls = LinkTlsConfig {
        cert_file: Some(cert_file),
        key_file: Some(key_file),
        client_auth: ClientAuth::Required,
        client_ca_file: Some(client_ca.write(dir, "clients.pem")),
        ..outbound_tls(None)
    };
    let mut link = LinkSettings::per_telegram_inbound_loopback();
    link.mode = crate::settings::Mode::PerTelegram(PerTelegram {
        reply_timeout: Duration::from_secs(600),
        ..PerTelegram::default()
    });
    link.tls = Some(Arc::new(LinkTls::build(&tls, None).unwrap()));
    let mut inst = InstitutionSettings::hecto(name, vec![link]);
    inst.sign_on = false;
    inst.poll_interval = None;
    let gateway = Gateway::start(settings(dir, inst), Arc::new(SystemClock))
        .await
        .unwrap();
    let addr = gateway.listen_addrs()[0].addr;
    status_until(&gateway, "listening", |s| s.links[0].state == LinkState::Up).await;
    (gateway, addr)
}

/// Connects to `addr` over TLS trusting `server_ca`, presenting `leaf` if given, sends a
/// notice and returns what comes back: the acknowledgement, or `None` when the connection is
/// refused (handshake error, error or end of file before an answer).
async fn send_notice(
    addr: SocketAddr,
    server_ca: &Ca,
    leaf: Option<&Leaf>,
    msg_no: u64,
) -> Option<Bytes> {
    let tcp = bounded("connect", TcpStream::connect(addr)).await.unwrap();
    let server_name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let connector = test_pki::client(server_ca, leaf);
    // With TLS 1.3 the client may finish its side before the server has judged its
    // certificate: a refusal can show at the handshake or at the first read.
    let tls = bounded("handshake", connector.connect(server_name, tcp))
        .await
        .ok()?;
    let mut peer = Framed::new(tls, codec());
    bounded("send", peer.send(notice(msg_no))).await.ok()?;
    match bounded("the answer", peer.next()).await {
        Some(Ok(ack)) => Some(ack),
        _ => None,
    }
}

/// A peer with a certificate from the client CA is accepted: its notice is recorded and
/// acknowledged over TLS.
#[tokio::test]
async fn tls_inbound_accepts_a_peer_certified_by_the_client_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (server_ca, client_ca) = (Ca::new("our CA"), Ca::new("client CA"));
    let name = "tls-in-good";
    let (gateway, addr) = receiving_gateway(dir.path(), name, &server_ca, &client_ca).await;
    let peer = client_ca.issue("bank.example", test_pki::VALID);
    let ack = send_notice(addr, &server_ca, Some(&peer), 5)
        .await
        .expect("acknowledged");
    let p = profile();
    assert_eq!(p.msg_key(&ack).unwrap(), ("4100", "100"), "{ack:?}");
    assert_eq!(p.msg_no.digits(&ack), Some(5));
    assert_eq!(gateway.status().await[0].counters.notices, 1);
    gateway.shutdown(Duration::from_secs(5)).await;
}

/// `client_auth = "required"`: a peer without a certificate is refused, counted, and its
/// notice never delivered; the next good peer is still served.
#[tokio::test]
async fn tls_inbound_refuses_a_peer_without_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (server_ca, client_ca) = (Ca::new("our CA"), Ca::new("client CA"));
    let name = "tls-in-no-cert";
    let (gateway, addr) = receiving_gateway(dir.path(), name, &server_ca, &client_ca).await;
    assert_eq!(send_notice(addr, &server_ca, None, 1).await, None);
    failure_counted(name, "no_client_certificate").await;
    let good = client_ca.issue("bank.example", test_pki::VALID);
    assert!(send_notice(addr, &server_ca, Some(&good), 2)
        .await
        .is_some());
    assert_eq!(
        gateway.status().await[0].counters.notices,
        1,
        "only the certified peer's notice"
    );
    gateway.shutdown(Duration::from_secs(5)).await;
}

/// A peer whose certificate comes from another CA is refused (unknown CA), nothing delivered.
#[tokio::test]
async fn tls_inbound_refuses_a_peer_certified_by_another_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (server_ca, client_ca) = (Ca::new("our CA"), Ca::new("client CA"));
    let name = "tls-in-wrong-ca";
    let (gateway, addr) = receiving_gateway(dir.path(), name, &server_ca, &client_ca).await;
    let stranger = Ca::new("a stranger's CA").issue("bank.example", test_pki::VALID);
    assert_eq!(
        send_notice(addr, &server_ca, Some(&stranger), 1).await,
        None
    );
    failure_counted(name, "unknown_ca").await;
    assert_eq!(gateway.status().await[0].counters.notices, 0);
    gateway.shutdown(Duration::from_secs(5)).await;
}

/// A persistent inbound duplex link over TLS with a required client certificate: a
/// certified peer's connection brings the link up, and its notice is acknowledged on it.
/// A peer that never starts the handshake is dropped after `handshake_timeout` (counted as a
/// timeout) without disturbing the link.
#[tokio::test]
async fn tls_persistent_inbound_serves_a_certified_peer_and_times_out_a_silent_one() {
    let dir = tempfile::tempdir().unwrap();
    let (server_ca, client_ca) = (Ca::new("our CA"), Ca::new("client CA"));
    let (cert_file, key_file) = server_ca.localhost().write(dir.path(), "server");
    let tls = LinkTlsConfig {
        cert_file: Some(cert_file),
        key_file: Some(key_file),
        client_auth: ClientAuth::Required,
        client_ca_file: Some(client_ca.write(dir.path(), "clients.pem")),
        handshake_timeout: Duration::from_millis(300),
        ..outbound_tls(None)
    };
    let link = LinkSettings {
        name: "in".into(),
        role: Role::Inbound {
            listen: "127.0.0.1:0".parse().unwrap(),
            allowed_peers: vec!["127.0.0.1".parse().unwrap()],
        },
        direction: crate::settings::Direction::Both,
        mode: crate::settings::Mode::Persistent,
        tls: Some(Arc::new(LinkTls::build(&tls, None).unwrap())),
    };
    let name = "tls-in-persistent";
    let mut inst = InstitutionSettings::hecto(name, vec![link]);
    inst.sign_on = false;
    inst.poll_interval = None;
    let gateway = Gateway::start(settings(dir.path(), inst), Arc::new(SystemClock))
        .await
        .unwrap();
    let addr = gateway.listen_addrs()[0].addr;

    // Silent: connects and never says a word.
    let mut silent = bounded("connect", TcpStream::connect(addr)).await.unwrap();
    failure_counted(name, "timeout").await;
    let mut buf = [0u8; 16];
    use tokio::io::AsyncReadExt;
    let read = bounded("the silent connection closed", silent.read(&mut buf)).await;
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");

    let peer = client_ca.issue("bank.example", test_pki::VALID);
    let tcp = bounded("connect", TcpStream::connect(addr)).await.unwrap();
    let server_name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let stream = bounded(
        "handshake",
        test_pki::client(&server_ca, Some(&peer)).connect(server_name, tcp),
    )
    .await
    .unwrap();
    status_until(&gateway, "up over TLS", |s| {
        s.links[0].state == LinkState::Up
    })
    .await;
    let mut framed = Framed::new(stream, codec());
    bounded("send", framed.send(notice(11))).await.unwrap();
    let ack = bounded("the acknowledgement", framed.next())
        .await
        .expect("closed")
        .unwrap();
    assert_eq!(profile().msg_no.digits(&ack), Some(11));
    assert_eq!(gateway.status().await[0].counters.notices, 1);
    gateway.shutdown(Duration::from_secs(5)).await;
}

/// Certificate rotation: new files in place, `reload_tls` (what SIGHUP calls) makes the next
/// connections use them without restarting; files that are not good are refused and the
/// link keeps the ones it had.
#[tokio::test]
async fn tls_reload_rotates_our_certificate_for_new_connections() {
    let dir = tempfile::tempdir().unwrap();
    let (old_ca, new_ca, client_ca) = (Ca::new("old CA"), Ca::new("new CA"), Ca::new("clients"));
    let name = "tls-reload";
    // Writes server.pem / server.key in `dir`.
    let (gateway, addr) = receiving_gateway(dir.path(), name, &old_ca, &client_ca).await;
    let peer = client_ca.issue("bank.example", test_pki::VALID);
    assert!(send_notice(addr, &old_ca, Some(&peer), 1).await.is_some());
    assert_eq!(send_notice(addr, &new_ca, Some(&peer), 2).await, None);

    // A broken key file: refused, the old certificate stays in use.
    std::fs::write(dir.path().join("server.key"), "not a key").unwrap();
    let [reload] = gateway.reload_tls().try_into().unwrap();
    let problem = reload.result.unwrap_err();
    assert_eq!((reload.link.as_str(), problem.key), ("recv", "key_file"));
    assert!(send_notice(addr, &old_ca, Some(&peer), 3).await.is_some());

    new_ca.localhost().write(dir.path(), "server");
    let [reload] = gateway.reload_tls().try_into().unwrap();
    assert_eq!(reload.result, Ok(()));
    assert!(send_notice(addr, &new_ca, Some(&peer), 4).await.is_some());
    assert_eq!(send_notice(addr, &old_ca, Some(&peer), 5).await, None);
    assert_eq!(gateway.status().await[0].counters.notices, 3);
    gateway.shutdown(Duration::from_secs(5)).await;
}

/// A per-telegram outbound link whose institution presents a certificate from another CA:
/// the sign-on's connection is refused at the handshake, before anything is written, so the
/// link goes down; a request is then refused as never sent (`rejected`, not `unknown`).
#[tokio::test]
async fn tls_per_telegram_outbound_refused_handshake_is_never_sent() {
    let name = "tls-per-telegram-refused";
    let other = Ca::new("another CA").localhost();
    let (_dir, gateway, mut seen) =
        per_telegram_gateway(name, &Ca::new("the CA we trust"), &other).await;
    failure_counted(name, "unknown_ca").await;
    status_until(&gateway, "the link down", |s| {
        s.links[0].state == LinkState::Down
    })
    .await;
    let handle = gateway.institution(name).unwrap().clone();
    let reply = bounded(
        "the refusal",
        handle.request(fep_testkit::samples::sample_telegram(1, false), None),
    )
    .await;
    assert_eq!(reply.outcome, Outcome::Rejected, "{reply:?}");
    gateway.shutdown(Duration::from_secs(5)).await;
    nothing_sent(&mut seen);
}
