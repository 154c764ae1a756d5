//! Black-box: `fep run` with `[server.tls]` and `[[server.clients]]` — the native protocol
//! and the HTTP API over TLS, callers identified by their client certificates (mTLS) or an
//! HTTP bearer token, each held to its rules. Certificates are generated here (rcgen); two
//! simulated banks stand for two institutions, so that "nothing was sent" is checked where
//! it would show: at the bank.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use fep_client::protocol::{Message, NativeCodec, Outcome, Request, Subscribe};
use futures::{SinkExt, StreamExt};
use support::pki::{self, Ca, Leaf};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::Framed;

/// The bearer token of `payroll` and its SHA-256 (`printf %s TOKEN | sha256sum`).
const PAYROLL_TOKEN: &str = "payroll-token-6f1c2e";
const PAYROLL_TOKEN_SHA256: &str =
    "2d9487c837c30a96cc6b413942b6c1f8dbdad27cb6e4e9f6493333c2bf681184";

/// The certificates of one test: the gateway's, and those of the internal callers.
struct Pki {
    server_ca: Ca,
    payroll: Leaf,
    ops: Leaf,
    /// Issued by the clients' CA, but not a configured client.
    stranger: Leaf,
}

impl Pki {
    /// Generates them and writes `server.pem`/`server.key` and `clients-ca.pem` to `dir`.
    fn new(dir: &Path) -> Pki {
        let server_ca = Ca::new("gateway CA");
        let clients_ca = Ca::new("internal clients CA");
        server_ca.leaf("127.0.0.1").write(dir, "server");
        clients_ca.write(dir, "clients-ca.pem");
        Pki {
            server_ca,
            payroll: clients_ca.leaf("payroll.bank.internal"),
            ops: clients_ca.leaf("ops.bank.internal"),
            stranger: clients_ca.leaf("stranger.bank.internal"),
        }
    }
}

/// A config with `hecto` on `a` and `other` on `b`, TLS on the internal listeners with
/// `client_auth`, an admin listener, and two clients: `payroll` (certificate or token; only
/// `hecto`, only `2000/100`) and `ops` (certificate; everything, admin, unmasked answers).
fn secured_config(dir: &Path, a: SocketAddr, b: SocketAddr, client_auth: &str) -> String {
    format!(
        r#"[server]
native_listen = "127.0.0.1:0"
http_listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
data_dir = "{data}"
[server.tls]
cert_file = "server.pem"
key_file = "server.key"
client_auth = "{client_auth}"
client_ca_file = "clients-ca.pem"
[[server.clients]]
name = "payroll"
cert_subject = "payroll.bank.internal"
token_sha256 = "{PAYROLL_TOKEN_SHA256}"
institutions = ["hecto"]
messages = ["2000/100"]
[[server.clients]]
name = "ops"
cert_subject = "ops.bank.internal"
institutions = ["*"]
notices = true
admin = true
unmasked = true
{hecto}{other}"#,
        data = data(dir, "data").display(),
        hecto = institution("hecto", &duplex_link(a), "5s", "5m", "5m"),
        other = institution("other", &duplex_link(b), "5s", "5m", "5m"),
    )
}

/// The address of `key=` in the readiness line (`admin=`).
fn ready_addr(fep: &Fep, key: &str) -> SocketAddr {
    fep.ready_line()
        .split_whitespace()
        .find_map(|w| w.strip_prefix(key))
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {:?}", fep.ready_line()))
}

/// One HTTP/1.1 exchange over TLS (Connection: close): `(status, body)`, or `None` when the
/// TLS handshake or the exchange fails.
async fn https(
    addr: SocketAddr,
    connector: &tokio_rustls::TlsConnector,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> Option<(u16, String)> {
    let exchange = async {
        let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
        let mut tls = connector.connect(pki::loopback(), tcp).await.ok()?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n{headers}\r\n{body}",
            body.len()
        );
        tls.write_all(request.as_bytes()).await.ok()?;
        let mut answer = Vec::new();
        // A peer closing without close_notify is an error at the end: keep what was read.
        let _ = tls.read_to_end(&mut answer).await;
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let status = answer.split_whitespace().nth(1)?.parse().ok()?;
        let (_, body) = answer.split_once("\r\n\r\n")?;
        Some((status, body.to_owned()))
    };
    tokio::time::timeout(WAIT, exchange)
        .await
        .expect("the exchange within the deadline")
}

/// A JSON transfer of `amount` for `POST /v1/institutions/{name}/messages`.
fn transfer_json(amount: u64) -> String {
    format!(
        r#"{{"type":"2000/100","fields":{{"wd_account":"110123456789","amount":{amount},"dep_bank":"088","dep_account":"333012345678","memo":"pay"}}}}"#
    )
}

