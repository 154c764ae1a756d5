//! The spec-driven simulator over real TCP (127.0.0.1, port 0) with each family's own
//! framing: KIBNET from `specs/kibnet.toml`, and a third family written here in TOML only.
//! Every wait has a deadline; waits are on the simulator's counters, never on sleeps.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fep_client::framing::FrameCodec;
use fep_codec::spec::Family;
use fep_codec::{Record, Value};
use fep_gateway::clock::SystemClock;
use fep_gateway::profile::framing_of;
use fep_testkit::spec_sim::{Day, Scenario, SpecSim, SpecSimHandle, SpecSimOptions};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_util::codec::Framed;

const WAIT: Duration = Duration::from_secs(10);
const DATE: &str = "20261123";

fn kibnet() -> Family {
    Family::from_toml_str(fep_specs::KIBNET_TOML).expect("kibnet loads")
}

async fn start(family: &Family, scenario: Scenario) -> SpecSimHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let opts = SpecSimOptions {
        seed: 7,
        ..SpecSimOptions::default()
    };
    SpecSim::start_on(
        listener,
        family.clone(),
        scenario,
        opts,
        Arc::new(SystemClock),
    )
    .expect("start")
}

fn codec(family: &Family) -> FrameCodec {
    let (framing, max) = framing_of(family).expect("framing");
    FrameCodec::new(framing, max.unwrap_or(65_536)).expect("codec")
}

/// The gateway's side of a connection.
struct Peer {
    family: Family,
    conn: Framed<TcpStream, FrameCodec>,
}

impl Peer {
    async fn connect(family: &Family, addr: SocketAddr) -> Peer {
        let stream = timeout(WAIT, TcpStream::connect(addr))
            .await
            .expect("connect timed out")
            .expect("connect");
        Peer::on(family, stream)
    }

    fn on(family: &Family, stream: TcpStream) -> Peer {
        Peer {
            family: family.clone(),
            conn: Framed::new(stream, codec(family)),
        }
    }

    async fn send(&mut self, telegram: Vec<u8>) {
        timeout(WAIT, self.conn.send(Bytes::from(telegram)))
            .await
            .expect("send timed out")
            .expect("send");
    }

    async fn recv(&mut self) -> Bytes {
        match timeout(WAIT, self.conn.next()).await {
            Ok(Some(Ok(f))) => f,
            other => panic!("no telegram within {WAIT:?}: {other:?}"),
        }
    }

    /// Sends `telegram` and decodes the answer: (message name, record). Like a gateway, it
    /// acknowledges the institution's own commands and notices arriving meanwhile.
    async fn ask(&mut self, telegram: Vec<u8>) -> (String, Record) {
        self.send(telegram).await;
        loop {
            let answer = self.recv().await;
            if let Some(ack) = acknowledgement(&self.family, &answer) {
                self.send(ack).await;
                continue;
            }
            let (spec, record) = self.family.decode(&answer).expect("answer decodes");
            return (spec.name.clone(), record);
        }
    }
}

fn text(r: &Record, path: &str) -> String {
    match r.get(path) {
        Some(Value::Text(s)) => s.trim().to_owned(),
        Some(Value::UInt(n)) => n.to_string(),
        other => panic!("{path}: {other:?}"),
    }
}

fn set(r: &mut Record, path: &str, v: &str) {
    r.set(path, Value::Text(v.to_owned()));
}

/// A KIBNET 지급이체 (0200/1100, 송수신 FLAG 5) numbered `seq`.
fn payment(f: &Family, seq: u64) -> Vec<u8> {
    let mut r = Record::new();
    set(&mut r, "header.tx_date", DATE);
    set(&mut r, "header.tx_time", "101500");
    r.set("header.tx_seq", Value::UInt(u128::from(seq)));
    r.set("accounts.amount", Value::UInt(50_000));
    set(&mut r, "accounts.wd_account", "1002003004");
    f.encode("PaymentRequest", &r).expect("payment encodes")
}

/// A KIBNET 이체처리결과조회 (0200/6013) numbered `seq`, asking about `original`.
fn result_inquiry(f: &Family, seq: u64, original: u64) -> Vec<u8> {
    let mut r = Record::new();
    set(&mut r, "header.tx_date", DATE);
    r.set("header.tx_seq", Value::UInt(u128::from(seq)));
    set(&mut r, "header.sr_flag", "5");
    r.set("req_msg_no", Value::UInt(u128::from(original)));
    f.encode("ResultInquiryRequest", &r)
        .expect("inquiry encodes")
}

