//! Black-box: `fep run` with an inbound TLS institution line requiring client certificates,
//! driven by a peer with its own certificates over real TCP; then the gateway's certificate is
//! rotated on disk and picked up on SIGHUP without a restart.

mod support;

use std::net::SocketAddr;
use std::path::Path;

use support::pki::{self, Ca, Leaf};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Writes `text` to `dir/name` through a temporary file and a rename (as an operator
/// rotating certificates would).
fn replace(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join(format!("{name}.new"));
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, dir.join(name)).expect("rename");
}

/// Connects to `addr` over TLS trusting `server_ca`, presenting `leaf` when given, sends
/// notice `msg_no` (ASCII 4-digit length framing) and returns the acknowledgement, or `None`
/// when the gateway refuses the connection.
async fn send_notice(
    addr: SocketAddr,
    server_ca: &Ca,
    leaf: Option<&Leaf>,
    msg_no: u32,
) -> Option<Vec<u8>> {
    let connector = pki::connector(server_ca, leaf);
    let exchange = async {
        let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
        let mut tls = connector.connect(pki::loopback(), tcp).await.ok()?;
        let body = deposit_notice(msg_no, "20261201");
        let mut frame = format!("{:04}", body.len()).into_bytes();
        frame.extend_from_slice(&body);
        tls.write_all(&frame).await.ok()?;
        let mut len = [0u8; 4];
        tls.read_exact(&mut len).await.ok()?;
        let len: usize = std::str::from_utf8(&len).ok()?.parse().ok()?;
        let mut ack = vec![0u8; len];
        tls.read_exact(&mut ack).await.ok()?;
        Some(ack)
    };
    tokio::time::timeout(WAIT, exchange)
        .await
        .expect("the exchange within the deadline")
}

/// `GET /metrics`: the value of the series starting with `series`, if there is one.
fn metric(fep: &Fep, series: &str) -> Option<f64> {
    let (code, body) = http(fep.http, "GET", "/metrics", None);
    assert_eq!(code, 200, "{body}");
    body.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_line_requires_client_certificates_and_rotates_on_sighup() {
    let dir = tempdir();
    let (server_ca, client_ca) = (Ca::new("gateway CA"), Ca::new("bank clients CA"));
    let ours = server_ca.leaf("127.0.0.1");
    replace(dir.path(), "server.pem", &ours.cert_pem);
    replace(dir.path(), "server.key", &ours.key_pem);
    replace(dir.path(), "clients.pem", &client_ca.pem);
    let bank = bank(Answer::default()).await;
    let recv = "[[institution.links]]\nname = \"notices\"\nrole = \"inbound\"\ndirection = \"recv\"\n\
                mode = \"per_telegram\"\nlisten = \"127.0.0.1:0\"\nallowed_peers = [\"127.0.0.1\"]\n\
                [institution.links.tls]\ncert_file = \"server.pem\"\nkey_file = \"server.key\"\n\
                client_auth = \"required\"\nclient_ca_file = \"clients.pem\"\n";
    let links = format!("{}{recv}", duplex_link(bank.addr()));
    let config = config(
        &data(dir.path(), "data"),
        &[institution("hecto", &links, "5s", "5m", "5m")],
    );
    let fep = Fep::start(dir.path(), &config, &[]);
    fep.wait_signed_on("hecto").await;
    let addr = fep.listen_addr("hecto", "notices");
    let peer = client_ca.leaf("bank.example");

    let ack = send_notice(addr, &server_ca, Some(&peer), 1)
        .await
        .expect("a certified peer's notice is acknowledged");
    assert!(String::from_utf8_lossy(&ack).contains("4100"), "{ack:?}");
    assert_eq!(send_notice(addr, &server_ca, None, 2).await, None);
    let refused = "fep_tls_handshake_failures_total{institution=\"hecto\",link=\"notices\",reason=\"no_client_certificate\"}";
    until(WAIT, "the refusal counted", || {
        metric(&fep, refused) == Some(1.0)
    })
    .await;
    let ours_left = metric(
        &fep,
        "fep_tls_cert_expiry_seconds{institution=\"hecto\",link=\"notices\",which=\"ours\"}",
    )
    .expect("our certificate's expiry exported");
    assert!(ours_left > 86_400.0, "{ours_left}");

    // Rotation: a certificate from a new CA in place of ours, then SIGHUP.
    let new_ca = Ca::new("next year's gateway CA");
    let next = new_ca.leaf("127.0.0.1");
    replace(dir.path(), "server.key", &next.key_pem);
    replace(dir.path(), "server.pem", &next.cert_pem);
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &fep.pid().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(hup.success());
    // Until the reload has happened, connections still get the old certificate (refused by a
    // peer trusting only the new CA): each attempt is a real connection, bounded.
    let start = std::time::Instant::now();
    let mut n = 10;
    let ack = loop {
        n += 1;
        if let Some(ack) = send_notice(addr, &new_ca, Some(&peer), n).await {
            break ack;
        }
        assert!(start.elapsed() < WAIT, "the new certificate never served");
        tokio::task::yield_now().await;
    };
    assert!(String::from_utf8_lossy(&ack).contains("4100"), "{ack:?}");
    assert_eq!(
        send_notice(addr, &server_ca, Some(&peer), 99).await,
        None,
        "the old certificate is no longer presented"
    );
    let status = fep.institution_status("hecto");
    assert_eq!(
        status["signed_on"], true,
        "the duplex link stayed up: {status}"
    );
    let code = fep.terminate();
    assert!(code.success(), "{code:?}");
}