/// Waits (polling `/v1/status` on the admin listener as `ops`) until every institution is
/// signed on.
async fn until_signed_on(admin: SocketAddr, ops: &tokio_rustls::TlsConnector) {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some((200, body)) = https(admin, ops, "GET", "/v1/status", "", "").await {
            let status: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let all = status["institutions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if all.len() == 2 && all.iter().all(|i| i["signed_on"] == true) {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "institutions not signed on in {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A native-protocol connection over TLS presenting `leaf`.
async fn native(
    addr: SocketAddr,
    connector: &tokio_rustls::TlsConnector,
) -> std::io::Result<Framed<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, NativeCodec>> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let tls = connector.connect(pki::loopback(), tcp).await?;
    Ok(Framed::new(tls, NativeCodec::default()))
}

/// Sends a transfer to `institution` on `conn` and returns `(outcome, detail, tx id)`.
async fn native_transfer<S>(
    conn: &mut Framed<S, NativeCodec>,
    id: u64,
    institution: &str,
) -> (Outcome, String)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    conn.send(Message::Request(Request {
        id,
        institution: institution.into(),
        timeout_ms: 5000,
        telegram: transfer(1000 + id),
        idempotency_key: None,
    }))
    .await
    .expect("send");
    loop {
        let next = tokio::time::timeout(WAIT, conn.next())
            .await
            .expect("an answer within the deadline");
        match next {
            Some(Ok(Message::Response(r))) if r.id == id => return (r.outcome, r.detail),
            Some(Ok(_)) => continue,
            other => panic!("connection ended: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_native_clients_get_only_their_institutions_and_the_journal_names_them() {
    let dir = tempdir();
    let pki = Pki::new(dir.path());
    let (a, b) = (bank(Answer::default()).await, bank(Answer::default()).await);
    let fep = Fep::start(
        dir.path(),
        &secured_config(dir.path(), a.addr(), b.addr(), "required"),
        &[],
    );
    let ops = pki::connector(&pki.server_ca, Some(&pki.ops));
    until_signed_on(ready_addr(&fep, "admin="), &ops).await;

    // payroll: allowed to hecto, denied (and nothing sent) to other.
    let payroll = pki::connector(&pki.server_ca, Some(&pki.payroll));
    let mut conn = native(fep.native, &payroll)
        .await
        .expect("payroll connects");
    let (outcome, detail) = native_transfer(&mut conn, 1, "hecto").await;
    assert_eq!(outcome, Outcome::Ok, "{detail}");
    let (outcome, detail) = native_transfer(&mut conn, 2, "other").await;
    assert_eq!(outcome, Outcome::Rejected, "{detail}");
    assert!(
        detail.contains("denied") && detail.contains("payroll") && detail.contains("other"),
        "{detail}"
    );
    // ops may use `other`: its transfer is the first `other`'s bank sees.
    let mut by_ops = native(fep.native, &ops).await.expect("ops connects");
    let (outcome, detail) = native_transfer(&mut by_ops, 3, "other").await;
    assert_eq!(outcome, Outcome::Ok, "{detail}");
    assert_eq!(
        b.transfers().len(),
        1,
        "only ops's transfer reached `other`"
    );
    assert_eq!(a.transfers().len(), 1, "payroll's transfer reached `hecto`");

    // A certificate from the right CA that is no configured client: every request refused.
    let stranger = pki::connector(&pki.server_ca, Some(&pki.stranger));
    let mut conn = native(fep.native, &stranger).await.expect("TLS is fine");
    let (outcome, detail) = native_transfer(&mut conn, 4, "hecto").await;
    assert_eq!(outcome, Outcome::Rejected, "{detail}");
    assert!(detail.contains("unauthenticated"), "{detail}");

    // No certificate with client_auth = "required": refused at the handshake.
    let anonymous = pki::connector(&pki.server_ca, None);
    let refused = match native(fep.native, &anonymous).await {
        Err(_) => true,
        // TLS 1.3: the client finishes first; the refusal comes with the first read.
        Ok(mut conn) => {
            let _ = conn.send(Message::Ping { nonce: 1 }).await;
            !matches!(
                tokio::time::timeout(WAIT, conn.next())
                    .await
                    .expect("deadline"),
                Some(Ok(Message::Pong { .. }))
            )
        }
    };
    assert!(refused, "a client without a certificate got through");
    assert_eq!(a.transfers().len(), 1, "nothing more reached `hecto`");
    // The same on the HTTP listener: no answer without a certificate.
    let answer = https(fep.http, &anonymous, "GET", "/v1/openapi.json", "", "").await;
    assert_eq!(answer, None, "HTTP without a client certificate");
    let (status, _) = https(fep.http, &ops, "GET", "/v1/openapi.json", "", "")
        .await
        .expect("answer");
    assert_eq!(status, 200);

    // Notices: payroll has no `notices = true`, ops has.
    let mut conn = native(fep.native, &payroll)
        .await
        .expect("payroll connects");
    for (conn, id, expect) in [
        (&mut conn, 7, Outcome::Rejected),
        (&mut by_ops, 8, Outcome::Ok),
    ] {
        conn.send(Message::Subscribe(Subscribe {
            id,
            institution: "hecto".into(),
            group: None,
        }))
        .await
        .expect("send");
        let answer = tokio::time::timeout(WAIT, conn.next())
            .await
            .expect("an answer within the deadline");
        match answer {
            Some(Ok(Message::Response(r))) => {
                assert_eq!((r.id, r.outcome), (id, expect), "{}", r.detail);
                if expect == Outcome::Rejected {
                    assert!(r.detail.contains("may not subscribe"), "{}", r.detail);
                }
            }
            other => panic!("no answer to Subscribe: {other:?}"),
        }
    }

    // The admin endpoints are ops's only; /metrics counts the refusals.
    let admin = ready_addr(&fep, "admin=");
    let (status, body) = https(admin, &payroll, "GET", "/v1/status", "", "")
        .await
        .expect("answer");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("\"code\":\"forbidden\""), "{body}");
    let (status, metrics) = https(admin, &ops, "GET", "/metrics", "", "")
        .await
        .expect("answer");
    assert_eq!(status, 200, "{metrics}");
    assert!(
        metrics.contains(r#"fep_denied_total{client="payroll",reason="institution"} 1"#),
        "{metrics}"
    );
    // The admin routes are not on the API listener.
    let (status, _) = https(fep.http, &ops, "GET", "/metrics", "", "")
        .await
        .expect("answer");
    assert_eq!(status, 404);

    // The journal records who asked.
    let fep_data = data(dir.path(), "data");
    drop(conn);
    fep.terminate();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fep"))
        .args(["journal", "--json", "--data-dir"])
        .arg(&fep_data)
        .output()
        .expect("fep journal");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let mut clients: Vec<(String, String)> = doc["transactions"]
        .as_array()
        .expect("transactions")
        .iter()
        .map(|t| {
            (
                t["institution"].as_str().unwrap_or("").to_owned(),
                t["client"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect();
    clients.sort();
    assert_eq!(
        clients,
        [
            ("hecto".to_owned(), "payroll".to_owned()),
            ("other".to_owned(), "ops".to_owned())
        ]
    );
    let table = std::process::Command::new(env!("CARGO_BIN_EXE_fep"))
        .args(["journal", "--data-dir"])
        .arg(&fep_data)
        .output()
        .expect("fep journal");
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.lines().next().unwrap_or("").contains("client"),
        "{table}"
    );
    assert!(table.contains(" payroll "), "{table}");

    // Decoded telegrams are masked; --unmask needs a reason, which is echoed for the audit.
    let journal = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_fep"))
            .args(["journal", "--institution", "hecto", "--spec", SPEC])
            .args(extra)
            .arg("--data-dir")
            .arg(&fep_data)
            .output()
            .expect("fep journal")
    };
    let masked = journal(&[]);
    let listing = String::from_utf8_lossy(&masked.stdout);
    assert!(listing.contains("출금계좌번호"), "{listing}");
    assert!(!listing.contains("110123456789"), "masked: {listing}");
    let refused = journal(&["--unmask"]);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("--unmask-reason"), "{said}");
    assert!(refused.stdout.is_empty());
    let shown = journal(&["--unmask", "--unmask-reason", "ticket OPS-42"]);
    assert!(shown.status.success());
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains("110123456789"),
        "unmasked on request"
    );
    assert!(
        String::from_utf8_lossy(&shown.stderr).contains("ticket OPS-42"),
        "the reason is on standard error"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_bearer_tokens_are_checked_and_refusals_send_nothing() {
    let dir = tempdir();
    let pki = Pki::new(dir.path());
    let (a, b) = (bank(Answer::default()).await, bank(Answer::default()).await);
    let fep = Fep::start(
        dir.path(),
        &secured_config(dir.path(), a.addr(), b.addr(), "optional"),
        &[],
    );
    let ops = pki::connector(&pki.server_ca, Some(&pki.ops));
    until_signed_on(ready_addr(&fep, "admin="), &ops).await;
    // TLS without a client certificate: only the token says who calls.
    let tls = pki::connector(&pki.server_ca, None);
    let token = format!("Authorization: Bearer {PAYROLL_TOKEN}\r\n");
    let send = |institution: &str, headers: String, body: String| {
        let path = format!("/v1/institutions/{institution}/messages");
        let tls = tls.clone();
        let addr = fep.http;
        async move {
            https(addr, &tls, "POST", &path, &headers, &body)
                .await
                .expect("an answer")
        }
    };

    let (status, body) = send("hecto", token.clone(), transfer_json(10)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"outcome\":\"ok\""), "{body}");
    assert!(
        body.contains("\"wd_account\":\"110*******89\""),
        "masked for payroll: {body}"
    );
    let sent: serde_json::Value = serde_json::from_str(&body).expect("json");
    let id = sent["id"].as_str().expect("id").to_owned();
    // The journal names the token's client; payroll may look up its institution's transaction.
    let (status, body) = https(
        fep.http,
        &tls,
        "GET",
        &format!("/v1/transactions/{id}"),
        &token,
        "",
    )
    .await
    .expect("answer");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"client\":\"payroll\""), "{body}");

    let (status, body) = send("other", token.clone(), transfer_json(11)).await;
    assert_eq!(status, 403, "{body}");
    let error: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(error["error"]["code"], "forbidden", "{body}");
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("payroll") && m.contains("other")),
        "{body}"
    );
    let not_allowed_type = r#"{"type":"2000/200","fields":{}}"#.to_owned();
    let (status, body) = send("hecto", token.clone(), not_allowed_type).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("message type 2000/200"), "{body}");

    for headers in [
        String::new(),
        "Authorization: Bearer not-the-token\r\n".to_owned(),
        "Authorization: Basic cGF5cm9sbDp4\r\n".to_owned(),
    ] {
        let (status, body) = send("hecto", headers.clone(), transfer_json(12)).await;
        assert_eq!(status, 401, "{headers}: {body}");
        assert!(body.contains("\"code\":\"unauthenticated\""), "{body}");
    }
    // A token is no admin credential.
    let (status, body) = https(
        ready_addr(&fep, "admin="),
        &tls,
        "GET",
        "/metrics",
        &token,
        "",
    )
    .await
    .expect("answer");
    assert_eq!(status, 403, "{body}");

    // ops's transfer to `other` is the first it sees; `hecto` saw payroll's one only.
    let (status, body) = https(
        fep.http,
        &ops,
        "POST",
        "/v1/institutions/other/messages",
        "",
        &transfer_json(13),
    )
    .await
    .expect("answer");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("\"wd_account\":\"110123456789\""),
        "in clear for ops (unmasked = true): {body}"
    );
    assert_eq!(
        b.transfers().len(),
        1,
        "only ops's transfer reached `other`"
    );
    assert_eq!(
        a.transfers().len(),
        1,
        "only the allowed transfer reached `hecto`"
    );

    // Rotation: the server certificate from a new CA, then SIGHUP. A native connection
    // opened before keeps working; new connections get the new certificate.
    let mut before = native(fep.native, &ops).await.expect("ops connects");
    let next_ca = Ca::new("next year's gateway CA");
    let next = next_ca.leaf("127.0.0.1");
    for (name, text) in [
        ("server.key", &next.key_pem),
        ("server.pem", &next.cert_pem),
    ] {
        let tmp = dir.path().join(format!("{name}.new"));
        std::fs::write(&tmp, text).expect("write");
        std::fs::rename(&tmp, dir.path().join(name)).expect("rename");
    }
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &fep.pid().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(hup.success());
    let renewed = pki::connector(&next_ca, Some(&pki.ops));
    let start = Instant::now();
    loop {
        // Each attempt is a real handshake: refused until the reload has happened.
        if let Some((200, _)) = https(fep.http, &renewed, "GET", "/v1/openapi.json", "", "").await {
            break;
        }
        assert!(start.elapsed() < WAIT, "the new certificate never served");
        tokio::task::yield_now().await;
    }
    assert_eq!(
        https(fep.http, &ops, "GET", "/v1/openapi.json", "", "").await,
        None,
        "the old certificate is no longer presented"
    );
    let (outcome, detail) = native_transfer(&mut before, 20, "other").await;
    assert_eq!(
        outcome,
        Outcome::Ok,
        "the connection opened before: {detail}"
    );
}

#[test]
fn fep_check_warns_when_no_clients_are_configured() {
    let dir = tempdir();
    // The secured config's certificate files.
    let _pki = Pki::new(dir.path());
    let addr: SocketAddr = "127.0.0.1:9".parse().expect("addr");
    let check = |config: &str| {
        let path = dir.path().join("fep.toml");
        std::fs::write(&path, config).expect("write");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_fep"))
            .args(["check", "--config"])
            .arg(&path)
            .output()
            .expect("fep check");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let open = check(&duplex_hecto(&data(dir.path(), "data"), addr, "5s", "5m"));
    assert!(open.contains("warning: no [[server.clients]]"), "{open}");
    let secured = check(&secured_config(dir.path(), addr, addr, "required"));
    assert!(!secured.contains("server.clients"), "{secured}");
}