#[tokio::test]
async fn kibnet_payment_is_answered_with_its_correlation_echoed() {
    let f = kibnet();
    let sim = start(&f, Scenario::default()).await;
    let mut gw = Peer::connect(&f, sim.addr()).await;
    let (name, r) = gw.ask(payment(&f, 1234)).await;
    assert_eq!(name, "PaymentResponse");
    assert_eq!(text(&r, "header.msg_type"), "0210");
    assert_eq!(text(&r, "header.tx_code"), "1100");
    assert_eq!(text(&r, "header.tx_date"), DATE);
    assert_eq!(text(&r, "header.tx_seq"), "1234");
    assert_eq!(text(&r, "header.resp_code"), "000");
    // The institution's direction, inferred from the family's own `when` values.
    assert_eq!(text(&r, "header.sr_flag"), "6");
    assert_eq!(text(&r, "accounts.amount"), "50000");
    let s = sim.stats();
    assert_eq!((s.requests, s.ok), (1, 1));
    sim.shutdown().await;
}

#[tokio::test]
async fn kibnet_inquiry_reveals_the_true_outcome_of_an_unanswered_payment() {
    let f = kibnet();
    let mut scenario = Scenario::default();
    // KIBNET lists no unknown code: an unknown is a payment never answered.
    scenario.outcomes.unknown = 1.0;
    scenario.outcomes.unknown_executed = 0.0;
    let sim = start(&f, scenario).await;
    let mut gw = Peer::connect(&f, sim.addr()).await;
    gw.send(payment(&f, 41)).await;
    sim.wait_for(WAIT, "the payment left unanswered", |s| s.no_answer == 1)
        .await
        .expect("no answer");
    let truth = sim.true_outcome(DATE, "41").expect("recorded");
    assert_eq!(truth, "999", "not executed: the family's refusal code");
    let (name, r) = gw.ask(result_inquiry(&f, 42, 41)).await;
    assert_eq!(name, "ResultInquiryResponse");
    assert_eq!(text(&r, "header.resp_code"), "000");
    assert_eq!(text(&r, "header.tx_seq"), "42");
    assert_eq!(text(&r, "kib_resp"), truth);
    // A payment never received: no `not_found` code in KIBNET, so a refusal code.
    let (_, r) = gw.ask(result_inquiry(&f, 43, 777)).await;
    assert_eq!(text(&r, "kib_resp"), "999");
    assert_eq!(sim.stats().inquiries, 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn kibnet_executed_unknown_is_revealed_as_success() {
    let f = kibnet();
    let mut scenario = Scenario::default();
    scenario.outcomes.no_answer = 1.0;
    scenario.outcomes.unknown_executed = 1.0;
    let sim = start(&f, scenario).await;
    let mut gw = Peer::connect(&f, sim.addr()).await;
    gw.send(payment(&f, 51)).await;
    sim.wait_for(WAIT, "no answer", |s| s.no_answer == 1)
        .await
        .expect("no answer");
    let (_, r) = gw.ask(result_inquiry(&f, 52, 51)).await;
    assert_eq!(text(&r, "kib_resp"), "000");
    sim.shutdown().await;
}

#[tokio::test]
async fn kibnet_duplicate_sequence_is_refused_without_executing() {
    let f = kibnet();
    let mut scenario = Scenario::default();
    scenario.codes.duplicate = Some("D09".into());
    let sim = start(&f, scenario).await;
    let mut gw = Peer::connect(&f, sim.addr()).await;
    let (_, first) = gw.ask(payment(&f, 77)).await;
    assert_eq!(text(&first, "header.resp_code"), "000");
    let (_, again) = gw.ask(payment(&f, 77)).await;
    assert_eq!(text(&again, "header.resp_code"), "D09");
    assert_eq!(text(&again, "header.tx_seq"), "77");
    let s = sim.stats();
    assert_eq!((s.requests, s.ok, s.duplicates), (2, 1, 1));
    sim.shutdown().await;
}

/// The gateway's answer to a telegram the institution started, by the family's rule for it
/// (`[[notices]]` or `[[session.commands]]`); `None` for any other telegram.
fn acknowledgement(f: &Family, telegram: &[u8]) -> Option<Vec<u8>> {
    let (_, record) = f.decode(telegram).ok()?;
    let keys = f.key_fields();
    let rule = f
        .notices()
        .iter()
        .find(|n| n.matches(keys, telegram))
        .or_else(|| f.session().command_of(keys, telegram).map(|c| &c.answer))?;
    let ack = rule.ack_record(&record);
    Some(f.encode(&rule.ack.join("/"), &ack).expect("ack encodes"))
}

fn acknowledge(f: &Family, telegram: &[u8]) -> Vec<u8> {
    acknowledgement(f, telegram).expect("a notice or a command")
}

/// Reads until a telegram arrives a second time (a resend); returns it.
async fn until_resent(gw: &mut Peer, key: &str) -> Bytes {
    let mut first: Option<Bytes> = None;
    loop {
        let t = gw.recv().await;
        let spec = gw.family.identify(&t).expect("identifies");
        assert_eq!(spec.key_str(), key, "unexpected telegram");
        match &first {
            Some(f) if *f == t => return t,
            Some(_) => panic!("a different {key} before the first was acknowledged"),
            None => first = Some(t),
        }
    }
}

#[tokio::test]
async fn kibnet_opens_the_day_and_sends_notices_until_acknowledged() {
    let f = kibnet();
    let mut scenario = Scenario::default();
    scenario.session.ack_timeout_ms = 200;
    scenario.notices.interval_ms = Some(50);
    scenario.notices.ack_timeout_ms = 200;
    scenario.notices.max_pending = 1;
    scenario.notices.keys = vec!["0200/5900".into()];
    let sim = start(&f, scenario).await;
    let inbound = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    sim.connect_back(inbound.local_addr().expect("addr"))
        .expect("connect back");
    let (stream, _) = timeout(WAIT, inbound.accept())
        .await
        .expect("the simulator connects back")
        .expect("accept");
    let mut gw = Peer::on(&f, stream);

    // 개시 is resent, the same telegram, until answered.
    let open = until_resent(&mut gw, "0800/2100").await;
    assert_eq!(sim.day(), Day::NotOpen);
    let (_, r) = f.decode(&open).expect("decodes");
    assert_eq!(text(&r, "header.sr_flag"), "6");
    assert_eq!(text(&r, "header.tx_date").len(), 8);
    gw.send(acknowledge(&f, &open)).await;
    sim.wait_for(WAIT, "the open command acknowledged", |s| {
        s.commands_acked == 1
    })
    .await
    .expect("acked");
    assert_eq!(sim.day(), Day::Open);
    assert!(sim.stats().commands_resent >= 1);

    // Then a notice, resent until acknowledged.
    let notice = until_resent(&mut gw, "0200/5900").await;
    let (_, n) = f.decode(&notice).expect("decodes");
    assert_ne!(text(&n, "accounts.amount"), "0", "a plausible amount");
    assert_ne!(text(&n, "header.tx_seq"), text(&r, "header.tx_seq"));
    gw.send(acknowledge(&f, &notice)).await;
    let s = sim
        .wait_for(WAIT, "the notice acknowledged", |s| s.notices_acked >= 1)
        .await
        .expect("acked");
    assert!(s.notices_resent >= 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn kibnet_per_telegram_connect_back_opens_one_connection_per_telegram() {
    let f = kibnet();
    let mut scenario = Scenario::default();
    scenario.session.ack_timeout_ms = 200;
    scenario.connections.per_telegram_connect_back = true;
    let sim = start(&f, scenario).await;
    let inbound = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    sim.connect_back(inbound.local_addr().expect("addr"))
        .expect("connect back");
    // First connection: read the 개시 and hang up without answering.
    let (stream, _) = timeout(WAIT, inbound.accept())
        .await
        .expect("connects")
        .expect("accept");
    let mut first = Peer::on(&f, stream);
    let open = first.recv().await;
    drop(first);
    // The resend comes on a new connection; answer it there.
    let (stream, _) = timeout(WAIT, inbound.accept())
        .await
        .expect("reconnects")
        .expect("accept");
    let mut second = Peer::on(&f, stream);
    let again = second.recv().await;
    assert_eq!(open, again, "the same telegram is resent");
    second.send(acknowledge(&f, &again)).await;
    sim.wait_for(WAIT, "the open command acknowledged", |s| {
        s.commands_acked == 1
    })
    .await
    .expect("acked");
    assert!(sim.stats().connections >= 2);
    sim.shutdown().await;
}

/// A family nobody has seen: one dispatch key, a 2-byte binary length, responses +10,
/// opened by the gateway's sign-on, its own codes.
const THIRD: &str = r#"
[family]
name = "third"
charset = "ascii"

[framing]
length = "binary"
width = 2
includes_self = false
max = 1000

[dispatch]
header = "Head"
keys = ["code"]

[[structs]]
name = "Head"
len = 24
fields = [
  { name = "code", type = "N",  len = 4, offset = 0, text = true },
  { name = "day",  type = "N",  len = 6, offset = 4, text = true },
  { name = "seq",  type = "N",  len = 8, offset = 10 },
  { name = "rc",   type = "AN", len = 2, offset = 18 },
  { name = "pad",  type = "AN", len = 4, offset = 20 },
]

[[structs]]
name = "Pay"
len = 44
fields = [
  { name = "head",    struct = "Head", offset = 0 },
  { name = "account", type = "AN", len = 10, offset = 24 },
  { name = "amount",  type = "N",  len = 10, offset = 34 },
]

[[structs]]
name = "Ask"
len = 34
fields = [
  { name = "head",     struct = "Head", offset = 0 },
  { name = "orig_seq", type = "N",  len = 8, offset = 24 },
  { name = "outcome",  type = "AN", len = 2, offset = 32 },
]

[[structs]]
name = "Admin"
len = 24
fields = [{ name = "head", struct = "Head", offset = 0 }]

[[messages]]
key = ["0100"]
name = "Pay"
struct = "Pay"
response = ["0110"]

[[messages]]
key = ["0110"]
name = "PayAnswer"
struct = "Pay"

[[messages]]
key = ["0300"]
name = "Ask"
struct = "Ask"
response = ["0310"]

[[messages]]
key = ["0310"]
name = "AskAnswer"
struct = "Ask"

[[messages]]
key = ["0900"]
name = "SignOn"
struct = "Admin"
response = ["0910"]

[[messages]]
key = ["0910"]
name = "SignOnAnswer"
struct = "Admin"

[correlation]
fields = ["head.day", "head.seq"]

[sequence]
field = "head.seq"
min = 1
max = 99999999

[date]
field = "head.day"
format = "YYMMDD"

[response_code]
field = "head.rc"
success = ["OK"]
unknown = ["??"]
declined = ["NO"]

[[inquiry]]
for = [["0100"]]
key = ["0300"]
key_field = "orig_seq"
copy = { orig_seq = "head.seq" }
result_field = "outcome"
not_found = ["NF"]

[session]
opened_by = "gateway"
sign_on = ["0900"]
"#;

fn third(f: &Family, name: &str, seq: u64, extra: &[(&str, Value)]) -> Vec<u8> {
    let mut r = Record::new();
    set(&mut r, "head.day", "261123");
    r.set("head.seq", Value::UInt(u128::from(seq)));
    for (p, v) in extra {
        r.set(p, v.clone());
    }
    f.encode(name, &r).expect("encodes")
}

/// One telegram with the 2-byte big-endian length written and read by hand.
async fn raw_exchange(stream: &mut TcpStream, telegram: &[u8]) -> Vec<u8> {
    let len = u16::try_from(telegram.len()).expect("short");
    let mut frame = len.to_be_bytes().to_vec();
    frame.extend_from_slice(telegram);
    timeout(WAIT, stream.write_all(&frame))
        .await
        .expect("write timed out")
        .expect("write");
    let mut head = [0u8; 2];
    timeout(WAIT, stream.read_exact(&mut head))
        .await
        .expect("read timed out")
        .expect("read");
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(head))];
    timeout(WAIT, stream.read_exact(&mut body))
        .await
        .expect("read timed out")
        .expect("read");
    body
}

#[tokio::test]
async fn a_third_family_written_only_in_toml_runs_through_the_same_simulator() {
    let f = Family::from_toml_str(THIRD).expect("the third family loads");
    let mut scenario = Scenario::default();
    scenario.outcomes.unknown = 1.0;
    scenario.outcomes.unknown_executed = 1.0;
    let sim = start(&f, scenario).await;
    let mut stream = timeout(WAIT, TcpStream::connect(sim.addr()))
        .await
        .expect("connect timed out")
        .expect("connect");

    // The gateway opens the day: a sign-on is just a request, answered with success.
    let answer = raw_exchange(&mut stream, &third(&f, "SignOn", 1, &[])).await;
    assert_eq!(&answer[..4], b"0910");
    assert_eq!(&answer[18..20], b"OK");
    assert_eq!(sim.day(), Day::Open);

    // A payment: the family's unknown code (+10 response, correlation echoed).
    let pay = third(
        &f,
        "Pay",
        5,
        &[
            ("account", Value::Text("ACC1".into())),
            ("amount", Value::UInt(1200)),
        ],
    );
    let answer = raw_exchange(&mut stream, &pay).await;
    let (spec, r) = f.decode(&answer).expect("decodes");
    assert_eq!(spec.name, "PayAnswer");
    assert_eq!(text(&r, "head.rc"), "??");
    assert_eq!(text(&r, "head.seq"), "5");
    assert_eq!(text(&r, "head.day"), "261123");
    assert_eq!(text(&r, "amount"), "1200");

    // The inquiry reveals the truth (executed), and `not_found` for a payment never seen.
    let ask = third(&f, "Ask", 6, &[("orig_seq", Value::UInt(5))]);
    let answer = raw_exchange(&mut stream, &ask).await;
    let (spec, r) = f.decode(&answer).expect("decodes");
    assert_eq!(spec.name, "AskAnswer");
    assert_eq!(
        (text(&r, "head.rc"), text(&r, "outcome")),
        ("OK".into(), "OK".into())
    );
    let ask = third(&f, "Ask", 7, &[("orig_seq", Value::UInt(99))]);
    let answer = raw_exchange(&mut stream, &ask).await;
    let (_, r) = f.decode(&answer).expect("decodes");
    assert_eq!(text(&r, "outcome"), "NF");

    let s = sim.stats();
    assert_eq!((s.requests, s.unknown, s.inquiries), (4, 1, 2));
    sim.shutdown().await;
}

#[tokio::test]
async fn per_telegram_listening_answers_one_telegram_then_closes() {
    let f = kibnet();
    let mut scenario = Scenario::default();
    scenario.connections.per_telegram_listen = true;
    let sim = start(&f, scenario).await;
    let mut gw = Peer::connect(&f, sim.addr()).await;
    let (_, r) = gw.ask(payment(&f, 9)).await;
    assert_eq!(text(&r, "header.resp_code"), "000");
    let end = timeout(WAIT, gw.conn.next()).await.expect("closed in time");
    assert!(end.is_none(), "the simulator closes after one telegram");
    sim.shutdown().await;
}

#[tokio::test]
async fn outcomes_are_drawn_per_sequence_number() {
    let f = kibnet();
    let mut scenario = Scenario::default();
    scenario.outcomes.declined = 0.5;
    let a = start(&f, scenario.clone()).await;
    let b = start(&f, scenario).await;
    let mut ga = Peer::connect(&f, a.addr()).await;
    let mut gb = Peer::connect(&f, b.addr()).await;
    let mut seen_a = Vec::new();
    for seq in 100..120 {
        let (_, r) = ga.ask(payment(&f, seq)).await;
        seen_a.push((seq, text(&r, "header.resp_code")));
    }
    // The other simulator gets them in reverse order: the same fates.
    let mut seen_b = Vec::new();
    for seq in (100..120).rev() {
        let (_, r) = gb.ask(payment(&f, seq)).await;
        seen_b.push((seq, text(&r, "header.resp_code")));
    }
    seen_b.reverse();
    assert_eq!(seen_a, seen_b);
    let declined = seen_a.iter().filter(|(_, c)| c != "000").count();
    assert!((1..20).contains(&declined), "{declined} of 20 declined");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn scenarios_parse_strictly() {
    let s = Scenario::from_toml_str(
        r#"
        latency_ms = { min = 5, max = 20 }
        [outcomes]
        declined = 0.1
        unknown = 0.05
        [notices]
        interval_ms = 1000
        [[commands]]
        command = "stop_new"
        after_ms = 60000
        [connections]
        per_telegram_listen = true
        "#,
    )
    .expect("parses");
    assert_eq!(s.latency_ms.max, 20);
    assert_eq!(s.commands[0].command, "stop_new");
    assert!(Scenario::from_toml_str("typo = 1").is_err());
    assert!(Scenario::from_toml_str("[outcomes]\ndeclined = 0.7\nunknown = 0.7").is_err());
    // A command the family does not have is refused at start.
    let mut bad = Scenario::default();
    bad.commands.push(fep_testkit::spec_sim::ScheduledCommand {
        command: "9999/9999".into(),
        after_ms: 0,
        every_ms: None,
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let started = SpecSim::start_on(
        listener,
        kibnet(),
        bad,
        SpecSimOptions::default(),
        Arc::new(SystemClock),
    );
    assert!(started.is_err());
}
