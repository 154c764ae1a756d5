//! `fep sim --spec` as a process: it starts on any family's TOML, prints where it listens,
//! and plays the institution over that family's framing. Every wait is bounded.

mod support;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use fep_client::framing::FrameCodec;
use fep_client::protocol::Outcome;
use fep_codec::spec::Family;
use fep_codec::{Record, Value};
use fep_gateway::profile::framing_of;
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_util::codec::Framed;

use support::{counters_until, duplex_hecto, stdout_lines, tempdir, transfer, Fep};

const WAIT: Duration = Duration::from_secs(20);

fn spec(name: &str) -> String {
    format!("{}/../../specs/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A `fep sim` child, killed when dropped.
struct Sim {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fep_sim(args: &[&str]) -> Sim {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fep"))
        .arg("sim")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn fep sim");
    let line = stdout_lines(&mut child)
        .recv_timeout(WAIT)
        .expect("fep sim did not say where it listens");
    let addr = line
        .strip_prefix("listening on ")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    Sim { child, addr }
}

async fn connect(family: &Family, addr: SocketAddr) -> Framed<TcpStream, FrameCodec> {
    let (framing, max) = framing_of(family).expect("framing");
    let codec = FrameCodec::new(framing, max.unwrap_or(65_536)).expect("codec");
    let stream = timeout(WAIT, TcpStream::connect(addr))
        .await
        .expect("connect timed out")
        .expect("connect");
    Framed::new(stream, codec)
}

/// A 지급이체 (0200/1100, 송수신 FLAG 5).
fn payment(f: &Family, seq: u64) -> Bytes {
    let mut r = Record::new();
    r.set("header.tx_date", Value::Text("20261123".into()));
    r.set("header.tx_seq", Value::UInt(u128::from(seq)));
    r.set("accounts.amount", Value::UInt(10_000));
    f.encode("PaymentRequest", &r).expect("encodes").into()
}

/// Sends `telegram` and returns the answer's record, acknowledging the institution's session
/// commands (its 개시 comes on this connection) on the way, as a gateway does.
async fn ask(
    f: &Family,
    conn: &mut Framed<TcpStream, FrameCodec>,
    telegram: Bytes,
) -> Option<(String, Record)> {
    timeout(WAIT, conn.send(telegram))
        .await
        .expect("send timed out")
        .expect("send");
    loop {
        let frame = match timeout(WAIT, conn.next()).await.expect("answer in time") {
            Some(Ok(frame)) => frame,
            _ => return None,
        };
        let (spec, record) = f.decode(&frame).expect("decodes");
        if let Some(c) = f.session().command_of(f.key_fields(), &frame) {
            let ack = c.answer.ack_record(&record);
            let ack = f.encode(&c.answer.ack.join("/"), &ack).expect("ack");
            conn.send(Bytes::from(ack)).await.expect("ack sent");
            continue;
        }
        return Some((spec.name.clone(), record));
    }
}

fn code(r: &Record) -> String {
    r.get("header.resp_code")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_owned()
}

#[tokio::test]
async fn fep_sim_spec_kibnet_answers_a_payment() {
    let sim = fep_sim(&["--spec", &spec("kibnet.toml"), "--listen", "127.0.0.1:0"]);
    let f = Family::load(spec("kibnet.toml")).expect("kibnet");
    let mut conn = connect(&f, sim.addr).await;
    let (name, r) = ask(&f, &mut conn, payment(&f, 1)).await.expect("answered");
    assert_eq!(name, "PaymentResponse");
    assert_eq!(code(&r), "000");
    assert_eq!(r.get("header.tx_seq"), Some(&Value::UInt(1)));
}

#[tokio::test]
async fn fep_sim_spec_reads_its_scenario_and_answers_one_telegram_per_connection() {
    let dir = tempdir();
    let scenario = dir.path().join("scenario.toml");
    std::fs::write(
        &scenario,
        "[outcomes]\ndeclined = 1.0\n[codes]\ndeclined = [\"D01\"]\n[session]\nopen = false\n",
    )
    .expect("write scenario");
    let scenario = scenario.to_string_lossy().into_owned();
    let sim = fep_sim(&[
        "--spec",
        &spec("kibnet.toml"),
        "--scenario",
        &scenario,
        "--per-telegram",
        "--seed",
        "3",
    ]);
    let f = Family::load(spec("kibnet.toml")).expect("kibnet");
    let mut conn = connect(&f, sim.addr).await;
    let (_, r) = ask(&f, &mut conn, payment(&f, 2)).await.expect("answered");
    assert_eq!(code(&r), "D01");
    let end = timeout(WAIT, conn.next()).await.expect("closed in time");
    assert!(end.is_none(), "one telegram per connection");
}

#[test]
fn fep_sim_spec_refuses_a_bad_scenario() {
    let dir = tempdir();
    let scenario = dir.path().join("bad.toml");
    std::fs::write(&scenario, "[outcomes]\ndeclined = 2.0\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_fep"))
        .args(["sim", "--spec", &spec("kibnet.toml"), "--scenario"])
        .arg(&scenario)
        .output()
        .expect("run fep sim");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("outcomes.declined"), "{err}");
}

/// `fep run` (Hecto on one duplex link to `sim`, with this request timeout and inquiry
/// delay), signed on; and one transfer through the native protocol.
async fn gateway_transfer(
    dir: &std::path::Path,
    sim: &Sim,
    timeout: &str,
    inquiry_delay: &str,
) -> (Fep, fep_client::protocol::Response) {
    let fep = Fep::start(
        dir,
        &duplex_hecto(&dir.join("data"), sim.addr, timeout, inquiry_delay),
        &[],
    );
    fep.wait_signed_on("hecto").await;
    let client = fep_client::client::Client::connect(fep.native)
        .await
        .expect("connect");
    let r = client
        .request("hecto", transfer(10_000), Duration::from_secs(10))
        .await
        .expect("answer");
    (fep, r)
}

/// The real gateway (`fep run`) against `fep sim --spec specs/hecto.toml`: it signs on, and a
/// transfer through the native protocol is answered — the spec-driven simulator speaks what
/// the gateway speaks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fep_run_signs_on_and_transfers_against_fep_sim_spec() {
    let sim = fep_sim(&["--spec", &spec("hecto.toml")]);
    let dir = tempdir();
    let (_fep, r) = gateway_transfer(dir.path(), &sim, "5s", "1m").await;
    assert_eq!(r.outcome, Outcome::Ok, "{}", r.detail);
    assert_eq!(&r.telegram[24..28], b"2100");
}

/// An unanswered transfer becomes unknown at the gateway; its 7000/100 result inquiry gets
/// the truth the spec-driven simulator recorded (executed), and the gateway resolves it ok.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fep_run_resolves_an_unanswered_transfer_by_the_inquiry_fep_sim_spec_answers() {
    let dir = tempdir();
    let scenario = dir.path().join("scenario.toml");
    std::fs::write(
        &scenario,
        "[outcomes]\nno_answer = 1.0\nunknown_executed = 1.0\n",
    )
    .expect("write scenario");
    let scenario = scenario.to_string_lossy().into_owned();
    let sim = fep_sim(&["--spec", &spec("hecto.toml"), "--scenario", &scenario]);
    let (fep, r) = gateway_transfer(dir.path(), &sim, "1s", "1s").await;
    assert_eq!(r.outcome, Outcome::Unknown, "{}", r.detail);
    let counters = counters_until(fep.http, |c| c["resolved_ok"] == 1).await;
    assert_eq!(counters["resolved_ok"], 1, "{counters}");
}
